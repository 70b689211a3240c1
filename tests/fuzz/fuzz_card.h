/* A card that answers from the fuzz input: the transport every harness that
 * plays a card uses (the drivers' harnesses, the whole-module harness, the
 * APDU layer's). The harness reads its own choices from the same input with
 * fuzz_card_take(); each command APDU gets the next response:
 *
 *   1 length byte L, then
 *     L < FE: L bytes of response (data and SW1 SW2);
 *     L = FE: 2 bytes n, then n filler bytes (5A) and 2 bytes of SW,
 *             written from 5 input bytes (cheap large responses);
 *     L = FF: 2 bytes n, then n + 3 bytes of response (up to 65538),
 *             cut short where the input ends.
 *
 * When the input runs out the card is gone: CKR_DEVICE_REMOVED from then on.
 * Every command is checked to be one well-formed APDU (ISO/IEC 7816-4 5.1),
 * in extended form only when the card says it takes it.
 *
 * Record mode, for making seeds from a real (virtual) card: with
 * KYSO_FUZZ_RECORD=PORT:FILE in the environment the harness listens on
 * 127.0.0.1:PORT for a vpcd-protocol card (kyso-vcard --port PORT), sends
 * it the commands, and writes to FILE the input that replays the session:
 * the bytes the harness took from its input, interleaved with the card's
 * answers in the format above. Run one input (the harness's own choices,
 * no answers) with --iterations 0; make-corpus.py does this. */
#ifndef KYSO_FUZZ_CARD_H
#define KYSO_FUZZ_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"
#include "drivers/card/card.h"

struct fuzz_card {
	const uint8_t *in;
	size_t left;
	/* The card takes extended-length APDUs: the command check allows
	 * them (set it together with card->extended). */
	bool extended;
	/* Commands sent to the card, GET RESPONSE included. */
	unsigned long calls;
	/* Record mode: the replayable input so far. */
	bool recording;
	struct buf record;
};

/* Start a new input. In record mode this also resets the live card. */
void fuzz_card_init(struct fuzz_card *fc, const uint8_t *data, size_t size);
/* The next n bytes of the input for the harness's own use; false (nothing
 * taken) when fewer are left. */
bool fuzz_card_take(struct fuzz_card *fc, size_t n, const uint8_t **p);
/* One byte, or `dflt` when the input is used up. */
uint8_t fuzz_card_byte(struct fuzz_card *fc, uint8_t dflt);
/* transport_ops.transmit with a struct fuzz_card as ctx. */
CK_RV fuzz_card_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len,
                         uint8_t *rsp, size_t *rsp_len);
/* Point card->ops and card->transport at fc (transmit only, no
 * transactions). */
void fuzz_card_attach(struct fuzz_card *fc, struct card *card);
/* End of the input: in record mode, write the recorded input. */
void fuzz_card_finish(struct fuzz_card *fc);


/* A replacement for OpenSSL's RAND_bytes() in harnesses that link
 * fuzz_rand.c: the same stream for every input (restarted here), so a
 * recorded answer to a challenge kyso made up (the management key's mutual
 * authentication) replays. */
void fuzz_rand_reset(void);

#endif
