/* PKCS#15 v1.1 (RSA Laboratories, 2000) and ISO/IEC 7816-15, read with
 * OpenSSL's ASN.1 templates. Each structure declares every field the
 * standard defines (those kyso does not use as SEQUENCE OF ANY or explicit
 * ANY, so they are checked for well-formedness only), and ends in one
 * OPTIONAL ANY: a single extension a later version added is accepted and
 * ignored (OpenSSL allows an OPTIONAL ANY only as the last field). The ODF and the directory files are sequences of
 * objects without an envelope: they are split with the strict TLV reader
 * and each object is decoded on its own, so one bad object is skipped and
 * the others are kept. */
#include "drivers/pkcs15/pkcs15.h"

#include <limits.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>

#include "common/log.h"
#include "drivers/card/tlv.h"

/* The one trailing extension field. */
#define P15_REST_FIELDS ASN1_TYPE *ext
#define P15_REST(st) ASN1_OPT(st, ext, ASN1_ANY)
typedef STACK_OF(ASN1_TYPE) P15_ANY_SEQ;

/* Path ::= SEQUENCE { path OCTET STRING, index INTEGER OPTIONAL,
 *                     length [0] INTEGER OPTIONAL } (6.1.6) */
typedef struct {
	ASN1_OCTET_STRING *path;
	ASN1_INTEGER *index;
	ASN1_INTEGER *length;
} P15_PATH;

ASN1_SEQUENCE(P15_PATH) = {
	ASN1_SIMPLE(P15_PATH, path, ASN1_OCTET_STRING),
	ASN1_OPT(P15_PATH, index, ASN1_INTEGER),
	ASN1_IMP_OPT(P15_PATH, length, ASN1_INTEGER, 0),
} static_ASN1_SEQUENCE_END(P15_PATH)

/* TokenInfo ::= SEQUENCE { version INTEGER, serialNumber OCTET STRING,
 *   manufacturerID Label OPTIONAL, label [0] Label OPTIONAL,
 *   tokenflags TokenFlags, seInfo SEQUENCE OF OPTIONAL,
 *   recordInfo [1] OPTIONAL, supportedAlgorithms [2] OPTIONAL,
 *   issuerId [3] Label OPTIONAL, holderId [4] Label OPTIONAL,
 *   lastUpdate [5] LastUpdate OPTIONAL, preferredLanguage PrintableString
 *   OPTIONAL } (6.9) */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_OCTET_STRING *serial;
	ASN1_UTF8STRING *manufacturer;
	ASN1_UTF8STRING *label;
	ASN1_BIT_STRING *flags;
	P15_ANY_SEQ *se_info;
	P15_ANY_SEQ *record_info;
	P15_ANY_SEQ *algorithms;
	ASN1_UTF8STRING *issuer_id;
	ASN1_UTF8STRING *holder_id;
	ASN1_TYPE *last_update;
	ASN1_PRINTABLESTRING *language;
	P15_REST_FIELDS;
} P15_TOKENINFO;

ASN1_SEQUENCE(P15_TOKENINFO) = {
	ASN1_SIMPLE(P15_TOKENINFO, version, ASN1_INTEGER),
	ASN1_OPT(P15_TOKENINFO, serial, ASN1_OCTET_STRING),
	ASN1_OPT(P15_TOKENINFO, manufacturer, ASN1_UTF8STRING),
	ASN1_IMP_OPT(P15_TOKENINFO, label, ASN1_UTF8STRING, 0),
	ASN1_OPT(P15_TOKENINFO, flags, ASN1_BIT_STRING),
	ASN1_SEQUENCE_OF_OPT(P15_TOKENINFO, se_info, ASN1_ANY),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_TOKENINFO, record_info, ASN1_ANY, 1),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_TOKENINFO, algorithms, ASN1_ANY, 2),
	ASN1_IMP_OPT(P15_TOKENINFO, issuer_id, ASN1_UTF8STRING, 3),
	ASN1_IMP_OPT(P15_TOKENINFO, holder_id, ASN1_UTF8STRING, 4),
	ASN1_EXP_OPT(P15_TOKENINFO, last_update, ASN1_ANY, 5),
	ASN1_OPT(P15_TOKENINFO, language, ASN1_PRINTABLESTRING),
	P15_REST(P15_TOKENINFO),
} static_ASN1_SEQUENCE_END(P15_TOKENINFO)

