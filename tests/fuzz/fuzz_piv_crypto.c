/* Fuzz the PIV driver's private-key operations against a card that answers
 * from the input: the GENERAL AUTHENTICATE answer 7C { 82 ... }
 * (SP 800-73-4 pt 2, 3.2.4), the raw RSA result, the card's DER ECDSA
 * signature (padding_ecdsa_der_to_raw), the decrypted block's PKCS#1 and
 * OAEP padding (padding_pkcs1_decrypt, padding_oaep_decrypt) and the ECDH
 * shared secret, through piv_driver.sign/decrypt/derive. The slot's key is
 * one of fuzz_keys.h's, put there as GENERATE would.
 *
 * Input: 1 byte of flags (bit 0: extended APDUs, bit 1: T=0), then up to
 * FUZZ_OPS_MAX operations, each one byte followed by the card's answers:
 *   bits 0-1  the key: RSA 1024, RSA 2048, P-256, P-384
 *   bits 2-4  RSA: sign PKCS#1, X.509, PSS; decrypt PKCS#1, OAEP, X.509;
 *             EC: sign a 32-byte hash, a 20-byte one, a 64-byte one;
 *             ECDH with a raw point, with a DER point, with a short one;
 *             6: the other key type's mechanism; 7: a reset first
 *   bits 5-6  the slot: 9A 9C 9D 9E
 *   bit 7     SHA-256 instead of SHA-1 for PSS and OAEP, an OAEP label */
#include <string.h>

#include <openssl/evp.h>

#include "drivers/piv/piv_internal.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_card.h"
#include "tests/fuzz/fuzz_driver.h"
#include "tests/fuzz/fuzz_keys.h"

#define FUZZ_OPS_MAX 8

static EVP_PKEY *fuzz_keys[FUZZ_KEY_COUNT];

static const uint8_t fuzz_slot_refs[4] = {
	PIV_REF_AUTH, PIV_REF_SIGN, PIV_REF_KEYMGMT, PIV_REF_CARDAUTH,
};

/* Input bytes: a DigestInfo-sized block, hashes, a ciphertext. */
static uint8_t fuzz_data[512];

static void
fuzz_sign(struct card *card, uint8_t ref, CK_MECHANISM_TYPE type, const void *param,
          size_t param_len, size_t in_len, size_t want)
{
	CK_MECHANISM mech = { type, (void *)param, param_len };
	struct buf sig = BUF_INIT;
	CK_RV rv;

	rv = fuzz_rv("sign", piv_driver.sign(card, ref, &mech, fuzz_data, in_len, &sig));
	/* RSA: the modulus size; ECDSA: r||s, each the order's size. */
	FUZZ_CHECK(rv != CKR_OK || sig.len == want);
	buf_free(&sig);
}

static void
fuzz_decrypt(struct card *card, uint8_t ref, CK_MECHANISM_TYPE type, const void *param,
             size_t param_len, size_t k, size_t max)
{
	CK_MECHANISM mech = { type, (void *)param, param_len };
	struct buf out = BUF_INIT;
	CK_RV rv;

	rv = fuzz_rv("decrypt", piv_driver.decrypt(card, ref, &mech, fuzz_data, k, &out));
	FUZZ_CHECK(rv != CKR_OK || out.len <= max);
	buf_free(&out);
}

static void
fuzz_derive(struct card *card, uint8_t ref, size_t field, int form)
{
	uint8_t point[2 + 1 + 2 * 48];
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, 0, point };
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	struct buf secret = BUF_INIT;
	size_t n = 1 + 2 * field;
	CK_RV rv;

	/* The driver only checks the form; the card would check the curve. */
	memset(point, 0x11, sizeof(point));
	if (form == 0) {
		point[0] = 0x04;
		p.ulPublicDataLen = n;
	} else if (form == 1) {
		point[0] = 0x04;	/* OCTET STRING, short form length */
		point[1] = (uint8_t)n;
		point[2] = 0x04;
		p.ulPublicDataLen = n + 2;
	} else {
		point[0] = 0x04;
		p.ulPublicDataLen = n - 1;
	}
	rv = fuzz_rv("derive", piv_driver.derive(card, ref, &mech, &secret));
	FUZZ_CHECK(rv != CKR_OK || secret.len == field);
	buf_free(&secret);
}

