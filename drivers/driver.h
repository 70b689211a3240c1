/* The interface between the module and the drivers.
 *
 * The module holds slots, sessions, objects and login state; it never sends
 * an APDU. A driver turns each token operation into APDUs on a `struct card`;
 * it never sees a session or an object handle. Every hook except match() is
 * called by the module with the card held (card_begin()), so a driver may
 * assume exclusive use of the card for the duration of the call.
 *
 * Hooks return CK_RV. Hooks a driver does not implement are NULL; the module
 * answers CKR_FUNCTION_NOT_SUPPORTED for them. */
#ifndef KYSO_DRIVER_H
#define KYSO_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/attr.h"
#include "common/buf.h"
#include "drivers/card/card.h"

/* What the driver tells the module for CK_TOKEN_INFO. Strings are plain C
 * strings; the module pads them with blanks. */
struct drv_token_info {
	char label[33];
	char manufacturer[33];
	char model[17];
	char serial[17];
	CK_ULONG min_pin_len;
	CK_ULONG max_pin_len;
	/* CKF_* token flags the driver knows: CKF_LOGIN_REQUIRED,
	 * CKF_USER_PIN_INITIALIZED, CKF_TOKEN_INITIALIZED, CKF_RNG,
	 * CKF_PROTECTED_AUTHENTICATION_PATH, CKF_WRITE_PROTECTED, and the PIN
	 * counter flags (CKF_USER_PIN_COUNT_LOW, ..._FINAL_TRY, ..._LOCKED,
	 * CKF_SO_PIN_*) when the card tells them without a PIN. */
	CK_FLAGS flags;
};

struct drv_mechanism {
	CK_MECHANISM_TYPE type;
	CK_MECHANISM_INFO info;
};

/* One object as the driver describes it. `key_ref` is the driver's own name
 * for the key or data object (a PIV key reference, a file id); the module
 * hands it back in sign/decrypt/derive/delete. */
struct drv_object {
	struct attr_list attrs;
	uint32_t key_ref;
};

struct drv_objects {
	struct drv_object *items;
	size_t count;
	size_t cap;
};

/* Returns the new, empty object, or NULL when out of memory. */
struct drv_object *drv_objects_add(struct drv_objects *list, uint32_t key_ref);
void drv_objects_free(struct drv_objects *list);

enum drv_user {
	DRV_USER,		/* CKU_USER: the PIN */
	DRV_SO,			/* CKU_SO: the driver says what it maps to */
	DRV_CONTEXT,		/* CKU_CONTEXT_SPECIFIC: the PIN, right before a
				   key that needs it for each use */
};

/* PIN counters a driver can report without using a try. -1: unknown. */
struct drv_pin_status {
	int user_tries_left;
	int user_tries_max;
	int so_tries_left;
	int so_tries_max;
};

/* A key slot as users name it on the kyso command line (issue 5). */
struct drv_key_slot {
	const char *name;		/* what users type, lower case: "9a" */
	uint8_t id[8];			/* CKA_ID of the slot's objects */
	size_t id_len;
	/* What the slot is for, in English. Marked with DRV_N_() so that
	 * xgettext puts it in the kyso tool's catalog, which translates it. */
	const char *purpose;
};

/* Marks a driver string the kyso tool translates; the driver itself
 * never calls gettext. */
#define DRV_N_(s) s

/* The characters a PIN may hold, as far as the driver knows the card's
 * rule (drv_token_info has the lengths). */
enum drv_pin_chars {
	DRV_PIN_CHARS_ANY = 0,		/* any byte */
	DRV_PIN_CHARS_ASCII,		/* printable ASCII */
	DRV_PIN_CHARS_DIGITS,		/* 0-9 only */
};

struct driver {
	const char *name;

	/* Does this driver own the card? Decided from card->atr and at most
	 * one SELECT, leaving no state behind. CKR_OK: ours;
	 * CKR_TOKEN_NOT_RECOGNIZED: not ours; anything else: the card failed.
	 * Called with the card held. */
	CK_RV (*match)(struct card *card);
	/* Take the card: allocate card->driver_data, select the application. */
	CK_RV (*bind)(struct card *card);
	void (*unbind)(struct card *card);
	/* The card was reset by someone else: select the application again. */
	CK_RV (*reselect)(struct card *card);

	CK_RV (*token_info)(struct card *card, struct drv_token_info *info);
	/* The mechanisms the token offers. Hash-and-sign mechanisms listed here
	 * (CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256...) are hashed by the module,
	 * which then calls sign() with the matching raw mechanism. */
	CK_RV (*mechanisms)(struct card *card, const struct drv_mechanism **list,
	                    size_t *count);
	/* Every object on the token. Objects with CKA_PRIVATE true are shown
	 * only after login. Public keys carry CKA_PUBLIC_KEY_INFO (DER SPKI):
	 * the module verifies with it. */
	CK_RV (*load_objects)(struct card *card, struct drv_objects *out);