/* CommonObjectAttributes ::= SEQUENCE { label Label OPTIONAL,
 *   flags CommonObjectFlags OPTIONAL, authId Identifier OPTIONAL,
 *   userConsent INTEGER OPTIONAL, accessControlRules SEQUENCE OF OPTIONAL }
 * (6.1.12) */
typedef struct {
	ASN1_UTF8STRING *label;
	ASN1_BIT_STRING *flags;
	ASN1_OCTET_STRING *auth_id;
	ASN1_INTEGER *user_consent;
	P15_ANY_SEQ *access_rules;
	P15_REST_FIELDS;
} P15_COMMON_OBJ;

ASN1_SEQUENCE(P15_COMMON_OBJ) = {
	ASN1_OPT(P15_COMMON_OBJ, label, ASN1_UTF8STRING),
	ASN1_OPT(P15_COMMON_OBJ, flags, ASN1_BIT_STRING),
	ASN1_OPT(P15_COMMON_OBJ, auth_id, ASN1_OCTET_STRING),
	ASN1_OPT(P15_COMMON_OBJ, user_consent, ASN1_INTEGER),
	ASN1_SEQUENCE_OF_OPT(P15_COMMON_OBJ, access_rules, ASN1_ANY),
	P15_REST(P15_COMMON_OBJ),
} static_ASN1_SEQUENCE_END(P15_COMMON_OBJ)

/* CommonKeyAttributes ::= SEQUENCE { iD Identifier, usage KeyUsageFlags,
 *   native BOOLEAN DEFAULT TRUE, accessFlags KeyAccessFlags OPTIONAL,
 *   keyReference Reference OPTIONAL, startDate GeneralizedTime OPTIONAL,
 *   endDate [0] GeneralizedTime OPTIONAL, algReference [1] SEQUENCE OF
 *   OPTIONAL } (6.2.4) */
typedef struct {
	ASN1_OCTET_STRING *id;
	ASN1_BIT_STRING *usage;
	ASN1_BOOLEAN native;
	ASN1_BIT_STRING *access;
	ASN1_INTEGER *key_ref;
	ASN1_GENERALIZEDTIME *start;
	ASN1_GENERALIZEDTIME *end;
	P15_ANY_SEQ *alg_ref;
	P15_REST_FIELDS;
} P15_COMMON_KEY;

ASN1_SEQUENCE(P15_COMMON_KEY) = {
	ASN1_SIMPLE(P15_COMMON_KEY, id, ASN1_OCTET_STRING),
	ASN1_SIMPLE(P15_COMMON_KEY, usage, ASN1_BIT_STRING),
	ASN1_OPT(P15_COMMON_KEY, native, ASN1_BOOLEAN),
	ASN1_OPT(P15_COMMON_KEY, access, ASN1_BIT_STRING),
	ASN1_OPT(P15_COMMON_KEY, key_ref, ASN1_INTEGER),
	ASN1_OPT(P15_COMMON_KEY, start, ASN1_GENERALIZEDTIME),
	ASN1_IMP_OPT(P15_COMMON_KEY, end, ASN1_GENERALIZEDTIME, 0),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_COMMON_KEY, alg_ref, ASN1_ANY, 1),
	P15_REST(P15_COMMON_KEY),
} static_ASN1_SEQUENCE_END(P15_COMMON_KEY)

/* PrivateRSAKeyAttributes / PublicRSAKeyAttributes ::= SEQUENCE {
 *   value ObjectValue (kyso reads the indirect Path form),
 *   modulusLength INTEGER, keyInfo KeyInfo OPTIONAL (the extension
 *   field takes it) } (6.2.7, 6.3.6) */
typedef struct {
	P15_PATH *value;
	ASN1_INTEGER *modulus_len;
	P15_REST_FIELDS;
} P15_RSA_ATTRS;

ASN1_SEQUENCE(P15_RSA_ATTRS) = {
	ASN1_SIMPLE(P15_RSA_ATTRS, value, P15_PATH),
	ASN1_SIMPLE(P15_RSA_ATTRS, modulus_len, ASN1_INTEGER),
	P15_REST(P15_RSA_ATTRS),
} static_ASN1_SEQUENCE_END(P15_RSA_ATTRS)

