/* The virtual PIV card: what its files share.
 *
 * A PIV Card Application (NIST SP 800-73-4 parts 1 and 2) with the YubiKey
 * PIV extensions (GET VERSION, GET SERIAL, IMPORT KEY, SET MANAGEMENT KEY,
 * SET PIN RETRIES, RESET, ATTEST, GET METADATA), played the way a
 * YubiKey 5 plays it. main.c hands over whole, de-chained commands.
 *
 * piv_card.c      the vcard_type, SELECT, command dispatch
 * piv_objects.c   GET DATA / PUT DATA and the default data objects
 * piv_auth.c      PIN, PUK, management key, SET PIN RETRIES, RESET
 * piv_keys.c      private-key slots: GENERAL AUTHENTICATE with a key,
 *                 GENERATE, IMPORT KEY, ATTEST, GET METADATA
 * piv_state.c     the --state file
 * piv_provision.c the factory card and the "demo" card
 * piv_tlv.c       a small, length-checked BER-TLV reader and writer */
#ifndef KYSO_VCARD_PIV_CARD_H
#define KYSO_VCARD_PIV_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "tests/vcard/vcard.h"

/* Status words (SP 800-73-4 pt 2, 3 and ISO 7816-4 5.6). */
#define PIV_SW_OK		0x9000u
#define PIV_SW_WRONG_LENGTH	0x6700u
#define PIV_SW_NOT_SATISFIED	0x6982u	/* security status not satisfied */
#define PIV_SW_BLOCKED		0x6983u	/* authentication method blocked */
#define PIV_SW_CONDITIONS	0x6985u	/* conditions of use not satisfied */
#define PIV_SW_WRONG_DATA	0x6A80u
#define PIV_SW_NOT_FOUND	0x6A82u	/* data object / application */
#define PIV_SW_NO_SPACE		0x6A84u
#define PIV_SW_WRONG_P1P2	0x6A86u
#define PIV_SW_REF_NOT_FOUND	0x6A88u	/* key reference not found */
#define PIV_SW_INS_UNKNOWN	0x6D00u
#define PIV_SW_CLA_UNKNOWN	0x6E00u
#define PIV_SW_INTERNAL		0x6F00u
#define PIV_SW_RETRIES(n)	(0x63C0u | ((n) > 15 ? 15u : (unsigned)(n)))

/* Key references (SP 800-73-4 pt 1, 5.1 table 4). */
#define PIV_REF_PIN	0x80u
#define PIV_REF_PUK	0x81u
#define PIV_REF_MGMT	0x9Bu
#define PIV_REF_ATTEST	0xF9u	/* YubiKey attestation key */

/* Algorithm identifiers (SP 800-78-4 table 6-2; 0x16 is YubiKey 5.7's
 * RSA 4096; FF is what YubiKey's metadata calls a PIN/PUK). */
#define PIV_ALG_3DES	0x03u
#define PIV_ALG_RSA3072	0x05u
#define PIV_ALG_RSA1024	0x06u
#define PIV_ALG_RSA2048	0x07u
#define PIV_ALG_AES128	0x08u
#define PIV_ALG_AES192	0x0Au
#define PIV_ALG_AES256	0x0Cu
#define PIV_ALG_ECP256	0x11u
#define PIV_ALG_ECP384	0x14u
#define PIV_ALG_RSA4096	0x16u
#define PIV_ALG_PIN	0xFFu

/* YubiKey PIN and touch policies, as sent in tags AA and AB. */
#define PIV_PIN_DEFAULT	0u
#define PIV_PIN_NEVER	1u
#define PIV_PIN_ONCE	2u
#define PIV_PIN_ALWAYS	3u
#define PIV_TOUCH_DEFAULT 0u
#define PIV_TOUCH_NEVER	1u
#define PIV_TOUCH_ALWAYS 2u
#define PIV_TOUCH_CACHED 3u

#define PIV_ORIGIN_GENERATED 1u
#define PIV_ORIGIN_IMPORTED  2u

