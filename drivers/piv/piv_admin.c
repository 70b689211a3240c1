/* What only the kyso tool asks of a PIV card (issue 5): the slot names
 * users type, whether the PIN is still the factory one, the management key
 * (set and change), key import and the factory reset. All but the slot
 * names are YubiKey PIV extensions (Yubico's PIV APDU reference: GET
 * METADATA F7, SET MANAGEMENT KEY FF, IMPORT KEY FE, RESET FB); SP 800-73-4
 * has no command for them, so a card without them answers "not supported"
 * before anything is sent. */
#include "drivers/piv/piv_internal.h"

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "drivers/card/tlv.h"

#define YK_INS_SET_MGMT_KEY 0xFF
#define YK_INS_IMPORT_KEY 0xFE
#define YK_INS_RESET 0xFB
/* GET METADATA tag 05: the PIN, PUK or management key is the default. */
#define YK_META_IS_DEFAULT 0x05
/* IMPORT KEY elements: the RSA CRT values 01-05, the EC private scalar 06. */
#define YK_IMPORT_RSA_P 0x01
#define YK_IMPORT_EC_PRIVATE 0x06
/* How many wrong tries it may take to block a PIN or the PUK: the counter
 * is one byte on a YubiKey, but the status word tells at most 15. */
#define PIV_BLOCK_TRIES_MAX 256

#define PIV_RETIRED_SLOT(ref, id, purpose) { #ref, { id }, 1, purpose }

/* The same CKA_IDs as piv_slot_defs (piv_objects.c); the names are the key
 * references in hex, as NIST (SP 800-73-4 pt 1, table 4b) and the YubiKey
 * tools write them. The purposes are whole literals so that xgettext finds
 * them for the tool's catalog. */
const struct drv_key_slot piv_key_slots[PIV_SLOT_COUNT] = {
	{ "9a", { 0x01 }, 1, DRV_N_("PIV Authentication") },
	{ "9c", { 0x02 }, 1, DRV_N_("Digital Signature") },
	{ "9d", { 0x03 }, 1, DRV_N_("Key Management") },
	{ "9e", { 0x04 }, 1, DRV_N_("Card Authentication") },
	PIV_RETIRED_SLOT(82, 0x05, DRV_N_("Retired key management 1")),
	PIV_RETIRED_SLOT(83, 0x06, DRV_N_("Retired key management 2")),
	PIV_RETIRED_SLOT(84, 0x07, DRV_N_("Retired key management 3")),
	PIV_RETIRED_SLOT(85, 0x08, DRV_N_("Retired key management 4")),
	PIV_RETIRED_SLOT(86, 0x09, DRV_N_("Retired key management 5")),
	PIV_RETIRED_SLOT(87, 0x10, DRV_N_("Retired key management 6")),
	PIV_RETIRED_SLOT(88, 0x11, DRV_N_("Retired key management 7")),
	PIV_RETIRED_SLOT(89, 0x12, DRV_N_("Retired key management 8")),
	PIV_RETIRED_SLOT(8a, 0x13, DRV_N_("Retired key management 9")),
	PIV_RETIRED_SLOT(8b, 0x14, DRV_N_("Retired key management 10")),
	PIV_RETIRED_SLOT(8c, 0x15, DRV_N_("Retired key management 11")),
	PIV_RETIRED_SLOT(8d, 0x16, DRV_N_("Retired key management 12")),
	PIV_RETIRED_SLOT(8e, 0x17, DRV_N_("Retired key management 13")),
	PIV_RETIRED_SLOT(8f, 0x18, DRV_N_("Retired key management 14")),
	PIV_RETIRED_SLOT(90, 0x19, DRV_N_("Retired key management 15")),
	PIV_RETIRED_SLOT(91, 0x20, DRV_N_("Retired key management 16")),
	PIV_RETIRED_SLOT(92, 0x21, DRV_N_("Retired key management 17")),
	PIV_RETIRED_SLOT(93, 0x22, DRV_N_("Retired key management 18")),
	PIV_RETIRED_SLOT(94, 0x23, DRV_N_("Retired key management 19")),
	PIV_RETIRED_SLOT(95, 0x24, DRV_N_("Retired key management 20")),
};

/* The card data, after making sure the card is a YubiKey: the only PIV
 * cards with these commands. */
