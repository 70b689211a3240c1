/* Fuzz drivers/padding.c's decoders of what a card computed: the PKCS#1
 * v1.5 and OAEP unpadding of a raw RSA decryption (RFC 8017 7.2.2, 7.1.2)
 * and the DER ECDSA signature to r||s conversion (RFC 3279 2.2.3), with the
 * encoders' outputs checked against what they promise.
 *
 * Input: 1 byte selecting the function, then its parameters and data:
 *   0  padding_pkcs1_decrypt(rest), k = its length
 *   1  padding_pkcs1_decrypt with a k that is not the length (refused)
 *   2  padding_oaep_decrypt: hash, MGF1 hash, label byte (bit 7: source
 *      unset; bits 0-3: label length), the label, then the block
 *   3  padding_ecdsa_der_to_raw: order length, then the DER
 *   4  a PKCS#1 v1.5 type 2 block built from the input: unpadding gives
 *      the message back (padding length byte, then the message)
 *   5  the encoders: padding_pkcs1_sign, padding_raw, padding_ecdsa_input
 *      with k or the order length (1-256) from one byte */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "drivers/padding.h"
#include "tests/fuzz/fuzz.h"

static const CK_MECHANISM_TYPE fuzz_hashes[6] = {
	CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_MD5,
};
static const CK_RSA_PKCS_MGF_TYPE fuzz_mgfs[6] = {
	CKG_MGF1_SHA1, CKG_MGF1_SHA224, CKG_MGF1_SHA256, CKG_MGF1_SHA384,
	CKG_MGF1_SHA512, 0,
};

static void
fuzz_pkcs1(const uint8_t *em, size_t len)
{
	struct buf out = BUF_INIT;

	if (padding_pkcs1_decrypt(em, len, len, &out) == CKR_OK) {
		/* The message is the block's tail, after at least 8 bytes of
		 * padding (RFC 8017 7.2.2 step 3). */
		FUZZ_CHECK(len >= 11 && out.len <= len - 11);
		FUZZ_CHECK(out.len == 0 || memcmp(out.data, em + len - out.len, out.len) == 0);
	} else {
		FUZZ_CHECK(out.len == 0);
	}
	buf_free(&out);
}

static void
fuzz_pkcs1_wrong_k(const uint8_t *p, size_t len)
{
	struct buf out = BUF_INIT;
	size_t k;

	if (len < 1)
		return;
	k = (size_t)p[0] * 2;
	if (k != len - 1)
		FUZZ_CHECK(padding_pkcs1_decrypt(p + 1, len - 1, k, &out) ==
		           CKR_ENCRYPTED_DATA_INVALID);
	buf_free(&out);
}

static void
fuzz_oaep(const uint8_t *p, size_t len)
{
	CK_RSA_PKCS_OAEP_PARAMS params;
	struct buf out = BUF_INIT;
	const EVP_MD *md;
	size_t label_len;
	CK_RV rv;

	if (len < 3)
		return;
	params.hashAlg = fuzz_hashes[p[0] % 6];
	params.mgf = fuzz_mgfs[p[1] % 6];
	params.source = (p[2] & 0x80) ? 0 : CKZ_DATA_SPECIFIED;
	label_len = p[2] & 0x0F;
	p += 3;
	len -= 3;
	if (label_len > len)
		return;
	params.pSourceData = label_len > 0 ? (void *)p : NULL;
	params.ulSourceDataLen = label_len;
	p += label_len;
	len -= label_len;
	rv = padding_oaep_decrypt(p, len, len, &params, &out);
	md = padding_md_from_mech(params.hashAlg);
	if (rv == CKR_OK) {
		/* RFC 8017 7.1.2 step 1: k >= 2 hLen + 2. */
		size_t h;
		FUZZ_CHECK(md != NULL && padding_md_from_mgf(params.mgf) != NULL);
		h = (size_t)EVP_MD_get_size(md);
		FUZZ_CHECK(len >= 2 * h + 2 && out.len <= len - 2 * h - 2);
	} else {
		FUZZ_CHECK(out.len == 0);
	}
	buf_free(&out);
}

