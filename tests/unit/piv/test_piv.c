/* The PIV driver: what it sends, byte for byte where that is the contract
 * (match, VERIFY, one GENERAL AUTHENTICATE per signature), and that its
 * signatures, decryptions and ECDH results are right (checked with
 * OpenSSL against a fake card holding real keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "drivers/card/tlv.h"
#include "drivers/driver.h"
#include "drivers/piv/piv.h"
#include "tests/unit/piv/piv_fake_card.h"
#include "tests/unit/script_transport.h"

#define SELECT_PIV_CMD "00A404000BA00000030800001000010000"
/* What a YubiKey answers: the application property template. */
#define SELECT_ANSWER "61114F0600001000010079074F05A000000308 9000"
#define GET_DATA(tag) "00CB3FFF05 5C03" tag " 00"

static EVP_PKEY *ec256_key;
static EVP_PKEY *rsa2048_key;

static int
keys_setup(void **state)
{
	(void)state;
	ec256_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa2048_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return ec256_key != NULL && rsa2048_key != NULL ? 0 : -1;
}

static int
keys_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ec256_key);
	EVP_PKEY_free(rsa2048_key);
	return 0;
}

static EVP_PKEY *
key_ref(EVP_PKEY *k)
{
	assert_int_equal(EVP_PKEY_up_ref(k), 1);
	return k;
}

/* ---- scripted: the exact commands ---- */

static void
scripted_card(struct script *s, struct card *card)
{
	memset(card, 0, sizeof(*card));
	script_init(s);
	script_attach(s, card);
}

static void
test_match_piv(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	script_expect(&s, SELECT_PIV_CMD, SELECT_ANSWER);
	assert_int_equal(piv_driver.match(&card), CKR_OK);
	assert_int_equal(card.apdu_count, 1);
	script_assert_done(&s);
	script_free(&s);
}

static void
test_match_not_piv(void **state)
{
	static const char *const refusals[] = { "6A82", "6D00", "6E00", "6999" };
	struct script s;
	struct card card;

	(void)state;
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		scripted_card(&s, &card);
		script_expect(&s, SELECT_PIV_CMD, refusals[i]);
		assert_int_equal(piv_driver.match(&card), CKR_TOKEN_NOT_RECOGNIZED);
		assert_int_equal(card.apdu_count, 1);
		assert_null(card.driver_data);
		script_assert_done(&s);
		script_free(&s);
	}
}

static void
test_match_card_gone(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	script_expect_error(&s, SELECT_PIV_CMD, CKR_DEVICE_REMOVED);
	assert_int_equal(piv_driver.match(&card), CKR_DEVICE_REMOVED);
	script_free(&s);
}

static void
bind(struct card *card)
{
	unsigned long before = card->apdu_count;

	assert_int_equal(piv_driver.bind(card), CKR_OK);
	assert_non_null(card->driver_data);
	card->driver = &piv_driver;
	/* bind() follows match() in the same transaction: no second SELECT. */
	assert_int_equal(card->apdu_count, before);
}

static void
test_verify_padding(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	bind(&card);
	/* SP 800-73-4 pt 2, 2.4.3: the PIN padded with FF to 8 bytes. */
	script_expect(&s, "0020008008 313233343536FFFF", "9000");
	assert_int_equal(piv_driver.login(&card, DRV_USER, (const uint8_t *)"123456", 6),
	                 CKR_OK);
	script_expect(&s, "0020008008 3132333435363738", "9000");
	assert_int_equal(piv_driver.login(&card, DRV_CONTEXT,
	                                  (const uint8_t *)"12345678", 8), CKR_OK);
	script_assert_done(&s);
	piv_driver.unbind(&card);
	script_free(&s);
}

static void
test_pin_length(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	bind(&card);
	/* Nothing is sent for a PIN that cannot fit the 8-byte block. */
	assert_int_equal(piv_driver.login(&card, DRV_USER, (const uint8_t *)"123456789", 9),
	                 CKR_PIN_LEN_RANGE);
	assert_int_equal(piv_driver.login(&card, DRV_USER, (const uint8_t *)"", 0),
	                 CKR_PIN_LEN_RANGE);
	assert_int_equal(card.apdu_count, 0);
	piv_driver.unbind(&card);
	script_free(&s);
}

