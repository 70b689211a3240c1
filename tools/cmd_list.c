/* kyso list, kyso pin status, kyso diag: looking, never changing. None of
 * them uses a PIN try: the counters come from the driver's pin_status,
 * which asks the card without a PIN. */
#include "tools/kyso.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>

#include "common/config.h"

/* Certificates expiring within this many days are pointed out. */
#define EXPIRY_WARN_DAYS 30
#define LABEL_WIDTH 14

static void
json_pin_counter(struct ctx *c, const char *key, int left, int max, int dflt,
                 const struct drv_token_info *info)
{
	json_obj(&c->json, key);
	if (left >= 0)
		json_int(&c->json, "tries_left", left);
	else
		json_null(&c->json, "tries_left");
	if (max >= 0)
		json_int(&c->json, "tries_max", max);
	else
		json_null(&c->json, "tries_max");
	json_bool(&c->json, "blocked", left == 0);
	if (dflt >= 0)
		json_bool(&c->json, "default", dflt == 1);
	else
		json_null(&c->json, "default");
	if (info != NULL) {
		json_int(&c->json, "min_length", (long long)info->min_pin_len);
		json_int(&c->json, "max_length", (long long)info->max_pin_len);
	}
	json_end(&c->json);
}

/* "3 tries left (of 3)", "blocked", "unknown", plus ", factory default". */
static void
text_pin_counter(struct ctx *c, const char *label, int left, int max, int dflt)
{
	char tries[128];

	if (left == 0)
		snprintf(tries, sizeof(tries), "%s", _("blocked"));
	else if (left > 0 && max > 0)
		snprintf(tries, sizeof(tries), P_("%d try left (of %d)", "%d tries left (of %d)", left),
		         left, max);
	else if (left > 0)
		snprintf(tries, sizeof(tries), P_("%d try left", "%d tries left", left), left);
	else
		snprintf(tries, sizeof(tries), "%s", _("tries left unknown"));
	out_field(c, 2, LABEL_WIDTH, label, "%s%s", tries,
	          dflt == 1 ? _(", still the factory default") : "");
}

/* Days from now to `t` (negative: in the past). */
static int
days_until(const ASN1_TIME *t)
{
	int days = 0, secs = 0;

	if (ASN1_TIME_diff(&days, &secs, NULL, t) != 1)
		return 0;
	return days;
}

static const char *
cert_status(X509 *x, int *days_left)
{
	*days_left = days_until(X509_get0_notAfter(x));
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		return "expired";
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		return "not_yet_valid";
	if (*days_left < EXPIRY_WARN_DAYS)
		return "expiring";
	return "valid";
}

static void
show_cert(struct ctx *c, struct entry *e)
{
	X509 *x = e->x509;
	char *subject = name_text(X509_get_subject_name(x));
	char *issuer = name_text(X509_get_issuer_name(x));
	char from[32], to[32], from_iso[32], to_iso[32], serial[130], fp_hex[65];
	uint8_t fp[32];
	unsigned fp_len = 0;
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	int days;
	const char *status = cert_status(x, &days);

	time_text(X509_get0_notBefore(x), from, sizeof(from), from_iso, sizeof(from_iso));
	time_text(X509_get0_notAfter(x), to, sizeof(to), to_iso, sizeof(to_iso));
	hex_text(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial,
	         sizeof(serial), false);
	if (X509_digest(x, EVP_sha256(), fp, &fp_len) != 1)
		fp_len = 0;
	hex_text(fp, fp_len, fp_hex, sizeof(fp_hex), false);

	json_obj(&c->json, "certificate");
	json_str(&c->json, "subject", subject);
	json_str(&c->json, "issuer", issuer);
	json_str(&c->json, "serial", serial);
	json_str(&c->json, "not_before", from_iso);
	json_str(&c->json, "not_after", to_iso);
	json_int(&c->json, "days_left", days);
	json_str(&c->json, "status", status);
	json_str(&c->json, "sha256", fp_hex);
	json_end(&c->json);

	out_field(c, 8, LABEL_WIDTH - 4, _("Subject"), "%s", subject ? subject : "?");
	out_field(c, 8, LABEL_WIDTH - 4, _("Issuer"), "%s", issuer ? issuer : "?");
	if (strcmp(status, "expired") == 0) {
		out_field(c, 8, LABEL_WIDTH - 4, _("Valid"), _("%s to %s: EXPIRED"), from, to);
		warn(c, "cert_expired", _("The certificate in slot %s (%s) expired on %s: ask "
		                          "your CA for a new one."), entry_name(e),
		     subject ? subject : "?", to);
	} else if (strcmp(status, "not_yet_valid") == 0) {
		out_field(c, 8, LABEL_WIDTH - 4, _("Valid"), _("%s to %s: not valid yet"), from, to);
	} else {
		out_field(c, 8, LABEL_WIDTH - 4, _("Valid"),
		          P_("%s to %s (%d day left)", "%s to %s (%d days left)", days), from, to,
		          days);
		if (strcmp(status, "expiring") == 0)
			warn(c, "cert_expiring",
			     P_("The certificate in slot %s (%s) expires in %d day, on %s: ask "
			        "your CA to renew it, then write it with kyso cert import.",
			        "The certificate in slot %s (%s) expires in %d days, on %s: ask "
			        "your CA to renew it, then write it with kyso cert import.", days),
			     entry_name(e), subject ? subject : "?", days, to);
	}
	free(subject);
	free(issuer);
}

