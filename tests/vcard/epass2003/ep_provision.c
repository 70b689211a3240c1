/* What a new virtual ePass2003 holds.
 *
 * factory (no --provision): an empty MF, as a token fresh from
 * `pkcs15-init --erase-card` followed by nothing.
 *
 * pkcs15: the tree OpenSC's pkcs15-init leaves with epass2003.profile
 * (3F00/5015 with 9F00 max tries, ODF 5031, TokenInfo 5032, AODF 4401,
 * PrKDF 4402, PuKDF 4403, CDF 4404, key files 2920/3020/3120 that OpenSC
 * names 2901/3001/3101 through its FID hook), user PIN 12345678 (ref 1),
 * SO PIN 87654321 (ref 2), 6 tries each, an RSA-2048 key and a
 * certificate from a demo CA. The PKCS#15 DER is built here with
 * OpenSSL's DER header writer (ASN1_put_object).
 *
 * vendor: Feitian's ENTERSAFE-ESPK personalisation (OpenSC #3834, #3835):
 * 3F00/2003 named ENTERSAFE-ESPK, the index EF 6F01 of 30-byte records,
 * files holding raw PKCS#11 attribute streams, key EFs A0xx/80xx, as a
 * Vietnamese CA ships a signing key and an encryption key.
 *
 * The demo CA's private key is thrown away; its certificate goes to
 * <state file>.ca.pem. */
#include "ep_card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CERT_DAYS	(5 * 365)
#define USER_PIN	"12345678"
#define SO_PIN		"87654321"

/* ATRs: an OpenSC-initialised 2012 token and a Feitian-personalised one
 * (card-epass2003.c comment from OpenSC #2572; OpenSC #3834). */
static const uint8_t atr_pkcs15[] = {
	0x3B, 0x9F, 0x95, 0x81, 0x31, 0xFE, 0x9F, 0x00, 0x66, 0x46, 0x53,
	0x05, 0x01, 0x00, 0x11, 0x71, 0xDF, 0x00, 0x00, 0x03, 0x90, 0x00,
	0x80,
};
static const uint8_t atr_vendor[] = {
	0x3B, 0x9F, 0x95, 0x81, 0x31, 0xFE, 0x9F, 0x00, 0x66, 0x46, 0x53,
	0x05, 0x01, 0x00, 0x11, 0x71, 0xDF, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x13,
};

static const uint8_t acl_df[8] = { 0x90, 0x90, 0xFF, 0x96, 0xFF, 0xFF, 0xFF, 0xFF };
static const uint8_t acl_mf[8] = { 0x90, 0x90, 0xFF, 0x9F, 0xFF, 0xFF, 0xFF, 0xFF };
static const uint8_t acl_ef[8] = { 0x90, 0x96, 0xFF, 0x96, 0xFF, 0xFF, 0xFF, 0xFF };
static const uint8_t acl_free[8] = { 0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF };
static const uint8_t acl_prv[8] = { 0xFF, 0x96, 0x96, 0x96, 0xFF, 0xFF, 0xFF, 0xFF };
static const uint8_t acl_pub[8] = { 0x90, 0x96, 0x90, 0x96, 0xFF, 0xFF, 0xFF, 0xFF };

/* ---- DER, with OpenSSL writing every header ---- */

static int
der(struct buf *out, int xclass, bool cons, int tag, const void *v,
    size_t len)
{
	int total;
	unsigned char *p;

	if (len > 0xFFFF)
		return -1;
	total = ASN1_object_size(cons ? 1 : 0, (int)len, tag);
	if (total < 0 || buf_reserve(out, (size_t)total) != 0)
		return -1;
	p = out->data + out->len;
	ASN1_put_object(&p, cons ? 1 : 0, (int)len, tag, xclass);
	if (len > 0)
		memcpy(p, v, len);
	out->len += (size_t)total;
	return 0;
}

/* `inner` wrapped in a constructed tag, then freed. */
static int
der_wrap(struct buf *out, int xclass, int tag, struct buf *inner)
{
	int rc = der(out, xclass, true, tag, inner->data, inner->len);
	buf_free(inner);
	return rc;
}

static int
der_seq(struct buf *out, struct buf *inner)
{
	return der_wrap(out, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, inner);
}

static int
der_int(struct buf *out, long v)
{
	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	unsigned char *enc = NULL;
	int n = -1, rc = -1;

	if (ai != NULL && ASN1_INTEGER_set(ai, v) == 1)
		n = i2d_ASN1_INTEGER(ai, &enc);
	if (n > 0)
		rc = buf_append(out, enc, (size_t)n);
	OPENSSL_free(enc);
	ASN1_INTEGER_free(ai);
	return rc;
}

static int
der_octets(struct buf *out, const void *v, size_t len)
{
	return der(out, V_ASN1_UNIVERSAL, false, V_ASN1_OCTET_STRING, v, len);
}