/* PKCS15Object { ... } ::= SEQUENCE { commonObjectAttributes,
 *   classAttributes, subClassAttributes [0] OPTIONAL, typeAttributes [1] }
 * (6.1.12). The subclass attributes are not read: taken as [0] holding
 * any elements, which accepts both the explicit and the implicit tagging
 * writers use. typeAttributes is explicitly tagged (an open type). */
typedef struct {
	P15_COMMON_OBJ *common;
	P15_COMMON_KEY *key;
	STACK_OF(ASN1_TYPE) *sub;
	P15_RSA_ATTRS *rsa;
} P15_RSA_KEY;

ASN1_SEQUENCE(P15_RSA_KEY) = {
	ASN1_SIMPLE(P15_RSA_KEY, common, P15_COMMON_OBJ),
	ASN1_SIMPLE(P15_RSA_KEY, key, P15_COMMON_KEY),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_RSA_KEY, sub, ASN1_ANY, 0),
	ASN1_EXP(P15_RSA_KEY, rsa, P15_RSA_ATTRS, 1),
} static_ASN1_SEQUENCE_END(P15_RSA_KEY)

/* PrivateECKeyAttributes / PublicECKeyAttributes ::= SEQUENCE {
 *   value ObjectValue (the indirect Path form), keyInfo KeyInfo OPTIONAL }
 * (ISO/IEC 7816-15 8.4.3). OpenSC's pkcs15-init writes keyInfo as an
 * INTEGER, the field size in bits, on private keys; other KeyInfo forms
 * are checked as well-formed only. keyInfo is the one trailing field an
 * OPTIONAL ANY can be, so the extension field holds it. */
typedef struct {
	P15_PATH *value;
	P15_REST_FIELDS;	/* keyInfo */
} P15_EC_ATTRS;

ASN1_SEQUENCE(P15_EC_ATTRS) = {
	ASN1_SIMPLE(P15_EC_ATTRS, value, P15_PATH),
	P15_REST(P15_EC_ATTRS),
} static_ASN1_SEQUENCE_END(P15_EC_ATTRS)

typedef struct {
	P15_COMMON_OBJ *common;
	P15_COMMON_KEY *key;
	STACK_OF(ASN1_TYPE) *sub;
	P15_EC_ATTRS *ec;
} P15_EC_KEY;

ASN1_SEQUENCE(P15_EC_KEY) = {
	ASN1_SIMPLE(P15_EC_KEY, common, P15_COMMON_OBJ),
	ASN1_SIMPLE(P15_EC_KEY, key, P15_COMMON_KEY),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_EC_KEY, sub, ASN1_ANY, 0),
	ASN1_EXP(P15_EC_KEY, ec, P15_EC_ATTRS, 1),
} static_ASN1_SEQUENCE_END(P15_EC_KEY)

/* The EC choice of PrivateKeyType / PublicKeyType: the PKCS15Object
 * sequence under the implicit tag [0]. */
ASN1_ITEM_TEMPLATE(P15_EC_KEY_CHOICE) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_IMPTAG | ASN1_TFLG_CONTEXT, 0, P15_EC_KEY_CHOICE,
	                      P15_EC_KEY)
static_ASN1_ITEM_TEMPLATE_END(P15_EC_KEY_CHOICE)

/* CommonCertificateAttributes ::= SEQUENCE { iD Identifier,
 *   authority BOOLEAN DEFAULT FALSE, identifier OPTIONAL,
 *   certHash [0] OPTIONAL, trustedUsage [1] OPTIONAL, identifiers [2]
 *   OPTIONAL, implicitTrust BOOLEAN DEFAULT FALSE } (6.5.2) */
typedef struct {
	ASN1_OCTET_STRING *id;
	ASN1_BOOLEAN authority;
	P15_ANY_SEQ *identifier;
	P15_ANY_SEQ *cert_hash;
	P15_ANY_SEQ *trusted_usage;
	P15_ANY_SEQ *identifiers;
	ASN1_BOOLEAN implicit_trust;
	P15_REST_FIELDS;
} P15_COMMON_CERT;

