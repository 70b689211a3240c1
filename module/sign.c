/* C_Sign* on the card, C_Verify* in software. Hash-and-sign mechanisms are
 * hashed here; the driver sees only the raw mechanism (drivers/driver.h). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "drivers/padding.h"
#include "module/module.h"
#include "module/pkcs11_export.h"

/* Largest data taken for a raw (single-part) mechanism through Update. */
#define RAW_DATA_MAX 8192

/* DigestInfo (PKCS#1 v2.2 section 9.2) for `hash`, DER via OpenSSL. */
static CK_RV
digest_info(const EVP_MD *md, const uint8_t *hash, size_t len, struct buf *out)
{
	X509_SIG *sig = X509_SIG_new();
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *digest;
	unsigned char *der = NULL;
	CK_RV rv = CKR_HOST_MEMORY;

	if (sig == NULL)
		goto out;
	X509_SIG_getm(sig, &alg, &digest);
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL) ||
	    !ASN1_OCTET_STRING_set(digest, hash, (int)len))
		goto out;
	int n = i2d_X509_SIG(sig, &der);
	if (n <= 0 || buf_set(out, der, (size_t)n) != 0)
		goto out;
	rv = CKR_OK;
out:
	OPENSSL_free(der);
	X509_SIG_free(sig);
	return rv;
}

