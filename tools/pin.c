/* The rules around a PIN, before and after it reaches the token.
 *
 * Before: the tries left are shown; a blocked PIN is not asked for; the last
 * try is refused unless the user said --yes-last-try; a PIN the token cannot
 * accept (its length, its characters) is not sent, so a typing accident costs
 * no try. Residents type PINs with a Vietnamese input method on (Telex
 * turns "aa" into "â") or with Caps Lock on: both are pointed out. After:
 * the tries left once more, and what to do next. kyso sends each PIN the
 * user typed once, and never a PIN of its own choosing: whether the PIN is
 * still the issuer's default is asked of the card (pin_is_default) or
 * compared on the host. */
#include "tools/kyso.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

CK_RV
pin_status_of(struct ctx *c, struct drv_pin_status *st)
{
	CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED;

	st->user_tries_left = st->user_tries_max = -1;
	st->so_tries_left = st->so_tries_max = -1;
	if (c->tok->card.driver->pin_status == NULL)
		goto out;
	rv = tok_begin(c);
	if (rv != CKR_OK)
		goto out;
	rv = c->tok->card.driver->pin_status(&c->tok->card, st);
	tok_end(c);
out:
	return rv;
}

static bool
pin_has_non_ascii(const struct secret *s)
{
	size_t i;

	for (i = 0; i < s->len; i++)
		if ((unsigned char)s->v[i] >= 0x80)
			return true;
	return false;
}

/* Letters, and every one of them a capital: what Caps Lock does to a PIN
 * with letters. */
static bool
pin_looks_capslock(const struct secret *s)
{
	bool letters = false;
	size_t i;

	for (i = 0; i < s->len; i++) {
		unsigned char ch = (unsigned char)s->v[i];

		if (ch >= 'a' && ch <= 'z')
			return false;
		if (ch >= 'A' && ch <= 'Z')
			letters = true;
	}
	return letters;
}

