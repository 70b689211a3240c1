/* The ePass2003's objects. Feitian's vendor layout (ENTERSAFE-ESPK, OpenSC
 * issue #3834) stores each object as the PKCS#11 attributes Feitian's
 * middleware wrote: kyso shows them with that CKA_ID and CKA_LABEL, so a
 * key keeps its id across middlewares. A PKCS#15 token (OpenSC's
 * pkcs15-init) is detected; its objects are read by drivers/pkcs15. */
#include "drivers/epass2003/epass2003_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
#include "drivers/epass2003/espk_layout.h"
#include "drivers/pkcs15/pkcs15.h"

#define EPASS_FID_MF 0x3F00
#define EPASS_FID_ESPK 0x2003
#define EPASS_FID_ESPK_INDEX 0x6F01
#define EPASS_FID_PKCS15 0x5015
/* The PIN retry maxima OpenSC's profile writes: user, SO (one byte each). */
#define EPASS_FID_P15_MAXTRIES 0x9F00
/* The private key EF of PKCS#15 key reference n (OpenSC epass2003.profile
 * and epass2003_set_security_env). */
#define EPASS_P15_KEY_FID(ref) (0x2900 + 0x20 * (ref))
static const char espk_df_name[] = "ENTERSAFE-ESPK";

/* key_ref of objects that are not private keys: kind and FID, never a
 * valid MSE handle (those are 16-bit). */
#define EPASS_REF_CERT 0x10000u
#define EPASS_REF_PUB 0x20000u

static void
acc(CK_RV *rv, CK_RV r)
{
	if (*rv == CKR_OK)
		*rv = r;
}

CK_RV
epass_detect_layout(struct card *card, struct epass_data *d)
{
	static const uint16_t espk[] = { EPASS_FID_MF, EPASS_FID_ESPK };
	static const uint16_t p15[] = { EPASS_FID_MF, EPASS_FID_PKCS15 };
	struct buf fci = BUF_INIT;
	struct tlv t, name;
	size_t size;
	uint16_t sw;
	CK_RV rv = CKR_OK;

	if (d->layout != EPASS_LAYOUT_UNKNOWN)
		goto out;
	rv = epass_select_path(card, d, espk, 2, &size, &fci, &sw);
	if (rv != CKR_OK)
		goto out;
	/* The DF's FCI names it (tag 84, ISO 7816-4 table 12). */
	if (sw == SW_OK &&
	    (tlv_find(fci.data, fci.len, 0x6F, &t) == 1 || tlv_find(fci.data, fci.len, 0x62, &t) == 1) &&
	    tlv_find(t.value, t.len, 0x84, &name) == 1 && name.len == strlen(espk_df_name) &&
	    memcmp(name.value, espk_df_name, name.len) == 0) {
		d->layout = EPASS_LAYOUT_VENDOR;
		goto out;
	}
	rv = epass_select_path(card, d, p15, 2, &size, NULL, &sw);
	if (rv != CKR_OK)
		goto out;
	d->layout = sw == SW_OK ? EPASS_LAYOUT_PKCS15 : EPASS_LAYOUT_EMPTY;
out:
	buf_free(&fci);
	return rv;
}

void
epass_forget_keys(struct epass_data *d)
{
	for (size_t i = 0; i < d->key_count; i++)
		EVP_PKEY_free(d->keys[i].pub);
	memset(d->keys, 0, sizeof(d->keys));
	d->key_count = 0;
}

const struct epass_key *
epass_key_find(const struct epass_data *d, uint16_t handle)
{
	for (size_t i = 0; i < d->key_count; i++)
		if (d->keys[i].handle == handle)
			return &d->keys[i];
	return NULL;
}

/* An RSA public key from its numbers (big-endian bytes). */
static EVP_PKEY *
epass_rsa_from(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);

	if (bld == NULL || bn_n == NULL || bn_e == NULL || n_len == 0 || n_len > 512 ||
	    e_len == 0 || e_len > 8 || BN_num_bits(bn_n) < 512)
		goto out;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return pkey;
}

/* An EC public key from PKCS#11's CKA_EC_PARAMS (a named curve's DER OID,
 * X9.62 ECParameters) and CKA_EC_POINT (the point, DER OCTET STRING or
 * raw, SEC 1 2.3.4), as Feitian's middleware stores them. */
static EVP_PKEY *
epass_ec_from(const uint8_t *params, size_t params_len, const uint8_t *point,
              size_t point_len)
{
	const unsigned char *p = params;
	ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)params_len);
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	const char *curve;
	int nid;

	if (oid == NULL || bld == NULL || p != params + params_len || point_len == 0 ||
	    point_len > 0xFFFF)
		goto out;
	nid = OBJ_obj2nid(oid);
	curve = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
	if (curve == NULL)
		goto out;
	p = point;
	os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)point_len);
	if (os != NULL && p == point + point_len) {
		point = ASN1_STRING_get0_data(os);
		point_len = (size_t)ASN1_STRING_length(os);
	}
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len) != 1)
		goto out;
	ps = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	/* fromdata checks the point is on the curve. */
	if (ps == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, ps) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	return pkey;
}

/* The key types kyso shows: RSA and EC (the token signs with P-256
 * keys only; epass2003_crypto.c refuses others). */
static bool
epass_pub_usable(const EVP_PKEY *k)
{
	return k != NULL &&
	       (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA || EVP_PKEY_get_base_id(k) == EVP_PKEY_EC);
}

static void
set_der(CK_RV *rv, struct attr_list *l, CK_ATTRIBUTE_TYPE type, uint8_t *der, int len)
{
	if (len <= 0 || der == NULL)
		acc(rv, CKR_FUNCTION_FAILED);
	else
		acc(rv, attr_set(l, type, der, (size_t)len));
	OPENSSL_free(der);
}

/* CKA_EC_PARAMS (the curve's OID) and CKA_EC_POINT (the point as a DER
 * OCTET STRING, PKCS#11 v2.40 2.3.3), in the form the key came in:
 * uncompressed from pkcs15-init's SubjectPublicKeyInfo. */
