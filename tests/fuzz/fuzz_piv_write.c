/* Fuzz the PIV driver's writes against a card that answers from the input:
 * the card management key's mutual authentication (GET METADATA 9B on
 * YubiKeys, then GENERAL AUTHENTICATE 7C { 80 witness } and 7C { 82 },
 * SP 800-73-4 pt 2, appendix A.2), GENERATE ASYMMETRIC KEY PAIR's
 * 7F49 { 81 n, 82 e } and 7F49 { 86 point } (pt 2, 3.3.2), and the PUT DATA
 * of certificate writes, deletes and the Key History update, through
 * piv_driver.generate_key_pair/create_object/destroy_object.
 *
 * The administrator's hooks the kyso tool uses go along (issue 5):
 * pin_is_default (GET METADATA tag 05), change_admin_key (SET MANAGEMENT
 * KEY after the mutual authentication) and factory_reset (PIN and PUK
 * blocked with VERIFY and RESET RETRY COUNTER until the card says so, then
 * RESET).
 *
 * kyso's challenge comes from RAND_bytes, which fuzz_rand.c makes the same
 * on every run, so a recorded card answer to it replays.
 *
 * Input: 1 byte of flags (bit 0: extended APDUs, bit 1: T=0, bit 2: the
 * card is a YubiKey, so GET METADATA is asked), the answer to SELECT, then
 * up to FUZZ_ROUNDS_MAX rounds of 2 bytes followed by the card's answers:
 *   byte 0  bits 0-2: RSA 1024, 2048, 3072, 4096, P-256, P-384, RSA 512,
 *           secp256k1 (the last two refused before any APDU)
 *           bits 3-4: generate; write the certificate; delete it; both
 *           generate and write
 *           bit 5: then ask whether the PIN and the PUK are the default
 *           bit 6: then set the management key (to the default again)
 *           bit 7: then reset the PIV application
 *   byte 1  the slot, 0-23 (9A 9C 9D 9E, then retired 82-95) */
#include <string.h>

#include <openssl/crypto.h>

#include "drivers/piv/piv_internal.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_card.h"
#include "tests/fuzz/fuzz_driver.h"
#include "tests/fuzz/fuzz_keys.h"

#define FUZZ_ROUNDS_MAX 6

static unsigned char *fuzz_cert;
static int fuzz_cert_len;

