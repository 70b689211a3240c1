/* RAND_bytes() for the harnesses that drive the card management key's
 * mutual authentication (piv_write, module; SP 800-73-4 pt 2, appendix
 * A.2): kyso sends a random challenge and checks the card's answer to it.
 * With real randomness no recorded or fuzzed answer could ever be right,
 * and the fuzzer would never get past it to GENERATE and PUT DATA. Linked
 * into the harness, this definition is the one kyso's code calls;
 * OpenSSL's own callers inside libcrypto keep the real one. Never link it
 * into anything but a fuzzer. */
#include <string.h>

#include <openssl/rand.h>

#include "tests/fuzz/fuzz_card.h"

static uint64_t fuzz_rand_state;

void
fuzz_rand_reset(void)
{
	fuzz_rand_state = 0x243F6A8885A308D3ULL;
}

int
RAND_bytes(unsigned char *buf, int num)
{
	for (int i = 0; i < num; i++) {
		/* xorshift64*: only has to be the same on every run. */
		fuzz_rand_state ^= fuzz_rand_state >> 12;
		fuzz_rand_state ^= fuzz_rand_state << 25;
		fuzz_rand_state ^= fuzz_rand_state >> 27;
		buf[i] = (unsigned char)((fuzz_rand_state * 0x2545F4914F6CDD1DULL) >> 56);
	}
	return 1;
}