static int
der_utf8(struct buf *out, const char *s)
{
	return der(out, V_ASN1_UNIVERSAL, false, V_ASN1_UTF8STRING, s,
	           strlen(s));
}

/* A BIT STRING of one byte, named bits counted from its top bit. */
static int
der_bits(struct buf *out, uint8_t bits)
{
	uint8_t v[2];
	int unused = 0;

	while (unused < 8 && !(bits & (1u << unused)))
		unused++;
	v[0] = (uint8_t)(unused == 8 ? 0 : unused);
	v[1] = bits;
	return der(out, V_ASN1_UNIVERSAL, false, V_ASN1_BIT_STRING, v,
	           bits ? 2 : 1);
}

/* PKCS#15 Path ::= SEQUENCE { path OCTET STRING } */
static int
p15_path(struct buf *out, const uint8_t *path, size_t len)
{
	struct buf in = BUF_INIT;

	if (der_octets(&in, path, len) != 0) {
		buf_free(&in);
		return -1;
	}
	return der_seq(out, &in);
}

/* CommonObjectAttributes: label, flags (private 0x80, modifiable 0x40),
 * authId. */
static int
p15_common(struct buf *out, const char *label, uint8_t flags, int auth_id)
{
	struct buf in = BUF_INIT;
	uint8_t id = (uint8_t)auth_id;

	if (der_utf8(&in, label) != 0 ||
	    (flags != 0 && der_bits(&in, flags) != 0) ||
	    (auth_id > 0 && der_octets(&in, &id, 1) != 0)) {
		buf_free(&in);
		return -1;
	}
	return der_seq(out, &in);
}

/* An AODF PIN object (PKCS#15 v1.1, 6.8.3). */
static int
p15_pin(struct buf *out, const char *label, uint8_t auth_id, uint8_t ref,
        bool so)
{
	struct buf obj = BUF_INIT, a = BUF_INIT, attrs = BUF_INIT,
	           seq = BUF_INIT;
	static const uint8_t df[] = { 0x3F, 0x00, 0x50, 0x15 };
	uint8_t pad = 0x00;
	int rc = -1;

	/* pinFlags: local(1), initialized(4), needs-padding(5) [, soPin(7)];
	 * pinType ascii-numeric; lengths 4..16, stored padded to 16. */
	if (p15_common(&obj, label, 0xC0, 0) != 0 ||
	    der_octets(&a, &auth_id, 1) != 0 || der_seq(&obj, &a) != 0 ||
	    der_bits(&attrs, (uint8_t)(so ? 0x4D : 0x4C)) != 0 ||
	    der(&attrs, V_ASN1_UNIVERSAL, false, V_ASN1_ENUMERATED,
	        "\x01", 1) != 0 ||
	    der_int(&attrs, 4) != 0 || der_int(&attrs, 16) != 0 ||
	    der_int(&attrs, 16) != 0 ||
	    der(&attrs, V_ASN1_CONTEXT_SPECIFIC, false, 0, &ref, 1) != 0 ||
	    der_octets(&attrs, &pad, 1) != 0 ||
	    p15_path(&attrs, df, sizeof df) != 0 ||
	    der_seq(&seq, &attrs) != 0 ||
	    der_wrap(&obj, V_ASN1_CONTEXT_SPECIFIC, 1, &seq) != 0)
		goto out;
	rc = der_seq(out, &obj);
out:
	buf_free(&obj);
	buf_free(&a);
	buf_free(&attrs);
	buf_free(&seq);
	return rc;
}

/* PrKDF / PuKDF entry for an RSA key, or a CDF entry (bits == 0). */
static int
p15_key(struct buf *out, const char *label, bool private_key, const uint8_t id[20],
        uint8_t usage, int key_ref, const uint8_t *path, size_t path_len,
        unsigned bits)
{
	struct buf obj = BUF_INIT, cka = BUF_INIT, ta = BUF_INIT,
	           seq = BUF_INIT;
	int rc = -1;

	if (p15_common(&obj, label, private_key ? 0xC0 : 0,
	               private_key ? 1 : 0) != 0 ||
	    der_octets(&cka, id, 20) != 0)
		goto out;
	if (usage != 0 && der_bits(&cka, usage) != 0)
		goto out;
	/* accessFlags: sensitive, alwaysSensitive, neverExtractable, local */
	if (private_key && der_bits(&cka, 0xB8) != 0)
		goto out;
	if (key_ref >= 0 && der_int(&cka, key_ref) != 0)
		goto out;
	if (der_seq(&obj, &cka) != 0 || p15_path(&ta, path, path_len) != 0 ||
	    (bits > 0 && der_int(&ta, (long)bits) != 0) ||
	    der_seq(&seq, &ta) != 0 ||
	    der_wrap(&obj, V_ASN1_CONTEXT_SPECIFIC, 1, &seq) != 0)
		goto out;
	rc = der_seq(out, &obj);
out:
	buf_free(&obj);
	buf_free(&cka);
	buf_free(&ta);
	buf_free(&seq);
	return rc;
}