ASN1_SEQUENCE(P15_COMMON_CERT) = {
	ASN1_SIMPLE(P15_COMMON_CERT, id, ASN1_OCTET_STRING),
	ASN1_OPT(P15_COMMON_CERT, authority, ASN1_BOOLEAN),
	ASN1_SEQUENCE_OF_OPT(P15_COMMON_CERT, identifier, ASN1_ANY),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_COMMON_CERT, cert_hash, ASN1_ANY, 0),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_COMMON_CERT, trusted_usage, ASN1_ANY, 1),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_COMMON_CERT, identifiers, ASN1_ANY, 2),
	ASN1_OPT(P15_COMMON_CERT, implicit_trust, ASN1_BOOLEAN),
	P15_REST(P15_COMMON_CERT),
} static_ASN1_SEQUENCE_END(P15_COMMON_CERT)

/* X509CertificateAttributes ::= SEQUENCE { value ObjectValue,
 *   subject Name OPTIONAL, issuer [0] Name OPTIONAL, serialNumber
 *   OPTIONAL } (6.5.5) */
typedef struct {
	P15_PATH *value;
	P15_ANY_SEQ *subject;
	ASN1_TYPE *issuer;
	ASN1_INTEGER *serial;
	P15_REST_FIELDS;
} P15_X509_ATTRS;

ASN1_SEQUENCE(P15_X509_ATTRS) = {
	ASN1_SIMPLE(P15_X509_ATTRS, value, P15_PATH),
	ASN1_SEQUENCE_OF_OPT(P15_X509_ATTRS, subject, ASN1_ANY),
	ASN1_EXP_OPT(P15_X509_ATTRS, issuer, ASN1_ANY, 0),
	ASN1_OPT(P15_X509_ATTRS, serial, ASN1_INTEGER),
	P15_REST(P15_X509_ATTRS),
} static_ASN1_SEQUENCE_END(P15_X509_ATTRS)

typedef struct {
	P15_COMMON_OBJ *common;
	P15_COMMON_CERT *cert;
	STACK_OF(ASN1_TYPE) *sub;
	P15_X509_ATTRS *x509;
} P15_CERT;

ASN1_SEQUENCE(P15_CERT) = {
	ASN1_SIMPLE(P15_CERT, common, P15_COMMON_OBJ),
	ASN1_SIMPLE(P15_CERT, cert, P15_COMMON_CERT),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_CERT, sub, ASN1_ANY, 0),
	ASN1_EXP(P15_CERT, x509, P15_X509_ATTRS, 1),
} static_ASN1_SEQUENCE_END(P15_CERT)

/* CommonAuthenticationObjectAttributes ::= SEQUENCE { authId Identifier,
 *   authReference Reference OPTIONAL, seIdentifier [0] OPTIONAL } (6.8.2) */
typedef struct {
	ASN1_OCTET_STRING *auth_id;
	ASN1_INTEGER *auth_ref;
	ASN1_INTEGER *se_id;
	P15_REST_FIELDS;
} P15_COMMON_AUTH;

ASN1_SEQUENCE(P15_COMMON_AUTH) = {
	ASN1_OPT(P15_COMMON_AUTH, auth_id, ASN1_OCTET_STRING),
	ASN1_OPT(P15_COMMON_AUTH, auth_ref, ASN1_INTEGER),
	ASN1_IMP_OPT(P15_COMMON_AUTH, se_id, ASN1_INTEGER, 0),
	P15_REST(P15_COMMON_AUTH),
} static_ASN1_SEQUENCE_END(P15_COMMON_AUTH)

/* PinAttributes ::= SEQUENCE { pinFlags PinFlags, pinType PinType,
 *   minLength INTEGER, storedLength INTEGER, maxLength INTEGER OPTIONAL,
 *   pinReference [0] Reference DEFAULT 0, padChar OCTET STRING OPTIONAL,
 *   lastPinChange GeneralizedTime OPTIONAL, path Path OPTIONAL } (6.8.3) */
typedef struct {
	ASN1_BIT_STRING *flags;
	ASN1_ENUMERATED *type;
	ASN1_INTEGER *min_len;
	ASN1_INTEGER *stored_len;
	ASN1_INTEGER *max_len;
	ASN1_INTEGER *reference;
	ASN1_OCTET_STRING *pad_char;
	ASN1_GENERALIZEDTIME *last_change;
	P15_PATH *path;
	P15_REST_FIELDS;
} P15_PIN_ATTRS;

