/* What the tool prints: text on stdout for people, warnings and errors on
 * stderr, or one JSON document on stdout with --json (docs/kyso-json.md).
 * Every message is translated; PINs and keys never reach this file. */
#include "tools/kyso.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>

static char *
out_vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	return s;
}

void
out(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->o.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

int
text_width(const char *s)
{
	size_t n = mbstowcs(NULL, s, 0);
	wchar_t *w;
	int width = (int)strlen(s);

	if (n == (size_t)-1)
		return width;
	w = calloc(n + 1, sizeof(*w));
	if (w == NULL)
		return width;
	if (mbstowcs(w, s, n + 1) != (size_t)-1) {
		width = wcswidth(w, n);
		if (width < 0)
			width = (int)n;
	}
	free(w);
	return width;
}

void
out_field(struct ctx *c, int indent, int width, const char *label, const char *fmt, ...)
{
	va_list ap;
	int pad;

	if (c->o.json)
		return;
	pad = width - text_width(label) - 1;
	printf("%*s%s:%*s ", indent, "", label, pad > 0 ? pad : 0, "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void
warn(struct ctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = out_vformat(fmt, ap);
	va_end(ap);
	if (msg == NULL)
		return;
	/* TRANSLATORS: the prefix of warnings on the terminal. */
	fprintf(stderr, _("kyso: warning: %s\n"), msg);
	json_obj(&c->warnings, NULL);
	json_str(&c->warnings, "code", code);
	json_str(&c->warnings, "message", msg);
	json_end(&c->warnings);
	c->nwarnings++;
	free(msg);
}

void
note(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->o.json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

int
fail(struct ctx *c, int exit_code, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (c->exit_code != KX_OK)
		return c->exit_code;
	va_start(ap, fmt);
	c->err_message = out_vformat(fmt, ap);
	va_end(ap);
	snprintf(c->err_code, sizeof(c->err_code), "%s", code);
	c->exit_code = exit_code;
	return exit_code;
}

int
fail_rv(struct ctx *c, CK_RV rv, const char *what)
{
	int code = KX_OK;

	switch (rv) {
	case CKR_OK:
		break;
	case CKR_PIN_INCORRECT:
		code = fail(c, KX_WRONG_PIN, "wrong_pin", _("Wrong PIN while %s."), what);
		break;
	case CKR_PIN_LOCKED:
		code = fail(c, KX_BLOCKED, "pin_blocked", _("The PIN is blocked (%s)."), what);
		break;
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
		code = fail(c, KX_PIN_POLICY, "pin_policy",
		            _("The token does not accept this PIN (its length or its "
		              "characters) while %s."), what);
		break;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_RECOGNIZED:
		code = fail(c, KX_CARD, "token_removed",
		            _("The token was removed, or stopped answering, while %s. "
		              "Put it back and try again."), what);
		break;
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_MECHANISM_INVALID:
	case CKR_KEY_SIZE_RANGE:
	case CKR_CURVE_NOT_SUPPORTED:
	case CKR_KEY_TYPE_INCONSISTENT:
		code = fail(c, KX_UNSUPPORTED, "unsupported",
		            _("This token does not support %s."), what);
		break;
	case CKR_FUNCTION_FAILED:
		code = fail(c, KX_REFUSED, "refused",
		            _("The token refused %s. If it needs its management key, give "
		              "it with --mgmt-key-source."), what);
		break;
	case CKR_USER_NOT_LOGGED_IN:
		code = fail(c, KX_REFUSED, "refused",
		            _("The token refused %s: the PIN was not accepted for this key."),
		            what);
		break;
	case CKR_ACTION_PROHIBITED:
		code = fail(c, KX_REFUSED, "refused", _("The token does not allow %s."), what);
		break;
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_TEMPLATE_INCOMPLETE:
	case CKR_TEMPLATE_INCONSISTENT:
	case CKR_DATA_INVALID:
	case CKR_DATA_LEN_RANGE:
		code = fail(c, KX_REFUSED, "refused",
		            _("The token refused the data for %s."), what);
		break;
	case CKR_KEY_HANDLE_INVALID:
		code = fail(c, KX_NOT_FOUND, "no_key",
		            _("The token has no usable key for %s."), what);
		break;
	case CKR_HOST_MEMORY:
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory while %s."), what);
		break;
	default:
		code = fail(c, KX_INTERNAL, "internal",
		            _("Unexpected error 0x%08lx while %s."), (unsigned long)rv, what);
		break;
	}
	return code;
}

int
out_finish(struct ctx *c, int code)
{
	const char *doc, *warnings;

	if (code != KX_OK && c->exit_code == KX_OK)
		fail(c, code, "internal", _("The command failed."));
	if (code == KX_OK)
		code = c->exit_code;
	if (!c->o.json) {
		if (code != KX_OK && c->err_message != NULL)
			/* TRANSLATORS: the prefix of errors on the terminal. */
			fprintf(stderr, _("kyso: %s\n"), c->err_message);
		goto out;
	}
	while (json_depth(&c->json) > 1)
		json_end(&c->json);
	json_bool(&c->json, "ok", code == KX_OK);
	json_int(&c->json, "exit_code", code);
	if (code != KX_OK) {
		json_obj(&c->json, "error");
		json_str(&c->json, "code", c->err_code);
		json_str(&c->json, "message", c->err_message != NULL ? c->err_message : "");
		json_end(&c->json);
	}
	warnings = json_finish(&c->warnings);
	json_splice(&c->json, "warnings", warnings != NULL ? warnings : "[]");
	doc = json_finish(&c->json);
	if (doc == NULL) {
		fprintf(stderr, "kyso: out of memory\n");
		code = KX_INTERNAL;
		goto out;
	}
	printf("%s\n", doc);
out:
	fflush(stdout);
	return code;
}

void
time_text(const ASN1_TIME *t, char *day, size_t day_len, char *iso, size_t iso_len)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		if (day_len > 0)
			snprintf(day, day_len, "?");
		if (iso_len > 0)
			snprintf(iso, iso_len, "?");
		return;
	}
	if (day_len > 0)
		strftime(day, day_len, "%Y-%m-%d", &tm);
	if (iso_len > 0)
		strftime(iso, iso_len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *
bio_text(BIO *bio)
{
	char *data = NULL, *s = NULL;
	long len = BIO_get_mem_data(bio, &data);

	if (len < 0)
		goto out;
	s = malloc((size_t)len + 1);
	if (s == NULL)
		goto out;
	memcpy(s, data, (size_t)len);
	s[len] = '\0';
out:
	return s;
}

char *
name_text(const X509_NAME *n)
{
	/* RFC 2253 order (most specific first), ", " between parts, and
	 * UTF-8 kept as is rather than escaped: Vietnamese names read as
	 * typed. */
	unsigned long flags = (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB &
	                       ~XN_FLAG_SEP_MASK) | XN_FLAG_SEP_CPLUS_SPC;
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (bio != NULL && X509_NAME_print_ex(bio, n, 0, flags) >= 0)
		s = bio_text(bio);
	BIO_free(bio);
	return s;
}

void
hex_text(const uint8_t *p, size_t len, char *out_buf, size_t out_len, bool spaces)
{
	size_t i, o = 0;

	if (out_len == 0)
		return;
	out_buf[0] = '\0';
	for (i = 0; i < len; i++) {
		size_t need = spaces && i > 0 ? 3 : 2;
		if (o + need + 1 > out_len)
			break;
		if (spaces)
			o += (size_t)snprintf(out_buf + o, out_len - o, "%s%02X",
			                      i > 0 ? " " : "", p[i]);
		else
			o += (size_t)snprintf(out_buf + o, out_len - o, "%02x", p[i]);
	}
}