#define PIV_PIN_LEN		8u	/* PIN and PUK are padded with FF to 8 */
#define PIV_DEFAULT_TRIES	3u
#define PIV_OBJECT_MAX		3063u	/* largest object TLV a YubiKey keeps */

/* 9A 9C 9D 9E, the 20 retired slots 82..95, and F9. */
#define PIV_KEY_SLOTS 25

struct piv_key {
	uint8_t slot;
	uint8_t alg;		/* 0: the slot is empty */
	uint8_t pin_policy;	/* resolved: never, once or always */
	uint8_t touch_policy;	/* resolved; there is no button to touch */
	uint8_t origin;
	EVP_PKEY *pkey;
};

/* A data object, kept as the whole TLV GET DATA returns (53 L V, or
 * 7E L V for Discovery, 7F61 L V for the BIT group template). */
struct piv_object {
	uint32_t tag;
	struct buf value;
};

enum piv_mgmt_step {
	PIV_MGMT_IDLE = 0,
	PIV_MGMT_WITNESS_SENT,		/* mutual authentication, step 1 done */
	PIV_MGMT_CHALLENGE_SENT,	/* external authentication, step 1 done */
};

struct piv_card {
	/* Kept in the state file. */
	uint32_t serial;
	uint8_t pin[PIV_PIN_LEN], puk[PIV_PIN_LEN];
	uint8_t pin_max, pin_left, puk_max, puk_left;
	uint8_t mgmt_alg;
	uint8_t mgmt_key[32];
	size_t mgmt_len;
	uint8_t mgmt_touch;
	struct piv_key keys[PIV_KEY_SLOTS];
	struct piv_object *objects;
	size_t n_objects;

	/* Not kept. */
	uint8_t version[3];
	char *state_file;

	/* Volatile: forgotten on reset. */
	bool selected;
	bool pin_verified;
	bool pin_always;	/* a VERIFY immediately before: one use */
	bool mgmt_ok;
	enum piv_mgmt_step mgmt_step;
	uint8_t mgmt_nonce[16];
	size_t mgmt_nonce_len;
};

typedef uint16_t piv_sw;

/* piv_tlv.c: BER-TLV (ISO 7816-4 annex D), tags up to 3 bytes, definite
 * lengths up to 3 bytes. */
struct piv_tlv {
	uint32_t tag;
	const uint8_t *value;
	size_t len;
};
/* 1: *out is the next element; 0: nothing left; -1: malformed. */
int piv_tlv_next(const uint8_t **p, size_t *left, struct piv_tlv *out);
/* Parse data that must be exactly one element with `tag`: 1 ok, -1 not. */
int piv_tlv_single(const uint8_t *data, size_t len, uint32_t tag,
                   struct piv_tlv *out);
int piv_tlv_put(struct buf *out, uint32_t tag, const uint8_t *value,
                size_t len);
int piv_tlv_put_header(struct buf *out, uint32_t tag, size_t len);

/* piv_card.c */
struct piv_key *piv_key_slot(struct piv_card *card, uint8_t slot);
void piv_card_clear(struct piv_card *card);
/* Write the state file if there is one; the card goes on in memory when
 * the write fails (a message is printed). */
void piv_card_changed(struct piv_card *card);
/* The default PIN policy of a slot (YubiKey: 9C always, 9E and F9 never,
 * every other slot once). */
uint8_t piv_default_pin_policy(uint8_t slot);

/* piv_objects.c */
piv_sw piv_get_data(struct piv_card *card, const struct vcard_cmd *cmd,
                    struct buf *rsp);
piv_sw piv_put_data(struct piv_card *card, const struct vcard_cmd *cmd);
struct piv_object *piv_object_find(struct piv_card *card, uint32_t tag);
/* Store (replace) an object; `tlv` is the whole TLV. -1: out of memory. */
int piv_object_set(struct piv_card *card, uint32_t tag, const uint8_t *tlv,
                   size_t len);
