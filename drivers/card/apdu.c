/* Command APDUs over a card transport (ISO/IEC 7816-4:2013 section 5).
 *
 * apdu_transmit() hides the transport rules a driver should not care about:
 *  - data over 255 bytes goes as one extended APDU when the card takes them
 *    (5.1), otherwise as a chain of short APDUs (5.1.1.1: CLA bit 0x10 on
 *    every piece but the last);
 *  - 61xx ("xx more bytes", 5.1.3) is followed by GET RESPONSE until the card
 *    says something else, within APDU_RESPONSE_MAX bytes and
 *    APDU_GET_RESPONSE_MAX exchanges, so a card that never stops cannot hang
 *    the host application;
 *  - 6Cxx ("wrong Le, xx is right") sends the command again once with Le=xx.
 * GET RESPONSE goes as 00 C0 00 00 xx: on the basic channel, without secure
 * messaging, which is all kyso's drivers use.
 *
 * Responses may carry key material (a decrypted secret), so every buffer that
 * held one is wiped before it is released. */
#include "drivers/card/apdu.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"

/* The largest response one transport exchange can carry: 65536 data bytes
 * (extended Le = 0000) and SW1 SW2. */
#define APDU_RAW_RESPONSE_MAX (65536u + 2u)
#define APDU_SHORT_LC_MAX 255u
#define APDU_SHORT_LE_MAX 256u
#define APDU_EXT_LC_MAX 65535u
#define APDU_EXT_LE_MAX 65536u
#define APDU_CLA_CHAIN 0x10u
#define APDU_INS_GET_RESPONSE 0xC0u
/* GET RESPONSEs for one command: 64 KiB in pieces of 128 bytes or more. */
#define APDU_GET_RESPONSE_MAX (APDU_RESPONSE_MAX / 128u)

#define SW1(sw) ((uint8_t)((sw) >> 8))
#define SW2(sw) ((uint8_t)(sw))

/* One exchange's working state: the encoded command and the raw response. */
struct apdu_io {
	struct card *card;
	bool secret;
	struct buf cmd;
	uint8_t *rsp;		/* APDU_RAW_RESPONSE_MAX bytes */
	size_t rsp_used;	/* high-water mark, to wipe */
	apdu_more_fn more;	/* NULL: always fetch the rest */
	void *more_arg;
};

/* Encode an Le of 1..256 (short) or 1..65536 (extended); "any" is the
 * maximum, which both forms write as zeros (ISO 7816-4 5.1). */
static void
apdu_put_le(uint8_t *le_bytes, size_t *n, size_t le, bool extended)
{
	size_t v = le == APDU_LE_ANY ? 0 : le;

	if (extended) {
		v = v == APDU_EXT_LE_MAX ? 0 : v;
		le_bytes[(*n)++] = (uint8_t)(v >> 8);
		le_bytes[(*n)++] = (uint8_t)v;
	} else {
		le_bytes[(*n)++] = (uint8_t)(v == APDU_SHORT_LE_MAX ? 0 : v);
	}
}

