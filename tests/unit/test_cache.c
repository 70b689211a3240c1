/* The card cache's file (drivers/cache.c): what is put comes back only with
 * the same proof, survives a reopen, and a damaged, foreign or symlinked
 * file is never believed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "drivers/cache.h"

static const uint8_t identity[] = "yubikey:12345";
static const uint8_t proof[] = { 0x53, 0x82, 0x03, 0x8D, 0x70 };
static const uint8_t value[] = { 0x53, 0x82, 0x03, 0x8D, 0x70, 0x82, 0x01, 0x02 };

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kyso-test-cache-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	setenv("XDG_CACHE_HOME", dir, 1);
	setenv("KYSO_CONF", "/dev/null", 1);
	config_load();
	return 0;
}

static int
teardown(void **state)
{
	char cmd[96];

	(void)state;
	config_free();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The one file the cache wrote, or "" */
static void
cache_file(char *out, size_t len)
{
	char cmd[128];
	FILE *p;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), "ls -d %s/kyso/piv-* 2>/dev/null", dir);
	p = popen(cmd, "r");
	if (p != NULL) {
		if (fgets(out, (int)len, p) != NULL)
			out[strcspn(out, "\n")] = '\0';
		pclose(p);
	}
}

static void
put_and_reopen(void **state)
{
	struct drv_cache *c;
	struct buf got = BUF_INIT;

	(void)state;
	c = drv_cache_open("piv", identity, sizeof(identity) - 1);
	assert_non_null(c);
	assert_false(drv_cache_get(c, "do-5FC105", proof, sizeof(proof), &got));
	drv_cache_put(c, "do-5FC105", proof, sizeof(proof), value, sizeof(value));
	drv_cache_flush(c);
	drv_cache_close(c);

	c = drv_cache_open("piv", identity, sizeof(identity) - 1);
	assert_true(drv_cache_get(c, "do-5FC105", proof, sizeof(proof), &got));
	assert_memory_equal(got.data, value, sizeof(value));
	/* Another proof: the card changed; another name: another object. */
	assert_false(drv_cache_get(c, "do-5FC105", proof, sizeof(proof) - 1, &got));
	assert_false(drv_cache_get(c, "do-5FC10A", proof, sizeof(proof), &got));
	drv_cache_forget(c, "do-5FC105");
	assert_false(drv_cache_get(c, "do-5FC105", proof, sizeof(proof), &got));
	drv_cache_close(c);
	/* Another card: another file, nothing in it. */
	c = drv_cache_open("piv", (const uint8_t *)"yubikey:99", 10);
	assert_false(drv_cache_get(c, "do-5FC105", proof, sizeof(proof), &got));
	drv_cache_close(c);
	buf_free(&got);
}

static void
damaged_file_ignored(void **state)
{
	struct drv_cache *c;
	struct buf got = BUF_INIT;
	char path[256];
	struct stat st;
	FILE *f;

	(void)state;
	c = drv_cache_open("piv", identity, sizeof(identity) - 1);
	drv_cache_put(c, "do-5FC105", proof, sizeof(proof), value, sizeof(value));
	drv_cache_flush(c);
	drv_cache_close(c);
	cache_file(path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);

	/* One byte changed: the digest no longer matches. */
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 20, SEEK_SET);
	fputc(0xEE, f);
	fclose(f);
	c = drv_cache_open("piv", identity, sizeof(identity) - 1);
	assert_false(drv_cache_get(c, "do-5FC105", proof, sizeof(proof), &got));
	drv_cache_close(c);
	buf_free(&got);
}

static void
symlink_not_followed(void **state)
{
	struct drv_cache *c;
	struct buf got = BUF_INIT;
	char path[256], target[300];

	(void)state;
	c = drv_cache_open("piv", identity, sizeof(identity) - 1);
	drv_cache_put(c, "do-5FC105", proof, sizeof(proof), value, sizeof(value));
	drv_cache_flush(c);
	drv_cache_close(c);
	cache_file(path, sizeof(path));
	snprintf(target, sizeof(target), "%s.real", path);
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(symlink(target, path), 0);
	c = drv_cache_open("piv", identity, sizeof(identity) - 1);
	assert_false(drv_cache_get(c, "do-5FC105", proof, sizeof(proof), &got));
	drv_cache_close(c);
	buf_free(&got);
}

static void
switched_off(void **state)
{
	char conf[128];
	FILE *f;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/kyso.conf", dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs("cache = no\n", f);
	fclose(f);
	setenv("KYSO_CONF", conf, 1);
	config_free();
	config_load();
	assert_null(drv_cache_open("piv", identity, sizeof(identity) - 1));
	/* No identity, no cache; and NULL is accepted everywhere. */
	setenv("KYSO_CONF", "/dev/null", 1);
	config_free();
	config_load();
	assert_null(drv_cache_open("piv", identity, 0));
	drv_cache_put(NULL, "x", proof, 1, value, 1);
	drv_cache_flush(NULL);
	drv_cache_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(put_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_file_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(symlink_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(switched_off, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
