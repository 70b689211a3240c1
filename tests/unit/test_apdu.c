/* The APDU layer against a scripted card: encoding, chaining, extended
 * length, GET RESPONSE on 61xx, re-sending on 6Cxx, and the limits that keep
 * a hostile card from hanging or flooding the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "drivers/card/apdu.h"
#include "tests/unit/script_transport.h"

struct fixture {
	struct script s;
	struct card card;
	struct buf rsp;
	struct buf want;
	uint8_t data[70000];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	script_init(&f->s);
	script_attach(&f->s, &f->card);
	for (size_t i = 0; i < sizeof(f->data); i++)
		f->data[i] = (uint8_t)(i % 251);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	script_free(&f->s);
	buf_free(&f->rsp);
	buf_free(&f->want);
	free(f);
	return 0;
}

/* Expect a command given as a hex header, `data_len` bytes of f->data from
 * `data_off`, and a hex trailer. */
static void
expect_with_data(struct fixture *f, const char *hdr_hex, size_t data_off,
                 size_t data_len, const char *trailer_hex, const char *rsp_hex)
{
	struct buf cmd = BUF_INIT, rsp = BUF_INIT;

	script_hex(&cmd, hdr_hex);
	assert_int_equal(buf_append(&cmd, f->data + data_off, data_len), 0);
	script_hex(&cmd, trailer_hex);
	script_hex(&rsp, rsp_hex);
	script_expect_bytes(&f->s, cmd.data, cmd.len, rsp.data, rsp.len);
	buf_free(&cmd);
	buf_free(&rsp);
}

/* Expect `cmd_hex`, answered by `n` bytes of f->data and then `sw_hex`. */
static void
expect_answer_data(struct fixture *f, const char *cmd_hex, size_t data_off,
                   size_t n, const char *sw_hex)
{
	struct buf cmd = BUF_INIT, rsp = BUF_INIT;

	script_hex(&cmd, cmd_hex);
	assert_int_equal(buf_append(&rsp, f->data + data_off, n), 0);
	script_hex(&rsp, sw_hex);
	script_expect_bytes(&f->s, cmd.data, cmd.len, rsp.data, rsp.len);
	buf_free(&cmd);
	buf_free(&rsp);
}

static void
assert_encoding(const struct apdu *a, bool extended, const char *want_hex)
{
	struct buf out = BUF_INIT, want = BUF_INIT;

	script_hex(&want, want_hex);
	assert_int_equal(apdu_encode(a, extended, &out), 0);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	buf_free(&out);
	buf_free(&want);
}

static void
test_encode_short(void **state)
{
	const uint8_t d[] = { 0xA0, 0x00, 0x00, 0x03, 0x08 };
	struct apdu a = { .cla = 0x00, .ins = 0xA4, .p1 = 0x04, .p2 = 0x00 };
	struct buf out = BUF_INIT;

	(void)state;
	assert_encoding(&a, false, "00A40400");			/* case 1 */
	a.le = 0x10;
	assert_encoding(&a, false, "00A40400 10");		/* case 2 */
	a.le = 256;
	assert_encoding(&a, false, "00A40400 00");
	a.le = APDU_LE_ANY;
	assert_encoding(&a, false, "00A40400 00");
	a.le = 0;
	a.data = d;
	a.lc = sizeof(d);
	assert_encoding(&a, false, "00A40400 05 A000000308");	/* case 3 */
	a.le = APDU_LE_ANY;
	assert_encoding(&a, false, "00A40400 05 A000000308 00");	/* case 4 */
	a.le = 1;
	assert_encoding(&a, false, "00A40400 05 A000000308 01");

	/* What the short form cannot say. */
	a.le = 257;
	assert_int_equal(apdu_encode(&a, false, &out), -1);
	assert_int_equal(out.len, 0);
	a.le = 0;
	a.lc = 256;
	assert_int_equal(apdu_encode(&a, false, &out), -1);
	a.lc = 1;
	a.data = NULL;
	assert_int_equal(apdu_encode(&a, false, &out), -1);
	buf_free(&out);
}