/* ---- keys and certificates ---- */

static int
rsa_modulus(EVP_PKEY *key, struct buf *out)
{
	BIGNUM *n = NULL;
	int len = EVP_PKEY_get_size(key), rc = -1;

	buf_clear(out);
	if (len <= 0 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    buf_reserve(out, (size_t)len) != 0 ||
	    BN_bn2binpad(n, out->data, len) != len)
		goto out;
	out->len = (size_t)len;
	rc = 0;
out:
	BN_free(n);
	return rc;
}

/* CKA_ID: SHA-1 of the modulus, as pkcs15-init's native ids and the
 * vendor middleware both do. */
static int
key_id(EVP_PKEY *key, uint8_t id[20])
{
	struct buf m = BUF_INIT;
	int rc = -1;

	if (rsa_modulus(key, &m) == 0 && SHA1(m.data, m.len, id) != NULL)
		rc = 0;
	buf_free(&m);
	return rc;
}

static int
name_add(X509_NAME *name, const char *field, const char *value)
{
	return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
	                                  (const unsigned char *)value, -1,
	                                  -1, 0) == 1 ? 0 : -1;
}

static int
cert_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int rc;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

/* A certificate for `key`, signed by `ca_key` (self-signed when
 * ca_cert is NULL). `subject` is a list of field=value pairs. */
