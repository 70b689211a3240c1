/* Transactions around multi-APDU operations, and telling the bound driver
 * when someone else reset the card under it. */
#include "drivers/card/card.h"

#include "drivers/driver.h"

CK_RV
card_begin(struct card *card)
{
	bool was_reset = false;
	CK_RV rv = CKR_OK;

	if (card == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (card->txn_depth > 0) {
		/* Nested: the outermost card_begin() already holds the card. */
		card->txn_depth++;
		goto out;
	}
	if (card->ops == NULL) {
		rv = CKR_DEVICE_REMOVED;	/* closed by card_close() */
		goto out;
	}
	if (card->ops->begin != NULL) {
		rv = card->ops->begin(card->transport, &was_reset);
		if (rv != CKR_OK)
			goto out;
	}
	card->txn_depth = 1;
	if (was_reset) {
		/* The reset dropped the selected application and the PIN
		 * status (ISO 7816-3, warm reset): the driver selects again before
		 * anyone sends it another command. */
		card->reset_count++;
		if (card->driver != NULL && card->driver->reselect != NULL) {
			rv = card->driver->reselect(card);
			if (rv != CKR_OK)
				card_end(card);	/* the caller won't */
		}
	}
out:
	return rv;
}

void
card_end(struct card *card)
{
	if (card == NULL || card->txn_depth <= 0)
		return;
	card->txn_depth--;
	if (card->txn_depth == 0 && card->ops != NULL && card->ops->end != NULL)
		card->ops->end(card->transport);
}

void
card_close(struct card *card)
{
	if (card == NULL)
		return;
	/* A card dropped in the middle of an operation (pulled during the
	 * reload after a reset): end the transaction before letting go. */
	if (card->txn_depth > 0 && card->ops != NULL && card->ops->end != NULL)
		card->ops->end(card->transport);
	if (card->ops != NULL && card->ops->close != NULL)
		card->ops->close(card->transport);
	card->ops = NULL;
	card->transport = NULL;
	card->txn_depth = 0;
}
