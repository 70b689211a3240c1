/* Self-test of the virtual PIV card, without vpcd or pcscd: APDUs go
 * straight to vcard_piv.process() and every answer is checked, every
 * signature verified with OpenSSL against the certificate's (or the
 * generated key's) public key.
 *
 * usage: piv-selftest [SCRATCH_DIR] */
#include "piv_card.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static int failures;
static int checks;

#define CHECK(cond, ...) do { \
	checks++; \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

#define CHECK_SW(got, want, what) \
	CHECK((got) == (want), "%s: SW %04X, expected %04X", what, \
	      (unsigned)(got), (unsigned)(want))

static const uint8_t mgmt_default[24] = {
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
};
static const uint8_t pin_default[8] = { '1', '2', '3', '4', '5', '6', 0xFF, 0xFF };
static const uint8_t puk_default[8] = { '1', '2', '3', '4', '5', '6', '7', '8' };

/* Send one command; the response data lands in *rsp. */
static uint16_t
apdu(void *card, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data,
     size_t lc, struct buf *rsp)
{
	struct vcard_cmd cmd = {
		.cla = 0x00, .ins = ins, .p1 = p1, .p2 = p2,
		.data = data, .lc = lc, .le = 256, .le_present = true,
	};
	uint16_t sw = 0;

	buf_clear(rsp);
	vcard_piv.process(card, &cmd, rsp, &sw);
	return sw;
}

static uint16_t
select_piv(void *card, struct buf *rsp)
{
	static const uint8_t aid[] = {
		0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00,
	};
	return apdu(card, 0xA4, 0x04, 0x00, aid, sizeof aid, rsp);
}

static uint16_t
verify_pin(void *card, const uint8_t *pin)
{
	struct buf rsp = BUF_INIT;
	uint16_t sw = apdu(card, 0x20, 0x00, 0x80, pin, pin ? 8 : 0, &rsp);
	buf_free(&rsp);
	return sw;
}

static uint16_t
get_data(void *card, uint32_t tag, struct buf *rsp)
{
	uint8_t d[5] = { 0x5C, 3, (uint8_t)(tag >> 16), (uint8_t)(tag >> 8),
	                 (uint8_t)tag };
	if (tag <= 0xFF) {
		d[1] = 1;
		d[2] = (uint8_t)tag;
		return apdu(card, 0xCB, 0x3F, 0xFF, d, 3, rsp);
	}
	return apdu(card, 0xCB, 0x3F, 0xFF, d, 5, rsp);
}

/* 7C { elements } with a one-element helper. */
static void
dyn_auth(struct buf *out, const struct buf *inner)
{
	buf_clear(out);
	piv_tlv_put(out, 0x7C, inner->data, inner->len);
}

/* Unwrap 7C { tag value }: returns the value or NULL. */
static const uint8_t *
dyn_auth_value(const struct buf *rsp, uint32_t tag, size_t *len)
{
	struct piv_tlv outer, el;
	const uint8_t *p;
	size_t left;

	if (piv_tlv_single(rsp->data, rsp->len, 0x7C, &outer) != 1)
		return NULL;
	p = outer.value;
	left = outer.len;
	while (piv_tlv_next(&p, &left, &el) == 1)
		if (el.tag == tag) {
			*len = el.len;
			return el.value;
		}
	return NULL;
}

/* GENERAL AUTHENTICATE 7C{82 00, <tag> data}. */
static uint16_t
key_op(void *card, uint8_t alg, uint8_t slot, uint32_t tag, const uint8_t *in,
       size_t len, struct buf *rsp)
{
	struct buf inner = BUF_INIT, cmd = BUF_INIT;
	uint16_t sw;

	piv_tlv_put(&inner, 0x82, NULL, 0);
	piv_tlv_put(&inner, tag, in, len);
	dyn_auth(&cmd, &inner);
	sw = apdu(card, 0x87, alg, slot, cmd.data, cmd.len, rsp);
	buf_free(&inner);
	buf_free(&cmd);
	return sw;
}

