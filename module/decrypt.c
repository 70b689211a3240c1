/* C_Decrypt*, C_UnwrapKey and C_DeriveKey: private-key operations whose
 * result is data (decrypt) or a session key object (unwrap, ECDH). */
#include <string.h>

#include "module/module.h"
#include "module/pkcs11_export.h"

#define CIPHERTEXT_MAX 1024	/* RSA-8192; anything longer is not ours */

/* Run the card's decryption of `in` with `op`'s key and mechanism. */
static CK_RV
decrypt_on_card(struct slot *slot, struct token *token, struct operation *op,
                const uint8_t *in, size_t in_len, struct buf *out)
{
	CK_RV rv;

	if (op->needs_context_login && !op->context_login)
		return CKR_USER_NOT_LOGGED_IN;
	if (token->card.driver->decrypt == NULL)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (in_len != op->out_len)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	CK_MECHANISM mech = { op->mech, op->param_len ? op->param : NULL, op->param_len };
	rv = token_begin(slot);
	if (rv != CKR_OK)
		return rv;
	/* Taken after token_begin(), which may have read the objects again. */
	struct object *key = object_get(token, op->key);
	if (key == NULL)
		rv = object_hidden(token, op->key) ? CKR_USER_NOT_LOGGED_IN : CKR_KEY_HANDLE_INVALID;
	else
		rv = token->card.driver->decrypt(&token->card, key->key_ref, &mech, in, in_len, out);
	token_end(slot, rv);
	/* A card pulled out took the session, and `op`, with its token. */
	if (slot->token != NULL)
		op->context_login = false;
	return rv;
}

static CK_RV
decrypt_init(struct slot *slot, struct token *token, struct operation *op,
             const CK_MECHANISM *mech, CK_OBJECT_HANDLE hKey, CK_ATTRIBUTE_TYPE usage)
{
	struct key_use key;
	CK_RV rv = key_for_operation(slot, token, hKey, CKO_PRIVATE_KEY, usage, mech,
	                             CKF_DECRYPT, &key);
	if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED && usage == CKA_UNWRAP)
		rv = key_for_operation(slot, token, hKey, CKO_PRIVATE_KEY, CKA_DECRYPT, mech,
		                       CKF_DECRYPT, &key);
	if (rv != CKR_OK)
		return rv;
	rv = operation_set_param(op, mech);
	if (rv != CKR_OK)
		return rv;
	bool always = false;
	attr_get_bool(&key.obj->attrs, CKA_ALWAYS_AUTHENTICATE, &always);
	op->needs_context_login = always;
	op->kind = OP_DECRYPT;
	op->mech = mech->mechanism;
	op->key = hKey;
	op->out_len = key.out_len;
	return CKR_OK;
}

KYSO_EXPORT CK_RV
C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
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
	rv = operation_start(hSession, OP_DECRYPT, true, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	rv = decrypt_init(slot, token, op, pMechanism, hKey, CKA_DECRYPT);
	/* Asking the driver for its mechanisms may find the card pulled out:
	 * the token then took the session, and `op`, with it. */
	if (rv != CKR_OK && slot->token != NULL)
		operation_reset(op);
out:
	module_unlock();
	log_debug("C_DecryptInit: 0x%lx", (unsigned long)rv);
	return rv;
}

/* Hand out the plaintext. The card is asked once: a result that did not fit
 * the caller's buffer is kept for the call that brings a larger one. */
static CK_RV
decrypt_finish(struct slot *slot, struct token *token, struct operation *op,
               CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	CK_RV rv;

	if (!op->have_result) {
		if (out == NULL) {
			*out_len = op->out_len;	/* an upper bound, as 5.9 allows */
			return CKR_OK;
		}
		rv = decrypt_on_card(slot, token, op, op->data.data, op->data.len, &op->result);
		if (rv != CKR_OK)
			goto done;
		op->have_result = true;
	}
	rv = output_copy(op->result.data, op->result.len, out, out_len);
	if (rv == CKR_BUFFER_TOO_SMALL || out == NULL)
		return rv;
done:
	/* Unless the card was pulled out: the session and `op` went with
	 * the token (slot_drop_token()). */
	if (slot->token != NULL)
		operation_reset(op);
	return rv;
}

