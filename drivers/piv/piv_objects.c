/* The PIV driver's objects: certificates read from the card's certificate
 * containers, and for each the public and private key objects of its slot.
 *
 * A PIV card cannot list its keys; a key is known by its certificate
 * (SP 800-73-4 pt 1, 3.2), or by the public key GENERATE ASYMMETRIC KEY PAIR
 * returned in this process. Retired slots 82-95 are read only as far as the
 * Key History object says they hold certificates (pt 1, 3.3.2), as OpenSC
 * does, rather than probing 20 objects that are nearly always empty. */
#include "drivers/piv/piv_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "common/attr.h"
#include "common/log.h"

#define PIV_RETIRED(n, ref, id, tag)                                           \
	{ ref, id, tag, "Retired Certificate for Key Management " #n,          \
	  "Retired KEY MAN " #n, "Retired KEY MAN " #n }

/* IDs and labels as OpenSC's pkcs15-piv.c (0.23, as in Debian 12) gives
 * them. Its retired-slot ids are the hex strings "05" to "24" read as
 * bytes, so they jump from 09 to 10. */
const struct piv_slot_def piv_slot_defs[PIV_SLOT_COUNT] = {
	{ PIV_REF_AUTH, 0x01, 0x5FC105, "Certificate for PIV Authentication",
	  "PIV AUTH pubkey", "PIV AUTH key" },
	{ PIV_REF_SIGN, 0x02, 0x5FC10A, "Certificate for Digital Signature",
	  "SIGN pubkey", "SIGN key" },
	{ PIV_REF_KEYMGMT, 0x03, 0x5FC10B, "Certificate for Key Management",
	  "KEY MAN pubkey", "KEY MAN key" },
	{ PIV_REF_CARDAUTH, 0x04, 0x5FC101, "Certificate for Card Authentication",
	  "CARD AUTH pubkey", "CARD AUTH key" },
	PIV_RETIRED(1, 0x82, 0x05, 0x5FC10D),
	PIV_RETIRED(2, 0x83, 0x06, 0x5FC10E),
	PIV_RETIRED(3, 0x84, 0x07, 0x5FC10F),
	PIV_RETIRED(4, 0x85, 0x08, 0x5FC110),
	PIV_RETIRED(5, 0x86, 0x09, 0x5FC111),
	PIV_RETIRED(6, 0x87, 0x10, 0x5FC112),
	PIV_RETIRED(7, 0x88, 0x11, 0x5FC113),
	PIV_RETIRED(8, 0x89, 0x12, 0x5FC114),
	PIV_RETIRED(9, 0x8A, 0x13, 0x5FC115),
	PIV_RETIRED(10, 0x8B, 0x14, 0x5FC116),
	PIV_RETIRED(11, 0x8C, 0x15, 0x5FC117),
	PIV_RETIRED(12, 0x8D, 0x16, 0x5FC118),
	PIV_RETIRED(13, 0x8E, 0x17, 0x5FC119),
	PIV_RETIRED(14, 0x8F, 0x18, 0x5FC11A),
	PIV_RETIRED(15, 0x90, 0x19, 0x5FC11B),
	PIV_RETIRED(16, 0x91, 0x20, 0x5FC11C),
	PIV_RETIRED(17, 0x92, 0x21, 0x5FC11D),
	PIV_RETIRED(18, 0x93, 0x22, 0x5FC11E),
	PIV_RETIRED(19, 0x94, 0x23, 0x5FC11F),
	PIV_RETIRED(20, 0x95, 0x24, 0x5FC120),
};

/* PKCS#11 2.40 4.6.2: CKA_CERTIFICATE_CATEGORY 1 is "token user". */
#define PIV_CERT_CATEGORY_TOKEN_USER 1UL
/* The largest EC field kyso handles (P-384), in bytes. */
#define PIV_EC_FIELD_MAX 48

int
piv_slot_index(uint32_t key_ref)
{
	int i;

	for (i = 0; i < PIV_SLOT_COUNT; i++)
		if (piv_slot_defs[i].key_ref == key_ref)
			return i;
	return -1;
}

int
piv_slot_index_by_id(const uint8_t *id, size_t len)
{
	int i;

	if (id == NULL || len != 1)
		return -1;
	for (i = 0; i < PIV_SLOT_COUNT; i++)
		if (piv_slot_defs[i].id == id[0])
			return i;
	return -1;
}

/* The curve of a named-curve EC SubjectPublicKeyInfo, and its public key
 * bytes (the ECPoint, as the SPKI holds it). Read with OpenSSL's ASN.1 code
 * from the SPKI, not with EVP_PKEY_get_*_param(): an application that
 * loaded an OpenSSL ENGINE (libp11's, say) gets legacy keys from
 * X509_get_pubkey(), and those do not answer every parameter. Returns the
 * NID, NID_undef when not a named-curve EC key. */
static int
piv_spki_curve(const X509_PUBKEY *xpk, const uint8_t **pk, int *pk_len)
{
	X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *aobj = NULL;
	const void *pval = NULL;
	int ptype = 0, nid = NID_undef;

	if (xpk == NULL || X509_PUBKEY_get0_param(NULL, pk, pk_len, &alg, xpk) != 1)
		goto out;
	X509_ALGOR_get0(&aobj, NULL, NULL, alg);
	if (OBJ_obj2nid(aobj) != NID_X9_62_id_ecPublicKey)
		goto out;
	/* RFC 5480 2.1.1: namedCurve, an OID, is the only form PIV uses. */
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT)
		goto out;
	nid = OBJ_obj2nid(pval);
out:
	return nid;
}

