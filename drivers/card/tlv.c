/* The strict BER-TLV reader and writer (ISO/IEC 7816-4:2013 5.2, X.690 8.1).
 *
 * Reading accepts exactly:
 *  - tags of one to three bytes (X.690 8.1.2.4: a first byte with bits 5-1
 *    all set announces more bytes; each further byte has bit 8 set while one
 *    more follows). A first subsequent byte of 00 or 80 (tag number bits
 *    all zero, X.690 8.1.2.4.2 c) is rejected. Tag bytes 00 and FF are not
 *    taken as padding (ISO 7816-4 5.2.2.1 allows it between objects, but no
 *    card kyso supports pads, and skipping bytes is how parsers drift).
 *  - definite lengths: one byte 00-7F, or 81/82/83 followed by one to three
 *    length bytes (X.690 8.1.3.5). Non-minimal long forms (81 05) are BER and
 *    accepted; 80 (indefinite, X.690 8.1.3.6) and 84 or more are rejected.
 *  - elements whose value fits in what is left of the buffer.
 *
 * Writing always uses the minimal length form (X.690 10.1, DER). */
#include "drivers/card/tlv.h"

/* The longest tag and length fields this reader accepts. */
#define TLV_TAG_MAX_BYTES 3
#define TLV_LEN_MAX_BYTES 3

void
tlv_reader_init(struct tlv_reader *r, const uint8_t *data, size_t len)
{
	r->p = data;
	r->left = data != NULL ? len : 0;
}

/* Read the tag at p[0..left). Returns the bytes used, or 0 if malformed. */
static size_t
tlv_read_tag(const uint8_t *p, size_t left, uint32_t *tag)
{
	size_t n = 0, used = 0;
	uint32_t t;

	if (left == 0)
		goto out;
	t = p[n++];
	if ((t & 0x1Fu) == 0x1Fu) {
		/* Multi-byte tag number (X.690 8.1.2.4.2). */
		uint8_t b;
		do {
			if (n >= left || n >= TLV_TAG_MAX_BYTES)
				goto out;
			b = p[n];
			if (n == 1 && (b & 0x7Fu) == 0)
				goto out;
			t = (t << 8) | b;
			n++;
		} while (b & 0x80u);
	}
	*tag = t;
	used = n;
out:
	return used;
}

/* Read the length at p[0..left). Returns the bytes used, or 0 if malformed. */
static size_t
tlv_read_len(const uint8_t *p, size_t left, size_t *len)
{
	size_t count, i, v = 0, used = 0;

	if (left == 0)
		goto out;
	if (p[0] < 0x80) {
		*len = p[0];
		used = 1;
		goto out;
	}
	count = p[0] & 0x7Fu;
	/* count 0 is the indefinite form; more than 3 bytes is beyond any card
	 * object (and beyond 16 MiB). */
	if (count == 0 || count > TLV_LEN_MAX_BYTES || count > left - 1)
		goto out;
	for (i = 1; i <= count; i++)
		v = (v << 8) | p[i];
	*len = v;
	used = count + 1;
out:
	return used;
}

int
tlv_next(struct tlv_reader *r, struct tlv *out)
{
	size_t tag_n, len_n, len = 0, hdr;
	uint32_t tag = 0;
	int rc = 0;

	if (r->p == NULL || r->left == 0)
		goto out;
	rc = -1;
	tag_n = tlv_read_tag(r->p, r->left, &tag);
	if (tag_n == 0)
		goto out;
	len_n = tlv_read_len(r->p + tag_n, r->left - tag_n, &len);
	if (len_n == 0)
		goto out;
	hdr = tag_n + len_n;
	/* hdr <= left holds here; compare without adding to avoid overflow. */
	if (len > r->left - hdr)
		goto out;

	out->tag = tag;
	out->raw = r->p;
	out->raw_len = hdr + len;
	out->value = r->p + hdr;
	out->len = len;
	r->p += hdr + len;
	r->left -= hdr + len;
	rc = 1;
out:
	return rc;
}

int
tlv_find(const uint8_t *data, size_t len, uint32_t tag, struct tlv *out)
{
	struct tlv_reader r;
	struct tlv t;
	int rc;

	tlv_reader_init(&r, data, len);
	while ((rc = tlv_next(&r, &t)) == 1) {
		if (t.tag == tag) {
			*out = t;
			break;
		}
	}
	return rc;
}

/* The first byte of a tag as it was read (tlv.h keeps tags as their bytes). */
static uint8_t
tlv_tag_first_byte(uint32_t tag)
{
	if (tag > 0xFFFFu)
		return (uint8_t)(tag >> 16);
	if (tag > 0xFFu)
		return (uint8_t)(tag >> 8);
	return (uint8_t)tag;
}

int
tlv_is_constructed(uint32_t tag)
{
	/* X.690 8.1.2.5: bit 6 of the identifier octet. */
	return (tlv_tag_first_byte(tag) & 0x20u) != 0;
}

int
tlv_put_header(struct buf *out, uint32_t tag, size_t len)
{
	uint8_t hdr[TLV_TAG_MAX_BYTES + 1 + TLV_LEN_MAX_BYTES];
	size_t n = 0;

	if (tag > 0xFFFFFFu || len > 0xFFFFFFu)
		return -1;	/* beyond what tlv_next reads back */
	if (tag > 0xFFFFu)
		hdr[n++] = (uint8_t)(tag >> 16);
	if (tag > 0xFFu)
		hdr[n++] = (uint8_t)(tag >> 8);
	hdr[n++] = (uint8_t)tag;

	if (len < 0x80) {
		hdr[n++] = (uint8_t)len;
	} else if (len <= 0xFF) {
		hdr[n++] = 0x81;
		hdr[n++] = (uint8_t)len;
	} else if (len <= 0xFFFF) {
		hdr[n++] = 0x82;
		hdr[n++] = (uint8_t)(len >> 8);
		hdr[n++] = (uint8_t)len;
	} else {
		hdr[n++] = 0x83;
		hdr[n++] = (uint8_t)(len >> 16);
		hdr[n++] = (uint8_t)(len >> 8);
		hdr[n++] = (uint8_t)len;
	}
	return buf_append(out, hdr, n);
}

int
tlv_put(struct buf *out, uint32_t tag, const uint8_t *value, size_t len)
{
	size_t before = out->len;
	int rc = -1;

	if (len > 0 && value == NULL)
		goto out;
	/* Reserve header and value at once, so a failure leaves `out` as it
	 * was: 7 bytes is the longest header. */
	if (len > 0xFFFFFFu || buf_reserve(out, len + 7) != 0)
		goto out;
	if (tlv_put_header(out, tag, len) != 0)
		goto out;
	if (buf_append(out, value, len) != 0) {
		out->len = before;
		goto out;
	}
	rc = 0;
out:
	return rc;
}
