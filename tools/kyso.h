/* The kyso tool's own declarations (issue 5).
 *
 * The tool speaks to tokens only through the driver interface
 * (drivers/driver.h) and the card layer, like the PKCS#11 module: no APDU
 * and no card family's constants here. What a token cannot do (its hook is
 * NULL) the tool reports as unsupported.
 *
 * main.c       options, the command table, help
 * i18n.c       locale and message catalog
 * out.c        text and JSON output, errors and exit codes
 * json.c       the JSON writer
 * token.c      readers, probing cards, --token, card transactions
 * uri.c        RFC 7512 pkcs11: URIs (the token attributes)
 * secret.c     reading PINs and keys: the terminal, stdin, files, env
 * pin.c        PIN checks and the PIN-entry rules (retries, last try)
 * inventory.c  a token's keys and certificates, by slot
 * crypto.c     signing through the driver, CSR and CMS building
 * spinner.c    the "working..." line while the card computes
 * cmd_*.c      the commands (cmd_browser.c: the browsers' NSS databases) */
#ifndef KYSO_TOOL_H
#define KYSO_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "drivers/card/card.h"
#include "drivers/card/pcsc.h"
#include "drivers/driver.h"

#include "tools/i18n.h"

/* Exit codes: documented in docs/kyso.1 and docs/kyso-json.md; stable. */
enum kyso_exit {
	KX_OK = 0,
	KX_USAGE = 1,		/* bad command line */
	KX_NO_TOKEN = 2,	/* no reader, no token, or --token matched none/several */
	KX_WRONG_PIN = 3,	/* wrong PIN or PUK: one try was used */
	KX_BLOCKED = 4,		/* PIN or PUK blocked, or the last try refused */
	KX_CARD = 5,		/* token removed, or it stopped answering */
	KX_FILE = 6,		/* a file that cannot be read or is not what it should be */
	KX_MISMATCH = 7,	/* certificate and key do not belong together */
	KX_UNSUPPORTED = 8,	/* the token cannot do this */
	KX_REFUSED = 9,		/* the token refused (administrative key, access rules) */
	KX_CANCELED = 10,	/* the user did not confirm, or input ended */
	KX_VERIFY = 11,		/* a signature or self-test did not verify */
	KX_PIN_POLICY = 12,	/* a PIN that breaks the rules: nothing was sent */
	KX_NOT_FOUND = 13,	/* no such key or certificate on the token */
	KX_INTERNAL = 14,	/* out of memory, or a bug */
};

/* ---- json.c ---- */
struct json {
	struct buf b;
	int depth;
	bool need_comma[32];
	char closer[32];
};

void json_init(struct json *j);
void json_free(struct json *j);
/* `key` is NULL inside arrays. */
void json_str(struct json *j, const char *key, const char *value);	/* NULL: null */
void json_int(struct json *j, const char *key, long long value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);
void json_obj(struct json *j, const char *key);
void json_arr(struct json *j, const char *key);
void json_end(struct json *j);
/* A member whose value is JSON text written elsewhere. */
void json_splice(struct json *j, const char *key, const char *raw);
int json_depth(const struct json *j);
/* Close what is open and return the text (owned by `j`). */
const char *json_finish(struct json *j);

/* ---- options (main.c) ---- */
struct opts {
	const char *token;
	bool json;
	const char *pin_source, *puk_source, *new_pin_source, *password_source;
	const char *mgmt_key_source, *new_mgmt_key_source;
	const char *pin, *puk, *new_pin;
	bool yes, yes_last_try, force, generate;
	const char *slot, *type, *subject, *out, *pubkey, *format, *ca, *confirm;
	const char *module;		/* kyso browser: --module */
	char **args;
	int nargs;
};

/* One reader and, when its card has a driver, the token in it. */
struct tok {
	char reader[PCSC_READER_NAME_MAX];
	bool present;
	uint8_t atr[CARD_ATR_MAX];
	size_t atr_len;
	struct card card;
	bool connected;
	bool bound;
	CK_RV probe_rv;			/* why not bound */
	struct drv_token_info info;
	bool have_info;
};

struct ctx {
	struct opts o;
	const char *command;		/* "pin change" */
	struct pcsc_ctx *pcsc;
	struct tok *toks;
	size_t ntoks;
	struct tok *tok;		/* the token the command works on */
	bool logged_in;
	struct json json;		/* the command's fields, --json */
	struct json warnings;		/* [ {code, message}... ] */
	int nwarnings;
	/* The first error: exit code, code name and message. */
	int exit_code;
	char err_code[32];
	char *err_message;
};

