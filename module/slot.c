/* Slots are PC/SC readers; a token is a card that a driver took.
 * C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_WaitForSlotEvent. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "module/module.h"
#include "module/pkcs11_export.h"

void
pad_string(CK_UTF8CHAR *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	memset(dst, ' ', len);
	memcpy(dst, src, n < len ? n : len);
}

struct slot *
slot_find(CK_SLOT_ID id)
{
	for (size_t i = 0; i < mod.slot_count; i++)
		if (mod.slots[i].id == id)
			return &mod.slots[i];
	return NULL;
}

void
slot_drop_token(struct slot *slot)
{
	struct token *token = slot->token;

	if (token == NULL)
		return;
	log_debug("slot %lu: token gone", (unsigned long)slot->id);
	sessions_close_slot(slot->id);
	if (token->card.driver != NULL && token->card.driver->unbind != NULL)
		token->card.driver->unbind(&token->card);
	card_close(&token->card);
	objects_free(token);
	free(token);
	slot->token = NULL;
}

/* A new card in the reader: find its driver. Costs the drivers' match
 * APDUs, once per insertion. */
static void
slot_probe(struct slot *slot)
{
	struct token *token = calloc(1, sizeof(*token));
	CK_RV rv;

	slot->card_unsupported = true;
	slot->probed_event_count = slot->reader.event_count;
	if (token == NULL)
		return;
	rv = pcsc_connect(mod.pcsc, slot->reader.name, &token->card);
	if (rv != CKR_OK) {
		free(token);
		/* Busy or gone: look again next time rather than give up. */
		slot->card_unsupported = false;
		return;
	}
	rv = card_begin(&token->card);
	if (rv == CKR_OK) {
		rv = driver_match(&token->card);
		if (rv == CKR_OK && token->card.driver->bind != NULL)
			rv = token->card.driver->bind(&token->card);
		card_end(&token->card);
	}
	if (rv != CKR_OK) {
		if (rv != CKR_TOKEN_NOT_RECOGNIZED)
			log_debug("slot %lu: probing failed (0x%lx)",
			          (unsigned long)slot->id, (unsigned long)rv);
		if (token->card.driver != NULL && token->card.driver->unbind != NULL &&
		    token->card.driver_data != NULL)
			token->card.driver->unbind(&token->card);
		card_close(&token->card);
		free(token);
		return;
	}
	token->login_user = CK_NO_USER;
	slot->token = token;
	slot->pcsc_generation = pcsc_generation(mod.pcsc);
	slot->card_unsupported = false;
	log_debug("slot %lu: token with driver %s", (unsigned long)slot->id,
	          token->card.driver->name);
}

/* Bring one slot up to date with what PC/SC says of its reader. */
static void
slot_update(struct slot *slot, const struct pcsc_reader *r)
{
	bool had_card = slot->token != NULL || slot->card_unsupported;
	bool same_card = r->card_present && r->event_count == slot->reader.event_count;

	if (slot->token != NULL && slot->pcsc_generation != pcsc_generation(mod.pcsc)) {
		/* pcscd restarted: the card handle died with it. */
		slot_drop_token(slot);
		slot->event_pending = true;
		same_card = false;
	}
	slot->reader = *r;
	if (!r->card_present) {
		if (had_card)
			slot->event_pending = true;
		slot_drop_token(slot);
		slot->card_unsupported = false;
		return;
	}
	if (slot->token != NULL && same_card)
		return;
	if (slot->token != NULL)
		slot_drop_token(slot);	/* swapped between two looks */
	if (slot->card_unsupported && slot->probed_event_count == r->event_count)
		return;
	slot->probe_wanted = true;
	slot->event_pending = true;
}

static void *
slot_probe_thread(void *arg)
{
	slot_probe(arg);
	return NULL;
}

/* Probe the new cards. Each costs a connect (a card power-up on a real
 * reader) and its driver's match APDUs; with cards in several readers they
 * go in parallel, one thread per card, each card on its own PC/SC context
 * (pcsc.c), so a browser's first look at four tokens takes as long as its
 * look at one. The caller holds the module lock; the threads touch only
 * their own slot, and are joined before it returns. */
static void
slots_probe_wanted(void)
{
	pthread_t threads[MODULE_MAX_SLOTS];
	bool started[MODULE_MAX_SLOTS] = { false };
	size_t wanted = 0;

	for (size_t i = 0; i < mod.slot_count; i++)
		wanted += mod.slots[i].probe_wanted;
	for (size_t i = 0; i < mod.slot_count; i++) {
		struct slot *slot = &mod.slots[i];

		if (!slot->probe_wanted)
			continue;
		slot->probe_wanted = false;
		if (wanted > 1 &&
		    pthread_create(&threads[i], NULL, slot_probe_thread, slot) == 0)
			started[i] = true;
		else
			slot_probe(slot);
	}
	for (size_t i = 0; i < mod.slot_count; i++)
		if (started[i])
			pthread_join(threads[i], NULL);
}