static CK_RV
piv_admin_data(struct card *card, struct piv_data **d)
{
	CK_RV rv;

	rv = piv_data_get(card, d);
	if (rv == CKR_OK)
		rv = piv_identity(card, *d);
	if (rv == CKR_OK && !(*d)->yubikey)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	return rv;
}

CK_RV
piv_pin_is_default(struct card *card, enum drv_user user, bool *is_default)
{
	struct buf rsp = BUF_INIT;
	struct piv_data *d;
	const uint8_t *v;
	size_t vlen;
	bool answered = false;
	CK_RV rv;

	*is_default = false;
	rv = piv_admin_data(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_cmd_metadata(card, d, user == DRV_SO ? PIV_REF_PUK : PIV_REF_PIN,
	                        &rsp, &answered);
	if (rv != CKR_OK)
		goto out;
	if (!answered ||
	    !piv_tlv_value(rsp.data, rsp.len, YK_META_IS_DEFAULT, &v, &vlen) || vlen != 1) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
		goto out;
	}
	*is_default = v[0] != 0;
out:
	buf_free(&rsp);
	return rv;
}

CK_RV
piv_set_admin_key(struct card *card, const uint8_t *key, size_t len)
{
	struct piv_data *d;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	/* 3DES or AES-192 (24), AES-128 (16), AES-256 (32): SP 800-78-4
	 * table 6-2 and the YubiKey's AES keys. */
	if (key == NULL || (len != 16 && len != 24 && len != 32)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	OPENSSL_cleanse(d->admin_key, sizeof(d->admin_key));
	memcpy(d->admin_key, key, len);
	d->admin_key_len = len;
out:
	return rv;
}

/* The algorithm for a new management key of `len` bytes: the length says
 * it for AES-128 and AES-256; a 24-byte key keeps the algorithm the card
 * has now (3DES up to firmware 5.6, AES-192 from 5.7), as ykman does. */
static CK_RV
piv_new_mgmt_alg(struct card *card, struct piv_data *d, size_t len, uint8_t *alg)
{
	switch (len) {
	case 16:
		*alg = PIV_ALG_AES128;
		return CKR_OK;
	case 24:
		return piv_card_mgmt_alg_24(card, d, alg);
	case 32:
		*alg = PIV_ALG_AES256;
		return CKR_OK;
	default:
		return CKR_ARGUMENTS_BAD;
	}
}

CK_RV
piv_change_admin_key(struct card *card, const uint8_t *key, size_t len)
{
	struct buf data = BUF_INIT;
	struct piv_data *d;
	struct apdu a = {
		.cla = 0x00, .ins = YK_INS_SET_MGMT_KEY, .p1 = 0xFF, .p2 = 0xFF,
		.secret = true,
	};
	uint8_t alg = 0;
	uint16_t sw;
	CK_RV rv;

	rv = piv_admin_data(card, &d);
	if (rv != CKR_OK)
		goto out;
	if (key == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	rv = piv_new_mgmt_alg(card, d, len, &alg);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_HOST_MEMORY;
	if (buf_append_byte(&data, alg) != 0 || tlv_put(&data, PIV_REF_MGMT, key, len) != 0)
		goto out;
	/* SET MANAGEMENT KEY needs the current key authenticated in the
	 * same transaction (P2 FF: no touch required). */
	rv = piv_mgmt_authenticate(card, d);
	if (rv != CKR_OK)
		goto out;
	a.data = data.data;
	a.lc = data.len;
	rv = apdu_transmit(card, &a, NULL, &sw);
	if (rv == CKR_OK)
		rv = piv_admin_sw(sw);
	if (rv != CKR_OK)
		goto out;
	OPENSSL_cleanse(d->admin_key, sizeof(d->admin_key));
	memcpy(d->admin_key, key, len);
	d->admin_key_len = len;
	d->mgmt_alg = alg;
out:
	buf_free(&data);
	return rv;
}

/* A template attribute that carries a value. */
static const CK_ATTRIBUTE *
piv_admin_attr(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *a = piv_tmpl_find(t, n, type);

	return a != NULL && a->pValue != NULL ? a : NULL;
}

/* A big-endian number without its leading zeros. */
static void
piv_strip(const CK_ATTRIBUTE *a, const uint8_t **p, size_t *len)
{
	*p = a->pValue;
	*len = a->ulValueLen;
	while (*len > 0 && **p == 0) {
		(*p)++;
		(*len)--;
	}
}

/* Append element `tag` with the number in `a`, left-padded with zeros to
 * `size` bytes: IMPORT KEY wants each value at its full size. */
static CK_RV
piv_put_padded(struct buf *out, uint8_t tag, const CK_ATTRIBUTE *a, size_t size)
{
	const uint8_t *p;
	size_t len;
	CK_RV rv = CKR_TEMPLATE_INCOMPLETE;

	if (a == NULL)
		goto out;
	piv_strip(a, &p, &len);
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (len == 0 || len > size)
		goto out;
	rv = CKR_HOST_MEMORY;
	if (tlv_put_header(out, tag, size) != 0 || buf_reserve(out, size) != 0)
		goto out;
	memset(out->data + out->len, 0, size - len);
	memcpy(out->data + out->len + size - len, p, len);
	out->len += size;
	rv = CKR_OK;
out:
	return rv;
}

/* The public key of an RSA private-key template (n, e). */
static CK_RV
piv_import_rsa_pub(const CK_ATTRIBUTE *n, const CK_ATTRIBUTE *e, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	CK_RV rv = CKR_ATTRIBUTE_VALUE_INVALID;

	if (bld == NULL || ctx == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (n->ulValueLen == 0 || n->ulValueLen > INT_MAX || e->ulValueLen == 0 ||
	    e->ulValueLen > INT_MAX)
		goto out;
	bn_n = BN_bin2bn(n->pValue, (int)n->ulValueLen, NULL);
	bn_e = BN_bin2bn(e->pValue, (int)e->ulValueLen, NULL);
	if (bn_n == NULL || bn_e == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	rv = CKR_OK;
out:
	BN_free(bn_n);
	BN_free(bn_e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

/* The public key of an EC private scalar: the point scalar x G (SEC 1
 * 3.2.1), so that the slot shows its new key before a certificate names it. */
static CK_RV
piv_import_ec_pub(int nid, const CK_ATTRIBUTE *value, EVP_PKEY **out)
{
	EC_GROUP *group = EC_GROUP_new_by_curve_name(nid);
	EC_POINT *pt = group != NULL ? EC_POINT_new(group) : NULL;
	BIGNUM *priv = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	uint8_t point[1 + 2 * 66];
	size_t point_len;
	CK_RV rv = CKR_HOST_MEMORY;

	if (pt == NULL || bld == NULL || ctx == NULL)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (value->ulValueLen == 0 || value->ulValueLen > INT_MAX)
		goto out;
	priv = BN_bin2bn(value->pValue, (int)value->ulValueLen, NULL);
	if (priv == NULL || BN_is_zero(priv) ||
	    EC_POINT_mul(group, pt, priv, NULL, NULL, NULL) != 1)
		goto out;
	point_len = EC_POINT_point2oct(group, pt, POINT_CONVERSION_UNCOMPRESSED, point,
	                               sizeof(point), NULL);
	if (point_len == 0 ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	                                    OBJ_nid2sn(nid), 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
	                                     point_len) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	rv = CKR_OK;
out:
	BN_clear_free(priv);
	EC_POINT_free(pt);
	EC_GROUP_free(group);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

/* IMPORT KEY data for an RSA template: 01 p, 02 q, 03 dP, 04 dQ, 05 qInv,
 * each half the modulus size. */
static CK_RV
piv_import_rsa(const CK_ATTRIBUTE *t, CK_ULONG n, struct buf *data, uint8_t *alg,
               EVP_PKEY **pub)
{
	static const CK_ATTRIBUTE_TYPE crt[5] = {
		CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT,
	};
	static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
	const CK_ATTRIBUTE *mod = piv_admin_attr(t, n, CKA_MODULUS), *e;
	const uint8_t *p, *ep;
	size_t len, elen, bits, i;
	CK_RV rv = CKR_TEMPLATE_INCOMPLETE;

	if (mod == NULL)
		goto out;
	piv_strip(mod, &p, &len);
	bits = len * 8;
	rv = CKR_KEY_SIZE_RANGE;
	*alg = piv_rsa_alg(bits);
	if (*alg == 0)
		goto out;
	/* A modulus of exactly that many bits (its top bit set), and
	 * e = 65537, the only exponent PIV keys have (SP 800-78-4 3.1). */
	e = piv_admin_attr(t, n, CKA_PUBLIC_EXPONENT);
	if (p[0] < 0x80 || e == NULL)
		goto out;
	piv_strip(e, &ep, &elen);
	if (elen != sizeof(f4) || memcmp(ep, f4, sizeof(f4)) != 0)
		goto out;
	for (i = 0; i < 5; i++) {
		rv = piv_put_padded(data, (uint8_t)(YK_IMPORT_RSA_P + i),
		                    piv_admin_attr(t, n, crt[i]), bits / 16);
		if (rv != CKR_OK)
			goto out;
	}
	rv = piv_import_rsa_pub(mod, e, pub);
out:
	return rv;
}

/* IMPORT KEY data for an EC template: 06 the private scalar, the size of
 * the field. */
static CK_RV
piv_import_ec(const CK_ATTRIBUTE *t, CK_ULONG n, struct buf *data, uint8_t *alg,
              EVP_PKEY **pub)
{
	const CK_ATTRIBUTE *params = piv_admin_attr(t, n, CKA_EC_PARAMS);
	const CK_ATTRIBUTE *value = piv_admin_attr(t, n, CKA_VALUE);
	ASN1_OBJECT *oid = NULL;
	const uint8_t *p;
	size_t size;
	int nid;
	CK_RV rv = CKR_TEMPLATE_INCOMPLETE;

	if (params == NULL || value == NULL || params->ulValueLen > LONG_MAX)
		goto out;
	/* CKA_EC_PARAMS: the DER OID of a named curve (X9.62 ECParameters). */
	rv = CKR_CURVE_NOT_SUPPORTED;
	p = params->pValue;
	oid = d2i_ASN1_OBJECT(NULL, &p, (long)params->ulValueLen);
	if (oid == NULL || p != (const uint8_t *)params->pValue + params->ulValueLen)
		goto out;
	nid = OBJ_obj2nid(oid);
	if (nid == NID_X9_62_prime256v1) {
		*alg = PIV_ALG_ECC_P256;
		size = 32;
	} else if (nid == NID_secp384r1) {
		*alg = PIV_ALG_ECC_P384;
		size = 48;
	} else {
		goto out;
	}
	rv = piv_put_padded(data, YK_IMPORT_EC_PRIVATE, value, size);
	if (rv == CKR_OK)
		rv = piv_import_ec_pub(nid, value, pub);
out:
	ASN1_OBJECT_free(oid);
	return rv;
}

CK_RV
piv_import_key(struct card *card, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	const CK_ATTRIBUTE *id, *cls_attr, *type_attr;
	struct buf data = BUF_INIT;
	struct piv_data *d;
	struct apdu a = {
		.cla = 0x00, .ins = YK_INS_IMPORT_KEY, .secret = true,
	};
	EVP_PKEY *pub = NULL;
	CK_ULONG cls = 0, type = 0;
	uint8_t alg = 0;
	uint16_t sw;
	int idx;
	CK_RV rv;

	rv = piv_admin_data(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_TEMPLATE_INCOMPLETE;
	id = piv_admin_attr(tmpl, count, CKA_ID);
	cls_attr = piv_admin_attr(tmpl, count, CKA_CLASS);
	type_attr = piv_admin_attr(tmpl, count, CKA_KEY_TYPE);
	if (id == NULL || cls_attr == NULL || cls_attr->ulValueLen != sizeof(cls) ||
	    type_attr == NULL || type_attr->ulValueLen != sizeof(type))
		goto out;
	memcpy(&cls, cls_attr->pValue, sizeof(cls));
	memcpy(&type, type_attr->pValue, sizeof(type));
	rv = CKR_TEMPLATE_INCONSISTENT;
	if (cls != CKO_PRIVATE_KEY)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	idx = piv_slot_index_by_id(id->pValue, id->ulValueLen);
	if (idx < 0)
		goto out;
	if (type == CKK_RSA)
		rv = piv_import_rsa(tmpl, count, &data, &alg, &pub);
	else if (type == CKK_EC)
		rv = piv_import_ec(tmpl, count, &data, &alg, &pub);
	else
		rv = CKR_KEY_TYPE_INCONSISTENT;
	if (rv != CKR_OK)
		goto out;
	rv = piv_mgmt_authenticate(card, d);
	if (rv != CKR_OK)
		goto out;
	/* P1 the algorithm, P2 the slot; no PIN or touch policy elements:
	 * the slot's defaults apply. */
	a.p1 = alg;
	a.p2 = piv_slot_defs[idx].key_ref;
	a.data = data.data;
	a.lc = data.len;
	rv = apdu_transmit(card, &a, NULL, &sw);
	if (rv == CKR_OK)
		rv = piv_admin_sw(sw);
	if (rv != CKR_OK)
		goto out;
	/* The slot's key is now this one, whatever certificate the slot still
	 * holds, until a certificate is written (as after GENERATE). */
	piv_slot_set_pub(&d->slots[idx], pub, false);
	pub = NULL;
	log_debug("piv: imported a key into slot %02X", piv_slot_defs[idx].key_ref);
out:
	EVP_PKEY_free(pub);
	buf_free(&data);
	return rv;
}

CK_RV
piv_set_public_key(struct card *card, const uint8_t *id, size_t id_len,
                   const uint8_t *spki, size_t spki_len)
{
	const uint8_t *p = spki;
	struct piv_data *d;
	EVP_PKEY *pub = NULL;
	int idx;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	idx = piv_slot_index_by_id(id, id_len);
	if (idx < 0 || spki == NULL || spki_len == 0 || spki_len > LONG_MAX)
		goto out;
	pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
	if (pub == NULL || p != spki + spki_len)
		goto out;
	/* A key PIV has no algorithm for cannot be in a slot. */
	rv = CKR_KEY_TYPE_INCONSISTENT;
	if (piv_alg_for_key(pub) == 0)
		goto out;
	/* Kept over the slot's certificate, as a generated key is, until a
	 * certificate is written (SP 800-73-4 pt 1, 3.2: a PIV card cannot
	 * give back a public key). */
	piv_slot_set_pub(&d->slots[idx], pub, false);
	pub = NULL;
	rv = CKR_OK;
out:
	EVP_PKEY_free(pub);
	return rv;
}

/* Spend every try of the PIN (VERIFY) or the PUK (RESET RETRY COUNTER)
 * with a value no PIN can have (eight FF bytes: a PIN has at least six
 * characters before its padding, pt 2, 2.4.3), until the card says it is
 * blocked. */
static CK_RV
piv_block(struct card *card, bool puk)
{
	uint8_t block[PIV_PIN_BLOCK];
	uint16_t sw = 0;
	int i;
	CK_RV rv = CKR_OK;

	memset(block, PIV_PIN_PAD, sizeof(block));
	for (i = 0; i < PIV_BLOCK_TRIES_MAX; i++) {
		if (puk)
			rv = piv_cmd_two_blocks(card, PIV_INS_RESET_RETRY, PIV_REF_PIN, block,
			                        block, &sw);
		else
			rv = piv_cmd_verify(card, 0x00, PIV_REF_PIN, block, &sw);
		if (rv != CKR_OK)
			goto out;
		if (sw == 0x6983 || sw == 0x63C0)
			goto out;
		if ((sw & 0xFFF0u) != 0x63C0u) {
			log_debug("piv: blocking the %s for the reset: %04X",
			          puk ? "PUK" : "PIN", sw);
			rv = sw == SW_OK ? CKR_DEVICE_ERROR : apdu_sw_to_rv(sw);
			goto out;
		}
	}
	rv = CKR_DEVICE_ERROR;
out:
	return rv;
}

CK_RV
piv_factory_reset(struct card *card)
{
	struct buf rsp = BUF_INIT;
	struct piv_data *d;
	uint16_t sw;
	size_t i;
	CK_RV rv;

	rv = piv_admin_data(card, &d);
	if (rv != CKR_OK)
		goto out;
	/* A YubiKey resets its PIV application only once the PIN and the PUK
	 * are both blocked (Yubico's PIV reference, RESET). */
	rv = piv_block(card, false);
	if (rv == CKR_OK)
		rv = piv_block(card, true);
	if (rv != CKR_OK)
		goto out;
	rv = piv_cmd_yk(card, YK_INS_RESET, 0x00, &rsp, &sw);
	if (rv == CKR_OK)
		rv = piv_admin_sw(sw);
	/* Whatever the answer, what kyso knew of the card may be wrong now. */
	piv_forget_puk(d);
	for (i = 0; i < PIV_SLOT_COUNT; i++)
		piv_slot_free(&d->slots[i]);
	piv_forget_objects(d);
	d->pin_verified = false;
	d->pin_count_low = false;
	d->pin_tries_left = -1;
	d->puk_tries_left = -1;
	d->mgmt_alg = 0;
	OPENSSL_cleanse(d->admin_key, sizeof(d->admin_key));
	d->admin_key_len = 0;
out:
	buf_free(&rsp);
	return rv;
}
