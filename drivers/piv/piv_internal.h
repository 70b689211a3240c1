/* The PIV driver's own declarations: protocol constants (NIST SP 800-73-4
 * parts 1 and 2, SP 800-78-4, and the YubiKey extensions), the slot table,
 * the per-card state and the helpers the driver's files share. */
#ifndef KYSO_PIV_INTERNAL_H
#define KYSO_PIV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/attr.h"
#include "common/buf.h"
#include "drivers/cache.h"
#include "drivers/card/apdu.h"
#include "drivers/driver.h"
#include "drivers/piv/piv.h"

/* SP 800-73-4 pt 1, 2.2: the PIV Card Application AID (RID A000000308,
 * PIX 00001000 0100). */
#define PIV_AID_LEN 11
extern const uint8_t piv_aid[PIV_AID_LEN];

/* Instructions, SP 800-73-4 pt 2, 3. */
#define PIV_INS_SELECT 0xA4
#define PIV_INS_GET_DATA 0xCB
#define PIV_INS_PUT_DATA 0xDB
#define PIV_INS_VERIFY 0x20
#define PIV_INS_CHANGE_REFERENCE 0x24
#define PIV_INS_RESET_RETRY 0x2C
#define PIV_INS_GENERAL_AUTHENTICATE 0x87
#define PIV_INS_GENERATE 0x47
/* YubiKey PIV extensions (Yubico's PIV APDU reference). */
#define YK_INS_GET_METADATA 0xF7
#define YK_INS_GET_SERIAL 0xF8

/* Key references, SP 800-73-4 pt 1, 5 (table 4). */
#define PIV_REF_PIN 0x80
#define PIV_REF_PUK 0x81
#define PIV_REF_MGMT 0x9B
#define PIV_REF_AUTH 0x9A
#define PIV_REF_SIGN 0x9C
#define PIV_REF_KEYMGMT 0x9D
#define PIV_REF_CARDAUTH 0x9E
#define PIV_REF_RETIRED_FIRST 0x82
#define PIV_REF_RETIRED_LAST 0x95
/* VERIFY P1 FF: reset the security status of the reference
 * (SP 800-73-4 pt 2, 3.2.1). */
#define PIV_VERIFY_P1_RESET 0xFF

/* Algorithm identifiers, SP 800-78-4 table 6-2 (05 and 16: RSA 3072 and
 * 4096 as YubiKeys number them). */
#define PIV_ALG_3DES 0x03
#define PIV_ALG_AES128 0x08
#define PIV_ALG_AES192 0x0A
#define PIV_ALG_AES256 0x0C
#define PIV_ALG_RSA1024 0x06
#define PIV_ALG_RSA2048 0x07
#define PIV_ALG_RSA3072 0x05
#define PIV_ALG_RSA4096 0x16
#define PIV_ALG_ECC_P256 0x11
#define PIV_ALG_ECC_P384 0x14

/* Data objects, SP 800-73-4 pt 1, 3 (table 3) and pt 2, 3.1.2. */
#define PIV_TAG_TAG_LIST 0x5C
#define PIV_TAG_DATA 0x53
#define PIV_TAG_CHUID 0x5FC102
#define PIV_TAG_KEY_HISTORY 0x5FC10C
/* CHUID fields (pt 1, table 9). */
#define PIV_CHUID_FASCN 0x30
#define PIV_CHUID_GUID 0x34
/* Certificate containers (pt 1, table 10 and following). */
#define PIV_CERT_TAG_CERT 0x70
#define PIV_CERT_TAG_INFO 0x71
#define PIV_CERT_TAG_EDC 0xFE
/* CertInfo bit 0: the certificate is gzip-compressed (pt 1, table 10). */
#define PIV_CERTINFO_GZIP 0x01
/* Key History (pt 1, table 19). */
#define PIV_HISTORY_ON_CARD 0xC1
#define PIV_HISTORY_OFF_CARD 0xC2
#define PIV_HISTORY_URL 0xF3

/* GENERAL AUTHENTICATE's dynamic authentication template, pt 2, 3.2.4
 * (table 7). */
