/* Who may do what on the virtual PIV card: the PIN (80) and the PUK (81)
 * with VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER (SP 800-73-4
 * pt 2, 3.2), the card management key (9B) with GENERAL AUTHENTICATE
 * (pt 2, appendix A), and the YubiKey commands that change them: SET
 * MANAGEMENT KEY, SET PIN RETRIES and RESET. */
#include "piv_card.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define TAG_DYN_AUTH	0x7Cu
#define TAG_WITNESS	0x80u
#define TAG_CHALLENGE	0x81u
#define TAG_RESPONSE	0x82u

static const uint8_t default_pin[PIV_PIN_LEN] = {
	'1', '2', '3', '4', '5', '6', 0xFF, 0xFF,
};
static const uint8_t default_puk[PIV_PIN_LEN] = {
	'1', '2', '3', '4', '5', '6', '7', '8',
};
/* The well-known YubiKey default: 3DES 0102030405060708 three times. */
static const uint8_t default_mgmt[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};

void
piv_auth_factory(struct piv_card *card)
{
	memcpy(card->pin, default_pin, PIV_PIN_LEN);
	memcpy(card->puk, default_puk, PIV_PIN_LEN);
	card->pin_max = card->pin_left = PIV_DEFAULT_TRIES;
	card->puk_max = card->puk_left = PIV_DEFAULT_TRIES;
	card->mgmt_alg = PIV_ALG_3DES;
	OPENSSL_cleanse(card->mgmt_key, sizeof card->mgmt_key);
	memcpy(card->mgmt_key, default_mgmt, sizeof default_mgmt);
	card->mgmt_len = sizeof default_mgmt;
	card->mgmt_touch = PIV_TOUCH_NEVER;
}

bool
piv_pin_is_default(const struct piv_card *card)
{
	return memcmp(card->pin, default_pin, PIV_PIN_LEN) == 0;
}

bool
piv_puk_is_default(const struct piv_card *card)
{
	return memcmp(card->puk, default_puk, PIV_PIN_LEN) == 0;
}

bool
piv_mgmt_is_default(const struct piv_card *card)
{
	return card->mgmt_alg == PIV_ALG_3DES &&
	       card->mgmt_len == sizeof default_mgmt &&
	       memcmp(card->mgmt_key, default_mgmt, sizeof default_mgmt) == 0;
}

size_t
piv_mgmt_key_len(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_3DES: return 24;
	case PIV_ALG_AES128: return 16;
	case PIV_ALG_AES192: return 24;
	case PIV_ALG_AES256: return 32;
	default: return 0;
	}
}

/* SP 800-73-4 pt 2, 3.2.1: a PIN is 6 to 8 characters padded with FF to 8
 * bytes; the PUK is 8 characters (a YubiKey takes 6 to 8 for both). */
static bool
piv_pin_format_ok(const uint8_t *pin)
{
	size_t n = 0;

	while (n < PIV_PIN_LEN && pin[n] != 0xFF)
		n++;
	for (size_t i = n; i < PIV_PIN_LEN; i++)
		if (pin[i] != 0xFF)
			return false;
	return n >= 6;
}

static void
piv_pin_unverify(struct piv_card *card)
{
	card->pin_verified = false;
	card->pin_always = false;
}

/* VERIFY, SP 800-73-4 pt 2, 3.2.1. P1 00: verify (no data: report the
 * status); P1 FF: reset the security status. Only the PIV PIN exists on
 * this card: the Discovery object says so, and 00 (global PIN) and every
 * other reference is 6A88. */
