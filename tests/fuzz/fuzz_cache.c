/* Fuzz the card cache's file parser (drivers/cache.c). The file ends in a
 * SHA-256 of its bytes, which random input never matches, so each input is
 * parsed twice: as it is, and with the digest made right, which lets the
 * entries' lengths and bounds be reached. What parses must serialize back
 * to the same bytes. */
#include <string.h>

#include <openssl/evp.h>

#include "drivers/cache.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_CACHE_MAGIC "KYSO-CACHE 1\n"

static void
fuzz_cache_parse(struct drv_cache *c, const uint8_t *data, size_t len)
{
	struct buf back = BUF_INIT;

	if (drv_cache_parse(c, data, len) == 0) {
		FUZZ_CHECK(drv_cache_serialize(c, &back) == 0);
		FUZZ_CHECK(back.len == len && memcmp(back.data, data, len) == 0);
	}
	buf_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drv_cache *c = drv_cache_new();
	struct buf fixed = BUF_INIT;
	uint8_t digest[32];
	unsigned int n = 0;

	if (c == NULL)
		return 0;
	fuzz_cache_parse(c, data, size);
	/* The input as the entries of a file with a correct magic and digest. */
	if (buf_append(&fixed, FUZZ_CACHE_MAGIC, strlen(FUZZ_CACHE_MAGIC)) == 0 &&
	    buf_append(&fixed, data, size) == 0 &&
	    EVP_Digest(fixed.data, fixed.len, digest, &n, EVP_sha256(), NULL) == 1 &&
	    buf_append(&fixed, digest, n) == 0)
		fuzz_cache_parse(c, fixed.data, fixed.len);
	buf_free(&fixed);
	drv_cache_close(c);
	return 0;
}
