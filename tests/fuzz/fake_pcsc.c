/* The fake PC/SC layer (fake_pcsc.h): one reader, the card of
 * fake_pcsc_insert() in it until the input runs out, which the module sees
 * as the card pulled out: the failing call says CKR_DEVICE_REMOVED and the
 * reader shows no card from then on. Transactions and connections are
 * counted, so the harness can check the module ended and closed each. */
#include "tests/fuzz/fake_pcsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/card/pcsc.h"
#include "tests/fuzz/fuzz.h"

struct pcsc_ctx {
	bool cancelled;
};

static struct fake_pcsc_card fake;
static bool card_gone;
static unsigned begins;
static int txn_open;
static int connections;

void
fake_pcsc_insert(const struct fake_pcsc_card *card)
{
	fake = *card;
	card_gone = card->fc == NULL;
	begins = 0;
	txn_open = 0;
	connections = 0;
}

bool
fake_pcsc_balanced(void)
{
	return txn_open == 0 && connections == 0;
}

static CK_RV
fake_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
              size_t *rsp_len)
{
	CK_RV rv = CKR_DEVICE_REMOVED;

	/* The module sends nothing outside a transaction. */
	FUZZ_CHECK(txn_open > 0);
	if (card_gone)
		goto out;
	rv = fuzz_card_transmit(ctx, cmd, cmd_len, rsp, rsp_len);
	if (rv == CKR_DEVICE_REMOVED)
		card_gone = true;
out:
	return rv;
}

static CK_RV
fake_begin(void *ctx, bool *was_reset)
{
	CK_RV rv = CKR_DEVICE_REMOVED;

	(void)ctx;
	if (card_gone)
		goto out;
	begins++;
	txn_open++;
	FUZZ_CHECK(txn_open == 1);
	*was_reset = begins == fake.reset_at;
	rv = CKR_OK;
out:
	return rv;
}

static void
fake_end(void *ctx)
{
	(void)ctx;
	FUZZ_CHECK(txn_open == 1);
	txn_open--;
}

static void
fake_close(void *ctx)
{
	(void)ctx;
	FUZZ_CHECK(connections > 0);
	/* The module ends its transaction before it disconnects, except when
	 * the card was pulled out inside a nested one (a reload of the objects
	 * after a reset): then the token goes with the outer transaction still
	 * open, and disconnecting ends it, as SCardDisconnect does. */
	FUZZ_CHECK(txn_open == 0 || card_gone);
	txn_open = 0;
	connections--;
}

static const struct transport_ops fake_ops = {
	.transmit = fake_transmit,
	.begin = fake_begin,
	.end = fake_end,
	.close = fake_close,
};

CK_RV
pcsc_open(struct pcsc_ctx **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

void
pcsc_close(struct pcsc_ctx *ctx)
{
	free(ctx);
}

CK_RV
pcsc_list(struct pcsc_ctx *ctx, struct pcsc_reader **readers, size_t *count)
{
	struct pcsc_reader *r;

	FUZZ_CHECK(ctx != NULL);
	*readers = NULL;
	*count = 0;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return CKR_HOST_MEMORY;
	snprintf(r->name, sizeof(r->name), "%s", FAKE_PCSC_READER);
	r->card_present = !card_gone;
	if (r->card_present) {
		memcpy(r->atr, fake.atr, fake.atr_len);
		r->atr_len = fake.atr_len;
	}
	/* pcsc-lite's count of insertions and removals. */
	r->event_count = card_gone ? 2 : 1;
	r->pcsc_state = r->event_count << 16;
	*readers = r;
	*count = 1;
	return CKR_OK;
}

CK_RV
pcsc_wait(struct pcsc_ctx *ctx, const struct pcsc_reader *known, size_t count,
          long timeout_ms)
{
	(void)known;
	(void)count;
	/* Never blocks: nothing changes but what the input makes happen. */
	return ctx->cancelled || timeout_ms < 0 ? CKR_FUNCTION_CANCELED : CKR_NO_EVENT;
}

unsigned
pcsc_generation(struct pcsc_ctx *ctx)
{
	(void)ctx;
	return 1;
}

void
pcsc_cancel(struct pcsc_ctx *ctx)
{
	if (ctx != NULL)
		ctx->cancelled = true;
}

CK_RV
pcsc_connect(struct pcsc_ctx *ctx, const char *reader, struct card *card)
{
	CK_RV rv = CKR_DEVICE_REMOVED;

	FUZZ_CHECK(ctx != NULL && strcmp(reader, FAKE_PCSC_READER) == 0);
	if (card_gone)
		goto out;
	connections++;
	card->ops = &fake_ops;
	card->transport = fake.fc;
	memcpy(card->atr, fake.atr, fake.atr_len);
	card->atr_len = fake.atr_len;
	card->extended = fake.extended;
	fake.fc->extended = fake.extended;
	card->t0 = fake.t0;
	rv = CKR_OK;
out:
	return rv;
}