/* The SubjectPublicKeyInfo of a key that came without a certificate
 * (GENERATE, an import): encoded once, when the key is set. NULL when
 * OpenSSL cannot encode the key. */
static X509_PUBKEY *
piv_spki_of_key(const EVP_PKEY *pub)
{
	X509_PUBKEY *xpk = NULL;
	uint8_t *der = NULL;
	const uint8_t *p;
	int der_len;

	der_len = i2d_PUBKEY(pub, &der);
	p = der;
	if (der_len > 0)
		xpk = d2i_X509_PUBKEY(NULL, &p, der_len);
	OPENSSL_free(der);
	return xpk;
}

uint8_t
piv_rsa_alg(size_t bits)
{
	switch (bits) {
	case 1024:
		return PIV_ALG_RSA1024;
	case 2048:
		return PIV_ALG_RSA2048;
	case 3072:
		return PIV_ALG_RSA3072;
	case 4096:
		return PIV_ALG_RSA4096;
	default:
		return 0;
	}
}

/* The PIV algorithm id of `pub`, whose SubjectPublicKeyInfo is `xpk` (only
 * read for an EC key: NULL is fine for RSA). */
static uint8_t
piv_alg_for_spki(const X509_PUBKEY *xpk, const EVP_PKEY *pub)
{
	const uint8_t *pk = NULL;
	int pk_len = 0;
	uint8_t alg = 0;

	if (pub == NULL)
		goto out;
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		alg = piv_rsa_alg((size_t)EVP_PKEY_get_bits(pub));
		break;
	case EVP_PKEY_EC:
		switch (piv_spki_curve(xpk, &pk, &pk_len)) {
		case NID_X9_62_prime256v1:
			alg = PIV_ALG_ECC_P256;
			break;
		case NID_secp384r1:
			alg = PIV_ALG_ECC_P384;
			break;
		default:
			break;
		}
		break;
	default:
		break;
	}
out:
	return alg;
}

uint8_t
piv_alg_for_key(const EVP_PKEY *pub)
{
	X509_PUBKEY *xpk = NULL;
	uint8_t alg;

	/* An RSA key's size needs no SPKI. */
	if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC)
		xpk = piv_spki_of_key(pub);
	alg = piv_alg_for_spki(xpk, pub);
	X509_PUBKEY_free(xpk);
	return alg;
}

/* First error wins: attribute lists are built in one run, checked once. */
static void
piv_acc(CK_RV *rv, CK_RV r)
{
	if (*rv == CKR_OK)
		*rv = r;
}

