#include "tests/unit/piv/piv_fake_card.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "drivers/card/tlv.h"

static const uint32_t fake_cert_tags[4] = { 0x5FC105, 0x5FC10A, 0x5FC10B, 0x5FC101 };
static const uint8_t fake_refs[4] = { 0x9A, 0x9C, 0x9D, 0x9E };

void
test_make_cert(EVP_PKEY *key, struct buf *out)
{
	X509 *x = X509_new();
	X509_NAME *name;
	uint8_t *der = NULL;
	int len;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                 (const unsigned char *)"kyso test", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	len = i2d_X509(x, &der);
	assert_true(len > 0);
	buf_clear(out);
	assert_int_equal(buf_append(out, der, (size_t)len), 0);
	OPENSSL_free(der);
	X509_free(x);
}

void
fake_piv_init(struct fake_piv *f)
{
	static const uint8_t yubikey_default[24] = {
		1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
	};

	memset(f, 0, sizeof(*f));
	f->mgmt_alg = 0x03;
	memcpy(f->mgmt_key, yubikey_default, sizeof(yubikey_default));
}

void
fake_piv_free(struct fake_piv *f)
{
	for (int i = 0; i < 4; i++) {
		EVP_PKEY_free(f->keys[i]);
		buf_free(&f->certs[i]);
	}
	buf_free(&f->chain);
	buf_free(&f->last_data);
	memset(f, 0, sizeof(*f));
}

void
fake_piv_set_key(struct fake_piv *f, int slot, EVP_PKEY *key)
{
	EVP_PKEY_free(f->keys[slot]);
	f->keys[slot] = key;
	test_make_cert(key, &f->certs[slot]);
}

static int
fake_slot(uint8_t ref)
{
	for (int i = 0; i < 4; i++)
		if (fake_refs[i] == ref)
			return i;
	return -1;
}

/* Append data and a status word to the response. */
static void
fake_answer(const struct buf *data, uint16_t sw, uint8_t *rsp, size_t *rsp_len)
{
	size_t n = data != NULL ? data->len : 0;

	assert_true(n + 2 <= *rsp_len);
	if (n > 0)
		memcpy(rsp, data->data, n);
	rsp[n] = (uint8_t)(sw >> 8);
	rsp[n + 1] = (uint8_t)sw;
	*rsp_len = n + 2;
}

static uint16_t
fake_get_data(struct fake_piv *f, const struct buf *data, struct buf *out)
{
	struct tlv t;
	uint32_t tag = 0;

	assert_int_equal(tlv_find(data->data, data->len, 0x5C, &t), 1);
	for (size_t i = 0; i < t.len; i++)
		tag = tag << 8 | t.value[i];
	for (int i = 0; i < 4; i++) {
		if (fake_cert_tags[i] == tag && f->certs[i].len > 0) {
			struct buf inner = BUF_INIT;
			assert_int_equal(tlv_put(&inner, 0x70, f->certs[i].data, f->certs[i].len), 0);
			assert_int_equal(tlv_put(&inner, 0x71, (const uint8_t *)"\0", 1), 0);
			assert_int_equal(tlv_put(&inner, 0xFE, NULL, 0), 0);
			assert_int_equal(tlv_put(out, 0x53, inner.data, inner.len), 0);
			buf_free(&inner);
			return 0x9000;
		}
	}
	return 0x6A82;
}

/* GENERAL AUTHENTICATE with a slot key: 81 is signed or decrypted raw, 85
 * is a peer point for ECDH. */
static uint16_t
fake_general_authenticate(struct fake_piv *f, uint8_t ref, const struct buf *data,
                          struct buf *out)
{
	int slot = fake_slot(ref);
	struct tlv dat, in;
	EVP_PKEY *key;
	EVP_PKEY_CTX *ctx;
	uint8_t result[1024];
	size_t len = sizeof(result);
	struct buf inner = BUF_INIT;