static void
test_encode_extended(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF };
	struct buf out = BUF_INIT, want = BUF_INIT;

	assert_encoding(&a, true, "00DB3FFF");			/* case 1 */
	a.le = APDU_LE_ANY;
	assert_encoding(&a, true, "00DB3FFF 00 0000");		/* case 2E */
	a.le = 65536;
	assert_encoding(&a, true, "00DB3FFF 00 0000");
	a.le = 300;
	assert_encoding(&a, true, "00DB3FFF 00 012C");
	a.le = 1;
	assert_encoding(&a, true, "00DB3FFF 00 0001");
	a.le = 0;
	a.data = (const uint8_t *)"\x5C\x01";
	a.lc = 2;
	assert_encoding(&a, true, "00DB3FFF 00 0002 5C01");	/* case 3E */
	a.le = APDU_LE_ANY;
	assert_encoding(&a, true, "00DB3FFF 00 0002 5C01 0000");	/* case 4E */

	/* The largest data field. */
	a.data = f->data;
	a.lc = 65535;
	a.le = 0;
	assert_int_equal(apdu_encode(&a, true, &out), 0);
	script_hex(&want, "00DB3FFF 00 FFFF");
	assert_int_equal(out.len, 7 + 65535);
	assert_memory_equal(out.data, want.data, 7);
	assert_memory_equal(out.data + 7, f->data, 65535);

	a.lc = 65536;
	assert_int_equal(apdu_encode(&a, true, &out), -1);
	a.lc = 0;
	a.le = 65537;
	assert_int_equal(apdu_encode(&a, true, &out), -1);
	buf_free(&out);
	buf_free(&want);
}

static void
test_simple_exchange(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF,
	                  .data = (const uint8_t *)"\x5C\x01\x7E", .lc = 3,
	                  .le = APDU_LE_ANY };
	uint16_t sw = 0;

	script_expect(&f->s, "00CB3FFF 03 5C017E 00", "7E 02 0102 9000");
	assert_int_equal(buf_set(&f->rsp, "old", 3), 0);	/* replaced */
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 4);
	assert_memory_equal(f->rsp.data, "\x7E\x02\x01\x02", 4);
	assert_int_equal(f->card.apdu_count, 1);

	/* Without a response buffer; an error status is not a transport error. */
	script_expect(&f->s, "00CB3FFF 03 5C017E 00", "6A82");
	assert_int_equal(apdu_transmit(&f->card, &a, NULL, &sw), CKR_OK);
	assert_int_equal(sw, 0x6A82);
	assert_int_equal(f->card.apdu_count, 2);
	script_assert_done(&f->s);
}

/* T=0 (ISO/IEC 7816-3 12.2.4): a case 4 command goes without Le and the
 * data comes back through 61xx; case 2 keeps its Le. */
static void
test_t0_case4(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF,
	                  .data = (const uint8_t *)"\x5C\x01\x7E", .lc = 3,
	                  .le = APDU_LE_ANY };
	struct apdu get = { .cla = 0x00, .ins = 0xCA, .p1 = 0x00, .p2 = 0x6E,
	                    .le = APDU_LE_ANY };
	uint16_t sw = 0;

	f->card.t0 = true;
	script_expect(&f->s, "00CB3FFF 03 5C017E", "6104");
	script_expect(&f->s, "00C00000 04", "7E 02 0102 9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 4);
	assert_memory_equal(f->rsp.data, "\x7E\x02\x01\x02", 4);

	script_expect(&f->s, "00CA006E 00", "01 9000");
	assert_int_equal(apdu_transmit(&f->card, &get, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	script_assert_done(&f->s);
}

/* 600 bytes on a card without extended length: 255 + 255 + 90, CLA 0x10 on
 * the first two, Le on the last only (ISO 7816-4 5.1.1.1). */
static void
test_chaining_600(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF,
	                  .data = f->data, .lc = 600, .le = APDU_LE_ANY };
	uint16_t sw = 0;

	expect_with_data(f, "10DB3FFF FF", 0, 255, "", "9000");
	expect_with_data(f, "10DB3FFF FF", 255, 255, "", "9000");
	expect_with_data(f, "00DB3FFF 5A", 510, 90, "00", "AB 9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 1);
	assert_int_equal(f->rsp.data[0], 0xAB);
	assert_int_equal(f->card.apdu_count, 3);
	script_assert_done(&f->s);
}

/* Exactly 510 bytes: two full pieces, the last one without the chain bit;
 * the CLA's other bits (a logical channel) are kept. */
static void
test_chaining_exact_multiple(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x01, .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF,
	                  .data = f->data, .lc = 510 };
	uint16_t sw = 0;

	expect_with_data(f, "11DB3FFF FF", 0, 255, "", "9000");
	expect_with_data(f, "01DB3FFF FF", 255, 255, "", "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 0);
	script_assert_done(&f->s);
}

/* A piece refused in the middle ends the chain with the card's status. */
static void
test_chaining_stops_on_error(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF,
	                  .data = f->data, .lc = 600 };
	uint16_t sw = 0;

	expect_with_data(f, "10DB3FFF FF", 0, 255, "", "9000");
	expect_with_data(f, "10DB3FFF FF", 255, 255, "", "6A84");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x6A84);
	assert_int_equal(f->card.apdu_count, 2);
	script_assert_done(&f->s);

	/* 61xx on a middle piece is not "more data" of the whole command. */
	expect_with_data(f, "10DB3FFF FF", 0, 255, "", "6110");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x6110);
	script_assert_done(&f->s);
}