static void
test_wrong_pin(void **state)
{
	struct drv_token_info info;
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	bind(&card);
	script_expect(&s, "0020008008 313131313131FFFF", "63C2");
	assert_int_equal(piv_driver.login(&card, DRV_USER, (const uint8_t *)"111111", 6),
	                 CKR_PIN_INCORRECT);
	/* Token info: the serial (not a YubiKey: CHUID), and the PIN flags
	 * from what the failed VERIFY said, without asking again. */
	script_expect(&s, "00F8000000", "6D00");
	script_expect(&s, GET_DATA("5FC102"),
	              "533B 3019D4E739DA739CED39CE739D836858210842108421C84210C3EB"
	              " 3410 00112233445566778899AABBCCDDEEFF"
	              " 350832303330303130313E00FE00 9000");
	assert_int_equal(piv_driver.token_info(&card, &info), CKR_OK);
	assert_true(info.flags & CKF_USER_PIN_COUNT_LOW);
	assert_false(info.flags & CKF_USER_PIN_FINAL_TRY);
	assert_false(info.flags & CKF_USER_PIN_LOCKED);
	assert_true(info.flags & CKF_LOGIN_REQUIRED);
	/* FASC-N of agency 9999 with a GUID: the GUID is the serial. */
	assert_string_equal(info.serial, "0011223344556677");
	assert_int_equal(info.min_pin_len, 6);
	assert_int_equal(info.max_pin_len, 8);

	script_expect(&s, "0020008008 313131313131FFFF", "63C1");
	assert_int_equal(piv_driver.login(&card, DRV_USER, (const uint8_t *)"111111", 6),
	                 CKR_PIN_INCORRECT);
	assert_int_equal(piv_driver.token_info(&card, &info), CKR_OK);
	assert_true(info.flags & CKF_USER_PIN_FINAL_TRY);

	script_expect(&s, "0020008008 313131313131FFFF", "63C0");
	assert_int_equal(piv_driver.login(&card, DRV_USER, (const uint8_t *)"111111", 6),
	                 CKR_PIN_LOCKED);
	assert_int_equal(piv_driver.token_info(&card, &info), CKR_OK);
	assert_true(info.flags & CKF_USER_PIN_LOCKED);

	script_expect(&s, "0020008008 313233343536FFFF", "6983");
	assert_int_equal(piv_driver.login(&card, DRV_USER, (const uint8_t *)"123456", 6),
	                 CKR_PIN_LOCKED);
	script_assert_done(&s);
	piv_driver.unbind(&card);
	script_free(&s);
}

static void
test_yubikey_info(void **state)
{
	struct drv_token_info info;
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	bind(&card);
	script_expect(&s, "00F8000000", "00BC614E 9000");	/* 12345678 */
	/* GET METADATA of the PIN: 3 tries in all, 2 left. */
	script_expect(&s, "00F7008000", "0101FF 050101 06020302 9000");
	assert_int_equal(piv_driver.token_info(&card, &info), CKR_OK);
	assert_string_equal(info.label, "YubiKey PIV #12345678");
	assert_string_equal(info.serial, "12345678");
	assert_string_equal(info.manufacturer, "Yubico");
	assert_true(info.flags & CKF_USER_PIN_COUNT_LOW);
	/* Cached: a second call sends nothing. */
	assert_int_equal(piv_driver.token_info(&card, &info), CKR_OK);
	script_assert_done(&s);
	piv_driver.unbind(&card);
	script_free(&s);
}

/* GET DATA answers for a card with certificates in the four main slots. */
static void
expect_objects(struct script *s, const struct buf *certs[4])
{
	static const char *const tags[4] = { "5FC105", "5FC10A", "5FC10B", "5FC101" };
	char cmd[64];

	script_expect(s, GET_DATA("5FC10C"), "6A82");	/* no Key History */
	for (int i = 0; i < 4; i++) {
		snprintf(cmd, sizeof(cmd), GET_DATA("%s"), tags[i]);
		if (certs[i] == NULL) {
			script_expect(s, cmd, "6A82");
		} else {
			struct buf inner = BUF_INIT, obj = BUF_INIT, cmd_bytes = BUF_INIT;
			assert_int_equal(tlv_put(&inner, 0x70, certs[i]->data, certs[i]->len), 0);
			assert_int_equal(tlv_put(&inner, 0x71, (const uint8_t *)"\0", 1), 0);
			assert_int_equal(tlv_put(&inner, 0xFE, NULL, 0), 0);
			assert_int_equal(tlv_put(&obj, 0x53, inner.data, inner.len), 0);
			assert_int_equal(buf_append(&obj, "\x90\x00", 2), 0);
			script_hex(&cmd_bytes, cmd);
			script_expect_bytes(s, cmd_bytes.data, cmd_bytes.len, obj.data, obj.len);
			buf_free(&inner);
			buf_free(&obj);
			buf_free(&cmd_bytes);
		}
	}
}

static const CK_ATTRIBUTE *
find_attr(const struct drv_object *o, CK_ATTRIBUTE_TYPE t)
{
	return attr_find(&o->attrs, t);
}