static void
set_ec_attrs(CK_RV *rv, struct attr_list *l, const EVP_PKEY *pub)
{
	char curve[64];
	uint8_t point[1 + 2 * 66];
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	uint8_t *der = NULL;
	size_t point_len = 0;
	int nid = NID_undef, len;

	if (EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve),
	                                   NULL) == 1)
		nid = OBJ_sn2nid(curve);
	if (nid == NID_undef || os == NULL ||
	    EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
	                                    sizeof(point), &point_len) != 1 ||
	    ASN1_OCTET_STRING_set(os, point, (int)point_len) != 1) {
		acc(rv, CKR_FUNCTION_FAILED);
		goto out;
	}
	len = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &der);
	set_der(rv, l, CKA_EC_PARAMS, der, len);
	der = NULL;
	len = i2d_ASN1_OCTET_STRING(os, &der);
	set_der(rv, l, CKA_EC_POINT, der, len);
out:
	ASN1_OCTET_STRING_free(os);
}

static void
set_bn(CK_RV *rv, struct attr_list *l, CK_ATTRIBUTE_TYPE type, const EVP_PKEY *pub,
       const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t *bytes = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(pub, param, &bn) != 1) {
		acc(rv, CKR_FUNCTION_FAILED);
		goto out;
	}
	n = BN_num_bytes(bn);
	bytes = OPENSSL_malloc(n > 0 ? (size_t)n : 1);
	if (bytes == NULL) {
		acc(rv, CKR_HOST_MEMORY);
		goto out;
	}
	BN_bn2bin(bn, bytes);
	acc(rv, attr_set(l, type, bytes, (size_t)n));
out:
	OPENSSL_free(bytes);
	BN_free(bn);
}

/* Key type, public numbers and the SPKI the module verifies with. */
static void
set_key_attrs(CK_RV *rv, struct attr_list *l, const EVP_PKEY *pub)
{
	uint8_t *der = NULL;
	int len;

	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		acc(rv, attr_set_ulong(l, CKA_KEY_TYPE, CKK_EC));
		set_ec_attrs(rv, l, pub);
	} else {
		acc(rv, attr_set_ulong(l, CKA_KEY_TYPE, CKK_RSA));
		set_bn(rv, l, CKA_MODULUS, pub, OSSL_PKEY_PARAM_RSA_N);
		set_bn(rv, l, CKA_PUBLIC_EXPONENT, pub, OSSL_PKEY_PARAM_RSA_E);
		acc(rv, attr_set_ulong(l, CKA_MODULUS_BITS, (CK_ULONG)EVP_PKEY_get_bits(pub)));
	}
	len = i2d_PUBKEY(pub, &der);
	set_der(rv, l, CKA_PUBLIC_KEY_INFO, der, len);
}

/* The stored attributes kyso passes on as they are: names and ids that
 * applications match, and certificate fields. */
static void
copy_stored(CK_RV *rv, struct attr_list *l, const struct espk_attrs *a)
{
	static const CK_ATTRIBUTE_TYPE keep[] = {
		CKA_LABEL, CKA_ID, CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER,
		CKA_START_DATE, CKA_END_DATE,
	};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const struct espk_attr *at = espk_attrs_find(a, keep[i]);
		if (at != NULL)
			acc(rv, attr_set(l, keep[i], at->value, at->len));
	}
	if (attr_find(l, CKA_LABEL) == NULL)
		acc(rv, attr_set_string(l, CKA_LABEL, ""));
	if (attr_find(l, CKA_ID) == NULL)
		acc(rv, attr_set(l, CKA_ID, "", 0));
}

static void
set_common(CK_RV *rv, struct attr_list *l, CK_OBJECT_CLASS cls, bool private)
{
	acc(rv, attr_set_ulong(l, CKA_CLASS, cls));
	acc(rv, attr_set_bool(l, CKA_TOKEN, true));
	acc(rv, attr_set_bool(l, CKA_PRIVATE, private));
	acc(rv, attr_set_bool(l, CKA_MODIFIABLE, false));
	acc(rv, attr_set_bool(l, CKA_DESTROYABLE, false));
}

/* The internal key handle (u16 or u32, little-endian). */
static int
espk_handle(const struct espk_attrs *a, uint16_t *handle)
{
	const struct espk_attr *at = espk_attrs_find(a, ESPK_ATTR_KEY_HANDLE);
	CK_ULONG v;

	if (at != NULL && at->len == 2) {
		*handle = (uint16_t)(at->value[0] | at->value[1] << 8);
		return 0;
	}
	if (espk_attr_ulong(a, ESPK_ATTR_KEY_HANDLE, &v) != 0 || v > 0xFFFF)
		return -1;
	*handle = (uint16_t)v;
	return 0;
}

/* One parsed file of the vendor layout. */
struct espk_file {
	const struct espk_entry *entry;
	struct buf bytes;
	bool sparse;		/* read without its CKA_MODULUS value */
	struct espk_attrs attrs;
	EVP_PKEY *pub;		/* from the stored numbers or certificate */
};

static bool
same_id(const struct espk_attrs *a, const struct espk_attrs *b)
{
	const struct espk_attr *x = espk_attrs_find(a, CKA_ID), *y = espk_attrs_find(b, CKA_ID);
	return x != NULL && y != NULL && x->len == y->len && x->len > 0 &&
	       memcmp(x->value, y->value, x->len) == 0;
}

static void
espk_file_pub(struct espk_file *f)
{
	const struct espk_attr *n = espk_attrs_find(&f->attrs, CKA_MODULUS);
	const struct espk_attr *e = espk_attrs_find(&f->attrs, CKA_PUBLIC_EXPONENT);
	const struct espk_attr *v = espk_attrs_find(&f->attrs, CKA_VALUE);
	const struct espk_attr *ecp = espk_attrs_find(&f->attrs, CKA_EC_PARAMS);
	const struct espk_attr *ecq = espk_attrs_find(&f->attrs, CKA_EC_POINT);

	if (f->entry->kind == ESPK_CERT && v != NULL) {
		const unsigned char *p = v->value;
		X509 *x = d2i_X509(NULL, &p, (long)v->len);
		if (x != NULL && p == v->value + v->len) {
			EVP_PKEY *k = X509_get_pubkey(x);
			if (epass_pub_usable(k))
				f->pub = k;
			else
				EVP_PKEY_free(k);
		}
		X509_free(x);
	} else if (n != NULL && e != NULL) {
		f->pub = epass_rsa_from(n->value, n->len, e->value, e->len);
	} else if (ecp != NULL && ecq != NULL) {
		/* CKK_EC: a private key file may carry the public point
		 * too; else the public key or certificate supplies it. */
		f->pub = epass_ec_from(ecp->value, ecp->len, ecq->value, ecq->len);
	}
}