static void
json_key(struct ctx *c, EVP_PKEY *k)
{
	char group[64];

	if (k == NULL) {
		json_null(&c->json, "key");
		return;
	}
	json_obj(&c->json, "key");
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		json_str(&c->json, "type", "rsa");
		json_int(&c->json, "bits", EVP_PKEY_get_bits(k));
		json_null(&c->json, "curve");
	} else {
		json_str(&c->json, "type", EVP_PKEY_get_base_id(k) == EVP_PKEY_EC ? "ec" : "other");
		json_int(&c->json, "bits", EVP_PKEY_get_bits(k));
		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
		                                   sizeof(group), NULL) == 1 &&
		    EC_curve_nid2nist(OBJ_txt2nid(group)) != NULL)
			json_str(&c->json, "curve", EC_curve_nid2nist(OBJ_txt2nid(group)));
		else
			json_null(&c->json, "curve");
	}
	json_end(&c->json);
}

/* The keys and certificates of the chosen token. */
static int
show_keys(struct ctx *c)
{
	struct inventory inv;
	char desc[64];
	size_t i;
	int code;

	code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	json_arr(&c->json, "keys");
	out(c, "  %s\n", _("Keys and certificates:"));
	if (inv.n == 0)
		out(c, "    %s\n", _("none"));
	for (i = 0; i < inv.n; i++) {
		struct entry *e = &inv.e[i];
		const char *purpose = slot_purpose(e->slot);

		json_obj(&c->json, NULL);
		json_str(&c->json, "slot", entry_name(e));
		json_str(&c->json, "id", e->id_hex);
		json_str(&c->json, "purpose", e->slot != NULL ? e->slot->purpose : NULL);
		json_bool(&c->json, "private_key", e->priv != NULL);
		json_key(c, e->pubkey);
		key_desc(e->pubkey, desc, sizeof(desc));
		if (e->pubkey != NULL)
			out(c, "    %-4s %s%s%s\n", entry_name(e), purpose, purpose[0] ? ": " : "", desc);
		else
			out(c, "    %-4s %s%s%s\n", entry_name(e), purpose, purpose[0] ? ": " : "",
			    _("certificate only"));
		if (e->x509 != NULL)
			show_cert(c, e);
		else {
			json_null(&c->json, "certificate");
			if (e->priv != NULL)
				out(c, "         %s\n", _("no certificate"));
		}
		json_end(&c->json);
	}
	json_end(&c->json);
out:
	inventory_free(&inv);
	return code;
}

