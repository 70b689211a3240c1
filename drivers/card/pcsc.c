#include "drivers/card/pcsc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include "common/log.h"

#define PNP_READER "\\\\?PnP?\\Notification"
#define PCSC_MAX_READERS 32
/* How often a wait with no pcscd looks for one coming back. */
#define PCSC_NO_SERVICE_POLL_MS 250
/* After a failed transmit, how long to give pcscd to notice that the card
 * was pulled: it polls a reader without interrupts every 400 ms
 * (pcsc-lite's PCSCLITE_STATUS_POLL_RATE). */
#define PCSC_REMOVAL_GRACE_MS 1000
#define PCSC_REMOVAL_POLL_MS 50

struct pcsc_ctx {
	pthread_mutex_t lock;	/* guards `context` against pcsc_cancel() */
	pthread_mutex_t wait_lock;	/* one pcsc_wait() at a time */
	SCARDCONTEXT context;
	bool valid;
	atomic_bool cancelled;
	/* Bumped each time a context is established: card handles from an
	 * older context (before a pcscd restart) are dead. */
	unsigned generation;
};

struct pcsc_card {
	struct pcsc_ctx *ctx;
	/* Each card has a context of its own: pcsc-lite runs the calls on one
	 * context one at a time, so cards in several readers can only be
	 * probed (and used) in parallel from separate contexts. */
	SCARDCONTEXT context;
	SCARDHANDLE handle;
	DWORD protocol;
	/* The card was reset under a transmit; the next begin reports it. */
	bool reset_pending;
};

static bool
pcsc_service_gone(LONG rc)
{
	return rc == SCARD_E_NO_SERVICE || rc == SCARD_E_SERVICE_STOPPED ||
	       rc == SCARD_E_INVALID_HANDLE || rc == SCARD_F_COMM_ERROR;
}

static bool
pcsc_card_gone(LONG rc)
{
	return rc == SCARD_W_REMOVED_CARD || rc == SCARD_E_NO_SMARTCARD ||
	       rc == SCARD_E_READER_UNAVAILABLE || rc == SCARD_E_UNKNOWN_READER ||
	       pcsc_service_gone(rc);
}

static CK_RV
pcsc_rc_to_rv(LONG rc)
{
	if (rc == SCARD_S_SUCCESS)
		return CKR_OK;
	if (rc == SCARD_E_NO_MEMORY)
		return CKR_HOST_MEMORY;
	if (pcsc_card_gone(rc))
		return CKR_DEVICE_REMOVED;
	return CKR_DEVICE_ERROR;
}

/* Call with ctx->lock held. */
static void
pcsc_drop_locked(struct pcsc_ctx *ctx)
{
	if (ctx->valid)
		SCardReleaseContext(ctx->context);
	ctx->valid = false;
}

/* Call with ctx->lock held. */
static bool
pcsc_establish_locked(struct pcsc_ctx *ctx)
{
	if (ctx->valid && SCardIsValidContext(ctx->context) == SCARD_S_SUCCESS)
		return true;
	pcsc_drop_locked(ctx);
	LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx->context);
	if (rc != SCARD_S_SUCCESS) {
		log_debug("pcsc: no resource manager (0x%08lX)", (unsigned long)rc);
		return false;
	}
	ctx->valid = true;
	ctx->generation++;
	return true;
}

unsigned
pcsc_generation(struct pcsc_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	unsigned g = ctx->generation;
	pthread_mutex_unlock(&ctx->lock);
	return g;
}

CK_RV
pcsc_open(struct pcsc_ctx **out)
{
	struct pcsc_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return CKR_HOST_MEMORY;
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_mutex_init(&ctx->wait_lock, NULL);
	atomic_init(&ctx->cancelled, false);
	*out = ctx;
	return CKR_OK;
}

void
pcsc_close(struct pcsc_ctx *ctx)
{
	if (ctx == NULL)
		return;
	pthread_mutex_lock(&ctx->lock);
	pcsc_drop_locked(ctx);
	pthread_mutex_unlock(&ctx->lock);
	pthread_mutex_destroy(&ctx->lock);
	pthread_mutex_destroy(&ctx->wait_lock);
	free(ctx);
}

/* Reader names from SCardListReaders: a multi-string. */
static CK_RV
pcsc_reader_names(SCARDCONTEXT context, char **names, LONG *rc_out)
{
	DWORD len = 0;
	LONG rc = SCardListReaders(context, NULL, NULL, &len);
	*names = NULL;
	*rc_out = rc;
	if (rc != SCARD_S_SUCCESS)
		return CKR_OK;
	char *buf = calloc(1, (size_t)len + 2);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	rc = SCardListReaders(context, NULL, buf, &len);
	*rc_out = rc;
	if (rc != SCARD_S_SUCCESS) {
		free(buf);
		return CKR_OK;
	}
	*names = buf;
	return CKR_OK;
}