#define PIV_TAG_DAT 0x7C
#define PIV_DAT_WITNESS 0x80
#define PIV_DAT_CHALLENGE 0x81
#define PIV_DAT_RESPONSE 0x82
#define PIV_DAT_EXPONENTIATION 0x85
/* GENERATE ASYMMETRIC KEY PAIR, pt 2, 3.3.2 (tables 10 and 11). */
#define PIV_TAG_GEN_CONTROL 0xAC
#define PIV_TAG_GEN_ALG 0x80
#define PIV_TAG_PUBKEY 0x7F49
#define PIV_PUB_RSA_N 0x81
#define PIV_PUB_RSA_E 0x82
#define PIV_PUB_EC_POINT 0x86
/* YubiKey GET METADATA answer (Yubico's PIV APDU reference). */
#define YK_META_ALGORITHM 0x01
#define YK_META_RETRIES 0x06

/* PINs and the PUK are 8 bytes, padded with FF (pt 2, 2.4.3). */
#define PIV_PIN_BLOCK 8
#define PIV_PIN_MIN 6
#define PIV_PIN_PAD 0xFF

#define PIV_SLOT_COUNT 24
#define PIV_MAIN_SLOTS 4

/* One key slot, and how kyso names it: the same CKA_ID and labels as
 * OpenSC's PIV emulation (pkcs15-piv.c), so that a key has the same id in
 * kyso and in OpenSC. */
struct piv_slot_def {
	uint8_t key_ref;
	uint8_t id;
	uint32_t cert_tag;
	const char *cert_label;
	const char *pub_label;
	const char *priv_label;
};

extern const struct piv_slot_def piv_slot_defs[PIV_SLOT_COUNT];

enum piv_cert_state {
	PIV_CERT_UNKNOWN = 0,	/* not read since the last reset */
	PIV_CERT_ABSENT,	/* the card has no certificate there */
	PIV_CERT_PRESENT,	/* `cert` holds it */
	PIV_CERT_UNUSABLE,	/* there, but compressed or not parseable */
};

struct piv_slot {
	enum piv_cert_state cert_state;
	struct buf cert;		/* DER X.509 certificate */
	X509 *x509;			/* `cert` decoded, while PRESENT */
	/* The public key: from the certificate, or from GENERATE ASYMMETRIC
	 * KEY PAIR (or kept from a certificate that was deleted) when
	 * `keep_pub` is set. */
	EVP_PKEY *pub;
	bool keep_pub;
	bool generated;			/* made by kyso in this process */
	uint8_t alg;			/* PIV algorithm id of the key, 0 none */
	/* What the slot's public and private key objects share (key type,
	 * public numbers, SubjectPublicKeyInfo), encoded once when `pub` is
	 * set, not at every listing: OpenSSL 3 spends millions of
	 * instructions a key in its encoders (docs/performance.md).
	 * key_attrs_rv: CKR_OK, or the error a listing of the key fails with. */
	struct attr_list key_attrs;
	CK_RV key_attrs_rv;
};

/* What kyso knows about one bound card, read once and kept until the card is
 * reset by someone else. */
struct piv_data {
	unsigned reset_count;		/* card->reset_count at our last SELECT */

	/* Who the card is: read once per bind. */
	bool identity_read;
	bool yubikey;			/* GET SERIAL answered */
	uint32_t yk_serial;
	char serial[17];

	/* The on-disk cache of this card's certificates (drivers/cache.h),
	 * opened once its serial number is known; NULL: none. */
	struct drv_cache *cache;

	/* Key History: how many retired slots (from 82) hold certificates. */
	bool history_read;
	bool history_present;
	unsigned retired_on_card;
	unsigned retired_off_card;
	struct buf history_url;

	struct piv_slot slots[PIV_SLOT_COUNT];

	/* PIN state. -1: unknown. */
	int pin_tries_left;
	int pin_tries_max;
	bool pin_count_low;		/* a wrong PIN since the last good one */
	bool puk_count_low;		/* a wrong PUK since the last good one */
	bool pin_verified;
	int puk_tries_left;
	int puk_tries_max;
	/* GET METADATA (YubiKey 5.3+): -1 not tried, 0 no, 1 yes. */
	int has_metadata;