/* Characters in a UTF-8 string (what the user counts), not bytes. */
static size_t
pin_chars(const struct secret *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->len; i++)
		if (((unsigned char)s->v[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static const char *
pin_word(enum drv_user who)
{
	/* TRANSLATORS: the PIN and the PUK (the SO PIN that unblocks it)
	 * as words inside sentences. */
	return who == DRV_SO ? _("PUK") : _("PIN");
}

static void
pin_warn_ime(struct ctx *c)
{
	warn(c, "non_ascii",
	     _("What you typed contains accented letters or other non-ASCII "
	       "characters: a Vietnamese input method (Unikey, EVKey, "
	       "ibus-bamboo...) is probably on. Switch it to English and type "
	       "again."));
}

/* Checks shared by a current and a new PIN. `why` ends the message when
 * nothing was sent. Returns an exit code. */
static int
pin_check_common(struct ctx *c, enum drv_user who, const struct secret *s, bool is_new)
{
	const struct driver *drv = c->tok->card.driver;
	const struct drv_token_info *info = &c->tok->info;
	const char *none_sent = is_new ? _("Nothing was changed.")
	                               : _("Nothing was sent to the token, so no try was used.");
	size_t i, n = pin_chars(s);
	int code = KX_OK;

	if (s->len == 0) {
		code = fail(c, KX_PIN_POLICY, "pin_policy", _("The %s is empty. %s"),
		            pin_word(who), none_sent);
		goto out;
	}
	if (pin_has_non_ascii(s)) {
		pin_warn_ime(c);
		if (drv->pin_chars != DRV_PIN_CHARS_ANY || !c->o.force) {
			code = fail(c, KX_PIN_POLICY, "pin_policy",
			            _("This %s cannot be right for this token. %s"),
			            pin_word(who), none_sent);
			goto out;
		}
	}
	for (i = 0; is_new && drv->pin_chars != DRV_PIN_CHARS_ANY && i < s->len; i++) {
		unsigned char ch = (unsigned char)s->v[i];
		bool ok = drv->pin_chars == DRV_PIN_CHARS_DIGITS ? isdigit(ch) != 0
		          : (ch >= 0x20 && ch < 0x7F);

		if (!ok) {
			code = fail(c, KX_PIN_POLICY, "pin_policy",
			            drv->pin_chars == DRV_PIN_CHARS_DIGITS ?
			            _("A %s for this token has only digits. %s") :
			            _("A %s for this token has only letters, digits and "
			              "the symbols of an English keyboard. %s"),
			            pin_word(who), none_sent);
			goto out;
		}
	}
	/* The lengths CK_TOKEN_INFO gives are the user PIN's; a PUK is held
	 * to them too (PIV: 6 to 8 for both, pt 2, 2.4.3). */
	if (info->min_pin_len > 0 && info->max_pin_len >= info->min_pin_len &&
	    (n < info->min_pin_len || n > info->max_pin_len)) {
		code = fail(c, KX_PIN_POLICY, "pin_policy",
		            _("A %s for this token has %lu to %lu characters; this one has "
		              "%zu. %s"), pin_word(who), (unsigned long)info->min_pin_len,
		            (unsigned long)info->max_pin_len, n, none_sent);
		goto out;
	}
	if (pin_looks_capslock(s)) {
		warn(c, "caps_lock", _("The %s you typed is all capital letters: is Caps "
		                       "Lock on?"), pin_word(who));
		/* TRANSLATORS: asked after the Caps Lock warning. */
		if (s->prompted && !ask_yes(c, _("Use it anyway?")))
			code = fail(c, KX_CANCELED, "canceled", _("Canceled. %s"), none_sent);
	}
out:
	return code;
}

int
pin_current(struct ctx *c, enum drv_user who, struct secret *pin)
{
	struct drv_pin_status st;
	char prompt[256];
	int left, max, code = KX_OK;
	CK_RV rv;

	memset(pin, 0, sizeof(*pin));
	rv = pin_status_of(c, &st);
	if (rv != CKR_OK && rv != CKR_FUNCTION_NOT_SUPPORTED) {
		code = fail_rv(c, rv, _("reading the PIN status"));
		goto out;
	}
	left = who == DRV_SO ? st.so_tries_left : st.user_tries_left;
	max = who == DRV_SO ? st.so_tries_max : st.user_tries_max;
	if (left == 0) {
		if (who == DRV_SO)
			code = fail(c, KX_BLOCKED, "puk_blocked",
			            _("The PUK of %s is blocked. Only a factory reset (kyso "
			              "reset) makes the token usable again, and it erases "
			              "the keys."), tok_name(c->tok));
		else
			code = fail(c, KX_BLOCKED, "pin_blocked",
			            _("The PIN of %s is blocked. Unblock it with the PUK: kyso "
			              "pin unblock."), tok_name(c->tok));
		goto out;
	}
	if (left > 0 && max > 0)
		/* TRANSLATORS: "PIN: 3 tries left (of 3)." */
		note(c, P_("%s: %d try left (of %d).\n", "%s: %d tries left (of %d).\n", left),
		     pin_word(who), left, max);
	else if (left > 0)
		note(c, P_("%s: %d try left.\n", "%s: %d tries left.\n", left), pin_word(who), left);
	if (left == 1 && max != 1) {
		warn(c, "last_try", _("This is the last %s try: if it is wrong, the %s is "
		                      "blocked."), pin_word(who), pin_word(who));
		if (!c->o.yes_last_try && !c->o.force) {
			code = fail(c, KX_BLOCKED, "last_try",
			            _("Refusing to use the last try. Make sure of your %s, "
			              "then run the command again with --yes-last-try."),
			            pin_word(who));
			goto out;
		}
	}
	/* TRANSLATORS: the prompt for a PIN or PUK; %s is the token. */
	snprintf(prompt, sizeof(prompt), who == DRV_SO ? _("PUK for %s: ") : _("PIN for %s: "),
	         tok_name(c->tok));
	code = secret_read(c, who == DRV_SO ? c->o.puk_source : c->o.pin_source,
	                   who == DRV_SO ? c->o.puk : c->o.pin, prompt, pin);
	if (code == KX_OK)
		code = pin_check_common(c, who, pin, false);
out:
	if (code != KX_OK)
		secret_wipe(pin);
	return code;
}

/* "111111", "123456", "654321": the first PINs anyone tries. */
static bool
pin_trivial(const struct secret *s)
{
	bool same = true, up = true, down = true;
	size_t i;

	for (i = 1; i < s->len; i++) {
		same &= s->v[i] == s->v[0];
		up &= s->v[i] == s->v[i - 1] + 1;
		down &= s->v[i] == s->v[i - 1] - 1;
	}
	return s->len > 1 && (same || up || down);
}

int
pin_new(struct ctx *c, enum drv_user who, struct secret *pin)
{
	const struct driver *drv = c->tok->card.driver;
	const char *dflt = who == DRV_SO ? drv->default_so_pin : drv->default_pin;
	struct secret again;
	int code;

	memset(&again, 0, sizeof(again));
	code = secret_read(c, c->o.new_pin_source, c->o.new_pin,
	                   who == DRV_SO ? _("New PUK: ") : _("New PIN: "), pin);
	if (code == KX_OK)
		code = pin_check_common(c, who, pin, true);
	if (code != KX_OK)
		goto out;
	if (dflt != NULL && strlen(dflt) == pin->len &&
	    CRYPTO_memcmp(dflt, pin->v, pin->len) == 0) {
		code = fail(c, KX_PIN_POLICY, "pin_policy",
		            _("That is the factory default %s, which everyone knows: choose "
		              "another one. Nothing was changed."), pin_word(who));
		goto out;
	}
	if (pin_trivial(pin))
		warn(c, "weak_pin", _("This %s is easy to guess."), pin_word(who));
	if (pin->prompted) {
		code = secret_read(c, NULL, NULL, who == DRV_SO ? _("New PUK again: ")
		                                                : _("New PIN again: "), &again);
		if (code != KX_OK)
			goto out;
		if (again.len != pin->len || CRYPTO_memcmp(again.v, pin->v, pin->len) != 0)
			code = fail(c, KX_PIN_POLICY, "pin_mismatch",
			            who == DRV_SO ? _("The two new PUKs you typed differ. Nothing "
			                              "was changed.")
			                          : _("The two new PINs you typed differ. Nothing "
			                              "was changed."));
	}
out:
	secret_wipe(&again);
	if (code != KX_OK)
		secret_wipe(pin);
	return code;
}

int
pin_failed(struct ctx *c, enum drv_user who, CK_RV rv, const char *what)
{
	const char *code_name = who == DRV_SO ? "wrong_puk" : "wrong_pin";
	struct drv_pin_status st;
	int left = -1, code;

	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED) {
		/* The card told the counter with its answer; the driver keeps
		 * it, so this asks nothing more of the card for PIV. */
		if (pin_status_of(c, &st) == CKR_OK)
			left = who == DRV_SO ? st.so_tries_left : st.user_tries_left;
		if (left >= 0)
			json_int(&c->json, who == DRV_SO ? "puk_tries_left" : "pin_tries_left", left);
	}
	if (rv == CKR_PIN_INCORRECT && left > 0)
		code = fail(c, KX_WRONG_PIN, code_name,
		            P_("Wrong %s. %d try left before it is blocked.",
		               "Wrong %s. %d tries left before it is blocked.", left),
		            pin_word(who), left);
	else if (rv == CKR_PIN_INCORRECT && left != 0)
		code = fail(c, KX_WRONG_PIN, code_name, _("Wrong %s."), pin_word(who));
	else if ((rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED) && who == DRV_SO)
		code = fail(c, KX_BLOCKED, "puk_blocked",
		            _("Wrong PUK: the PUK is now blocked. Only a factory reset "
		              "(kyso reset) makes the token usable again, and it "
		              "erases the keys."));
	else if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
		code = fail(c, KX_BLOCKED, "pin_blocked",
		            _("Wrong PIN: the PIN is now blocked. Unblock it with the PUK: "
		              "kyso pin unblock."));
	else
		code = fail_rv(c, rv, what);
	return code;
}

void
pin_warn_default(struct ctx *c, enum drv_user who, const struct secret *pin)
{
	const struct driver *drv = c->tok->card.driver;
	const char *dflt = who == DRV_SO ? drv->default_so_pin : drv->default_pin;

	if (dflt != NULL && strlen(dflt) == pin->len && CRYPTO_memcmp(dflt, pin->v, pin->len) == 0) {
		if (who == DRV_SO)
			warn(c, "default_puk", _("The PUK is still the factory default: change "
			                         "it with kyso puk change."));
		else
			warn(c, "default_pin", _("The PIN is still the factory default: change "
			                         "it with kyso pin change."));
	}
}

int
pin_default_state(struct ctx *c, enum drv_user who)
{
	bool dflt = false;
	CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED;

	if (c->tok->card.driver->pin_is_default == NULL)
		goto out;
	rv = tok_begin(c);
	if (rv != CKR_OK)
		goto out;
	rv = c->tok->card.driver->pin_is_default(&c->tok->card, who, &dflt);
	tok_end(c);
out:
	return rv == CKR_OK ? (dflt ? 1 : 0) : -1;
}

int
pin_login(struct ctx *c, struct secret *pin)
{
	int code = KX_OK;
	CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED;

	if (c->logged_in)
		goto out;
	if (c->tok->card.driver->login != NULL)
		rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = c->tok->card.driver->login(&c->tok->card, DRV_USER,
		                                (const uint8_t *)pin->v, pin->len);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = pin_failed(c, DRV_USER, rv, _("logging in"));
		goto out;
	}
	c->logged_in = true;
	pin_warn_default(c, DRV_USER, pin);
out:
	return code;
}