static void
fuzz_op(struct card *card, uint8_t op)
{
	static const uint8_t label[] = "kyso";
	struct piv_data *d = card->driver_data;
	int key = op & 3, what = (op >> 2) & 7, slot = (op >> 5) & 3;
	bool sha256 = (op & 0x80) != 0;
	uint8_t ref = fuzz_slot_refs[slot];
	int idx = piv_slot_index(ref);
	bool rsa = key < 2;
	size_t k = (size_t)EVP_PKEY_get_size(fuzz_keys[key]);
	size_t field = (size_t)(EVP_PKEY_get_bits(fuzz_keys[key]) + 7) / 8;
	size_t h = sha256 ? 32 : 20;
	CK_RSA_PKCS_PSS_PARAMS pss = {
		sha256 ? CKM_SHA256 : CKM_SHA_1, sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1, h,
	};
	CK_RSA_PKCS_OAEP_PARAMS oaep = {
		sha256 ? CKM_SHA256 : CKM_SHA_1, sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
		CKZ_DATA_SPECIFIED, sha256 ? (void *)label : NULL, sha256 ? 4 : 0,
	};

	/* As GENERATE leaves it: the key stays across a reset. */
	FUZZ_CHECK(EVP_PKEY_up_ref(fuzz_keys[key]) == 1);
	piv_slot_set_pub(&d->slots[idx], fuzz_keys[key], true);

	if (what == 7) {
		card->reset_count++;
		what = 0;
	}
	if (what == 6) {
		/* The wrong mechanism for the key: refused before any APDU. */
		unsigned long calls = card->apdu_count;
		if (rsa)
			fuzz_sign(card, ref, CKM_ECDSA, NULL, 0, 32, 0);
		else
			fuzz_decrypt(card, ref, CKM_RSA_PKCS, NULL, 0, 2 * field, 0);
		FUZZ_CHECK(card->apdu_count == calls);
		return;
	}
	if (rsa) {
		switch (what) {
		case 0:
			fuzz_sign(card, ref, CKM_RSA_PKCS, NULL, 0, 51, k);
			break;
		case 1:
			fuzz_sign(card, ref, CKM_RSA_X_509, NULL, 0, k - 1, k);
			break;
		case 2:
			fuzz_sign(card, ref, CKM_RSA_PKCS_PSS, &pss, sizeof(pss), h, k);
			break;
		case 3:
			fuzz_decrypt(card, ref, CKM_RSA_PKCS, NULL, 0, k, k - 11);
			break;
		case 4:
			fuzz_decrypt(card, ref, CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep), k,
			             k - 2 * h - 2);
			break;
		default:
			fuzz_decrypt(card, ref, CKM_RSA_X_509, NULL, 0, k, k);
			break;
		}
	} else {
		switch (what) {
		case 0:
			fuzz_sign(card, ref, CKM_ECDSA, NULL, 0, 32, 2 * field);
			break;
		case 1:
			fuzz_sign(card, ref, CKM_ECDSA, NULL, 0, 20, 2 * field);
			break;
		case 2:
			fuzz_sign(card, ref, CKM_ECDSA, NULL, 0, 64, 2 * field);
			break;
		default:
			fuzz_derive(card, ref, field, what - 3);
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_card fc;
	struct card card;
	uint8_t flags;
	const uint8_t *op;

	if (fuzz_keys[0] == NULL) {
		for (int i = 0; i < FUZZ_KEY_COUNT; i++)
			fuzz_keys[i] = fuzz_key_load(i);
		/* A ciphertext below every modulus, data with no zero bytes. */
		for (size_t i = 0; i < sizeof(fuzz_data); i++)
			fuzz_data[i] = (uint8_t)(i * 7 + 1);
		fuzz_data[0] = 0x00;
	}
	fuzz_card_init(&fc, data, size);
	memset(&card, 0, sizeof(card));
	flags = fuzz_card_byte(&fc, 0);
	fuzz_card_attach(&fc, &card);
	card.extended = fc.extended = (flags & 0x01) != 0;
	card.t0 = (flags & 0x02) != 0;
	card.driver = &piv_driver;
	FUZZ_CHECK(piv_driver.bind(&card) == CKR_OK);

	for (int i = 0; i < FUZZ_OPS_MAX && fuzz_card_take(&fc, 1, &op); i++)
		fuzz_op(&card, op[0]);

	piv_driver.unbind(&card);
	fuzz_card_finish(&fc);
	return 0;
}
