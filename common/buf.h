/* A growable byte buffer. Buffers that may hold secrets are wiped on free. */
#ifndef KYSO_BUF_H
#define KYSO_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

/* 0 on success, -1 when out of memory (the buffer is then unchanged). */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_byte(struct buf *b, uint8_t byte);
int buf_set(struct buf *b, const void *data, size_t len);
void buf_clear(struct buf *b);          /* len = 0, memory wiped, kept */
void buf_free(struct buf *b);           /* wiped and released */

#endif