	if (slot < 0 || f->keys[slot] == NULL)
		return 0x6A88;
	key = f->keys[slot];
	assert_int_equal(tlv_find(data->data, data->len, 0x7C, &dat), 1);
	ctx = EVP_PKEY_CTX_new(key, NULL);
	assert_non_null(ctx);
	if (tlv_find(dat.value, dat.len, 0x81, &in) == 1) {
		if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
			/* The card's raw RSA private-key operation. */
			assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
			assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING), 1);
			assert_int_equal(EVP_PKEY_decrypt(ctx, result, &len, in.value, in.len), 1);
		} else {
			/* ECDSA over the number it is given. */
			assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
			assert_int_equal(EVP_PKEY_sign(ctx, result, &len, in.value, in.len), 1);
		}
	} else {
		EVP_PKEY *peer = NULL;
		OSSL_PARAM params[3];
		char group[32];
		size_t glen;
		EVP_PKEY_CTX *pctx;

		assert_int_equal(tlv_find(dat.value, dat.len, 0x85, &in), 1);
		assert_int_equal(EVP_PKEY_get_utf8_string_param(key, "group", group,
		                 sizeof(group), &glen), 1);
		params[0] = OSSL_PARAM_construct_utf8_string("group", group, 0);
		params[1] = OSSL_PARAM_construct_octet_string("pub", (void *)in.value, in.len);
		params[2] = OSSL_PARAM_construct_end();
		pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
		assert_int_equal(EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params), 1);
		EVP_PKEY_CTX_free(pctx);
		assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
		assert_int_equal(EVP_PKEY_derive_set_peer(ctx, peer), 1);
		assert_int_equal(EVP_PKEY_derive(ctx, result, &len), 1);
		EVP_PKEY_free(peer);
	}
	EVP_PKEY_CTX_free(ctx);
	assert_int_equal(tlv_put(&inner, 0x82, result, len), 0);
	assert_int_equal(tlv_put(out, 0x7C, inner.data, inner.len), 0);
	buf_free(&inner);
	return 0x9000;
}

static const EVP_CIPHER *
fake_mgmt_cipher(uint8_t alg)
{
	switch (alg) {
	case 0x03:
		return EVP_des_ede3_ecb();
	case 0x08:
		return EVP_aes_128_ecb();
	case 0x0A:
		return EVP_aes_192_ecb();
	default:
		return EVP_aes_256_ecb();
	}
}

static void
fake_mgmt_block(struct fake_piv *f, int enc, const uint8_t *in, uint8_t *out, size_t n)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	assert_int_equal(EVP_CipherInit_ex(ctx, fake_mgmt_cipher(f->mgmt_alg), NULL,
	                                   f->mgmt_key, NULL, enc), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	assert_int_equal(EVP_CipherUpdate(ctx, out, &l1, in, (int)n), 1);
	assert_int_equal(EVP_CipherFinal_ex(ctx, out + l1, &l2), 1);
	assert_int_equal(l1 + l2, (int)n);
	EVP_CIPHER_CTX_free(ctx);
}

/* SP 800-73-4 pt 2 appendix A.2: witness, then witness back with a
 * challenge, answered encrypted. */
static uint16_t
fake_mgmt_auth(struct fake_piv *f, uint8_t alg, const struct buf *data, struct buf *out)
{
	size_t n = f->mgmt_alg == 0x03 ? 8 : 16;
	struct tlv dat, w, c;
	uint8_t block[16];
	struct buf inner = BUF_INIT;

	if (alg != f->mgmt_alg)
		return 0x6A86;
	assert_int_equal(tlv_find(data->data, data->len, 0x7C, &dat), 1);
	assert_int_equal(tlv_find(dat.value, dat.len, 0x80, &w), 1);
	if (w.len == 0) {
		assert_int_equal(RAND_bytes(f->witness, (int)n), 1);
		fake_mgmt_block(f, 1, f->witness, block, n);
		f->witness_sent = true;
		assert_int_equal(tlv_put(&inner, 0x80, block, n), 0);
	} else {
		bool ok = f->witness_sent && w.len == n && memcmp(w.value, f->witness, n) == 0;
		f->witness_sent = false;
		if (!ok)
			return 0x6982;
		assert_int_equal(tlv_find(dat.value, dat.len, 0x81, &c), 1);
		assert_int_equal(c.len, n);
		fake_mgmt_block(f, 1, c.value, block, n);
		f->admin = true;
		assert_int_equal(tlv_put(&inner, 0x82, block, n), 0);
	}
	assert_int_equal(tlv_put(out, 0x7C, inner.data, inner.len), 0);
	buf_free(&inner);
	return 0x9000;
}

static void
fake_put_bn(EVP_PKEY *key, const char *name, uint32_t tag, struct buf *out)
{
	BIGNUM *bn = NULL;
	uint8_t bytes[512];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(key, name, &bn), 1);
	n = BN_bn2bin(bn, bytes);
	assert_int_equal(tlv_put(out, tag, bytes, (size_t)n), 0);
	BN_free(bn);
}