/* One token: its identity, PIN counters, keys. */
static int
show_token(struct ctx *c, struct tok *t)
{
	struct drv_pin_status st;
	char uri[512];
	int pin_dflt, puk_dflt, code;
	CK_RV rv;

	c->tok = t;
	rv = tok_info(c, t);
	if (rv == CKR_OK)
		rv = pin_status_of(c, &st);
	if (rv != CKR_OK && rv != CKR_FUNCTION_NOT_SUPPORTED) {
		code = fail_rv(c, rv, _("reading the token's information"));
		goto out;
	}
	uri_format(&t->info, uri, sizeof(uri));
	pin_dflt = pin_default_state(c, DRV_USER);
	puk_dflt = pin_default_state(c, DRV_SO);

	json_token(c, "token", t);
	json_pin_counter(c, "pin", st.user_tries_left, st.user_tries_max, pin_dflt, &t->info);
	json_pin_counter(c, "puk", st.so_tries_left, st.so_tries_max, puk_dflt, NULL);
	out_field(c, 2, LABEL_WIDTH, _("Token"), "%s", t->info.label);
	out_field(c, 2, LABEL_WIDTH, _("Type"), _("%s %s (driver %s)"), t->info.manufacturer,
	          t->info.model, t->card.driver->name);
	out_field(c, 2, LABEL_WIDTH, _("Serial"), "%s", t->info.serial);
	text_pin_counter(c, _("PIN"), st.user_tries_left, st.user_tries_max, pin_dflt);
	text_pin_counter(c, _("PUK"), st.so_tries_left, st.so_tries_max, puk_dflt);
	out_field(c, 2, LABEL_WIDTH, _("URI"), "%s", uri);
	if (pin_dflt == 1)
		warn(c, "default_pin", _("The PIN of %s is still the factory default: change it "
		                         "with kyso pin change."), tok_name(t));
	if (st.user_tries_left == 0)
		warn(c, "pin_blocked", _("The PIN of %s is blocked: unblock it with kyso pin "
		                         "unblock."), tok_name(t));
	code = show_keys(c);
out:
	return code;
}

int
cmd_list(struct ctx *c)
{
	char atr[3 * CARD_ATR_MAX + 1];
	size_t i;
	int code;

	code = tokens_scan(c);
	if (code == KX_OK && c->o.token != NULL)
		code = token_select(c);
	if (code != KX_OK)
		goto out;
	if (c->ntoks == 0)
		out(c, "%s\n", _("No smart card reader found."));
	json_arr(&c->json, "readers");
	for (i = 0; i < c->ntoks && code == KX_OK; i++) {
		struct tok *t = &c->toks[i];

		if (c->o.token != NULL && t != c->tok)
			continue;
		hex_text(t->atr, t->atr_len, atr, sizeof(atr), true);
		json_obj(&c->json, NULL);
		json_str(&c->json, "name", t->reader);
		json_bool(&c->json, "card_present", t->present);
		json_str(&c->json, "atr", t->present ? atr : NULL);
		json_bool(&c->json, "supported", t->bound);
		out(c, _("Reader: %s\n"), t->reader);
		if (!t->present) {
			out(c, "  %s\n", _("no card"));
		} else if (!t->bound) {
			if (t->probe_rv == CKR_TOKEN_NOT_RECOGNIZED)
				out(c, _("  a card kyso does not support (ATR %s)\n"), atr);
			else
				out(c, _("  a card that does not answer properly (ATR %s)\n"), atr);
		} else {
			code = show_token(c, t);
		}
		json_end(&c->json);
		if (i + 1 < c->ntoks)
			out(c, "\n");
	}
	json_end(&c->json);
out:
	return code;
}

int
cmd_pin_status(struct ctx *c)
{
	struct drv_pin_status st;
	int code, pin_dflt, puk_dflt;
	CK_RV rv;

	code = need_token(c);
	if (code != KX_OK)
		goto out;
	rv = pin_status_of(c, &st);
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("reading the PIN status"));
		goto out;
	}
	pin_dflt = pin_default_state(c, DRV_USER);
	puk_dflt = pin_default_state(c, DRV_SO);
	json_token(c, "token", c->tok);
	json_pin_counter(c, "pin", st.user_tries_left, st.user_tries_max, pin_dflt,
	                 &c->tok->info);
	json_pin_counter(c, "puk", st.so_tries_left, st.so_tries_max, puk_dflt, NULL);
	out_field(c, 2, LABEL_WIDTH, _("Token"), "%s", tok_name(c->tok));
	text_pin_counter(c, _("PIN"), st.user_tries_left, st.user_tries_max, pin_dflt);
	text_pin_counter(c, _("PUK"), st.so_tries_left, st.so_tries_max, puk_dflt);
	out_field(c, 2, LABEL_WIDTH, _("PIN length"), _("%lu to %lu characters"),
	          (unsigned long)c->tok->info.min_pin_len, (unsigned long)c->tok->info.max_pin_len);
	if (pin_dflt == 1)
		warn(c, "default_pin", _("The PIN is still the factory default: change it with "
		                         "kyso pin change."));
	if (st.user_tries_left == 0)
		warn(c, "pin_blocked", _("The PIN is blocked: unblock it with kyso pin unblock."));
