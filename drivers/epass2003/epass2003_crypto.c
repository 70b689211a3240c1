/* Private-key operations. The ePass2003 computes raw RSA (PSO 2A 80 86 on
 * a k-byte block, for signing and deciphering alike, OpenSC's
 * epass2003_decipher); kyso pads and unpads on the host with padding.h. */
#include "drivers/epass2003/epass2003_internal.h"

#include <openssl/crypto.h>

#include "common/log.h"
#include "drivers/padding.h"

/* MSE:SET for the key with `handle` (tag 81: the card's file/key
 * handle), RSA (algorithm reference 84 as OpenSC sends it). */
static CK_RV
epass_mse(struct card *card, struct epass_data *d, uint16_t handle)
{
	const uint8_t crt[] = { 0x80, 0x01, 0x84, 0x81, 0x02, (uint8_t)(handle >> 8),
	                        (uint8_t)handle };
	uint16_t sw;
	CK_RV rv;

	rv = epass_cmd(card, d, 0x00, 0x22, 0x41, EPASS_MSE_RSA, crt, sizeof(crt), 0, false,
	               true, NULL, &sw);
	if (rv == CKR_OK && sw != SW_OK) {
		log_debug("epass2003: MSE:SET answered %04X", sw);
		rv = epass_sw_to_rv(sw);
	}
	return rv;
}

static CK_RV
epass_rsa_raw(struct card *card, struct epass_data *d, uint16_t handle, const uint8_t *block,
              size_t k, struct buf *out)
{
	uint16_t sw;
	CK_RV rv;

	rv = epass_mse(card, d, handle);
	if (rv != CKR_OK)
		goto out;
	/* Not resent after a lost session: the card forgot the PIN with it
	 * and would answer 6982, which the module reports as logged out. */
	rv = epass_cmd(card, d, 0x00, 0x2A, 0x80, 0x86, block, k, EPASS_SM_LE_ANY, true, false,
	               out, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK) {
		log_debug("epass2003: PSO answered %04X", sw);
		rv = epass_sw_to_rv(sw);
		goto out;
	}
	if (out->len != k) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
out:
	if (rv != CKR_OK)
		buf_clear(out);
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
	switch (mech->mechanism) {
	case CKM_RSA_PKCS:
		rv = padding_pkcs1_sign(in, in_len, k, &block);
		break;
	case CKM_RSA_X_509:
		rv = padding_raw(in, in_len, k, &block);
		break;
	case CKM_RSA_PKCS_PSS:
		if (mech->pParameter == NULL ||
		    mech->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS)) {
			rv = CKR_MECHANISM_PARAM_INVALID;
			break;
		}
		rv = padding_pss(key->pub, mech->pParameter, in, in_len, &block);
		break;
	default:
		rv = CKR_MECHANISM_INVALID;
	}
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
	if (in_len > k) {
		rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
		goto out;
	}
	if (mech->mechanism != CKM_RSA_PKCS && mech->mechanism != CKM_RSA_X_509 &&
	    mech->mechanism != CKM_RSA_PKCS_OAEP) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	if (mech->mechanism == CKM_RSA_PKCS_OAEP &&
	    (mech->pParameter == NULL || mech->ulParameterLen != sizeof(CK_RSA_PKCS_OAEP_PARAMS))) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	rv = padding_raw(in, in_len, k, &block);
	if (rv != CKR_OK)
		goto out;
	rv = epass_rsa_raw(card, d, key->handle, block.data, block.len, &em);
	if (rv != CKR_OK)
		goto out;
	if (mech->mechanism == CKM_RSA_PKCS)
		rv = padding_pkcs1_decrypt(em.data, em.len, k, out);
	else if (mech->mechanism == CKM_RSA_PKCS_OAEP)
		rv = padding_oaep_decrypt(em.data, em.len, k, mech->pParameter, out);
	else if (buf_set(out, em.data, em.len) != 0)
		rv = CKR_HOST_MEMORY;
out:
	buf_free(&em);
	buf_free(&block);
	return rv;
}