KYSO_EXPORT CK_RV
C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
          CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	struct session *s;
	struct operation *op;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((pEncryptedData == NULL && ulEncryptedDataLen > 0) || pulDataLen == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_DECRYPT, true, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	if (!op->have_result) {
		if (ulEncryptedDataLen > CIPHERTEXT_MAX) {
			operation_reset(op);
			rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
			goto out;
		}
		if (buf_set(&op->data, pEncryptedData, ulEncryptedDataLen) != 0) {
			operation_reset(op);
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	rv = decrypt_finish(slot, token, op, pData, pulDataLen);
out:
	module_unlock();
	log_debug("C_Decrypt: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((pEncryptedPart == NULL && ulEncryptedPartLen > 0) || pulPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_DECRYPT, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	/* RSA decrypts the whole block at C_DecryptFinal: no output yet. */
	(void)pPart;
	if (op->data.len + ulEncryptedPartLen > CIPHERTEXT_MAX) {
		operation_reset(op);
		rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
		goto out;
	}
	if (buf_append(&op->data, pEncryptedPart, ulEncryptedPartLen) != 0) {
		operation_reset(op);
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	*pulPartLen = 0;
out:
	module_unlock();
	log_debug("C_DecryptUpdate: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
	struct session *s;
	struct operation *op;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pulLastPartLen == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_DECRYPT, true, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	rv = decrypt_finish(slot, token, op, pLastPart, pulLastPartLen);
out:
	module_unlock();
	log_debug("C_DecryptFinal: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
            CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen,
            CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	struct operation op = { 0 };
	struct buf secret = BUF_INIT;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pMechanism == NULL || pWrappedKey == NULL || phKey == NULL ||
	    (pTemplate == NULL && ulAttributeCount > 0))
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	rv = decrypt_init(slot, token, &op, pMechanism, hUnwrappingKey, CKA_UNWRAP);
	if (rv != CKR_OK)
		goto out;
	if (op.needs_context_login) {
		/* No operation stays open for a context login to attach to. */
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	rv = decrypt_on_card(slot, token, &op, pWrappedKey, ulWrappedKeyLen, &secret);
	if (rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
		rv = CKR_WRAPPED_KEY_LEN_RANGE;
	if (rv == CKR_OK && slot->token != NULL)
		rv = secret_key_create(slot->token, s, &secret, pTemplate, ulAttributeCount, phKey);
out:
	operation_reset(&op);
	buf_free(&secret);
	module_unlock();
	log_debug("C_UnwrapKey: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
            CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	struct key_use key;
	struct buf secret = BUF_INIT;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pMechanism == NULL || phKey == NULL || (pTemplate == NULL && ulAttributeCount > 0))
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	if (pMechanism->mechanism != CKM_ECDH1_DERIVE) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	const CK_ECDH1_DERIVE_PARAMS *p = pMechanism->pParameter;
	if (p == NULL || pMechanism->ulParameterLen != sizeof(*p) || p->kdf != CKD_NULL ||
	    p->pPublicData == NULL || p->ulPublicDataLen == 0 ||
	    (p->pSharedData != NULL && p->ulSharedDataLen != 0)) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	rv = key_for_operation(slot, token, hBaseKey, CKO_PRIVATE_KEY, CKA_DERIVE, pMechanism,
	                       CKF_DERIVE, &key);
	if (rv != CKR_OK)
		goto out;
	if (token->card.driver->derive == NULL) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
		goto out;
	}
	/* The key's reference, not the object: token_begin() may read the
	 * objects again. */
	uint32_t key_ref = key.obj->key_ref;
	rv = token_begin(slot);
	if (rv != CKR_OK)
		goto out;
	rv = token->card.driver->derive(&token->card, key_ref, pMechanism, &secret);
	token_end(slot, rv);
	if (rv == CKR_OK && slot->token != NULL)
		rv = secret_key_create(slot->token, s, &secret, pTemplate, ulAttributeCount, phKey);
out:
	buf_free(&secret);
	module_unlock();
	log_debug("C_DeriveKey: 0x%lx", (unsigned long)rv);
	return rv;
}
