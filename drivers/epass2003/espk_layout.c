/* Parsers for Feitian's ENTERSAFE-ESPK layout (OpenSC issue #3834). Every
 * field is read at an offset checked against the record or stream length. */
#include "drivers/epass2003/espk_layout.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static uint16_t
espk_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
espk_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A NUL-padded name field to a C string; bytes that are not printable ASCII
 * become '?', so a name never carries control characters into logs. */
static void
espk_name(char *dst, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && src[i] != 0; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7F) ? (char)src[i] : '?';
	dst[i] = '\0';
}

static enum espk_kind
espk_kind_of(const char *name)
{
	if (strncmp(name, "cert", 4) == 0)
		return ESPK_CERT;
	if (strncmp(name, "pubk", 4) == 0)
		return ESPK_PUBKEY;
	if (strncmp(name, "prvk", 4) == 0)
		return ESPK_PRIVKEY;
	return ESPK_OTHER;
}

int
espk_index_parse(const uint8_t *data, size_t len, struct espk_index *out)
{
	size_t n = len / ESPK_RECORD_LEN, i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (data == NULL || n == 0) {
		rc = 0;
		goto out;
	}
	out->entries = calloc(n, sizeof(*out->entries));
	if (out->entries == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		/* FID(2) dir(10) name(13) ACL(1) used(2) allocated(2), LE. */
		const uint8_t *rec = data + i * ESPK_RECORD_LEN;
		struct espk_entry *e = &out->entries[out->count];
		bool blank = true;

		for (size_t j = 0; j < ESPK_RECORD_LEN; j++)
			blank &= rec[j] == 0x00 || rec[j] == 0xFF;
		if (blank)
			continue;	/* never written, or erased */
		e->fid = espk_le16(rec);
		espk_name(e->dir, rec + 2, ESPK_DIR_NAME_LEN);
		espk_name(e->name, rec + 2 + ESPK_DIR_NAME_LEN, ESPK_FILE_NAME_LEN);
		e->acl = rec[25];
		e->used = espk_le16(rec + 26);
		e->allocated = espk_le16(rec + 28);
		if (e->fid == ESPK_FID_DIR_LABEL || e->fid == 0x0000)
			continue;	/* a directory's label, not a file */
		if (e->allocated != 0 && e->used > e->allocated)
			goto out;
		e->kind = espk_kind_of(e->name);
		out->count++;
	}
	rc = 0;
out:
	if (rc != 0)
		espk_index_free(out);
	return rc;
}

void
espk_index_free(struct espk_index *idx)
{
	free(idx->entries);
	idx->entries = NULL;
	idx->count = 0;
}

int
espk_attrs_parse(const uint8_t *data, size_t len, struct espk_attrs *out)
{
	size_t off = 0, cap = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	while (data != NULL && len - off >= 8) {
		uint32_t type = espk_le32(data + off);
		uint32_t vlen = espk_le32(data + off + 4);

		if (type == 0 && vlen == 0)
			break;	/* zero padding up to the allocated size */
		off += 8;
		if (vlen > len - off)
			goto out;
		if (out->count == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct espk_attr *n = realloc(out->items, ncap * sizeof(*n));
			if (n == NULL)
				goto out;
			out->items = n;
			cap = ncap;
		}
		out->items[out->count].type = type;
		out->items[out->count].value = data + off;
		out->items[out->count].len = vlen;
		out->count++;
		off += vlen;
	}
	/* What is left must be padding: shorter than a header, or zeros. */
	for (size_t i = off; data != NULL && i < len; i++)
		if (data[i] != 0x00)
			goto out;
	rc = 0;
out:
	if (rc != 0)
		espk_attrs_free(out);
	return rc;
}

int
espk_attr_header(const uint8_t *data, size_t len, CK_ATTRIBUTE_TYPE *type, size_t *vlen)
{
	if (data == NULL || len < 8)
		return -1;
	*type = espk_le32(data);
	*vlen = espk_le32(data + 4);
	return *type == 0 && *vlen == 0 ? 0 : 1;
}

const struct espk_attr *
espk_attrs_find(const struct espk_attrs *a, CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < a->count; i++)
		if (a->items[i].type == type)
			return &a->items[i];
	return NULL;
}

int
espk_attr_ulong(const struct espk_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG *value)
{
	const struct espk_attr *at = espk_attrs_find(a, type);

	/* Written by a 32-bit Windows middleware: 4 bytes; tolerate 8 with
	 * a zero high half. */
	if (at == NULL)
		return -1;
	if (at->len == 4) {
		*value = espk_le32(at->value);
		return 0;
	}
	if (at->len == 8 && espk_le32(at->value + 4) == 0) {
		*value = espk_le32(at->value);
		return 0;
	}
	return -1;
}

void
espk_attrs_free(struct espk_attrs *a)
{
	free(a->items);
	a->items = NULL;
	a->count = 0;
}
