/* kyso pin change, kyso pin unblock, kyso puk change: through the driver's
 * change_pin (C_SetPIN), login as SO + init_pin (C_Login(CKU_SO) +
 * C_InitPIN). Every PIN is checked on the host first (pin.c); the card sees
 * each value the user typed once. */
#include "tools/kyso.h"

#include <stdio.h>

static int
pin_done(struct ctx *c, const char *what_done)
{
	json_token(c, "token", c->tok);
	out(c, "%s\n", what_done);
	return KX_OK;
}

/* `who`'s value changes from old to new (C_SetPIN). */
static int
change_secret(struct ctx *c, enum drv_user who)
{
	const struct driver *drv = c->tok->card.driver;
	struct secret old_pin, new_pin;
	CK_RV rv;
	int code;

	memset(&old_pin, 0, sizeof(old_pin));
	memset(&new_pin, 0, sizeof(new_pin));
	if (drv->change_pin == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED,
		               who == DRV_SO ? _("changing the PUK") : _("changing the PIN"));
		goto out;
	}
	code = pin_current(c, who, &old_pin);
	if (code == KX_OK)
		code = pin_new(c, who, &new_pin);
	if (code != KX_OK)
		goto out;
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->change_pin(&c->tok->card, who, (const uint8_t *)old_pin.v, old_pin.len,
		                     (const uint8_t *)new_pin.v, new_pin.len);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = pin_failed(c, who, rv, who == DRV_SO ? _("changing the PUK")
		                                            : _("changing the PIN"));
		goto out;
	}
	code = pin_done(c, who == DRV_SO ? _("The PUK was changed.") : _("The PIN was changed."));
out:
	secret_wipe(&old_pin);
	secret_wipe(&new_pin);
	return code;
}

int
cmd_pin_change(struct ctx *c)
{
	int code = need_token(c);

	if (code == KX_OK)
		code = change_secret(c, DRV_USER);
	return code;
}

int
cmd_puk_change(struct ctx *c)
{
	int code = need_token(c);

	if (code == KX_OK)
		code = change_secret(c, DRV_SO);
	return code;
}

int
cmd_pin_unblock(struct ctx *c)
{
	const struct driver *drv;
	struct secret puk, new_pin;
	CK_RV rv;
	int code;

	memset(&puk, 0, sizeof(puk));
	memset(&new_pin, 0, sizeof(new_pin));
	code = need_token(c);
	if (code != KX_OK)
		goto out;
	drv = c->tok->card.driver;
	if (drv->login == NULL || drv->init_pin == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("unblocking the PIN"));
		goto out;
	}
	code = pin_current(c, DRV_SO, &puk);
	if (code == KX_OK)
		code = pin_new(c, DRV_USER, &new_pin);
	if (code != KX_OK)
		goto out;
	/* One transaction: a card reset in between would drop the SO login
	 * (PIV keeps the PUK only until then). */
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->login(&c->tok->card, DRV_SO, (const uint8_t *)puk.v, puk.len);
		if (rv == CKR_OK)
			rv = drv->init_pin(&c->tok->card, (const uint8_t *)new_pin.v, new_pin.len);
		if (rv != CKR_OK && rv != CKR_DEVICE_REMOVED && drv->logout != NULL)
			(void)drv->logout(&c->tok->card);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = pin_failed(c, DRV_SO, rv, _("unblocking the PIN"));
		goto out;
	}
	code = pin_done(c, _("The PIN was unblocked and set to the new value."));
out:
	secret_wipe(&puk);
	secret_wipe(&new_pin);
	return code;
}
