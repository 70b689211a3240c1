/* The --state file of the virtual ePass2003: the whole token, so that it
 * survives restarts. A text file, one record a line, fields separated by
 * one space, binary values in lowercase hex ("-" for none):
 *
 *   kyso-vcard-epass2003 1
 *   atr <hex>
 *   serial <hex>
 *   smkeys <enc key hex> <mac key hex>
 *   secret <type> <kid> <use AC> <modify AC> <level> <max> <left> <value>
 *   file <path: FIDs from 3F00> <type> <access bytes> <DF name> <key bits>
 *        <content> <DER private key (PKCS#8) or public key (SPKI)>
 *
 * (the file record is one line). It holds the PINs' keys and the private
 * keys in clear: a test token. Written whole to a temporary file that is
 * renamed over the old one, so a crash never leaves half a token. */
#include "ep_card.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#define STATE_MAGIC	"kyso-vcard-epass2003 1"
#define STATE_MAX	(16u * 1024u * 1024u)
#define FIELDS_MAX	10

static int
st_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
st_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	return buf_append(b, tmp, (size_t)n);
}

static int
st_hex_raw(struct buf *b, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++)
		if (buf_append_byte(b, (uint8_t)digits[data[i] >> 4]) != 0 ||
		    buf_append_byte(b, (uint8_t)digits[data[i] & 0x0F]) != 0)
			return -1;
	return 0;
}

static int
st_hex(struct buf *b, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	if (buf_append_byte(b, ' ') != 0)
		return -1;
	if (len == 0)
		return buf_append_byte(b, '-');
	for (size_t i = 0; i < len; i++)
		if (buf_append_byte(b, (uint8_t)digits[data[i] >> 4]) != 0 ||
		    buf_append_byte(b, (uint8_t)digits[data[i] & 0x0F]) != 0)
			return -1;
	return 0;
}

static int
st_unhex(const char *s, struct buf *out)
{
	size_t n = strlen(s);

	buf_clear(out);
	if (strcmp(s, "-") == 0)
		return 0;
	if (n % 2 != 0 || buf_reserve(out, n / 2) != 0)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;
		if (sscanf(s + i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", s[i]) ||
		    !strchr("0123456789abcdefABCDEF", s[i + 1]))
			return -1;
		out->data[out->len++] = (uint8_t)v;
	}
	return 0;
}

/* A private key imported as n and d only (80 E7) has no CRT parts and no
 * DER form: it is kept as "ned:<n>:<e>:<d>" instead. */
static int
st_key_ned(struct buf *b, EVP_PKEY *key)
{
	static const char *const names[3] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D,
	};
	int rc = -1;

	if (buf_append(b, " ned", 4) != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		BIGNUM *bn = NULL;
		struct buf v = BUF_INIT;
		int n;

		if (EVP_PKEY_get_bn_param(key, names[i], &bn) != 1)
			return -1;
		n = BN_num_bytes(bn);
		if (buf_reserve(&v, (size_t)n + 1) == 0 &&
		    BN_bn2binpad(bn, v.data, n) == n) {
			v.len = (size_t)n;
			rc = buf_append_byte(b, ':') == 0 &&
			     st_hex_raw(b, v.data, v.len) == 0 ? 0 : -1;
		} else {
			rc = -1;
		}
		BN_clear_free(bn);
		buf_free(&v);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int st_file(struct buf *b, const struct ep_file *f, const uint8_t *path,
                   size_t path_len);

static int
st_file_ned(struct buf *b, const struct ep_file *f, const uint8_t *p,
            size_t plen)
{
	if (st_printf(b, "file") != 0 || st_hex(b, p, plen) != 0 ||
	    st_printf(b, " %02x", f->type) != 0 ||
	    st_hex(b, f->acl, 8) != 0 || st_hex(b, f->name, f->name_len) != 0 ||
	    st_printf(b, " %u", f->key_bits) != 0 ||
	    st_hex(b, f->data.data, f->data.len) != 0 ||
	    st_key_ned(b, f->key) != 0 || buf_append_byte(b, '\n') != 0)
		return -1;
	for (const struct ep_file *ch = f->child; ch != NULL; ch = ch->next)
		if (st_file(b, ch, p, plen) != 0)
			return -1;
	return 0;
}

static int
st_file(struct buf *b, const struct ep_file *f, const uint8_t *path,
        size_t path_len)
{
	uint8_t p[32];
	unsigned char *der = NULL;
	int der_len = 0, rc = -1;

	if (path_len + 2 > sizeof p)
		return -1;
	if (path_len > 0)
		memcpy(p, path, path_len);
	p[path_len] = (uint8_t)(f->fid >> 8);
	p[path_len + 1] = (uint8_t)f->fid;
	if (f->key != NULL) {
		der_len = EP_IS_PRV(f->type) ? i2d_PrivateKey(f->key, &der)
		                               : i2d_PUBKEY(f->key, &der);
		if (der_len <= 0 && f->type == EP_FT_PRV)
			return st_file_ned(b, f, p, path_len + 2);
		if (der_len <= 0)
			goto out;
	}
	if (st_printf(b, "file") != 0 || st_hex(b, p, path_len + 2) != 0 ||
	    st_printf(b, " %02x", f->type) != 0 ||
	    st_hex(b, f->acl, 8) != 0 || st_hex(b, f->name, f->name_len) != 0 ||
	    st_printf(b, " %u", f->key_bits) != 0 ||
	    st_hex(b, f->data.data, f->data.len) != 0 ||
	    st_hex(b, der, der != NULL ? (size_t)der_len : 0) != 0 ||
	    buf_append_byte(b, '\n') != 0)
		goto out;
	for (const struct ep_file *ch = f->child; ch != NULL; ch = ch->next)
		if (st_file(b, ch, p, path_len + 2) != 0)
			goto out;
	rc = 0;
out:
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)der_len);
	return rc;
}

