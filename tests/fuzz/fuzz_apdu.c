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
 * when the input runs out the transport reports the card removed. The
 * card is fuzz_card.c's, which every harness that plays a card shares. */
#include <string.h>

#include "drivers/card/apdu.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_card.h"

#define FUZZ_COMMANDS_MAX 8
/* Exchanges one apdu_transmit may cost: the chain (65536 bytes in 255-byte
 * pieces) plus a bounded run of GET RESPONSEs, each possibly re-sent once
 * after 6Cxx. Generous: the point is "bounded", not the exact figure. */
#define FUZZ_EXCHANGES_MAX (258u + 2u * (APDU_RESPONSE_MAX / 64u) + 4u)

static const size_t fuzz_lc[8] = { 0, 1, 255, 256, 510, 600, 4000, 65536 };
static const size_t fuzz_le[8] = { 0, 1, 255, 256, 257, 1000, 65536, APDU_LE_ANY };

static uint8_t fuzz_cmd_data[65536];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_card fc;
	struct card card;
	struct buf rsp = BUF_INIT;

	if (fuzz_cmd_data[1] == 0)
		for (size_t i = 0; i < sizeof(fuzz_cmd_data); i++)
			fuzz_cmd_data[i] = (uint8_t)(i * 13 + 1);
	fuzz_card_init(&fc, data, size);
	memset(&card, 0, sizeof(card));
	fuzz_card_attach(&fc, &card);

	for (int i = 0; i < FUZZ_COMMANDS_MAX; i++) {
		const uint8_t *sel;
		struct apdu a = { .ins = 0xCB, .p1 = 0x3F, .p2 = 0xFF };
		unsigned long calls_before = fc.calls;
		uint16_t sw = 0xFFFF;
		bool want;
		CK_RV rv;

		if (!fuzz_card_take(&fc, 2, &sel))
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
	fuzz_card_finish(&fc);
	return 0;
}