static void
test_objects(void **state)
{
	struct buf cert9a = BUF_INIT, cert9c = BUF_INIT;
	const struct buf *certs[4] = { &cert9a, &cert9c, NULL, NULL };
	struct drv_objects objs = { 0 };
	struct script s;
	struct card card;
	CK_ULONG cls, n_cert = 0, n_pub = 0, n_priv = 0;
	bool b;

	(void)state;
	test_make_cert(rsa2048_key, &cert9a);
	test_make_cert(ec256_key, &cert9c);
	scripted_card(&s, &card);
	bind(&card);
	expect_objects(&s, certs);
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	script_assert_done(&s);
	assert_int_equal(objs.count, 6);
	for (size_t i = 0; i < objs.count; i++) {
		const struct drv_object *o = &objs.items[i];
		const CK_ATTRIBUTE *id = find_attr(o, CKA_ID);
		assert_true(attr_get_ulong(&o->attrs, CKA_CLASS, &cls));
		assert_non_null(id);
		assert_int_equal(id->ulValueLen, 1);
		/* OpenSC's ids: 01 for 9A, 02 for 9C. */
		assert_int_equal(((const uint8_t *)id->pValue)[0], o->key_ref == 0x9A ? 1 : 2);
		assert_non_null(find_attr(o, CKA_LABEL));
		if (cls == CKO_CERTIFICATE) {
			n_cert++;
			assert_non_null(find_attr(o, CKA_SERIAL_NUMBER));
			assert_non_null(find_attr(o, CKA_ISSUER));
		} else if (cls == CKO_PUBLIC_KEY) {
			n_pub++;
			assert_non_null(find_attr(o, CKA_PUBLIC_KEY_INFO));
		} else {
			n_priv++;
			assert_true(attr_get_bool(&o->attrs, CKA_PRIVATE, &b) && b);
			assert_true(attr_get_bool(&o->attrs, CKA_ALWAYS_AUTHENTICATE, &b));
			assert_int_equal(b, o->key_ref == 0x9C);
			assert_true(attr_get_bool(&o->attrs, CKA_SENSITIVE, &b) && b);
			assert_true(attr_get_bool(&o->attrs, CKA_EXTRACTABLE, &b) && !b);
			if (o->key_ref == 0x9C) {
				const CK_ATTRIBUTE *label = find_attr(o, CKA_LABEL);
				assert_int_equal(label->ulValueLen, strlen("SIGN key"));
				assert_memory_equal(label->pValue, "SIGN key", 8);
				/* The point as a DER OCTET STRING: 04 41 04 ... */
				const CK_ATTRIBUTE *pt = find_attr(o, CKA_EC_POINT);
				assert_non_null(pt);
				assert_int_equal(pt->ulValueLen, 67);
				assert_memory_equal(pt->pValue, "\x04\x41\x04", 3);
			}
		}
	}
	assert_int_equal(n_cert, 2);
	assert_int_equal(n_pub, 2);
	assert_int_equal(n_priv, 2);
	drv_objects_free(&objs);
	/* Listed again without a reset: everything comes from the cache. */
	unsigned long before = card.apdu_count;
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	assert_int_equal(objs.count, 6);
	assert_int_equal(card.apdu_count, before);
	drv_objects_free(&objs);
	piv_driver.unbind(&card);
	script_free(&s);
	buf_free(&cert9a);
	buf_free(&cert9c);
}

static void
test_retired_from_history(void **state)
{
	struct buf cert = BUF_INIT, inner = BUF_INIT, obj = BUF_INIT, cmd = BUF_INIT;
	struct drv_objects objs = { 0 };
	struct script s;
	struct card card;

	(void)state;
	test_make_cert(ec256_key, &cert);
	scripted_card(&s, &card);
	bind(&card);
	/* Key History: one retired key with its certificate on the card. */
	script_expect(&s, GET_DATA("5FC10C"), "5308 C101 01 C201 00 FE00 9000");
	script_expect(&s, GET_DATA("5FC105"), "6A82");
	script_expect(&s, GET_DATA("5FC10A"), "6A82");
	script_expect(&s, GET_DATA("5FC10B"), "6A82");
	script_expect(&s, GET_DATA("5FC101"), "6A82");
	assert_int_equal(tlv_put(&inner, 0x70, cert.data, cert.len), 0);
	assert_int_equal(tlv_put(&inner, 0x71, (const uint8_t *)"\0", 1), 0);
	assert_int_equal(tlv_put(&inner, 0xFE, NULL, 0), 0);
	assert_int_equal(tlv_put(&obj, 0x53, inner.data, inner.len), 0);
	assert_int_equal(buf_append(&obj, "\x90\x00", 2), 0);
	script_hex(&cmd, GET_DATA("5FC10D"));
	script_expect_bytes(&s, cmd.data, cmd.len, obj.data, obj.len);
	/* ...and nothing for 83-95. */
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	script_assert_done(&s);
	assert_int_equal(objs.count, 3);
	for (size_t i = 0; i < objs.count; i++) {
		const CK_ATTRIBUTE *id = find_attr(&objs.items[i], CKA_ID);
		assert_int_equal(objs.items[i].key_ref, 0x82);
		assert_int_equal(((const uint8_t *)id->pValue)[0], 0x05);
	}
	drv_objects_free(&objs);
	piv_driver.unbind(&card);
	script_free(&s);
	buf_free(&cert);
	buf_free(&inner);
	buf_free(&obj);
	buf_free(&cmd);
}

static void
test_compressed_cert_skipped(void **state)
{
	struct drv_objects objs = { 0 };
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	bind(&card);
	script_expect(&s, GET_DATA("5FC10C"), "6A82");
	/* CertInfo 01: gzip. kyso does not link zlib; the slot shows nothing. */
	script_expect(&s, GET_DATA("5FC105"), "5309 7003 1F8B08 710101 FE00 9000");
	script_expect(&s, GET_DATA("5FC10A"), "5300 9000");
	script_expect(&s, GET_DATA("5FC10B"), "6A82");
	script_expect(&s, GET_DATA("5FC101"), "6A82");
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	script_assert_done(&s);
	assert_int_equal(objs.count, 0);
	drv_objects_free(&objs);
	piv_driver.unbind(&card);
	script_free(&s);
}

