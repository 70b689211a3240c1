/* The BER-TLV reader: what it accepts, what it refuses, and that it never
 * hands out a value reaching past the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/card/tlv.h"
#include "tests/unit/script_transport.h"

/* Parse `hex` as exactly one element and nothing after it. */
static int
parse_one(const char *hex, struct buf *b, struct tlv *t)
{
	struct tlv_reader r;
	struct tlv rest;
	int rc;

	buf_clear(b);
	script_hex(b, hex);
	tlv_reader_init(&r, b->data, b->len);
	rc = tlv_next(&r, t);
	if (rc == 1) {
		assert_ptr_equal(t->raw, b->data);
		assert_true(t->value >= b->data);
		assert_true(t->value + t->len <= b->data + b->len);
		assert_int_equal(t->raw_len, (size_t)(t->value - t->raw) + t->len);
		assert_int_equal(tlv_next(&r, &rest), 0);
	}
	return rc;
}

static void
test_short_length(void **state)
{
	struct buf b = BUF_INIT;
	struct tlv t;

	(void)state;
	assert_int_equal(parse_one("53 03 010203", &b, &t), 1);
	assert_int_equal(t.tag, 0x53);
	assert_int_equal(t.len, 3);
	assert_int_equal(t.raw_len, 5);
	assert_memory_equal(t.value, "\x01\x02\x03", 3);

	assert_int_equal(parse_one("53 00", &b, &t), 1);
	assert_int_equal(t.len, 0);
	assert_int_equal(t.raw_len, 2);
	buf_free(&b);
}

/* Every length form, at the edges of each. */
static void
test_length_forms(void **state)
{
	static const struct {
		const char *hdr;
		size_t len;
	} cases[] = {
		{ "04 7F", 0x7F },
		{ "04 81 80", 0x80 },
		{ "04 81 FF", 0xFF },
		{ "04 81 05", 5 },		/* BER allows non-minimal */
		{ "04 82 0100", 0x100 },
		{ "04 82 FFFF", 0xFFFF },
		{ "04 82 0001", 1 },
		{ "04 83 010000", 0x10000 },
		{ "04 83 000000", 0 },
		{ "04 83 012345", 0x12345 },
	};
	struct buf b = BUF_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tlv_reader r;
		struct tlv t;
		size_t hdr_len;

		buf_clear(&b);
		script_hex(&b, cases[i].hdr);
		hdr_len = b.len;
		assert_int_equal(buf_reserve(&b, cases[i].len), 0);
		memset(b.data + b.len, 0xA5, cases[i].len);
		b.len += cases[i].len;

		tlv_reader_init(&r, b.data, b.len);
		assert_int_equal(tlv_next(&r, &t), 1);
		assert_int_equal(t.tag, 0x04);
		assert_int_equal(t.len, cases[i].len);
		assert_ptr_equal(t.value, b.data + hdr_len);
		assert_int_equal(t.raw_len, b.len);
		assert_int_equal(tlv_next(&r, &t), 0);

		/* One byte short of the value: refused. */
		if (cases[i].len > 0) {
			tlv_reader_init(&r, b.data, b.len - 1);
			assert_int_equal(tlv_next(&r, &t), -1);
		}
	}
	buf_free(&b);
}

static void
test_bad_lengths(void **state)
{
	static const char *const bad[] = {
		"53 80 0000",		/* indefinite */
		"53 84 00000001 00",	/* four length bytes */
		"53 85 0000000001 00",
		"53 FF",
		"53",			/* no length */
		"53 81",		/* length bytes missing */
		"53 82 01",
		"53 83 0000",
		"53 01",		/* value missing */
		"53 05 01020304",	/* one short */
		"53 83 FFFFFF 00",	/* huge, tiny buffer */
		"53 82 FFFF 0000",
	};
	struct buf b = BUF_INIT;
	struct tlv t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_one(bad[i], &b, &t);
		if (rc != -1)
			fail_msg("\"%s\" gave %d, expected -1", bad[i], rc);
	}
	buf_free(&b);
}