int
ep_state_save(const struct ep_card *c, const char *path)
{
	struct buf b = BUF_INIT;
	int rc = -1;

	if (st_printf(&b, "%s\natr", STATE_MAGIC) != 0 ||
	    st_hex(&b, c->atr, c->atr_len) != 0 ||
	    st_printf(&b, "\nserial") != 0 ||
	    st_hex(&b, c->serial, sizeof c->serial) != 0 ||
	    st_printf(&b, "\nsmkeys") != 0 ||
	    st_hex(&b, c->sm_key_enc, 16) != 0 ||
	    st_hex(&b, c->sm_key_mac, 16) != 0 ||
	    buf_append_byte(&b, '\n') != 0)
		goto out;
	for (size_t i = 0; i < EP_SECRETS_MAX; i++) {
		const struct ep_secret *s = &c->secrets[i];
		if (!s->used)
			continue;
		if (st_printf(&b, "secret %02x %02x %02x %02x %02x %u %u",
		              s->type, s->kid, s->use_ac, s->modify_ac,
		              s->level, s->max_tries, s->tries_left) != 0 ||
		    st_hex(&b, s->value, s->value_len) != 0 ||
		    buf_append_byte(&b, '\n') != 0)
			goto out;
	}
	if (c->mf != NULL && st_file(&b, c->mf, NULL, 0) != 0)
		goto out;
	rc = vcard_state_write(path, &b);
out:
	buf_free(&b);
	return rc;
}

/* "n:e:d" in hex back into a key. */
static EVP_PKEY *
st_load_ned(const char *s)
{
	static const char *const names[3] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D,
	};
	BIGNUM *bn[3] = { NULL, NULL, NULL };
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	struct buf v = BUF_INIT;
	char *copy = strdup(s), *save = NULL, *tok = copy;

	for (int i = 0; i < 3; i++) {
		tok = copy != NULL ? strtok_r(i == 0 ? copy : NULL, ":", &save)
		                   : NULL;
		if (tok == NULL || st_unhex(tok, &v) != 0 || v.len == 0 ||
		    v.len > INT32_MAX ||
		    (bn[i] = BN_bin2bn(v.data, (int)v.len, NULL)) == NULL ||
		    bld == NULL || OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]) != 1)
			goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		key = NULL;
out:
	for (int i = 0; i < 3; i++)
		BN_clear_free(bn[i]);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	buf_free(&v);
	free(copy);
	return key;
}

static struct ep_file *
st_parent(struct ep_card *c, const struct buf *path)
{
	struct ep_file *f = c->mf;

	if (f == NULL || path->len < 4 || path->data[0] != 0x3F ||
	    path->data[1] != 0x00)
		return NULL;
	for (size_t i = 2; i + 2 < path->len; i += 2) {
		f = ep_file_child(f, (uint16_t)(path->data[i] << 8 |
		                                path->data[i + 1]));
		if (f == NULL)
			return NULL;
	}
	return f;
}