/* An attribute whose value OpenSSL DER-encodes into a fresh buffer. */
static void
piv_set_der(CK_RV *rv, struct attr_list *l, CK_ATTRIBUTE_TYPE type, uint8_t *der, int len)
{
	if (len <= 0 || der == NULL)
		piv_acc(rv, CKR_FUNCTION_FAILED);
	else
		piv_acc(rv, attr_set(l, type, der, (size_t)len));
	OPENSSL_free(der);
}

static void
piv_set_bn(CK_RV *rv, struct attr_list *l, CK_ATTRIBUTE_TYPE type,
           const EVP_PKEY *pub, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t *bytes = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(pub, param, &bn) != 1) {
		piv_acc(rv, CKR_FUNCTION_FAILED);
		goto out;
	}
	n = BN_num_bytes(bn);
	bytes = OPENSSL_malloc(n > 0 ? (size_t)n : 1);
	if (bytes == NULL) {
		piv_acc(rv, CKR_HOST_MEMORY);
		goto out;
	}
	BN_bn2bin(bn, bytes);
	piv_acc(rv, attr_set(l, type, bytes, (size_t)n));
out:
	OPENSSL_free(bytes);
	BN_free(bn);
}

/* The uncompressed form (SEC 1 2.3.3) of an EC public key's point, as its
 * SubjectPublicKeyInfo holds it on curve `nid`. Returns its length, 0 when
 * it is no point of the curve. */
static size_t
piv_ec_point_uncompressed(int nid, const uint8_t *pk, int pk_len,
                          uint8_t point[1 + 2 * PIV_EC_FIELD_MAX])
{
	EC_GROUP *group = NULL;
	EC_POINT *pt = NULL;
	size_t field_len, point_len = 0;

	field_len = nid == NID_X9_62_prime256v1 ? 32 : nid == NID_secp384r1 ? 48 : 0;
	/* Already uncompressed (04 X Y, SEC 1 2.3.3), as PIV cards and
	 * nearly every certificate give it: the bytes are the answer. The
	 * point is on the curve: OpenSSL checked it when it decoded the key
	 * kyso holds for the slot (X509_get_pubkey(), EVP_PKEY_fromdata()). */
	if (field_len > 0 && pk_len > 0 && (size_t)pk_len == 1 + 2 * field_len &&
	    pk[0] == POINT_CONVERSION_UNCOMPRESSED) {
		memcpy(point, pk, (size_t)pk_len);
		point_len = (size_t)pk_len;
		goto out;
	}
	/* Compressed or hybrid: OpenSSL's EC code rewrites it. */
	group = nid != NID_undef ? EC_GROUP_new_by_curve_name(nid) : NULL;
	pt = group != NULL ? EC_POINT_new(group) : NULL;
	if (pt == NULL || pk_len <= 0 ||
	    EC_POINT_oct2point(group, pt, pk, (size_t)pk_len, NULL) != 1)
		goto out;
	point_len = EC_POINT_point2oct(group, pt, POINT_CONVERSION_UNCOMPRESSED, point,
	                               1 + 2 * PIV_EC_FIELD_MAX, NULL);
out:
	EC_POINT_free(pt);
	EC_GROUP_free(group);
	return point_len;
}

/* CKA_EC_PARAMS, the curve's OID, and CKA_EC_POINT: the uncompressed point
 * (SEC 1 2.3.3) as a DER OCTET STRING, the form NSS, OpenSC and the PKCS#11
 * spec use, whatever point format the SPKI used. */
static void
piv_set_ec_attrs(CK_RV *rv, struct attr_list *l, const X509_PUBKEY *xpk)
{
	uint8_t point[1 + 2 * PIV_EC_FIELD_MAX];
	const uint8_t *pk = NULL;
	ASN1_OCTET_STRING *os = NULL;
	uint8_t *der = NULL;
	size_t point_len;
	int nid, pk_len = 0, len;

	nid = piv_spki_curve(xpk, &pk, &pk_len);
	len = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &der);
	piv_set_der(rv, l, CKA_EC_PARAMS, der, len);
	der = NULL;
	point_len = piv_ec_point_uncompressed(nid, pk, pk_len, point);
	if (point_len == 0) {
		piv_acc(rv, CKR_FUNCTION_FAILED);
		goto out;
	}
	os = ASN1_OCTET_STRING_new();
	if (os == NULL || ASN1_OCTET_STRING_set(os, point, (int)point_len) != 1) {
		piv_acc(rv, CKR_HOST_MEMORY);
		goto out;
	}
	len = i2d_ASN1_OCTET_STRING(os, &der);
	piv_set_der(rv, l, CKA_EC_POINT, der, len);
