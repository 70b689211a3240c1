/* A card in a reader, as the drivers see it: a transport that carries APDUs,
 * the ATR, and the driver bound to it. The PC/SC transport lives in pcsc.c;
 * tests plug in a scripted transport (tests/unit/script_transport.c). */
#ifndef KYSO_CARD_H
#define KYSO_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#define CARD_ATR_MAX 33

struct driver;

struct transport_ops {
	/* Send one command APDU (already encoded) and receive the response
	 * with SW1 SW2 at its end. *rsp_len is the room on entry.
	 * CKR_DEVICE_REMOVED when the card is gone, CKR_DEVICE_ERROR on
	 * other failures. */
	CK_RV (*transmit)(void *ctx, const uint8_t *cmd, size_t cmd_len,
	                  uint8_t *rsp, size_t *rsp_len);
	/* Take exclusive use of the card for a multi-APDU operation. Sets
	 * *was_reset when the card had been reset by someone else and the
	 * transport reconnected (volatile card state, selection and PIN
	 * status, is lost). May be NULL. */
	CK_RV (*begin)(void *ctx, bool *was_reset);
	void (*end)(void *ctx);
	void (*close)(void *ctx);
};

struct card {
	const struct transport_ops *ops;
	void *transport;

	uint8_t atr[CARD_ATR_MAX];
	size_t atr_len;
	/* The reader and card take extended-length APDUs (ISO 7816-4 5.1). */
	bool extended;
	/* The card speaks T=0: a command with data carries no Le (the card
	 * answers 61xx), ISO/IEC 7816-3 12.2.4. */
	bool t0;

	const struct driver *driver;
	void *driver_data;

	/* Bumped each time the card was found reset; drivers compare it with
	 * the value they saw at their last SELECT. */
	unsigned reset_count;
	/* APDUs sent, GET RESPONSE included: for tests and benchmarks. */
	unsigned long apdu_count;
	/* Nesting depth of card_begin(). */
	int txn_depth;
};

/* Bracket a multi-APDU operation (a PC/SC transaction). Nesting is allowed;
 * only the outermost pair reaches the transport. When the card was reset, the
 * bound driver's reselect hook runs before card_begin() returns. */
CK_RV card_begin(struct card *card);
void card_end(struct card *card);
/* Release the transport (does not unbind the driver). */
void card_close(struct card *card);

#endif