static void
pcsc_fill_reader(struct pcsc_reader *r, const SCARD_READERSTATE *st)
{
	DWORD s = st->dwEventState;
	r->card_present = (s & SCARD_STATE_PRESENT) != 0 && (s & SCARD_STATE_MUTE) == 0;
	r->card_mute = (s & SCARD_STATE_MUTE) != 0;
	r->event_count = (unsigned)((s >> 16) & 0xFFFF);
	r->pcsc_state = s & ~(DWORD)SCARD_STATE_CHANGED;
	r->atr_len = 0;
	if (r->card_present && st->cbAtr <= CARD_ATR_MAX) {
		memcpy(r->atr, st->rgbAtr, st->cbAtr);
		r->atr_len = st->cbAtr;
	}
}

CK_RV
pcsc_list(struct pcsc_ctx *ctx, struct pcsc_reader **readers, size_t *count)
{
	SCARD_READERSTATE states[PCSC_MAX_READERS];
	struct pcsc_reader *list = NULL;
	char *names = NULL;
	size_t n = 0;
	CK_RV rv = CKR_OK;
	LONG rc;

	*readers = NULL;
	*count = 0;
	pthread_mutex_lock(&ctx->lock);
	/* Twice at most: once more after re-establishing a context that a
	 * pcscd restart invalidated. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!pcsc_establish_locked(ctx))
			goto out;
		rv = pcsc_reader_names(ctx->context, &names, &rc);
		if (rv != CKR_OK)
			goto out;
		if (pcsc_service_gone(rc)) {
			pcsc_drop_locked(ctx);
			continue;
		}
		break;
	}
	if (names == NULL)
		goto out;	/* no readers (SCARD_E_NO_READERS_AVAILABLE) */

	memset(states, 0, sizeof(states));
	for (const char *p = names; *p != '\0' && n < PCSC_MAX_READERS; p += strlen(p) + 1) {
		states[n].szReader = p;
		states[n].dwCurrentState = SCARD_STATE_UNAWARE;
		n++;
	}
	if (n == 0)
		goto out;
	rc = SCardGetStatusChange(ctx->context, 0, states, (DWORD)n);
	if (rc != SCARD_S_SUCCESS && rc != SCARD_E_TIMEOUT) {
		if (pcsc_service_gone(rc))
			pcsc_drop_locked(ctx);
		n = 0;
		goto out;
	}
	list = calloc(n, sizeof(*list));
	if (list == NULL) {
		rv = CKR_HOST_MEMORY;
		n = 0;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(list[i].name, sizeof(list[i].name), "%s", states[i].szReader);
		pcsc_fill_reader(&list[i], &states[i]);
	}
	*readers = list;
	*count = n;
out:
	pthread_mutex_unlock(&ctx->lock);
	free(names);
	return rv;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* pcsc_wait() for the thread whose turn it is. */
static CK_RV
pcsc_wait_one(struct pcsc_ctx *ctx, const struct pcsc_reader *known, size_t count,
              long timeout_ms)
{
	SCARD_READERSTATE states[PCSC_MAX_READERS + 1];
	size_t n = 0;
	CK_RV rv;
	LONG rc;

	if (count > PCSC_MAX_READERS)
		count = PCSC_MAX_READERS;
	memset(states, 0, sizeof(states));
	for (size_t i = 0; i < count; i++) {
		states[n].szReader = known[i].name;
		/* What we last saw, with its event counter: pcscd answers at once
		 * if anything happened since. */
		states[n].dwCurrentState = (DWORD)known[i].pcsc_state;
		n++;
	}
	states[n].szReader = PNP_READER;
	states[n].dwCurrentState = (DWORD)count << 16;
	n++;

	pthread_mutex_lock(&ctx->lock);
	bool have = pcsc_establish_locked(ctx);
	SCARDCONTEXT context = ctx->context;
	pthread_mutex_unlock(&ctx->lock);

	if (atomic_exchange(&ctx->cancelled, false))
		return CKR_FUNCTION_CANCELED;
	if (!have) {
		/* No pcscd: nothing to block on. Poll for it to come back, so a
		 * started daemon is an event too. */
		long waited = 0;
		while (timeout_ms < 0 || waited < timeout_ms) {
			sleep_ms(PCSC_NO_SERVICE_POLL_MS);
			waited += PCSC_NO_SERVICE_POLL_MS;
			if (atomic_exchange(&ctx->cancelled, false))
				return CKR_FUNCTION_CANCELED;
			pthread_mutex_lock(&ctx->lock);
			have = pcsc_establish_locked(ctx);
			pthread_mutex_unlock(&ctx->lock);
			if (have)
				return CKR_OK;
		}
		return CKR_NO_EVENT;
	}

	rc = SCardGetStatusChange(context, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms,
	                          states, (DWORD)n);
	if (rc == SCARD_S_SUCCESS)
		rv = CKR_OK;
	else if (rc == SCARD_E_TIMEOUT)
		rv = CKR_NO_EVENT;
	else if (rc == SCARD_E_CANCELLED)
		rv = CKR_FUNCTION_CANCELED;
	else {
		/* pcscd went away, or a reader vanished: the caller re-lists. */
		if (pcsc_service_gone(rc)) {
			pthread_mutex_lock(&ctx->lock);
			pcsc_drop_locked(ctx);
			pthread_mutex_unlock(&ctx->lock);
			/* Don't spin while pcscd is down. */
			sleep_ms(PCSC_NO_SERVICE_POLL_MS);
		}
		rv = CKR_OK;
	}
	if (atomic_exchange(&ctx->cancelled, false))
		rv = CKR_FUNCTION_CANCELED;
	return rv;
}

/* A PC/SC context belongs to one thread at a time, SCardCancel excepted, and
 * pcsc-lite 1.9.9 punishes a second caller hard: SCardGetStatusChange on a
 * context already waiting blocks on that context's lock while it holds the
 * library's global lock (winscard_clnt.c, SCardGetAndLockContext), so every
 * PC/SC call of the process, SCardCancel included, hangs until a reader
 * event. Threads in C_WaitForSlotEvent therefore take turns here: the one
 * inside is woken by pcsc_cancel(), and C_Finalize cancels until all have
 * left. The turn does not count against a finite timeout beyond it. */
CK_RV
pcsc_wait(struct pcsc_ctx *ctx, const struct pcsc_reader *known, size_t count,
          long timeout_ms)
{
	CK_RV rv;

	if (timeout_ms < 0) {
		pthread_mutex_lock(&ctx->wait_lock);
	} else {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_mutex_timedlock(&ctx->wait_lock, &until) != 0)
			return CKR_NO_EVENT;
	}
	rv = pcsc_wait_one(ctx, known, count, timeout_ms);
	pthread_mutex_unlock(&ctx->wait_lock);
	return rv;
}