/* Login and one ECDSA signature are VERIFY and GENERAL AUTHENTICATE, and
 * nothing else. */
static void
test_ecdsa_exact_apdus(void **state)
{
	struct buf cert = BUF_INIT, cmd = BUF_INIT, rsp = BUF_INIT, inner = BUF_INIT;
	struct buf sig = BUF_INIT;
	const struct buf *certs[4] = { NULL, &cert, NULL, NULL };
	struct drv_objects objs = { 0 };
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t hash[32], der[80];
	size_t der_len = sizeof(der);
	struct script s;
	struct card card;
	EVP_PKEY_CTX *ctx;

	(void)state;
	memset(hash, 0xA5, sizeof(hash));
	test_make_cert(ec256_key, &cert);
	scripted_card(&s, &card);
	bind(&card);
	expect_objects(&s, certs);
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	drv_objects_free(&objs);

	/* The card's answer: a DER signature of the hash by 9C's key. */
	ctx = EVP_PKEY_CTX_new(ec256_key, NULL);
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	assert_int_equal(EVP_PKEY_sign(ctx, der, &der_len, hash, sizeof(hash)), 1);
	EVP_PKEY_CTX_free(ctx);

	script_expect(&s, "0020008008 313233343536FFFF", "9000");
	/* 00 87 11 9C: ECC P-256, slot 9C; 7C{82 00, 81 hash}. */
	script_hex(&cmd, "0087 119C 26 7C24 8200 8120");
	assert_int_equal(buf_append(&cmd, hash, sizeof(hash)), 0);
	assert_int_equal(buf_append_byte(&cmd, 0x00), 0);
	assert_int_equal(tlv_put(&inner, 0x82, der, der_len), 0);
	assert_int_equal(tlv_put(&rsp, 0x7C, inner.data, inner.len), 0);
	assert_int_equal(buf_append(&rsp, "\x90\x00", 2), 0);
	script_expect_bytes(&s, cmd.data, cmd.len, rsp.data, rsp.len);

	unsigned long before = card.apdu_count;
	assert_int_equal(piv_driver.login(&card, DRV_CONTEXT, (const uint8_t *)"123456", 6),
	                 CKR_OK);
	assert_int_equal(piv_driver.sign(&card, 0x9C, &mech, hash, sizeof(hash), &sig), CKR_OK);
	assert_int_equal(card.apdu_count - before, 2);
	script_assert_done(&s);

	/* r||s, 32 bytes each, that verifies with the public key. */
	assert_int_equal(sig.len, 64);
	{
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig.data, 32, NULL), *sv = BN_bin2bn(sig.data + 32, 32, NULL);
		uint8_t *d2 = NULL;
		int l2;
		assert_int_equal(ECDSA_SIG_set0(es, r, sv), 1);
		l2 = i2d_ECDSA_SIG(es, &d2);
		ctx = EVP_PKEY_CTX_new(ec256_key, NULL);
		assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
		assert_int_equal(EVP_PKEY_verify(ctx, d2, (size_t)l2, hash, sizeof(hash)), 1);
		EVP_PKEY_CTX_free(ctx);
		OPENSSL_free(d2);
		ECDSA_SIG_free(es);
	}
	/* Without the PIN right before: the card's 6982 is "not logged in". */
	script_expect_bytes(&s, cmd.data, cmd.len, (const uint8_t *)"\x69\x82", 2);
	assert_int_equal(piv_driver.sign(&card, 0x9C, &mech, hash, sizeof(hash), &sig),
	                 CKR_USER_NOT_LOGGED_IN);
	script_assert_done(&s);
	piv_driver.unbind(&card);
	script_free(&s);
	buf_free(&cert);
	buf_free(&cmd);
	buf_free(&rsp);
	buf_free(&inner);
	buf_free(&sig);
}

/* Another application selected another applet without a reset: the
 * signature's GENERAL AUTHENTICATE comes back 6D00; kyso selects PIV again
 * and sends it once more. */