/* With an extended-length card the same 600 bytes go in one APDU. */
static void
test_extended_data(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xDB, .p1 = 0x3F, .p2 = 0xFF,
	                  .data = f->data, .lc = 600, .le = APDU_LE_ANY };
	uint16_t sw = 0;

	f->card.extended = true;
	expect_with_data(f, "00DB3FFF 00 0258", 0, 600, "0000", "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->card.apdu_count, 1);

	/* A short command stays short on an extended card. */
	a.lc = 255;
	expect_with_data(f, "00DB3FFF FF", 0, 255, "00", "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);

	/* Past 65535 bytes only chaining is left. */
	a.lc = 65536;
	a.le = 0;
	for (size_t off = 0; off + 255 < 65536; off += 255)
		expect_with_data(f, "10DB3FFF FF", off, 255, "", "9000");
	expect_with_data(f, "00DB3FFF 01", 65535, 1, "", "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	script_assert_done(&f->s);
}

/* An Le above 256 needs the extended form; without it, Le = 00 and 61xx. */
static void
test_extended_le(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xB0, .le = 1000 };
	uint16_t sw = 0;

	f->card.extended = true;
	expect_answer_data(f, "00B00000 00 03E8", 0, 1000, "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(f->rsp.len, 1000);
	assert_memory_equal(f->rsp.data, f->data, 1000);

	f->card.extended = false;
	expect_answer_data(f, "00B00000 00", 0, 256, "61E8");
	expect_answer_data(f, "00C00000 E8", 256, 0xE8, "6100");
	expect_answer_data(f, "00C00000 00", 256 + 0xE8, 256, "6100");
	expect_answer_data(f, "00C00000 00", 256 + 0xE8 + 256, 1000 - 256 - 0xE8 - 256, "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 1000);
	assert_memory_equal(f->rsp.data, f->data, 1000);
	assert_int_equal(f->card.apdu_count, 5);
	script_assert_done(&f->s);
}

static void
test_get_response(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCA, .p1 = 0x01, .p2 = 0x02,
	                  .le = APDU_LE_ANY };
	uint16_t sw = 0;

	script_expect(&f->s, "00CA0102 00", "0102 6104");
	script_expect(&f->s, "00C00000 04", "03040506 9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 6);
	assert_memory_equal(f->rsp.data, "\x01\x02\x03\x04\x05\x06", 6);
	assert_int_equal(f->card.apdu_count, 2);

	/* 61 00 asks for 256 (GET RESPONSE with Le 00); the final status is
	 * whatever the card ends with, data kept. */
	script_expect(&f->s, "00CA0102 00", "6100");
	expect_answer_data(f, "00C00000 00", 0, 256, "6110");
	expect_answer_data(f, "00C00000 10", 256, 8, "6282");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x6282);
	assert_int_equal(f->rsp.len, 264);
	assert_memory_equal(f->rsp.data, f->data, 264);
	assert_int_equal(f->card.apdu_count, 5);
	script_assert_done(&f->s);
}

/* A card answering 61xx forever costs a bounded number of exchanges. */
static void
test_endless_61xx(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCA, .le = APDU_LE_ANY };
	const size_t plenty = 100000;
	uint16_t sw = 0x1234;

	script_expect(&f->s, "00CA0000 00", "6101");
	for (size_t i = 0; i < plenty; i++)
		script_expect(&f->s, "00C00000 01", "6101");
	assert_int_equal(buf_set(&f->rsp, "old", 3), 0);
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_ERROR);
	assert_int_equal(sw, 0x1234);		/* untouched on error */
	assert_int_equal(f->rsp.len, 0);
	assert_true(f->s.next < 2000);
	assert_int_equal(f->card.apdu_count, f->s.next);
}