/* The PSS parameters must name the hash the mechanism uses. */
static CK_RV
pss_check(const struct operation *op, const EVP_MD *md)
{
	CK_RSA_PKCS_PSS_PARAMS p;
	CK_MECHANISM_TYPE raw;

	if (op->param_len != sizeof(p))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(&p, op->param, sizeof(p));
	const EVP_MD *named = mechanism_digest(p.hashAlg, &raw);
	if (named == NULL || raw != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (md != NULL && EVP_MD_get_type(named) != EVP_MD_get_type(md))
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

static CK_RV
op_init(struct slot *slot, struct token *token, struct operation *op, enum op_kind kind,
        const CK_MECHANISM *mech, CK_OBJECT_HANDLE hKey)
{
	struct key_use key;
	CK_MECHANISM_TYPE raw = mech->mechanism;
	const EVP_MD *md = mechanism_digest(mech->mechanism, &raw);
	CK_RV rv;

	if (kind == OP_SIGN)
		rv = key_for_operation(slot, token, hKey, CKO_PRIVATE_KEY, CKA_SIGN, mech,
		                       CKF_SIGN, &key);
	else
		rv = key_for_operation(slot, token, hKey, CKO_PUBLIC_KEY, CKA_VERIFY, mech,
		                       CKF_VERIFY, &key);
	if (rv != CKR_OK)
		return rv;
	rv = operation_set_param(op, mech);
	if (rv == CKR_OK && raw == CKM_RSA_PKCS_PSS)
		rv = pss_check(op, md);
	if (rv != CKR_OK)
		return rv;
	if (kind == OP_VERIFY) {
		const CK_ATTRIBUTE *spki = attr_find(&key.obj->attrs, CKA_PUBLIC_KEY_INFO);
		if (spki == NULL)
			return CKR_KEY_TYPE_INCONSISTENT;
		const unsigned char *p = spki->pValue;
		op->pkey = d2i_PUBKEY(NULL, &p, (long)spki->ulValueLen);
		if (op->pkey == NULL)
			return CKR_KEY_TYPE_INCONSISTENT;
	}
	if (md != NULL) {
		op->md = EVP_MD_CTX_new();
		if (op->md == NULL || !EVP_DigestInit_ex(op->md, md, NULL))
			return CKR_HOST_MEMORY;
	}
	bool always = false;
	attr_get_bool(&key.obj->attrs, CKA_ALWAYS_AUTHENTICATE, &always);
	op->needs_context_login = kind == OP_SIGN && always;
	op->kind = kind;
	op->mech = mech->mechanism;
	op->key = hKey;
	op->out_len = key.out_len;
	return CKR_OK;
}

static CK_RV
op_update(struct operation *op, const uint8_t *data, size_t len)
{
	op->multipart = true;
	if (op->md != NULL)
		return EVP_DigestUpdate(op->md, data, len) ? CKR_OK : CKR_FUNCTION_FAILED;
	if (op->data.len + len > RAW_DATA_MAX)
		return CKR_DATA_LEN_RANGE;
	return buf_append(&op->data, data, len) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

/* The input of the raw mechanism: the hash (hashing mechanisms) or the data
 * gathered so far; for CKM_SHAx_RSA_PKCS the DigestInfo of the hash. */
static CK_RV
op_raw_input(struct operation *op, struct buf *in, CK_MECHANISM_TYPE *raw)
{
	const EVP_MD *md = mechanism_digest(op->mech, raw);
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned int hash_len = 0;

	if (md == NULL) {
		*raw = op->mech;
		return buf_set(in, op->data.data, op->data.len) == 0 ? CKR_OK : CKR_HOST_MEMORY;
	}
	if (!EVP_DigestFinal_ex(op->md, hash, &hash_len))
		return CKR_FUNCTION_FAILED;
	if (*raw == CKM_RSA_PKCS)
		return digest_info(md, hash, hash_len, in);
	return buf_set(in, hash, hash_len) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV
sign_finish(struct slot *slot, struct token *token, struct session *s,
            CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct operation *op = &s->sign;
	struct buf in = BUF_INIT, sig = BUF_INIT;
	CK_MECHANISM_TYPE raw;
	CK_RV rv;

	if (pSignature == NULL || *pulSignatureLen < op->out_len) {
		/* A length query: nothing is signed, the operation goes on. */
		rv = pSignature == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
		*pulSignatureLen = op->out_len;
		return rv;
	}
	if (op->needs_context_login && !op->context_login) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	rv = op_raw_input(op, &in, &raw);
	if (rv != CKR_OK)
		goto out;
	CK_MECHANISM mech = { raw, op->param_len ? op->param : NULL, op->param_len };
	rv = token_begin(slot);
	if (rv != CKR_OK)
		goto out;
	/* Taken after token_begin(), which may have read the objects again. */
	struct object *key = object_get(token, op->key);
	if (key == NULL)
		rv = object_hidden(token, op->key) ? CKR_USER_NOT_LOGGED_IN : CKR_KEY_HANDLE_INVALID;
	else
		rv = token->card.driver->sign(&token->card, key->key_ref, &mech, in.data,
		                              in.len, &sig);
	token_end(slot, rv);
	if (rv != CKR_OK)
		goto out;
	if (sig.len > *pulSignatureLen) {
		rv = CKR_DEVICE_ERROR;	/* the card answered more than the key allows */
		goto out;
	}
	rv = output_copy(sig.data, sig.len, pSignature, pulSignatureLen);
out:
	buf_free(&in);
	buf_free(&sig);
	/* A card pulled out during the transaction took the token and its
	 * sessions with it (slot_drop_token()): `op` is freed memory then. */
	if (slot->token != NULL)
		operation_reset(op);
	return rv;
}

KYSO_EXPORT CK_RV
C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	struct session *s;
	struct operation *op;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pMechanism == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_start(hSession, OP_SIGN, true, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	if (token->card.driver->sign == NULL) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
		goto out;
	}
	rv = op_init(slot, token, op, OP_SIGN, pMechanism, hKey);
	/* Asking the driver for its mechanisms may find the card pulled out:
	 * the token then took the session, and `op`, with it. */
	if (rv != CKR_OK && slot->token != NULL)
		operation_reset(op);
out:
	module_unlock();
	log_debug("C_SignInit(mech=0x%lx): 0x%lx", pMechanism ? (unsigned long)pMechanism->mechanism : 0UL,
	          (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct session *s;
	struct operation *op;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((pData == NULL && ulDataLen > 0) || pulSignatureLen == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_SIGN, true, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	if (op->multipart) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	if (pSignature != NULL && *pulSignatureLen >= op->out_len) {
		rv = op_update(op, pData, ulDataLen);
		if (rv != CKR_OK) {
			operation_reset(op);
			goto out;
		}
	}
	rv = sign_finish(slot, token, s, pSignature, pulSignatureLen);
out:
	module_unlock();
	log_debug("C_Sign: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pPart == NULL && ulPartLen > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_SIGN, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	rv = op_update(op, pPart, ulPartLen);
	if (rv != CKR_OK)
		operation_reset(op);
out:
	module_unlock();
	log_debug("C_SignUpdate: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct session *s;
	struct operation *op;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pulSignatureLen == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_SIGN, true, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	rv = sign_finish(slot, token, s, pSignature, pulSignatureLen);
out:
	module_unlock();
	log_debug("C_SignFinal: 0x%lx", (unsigned long)rv);
	return rv;
}

/* ECDSA r||s (PKCS#11) to the DER ECDSA-Sig-Value OpenSSL verifies. */
static CK_RV
ecdsa_raw_to_der(const uint8_t *sig, size_t len, struct buf *der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	unsigned char *out = NULL;
	CK_RV rv = CKR_HOST_MEMORY;

	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;
	int n = i2d_ECDSA_SIG(es, &out);
	if (n > 0 && buf_set(der, out, (size_t)n) == 0)
		rv = CKR_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	OPENSSL_free(out);
	return rv;
}

static CK_RV
verify_raw(struct operation *op, CK_MECHANISM_TYPE raw, const struct buf *in,
           const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(op->pkey, NULL);
	struct buf der = BUF_INIT;
	uint8_t *rec = NULL;
	CK_RV rv = CKR_FUNCTION_FAILED;
	int ok;

	if (ctx == NULL)
		return CKR_HOST_MEMORY;
	if (sig_len != op->out_len) {
		rv = CKR_SIGNATURE_LEN_RANGE;
		goto out;
	}
	switch (raw) {
	case CKM_RSA_X_509: {
		/* Raw RSA: recover the block and compare it with the data,
		 * left-padded with zeros to the modulus size. */
		size_t rec_len = op->out_len;
		if (in->len > op->out_len) {
			rv = CKR_DATA_LEN_RANGE;
			goto out;
		}
		rec = OPENSSL_malloc(rec_len);
		if (rec == NULL || EVP_PKEY_verify_recover_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0)
			goto out;
		if (EVP_PKEY_verify_recover(ctx, rec, &rec_len, sig, sig_len) <= 0 ||
		    rec_len != op->out_len) {
			rv = CKR_SIGNATURE_INVALID;
			goto out;
		}
		size_t pad = rec_len - in->len;
		bool zeros = true;
		for (size_t i = 0; i < pad; i++)
			zeros &= rec[i] == 0;
		rv = zeros && (in->len == 0 || memcmp(rec + pad, in->data, in->len) == 0) ?
			CKR_OK : CKR_SIGNATURE_INVALID;
		goto out;
	}
	case CKM_RSA_PKCS:
		if (EVP_PKEY_verify_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
			goto out;
		ok = EVP_PKEY_verify(ctx, sig, sig_len, in->data, in->len);
		break;
	case CKM_RSA_PKCS_PSS: {
		CK_RSA_PKCS_PSS_PARAMS p;
		CK_MECHANISM_TYPE unused;
		memcpy(&p, op->param, sizeof(p));
		const EVP_MD *md = mechanism_digest(p.hashAlg, &unused);
		const EVP_MD *mgf = padding_md_from_mgf(p.mgf);
		if (mgf == NULL) {
			rv = CKR_MECHANISM_PARAM_INVALID;
			goto out;
		}
		if (md == NULL || in->len != (size_t)EVP_MD_get_size(md)) {
			rv = CKR_DATA_LEN_RANGE;
			goto out;
		}
		if (EVP_PKEY_verify_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)p.sLen) <= 0)
			goto out;
		ok = EVP_PKEY_verify(ctx, sig, sig_len, in->data, in->len);
		break;
	}
	case CKM_ECDSA:
		rv = ecdsa_raw_to_der(sig, sig_len, &der);
		if (rv != CKR_OK)
			goto out;
		rv = CKR_FUNCTION_FAILED;
		if (EVP_PKEY_verify_init(ctx) <= 0)
			goto out;
		ok = EVP_PKEY_verify(ctx, der.data, der.len, in->data, in->len);
		break;
	default:
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	rv = ok == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
out:
	OPENSSL_free(rec);
	buf_free(&der);
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

static CK_RV
verify_finish(struct operation *op, const uint8_t *sig, size_t sig_len)
{
	struct buf in = BUF_INIT;
	CK_MECHANISM_TYPE raw;
	CK_RV rv = op_raw_input(op, &in, &raw);

	if (rv == CKR_OK)
		rv = verify_raw(op, raw, &in, sig, sig_len);
	buf_free(&in);
	operation_reset(op);
	return rv;
}

KYSO_EXPORT CK_RV
C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	struct session *s;
	struct operation *op;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pMechanism == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_start(hSession, OP_VERIFY, true, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	rv = op_init(slot, token, op, OP_VERIFY, pMechanism, hKey);
	/* As in C_SignInit: a pulled card took `op` with its session. */
	if (rv != CKR_OK && slot->token != NULL)
		operation_reset(op);
out:
	module_unlock();
	log_debug("C_VerifyInit: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
         CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((pData == NULL && ulDataLen > 0) || pSignature == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_VERIFY, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	rv = op_update(op, pData, ulDataLen);
	if (rv == CKR_OK)
		rv = verify_finish(op, pSignature, ulSignatureLen);
	else
		operation_reset(op);
out:
	module_unlock();
	log_debug("C_Verify: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pPart == NULL && ulPartLen > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_VERIFY, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	rv = op_update(op, pPart, ulPartLen);
	if (rv != CKR_OK)
		operation_reset(op);
out:
	module_unlock();
	log_debug("C_VerifyUpdate: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pSignature == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_VERIFY, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	rv = verify_finish(op, pSignature, ulSignatureLen);
out:
	module_unlock();
	log_debug("C_VerifyFinal: 0x%lx", (unsigned long)rv);
	return rv;
}
