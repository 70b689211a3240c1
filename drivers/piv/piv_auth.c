/* PIV authentication: the PIN (80), the PUK (81) and the card management
 * key (9B). SP 800-73-4 pt 2, 3.2.1-3.2.3 and appendix A.
 *
 * kyso sends VERIFY with a PIN only when the application logs in, never on
 * its own, and never again after a failure. The PIN status comes from
 * VERIFY without data (pt 2, 3.2.1), or on YubiKeys from GET METADATA,
 * which does not touch the security status. */
#include "drivers/piv/piv_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/config.h"
#include "common/log.h"
#include "drivers/card/tlv.h"

/* The YubiKey default management key (Yubico's PIV documentation): 3DES
 * on firmware before 5.7, AES-192 from 5.7 on, the same 24 bytes. */
static const uint8_t piv_default_mgmt_key[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

#define PIV_MGMT_KEY_MAX 32
#define PIV_MGMT_BLOCK_MAX 16

void
piv_forget_puk(struct piv_data *d)
{
	OPENSSL_cleanse(d->puk, sizeof(d->puk));
	d->puk_held = false;
}

/* The meaning of a status word after VERIFY, CHANGE REFERENCE DATA or
 * RESET RETRY COUNTER on a PIN or the PUK (pt 2, 3.2.1-3.2.3), and the
 * retry counter it tells. `tries` is left alone when the status says
 * nothing about it. */
static CK_RV
piv_pin_sw(uint16_t sw, int *tries)
{
	CK_RV rv;

	if (sw == SW_OK) {
		rv = CKR_OK;
	} else if ((sw & 0xFFF0u) == 0x63C0u) {
		*tries = sw & 0x0F;
		rv = *tries == 0 ? CKR_PIN_LOCKED : CKR_PIN_INCORRECT;
	} else if (sw == 0x6983) {
		*tries = 0;
		rv = CKR_PIN_LOCKED;
	} else if (sw == 0x6A80) {
		/* The card refused the new value's form (length, or a
		 * YubiKey's complexity policy). */
		rv = CKR_PIN_INVALID;
	} else {
		rv = apdu_sw_to_rv(sw);
	}
	return rv;
}

/* After a successful use of the PIN or PUK the counter is full again. */
static void
piv_counter_reset(int *left, int max)
{
	*left = max > 0 ? max : -1;
}

/* YubiKey GET METADATA on a PIN reference: the retry counter without
 * touching it (tag 06: total, remaining). Returns whether it answered. */
static CK_RV
piv_metadata_retries(struct card *card, struct piv_data *d, uint8_t ref,
                     int *left, int *max, bool *answered)
{
	struct buf rsp = BUF_INIT;
	const uint8_t *v;
	size_t vlen;
	bool got = false;
	CK_RV rv = piv_cmd_metadata(card, d, ref, &rsp, &got);

	*answered = false;
	if (rv == CKR_OK && got &&
	    piv_tlv_value(rsp.data, rsp.len, YK_META_RETRIES, &v, &vlen) && vlen == 2) {
		*max = v[0];
		*left = v[1];
		*answered = true;
	}
	buf_free(&rsp);
	return rv;
}

CK_RV
piv_pin_refresh(struct card *card, struct piv_data *d, bool force)
{
	bool answered = false;
	uint16_t sw;
	CK_RV rv = CKR_OK;

	if (!force && (d->pin_tries_left >= 0 || d->pin_verified))
		goto out;
	rv = piv_identity(card, d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_metadata_retries(card, d, PIV_REF_PIN, &d->pin_tries_left,
	                          &d->pin_tries_max, &answered);
	if (rv != CKR_OK || answered)
		goto out;
	/* pt 2, 3.2.1: VERIFY without data answers 9000 when the PIN is
	 * verified, else 63Cx with the tries left. */
	rv = piv_cmd_verify(card, 0x00, PIV_REF_PIN, NULL, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw == SW_OK) {
		d->pin_verified = true;
		if (d->pin_tries_max > 0)
			d->pin_tries_left = d->pin_tries_max;
	} else if ((sw & 0xFFF0u) == 0x63C0u || sw == 0x6983) {
		d->pin_verified = false;
		(void)piv_pin_sw(sw, &d->pin_tries_left);
	} else {
		log_debug("piv: PIN status query answered %04X", sw);
	}
out:
	return rv;
}

static CK_FLAGS
piv_counter_flags(int left, int max, bool low, CK_FLAGS locked, CK_FLAGS final,
                  CK_FLAGS count_low)
{
	CK_FLAGS flags = 0;

	if (left == 0)
		flags = locked;
	else if (left == 1 && max != 1)
		flags = final | count_low;
	else if (left > 0 && (low || (max > 0 && left < max)))
		flags = count_low;
	return flags;
}

CK_FLAGS
piv_pin_flags(const struct piv_data *d)
{
	return piv_counter_flags(d->pin_tries_left, d->pin_tries_max, d->pin_count_low,
	                         CKF_USER_PIN_LOCKED, CKF_USER_PIN_FINAL_TRY,
	                         CKF_USER_PIN_COUNT_LOW) |
	       piv_counter_flags(d->puk_tries_left, d->puk_tries_max, d->puk_count_low,
	                         CKF_SO_PIN_LOCKED, CKF_SO_PIN_FINAL_TRY,
	                         CKF_SO_PIN_COUNT_LOW);
}

CK_RV
piv_login(struct card *card, enum drv_user user, const uint8_t *pin, size_t len)
{
	uint8_t block[PIV_PIN_BLOCK];
	struct piv_data *d;
	uint16_t sw;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_pin_block(pin, len, 1, block);
	if (rv != CKR_OK)
		goto out;
	if (user == DRV_SO) {
		/* PIV cannot check the PUK on its own: it is only ever sent
		 * with RESET RETRY COUNTER or CHANGE REFERENCE DATA. kyso keeps
		 * it until C_InitPIN or logout (docs/piv.md). */
		if (d->puk_tries_left == 0) {
			rv = CKR_PIN_LOCKED;
			goto out;
		}
		memcpy(d->puk, block, sizeof(d->puk));
		d->puk_held = true;
		goto out;
	}
	rv = piv_cmd_verify(card, 0x00, PIV_REF_PIN, block, &sw);
	if (rv != CKR_OK)
		goto out;
	rv = piv_pin_sw(sw, &d->pin_tries_left);
	d->pin_verified = rv == CKR_OK;
	if (rv == CKR_OK) {
		piv_counter_reset(&d->pin_tries_left, d->pin_tries_max);
		d->pin_count_low = false;
	} else if (rv == CKR_PIN_INCORRECT) {
		d->pin_count_low = true;
	}
out:
	OPENSSL_cleanse(block, sizeof(block));
	return rv;
}

CK_RV
piv_logout(struct card *card)
{
	struct piv_data *d;
	uint16_t sw;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	piv_forget_puk(d);
	d->pin_verified = false;
	/* pt 2, 3.2.1: VERIFY with P1 FF and no data resets the PIN's
	 * security status. Cards that predate it refuse; nothing more can be
	 * done short of a reset, so that is only logged. */
	rv = piv_cmd_verify(card, PIV_VERIFY_P1_RESET, PIV_REF_PIN, NULL, &sw);
	if (rv == CKR_OK && sw != SW_OK)
		log_debug("piv: VERIFY FF (logout) answered %04X", sw);
out:
	return rv;
}

CK_RV
piv_pin_status(struct card *card, struct drv_pin_status *st)
{
	struct piv_data *d;
	bool answered;
	CK_RV rv;

	st->user_tries_left = st->user_tries_max = -1;
	st->so_tries_left = st->so_tries_max = -1;
	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_pin_refresh(card, d, true);
	if (rv != CKR_OK)
		goto out;
	/* PIV has no way to read the PUK counter without spending a try;
	 * YubiKeys tell it in GET METADATA. */
	rv = piv_metadata_retries(card, d, PIV_REF_PUK, &d->puk_tries_left,
	                          &d->puk_tries_max, &answered);
	if (rv != CKR_OK)
		goto out;
	st->user_tries_left = d->pin_tries_left;
	st->user_tries_max = d->pin_tries_max;
	st->so_tries_left = d->puk_tries_left;
	st->so_tries_max = d->puk_tries_max;
out:
	return rv;
}

CK_RV
piv_change_pin(struct card *card, enum drv_user user, const uint8_t *old_pin,
               size_t old_len, const uint8_t *new_pin, size_t new_len)
{
	uint8_t old_block[PIV_PIN_BLOCK], new_block[PIV_PIN_BLOCK];
	bool so = user == DRV_SO;
	struct piv_data *d;
	uint16_t sw;
	CK_RV rv;

	memset(old_block, 0, sizeof(old_block));
	memset(new_block, 0, sizeof(new_block));
	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_pin_block(old_pin, old_len, 1, old_block);
	if (rv == CKR_OK)
		rv = piv_pin_block(new_pin, new_len, PIV_PIN_MIN, new_block);
	if (rv != CKR_OK)
		goto out;
	/* pt 2, 3.2.2: CHANGE REFERENCE DATA, old value then new. */
	rv = piv_cmd_two_blocks(card, PIV_INS_CHANGE_REFERENCE,
	                        so ? PIV_REF_PUK : PIV_REF_PIN, old_block, new_block, &sw);
	if (rv != CKR_OK)
		goto out;
	rv = piv_pin_sw(sw, so ? &d->puk_tries_left : &d->pin_tries_left);
	if (rv == CKR_OK && so) {
		piv_counter_reset(&d->puk_tries_left, d->puk_tries_max);
		d->puk_count_low = false;
		/* An SO who changed the PUK keeps the new one for C_InitPIN. */
		if (d->puk_held)
			memcpy(d->puk, new_block, sizeof(d->puk));
	} else if (rv == CKR_OK) {
		piv_counter_reset(&d->pin_tries_left, d->pin_tries_max);
		d->pin_count_low = false;
	} else if (rv == CKR_PIN_INCORRECT) {
		if (so)
			d->puk_count_low = true;
		else
			d->pin_count_low = true;
	}
out:
	OPENSSL_cleanse(old_block, sizeof(old_block));
	OPENSSL_cleanse(new_block, sizeof(new_block));
	return rv;
}

CK_RV
piv_init_pin(struct card *card, const uint8_t *pin, size_t len)
{
	uint8_t block[PIV_PIN_BLOCK];
	struct piv_data *d;
	uint16_t sw;
	CK_RV rv;

	memset(block, 0, sizeof(block));
	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	/* A reset dropped the PUK with the rest of the volatile state. */
	if (!d->puk_held) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	rv = piv_pin_block(pin, len, PIV_PIN_MIN, block);
	if (rv != CKR_OK)
		goto out;
	/* pt 2, 3.2.3: RESET RETRY COUNTER with PUK then new PIN. The PUK is
	 * used once: whatever the answer, it is not sent again. */
	rv = piv_cmd_two_blocks(card, PIV_INS_RESET_RETRY, PIV_REF_PIN, d->puk, block, &sw);
	piv_forget_puk(d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_pin_sw(sw, &d->puk_tries_left);
	if (rv == CKR_OK) {
		piv_counter_reset(&d->puk_tries_left, d->puk_tries_max);
		piv_counter_reset(&d->pin_tries_left, d->pin_tries_max);
		d->pin_count_low = false;
		d->puk_count_low = false;
		d->pin_verified = false;
	} else if (rv == CKR_PIN_INCORRECT) {
		d->puk_count_low = true;
	}
out:
	OPENSSL_cleanse(block, sizeof(block));
	return rv;
}

/* ---- The card management key (9B) ---- */

CK_RV
piv_card_mgmt_alg_24(struct card *card, struct piv_data *d, uint8_t *alg)
{
	struct buf rsp = BUF_INIT;
	const uint8_t *v;
	size_t vlen;
	bool answered = false;
	CK_RV rv = CKR_OK;

	*alg = PIV_ALG_3DES;
	if (d->mgmt_alg != 0) {
		*alg = d->mgmt_alg;
		goto out;
	}
	rv = piv_cmd_metadata(card, d, PIV_REF_MGMT, &rsp, &answered);
	if (rv == CKR_OK && answered &&
	    piv_tlv_value(rsp.data, rsp.len, YK_META_ALGORITHM, &v, &vlen) && vlen == 1 &&
	    (v[0] == PIV_ALG_3DES || v[0] == PIV_ALG_AES192))
		d->mgmt_alg = *alg = v[0];
out:
	buf_free(&rsp);
	return rv;
}

/* Which algorithm a 24-byte key is for: KYSO_PIV_MGMT_ALG or the
 * piv_management_alg setting, else what a YubiKey says (GET METADATA 9B:
 * AES-192 by default from firmware 5.7), else 3DES. */
static CK_RV
piv_mgmt_alg_24(struct card *card, struct piv_data *d, uint8_t *alg)
{
	const char *name = secure_getenv("KYSO_PIV_MGMT_ALG");
	CK_RV rv = CKR_OK;

	if (name == NULL || name[0] == '\0')
		name = config_get("piv_management_alg");
	if (name == NULL || name[0] == '\0')
		return piv_card_mgmt_alg_24(card, d, alg);
	*alg = PIV_ALG_3DES;
	if (strcmp(name, "aes192") == 0) {
		*alg = PIV_ALG_AES192;
	} else if (strcmp(name, "3des") != 0) {
		log_debug("piv: unknown management key algorithm \"%s\" (3des or aes192)", name);
		rv = CKR_FUNCTION_FAILED;
	}
	return rv;
}

/* The management key: KYSO_PIV_MGMT_KEY (hex), else piv_management_key in
 * kyso.conf, else the YubiKey default. */
static CK_RV
piv_mgmt_key(struct card *card, struct piv_data *d, uint8_t key[PIV_MGMT_KEY_MAX],
             size_t *key_len, uint8_t *alg)
{
	const char *hex = secure_getenv("KYSO_PIV_MGMT_KEY");
	uint8_t *parsed = NULL;
	long n = 0;
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (hex == NULL || hex[0] == '\0')
		hex = config_get("piv_management_key");
	if (d->admin_key_len > 0) {
		/* Given by the kyso tool (piv_admin.c): it wins. */
		memcpy(key, d->admin_key, d->admin_key_len);
		*key_len = d->admin_key_len;
	} else if (hex != NULL && hex[0] != '\0') {
		parsed = OPENSSL_hexstr2buf(hex, &n);
		if (parsed == NULL || (n != 16 && n != 24 && n != 32)) {
			log_debug("piv: the management key must be 16, 24 or 32 bytes in hex");
			goto out;
		}
		memcpy(key, parsed, (size_t)n);
		*key_len = (size_t)n;
	} else {
		memcpy(key, piv_default_mgmt_key, sizeof(piv_default_mgmt_key));
		*key_len = sizeof(piv_default_mgmt_key);
	}
	rv = CKR_OK;
	if (*key_len == 16)
		*alg = PIV_ALG_AES128;
	else if (*key_len == 32)
		*alg = PIV_ALG_AES256;
	else
		rv = piv_mgmt_alg_24(card, d, alg);
out:
	if (parsed != NULL)
		OPENSSL_clear_free(parsed, n > 0 ? (size_t)n : 0);
	return rv;
}

static const EVP_CIPHER *
piv_mgmt_cipher(uint8_t alg)
{
	const EVP_CIPHER *c = NULL;

	switch (alg) {
	case PIV_ALG_3DES:
		c = EVP_des_ede3_ecb();
		break;
	case PIV_ALG_AES128:
		c = EVP_aes_128_ecb();
		break;
	case PIV_ALG_AES192:
		c = EVP_aes_192_ecb();
		break;
	case PIV_ALG_AES256:
		c = EVP_aes_256_ecb();
		break;
	default:
		break;
	}
	return c;
}

/* One block through the cipher, ECB, no padding. */
static int
piv_mgmt_block(const EVP_CIPHER *c, const uint8_t *key, int enc,
               const uint8_t *in, uint8_t *out, size_t block)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok = 0;

	if (ctx == NULL)
		goto out;
	if (EVP_CipherInit_ex(ctx, c, NULL, key, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)block) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
		goto out;
	ok = (size_t)(n + fin) == block;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

CK_RV
piv_mgmt_authenticate(struct card *card, struct piv_data *d)
{
	uint8_t key[PIV_MGMT_KEY_MAX], witness[PIV_MGMT_BLOCK_MAX];
	uint8_t challenge[PIV_MGMT_BLOCK_MAX], expect[PIV_MGMT_BLOCK_MAX];
	struct buf content = BUF_INIT, rsp = BUF_INIT;
	const EVP_CIPHER *c;
	const uint8_t *v;
	size_t key_len = 0, block, vlen;
	uint8_t alg = 0;
	uint16_t sw = 0;
	CK_RV rv;

	rv = piv_mgmt_key(card, d, key, &key_len, &alg);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_FUNCTION_FAILED;
	c = piv_mgmt_cipher(alg);
	if (c == NULL || (size_t)EVP_CIPHER_get_key_length(c) != key_len)
		goto out;
	block = (size_t)EVP_CIPHER_get_block_size(c);
	if (block == 0 || block > PIV_MGMT_BLOCK_MAX)
		goto out;

	/* pt 2, appendix A.2 (mutual authentication): ask for a witness,
	 * the card sends it encrypted under the key. */
	rv = CKR_HOST_MEMORY;
	if (tlv_put(&content, PIV_DAT_WITNESS, NULL, 0) != 0)
		goto out;
	rv = piv_cmd_general_authenticate(card, alg, PIV_REF_MGMT, &content, false, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_FUNCTION_FAILED;
	if (sw != SW_OK)
		goto refused;
	if (!piv_tlv_value(rsp.data, rsp.len, PIV_DAT_WITNESS, &v, &vlen) || vlen != block ||
	    !piv_mgmt_block(c, key, 0, v, witness, block))
		goto out;

	/* Send it back decrypted, with our own challenge... */
	if (RAND_bytes(challenge, (int)block) != 1)
		goto out;
	buf_clear(&content);
	rv = CKR_HOST_MEMORY;
	if (tlv_put(&content, PIV_DAT_WITNESS, witness, block) != 0 ||
	    tlv_put(&content, PIV_DAT_CHALLENGE, challenge, block) != 0)
		goto out;
	rv = piv_cmd_general_authenticate(card, alg, PIV_REF_MGMT, &content, true, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_FUNCTION_FAILED;
	if (sw != SW_OK)
		goto refused;
	/* ...which the card must return encrypted: proof it holds the key. */
	if (!piv_tlv_value(rsp.data, rsp.len, PIV_DAT_RESPONSE, &v, &vlen) || vlen != block ||
	    !piv_mgmt_block(c, key, 1, challenge, expect, block))
		goto out;
	if (CRYPTO_memcmp(v, expect, block) != 0) {
		log_debug("piv: the card's answer to the management key challenge is wrong");
		goto out;
	}
	rv = CKR_OK;
	goto out;
refused:
	/* No PKCS#11 code says "wrong management key"; the log does. */
	log_debug("piv: management key authentication refused (%04X): set "
	          "KYSO_PIV_MGMT_KEY or piv_management_key (docs/piv.md)", sw);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(witness, sizeof(witness));
	OPENSSL_cleanse(expect, sizeof(expect));
	buf_free(&content);
	buf_free(&rsp);
	return rv;
}
