/* Command APDUs (ISO/IEC 7816-4 section 5): encoding, short or extended
 * length, command chaining, GET RESPONSE on 61xx and re-sending on 6Cxx. */
#ifndef KYSO_APDU_H
#define KYSO_APDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"
#include "drivers/card/card.h"

/* Largest response kyso accepts for one command, all GET RESPONSEs added up. */
#define APDU_RESPONSE_MAX (64u * 1024u)

struct apdu {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t lc;
	/* Expected response length: 0 for none, APDU_LE_ANY for "all there is"
	 * (Le = 00, or 0000 in extended form). */
	size_t le;
	/* The data field carries a PIN or key: the debug log masks it. */
	bool secret;
};

#define APDU_LE_ANY ((size_t)-1)

#define SW_OK 0x9000u

/* Send `a` and collect the whole response. Data larger than a short APDU
 * goes as an extended APDU when card->extended, otherwise chained (CLA bit
 * 0x10, ISO 7816-4 5.1.1.1). 61xx is followed by GET RESPONSE until the card
 * is done (bounded by APDU_RESPONSE_MAX); 6Cxx is answered by sending the
 * command again once with the Le the card asked for.
 *
 * Returns a transport error (CKR_DEVICE_REMOVED, CKR_DEVICE_ERROR,
 * CKR_HOST_MEMORY), or CKR_OK with *sw the card's final status word. `rsp`
 * may be NULL when the data is not wanted; otherwise it is replaced. */
CK_RV apdu_transmit(struct card *card, const struct apdu *a, struct buf *rsp,
                    uint16_t *sw);

/* Asked with the response data so far whenever the card has more waiting
 * (61xx): true fetches the next piece with GET RESPONSE, false stops there
 * and leaves the rest unread (the card drops it at the next command,
 * ISO 7816-4 7.6.1). */
typedef bool (*apdu_more_fn)(const struct buf *so_far, void *arg);

/* apdu_transmit(), asking `more` before each GET RESPONSE. When it says
 * stop, the result is CKR_OK with *sw the card's 61xx. Lets a driver read
 * the first piece of a long object and decide whether it needs the rest
 * (drivers/cache.h). */
CK_RV apdu_transmit_until(struct card *card, const struct apdu *a, struct buf *rsp,
                          uint16_t *sw, apdu_more_fn more, void *more_arg);

/* Encode one APDU (no chaining) into `out`. -1 if it does not fit the form. */
int apdu_encode(const struct apdu *a, bool extended, struct buf *out);

/* A generic mapping of status words to PKCS#11 results, for drivers that
 * have nothing more specific to say. */
CK_RV apdu_sw_to_rv(uint16_t sw);

#endif