static X509 *
cert_make(EVP_PKEY *key, const char *const *subject, X509 *ca_cert,
          EVP_PKEY *ca_key, const char *key_usage, const char *ext_usage)
{
	X509 *x = X509_new();
	uint8_t rnd[16];
	BIGNUM *bn = NULL;
	bool ok = false;

	if (x == NULL || X509_set_version(x, 2) != 1 ||
	    RAND_bytes(rnd, sizeof rnd) != 1)
		goto out;
	rnd[0] = (uint8_t)((rnd[0] & 0x7F) | 0x01);	/* RFC 5280 4.1.2.2 */
	bn = BN_bin2bn(rnd, sizeof rnd, NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	for (size_t i = 0; subject[i] != NULL; i += 2)
		if (name_add(X509_get_subject_name(x), subject[i],
		             subject[i + 1]) != 0)
			goto out;
	if (X509_set_issuer_name(x, ca_cert ? X509_get_subject_name(ca_cert)
	                                    : X509_get_subject_name(x)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto out;
	if (ca_cert == NULL) {
		if (cert_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
		    cert_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
		    cert_ext(x, x, NID_subject_key_identifier, "hash") != 0)
			goto out;
	} else {
		if (cert_ext(x, ca_cert, NID_basic_constraints, "CA:FALSE") != 0 ||
		    cert_ext(x, ca_cert, NID_key_usage, key_usage) != 0 ||
		    (ext_usage != NULL &&
		     cert_ext(x, ca_cert, NID_ext_key_usage, ext_usage) != 0) ||
		    cert_ext(x, ca_cert, NID_subject_key_identifier, "hash") != 0 ||
		    cert_ext(x, ca_cert, NID_authority_key_identifier,
		             "keyid") != 0)
			goto out;
	}
	if (X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) <= 0)
		goto out;
	ok = true;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

struct demo_ca {
	EVP_PKEY *key;
	X509 *cert;
};

static int
ca_make(struct demo_ca *ca, const char *state_file)
{
	static const char *const subject[] = {
		"C", "VN", "O", "kyso test", "CN", "kyso demo CA (VN)", NULL,
	};
	char *path = NULL;
	FILE *fp = NULL;
	int rc = -1;

	ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (ca->key == NULL)
		goto out;
	ca->cert = cert_make(ca->key, subject, NULL, NULL, NULL, NULL);
	if (ca->cert == NULL)
		goto out;
	if (state_file != NULL) {
		if (asprintf(&path, "%s.ca.pem", state_file) < 0) {
			path = NULL;
			goto out;
		}
		fp = fopen(path, "we");
		if (fp == NULL || PEM_write_X509(fp, ca->cert) != 1)
			goto out;
	}
	rc = 0;
out:
	if (fp != NULL && fclose(fp) != 0)
		rc = -1;
	free(path);
	return rc;
}

static void
ca_free(struct demo_ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
}

static int
cert_der(X509 *x, struct buf *out)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der), rc = -1;

	if (n > 0)
		rc = buf_set(out, der, (size_t)n);
	OPENSSL_free(der);
	return rc;
}

/* ---- files ---- */

static struct ep_file *
mk_file(struct ep_file *parent, uint16_t fid, uint8_t type,
        const uint8_t acl[8], const void *data, size_t len, size_t size)
{
	struct ep_file *f = ep_file_new(parent, fid, type, acl);

	if (f == NULL)
		return NULL;
	if (size < len)
		size = len;
	if (type == EP_FT_EF) {
		if (buf_reserve(&f->data, size) != 0)
			return NULL;
		if (size > 0)
			memset(f->data.data, 0, size);
		if (len > 0)
			memcpy(f->data.data, data, len);
		f->data.len = size;
	}
	return f;
}

static int
mk_key(struct ep_file *df, uint16_t prv_fid, uint16_t pub_fid, EVP_PKEY *key)
{
	struct ep_file *prv = mk_file(df, prv_fid, EP_FT_PRV, acl_prv, NULL, 0, 0);
	struct ep_file *pub = pub_fid != 0
	                      ? mk_file(df, pub_fid, EP_FT_PUB, acl_pub, NULL, 0, 0)
	                      : NULL;

	if (prv == NULL || (pub_fid != 0 && pub == NULL))
		return -1;
	if (EVP_PKEY_up_ref(key) != 1)
		return -1;
	prv->key = key;
	prv->key_bits = (unsigned)EVP_PKEY_get_bits(key);
	if (pub != NULL) {
		if (EVP_PKEY_up_ref(key) != 1)
			return -1;
		pub->key = key;
		pub->key_bits = prv->key_bits;
	}
	return 0;
}

static int
add_pin(struct ep_card *c, size_t slot, uint8_t kid, const char *pin,
        uint8_t modify_ac, uint8_t level, uint8_t tries)
{
	struct ep_secret *s = &c->secrets[slot];

	s->used = true;
	s->type = 0x04;
	s->kid = kid;
	s->use_ac = EP_AC_FREE;
	s->modify_ac = modify_ac;
	s->level = level;
	s->max_tries = s->tries_left = tries;
	s->value_len = 24;
	return ep_secret_hash((const uint8_t *)pin, strlen(pin), s->value);
}

static int
mk_mf(struct ep_card *c, const uint8_t *atr, size_t atr_len)
{
	memcpy(c->atr, atr, atr_len);
	c->atr_len = atr_len;
	if (RAND_bytes(c->serial, sizeof c->serial) != 1)
		return -1;
	c->mf = mk_file(NULL, 0x3F00, EP_FT_DF, acl_mf, NULL, 0, 0);
	return c->mf != NULL ? 0 : -1;
}

static int
provision_pkcs15(struct ep_card *c, const char *state_file)
{
	static const char *const subject[] = {
		"C", "VN", "O", "kyso test", "CN", "kyso ePass2003 PKCS15",
		NULL,
	};
	static const uint8_t aid[] = {
		0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D,
		0x31, 0x35,
	};
	static const char mf_name[] = "entersafe-fips";
	static const uint8_t max_tries[2] = { 6, 6 };
	uint8_t p_aodf[] = { 0x3F, 0x00, 0x50, 0x15, 0x44, 0x01 };
	uint8_t p_prkdf[] = { 0x3F, 0x00, 0x50, 0x15, 0x44, 0x02 };
	uint8_t p_pukdf[] = { 0x3F, 0x00, 0x50, 0x15, 0x44, 0x03 };
	uint8_t p_cdf[] = { 0x3F, 0x00, 0x50, 0x15, 0x44, 0x04 };
	/* As the PKCS#15 objects name them: OpenSC turns 2901 into 2920. */
	uint8_t p_prv[] = { 0x3F, 0x00, 0x50, 0x15, 0x29, 0x01 };
	uint8_t p_pub[] = { 0x3F, 0x00, 0x50, 0x15, 0x30, 0x01 };
	uint8_t p_crt[] = { 0x3F, 0x00, 0x50, 0x15, 0x31, 0x01 };
	struct demo_ca ca = { NULL, NULL };
	struct buf odf = BUF_INIT, ti = BUF_INIT, aodf = BUF_INIT,
	           prkdf = BUF_INIT, pukdf = BUF_INIT, cdf = BUF_INIT,
	           tmp = BUF_INIT, crt = BUF_INIT;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	unsigned char *pub = NULL;
	int pub_len, rc = -1;
	struct ep_file *app;
	uint8_t id[20];
	unsigned bits;

	if (mk_mf(c, atr_pkcs15, sizeof atr_pkcs15) != 0)
		goto out;
	memcpy(c->mf->name, mf_name, strlen(mf_name));
	c->mf->name_len = strlen(mf_name);
	if (add_pin(c, 0, EP_USER_PIN, USER_PIN, EP_AC_PIN, EP_AC_USER, 6) != 0 ||
	    add_pin(c, 1, EP_SO_PIN, SO_PIN, EP_AC_EQUAL | EP_AC_SO, EP_AC_SO,
	            6) != 0)
		goto out;
	if (ca_make(&ca, state_file) != 0)
		goto out;
	key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (key == NULL || key_id(key, id) != 0)
		goto out;
	bits = (unsigned)EVP_PKEY_get_bits(key);
	x = cert_make(key, subject, ca.cert, ca.key,
	              "critical,digitalSignature,nonRepudiation,keyEncipherment",
	              "clientAuth,emailProtection");
	if (x == NULL || cert_der(x, &crt) != 0)
		goto out;
	pub_len = i2d_PublicKey(key, &pub);	/* PKCS#1 RSAPublicKey */
	if (pub_len <= 0)
		goto out;

	/* ODF: AODF [8], PrKDF [0], PuKDF [1], CDF [4]. */
	if (p15_path(&tmp, p_aodf, sizeof p_aodf) != 0 ||
	    der_wrap(&odf, V_ASN1_CONTEXT_SPECIFIC, 8, &tmp) != 0 ||
	    p15_path(&tmp, p_prkdf, sizeof p_prkdf) != 0 ||
	    der_wrap(&odf, V_ASN1_CONTEXT_SPECIFIC, 0, &tmp) != 0 ||
	    p15_path(&tmp, p_pukdf, sizeof p_pukdf) != 0 ||
	    der_wrap(&odf, V_ASN1_CONTEXT_SPECIFIC, 1, &tmp) != 0 ||
	    p15_path(&tmp, p_cdf, sizeof p_cdf) != 0 ||
	    der_wrap(&odf, V_ASN1_CONTEXT_SPECIFIC, 4, &tmp) != 0)
		goto out;
	/* TokenInfo: v1, serial, manufacturer, label, loginRequired|prn. */
	if (der_int(&tmp, 0) != 0 ||
	    der_octets(&tmp, c->serial, sizeof c->serial) != 0 ||
	    der_utf8(&tmp, "EnterSafe") != 0 ||
	    der(&tmp, V_ASN1_CONTEXT_SPECIFIC, false, 0, "kyso ePass2003",
	        14) != 0 ||
	    der_bits(&tmp, 0x60) != 0 || der_seq(&ti, &tmp) != 0)
		goto out;
	if (p15_pin(&aodf, "User PIN", 0x01, EP_USER_PIN, false) != 0 ||
	    p15_pin(&aodf, "Security Officer PIN", 0x02, EP_SO_PIN, true) != 0)
		goto out;
	/* usage: decrypt, sign, signRecover, unwrap / encrypt, wrap,
	 * verify, verifyRecover. */
	if (p15_key(&prkdf, "Private Key", true, id, 0x74, 1, p_prv,
	            sizeof p_prv, bits) != 0 ||
	    p15_key(&pukdf, "Public Key", false, id, 0x8B, -1, p_pub,
	            sizeof p_pub, bits) != 0 ||
	    p15_key(&cdf, "Certificate", false, id, 0, -1, p_crt,
	            sizeof p_crt, 0) != 0)
		goto out;

	app = mk_file(c->mf, 0x5015, EP_FT_DF, acl_df, NULL, 0, 0);
	if (app == NULL)
		goto out;
	memcpy(app->name, aid, sizeof aid);
	app->name_len = sizeof aid;
	if (mk_file(app, 0x9F00, EP_FT_EF, acl_free, max_tries, 2, 2) == NULL ||
	    mk_file(app, 0x5031, EP_FT_EF, acl_ef, odf.data, odf.len, 256) == NULL ||
	    mk_file(app, 0x5032, EP_FT_EF, acl_ef, ti.data, ti.len, 128) == NULL ||
	    mk_file(app, 0x5033, EP_FT_EF, acl_ef, NULL, 0, 128) == NULL ||
	    mk_file(app, 0x4401, EP_FT_EF, acl_ef, aodf.data, aodf.len, 256) == NULL ||
	    mk_file(app, 0x4402, EP_FT_EF, acl_ef, prkdf.data, prkdf.len, 256) == NULL ||
	    mk_file(app, 0x4403, EP_FT_EF, acl_ef, pukdf.data, pukdf.len, 256) == NULL ||
	    mk_file(app, 0x4404, EP_FT_EF, acl_ef, cdf.data, cdf.len, 512) == NULL ||
	    mk_file(app, 0x4405, EP_FT_EF, acl_ef, NULL, 0, 256) == NULL ||
	    mk_key(app, 0x2920, 0, key) != 0 ||
	    mk_file(app, 0x3020, EP_FT_EF, acl_ef, pub, (size_t)pub_len,
	            (size_t)pub_len) == NULL ||
	    mk_file(app, 0x3120, EP_FT_EF, acl_ef, crt.data, crt.len,
	            crt.len) == NULL)
		goto out;
	rc = 0;
out:
	OPENSSL_free(pub);
	EVP_PKEY_free(key);
	X509_free(x);
	ca_free(&ca);
	buf_free(&odf);
	buf_free(&ti);
	buf_free(&aodf);
	buf_free(&prkdf);
	buf_free(&pukdf);
	buf_free(&cdf);
	buf_free(&tmp);
	buf_free(&crt);
	return rc;
}

/* ---- the vendor (ENTERSAFE-ESPK) layout ---- */

/* PKCS#11 attribute types (PKCS#11 v2.40, 4.x), as the vendor streams
 * carry them. */
enum {
	A_CLASS = 0x000, A_TOKEN = 0x001, A_PRIVATE = 0x002, A_LABEL = 0x003,
	A_VALUE = 0x011, A_CERT_TYPE = 0x080, A_ISSUER = 0x081,
	A_SERIAL = 0x082, A_KEY_TYPE = 0x100, A_SUBJECT = 0x101, A_ID = 0x102,
	A_SENSITIVE = 0x103, A_ENCRYPT = 0x104, A_DECRYPT = 0x105,
	A_WRAP = 0x106, A_UNWRAP = 0x107, A_SIGN = 0x108, A_VERIFY = 0x10A,
	A_MODULUS = 0x120, A_MODULUS_BITS = 0x121, A_PUB_EXP = 0x122,
	A_EXTRACTABLE = 0x162, A_VENDOR_HANDLE = 0x80000100,
};

static int
le32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	                 (uint8_t)(v >> 24) };
	return buf_append(b, x, 4);
}