static uint16_t
fake_generate(struct fake_piv *f, uint8_t ref, const struct buf *data, struct buf *out)
{
	int slot = fake_slot(ref);
	struct tlv ac, alg;
	struct buf inner = BUF_INIT;
	EVP_PKEY *key;

	if (!f->admin)
		return 0x6982;
	if (slot < 0)
		return 0x6A86;
	assert_int_equal(tlv_find(data->data, data->len, 0xAC, &ac), 1);
	assert_int_equal(tlv_find(ac.value, ac.len, 0x80, &alg), 1);
	assert_int_equal(alg.len, 1);
	if (alg.value[0] == 0x11) {
		uint8_t point[65];
		size_t len = 0;
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		assert_int_equal(EVP_PKEY_get_octet_string_param(key,
		                 OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point), &len), 1);
		assert_int_equal(tlv_put(&inner, 0x86, point, len), 0);
	} else if (alg.value[0] == 0x07) {
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		fake_put_bn(key, OSSL_PKEY_PARAM_RSA_N, 0x81, &inner);
		fake_put_bn(key, OSSL_PKEY_PARAM_RSA_E, 0x82, &inner);
	} else {
		return 0x6A80;
	}
	EVP_PKEY_free(f->keys[slot]);
	f->keys[slot] = key;
	assert_int_equal(tlv_put(out, 0x7F49, inner.data, inner.len), 0);
	buf_free(&inner);
	return 0x9000;
}

static uint16_t
fake_put_data(struct fake_piv *f, const struct buf *data)
{
	struct tlv list, obj, cert;
	struct tlv_reader r;
	uint32_t tag = 0;

	if (!f->admin)
		return 0x6982;
	tlv_reader_init(&r, data->data, data->len);
	assert_int_equal(tlv_next(&r, &list), 1);
	assert_int_equal(list.tag, 0x5C);
	assert_int_equal(tlv_next(&r, &obj), 1);
	assert_int_equal(obj.tag, 0x53);
	for (size_t i = 0; i < list.len; i++)
		tag = tag << 8 | list.value[i];
	f->puts++;
	for (int i = 0; i < 4; i++) {
		if (fake_cert_tags[i] != tag)
			continue;
		buf_clear(&f->certs[i]);
		if (obj.len > 0) {
			assert_int_equal(tlv_find(obj.value, obj.len, 0x70, &cert), 1);
			assert_int_equal(buf_append(&f->certs[i], cert.value, cert.len), 0);
		}
	}
	return 0x9000;
}

static CK_RV
fake_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp, size_t *rsp_len)
{
	struct fake_piv *f = ctx;
	struct buf out = BUF_INIT;
	size_t lc = 0;
	uint16_t sw;

	assert_true(cmd_len >= 4);
	/* Short APDUs only: the driver's tests run without extended length. */
	if (cmd_len > 5) {
		lc = cmd[4];
		assert_true(cmd_len == 5 + lc || cmd_len == 6 + lc);
		assert_int_equal(buf_append(&f->chain, cmd + 5, lc), 0);
	}
	if (cmd[0] & 0x10) {
		fake_answer(NULL, 0x9000, rsp, rsp_len);
		return CKR_OK;
	}
	f->commands++;
	f->last_ins = cmd[1];
	f->last_p1 = cmd[2];
	buf_clear(&f->last_data);
	assert_int_equal(buf_append(&f->last_data, f->chain.data, f->chain.len), 0);
	switch (cmd[1]) {
	case 0xA4:
		sw = 0x9000;
		break;
	case 0xCB:
		sw = fake_get_data(f, &f->chain, &out);
		break;
	case 0x20:
		sw = 0x9000;
		break;
	case 0x87:
		if (cmd[3] == 0x9B)
			sw = fake_mgmt_auth(f, cmd[2], &f->chain, &out);
		else
			sw = fake_general_authenticate(f, cmd[3], &f->chain, &out);
		break;
	case 0x47:
		sw = fake_generate(f, cmd[3], &f->chain, &out);
		break;
	case 0xDB:
		sw = fake_put_data(f, &f->chain);
		break;
	default:
		sw = 0x6D00;
		break;
	}
	buf_clear(&f->chain);
	fake_answer(&out, sw, rsp, rsp_len);
	buf_free(&out);
	return CKR_OK;
}

static CK_RV
fake_begin(void *ctx, bool *was_reset)
{
	(void)ctx;
	*was_reset = false;
	return CKR_OK;
}

static void
fake_end(void *ctx)
{
	(void)ctx;
}

static const struct transport_ops fake_ops = {
	.transmit = fake_transmit,
	.begin = fake_begin,
	.end = fake_end,
};

void
fake_piv_attach(struct fake_piv *f, struct card *card)
{
	card->ops = &fake_ops;
	card->transport = f;
}