ASN1_SEQUENCE(P15_PIN_ATTRS) = {
	ASN1_SIMPLE(P15_PIN_ATTRS, flags, ASN1_BIT_STRING),
	ASN1_SIMPLE(P15_PIN_ATTRS, type, ASN1_ENUMERATED),
	ASN1_SIMPLE(P15_PIN_ATTRS, min_len, ASN1_INTEGER),
	ASN1_SIMPLE(P15_PIN_ATTRS, stored_len, ASN1_INTEGER),
	ASN1_OPT(P15_PIN_ATTRS, max_len, ASN1_INTEGER),
	ASN1_IMP_OPT(P15_PIN_ATTRS, reference, ASN1_INTEGER, 0),
	ASN1_OPT(P15_PIN_ATTRS, pad_char, ASN1_OCTET_STRING),
	ASN1_OPT(P15_PIN_ATTRS, last_change, ASN1_GENERALIZEDTIME),
	ASN1_OPT(P15_PIN_ATTRS, path, P15_PATH),
	P15_REST(P15_PIN_ATTRS),
} static_ASN1_SEQUENCE_END(P15_PIN_ATTRS)

typedef struct {
	P15_COMMON_OBJ *common;
	P15_COMMON_AUTH *auth;
	STACK_OF(ASN1_TYPE) *sub;
	P15_PIN_ATTRS *pin;
} P15_PIN;

ASN1_SEQUENCE(P15_PIN) = {
	ASN1_SIMPLE(P15_PIN, common, P15_COMMON_OBJ),
	ASN1_SIMPLE(P15_PIN, auth, P15_COMMON_AUTH),
	ASN1_IMP_SEQUENCE_OF_OPT(P15_PIN, sub, ASN1_ANY, 0),
	ASN1_EXP(P15_PIN, pin, P15_PIN_ATTRS, 1),
} static_ASN1_SEQUENCE_END(P15_PIN)

/* Decode one whole element with `it`; NULL unless it is exactly that. */
static void *
p15_d2i(const ASN1_ITEM *it, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	ASN1_VALUE *v;

	if (len == 0 || len > LONG_MAX)
		return NULL;
	v = ASN1_item_d2i(NULL, &p, (long)len, it);
	if (v != NULL && p != der + len) {
		ASN1_item_free(v, it);
		v = NULL;
	}
	return v;
}

static bool
p15_long(const ASN1_INTEGER *i, long min, long max, long *out)
{
	int64_t v;

	if (i == NULL || ASN1_INTEGER_get_int64(&v, i) != 1 || v < min || v > max)
		return false;
	*out = (long)v;
	return true;
}

static unsigned long
p15_bits(const ASN1_BIT_STRING *b)
{
	unsigned long v = 0;

	for (int i = 0; b != NULL && i < 16; i++)
		if (ASN1_BIT_STRING_get_bit(b, i))
			v |= 1UL << i;
	return v;
}

static void
p15_text(char *dst, size_t cap, const ASN1_STRING *s)
{
	size_t n = 0;

	if (s != NULL) {
		const unsigned char *d = ASN1_STRING_get0_data(s);
		int len = ASN1_STRING_length(s);
		/* Bytes kept as they are (UTF-8), control characters
		 * replaced, so a label never carries them into logs. */
		for (int i = 0; i < len && n + 1 < cap; i++)
			dst[n++] = d[i] < 0x20 || d[i] == 0x7F ? '?' : (char)d[i];
	}
	dst[n] = '\0';
}

static bool
p15_bytes(uint8_t *dst, size_t cap, size_t *len, const ASN1_OCTET_STRING *s)
{
	int n = s != NULL ? ASN1_STRING_length(s) : 0;

	*len = 0;
	if (s == NULL || n < 0 || (size_t)n > cap)
		return false;
	memcpy(dst, ASN1_STRING_get0_data(s), (size_t)n);
	*len = (size_t)n;
	return true;
}

static bool
p15_path_from(struct p15_path *dst, const P15_PATH *src)
{
	long v;

	memset(dst, 0, sizeof(*dst));
	dst->index = -1;
	dst->length = -1;
	if (src == NULL || !p15_bytes(dst->bytes, sizeof(dst->bytes), &dst->len, src->path) ||
	    dst->len == 0 || dst->len % 2 != 0)
		return false;
	if (src->index != NULL) {
		if (!p15_long(src->index, 0, 0xFFFF, &v))
			return false;
		dst->index = v;
	}
	if (src->length != NULL) {
		if (!p15_long(src->length, 0, 0xFFFF, &v))
			return false;
		dst->length = v;
	}
	return true;
}