out:
	ASN1_OCTET_STRING_free(os);
}

/* The attributes public and private key objects share: type, the public
 * numbers, and the SPKI the module verifies with. `xpk` is the key's
 * SubjectPublicKeyInfo: the certificate's own, or the one made when the key
 * was set; i2d_X509_PUBKEY() writes it from its decoded fields, without a
 * trip through OpenSSL's provider encoders. */
static CK_RV
piv_key_attrs_make(struct attr_list *l, const X509_PUBKEY *xpk, const EVP_PKEY *pub)
{
	uint8_t *der = NULL;
	int len;
	CK_RV rv = CKR_OK;

	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
		piv_acc(&rv, attr_set_ulong(l, CKA_KEY_TYPE, CKK_RSA));
		piv_set_bn(&rv, l, CKA_MODULUS, pub, OSSL_PKEY_PARAM_RSA_N);
		piv_set_bn(&rv, l, CKA_PUBLIC_EXPONENT, pub, OSSL_PKEY_PARAM_RSA_E);
		piv_acc(&rv, attr_set_ulong(l, CKA_MODULUS_BITS,
		                            (CK_ULONG)EVP_PKEY_get_bits(pub)));
	} else {
		piv_acc(&rv, attr_set_ulong(l, CKA_KEY_TYPE, CKK_EC));
		piv_set_ec_attrs(&rv, l, xpk);
	}
	len = xpk != NULL ? i2d_X509_PUBKEY(xpk, &der) : 0;
	piv_set_der(&rv, l, CKA_PUBLIC_KEY_INFO, der, len);
	return rv;
}

/* Drop the slot's key and what was made from it. */
static void
piv_slot_key_clear(struct piv_slot *slot)
{
	EVP_PKEY_free(slot->pub);
	slot->pub = NULL;
	slot->alg = 0;
	attr_list_free(&slot->key_attrs);
	slot->key_attrs_rv = CKR_OK;
}

void
piv_slot_set_pub(struct piv_slot *slot, EVP_PKEY *pub, bool generated)
{
	X509_PUBKEY *xpk = NULL;

	piv_slot_key_clear(slot);
	slot->pub = pub;
	slot->keep_pub = pub != NULL;
	slot->generated = generated && pub != NULL;
	if (pub == NULL)
		goto out;
	xpk = piv_spki_of_key(pub);
	slot->alg = piv_alg_for_spki(xpk, pub);
	slot->key_attrs_rv = piv_key_attrs_make(&slot->key_attrs, xpk, pub);
out:
	X509_PUBKEY_free(xpk);
}

/* Drop the slot's certificate. */
static void
piv_slot_cert_clear(struct piv_slot *slot)
{
	buf_free(&slot->cert);
	X509_free(slot->x509);
	slot->x509 = NULL;
}