piv_sw
piv_verify(struct piv_card *card, const struct vcard_cmd *cmd)
{
	if (cmd->p1 == 0xFF) {
		if (cmd->p2 != PIV_REF_PIN)
			return PIV_SW_REF_NOT_FOUND;
		if (cmd->lc != 0)
			return PIV_SW_WRONG_DATA;
		piv_pin_unverify(card);
		return PIV_SW_OK;
	}
	if (cmd->p1 != 0x00)
		return PIV_SW_WRONG_P1P2;
	if (cmd->p2 != PIV_REF_PIN)
		return PIV_SW_REF_NOT_FOUND;
	if (cmd->lc == 0) {
		if (card->pin_left == 0)
			return PIV_SW_BLOCKED;
		return card->pin_verified ? PIV_SW_OK
		                          : PIV_SW_RETRIES(card->pin_left);
	}
	if (cmd->lc != PIV_PIN_LEN)
		return PIV_SW_WRONG_DATA;
	if (card->pin_left == 0)
		return PIV_SW_BLOCKED;
	/* A wrong PIN counts even when it is badly formed: YubiKey tools
	 * block a PIN on purpose by sending eight FF bytes. */
	if (CRYPTO_memcmp(cmd->data, card->pin, PIV_PIN_LEN) != 0) {
		card->pin_left--;
		piv_pin_unverify(card);
		piv_card_changed(card);
		return PIV_SW_RETRIES(card->pin_left);
	}
	card->pin_verified = true;
	card->pin_always = true;
	if (card->pin_left != card->pin_max) {
		card->pin_left = card->pin_max;
		piv_card_changed(card);
	}
	return PIV_SW_OK;
}

/* CHANGE REFERENCE DATA, SP 800-73-4 pt 2, 3.2.2: 00 24 00 80|81, data
 * the current value and the new one, 8 bytes each. The current value is
 * checked (and counted) before the new one is looked at. */
piv_sw
piv_change_reference(struct piv_card *card, const struct vcard_cmd *cmd)
{
	uint8_t *value, *left, max;
	bool is_pin;

	if (cmd->p1 != 0x00)
		return PIV_SW_WRONG_P1P2;
	if (cmd->p2 == PIV_REF_PIN) {
		is_pin = true;
		value = card->pin;
		left = &card->pin_left;
		max = card->pin_max;
	} else if (cmd->p2 == PIV_REF_PUK) {
		is_pin = false;
		value = card->puk;
		left = &card->puk_left;
		max = card->puk_max;
	} else {
		return PIV_SW_REF_NOT_FOUND;
	}
	if (cmd->lc != 2 * PIV_PIN_LEN)
		return PIV_SW_WRONG_DATA;
	if (*left == 0)
		return PIV_SW_BLOCKED;
	if (CRYPTO_memcmp(cmd->data, value, PIV_PIN_LEN) != 0) {
		(*left)--;
		if (is_pin)
			piv_pin_unverify(card);
		piv_card_changed(card);
		return PIV_SW_RETRIES(*left);
	}
	*left = max;
	if (!piv_pin_format_ok(cmd->data + PIV_PIN_LEN)) {
		piv_card_changed(card);
		return PIV_SW_WRONG_DATA;
	}
	memcpy(value, cmd->data + PIV_PIN_LEN, PIV_PIN_LEN);
	if (is_pin)
		card->pin_verified = true;
	piv_card_changed(card);
	return PIV_SW_OK;
}

/* RESET RETRY COUNTER, SP 800-73-4 pt 2, 3.2.3: 00 2C 00 80, data the PUK
 * and the new PIN. The PUK is only ever used here and in CHANGE REFERENCE
 * DATA; VERIFY does not take it. */
