/* Writing to a PIV card: generating a key pair in a slot, writing and
 * deleting a slot's certificate. Each needs the card management key
 * (SP 800-73-4 pt 1, 3.5: PUT DATA and GENERATE are "administrative"),
 * authenticated right before the write (piv_auth.c).
 *
 * The slot is chosen by CKA_ID, the same ids as the objects kyso lists
 * (piv_objects.c): 01 9A, 02 9C, 03 9D, 04 9E, then 05-09, 10-24 for the
 * retired slots 82-95, as OpenSC numbers them. */
#include "drivers/piv/piv_internal.h"

#include <limits.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "drivers/card/tlv.h"

const CK_ATTRIBUTE *
piv_tmpl_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG i;

	for (i = 0; t != NULL && i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

static bool
piv_tmpl_ulong(const CK_ATTRIBUTE *a, CK_ULONG *v)
{
	if (a == NULL || a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return false;
	memcpy(v, a->pValue, sizeof(CK_ULONG));
	return true;
}

/* The slot a CKA_ID names. */
static CK_RV
piv_id_slot(const CK_ATTRIBUTE *id, int *idx)
{
	CK_RV rv = CKR_ATTRIBUTE_VALUE_INVALID;

	*idx = piv_slot_index_by_id(id->pValue, id->ulValueLen);
	if (*idx >= 0)
		rv = CKR_OK;
	else
		log_debug("piv: CKA_ID names no PIV slot (01-04 for 9A 9C 9D 9E, "
		          "05-09 and 10-24 for 82-95)");
	return rv;
}

CK_RV
piv_admin_sw(uint16_t sw)
{
	CK_RV rv;

	switch (sw) {
	case SW_OK:
		rv = CKR_OK;
		break;
	case 0x6982:
		rv = CKR_FUNCTION_FAILED;
		break;
	case 0x6A80:
		/* The card refused a value the caller gave (a key, a
		 * certificate) that kyso passed on as given. */
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		break;
	default:
		rv = apdu_sw_to_rv(sw);
		break;
	}
	return rv;
}

/* The PIV algorithm of the key the templates ask for. */
static CK_RV
piv_gen_alg(const CK_MECHANISM *mech, const CK_ATTRIBUTE *pub, CK_ULONG pub_count,
            uint8_t *alg)
{
	const CK_ATTRIBUTE *a;
	const uint8_t *p;
	ASN1_OBJECT *oid = NULL;
	CK_ULONG bits;
	size_t i;
	CK_RV rv = CKR_MECHANISM_INVALID;

	*alg = 0;
	if (mech->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		if (!piv_tmpl_ulong(piv_tmpl_find(pub, pub_count, CKA_MODULUS_BITS), &bits))
			goto out;
		rv = CKR_KEY_SIZE_RANGE;
		*alg = piv_rsa_alg(bits);
		if (*alg == 0)
			goto out;
		/* PIV cards generate with e = 65537 only (SP 800-78-4 3.1). */
		a = piv_tmpl_find(pub, pub_count, CKA_PUBLIC_EXPONENT);
		if (a != NULL) {
			static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			p = a->pValue;
			for (i = 0; p != NULL && i < a->ulValueLen && p[i] == 0; i++)
				;
			if (p == NULL || a->ulValueLen - i != sizeof(f4) ||
			    memcmp(p + i, f4, sizeof(f4)) != 0)
				goto out;
		}
		rv = CKR_OK;
	} else if (mech->mechanism == CKM_EC_KEY_PAIR_GEN) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		a = piv_tmpl_find(pub, pub_count, CKA_EC_PARAMS);
		if (a == NULL || a->pValue == NULL || a->ulValueLen > LONG_MAX)
			goto out;
		/* CKA_EC_PARAMS: a DER OID naming the curve (X9.62
		 * ECParameters, namedCurve). */
		rv = CKR_CURVE_NOT_SUPPORTED;
		p = a->pValue;
		oid = d2i_ASN1_OBJECT(NULL, &p, (long)a->ulValueLen);
		if (oid == NULL || p != (const uint8_t *)a->pValue + a->ulValueLen)
			goto out;
		switch (OBJ_obj2nid(oid)) {
		case NID_X9_62_prime256v1:
			*alg = PIV_ALG_ECC_P256;
			break;
		case NID_secp384r1:
			*alg = PIV_ALG_ECC_P384;
			break;
		default:
			goto out;
		}
		rv = CKR_OK;
	}
out:
	ASN1_OBJECT_free(oid);
	return rv;
}

/* The public key in GENERATE's answer: 7F49 { 81 n, 82 e } or
 * 7F49 { 86 point } (pt 2, 3.3.2, table 11), as an EVP_PKEY. */
static CK_RV
piv_gen_pub(uint8_t alg, const struct buf *rsp, EVP_PKEY **out)
{
	bool rsa = alg != PIV_ALG_ECC_P256 && alg != PIV_ALG_ECC_P384;
	const uint8_t *body, *n, *e, *point;
	size_t body_len, n_len, e_len, point_len;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	EVP_PKEY *pkey = NULL;
	CK_RV rv = CKR_DEVICE_ERROR;

	if (!piv_tlv_value(rsp->data, rsp->len, PIV_TAG_PUBKEY, &body, &body_len))
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		goto memory;
	if (rsa) {
		if (!piv_tlv_value(body, body_len, PIV_PUB_RSA_N, &n, &n_len) ||
		    !piv_tlv_value(body, body_len, PIV_PUB_RSA_E, &e, &e_len) ||
		    n_len == 0 || e_len == 0 || n_len > INT_MAX || e_len > INT_MAX)
			goto out;
		bn_n = BN_bin2bn(n, (int)n_len, NULL);
		bn_e = BN_bin2bn(e, (int)e_len, NULL);
		if (bn_n == NULL || bn_e == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
			goto memory;
	} else {
		if (!piv_tlv_value(body, body_len, PIV_PUB_EC_POINT, &point, &point_len))
			goto out;
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
		        alg == PIV_ALG_ECC_P256 ? SN_X9_62_prime256v1 : SN_secp384r1, 0) != 1 ||
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
		                                     point, point_len) != 1)
			goto memory;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL);
	if (params == NULL || ctx == NULL)
		goto memory;
	/* Decoding the point checks it is on the curve; the size check
	 * below catches a card that made another key than asked. */
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    piv_alg_for_key(pkey) != alg)
		goto out;
	*out = pkey;
	pkey = NULL;
	rv = CKR_OK;
	goto out;