CK_RV
piv_slot_set_cert(struct piv_slot *slot, const uint8_t *der, size_t len)
{
	const uint8_t *p = der;
	const X509_PUBKEY *xpk;
	X509 *x = NULL;
	EVP_PKEY *pub = NULL;
	CK_RV rv = CKR_HOST_MEMORY;

	piv_slot_cert_clear(slot);
	slot->cert_state = PIV_CERT_ABSENT;
	if (der == NULL || len == 0) {
		rv = CKR_OK;
		goto out;
	}
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	slot->cert_state = PIV_CERT_UNUSABLE;
	if (len > LONG_MAX)
		goto out;
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		goto out;
	/* Keep the certificate's own bytes; anything the card put after it
	 * is not part of it. The decoded certificate is kept with them: one
	 * decoding per certificate read. */
	if (buf_set(&slot->cert, der, (size_t)(p - der)) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	slot->x509 = x;
	x = NULL;
	slot->cert_state = PIV_CERT_PRESENT;
	rv = CKR_OK;
	/* A key kyso generated after this certificate was written stays the
	 * slot's key until a new certificate is written (piv_write.c). */
	if (slot->keep_pub)
		goto out;
	piv_slot_key_clear(slot);
	pub = X509_get_pubkey(slot->x509);
	xpk = X509_get_X509_PUBKEY(slot->x509);
	slot->alg = piv_alg_for_spki(xpk, pub);
	if (slot->alg == 0) {
		log_debug("piv: certificate with a key PIV cannot use; no key objects");
		goto out;
	}
	slot->pub = pub;
	pub = NULL;
	slot->key_attrs_rv = piv_key_attrs_make(&slot->key_attrs, xpk, slot->pub);
out:
	EVP_PKEY_free(pub);
	X509_free(x);
	return rv;
}

void
piv_slot_free(struct piv_slot *slot)
{
	piv_slot_cert_clear(slot);
	piv_slot_key_clear(slot);
	memset(slot, 0, sizeof(*slot));
}

void
piv_forget_objects(struct piv_data *d)
{
	size_t i;

	for (i = 0; i < PIV_SLOT_COUNT; i++) {
		struct piv_slot *slot = &d->slots[i];

		piv_slot_cert_clear(slot);
		slot->cert_state = PIV_CERT_UNKNOWN;
		/* What GENERATE returned is nowhere else to be read again. */
		if (!slot->keep_pub)
			piv_slot_key_clear(slot);
	}
	d->history_read = false;
	d->history_present = false;
	d->retired_on_card = 0;
	d->retired_off_card = 0;
	buf_free(&d->history_url);
}

CK_RV
piv_read_history(struct card *card, struct piv_data *d)
{
	struct buf rsp = BUF_INIT;
	const uint8_t *body, *v;
	size_t body_len, vlen;
	unsigned on = 0, off = 0;
	uint16_t sw;
	CK_RV rv = CKR_OK;

	if (d->history_read)
		goto out;
	rv = piv_cmd_get_data(card, PIV_TAG_KEY_HISTORY, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	d->history_read = true;
	if (sw != SW_OK) {
		/* 6A82: no Key History, so no retired keys (pt 1, 3.3.2). */
		log_debug("piv: no Key History (%04X)", sw);
		goto out;
	}
	if (!piv_tlv_value(rsp.data, rsp.len, PIV_TAG_DATA, &body, &body_len))
		goto bad;
	/* pt 1, table 19: one-byte counts, 20 retired keys at most. */
	if (piv_tlv_value(body, body_len, PIV_HISTORY_ON_CARD, &v, &vlen)) {
		if (vlen != 1)
			goto bad;
		on = v[0];
	}
	if (piv_tlv_value(body, body_len, PIV_HISTORY_OFF_CARD, &v, &vlen)) {
		if (vlen != 1)
			goto bad;
		off = v[0];
	}
	if (on + off > PIV_SLOT_COUNT - PIV_MAIN_SLOTS)
		goto bad;
	if (piv_tlv_value(body, body_len, PIV_HISTORY_URL, &v, &vlen) &&
	    buf_set(&d->history_url, v, vlen) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	d->history_present = true;
	d->retired_on_card = on;
	d->retired_off_card = off;
	goto out;
bad:
	log_debug("piv: malformed Key History ignored");
out:
	buf_free(&rsp);
	return rv;
}

void
piv_cache_name(uint32_t tag, char name[16])
{
	snprintf(name, 16, "do-%06lX", (unsigned long)tag);
}

/* The cache (drivers/cache.h) keeps whole certificate containers. A PIV
 * card has no change counter, so the proof that a cached container is still
 * the card's is the first response piece of GET DATA: up to 256 bytes
 * holding the container's length and the certificate's version, serial
 * number, signature algorithm, issuer and, for most certificates, validity.
 * An issuer never gives two certificates the same serial number (RFC 5280,
 * 4.1.2.2), so a different certificate starts differently. A container
 * that fits one piece is read whole and needs no cache. */
struct piv_cert_probe {
	const struct drv_cache *cache;
	char name[16];
	bool asked;
	bool hit;
	struct buf proof;	/* the first piece, when the rest was read */
	struct buf cached;	/* the container, on a hit */
};

static bool
piv_cert_more(const struct buf *so_far, void *arg)
{
	struct piv_cert_probe *probe = arg;

	if (probe->asked)
		return true;
	probe->asked = true;
	if (drv_cache_get(probe->cache, probe->name, so_far->data, so_far->len,
	                  &probe->cached)) {
		probe->hit = true;
		return false;
	}
	if (buf_set(&probe->proof, so_far->data, so_far->len) != 0)
		buf_clear(&probe->proof);
	return true;
}

/* GET DATA of a certificate container, through the cache when there is
 * one: *rsp is the container and *sw 9000 on a hit. */
static CK_RV
piv_get_cert_container(struct card *card, struct piv_data *d, uint32_t tag,
                       struct buf *rsp, uint16_t *sw)
{
	struct piv_cert_probe probe = { .cache = d->cache, .proof = BUF_INIT,
	                                .cached = BUF_INIT };
	CK_RV rv;

	if (d->cache == NULL) {
		rv = piv_cmd_get_data(card, tag, rsp, sw);
		goto out;
	}
	piv_cache_name(tag, probe.name);
	rv = piv_cmd_get_data_until(card, tag, rsp, sw, piv_cert_more, &probe);
	if (rv != CKR_OK)
		goto out;
	if (probe.hit) {
		log_debug("piv: object %06lX from the cache", (unsigned long)tag);
		if (buf_set(rsp, probe.cached.data, probe.cached.len) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		*sw = SW_OK;
	} else if (*sw == SW_OK && probe.proof.len > 0) {
		drv_cache_put(d->cache, probe.name, probe.proof.data, probe.proof.len,
		              rsp->data, rsp->len);
	}
out:
	buf_free(&probe.proof);
	buf_free(&probe.cached);
	return rv;
}

/* Open the cache: the card's serial number is its identity; a card without
 * one is not cached. NSS asks for the token information (which reads the
 * serial) before the objects; for a client that lists objects first, the
 * serial costs its APDU here, only when there is a cache to use. */
static CK_RV
piv_cache_open(struct card *card, struct piv_data *d)
{
	char identity[32];
	int n;
	CK_RV rv = CKR_OK;

	if (d->cache != NULL || (!d->identity_read && !drv_cache_enabled()))
		goto out;
	rv = piv_identity(card, d);
	if (rv != CKR_OK || d->serial[0] == '\0')
		goto out;
	n = snprintf(identity, sizeof(identity), "%s:%s",
	             d->yubikey ? "yubikey" : "chuid", d->serial);
	if (n > 0 && (size_t)n < sizeof(identity))
		d->cache = drv_cache_open("piv", (const uint8_t *)identity, (size_t)n);
out:
	return rv;
}

/* Read slot `i`'s certificate container (pt 1, table 10:
 * 53 { 70 cert, 71 CertInfo, FE EDC }). A missing or unusable certificate
 * is not an error for the listing: the slot just shows nothing. */
static CK_RV
piv_read_cert(struct card *card, struct piv_data *d, int i)
{
	struct piv_slot *slot = &d->slots[i];
	struct buf rsp = BUF_INIT;
	const uint8_t *body, *cert, *info;
	size_t body_len, cert_len, info_len;
	uint16_t sw;
	CK_RV rv;

	rv = piv_get_cert_container(card, d, piv_slot_defs[i].cert_tag, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	slot->cert_state = PIV_CERT_ABSENT;
	if (sw != SW_OK) {
		if (sw != 0x6A82)
			log_debug("piv: reading certificate %02X answered %04X",
			          piv_slot_defs[i].key_ref, sw);
		goto out;
	}
	/* An empty 53 is how a deleted object reads back. */
	if (!piv_tlv_value(rsp.data, rsp.len, PIV_TAG_DATA, &body, &body_len) ||
	    !piv_tlv_value(body, body_len, PIV_CERT_TAG_CERT, &cert, &cert_len) ||
	    cert_len == 0)
		goto out;
	if (piv_tlv_value(body, body_len, PIV_CERT_TAG_INFO, &info, &info_len) &&
	    info_len >= 1 && (info[0] & PIV_CERTINFO_GZIP) != 0) {
		/* Decompressing needs zlib, which kyso does not link: the
		 * certificate and its keys are not shown (docs/piv.md). */
		log_debug("piv: certificate %02X is gzip-compressed; skipped",
		          piv_slot_defs[i].key_ref);
		slot->cert_state = PIV_CERT_UNUSABLE;
		goto out;
	}
	if (piv_slot_set_cert(slot, cert, cert_len) == CKR_HOST_MEMORY) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (slot->cert_state != PIV_CERT_PRESENT)
		log_debug("piv: certificate %02X does not parse; skipped",
		          piv_slot_defs[i].key_ref);
out:
	buf_free(&rsp);
	return rv;
}

static void
piv_set_common(CK_RV *rv, struct attr_list *l, CK_OBJECT_CLASS cls,
               const struct piv_slot_def *def, const char *label, bool private)
{
	piv_acc(rv, attr_set_ulong(l, CKA_CLASS, cls));
	piv_acc(rv, attr_set_bool(l, CKA_TOKEN, true));
	piv_acc(rv, attr_set_bool(l, CKA_PRIVATE, private));
	/* No C_SetAttributeValue on PIV objects: their values are the card's. */
	piv_acc(rv, attr_set_bool(l, CKA_MODIFIABLE, false));
	piv_acc(rv, attr_set(l, CKA_ID, &def->id, 1));
	piv_acc(rv, attr_set_string(l, CKA_LABEL, label));
}

static CK_RV
piv_add_cert(struct drv_objects *out, const struct piv_slot_def *def,
             const struct piv_slot *slot, const X509 *x)
{
	struct drv_object *obj;
	uint8_t *der = NULL;
	int len;
	CK_RV rv = CKR_OK;

	obj = drv_objects_add(out, def->key_ref);
	if (obj == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	piv_set_common(&rv, &obj->attrs, CKO_CERTIFICATE, def, def->cert_label, false);
	/* PUT DATA with an empty container deletes it (piv_write.c). */
	piv_acc(&rv, attr_set_bool(&obj->attrs, CKA_DESTROYABLE, true));
	piv_acc(&rv, attr_set_ulong(&obj->attrs, CKA_CERTIFICATE_TYPE, CKC_X_509));
	piv_acc(&rv, attr_set_bool(&obj->attrs, CKA_TRUSTED, false));
	piv_acc(&rv, attr_set_ulong(&obj->attrs, CKA_CERTIFICATE_CATEGORY,
	                            PIV_CERT_CATEGORY_TOKEN_USER));
	piv_acc(&rv, attr_set(&obj->attrs, CKA_VALUE, slot->cert.data, slot->cert.len));
	len = i2d_X509_NAME(X509_get_subject_name(x), &der);
	piv_set_der(&rv, &obj->attrs, CKA_SUBJECT, der, len);
	der = NULL;
	len = i2d_X509_NAME(X509_get_issuer_name(x), &der);
	piv_set_der(&rv, &obj->attrs, CKA_ISSUER, der, len);
	der = NULL;
	len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
	piv_set_der(&rv, &obj->attrs, CKA_SERIAL_NUMBER, der, len);
	der = NULL;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	piv_set_der(&rv, &obj->attrs, CKA_PUBLIC_KEY_INFO, der, len);
out:
	return rv;
}

/* The key attributes made when the slot's key was set
 * (piv_key_attrs_make), into one key object. */
static void
piv_copy_key_attrs(CK_RV *rv, struct attr_list *l, const struct piv_slot *slot)
{
	size_t i;

	piv_acc(rv, slot->key_attrs_rv);
	for (i = 0; i < slot->key_attrs.count; i++) {
		const CK_ATTRIBUTE *a = &slot->key_attrs.items[i];

		piv_acc(rv, attr_set(l, a->type, a->pValue, a->ulValueLen));
	}
}

static CK_RV
piv_add_keys(struct drv_objects *out, const struct piv_slot_def *def,
             const struct piv_slot *slot, const X509 *x)
{
	bool rsa = EVP_PKEY_get_base_id(slot->pub) == EVP_PKEY_RSA;
	struct drv_object *pub, *priv;
	uint8_t *der = NULL;
	int len = 0;
	CK_RV rv = CKR_OK;

	pub = drv_objects_add(out, def->key_ref);
	if (pub == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	piv_set_common(&rv, &pub->attrs, CKO_PUBLIC_KEY, def, def->pub_label, false);
	piv_copy_key_attrs(&rv, &pub->attrs, slot);
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_DESTROYABLE, false));
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_LOCAL, slot->generated));
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_VERIFY, true));
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_VERIFY_RECOVER, false));
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_ENCRYPT, rsa));
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_WRAP, rsa));
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_DERIVE, false));
	piv_acc(&rv, attr_set_bool(&pub->attrs, CKA_TRUSTED, false));
	if (x != NULL) {
		len = i2d_X509_NAME(X509_get_subject_name(x), &der);
		piv_set_der(&rv, &pub->attrs, CKA_SUBJECT, der, len);
		der = NULL;
	}
	if (rv != CKR_OK)
		goto out;

	/* The private key: on the card, never leaving it; every operation
	 * the key type allows, whatever the slot's nominal purpose, since
	 * PIV cards enforce none (pt 1, 3.1: the purposes are policy). */
	priv = drv_objects_add(out, def->key_ref);
	if (priv == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	piv_set_common(&rv, &priv->attrs, CKO_PRIVATE_KEY, def, def->priv_label, true);
	piv_copy_key_attrs(&rv, &priv->attrs, slot);
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_DESTROYABLE, false));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_LOCAL, slot->generated));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_SENSITIVE, true));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_ALWAYS_SENSITIVE, true));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_EXTRACTABLE, false));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_NEVER_EXTRACTABLE, true));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_SIGN, true));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_SIGN_RECOVER, false));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_DECRYPT, rsa));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_UNWRAP, rsa));
	/* Not for 9C: its PIN must come right before each use, and C_DeriveKey
	 * has no step between which CKU_CONTEXT_SPECIFIC could log in. */
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_DERIVE,
	                           !rsa && def->key_ref != PIV_REF_SIGN));
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_WRAP_WITH_TRUSTED, false));
	/* pt 1, 3.2.2: the digital signature key needs the PIN right before
	 * each use ("PIN always"). */
	piv_acc(&rv, attr_set_bool(&priv->attrs, CKA_ALWAYS_AUTHENTICATE,
	                           def->key_ref == PIV_REF_SIGN));
	if (x != NULL) {
		len = i2d_X509_NAME(X509_get_subject_name(x), &der);
		piv_set_der(&rv, &priv->attrs, CKA_SUBJECT, der, len);
	}