/* Where the bytes that prove a cached file unchanged lie. */
enum epass_proof {
	/* The first READ BINARY piece: a DER certificate's start (its serial
	 * number and issuer, RFC 5280 4.1.2.2, as PIV's proof is), or a DER
	 * public key's modulus. */
	EPASS_PROOF_FIRST,
	/* The last piece, at a window ending at the file's end: in a vendor
	 * certNNNN, whose last attribute is CKA_VALUE, the certificate's
	 * signature, which differs for any other certificate (a renewal
	 * with the same key, label and subject too); in pubkNNNN the end of
	 * the modulus and the key handle. */
	EPASS_PROOF_LAST,
};

static void
epass_cache_name(char *name, size_t cap, const uint16_t *path, size_t n)
{
	size_t o = (size_t)snprintf(name, cap, "file");

	for (size_t i = 0; i < n && o + 5 < cap; i++)
		o += (size_t)snprintf(name + o, cap - o, "-%04X", path[i]);
}

/* Read a public file, through the cache when there is one (issue 8,
 * drivers/cache.h). The proof an entry is still the card's is one
 * READ BINARY piece of the file read again now (`where`), together with
 * the file's length (the index's used size, or the FCI's): a file that
 * fits one piece is simply read. `len` 0: the FCI's size. Only files
 * anyone can read without a PIN come here, never a key or a PIN. */
