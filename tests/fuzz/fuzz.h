/* The libFuzzer entry point every harness in tests/fuzz defines. Built with
 * -fsanitize=fuzzer it is driven by libFuzzer; otherwise standalone_main.c
 * replays the seed corpus and a few thousand generated inputs through it. */
#ifndef KYSO_FUZZ_H
#define KYSO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: crash so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond) \
	do { if (!(cond)) abort(); } while (0)

/* With KYSO_FUZZ_VERBOSE set, a harness says what each of its steps
 * returned: how far a seed gets (README.md). */
static inline void
fuzz_note(const char *what, unsigned long rv)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("KYSO_FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "fuzz: %s: 0x%lx\n", what, rv);
}

#endif
