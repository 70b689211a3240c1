/* A fake PC/SC layer for the whole-module harness: everything
 * drivers/card/pcsc.h declares, with one reader whose card answers from the
 * fuzz input (fuzz_card.h). Linked instead of drivers/card/pcsc.c. */
#ifndef KYSO_FAKE_PCSC_H
#define KYSO_FAKE_PCSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_card.h"

#define FAKE_PCSC_READER "kyso fuzz reader 00 00"

struct fake_pcsc_card {
	struct fuzz_card *fc;	/* NULL: the reader is empty */
	uint8_t atr[CARD_ATR_MAX];
	size_t atr_len;
	bool extended;
	bool t0;
	/* The n-th transaction (1-based) finds the card reset by someone
	 * else; 0: never. */
	unsigned reset_at;
};

/* The card in the reader for the next C_Initialize .. C_Finalize. */
void fake_pcsc_insert(const struct fake_pcsc_card *card);
/* After C_Finalize: every connection was closed, every transaction ended. */
bool fake_pcsc_balanced(void);

#endif
