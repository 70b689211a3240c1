/* Private-key operations. The ePass2003 computes raw RSA (PSO 2A 80 86 on
 * a k-byte block, for signing and deciphering alike, OpenSC's
 * epass2003_decipher); kyso pads and unpads on the host with padding.h.
 * EC P-256 keys sign a hash (PSO 2A 9E 9A after MSE:SET 22 41 B6, OpenSC's
 * epass2003_set_security_env / epass2003_compute_signature); the answer
 * is r || s. */
#include "drivers/epass2003/epass2003_internal.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>

#include "common/log.h"
#include "drivers/padding.h"

/* Algorithm references of MSE:SET tag 80 (FTCOS, as OpenSC sends them):
 * RSA; ECDSA over a SHA-256-sized hash. */
#define EPASS_ALG_RSA 0x84
#define EPASS_ALG_ECDSA_SHA256 0x92
/* The ECDSA input the card takes with EPASS_ALG_ECDSA_SHA256: 32 bytes,
 * the order's size on P-256, the one curve the token has. */
#define EPASS_EC_ORDER_LEN 32

void
epass_mse_forget(struct epass_data *d)
{
	d->mse_epoch = 0;
}

/* MSE:SET for the key with `handle` (tag 81: the card's file/key
 * handle); `ec`: the digital signature template (B6) and ECDSA, else the
 * confidentiality template (B8, for signing too) and RSA. */
static CK_RV
epass_mse(struct card *card, struct epass_data *d, uint16_t handle, bool ec)
{
	const uint8_t crt[] = { 0x80, 0x01, ec ? EPASS_ALG_ECDSA_SHA256 : EPASS_ALG_RSA,
	                        0x81, 0x02, (uint8_t)(handle >> 8), (uint8_t)handle };
	uint16_t sw;
	CK_RV rv;

	epass_mse_forget(d);
	rv = epass_cmd(card, d, 0x00, 0x22, 0x41, ec ? EPASS_MSE_EC : EPASS_MSE_RSA, crt,
	               sizeof(crt), 0, false, true, NULL, &sw);
	if (rv == CKR_OK && sw != SW_OK) {
		log_debug("epass2003: MSE:SET answered %04X", sw);
		rv = epass_sw_to_rv(sw);
	}
	if (rv == CKR_OK) {
		/* FTCOS keeps the environment for the rest of this SM session
		 * (docs/epass2003.md, "Signing"): the same key next time needs
		 * no MSE:SET. */
		d->mse_epoch = d->sm_epoch;
		d->mse_handle = handle;
		d->mse_ec = ec;
	}
	return rv;
}

/* PSO 2A p1 p2 with the key `handle` (`ec`: ECDSA), its security
 * environment set first unless the last MSE:SET of this SM session chose
 * it already. Never resent after a lost session: the card forgot the PIN
 * with it (6982 then, which the module reports as logged out). */
static CK_RV
epass_pso(struct card *card, struct epass_data *d, uint16_t handle, bool ec, uint8_t p1,
          uint8_t p2, const uint8_t *in, size_t len, bool secret, struct buf *out)
{
	bool was_set = d->mse_epoch != 0 && d->mse_epoch == d->sm_epoch &&
	               d->mse_handle == handle && d->mse_ec == ec;
	unsigned epoch;
	uint16_t sw = 0;
	CK_RV rv = CKR_OK;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!was_set) {
			rv = epass_mse(card, d, handle, ec);
			if (rv != CKR_OK)
				goto out;
		}
		epoch = d->sm_epoch;
		buf_clear(out);
		rv = epass_cmd(card, d, 0x00, 0x2A, p1, p2, in, len, EPASS_SM_LE_ANY, secret, false,
		               out, &sw);
		if (rv != CKR_OK && d->sm_epoch != epoch) {
			/* Another program's session replaced ours under this
			 * PSO: the PIN went with it. */
			rv = CKR_USER_NOT_LOGGED_IN;
			goto out;
		}
		if (rv != CKR_OK || sw == SW_OK)
			goto out;
		log_debug("epass2003: PSO answered %04X", sw);
		epass_mse_forget(d);
		/* 6985 after a skipped MSE:SET: the card no longer has the
		 * environment (ISO 7816-4 5.6, conditions of use not
		 * satisfied); set it once more for this operation only. A PIN
		 * status (6982) is the user's to resolve. */
		if (!was_set || sw != 0x6985)
			break;
		was_set = false;
	}
	rv = epass_sw_to_rv(sw);
