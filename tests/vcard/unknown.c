/* Card type "unknown": a card no driver knows, to measure what recognising
 * it costs. It has no application to select (6A82) and knows no other
 * instruction (6D00), like an empty Java Card. */
#include "tests/vcard/vcard.h"

#include <string.h>

/* T=1 only (TD1 = 01), eight historical bytes "kyso-unk" in a proprietary
 * category, and TCK (ISO 7816-3 8.2.5). Checked against OpenSC 0.23's ATR
 * tables: no entry has this length and these bytes. The common contactless
 * ATR 3B 80 80 01 01 would not do: OpenSC's PIV and SC-HSM drivers claim it. */
static const uint8_t unknown_atr[] = {
	0x3B, 0x88, 0x01,
	0x6B, 0x79, 0x73, 0x6F, 0x2D, 0x75, 0x6E, 0x6B,
	0xDA,			/* TCK: XOR of T0..TCK is zero */
};

/* Nothing to remember; a non-NULL handle is all main.c needs. */
static int unknown_card;

static void *
unknown_create(const struct vcard_options *opt)
{
	(void)opt;
	return &unknown_card;
}

static void
unknown_destroy(void *card)
{
	(void)card;
}

static size_t
unknown_atr_get(void *card, uint8_t *out)
{
	(void)card;
	memcpy(out, unknown_atr, sizeof unknown_atr);
	return sizeof unknown_atr;
}

static void
unknown_reset(void *card)
{
	(void)card;
}

static void
unknown_process(void *card, const struct vcard_cmd *cmd, struct buf *rsp,
                uint16_t *sw)
{
	(void)card;
	(void)rsp;
	/* ISO 7816-4 5.6: 6A82 file or application not found, 6D00
	 * instruction code not supported. */
	*sw = cmd->ins == 0xA4 ? 0x6A82 : 0x6D00;
}

const struct vcard_type vcard_unknown = {
	.name = "unknown",
	.create = unknown_create,
	.destroy = unknown_destroy,
	.atr = unknown_atr_get,
	.reset = unknown_reset,
	.process = unknown_process,
	.extended = false,
};