static void
test_tags(void **state)
{
	static const struct {
		const char *hex;
		uint32_t tag;
	} good[] = {
		{ "01 00", 0x01 },
		{ "1E 00", 0x1E },
		{ "5F1F 00", 0x5F1F },		/* two bytes, smallest number */
		{ "7F49 00", 0x7F49 },
		{ "5F50 00", 0x5F50 },
		{ "9F02 00", 0x9F02 },		/* EMV style */
		{ "5FC105 00", 0x5FC105 },	/* PIV data object tags */
		{ "7F8101 00", 0x7F8101 },
		{ "DFFF7F 00", 0xDFFF7F },
	};
	static const char *const bad[] = {
		"5F",			/* tag cut short */
		"5FC1",
		"5F80 00",		/* leading zero in the tag number */
		"5F00 00",
		"5FC18101 00",		/* four tag bytes */
		"5FFFFFFF 00",
		"7F 00",		/* 7F00 is not a tag */
	};
	struct buf b = BUF_INIT;
	struct tlv t;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(parse_one(good[i].hex, &b, &t), 1);
		assert_int_equal(t.tag, good[i].tag);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_one(bad[i], &b, &t);
		if (rc != -1)
			fail_msg("\"%s\" gave %d, expected -1", bad[i], rc);
	}
	buf_free(&b);
}

static void
test_sequence_and_error_is_sticky(void **state)
{
	struct buf b = BUF_INIT;
	struct tlv_reader r;
	struct tlv t;

	(void)state;
	script_hex(&b, "4F 02 AABB  5FC102 01 CC  53 00  80 05 0102");
	tlv_reader_init(&r, b.data, b.len);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.tag, 0x4F);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.tag, 0x5FC102);
	assert_int_equal(t.len, 1);
	assert_int_equal(t.value[0], 0xCC);
	assert_int_equal(tlv_next(&r, &t), 1);
	assert_int_equal(t.tag, 0x53);
	assert_int_equal(tlv_next(&r, &t), -1);	/* 80 05 with 2 bytes */
	assert_int_equal(tlv_next(&r, &t), -1);	/* and stays so */
	buf_free(&b);
}

static void
test_empty_input(void **state)
{
	struct tlv_reader r;
	struct tlv t;
	uint8_t byte = 0x53;

	(void)state;
	tlv_reader_init(&r, NULL, 0);
	assert_int_equal(tlv_next(&r, &t), 0);
	tlv_reader_init(&r, NULL, 10);	/* no data whatever the length */
	assert_int_equal(tlv_next(&r, &t), 0);
	tlv_reader_init(&r, &byte, 0);
	assert_int_equal(tlv_next(&r, &t), 0);
	assert_int_equal(tlv_find(NULL, 0, 0x53, &t), 0);
}

static void
test_nested(void **state)
{
	struct buf b = BUF_INIT;
	struct tlv outer, inner;

	(void)state;
	/* A PIV GENERATE ASYMMETRIC KEY PAIR answer: 7F49 { 86 point }. */
	script_hex(&b, "7F49 05 86 03 040102");
	assert_int_equal(tlv_find(b.data, b.len, 0x7F49, &outer), 1);
	assert_true(tlv_is_constructed(outer.tag));
	assert_int_equal(tlv_find(outer.value, outer.len, 0x86, &inner), 1);
	assert_int_equal(inner.len, 3);
	assert_memory_equal(inner.value, "\x04\x01\x02", 3);
	/* The inner element is not at the top level. */
	assert_int_equal(tlv_find(b.data, b.len, 0x86, &inner), 0);

	/* An inner length reaching past its parent is refused inside it. */
	buf_clear(&b);
	script_hex(&b, "7F49 03 86 03 04 0102");
	assert_int_equal(tlv_find(b.data, b.len, 0x7F49, &outer), 1);
	assert_int_equal(tlv_find(outer.value, outer.len, 0x86, &inner), -1);
	buf_free(&b);
}

static void
test_find(void **state)
{
	struct buf b = BUF_INIT;
	struct tlv t;

	(void)state;
	script_hex(&b, "01 01 AA  02 01 BB  02 01 CC  53 82 01");
	/* Found before the malformed tail. */
	assert_int_equal(tlv_find(b.data, b.len, 0x01, &t), 1);
	assert_int_equal(t.value[0], 0xAA);
	/* The first of two. */
	assert_int_equal(tlv_find(b.data, b.len, 0x02, &t), 1);
	assert_int_equal(t.value[0], 0xBB);
	/* Absent, but the walk hit the malformed tail first. */
	assert_int_equal(tlv_find(b.data, b.len, 0x99, &t), -1);
	/* Absent from well-formed data. */
	assert_int_equal(tlv_find(b.data, 9, 0x99, &t), 0);
	/* A two-byte tag is not found by its first byte. */
	buf_clear(&b);
	script_hex(&b, "5F50 01 00  5F01 01 EE");
	assert_int_equal(tlv_find(b.data, b.len, 0x5F, &t), 0);
	assert_int_equal(tlv_find(b.data, b.len, 0x5F01, &t), 1);
	assert_int_equal(t.value[0], 0xEE);
	buf_free(&b);
}

