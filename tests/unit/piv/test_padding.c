/* drivers/padding.c: the edges of each padding and format helper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "drivers/padding.h"

static void
test_pkcs1_sign(void **state)
{
	uint8_t in[245];
	struct buf out = BUF_INIT;

	(void)state;
	memset(in, 0x42, sizeof(in));
	/* RFC 8017 9.2: 00 01 FF.. 00 T, at least 8 bytes of FF. */
	assert_int_equal(padding_pkcs1_sign(in, 10, 64, &out), CKR_OK);
	assert_int_equal(out.len, 64);
	assert_int_equal(out.data[0], 0x00);
	assert_int_equal(out.data[1], 0x01);
	assert_int_equal(out.data[2], 0xFF);
	assert_int_equal(out.data[64 - 11], 0x00);
	assert_memory_equal(out.data + 54, in, 10);
	assert_int_equal(padding_pkcs1_sign(in, 245, 256, &out), CKR_OK);
	assert_int_equal(padding_pkcs1_sign(in, 246, 256, &out), CKR_DATA_LEN_RANGE);
	buf_free(&out);
}

static void
test_raw(void **state)
{
	const uint8_t in[3] = { 1, 2, 3 };
	struct buf out = BUF_INIT;

	(void)state;
	assert_int_equal(padding_raw(in, 3, 8, &out), CKR_OK);
	assert_memory_equal(out.data, "\0\0\0\0\0\x01\x02\x03", 8);
	assert_int_equal(padding_raw(in, 3, 2, &out), CKR_DATA_LEN_RANGE);
	buf_free(&out);
}

static void
test_pss_params(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	CK_RSA_PKCS_PSS_PARAMS p = { CKM_SHA512, CKG_MGF1_SHA512, 64 };
	uint8_t hash[64];
	struct buf out = BUF_INIT;

	(void)state;
	assert_non_null(key);
	memset(hash, 7, sizeof(hash));
	/* 128-byte modulus: 64 + 64 + 2 does not fit (RFC 8017 9.1.1 step 3). */
	assert_int_equal(padding_pss(key, &p, hash, 64, &out), CKR_MECHANISM_PARAM_INVALID);
	p.sLen = 32;
	assert_int_equal(padding_pss(key, &p, hash, 64, &out), CKR_OK);
	assert_int_equal(out.len, 128);
	assert_int_equal(out.data[127], 0xBC);
	assert_int_equal(padding_pss(key, &p, hash, 32, &out), CKR_DATA_LEN_RANGE);
	p.hashAlg = CKM_MD5;
	assert_int_equal(padding_pss(key, &p, hash, 16, &out), CKR_MECHANISM_PARAM_INVALID);
	EVP_PKEY_free(key);
	buf_free(&out);
}

static void
test_decrypt_garbage(void **state)
{
	CK_RSA_PKCS_OAEP_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	uint8_t em[256];
	struct buf out = BUF_INIT;

	(void)state;
	memset(em, 0x33, sizeof(em));
	assert_int_equal(padding_pkcs1_decrypt(em, sizeof(em), sizeof(em), &out),
	                 CKR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(padding_oaep_decrypt(em, sizeof(em), sizeof(em), &p, &out),
	                 CKR_ENCRYPTED_DATA_INVALID);
	p.mgf = 99;
	assert_int_equal(padding_oaep_decrypt(em, sizeof(em), sizeof(em), &p, &out),
	                 CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void
test_ecdsa_formats(void **state)
{
	/* SEQUENCE { INTEGER 1, INTEGER 00 FF } */
	const uint8_t der[] = { 0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0xFF };
	const uint8_t trailing[] = { 0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0xFF, 0x00 };
	const uint8_t big[] = { 0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x03, 0x01, 0x00, 0x00 };
	const uint8_t hash[4] = { 9, 8, 7, 6 };
	struct buf out = BUF_INIT;

	(void)state;
	assert_int_equal(padding_ecdsa_der_to_raw(der, sizeof(der), 2, &out), CKR_OK);
	assert_memory_equal(out.data, "\x00\x01\x00\xFF", 4);
	assert_int_equal(padding_ecdsa_der_to_raw(trailing, sizeof(trailing), 2, &out),
	                 CKR_DEVICE_ERROR);
	/* s does not fit in the order size. */
	assert_int_equal(padding_ecdsa_der_to_raw(big, sizeof(big), 2, &out), CKR_DEVICE_ERROR);
	assert_int_equal(padding_ecdsa_der_to_raw(der, 3, 2, &out), CKR_DEVICE_ERROR);

	assert_int_equal(padding_ecdsa_input(hash, 4, 2, &out), CKR_OK);
	assert_memory_equal(out.data, "\x09\x08", 2);
	assert_int_equal(padding_ecdsa_input(hash, 4, 6, &out), CKR_OK);
	assert_memory_equal(out.data, "\x00\x00\x09\x08\x07\x06", 6);
	assert_int_equal(padding_ecdsa_input(hash, 0, 6, &out), CKR_DATA_LEN_RANGE);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkcs1_sign),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_pss_params),
		cmocka_unit_test(test_decrypt_garbage),
		cmocka_unit_test(test_ecdsa_formats),
	};

	return cmocka_run_group_tests_name("padding", tests, NULL, NULL);
}