static int
attr(struct buf *b, uint32_t type, const void *v, size_t len)
{
	if (le32(b, type) != 0 || le32(b, (uint32_t)len) != 0)
		return -1;
	return len > 0 ? buf_append(b, v, len) : 0;
}

static int
attr_ulong(struct buf *b, uint32_t type, uint32_t v)
{
	if (le32(b, type) != 0 || le32(b, 4) != 0)
		return -1;
	return le32(b, v);
}

static int
attr_bool(struct buf *b, uint32_t type, bool v)
{
	uint8_t x = v ? 1 : 0;
	return attr(b, type, &x, 1);
}

static int
attr_name(struct buf *b, uint32_t type, const X509_NAME *name)
{
	unsigned char *der = NULL;
	int n = i2d_X509_NAME(name, &der), rc = -1;

	if (n > 0)
		rc = attr(b, type, der, (size_t)n);
	OPENSSL_free(der);
	return rc;
}

struct vendor_key {
	const char *cert_label;		/* CKA_LABEL of the certificate */
	const char *container;		/* CKA_LABEL of the keys */
	uint16_t prv, pub;		/* vendor handles = key EF FIDs */
	const char *key_usage, *ext_usage;
	bool sign;
};

static int
vendor_objects(struct buf *crt, struct buf *pubk, struct buf *prvk,
               const struct vendor_key *vk, EVP_PKEY *key, X509 *x)
{
	static const uint8_t e[] = { 0x01, 0x00, 0x01 };
	struct buf mod = BUF_INIT, der = BUF_INIT;
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	unsigned char *snd = NULL;
	int snl = i2d_ASN1_INTEGER(sn, &snd), rc = -1;
	uint8_t id[20];

	if (snl <= 0 || rsa_modulus(key, &mod) != 0 || key_id(key, id) != 0 ||
	    cert_der(x, &der) != 0)
		goto out;
	if (attr_ulong(crt, A_CLASS, 1) != 0 ||		/* CKO_CERTIFICATE */
	    attr_bool(crt, A_TOKEN, true) != 0 ||
	    attr_bool(crt, A_PRIVATE, false) != 0 ||
	    attr(crt, A_LABEL, vk->cert_label, strlen(vk->cert_label)) != 0 ||
	    attr_ulong(crt, A_CERT_TYPE, 0) != 0 ||	/* CKC_X_509 */
	    attr(crt, A_ID, id, sizeof id) != 0 ||
	    attr_name(crt, A_SUBJECT, X509_get_subject_name(x)) != 0 ||
	    attr_name(crt, A_ISSUER, X509_get_issuer_name(x)) != 0 ||
	    attr(crt, A_SERIAL, snd, (size_t)snl) != 0 ||
	    attr(crt, A_VALUE, der.data, der.len) != 0)
		goto out;
	if (attr_ulong(pubk, A_CLASS, 2) != 0 ||	/* CKO_PUBLIC_KEY */
	    attr_ulong(pubk, A_KEY_TYPE, 0) != 0 ||	/* CKK_RSA */
	    attr_bool(pubk, A_TOKEN, true) != 0 ||
	    attr_bool(pubk, A_PRIVATE, false) != 0 ||
	    attr(pubk, A_LABEL, vk->container, strlen(vk->container)) != 0 ||
	    attr(pubk, A_ID, id, sizeof id) != 0 ||
	    attr_bool(pubk, A_ENCRYPT, !vk->sign) != 0 ||
	    attr_bool(pubk, A_WRAP, !vk->sign) != 0 ||
	    attr_bool(pubk, A_VERIFY, true) != 0 ||
	    attr(pubk, A_MODULUS, mod.data, mod.len) != 0 ||
	    attr_ulong(pubk, A_MODULUS_BITS, (uint32_t)mod.len * 8) != 0 ||
	    attr(pubk, A_PUB_EXP, e, sizeof e) != 0 ||
	    attr_ulong(pubk, A_VENDOR_HANDLE, vk->pub) != 0)
		goto out;
	if (attr_ulong(prvk, A_CLASS, 3) != 0 ||	/* CKO_PRIVATE_KEY */
	    attr_ulong(prvk, A_KEY_TYPE, 0) != 0 ||
	    attr_bool(prvk, A_TOKEN, true) != 0 ||
	    attr_bool(prvk, A_PRIVATE, true) != 0 ||
	    attr(prvk, A_LABEL, vk->container, strlen(vk->container)) != 0 ||
	    attr(prvk, A_ID, id, sizeof id) != 0 ||
	    attr_bool(prvk, A_SENSITIVE, true) != 0 ||
	    attr_bool(prvk, A_DECRYPT, true) != 0 ||
	    attr_bool(prvk, A_UNWRAP, !vk->sign) != 0 ||
	    attr_bool(prvk, A_SIGN, true) != 0 ||
	    attr_bool(prvk, A_EXTRACTABLE, false) != 0 ||
	    attr(prvk, A_MODULUS, mod.data, mod.len) != 0 ||
	    attr(prvk, A_PUB_EXP, e, sizeof e) != 0 ||
	    attr_ulong(prvk, A_VENDOR_HANDLE, vk->prv) != 0)
		goto out;
	rc = 0;
out:
	OPENSSL_free(snd);
	buf_free(&mod);
	buf_free(&der);
	return rc;
}

