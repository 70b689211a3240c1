/* Readers and tokens: PC/SC lists the readers, each card is matched and
 * bound by the drivers exactly as the PKCS#11 module does (module/slot.c),
 * and --token chooses one. Each card operation is wrapped in a PC/SC
 * transaction (card_begin/card_end); prompts happen outside them so that a
 * user typing a PIN does not hold up other programs. */
#include "tools/kyso.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static CK_RV
tok_probe(struct ctx *c, struct tok *t)
{
	CK_RV rv;

	rv = pcsc_connect(c->pcsc, t->reader, &t->card);
	if (rv != CKR_OK)
		goto out;
	t->connected = true;
	rv = card_begin(&t->card);
	if (rv != CKR_OK)
		goto out;
	rv = driver_match(&t->card);
	if (rv == CKR_OK && t->card.driver->bind != NULL)
		rv = t->card.driver->bind(&t->card);
	if (rv == CKR_OK)
		t->bound = true;
	else if (t->card.driver != NULL && t->card.driver->unbind != NULL &&
	         t->card.driver_data != NULL)
		t->card.driver->unbind(&t->card);
	card_end(&t->card);
out:
	t->probe_rv = rv;
	return rv;
}

int
tokens_scan(struct ctx *c)
{
	struct pcsc_reader *readers = NULL;
	size_t n = 0, i;
	CK_RV rv;
	int code = KX_OK;

	rv = pcsc_open(&c->pcsc);
	if (rv != CKR_OK) {
		code = fail(c, KX_CARD, "no_pcsc",
		            _("Cannot talk to the smart card service (pcscd)."));
		goto out;
	}
	rv = pcsc_list(c->pcsc, &readers, &n);
	if (rv != CKR_OK) {
		code = fail(c, KX_CARD, "no_pcsc",
		            _("Cannot list the smart card readers (pcscd)."));
		goto out;
	}
	if (n > 0) {
		c->toks = calloc(n, sizeof(*c->toks));
		if (c->toks == NULL) {
			code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
			goto out;
		}
	}
	c->ntoks = n;
	for (i = 0; i < n; i++) {
		struct tok *t = &c->toks[i];

		snprintf(t->reader, sizeof(t->reader), "%s", readers[i].name);
		t->present = readers[i].card_present;
		memcpy(t->atr, readers[i].atr, readers[i].atr_len);
		t->atr_len = readers[i].atr_len;
		t->probe_rv = CKR_TOKEN_NOT_PRESENT;
		if (t->present && !readers[i].card_mute)
			(void)tok_probe(c, t);
	}
out:
	free(readers);
	return code;
}

void
tokens_free(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->ntoks; i++) {
		struct tok *t = &c->toks[i];

		if (t->bound && t->card.driver->unbind != NULL)
			t->card.driver->unbind(&t->card);
		if (t->connected)
			card_close(&t->card);
	}
	free(c->toks);
	c->toks = NULL;
	c->ntoks = 0;
	c->tok = NULL;
	if (c->pcsc != NULL)
		pcsc_close(c->pcsc);
	c->pcsc = NULL;
}

CK_RV
tok_begin(struct ctx *c)
{
	return card_begin(&c->tok->card);
}

void
tok_end(struct ctx *c)
{
	card_end(&c->tok->card);
}

CK_RV
tok_info(struct ctx *c, struct tok *t)
{
	CK_RV rv = CKR_OK;

	(void)c;
	if (t->have_info)
		goto out;
	rv = CKR_TOKEN_NOT_RECOGNIZED;
	if (!t->bound || t->card.driver->token_info == NULL)
		goto out;
	rv = card_begin(&t->card);
	if (rv != CKR_OK)
		goto out;
	rv = t->card.driver->token_info(&t->card, &t->info);
	card_end(&t->card);
	t->have_info = rv == CKR_OK;
out:
	return rv;
}

const char *
tok_name(struct tok *t)
{
	static char name[128];

	/* The label alone when it already says the serial (YubiKeys). */
	if (t->have_info && t->info.serial[0] != '\0' &&
	    strstr(t->info.label, t->info.serial) == NULL)
		/* TRANSLATORS: a token in messages: its label and serial. */
		snprintf(name, sizeof(name), _("%s (serial %s)"), t->info.label, t->info.serial);
	else if (t->have_info)
		snprintf(name, sizeof(name), "%s", t->info.label);
	else
		snprintf(name, sizeof(name), "%s", t->reader);
	return name;
}