void
pcsc_cancel(struct pcsc_ctx *ctx)
{
	atomic_store(&ctx->cancelled, true);
	pthread_mutex_lock(&ctx->lock);
	if (ctx->valid)
		SCardCancel(ctx->context);
	pthread_mutex_unlock(&ctx->lock);
}

static CK_RV
pcsc_reconnect(struct pcsc_card *pc)
{
	DWORD proto = 0;
	LONG rc = SCardReconnect(pc->handle, SCARD_SHARE_SHARED,
	                         SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
	                         SCARD_LEAVE_CARD, &proto);
	if (rc != SCARD_S_SUCCESS)
		return pcsc_rc_to_rv(rc);
	pc->protocol = proto;
	log_debug("pcsc: reconnected after a reset by another process");
	return CKR_OK;
}

/* A card pulled in the middle of an exchange fails it with
 * SCARD_E_NOT_TRANSACTED (the reader driver lost the card), or, with some
 * reader drivers (vpcd), "succeeds" with an empty response; pcscd marks the
 * card absent only at its next presence poll. Ask until then, so that the
 * caller gets CKR_DEVICE_REMOVED for a pulled card (and drops the token
 * now) and CKR_DEVICE_ERROR only for a card that is there and failed. */
static bool
pcsc_card_left(struct pcsc_card *pc)
{
	long waited = 0;
	bool left = false;

	for (;;) {
		uint8_t atr[MAX_ATR_SIZE];
		DWORD state = 0, proto = 0, atr_len = sizeof(atr);
		LONG rc = SCardStatus(pc->handle, NULL, NULL, &state, &proto, atr,
		                      &atr_len);

		if (pcsc_card_gone(rc) || (rc == SCARD_S_SUCCESS && (state & SCARD_ABSENT))) {
			left = true;
			break;
		}
		if (rc != SCARD_S_SUCCESS || waited >= PCSC_REMOVAL_GRACE_MS)
			break;
		sleep_ms(PCSC_REMOVAL_POLL_MS);
		waited += PCSC_REMOVAL_POLL_MS;
	}
	return left;
}

