/* The one BER-TLV reader (ISO/IEC 7816-4 annex D, X.690 8.1) every driver
 * uses for card data. It never reads past the buffer it is given: each
 * element's length is checked against what is left before it is returned.
 * Tags up to 3 bytes, definite lengths up to 3 length bytes; indefinite
 * length and truncated elements are errors. */
#ifndef KYSO_TLV_H
#define KYSO_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct tlv {
	uint32_t tag;	/* the tag bytes as read, e.g. 0x5FC105, 0x7F49, 0x53 */
	const uint8_t *value;
	size_t len;
	/* The whole element, header included. */
	const uint8_t *raw;
	size_t raw_len;
};

struct tlv_reader {
	const uint8_t *p;
	size_t left;
};

void tlv_reader_init(struct tlv_reader *r, const uint8_t *data, size_t len);
/* 1: *out is the next element; 0: no data left; -1: malformed. */
int tlv_next(struct tlv_reader *r, struct tlv *out);
/* Find the first element with `tag` at the top level of data.
 * 1: found; 0: absent; -1: malformed data before it was found. */
int tlv_find(const uint8_t *data, size_t len, uint32_t tag, struct tlv *out);
/* True if the tag is constructed (bit 6 of its first byte). */
int tlv_is_constructed(uint32_t tag);

/* Append one element with a definite length. -1 when out of memory. */
int tlv_put(struct buf *out, uint32_t tag, const uint8_t *value, size_t len);
/* Append just the header; the caller appends `len` bytes of value. */
int tlv_put_header(struct buf *out, uint32_t tag, size_t len);

#endif