out:
	if (rv != CKR_OK) {
		epass_mse_forget(d);
		buf_clear(out);
	}
	return rv;
}

static CK_RV
epass_rsa_raw(struct card *card, struct epass_data *d, uint16_t handle, const uint8_t *block,
              size_t k, struct buf *out)
{
	CK_RV rv;

	rv = epass_pso(card, d, handle, false, 0x80, 0x86, block, k, true, out);
	if (rv == CKR_OK && out->len != k) {
		buf_clear(out);
		rv = CKR_DEVICE_ERROR;
	}
	return rv;
}

static bool
epass_is_p256(const EVP_PKEY *k)
{
	char curve[32];

	return EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, curve,
	                                      sizeof(curve), NULL) == 1 &&
	       strcmp(curve, SN_X9_62_prime256v1) == 0;
}

/* ECDSA of a prepared hash: r || s, EPASS_EC_ORDER_LEN bytes each. */
static CK_RV
epass_ecdsa(struct card *card, struct epass_data *d, uint16_t handle, const uint8_t *hash,
            size_t len, struct buf *sig)
{
	struct buf input = BUF_INIT;
	CK_RV rv;

	rv = padding_ecdsa_input(hash, len, EPASS_EC_ORDER_LEN, &input);
	if (rv != CKR_OK)
		goto out;
	rv = epass_pso(card, d, handle, true, 0x9E, 0x9A, input.data, input.len, false, sig);
	if (rv != CKR_OK)
		goto out;
	if (sig->len != 2 * EPASS_EC_ORDER_LEN)
		rv = CKR_DEVICE_ERROR;
out:
	if (rv != CKR_OK)
		buf_clear(sig);
	buf_free(&input);
	return rv;
}

static CK_RV
epass_key_get(struct card *card, uint32_t key_ref, struct epass_data **d,
              const struct epass_key **key, size_t *k)
{
	CK_RV rv;

	rv = epass_data_get(card, d);
	if (rv != CKR_OK)
		return rv;
	*key = key_ref <= 0xFFFF ? epass_key_find(*d, (uint16_t)key_ref) : NULL;
	if (*key == NULL || (*key)->pub == NULL)
		return CKR_KEY_HANDLE_INVALID;
	*k = (size_t)EVP_PKEY_get_size((*key)->pub);
	return CKR_OK;
}

CK_RV
epass_sign(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech, const uint8_t *in,
           size_t in_len, struct buf *sig)
{
	struct buf block = BUF_INIT;
	const struct epass_key *key;
	struct epass_data *d;
	size_t k;
	CK_RV rv;

	rv = epass_key_get(card, key_ref, &d, &key, &k);
	if (rv != CKR_OK)
		goto out;
	if (EVP_PKEY_get_base_id(key->pub) == EVP_PKEY_EC) {
		if (mech->mechanism != CKM_ECDSA)
			rv = CKR_KEY_TYPE_INCONSISTENT;
		else if (!epass_is_p256(key->pub))
			rv = CKR_KEY_SIZE_RANGE;
		else
			rv = epass_ecdsa(card, d, key->handle, in, in_len, sig);
		goto out;
	}
	rv = padding_rsa_sign_block(mech, key->pub, in, in_len, &block);
	if (rv != CKR_OK)
		goto out;
	rv = epass_rsa_raw(card, d, key->handle, block.data, block.len, sig);
out:
	buf_free(&block);
	return rv;
}

CK_RV
epass_decrypt(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech, const uint8_t *in,
              size_t in_len, struct buf *out)
{
	struct buf em = BUF_INIT, block = BUF_INIT;
	const struct epass_key *key;
	struct epass_data *d;
	size_t k;
	CK_RV rv;

	rv = epass_key_get(card, key_ref, &d, &key, &k);
	if (rv != CKR_OK)
		goto out;
	if (EVP_PKEY_get_base_id(key->pub) != EVP_PKEY_RSA) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (in_len > k) {
		rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
		goto out;
	}
	rv = padding_decrypt_check(mech);
	if (rv != CKR_OK)
		goto out;
	rv = padding_raw(in, in_len, k, &block);
	if (rv != CKR_OK)
		goto out;
	rv = epass_rsa_raw(card, d, key->handle, block.data, block.len, &em);
	if (rv != CKR_OK)
		goto out;
	rv = padding_decrypt_unpad(mech, em.data, em.len, k, out);
out:
	buf_free(&em);
	buf_free(&block);
	return rv;
}
