/* kyso-vcard --chaos: a hostile card. Sits between the card type and vpcd
 * and corrupts a seeded share of the responses: truncated data, bumped TLV
 * lengths, bogus and oversized TLVs, wrong status words (61xx, 6Cxx, 63Cx,
 * 9000 without data), endless 61xx, the answer to another command, and
 * once, a card that goes silent. The same seed, rate and command sequence
 * give the same faults. */
#ifndef KYSO_VCARD_CHAOS_H
#define KYSO_VCARD_CHAOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define CHAOS_RATE_DEFAULT 10u
#define CHAOS_STALL_MS_DEFAULT 5000u

struct chaos_options {
	unsigned long seed;
	unsigned rate;			/* percent of responses touched */
	unsigned stall_ms;		/* how long the card goes silent, once */
	const char *log_path;		/* NULL: one line per fault on stderr */
	unsigned kinds;			/* fault kinds allowed (bits); 0: all */
};

struct chaos;

/* Parse --chaos-kinds: comma-separated fault names (see chaos.c). -1 with
 * a message on stderr for an unknown name. */
int chaos_parse_kinds(const char *list, unsigned *kinds);
/* The fault names, blank-separated, for usage(). */
const char *chaos_kind_names(void);

/* NULL with a message on stderr when the log cannot be opened. */
struct chaos *chaos_create(const struct chaos_options *opt);
/* Prints the summary (faults by kind) on stderr. */
void chaos_destroy(struct chaos *c);

/* Before the card sees the command APDU `cmd`: true when chaos answers it
 * itself (the response APDU is then in `out`). */
bool chaos_intercept(struct chaos *c, const uint8_t *cmd, size_t len,
                     struct buf *out);

/* After the card answered `cmd` with the response APDU `out` (data + SW1
 * SW2): maybe corrupt it. *stall_ms > 0 asks the caller to stay silent that
 * long before sending the answer. */
void chaos_corrupt(struct chaos *c, const uint8_t *cmd, size_t len,
                   struct buf *out, unsigned *stall_ms);

#endif
