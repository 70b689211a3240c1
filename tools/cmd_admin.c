/* kyso mgmkey change and kyso reset: the administrator's commands, through
 * the driver's change_admin_key and factory_reset hooks. Tokens whose
 * driver has neither are told apart from failures: "not supported". */
#include "tools/kyso.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define NEW_KEY_LEN 24

int
cmd_mgmkey_change(struct ctx *c)
{
	const struct driver *drv;
	struct secret s, again;
	uint8_t key[32];
	char hex[65];
	size_t len = 0;
	int code;
	CK_RV rv;

	memset(&s, 0, sizeof(s));
	memset(&again, 0, sizeof(again));
	memset(key, 0, sizeof(key));
	hex[0] = '\0';
	code = need_token(c);
	if (code != KX_OK)
		goto out;
	drv = c->tok->card.driver;
	if (drv->change_admin_key == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("changing the management key"));
		goto out;
	}
	if (c->o.generate && c->o.new_mgmt_key_source != NULL) {
		code = fail(c, KX_USAGE, "usage",
		            _("Give either --generate or --new-mgmt-key-source, not both."));
		goto out;
	}
	if (c->o.generate) {
		len = NEW_KEY_LEN;
		if (RAND_priv_bytes(key, (int)len) != 1) {
			code = fail(c, KX_INTERNAL, "internal", _("No random numbers."));
			goto out;
		}
	} else {
		code = secret_read(c, c->o.new_mgmt_key_source, NULL,
		                   _("New management key (hex): "), &s);
		if (code == KX_OK)
			code = parse_hex_key(c, &s, key, &len);
		if (code == KX_OK && s.prompted) {
			code = secret_read(c, NULL, NULL, _("New management key again: "), &again);
			if (code == KX_OK && (again.len != s.len ||
			                      CRYPTO_memcmp(again.v, s.v, s.len) != 0))
				code = fail(c, KX_USAGE, "input_mismatch",
				            _("The two keys you typed differ. Nothing was changed."));
		}
		if (code != KX_OK)
			goto out;
	}
	code = admin_key_apply(c);
	if (code != KX_OK)
		goto out;
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->change_admin_key(&c->tok->card, key, len);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("changing the management key"));
		goto out;
	}
	json_token(c, "token", c->tok);
	if (c->o.generate) {
		hex_text(key, len, hex, sizeof(hex), false);
		json_str(&c->json, "new_key", hex);
		out(c, _("The management key was changed. The new key, shown only now:\n%s\n"), hex);
	} else {
		out(c, "%s\n", _("The management key was changed."));
	}
	note(c, "%s\n", _("Keep the new key safe: writing keys and certificates needs it (kyso "
	                  "--mgmt-key-source, or piv_management_key in kyso.conf for other "
	                  "programs)."));
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(hex, sizeof(hex));
	secret_wipe(&s);
	secret_wipe(&again);
	return code;
}

int
cmd_reset(struct ctx *c)
{
	const struct driver *drv;
	char line[128], prompt[512];
	const char *typed;
	int code;
	CK_RV rv;

	code = need_token(c);
	if (code != KX_OK)
		goto out;
	drv = c->tok->card.driver;
	if (drv->factory_reset == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("a factory reset"));
		goto out;
	}
	/* The serial number is the confirmation: typing it proves the user
	 * looked at which token is about to be erased. */
	if (c->o.confirm != NULL) {
		typed = c->o.confirm;
	} else {
		note(c, _("This erases every key and certificate on %s and sets its PIN, PUK and "
		          "management key back to the factory values. It cannot be undone.\n"),
		     tok_name(c->tok));
		snprintf(prompt, sizeof(prompt),
		         _("Type the token's serial number (%s) to erase it: "), c->tok->info.serial);
		code = ask_line(c, prompt, line, sizeof(line));
		if (code != KX_OK)
			goto out;
		typed = line;
	}
	if (strcmp(typed, c->tok->info.serial) != 0) {
		code = fail(c, KX_CANCELED, "canceled",
		            _("That is not the serial number of %s: nothing was erased."),
		            tok_name(c->tok));
		goto out;
	}
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->factory_reset(&c->tok->card);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("a factory reset"));
		goto out;
	}
	c->tok->have_info = false;
	json_token(c, "token", c->tok);
	out(c, "%s\n", _("The token is back to its factory state."));
	if (drv->default_pin != NULL && drv->default_so_pin != NULL)
		out(c, _("Its PIN is %s and its PUK %s: change them now (kyso pin change, kyso puk "
		         "change).\n"), drv->default_pin, drv->default_so_pin);
out:
	return code;
}
