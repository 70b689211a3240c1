/* The PKCS#11 2.40 functions kyso does not offer. Each still checks what
 * the spec says it must (initialization, session, pointers) before saying
 * CKR_FUNCTION_NOT_SUPPORTED, so a caller's bug is reported as such. */
#include "module/module.h"
#include "module/pkcs11_export.h"

static CK_RV
not_supported_in(CK_SESSION_HANDLE h)
{
	struct session *s;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	module_lock();
	rv = session_get(h, &s, NULL, NULL);
	module_unlock();
	return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

KYSO_EXPORT CK_RV
C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
	CK_RV rv;

	(void)ulPinLen;
	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pLabel == NULL || pPin == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = slot_find(slotID) == NULL ? CKR_SLOT_ID_INVALID : CKR_FUNCTION_NOT_SUPPORTED;
	module_unlock();
	log_debug("C_InitToken: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                    CK_ULONG_PTR pulOperationStateLen)
{
	(void)pOperationState;
	if (module_ready() && pulOperationStateLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                    CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                    CK_OBJECT_HANDLE hAuthenticationKey)
{
	(void)ulOperationStateLen;
	(void)hEncryptionKey;
	(void)hAuthenticationKey;
	if (module_ready() && pOperationState == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

/* Encryption with a public key is the caller's job (any crypto library);
 * the card adds nothing to it. */
KYSO_EXPORT CK_RV
C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	(void)hKey;
	if (module_ready() && pMechanism == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
          CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
	(void)pData;
	(void)ulDataLen;
	(void)pEncryptedData;
	if (module_ready() && pulEncryptedDataLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	(void)pPart;
	(void)ulPartLen;
	(void)pEncryptedPart;
	if (module_ready() && pulEncryptedPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
               CK_ULONG_PTR pulLastEncryptedPartLen)
{
	(void)pLastEncryptedPart;
	if (module_ready() && pulLastEncryptedPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	(void)hKey;
	if (module_ready() && pMechanism == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
              CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	(void)pData;
	(void)ulDataLen;
	(void)pSignature;
	if (module_ready() && pulSignatureLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	(void)hKey;
	if (module_ready() && pMechanism == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
                CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	(void)pSignature;
	(void)ulSignatureLen;
	(void)pData;
	if (module_ready() && pulDataLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                      CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	(void)pPart;
	(void)ulPartLen;
	(void)pEncryptedPart;
	if (module_ready() && pulEncryptedPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	(void)pEncryptedPart;
	(void)ulEncryptedPartLen;
	(void)pPart;
	if (module_ready() && pulPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                    CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	(void)pPart;
	(void)ulPartLen;
	(void)pEncryptedPart;
	if (module_ready() && pulEncryptedPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	(void)pEncryptedPart;
	(void)ulEncryptedPartLen;
	(void)pPart;
	if (module_ready() && pulPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

KYSO_EXPORT CK_RV
C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
          CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
	(void)hWrappingKey;
	(void)hKey;
	(void)pWrappedKey;
	if (module_ready() && (pMechanism == NULL || pulWrappedKeyLen == NULL))
		return CKR_ARGUMENTS_BAD;
	return not_supported_in(hSession);
}

/* Legacy parallel-function calls (PKCS#11 2.40 section 5.16). */
KYSO_EXPORT CK_RV
C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	CK_RV rv = not_supported_in(hSession);
	return rv == CKR_FUNCTION_NOT_SUPPORTED ? CKR_FUNCTION_NOT_PARALLEL : rv;
}

KYSO_EXPORT CK_RV
C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	CK_RV rv = not_supported_in(hSession);
	return rv == CKR_FUNCTION_NOT_SUPPORTED ? CKR_FUNCTION_NOT_PARALLEL : rv;
}