static void
fuzz_ecdsa(const uint8_t *p, size_t len)
{
	struct buf out = BUF_INIT;
	size_t order;

	if (len < 1)
		return;
	order = p[0];
	if (padding_ecdsa_der_to_raw(p + 1, len - 1, order, &out) == CKR_OK) {
		const uint8_t *der = p + 1;
		ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &der, (long)(len - 1));
		const BIGNUM *r, *s;
		BIGNUM *r2, *s2;

		/* r||s, each the order's size, the same numbers as the DER. */
		FUZZ_CHECK(sig != NULL && out.len == 2 * order);
		ECDSA_SIG_get0(sig, &r, &s);
		r2 = BN_bin2bn(out.data, (int)order, NULL);
		s2 = BN_bin2bn(out.data + order, (int)order, NULL);
		FUZZ_CHECK(r2 != NULL && s2 != NULL);
		FUZZ_CHECK(BN_cmp(r, r2) == 0 && BN_cmp(s, s2) == 0);
		BN_free(r2);
		BN_free(s2);
		ECDSA_SIG_free(sig);
	} else {
		FUZZ_CHECK(out.len == 0);
	}
	buf_free(&out);
}

static void
fuzz_pkcs1_round_trip(const uint8_t *p, size_t len)
{
	struct buf em = BUF_INIT, out = BUF_INIT;
	size_t ps;

	if (len < 1)
		return;
	ps = 8 + p[0] % 120;
	p++;
	len--;
	/* 00 02 PS 00 M, PS of nonzero bytes (RFC 8017 7.2.1 step 2). */
	FUZZ_CHECK(buf_append_byte(&em, 0x00) == 0 && buf_append_byte(&em, 0x02) == 0);
	for (size_t i = 0; i < ps; i++)
		FUZZ_CHECK(buf_append_byte(&em, (uint8_t)(1 + (i * 37 + len) % 255)) == 0);
	FUZZ_CHECK(buf_append_byte(&em, 0x00) == 0 && buf_append(&em, p, len) == 0);
	FUZZ_CHECK(padding_pkcs1_decrypt(em.data, em.len, em.len, &out) == CKR_OK);
	FUZZ_CHECK(out.len == len && (len == 0 || memcmp(out.data, p, len) == 0));
	buf_free(&em);
	buf_free(&out);
}

static void
fuzz_encoders(const uint8_t *p, size_t len)
{
	struct buf out = BUF_INIT;
	size_t k;

	if (len < 1)
		return;
	k = 1 + (size_t)p[0];
	p++;
	len--;
	if (padding_pkcs1_sign(p, len, k, &out) == CKR_OK) {
		/* 00 01 FF..FF 00 input, at least 8 FF (RFC 8017 9.2). */
		FUZZ_CHECK(out.len == k && len + 11 <= k);
		FUZZ_CHECK(out.data[0] == 0x00 && out.data[1] == 0x01);
		for (size_t i = 2; i < k - len - 1; i++)
			FUZZ_CHECK(out.data[i] == 0xFF);
		FUZZ_CHECK(out.data[k - len - 1] == 0x00);
		FUZZ_CHECK(len == 0 || memcmp(out.data + k - len, p, len) == 0);
	} else {
		FUZZ_CHECK(len + 11 > k);
	}
	if (padding_raw(p, len, k, &out) == CKR_OK)
		FUZZ_CHECK(out.len == k && (len == 0 || memcmp(out.data + k - len, p, len) == 0));
	else
		FUZZ_CHECK(len > k);
	if (padding_ecdsa_input(p, len, k, &out) == CKR_OK) {
		size_t n = len < k ? len : k;
		FUZZ_CHECK(out.len == k && memcmp(out.data + k - n, p, n) == 0);
	} else {
		FUZZ_CHECK(len == 0);
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 6) {
	case 0:
		fuzz_pkcs1(data + 1, size - 1);
		break;
	case 1:
		fuzz_pkcs1_wrong_k(data + 1, size - 1);
		break;
	case 2:
		fuzz_oaep(data + 1, size - 1);
		break;
	case 3:
		fuzz_ecdsa(data + 1, size - 1);
		break;
	case 4:
		fuzz_pkcs1_round_trip(data + 1, size - 1);
		break;
	default:
		fuzz_encoders(data + 1, size - 1);
		break;
	}
	return 0;
}