/* Curves by DER OID: P-256, P-384, and secp256k1, which PIV has not. */
static const uint8_t fuzz_p256[] = {
	0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07,
};
static const uint8_t fuzz_p384[] = { 0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t fuzz_k256[] = { 0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A };

static void
fuzz_generate(struct card *card, int alg, uint8_t id)
{
	static const CK_ULONG bits[] = { 1024, 2048, 3072, 4096, 0, 0, 512, 0 };
	static const uint8_t want[] = {
		PIV_ALG_RSA1024, PIV_ALG_RSA2048, PIV_ALG_RSA3072, PIV_ALG_RSA4096,
		PIV_ALG_ECC_P256, PIV_ALG_ECC_P384, 0, 0,
	};
	struct piv_data *d = card->driver_data;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG modulus_bits = bits[alg];
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[2] = {
		{ CKA_MODULUS_BITS, &modulus_bits, sizeof(modulus_bits) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE priv[2] = {
		{ CKA_ID, &id, 1 },
		{ CKA_SIGN, &yes, sizeof(yes) },
	};
	int idx = piv_slot_index_by_id(&id, 1);
	CK_RV rv;

	if (alg >= 4 && alg != 6) {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		pub[0].type = CKA_EC_PARAMS;
		pub[0].pValue = (void *)(alg == 4 ? fuzz_p256 : alg == 5 ? fuzz_p384 : fuzz_k256);
		pub[0].ulValueLen = alg == 4 ? sizeof(fuzz_p256) :
		                    alg == 5 ? sizeof(fuzz_p384) : sizeof(fuzz_k256);
	}
	rv = fuzz_rv("generate", piv_driver.generate_key_pair(card, &mech, pub, 2, priv, 2));
	if (rv == CKR_OK) {
		/* The key the card made is the kind that was asked for. */
		FUZZ_CHECK(idx >= 0 && want[alg] != 0);
		FUZZ_CHECK(d->slots[idx].pub != NULL && d->slots[idx].alg == want[alg]);
		FUZZ_CHECK(piv_alg_for_key(d->slots[idx].pub) == want[alg]);
	}
}

static void
fuzz_write_cert(struct card *card, uint8_t id)
{
	struct piv_data *d = card->driver_data;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_CERTIFICATE_TYPE, &type, sizeof(type) },
		{ CKA_ID, &id, 1 },
		{ CKA_VALUE, fuzz_cert, (CK_ULONG)fuzz_cert_len },
	};
	int idx = piv_slot_index_by_id(&id, 1);
	CK_RV rv;

	rv = fuzz_rv("write certificate", piv_driver.create_object(card, tmpl, 4));
	if (rv == CKR_OK) {
		FUZZ_CHECK(idx >= 0 && d->slots[idx].cert_state == PIV_CERT_PRESENT);
		FUZZ_CHECK(d->slots[idx].cert.len == (size_t)fuzz_cert_len);
		/* Retired slots are made visible in the Key History, which
		 * says at most 20 of them hold certificates. */
		FUZZ_CHECK(d->retired_on_card + d->retired_off_card <=
		           PIV_SLOT_COUNT - PIV_MAIN_SLOTS);
	}
}

static void
fuzz_delete_cert(struct card *card, uint8_t id)
{
	struct drv_object obj;
	int idx = piv_slot_index_by_id(&id, 1);

	memset(&obj, 0, sizeof(obj));
	obj.key_ref = piv_slot_defs[idx].key_ref;
	FUZZ_CHECK(attr_set_ulong(&obj.attrs, CKA_CLASS, CKO_CERTIFICATE) == CKR_OK);
	(void)fuzz_rv("delete certificate", piv_driver.destroy_object(card, &obj));
	attr_list_free(&obj.attrs);
}

static void
fuzz_admin(struct card *card, uint8_t what)
{
	static const uint8_t default_key[24] = {
		1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
	};
	bool is_default;

	if (what & 0x20) {
		(void)fuzz_rv("pin_is_default user",
		              piv_driver.pin_is_default(card, DRV_USER, &is_default));
		(void)fuzz_rv("pin_is_default so",
		              piv_driver.pin_is_default(card, DRV_SO, &is_default));
	}
	if (what & 0x40)
		(void)fuzz_rv("change_admin_key", piv_driver.change_admin_key(card, default_key,
		                                                              sizeof(default_key)));
	if (what & 0x80)
		(void)fuzz_rv("factory_reset", piv_driver.factory_reset(card));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_card fc;
	struct card card;
	struct piv_data *d;
	const uint8_t *round;
	uint8_t flags;

	if (fuzz_cert == NULL)
		fuzz_cert_len = fuzz_cert_der(&fuzz_cert);
	fuzz_rand_reset();
	fuzz_card_init(&fc, data, size);
	memset(&card, 0, sizeof(card));
	flags = fuzz_card_byte(&fc, 0);
	fuzz_card_attach(&fc, &card);
	card.extended = fc.extended = (flags & 0x01) != 0;
	card.t0 = (flags & 0x02) != 0;
	/* The card is new to kyso: SELECT first, as the module does. */
	if (fuzz_rv("match", piv_driver.match(&card)) != CKR_OK)
		goto out;
	card.driver = &piv_driver;
	FUZZ_CHECK(piv_driver.bind(&card) == CKR_OK);
	d = card.driver_data;
	/* What GET SERIAL would have told (piv_identity()). */
	d->yubikey = (flags & 0x04) != 0;
	d->identity_read = true;

	for (int i = 0; i < FUZZ_ROUNDS_MAX && fuzz_card_take(&fc, 2, &round); i++) {
		int alg = round[0] & 7, action = (round[0] >> 3) & 3;
		uint8_t id = piv_slot_defs[round[1] % PIV_SLOT_COUNT].id;

		if (action == 0 || action == 3)
			fuzz_generate(&card, alg, id);
		if (action == 1 || action == 3)
			fuzz_write_cert(&card, id);
		if (action == 2)
			fuzz_delete_cert(&card, id);
		fuzz_admin(&card, round[0]);
	}

	piv_driver.unbind(&card);
out:
	fuzz_card_finish(&fc);
	return 0;
}