/* ---- out.c ---- */
/* Text for the user on stdout; nothing with --json. */
void out(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line "label: value" with the labels of a block aligned (width in
 * columns, counted in characters, not bytes). */
void out_field(struct ctx *c, int indent, int width, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* A warning on stderr, and in the JSON "warnings" array. */
void warn(struct ctx *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A note on stderr only (progress, tries left...); not with --json. */
void note(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record the command's failure (first one wins) and return its exit code. */
int fail(struct ctx *c, int exit_code, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The failure for a CK_RV from a driver or the card layer, with `what`
 * (translated: "changing the PIN") in the message. */
int fail_rv(struct ctx *c, CK_RV rv, const char *what);
/* Print the outcome (text error or the JSON document) and return the exit
 * code. */
int out_finish(struct ctx *c, int code);
/* Columns a UTF-8 string takes on a terminal. */
int text_width(const char *s);
/* "2025-03-01" and the ISO 8601 "2025-03-01T10:00:00Z" of an ASN1_TIME. */
void time_text(const ASN1_TIME *t, char *day, size_t day_len, char *iso, size_t iso_len);
/* The contents of a memory BIO as a malloc'd C string, or NULL. */
char *bio_text(BIO *bio);
/* An X.509 name as "CN=..., O=..." in UTF-8 (malloc'd). */
char *name_text(const X509_NAME *n);
void hex_text(const uint8_t *p, size_t len, char *out, size_t out_len, bool spaces);

/* ---- token.c ---- */
/* Find the readers and probe their cards (all, or the one --token names).
 * Returns an exit code. */
int tokens_scan(struct ctx *c);
/* Choose the token the command works on (--token, or the only one). */
int token_select(struct ctx *c);
void tokens_free(struct ctx *c);
CK_RV tok_begin(struct ctx *c);
void tok_end(struct ctx *c);
/* Token info (cached). */
CK_RV tok_info(struct ctx *c, struct tok *t);
/* "label (serial 1234)" for messages. */
const char *tok_name(struct tok *t);
/* Log out if this process logged in, so the card is not left open. */
void tok_logout(struct ctx *c);

/* ---- uri.c ---- */
struct p11_uri {
	char token[33], serial[17], manufacturer[33], model[17];
	bool has_token, has_serial, has_manufacturer, has_model;
};
/* 0 ok, -1 not a valid pkcs11: URI. */
int uri_parse(const char *s, struct p11_uri *u);
bool uri_matches(const struct p11_uri *u, const struct drv_token_info *info);
/* The URI naming this token (all four attributes, percent-encoded). */
void uri_format(const struct drv_token_info *info, char *out, size_t len);

/* ---- secret.c ---- */
#define SECRET_MAX 128
struct secret {
	char v[SECRET_MAX + 1];
	size_t len;
	bool prompted;			/* typed at the terminal */
};
void secret_wipe(struct secret *s);
/* Read a secret from `source` (stdin, file:PATH, env:VAR), else from
 * `value` (given on the command line), else prompt on the terminal with
 * `prompt` (no echo). Returns an exit code. */
int secret_read(struct ctx *c, const char *source, const char *value,
                const char *prompt, struct secret *s);
/* Whether there is a terminal to prompt on. */
bool have_tty(void);
/* Ask a yes/no question on the terminal; false without a terminal. */
bool ask_yes(struct ctx *c, const char *question);
/* Read one visible line from the terminal (confirmation phrases). */
int ask_line(struct ctx *c, const char *prompt, char *line, size_t len);

/* ---- pin.c ---- */
/* Get the current PIN (DRV_USER) or SO PIN (DRV_SO) with every check
 * before anything is sent: tries left shown, blocked refused, last try
 * refused unless --yes-last-try, length and characters. */
int pin_current(struct ctx *c, enum drv_user who, struct secret *pin);
/* A new PIN or SO PIN, typed twice at a terminal, checked against the
 * token's rules and the factory value. */
int pin_new(struct ctx *c, enum drv_user who, struct secret *pin);
/* What to say after the card answered a PIN: wrong (with the tries left),
 * blocked, ... Returns the exit code. */
int pin_failed(struct ctx *c, enum drv_user who, CK_RV rv, const char *what);
/* The PIN counters of the chosen token; uses no try. */
CK_RV pin_status_of(struct ctx *c, struct drv_pin_status *st);
/* Log in with the PIN (asked with pin_current), once per run. */
int pin_login(struct ctx *c, struct secret *pin);
/* Warn when `pin` is the issuer's factory value. */
void pin_warn_default(struct ctx *c, enum drv_user who, const struct secret *pin);
/* Whether the PIN still has its factory value: 1 yes, 0 no, -1 unknown. */
int pin_default_state(struct ctx *c, enum drv_user who);

/* ---- inventory.c ---- */
struct entry {
	uint8_t id[64];
	size_t id_len;
	char id_hex[129];
	char name[140];				/* "9a", or "id:<hex>" */
	const struct drv_key_slot *slot;	/* the driver's name for it, or NULL */
	const struct drv_object *priv, *pub, *cert;
	EVP_PKEY *pubkey;			/* from the certificate or the public key */
	X509 *x509;
	bool always_auth;
};

struct inventory {
	struct drv_objects objs;
	struct entry *e;
	size_t n;
};

int inventory_load(struct ctx *c, struct inventory *inv);
void inventory_free(struct inventory *inv);
/* The slot the user named (--slot): a driver slot name, an id:HEX, or a
 * label. Fills *id. Returns an exit code (usage error when unknown). */
int slot_resolve(struct ctx *c, const char *name, uint8_t *id, size_t *id_len,
                 const struct drv_key_slot **slot);
struct entry *inventory_find(struct inventory *inv, const uint8_t *id, size_t id_len);
/* "9a" or "id 01". */
const char *entry_name(const struct entry *e);
/* "RSA 2048", "EC P-256". */
void key_desc(EVP_PKEY *k, char *out, size_t len);
/* The slot's purpose in the user's language, or "". */
const char *slot_purpose(const struct drv_key_slot *s);

/* ---- crypto.c ---- */
const EVP_MD *sign_md(EVP_PKEY *pub);
/* Sign the hash of `data` with the entry's key on the card; the signature
 * in the X.509/CMS form (PKCS#1 v1.5 or DER ECDSA-Sig-Value). */
int card_sign(struct ctx *c, struct entry *e, const struct secret *pin, const EVP_MD *md,
              const uint8_t *data, size_t len, struct buf *sig);
int make_csr(struct ctx *c, struct entry *e, EVP_PKEY *pub, const struct secret *pin,
             const char *subject, X509_REQ **out);
int make_cms(struct ctx *c, struct entry *e, const struct secret *pin,
             const uint8_t *data, size_t len, struct buf *der);
/* Parse "CN=a,O=b" or "/CN=a/O=b". */
X509_NAME *parse_subject(const char *s);
/* Read a whole file (at most 16 MiB). Returns an exit code. */
int read_file(struct ctx *c, const char *path, struct buf *b);
int write_file(struct ctx *c, const char *path, const uint8_t *data, size_t len);
/* A certificate from PEM or DER; NULL when the data is not one. */
X509 *load_cert(const struct buf *b);
char *pem_of_pubkey(EVP_PKEY *k);

/* ---- spinner.c ---- */
struct spinner;
struct spinner *spinner_start(struct ctx *c, const char *what);
/* Stops it; returns the seconds it ran. */
double spinner_stop(struct spinner *s);

/* ---- commands ---- */
int cmd_list(struct ctx *c);
int cmd_diag(struct ctx *c);
int cmd_pin_status(struct ctx *c);
int cmd_pin_change(struct ctx *c);
int cmd_pin_unblock(struct ctx *c);
int cmd_puk_change(struct ctx *c);
int cmd_key_generate(struct ctx *c);
int cmd_csr(struct ctx *c);
int cmd_cert_import(struct ctx *c);
int cmd_cert_export(struct ctx *c);
int cmd_cert_delete(struct ctx *c);
int cmd_import(struct ctx *c);
int cmd_sign(struct ctx *c);
int cmd_verify(struct ctx *c);
int cmd_selftest(struct ctx *c);
int cmd_mgmkey_change(struct ctx *c);
int cmd_reset(struct ctx *c);
int cmd_browser_register(struct ctx *c);
int cmd_browser_unregister(struct ctx *c);
int cmd_browser_status(struct ctx *c);

/* Shared by the commands: token scan + select; returns an exit code. */
int need_token(struct ctx *c);
/* The management key from --mgmt-key-source, given to the driver. */
int admin_key_apply(struct ctx *c);
/* A management key typed as hex (16, 24 or 32 bytes). */
int parse_hex_key(struct ctx *c, const struct secret *s, uint8_t key[32], size_t *len);
/* Tell the driver a slot's public key (set_public_key) and reload. */
int adopt_public_key(struct ctx *c, struct inventory *inv, const uint8_t *id, size_t id_len,
                     EVP_PKEY *pub, struct entry **e);
/* Ask before a key or certificate in the slot is lost (--yes: go on). */
int confirm_replace(struct ctx *c, struct entry *e, const char *question);
/* 1 when `sig` (PKCS#1 v1.5 or DER ECDSA) verifies over `data`. */
int verify_sig(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *data, size_t len,
               const struct buf *sig);
/* JSON "token": {...} of the chosen token. */
void json_token(struct ctx *c, const char *key, struct tok *t);

#endif