	/* The PUK between C_Login(CKU_SO) and C_InitPIN (docs/piv.md). */
	uint8_t puk[PIV_PIN_BLOCK];
	bool puk_held;

	/* Management key algorithm the card reported (GET METADATA 9B). */
	uint8_t mgmt_alg;

	/* The management key the kyso tool gave (set_admin_key), used before
	 * the configured one; admin_key_len 0: none. */
	uint8_t admin_key[32];
	size_t admin_key_len;
};

/* piv.c */
/* The driver data, after making sure a reset since our last look was
 * handled (caches dropped, application selected again). */
CK_RV piv_data_get(struct card *card, struct piv_data **out);
/* Another application had selected another applet (piv_apdu.c): the PIN
 * state on the card is gone. */
void piv_selection_lost(struct card *card);
/* Read the serial number (YubiKey GET SERIAL, else the CHUID) once. */
CK_RV piv_identity(struct card *card, struct piv_data *d);

/* piv_apdu.c: the commands, built in one place. Each returns a transport
 * error, or CKR_OK with *sw the card's status. */
CK_RV piv_cmd_select(struct card *card, uint16_t *sw);
CK_RV piv_cmd_get_data(struct card *card, uint32_t tag, struct buf *rsp, uint16_t *sw);
/* GET DATA asking `more` before each GET RESPONSE (apdu_transmit_until). */
CK_RV piv_cmd_get_data_until(struct card *card, uint32_t tag, struct buf *rsp,
                             uint16_t *sw, apdu_more_fn more, void *more_arg);
/* PUT DATA of `tag` with `value` as the 53 content (empty: delete). */
CK_RV piv_cmd_put_data(struct card *card, uint32_t tag, const uint8_t *value,
                       size_t len, uint16_t *sw);
/* GENERAL AUTHENTICATE with 7C{content}; *rsp gets the content of the 7C in
 * the answer (empty when the card said nothing). */
CK_RV piv_cmd_general_authenticate(struct card *card, uint8_t alg, uint8_t key_ref,
                                   const struct buf *content, bool secret,
                                   struct buf *rsp, uint16_t *sw);
/* VERIFY; pin NULL: the status query (no data). */
CK_RV piv_cmd_verify(struct card *card, uint8_t p1, uint8_t ref,
                     const uint8_t *pin_block, uint16_t *sw);
/* CHANGE REFERENCE DATA / RESET RETRY COUNTER with two 8-byte blocks. */
CK_RV piv_cmd_two_blocks(struct card *card, uint8_t ins, uint8_t ref,
                         const uint8_t *first, const uint8_t *second, uint16_t *sw);
CK_RV piv_cmd_generate(struct card *card, uint8_t key_ref, uint8_t alg,
                       struct buf *rsp, uint16_t *sw);
CK_RV piv_cmd_yk(struct card *card, uint8_t ins, uint8_t p2, struct buf *rsp,
                 uint16_t *sw);
/* YubiKey GET METADATA (5.3+) on a key or PIN reference. *answered false:
 * not a YubiKey, or one too old to know the command (remembered). */
CK_RV piv_cmd_metadata(struct card *card, struct piv_data *d, uint8_t ref,
                       struct buf *rsp, bool *answered);
/* The status after PUT DATA, GENERATE or a YubiKey administrative command:
 * 6982 means the management key authentication just made did not hold. */
CK_RV piv_admin_sw(uint16_t sw);
/* The algorithm of a 24-byte management key as the card knows it (3DES,
 * or AES-192 on YubiKey 5.7+). */
CK_RV piv_card_mgmt_alg_24(struct card *card, struct piv_data *d, uint8_t *alg);
/* An 8-byte PIN/PUK block, FF-padded. CKR_PIN_LEN_RANGE for lengths
 * outside min..8. */
CK_RV piv_pin_block(const uint8_t *pin, size_t len, size_t min,
                    uint8_t block[PIV_PIN_BLOCK]);
