/* Fuzz the ePass2003 vendor layout parsers (drivers/epass2003/espk_layout.c):
 * the input is parsed both as the index EF 6F01 (30-byte records) and as an
 * attribute stream (u32 type, u32 length, value). Checks: every entry and
 * attribute lies inside the input, names are printable and terminated, a
 * file never claims more used than allocated bytes, and the attributes of
 * a stream, laid end to end, account for exactly the bytes before the
 * padding; walked header by header (espk_attr_header, as the driver reads a
 * private key piece by piece), a stream the parser accepts gives the same
 * attributes. */
#include <string.h>

#include "drivers/epass2003/espk_layout.h"
#include "tests/fuzz/fuzz.h"

static volatile uint8_t fuzz_sink;

static void
fuzz_name(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_CHECK(n < cap);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(s[i] >= 0x20 && s[i] < 0x7F);
}

static void
fuzz_index(const uint8_t *data, size_t size)
{
	struct espk_index idx;
	int rc = espk_index_parse(data, size, &idx);

	fuzz_note("espk_index_parse", (unsigned long)rc);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		FUZZ_CHECK(idx.entries == NULL && idx.count == 0);
		return;
	}
	FUZZ_CHECK(idx.count <= size / ESPK_RECORD_LEN);
	for (size_t i = 0; i < idx.count; i++) {
		const struct espk_entry *e = &idx.entries[i];
		FUZZ_CHECK(e->fid != ESPK_FID_DIR_LABEL && e->fid != 0);
		FUZZ_CHECK(e->allocated == 0 || e->used <= e->allocated);
		fuzz_name(e->dir, sizeof(e->dir));
		fuzz_name(e->name, sizeof(e->name));
		FUZZ_CHECK((e->kind == ESPK_CERT) == (strncmp(e->name, "cert", 4) == 0));
	}
	espk_index_free(&idx);
}

static void
fuzz_attrs(const uint8_t *data, size_t size)
{
	struct espk_attrs a;
	size_t end = 0;
	CK_ULONG v;
	int rc = espk_attrs_parse(data, size, &a);

	fuzz_note("espk_attrs_parse", (unsigned long)rc);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		FUZZ_CHECK(a.items == NULL && a.count == 0);
		return;
	}
	for (size_t i = 0; i < a.count; i++) {
		const struct espk_attr *at = &a.items[i];
		/* Back to back, each after its 8-byte header, inside. */
		FUZZ_CHECK(at->value == data + end + 8);
		FUZZ_CHECK(at->len <= size - end - 8);
		end += 8 + at->len;
		for (size_t j = 0; j < at->len; j++)
			fuzz_sink ^= at->value[j];
		FUZZ_CHECK(espk_attrs_find(&a, at->type) != NULL);
		if (espk_attr_ulong(&a, at->type, &v) == 0)
			FUZZ_CHECK(v <= 0xFFFFFFFFUL);
	}
	/* What follows is zero padding. */
	for (size_t i = end; i < size; i++)
		FUZZ_CHECK(data[i] == 0);
	/* Header by header: the same attributes, then padding or the end. */
	end = 0;
	for (size_t i = 0; i <= a.count; i++) {
		CK_ATTRIBUTE_TYPE type;
		size_t vlen;
		int h = data != NULL ? espk_attr_header(data + end, size - end, &type, &vlen) : -1;
		if (i == a.count) {
			FUZZ_CHECK(h != 1);
			break;
		}
		FUZZ_CHECK(h == 1 && type == a.items[i].type && vlen == a.items[i].len);
		end += 8 + vlen;
	}
	espk_attrs_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_index(data, size);
	fuzz_attrs(data, size);
	return 0;
}