static int
st_line(struct ep_card *c, char **fv, int n)
{
	struct buf v = BUF_INIT, w = BUF_INIT;
	int rc = -1;

	if (strcmp(fv[0], "atr") == 0 && n == 2) {
		if (st_unhex(fv[1], &v) != 0 || v.len == 0 ||
		    v.len > sizeof c->atr)
			goto out;
		memcpy(c->atr, v.data, v.len);
		c->atr_len = v.len;
	} else if (strcmp(fv[0], "serial") == 0 && n == 2) {
		if (st_unhex(fv[1], &v) != 0 || v.len != sizeof c->serial)
			goto out;
		memcpy(c->serial, v.data, v.len);
	} else if (strcmp(fv[0], "smkeys") == 0 && n == 3) {
		if (st_unhex(fv[1], &v) != 0 || v.len != 16 ||
		    st_unhex(fv[2], &w) != 0 || w.len != 16)
			goto out;
		memcpy(c->sm_key_enc, v.data, 16);
		memcpy(c->sm_key_mac, w.data, 16);
	} else if (strcmp(fv[0], "secret") == 0 && n == 9) {
		struct ep_secret *s = NULL;
		unsigned a[7];
		for (size_t i = 0; s == NULL && i < EP_SECRETS_MAX; i++)
			if (!c->secrets[i].used)
				s = &c->secrets[i];
		if (s == NULL || sscanf(fv[1], "%x", &a[0]) != 1 ||
		    sscanf(fv[2], "%x", &a[1]) != 1 ||
		    sscanf(fv[3], "%x", &a[2]) != 1 ||
		    sscanf(fv[4], "%x", &a[3]) != 1 ||
		    sscanf(fv[5], "%x", &a[4]) != 1 ||
		    sscanf(fv[6], "%u", &a[5]) != 1 ||
		    sscanf(fv[7], "%u", &a[6]) != 1 ||
		    st_unhex(fv[8], &v) != 0 || v.len > sizeof s->value ||
		    a[5] > 15 || a[6] > a[5])
			goto out;
		s->used = true;
		s->type = (uint8_t)a[0];
		s->kid = (uint8_t)a[1];
		s->use_ac = (uint8_t)a[2];
		s->modify_ac = (uint8_t)a[3];
		s->level = (uint8_t)a[4];
		s->max_tries = (uint8_t)a[5];
		s->tries_left = (uint8_t)a[6];
		memcpy(s->value, v.data, v.len);
		s->value_len = v.len;
	} else if (strcmp(fv[0], "file") == 0 && n == 8) {
		struct ep_file *parent = NULL, *f;
		unsigned type, bits;
		uint16_t fid;
		if (st_unhex(fv[1], &v) != 0 || v.len < 2 || v.len % 2 != 0 ||
		    sscanf(fv[2], "%x", &type) != 1 ||
		    sscanf(fv[5], "%u", &bits) != 1)
			goto out;
		fid = (uint16_t)(v.data[v.len - 2] << 8 | v.data[v.len - 1]);
		if (v.len == 2) {
			if (fid != 0x3F00 || c->mf != NULL)
				goto out;
		} else if ((parent = st_parent(c, &v)) == NULL) {
			goto out;
		}
		if (st_unhex(fv[3], &w) != 0 || w.len != 8)
			goto out;
		f = ep_file_new(parent, fid, (uint8_t)type, w.data);
		if (f == NULL)
			goto out;
		if (parent == NULL)
			c->mf = f;
		f->key_bits = bits;
		if (st_unhex(fv[4], &w) != 0 || w.len > sizeof f->name)
			goto out;
		memcpy(f->name, w.data, w.len);
		f->name_len = w.len;
		if (st_unhex(fv[6], &f->data) != 0 ||
		    (strncmp(fv[7], "ned:", 4) != 0 && st_unhex(fv[7], &w) != 0))
			goto out;
		if (strncmp(fv[7], "ned:", 4) == 0 && f->type == EP_FT_PRV) {
			if ((f->key = st_load_ned(fv[7] + 4)) == NULL)
				goto out;
		} else if (w.len > 0) {
			const unsigned char *p = w.data;
			f->key = EP_IS_PRV(f->type)
			         ? d2i_AutoPrivateKey(NULL, &p, (long)w.len)
			         : d2i_PUBKEY(NULL, &p, (long)w.len);
			if (f->key == NULL)
				goto out;
		}
	} else {
		goto out;
	}
	rc = 0;
out:
	buf_free(&v);
	buf_free(&w);
	return rc;
}

int
ep_state_load(struct ep_card *c, const char *path)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t len;
	int rc = -1, lineno = 0;

	if (fp == NULL)
		return -1;
	while ((len = getline(&line, &cap, fp)) > 0) {
		char *fv[FIELDS_MAX], *save = NULL, *tok;
		int n = 0;

		total += (size_t)len;
		if (total > STATE_MAX)
			goto out;
		lineno++;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (lineno == 1) {
			if (strcmp(line, STATE_MAGIC) != 0)
				goto out;
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		for (tok = strtok_r(line, " ", &save); tok != NULL;
		     tok = strtok_r(NULL, " ", &save)) {
			if (n == FIELDS_MAX)
				goto out;
			fv[n++] = tok;
		}
		if (n == 0 || st_line(c, fv, n) != 0) {
			fprintf(stderr, "kyso-vcard: %s:%d: bad record\n",
			        path, lineno);
			goto out;
		}
	}
	if (c->atr_len == 0)
		goto out;
	rc = 0;
out:
	if (line != NULL)
		OPENSSL_clear_free(line, cap);
	fclose(fp);
	return rc;
}