out:
	return rv;
}

CK_RV
piv_load_objects(struct card *card, struct drv_objects *out)
{
	struct piv_data *d = NULL;
	CK_RV rv;
	int i;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_cache_open(card, d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_read_history(card, d);
	if (rv != CKR_OK)
		goto out;
	for (i = 0; i < PIV_SLOT_COUNT; i++) {
		const struct piv_slot_def *def = &piv_slot_defs[i];
		struct piv_slot *slot = &d->slots[i];
		bool listed = i < PIV_MAIN_SLOTS ||
		              (unsigned)(i - PIV_MAIN_SLOTS) < d->retired_on_card;
		const X509 *x = NULL;

		if (listed && slot->cert_state == PIV_CERT_UNKNOWN) {
			rv = piv_read_cert(card, d, i);
			if (rv != CKR_OK)
				goto out;
		}
		if (slot->cert_state == PIV_CERT_PRESENT) {
			/* piv_slot_set_cert() keeps the decoded certificate
			 * with its bytes. */
			x = slot->x509;
			rv = x != NULL ? piv_add_cert(out, def, slot, x) : CKR_GENERAL_ERROR;
		}
		if (rv == CKR_OK && slot->pub != NULL)
			rv = piv_add_keys(out, def, slot, x);
		if (rv != CKR_OK)
			goto out;
	}
out:
	if (d != NULL)
		drv_cache_flush(d->cache);
	return rv;
}
