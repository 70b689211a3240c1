/* C_Digest*: in software (OpenSSL); no card involved. */
#include "module/module.h"
#include "module/pkcs11_export.h"

KYSO_EXPORT CK_RV
C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	struct session *s;
	struct operation *op;
	CK_MECHANISM_TYPE raw = 1;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pMechanism == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_start(hSession, OP_DIGEST, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	const EVP_MD *md = mechanism_digest(pMechanism->mechanism, &raw);
	if (md == NULL || raw != 0) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	op->md = EVP_MD_CTX_new();
	if (op->md == NULL || !EVP_DigestInit_ex(op->md, md, NULL)) {
		operation_reset(op);
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	op->kind = OP_DIGEST;
	op->mech = pMechanism->mechanism;
	op->out_len = (size_t)EVP_MD_get_size(md);
out:
	module_unlock();
	log_debug("C_DigestInit: 0x%lx", (unsigned long)rv);
	return rv;
}

static CK_RV
digest_finish(struct operation *op, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (out == NULL || *out_len < op->out_len) {
		CK_RV rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
		*out_len = op->out_len;
		return rv;
	}
	CK_RV rv = EVP_DigestFinal_ex(op->md, hash, &len) ?
		output_copy(hash, len, out, out_len) : CKR_FUNCTION_FAILED;
	operation_reset(op);
	return rv;
}

KYSO_EXPORT CK_RV
C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
         CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((pData == NULL && ulDataLen > 0) || pulDigestLen == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_DIGEST, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	if (op->multipart) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	if (pDigest != NULL && *pulDigestLen >= op->out_len &&
	    !EVP_DigestUpdate(op->md, pData, ulDataLen)) {
		operation_reset(op);
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	rv = digest_finish(op, pDigest, pulDigestLen);
out:
	module_unlock();
	log_debug("C_Digest: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pPart == NULL && ulPartLen > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_DIGEST, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	op->multipart = true;
	if (!EVP_DigestUpdate(op->md, pPart, ulPartLen)) {
		operation_reset(op);
		rv = CKR_FUNCTION_FAILED;
	}
out:
	module_unlock();
	log_debug("C_DigestUpdate: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
	struct session *s;
	CK_RV rv;

	(void)hKey;
	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	module_lock();
	rv = session_get(hSession, &s, NULL, NULL);
	if (rv == CKR_OK && s->digest.kind != OP_DIGEST)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if (rv == CKR_OK)
		rv = CKR_KEY_INDIGESTIBLE;	/* card keys never leave the card */
	module_unlock();
	log_debug("C_DigestKey: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pulDigestLen == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_DIGEST, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	rv = digest_finish(op, pDigest, pulDigestLen);
out:
	module_unlock();
	log_debug("C_DigestFinal: 0x%lx", (unsigned long)rv);
	return rv;
}