static struct slot *
slot_add(const char *name)
{
	if (mod.slot_count == MODULE_MAX_SLOTS)
		return NULL;
	struct slot *slot = &mod.slots[mod.slot_count++];
	memset(slot, 0, sizeof(*slot));
	slot->id = mod.next_slot_id++;
	snprintf(slot->reader.name, sizeof(slot->reader.name), "%s", name);
	return slot;
}

CK_RV
slot_refresh_all(bool rescan_readers)
{
	struct pcsc_reader *readers = NULL;
	size_t n = 0;
	bool first = !mod.slots_listed;
	CK_RV rv = pcsc_list(mod.pcsc, &readers, &n);

	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < mod.slot_count; i++) {
		struct slot *slot = &mod.slots[i];
		const struct pcsc_reader *r = NULL;
		for (size_t j = 0; j < n; j++)
			if (strcmp(readers[j].name, slot->reader.name) == 0)
				r = &readers[j];
		if (r == NULL || !config_reader_allowed(slot->reader.name)) {
			/* The reader went away: its slot stays (IDs are never
			 * reused for another reader) but shows nothing. */
			if (slot->token != NULL || slot->card_unsupported)
				slot->event_pending = true;
			slot_drop_token(slot);
			slot->card_unsupported = false;
			slot->reader.card_present = false;
			slot->reader_present = false;
			continue;
		}
		if (!slot->reader_present && !rescan_readers)
			continue;
		slot->reader_present = true;
		slot_update(slot, r);
	}
	if (rescan_readers || first) {
		for (size_t j = 0; j < n; j++) {
			if (!config_reader_allowed(readers[j].name) ||
			    strcmp(readers[j].name, "") == 0)
				continue;
			bool known = false;
			for (size_t i = 0; i < mod.slot_count; i++)
				if (strcmp(mod.slots[i].reader.name, readers[j].name) == 0)
					known = true;
			if (known)
				continue;
			struct slot *slot = slot_add(readers[j].name);
			if (slot == NULL)
				break;
			slot->reader_present = true;
			slot_update(slot, &readers[j]);
			/* Cards present when we first look are not events; a
			 * reader that appears later is. */
			slot->event_pending = !first;
		}
		mod.slots_listed = true;
	}
	free(readers);
	slots_probe_wanted();
	return CKR_OK;
}

CK_RV
slot_token(struct slot *slot, struct token **token)
{
	CK_RV rv = slot_refresh_all(false);

	*token = NULL;
	if (rv != CKR_OK)
		return rv;
	if (slot->token == NULL)
		return slot->card_unsupported ? CKR_TOKEN_NOT_RECOGNIZED : CKR_TOKEN_NOT_PRESENT;
	*token = slot->token;
	return CKR_OK;
}

void
slots_free(void)
{
	for (size_t i = 0; i < mod.slot_count; i++)
		slot_drop_token(&mod.slots[i]);
	mod.slot_count = 0;
	mod.slots_listed = false;
}

CK_RV
token_begin(struct slot *slot)
{
	struct token *token = slot->token;
	unsigned resets = token->card.reset_count;
	CK_RV rv = card_begin(&token->card);

	if (rv == CKR_DEVICE_REMOVED) {
		slot_drop_token(slot);
		return rv;
	}
	if (rv == CKR_OK && token->card.reset_count != resets) {
		/* Someone reset the card: its PIN status is gone, so is ours;
		 * and what is on it may have changed, so the objects are read
		 * again (handles of unchanged objects stay). */
		log_debug("slot %lu: card was reset, login lost", (unsigned long)slot->id);
		token->login_user = CK_NO_USER;
		if (token->objects_loaded) {
			rv = objects_reload(slot, token);
			if (slot->token == NULL)
				return rv;
			if (rv != CKR_OK)
				card_end(&token->card);
		}
	}
	return rv;
}

void
token_end(struct slot *slot, CK_RV rv)
{
	if (slot->token == NULL)
		return;
	card_end(&slot->token->card);
	if (rv == CKR_USER_NOT_LOGGED_IN && slot->token->login_user != CK_NO_USER) {
		/* The card says its PIN is not verified although we logged in:
		 * another program logged it out (a PIV card's PIN status is one
		 * for all programs, SP 800-73-4 pt 2, 3.2.1). Believe the card,
		 * so that the application's next C_Login sends the PIN again
		 * instead of failing with CKR_USER_ALREADY_LOGGED_IN. The PIN is
		 * not sent on its behalf. */
		log_debug("slot %lu: the card lost our login", (unsigned long)slot->id);
		slot->token->login_user = CK_NO_USER;
	}
	if (rv == CKR_DEVICE_REMOVED)
		slot_drop_token(slot);
}

