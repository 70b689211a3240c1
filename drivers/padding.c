/* RSA paddings and ECDSA signature formats, by OpenSSL.
 *
 * OpenSSL 3 offers padding without a key operation only through the RSA_*
 * functions it deprecated (RSA_padding_add_PKCS1_type_1, ..._PSS_mgf1,
 * RSA_padding_check_*): there is no EVP equivalent for "pad for a card that
 * does raw RSA". They are still the audited implementations (constant-time
 * unpadding included), so this one file uses them and silences the
 * deprecation warnings for itself only. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "drivers/padding.h"

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

/* Room for `n` bytes in `out`, which becomes exactly n bytes long (the
 * caller fills them). NULL when out of memory. */
static uint8_t *
padding_room(struct buf *out, size_t n)
{
	uint8_t *p = NULL;

	buf_clear(out);
	if (buf_reserve(out, n) != 0)
		goto out;
	out->len = n;
	p = out->data;
out:
	return p;
}

const EVP_MD *
padding_md_from_mech(CK_MECHANISM_TYPE hash)
{
	const EVP_MD *md = NULL;

	switch (hash) {
	case CKM_SHA_1:
		md = EVP_sha1();
		break;
	case CKM_SHA224:
		md = EVP_sha224();
		break;
	case CKM_SHA256:
		md = EVP_sha256();
		break;
	case CKM_SHA384:
		md = EVP_sha384();
		break;
	case CKM_SHA512:
		md = EVP_sha512();
		break;
	default:
		break;
	}
	return md;
}

const EVP_MD *
padding_md_from_mgf(CK_RSA_PKCS_MGF_TYPE mgf)
{
	const EVP_MD *md = NULL;

	switch (mgf) {
	case CKG_MGF1_SHA1:
		md = EVP_sha1();
		break;
	case CKG_MGF1_SHA224:
		md = EVP_sha224();
		break;
	case CKG_MGF1_SHA256:
		md = EVP_sha256();
		break;
	case CKG_MGF1_SHA384:
		md = EVP_sha384();
		break;
	case CKG_MGF1_SHA512:
		md = EVP_sha512();
		break;
	default:
		break;
	}
	return md;
}