static void
test_is_constructed(void **state)
{
	(void)state;
	assert_true(tlv_is_constructed(0x30));
	assert_true(tlv_is_constructed(0x70));
	assert_true(tlv_is_constructed(0x7C));
	assert_true(tlv_is_constructed(0x7F49));
	assert_true(tlv_is_constructed(0x7F61));
	assert_true(tlv_is_constructed(0xBF0C));
	assert_true(tlv_is_constructed(0x7F8101));
	assert_false(tlv_is_constructed(0x04));
	assert_false(tlv_is_constructed(0x53));
	assert_false(tlv_is_constructed(0x5F50));
	assert_false(tlv_is_constructed(0x5FC105));
	assert_false(tlv_is_constructed(0x9F02));
	assert_false(tlv_is_constructed(0x00));
}

/* tlv_put writes the minimal header, and tlv_next reads back what it wrote. */
static void
test_put_round_trip(void **state)
{
	static const struct {
		uint32_t tag;
		size_t len;
		const char *hdr;
	} cases[] = {
		{ 0x53, 0, "53 00" },
		{ 0x53, 1, "53 01" },
		{ 0x53, 0x7F, "53 7F" },
		{ 0x53, 0x80, "53 81 80" },
		{ 0x7F49, 0xFF, "7F49 81 FF" },
		{ 0x5FC105, 0x100, "5FC105 82 0100" },
		{ 0x70, 0xFFFF, "70 82 FFFF" },
		{ 0x70, 0x10000, "70 83 010000" },
		{ 0x9F02, 0x12345, "9F02 83 012345" },
	};
	struct buf out = BUF_INIT, want = BUF_INIT;
	uint8_t *value = malloc(0x12345);

	(void)state;
	assert_non_null(value);
	for (size_t i = 0; i < 0x12345; i++)
		value[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tlv_reader r;
		struct tlv t;

		buf_clear(&out);
		buf_clear(&want);
		script_hex(&want, cases[i].hdr);
		assert_int_equal(tlv_put(&out, cases[i].tag, value, cases[i].len), 0);
		assert_int_equal(out.len, want.len + cases[i].len);
		assert_memory_equal(out.data, want.data, want.len);

		tlv_reader_init(&r, out.data, out.len);
		assert_int_equal(tlv_next(&r, &t), 1);
		assert_int_equal(t.tag, cases[i].tag);
		assert_int_equal(t.len, cases[i].len);
		if (cases[i].len > 0)
			assert_memory_equal(t.value, value, cases[i].len);
		assert_int_equal(tlv_next(&r, &t), 0);

		/* The header alone, with the value appended by the caller. */
		buf_clear(&out);
		assert_int_equal(tlv_put_header(&out, cases[i].tag, cases[i].len), 0);
		assert_int_equal(out.len, want.len);
		assert_memory_equal(out.data, want.data, want.len);
	}
	free(value);
	buf_free(&out);
	buf_free(&want);
}

static void
test_put_appends_and_nests(void **state)
{
	struct buf inner = BUF_INIT, out = BUF_INIT, want = BUF_INIT;

	(void)state;
	assert_int_equal(tlv_put(&inner, 0x80, (const uint8_t *)"\x07", 1), 0);
	assert_int_equal(tlv_put(&inner, 0x81, NULL, 0), 0);
	assert_int_equal(tlv_put(&out, 0xAC, inner.data, inner.len), 0);
	script_hex(&want, "AC 05 80 01 07 81 00");
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	buf_free(&inner);
	buf_free(&out);
	buf_free(&want);
}

static void
test_put_refuses(void **state)
{
	struct buf out = BUF_INIT;

	(void)state;
	assert_int_equal(tlv_put(&out, 0x53, (const uint8_t *)"x", 1), 0);
	/* Beyond what the reader reads back, or no value: `out` untouched. */
	assert_int_equal(tlv_put_header(&out, 0x53, 0x1000000), -1);
	assert_int_equal(tlv_put_header(&out, 0x1000000, 1), -1);
	assert_int_equal(tlv_put(&out, 0x53, NULL, 4), -1);
	assert_int_equal(tlv_put(&out, 0x53, (const uint8_t *)"x", SIZE_MAX), -1);
	assert_int_equal(out.len, 3);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_length),
		cmocka_unit_test(test_length_forms),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_sequence_and_error_is_sticky),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_is_constructed),
		cmocka_unit_test(test_put_round_trip),
		cmocka_unit_test(test_put_appends_and_nests),
		cmocka_unit_test(test_put_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