piv_sw
piv_reset_retry(struct piv_card *card, const struct vcard_cmd *cmd)
{
	if (cmd->p1 != 0x00)
		return PIV_SW_WRONG_P1P2;
	if (cmd->p2 != PIV_REF_PIN)
		return PIV_SW_REF_NOT_FOUND;
	if (cmd->lc != 2 * PIV_PIN_LEN)
		return PIV_SW_WRONG_DATA;
	if (card->puk_left == 0)
		return PIV_SW_BLOCKED;
	if (CRYPTO_memcmp(cmd->data, card->puk, PIV_PIN_LEN) != 0) {
		card->puk_left--;
		piv_card_changed(card);
		return PIV_SW_RETRIES(card->puk_left);
	}
	card->puk_left = card->puk_max;
	if (!piv_pin_format_ok(cmd->data + PIV_PIN_LEN)) {
		piv_card_changed(card);
		return PIV_SW_WRONG_DATA;
	}
	memcpy(card->pin, cmd->data + PIV_PIN_LEN, PIV_PIN_LEN);
	card->pin_left = card->pin_max;
	piv_pin_unverify(card);
	piv_card_changed(card);
	return PIV_SW_OK;
}

static const EVP_CIPHER *
piv_mgmt_cipher(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_3DES: return EVP_des_ede3_ecb();
	case PIV_ALG_AES128: return EVP_aes_128_ecb();
	case PIV_ALG_AES192: return EVP_aes_192_ecb();
	case PIV_ALG_AES256: return EVP_aes_256_ecb();
	default: return NULL;
	}
}

/* One block in ECB with the management key. */
static int
piv_mgmt_crypt(const struct piv_card *card, int encrypt, const uint8_t *in,
               size_t len, uint8_t *out)
{
	const EVP_CIPHER *cipher = piv_mgmt_cipher(card->mgmt_alg);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, rc = -1;

	if (ctx == NULL || cipher == NULL || len > 16)
		goto out;
	if (EVP_CipherInit_ex(ctx, cipher, NULL, card->mgmt_key, NULL,
	                      encrypt) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + n, &fin) != 1 ||
	    (size_t)(n + fin) != len)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* 7C { tag L value } with the value encrypted under the management key. */
static piv_sw
piv_mgmt_reply(const struct piv_card *card, uint8_t tag, const uint8_t *plain,
               size_t len, bool encrypt, struct buf *rsp)
{
	uint8_t block[16];
	piv_sw sw = PIV_SW_INTERNAL;

	if (encrypt) {
		if (piv_mgmt_crypt(card, 1, plain, len, block) != 0)
			goto out;
	} else {
		memcpy(block, plain, len);
	}
	if (piv_tlv_put_header(rsp, TAG_DYN_AUTH, 2 + len) != 0 ||
	    piv_tlv_put(rsp, tag, block, len) != 0)
		goto out;
	sw = PIV_SW_OK;
out:
	OPENSSL_cleanse(block, sizeof block);
	return sw;
}

/* GENERAL AUTHENTICATE with the card management key 9B, SP 800-73-4 pt 2,
 * appendix A, in the forms yubico-piv-tool, ykman and OpenSC send:
 *
 *   mutual (A.3):   7C{80 00}          -> 7C{80 E(witness)}
 *                   7C{80 witness, 81 challenge} -> 7C{82 E(challenge)}
 *   external (A.2): 7C{81 00}          -> 7C{81 challenge}
 *                   7C{82 E(challenge)} -> 9000
 *   internal:       7C{81 challenge, 82 00} -> 7C{82 E(challenge)}
 *
 * The two steps must be consecutive commands; a failed step clears the
 * authentication. P1 is the key's algorithm; 00 is taken as "the current
 * one" because OpenSC asks for random bytes with 00 87 00 9B 7C{81 00}. */
piv_sw
piv_mgmt_authenticate(struct piv_card *card, const struct vcard_cmd *cmd,
                      struct buf *rsp)
{
	enum piv_mgmt_step step = card->mgmt_step;
	struct piv_tlv outer, el, w = { 0 }, c = { 0 }, r = { 0 };
	bool has_w = false, has_c = false, has_r = false;
	const uint8_t *p;
	size_t left, bs;
	uint8_t expect[16];
	piv_sw sw = PIV_SW_WRONG_DATA;