CK_RV
padding_pkcs1_sign(const uint8_t *in, size_t in_len, size_t k, struct buf *out)
{
	CK_RV rv = CKR_DATA_LEN_RANGE;
	uint8_t *em;

	/* RFC 8017 9.2 step 3: at least 8 bytes of FF, so k - 11 at most. */
	if (k < 11 || k > INT_MAX || in_len > k - 11 || (in == NULL && in_len > 0))
		goto out;
	em = padding_room(out, k);
	if (em == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (RSA_padding_add_PKCS1_type_1(em, (int)k, in, (int)in_len) != 1) {
		buf_clear(out);
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	rv = CKR_OK;
out:
	return rv;
}

CK_RV
padding_raw(const uint8_t *in, size_t in_len, size_t k, struct buf *out)
{
	CK_RV rv = CKR_DATA_LEN_RANGE;
	uint8_t *em;

	if (in_len > k || (in == NULL && in_len > 0))
		goto out;
	em = padding_room(out, k);
	if (em == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	memset(em, 0, k - in_len);
	if (in_len > 0)
		memcpy(em + (k - in_len), in, in_len);
	rv = CKR_OK;
out:
	return rv;
}

CK_RV
padding_pss(EVP_PKEY *pub, const CK_RSA_PKCS_PSS_PARAMS *params,
            const uint8_t *hash, size_t hash_len, struct buf *out)
{
	const EVP_MD *md, *mgf_md;
	RSA *rsa = NULL;
	uint8_t *em;
	size_t k, h;
	CK_RV rv = CKR_MECHANISM_PARAM_INVALID;

	if (params == NULL || pub == NULL)
		goto out;
	md = padding_md_from_mech(params->hashAlg);
	mgf_md = padding_md_from_mgf(params->mgf);
	if (md == NULL || mgf_md == NULL || params->sLen > INT_MAX)
		goto out;
	h = (size_t)EVP_MD_get_size(md);
	if (hash == NULL || hash_len != h) {
		rv = CKR_DATA_LEN_RANGE;
		goto out;
	}
	rsa = EVP_PKEY_get1_RSA(pub);
	if (rsa == NULL) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	k = (size_t)RSA_size(rsa);
	/* RFC 8017 9.1.1 step 3: emLen >= hLen + sLen + 2, emLen being k, or
	 * k - 1 when the modulus bits are 1 mod 8. Checked here so a salt too
	 * long for the key is the caller's parameter error, not a failure. */
	if (k < h + params->sLen + 2 + ((RSA_bits(rsa) - 1) % 8 == 0 ? 1 : 0))
		goto out;
	em = padding_room(out, k);
	if (em == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* Writes RSA_size bytes, with a leading zero when emLen is k - 1. */
	if (RSA_padding_add_PKCS1_PSS_mgf1(rsa, em, hash, md, mgf_md,
	                                   (int)params->sLen) != 1) {
		buf_clear(out);
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	rv = CKR_OK;
out:
	RSA_free(rsa);
	return rv;
}

CK_RV
padding_pkcs1_decrypt(const uint8_t *em, size_t em_len, size_t k, struct buf *out)
{
	CK_RV rv = CKR_ENCRYPTED_DATA_INVALID;
	uint8_t *to;
	int n;

	if (em == NULL || em_len != k || k < 11 || k > INT_MAX)
		goto out;
	to = padding_room(out, k);
	if (to == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* `em` is the whole k-byte block, leading zero included, as OpenSSL's
	 * own raw decryption hands it over. */
	n = RSA_padding_check_PKCS1_type_2(to, (int)k, em, (int)em_len, (int)k);
	if (n < 0) {
		buf_clear(out);
		goto out;
	}
	out->len = (size_t)n;
	rv = CKR_OK;
out:
	return rv;
}

CK_RV
padding_oaep_decrypt(const uint8_t *em, size_t em_len, size_t k,
                     const CK_RSA_PKCS_OAEP_PARAMS *params, struct buf *out)
{
	const EVP_MD *md, *mgf_md;
	const uint8_t *label = NULL;
	size_t label_len = 0;
	CK_RV rv = CKR_MECHANISM_PARAM_INVALID;
	uint8_t *to;
	int n;

	if (params == NULL)
		goto out;
	md = padding_md_from_mech(params->hashAlg);
	mgf_md = padding_md_from_mgf(params->mgf);
	if (md == NULL || mgf_md == NULL)
		goto out;
	/* PKCS#11 2.40 mechanisms 2.1.8: the only source is CKZ_DATA_SPECIFIED
	 * (some applications leave it 0 when there is no label). */
	if (params->ulSourceDataLen > 0) {
		if (params->source != CKZ_DATA_SPECIFIED || params->pSourceData == NULL ||
		    params->ulSourceDataLen > INT_MAX)
			goto out;
		label = params->pSourceData;
		label_len = params->ulSourceDataLen;
	} else if (params->source != CKZ_DATA_SPECIFIED && params->source != 0) {
		goto out;
	}
	rv = CKR_ENCRYPTED_DATA_INVALID;
	if (em == NULL || em_len != k || k == 0 || k > INT_MAX)
		goto out;
	to = padding_room(out, k);
	if (to == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	n = RSA_padding_check_PKCS1_OAEP_mgf1(to, (int)k, em, (int)em_len, (int)k,
	                                      label, (int)label_len, md, mgf_md);
	if (n < 0) {
		buf_clear(out);
		goto out;
	}
	out->len = (size_t)n;
	rv = CKR_OK;
out:
	return rv;
}

CK_RV
padding_ecdsa_input(const uint8_t *hash, size_t hash_len, size_t order_len,
                    struct buf *out)
{
	CK_RV rv = CKR_DATA_LEN_RANGE;
	uint8_t *e;

	if (hash == NULL || hash_len == 0 || order_len == 0)
		goto out;
	e = padding_room(out, order_len);
	if (e == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (hash_len >= order_len) {
		memcpy(e, hash, order_len);
	} else {
		/* A shorter hash is the same integer with leading zeros. */
		memset(e, 0, order_len - hash_len);
		memcpy(e + (order_len - hash_len), hash, hash_len);
	}
	rv = CKR_OK;
out:
	return rv;
}

CK_RV
padding_ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t order_len,
                         struct buf *out)
{
	const uint8_t *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig = NULL;
	CK_RV rv = CKR_DEVICE_ERROR;
	uint8_t *rs;

	if (der == NULL || der_len == 0 || der_len > LONG_MAX || order_len == 0 ||
	    order_len > INT_MAX)
		goto out;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	/* The card's answer must be the signature and nothing else. */
	if (sig == NULL || p != der + der_len)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_is_negative(r) || BN_is_negative(s) || BN_is_zero(r) || BN_is_zero(s) ||
	    (size_t)BN_num_bytes(r) > order_len || (size_t)BN_num_bytes(s) > order_len)
		goto out;
	rs = padding_room(out, 2 * order_len);
	if (rs == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (BN_bn2binpad(r, rs, (int)order_len) < 0 ||
	    BN_bn2binpad(s, rs + order_len, (int)order_len) < 0) {
		buf_clear(out);
		goto out;
	}
	rv = CKR_OK;
out:
	ECDSA_SIG_free(sig);
	return rv;
}

CK_RV
padding_decrypt_check(const CK_MECHANISM *mech)
{
	CK_RV rv = CKR_OK;

	if (mech->mechanism != CKM_RSA_PKCS && mech->mechanism != CKM_RSA_X_509 &&
	    mech->mechanism != CKM_RSA_PKCS_OAEP)
		rv = CKR_MECHANISM_INVALID;
	else if (mech->mechanism == CKM_RSA_PKCS_OAEP &&
	         (mech->pParameter == NULL ||
	          mech->ulParameterLen != sizeof(CK_RSA_PKCS_OAEP_PARAMS)))
		rv = CKR_MECHANISM_PARAM_INVALID;
	return rv;
}

CK_RV
padding_decrypt_unpad(const CK_MECHANISM *mech, const uint8_t *em, size_t em_len,
                      size_t k, struct buf *out)
{
	CK_RV rv;

	switch (mech->mechanism) {
	case CKM_RSA_PKCS:
		rv = padding_pkcs1_decrypt(em, em_len, k, out);
		break;
	case CKM_RSA_PKCS_OAEP:
		rv = padding_oaep_decrypt(em, em_len, k, mech->pParameter, out);
		break;
	case CKM_RSA_X_509:
		rv = buf_set(out, em, em_len) == 0 ? CKR_OK : CKR_HOST_MEMORY;
		break;
	default:
		rv = CKR_MECHANISM_INVALID;
		break;
	}
	return rv;
}

bool
padding_is_rsa_sign(CK_MECHANISM_TYPE mech)
{
	return mech == CKM_RSA_PKCS || mech == CKM_RSA_X_509 || mech == CKM_RSA_PKCS_PSS;
}

CK_RV
padding_rsa_sign_block(const CK_MECHANISM *mech, EVP_PKEY *pub, const uint8_t *in,
                       size_t in_len, struct buf *out)
{
	size_t k = (size_t)EVP_PKEY_get_size(pub);
	CK_RV rv;

	switch (mech->mechanism) {
	case CKM_RSA_PKCS:
		rv = padding_pkcs1_sign(in, in_len, k, out);
		break;
	case CKM_RSA_X_509:
		rv = padding_raw(in, in_len, k, out);
		break;
	case CKM_RSA_PKCS_PSS:
		if (mech->pParameter == NULL ||
		    mech->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
			rv = CKR_MECHANISM_PARAM_INVALID;
		else
			rv = padding_pss(pub, mech->pParameter, in, in_len, out);
		break;
	default:
		rv = CKR_MECHANISM_INVALID;
		break;
	}
	return rv;
}