static CK_RV
epass_read_cached(struct card *card, struct epass_data *d, const uint16_t *path, size_t n,
                  size_t len, enum epass_proof where, struct buf *out, uint16_t *sw)
{
	struct buf proof = BUF_INIT, cached = BUF_INIT, piece = BUF_INIT;
	char name[DRV_CACHE_NAME_MAX];
	size_t at;
	bool proven = false;
	CK_RV rv;

	buf_clear(out);
	rv = epass_select_for_read(card, d, path, n, &len, sw);
	if (rv != CKR_OK || *sw != SW_OK)
		goto out;
	if (d->cache == NULL || len <= EPASS_READ_CHUNK || len > 0x7FFF) {
		rv = epass_read_more(card, d, len, out);
		goto out;
	}
	epass_cache_name(name, sizeof(name), path, n);
	at = where == EPASS_PROOF_LAST ? len - EPASS_READ_CHUNK : 0;
	rv = epass_read_piece(card, d, at, EPASS_READ_CHUNK, &piece);
	if (rv != CKR_OK)
		goto out;
	/* The proof: the length (2 bytes), then the piece. */
	if (piece.len == EPASS_READ_CHUNK) {
		const uint8_t len_be[2] = { (uint8_t)(len >> 8), (uint8_t)len };
		if (buf_append(&proof, len_be, 2) != 0 ||
		    buf_append(&proof, piece.data, piece.len) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		proven = true;
	}
	if (proven && drv_cache_get(d->cache, name, proof.data, proof.len, &cached) &&
	    cached.len == len) {
		log_debug("epass2003: %s from the cache", name);
		if (buf_set(out, cached.data, cached.len) != 0)
			rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* A miss: the rest of the file, the piece read once only. */
	if (proven && at == 0) {
		rv = buf_set(out, piece.data, piece.len) == 0 ? CKR_OK : CKR_HOST_MEMORY;
	} else if (proven) {
		rv = epass_read_more(card, d, at, out);
		if (rv == CKR_OK && out->len == at && buf_append(out, piece.data, piece.len) != 0)
			rv = CKR_HOST_MEMORY;
	}
	if (rv == CKR_OK)
		rv = epass_read_more(card, d, len, out);
	if (rv == CKR_OK && proven && out->len == len &&
	    memcmp(out->data + at, piece.data, piece.len) == 0)
		drv_cache_put(d->cache, name, proof.data, proof.len, out->data, out->len);
out:
	buf_free(&proof);
	buf_free(&cached);
	buf_free(&piece);
	return rv;
}

/* The attributes of an X.509 certificate object with DER `der`; subject,
 * issuer and serial from the certificate unless already set (NSS looks
 * certificates up by them). */
static void
cert_attrs(CK_RV *rv, struct attr_list *l, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	uint8_t *enc = NULL;
	int n;

	set_common(rv, l, CKO_CERTIFICATE, false);
	acc(rv, attr_set_ulong(l, CKA_CERTIFICATE_TYPE, CKC_X_509));
	acc(rv, attr_set_bool(l, CKA_TRUSTED, false));
	acc(rv, attr_set_ulong(l, CKA_CERTIFICATE_CATEGORY, 0));
	acc(rv, attr_set(l, CKA_VALUE, der, len));
	if (x == NULL) {
		acc(rv, CKR_FUNCTION_FAILED);
		goto out;
	}
	if (attr_find(l, CKA_SUBJECT) == NULL) {
		n = i2d_X509_NAME(X509_get_subject_name(x), &enc);
		if (n > 0)
			acc(rv, attr_set(l, CKA_SUBJECT, enc, (size_t)n));
		OPENSSL_free(enc);
		enc = NULL;
	}
	if (attr_find(l, CKA_ISSUER) == NULL) {
		n = i2d_X509_NAME(X509_get_issuer_name(x), &enc);
		if (n > 0)
			acc(rv, attr_set(l, CKA_ISSUER, enc, (size_t)n));
		OPENSSL_free(enc);
		enc = NULL;
	}
	if (attr_find(l, CKA_SERIAL_NUMBER) == NULL) {
		n = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &enc);
		if (n > 0)
			acc(rv, attr_set(l, CKA_SERIAL_NUMBER, enc, (size_t)n));
		OPENSSL_free(enc);
	}
out:
	X509_free(x);
}

/* What a key may be used for, as the token states it: 1 or 0 each, -1
 * where it says nothing (kyso's default then). */
struct key_usage {
	int sign, sign_recover, decrypt, unwrap;	/* private keys */
	int verify, verify_recover, encrypt, wrap;	/* public keys */
};

#define KEY_USAGE_UNSTATED { -1, -1, -1, -1, -1, -1, -1, -1 }

/* KeyUsageFlags bits kyso's PKCS#15 reader has no name for (PKCS#15
 * v1.1, 6.2.4). */
#define EPASS_P15_USAGE_ENCRYPT 0x0001
#define EPASS_P15_USAGE_SIGN_RECOVER 0x0008
#define EPASS_P15_USAGE_WRAP 0x0010
#define EPASS_P15_USAGE_VERIFY 0x0040
#define EPASS_P15_USAGE_VERIFY_RECOVER 0x0080

static int
stated(int v, bool dflt)
{
	return v < 0 ? dflt : v;
}

/* Public or private key object attributes, beyond label and id. `u`:
 * the usage the token stores, NULL when it stores none. */
static void
key_attrs(CK_RV *rv, struct attr_list *l, bool private, const EVP_PKEY *pub,
          const struct key_usage *u)
{
	static const struct key_usage none = KEY_USAGE_UNSTATED;
	/* The token deciphers with RSA keys only (PSO 80 86); EC keys sign
	 * (PSO 9E 9A) and derive nothing: whatever is stored, an EC key
	 * neither deciphers nor wraps. */
	bool rsa = EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA;

	if (u == NULL)
		u = &none;
	set_common(rv, l, private ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY, private);
	set_key_attrs(rv, l, pub);
	acc(rv, attr_set_bool(l, CKA_LOCAL, false));
	acc(rv, attr_set_bool(l, CKA_DERIVE, false));
	if (private) {
		acc(rv, attr_set_bool(l, CKA_SENSITIVE, true));
		acc(rv, attr_set_bool(l, CKA_ALWAYS_SENSITIVE, true));
		acc(rv, attr_set_bool(l, CKA_EXTRACTABLE, false));
		acc(rv, attr_set_bool(l, CKA_NEVER_EXTRACTABLE, true));
		acc(rv, attr_set_bool(l, CKA_SIGN, stated(u->sign, true)));
		acc(rv, attr_set_bool(l, CKA_SIGN_RECOVER, stated(u->sign_recover, false)));
		acc(rv, attr_set_bool(l, CKA_DECRYPT, rsa && stated(u->decrypt, true)));
		acc(rv, attr_set_bool(l, CKA_UNWRAP, rsa && stated(u->unwrap, true)));
		acc(rv, attr_set_bool(l, CKA_ALWAYS_AUTHENTICATE, false));
		acc(rv, attr_set_bool(l, CKA_WRAP_WITH_TRUSTED, false));
	} else {
		acc(rv, attr_set_bool(l, CKA_VERIFY, stated(u->verify, true)));
		acc(rv, attr_set_bool(l, CKA_VERIFY_RECOVER, stated(u->verify_recover, false)));
		acc(rv, attr_set_bool(l, CKA_ENCRYPT, rsa && stated(u->encrypt, true)));
		acc(rv, attr_set_bool(l, CKA_WRAP, rsa && stated(u->wrap, true)));
		acc(rv, attr_set_bool(l, CKA_TRUSTED, false));
	}
}

/* One CK_BBOOL of a vendor attribute stream: -1 when absent or not one
 * byte long. */
static int
espk_bool(const struct espk_attrs *a, CK_ATTRIBUTE_TYPE type)
{
	const struct espk_attr *at = espk_attrs_find(a, type);

	if (at == NULL || at->len != 1)
		return -1;
	return at->value[0] != 0;
}

/* The vendor layout stores each flag as Feitian's middleware set it
 * (the signing key: CKA_UNWRAP false). */
static void
espk_usage(const struct espk_attrs *a, struct key_usage *u)
{
	u->sign = espk_bool(a, CKA_SIGN);
	u->sign_recover = espk_bool(a, CKA_SIGN_RECOVER);
	u->decrypt = espk_bool(a, CKA_DECRYPT);
	u->unwrap = espk_bool(a, CKA_UNWRAP);
	u->verify = espk_bool(a, CKA_VERIFY);
	u->verify_recover = espk_bool(a, CKA_VERIFY_RECOVER);
	u->encrypt = espk_bool(a, CKA_ENCRYPT);
	u->wrap = espk_bool(a, CKA_WRAP);
}

/* PKCS#15 KeyUsageFlags (v1.1, 6.2.4), as PKCS#11 flags: nonRepudiation
 * is a signature too. A public key entry that repeats its private key's
 * flags (some writers do) allows the matching public operation. No bit
 * set: the entry states nothing, kyso's defaults stand. */
static void
p15_usage(unsigned long bits, struct key_usage *u)
{
	static const struct key_usage none = KEY_USAGE_UNSTATED;
	bool sign = (bits & (P15_USAGE_SIGN | P15_USAGE_NONREP)) != 0;
	bool sign_recover = (bits & EPASS_P15_USAGE_SIGN_RECOVER) != 0;
	bool decrypt = (bits & P15_USAGE_DECRYPT) != 0;
	bool unwrap = (bits & P15_USAGE_UNWRAP) != 0;

	*u = none;
	if (bits == 0)
		return;
	u->sign = sign;
	u->sign_recover = sign_recover;
	u->decrypt = decrypt;
	u->unwrap = unwrap;
	u->verify = sign || (bits & EPASS_P15_USAGE_VERIFY) != 0;
	u->verify_recover = sign_recover || (bits & EPASS_P15_USAGE_VERIFY_RECOVER) != 0;
	u->encrypt = decrypt || (bits & EPASS_P15_USAGE_ENCRYPT) != 0;
	u->wrap = unwrap || (bits & EPASS_P15_USAGE_WRAP) != 0;
}

/* Remember a private key for sign/decrypt. */
static CK_RV
key_remember(struct epass_data *d, uint16_t handle, EVP_PKEY *pub)
{
	if (d->key_count == EPASS_MAX_KEYS || epass_key_find(d, handle) != NULL)
		return CKR_OK;
	if (EVP_PKEY_up_ref(pub) != 1)
		return CKR_HOST_MEMORY;
	d->keys[d->key_count].handle = handle;
	d->keys[d->key_count].pub = pub;
	d->key_count++;
	return CKR_OK;
}

static CK_RV
espk_add_cert(struct drv_objects *out, const struct espk_file *f)
{
	const struct espk_attr *v = espk_attrs_find(&f->attrs, CKA_VALUE);
	struct drv_object *o;
	CK_RV rv = CKR_OK;

	if (v == NULL || f->pub == NULL) {
		log_debug("epass2003: %s holds no usable certificate", f->entry->name);
		goto out;
	}
	o = drv_objects_add(out, EPASS_REF_CERT | f->entry->fid);
	if (o == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	copy_stored(&rv, &o->attrs, &f->attrs);
	cert_attrs(&rv, &o->attrs, v->value, v->len);
out:
	return rv;
}

static CK_RV
espk_add_key(struct epass_data *d, struct drv_objects *out, struct espk_file *files,
             size_t count, struct espk_file *f)
{
	bool private = f->entry->kind == ESPK_PRIVKEY;
	EVP_PKEY *pub = f->pub;
	struct key_usage usage;
	struct drv_object *o;
	uint16_t handle = 0;
	CK_RV rv = CKR_OK;

	/* A private key file may not repeat the public numbers: take them
	 * from the public key or certificate with the same CKA_ID. */
	for (size_t i = 0; pub == NULL && i < count; i++)
		if (&files[i] != f && files[i].pub != NULL && same_id(&files[i].attrs, &f->attrs))
			pub = files[i].pub;
	if (pub == NULL) {
		log_debug("epass2003: no public key for %s", f->entry->name);
		goto out;
	}
	if (private) {
		if (espk_handle(&f->attrs, &handle) != 0) {
			log_debug("epass2003: %s has no key handle", f->entry->name);
			goto out;
		}
		rv = key_remember(d, handle, pub);
		if (rv != CKR_OK)
			goto out;
	}
	o = drv_objects_add(out, private ? handle : (EPASS_REF_PUB | f->entry->fid));
	if (o == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	copy_stored(&rv, &o->attrs, &f->attrs);
	espk_usage(&f->attrs, &usage);
	key_attrs(&rv, &o->attrs, private, pub, &usage);
out:
	return rv;
}

/* A certificate file's last piece proves it unchanged only when it is
 * the certificate's end (its signature): CKA_VALUE last, as Feitian
 * writes it. Else the file is not kept in the cache. */
static void
epass_check_cert_proof(struct epass_data *d, const struct espk_file *f, const uint16_t *path)
{
	const struct espk_attr *v = espk_attrs_find(&f->attrs, CKA_VALUE);
	char name[DRV_CACHE_NAME_MAX];

	if (d->cache == NULL || f->entry->kind != ESPK_CERT)
		return;
	if (v != NULL && v->len >= EPASS_READ_CHUNK && v->value + v->len == f->bytes.data + f->bytes.len)
		return;
	epass_cache_name(name, sizeof(name), path, 3);
	drv_cache_forget(d->cache, name);
}

/* The index EF 6F01. C_GetTokenInfo (the label) and the object listing
 * both need it, in two PKCS#11 calls that follow each other: the one that
 * reads it leaves a copy the other takes, once. The objects are a
 * snapshot of the token taken at that moment either way (the module
 * reloads them after a reset). */
static CK_RV
epass_read_index(struct card *card, struct epass_data *d, struct buf *raw, uint16_t *sw)
{
	static const uint16_t index_path[] = { EPASS_FID_MF, EPASS_FID_ESPK, EPASS_FID_ESPK_INDEX };
	CK_RV rv = CKR_OK;

	if (d->espk_index.len > 0) {
		*sw = SW_OK;
		if (buf_set(raw, d->espk_index.data, d->espk_index.len) != 0)
			rv = CKR_HOST_MEMORY;
		buf_clear(&d->espk_index);
		goto out;
	}
	rv = epass_read_file(card, d, index_path, 3, 0, raw, sw);
	if (rv == CKR_OK && *sw == SW_OK && raw->len > 0 &&
	    buf_set(&d->espk_index, raw->data, raw->len) != 0)
		rv = CKR_HOST_MEMORY;
out:
	return rv;
}

/* Make the window `win` (the bytes of the selected EF from *win_off)
 * hold [from, to): what it holds is kept when `from` is inside it, else
 * it starts again at `from`. Shorter when the file ends first. */
static CK_RV
espk_window(struct card *card, struct epass_data *d, struct buf *win, size_t *win_off,
            size_t from, size_t to)
{
	struct buf piece = BUF_INIT;
	CK_RV rv = CKR_OK;

	if (from < *win_off || from > *win_off + win->len) {
		buf_clear(win);
		*win_off = from;
	}
	while (rv == CKR_OK && *win_off + win->len < to) {
		size_t at = *win_off + win->len, want = to - at;
		rv = epass_read_piece(card, d, at, want < EPASS_READ_CHUNK ? want : EPASS_READ_CHUNK,
		                      &piece);
		if (rv != CKR_OK || piece.len == 0)
			break;
		if (buf_append(win, piece.data, piece.len) != 0)
			rv = CKR_HOST_MEMORY;
	}
	buf_free(&piece);
	return rv;
}

/* A private key's attribute stream, read piece by piece, leaving out the
 * value of CKA_MODULUS when it runs past the piece in hand: the public key
 * or certificate with the same CKA_ID has the modulus (espk_add_key takes
 * it from there), so its 256 bytes need not cross the wire, one READ less
 * per key (issue 8). `out` gets the attributes read, whole; *sparse says
 * one was left out. */
static CK_RV
espk_read_sparse(struct card *card, struct epass_data *d, const uint16_t *path, size_t len,
                 struct buf *out, bool *sparse, uint16_t *sw)
{
	struct buf win = BUF_INIT;
	size_t size = 0, pos = 0, win_off = 0, vlen, end, avail;
	CK_ATTRIBUTE_TYPE type;
	CK_RV rv;

	buf_clear(out);
	*sparse = false;
	rv = epass_select_path(card, d, path, 3, &size, NULL, sw);
	if (rv != CKR_OK || *sw != SW_OK)
		goto out;
	if (len == 0 || (size != 0 && size < len))
		len = size;
	while (pos < len) {
		/* The next header, with what follows it in one piece. */
		if (pos + 8 > win_off + win.len) {
			size_t to = pos + EPASS_READ_CHUNK;
			rv = espk_window(card, d, &win, &win_off, pos, to < len ? to : len);
			if (rv != CKR_OK)
				goto out;
		}
		/* What the window holds from pos: nothing when the card
		 * answered less than asked. */
		avail = pos >= win_off && pos <= win_off + win.len ? win_off + win.len - pos : 0;
		if (avail < 8 ||
		    espk_attr_header(win.data + (pos - win_off), avail, &type, &vlen) != 1 ||
		    vlen > len - pos - 8)
			break;	/* padding, or a stream the parser will refuse */
		end = pos + 8 + vlen;
		if (type == CKA_MODULUS && end > win_off + win.len) {
			*sparse = true;
			pos = end;
			continue;
		}
		rv = espk_window(card, d, &win, &win_off, pos, end);
		if (rv != CKR_OK)
			goto out;
		if (end > win_off + win.len)
			break;	/* the file ended early */
		if (buf_append(out, win.data + (pos - win_off), end - pos) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		pos = end;
	}
out:
	buf_free(&win);
	return rv;
}

static CK_RV
epass_load_vendor(struct card *card, struct epass_data *d, struct drv_objects *out)
{
	struct espk_index idx = { 0 };
	struct espk_file *files = NULL;
	struct buf raw = BUF_INIT;
	size_t n = 0, i;
	uint16_t sw;
	CK_RV rv;

	rv = epass_read_index(card, d, &raw, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK) {
		log_debug("epass2003: no ESPK index (%04X)", sw);
		goto out;
	}
	if (espk_index_parse(raw.data, raw.len, &idx) != 0) {
		log_debug("epass2003: malformed ESPK index");
		goto out;
	}
	files = calloc(idx.count > 0 ? idx.count : 1, sizeof(*files));
	if (files == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	for (i = 0; i < idx.count; i++) {
		const struct espk_entry *e = &idx.entries[i];
		uint16_t path[] = { EPASS_FID_MF, EPASS_FID_ESPK, e->fid };
		struct espk_file *f = &files[n];

		if (e->kind == ESPK_OTHER || e->used == 0)
			continue;
		f->entry = e;
		n++;
		if (e->kind == ESPK_CERT || e->kind == ESPK_PUBKEY)
			rv = epass_read_cached(card, d, path, 3, e->used, EPASS_PROOF_LAST,
			                       &f->bytes, &sw);
		else
			rv = espk_read_sparse(card, d, path, e->used, &f->bytes, &f->sparse, &sw);
		if (rv != CKR_OK)
			goto out;
		if (sw != SW_OK || espk_attrs_parse(f->bytes.data, f->bytes.len, &f->attrs) != 0) {
			log_debug("epass2003: %s unreadable (%04X)", e->name, sw);
			continue;
		}
		espk_file_pub(f);
		epass_check_cert_proof(d, f, path);
	}
	/* A private key read without its modulus and with no public key or
	 * certificate to take it from: read it whole after all. */
	for (i = 0; i < n && rv == CKR_OK; i++) {
		struct espk_file *f = &files[i];
		uint16_t path[] = { EPASS_FID_MF, EPASS_FID_ESPK, f->entry->fid };
		bool partner = false;

		for (size_t j = 0; f->sparse && f->pub == NULL && j < n; j++)
			partner |= j != i && files[j].pub != NULL && same_id(&files[j].attrs, &f->attrs);
		if (!f->sparse || f->pub != NULL || partner)
			continue;
		espk_attrs_free(&f->attrs);
		f->sparse = false;
		rv = epass_read_file(card, d, path, 3, f->entry->used, &f->bytes, &sw);
		if (rv == CKR_OK && sw == SW_OK &&
		    espk_attrs_parse(f->bytes.data, f->bytes.len, &f->attrs) == 0)
			espk_file_pub(f);
	}
	for (i = 0; i < n && rv == CKR_OK; i++) {
		if (files[i].attrs.count == 0)
			continue;
		if (files[i].entry->kind == ESPK_CERT)
			rv = espk_add_cert(out, &files[i]);
		else
			rv = espk_add_key(d, out, files, n, &files[i]);
	}
out:
	for (i = 0; files != NULL && i < n; i++) {
		espk_attrs_free(&files[i].attrs);
		buf_free(&files[i].bytes);
		EVP_PKEY_free(files[i].pub);
	}
	free(files);
	espk_index_free(&idx);
	buf_free(&raw);
	return rv;
}

/* The card numbers the key and certificate EFs OpenSC's profile names
 * 29xx..34xx with the low byte times 0x20 (its SFI scheme; OpenSC
 * card-epass2003.c epass2003_hook_path). */
static uint16_t
p15_card_fid(uint16_t fid)
{
	uint8_t hi = (uint8_t)(fid >> 8), lo = (uint8_t)fid;

	if (hi >= 0x29 && hi <= 0x34 && hi != 0x2A && hi != 0x2B && hi != 0x2C &&
	    hi != 0x2D && hi != 0x2E && hi != 0x2F && lo < 8)
		return (uint16_t)(hi << 8 | lo * 0x20);
	return fid;
}

static void epass_set_label(struct epass_data *d, const uint8_t *v, size_t len);

struct p15_ctx {
	struct card *card;
	struct epass_data *d;
};

/* Whether `b` holds a whole PKCS#15 DER file: its elements end in the
 * zero padding OpenSC's profile leaves after them (PKCS#15 v1.1, 5.5: 00
 * ends the objects), or at the end of the file. */
static bool
p15_der_complete(const struct buf *b, size_t file_len)
{
	struct tlv_reader r;
	struct tlv t;
	int rc;

	if (b->len >= file_len)
		return true;
	tlv_reader_init(&r, b->data, b->len);
	while ((rc = tlv_next(&r, &t)) == 1)
		if (t.tag == 0x00)
			return true;
	return false;
}

/* The ODF, TokenInfo and directory files: read piece by piece only until
 * their objects end, not the whole allocated file (mostly padding). */
static CK_RV
p15_read_cb(void *ctx, const uint8_t *path, size_t path_len, struct buf *out, bool *found)
{
	struct p15_ctx *c = ctx;
	uint16_t fids[EPASS_PATH_MAX], sw;
	size_t n = path_len / 2, size = 0, want;
	CK_RV rv;

	*found = false;
	buf_clear(out);
	/* A path deeper than the token's file system has no file. */
	if (path_len % 2 != 0 || n == 0 || n > EPASS_PATH_MAX)
		return CKR_OK;
	for (size_t i = 0; i < n; i++)
		fids[i] = p15_card_fid((uint16_t)(path[2 * i] << 8 | path[2 * i + 1]));
	/* TokenInfo gives the driver the label alone: not read twice when
	 * C_GetTokenInfo read it in this bind. */
	if (c->d->label_read && n == 3 && fids[2] == P15_FID_TOKENINFO)
		return CKR_OK;
	rv = epass_select_path(c->card, c->d, fids, n, &size, NULL, &sw);
	if (rv != CKR_OK || sw != SW_OK) {
		if (rv == CKR_OK)
			log_debug("epass2003: PKCS#15 file not readable (%04X)", sw);
		return rv;
	}
	do {
		want = out->len + EPASS_READ_CHUNK;
		if (size != 0 && want > size)
			want = size;
		n = out->len;
		rv = epass_read_more(c->card, c->d, want, out);
	} while (rv == CKR_OK && out->len > n && !p15_der_complete(out, size != 0 ? size : SIZE_MAX));
	*found = rv == CKR_OK;
	return rv;
}

/* A certificate or public key file named by a PKCS#15 path, through the
 * cache: the proof is its first piece (a certificate's serial number and
 * issuer; the start of a modulus, or a whole EC key, which fits one). */
static CK_RV
p15_read_cached(struct p15_ctx *c, const uint8_t *path, size_t path_len,
                struct buf *out, bool *found)
{
	uint16_t fids[EPASS_PATH_MAX], sw;
	size_t n = path_len / 2;
	CK_RV rv;

	*found = false;
	if (path_len % 2 != 0 || n == 0 || n > EPASS_PATH_MAX)
		return CKR_OK;
	for (size_t i = 0; i < n; i++)
		fids[i] = p15_card_fid((uint16_t)(path[2 * i] << 8 | path[2 * i + 1]));
	rv = epass_read_cached(c->card, c->d, fids, n, 0, EPASS_PROOF_FIRST, out, &sw);
	*found = rv == CKR_OK && sw == SW_OK;
	return rv;
}

static void
p15_set_id_label(CK_RV *rv, struct attr_list *l, const struct p15_common *c,
                 const uint8_t *id, size_t id_len)
{
	acc(rv, attr_set_string(l, CKA_LABEL, c->label));
	acc(rv, attr_set(l, CKA_ID, id, id_len));
}

/* A public key from a PKCS#15 public key file: RSAPublicKey (PKCS#1,
 * what OpenSC writes for RSA) or SubjectPublicKeyInfo (what it writes for
 * EC, and others for RSA). */
static EVP_PKEY *
p15_pub_from(const struct buf *b)
{
	const unsigned char *p = b->data;
	EVP_PKEY *k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)b->len);

	if (k == NULL) {
		p = b->data;
		k = d2i_PUBKEY(NULL, &p, (long)b->len);
		if (k != NULL && !epass_pub_usable(k)) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	return k;
}

static CK_RV
epass_load_pkcs15(struct card *card, struct epass_data *d, struct drv_objects *out)
{
	static const uint8_t app[] = { 0x3F, 0x00, 0x50, 0x15 };
	struct p15_ctx ctx = { card, d };
	struct p15_io io = { p15_read_cb, &ctx };
	struct p15_token *t = NULL;
	EVP_PKEY *cert_pub[P15_MAX_OBJECTS] = { 0 }, *key_pub[P15_MAX_OBJECTS] = { 0 };
	struct key_usage usage;
	struct buf file = BUF_INIT;
	size_t i, j;
	CK_RV rv = CKR_HOST_MEMORY;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto out;
	rv = p15_read(&io, app, sizeof(app), t);
	if (rv != CKR_OK)
		goto out;
	/* PINs: the user PIN is the one that is neither SO nor unblocking. */
	for (i = 0; i < t->pin_count; i++) {
		const struct p15_pin *p = &t->pins[i];
		if (p->reference <= 0 || p->reference > 0x7F)
			continue;
		if (p->flags & (P15_PIN_FLAG_SO | P15_PIN_FLAG_UNBLOCKING))
			d->so_kid = (uint8_t)p->reference;
		else
			d->user_kid = (uint8_t)p->reference;
	}
	/* The token label is the TokenInfo's: C_GetTokenInfo need not read
	 * it again. */
	if (!d->label_read && t->label[0] != '\0') {
		epass_set_label(d, (const uint8_t *)t->label, strlen(t->label));
		d->label_read = true;
	}

	for (i = 0; i < t->cert_count; i++) {
		const struct p15_cert *c = &t->certs[i];
		const unsigned char *p;
		struct drv_object *o;
		bool found;
		X509 *x;

		rv = p15_read_cached(&ctx, c->path.bytes, c->path.len, &file, &found);
		if (rv != CKR_OK)
			goto out;
		p = file.data;
		x = found ? d2i_X509(NULL, &p, (long)file.len) : NULL;
		if (x == NULL) {
			log_debug("epass2003: PKCS#15 certificate %zu unreadable", i);
			continue;
		}
		cert_pub[i] = X509_get_pubkey(x);
		X509_free(x);
		/* The file may be longer than the certificate. */
		o = drv_objects_add(out, EPASS_REF_CERT | (uint32_t)i);
		if (o == NULL) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		p15_set_id_label(&rv, &o->attrs, &c->c, c->id, c->id_len);
		cert_attrs(&rv, &o->attrs, file.data, (size_t)(p - file.data));
		if (rv != CKR_OK)
			goto out;
	}
	for (i = 0; i < t->pubkey_count; i++) {
		const struct p15_key *k = &t->pubkeys[i];
		struct drv_object *o;
		bool found;

		rv = p15_read_cached(&ctx, k->path.bytes, k->path.len, &file, &found);
		if (rv != CKR_OK)
			goto out;
		key_pub[i] = found ? p15_pub_from(&file) : NULL;
		if (key_pub[i] == NULL)
			continue;
		o = drv_objects_add(out, EPASS_REF_PUB | (uint32_t)i);
		if (o == NULL) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		p15_set_id_label(&rv, &o->attrs, &k->c, k->id, k->id_len);
		p15_usage(k->usage, &usage);
		key_attrs(&rv, &o->attrs, false, key_pub[i], &usage);
		if (rv != CKR_OK)
			goto out;
	}
	for (i = 0; i < t->prkey_count; i++) {
		const struct p15_key *k = &t->prkeys[i];
		EVP_PKEY *pub = NULL;
		struct drv_object *o;
		uint16_t handle;

		/* The public numbers: the public key or certificate with the
		 * same CKA_ID (PKCS#15 pairs objects by iD). */
		int want = k->type == P15_KEY_EC ? EVP_PKEY_EC : EVP_PKEY_RSA;
		for (j = 0; pub == NULL && j < t->pubkey_count; j++)
			if (key_pub[j] != NULL && t->pubkeys[j].id_len == k->id_len &&
			    memcmp(t->pubkeys[j].id, k->id, k->id_len) == 0 &&
			    EVP_PKEY_get_base_id(key_pub[j]) == want)
				pub = key_pub[j];
		for (j = 0; pub == NULL && j < t->cert_count; j++)
			if (cert_pub[j] != NULL && t->certs[j].id_len == k->id_len &&
			    memcmp(t->certs[j].id, k->id, k->id_len) == 0 &&
			    EVP_PKEY_get_base_id(cert_pub[j]) == want)
				pub = cert_pub[j];
		if (pub == NULL || k->key_ref < 0 || k->key_ref > 7) {
			log_debug("epass2003: PKCS#15 private key %zu unusable", i);
			continue;
		}
		handle = (uint16_t)EPASS_P15_KEY_FID(k->key_ref);
		rv = key_remember(d, handle, pub);
		if (rv != CKR_OK)
			goto out;
		o = drv_objects_add(out, handle);
		if (o == NULL) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		p15_set_id_label(&rv, &o->attrs, &k->c, k->id, k->id_len);
		p15_usage(k->usage, &usage);
		key_attrs(&rv, &o->attrs, true, pub, &usage);
		if (rv != CKR_OK)
			goto out;
	}
	rv = CKR_OK;
out:
	for (i = 0; i < P15_MAX_OBJECTS; i++) {
		EVP_PKEY_free(cert_pub[i]);
		EVP_PKEY_free(key_pub[i]);
	}
	free(t);
	buf_free(&file);
	return rv;
}

/* A label as CK_TOKEN_INFO takes it: up to 32 bytes, control characters
 * replaced, never cut inside a UTF-8 sequence. */
static void
epass_set_label(struct epass_data *d, const uint8_t *v, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n < sizeof(d->label) - 1; i++)
		d->label[n++] = v[i] < 0x20 || v[i] == 0x7F ? '?' : (char)v[i];
	/* Cut inside a UTF-8 sequence: drop its first bytes too. */
	if (n < len && (v[n] & 0xC0) == 0x80) {
		while (n > 0 && ((uint8_t)d->label[n - 1] & 0xC0) == 0x80)
			n--;
		if (n > 0 && ((uint8_t)d->label[n - 1] & 0xC0) == 0xC0)
			n--;
	}
	d->label[n] = '\0';
}

CK_RV
epass_read_label(struct card *card, struct epass_data *d)
{
	static const uint16_t p15_ti[] = { EPASS_FID_MF, EPASS_FID_PKCS15, P15_FID_TOKENINFO };
	struct espk_index idx = { 0 };
	struct espk_attrs a = { 0 };
	struct p15_token *t = NULL;
	struct buf raw = BUF_INIT;
	uint16_t sw;
	CK_RV rv;

	rv = epass_detect_layout(card, d);
	if (rv != CKR_OK)
		goto out;
	d->label_read = true;
	if (d->layout == EPASS_LAYOUT_VENDOR) {
		const struct espk_attr *l;
		rv = epass_read_index(card, d, &raw, &sw);
		if (rv != CKR_OK || sw != SW_OK || espk_index_parse(raw.data, raw.len, &idx) != 0)
			goto out;
		for (size_t i = 0; i < idx.count; i++) {
			uint16_t path[] = { EPASS_FID_MF, EPASS_FID_ESPK, idx.entries[i].fid };
			if (strcmp(idx.entries[i].name, "tokeninfo") != 0)
				continue;
			rv = epass_read_file(card, d, path, 3, idx.entries[i].used, &raw, &sw);
			if (rv == CKR_OK && sw == SW_OK &&
			    espk_attrs_parse(raw.data, raw.len, &a) == 0 &&
			    (l = espk_attrs_find(&a, CKA_LABEL)) != NULL)
				epass_set_label(d, l->value, l->len);
			break;
		}
	} else if (d->layout == EPASS_LAYOUT_PKCS15) {
		rv = epass_read_file(card, d, p15_ti, 3, 0, &raw, &sw);
		t = calloc(1, sizeof(*t));
		if (rv == CKR_OK && sw == SW_OK && t != NULL &&
		    p15_parse_tokeninfo(raw.data, raw.len, t) == 0)
			epass_set_label(d, (const uint8_t *)t->label, strlen(t->label));
	}
out:
	free(t);
	espk_attrs_free(&a);
	espk_index_free(&idx);
	buf_free(&raw);
	return rv;
}

void
epass_learn_max_tries(struct card *card, struct epass_data *d)
{
	static const uint16_t path[] = { EPASS_FID_MF, EPASS_FID_PKCS15, EPASS_FID_P15_MAXTRIES };
	struct buf file = BUF_INIT;
	uint16_t sw;

	if (d->max_tries_read || d->layout != EPASS_LAYOUT_PKCS15)
		return;
	d->max_tries_read = true;
	if (epass_read_file(card, d, path, 3, 2, &file, &sw) == CKR_OK && sw == SW_OK &&
	    file.len == 2) {
		if (d->user_tries_max < 0 && file.data[0] <= 15)
			d->user_tries_max = file.data[0];
		if (d->so_tries_max < 0 && file.data[1] <= 15)
			d->so_tries_max = file.data[1];
	}
	buf_free(&file);
}

CK_RV
epass_load_objects(struct card *card, struct drv_objects *out)
{
	struct epass_data *d;
	CK_RV rv;

	rv = epass_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	epass_forget_keys(d);
	/* The cache knows this token by its chip serial. */
	if (d->cache == NULL && drv_cache_enabled()) {
		if (d->serial[0] == '\0')
			epass_read_serial(card, d);
		if (d->serial[0] != '\0')
			d->cache = drv_cache_open("epass2003", (const uint8_t *)d->serial,
			                          strlen(d->serial));
	}
	rv = epass_detect_layout(card, d);
	if (rv != CKR_OK)
		goto out;
	if (d->layout == EPASS_LAYOUT_VENDOR)
		rv = epass_load_vendor(card, d, out);
	else if (d->layout == EPASS_LAYOUT_PKCS15)
		rv = epass_load_pkcs15(card, d, out);
	drv_cache_flush(d->cache);
out:
	return rv;
}
