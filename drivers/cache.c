/* The card cache's file and entries (drivers/cache.h).
 *
 * File format, all integers big-endian:
 *   "KYSO-CACHE 1\n"
 *   entries: u8 name length, name, u16 proof length, proof,
 *            u32 value length, value
 *   SHA-256 of everything before it
 * The digest catches a file cut short by a full disk or a crash; the
 * bounds in cache.h keep a damaged length from asking for much memory. */
#include "drivers/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/config.h"
#include "common/log.h"

#define CACHE_MAGIC "KYSO-CACHE 1\n"
#define CACHE_MAGIC_LEN (sizeof(CACHE_MAGIC) - 1)
#define CACHE_DIGEST_LEN 32
#define CACHE_ENTRIES_MAX 64
#define CACHE_FILE_MAX (2u * 1024u * 1024u)

struct cache_entry {
	char name[DRV_CACHE_NAME_MAX + 1];
	struct buf proof;
	struct buf value;
};

struct drv_cache {
	char *path;			/* NULL: memory only (tests, fuzzer) */
	struct cache_entry entries[CACHE_ENTRIES_MAX];
	size_t count;
	bool dirty;
};

static void
cache_entry_free(struct cache_entry *e)
{
	buf_free(&e->proof);
	buf_free(&e->value);
	memset(e, 0, sizeof(*e));
}

static void
cache_clear(struct drv_cache *c)
{
	for (size_t i = 0; i < c->count; i++)
		cache_entry_free(&c->entries[i]);
	c->count = 0;
}

static struct cache_entry *
cache_find(const struct drv_cache *c, const char *name)
{
	for (size_t i = 0; i < c->count; i++)
		if (strcmp(c->entries[i].name, name) == 0)
			return (struct cache_entry *)&c->entries[i];
	return NULL;
}

static int
cache_sha256(const uint8_t *data, size_t len, uint8_t out[CACHE_DIGEST_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != CACHE_DIGEST_LEN)
		return -1;
	return 0;
}

/* A bounded reader over the file's bytes. */
struct cache_reader {
	const uint8_t *p;
	size_t left;
};

