/* Fuzz the APDU layer's response handling: the input is a sequence of
 * commands to send and of card responses to answer them with, so the
 * fuzzer plays a hostile card against chaining, 61xx, 6Cxx and the limits.
 *
 * Input layout, read front to back:
 *   command:  2 bytes. Byte 0: bits 0-2 the data length class, bits 3-5
 *             the Le class, bit 6 the card takes extended APDUs, bit 7 the
 *             caller wants no response data. Byte 1: CLA.
 *   response: 1 length byte L, then
 *             L < FE: L bytes of response;
 *             L = FE: 2 bytes n, then n filler bytes and 2 bytes of SW
 *                     (cheap large responses);
 *             L = FF: 2 bytes n, then n + 3 bytes of response (up to
 *                     65538), cut short where the input ends.
 * Each command is followed by as many responses as the layer asks for;
 * when the input runs out the transport reports the card removed. */
#include <string.h>

#include "drivers/card/apdu.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_COMMANDS_MAX 8
/* Exchanges one apdu_transmit may cost: the chain (65536 bytes in 255-byte
 * pieces) plus a bounded run of GET RESPONSEs, each possibly re-sent once
 * after 6Cxx. Generous: the point is "bounded", not the exact figure. */
#define FUZZ_EXCHANGES_MAX (258u + 2u * (APDU_RESPONSE_MAX / 64u) + 4u)

static const size_t fuzz_lc[8] = { 0, 1, 255, 256, 510, 600, 4000, 65536 };
static const size_t fuzz_le[8] = { 0, 1, 255, 256, 257, 1000, 65536, APDU_LE_ANY };

static uint8_t fuzz_cmd_data[65536];

struct fuzz_card {
	const uint8_t *in;
	size_t left;
	bool extended;
	unsigned long calls;
};

static bool
fuzz_take(struct fuzz_card *fc, size_t n, const uint8_t **p)
{
	bool ok = fc->left >= n;

	if (ok) {
		*p = fc->in;
		fc->in += n;
		fc->left -= n;
	}
	return ok;
}

/* The command must be one well-formed APDU (ISO 7816-4 5.1, table 1), in
 * the extended form only on a card that takes it. */
static void
fuzz_check_command(const struct fuzz_card *fc, const uint8_t *cmd, size_t len)
{
	bool ok;

	FUZZ_CHECK(len >= 4);
	if (len == 4 || len == 5) {
		ok = true;				/* case 1, 2S */
	} else if (cmd[4] != 0) {
		ok = len == 5u + cmd[4] || len == 6u + cmd[4];	/* 3S, 4S */
	} else {
		size_t lc = (size_t)cmd[5] << 8 | cmd[6];
		FUZZ_CHECK(fc->extended);
		ok = len == 7 ||			/* 2E */
		     (lc > 0 && (len == 7 + lc || len == 9 + lc));
	}
	FUZZ_CHECK(ok);
}

static CK_RV
fuzz_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
              size_t *rsp_len)
{
	struct fuzz_card *fc = ctx;
	const uint8_t *p;
	size_t n;
	CK_RV rv = CKR_DEVICE_REMOVED;

	fc->calls++;
	fuzz_check_command(fc, cmd, cmd_len);
	FUZZ_CHECK(*rsp_len >= 65538);
	if (!fuzz_take(fc, 1, &p))
		goto out;
	n = p[0];
	if (n == 0xFE) {
		if (!fuzz_take(fc, 2, &p))
			goto out;
		n = (size_t)p[0] << 8 | p[1];
		memset(rsp, 0x5A, n);
		if (!fuzz_take(fc, 2, &p))
			goto out;
		rsp[n] = p[0];
		rsp[n + 1] = p[1];
		n += 2;
	} else {
		if (n == 0xFF) {
			if (!fuzz_take(fc, 2, &p))
				goto out;
			n = ((size_t)p[0] << 8 | p[1]) + 3;
		}
		if (n > fc->left)
			n = fc->left;
		if (n > 0 && fuzz_take(fc, n, &p))
			memcpy(rsp, p, n);
	}
	*rsp_len = n;
	rv = CKR_OK;
out:
	return rv;
}

static const struct transport_ops fuzz_ops = {
	.transmit = fuzz_transmit,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_card fc = { .in = data, .left = size };
	struct card card;
	struct buf rsp = BUF_INIT;

	if (fuzz_cmd_data[1] == 0)
		for (size_t i = 0; i < sizeof(fuzz_cmd_data); i++)
			fuzz_cmd_data[i] = (uint8_t)(i * 13 + 1);
	memset(&card, 0, sizeof(card));
	card.ops = &fuzz_ops;
	card.transport = &fc;

	for (int i = 0; i < FUZZ_COMMANDS_MAX; i++) {
		const uint8_t *sel;
		struct apdu a = { .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF };
		unsigned long calls_before = fc.calls;
		uint16_t sw = 0xFFFF;
		bool want;
		CK_RV rv;

		if (!fuzz_take(&fc, 2, &sel))
			break;
		a.lc = fuzz_lc[sel[0] & 7];
		a.le = fuzz_le[(sel[0] >> 3) & 7];
		a.data = a.lc > 0 ? fuzz_cmd_data : NULL;
		a.cla = sel[1];
		fc.extended = card.extended = (sel[0] & 0x40) != 0;
		want = (sel[0] & 0x80) == 0;

		rv = apdu_transmit(&card, &a, want ? &rsp : NULL, &sw);
		FUZZ_CHECK(card.apdu_count == fc.calls);
		FUZZ_CHECK(fc.calls - calls_before <= FUZZ_EXCHANGES_MAX);
		FUZZ_CHECK(fc.calls > calls_before);
		FUZZ_CHECK(rsp.len <= APDU_RESPONSE_MAX);
		if (rv == CKR_OK) {
			(void)apdu_sw_to_rv(sw);
		} else {
			FUZZ_CHECK(rv == CKR_DEVICE_ERROR ||
			           rv == CKR_DEVICE_REMOVED ||
			           rv == CKR_HOST_MEMORY);
			/* No partial data on failure. */
			FUZZ_CHECK(!want || rsp.len == 0);
			if (rv == CKR_DEVICE_REMOVED)
				break;
		}
	}
	buf_free(&rsp);
	return 0;
}