static void
test_reselect_on_foreign_applet(void **state)
{
	struct buf cert = BUF_INIT, cmd = BUF_INIT, rsp = BUF_INIT, inner = BUF_INIT;
	struct buf sig = BUF_INIT;
	const struct buf *certs[4] = { NULL, NULL, NULL, &cert };
	struct drv_objects objs = { 0 };
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t hash[32], der[80];
	size_t der_len = sizeof(der);
	struct script s;
	struct card card;
	EVP_PKEY_CTX *ctx;

	(void)state;
	memset(hash, 0x5A, sizeof(hash));
	test_make_cert(ec256_key, &cert);
	scripted_card(&s, &card);
	bind(&card);
	expect_objects(&s, certs);
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	drv_objects_free(&objs);
	ctx = EVP_PKEY_CTX_new(ec256_key, NULL);
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	assert_int_equal(EVP_PKEY_sign(ctx, der, &der_len, hash, sizeof(hash)), 1);
	EVP_PKEY_CTX_free(ctx);
	script_hex(&cmd, "0087 119E 26 7C24 8200 8120");
	assert_int_equal(buf_append(&cmd, hash, sizeof(hash)), 0);
	assert_int_equal(buf_append_byte(&cmd, 0x00), 0);
	assert_int_equal(tlv_put(&inner, 0x82, der, der_len), 0);
	assert_int_equal(tlv_put(&rsp, 0x7C, inner.data, inner.len), 0);
	assert_int_equal(buf_append(&rsp, "\x90\x00", 2), 0);
	script_expect_bytes(&s, cmd.data, cmd.len, (const uint8_t *)"\x6D\x00", 2);
	script_expect(&s, SELECT_PIV_CMD, SELECT_ANSWER);
	script_expect_bytes(&s, cmd.data, cmd.len, rsp.data, rsp.len);
	assert_int_equal(piv_driver.sign(&card, 0x9E, &mech, hash, sizeof(hash), &sig), CKR_OK);
	assert_int_equal(sig.len, 64);
	script_assert_done(&s);
	piv_driver.unbind(&card);
	script_free(&s);
	buf_free(&cert);
	buf_free(&cmd);
	buf_free(&rsp);
	buf_free(&inner);
	buf_free(&sig);
}

static void
test_reset_reselects(void **state)
{
	struct buf cert = BUF_INIT;
	const struct buf *certs[4] = { &cert, NULL, NULL, NULL };
	struct drv_objects objs = { 0 };
	struct script s;
	struct card card;

	(void)state;
	test_make_cert(ec256_key, &cert);
	scripted_card(&s, &card);
	bind(&card);
	expect_objects(&s, certs);
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	drv_objects_free(&objs);
	/* Someone reset the card: SELECT again, and read the objects again. */
	card.reset_count++;
	script_expect(&s, SELECT_PIV_CMD, SELECT_ANSWER);
	assert_int_equal(piv_driver.reselect(&card), CKR_OK);
	expect_objects(&s, certs);
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	assert_int_equal(objs.count, 3);
	script_assert_done(&s);
	drv_objects_free(&objs);
	piv_driver.unbind(&card);
	script_free(&s);
	buf_free(&cert);
}

static void
test_logout_and_puk(void **state)
{
	struct script s;
	struct card card;

	(void)state;
	scripted_card(&s, &card);
	bind(&card);
	/* SO login keeps the PUK: nothing is sent... */
	assert_int_equal(piv_driver.login(&card, DRV_SO, (const uint8_t *)"12345678", 8),
	                 CKR_OK);
	assert_int_equal(card.apdu_count, 0);
	/* ...until C_InitPIN: RESET RETRY COUNTER, PUK then new PIN. */
	script_expect(&s, "002C008010 3132333435363738 363534333231FFFF", "63C2");
	assert_int_equal(piv_driver.init_pin(&card, (const uint8_t *)"654321", 6),
	                 CKR_PIN_INCORRECT);
	/* A wrong PUK is never sent again. */
	assert_int_equal(piv_driver.init_pin(&card, (const uint8_t *)"654321", 6),
	                 CKR_USER_NOT_LOGGED_IN);
	/* C_SetPIN of the PIN: CHANGE REFERENCE DATA 80. */
	script_expect(&s, "0024008010 313233343536FFFF 3131313131313131", "9000");
	assert_int_equal(piv_driver.change_pin(&card, DRV_USER, (const uint8_t *)"123456", 6,
	                                       (const uint8_t *)"11111111", 8), CKR_OK);
	/* Logout: VERIFY FF resets the PIN status. */
	script_expect(&s, "0020FF80", "9000");
	assert_int_equal(piv_driver.logout(&card), CKR_OK);
	script_assert_done(&s);
	piv_driver.unbind(&card);
	script_free(&s);
}

/* ---- the fake card: signatures and decryptions that verify ---- */

static void
fake_card_loaded(struct fake_piv *f, struct card *card)
{
	struct drv_objects objs = { 0 };

	memset(card, 0, sizeof(*card));
	fake_piv_init(f);
	fake_piv_set_key(f, 0, key_ref(rsa2048_key));
	fake_piv_set_key(f, 2, key_ref(ec256_key));
	fake_piv_attach(f, card);
	bind(card);
	assert_int_equal(piv_driver.load_objects(card, &objs), CKR_OK);
	assert_int_equal(objs.count, 6);
	drv_objects_free(&objs);
}

static void
verify_rsa(int padding, const EVP_MD *md, int saltlen, const uint8_t *tbs, size_t tbs_len,
           const struct buf *sig)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(rsa2048_key, NULL);

	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, padding), 1);
	if (md != NULL)
		assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md), 1);
	if (padding == RSA_PKCS1_PSS_PADDING)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, saltlen), 1);
	assert_int_equal(EVP_PKEY_verify(ctx, sig->data, sig->len, tbs, tbs_len), 1);
	EVP_PKEY_CTX_free(ctx);
}