	card->mgmt_step = PIV_MGMT_IDLE;
	if (cmd->p1 != 0x00 && cmd->p1 != card->mgmt_alg)
		return PIV_SW_WRONG_P1P2;
	bs = card->mgmt_alg == PIV_ALG_3DES ? 8 : 16;
	if (piv_tlv_single(cmd->data, cmd->lc, TAG_DYN_AUTH, &outer) != 1)
		return PIV_SW_WRONG_DATA;
	p = outer.value;
	left = outer.len;
	for (;;) {
		int rc = piv_tlv_next(&p, &left, &el);
		if (rc == 0)
			break;
		if (rc < 0)
			return PIV_SW_WRONG_DATA;
		if (el.tag == TAG_WITNESS && !has_w) {
			w = el;
			has_w = true;
		} else if (el.tag == TAG_CHALLENGE && !has_c) {
			c = el;
			has_c = true;
		} else if (el.tag == TAG_RESPONSE && !has_r) {
			r = el;
			has_r = true;
		} else {
			return PIV_SW_WRONG_DATA;
		}
	}

	if (has_w && w.len == 0 && !has_c && !has_r) {
		/* A.3 step 1: a witness, sent encrypted. */
		if (RAND_bytes(card->mgmt_nonce, (int)bs) != 1)
			return PIV_SW_INTERNAL;
		card->mgmt_nonce_len = bs;
		sw = piv_mgmt_reply(card, TAG_WITNESS, card->mgmt_nonce, bs,
		                    true, rsp);
		if (sw == PIV_SW_OK)
			card->mgmt_step = PIV_MGMT_WITNESS_SENT;
	} else if (has_w && w.len == bs && has_c && c.len == bs && !has_r) {
		/* A.3 step 2: the host decrypted the witness; the card proves
		 * itself by encrypting the host's challenge. */
		card->mgmt_ok = false;
		if (step != PIV_MGMT_WITNESS_SENT ||
		    CRYPTO_memcmp(w.value, card->mgmt_nonce, bs) != 0) {
			sw = PIV_SW_NOT_SATISFIED;
		} else {
			sw = piv_mgmt_reply(card, TAG_RESPONSE, c.value, bs,
			                    true, rsp);
			card->mgmt_ok = sw == PIV_SW_OK;
		}
	} else if (has_c && c.len == 0 && !has_w && !has_r) {
		/* A.2 step 1: a plain challenge. */
		if (RAND_bytes(card->mgmt_nonce, (int)bs) != 1)
			return PIV_SW_INTERNAL;
		card->mgmt_nonce_len = bs;
		sw = piv_mgmt_reply(card, TAG_CHALLENGE, card->mgmt_nonce, bs,
		                    false, rsp);
		if (sw == PIV_SW_OK)
			card->mgmt_step = PIV_MGMT_CHALLENGE_SENT;
	} else if (has_r && r.len == bs && !has_w && !has_c) {
		/* A.2 step 2: the host encrypted the challenge. */
		card->mgmt_ok = false;
		if (step != PIV_MGMT_CHALLENGE_SENT ||
		    piv_mgmt_crypt(card, 1, card->mgmt_nonce, bs, expect) != 0 ||
		    CRYPTO_memcmp(r.value, expect, bs) != 0) {
			sw = PIV_SW_NOT_SATISFIED;
		} else {
			card->mgmt_ok = true;
			sw = PIV_SW_OK;
		}
	} else if (has_c && c.len == bs && has_r && r.len == 0 && !has_w) {
		/* The card authenticates itself to the host. */
		sw = piv_mgmt_reply(card, TAG_RESPONSE, c.value, bs, true, rsp);
	}
	/* A nonce outlives only the first step of its exchange. */
	if (card->mgmt_step == PIV_MGMT_IDLE)
		OPENSSL_cleanse(card->mgmt_nonce, sizeof card->mgmt_nonce);
	OPENSSL_cleanse(expect, sizeof expect);
	return sw;
}

/* YubiKey SET MANAGEMENT KEY: 00 FF FF FF (FE: touch required), data the
 * algorithm, then 9B L key. */
