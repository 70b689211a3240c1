/* Run a libFuzzer harness without libFuzzer, so the ordinary (gcc,
 * ASan/UBSan) test suite exercises it: every file of the seed corpus, then a
 * deterministic stream of inputs made by mutating the seeds or from scratch.
 *
 *   fuzz_NAME [--iterations N] [--max-len N] [--seed N] [FILE|DIR]...
 *
 * Each input is handed over in a heap block of exactly its size, so a read
 * one byte past the end is an ASan finding. A finding aborts; the input that
 * caused it is written to ./fuzz-crash-input first. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "tests/fuzz/fuzz.h"

#define STANDALONE_ITERATIONS 5000
#define STANDALONE_MAX_LEN 4096

struct corpus {
	struct buf *items;
	size_t count;
	size_t cap;
};

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	/* xorshift64*: deterministic and good enough to pick mutations. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t
rng_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng_next() % n);
}

/* The input being run, for the crash report. */
static const uint8_t *current;
static size_t current_len;

static void
standalone_save_input(void)
{
	FILE *fp = fopen("fuzz-crash-input", "wb");

	if (fp != NULL) {
		if (current_len > 0)
			fwrite(current, 1, current_len, fp);
		fclose(fp);
		fprintf(stderr, "standalone: finding; input (%zu bytes) saved "
		        "to fuzz-crash-input\n", current_len);
	}
}

static void
standalone_on_signal(int sig)
{
	standalone_save_input();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Present when a sanitizer runtime is linked in: it reports, then calls the
 * callback before exiting. */
extern void __sanitizer_set_death_callback(void (*callback)(void))
	__attribute__((weak));

static void
standalone_run(const uint8_t *data, size_t len)
{
	/* An exact-size copy: ASan catches reads past the end. */
	uint8_t *copy = malloc(len > 0 ? len : 1);

	if (copy == NULL) {
		fprintf(stderr, "standalone: out of memory\n");
		exit(2);
	}
	if (len > 0)
		memcpy(copy, data, len);
	current = copy;
	current_len = len;
	LLVMFuzzerTestOneInput(copy, len);
	current = NULL;
	current_len = 0;
	free(copy);
}

static int
corpus_add_file(struct corpus *c, const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t chunk[4096];
	struct buf b = BUF_INIT;
	size_t n;
	int rc = -1;

	if (fp == NULL) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_append(&b, chunk, n) != 0)
			goto out;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct buf *items = realloc(c->items, cap * sizeof(*items));
		if (items == NULL)
			goto out;
		c->items = items;
		c->cap = cap;
	}
	c->items[c->count++] = b;
	b = (struct buf)BUF_INIT;
	rc = 0;
out:
	if (fp != NULL)
		fclose(fp);
	buf_free(&b);
	return rc;
}

static int
corpus_add(struct corpus *c, const char *path)
{
	struct stat st;
	struct dirent **names = NULL;
	int n = 0, rc = -1;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = corpus_add_file(c, path);
		goto out;
	}
	/* Sorted, so the run is the same everywhere. */
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
		goto out;
	}
	rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		char full[4096];
		if (names[i]->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
		rc = corpus_add_file(c, full);
	}
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Values that sit on the edges the harnesses care about: BER length forms,
 * status words (61xx, 6Cxx, 9000), short/extended boundaries. */
static const uint8_t interesting[] = {
	0x00, 0x01, 0x02, 0x1F, 0x20, 0x3F, 0x5F, 0x61, 0x6C, 0x7F, 0x80,
	0x81, 0x82, 0x83, 0x84, 0x90, 0xFE, 0xFF,
};

static void
mutate(struct buf *b, size_t max_len)
{
	size_t rounds = 1 + rng_below(8);

	for (size_t r = 0; r < rounds; r++) {
		size_t pos = rng_below(b->len + 1);
		switch (rng_below(6)) {
		case 0:		/* flip a bit */
			if (b->len > 0)
				b->data[rng_below(b->len)] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1:		/* set an interesting byte */
			if (b->len > 0)
				b->data[rng_below(b->len)] =
					interesting[rng_below(sizeof(interesting))];
			break;
		case 2:		/* insert a byte */
			if (b->len < max_len && buf_reserve(b, 1) == 0) {
				memmove(b->data + pos + 1, b->data + pos, b->len - pos);
				b->data[pos] = (uint8_t)rng_next();
				b->len++;
			}
			break;
		case 3:		/* delete a run */
			if (pos < b->len) {
				size_t n = 1 + rng_below(b->len - pos);
				memmove(b->data + pos, b->data + pos + n, b->len - pos - n);
				b->len -= n;
			}
			break;
		case 4:		/* truncate */
			b->len = pos < b->len ? pos : b->len;
			break;
		default:	/* duplicate a run at the end */
			if (pos < b->len) {
				size_t n = 1 + rng_below(b->len - pos);
				if (b->len + n <= max_len && buf_reserve(b, n) == 0) {
					memcpy(b->data + b->len, b->data + pos, n);
					b->len += n;
				}
			}
			break;
		}
	}
}

static int
parse_count(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno != 0 || *s == '\0' || *end != '\0' ? -1 : 0;
}

int
main(int argc, char **argv)
{
	unsigned long iterations = STANDALONE_ITERATIONS;
	unsigned long max_len = STANDALONE_MAX_LEN;
	unsigned long seed = 1;
	struct corpus c = { NULL, 0, 0 };
	struct buf input = BUF_INIT;
	int status = 0;

	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--iterations") == 0) {
			status = parse_count(argv[++i], &iterations);
		} else if (i + 1 < argc && strcmp(argv[i], "--max-len") == 0) {
			status = parse_count(argv[++i], &max_len);
		} else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
			status = parse_count(argv[++i], &seed);
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "usage: %s [--iterations N] [--max-len N] "
			        "[--seed N] [FILE|DIR]...\n", argv[0]);
			status = -1;
		} else {
			status = corpus_add(&c, argv[i]);
		}
		if (status != 0)
			goto out;
	}
	/* FUZZ_CHECK aborts; sanitizer reports end through their callback. */
	signal(SIGABRT, standalone_on_signal);
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(standalone_save_input);
	else
		signal(SIGSEGV, standalone_on_signal);

	for (size_t i = 0; i < c.count; i++)
		standalone_run(c.items[i].data, c.items[i].len);

	rng_state = 0x9E3779B97F4A7C15ULL ^ seed;
	for (unsigned long i = 0; i < iterations; i++) {
		buf_clear(&input);
		if (c.count > 0 && rng_below(4) != 0) {
			const struct buf *s = &c.items[rng_below(c.count)];
			if (buf_append(&input, s->data, s->len) != 0)
				break;
			mutate(&input, max_len);
		} else {
			size_t n = rng_below(max_len + 1);
			if (buf_reserve(&input, n) != 0)
				break;
			for (size_t k = 0; k < n; k++)
				input.data[k] = (uint8_t)rng_next();
			input.len = n;
		}
		standalone_run(input.data, input.len);
	}
	printf("%s: %zu corpus inputs, %lu generated inputs: no finding\n",
	       argv[0], c.count, iterations);
out:
	for (size_t i = 0; i < c.count; i++)
		buf_free(&c.items[i]);
	free(c.items);
	buf_free(&input);
	return status == 0 ? 0 : 1;
}