static int
cache_take(struct cache_reader *r, size_t n, const uint8_t **out)
{
	if (n > r->left)
		return -1;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static int
cache_take_uint(struct cache_reader *r, size_t bytes, size_t *out)
{
	const uint8_t *p;
	size_t v = 0;

	if (cache_take(r, bytes, &p) != 0)
		return -1;
	for (size_t i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	*out = v;
	return 0;
}

struct drv_cache *
drv_cache_new(void)
{
	return calloc(1, sizeof(struct drv_cache));
}

int
drv_cache_parse(struct drv_cache *c, const uint8_t *data, size_t len)
{
	struct cache_reader r;
	uint8_t digest[CACHE_DIGEST_LEN];
	const uint8_t *name, *proof, *value;
	size_t name_len, proof_len, value_len;
	int status = -1;

	cache_clear(c);
	if (len < CACHE_MAGIC_LEN + CACHE_DIGEST_LEN || len > CACHE_FILE_MAX ||
	    memcmp(data, CACHE_MAGIC, CACHE_MAGIC_LEN) != 0)
		goto out;
	if (cache_sha256(data, len - CACHE_DIGEST_LEN, digest) != 0 ||
	    CRYPTO_memcmp(digest, data + len - CACHE_DIGEST_LEN, CACHE_DIGEST_LEN) != 0)
		goto out;
	r.p = data + CACHE_MAGIC_LEN;
	r.left = len - CACHE_MAGIC_LEN - CACHE_DIGEST_LEN;
	while (r.left > 0) {
		struct cache_entry *e;

		if (c->count == CACHE_ENTRIES_MAX ||
		    cache_take_uint(&r, 1, &name_len) != 0 || name_len == 0 ||
		    name_len > DRV_CACHE_NAME_MAX || cache_take(&r, name_len, &name) != 0 ||
		    memchr(name, '\0', name_len) != NULL ||
		    cache_take_uint(&r, 2, &proof_len) != 0 ||
		    proof_len > DRV_CACHE_PROOF_MAX || cache_take(&r, proof_len, &proof) != 0 ||
		    cache_take_uint(&r, 4, &value_len) != 0 ||
		    value_len > DRV_CACHE_VALUE_MAX || cache_take(&r, value_len, &value) != 0)
			goto out;
		e = &c->entries[c->count];
		memcpy(e->name, name, name_len);
		e->name[name_len] = '\0';
		c->count++;
		if (cache_find(c, e->name) != e ||
		    buf_set(&e->proof, proof, proof_len) != 0 ||
		    buf_set(&e->value, value, value_len) != 0)
			goto out;
	}
	status = 0;
out:
	if (status != 0)
		cache_clear(c);
	return status;
}

int
drv_cache_serialize(const struct drv_cache *c, struct buf *out)
{
	uint8_t digest[CACHE_DIGEST_LEN];
	int status = -1;

	buf_clear(out);
	if (buf_append(out, CACHE_MAGIC, CACHE_MAGIC_LEN) != 0)
		goto out;
	for (size_t i = 0; i < c->count; i++) {
		const struct cache_entry *e = &c->entries[i];
		size_t n = strlen(e->name);
		uint8_t hdr[4];

		hdr[0] = (uint8_t)n;
		if (buf_append(out, hdr, 1) != 0 || buf_append(out, e->name, n) != 0)
			goto out;
		hdr[0] = (uint8_t)(e->proof.len >> 8);
		hdr[1] = (uint8_t)e->proof.len;
		if (buf_append(out, hdr, 2) != 0 ||
		    buf_append(out, e->proof.data, e->proof.len) != 0)
			goto out;
		for (int k = 0; k < 4; k++)
			hdr[k] = (uint8_t)(e->value.len >> (24 - 8 * k));
		if (buf_append(out, hdr, 4) != 0 ||
		    buf_append(out, e->value.data, e->value.len) != 0)
			goto out;
	}
	if (cache_sha256(out->data, out->len, digest) != 0 ||
	    buf_append(out, digest, sizeof(digest)) != 0)
		goto out;
	status = 0;
out:
	return status;
}

/* $XDG_CACHE_HOME/kyso, else ~/.cache/kyso (XDG Base Directory spec),
 * created private to the user. NULL when there is no such place, or when
 * the folder is not the user's own (someone else could then swap files). */
static char *
cache_dir(void)
{
	const char *base = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *dir = NULL;
	struct stat st;
	int n;

	if (base != NULL && base[0] == '/')
		n = asprintf(&dir, "%s/kyso", base);
	else if (home != NULL && home[0] == '/')
		n = asprintf(&dir, "%s/.cache/kyso", home);
	else
		goto fail;
	if (n < 0) {
		dir = NULL;
		goto fail;
	}
	if (mkdir(dir, 0700) != 0 && errno == ENOENT) {
		/* ~/.cache itself may not exist yet. */
		char *slash = strrchr(dir, '/');
		*slash = '\0';
		(void)mkdir(dir, 0700);
		*slash = '/';
		(void)mkdir(dir, 0700);
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 0022) != 0)
		goto fail;
	return dir;
fail:
	free(dir);
	return NULL;
}

static void
cache_load(struct drv_cache *c)
{
	struct buf data = BUF_INIT;
	struct stat st;
	ssize_t got;
	int fd;

	fd = open(c->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size <= 0 || (size_t)st.st_size > CACHE_FILE_MAX ||
	    buf_reserve(&data, (size_t)st.st_size) != 0)
		goto out;
	while (data.len < (size_t)st.st_size) {
		got = read(fd, data.data + data.len, (size_t)st.st_size - data.len);
		if (got <= 0)
			break;
		data.len += (size_t)got;
	}
	if (drv_cache_parse(c, data.data, data.len) != 0)
		log_debug("cache: %s is damaged; ignored", c->path);
out:
	if (fd >= 0)
		close(fd);
	buf_free(&data);
}

static bool
cache_switched_off(void)
{
	const char *setting = config_get("cache");

	return setting != NULL &&
	       (strcmp(setting, "no") == 0 || strcmp(setting, "0") == 0 ||
	        strcmp(setting, "off") == 0 || strcmp(setting, "false") == 0);
}

bool
drv_cache_enabled(void)
{
	char *dir;

	if (cache_switched_off())
		return false;
	dir = cache_dir();
	free(dir);
	return dir != NULL;
}

struct drv_cache *
drv_cache_open(const char *driver, const uint8_t *identity, size_t identity_len)
{
	uint8_t digest[CACHE_DIGEST_LEN];
	struct drv_cache *c = NULL;
	char *dir = NULL;
	char hex[2 * 16 + 1];

	if (cache_switched_off())
		goto out;
	if (identity_len == 0 || cache_sha256(identity, identity_len, digest) != 0)
		goto out;
	dir = cache_dir();
	if (dir == NULL)
		goto out;
	c = drv_cache_new();
	if (c == NULL)
		goto out;
	/* The identity's digest names the file: a serial number is no
	 * secret, but there is no need to spell it in a file name either. */
	for (size_t i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	if (asprintf(&c->path, "%s/%s-%s", dir, driver, hex) < 0) {
		c->path = NULL;
		drv_cache_close(c);
		c = NULL;
		goto out;
	}
	cache_load(c);
	log_debug("cache: %s, %zu entries", c->path, c->count);
out:
	free(dir);
	return c;
}

void
drv_cache_close(struct drv_cache *c)
{
	if (c == NULL)
		return;
	cache_clear(c);
	free(c->path);
	free(c);
}

bool
drv_cache_get(const struct drv_cache *c, const char *name, const uint8_t *proof,
              size_t proof_len, struct buf *value)
{
	const struct cache_entry *e;

	if (c == NULL || name == NULL)
		return false;
	e = cache_find(c, name);
	if (e == NULL || e->proof.len != proof_len ||
	    (proof_len > 0 && memcmp(e->proof.data, proof, proof_len) != 0))
		return false;
	return buf_set(value, e->value.data, e->value.len) == 0;
}

void
drv_cache_forget(struct drv_cache *c, const char *name)
{
	struct cache_entry *e;

	if (c == NULL || name == NULL)
		return;
	e = cache_find(c, name);
	if (e == NULL)
		return;
	cache_entry_free(e);
	*e = c->entries[c->count - 1];
	memset(&c->entries[c->count - 1], 0, sizeof(c->entries[0]));
	c->count--;
	c->dirty = true;
}

void
drv_cache_put(struct drv_cache *c, const char *name, const uint8_t *proof,
              size_t proof_len, const uint8_t *value, size_t value_len)
{
	struct cache_entry *e;

	if (c == NULL || name == NULL || name[0] == '\0' ||
	    strlen(name) > DRV_CACHE_NAME_MAX || proof_len > DRV_CACHE_PROOF_MAX ||
	    value_len > DRV_CACHE_VALUE_MAX)
		return;
	e = cache_find(c, name);
	if (e == NULL) {
		if (c->count == CACHE_ENTRIES_MAX)
			return;
		e = &c->entries[c->count++];
		snprintf(e->name, sizeof(e->name), "%s", name);
	}
	if (buf_set(&e->proof, proof, proof_len) != 0 ||
	    buf_set(&e->value, value, value_len) != 0) {
		drv_cache_forget(c, name);
		return;
	}
	c->dirty = true;
}

void
drv_cache_flush(struct drv_cache *c)
{
	struct buf data = BUF_INIT;
	char *tmp = NULL;
	size_t off = 0;
	int fd = -1;

	if (c == NULL || c->path == NULL || !c->dirty)
		goto out;
	if (drv_cache_serialize(c, &data) != 0 || asprintf(&tmp, "%s.XXXXXX", c->path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		goto out;
	while (off < data.len) {
		ssize_t n = write(fd, data.data + off, data.len - off);
		if (n <= 0)
			goto out;
		off += (size_t)n;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, c->path) != 0)
		goto out;
	c->dirty = false;
	log_debug("cache: wrote %s (%zu entries)", c->path, c->count);
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL && c != NULL && c->dirty)
		(void)unlink(tmp);
	free(tmp);
	buf_free(&data);
}