/* One 30-byte record of EF 6F01: FID (LE), directory[10], name[13], ACL,
 * used size (LE), allocated size (LE). */
static int
index_rec(struct buf *idx, uint16_t fid, const char *dir, const char *name,
          size_t used)
{
	uint8_t r[30];

	memset(r, 0, sizeof r);
	r[0] = (uint8_t)fid;
	r[1] = (uint8_t)(fid >> 8);
	strncpy((char *)r + 2, dir, 10);
	strncpy((char *)r + 12, name, 13);
	r[25] = 0x00;			/* readable by everyone */
	r[26] = (uint8_t)used;
	r[27] = (uint8_t)(used >> 8);
	r[28] = (uint8_t)used;
	r[29] = (uint8_t)(used >> 8);
	return buf_append(idx, r, sizeof r);
}

static int
vendor_file(struct ep_file *df, struct buf *idx, uint16_t fid,
            const char *dir, const char *name, const struct buf *data)
{
	if (mk_file(df, fid, EP_FT_EF, acl_ef, data->data, data->len,
	            data->len) == NULL)
		return -1;
	return index_rec(idx, fid, dir, name, data->len);
}

/* Microsoft minidriver CONTAINER_MAP_RECORD: wszGuid[40] (UTF-16LE),
 * bFlags (1 valid, 2 default), bReserved, wSigKeySizeBits,
 * wKeyExchangeKeySizeBits. */