int
apdu_encode(const struct apdu *a, bool extended, struct buf *out)
{
	size_t lc_max = extended ? APDU_EXT_LC_MAX : APDU_SHORT_LC_MAX;
	size_t le_max = extended ? APDU_EXT_LE_MAX : APDU_SHORT_LE_MAX;
	uint8_t hdr[7], trailer[3];
	size_t hn = 0, tn = 0;
	int rc = -1;

	buf_clear(out);
	if (a->lc > lc_max || (a->lc > 0 && a->data == NULL))
		goto out;
	if (a->le != APDU_LE_ANY && a->le > le_max)
		goto out;

	hdr[hn++] = a->cla;
	hdr[hn++] = a->ins;
	hdr[hn++] = a->p1;
	hdr[hn++] = a->p2;
	/* Extended cases 2E/3E/4E start their length fields with one 00 byte;
	 * case 4E's Le then has no leading 00 (ISO 7816-4 5.1, table 1). */
	if (extended && (a->lc > 0 || a->le != 0))
		hdr[hn++] = 0x00;
	if (a->lc > 0) {
		if (extended)
			hdr[hn++] = (uint8_t)(a->lc >> 8);
		hdr[hn++] = (uint8_t)a->lc;
	}
	if (a->le != 0)
		apdu_put_le(trailer, &tn, a->le, extended);

	if (buf_reserve(out, hn + a->lc + tn) != 0 ||
	    buf_append(out, hdr, hn) != 0 ||
	    buf_append(out, a->data, a->lc) != 0 ||
	    buf_append(out, trailer, tn) != 0) {
		buf_clear(out);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* One command, one response: encode, log, count, transmit. On CKR_OK the
 * response is io->rsp[0..*rsp_len) with *rsp_len >= 2. */
static CK_RV
apdu_exchange(struct apdu_io *io, const struct apdu *a, bool extended,
              size_t *rsp_len)
{
	struct card *card = io->card;
	size_t len = APDU_RAW_RESPONSE_MAX;
	CK_RV rv;

	struct apdu t0_case3;
	if (card->t0 && !extended && a->lc > 0 && a->le != 0) {
		/* Case 4 over T=0 goes as case 3; the data comes by 61xx. */
		t0_case3 = *a;
		t0_case3.le = 0;
		a = &t0_case3;
	}
	if (apdu_encode(a, extended, &io->cmd) != 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (kyso_log_level > 0)
		log_hex("APDU >", io->cmd.data, io->cmd.len, io->secret);
	card->apdu_count++;
	rv = card->ops->transmit(card->transport, io->cmd.data, io->cmd.len,
	                         io->rsp, &len);
	buf_clear(&io->cmd);
	if (rv != CKR_OK)
		goto out;
	/* A transport that claims more than the room it was given, or a
	 * response without a status word, is broken. */
	if (len > APDU_RAW_RESPONSE_MAX) {
		io->rsp_used = APDU_RAW_RESPONSE_MAX;
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (len > io->rsp_used)
		io->rsp_used = len;
	if (kyso_log_level > 0) {
		/* log_hex's mask keeps a command's header in view; a response
		 * has none, so a secret one shows only its status word. */
		if (io->secret && len > 2)
			log_debug("APDU < (%zu bytes masked) %02X %02X", len - 2,
			          io->rsp[len - 2], io->rsp[len - 1]);
		else
			log_hex("APDU <", io->rsp, len, io->secret);
	}
	if (len < 2) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	*rsp_len = len;
out:
	return rv;
}

/* Exchange `a`; on 6Cxx send it once more with Le = xx (ISO 7816-4 5.1.3,
 * table 6). A second 6Cxx is left for the caller to see. */
static CK_RV
apdu_exchange_le_fixed(struct apdu_io *io, const struct apdu *a, bool extended,
                       size_t *rsp_len, uint16_t *sw)
{
	CK_RV rv;
	size_t len;

	rv = apdu_exchange(io, a, extended, &len);
	if (rv != CKR_OK)
		goto out;
	*sw = (uint16_t)((io->rsp[len - 2] << 8) | io->rsp[len - 1]);
	if (SW1(*sw) == 0x6C) {
		struct apdu again = *a;
		again.le = SW2(*sw) == 0 ? APDU_SHORT_LE_MAX : SW2(*sw);
		rv = apdu_exchange(io, &again, extended, &len);
		if (rv != CKR_OK)
			goto out;
		*sw = (uint16_t)((io->rsp[len - 2] << 8) | io->rsp[len - 1]);
	}
	*rsp_len = len;
out:
	return rv;
}

/* Add the data of the response in io->rsp to `acc`, within the limit. */
static CK_RV
apdu_collect(struct apdu_io *io, size_t rsp_len, struct buf *acc)
{
	size_t n = rsp_len - 2;
	CK_RV rv = CKR_OK;

	if (n > APDU_RESPONSE_MAX - acc->len)
		rv = CKR_DEVICE_ERROR;
	else if (buf_append(acc, io->rsp, n) != 0)
		rv = CKR_HOST_MEMORY;
	return rv;
}

/* Send the last (or only) piece and follow 61xx with GET RESPONSE. */
static CK_RV
apdu_last_piece(struct apdu_io *io, const struct apdu *a, bool extended,
                struct buf *acc, uint16_t *sw)
{
	struct apdu get = { .cla = 0x00, .ins = APDU_INS_GET_RESPONSE };
	unsigned rounds = 0;
	size_t len;
	CK_RV rv;

	rv = apdu_exchange_le_fixed(io, a, extended, &len, sw);
	if (rv != CKR_OK)
		goto out;
	rv = apdu_collect(io, len, acc);
	while (rv == CKR_OK && SW1(*sw) == 0x61) {
		if (io->more != NULL && !io->more(acc, io->more_arg))
			goto out;
		if (++rounds > APDU_GET_RESPONSE_MAX) {
			rv = CKR_DEVICE_ERROR;
			goto out;
		}
		/* 61 00: 256 or more bytes are waiting (5.1.3). */
		get.le = SW2(*sw) == 0 ? APDU_SHORT_LE_MAX : SW2(*sw);
		rv = apdu_exchange_le_fixed(io, &get, false, &len, sw);
		if (rv != CKR_OK)
			goto out;
		rv = apdu_collect(io, len, acc);
	}
out:
	return rv;
}

/* Send `a` as a chain of short APDUs of at most 255 data bytes
 * (ISO 7816-4 5.1.1.1). An intermediate piece answered with anything but
 * 9000 ends the chain; that status word is the result. */
static CK_RV
apdu_chain(struct apdu_io *io, const struct apdu *a, struct buf *acc,
           uint16_t *sw)
{
	struct apdu piece = *a;
	size_t off = 0, len;
	CK_RV rv = CKR_OK;

	while (a->lc - off > APDU_SHORT_LC_MAX) {
		piece.cla = a->cla | APDU_CLA_CHAIN;
		piece.data = a->data + off;
		piece.lc = APDU_SHORT_LC_MAX;
		piece.le = 0;
		rv = apdu_exchange(io, &piece, false, &len);
		if (rv != CKR_OK)
			goto out;
		*sw = (uint16_t)((io->rsp[len - 2] << 8) | io->rsp[len - 1]);
		if (*sw != SW_OK)
			goto out;
		off += APDU_SHORT_LC_MAX;
	}
	/* Only the last piece carries Le; in the short form an Le above 256
	 * asks for "all", and the rest comes by 61xx. */
	piece.cla = a->cla;
	piece.data = a->data + off;
	piece.lc = a->lc - off;
	piece.le = a->le != APDU_LE_ANY && a->le > APDU_SHORT_LE_MAX ?
	           APDU_LE_ANY : a->le;
	rv = apdu_last_piece(io, &piece, false, acc, sw);
out:
	return rv;
}

CK_RV
apdu_transmit(struct card *card, const struct apdu *a, struct buf *rsp,
              uint16_t *sw)
{
	return apdu_transmit_until(card, a, rsp, sw, NULL, NULL);
}

CK_RV
apdu_transmit_until(struct card *card, const struct apdu *a, struct buf *rsp,
                    uint16_t *sw, apdu_more_fn more, void *more_arg)
{
	struct apdu_io io = {
		.card = card, .cmd = BUF_INIT, .more = more, .more_arg = more_arg,
	};
	struct buf scratch = BUF_INIT;
	struct buf *acc = rsp != NULL ? rsp : &scratch;
	bool le_long, extended;
	uint16_t status = 0;
	CK_RV rv;

	if (rsp != NULL)
		buf_clear(rsp);
	if (card == NULL || a == NULL || sw == NULL ||
	    (a->lc > 0 && a->data == NULL) ||
	    (a->le != APDU_LE_ANY && a->le > APDU_EXT_LE_MAX)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (card->ops == NULL || card->ops->transmit == NULL) {
		rv = CKR_DEVICE_REMOVED;	/* closed by card_close() */
		goto out;
	}
	io.secret = a->secret;
	io.rsp = malloc(APDU_RAW_RESPONSE_MAX);
	if (io.rsp == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}

	/* Le = "any" fits a short APDU (the rest follows by 61xx), so only a
	 * specific Le above 256 or more than 255 data bytes need the extended
	 * form; past 65535 data bytes only chaining is left. */
	le_long = a->le != APDU_LE_ANY && a->le > APDU_SHORT_LE_MAX;
	extended = card->extended && a->lc <= APDU_EXT_LC_MAX &&
	           (a->lc > APDU_SHORT_LC_MAX || le_long);
	if (extended || a->lc <= APDU_SHORT_LC_MAX) {
		struct apdu one = *a;
		if (!extended && le_long)
			one.le = APDU_LE_ANY;
		rv = apdu_last_piece(&io, &one, extended, acc, &status);
	} else {
		rv = apdu_chain(&io, a, acc, &status);
	}
	if (rv == CKR_OK)
		*sw = status;
out:
	if (rv != CKR_OK && rsp != NULL)
		buf_clear(rsp);
	if (io.rsp != NULL) {
		OPENSSL_cleanse(io.rsp, io.rsp_used);
		free(io.rsp);
	}
	buf_free(&io.cmd);
	buf_free(&scratch);
	return rv;
}

/* A generic reading of ISO 7816-4:2013 5.1.3 (tables 5 and 6) for drivers
 * with nothing more specific to say:
 *   9000            CKR_OK
 *   63Cx, x > 0     CKR_PIN_INCORRECT (x tries left); 6300 likewise
 *   63C0            CKR_PIN_LOCKED (that was the last try)
 *   6982            CKR_USER_NOT_LOGGED_IN (security status not satisfied)
 *   6983            CKR_PIN_LOCKED (authentication method blocked)
 *   6985            CKR_FUNCTION_REJECTED (conditions of use not satisfied)
 *   6700, 6A80      CKR_DEVICE_ERROR (wrong length, bad data field: the
 *                   driver checked the caller's data before sending, so a
 *                   card that still refuses it is not the caller's fault)
 *   6A82, 6A88      CKR_FUNCTION_FAILED (file or data not found: not the
 *                   caller's data being wrong, so not CKR_DATA_INVALID)
 *   6A84            CKR_DEVICE_MEMORY (not enough memory)
 *   6A81, 6D00, 6E00 CKR_FUNCTION_NOT_SUPPORTED
 *   anything else   CKR_DEVICE_ERROR */
CK_RV
apdu_sw_to_rv(uint16_t sw)
{
	CK_RV rv;

	if (sw == SW_OK) {
		rv = CKR_OK;
	} else if ((sw & 0xFFF0u) == 0x63C0u) {
		rv = (sw & 0x000Fu) == 0 ? CKR_PIN_LOCKED : CKR_PIN_INCORRECT;
	} else {
		switch (sw) {
		case 0x6300:
			rv = CKR_PIN_INCORRECT;
			break;
		case 0x6982:
			rv = CKR_USER_NOT_LOGGED_IN;
			break;
		case 0x6983:
			rv = CKR_PIN_LOCKED;
			break;
		case 0x6985:
			rv = CKR_FUNCTION_REJECTED;
			break;
		case 0x6A82:
		case 0x6A88:
			rv = CKR_FUNCTION_FAILED;
			break;
		case 0x6A84:
			rv = CKR_DEVICE_MEMORY;
			break;
		case 0x6A81:
		case 0x6D00:
		case 0x6E00:
			rv = CKR_FUNCTION_NOT_SUPPORTED;
			break;
		default:
			rv = CKR_DEVICE_ERROR;
			break;
		}
	}
	return rv;
}