static bool
tok_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle), i;

	if (n == 0)
		return false;
	for (i = 0; hay[i] != '\0'; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

/* Does `t` answer to --token `spec`? A pkcs11: URI, or else the serial
 * number, the label, or a part of the reader's name. */
static bool
tok_matches(struct tok *t, const char *spec, const struct p11_uri *uri)
{
	if (uri != NULL)
		return t->have_info && uri_matches(uri, &t->info);
	if (t->have_info && (strcmp(t->info.serial, spec) == 0 ||
	                     strcmp(t->info.label, spec) == 0))
		return true;
	return tok_contains(t->reader, spec);
}

int
token_select(struct ctx *c)
{
	struct p11_uri uri, *u = NULL;
	struct tok *found = NULL, *unsupported = NULL;
	size_t i, matches = 0, present = 0;
	const char *spec = c->o.token;
	int code = KX_OK;

	if (spec != NULL && strncasecmp(spec, "pkcs11:", 7) == 0) {
		if (uri_parse(spec, &uri) != 0) {
			code = fail(c, KX_USAGE, "usage",
			            _("--token %s is not a valid pkcs11: URI (RFC 7512): "
			              "write spaces as %%20 and # as %%23."), spec);
			goto out;
		}
		u = &uri;
	}
	for (i = 0; i < c->ntoks; i++) {
		struct tok *t = &c->toks[i];

		if (!t->present)
			continue;
		present++;
		if (!t->bound) {
			if (spec == NULL || tok_contains(t->reader, spec))
				unsupported = t;
			continue;
		}
		(void)tok_info(c, t);
		if (spec != NULL && !tok_matches(t, spec, u))
			continue;
		matches++;
		if (found == NULL)
			found = t;
	}
	if (matches == 1) {
		c->tok = found;
		goto out;
	}
	if (matches > 1) {
		if (spec != NULL)
			code = fail(c, KX_NO_TOKEN, "ambiguous_token",
			            _("Several tokens match --token %s: give its serial "
			              "number or a pkcs11: URI (see kyso list)."), spec);
		else
			code = fail(c, KX_NO_TOKEN, "ambiguous_token",
			            _("Several tokens are present: choose one with --token "
			              "(its serial number, reader name or pkcs11: URI; see "
			              "kyso list)."));
		goto out;
	}
	if (c->ntoks == 0)
		code = fail(c, KX_NO_TOKEN, "no_reader",
		            _("No smart card reader found. Is the reader or token plugged "
		              "in, and is pcscd running?"));
	else if (unsupported != NULL && unsupported->probe_rv != CKR_TOKEN_NOT_RECOGNIZED)
		code = fail(c, KX_CARD, "token_error",
		            _("The card in reader %s does not answer properly. Take it "
		              "out and put it back."), unsupported->reader);
	else if (unsupported != NULL)
		code = fail(c, KX_NO_TOKEN, "unsupported_card",
		            _("The card in reader %s is not a token kyso supports."),
		            unsupported->reader);
	else if (spec != NULL)
		code = fail(c, KX_NO_TOKEN, "no_token",
		            _("No token matches --token %s (see kyso list)."), spec);
	else if (present == 0)
		code = fail(c, KX_NO_TOKEN, "no_token",
		            _("No token found. Insert your token or card."));
	else
		code = fail(c, KX_NO_TOKEN, "no_token", _("No usable token found."));
out:
	return code;
}

int
need_token(struct ctx *c)
{
	int code = tokens_scan(c);

	if (code == KX_OK)
		code = token_select(c);
	if (code == KX_OK && tok_info(c, c->tok) != CKR_OK)
		code = fail_rv(c, CKR_DEVICE_ERROR, _("reading the token's information"));
	return code;
}

void
tok_logout(struct ctx *c)
{
	if (!c->logged_in || c->tok == NULL || c->tok->card.driver->logout == NULL)
		return;
	/* Leave the card as we found it: another program sharing it must
	 * not inherit our PIN verification. */
	if (tok_begin(c) == CKR_OK) {
		(void)c->tok->card.driver->logout(&c->tok->card);
		tok_end(c);
	}
	c->logged_in = false;
}

void
json_token(struct ctx *c, const char *key, struct tok *t)
{
	char uri[512];

	json_obj(&c->json, key);
	json_str(&c->json, "reader", t->reader);
	json_str(&c->json, "driver", t->bound ? t->card.driver->name : NULL);
	if (t->have_info) {
		uri_format(&t->info, uri, sizeof(uri));
		json_str(&c->json, "label", t->info.label);
		json_str(&c->json, "manufacturer", t->info.manufacturer);
		json_str(&c->json, "model", t->info.model);
		json_str(&c->json, "serial", t->info.serial);
		json_str(&c->json, "uri", uri);
	}
	json_end(&c->json);
}
