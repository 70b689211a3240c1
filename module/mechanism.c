/* C_GetMechanismList, C_GetMechanismInfo: the driver's mechanisms plus the
 * digests the module computes in software. */
#include <string.h>

#include "module/module.h"
#include "module/pkcs11_export.h"

static const CK_MECHANISM_TYPE software_digests[] = {
	CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512,
};

#define N_DIGESTS (sizeof(software_digests) / sizeof(software_digests[0]))

const EVP_MD *
mechanism_digest(CK_MECHANISM_TYPE type, CK_MECHANISM_TYPE *raw)
{
	static const struct {
		CK_MECHANISM_TYPE type;
		CK_MECHANISM_TYPE raw;
		int nid;
	} table[] = {
		{ CKM_SHA_1, 0, NID_sha1 },
		{ CKM_SHA224, 0, NID_sha224 },
		{ CKM_SHA256, 0, NID_sha256 },
		{ CKM_SHA384, 0, NID_sha384 },
		{ CKM_SHA512, 0, NID_sha512 },
		{ CKM_SHA1_RSA_PKCS, CKM_RSA_PKCS, NID_sha1 },
		{ CKM_SHA224_RSA_PKCS, CKM_RSA_PKCS, NID_sha224 },
		{ CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS, NID_sha256 },
		{ CKM_SHA384_RSA_PKCS, CKM_RSA_PKCS, NID_sha384 },
		{ CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS, NID_sha512 },
		{ CKM_SHA1_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, NID_sha1 },
		{ CKM_SHA224_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, NID_sha224 },
		{ CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, NID_sha256 },
		{ CKM_SHA384_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, NID_sha384 },
		{ CKM_SHA512_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, NID_sha512 },
		{ CKM_ECDSA_SHA1, CKM_ECDSA, NID_sha1 },
		{ CKM_ECDSA_SHA224, CKM_ECDSA, NID_sha224 },
		{ CKM_ECDSA_SHA256, CKM_ECDSA, NID_sha256 },
		{ CKM_ECDSA_SHA384, CKM_ECDSA, NID_sha384 },
		{ CKM_ECDSA_SHA512, CKM_ECDSA, NID_sha512 },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].type == type) {
			if (raw != NULL)
				*raw = table[i].raw;
			return EVP_get_digestbynid(table[i].nid);
		}
	}
	return NULL;
}

static CK_RV
driver_mechanisms(struct slot *slot, struct token *token,
                  const struct drv_mechanism **list, size_t *count)
{
	CK_RV rv;

	*list = NULL;
	*count = 0;
	if (token->card.driver->mechanisms == NULL)
		return CKR_OK;
	rv = token_begin(slot);
	if (rv != CKR_OK)
		return rv;
	rv = token->card.driver->mechanisms(&token->card, list, count);
	token_end(slot, rv);
	return rv;
}

CK_RV
mechanism_info(struct slot *slot, struct token *token, CK_MECHANISM_TYPE type,
               CK_MECHANISM_INFO *info)
{
	const struct drv_mechanism *list;
	size_t count;
	CK_RV rv = driver_mechanisms(slot, token, &list, &count);

	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < count; i++) {
		if (list[i].type == type) {
			*info = list[i].info;
			/* Verification is done in software with the public key. */
			if (info->flags & CKF_SIGN)
				info->flags |= CKF_VERIFY;
			return CKR_OK;
		}
	}
	for (size_t i = 0; i < N_DIGESTS; i++) {
		if (software_digests[i] == type) {
			memset(info, 0, sizeof(*info));
			info->flags = CKF_DIGEST;
			return CKR_OK;
		}
	}
	return CKR_MECHANISM_INVALID;
}

KYSO_EXPORT CK_RV
C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                   CK_ULONG_PTR pulCount)
{
	const struct drv_mechanism *list;
	struct token *token;
	size_t count;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	struct slot *slot = slot_find(slotID);
	if (slot == NULL) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	rv = slot_token(slot, &token);
	if (rv != CKR_OK)
		goto out;
	rv = driver_mechanisms(slot, token, &list, &count);
	if (rv != CKR_OK)
		goto out;
	CK_ULONG n = (CK_ULONG)(count + N_DIGESTS);
	if (pMechanismList != NULL) {
		if (*pulCount < n) {
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			for (size_t i = 0; i < count; i++)
				pMechanismList[i] = list[i].type;
			for (size_t i = 0; i < N_DIGESTS; i++)
				pMechanismList[count + i] = software_digests[i];
		}
	}
	*pulCount = n;
out:
	module_unlock();
	log_debug("C_GetMechanismList: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	struct slot *slot = slot_find(slotID);
	if (slot == NULL) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	rv = slot_token(slot, &token);
	if (rv != CKR_OK)
		goto out;
	rv = mechanism_info(slot, token, type, pInfo);
out:
	module_unlock();
	log_debug("C_GetMechanismInfo: 0x%lx", (unsigned long)rv);
	return rv;
}