static void
test_rsa_signatures(void **state)
{
	/* DigestInfo prefix of SHA-256 (RFC 8017 9.2 note 1). */
	static const uint8_t prefix[] = {
		0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
		0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
	};
	uint8_t hash[32], di[sizeof(prefix) + 32];
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m_pkcs = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM m_pss = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
	CK_MECHANISM m_raw = { CKM_RSA_X_509, NULL, 0 };
	struct buf sig = BUF_INIT;
	struct fake_piv f;
	struct card card;

	(void)state;
	memset(hash, 0x3C, sizeof(hash));
	memcpy(di, prefix, sizeof(prefix));
	memcpy(di + sizeof(prefix), hash, sizeof(hash));
	fake_card_loaded(&f, &card);

	assert_int_equal(piv_driver.sign(&card, 0x9A, &m_pkcs, di, sizeof(di), &sig), CKR_OK);
	assert_int_equal(sig.len, 256);
	verify_rsa(RSA_PKCS1_PADDING, EVP_sha256(), 0, hash, sizeof(hash), &sig);
	/* RSA 2048 is algorithm 07; the 266-byte template went in a chain
	 * of short APDUs, seen by the card as one command. */
	assert_int_equal(f.last_p1, 0x07);

	assert_int_equal(piv_driver.sign(&card, 0x9A, &m_pss, hash, sizeof(hash), &sig), CKR_OK);
	verify_rsa(RSA_PKCS1_PSS_PADDING, EVP_sha256(), 32, hash, sizeof(hash), &sig);

	/* PSS checks the hash length against hashAlg. */
	assert_int_equal(piv_driver.sign(&card, 0x9A, &m_pss, hash, 20, &sig),
	                 CKR_DATA_LEN_RANGE);

	/* X.509: short input is left-padded to the modulus size. */
	assert_int_equal(piv_driver.sign(&card, 0x9A, &m_raw, hash, sizeof(hash), &sig), CKR_OK);
	assert_int_equal(sig.len, 256);

	/* An EC mechanism on an RSA key. */
	CK_MECHANISM m_ec = { CKM_ECDSA, NULL, 0 };
	assert_int_equal(piv_driver.sign(&card, 0x9A, &m_ec, hash, sizeof(hash), &sig),
	                 CKR_KEY_TYPE_INCONSISTENT);
	/* A slot without a key. */
	assert_int_equal(piv_driver.sign(&card, 0x9E, &m_pkcs, di, sizeof(di), &sig),
	                 CKR_KEY_HANDLE_INVALID);
	buf_free(&sig);
	piv_driver.unbind(&card);
	fake_piv_free(&f);
}

static void
test_rsa_decrypt(void **state)
{
	static const uint8_t secret[] = "a session key, say";
	CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM m_oaep = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	CK_MECHANISM m_pkcs = { CKM_RSA_PKCS, NULL, 0 };
	uint8_t ct[256];
	size_t ct_len;
	struct buf out = BUF_INIT;
	struct fake_piv f;
	struct card card;
	EVP_PKEY_CTX *ctx;

	(void)state;
	fake_card_loaded(&f, &card);

	ctx = EVP_PKEY_CTX_new(rsa2048_key, NULL);
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()), 1);
	ct_len = sizeof(ct);
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ct_len, secret, sizeof(secret)), 1);
	EVP_PKEY_CTX_free(ctx);
	assert_int_equal(piv_driver.decrypt(&card, 0x9A, &m_oaep, ct, ct_len, &out), CKR_OK);
	assert_int_equal(out.len, sizeof(secret));
	assert_memory_equal(out.data, secret, sizeof(secret));

	ctx = EVP_PKEY_CTX_new(rsa2048_key, NULL);
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	ct_len = sizeof(ct);
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ct_len, secret, sizeof(secret)), 1);
	EVP_PKEY_CTX_free(ctx);
	assert_int_equal(piv_driver.decrypt(&card, 0x9A, &m_pkcs, ct, ct_len, &out), CKR_OK);
	assert_memory_equal(out.data, secret, sizeof(secret));
	/* A ciphertext of the wrong size never reaches the card. */
	unsigned before = f.commands;
	assert_int_equal(piv_driver.decrypt(&card, 0x9A, &m_pkcs, ct, 255, &out),
	                 CKR_ENCRYPTED_DATA_LEN_RANGE);
	assert_int_equal(f.commands, before);
	buf_free(&out);
	piv_driver.unbind(&card);
	fake_piv_free(&f);
}