memory:
	rv = CKR_HOST_MEMORY;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return rv;
}

CK_RV
piv_generate_key_pair(struct card *card, const CK_MECHANISM *mech,
                      const CK_ATTRIBUTE *pub, CK_ULONG pub_count,
                      const CK_ATTRIBUTE *priv, CK_ULONG priv_count)
{
	const CK_ATTRIBUTE *id_pub, *id_priv, *id;
	struct buf rsp = BUF_INIT;
	struct piv_data *d;
	EVP_PKEY *key = NULL;
	uint8_t alg;
	uint16_t sw;
	int idx;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	id_pub = piv_tmpl_find(pub, pub_count, CKA_ID);
	id_priv = piv_tmpl_find(priv, priv_count, CKA_ID);
	id = id_priv != NULL ? id_priv : id_pub;
	if (id == NULL) {
		log_debug("piv: key generation needs CKA_ID to choose the slot");
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (id_pub != NULL && id_priv != NULL &&
	    (id_pub->ulValueLen != id_priv->ulValueLen ||
	     (id_pub->ulValueLen > 0 &&
	      memcmp(id_pub->pValue, id_priv->pValue, id_pub->ulValueLen) != 0))) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	rv = piv_id_slot(id, &idx);
	if (rv == CKR_OK)
		rv = piv_gen_alg(mech, pub, pub_count, &alg);
	if (rv != CKR_OK)
		goto out;
	rv = piv_mgmt_authenticate(card, d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_cmd_generate(card, piv_slot_defs[idx].key_ref, alg, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw == 0x6A80 || sw == 0x6A86) {
		/* The card does not make keys of this kind. */
		rv = alg == PIV_ALG_ECC_P256 || alg == PIV_ALG_ECC_P384 ?
		     CKR_CURVE_NOT_SUPPORTED : CKR_KEY_SIZE_RANGE;
		goto out;
	}
	rv = piv_admin_sw(sw);
	if (rv == CKR_OK)
		rv = piv_gen_pub(alg, &rsp, &key);
	if (rv != CKR_OK)
		goto out;
	/* The card cannot give the public key again: kyso keeps it so the
	 * new key shows until a certificate is written (docs/piv.md). */
	piv_slot_set_pub(&d->slots[idx], key, true);
	key = NULL;
	log_debug("piv: generated a key in slot %02X", piv_slot_defs[idx].key_ref);
out:
	EVP_PKEY_free(key);
	buf_free(&rsp);
	return rv;
}

/* Make the Key History say retired slot `n` (0 for 82) holds an on-card
 * certificate, so that kyso and OpenSC read it after a restart
 * (pt 1, 3.3.2: on-card certificates fill the retired slots from 82). */
static void
piv_history_cover(struct card *card, struct piv_data *d, unsigned n)
{
	struct buf content = BUF_INIT;
	unsigned on = n + 1, off = d->retired_off_card;
	uint8_t b;
	uint16_t sw = 0;
	CK_RV rv;

	if (d->retired_on_card >= on)
		goto out;
	if (on + off > PIV_SLOT_COUNT - PIV_MAIN_SLOTS)
		off = PIV_SLOT_COUNT - PIV_MAIN_SLOTS - on;
	rv = CKR_HOST_MEMORY;
	b = (uint8_t)on;
	if (tlv_put(&content, PIV_HISTORY_ON_CARD, &b, 1) != 0)
		goto fail;
	b = (uint8_t)off;
	if (tlv_put(&content, PIV_HISTORY_OFF_CARD, &b, 1) != 0 ||
	    (d->history_url.len > 0 &&
	     tlv_put(&content, PIV_HISTORY_URL, d->history_url.data, d->history_url.len) != 0) ||
	    tlv_put(&content, PIV_CERT_TAG_EDC, NULL, 0) != 0)
		goto fail;
	rv = piv_cmd_put_data(card, PIV_TAG_KEY_HISTORY, content.data, content.len, &sw);
	if (rv == CKR_OK && sw == SW_OK) {
		d->history_present = true;
		d->retired_on_card = on;
		d->retired_off_card = off;
		goto out;
	}
fail:
	/* The certificate is written; only its visibility to a later reader
	 * is lost, which is worth a log line, not a failed write. */
	log_debug("piv: could not update the Key History (%04X)", sw);
out:
	buf_free(&content);
}

CK_RV
piv_create_object(struct card *card, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	static const uint8_t uncompressed = 0x00;
	const CK_ATTRIBUTE *value, *id;
	struct buf content = BUF_INIT;
	struct piv_data *d;
	const uint8_t *p;
	X509 *x = NULL;
	EVP_PKEY *cert_key = NULL;
	CK_ULONG cls, type;
	uint16_t sw;
	int idx = -1, i;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_TEMPLATE_INCOMPLETE;
	if (!piv_tmpl_ulong(piv_tmpl_find(tmpl, count, CKA_CLASS), &cls))
		goto out;
	/* Certificates only: PIV data objects have fixed meanings, and keys
	 * are made on the card. */
	rv = CKR_TEMPLATE_INCONSISTENT;
	if (cls != CKO_CERTIFICATE)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (piv_tmpl_find(tmpl, count, CKA_CERTIFICATE_TYPE) != NULL &&
	    (!piv_tmpl_ulong(piv_tmpl_find(tmpl, count, CKA_CERTIFICATE_TYPE), &type) ||
	     type != CKC_X_509))
		goto out;
	value = piv_tmpl_find(tmpl, count, CKA_VALUE);
	if (value == NULL || value->pValue == NULL || value->ulValueLen == 0) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (value->ulValueLen > LONG_MAX)
		goto out;
	p = value->pValue;
	x = d2i_X509(NULL, &p, (long)value->ulValueLen);
	if (x == NULL || p != (const uint8_t *)value->pValue + value->ulValueLen)
		goto out;

	id = piv_tmpl_find(tmpl, count, CKA_ID);
	if (id != NULL) {
		rv = piv_id_slot(id, &idx);
		if (rv != CKR_OK)
			goto out;
	} else {
		/* No CKA_ID: the slot whose key the certificate is for. */
		cert_key = X509_get_pubkey(x);
		for (i = 0; cert_key != NULL && i < PIV_SLOT_COUNT && idx < 0; i++)
			if (d->slots[i].pub != NULL &&
			    EVP_PKEY_eq(d->slots[i].pub, cert_key) == 1)
				idx = i;
		if (idx < 0) {
			log_debug("piv: a certificate needs CKA_ID to choose its slot");
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
	}

	/* pt 1, table 10: 70 certificate, 71 CertInfo (00: not compressed),
	 * FE error detection code (empty). */
	rv = CKR_HOST_MEMORY;
	if (tlv_put(&content, PIV_CERT_TAG_CERT, value->pValue, value->ulValueLen) != 0 ||
	    tlv_put(&content, PIV_CERT_TAG_INFO, &uncompressed, 1) != 0 ||
	    tlv_put(&content, PIV_CERT_TAG_EDC, NULL, 0) != 0)
		goto out;
	rv = piv_mgmt_authenticate(card, d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_cmd_put_data(card, piv_slot_defs[idx].cert_tag, content.data,
	                      content.len, &sw);
	if (rv == CKR_OK)
		rv = piv_admin_sw(sw);
	if (rv != CKR_OK)
		goto out;
	/* The certificate now names the slot's key, generated or not. */
	piv_slot_set_pub(&d->slots[idx], NULL, false);
	rv = piv_slot_set_cert(&d->slots[idx], value->pValue, value->ulValueLen);
	if (rv != CKR_OK)
		goto out;
	if (idx >= PIV_MAIN_SLOTS)
		piv_history_cover(card, d, (unsigned)(idx - PIV_MAIN_SLOTS));
out:
	EVP_PKEY_free(cert_key);
	X509_free(x);
	buf_free(&content);
	return rv;
}

CK_RV
piv_destroy_object(struct card *card, const struct drv_object *obj)
{
	struct piv_data *d;
	struct piv_slot *slot;
	CK_ULONG cls = 0;
	uint16_t sw;
	int idx;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	/* Only certificates: a PIV card has no command to delete a key. */
	rv = CKR_ACTION_PROHIBITED;
	idx = piv_slot_index(obj->key_ref);
	if (idx < 0 || !attr_get_ulong(&obj->attrs, CKA_CLASS, &cls) ||
	    cls != CKO_CERTIFICATE)
		goto out;
	rv = piv_mgmt_authenticate(card, d);
	if (rv != CKR_OK)
		goto out;
	/* An empty container deletes the object (pt 2, 3.3.1). */
	rv = piv_cmd_put_data(card, piv_slot_defs[idx].cert_tag, NULL, 0, &sw);
	if (rv == CKR_OK)
		rv = piv_admin_sw(sw);
	if (rv != CKR_OK)
		goto out;
	/* The key is still on the card: keep showing it in this process. */
	slot = &d->slots[idx];
	if (slot->pub != NULL)
		slot->keep_pub = true;
	rv = piv_slot_set_cert(slot, NULL, 0);
out:
	return rv;
}