static CK_RV
pcsc_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
              size_t *rsp_len)
{
	struct pcsc_card *pc = ctx;
	const SCARD_IO_REQUEST *pci = pc->protocol == SCARD_PROTOCOL_T0 ?
		SCARD_PCI_T0 : SCARD_PCI_T1;
	DWORD len = (DWORD)*rsp_len;

	LONG rc = SCardTransmit(pc->handle, pci, cmd, (DWORD)cmd_len, NULL, rsp, &len);
	if (rc == SCARD_W_RESET_CARD) {
		/* Reset in the middle of an operation: its state on the card
		 * is gone, so this operation fails; the next one starts over. */
		pc->reset_pending = true;
		CK_RV rv = pcsc_reconnect(pc);
		return rv == CKR_OK ? CKR_DEVICE_ERROR : rv;
	}
	if (rc != SCARD_S_SUCCESS) {
		log_debug("pcsc: SCardTransmit failed (0x%08lX)", (unsigned long)rc);
		if (!pcsc_card_gone(rc) && rc != SCARD_E_NO_MEMORY && pcsc_card_left(pc)) {
			log_debug("pcsc: the card was pulled during the exchange");
			return CKR_DEVICE_REMOVED;
		}
		return pcsc_rc_to_rv(rc);
	}
	/* Not even a status word: the card answered nothing at all. */
	if (len == 0 && pcsc_card_left(pc)) {
		log_debug("pcsc: the card was pulled during the exchange");
		return CKR_DEVICE_REMOVED;
	}
	*rsp_len = len;
	return CKR_OK;
}

static CK_RV
pcsc_begin(void *ctx, bool *was_reset)
{
	struct pcsc_card *pc = ctx;
	LONG rc = SCardBeginTransaction(pc->handle);
	CK_RV rv;

	*was_reset = false;
	if (rc == SCARD_W_RESET_CARD) {
		rv = pcsc_reconnect(pc);
		if (rv != CKR_OK)
			return rv;
		*was_reset = true;
		rc = SCardBeginTransaction(pc->handle);
	}
	if (rc != SCARD_S_SUCCESS)
		return pcsc_rc_to_rv(rc);
	if (pc->reset_pending) {
		pc->reset_pending = false;
		*was_reset = true;
	}
	return CKR_OK;
}

static void
pcsc_end(void *ctx)
{
	struct pcsc_card *pc = ctx;
	SCardEndTransaction(pc->handle, SCARD_LEAVE_CARD);
}

static void
pcsc_card_close(void *ctx)
{
	struct pcsc_card *pc = ctx;
	/* Leave the card as it is: resetting it would log out the other
	 * programs that share it. */
	SCardDisconnect(pc->handle, SCARD_LEAVE_CARD);
	SCardReleaseContext(pc->context);
	free(pc);
}

static const struct transport_ops pcsc_ops = {
	.transmit = pcsc_transmit,
	.begin = pcsc_begin,
	.end = pcsc_end,
	.close = pcsc_card_close,
};

CK_RV
pcsc_connect(struct pcsc_ctx *ctx, const char *reader, struct card *card)
{
	struct pcsc_card *pc = NULL;
	uint8_t atr[MAX_ATR_SIZE];
	DWORD atr_len = sizeof(atr), state = 0, proto = 0;
	CK_RV rv;
	LONG rc;

	pc = calloc(1, sizeof(*pc));
	if (pc == NULL)
		return CKR_HOST_MEMORY;
	/* The module's context first: it is the one that notices a pcscd
	 * restart (its generation changes), which tells the module its cards
	 * are gone. */
	pthread_mutex_lock(&ctx->lock);
	if (!pcsc_establish_locked(ctx)) {
		pthread_mutex_unlock(&ctx->lock);
		rv = CKR_DEVICE_REMOVED;
		goto out;
	}
	pthread_mutex_unlock(&ctx->lock);
	rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &pc->context);
	if (rc != SCARD_S_SUCCESS) {
		rv = pcsc_rc_to_rv(rc);
		goto out;
	}
	rc = SCardConnect(pc->context, reader, SCARD_SHARE_SHARED,
	                  SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &pc->handle, &proto);
	if (rc != SCARD_S_SUCCESS) {
		log_debug("pcsc: SCardConnect(%s) failed (0x%08lX)", reader, (unsigned long)rc);
		SCardReleaseContext(pc->context);
		rv = pcsc_rc_to_rv(rc);
		goto out;
	}
	pc->ctx = ctx;
	pc->protocol = proto;
	rc = SCardStatus(pc->handle, NULL, NULL, &state, &proto, atr, &atr_len);
	if (rc != SCARD_S_SUCCESS || atr_len > CARD_ATR_MAX) {
		SCardDisconnect(pc->handle, SCARD_LEAVE_CARD);
		SCardReleaseContext(pc->context);
		rv = rc != SCARD_S_SUCCESS ? pcsc_rc_to_rv(rc) : CKR_DEVICE_ERROR;
		goto out;
	}
	memset(card, 0, sizeof(*card));
	memcpy(card->atr, atr, atr_len);
	card->atr_len = atr_len;
	card->t0 = proto == SCARD_PROTOCOL_T0;
	card->ops = &pcsc_ops;
	card->transport = pc;
	pc = NULL;
	rv = CKR_OK;
out:
	free(pc);
	return rv;
}