/* The response, all GET RESPONSEs added up, is at most APDU_RESPONSE_MAX. */
static void
test_response_limit(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCA, .le = APDU_LE_ANY };
	const size_t pieces = APDU_RESPONSE_MAX / 256;
	uint16_t sw = 0;

	/* Exactly the limit: accepted. */
	expect_answer_data(f, "00CA0000 00", 0, 256, "6100");
	for (size_t i = 1; i < pieces; i++)
		expect_answer_data(f, "00C00000 00", i * 256, 256,
		                   i + 1 < pieces ? "6100" : "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, APDU_RESPONSE_MAX);
	assert_memory_equal(f->rsp.data, f->data, APDU_RESPONSE_MAX);
	script_assert_done(&f->s);

	/* One byte more: refused. */
	expect_answer_data(f, "00CA0000 00", 0, 256, "6100");
	for (size_t i = 1; i < pieces; i++)
		expect_answer_data(f, "00C00000 00", i * 256, 256,
		                   i + 1 < pieces ? "6100" : "6101");
	expect_answer_data(f, "00C00000 01", 0, 1, "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_ERROR);
	assert_int_equal(f->rsp.len, 0);
	script_assert_done(&f->s);

	/* The largest extended response fits the receive buffer. */
	f->card.extended = true;
	a.le = 65536;
	a.ins = 0xB0;
	expect_answer_data(f, "00B00000 00 0000", 0, 65536, "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(f->rsp.len, 65536);
	script_assert_done(&f->s);
}

static void
test_6cxx_resend(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCA, .p1 = 0x01, .p2 = 0x00,
	                  .le = APDU_LE_ANY };
	uint16_t sw = 0;

	script_expect(&f->s, "00CA0100 00", "6C10");
	expect_answer_data(f, "00CA0100 10", 0, 16, "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 16);
	assert_int_equal(f->card.apdu_count, 2);

	/* 6C00 is Le 256; and the re-sent command may go on with 61xx. */
	a.le = 5;
	script_expect(&f->s, "00CA0100 05", "6C00");
	expect_answer_data(f, "00CA0100 00", 0, 256, "6102");
	expect_answer_data(f, "00C00000 02", 256, 2, "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(f->rsp.len, 258);
	assert_memory_equal(f->rsp.data, f->data, 258);

	/* Re-sent once only: a second 6Cxx is the answer. */
	script_expect(&f->s, "00CA0100 05", "6C10");
	script_expect(&f->s, "00CA0100 10", "6C08");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x6C08);
	assert_int_equal(f->rsp.len, 0);

	/* 6Cxx to a GET RESPONSE fixes that GET RESPONSE's Le. */
	script_expect(&f->s, "00CA0100 05", "6104");
	script_expect(&f->s, "00C00000 04", "6C03");
	script_expect(&f->s, "00C00000 03", "AABBCC 9000");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_OK);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(f->rsp.len, 3);
	script_assert_done(&f->s);
}

static void
test_broken_responses(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCA, .le = APDU_LE_ANY };
	uint16_t sw = 0;

	/* Shorter than a status word. */
	script_expect(&f->s, "00CA0000 00", "90");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_ERROR);
	script_expect(&f->s, "00CA0000 00", "");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_ERROR);
	/* ...also in the middle of GET RESPONSEs, with the data so far
	 * dropped. */
	script_expect(&f->s, "00CA0000 00", "0102 6102");
	script_expect(&f->s, "00C00000 02", "61");
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_ERROR);
	assert_int_equal(f->rsp.len, 0);
	/* A transport error is passed on. */
	script_expect_error(&f->s, "00CA0000 00", CKR_DEVICE_REMOVED);
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_REMOVED);
	script_expect(&f->s, "00CA0000 00", "6100");
	script_expect_error(&f->s, "00C00000 00", CKR_DEVICE_ERROR);
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_ERROR);
	assert_int_equal(f->card.apdu_count, 7);
	script_assert_done(&f->s);
}

static void
test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct apdu a = { .cla = 0x00, .ins = 0xCA, .lc = 1 };
	uint16_t sw = 0;

	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_ARGUMENTS_BAD);
	a.lc = 0;
	a.le = 65537;
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_ARGUMENTS_BAD);
	a.le = 0;
	assert_int_equal(apdu_transmit(NULL, &a, &f->rsp, &sw), CKR_ARGUMENTS_BAD);
	assert_int_equal(apdu_transmit(&f->card, NULL, &f->rsp, &sw), CKR_ARGUMENTS_BAD);
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, NULL), CKR_ARGUMENTS_BAD);
	/* A closed card. */
	f->card.ops = NULL;
	assert_int_equal(apdu_transmit(&f->card, &a, &f->rsp, &sw), CKR_DEVICE_REMOVED);
	assert_int_equal(f->card.apdu_count, 0);
}