static int
ecb(const EVP_CIPHER *c, const uint8_t *key, int enc, const uint8_t *in,
    size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, f = 0, ok;

	ok = ctx && EVP_CipherInit_ex(ctx, c, NULL, key, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
	     EVP_CipherFinal_ex(ctx, out + n, &f) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* Mutual authentication with the management key (SP 800-73-4 pt 2, A.3). */
static uint16_t
mgmt_mutual(void *card, uint8_t alg, const EVP_CIPHER *c, const uint8_t *key)
{
	static const uint8_t step1[] = { 0x7C, 0x02, 0x80, 0x00 };
	struct buf rsp = BUF_INIT, inner = BUF_INIT, cmd = BUF_INIT;
	uint8_t plain[16], chal[16], expect[16];
	const uint8_t *w, *r;
	size_t wlen = 0, rlen = 0;
	uint16_t sw;

	sw = apdu(card, 0x87, alg, 0x9B, step1, sizeof step1, &rsp);
	if (sw != 0x9000)
		goto out;
	w = dyn_auth_value(&rsp, 0x80, &wlen);
	sw = 0x0001;
	if (w == NULL || wlen > 16 || ecb(c, key, 0, w, wlen, plain) != 0)
		goto out;
	RAND_bytes(chal, (int)wlen);
	piv_tlv_put(&inner, 0x80, plain, wlen);
	piv_tlv_put(&inner, 0x81, chal, wlen);
	dyn_auth(&cmd, &inner);
	sw = apdu(card, 0x87, alg, 0x9B, cmd.data, cmd.len, &rsp);
	if (sw != 0x9000)
		goto out;
	r = dyn_auth_value(&rsp, 0x82, &rlen);
	if (r == NULL || rlen != wlen || ecb(c, key, 1, chal, wlen, expect) != 0 ||
	    memcmp(r, expect, rlen) != 0)
		sw = 0x0002;	/* the card did not prove itself */
out:
	buf_free(&rsp);
	buf_free(&inner);
	buf_free(&cmd);
	return sw;
}

/* External authentication (SP 800-73-4 pt 2, A.2). */
static uint16_t
mgmt_external(void *card, uint8_t alg, const EVP_CIPHER *c, const uint8_t *key)
{
	static const uint8_t step1[] = { 0x7C, 0x02, 0x81, 0x00 };
	struct buf rsp = BUF_INIT, inner = BUF_INIT, cmd = BUF_INIT;
	uint8_t enc[16];
	const uint8_t *ch;
	size_t clen = 0;
	uint16_t sw;

	sw = apdu(card, 0x87, alg, 0x9B, step1, sizeof step1, &rsp);
	if (sw != 0x9000)
		goto out;
	ch = dyn_auth_value(&rsp, 0x81, &clen);
	sw = 0x0001;
	if (ch == NULL || clen > 16 || ecb(c, key, 1, ch, clen, enc) != 0)
		goto out;
	piv_tlv_put(&inner, 0x82, enc, clen);
	dyn_auth(&cmd, &inner);
	sw = apdu(card, 0x87, alg, 0x9B, cmd.data, cmd.len, &rsp);
out:
	buf_free(&rsp);
	buf_free(&inner);
	buf_free(&cmd);
	return sw;
}

/* The certificate in a slot's object, or NULL. */
static X509 *
read_cert(void *card, uint32_t tag)
{
	struct buf rsp = BUF_INIT;
	struct piv_tlv data, el;
	const uint8_t *p;
	size_t left;
	X509 *x = NULL;

	if (get_data(card, tag, &rsp) != 0x9000 ||
	    piv_tlv_single(rsp.data, rsp.len, 0x53, &data) != 1)
		goto out;
	p = data.value;
	left = data.len;
	while (piv_tlv_next(&p, &left, &el) == 1)
		if (el.tag == 0x70) {
			const unsigned char *d = el.value;
			x = d2i_X509(NULL, &d, (long)el.len);
		}
out:
	buf_free(&rsp);
	return x;
}

/* EMSA-PKCS1-v1_5 for SHA-256 (RFC 8017 9.2), built with OpenSSL's
 * DigestInfo encoder, so the card's raw RSA result is a standard
 * signature OpenSSL can verify. */
static int
pkcs1_block(const uint8_t *digest, size_t dlen, size_t k, uint8_t *out)
{
	X509_SIG *sig = X509_SIG_new();
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *os;
	unsigned char *der = NULL;
	int der_len, rc = -1;

	if (sig == NULL)
		return -1;
	X509_SIG_getm(sig, &alg, &os);
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) != 1 ||
	    ASN1_OCTET_STRING_set(os, digest, (int)dlen) != 1)
		goto out;
	der_len = i2d_X509_SIG(sig, &der);
	if (der_len <= 0 || (size_t)der_len + 11 > k)
		goto out;
	out[0] = 0x00;
	out[1] = 0x01;
	memset(out + 2, 0xFF, k - 3 - (size_t)der_len);
	out[k - 1 - (size_t)der_len] = 0x00;
	memcpy(out + k - (size_t)der_len, der, (size_t)der_len);
	rc = 0;
out:
	OPENSSL_free(der);
	X509_SIG_free(sig);
	return rc;
}

/* Sign a message with the card key in `slot` and verify it with `pub`. */
static void
sign_and_verify(void *card, uint8_t slot, uint8_t alg, EVP_PKEY *pub,
                const char *what)
{
	static const char msg[] = "kyso virtual PIV card self-test";
	const EVP_MD *md = alg == 0x14 ? EVP_sha384() : EVP_sha256();
	uint8_t digest[64], block[512];
	unsigned dlen = 0;
	struct buf rsp = BUF_INIT;
	const uint8_t *sig;
	size_t slen = 0;
	EVP_MD_CTX *vctx = EVP_MD_CTX_new();
	uint16_t sw;
	bool rsa = alg != 0x11 && alg != 0x14;

	EVP_Digest(msg, sizeof msg - 1, digest, &dlen, md, NULL);
	if (rsa) {
		size_t k = (size_t)EVP_PKEY_get_size(pub);
		if (pkcs1_block(digest, dlen, k, block) != 0) {
			CHECK(0, "%s: cannot build the PKCS#1 block", what);
			goto out;
		}
		sw = key_op(card, alg, slot, 0x81, block, k, &rsp);
	} else {
		sw = key_op(card, alg, slot, 0x81, digest, dlen, &rsp);
	}
	CHECK_SW(sw, 0x9000, what);
	sig = dyn_auth_value(&rsp, 0x82, &slen);
	CHECK(sig != NULL, "%s: no 7C{82} in the answer", what);
	if (sig == NULL)
		goto out;
	CHECK(vctx != NULL &&
	      EVP_DigestVerifyInit(vctx, NULL, md, NULL, pub) == 1 &&
	      EVP_DigestVerify(vctx, sig, slen, (const uint8_t *)msg,
	                       sizeof msg - 1) == 1,
	      "%s: OpenSSL does not verify the signature", what);
out:
	EVP_MD_CTX_free(vctx);
	buf_free(&rsp);
}

