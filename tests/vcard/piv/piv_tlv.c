/* BER-TLV for the virtual PIV card (ISO 7816-4 annex D, X.690 8.1).
 *
 * The host is as untrusted as a card is to a driver: every element is
 * checked against what is left before it is returned. Tags up to three
 * bytes and definite lengths up to three length bytes are all PIV needs;
 * anything else is malformed. */
#include "piv_card.h"

int
piv_tlv_next(const uint8_t **p, size_t *left, struct piv_tlv *out)
{
	const uint8_t *q = *p;
	size_t n = *left;
	uint32_t tag;
	size_t len;
	int tag_bytes = 1;

	if (n == 0)
		return 0;
	tag = *q++;
	n--;
	/* X.690 8.1.2.4: low five bits all set means subsequent tag bytes,
	 * each with bit 8 set while more follow. */
	if ((tag & 0x1Fu) == 0x1Fu) {
		do {
			if (n == 0 || tag_bytes == 3)
				return -1;
			tag = (tag << 8) | *q;
			tag_bytes++;
			n--;
		} while (*q++ & 0x80u);
	}
	if (n == 0)
		return -1;
	len = *q++;
	n--;
	if (len & 0x80u) {
		size_t count = len & 0x7Fu;
		/* 0x80 is the indefinite form: not allowed here. */
		if (count == 0 || count > 3 || count > n)
			return -1;
		len = 0;
		while (count--) {
			len = (len << 8) | *q++;
			n--;
		}
	}
	if (len > n)
		return -1;
	out->tag = tag;
	out->value = q;
	out->len = len;
	*p = q + len;
	*left = n - len;
	return 1;
}

int
piv_tlv_single(const uint8_t *data, size_t len, uint32_t tag,
               struct piv_tlv *out)
{
	const uint8_t *p = data;
	size_t left = len;

	if (piv_tlv_next(&p, &left, out) != 1 || out->tag != tag || left != 0)
		return -1;
	return 1;
}

int
piv_tlv_put_header(struct buf *out, uint32_t tag, size_t len)
{
	uint8_t h[8];
	size_t n = 0;

	if (tag > 0xFFFFu)
		h[n++] = (uint8_t)(tag >> 16);
	if (tag > 0xFFu)
		h[n++] = (uint8_t)(tag >> 8);
	h[n++] = (uint8_t)tag;
	if (len < 0x80u) {
		h[n++] = (uint8_t)len;
	} else if (len <= 0xFFu) {
		h[n++] = 0x81;
		h[n++] = (uint8_t)len;
	} else if (len <= 0xFFFFu) {
		h[n++] = 0x82;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else if (len <= 0xFFFFFFu) {
		h[n++] = 0x83;
		h[n++] = (uint8_t)(len >> 16);
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		return -1;
	}
	return buf_append(out, h, n);
}

int
piv_tlv_put(struct buf *out, uint32_t tag, const uint8_t *value, size_t len)
{
	if (piv_tlv_put_header(out, tag, len) != 0)
		return -1;
	return buf_append(out, value, len);
}
