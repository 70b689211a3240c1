/* C_GenerateKeyPair on the card; C_GenerateKey, C_SeedRandom and
 * C_GenerateRandom refused cleanly (no kyso token has a symmetric key
 * store or exposes a random generator). */
#include "module/module.h"
#include "module/pkcs11_export.h"

KYSO_EXPORT CK_RV
C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                  CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                  CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_MECHANISM_INFO info;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pMechanism == NULL || phPublicKey == NULL || phPrivateKey == NULL ||
	    (pPublicKeyTemplate == NULL && ulPublicKeyAttributeCount > 0) ||
	    (pPrivateKeyTemplate == NULL && ulPrivateKeyAttributeCount > 0))
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	rv = mechanism_info(slot, token, pMechanism->mechanism, &info);
	if (rv == CKR_OK && !(info.flags & CKF_GENERATE_KEY_PAIR))
		rv = CKR_MECHANISM_INVALID;
	if (rv == CKR_OK && token->card.driver->generate_key_pair == NULL)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	if (rv != CKR_OK)
		goto out;
	rv = token_begin(slot);
	if (rv != CKR_OK)
		goto out;
	rv = token->card.driver->generate_key_pair(&token->card, pMechanism,
	        pPublicKeyTemplate, ulPublicKeyAttributeCount,
	        pPrivateKeyTemplate, ulPrivateKeyAttributeCount);
	token_end(slot, rv);
	if (rv != CKR_OK || slot->token == NULL)
		goto out;
	rv = objects_reload(slot, slot->token);
	if (rv != CKR_OK)
		goto out;
	/* The driver chose the key's CKA_ID from the templates; look in the
	 * private template first, then the public one. */
	*phPrivateKey = object_find_written(slot->token, pPrivateKeyTemplate,
	                                    ulPrivateKeyAttributeCount, CKO_PRIVATE_KEY);
	*phPublicKey = object_find_written(slot->token, pPrivateKeyTemplate,
	                                   ulPrivateKeyAttributeCount, CKO_PUBLIC_KEY);
	if (*phPublicKey == CK_INVALID_HANDLE)
		*phPublicKey = object_find_written(slot->token, pPublicKeyTemplate,
		                                   ulPublicKeyAttributeCount, CKO_PUBLIC_KEY);
	if (*phPrivateKey == CK_INVALID_HANDLE)
		*phPrivateKey = object_find_written(slot->token, pPublicKeyTemplate,
		                                    ulPublicKeyAttributeCount, CKO_PRIVATE_KEY);
	if (*phPublicKey == CK_INVALID_HANDLE || *phPrivateKey == CK_INVALID_HANDLE)
		rv = CKR_DEVICE_ERROR;
out:
	module_unlock();
	log_debug("C_GenerateKeyPair: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
              CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct session *s;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pMechanism == NULL || phKey == NULL || (pTemplate == NULL && ulCount > 0))
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, NULL, NULL);
	module_unlock();
	/* LibreOffice asks every slot for CKM_DES3_KEY_GEN and moves on when
	 * told the mechanism is not there. */
	return rv != CKR_OK ? rv : CKR_MECHANISM_INVALID;
}

KYSO_EXPORT CK_RV
C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	struct session *s;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pSeed == NULL && ulSeedLen > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, NULL, NULL);
	module_unlock();
	return rv != CKR_OK ? rv : CKR_RANDOM_NO_RNG;
}

KYSO_EXPORT CK_RV
C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
	struct session *s;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pRandomData == NULL && ulRandomLen > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, NULL, NULL);
	module_unlock();
	return rv != CKR_OK ? rv : CKR_RANDOM_NO_RNG;
}