static bool
p15_common_from(struct p15_common *dst, const P15_COMMON_OBJ *src)
{
	memset(dst, 0, sizeof(*dst));
	p15_text(dst->label, sizeof(dst->label), src->label);
	/* CommonObjectFlags: private(0), modifiable(1). */
	dst->private_obj = src->flags != NULL && ASN1_BIT_STRING_get_bit(src->flags, 0);
	if (src->auth_id != NULL &&
	    !p15_bytes(dst->auth_id, sizeof(dst->auth_id), &dst->auth_id_len, src->auth_id))
		return false;
	return true;
}

int
p15_path_resolve(struct p15_path *p, const uint8_t *app, size_t app_len)
{
	uint8_t tmp[P15_PATH_MAX];

	if (p->len >= 2 && p->bytes[0] == 0x3F && p->bytes[1] == 0x00)
		return 0;
	/* Relative to the application DF (PKCS#15 v1.1, 6.1.6). */
	if (app_len + p->len > sizeof(tmp))
		return -1;
	memcpy(tmp, app, app_len);
	memcpy(tmp + app_len, p->bytes, p->len);
	memcpy(p->bytes, tmp, app_len + p->len);
	p->len += app_len;
	return 0;
}

int
p15_parse_odf(const uint8_t *data, size_t len, struct p15_odf *out)
{
	struct tlv_reader r;
	struct tlv t;

	memset(out, 0, sizeof(*out));
	tlv_reader_init(&r, data, len);
	/* PKCS15Objects ::= CHOICE { privateKeys [0], publicKeys [1],
	 * trustedPublicKeys [2], secretKeys [3], certificates [4],
	 * trustedCertificates [5], usefulCertificates [6], dataObjects [7],
	 * authObjects [8] }, each holding a Path (6.6). */
	while (out->count < P15_MAX_DFS && tlv_next(&r, &t) == 1 && t.tag != 0x00) {
		enum p15_df_kind kind;
		P15_PATH *path;

		switch (t.tag) {
		case 0xA0: kind = P15_DF_PRKDF; break;
		case 0xA1: case 0xA2: kind = P15_DF_PUKDF; break;
		case 0xA4: case 0xA5: case 0xA6: kind = P15_DF_CDF; break;
		case 0xA8: kind = P15_DF_AODF; break;
		default: continue;
		}
		path = p15_d2i(ASN1_ITEM_rptr(P15_PATH), t.value, t.len);
		if (path != NULL && p15_path_from(&out->dfs[out->count].path, path)) {
			out->dfs[out->count].kind = kind;
			out->count++;
		} else {
			log_debug("pkcs15: ODF entry %02X is not a path", (unsigned)t.tag);
		}
		ASN1_item_free((ASN1_VALUE *)path, ASN1_ITEM_rptr(P15_PATH));
	}
	return 0;
}

int
p15_parse_tokeninfo(const uint8_t *data, size_t len, struct p15_token *out)
{
	P15_TOKENINFO *ti;
	struct tlv t;

	/* The file may be padded after the one TokenInfo. */
	if (tlv_find(data, len, 0x30, &t) != 1)
		return -1;
	ti = p15_d2i(ASN1_ITEM_rptr(P15_TOKENINFO), t.raw, t.raw_len);
	if (ti == NULL)
		return -1;
	p15_text(out->label, sizeof(out->label), ti->label);
	p15_text(out->manufacturer, sizeof(out->manufacturer), ti->manufacturer);
	if (ti->serial != NULL && !p15_bytes(out->serial, sizeof(out->serial), &out->serial_len,
	                                     ti->serial))
		out->serial_len = 0;
	ASN1_item_free((ASN1_VALUE *)ti, ASN1_ITEM_rptr(P15_TOKENINFO));
	return 0;
}

/* What RSA and EC key entries share. */
static bool
p15_key_common(struct p15_key *k, const P15_COMMON_OBJ *common, const P15_COMMON_KEY *key,
               const P15_PATH *value)
{
	long v;

	memset(k, 0, sizeof(*k));
	k->key_ref = -1;
	if (!p15_common_from(&k->c, common) || !p15_bytes(k->id, sizeof(k->id), &k->id_len, key->id) ||
	    !p15_path_from(&k->path, value))
		return false;
	k->usage = p15_bits(key->usage);
	if (key->key_ref != NULL) {
		if (!p15_long(key->key_ref, 0, 0xFFFF, &v))
			return false;
		k->key_ref = v;
	}
	return true;
}

