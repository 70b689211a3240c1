#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

int
buf_reserve(struct buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len)
		return -1;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	/* Not realloc: the old block may hold key material and must be wiped. */
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return -1;
	if (b->len)
		memcpy(p, b->data, b->len);
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (buf_reserve(b, len) != 0)
		return -1;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int
buf_append_byte(struct buf *b, uint8_t byte)
{
	return buf_append(b, &byte, 1);
}

int
buf_set(struct buf *b, const void *data, size_t len)
{
	buf_clear(b);
	return buf_append(b, data, len);
}

void
buf_clear(struct buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	b->len = 0;
}

void
buf_free(struct buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}
