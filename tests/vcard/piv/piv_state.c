/* The --state file of the virtual PIV card: the whole card, so that it
 * survives restarts. A text file, one record a line, fields separated by
 * one space, binary values in lowercase hex:
 *
 *   kyso-vcard-piv 1
 *   serial <decimal>
 *   pin <16 hex: PIN padded with FF> <max tries> <tries left>
 *   puk <16 hex> <max tries> <tries left>
 *   mgmt <alg hex> <touch policy hex> <key hex>
 *   key <slot> <alg> <PIN policy> <touch policy> <origin> <DER private key>
 *   object <tag hex> <hex of the whole object TLV>
 *
 * Lines starting with '#' are comments. The file holds the PIN and every
 * private key in clear: it is a test card. It is written whole to a
 * temporary file that is then renamed over the old one, so a crash never
 * leaves half a card. */
#include "piv_card.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#define STATE_MAGIC	"kyso-vcard-piv 1"
#define STATE_MAX	(16u * 1024u * 1024u)
#define FIELDS_MAX	8

char *
piv_hex_encode(const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * len + 1);

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[data[i] >> 4];
		s[2 * i + 1] = digits[data[i] & 0x0F];
	}
	s[2 * len] = '\0';
	return s;
}

static int
piv_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
piv_hex_decode(const char *hex, struct buf *out)
{
	size_t n = strlen(hex);

	buf_clear(out);
	if (n % 2 != 0 || buf_reserve(out, n / 2) != 0)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = piv_hex_digit(hex[i]), lo = piv_hex_digit(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out->data[out->len++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Append "fmt" to the text being built. */
static int __attribute__((format(printf, 2, 3)))
piv_state_printf(struct buf *out, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return -1;
	return buf_append(out, line, (size_t)n);
}

/* Append " <hex>". */
static int
piv_state_hex_field(struct buf *out, const uint8_t *data, size_t len)
{
	char *hex = piv_hex_encode(data, len);
	int rc = -1;

	if (hex != NULL && buf_append_byte(out, ' ') == 0 &&
	    buf_append(out, hex, 2 * len) == 0)
		rc = 0;
	if (hex != NULL) {
		OPENSSL_cleanse(hex, 2 * len);
		free(hex);
	}
	return rc;
}

static int
piv_state_format(const struct piv_card *card, struct buf *out)
{
	if (piv_state_printf(out, "%s\nserial %lu\npin", STATE_MAGIC,
	                     (unsigned long)card->serial) != 0 ||
	    piv_state_hex_field(out, card->pin, PIV_PIN_LEN) != 0 ||
	    piv_state_printf(out, " %u %u\npuk", card->pin_max,
	                     card->pin_left) != 0 ||
	    piv_state_hex_field(out, card->puk, PIV_PIN_LEN) != 0 ||
	    piv_state_printf(out, " %u %u\nmgmt %02x %02x", card->puk_max,
	                     card->puk_left, card->mgmt_alg,
	                     card->mgmt_touch) != 0 ||
	    piv_state_hex_field(out, card->mgmt_key, card->mgmt_len) != 0 ||
	    buf_append_byte(out, '\n') != 0)
		return -1;
	for (size_t i = 0; i < PIV_KEY_SLOTS; i++) {
		const struct piv_key *k = &card->keys[i];
		unsigned char *der = NULL;
		int der_len, rc;

		if (k->alg == 0)
			continue;
		der_len = i2d_PrivateKey(k->pkey, &der);
		if (der_len <= 0)
			return -1;
		rc = piv_state_printf(out, "key %02x %02x %02x %02x %02x",
		                      k->slot, k->alg, k->pin_policy,
		                      k->touch_policy, k->origin);
		if (rc == 0)
			rc = piv_state_hex_field(out, der, (size_t)der_len);
		if (rc == 0)
			rc = buf_append_byte(out, '\n');
		OPENSSL_clear_free(der, (size_t)der_len);
		if (rc != 0)
			return -1;
	}
	for (size_t i = 0; i < card->n_objects; i++) {
		const struct piv_object *o = &card->objects[i];
		if (piv_state_printf(out, "object %06lx",
		                     (unsigned long)o->tag) != 0 ||
		    piv_state_hex_field(out, o->value.data, o->value.len) != 0 ||
		    buf_append_byte(out, '\n') != 0)
			return -1;
	}
	return 0;
}

int
piv_state_save(const struct piv_card *card, const char *path)
{
	struct buf text = BUF_INIT;
	int rc = -1;

	if (piv_state_format(card, &text) == 0)
		rc = vcard_state_write(path, &text);
	buf_free(&text);
	return rc;
}

/* Split a line in place at single spaces. */
static size_t
piv_state_fields(char *line, char **field)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		if (n == FIELDS_MAX)
			return FIELDS_MAX + 1;
		field[n++] = t;
	}
	return n;
}

static int
piv_state_number(const char *s, int base, unsigned long max,
                 unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
piv_state_secret(char **f, uint8_t *value, uint8_t *max, uint8_t *left)
{
	struct buf v = BUF_INIT;
	unsigned long m, l;
	int rc = -1;

	if (piv_hex_decode(f[1], &v) != 0 || v.len != PIV_PIN_LEN ||
	    piv_state_number(f[2], 10, 255, &m) != 0 ||
	    piv_state_number(f[3], 10, 255, &l) != 0 || m == 0 || l > m)
		goto out;
	memcpy(value, v.data, PIV_PIN_LEN);
	*max = (uint8_t)m;
	*left = (uint8_t)l;
	rc = 0;
out:
	buf_free(&v);
	return rc;
}

static int
piv_state_key(struct piv_card *card, char **f)
{
	unsigned long slot, alg, pin, touch, origin;
	struct buf der = BUF_INIT;
	const unsigned char *p;
	struct piv_key *key;
	EVP_PKEY *pkey = NULL;
	int rc = -1;

	if (piv_state_number(f[1], 16, 0xFF, &slot) != 0 ||
	    piv_state_number(f[2], 16, 0xFF, &alg) != 0 ||
	    piv_state_number(f[3], 16, PIV_PIN_ALWAYS, &pin) != 0 ||
	    piv_state_number(f[4], 16, PIV_TOUCH_CACHED, &touch) != 0 ||
	    piv_state_number(f[5], 16, PIV_ORIGIN_IMPORTED, &origin) != 0 ||
	    pin == PIV_PIN_DEFAULT || touch == PIV_TOUCH_DEFAULT || origin == 0 ||
	    piv_hex_decode(f[6], &der) != 0)
		goto out;
	key = piv_key_slot(card, (uint8_t)slot);
	p = der.data;
	if (key == NULL || key->alg != 0 ||
	    (pkey = d2i_AutoPrivateKey(NULL, &p, (long)der.len)) == NULL ||
	    piv_alg_of_pkey(pkey) != alg)
		goto out;
	piv_key_install(key, (uint8_t)alg, pkey, (uint8_t)pin, (uint8_t)touch,
	                (uint8_t)origin);
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	buf_free(&der);
	return rc;
}

static int
piv_state_object(struct piv_card *card, char **f)
{
	unsigned long tag;
	struct buf v = BUF_INIT;
	int rc = -1;

	if (piv_state_number(f[1], 16, 0xFFFFFF, &tag) != 0 ||
	    piv_object_find(card, (uint32_t)tag) != NULL ||
	    piv_hex_decode(f[2], &v) != 0 || v.len == 0 ||
	    piv_object_set(card, (uint32_t)tag, v.data, v.len) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&v);
	return rc;
}

static int
piv_state_line(struct piv_card *card, char *line, unsigned *seen)
{
	char *f[FIELDS_MAX];
	size_t n = piv_state_fields(line, f);
	unsigned long v, touch;
	struct buf key = BUF_INIT;
	int rc = -1;

	if (n == 0)
		return 0;
	if (strcmp(f[0], "serial") == 0 && n == 2) {
		if (piv_state_number(f[1], 10, 0xFFFFFFFFul, &v) != 0)
			goto out;
		card->serial = (uint32_t)v;
		*seen |= 1;
	} else if (strcmp(f[0], "pin") == 0 && n == 4) {
		if (piv_state_secret(f, card->pin, &card->pin_max,
		                     &card->pin_left) != 0)
			goto out;
		*seen |= 2;
	} else if (strcmp(f[0], "puk") == 0 && n == 4) {
		if (piv_state_secret(f, card->puk, &card->puk_max,
		                     &card->puk_left) != 0)
			goto out;
		*seen |= 4;
	} else if (strcmp(f[0], "mgmt") == 0 && n == 4) {
		if (piv_state_number(f[1], 16, 0xFF, &v) != 0 ||
		    piv_state_number(f[2], 16, PIV_TOUCH_CACHED, &touch) != 0 ||
		    piv_hex_decode(f[3], &key) != 0 ||
		    piv_mgmt_key_len((uint8_t)v) == 0 ||
		    key.len != piv_mgmt_key_len((uint8_t)v))
			goto out;
		card->mgmt_alg = (uint8_t)v;
		card->mgmt_touch = (uint8_t)touch;
		memcpy(card->mgmt_key, key.data, key.len);
		card->mgmt_len = key.len;
		*seen |= 8;
	} else if (strcmp(f[0], "key") == 0 && n == 7) {
		if (piv_state_key(card, f) != 0)
			goto out;
	} else if (strcmp(f[0], "object") == 0 && n == 3) {
		if (piv_state_object(card, f) != 0)
			goto out;
	} else {
		goto out;
	}
	rc = 0;
out:
	buf_free(&key);
	return rc;
}

int
piv_state_load(struct piv_card *card, const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf text = BUF_INIT;
	char chunk[4096];
	size_t n, lineno = 0;
	unsigned seen = 0;
	char *line, *save = NULL;
	int rc = -1;

	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "kyso-vcard piv: cannot read %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (text.len + n > STATE_MAX || buf_append(&text, chunk, n) != 0)
			goto bad;
	}
	if (ferror(f) || buf_append_byte(&text, '\0') != 0)
		goto bad;
	for (line = strtok_r((char *)text.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (line[0] == '#')
			continue;
		/* The first record says what the file is. */
		if (seen == 0) {
			if (strcmp(line, STATE_MAGIC) != 0)
				goto bad;
			seen = 0x10;
			continue;
		}
		if (piv_state_line(card, line, &seen) != 0)
			goto bad;
	}
	if (seen != 0x1F)
		goto bad;
	rc = 1;
	goto out;
bad:
	fprintf(stderr, "kyso-vcard piv: %s is not a PIV card state file "
	        "(line %zu)\n", path, lineno);
	piv_card_clear(card);
out:
	fclose(f);
	buf_free(&text);
	return rc;
}
