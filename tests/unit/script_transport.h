/* A scripted, in-memory card transport for unit tests.
 *
 * A script is the list of command APDUs a test expects, in order, each with
 * the response the "card" gives (data and SW1 SW2) or a transport error. A
 * command that differs from the next expected one, or one past the end of
 * the script, fails the running cmocka test with both APDUs in hex.
 *
 *     struct script s;
 *     struct card card = { 0 };
 *     script_init(&s);
 *     script_expect(&s, "00A4040005 A000000308", "9000");
 *     script_attach(&s, &card);
 *     ... code under test ...
 *     script_assert_done(&s);
 *     script_free(&s);
 *
 * Hex strings may contain blanks. */
#ifndef KYSO_TEST_SCRIPT_TRANSPORT_H
#define KYSO_TEST_SCRIPT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"
#include "drivers/card/card.h"

struct script_step {
	struct buf cmd;		/* the command expected */
	struct buf rsp;		/* the response given */
	CK_RV rv;		/* not CKR_OK: the transport fails instead */
};

struct script {
	struct script_step *steps;
	size_t count;
	size_t cap;
	size_t next;		/* index of the next expected command */

	/* begin(): the result it gives, and whether it reports the card as
	 * reset by someone else (once, then the flag clears). */
	CK_RV begin_rv;
	bool reset_on_begin;
	unsigned begins;
	unsigned ends;
	unsigned closes;
};

extern const struct transport_ops script_transport_ops;

void script_init(struct script *s);
void script_free(struct script *s);

/* Expect `cmd_hex`, answer `rsp_hex` (data then SW1 SW2). */
void script_expect(struct script *s, const char *cmd_hex, const char *rsp_hex);
void script_expect_bytes(struct script *s, const uint8_t *cmd, size_t cmd_len,
                         const uint8_t *rsp, size_t rsp_len);
/* Expect `cmd_hex` and fail the transmit with `rv` (CKR_DEVICE_REMOVED...). */
void script_expect_error(struct script *s, const char *cmd_hex, CK_RV rv);

/* Make `card` use the script as its transport. */
void script_attach(struct script *s, struct card *card);
/* Fail the test if some expected commands were never sent. */
void script_assert_done(const struct script *s);

/* Helpers for tests: hex (blanks allowed) to bytes, appended to `out`;
 * fails the test on a malformed string. */
void script_hex(struct buf *out, const char *hex);

#endif