static bool
p15_key_from(struct p15_key *k, const P15_RSA_KEY *src)
{
	long v;

	if (!p15_key_common(k, src->common, src->key, src->rsa->value) ||
	    !p15_long(src->rsa->modulus_len, 512, 16384, &v))
		return false;
	k->type = P15_KEY_RSA;
	k->modulus_bits = (size_t)v;
	return true;
}

static bool
p15_ec_key_from(struct p15_key *k, const P15_EC_KEY *src)
{
	const ASN1_TYPE *info = src->ec->ext;
	long v;

	if (!p15_key_common(k, src->common, src->key, src->ec->value))
		return false;
	k->type = P15_KEY_EC;
	/* The field size, as OpenSC states it; any other KeyInfo leaves the
	 * size to the public key. */
	if (info != NULL && ASN1_TYPE_get(info) == V_ASN1_INTEGER &&
	    p15_long(info->value.integer, 1, 1024, &v))
		k->modulus_bits = (size_t)v;
	return true;
}

static void
p15_add_object(enum p15_df_kind kind, const struct tlv *t, struct p15_token *out)
{
	if (kind == P15_DF_PRKDF || kind == P15_DF_PUKDF) {
		/* PrivateKeyType / PublicKeyType: RSA keys are the untagged
		 * SEQUENCE choice, EC keys [0]; others are not read. */
		bool priv = kind == P15_DF_PRKDF;
		struct p15_key *keys = priv ? out->prkeys : out->pubkeys;
		size_t *n = priv ? &out->prkey_count : &out->pubkey_count;
		bool ok = false;

		if (*n == P15_MAX_OBJECTS || (t->tag != 0x30 && t->tag != 0xA0))
			return;
		if (t->tag == 0x30) {
			P15_RSA_KEY *k = p15_d2i(ASN1_ITEM_rptr(P15_RSA_KEY), t->raw, t->raw_len);
			ok = k != NULL && p15_key_from(&keys[*n], k);
			ASN1_item_free((ASN1_VALUE *)k, ASN1_ITEM_rptr(P15_RSA_KEY));
		} else {
			P15_EC_KEY *k = p15_d2i(ASN1_ITEM_rptr(P15_EC_KEY_CHOICE), t->raw, t->raw_len);
			ok = k != NULL && p15_ec_key_from(&keys[*n], k);
			ASN1_item_free((ASN1_VALUE *)k, ASN1_ITEM_rptr(P15_EC_KEY_CHOICE));
		}
		if (ok)
			(*n)++;
		else
			log_debug("pkcs15: unusable key entry skipped");
	} else if (kind == P15_DF_CDF) {
		struct p15_cert *c = &out->certs[out->cert_count];
		P15_CERT *x;

		/* CertificateType: x509Certificate is the untagged choice. */
		if (t->tag != 0x30 || out->cert_count == P15_MAX_OBJECTS)
			return;
		x = p15_d2i(ASN1_ITEM_rptr(P15_CERT), t->raw, t->raw_len);
		memset(c, 0, sizeof(*c));
		if (x != NULL && p15_common_from(&c->c, x->common) &&
		    p15_bytes(c->id, sizeof(c->id), &c->id_len, x->cert->id) &&
		    p15_path_from(&c->path, x->x509->value)) {
			c->authority = x->cert->authority > 0;
			out->cert_count++;
		} else {
			log_debug("pkcs15: unusable certificate entry skipped");
		}
		ASN1_item_free((ASN1_VALUE *)x, ASN1_ITEM_rptr(P15_CERT));
	} else if (kind == P15_DF_AODF) {
		struct p15_pin *p = &out->pins[out->pin_count];
		P15_PIN *x;
		long v = 0;
		bool ok;

		/* AuthenticationType: authPin is the untagged choice. */
		if (t->tag != 0x30 || out->pin_count == P15_MAX_OBJECTS)
			return;
		x = p15_d2i(ASN1_ITEM_rptr(P15_PIN), t->raw, t->raw_len);
		memset(p, 0, sizeof(*p));
		ok = x != NULL && p15_common_from(&p->c, x->common) &&
		     (x->auth->auth_id == NULL ||
		      p15_bytes(p->auth_id, sizeof(p->auth_id), &p->auth_id_len, x->auth->auth_id));
		if (ok) {
			p->flags = p15_bits(x->pin->flags);
			ok = p15_long(x->pin->min_len, 0, 255, &v);
			p->min_len = (size_t)v;
		}
		if (ok) {
			ok = p15_long(x->pin->stored_len, 0, 255, &v);
			p->stored_len = (size_t)v;
		}
		if (ok) {
			p->max_len = p->stored_len;
			if (x->pin->max_len != NULL) {
				ok = p15_long(x->pin->max_len, 0, 255, &v);
				p->max_len = (size_t)v;
			}
		}
		if (ok && x->pin->reference != NULL)
			ok = p15_long(x->pin->reference, 0, 0xFF, &p->reference);
		if (ok)
			out->pin_count++;
		else
			log_debug("pkcs15: unusable PIN entry skipped");
		ASN1_item_free((ASN1_VALUE *)x, ASN1_ITEM_rptr(P15_PIN));
	}
}

