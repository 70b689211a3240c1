/* The module's internal state: slots, tokens, sessions, objects, and what
 * each C_* file needs of the others. One module lock guards all of it;
 * card operations run with it held (the card is the bottleneck anyway), and
 * only C_WaitForSlotEvent blocks without it. */
#ifndef KYSO_MODULE_H
#define KYSO_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "common/attr.h"
#include "common/buf.h"
#include "common/log.h"
#include "drivers/card/pcsc.h"
#include "drivers/driver.h"

#define MODULE_MAX_SLOTS 32
#define CK_NO_USER ((CK_USER_TYPE)-1)

struct object {
	CK_OBJECT_HANDLE handle;
	struct attr_list attrs;
	uint32_t key_ref;
	bool is_private;	/* CKA_PRIVATE: shown only after login */
	bool on_token;		/* driver object (else a session object) */
	CK_SESSION_HANDLE owner;	/* session objects: the session */
	/* A key's signature or plaintext size (key.c), worked out at its
	 * first use: decoding the public key costs about a million
	 * instructions in OpenSSL 3, more than the rest of a C_Sign. */
	size_t key_out_len;
};

struct token {
	struct card card;
	struct drv_token_info info;
	bool info_loaded;
	struct object *objects;
	size_t object_count;
	bool objects_loaded;
	CK_USER_TYPE login_user;	/* CK_NO_USER when logged out */
};

struct slot {
	CK_SLOT_ID id;
	struct pcsc_reader reader;
	bool reader_present;
	/* A card is in the reader but no driver takes it: remembered until
	 * its event counter changes, so it is probed once, not per call. */
	bool card_unsupported;
	unsigned probed_event_count;
	struct token *token;
	unsigned pcsc_generation;	/* of the context the token's card
					   was connected under */
	bool event_pending;	/* for C_WaitForSlotEvent */
	bool probe_wanted;	/* a new card, to probe at the end of the
				   refresh (with the others, in parallel) */
};

enum op_kind { OP_NONE, OP_FIND, OP_SIGN, OP_VERIFY, OP_DIGEST, OP_DECRYPT };

struct operation {
	enum op_kind kind;
	CK_MECHANISM_TYPE mech;
	/* The mechanism's parameter, copied (PSS, OAEP). */
	uint8_t param[64];
	size_t param_len;
	struct buf label;	/* OAEP: the label param points into */
	CK_OBJECT_HANDLE key;
	EVP_MD_CTX *md;		/* hash-and-sign or digest in progress */
	EVP_PKEY *pkey;		/* verification key */
	bool multipart;		/* an Update was called */
	struct buf data;	/* single-part data gathered by Update */
	struct buf result;	/* a computed result kept for a retry with a
				   larger buffer */
	bool have_result;
	bool context_login;	/* CKU_CONTEXT_SPECIFIC done for this op */
	bool needs_context_login;
	size_t out_len;		/* the size of the result, for length queries */
	/* C_FindObjects */
	CK_OBJECT_HANDLE *found;
	size_t found_count;
	size_t found_pos;
};

struct session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot_id;
	CK_FLAGS flags;
	CK_NOTIFY notify;
	void *app;
	struct operation find;
	struct operation sign;
	struct operation verify;
	struct operation digest;
	struct operation decrypt;
	struct session *next;
};

struct module_state {
	bool initialized;
	pid_t pid;
	struct pcsc_ctx *pcsc;
	struct pcsc_ctx *pcsc_wait;
	struct slot slots[MODULE_MAX_SLOTS];
	size_t slot_count;
	bool slots_listed;
	CK_SLOT_ID next_slot_id;
	struct session *sessions;
	CK_SESSION_HANDLE next_session;
	CK_OBJECT_HANDLE next_object;
	int waiters;		/* threads in C_WaitForSlotEvent */
	bool finalizing;
};

extern struct module_state mod;

/* lock.c: the module lock, from the application's callbacks or pthreads. */
CK_RV lock_setup(const CK_C_INITIALIZE_ARGS *args);
void lock_teardown(void);
void module_lock(void);
void module_unlock(void);
void lock_reset_after_fork(void);

/* Call at the top of every C_* function except C_Initialize/C_GetFunctionList:
 * false when the module is not initialized in this process. */
bool module_ready(void);

