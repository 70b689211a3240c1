/* `--token pkcs11:token=...;serial=...`: the token attributes of an
 * RFC 7512 PKCS#11 URI. The other path attributes (object, id, type,
 * slot-*, library-*) and the query are accepted and ignored: they name
 * objects or modules, not tokens. The parse is strict where a mistake would
 * choose the wrong token: bad percent-encoding, an attribute twice, or a
 * value longer than the CK_TOKEN_INFO field is an error. */
#include "tools/kyso.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int
uri_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode [p, end) into out (size len, NUL-terminated). RFC 7512
 * 2.3: pk11-pchar is unreserved, a few sub-delims, ":" "[" "]" "@" "&", or
 * pct-encoded. */
static int
uri_decode(const char *p, const char *end, char *out_s, size_t len)
{
	size_t o = 0;
	int hi, lo, rc = -1;

	for (; p < end; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '%') {
			if (end - p < 3 || (hi = uri_hex(p[1])) < 0 || (lo = uri_hex(p[2])) < 0)
				goto out;
			ch = (unsigned char)(hi << 4 | lo);
			p += 2;
		} else if (!(isalnum(ch) || strchr("-._~!$'()*+,=:[]@&", ch) != NULL)) {
			goto out;
		}
		if (ch == '\0' || o + 1 >= len)
			goto out;
		out_s[o++] = (char)ch;
	}
	out_s[o] = '\0';
	rc = 0;
out:
	return rc;
}

int
uri_parse(const char *s, struct p11_uri *u)
{
	const char *p, *end, *eq, *next;
	char *field;
	bool *has;
	size_t field_len, name_len;
	int rc = -1;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "pkcs11:", 7) != 0)
		goto out;
	p = s + 7;
	end = p + strcspn(p, "?#");
	while (p < end) {
		next = memchr(p, ';', (size_t)(end - p));
		if (next == NULL)
			next = end;
		eq = memchr(p, '=', (size_t)(next - p));
		if (eq == NULL || eq == p)
			goto out;
		name_len = (size_t)(eq - p);
		field = NULL;
		has = NULL;
		field_len = 0;
#define URI_ATTR(n, f)                                                         \
	if (name_len == sizeof(n) - 1 && strncmp(p, n, name_len) == 0) {       \
		field = u->f;                                                  \
		field_len = sizeof(u->f);                                      \
		has = &u->has_##f;                                             \
	}
		URI_ATTR("token", token)
		URI_ATTR("serial", serial)
		URI_ATTR("manufacturer", manufacturer)
		URI_ATTR("model", model)
#undef URI_ATTR
		if (field != NULL) {
			if (*has || uri_decode(eq + 1, next, field, field_len) != 0)
				goto out;
			*has = true;
		} else {
			/* Another attribute: its value must still be well formed. */
			char scratch[256];
			if (next - eq - 1 >= (long)sizeof(scratch) ||
			    uri_decode(eq + 1, next, scratch, sizeof(scratch)) != 0)
				goto out;
		}
		p = next < end ? next + 1 : end;
	}
	rc = 0;
out:
	return rc;
}

bool
uri_matches(const struct p11_uri *u, const struct drv_token_info *info)
{
	if (u->has_token && strcmp(u->token, info->label) != 0)
		return false;
	if (u->has_serial && strcmp(u->serial, info->serial) != 0)
		return false;
	if (u->has_manufacturer && strcmp(u->manufacturer, info->manufacturer) != 0)
		return false;
	if (u->has_model && strcmp(u->model, info->model) != 0)
		return false;
	return true;
}

static void
uri_put(struct buf *b, const char *name, const char *value, bool first)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (!first)
		(void)buf_append_byte(b, ';');
	(void)buf_append(b, name, strlen(name));
	(void)buf_append_byte(b, '=');
	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if (isalnum(*p) || strchr("-._~", *p) != NULL) {
			(void)buf_append_byte(b, *p);
		} else {
			(void)buf_append_byte(b, '%');
			(void)buf_append_byte(b, (uint8_t)hex[*p >> 4]);
			(void)buf_append_byte(b, (uint8_t)hex[*p & 0x0F]);
		}
	}
}

void
uri_format(const struct drv_token_info *info, char *out_s, size_t len)
{
	struct buf b = BUF_INIT;

	(void)buf_append(&b, "pkcs11:", 7);
	uri_put(&b, "model", info->model, true);
	uri_put(&b, "manufacturer", info->manufacturer, false);
	uri_put(&b, "serial", info->serial, false);
	uri_put(&b, "token", info->label, false);
	snprintf(out_s, len, "%.*s", (int)b.len, b.data != NULL ? (const char *)b.data : "");
	buf_free(&b);
}