int
p15_parse_df(enum p15_df_kind kind, const uint8_t *data, size_t len, struct p15_token *out)
{
	struct tlv_reader r;
	struct tlv t;
	int rc;

	tlv_reader_init(&r, data, len);
	/* Objects one after the other; zeros (or erased FF) pad the file. */
	while ((rc = tlv_next(&r, &t)) == 1 && t.tag != 0x00)
		p15_add_object(kind, &t, out);
	return rc < 0 && r.left == len ? -1 : 0;
}

static CK_RV
p15_read_one(const struct p15_io *io, const struct p15_path *p, struct buf *out, bool *found)
{
	CK_RV rv = io->read(io->ctx, p->bytes, p->len, out, found);

	/* index/length: a part of the file (several DFs in one EF). */
	if (rv == CKR_OK && *found && p->index >= 0) {
		size_t start = (size_t)p->index;
		size_t n = p->length >= 0 ? (size_t)p->length : 0;
		if (start > out->len || n > out->len - start) {
			*found = false;
		} else if (n > 0) {
			memmove(out->data, out->data + start, n);
			out->len = n;
		}
	}
	return rv;
}

CK_RV
p15_read(const struct p15_io *io, const uint8_t *app, size_t app_len, struct p15_token *out)
{
	struct p15_odf odf;
	struct p15_path p = { .index = -1, .length = -1 };
	struct buf file = BUF_INIT;
	bool found = false;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	memset(out, 0, sizeof(*out));
	if (app_len + 2 > sizeof(p.bytes))
		goto out;
	memcpy(p.bytes, app, app_len);
	p.bytes[app_len] = P15_FID_ODF >> 8;
	p.bytes[app_len + 1] = P15_FID_ODF & 0xFF;
	p.len = app_len + 2;
	rv = p15_read_one(io, &p, &file, &found);
	if (rv != CKR_OK || !found)
		goto out;
	p15_parse_odf(file.data, file.len, &odf);

	p.bytes[app_len] = P15_FID_TOKENINFO >> 8;
	p.bytes[app_len + 1] = P15_FID_TOKENINFO & 0xFF;
	rv = p15_read_one(io, &p, &file, &found);
	if (rv != CKR_OK)
		goto out;
	if (found && p15_parse_tokeninfo(file.data, file.len, out) != 0)
		log_debug("pkcs15: TokenInfo not readable");

	for (size_t i = 0; i < odf.count; i++) {
		if (p15_path_resolve(&odf.dfs[i].path, app, app_len) != 0)
			continue;
		rv = p15_read_one(io, &odf.dfs[i].path, &file, &found);
		if (rv != CKR_OK)
			goto out;
		if (found)
			p15_parse_df(odf.dfs[i].kind, file.data, file.len, out);
	}
	for (size_t i = 0; i < out->prkey_count; i++)
		if (p15_path_resolve(&out->prkeys[i].path, app, app_len) != 0)
			out->prkeys[i].path.len = 0;
	for (size_t i = 0; i < out->pubkey_count; i++)
		if (p15_path_resolve(&out->pubkeys[i].path, app, app_len) != 0)
			out->pubkeys[i].path.len = 0;
	for (size_t i = 0; i < out->cert_count; i++)
		if (p15_path_resolve(&out->certs[i].path, app, app_len) != 0)
			out->certs[i].path.len = 0;
out:
	buf_free(&file);
	return rv;
}