KYSO_EXPORT CK_RV
C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_RV rv = CKR_OK;
	CK_ULONG n = 0;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	/* The list changes only on a call without a buffer (PKCS#11 2.40,
	 * 5.5 C_GetSlotList), so a count and the list that follows agree. */
	if (pSlotList == NULL || !mod.slots_listed) {
		rv = slot_refresh_all(true);
		if (rv != CKR_OK)
			goto out;
	}
	for (size_t i = 0; i < mod.slot_count; i++) {
		struct slot *slot = &mod.slots[i];
		if (!slot->reader_present || (tokenPresent && slot->token == NULL))
			continue;
		if (pSlotList != NULL && n < *pulCount)
			pSlotList[n] = slot->id;
		n++;
	}
	if (pSlotList != NULL && n > *pulCount)
		rv = CKR_BUFFER_TOO_SMALL;
	*pulCount = n;
out:
	module_unlock();
	log_debug("C_GetSlotList(present=%d): 0x%lx, %lu slots", tokenPresent,
	          (unsigned long)rv, (unsigned long)n);
	return rv;
}

KYSO_EXPORT CK_RV
C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	CK_RV rv = CKR_OK;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	struct slot *slot = slot_find(slotID);
	if (slot == NULL) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	/* Browsers poll this to notice a card: look at the reader (no APDU
	 * unless a new card needs its driver). */
	slot_refresh_all(false);
	memset(pInfo, 0, sizeof(*pInfo));
	pad_string(pInfo->slotDescription, sizeof(pInfo->slotDescription), slot->reader.name);
	pad_string(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "PC/SC");
	pInfo->flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	if (slot->token != NULL)
		pInfo->flags |= CKF_TOKEN_PRESENT;
out:
	module_unlock();
	log_debug("C_GetSlotInfo(%lu): 0x%lx", (unsigned long)slotID, (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	struct drv_token_info di;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	struct slot *slot = slot_find(slotID);
	if (slot == NULL) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	rv = slot_token(slot, &token);
	if (rv != CKR_OK)
		goto out;
	memset(&di, 0, sizeof(di));
	if (token->card.driver->token_info != NULL) {
		rv = token_begin(slot);
		if (rv != CKR_OK)
			goto out;
		rv = token->card.driver->token_info(&token->card, &di);
		token_end(slot, rv);
		if (rv != CKR_OK)
			goto out;
	}
	memset(pInfo, 0, sizeof(*pInfo));
	pad_string(pInfo->label, sizeof(pInfo->label), di.label);
	pad_string(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), di.manufacturer);
	pad_string(pInfo->model, sizeof(pInfo->model), di.model);
	pad_string(pInfo->serialNumber, sizeof(pInfo->serialNumber), di.serial);
	pInfo->flags = di.flags;
	pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulSessionCount = sessions_count(slotID, false);
	pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulRwSessionCount = sessions_count(slotID, true);
	pInfo->ulMaxPinLen = di.max_pin_len;
	pInfo->ulMinPinLen = di.min_pin_len;
	pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->hardwareVersion.major = 0;
	pInfo->firmwareVersion.major = 0;
	memset(pInfo->utcTime, ' ', sizeof(pInfo->utcTime));
out:
	module_unlock();
	log_debug("C_GetTokenInfo(%lu): 0x%lx", (unsigned long)slotID, (unsigned long)rv);
	return rv;
}

static struct slot *
slot_take_event(void)
{
	for (size_t i = 0; i < mod.slot_count; i++) {
		if (mod.slots[i].event_pending) {
			mod.slots[i].event_pending = false;
			return &mod.slots[i];
		}
	}
	return NULL;
}

KYSO_EXPORT CK_RV
C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
	struct pcsc_reader known[MODULE_MAX_SLOTS];
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pSlot == NULL || pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	for (;;) {
		if (mod.finalizing) {
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
			break;
		}
		rv = slot_refresh_all(true);
		if (rv != CKR_OK)
			break;
		struct slot *slot = slot_take_event();
		if (slot != NULL) {
			*pSlot = slot->id;
			rv = CKR_OK;
			break;
		}
		if (flags & CKF_DONT_BLOCK) {
			rv = CKR_NO_EVENT;
			break;
		}
		size_t n = 0;
		for (size_t i = 0; i < mod.slot_count; i++)
			if (mod.slots[i].reader_present)
				known[n++] = mod.slots[i].reader;
		mod.waiters++;
		module_unlock();
		rv = pcsc_wait(mod.pcsc_wait, known, n, -1);
		module_lock();
		mod.waiters--;
		if (rv == CKR_FUNCTION_CANCELED || mod.finalizing) {
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
			break;
		}
	}
	/* Logged before the unlock: once C_Finalize sees no waiter it closes
	 * the log, and this thread must not touch module state after that. */
	log_debug("C_WaitForSlotEvent: 0x%lx", (unsigned long)rv);
	module_unlock();
	return rv;
}
