/* PINs on the ePass2003. FTCOS keeps each PIN as an external-authentication
 * key: SHA-1 of the PIN followed by its length (4 bytes, big-endian), used
 * as a 3DES key; the PIN is proven by encrypting a card challenge with it
 * (EXTERNAL AUTHENTICATE 82, P2 = 80 | PIN id). The PIN itself never leaves
 * the host. Facts from OpenSC's card-epass2003.c (epass2003_pin_cmd). */
#include "drivers/epass2003/epass2003_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/log.h"

#define EPASS_PIN_KEY_LEN 24
#define EPASS_CHALLENGE_LEN 8
/* CHANGE (UPDATE SECRET KEY) of a PIN: 80 E5 04 id, data: retry counter
 * byte (max << 4 | max) then the 24-byte key. */
#define EPASS_KEY_TYPE_PIN 0x04
/* When the card never told its maximum: Feitian's factory value. */
#define EPASS_TRIES_DEFAULT 10

static CK_RV
epass_pin_key(const uint8_t *pin, size_t len, uint8_t key[EPASS_PIN_KEY_LEN])
{
	unsigned int n = 0;

	if (len < EPASS_PIN_MIN || len > EPASS_PIN_MAX)
		return CKR_PIN_LEN_RANGE;
	if (EVP_Digest(pin, len, key, &n, EVP_sha1(), NULL) != 1 || n != 20)
		return CKR_FUNCTION_FAILED;
	key[20] = 0;
	key[21] = 0;
	key[22] = (uint8_t)(len >> 8);
	key[23] = (uint8_t)len;
	return CKR_OK;
}

static CK_RV
epass_challenge(struct card *card, struct epass_data *d, uint8_t chal[EPASS_CHALLENGE_LEN])
{
	struct buf rsp = BUF_INIT;
	uint16_t sw;
	CK_RV rv;

	rv = epass_cmd(card, d, 0x00, 0x84, 0x00, 0x00, NULL, 0, EPASS_CHALLENGE_LEN, false,
	               true, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK || rsp.len < EPASS_CHALLENGE_LEN) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	memcpy(chal, rsp.data, EPASS_CHALLENGE_LEN);
out:
	buf_free(&rsp);
	return rv;
}

static void
epass_note_tries(struct epass_data *d, uint8_t kid, int left)
{
	int *l = kid == d->so_kid ? &d->so_tries_left : &d->user_tries_left;
	int *m = kid == d->so_kid ? &d->so_tries_max : &d->user_tries_max;
	unsigned full = kid == d->so_kid ? d->so_full_epoch : d->user_full_epoch;

	*l = left;
	/* The maximum is known from PKCS#15's 9F00 file, or from a count
	 * read while the counter is still full: after a good PIN, in the
	 * same SM session, with no wrong PIN since. A larger count than the
	 * maximum corrects it. */
	if (full != 0 && full == d->sm_epoch)
		*m = left;
	else if (*m >= 0 && *m < left)
		*m = left;
}

/* A good PIN puts the counter back at its maximum; a wrong one lowers it. */
static void
epass_note_result(struct epass_data *d, uint8_t kid, bool good)
{
	unsigned full = good ? d->sm_epoch : 0;

	if (kid == d->so_kid) {
		d->so_count_low = !good;
		d->so_full_epoch = full;
	} else {
		d->user_count_low = !good;
		d->user_full_epoch = full;
	}
}

/* The status of a PIN: EXTERNAL AUTHENTICATE without data answers 63Cx
 * and uses no try. */
CK_RV
epass_refresh_tries(struct card *card, struct epass_data *d, uint8_t kid, int *left)
{
	uint8_t chal[EPASS_CHALLENGE_LEN];
	uint16_t sw;
	CK_RV rv;

	*left = -1;
	/* The maximum tells a low counter from a full one. */
	epass_learn_max_tries(card, d);
	/* The card wants a fresh challenge before any 82. */
	rv = epass_challenge(card, d, chal);
	if (rv != CKR_OK)
		goto out;
	rv = epass_cmd(card, d, 0x00, 0x82, 0x01, (uint8_t)(0x80 | kid), NULL, 0, 0, false, true,
	               NULL, &sw);
	if (rv != CKR_OK)
		goto out;
	if ((sw & 0xFFF0) == 0x63C0)
		*left = sw & 0x0F;
	else if (sw == 0x6983)
		*left = 0;
	if (*left >= 0)
		epass_note_tries(d, kid, *left);
out:
	return rv;
}

/* Prove the PIN `kid`. Never resent: a lost SM session is re-opened by the
 * GET CHALLENGE before it, inside the same card transaction. */
