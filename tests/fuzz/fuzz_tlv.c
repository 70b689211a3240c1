/* Fuzz the BER-TLV reader: walk every element, recursing into constructed
 * ones, and check what it hands out stays inside what it was given, that
 * tlv_find agrees with the walk, and that tlv_put writes back what was read. */
#include <string.h>

#include "drivers/card/tlv.h"
#include "tests/fuzz/fuzz.h"

/* Deeper than any card object; keeps a nesting bomb from eating the stack. */
#define FUZZ_TLV_DEPTH_MAX 32

static volatile uint8_t fuzz_sink;

static void
fuzz_tlv_round_trip(const struct tlv *t)
{
	struct buf b = BUF_INIT;
	struct tlv_reader r;
	struct tlv back;

	FUZZ_CHECK(tlv_put(&b, t->tag, t->value, t->len) == 0);
	/* Minimal lengths: never longer than what was read. */
	FUZZ_CHECK(b.len <= t->raw_len);
	tlv_reader_init(&r, b.data, b.len);
	FUZZ_CHECK(tlv_next(&r, &back) == 1);
	FUZZ_CHECK(back.tag == t->tag);
	FUZZ_CHECK(back.len == t->len);
	FUZZ_CHECK(t->len == 0 || memcmp(back.value, t->value, t->len) == 0);
	FUZZ_CHECK(tlv_next(&r, &back) == 0);
	buf_free(&b);
}

static void
fuzz_tlv_walk(const uint8_t *data, size_t len, int depth)
{
	struct tlv_reader r;
	struct tlv t, found;
	size_t seen = 0;
	int rc;

	tlv_reader_init(&r, data, len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		/* Inside the buffer, elements back to back. */
		FUZZ_CHECK(t.raw == data + seen);
		FUZZ_CHECK(t.raw_len <= len - seen);
		FUZZ_CHECK(t.value > t.raw);
		FUZZ_CHECK(t.value + t.len == t.raw + t.raw_len);
		seen += t.raw_len;
		FUZZ_CHECK(r.left == len - seen);
		/* Touch every byte, so ASan sees a bad pointer. */
		for (size_t i = 0; i < t.len; i++)
			fuzz_sink ^= t.value[i];

		/* The first element with this tag is this one or one before. */
		FUZZ_CHECK(tlv_find(data, len, t.tag, &found) == 1);
		FUZZ_CHECK(found.tag == t.tag && found.raw <= t.raw);

		fuzz_tlv_round_trip(&t);
		if (tlv_is_constructed(t.tag) && depth < FUZZ_TLV_DEPTH_MAX)
			fuzz_tlv_walk(t.value, t.len, depth + 1);
	}
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(rc == -1 || seen == len);
	/* A failed read leaves the reader where it was. */
	if (rc == -1)
		FUZZ_CHECK(tlv_next(&r, &t) == -1 && r.left == len - seen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Tags a driver asks for, and one taken from the input. */
	static const uint32_t tags[] = { 0x53, 0x7F49, 0x5FC105, 0x7E, 0x4F };
	struct tlv t;
	uint32_t tag = 0;

	fuzz_tlv_walk(data, size, 0);
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		int rc = tlv_find(data, size, tags[i], &t);
		FUZZ_CHECK(rc >= -1 && rc <= 1);
		if (rc == 1)
			FUZZ_CHECK(t.tag == tags[i] && t.raw >= data &&
			           t.raw + t.raw_len <= data + size);
	}
	for (size_t i = 0; i < size && i < 3; i++)
		tag = tag << 8 | data[i];
	(void)tlv_find(data, size, tag, &t);
	return 0;
}