void piv_object_delete(struct piv_card *card, uint32_t tag);
/* CHUID (random GUID), CCC and Discovery, as a new card has them. */
int piv_objects_factory(struct piv_card *card);
/* Key History with no retired keys (SP 800-73-4 pt 1, 3.3.3). */
int piv_objects_key_history(struct piv_card *card);
/* Printed Information (PIN-protected) for the demo card. */
int piv_objects_printed_info(struct piv_card *card);
/* Store a certificate object: 53 { 70 cert, 71 00, FE }. */
int piv_objects_put_cert(struct piv_card *card, uint32_t tag,
                         const uint8_t *der, size_t len);
/* The object that holds the certificate of a key slot; 0 if none. */
uint32_t piv_cert_object_of_slot(uint8_t slot);

/* piv_auth.c */
piv_sw piv_verify(struct piv_card *card, const struct vcard_cmd *cmd);
piv_sw piv_change_reference(struct piv_card *card, const struct vcard_cmd *cmd);
piv_sw piv_reset_retry(struct piv_card *card, const struct vcard_cmd *cmd);
piv_sw piv_mgmt_authenticate(struct piv_card *card, const struct vcard_cmd *cmd,
                             struct buf *rsp);
piv_sw piv_set_mgmt_key(struct piv_card *card, const struct vcard_cmd *cmd);
piv_sw piv_set_pin_retries(struct piv_card *card, const struct vcard_cmd *cmd);
piv_sw piv_reset_application(struct piv_card *card, const struct vcard_cmd *cmd);
/* Factory PIN, PUK, retry counters and management key. */
void piv_auth_factory(struct piv_card *card);
bool piv_pin_is_default(const struct piv_card *card);
bool piv_puk_is_default(const struct piv_card *card);
bool piv_mgmt_is_default(const struct piv_card *card);
size_t piv_mgmt_key_len(uint8_t alg);	/* 0: not a management key alg */

/* piv_keys.c */
piv_sw piv_key_authenticate(struct piv_card *card, const struct vcard_cmd *cmd,
                            struct buf *rsp);
piv_sw piv_generate(struct piv_card *card, const struct vcard_cmd *cmd,
                    struct buf *rsp);
piv_sw piv_import_key(struct piv_card *card, const struct vcard_cmd *cmd);
piv_sw piv_attest(struct piv_card *card, const struct vcard_cmd *cmd,
                  struct buf *rsp);
piv_sw piv_get_metadata(struct piv_card *card, const struct vcard_cmd *cmd,
                        struct buf *rsp);
/* Create a key for `alg`; NULL when the algorithm is not one of ours. */
EVP_PKEY *piv_keygen(uint8_t alg);
/* The PIV algorithm of an OpenSSL key; 0 when no PIV algorithm fits. */
uint8_t piv_alg_of_pkey(const EVP_PKEY *pkey);
/* Put `pkey` in its slot with resolved policies. Takes the key. */
void piv_key_install(struct piv_key *key, uint8_t alg, EVP_PKEY *pkey,
                     uint8_t pin_policy, uint8_t touch_policy, uint8_t origin);
void piv_key_clear(struct piv_key *key);

/* piv_state.c */
int piv_state_save(const struct piv_card *card, const char *path);
/* 1: loaded; 0: no such file; -1: unreadable or malformed (message). */
int piv_state_load(struct piv_card *card, const char *path);

/* piv_provision.c */
/* The factory card: CHUID, CCC, Discovery, default PIN, PUK and
 * management key, and an attestation key in F9 with its certificate. */
int piv_provision_factory(struct piv_card *card);
/* The demo card (--provision demo): keys and certificates in 9A 9C 9D
 * 9E issued by a new demo CA whose certificate is written to `ca_out`
 * (may be NULL). */
int piv_provision_demo(struct piv_card *card, const char *ca_out);

/* Hex helpers for the state file: lowercase, no separators. */
char *piv_hex_encode(const uint8_t *data, size_t len);
int piv_hex_decode(const char *hex, struct buf *out);

#endif