static CK_RV
epass_verify(struct card *card, struct epass_data *d, uint8_t kid, const uint8_t *pin,
             size_t len)
{
	static const uint8_t zero_iv[8];
	uint8_t key[EPASS_PIN_KEY_LEN], chal[EPASS_CHALLENGE_LEN], proof[16];
	EVP_CIPHER_CTX *ctx = NULL;
	int outl = 0, fin = 0;
	uint16_t sw;
	CK_RV rv;

	rv = epass_pin_key(pin, len, key);
	if (rv != CKR_OK)
		goto out;
	rv = epass_challenge(card, d, chal);
	if (rv != CKR_OK)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_des_ede3_cbc(), NULL, key, zero_iv) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_EncryptUpdate(ctx, proof, &outl, chal, sizeof(chal)) != 1 ||
	    EVP_EncryptFinal_ex(ctx, proof + outl, &fin) != 1 || outl + fin != 8) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	rv = epass_cmd(card, d, 0x00, 0x82, 0x01, (uint8_t)(0x80 | kid), proof, 8, 0, true,
	               false, NULL, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw == SW_OK) {
		/* The counter is at its maximum now. Not asked here (two more
		 * APDUs on every login): when the maximum is known the count
		 * is too; else the next status query (C_GetTokenInfo) reads
		 * both (epass_note_tries). */
		int *l = kid == d->so_kid ? &d->so_tries_left : &d->user_tries_left;
		int max = kid == d->so_kid ? d->so_tries_max : d->user_tries_max;
		*l = max >= 0 ? max : -1;
		epass_note_result(d, kid, true);
	} else if ((sw & 0xFFF0) == 0x63C0) {
		epass_note_result(d, kid, false);
		epass_note_tries(d, kid, sw & 0x0F);
		rv = (sw & 0x0F) == 0 ? CKR_PIN_LOCKED : CKR_PIN_INCORRECT;
	} else if (sw == 0x6983) {
		epass_note_result(d, kid, false);
		epass_note_tries(d, kid, 0);
		rv = CKR_PIN_LOCKED;
	} else {
		log_debug("epass2003: EXTERNAL AUTHENTICATE (PIN) answered %04X", sw);
		rv = sw == 0x6300 ? CKR_PIN_INCORRECT : epass_sw_to_rv(sw);
	}
out:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(proof, sizeof(proof));
	return rv;
}

CK_RV
epass_login(struct card *card, enum drv_user user, const uint8_t *pin, size_t len)
{
	struct epass_data *d;
	uint8_t kid;
	CK_RV rv;

	rv = epass_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	kid = user == DRV_SO ? d->so_kid : d->user_kid;
	rv = epass_verify(card, d, kid, pin, len);
	if (rv != CKR_OK)
		goto out;
	d->logged_in = true;
	d->who = user == DRV_SO ? DRV_SO : DRV_USER;
out:
	return rv;
}

CK_RV
epass_logout(struct card *card)
{
	struct epass_data *d;
	CK_RV rv;

	rv = epass_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	/* FTCOS has no logout command: a new SM session ends the PIN's
	 * verified state (as OpenSC's epass2003_logout does). */
	d->logged_in = false;
	if (!d->sm_plain)
		rv = epass_sm_handshake(card, d);
out:
	return rv;
}

CK_RV
epass_pin_status(struct card *card, struct drv_pin_status *st)
{
	struct epass_data *d;
	int left;
	CK_RV rv;

	rv = epass_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = epass_refresh_tries(card, d, d->user_kid, &left);
	if (rv == CKR_OK)
		rv = epass_refresh_tries(card, d, d->so_kid, &left);
	if (rv != CKR_OK)
		goto out;
	st->user_tries_left = d->user_tries_left;
	st->user_tries_max = d->user_tries_max;
	st->so_tries_left = d->so_tries_left;
	st->so_tries_max = d->so_tries_max;
out:
	return rv;
}

/* Replace PIN `kid` by `pin`, the counter reset to its maximum. The caller
 * has proven the right to (the old PIN, or the SO PIN). */
static CK_RV
epass_set_pin(struct card *card, struct epass_data *d, uint8_t kid, const uint8_t *pin,
              size_t len)
{
	uint8_t data[1 + EPASS_PIN_KEY_LEN];
	uint16_t sw;
	CK_RV rv;
	int max;

	epass_learn_max_tries(card, d);
	max = kid == d->so_kid ? d->so_tries_max : d->user_tries_max;

	/* The user PIN's maximum when the card never showed it (a blocked
	 * PIN reset by the SO on the vendor layout): the SO PIN's, which
	 * Feitian's middleware sets alike, else the factory value. */
	if ((max <= 0 || max > 15) && kid != d->so_kid)
		max = d->so_tries_max;
	if (max <= 0 || max > 15)
		max = EPASS_TRIES_DEFAULT;
	data[0] = (uint8_t)(max << 4 | max);
	rv = epass_pin_key(pin, len, data + 1);
	if (rv != CKR_OK)
		goto out;
	rv = epass_cmd(card, d, 0x80, 0xE5, EPASS_KEY_TYPE_PIN, kid, data, sizeof(data), 0, true,
	               false, NULL, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK) {
		log_debug("epass2003: UPDATE SECRET KEY answered %04X", sw);
		rv = epass_sw_to_rv(sw);
		goto out;
	}
	epass_note_tries(d, kid, max);
	epass_note_result(d, kid, true);
out:
	OPENSSL_cleanse(data, sizeof(data));
	return rv;
}

CK_RV
epass_change_pin(struct card *card, enum drv_user user, const uint8_t *old_pin,
                 size_t old_len, const uint8_t *new_pin, size_t new_len)
{
	struct epass_data *d;
	uint8_t kid;
	CK_RV rv;

	rv = epass_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	if (new_len < EPASS_PIN_MIN || new_len > EPASS_PIN_MAX) {
		rv = CKR_PIN_LEN_RANGE;
		goto out;
	}
	kid = user == DRV_SO ? d->so_kid : d->user_kid;
	rv = epass_verify(card, d, kid, old_pin, old_len);
	if (rv != CKR_OK)
		goto out;
	rv = epass_set_pin(card, d, kid, new_pin, new_len);
out:
	return rv;
}

CK_RV
epass_init_pin(struct card *card, const uint8_t *pin, size_t len)
{
	struct epass_data *d;
	CK_RV rv;

	rv = epass_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	if (!d->logged_in || d->who != DRV_SO) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	/* The SO's verified state allows rewriting the user PIN, which
	 * unblocks it (OpenSC's pkcs15-init does the same to reset a PIN). */
	rv = epass_set_pin(card, d, d->user_kid, pin, len);
out:
	return rv;
}
