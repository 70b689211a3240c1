/* A small JSON writer for --json (docs/kyso-json.md): objects and arrays
 * nested up to 31 deep, strings escaped per RFC 8259 section 7, and any
 * byte sequence that is not UTF-8 (a certificate can hold anything) written
 * as U+FFFD. Out of memory is noticed once, at json_finish(). */
#include "tools/kyso.h"

#include <stdio.h>
#include <string.h>

void
json_init(struct json *j)
{
	memset(j, 0, sizeof(*j));
}

void
json_free(struct json *j)
{
	buf_free(&j->b);
	memset(j, 0, sizeof(*j));
}

static void
json_raw(struct json *j, const char *s, size_t n)
{
	(void)buf_append(&j->b, s, n);
}

static void
json_lit(struct json *j, const char *s)
{
	json_raw(j, s, strlen(s));
}

/* The length of the UTF-8 sequence at p (RFC 3629 section 4), 0 when it is
 * not a well-formed one. */
static size_t
json_utf8_len(const unsigned char *p, size_t left)
{
	size_t n, i;
	unsigned long cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	cp = p[0] & (0x7F >> n);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	/* Overlong forms, surrogates, and beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static void
json_string(struct json *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n;
	char esc[8];

	json_lit(j, "\"");
	while (left > 0) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			json_raw(j, esc, 2);
			n = 1;
		} else if (*p < 0x20 || *p == 0x7F) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			json_lit(j, esc);
			n = 1;
		} else {
			n = json_utf8_len(p, left);
			if (n == 0) {
				json_lit(j, "\\ufffd");
				n = 1;
			} else {
				json_raw(j, (const char *)p, n);
			}
		}
		p += n;
		left -= n;
	}
	json_lit(j, "\"");
}

/* The comma before a member, and its key. */
static void
json_member(struct json *j, const char *key)
{
	if (j->depth > 0 && j->need_comma[j->depth])
		json_lit(j, ",");
	if (j->depth > 0)
		j->need_comma[j->depth] = true;
	if (key != NULL) {
		json_string(j, key);
		json_lit(j, ":");
	}
}

void
json_str(struct json *j, const char *key, const char *value)
{
	json_member(j, key);
	if (value == NULL)
		json_lit(j, "null");
	else
		json_string(j, value);
}

void
json_int(struct json *j, const char *key, long long value)
{
	char n[32];

	json_member(j, key);
	snprintf(n, sizeof(n), "%lld", value);
	json_lit(j, n);
}

void
json_bool(struct json *j, const char *key, bool value)
{
	json_member(j, key);
	json_lit(j, value ? "true" : "false");
}

void
json_null(struct json *j, const char *key)
{
	json_member(j, key);
	json_lit(j, "null");
}

static void
json_open(struct json *j, const char *key, const char *open, char close)
{
	json_member(j, key);
	json_lit(j, open);
	if (j->depth + 1 < (int)(sizeof(j->closer) / sizeof(j->closer[0]))) {
		j->depth++;
		j->need_comma[j->depth] = false;
		j->closer[j->depth] = close;
	}
}

void
json_obj(struct json *j, const char *key)
{
	json_open(j, key, "{", '}');
}

void
json_arr(struct json *j, const char *key)
{
	json_open(j, key, "[", ']');
}

void
json_end(struct json *j)
{
	char c[2];

	if (j->depth <= 0)
		return;
	c[0] = j->closer[j->depth];
	c[1] = '\0';
	json_lit(j, c);
	j->depth--;
}

const char *
json_finish(struct json *j)
{
	while (j->depth > 0)
		json_end(j);
	if (buf_append_byte(&j->b, 0) != 0)
		return NULL;
	j->b.len--;
	return (const char *)j->b.data;
}

void
json_splice(struct json *j, const char *key, const char *raw)
{
	json_member(j, key);
	json_lit(j, raw);
}

int
json_depth(const struct json *j)
{
	return j->depth;
}