/* The value of the first element `tag` at the top level of `data`; false
 * when it is absent or the data before it is malformed. */
bool piv_tlv_value(const uint8_t *data, size_t len, uint32_t tag,
                   const uint8_t **value, size_t *value_len);

/* piv_objects.c */
CK_RV piv_load_objects(struct card *card, struct drv_objects *out);
int piv_slot_index(uint32_t key_ref);
int piv_slot_index_by_id(const uint8_t *id, size_t len);
/* Set a slot's certificate from DER (after a write), or clear it. */
CK_RV piv_slot_set_cert(struct piv_slot *slot, const uint8_t *der, size_t len);
/* Set a slot's public key without a certificate (after GENERATE). */
void piv_slot_set_pub(struct piv_slot *slot, EVP_PKEY *pub, bool generated);
/* The PIV algorithm id for a public key, 0 when PIV has none. */
uint8_t piv_alg_for_key(const EVP_PKEY *pub);
/* The PIV algorithm of an RSA key of `bits` bits, 0 for a size PIV lacks. */
uint8_t piv_rsa_alg(size_t bits);
/* The attribute `type` of a PKCS#11 template, or NULL. */
const CK_ATTRIBUTE *piv_tmpl_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type);
/* Read the Key History once. */
CK_RV piv_read_history(struct card *card, struct piv_data *d);
/* The cache entry name of data object `tag`. */
void piv_cache_name(uint32_t tag, char name[16]);
/* Forget what the card said (after a reset). */
void piv_forget_objects(struct piv_data *d);
void piv_slot_free(struct piv_slot *slot);

/* piv_auth.c */
CK_RV piv_login(struct card *card, enum drv_user user, const uint8_t *pin, size_t len);
CK_RV piv_logout(struct card *card);
CK_RV piv_pin_status(struct card *card, struct drv_pin_status *st);
CK_RV piv_change_pin(struct card *card, enum drv_user user, const uint8_t *old_pin,
                     size_t old_len, const uint8_t *new_pin, size_t new_len);
CK_RV piv_init_pin(struct card *card, const uint8_t *pin, size_t len);
/* The PIN counter, for the token flags: asked only when unknown. */
CK_RV piv_pin_refresh(struct card *card, struct piv_data *d, bool force);
CK_FLAGS piv_pin_flags(const struct piv_data *d);
/* Drop the held PUK. */
void piv_forget_puk(struct piv_data *d);
/* Mutual authentication with the card management key (9B). */
CK_RV piv_mgmt_authenticate(struct card *card, struct piv_data *d);

/* piv_crypto.c */
CK_RV piv_sign(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
               const uint8_t *in, size_t in_len, struct buf *sig);
CK_RV piv_decrypt(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
                  const uint8_t *in, size_t in_len, struct buf *out);
CK_RV piv_derive(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
                 struct buf *secret);

/* piv_admin.c: the hooks only the kyso tool uses (issue 5). */
extern const struct drv_key_slot piv_key_slots[PIV_SLOT_COUNT];
CK_RV piv_pin_is_default(struct card *card, enum drv_user user, bool *is_default);
CK_RV piv_set_admin_key(struct card *card, const uint8_t *key, size_t len);
CK_RV piv_change_admin_key(struct card *card, const uint8_t *key, size_t len);
CK_RV piv_import_key(struct card *card, const CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_RV piv_set_public_key(struct card *card, const uint8_t *id, size_t id_len,
                         const uint8_t *spki, size_t spki_len);
CK_RV piv_factory_reset(struct card *card);

/* piv_write.c */
CK_RV piv_generate_key_pair(struct card *card, const CK_MECHANISM *mech,
                            const CK_ATTRIBUTE *pub, CK_ULONG pub_count,
                            const CK_ATTRIBUTE *priv, CK_ULONG priv_count);
CK_RV piv_create_object(struct card *card, const CK_ATTRIBUTE *tmpl, CK_ULONG count);
CK_RV piv_destroy_object(struct card *card, const struct drv_object *obj);

#endif