static void
test_ecdh(void **state)
{
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t point[65], expect[32], der_point[67];
	size_t point_len = 0, expect_len = sizeof(expect);
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, 0, NULL };
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	struct buf secret = BUF_INIT;
	struct fake_piv f;
	struct card card;
	EVP_PKEY_CTX *ctx;

	(void)state;
	assert_non_null(peer);
	assert_int_equal(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
	                 point, sizeof(point), &point_len), 1);
	assert_int_equal(point_len, 65);
	ctx = EVP_PKEY_CTX_new(peer, NULL);
	assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(ctx, ec256_key), 1);
	assert_int_equal(EVP_PKEY_derive(ctx, expect, &expect_len), 1);
	EVP_PKEY_CTX_free(ctx);
	fake_card_loaded(&f, &card);

	/* The raw point... */
	p.pPublicData = point;
	p.ulPublicDataLen = point_len;
	assert_int_equal(piv_driver.derive(&card, 0x9D, &mech, &secret), CKR_OK);
	assert_int_equal(secret.len, 32);
	assert_memory_equal(secret.data, expect, 32);
	/* ...or in a DER OCTET STRING, as CKA_EC_POINT has it. */
	der_point[0] = 0x04;
	der_point[1] = 0x41;
	memcpy(der_point + 2, point, 65);
	p.pPublicData = der_point;
	p.ulPublicDataLen = sizeof(der_point);
	assert_int_equal(piv_driver.derive(&card, 0x9D, &mech, &secret), CKR_OK);
	assert_memory_equal(secret.data, expect, 32);
	/* A KDF is not something the card does. */
	p.kdf = CKD_SHA256_KDF;
	assert_int_equal(piv_driver.derive(&card, 0x9D, &mech, &secret),
	                 CKR_MECHANISM_PARAM_INVALID);
	buf_free(&secret);
	EVP_PKEY_free(peer);
	piv_driver.unbind(&card);
	fake_piv_free(&f);
}

static void
test_ecdsa_hash_sizes(void **state)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t h20[20], h64[64];
	struct buf sig = BUF_INIT;
	struct fake_piv f;
	struct card card;

	(void)state;
	memset(h20, 0x11, sizeof(h20));
	memset(h64, 0x22, sizeof(h64));
	fake_card_loaded(&f, &card);
	/* SHA-1 on P-256: left-padded to 32 bytes; SHA-512: truncated. */
	assert_int_equal(piv_driver.sign(&card, 0x9D, &mech, h20, sizeof(h20), &sig), CKR_OK);
	assert_int_equal(sig.len, 64);
	assert_true(f.last_data.len > 32);
	assert_memory_equal(f.last_data.data + f.last_data.len - 20, h20, 20);
	assert_int_equal(f.last_data.data[f.last_data.len - 21], 0x00);
	assert_int_equal(piv_driver.sign(&card, 0x9D, &mech, h64, sizeof(h64), &sig), CKR_OK);
	assert_int_equal(f.last_data.data[f.last_data.len - 33], 0x20);
	buf_free(&sig);
	piv_driver.unbind(&card);
	fake_piv_free(&f);
}

static size_t
count_objects(struct card *card, uint32_t key_ref, CK_OBJECT_CLASS cls)
{
	struct drv_objects objs = { 0 };
	CK_ULONG c;
	size_t n = 0;

	assert_int_equal(piv_driver.load_objects(card, &objs), CKR_OK);
	for (size_t i = 0; i < objs.count; i++)
		if (objs.items[i].key_ref == key_ref &&
		    attr_get_ulong(&objs.items[i].attrs, CKA_CLASS, &c) && c == cls)
			n++;
	drv_objects_free(&objs);
	return n;
}

static CK_RV
generate_ec(struct card *card, uint8_t id)
{
	static const uint8_t p256[] = { 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07 };
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		{ CKA_ID, &id, 1 },
	};
	CK_ATTRIBUTE priv[] = { { CKA_ID, &id, 1 } };

	return piv_driver.generate_key_pair(card, &mech, pub, 2, priv, 1);
}

/* Generate in 9E, write its certificate, delete it: the management key
 * (3DES default) authenticates each write. */
