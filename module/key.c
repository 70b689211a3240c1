/* Checks and helpers shared by the functions that use keys. */
#include <string.h>

#include <openssl/x509.h>

#include "module/module.h"

static CK_KEY_TYPE
mechanism_key_type(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_ECDSA:
	case CKM_ECDSA_SHA1:
	case CKM_ECDSA_SHA224:
	case CKM_ECDSA_SHA256:
	case CKM_ECDSA_SHA384:
	case CKM_ECDSA_SHA512:
	case CKM_ECDH1_DERIVE:
		return CKK_EC;
	default:
		return CKK_RSA;
	}
}

/* The size of a signature (RSA: the modulus; ECDSA: r||s) or of an RSA
 * plaintext buffer, from the key's SubjectPublicKeyInfo. */
static size_t
key_output_len(const struct object *obj, CK_KEY_TYPE type)
{
	const CK_ATTRIBUTE *spki = attr_find(&obj->attrs, CKA_PUBLIC_KEY_INFO);
	size_t len = 0;

	if (spki != NULL && spki->ulValueLen > 0) {
		const unsigned char *p = spki->pValue;
		EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)spki->ulValueLen);
		if (pkey != NULL) {
			if (type == CKK_EC)
				len = 2 * (((size_t)EVP_PKEY_get_bits(pkey) + 7) / 8);
			else
				len = (size_t)EVP_PKEY_get_size(pkey);
			EVP_PKEY_free(pkey);
		}
	}
	if (len == 0 && type == CKK_RSA) {
		const CK_ATTRIBUTE *n = attr_find(&obj->attrs, CKA_MODULUS);
		if (n != NULL)
			len = n->ulValueLen;
	}
	return len;
}

CK_RV
key_for_operation(struct slot *slot, struct token *token, CK_OBJECT_HANDLE h,
                  CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE usage,
                  const CK_MECHANISM *mech, CK_FLAGS mech_flag, struct key_use *key)
{
	CK_MECHANISM_INFO info;
	CK_ULONG obj_class = 0, key_type = 0;
	bool allowed = false;
	CK_RV rv;

	memset(key, 0, sizeof(*key));
	/* The mechanism first: asking the driver may read the objects again
	 * (after a card reset), which would move the object. */
	rv = mechanism_info(slot, token, mech->mechanism, &info);
	if (rv != CKR_OK)
		return rv;
	struct object *obj = object_get(token, h);
	if (obj == NULL)
		/* A key the application found while logged in, and the login is
		 * gone (a card reset by another program logs everyone out). */
		return object_hidden(token, h) ? CKR_USER_NOT_LOGGED_IN : CKR_KEY_HANDLE_INVALID;
	if (!attr_get_ulong(&obj->attrs, CKA_CLASS, &obj_class) ||
	    !attr_get_ulong(&obj->attrs, CKA_KEY_TYPE, &key_type))
		return CKR_KEY_HANDLE_INVALID;
	if (obj_class != cls)
		return CKR_KEY_TYPE_INCONSISTENT;
	attr_get_bool(&obj->attrs, usage, &allowed);
	if (!allowed)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (!(info.flags & mech_flag))
		return CKR_MECHANISM_INVALID;
	if (mechanism_key_type(mech->mechanism) != key_type)
		return CKR_KEY_TYPE_INCONSISTENT;
	key->obj = obj;
	key->type = key_type;
	if (obj->key_out_len == 0)
		obj->key_out_len = key_output_len(obj, key_type);
	key->out_len = obj->key_out_len;
	if (key->out_len == 0)
		return CKR_KEY_HANDLE_INVALID;
	return CKR_OK;
}

