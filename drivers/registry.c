#include "common/log.h"
#include "drivers/driver.h"
#include "drivers/epass2003/epass2003.h"
#include "drivers/piv/piv.h"

/* Order matters only for cost: a driver that decides from the ATR alone comes
 * before one that needs a SELECT, so an unknown card costs as few APDUs as
 * possible (issue 2: at most 5). */
const struct driver *const drivers[] = {
	&epass2003_driver,	/* ATR only: no APDU for other cards */
	&piv_driver,
	NULL,
};

CK_RV
driver_match(struct card *card)
{
	CK_RV rv = CKR_TOKEN_NOT_RECOGNIZED;

	for (size_t i = 0; drivers[i] != NULL; i++) {
		rv = drivers[i]->match(card);
		if (rv == CKR_OK) {
			card->driver = drivers[i];
			log_debug("card: driver %s", drivers[i]->name);
			goto out;
		}
		if (rv != CKR_TOKEN_NOT_RECOGNIZED)
			goto out;
	}
	log_debug("card: no driver for this card");
out:
	return rv;
}