out:
	return code;
}

/* ---- kyso diag ---- */

static void
diag_env(struct ctx *c)
{
	static const char *const shown[] = {
		"KYSO_DEBUG", "KYSO_DEBUG_FILE", "KYSO_CONF", "KYSO_PIV_MGMT_ALG",
		"KYSO_LOCALEDIR", "PCSCLITE_CSOCK_NAME", "LANG", "LC_ALL", "LC_MESSAGES",
		"LANGUAGE",
	};
	/* Secrets: whether they are set, never their value. */
	static const char *const hidden[] = { "KYSO_PIV_MGMT_KEY" };
	size_t i;
	const char *v;

	json_obj(&c->json, "environment");
	out(c, "%s\n", _("Environment:"));
	for (i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		v = getenv(shown[i]);
		if (v == NULL)
			continue;
		json_str(&c->json, shown[i], v);
		out(c, "  %s=%s\n", shown[i], v);
	}
	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (getenv(hidden[i]) == NULL)
			continue;
		json_str(&c->json, hidden[i], "(set)");
		out(c, "  %s=%s\n", hidden[i], _("(set, value not shown)"));
	}
	json_end(&c->json);
	json_obj(&c->json, "configuration");
	out(c, "%s\n", _("Configuration (kyso.conf):"));
	{
		static const char *const keys[] = {
			"debug", "debug_file", "reader_allow", "reader_deny", "piv_management_alg",
		};
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			v = config_get(keys[i]);
			if (v == NULL)
				continue;
			json_str(&c->json, keys[i], v);
			out(c, "  %s = %s\n", keys[i], v);
		}
		if (config_get("piv_management_key") != NULL) {
			json_str(&c->json, "piv_management_key", "(set)");
			out(c, "  piv_management_key = %s\n", _("(set, value not shown)"));
		}
	}
	json_end(&c->json);
}