CK_RV
operation_set_param(struct operation *op, const CK_MECHANISM *mech)
{
	size_t want = 0;

	switch (mech->mechanism) {
	case CKM_RSA_PKCS_PSS:
	case CKM_SHA1_RSA_PKCS_PSS:
	case CKM_SHA224_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_SHA512_RSA_PKCS_PSS:
		want = sizeof(CK_RSA_PKCS_PSS_PARAMS);
		break;
	case CKM_RSA_PKCS_OAEP:
		want = sizeof(CK_RSA_PKCS_OAEP_PARAMS);
		break;
	default:
		op->param_len = 0;
		return CKR_OK;
	}
	if (mech->pParameter == NULL || mech->ulParameterLen != want ||
	    want > sizeof(op->param))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(op->param, mech->pParameter, want);
	op->param_len = want;
	if (mech->mechanism == CKM_RSA_PKCS_OAEP) {
		/* The label must outlive the caller's parameter: keep a copy
		 * and point the stored parameter at it. */
		CK_RSA_PKCS_OAEP_PARAMS p;
		memcpy(&p, op->param, sizeof(p));
		if (p.ulSourceDataLen > 0) {
			if (p.source != CKZ_DATA_SPECIFIED || p.pSourceData == NULL ||
			    p.ulSourceDataLen > 1024)
				return CKR_MECHANISM_PARAM_INVALID;
			if (buf_set(&op->label, p.pSourceData, p.ulSourceDataLen) != 0)
				return CKR_HOST_MEMORY;
			p.pSourceData = op->label.data;
		} else {
			p.pSourceData = NULL;
		}
		memcpy(op->param, &p, sizeof(p));
	}
	return CKR_OK;
}

CK_RV
output_copy(const uint8_t *src, size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	if (out == NULL) {
		*out_len = len;
		return CKR_OK;
	}
	if (*out_len < len) {
		*out_len = len;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (len)
		memcpy(out, src, len);
	*out_len = len;
	return CKR_OK;
}

CK_RV
secret_key_create(struct token *token, struct session *s, const struct buf *secret,
                  const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out)
{
	struct attr_list attrs = ATTR_LIST_INIT;
	size_t value_len = secret->len;
	CK_RV rv = CKR_OK;

	for (CK_ULONG i = 0; i < count && rv == CKR_OK; i++) {
		if (tmpl[i].pValue == NULL && tmpl[i].ulValueLen) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			break;
		}
		if (tmpl[i].type == CKA_VALUE_LEN && tmpl[i].ulValueLen == sizeof(CK_ULONG)) {
			CK_ULONG want;
			memcpy(&want, tmpl[i].pValue, sizeof(want));
			if (want == 0 || want > secret->len) {
				rv = CKR_TEMPLATE_INCONSISTENT;
				break;
			}
			value_len = want;
		}
		/* Derived keys live in the session: the card stores none. */
		if (tmpl[i].type == CKA_TOKEN || tmpl[i].type == CKA_VALUE)
			continue;
		rv = attr_set(&attrs, tmpl[i].type, tmpl[i].pValue, tmpl[i].ulValueLen);
	}
	if (rv == CKR_OK)
		rv = attr_set_ulong(&attrs, CKA_CLASS, CKO_SECRET_KEY);
	if (rv == CKR_OK && attr_find(&attrs, CKA_KEY_TYPE) == NULL)
		rv = attr_set_ulong(&attrs, CKA_KEY_TYPE, CKK_GENERIC_SECRET);
	if (rv == CKR_OK)
		rv = attr_set_bool(&attrs, CKA_TOKEN, false);
	if (rv == CKR_OK && attr_find(&attrs, CKA_PRIVATE) == NULL)
		rv = attr_set_bool(&attrs, CKA_PRIVATE, false);
	if (rv == CKR_OK && attr_find(&attrs, CKA_SENSITIVE) == NULL)
		rv = attr_set_bool(&attrs, CKA_SENSITIVE, false);
	if (rv == CKR_OK && attr_find(&attrs, CKA_EXTRACTABLE) == NULL)
		rv = attr_set_bool(&attrs, CKA_EXTRACTABLE, true);
	if (rv == CKR_OK)
		rv = attr_set(&attrs, CKA_VALUE, secret->data, value_len);
	if (rv == CKR_OK)
		rv = attr_set_ulong(&attrs, CKA_VALUE_LEN, value_len);
	if (rv == CKR_OK)
		rv = object_add_session(token, s->handle, &attrs, out);
	attr_list_free(&attrs);
	return rv;
}
