/* kyso-vcard: virtual cards behind vsmartcard's vpcd reader driver.
 *
 * main.c speaks the vpcd protocol and ISO 7816-4 transport behaviour that
 * every card shares (command chaining, 61xx with GET RESPONSE on short
 * APDUs, the APDU counter); each card type implements `struct vcard_type`
 * and sees whole, de-chained commands. */
#ifndef KYSO_VCARD_H
#define KYSO_VCARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct vcard_cmd {
	uint8_t cla, ins, p1, p2;	/* cla with the chaining bit cleared */
	const uint8_t *data;
	size_t lc;
	size_t le;			/* 0 when absent; 256 or 65536 for 00/0000 */
	bool le_present;
	bool extended;			/* sent in extended-length form */
};

struct vcard_options {
	const char *state_file;		/* NULL: nothing kept across runs */
	const char *provision;		/* e.g. "demo"; NULL: none */
};

struct vcard_type {
	const char *name;
	/* Returns the card, or NULL with a message on stderr. */
	void *(*create)(const struct vcard_options *opt);
	void (*destroy)(void *card);
	/* The ATR; returns its length (at most 33). */
	size_t (*atr)(void *card, uint8_t *out);
	/* Power on or reset: forget volatile state (selection, PIN status). */
	void (*reset)(void *card);
	/* One whole command. Set *sw, and the response data in `rsp` (which
	 * main.c hands out in 61xx pieces when it does not fit Le). */
	void (*process)(void *card, const struct vcard_cmd *cmd, struct buf *rsp,
	                uint16_t *sw);
	/* Whether the card accepts extended-length APDUs. */
	bool extended;
	/* Whether response data goes out with any status word, not only
	 * 9000/62xx/63xx: a secure-messaging card wraps its errors too
	 * (ePass2003: 99 02 SW 8E 08 MAC with SW 6A82). */
	bool errors_carry_data;
	/* Whether a short command's Le is ignored and the whole answer
	 * comes back in one go, even past 256 bytes (T=1 carries it): the
	 * ePass2003 sizes its secure-messaging envelope itself, and OpenSC
	 * sends the plain Le outside it and has no GET RESPONSE for it. */
	bool short_le_ignored;
};

/* Write a card's --state file atomically (state_file.c). 0, or -1. */
int vcard_state_write(const char *path, const struct buf *text);

extern const struct vcard_type vcard_unknown;
extern const struct vcard_type vcard_piv;
extern const struct vcard_type vcard_epass2003;

#endif