static int
cmap_rec(struct buf *b, const char *guid, uint8_t flags, bool sign)
{
	uint8_t r[86];

	memset(r, 0, sizeof r);
	for (size_t i = 0; guid[i] != '\0' && i < 39; i++)
		r[2 * i] = (uint8_t)guid[i];
	r[80] = flags;
	if (sign) {
		r[82] = 0x00;
		r[83] = 0x08;		/* 2048 */
	} else {
		r[84] = 0x00;
		r[85] = 0x08;
	}
	return buf_append(b, r, sizeof r);
}

static int
provision_vendor(struct ep_card *c, const char *state_file)
{
	static const char *const subject[] = {
		"C", "VN", "ST", "HÀ NỘI", "L", "Cầu Giấy",
		"CN", "NGUYỄN VĂN AN", "UID", "CMND:012345678", NULL,
	};
	static const struct vendor_key keys[2] = {
		{ "NGUYỄN VĂN AN", "te-6d1f0b2a-3c47-4e8a-9b51-7a0c2e4f9d13",
		  0xA020, 0x8020,
		  "critical,digitalSignature,nonRepudiation",
		  "clientAuth,emailProtection", true },
		{ "NGUYỄN VĂN AN (mã hóa)", "te-2b9e4c70-81d5-4f36-a0e2-5c3d7b1f8a64",
		  0xA040, 0x8040,
		  "critical,keyEncipherment,dataEncipherment",
		  "emailProtection", false },
	};
	static const char espk[] = "ENTERSAFE-ESPK";
	struct demo_ca ca = { NULL, NULL };
	struct buf idx = BUF_INIT, b = BUF_INIT, cmap = BUF_INIT,
	           cm = BUF_INIT;
	struct ep_file *df;
	uint8_t guid[16];
	int rc = -1;

	if (mk_mf(c, atr_vendor, sizeof atr_vendor) != 0)
		goto out;
	/* Feitian's middleware: user PIN 1, SO PIN 2; 10 tries (not
	 * documented anywhere public: the card's own counter decides). */
	if (add_pin(c, 0, EP_USER_PIN, USER_PIN, EP_AC_PIN, EP_AC_USER, 10) != 0 ||
	    add_pin(c, 1, EP_SO_PIN, SO_PIN, EP_AC_EQUAL | EP_AC_SO, EP_AC_SO,
	            10) != 0)
		goto out;
	if (ca_make(&ca, state_file) != 0)
		goto out;
	df = mk_file(c->mf, 0x2003, EP_FT_DF, acl_df, NULL, 0, 0);
	if (df == NULL)
		goto out;
	memcpy(df->name, espk, strlen(espk));
	df->name_len = strlen(espk);

	if (index_rec(&idx, 0xFFFF, "internal", "", 0) != 0)
		goto out;
	if (attr(&b, A_LABEL, "VNPT-CA", 7) != 0 ||
	    attr(&b, 0x80000001, "ePass2003", 9) != 0 ||
	    vendor_file(df, &idx, 0x6F02, "internal", "tokeninfo", &b) != 0)
		goto out;
	buf_clear(&b);
	if (RAND_bytes(guid, sizeof guid) != 1 ||
	    attr(&b, A_VALUE, guid, sizeof guid) != 0 ||
	    vendor_file(df, &idx, 0x6F03, "internal", "cardid", &b) != 0)
		goto out;
	/* containermap: a 32-byte header (record count), then 24-byte
	 * records: private handle, public handle (u32 LE), zeros. */
	buf_clear(&cm);
	if (le32(&cm, 2) != 0)
		goto out;
	while (cm.len < 32)
		if (buf_append_byte(&cm, 0) != 0)
			goto out;
	for (size_t i = 0; i < 2; i++) {
		if (le32(&cm, keys[i].prv) != 0 || le32(&cm, keys[i].pub) != 0)
			goto out;
		for (int z = 0; z < 16; z++)
			if (buf_append_byte(&cm, 0) != 0)
				goto out;
	}
	if (vendor_file(df, &idx, 0x6F04, "internal", "containermap", &cm) != 0)
		goto out;
	if (cmap_rec(&cmap, keys[0].container, 0x03, true) != 0 ||
	    cmap_rec(&cmap, keys[1].container, 0x01, false) != 0 ||
	    index_rec(&idx, 0xFFFF, "mscp", "", 0) != 0 ||
	    vendor_file(df, &idx, 0x6F05, "mscp", "cmapfile", &cmap) != 0 ||
	    index_rec(&idx, 0xFFFF, "pkcs11", "", 0) != 0)
		goto out;

	for (size_t i = 0; i < 2; i++) {
		struct buf crt = BUF_INIT, pubk = BUF_INIT, prvk = BUF_INIT;
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		                                  (size_t)2048);
		X509 *x = key ? cert_make(key, subject, ca.cert, ca.key,
		                          keys[i].key_usage,
		                          keys[i].ext_usage) : NULL;
		char name[14];
		uint16_t fid = (uint16_t)(0x6F10 + 3 * i);
		int bad = x == NULL ||
		          vendor_objects(&crt, &pubk, &prvk, &keys[i], key, x) != 0 ||
		          mk_key(df, keys[i].prv, keys[i].pub, key) != 0;

		if (!bad) {
			snprintf(name, sizeof name, "cert%04zu", i + 1);
			bad = vendor_file(df, &idx, fid, "pkcs11", name, &crt) != 0;
		}
		if (!bad) {
			snprintf(name, sizeof name, "pubk%04zu", i + 1);
			bad = vendor_file(df, &idx, (uint16_t)(fid + 1), "pkcs11",
			                  name, &pubk) != 0;
		}
		if (!bad) {
			snprintf(name, sizeof name, "prvk%04zu", i + 1);
			bad = vendor_file(df, &idx, (uint16_t)(fid + 2), "pkcs11",
			                  name, &prvk) != 0;
		}
		buf_free(&crt);
		buf_free(&pubk);
		buf_free(&prvk);
		X509_free(x);
		EVP_PKEY_free(key);
		if (bad)
			goto out;
	}
	if (mk_file(df, 0x6F01, EP_FT_EF, acl_ef, idx.data, idx.len,
	            idx.len) == NULL)
		goto out;
	rc = 0;
out:
	ca_free(&ca);
	buf_free(&idx);
	buf_free(&b);
	buf_free(&cmap);
	buf_free(&cm);
	return rc;
}

int
ep_factory(struct ep_card *c)
{
	return mk_mf(c, atr_pkcs15, sizeof atr_pkcs15);
}

int
ep_provision(struct ep_card *c, const char *name, const char *state_file)
{
	if (name == NULL || strcmp(name, "factory") == 0)
		return ep_factory(c);
	if (strcmp(name, "pkcs15") == 0)
		return provision_pkcs15(c, state_file);
	if (strcmp(name, "vendor") == 0)
		return provision_vendor(c, state_file);
	fprintf(stderr, "kyso-vcard: epass2003: unknown provision '%s' "
	        "(factory, pkcs15, vendor)\n", name);
	return -1;
}