/* slot.c */
CK_RV slot_refresh_all(bool rescan_readers);
struct slot *slot_find(CK_SLOT_ID id);
/* The slot's token, after checking the reader for a changed card.
 * CKR_TOKEN_NOT_PRESENT when there is none. */
CK_RV slot_token(struct slot *slot, struct token **token);
void slot_drop_token(struct slot *slot);
void slots_free(void);
/* Wrap a driver call in a card transaction; a removed card drops the token.
 * After a card reset, token_begin() reads the objects again: callers take
 * object pointers only after it. */
CK_RV token_begin(struct slot *slot);
void token_end(struct slot *slot, CK_RV rv);
void pad_string(CK_UTF8CHAR *dst, size_t len, const char *src);

/* session.c */
CK_RV session_get(CK_SESSION_HANDLE h, struct session **s, struct slot **slot,
                  struct token **token);
void sessions_close_slot(CK_SLOT_ID slot_id);
void sessions_free_all(void);
size_t sessions_count(CK_SLOT_ID slot_id, bool rw_only);
void operation_reset(struct operation *op);
/* The session `h` and its operation of `kind` (the object functions and
 * crypto functions' common entry), the token's objects loaded when
 * `with_objects`. operation_active: CKR_OPERATION_NOT_INITIALIZED unless
 * that operation is running; operation_start: CKR_OPERATION_ACTIVE if it
 * is. `slot` and `token` may be NULL. */
CK_RV operation_active(CK_SESSION_HANDLE h, enum op_kind kind, bool with_objects,
                       struct session **s, struct slot **slot, struct token **token,
                       struct operation **op);
CK_RV operation_start(CK_SESSION_HANDLE h, enum op_kind kind, bool with_objects,
                      struct session **s, struct slot **slot, struct token **token,
                      struct operation **op);

/* object.c */
CK_RV objects_load(struct slot *slot, struct token *token);
/* Read the token's objects again after a driver wrote to the card. */
CK_RV objects_reload(struct slot *slot, struct token *token);
/* The object a driver just wrote, by class and the template's CKA_ID. */
CK_OBJECT_HANDLE object_find_written(struct token *token, const CK_ATTRIBUTE *tmpl,
                                     CK_ULONG count, CK_OBJECT_CLASS cls);
void objects_free(struct token *token);
void objects_drop_session(struct token *token, CK_SESSION_HANDLE owner);
/* A visible object of this token (honours login state), or NULL. */
struct object *object_get(struct token *token, CK_OBJECT_HANDLE h);
/* A private object that object_get() hides because nobody is logged in. */
bool object_hidden(const struct token *token, CK_OBJECT_HANDLE h);
CK_RV object_add_session(struct token *token, CK_SESSION_HANDLE owner,
                         struct attr_list *attrs, CK_OBJECT_HANDLE *out);
bool token_logged_in(const struct token *token);
/* Session entry for the functions that use objects: the session, its slot
 * and token, with the token's objects loaded. */
CK_RV object_session(CK_SESSION_HANDLE h, struct session **s, struct slot **slot,
                     struct token **token);

/* mechanism.c: mechanisms the module adds to every token (digests), and
 * checks shared by the crypto functions. */
CK_RV mechanism_info(struct slot *slot, struct token *token, CK_MECHANISM_TYPE type,
                     CK_MECHANISM_INFO *info);
const EVP_MD *mechanism_digest(CK_MECHANISM_TYPE type, CK_MECHANISM_TYPE *raw);

/* key.c: what the crypto functions need to know of a key object. */
struct key_use {
	struct object *obj;
	CK_KEY_TYPE type;
	size_t out_len;		/* signature or plaintext upper bound, bytes */
};
/* Check that `h` is a key of class `cls` allowing `usage` (CKA_SIGN...) and
 * that `mech` is offered with `mech_flag` for the key's type. */
CK_RV key_for_operation(struct slot *slot, struct token *token, CK_OBJECT_HANDLE h,
                        CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE usage,
                        const CK_MECHANISM *mech, CK_FLAGS mech_flag,
                        struct key_use *key);
/* Copy a mechanism parameter into op->param, checking its size. */
CK_RV operation_set_param(struct operation *op, const CK_MECHANISM *mech);
/* Put `src` into the caller's buffer with the length-query convention. */
CK_RV output_copy(const uint8_t *src, size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/* Create a session secret key object holding `secret` (ECDH, unwrap). */
CK_RV secret_key_create(struct token *token, struct session *s, const struct buf *secret,
                        const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out);

#endif