/* With KYSO_DEBUG on, APDUs are logged but a secret data field never is. */
static void
test_log_masks_secret(void **state)
{
	struct fixture *f = *state;
	const uint8_t pin[] = { '9', '8', '7', '6', '5', '4', 0xFF, 0xFF };
	struct apdu a = { .cla = 0x00, .ins = 0x20, .p1 = 0x00, .p2 = 0x80,
	                  .data = pin, .lc = sizeof(pin), .secret = true };
	char path[] = "/tmp/kyso-test-apdu-log-XXXXXX";
	char text[4096];
	uint16_t sw = 0;
	size_t n;
	FILE *fp;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	setenv("KYSO_DEBUG", "1", 1);
	setenv("KYSO_DEBUG_FILE", path, 1);
	log_init();
	assert_true(kyso_log_level > 0);
	script_expect(&f->s, "00200080 08 393837363534FFFF", "9000");
	assert_int_equal(apdu_transmit(&f->card, &a, NULL, &sw), CKR_OK);
	/* Nor the data of a secret command's response. */
	script_expect(&f->s, "00200080 08 393837363534FFFF", "393837363534 9000");
	assert_int_equal(apdu_transmit(&f->card, &a, NULL, &sw), CKR_OK);
	log_close();
	kyso_log_level = 0;
	unsetenv("KYSO_DEBUG");
	unsetenv("KYSO_DEBUG_FILE");

	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	unlink(path);
	text[n] = '\0';
	assert_true(n > 0);
	if (strstr(text, "393837363534") != NULL ||
	    strstr(text, "39 38 37 36 35 34") != NULL ||
	    strstr(text, "987654") != NULL)
		fail_msg("the PIN is in the debug log:\n%s", text);
	script_assert_done(&f->s);
}

static void
test_sw_to_rv(void **state)
{
	(void)state;
	assert_int_equal(apdu_sw_to_rv(0x9000), CKR_OK);
	assert_int_equal(apdu_sw_to_rv(0x63C2), CKR_PIN_INCORRECT);
	assert_int_equal(apdu_sw_to_rv(0x63C1), CKR_PIN_INCORRECT);
	assert_int_equal(apdu_sw_to_rv(0x6300), CKR_PIN_INCORRECT);
	assert_int_equal(apdu_sw_to_rv(0x63C0), CKR_PIN_LOCKED);
	assert_int_equal(apdu_sw_to_rv(0x6983), CKR_PIN_LOCKED);
	assert_int_equal(apdu_sw_to_rv(0x6982), CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(apdu_sw_to_rv(0x6985), CKR_FUNCTION_REJECTED);
	assert_int_equal(apdu_sw_to_rv(0x6700), CKR_DEVICE_ERROR);
	assert_int_equal(apdu_sw_to_rv(0x6A80), CKR_DEVICE_ERROR);
	assert_int_equal(apdu_sw_to_rv(0x6A82), CKR_FUNCTION_FAILED);
	assert_int_equal(apdu_sw_to_rv(0x6A88), CKR_FUNCTION_FAILED);
	assert_int_equal(apdu_sw_to_rv(0x6A84), CKR_DEVICE_MEMORY);
	assert_int_equal(apdu_sw_to_rv(0x6D00), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(apdu_sw_to_rv(0x6E00), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(apdu_sw_to_rv(0x6A81), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(apdu_sw_to_rv(0x6F00), CKR_DEVICE_ERROR);
	assert_int_equal(apdu_sw_to_rv(0x6581), CKR_DEVICE_ERROR);
	assert_int_equal(apdu_sw_to_rv(0x0000), CKR_DEVICE_ERROR);
	assert_int_equal(apdu_sw_to_rv(0x6110), CKR_DEVICE_ERROR);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_short),
		T(test_encode_extended),
		T(test_simple_exchange),
		T(test_t0_case4),
		T(test_chaining_600),
		T(test_chaining_exact_multiple),
		T(test_chaining_stops_on_error),
		T(test_extended_data),
		T(test_extended_le),
		T(test_get_response),
		T(test_endless_61xx),
		T(test_response_limit),
		T(test_6cxx_resend),
		T(test_broken_responses),
		T(test_bad_arguments),
		T(test_log_masks_secret),
		cmocka_unit_test(test_sw_to_rv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