static EVP_PKEY *
pub_from_7f49(const struct buf *rsp, uint8_t alg)
{
	struct piv_tlv outer, el;
	const uint8_t *p, *n = NULL, *e = NULL, *pt = NULL;
	size_t left, nl = 0, el_ = 0, ptl = 0;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	bool rsa = alg != 0x11 && alg != 0x14;

	if (piv_tlv_single(rsp->data, rsp->len, 0x7F49, &outer) != 1)
		goto out;
	p = outer.value;
	left = outer.len;
	while (piv_tlv_next(&p, &left, &el) == 1) {
		if (el.tag == 0x81) { n = el.value; nl = el.len; }
		if (el.tag == 0x82) { e = el.value; el_ = el.len; }
		if (el.tag == 0x86) { pt = el.value; ptl = el.len; }
	}
	if (rsa) {
		if (n == NULL || e == NULL)
			goto out;
		bn_n = BN_bin2bn(n, (int)nl, NULL);
		bn_e = BN_bin2bn(e, (int)el_, NULL);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		if (pt == NULL)
			goto out;
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
		        alg == 0x11 ? "prime256v1" : "secp384r1", 0);
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
		                                 pt, ptl);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	BN_free(bn_n);
	BN_free(bn_e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static uint16_t
generate(void *card, uint8_t slot, uint8_t alg, uint8_t pin_policy,
         struct buf *rsp)
{
	uint8_t d[8] = { 0xAC, 3, 0x80, 1, alg };
	size_t n = 5;

	if (pin_policy) {
		d[1] = 6;
		d[5] = 0xAA;
		d[6] = 1;
		d[7] = pin_policy;
		n = 8;
	}
	return apdu(card, 0x47, 0x00, slot, d, n, rsp);
}

static void
test_basics(void *card)
{
	struct buf rsp = BUF_INIT;
	uint8_t atr[33];
	size_t n = vcard_piv.atr(card, atr);
	uint8_t x = 0;

	for (size_t i = 1; i < n; i++)
		x ^= atr[i];
	CHECK(n == 23 && x == 0, "ATR: length %zu, TCK check %02X", n, x);

	CHECK_SW(get_data(card, 0x5FC102, &rsp), 0x6D00, "GET DATA before SELECT");
	CHECK_SW(apdu(card, 0xA4, 0x04, 0x00, (const uint8_t *)"\xA0\x00\x00\x00\x01", 5, &rsp),
	         0x6A82, "SELECT of another AID");
	CHECK_SW(select_piv(card, &rsp), 0x9000, "SELECT PIV");
	CHECK(rsp.len == 19 && rsp.data[0] == 0x61, "SELECT answers the APT");
	CHECK_SW(apdu(card, 0xA4, 0x04, 0x00, (const uint8_t *)"\xA0\x00\x00\x03\x08", 5, &rsp),
	         0x9000, "SELECT with the truncated AID");
	CHECK_SW(apdu(card, 0xFD, 0, 0, NULL, 0, &rsp), 0x9000, "GET VERSION");
	CHECK(rsp.len == 3 && rsp.data[0] == 5, "GET VERSION gives 5.x.y");
	CHECK_SW(apdu(card, 0xF8, 0, 0, NULL, 0, &rsp), 0x9000, "GET SERIAL");
	CHECK(rsp.len == 4, "GET SERIAL gives 4 bytes");

	CHECK_SW(get_data(card, 0x5FC102, &rsp), 0x9000, "GET DATA CHUID");
	CHECK(rsp.len > 2 && rsp.data[0] == 0x53, "CHUID is a 53 object");
	CHECK_SW(get_data(card, 0x5FC107, &rsp), 0x9000, "GET DATA CCC");
	CHECK_SW(get_data(card, 0x7E, &rsp), 0x9000, "GET DATA Discovery");
	CHECK(rsp.len == 20 && rsp.data[0] == 0x7E, "Discovery is 7E 12 ...");
	CHECK_SW(get_data(card, 0x5FC10C, &rsp), 0x9000, "GET DATA Key History");
	CHECK_SW(get_data(card, 0x5FC109, &rsp), 0x6982, "Printed Information needs the PIN");
	CHECK_SW(get_data(card, 0x5FC108, &rsp), 0x6A82, "absent Facial Image (before the PIN)");
	CHECK_SW(get_data(card, 0x5FC10D, &rsp), 0x6A82, "absent retired cert 1");
	CHECK_SW(get_data(card, 0x5FC1FF, &rsp), 0x6A80, "GET DATA of a bad tag");
	CHECK_SW(apdu(card, 0xCB, 0x3F, 0xFF, (const uint8_t *)"\x5C\x05\x5F", 3, &rsp),
	         0x6A80, "GET DATA with a truncated tag list");
	CHECK_SW(apdu(card, 0xCB, 0x3F, 0xFE, (const uint8_t *)"\x5C\x01\x7E", 3, &rsp),
	         0x6A86, "GET DATA with a bad P2");
	CHECK_SW(apdu(card, 0x01, 0, 0, NULL, 0, &rsp), 0x6D00, "unknown INS");
	buf_free(&rsp);
}

static void
test_pin(void *card)
{
	static const uint8_t wrong[8] = { '0', '0', '0', '0', '0', '0', 0xFF, 0xFF };

	CHECK_SW(verify_pin(card, NULL), 0x63C3, "PIN status, not verified");
	CHECK_SW(verify_pin(card, wrong), 0x63C2, "wrong PIN");
	CHECK_SW(verify_pin(card, NULL), 0x63C2, "PIN status after a wrong PIN");
	CHECK_SW(verify_pin(card, pin_default), 0x9000, "right PIN");
	CHECK_SW(verify_pin(card, NULL), 0x9000, "PIN status, verified");
	{
		struct buf rsp = BUF_INIT;
		CHECK_SW(apdu(card, 0xF7, 0x00, 0x80, NULL, 0, &rsp), 0x9000,
		         "PIN metadata");
		CHECK(rsp.len == 10 && rsp.data[rsp.len - 1] == 3,
		      "PIN metadata: 3 tries left after a right PIN");
		CHECK_SW(get_data(card, 0x5FC109, &rsp), 0x9000,
		         "Printed Information with the PIN");
		CHECK(rsp.len > 2 && rsp.data[0] == 0x53, "Printed Information is 53");
		CHECK_SW(apdu(card, 0x20, 0xFF, 0x80, NULL, 0, &rsp), 0x9000,
		         "VERIFY P1=FF");
		CHECK_SW(get_data(card, 0x5FC109, &rsp), 0x6982,
		         "Printed Information after VERIFY P1=FF");
		CHECK_SW(verify_pin(card, NULL), 0x63C3, "PIN status after reset");
		CHECK_SW(apdu(card, 0x20, 0x00, 0x00, pin_default, 8, &rsp), 0x6A88,
		         "global PIN is not there");
		CHECK_SW(apdu(card, 0x20, 0x00, 0x81, puk_default, 8, &rsp), 0x6A88,
		         "VERIFY does not take the PUK");
		CHECK_SW(apdu(card, 0x20, 0x00, 0x80, pin_default, 6, &rsp), 0x6A80,
		         "VERIFY with 6 bytes");
		buf_free(&rsp);
	}
}

static EVP_PKEY *
cert_pub(X509 *x)
{
	return x ? X509_get0_pubkey(x) : NULL;
}

static void
test_demo_keys(void *card, X509 **certs)
{
	static const struct { uint8_t slot, alg; uint32_t tag; } slots[] = {
		{ 0x9A, 0x07, 0x5FC105 }, { 0x9C, 0x11, 0x5FC10A },
		{ 0x9D, 0x07, 0x5FC10B }, { 0x9E, 0x14, 0x5FC101 },
	};
	struct buf rsp = BUF_INIT;
	char what[64];

	for (size_t i = 0; i < 4; i++) {
		certs[i] = read_cert(card, slots[i].tag);
		CHECK(certs[i] != NULL, "certificate of slot %02X", slots[i].slot);
	}
	/* Without the PIN: 9E works, the others do not. */
	CHECK_SW(key_op(card, 0x07, 0x9A, 0x81, (const uint8_t *)"x", 1, &rsp),
	         0x6982, "9A without the PIN");
	sign_and_verify(card, 0x9E, 0x14, cert_pub(certs[3]), "9E sign, no PIN");
	CHECK_SW(verify_pin(card, pin_default), 0x9000, "PIN");
	for (size_t i = 0; i < 4; i++) {
		if (certs[i] == NULL)
			continue;
		if (slots[i].slot == 0x9C)
			CHECK_SW(verify_pin(card, pin_default), 0x9000,
			         "PIN before 9C");
		snprintf(what, sizeof what, "sign with %02X", slots[i].slot);
		sign_and_verify(card, slots[i].slot, slots[i].alg,
		                cert_pub(certs[i]), what);
	}
	/* 9C: PIN always. */
	CHECK_SW(key_op(card, 0x11, 0x9C, 0x81, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32, &rsp),
	         0x6982, "9C again without a new VERIFY");
	CHECK_SW(verify_pin(card, pin_default), 0x9000, "PIN");
	CHECK_SW(get_data(card, 0x5FC102, &rsp), 0x9000, "a GET DATA in between");
	CHECK_SW(key_op(card, 0x11, 0x9C, 0x81, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32, &rsp),
	         0x6982, "9C after VERIFY, GET DATA");
	CHECK_SW(verify_pin(card, pin_default), 0x9000, "PIN");
	CHECK_SW(verify_pin(card, NULL), 0x9000, "PIN status query");
	sign_and_verify(card, 0x9C, 0x11, cert_pub(certs[1]),
	                "9C after VERIFY and a status query");

	/* Wrong algorithm, wrong length, RSA input above the modulus. */
	CHECK_SW(key_op(card, 0x06, 0x9A, 0x81, (const uint8_t *)"x", 1, &rsp),
	         0x6A80, "9A with RSA-1024's algorithm");
	CHECK_SW(key_op(card, 0x07, 0x9A, 0x81, (const uint8_t *)"x", 1, &rsp),
	         0x6A80, "9A with 1 byte");
	{
		uint8_t big[256];
		memset(big, 0xFF, sizeof big);
		CHECK_SW(key_op(card, 0x07, 0x9A, 0x81, big, sizeof big, &rsp),
		         0x6A80, "RSA input not below the modulus");
	}

	/* RSA decryption with 9D: PKCS#1 v1.5 encryption by OpenSSL, raw
	 * decryption by the card. */
	if (certs[2] != NULL) {
		static const uint8_t secret[] = "a session key for 9D";
		EVP_PKEY_CTX *ectx = EVP_PKEY_CTX_new_from_pkey(NULL, cert_pub(certs[2]), NULL);
		uint8_t ct[256];
		size_t ctlen = sizeof ct, plen = 0;
		const uint8_t *pt;

		CHECK(ectx && EVP_PKEY_encrypt_init(ectx) == 1 &&
		      EVP_PKEY_CTX_set_rsa_padding(ectx, RSA_PKCS1_PADDING) == 1 &&
		      EVP_PKEY_encrypt(ectx, ct, &ctlen, secret, sizeof secret) == 1,
		      "OpenSSL encrypts to 9D");
		EVP_PKEY_CTX_free(ectx);
		CHECK_SW(key_op(card, 0x07, 0x9D, 0x81, ct, ctlen, &rsp), 0x9000,
		         "decrypt with 9D");
		pt = dyn_auth_value(&rsp, 0x82, &plen);
		CHECK(pt != NULL && plen == 256 && pt[0] == 0 && pt[1] == 2 &&
		      memcmp(pt + plen - sizeof secret, secret, sizeof secret) == 0,
		      "9D decrypts to the PKCS#1 block of the secret");
	}

	/* ECDH with 9E against an ephemeral OpenSSL key. */
	if (certs[3] != NULL) {
		EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
		uint8_t point[97], want[48];
		size_t plen = 0, wlen = sizeof want, glen = 0;
		EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
		const uint8_t *got;

		CHECK(eph && EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_PUB_KEY,
		              point, sizeof point, &plen) == 1 &&
		      dctx && EVP_PKEY_derive_init(dctx) == 1 &&
		      EVP_PKEY_derive_set_peer(dctx, cert_pub(certs[3])) == 1 &&
		      EVP_PKEY_derive(dctx, want, &wlen) == 1,
		      "OpenSSL derives with 9E's public key");
		CHECK_SW(key_op(card, 0x14, 0x9E, 0x85, point, plen, &rsp), 0x9000,
		         "ECDH with 9E");
		got = dyn_auth_value(&rsp, 0x82, &glen);
		CHECK(got && glen == wlen && memcmp(got, want, wlen) == 0,
		      "9E's ECDH agrees with OpenSSL's");
		point[plen - 1] ^= 1;	/* off the curve */
		CHECK_SW(key_op(card, 0x14, 0x9E, 0x85, point, plen, &rsp), 0x6A80,
		         "ECDH with a point off the curve");
		EVP_PKEY_CTX_free(dctx);
		EVP_PKEY_free(eph);
	}
	buf_free(&rsp);
}