static void
test_generate_write_delete(void **state)
{
	static const uint8_t id9e = 0x04, bad_id = 0x0A;
	CK_OBJECT_CLASS cert_class = CKO_CERTIFICATE;
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
	struct buf der = BUF_INIT, sig = BUF_INIT;
	struct drv_objects objs = { 0 };
	uint8_t hash[32];
	struct fake_piv f;
	struct card card;
	unsigned before;

	(void)state;
	unsetenv("KYSO_PIV_MGMT_KEY");
	unsetenv("KYSO_PIV_MGMT_ALG");
	memset(hash, 0x77, sizeof(hash));
	fake_card_loaded(&f, &card);
	assert_int_equal(count_objects(&card, 0x9E, CKO_PRIVATE_KEY), 0);

	assert_int_equal(generate_ec(&card, id9e), CKR_OK);
	assert_non_null(f.keys[3]);
	/* No certificate yet, but the new key shows. */
	assert_int_equal(count_objects(&card, 0x9E, CKO_CERTIFICATE), 0);
	assert_int_equal(count_objects(&card, 0x9E, CKO_PRIVATE_KEY), 1);
	assert_int_equal(count_objects(&card, 0x9E, CKO_PUBLIC_KEY), 1);
	assert_int_equal(piv_driver.sign(&card, 0x9E, &ecdsa, hash, sizeof(hash), &sig), CKR_OK);

	/* The certificate, by CKA_ID... */
	test_make_cert(f.keys[3], &der);
	CK_ATTRIBUTE cert[] = {
		{ CKA_CLASS, &cert_class, sizeof(cert_class) },
		{ CKA_VALUE, der.data, der.len },
		{ CKA_ID, (void *)&id9e, 1 },
	};
	assert_int_equal(piv_driver.create_object(&card, cert, 3), CKR_OK);
	assert_int_equal(f.certs[3].len, der.len);
	assert_memory_equal(f.certs[3].data, der.data, der.len);
	assert_int_equal(count_objects(&card, 0x9E, CKO_CERTIFICATE), 1);
	/* ...or found by its key. */
	assert_int_equal(piv_driver.create_object(&card, cert, 2), CKR_OK);
	assert_int_equal(f.puts, 2);

	/* Deleting the certificate keeps the key on show. */
	assert_int_equal(piv_driver.load_objects(&card, &objs), CKR_OK);
	for (size_t i = 0; i < objs.count; i++) {
		CK_ULONG c;
		if (objs.items[i].key_ref != 0x9E ||
		    !attr_get_ulong(&objs.items[i].attrs, CKA_CLASS, &c))
			continue;
		if (c == CKO_CERTIFICATE)
			assert_int_equal(piv_driver.destroy_object(&card, &objs.items[i]), CKR_OK);
		else
			assert_int_equal(piv_driver.destroy_object(&card, &objs.items[i]),
			                 CKR_ACTION_PROHIBITED);
	}
	drv_objects_free(&objs);
	assert_int_equal(f.certs[3].len, 0);
	assert_int_equal(count_objects(&card, 0x9E, CKO_CERTIFICATE), 0);
	assert_int_equal(count_objects(&card, 0x9E, CKO_PRIVATE_KEY), 1);

	/* An id that names no slot: refused before any command. */
	before = f.commands;
	assert_int_equal(generate_ec(&card, bad_id), CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(f.commands, before);
	buf_free(&der);
	buf_free(&sig);
	piv_driver.unbind(&card);
	fake_piv_free(&f);
}

static void
test_management_keys(void **state)
{
	static const uint8_t aes128[16] = {
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF,
	};
	struct fake_piv f;
	struct card card;

	(void)state;
	fake_card_loaded(&f, &card);
	/* A wrong key: the card refuses the witness; nothing is written. */
	setenv("KYSO_PIV_MGMT_KEY", "000000000000000000000000000000000000000000000000", 1);
	assert_int_equal(generate_ec(&card, 0x04), CKR_FUNCTION_FAILED);
	assert_false(f.admin);
	assert_null(f.keys[3]);
	/* Not hex, or not a key length. */
	setenv("KYSO_PIV_MGMT_KEY", "0102", 1);
	assert_int_equal(generate_ec(&card, 0x04), CKR_FUNCTION_FAILED);
	/* AES-128: the length says so. */
	f.mgmt_alg = 0x08;
	memcpy(f.mgmt_key, aes128, sizeof(aes128));
	setenv("KYSO_PIV_MGMT_KEY", "00112233445566778899aabbccddeeff", 1);
	assert_int_equal(generate_ec(&card, 0x04), CKR_OK);
	assert_true(f.admin);
	/* AES-192, the YubiKey 5.7 default: 24 bytes need KYSO_PIV_MGMT_ALG
	 * on a card without GET METADATA. */
	f.admin = false;
	f.mgmt_alg = 0x0A;
	memcpy(f.mgmt_key, "\x01\x02\x03\x04\x05\x06\x07\x08\x01\x02\x03\x04\x05\x06\x07\x08"
	       "\x01\x02\x03\x04\x05\x06\x07\x08", 24);
	unsetenv("KYSO_PIV_MGMT_KEY");
	setenv("KYSO_PIV_MGMT_ALG", "aes192", 1);
	assert_int_equal(generate_ec(&card, 0x04), CKR_OK);
	assert_true(f.admin);
	unsetenv("KYSO_PIV_MGMT_ALG");
	piv_driver.unbind(&card);
	fake_piv_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_piv),
		cmocka_unit_test(test_match_not_piv),
		cmocka_unit_test(test_match_card_gone),
		cmocka_unit_test(test_verify_padding),
		cmocka_unit_test(test_pin_length),
		cmocka_unit_test(test_wrong_pin),
		cmocka_unit_test(test_yubikey_info),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_retired_from_history),
		cmocka_unit_test(test_compressed_cert_skipped),
		cmocka_unit_test(test_ecdsa_exact_apdus),
		cmocka_unit_test(test_reset_reselects),
		cmocka_unit_test(test_reselect_on_foreign_applet),
		cmocka_unit_test(test_logout_and_puk),
		cmocka_unit_test(test_rsa_signatures),
		cmocka_unit_test(test_rsa_decrypt),
		cmocka_unit_test(test_ecdh),
		cmocka_unit_test(test_ecdsa_hash_sizes),
		cmocka_unit_test(test_generate_write_delete),
		cmocka_unit_test(test_management_keys),
	};

	/* The scripts are the driver's exact APDUs without a card cache
	 * (tests/integration/test_cache.py covers the cache): no folder
	 * for one. */
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
	return cmocka_run_group_tests_name("piv", tests, keys_setup, keys_teardown);
}