piv_sw
piv_set_mgmt_key(struct piv_card *card, const struct vcard_cmd *cmd)
{
	struct piv_tlv key;
	size_t len;

	if (cmd->p1 != 0xFF || (cmd->p2 != 0xFF && cmd->p2 != 0xFE))
		return PIV_SW_WRONG_P1P2;
	if (!card->mgmt_ok)
		return PIV_SW_NOT_SATISFIED;
	if (cmd->lc < 1)
		return PIV_SW_WRONG_DATA;
	len = piv_mgmt_key_len(cmd->data[0]);
	if (len == 0 ||
	    piv_tlv_single(cmd->data + 1, cmd->lc - 1, PIV_REF_MGMT, &key) != 1 ||
	    key.len != len)
		return PIV_SW_WRONG_DATA;
	card->mgmt_alg = cmd->data[0];
	OPENSSL_cleanse(card->mgmt_key, sizeof card->mgmt_key);
	memcpy(card->mgmt_key, key.value, len);
	card->mgmt_len = len;
	card->mgmt_touch = cmd->p2 == 0xFE ? PIV_TOUCH_ALWAYS : PIV_TOUCH_NEVER;
	piv_card_changed(card);
	return PIV_SW_OK;
}

/* YubiKey SET PIN RETRIES: 00 FA <PIN tries> <PUK tries>, with the
 * management key and the PIN. PIN and PUK go back to their defaults. */
piv_sw
piv_set_pin_retries(struct piv_card *card, const struct vcard_cmd *cmd)
{
	if (!card->mgmt_ok || !card->pin_verified)
		return PIV_SW_NOT_SATISFIED;
	if (cmd->p1 == 0 || cmd->p2 == 0)
		return PIV_SW_WRONG_P1P2;
	memcpy(card->pin, default_pin, PIV_PIN_LEN);
	memcpy(card->puk, default_puk, PIV_PIN_LEN);
	card->pin_max = card->pin_left = cmd->p1;
	card->puk_max = card->puk_left = cmd->p2;
	piv_pin_unverify(card);
	piv_card_changed(card);
	return PIV_SW_OK;
}

/* YubiKey RESET: 00 FB 00 00, allowed only once both the PIN and the PUK
 * are blocked. Everything goes back to the factory state except the
 * attestation key and its certificate, which a YubiKey keeps. */
piv_sw
piv_reset_application(struct piv_card *card, const struct vcard_cmd *cmd)
{
	struct piv_object *attest;
	struct buf attest_cert = BUF_INIT;
	piv_sw sw = PIV_SW_INTERNAL;

	if (cmd->p1 != 0x00 || cmd->p2 != 0x00)
		return PIV_SW_WRONG_P1P2;
	if (card->pin_left != 0 || card->puk_left != 0)
		return PIV_SW_CONDITIONS;
	attest = piv_object_find(card, piv_cert_object_of_slot(PIV_REF_ATTEST));
	if (attest != NULL &&
	    buf_set(&attest_cert, attest->value.data, attest->value.len) != 0)
		goto out;
	for (size_t i = 0; i < PIV_KEY_SLOTS; i++)
		if (card->keys[i].slot != PIV_REF_ATTEST)
			piv_key_clear(&card->keys[i]);
	while (card->n_objects > 0)
		piv_object_delete(card, card->objects[0].tag);
	if (attest_cert.len > 0 &&
	    piv_object_set(card, piv_cert_object_of_slot(PIV_REF_ATTEST),
	                   attest_cert.data, attest_cert.len) != 0)
		goto out;
	if (piv_objects_factory(card) != 0)
		goto out;
	piv_auth_factory(card);
	piv_pin_unverify(card);
	card->mgmt_ok = false;
	piv_card_changed(card);
	sw = PIV_SW_OK;
out:
	buf_free(&attest_cert);
	return sw;
}