	CK_RV (*login)(struct card *card, enum drv_user user,
	               const uint8_t *pin, size_t pin_len);
	CK_RV (*logout)(struct card *card);
	CK_RV (*pin_status)(struct card *card, struct drv_pin_status *st);
	/* C_SetPIN: the PIN of `user` (DRV_USER or DRV_SO). */
	CK_RV (*change_pin)(struct card *card, enum drv_user user,
	                    const uint8_t *old_pin, size_t old_len,
	                    const uint8_t *new_pin, size_t new_len);
	/* C_InitPIN, called only after a successful login(DRV_SO). */
	CK_RV (*init_pin)(struct card *card, const uint8_t *new_pin, size_t len);

	/* Raw operations. `mech` is one of CKM_RSA_PKCS (input: a DigestInfo or
	 * raw data, padded by the driver or card), CKM_RSA_X_509,
	 * CKM_RSA_PKCS_PSS (input: the hash; params as given), CKM_ECDSA
	 * (input: the hash; output r||s, each the size of the order). */
	CK_RV (*sign)(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
	              const uint8_t *in, size_t in_len, struct buf *sig);
	CK_RV (*decrypt)(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
	                 const uint8_t *in, size_t in_len, struct buf *out);
	/* ECDH: `mech` is CKM_ECDH1_DERIVE with its params (the peer point). */
	CK_RV (*derive)(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
	                struct buf *secret);

	/* Writing. The module reloads the object list after each. */
	CK_RV (*generate_key_pair)(struct card *card, const CK_MECHANISM *mech,
	                           const CK_ATTRIBUTE *pub, CK_ULONG pub_count,
	                           const CK_ATTRIBUTE *priv, CK_ULONG priv_count);
	CK_RV (*create_object)(struct card *card, const CK_ATTRIBUTE *tmpl,
	                       CK_ULONG count);
	CK_RV (*destroy_object)(struct card *card, const struct drv_object *obj);

	/* ---- For the kyso tool (issue 5). The module does not use these;
	 * every one may be NULL (0), and the tool then says the token does
	 * not support what was asked. ---- */

	/* The key slots users can name (`kyso key generate --slot 9a`);
	 * NULL: keys are named by their CKA_ID. */
	const struct drv_key_slot *key_slots;
	size_t key_slot_count;
	/* The PIN and SO PIN (PUK) the issuer sets at the factory, or NULL.
	 * The tool compares what the user types with them on the host, to
	 * warn; it never sends them to find out. */
	const char *default_pin;
	const char *default_so_pin;
	/* What the characters of a new PIN may be. */
	enum drv_pin_chars pin_chars;
	/* Whether the PIN (DRV_USER) or SO PIN (DRV_SO) still has its
	 * factory value, asked without using a try. CKR_FUNCTION_NOT_SUPPORTED
	 * when the card cannot tell. */
	CK_RV (*pin_is_default)(struct card *card, enum drv_user user, bool *is_default);
	/* Use `key` as the administrative key (PIV: the card management key)
	 * for the writes that follow, instead of the configured one; kept
	 * until unbind(). */
	CK_RV (*set_admin_key)(struct card *card, const uint8_t *key, size_t len);
	/* Authenticate with the current administrative key, then replace it
	 * with `key`; the new key is used for later writes. */
	CK_RV (*change_admin_key)(struct card *card, const uint8_t *key, size_t len);
	/* Put a private key on the token. `tmpl` is a PKCS#11 private-key
	 * template: CKA_CLASS, CKA_KEY_TYPE, CKA_ID (the slot), and CKA_MODULUS,
	 * CKA_PUBLIC_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1,
	 * CKA_EXPONENT_2, CKA_COEFFICIENT for RSA, or CKA_EC_PARAMS and
	 * CKA_VALUE for EC. The caller wipes it. */
	CK_RV (*import_key)(struct card *card, const CK_ATTRIBUTE *tmpl, CK_ULONG count);
	/* The public key (DER SubjectPublicKeyInfo) of the private key with
	 * CKA_ID `id`, for a card that cannot tell it (PIV: a key without a
	 * certificate, generated by an earlier process). The driver then
	 * lists the key and signs with it; a wrong key only makes signatures
	 * that do not verify, which the tool checks. */
	CK_RV (*set_public_key)(struct card *card, const uint8_t *id, size_t id_len,
	                        const uint8_t *spki, size_t spki_len);
	/* Back to the factory state: keys, certificates, PIN, SO PIN and
	 * administrative key. The tool calls it only after the user typed a
	 * confirmation; it may spend every PIN and SO PIN try on the way when
	 * the card requires them blocked first. */
	CK_RV (*factory_reset)(struct card *card);
};

/* All drivers, in the order they are asked. NULL-terminated. */
extern const struct driver *const drivers[];

/* Ask each driver in turn; on a match set card->driver. */
CK_RV driver_match(struct card *card);

#endif