static void
diag_token(struct ctx *c, struct tok *t)
{
	struct drv_objects objs = { NULL, 0, 0 };
	const struct drv_mechanism *mechs = NULL;
	struct drv_pin_status st;
	size_t nmech = 0, i, certs = 0, pubs = 0, privs = 0, other = 0;
	CK_RV rv;

	c->tok = t;
	json_str(&c->json, "driver", t->card.driver->name);
	out_field(c, 4, LABEL_WIDTH, _("Driver"), "%s", t->card.driver->name);
	rv = tok_info(c, t);
	if (rv == CKR_OK) {
		json_str(&c->json, "manufacturer", t->info.manufacturer);
		json_str(&c->json, "model", t->info.model);
		json_int(&c->json, "flags", (long long)t->info.flags);
		json_int(&c->json, "min_pin_length", (long long)t->info.min_pin_len);
		json_int(&c->json, "max_pin_length", (long long)t->info.max_pin_len);
		out_field(c, 4, LABEL_WIDTH, _("Token"), "%s %s", t->info.manufacturer,
		          t->info.model);
		out_field(c, 4, LABEL_WIDTH, _("Flags"), "0x%lx", (unsigned long)t->info.flags);
		out_field(c, 4, LABEL_WIDTH, _("PIN length"), _("%lu to %lu characters"),
		          (unsigned long)t->info.min_pin_len, (unsigned long)t->info.max_pin_len);
	} else {
		json_int(&c->json, "token_info_error", (long long)rv);
		out_field(c, 4, LABEL_WIDTH, _("Token"), _("error 0x%08lx"), (unsigned long)rv);
	}
	if (pin_status_of(c, &st) == CKR_OK) {
		json_int(&c->json, "pin_tries_left", st.user_tries_left);
		json_int(&c->json, "puk_tries_left", st.so_tries_left);
		out_field(c, 4, LABEL_WIDTH, _("PIN tries"), "%d / %d", st.user_tries_left,
		          st.user_tries_max);
		out_field(c, 4, LABEL_WIDTH, _("PUK tries"), "%d / %d", st.so_tries_left,
		          st.so_tries_max);
	}
	if (t->card.driver->mechanisms != NULL &&
	    t->card.driver->mechanisms(&t->card, &mechs, &nmech) == CKR_OK) {
		json_int(&c->json, "mechanisms", (long long)nmech);
		out_field(c, 4, LABEL_WIDTH, _("Mechanisms"), "%zu", nmech);
	}
	if (t->card.driver->load_objects != NULL && tok_begin(c) == CKR_OK) {
		rv = t->card.driver->load_objects(&t->card, &objs);
		tok_end(c);
		for (i = 0; rv == CKR_OK && i < objs.count; i++) {
			CK_ULONG cls = 0;
			(void)attr_get_ulong(&objs.items[i].attrs, CKA_CLASS, &cls);
			if (cls == CKO_CERTIFICATE)
				certs++;
			else if (cls == CKO_PUBLIC_KEY)
				pubs++;
			else if (cls == CKO_PRIVATE_KEY)
				privs++;
			else
				other++;
		}
		drv_objects_free(&objs);
		json_obj(&c->json, "objects");
		json_int(&c->json, "certificates", (long long)certs);
		json_int(&c->json, "public_keys", (long long)pubs);
		json_int(&c->json, "private_keys", (long long)privs);
		json_int(&c->json, "other", (long long)other);
		json_end(&c->json);
		out_field(c, 4, LABEL_WIDTH, _("Objects"),
		          _("%zu certificates, %zu public keys, %zu private keys, %zu other"),
		          certs, pubs, privs, other);
	}
	json_int(&c->json, "apdus", (long long)t->card.apdu_count);
	out_field(c, 4, LABEL_WIDTH, _("APDUs"), "%lu", t->card.apdu_count);
}

int
cmd_diag(struct ctx *c)
{
	char atr[3 * CARD_ATR_MAX + 1];
	size_t i;
	int code;

	json_str(&c->json, "kyso_version", KYSO_VERSION);
	json_str(&c->json, "openssl_version", OpenSSL_version(OPENSSL_VERSION));
	out(c, "kyso %s\n%s\n", KYSO_VERSION, OpenSSL_version(OPENSSL_VERSION));
	diag_env(c);
	code = tokens_scan(c);
	if (code != KX_OK)
		goto out;
	json_arr(&c->json, "readers");
	out(c, _("Readers: %zu\n"), c->ntoks);
	for (i = 0; i < c->ntoks; i++) {
		struct tok *t = &c->toks[i];

		if (c->o.token != NULL && strstr(t->reader, c->o.token) == NULL)
			continue;
		hex_text(t->atr, t->atr_len, atr, sizeof(atr), true);
		json_obj(&c->json, NULL);
		json_str(&c->json, "name", t->reader);
		json_bool(&c->json, "card_present", t->present);
		out(c, "  [%zu] %s\n", i, t->reader);
		if (!t->present) {
			out_field(c, 4, LABEL_WIDTH, _("Card"), "%s", _("none"));
			json_end(&c->json);
			continue;
		}
		json_str(&c->json, "atr", atr);
		out_field(c, 4, LABEL_WIDTH, _("ATR"), "%s", atr);
		if (t->bound) {
			diag_token(c, t);
		} else {
			json_null(&c->json, "driver");
			json_int(&c->json, "probe_result", (long long)t->probe_rv);
			out_field(c, 4, LABEL_WIDTH, _("Driver"),
			          t->probe_rv == CKR_TOKEN_NOT_RECOGNIZED ?
			          _("none: kyso does not support this card") :
			          _("none: the card did not answer (0x%08lx)"),
			          (unsigned long)t->probe_rv);
		}
		json_end(&c->json);
	}
	json_end(&c->json);
	c->tok = NULL;
out:
	return code;
}
