/* PC/SC (pcsc-lite): readers, their card state, change notification, and
 * the transport that carries APDUs to a card in shared mode. */
#ifndef KYSO_PCSC_H
#define KYSO_PCSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "drivers/card/card.h"

#define PCSC_READER_NAME_MAX 128

struct pcsc_reader {
	char name[PCSC_READER_NAME_MAX];
	bool card_present;
	bool card_mute;
	uint8_t atr[CARD_ATR_MAX];
	size_t atr_len;
	/* pcsc-lite counts card insertions and removals per reader; a changed
	 * count with a card present is a different card (or the same one
	 * re-inserted), even if we never saw it absent. */
	unsigned event_count;
	/* The raw SCARD_STATE_* word last seen, handed back to pcsc_wait() so
	 * that it blocks until something changes from what we know. */
	unsigned long pcsc_state;
};

struct pcsc_ctx;

CK_RV pcsc_open(struct pcsc_ctx **out);
void pcsc_close(struct pcsc_ctx *ctx);

/* The readers and their card state, without blocking. With no pcscd, zero
 * readers and CKR_OK. After pcscd restarted, the context is re-established
 * here, so the host application never has to restart. `*readers` is
 * malloc'd; free() it. */
CK_RV pcsc_list(struct pcsc_ctx *ctx, struct pcsc_reader **readers, size_t *count);

/* Block until a card in one of `known` readers changes, or a reader is added
 * or removed, or timeout_ms passes (-1: no timeout). CKR_OK on a change,
 * CKR_NO_EVENT on timeout, CKR_FUNCTION_CANCELED after pcsc_cancel(). */
CK_RV pcsc_wait(struct pcsc_ctx *ctx, const struct pcsc_reader *known,
                size_t count, long timeout_ms);
/* Changes whenever the context had to be established again (pcscd
 * restarted): cards connected before that must be connected again. */
unsigned pcsc_generation(struct pcsc_ctx *ctx);

/* Wake a pcsc_wait() on this context, from any thread. */
void pcsc_cancel(struct pcsc_ctx *ctx);

/* Connect to the card in `reader` (shared mode, T=0 or T=1) and set up
 * card->ops, card->transport and the ATR. */
CK_RV pcsc_connect(struct pcsc_ctx *ctx, const char *reader, struct card *card);

#endif