static void
test_mgmt_and_keys(void *card)
{
	struct buf rsp = BUF_INIT;
	uint8_t bad[24];
	EVP_PKEY *pub;

	CHECK_SW(generate(card, 0x82, 0x11, 0, &rsp), 0x6982,
	         "GENERATE without the management key");
	memcpy(bad, mgmt_default, sizeof bad);
	bad[0] ^= 0x40;
	CHECK_SW(mgmt_mutual(card, 0x03, EVP_des_ede3_ecb(), bad), 0x6982,
	         "mutual authentication with a wrong key");
	CHECK_SW(mgmt_external(card, 0x03, EVP_des_ede3_ecb(), bad), 0x6982,
	         "external authentication with a wrong key");
	CHECK_SW(mgmt_mutual(card, 0x08, EVP_aes_128_ecb(), mgmt_default), 0x6A86,
	         "mutual authentication with the wrong algorithm");
	CHECK_SW(mgmt_external(card, 0x03, EVP_des_ede3_ecb(), mgmt_default), 0x9000,
	         "external authentication, default 3DES key");
	CHECK_SW(mgmt_mutual(card, 0x03, EVP_des_ede3_ecb(), mgmt_default), 0x9000,
	         "mutual authentication, default 3DES key");
	{
		static const uint8_t ch[] = { 0x7C, 0x02, 0x81, 0x00 };
		const uint8_t *r;
		size_t rlen = 0;
		CHECK_SW(apdu(card, 0x87, 0x00, 0x9B, ch, sizeof ch, &rsp), 0x9000,
		         "OpenSSC-style GET CHALLENGE with algorithm 00");
		r = dyn_auth_value(&rsp, 0x81, &rlen);
		CHECK(r != NULL && rlen == 8, "8 random bytes");
		CHECK_SW(mgmt_mutual(card, 0x03, EVP_des_ede3_ecb(), mgmt_default), 0x9000,
		         "mutual authentication again");
	}

	/* GENERATE in 82 (EC P-256), sign, verify with the returned point. */
	CHECK_SW(generate(card, 0x82, 0x11, 0, &rsp), 0x9000, "GENERATE P-256 in 82");
	pub = pub_from_7f49(&rsp, 0x11);
	CHECK(pub != NULL, "GENERATE answers 7F49{86 point}");
	CHECK_SW(verify_pin(card, pin_default), 0x9000, "PIN");
	if (pub)
		sign_and_verify(card, 0x82, 0x11, pub, "sign with the new 82 key");
	EVP_PKEY_free(pub);
	/* RSA-1024 in 83 with PIN policy never. */
	CHECK_SW(generate(card, 0x83, 0x06, 0x01, &rsp), 0x9000,
	         "GENERATE RSA-1024 in 83, PIN never");
	pub = pub_from_7f49(&rsp, 0x06);
	CHECK(pub != NULL, "GENERATE answers 7F49{81 n, 82 e}");
	CHECK_SW(apdu(card, 0x20, 0xFF, 0x80, NULL, 0, &rsp), 0x9000, "PIN reset");
	if (pub)
		sign_and_verify(card, 0x83, 0x06, pub, "sign with 83, no PIN");
	EVP_PKEY_free(pub);
	/* RSA-3072 (YubiKey 5.7's algorithm 05) in 86. */
	CHECK_SW(generate(card, 0x86, 0x05, 0, &rsp), 0x9000, "GENERATE RSA-3072 in 86");
	pub = pub_from_7f49(&rsp, 0x05);
	CHECK(pub != NULL && EVP_PKEY_get_bits(pub) == 3072, "a 3072-bit modulus");
	CHECK_SW(verify_pin(card, pin_default), 0x9000, "PIN");
	if (pub)
		sign_and_verify(card, 0x86, 0x05, pub, "sign with 86 (RSA-3072)");
	EVP_PKEY_free(pub);
	CHECK_SW(generate(card, 0x83, 0x42, 0, &rsp), 0x6A80, "GENERATE unknown alg");
	CHECK_SW(generate(card, 0x9B, 0x11, 0, &rsp), 0x6A86, "GENERATE into 9B");
	CHECK_SW(apdu(card, 0x47, 0x00, 0x83, (const uint8_t *)"\xAC\x05\x80\x01", 4, &rsp),
	         0x6A80, "GENERATE with a truncated template");

	/* Metadata. */
	CHECK_SW(apdu(card, 0xF7, 0x00, 0x82, NULL, 0, &rsp), 0x9000, "metadata of 82");
	CHECK(rsp.len > 12 && rsp.data[0] == 0x01 && rsp.data[2] == 0x11 &&
	      rsp.data[3] == 0x02 && rsp.data[5] == 0x02 && rsp.data[6] == 0x01 &&
	      rsp.data[7] == 0x03 && rsp.data[9] == 0x01,
	      "metadata of 82: P-256, PIN once, touch never, generated");
	CHECK_SW(apdu(card, 0xF7, 0x00, 0x9C, NULL, 0, &rsp), 0x9000, "metadata of 9C");
	CHECK(rsp.len > 6 && rsp.data[5] == 0x03, "metadata of 9C: PIN always");
	CHECK_SW(apdu(card, 0xF7, 0x00, 0x95, NULL, 0, &rsp), 0x6A88, "metadata of empty 95");
	CHECK_SW(apdu(card, 0xF7, 0x00, 0x9B, NULL, 0, &rsp), 0x9000, "metadata of 9B");
	CHECK(rsp.len == 10 && rsp.data[2] == 0x03 && rsp.data[9] == 1,
	      "metadata of 9B: 3DES, default");

	/* IMPORT KEY: EC P-384 into 84 and RSA-2048 into 85. */
	{
		EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
		EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		BIGNUM *bn = NULL;
		struct buf imp = BUF_INIT;
		uint8_t v[256];
		static const char *const crt[] = {
			OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
			OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
			OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
		};

		CHECK(ec && EVP_PKEY_get_bn_param(ec, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1,
		      "an EC key to import");
		BN_bn2binpad(bn, v, 48);
		BN_clear_free(bn);
		bn = NULL;
		piv_tlv_put(&imp, 0x06, v, 48);
		piv_tlv_put(&imp, 0xAA, (const uint8_t *)"\x01", 1);
		CHECK_SW(apdu(card, 0xFE, 0x14, 0x84, imp.data, imp.len, &rsp), 0x9000,
		         "IMPORT KEY P-384 into 84");
		sign_and_verify(card, 0x84, 0x14, ec, "sign with the imported 84 key");
		buf_clear(&imp);
		for (int i = 0; i < 5; i++) {
			CHECK(EVP_PKEY_get_bn_param(rsa, crt[i], &bn) == 1,
			      "RSA CRT component %d", i);
			BN_bn2binpad(bn, v, 128);
			BN_clear_free(bn);
			bn = NULL;
			piv_tlv_put(&imp, (uint32_t)(i + 1), v, 128);
		}
		CHECK_SW(apdu(card, 0xFE, 0x07, 0x85, imp.data, imp.len, &rsp), 0x9000,
		         "IMPORT KEY RSA-2048 into 85");
		CHECK_SW(verify_pin(card, pin_default), 0x9000, "PIN");
		sign_and_verify(card, 0x85, 0x07, rsa, "sign with the imported 85 key");
		imp.data[imp.len - 1] ^= 1;	/* a wrong qInv */
		CHECK_SW(apdu(card, 0xFE, 0x07, 0x86, imp.data, imp.len, &rsp), 0x6A80,
		         "IMPORT KEY with inconsistent CRT components");
		CHECK_SW(apdu(card, 0xFE, 0x07, 0x86, imp.data, 20, &rsp), 0x6A80,
		         "IMPORT KEY with truncated data");
		CHECK_SW(apdu(card, 0xF7, 0x00, 0x85, NULL, 0, &rsp), 0x9000, "metadata of 85");
		CHECK(rsp.len > 12 && rsp.data[9] == 0x02, "85 is imported");
		buf_free(&imp);
		EVP_PKEY_free(ec);
		EVP_PKEY_free(rsa);
	}

	/* ATTEST the generated 82 key with F9. */
	{
		X509 *f9 = read_cert(card, 0x5FFF01), *att = NULL;
		const unsigned char *d;

		CHECK(f9 != NULL, "attestation certificate in 5FFF01");
		CHECK_SW(apdu(card, 0xF9, 0x82, 0x00, NULL, 0, &rsp), 0x9000, "ATTEST 82");
		d = rsp.data;
		att = d2i_X509(NULL, &d, (long)rsp.len);
		CHECK(att != NULL, "ATTEST answers a certificate");
		CHECK(att && f9 && X509_verify(att, X509_get0_pubkey(f9)) == 1,
		      "the attestation is signed by F9");
		CHECK_SW(apdu(card, 0xF9, 0x84, 0x00, NULL, 0, &rsp), 0x6A80,
		         "ATTEST of an imported key");
		X509_free(att);
		X509_free(f9);
	}

	/* Certificates: PUT DATA, GET DATA, delete. */
	{
		static const uint8_t obj[] = {
			0x5C, 0x03, 0x5F, 0xC1, 0x0D,
			0x53, 0x08, 0x70, 0x01, 0x30, 0x71, 0x01, 0x00, 0xFE, 0x00,
		};
		static const uint8_t del[] = { 0x5C, 0x03, 0x5F, 0xC1, 0x0D, 0x53, 0x00 };
		CHECK_SW(apdu(card, 0xDB, 0x3F, 0xFF, obj, sizeof obj, &rsp), 0x9000,
		         "PUT DATA retired cert 1");
		CHECK_SW(get_data(card, 0x5FC10D, &rsp), 0x9000, "GET DATA retired cert 1");
		CHECK(rsp.len == 10 && memcmp(rsp.data, obj + 5, 10) == 0,
		      "the object reads back");
		CHECK_SW(apdu(card, 0xDB, 0x3F, 0xFF, obj, sizeof obj - 1, &rsp), 0x6A80,
		         "PUT DATA with a short object");
		CHECK_SW(apdu(card, 0xDB, 0x3F, 0xFF, del, sizeof del, &rsp), 0x9000,
		         "PUT DATA 53 00 deletes");
		CHECK_SW(get_data(card, 0x5FC10D, &rsp), 0x6A82, "deleted object");
	}

	/* A new AES-128 management key, then authenticate with it. */
	{
		static const uint8_t aes[16] = "kyso-aes-128-key";
		struct buf d = BUF_INIT;

		buf_append_byte(&d, 0x08);
		piv_tlv_put(&d, 0x9B, aes, sizeof aes);
		CHECK_SW(apdu(card, 0xFF, 0xFF, 0xFF, d.data, d.len, &rsp), 0x9000,
		         "SET MANAGEMENT KEY AES-128");
		CHECK_SW(mgmt_mutual(card, 0x03, EVP_des_ede3_ecb(), mgmt_default), 0x6A86,
		         "the 3DES key is gone");
		CHECK_SW(mgmt_mutual(card, 0x08, EVP_aes_128_ecb(), aes), 0x9000,
		         "mutual authentication with AES-128");
		CHECK_SW(mgmt_external(card, 0x08, EVP_aes_128_ecb(), aes), 0x9000,
		         "external authentication with AES-128");
		buf_free(&d);
	}
	buf_free(&rsp);
}

static void
test_pin_management(void *card)
{
	static const uint8_t change[16] = {
		'1', '2', '3', '4', '5', '6', 0xFF, 0xFF,
		'8', '7', '6', '5', '4', '3', '2', '1',
	};
	static const uint8_t newpin[8] = { '8', '7', '6', '5', '4', '3', '2', '1' };
	static const uint8_t unblock[16] = {
		'1', '2', '3', '4', '5', '6', '7', '8',
		'2', '4', '6', '8', '1', '0', 0xFF, 0xFF,
	};
	static const uint8_t pin3[8] = { '2', '4', '6', '8', '1', '0', 0xFF, 0xFF };
	static const uint8_t ff16[16] = {
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	};
	uint8_t short_new[16];
	struct buf rsp = BUF_INIT;

	memcpy(short_new, change, 8);
	memcpy(short_new + 8, "12345\xFF\xFF\xFF", 8);
	CHECK_SW(apdu(card, 0x24, 0x00, 0x80, short_new, 16, &rsp), 0x6A80,
	         "CHANGE REFERENCE to a 5-digit PIN");
	CHECK_SW(apdu(card, 0x24, 0x00, 0x80, change, 16, &rsp), 0x9000,
	         "CHANGE REFERENCE DATA PIN");
	CHECK_SW(verify_pin(card, pin_default), 0x63C2, "the old PIN");
	CHECK_SW(verify_pin(card, newpin), 0x9000, "the new PIN");
	CHECK_SW(verify_pin(card, pin_default), 0x63C2, "old PIN");
	CHECK_SW(verify_pin(card, pin_default), 0x63C1, "old PIN");
	CHECK_SW(verify_pin(card, pin_default), 0x63C0, "old PIN, last try");
	CHECK_SW(verify_pin(card, newpin), 0x6983, "blocked PIN");
	CHECK_SW(verify_pin(card, NULL), 0x6983, "blocked PIN status");
	CHECK_SW(apdu(card, 0xFB, 0, 0, NULL, 0, &rsp), 0x6985,
	         "RESET while the PUK works");
	CHECK_SW(apdu(card, 0x2C, 0x00, 0x80, unblock, 16, &rsp), 0x9000,
	         "RESET RETRY COUNTER with the PUK");
	CHECK_SW(verify_pin(card, pin3), 0x9000, "the PIN set with the PUK");
	/* Block both, then RESET. */
	for (int i = 0; i < 3; i++)
		verify_pin(card, pin_default);
	CHECK_SW(apdu(card, 0x2C, 0x00, 0x80, ff16, 16, &rsp), 0x63C2, "wrong PUK");
	CHECK_SW(apdu(card, 0x2C, 0x00, 0x80, ff16, 16, &rsp), 0x63C1, "wrong PUK");
	CHECK_SW(apdu(card, 0x2C, 0x00, 0x80, ff16, 16, &rsp), 0x63C0, "wrong PUK");
	CHECK_SW(apdu(card, 0x2C, 0x00, 0x80, unblock, 16, &rsp), 0x6983, "blocked PUK");
	CHECK_SW(apdu(card, 0xFB, 0, 0, NULL, 0, &rsp), 0x9000, "RESET");
	CHECK_SW(verify_pin(card, pin_default), 0x9000, "default PIN after RESET");
	CHECK_SW(apdu(card, 0xF7, 0x00, 0x9A, NULL, 0, &rsp), 0x6A88, "9A is empty after RESET");
	CHECK_SW(get_data(card, 0x5FC105, &rsp), 0x6A82, "no 9A certificate after RESET");
	CHECK_SW(mgmt_mutual(card, 0x03, EVP_des_ede3_ecb(), mgmt_default), 0x9000,
	         "default management key after RESET");
	CHECK_SW(apdu(card, 0xF7, 0x00, 0xF9, NULL, 0, &rsp), 0x9000,
	         "the attestation key survives RESET");
	CHECK_SW(apdu(card, 0xFA, 5, 4, NULL, 0, &rsp), 0x9000, "SET PIN RETRIES 5 4");
	CHECK_SW(verify_pin(card, NULL), 0x63C5, "5 PIN tries");
	buf_free(&rsp);
}

/* Random commands for every instruction: nothing may crash (run this
 * under ASan to make it mean something). */
static void
test_garbage(void *card)
{
	static const uint8_t ins[] = {
		0x20, 0x24, 0x2C, 0x47, 0x87, 0xA4, 0xCB, 0xDB, 0xF7, 0xF8,
		0xF9, 0xFA, 0xFD, 0xFE, 0xFF,
	};
	struct buf rsp = BUF_INIT;
	uint8_t data[300];
	uint8_t hdr[4];

	for (int i = 0; i < 3000; i++) {
		size_t lc;
		RAND_bytes(hdr, sizeof hdr);
		RAND_bytes(data, sizeof data);
		lc = hdr[3] % 40;
		/* Half of them start with a plausible outer tag. */
		if (hdr[0] & 1) {
			static const uint8_t outer[] = { 0x7C, 0xAC, 0x5C, 0x01, 0x06 };
			data[0] = outer[hdr[1] % sizeof outer];
			data[1] = (uint8_t)(hdr[2] % 0x84);
		}
		apdu(card, ins[hdr[1] % sizeof ins], hdr[2] & 0x0F ? 0x00 : hdr[2],
		     hdr[0] & 2 ? 0x9A : hdr[2], data, lc, &rsp);
	}
	CHECK(1, "garbage");
	buf_free(&rsp);
}

static void *
create(const char *state, const char *provision)
{
	struct vcard_options opt = { .state_file = state, .provision = provision };
	void *card = vcard_piv.create(&opt);

	if (card != NULL)
		vcard_piv.reset(card);
	return card;
}

static bool
same_cert(X509 *a, X509 *b)
{
	return a != NULL && b != NULL && X509_cmp(a, b) == 0;
}

static void
test_state(const char *dir)
{
	char state[512], ca_path[600];
	static const uint8_t change[16] = {
		'1', '2', '3', '4', '5', '6', 0xFF, 0xFF,
		'1', '1', '2', '2', '3', '3', 0xFF, 0xFF,
	};
	static const uint8_t newpin[8] = { '1', '1', '2', '2', '3', '3', 0xFF, 0xFF };
	struct buf rsp = BUF_INIT;
	X509 *before[4] = { NULL }, *after[4] = { NULL }, *ca = NULL;
	void *card;
	FILE *f;

	snprintf(state, sizeof state, "%s/piv-state", dir);
	snprintf(ca_path, sizeof ca_path, "%s.ca.pem", state);
	unlink(state);
	unlink(ca_path);

	card = create(state, "demo");
	CHECK(card != NULL, "a demo card with a state file");
	if (card == NULL)
		return;
	select_piv(card, &rsp);
	test_demo_keys(card, before);
	CHECK_SW(apdu(card, 0x24, 0x00, 0x80, change, 16, &rsp), 0x9000,
	         "change the PIN before the restart");
	CHECK_SW(verify_pin(card, pin_default), 0x63C2, "a wrong PIN before restart");
	vcard_piv.destroy(card);

	f = fopen(ca_path, "r");
	CHECK(f != NULL, "the CA certificate is written next to the state");
	if (f) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	for (int i = 0; i < 4; i++)
		CHECK(ca && before[i] &&
		      X509_verify(before[i], X509_get0_pubkey(ca)) == 1,
		      "the demo CA issued leaf %d", i);

	/* --provision demo on an existing state changes nothing. */
	card = create(state, "demo");
	CHECK(card != NULL, "the card comes back from its state file");
	if (card == NULL)
		goto out;
	select_piv(card, &rsp);
	CHECK_SW(verify_pin(card, NULL), 0x63C2, "the PIN counter survived");
	CHECK_SW(verify_pin(card, newpin), 0x9000, "the new PIN survived");
	{
		static const uint32_t tags[4] = { 0x5FC105, 0x5FC10A, 0x5FC10B, 0x5FC101 };
		for (int i = 0; i < 4; i++) {
			after[i] = read_cert(card, tags[i]);
			CHECK(same_cert(before[i], after[i]), "certificate %d kept", i);
		}
	}
	sign_and_verify(card, 0x9A, 0x07, cert_pub(after[0]), "9A after restart");
	sign_and_verify(card, 0x9E, 0x14, cert_pub(after[3]), "9E after restart");
	CHECK_SW(mgmt_mutual(card, 0x03, EVP_des_ede3_ecb(), mgmt_default), 0x9000,
	         "management key after restart");
	vcard_piv.destroy(card);

	/* A corrupt state file is refused, not half-loaded. */
	f = fopen(state, "a");
	if (f) {
		fputs("key 9a zz\n", f);
		fclose(f);
	}
	card = create(state, NULL);
	CHECK(card == NULL, "a corrupt state file is refused");
	if (card)
		vcard_piv.destroy(card);
out:
	for (int i = 0; i < 4; i++) {
		X509_free(before[i]);
		X509_free(after[i]);
	}
	X509_free(ca);
	buf_free(&rsp);
	unlink(state);
	unlink(ca_path);
}

static void
test_factory(void)
{
	struct buf rsp = BUF_INIT;
	void *card = create(NULL, NULL);

	CHECK(card != NULL, "a factory card");
	if (card == NULL)
		return;
	select_piv(card, &rsp);
	CHECK_SW(get_data(card, 0x5FC102, &rsp), 0x9000, "factory CHUID");
	CHECK_SW(get_data(card, 0x5FC105, &rsp), 0x6A82, "no 9A certificate");
	CHECK_SW(apdu(card, 0xF7, 0x00, 0x9A, NULL, 0, &rsp), 0x6A88, "no 9A key");
	CHECK_SW(apdu(card, 0xF7, 0x00, 0x81, NULL, 0, &rsp), 0x9000, "PUK metadata");
	CHECK(rsp.len == 10 && rsp.data[5] == 1, "the PUK is the default");
	vcard_piv.destroy(card);
	buf_free(&rsp);
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : NULL;
	char tmpl[] = "/tmp/piv-selftest.XXXXXX";
	char ca_out[600];
	X509 *certs[4] = { NULL };
	void *card;

	if (dir == NULL) {
		dir = mkdtemp(tmpl);
		if (dir == NULL) {
			perror("mkdtemp");
			return 1;
		}
	}
	snprintf(ca_out, sizeof ca_out, "%s/ca-out.pem", dir);
	setenv("KYSO_VCARD_CA_OUT", ca_out, 1);

	test_factory();

	card = create(NULL, "demo");
	CHECK(card != NULL, "a demo card in memory");
	if (card != NULL) {
		test_basics(card);
		test_pin(card);
		test_demo_keys(card, certs);
		test_mgmt_and_keys(card);
		test_pin_management(card);
		test_garbage(card);
		vcard_piv.destroy(card);
	}
	CHECK(access(ca_out, R_OK) == 0, "KYSO_VCARD_CA_OUT receives the CA");
	unlink(ca_out);
	for (int i = 0; i < 4; i++)
		X509_free(certs[i]);

	test_state(dir);
	if (argc <= 1)
		rmdir(dir);

	printf("piv-selftest: %d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
