/* kyso-vcard --chaos SEED: the hostile card of issue 7.
 *
 * Every byte a card sends is hostile to the middleware: a malicious or
 * broken card is where most smart-card middleware CVEs come from. This
 * layer plays such a card on top of an honest one. For each command APDU
 * it draws from a PRNG seeded with SEED whether to touch the answer
 * (--chaos-rate percent of them) and how:
 *
 *   truncate     the data cut short, the status word kept
 *   cut-sw       the status word cut off (a 1-byte or SW-less answer)
 *   tlv-length   one BER-TLV length byte of the data bumped or broken
 *   bogus-tlv    an oversized, indefinite, over-long-tag, deeply nested or
 *                never-ending TLV put in or in place of the data
 *   flip         a few data bytes changed
 *   status       another status word: 61xx, 6Cxx, 63Cx, 62xx, errors,
 *                random values, with or without the data
 *   empty-ok     9000 and no data at all
 *   endless-61   61FF, and every GET RESPONSE that follows answered 61FF
 *                again (ISO 7816-4 5.1.3 lets a card chain answers; a
 *                host must bound it)
 *   wrong-answer the answer to the previous command instead
 *   stall        silence for --chaos-stall-ms before answering, once per
 *                run: vpcd has no timeout, so the host's call blocks that
 *                long and pcscd's presence polling with it
 *
 * --chaos-kinds LIST restricts the faults to some of these (a card that
 * only stalls, say); a fault that does not fit an answer (no data to cut)
 * becomes a wrong status word when that kind is allowed, else nothing.
 *
 * The PRNG is splitmix64 (a test fixture, not cryptography): the same
 * seed, rate and sequence of commands give the same faults, so a failing
 * seed replays. Each fault is logged with its APDU number. */
#include "tests/vcard/chaos.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A vpcd message carries at most 0xFFFF bytes. */
#define CHAOS_OUT_MAX 0xFFFFu
/* How deep the TLV walk looks for length bytes to bump. */
#define CHAOS_TLV_DEPTH 8
#define CHAOS_TLV_OFFSETS 64
#define CHAOS_NEST_LEVELS 40

#define INS_GET_RESPONSE 0xC0u

enum chaos_kind {
	CHAOS_TRUNCATE,
	CHAOS_CUT_SW,
	CHAOS_TLV_LENGTH,
	CHAOS_BOGUS_TLV,
	CHAOS_FLIP,
	CHAOS_STATUS,
	CHAOS_EMPTY_OK,
	CHAOS_ENDLESS_61,
	CHAOS_WRONG_ANSWER,
	CHAOS_STALL,
	CHAOS_KINDS
};

static const struct {
	const char *name;
	unsigned weight;
} chaos_table[CHAOS_KINDS] = {
	[CHAOS_TRUNCATE] = { "truncate", 14 },
	[CHAOS_CUT_SW] = { "cut-sw", 4 },
	[CHAOS_TLV_LENGTH] = { "tlv-length", 16 },
	[CHAOS_BOGUS_TLV] = { "bogus-tlv", 10 },
	[CHAOS_FLIP] = { "flip", 10 },
	[CHAOS_STATUS] = { "status", 16 },
	[CHAOS_EMPTY_OK] = { "empty-ok", 6 },
	[CHAOS_ENDLESS_61] = { "endless-61", 4 },
	[CHAOS_WRONG_ANSWER] = { "wrong-answer", 8 },
	[CHAOS_STALL] = { "stall", 2 },
};

/* Status words a card may answer with, right or wrong (ISO 7816-4 5.6,
 * tables 5 and 6); 61xx, 6Cxx and 63Cx get their low byte drawn. */
static const uint16_t chaos_sws[] = {
	0x6100, 0x6C00, 0x63C0, 0x6300, 0x6281, 0x6282, 0x6283, 0x6400,
	0x6581, 0x6700, 0x6882, 0x6883, 0x6982, 0x6983, 0x6984, 0x6985,
	0x6A80, 0x6A81, 0x6A82, 0x6A84, 0x6A86, 0x6A88, 0x6B00, 0x6D00,
	0x6E00, 0x6F00, 0x9000, 0x9100, 0x0000,
};

struct chaos {
	uint64_t rng;
	unsigned long seed;
	unsigned rate;
	unsigned stall_ms;
	unsigned kinds;
	bool stalled;		/* the one stall happened */
	bool endless;		/* answering every GET RESPONSE with 61FF */
	unsigned long endless_rounds;
	FILE *log;
	bool own_log;
	unsigned long apdus;
	unsigned long faults;
	unsigned long counts[CHAOS_KINDS];
	struct buf last;	/* the previous honest answer */
	char detail[96];
};

static uint64_t
chaos_rand(struct chaos *c)
{
	uint64_t z = (c->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* A number in [0, n), n > 0. The modulo bias is irrelevant here. */
static size_t
chaos_below(struct chaos *c, size_t n)
{
	return n == 0 ? 0 : (size_t)(chaos_rand(c) % n);
}

static uint8_t
chaos_byte(struct chaos *c)
{
	return (uint8_t)chaos_rand(c);
}

struct chaos *
chaos_create(const struct chaos_options *opt)
{
	struct chaos *c = calloc(1, sizeof *c);

	if (c == NULL) {
		fprintf(stderr, "kyso-vcard: out of memory\n");
		goto out;
	}
	c->seed = opt->seed;
	c->rng = (uint64_t)opt->seed;
	c->rate = opt->rate;
	c->stall_ms = opt->stall_ms;
	c->kinds = opt->kinds != 0 ? opt->kinds : (1u << CHAOS_KINDS) - 1u;
	c->last = (struct buf)BUF_INIT;
	c->log = stderr;
	if (opt->log_path != NULL) {
		c->log = fopen(opt->log_path, "ae");
		if (c->log == NULL) {
			fprintf(stderr, "kyso-vcard: cannot open %s: %s\n",
			        opt->log_path, strerror(errno));
			free(c);
			c = NULL;
			goto out;
		}
		c->own_log = true;
		setvbuf(c->log, NULL, _IOLBF, 0);
	}
	fprintf(c->log, "kyso-vcard chaos: seed %lu, rate %u%%, stall %u ms\n",
	        c->seed, c->rate, c->stall_ms);
out:
	return c;
}

void
chaos_destroy(struct chaos *c)
{
	if (c == NULL)
		return;
	fprintf(c->log, "kyso-vcard chaos: seed %lu: %lu faults in %lu APDUs:",
	        c->seed, c->faults, c->apdus);
	for (int k = 0; k < CHAOS_KINDS; k++)
		if (c->counts[k] != 0)
			fprintf(c->log, " %s=%lu", chaos_table[k].name, c->counts[k]);
	fprintf(c->log, "\n");
	if (c->own_log)
		fclose(c->log);
	else
		fflush(c->log);
	buf_free(&c->last);
	free(c);
}

int
chaos_parse_kinds(const char *list, unsigned *kinds)
{
	const char *p = list;
	unsigned mask = 0;
	int rc = -1;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		int k;

		for (k = 0; k < CHAOS_KINDS; k++)
			if (strlen(chaos_table[k].name) == n &&
			    strncmp(chaos_table[k].name, p, n) == 0)
				break;
		if (k == CHAOS_KINDS) {
			fprintf(stderr, "kyso-vcard: unknown chaos kind '%.*s' "
			        "(known: %s)\n", (int)n, p, chaos_kind_names());
			goto out;
		}
		mask |= 1u << k;
		p += n;
		if (*p == ',')
			p++;
	}
	if (mask == 0) {
		fprintf(stderr, "kyso-vcard: --chaos-kinds needs at least one kind\n");
		goto out;
	}
	*kinds = mask;
	rc = 0;
out:
	return rc;
}

const char *
chaos_kind_names(void)
{
	static char names[160];

	if (names[0] == '\0') {
		size_t pos = 0;
		for (int k = 0; k < CHAOS_KINDS; k++)
			pos += (size_t)snprintf(names + pos, sizeof names - pos, "%s%s",
			                        k > 0 ? " " : "", chaos_table[k].name);
	}
	return names;
}

static bool
is_get_response(const uint8_t *cmd, size_t len)
{
	return len >= 4 && cmd[1] == INS_GET_RESPONSE;
}

bool
chaos_intercept(struct chaos *c, const uint8_t *cmd, size_t len,
                struct buf *out)
{
	size_t n = 0;
	bool answered = false;

	if (!c->endless)
		goto out;
	if (!is_get_response(cmd, len)) {
		/* The host gave up and moved on: so does the card. */
		fprintf(c->log, "kyso-vcard chaos: apdu %lu: endless-61 ended "
		        "after %lu GET RESPONSEs\n", c->apdus + 1, c->endless_rounds);
		c->endless = false;
		goto out;
	}
	c->apdus++;
	c->endless_rounds++;
	/* Sometimes a full piece, sometimes nothing at all, always "more". */
	if (chaos_below(c, 2) == 0)
		n = len == 5 && cmd[4] != 0 ? cmd[4] : 255;
	buf_clear(out);
	for (size_t i = 0; i < n; i++)
		if (buf_append_byte(out, chaos_byte(c)) != 0)
			break;
	if (buf_append_byte(out, 0x61) != 0 || buf_append_byte(out, 0xFF) != 0) {
		/* Out of memory: let the card answer honestly. */
		buf_clear(out);
		goto out;
	}
	answered = true;
out:
	return answered;
}

static enum chaos_kind
chaos_pick(struct chaos *c)
{
	unsigned total = 0, r;
	int k;

	for (k = 0; k < CHAOS_KINDS; k++)
		if (c->kinds & (1u << k))
			total += chaos_table[k].weight;
	r = (unsigned)chaos_below(c, total);
	for (k = 0; k < CHAOS_KINDS; k++) {
		if (!(c->kinds & (1u << k)))
			continue;
		if (r < chaos_table[k].weight)
			break;
		r -= chaos_table[k].weight;
	}
	return (enum chaos_kind)k;
}

/* Rebuild `out` as data[0..n) and the two status bytes. */
static int
chaos_emit(struct buf *out, const uint8_t *data, size_t n, uint16_t sw)
{
	struct buf tmp = BUF_INIT;
	int rc = -1;

	if (buf_append(&tmp, data, n) != 0 ||
	    buf_append_byte(&tmp, (uint8_t)(sw >> 8)) != 0 ||
	    buf_append_byte(&tmp, (uint8_t)sw) != 0 ||
	    buf_set(out, tmp.data, tmp.len) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&tmp);
	return rc;
}

/* Offsets (into `p`, plus `base`) of the length bytes of the BER-TLVs in
 * p[0..len), nested ones included: the byte to bump for the short form,
 * the last one of the long form. Stops at the first thing that is not a
 * well-formed TLV: garbage has no lengths to bump. */
static size_t
chaos_tlv_lengths(const uint8_t *p, size_t len, size_t base, int depth,
                  size_t *offs, size_t count)
{
	size_t pos = 0;

	while (pos < len && count < CHAOS_TLV_OFFSETS) {
		uint8_t tag = p[pos++];
		size_t n, k = 0;

		if ((tag & 0x1Fu) == 0x1Fu) {
			/* Subsequent tag bytes (ISO 7816-4 5.2.2.1). */
			for (int i = 0; i < 3 && pos < len; i++)
				if ((p[pos++] & 0x80u) == 0)
					break;
		}
		if (pos >= len)
			break;
		if (p[pos] < 0x80u) {
			n = p[pos];
		} else {
			k = p[pos] & 0x7Fu;
			if (k < 1 || k > 3 || k >= len - pos)
				break;
			n = 0;
			for (size_t i = 1; i <= k; i++)
				n = (n << 8) | p[pos + i];
		}
		offs[count++] = base + pos + k;
		pos += 1 + k;
		if (n > len - pos)
			break;
		if ((tag & 0x20u) != 0 && depth < CHAOS_TLV_DEPTH)
			count = chaos_tlv_lengths(p + pos, n, base + pos, depth + 1,
			                          offs, count);
		pos += n;
	}
	return count;
}

/* Wrap `in` in a TLV with tag `tag` (one byte), definite length. */
static int
chaos_wrap(struct buf *in, uint8_t tag)
{
	struct buf tmp = BUF_INIT;
	uint8_t hdr[4];
	size_t h = 0, n = in->len;
	int rc = -1;

	hdr[h++] = tag;
	if (n < 0x80) {
		hdr[h++] = (uint8_t)n;
	} else if (n < 0x100) {
		hdr[h++] = 0x81;
		hdr[h++] = (uint8_t)n;
	} else {
		hdr[h++] = 0x82;
		hdr[h++] = (uint8_t)(n >> 8);
		hdr[h++] = (uint8_t)n;
	}
	if (buf_append(&tmp, hdr, h) != 0 || buf_append(&tmp, in->data, n) != 0 ||
	    buf_set(in, tmp.data, tmp.len) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&tmp);
	return rc;
}

/* A malformed or oversized TLV into `junk`; its name into c->detail. */
static int
chaos_bogus(struct chaos *c, struct buf *junk)
{
	static const uint8_t huge[] = { 0x53, 0x82, 0xFF, 0xFF, 0x70, 0x01, 0x00 };
	static const uint8_t beyond[] = { 0x53, 0x84, 0x00, 0x01, 0x00, 0x00, 0x01 };
	static const uint8_t indefinite[] = { 0x53, 0x80, 0x70, 0x01, 0x00, 0x00, 0x00 };
	static const uint8_t long_tag[] = { 0x5F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01, 0x00 };
	static const uint8_t bad_len[] = { 0x53, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01 };
	const char *what = "";
	int rc = -1;

	buf_clear(junk);
	switch (chaos_below(c, 7)) {
	case 0:
		what = "length 65535, 3 bytes";
		rc = buf_append(junk, huge, sizeof huge);
		break;
	case 1:
		what = "length 65536";
		rc = buf_append(junk, beyond, sizeof beyond);
		break;
	case 2:
		what = "indefinite length";
		rc = buf_append(junk, indefinite, sizeof indefinite);
		break;
	case 3:
		what = "5-byte tag";
		rc = buf_append(junk, long_tag, sizeof long_tag);
		break;
	case 4:
		what = "5-byte length";
		rc = buf_append(junk, bad_len, sizeof bad_len);
		break;
	case 5:
		/* Well-formed but deep: a parser that recurses must stop. */
		what = "40 levels deep";
		rc = buf_append_byte(junk, 0x00);
		for (int i = 0; rc == 0 && i < CHAOS_NEST_LEVELS; i++)
			rc = chaos_wrap(junk, (uint8_t)(0xA0u | (unsigned)(i % 0x1F)));
		break;
	default: {
		/* Well-formed but far bigger than anything the host asked. */
		size_t n = 1000 + chaos_below(c, 3000);
		what = "oversized 53 object";
		rc = 0;
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = buf_append_byte(junk, chaos_byte(c));
		if (rc == 0)
			rc = chaos_wrap(junk, 0x53);
		break;
	}
	}
	snprintf(c->detail, sizeof c->detail, "%s", what);
	return rc;
}

/* Apply fault `kind` to the answer data[0..n) + sw; the result goes to
 * `out`. Returns the kind really applied: a fault that does not fit the
 * answer (no data to cut) falls back to a wrong status word, or to none
 * (CHAOS_KINDS, `out` untouched) when that is not allowed either. */
static enum chaos_kind
chaos_apply(struct chaos *c, enum chaos_kind kind, const uint8_t *data,
            size_t n, uint16_t sw, struct buf *out, unsigned *stall_ms)
{
	struct buf work = BUF_INIT;
	int rc = 0;

	c->detail[0] = '\0';
	if (n == 0 && (kind == CHAOS_TRUNCATE || kind == CHAOS_FLIP ||
	               kind == CHAOS_TLV_LENGTH))
		kind = CHAOS_STATUS;
	if (kind == CHAOS_WRONG_ANSWER && c->last.len == 0)
		kind = CHAOS_STATUS;
	if (kind == CHAOS_STALL && (c->stalled || c->stall_ms == 0))
		kind = CHAOS_STATUS;
	if (!(c->kinds & (1u << kind)))
		kind = CHAOS_KINDS;

	switch (kind) {
	case CHAOS_TRUNCATE: {
		size_t keep = chaos_below(c, n);
		snprintf(c->detail, sizeof c->detail, "%zu -> %zu data bytes", n, keep);
		rc = chaos_emit(out, data, keep, sw);
		break;
	}
	case CHAOS_CUT_SW:
		/* Never empty: vpcd takes a 0-byte answer for a dead card. */
		if (n > 0 && chaos_below(c, 2) == 0) {
			snprintf(c->detail, sizeof c->detail, "data without SW");
			rc = buf_set(out, data, n);
		} else {
			uint8_t sw1 = (uint8_t)(sw >> 8);
			snprintf(c->detail, sizeof c->detail, "SW1 only");
			rc = n > 0 ? buf_set(out, data, n) : 0;
			if (n == 0)
				buf_clear(out);
			if (rc == 0)
				rc = buf_append_byte(out, sw1);
		}
		break;
	case CHAOS_TLV_LENGTH: {
		size_t offs[CHAOS_TLV_OFFSETS];
		size_t count = chaos_tlv_lengths(data, n, 0, 0, offs, 0);
		size_t at;
		uint8_t was, now;

		rc = buf_set(&work, data, n);
		if (rc != 0)
			break;
		at = count > 0 ? offs[chaos_below(c, count)] : chaos_below(c, n);
		was = work.data[at];
		switch (chaos_below(c, 5)) {
		case 0:
			now = (uint8_t)(was + 1);
			break;
		case 1:
			now = (uint8_t)(was - 1);
			break;
		case 2:
			now = (uint8_t)(was + 2 + chaos_below(c, 64));
			break;
		case 3:
			now = (uint8_t)(0x80u | chaos_below(c, 6));
			break;
		default:
			now = 0xFF;
			break;
		}
		work.data[at] = now;
		snprintf(c->detail, sizeof c->detail, "byte %zu%s %02X -> %02X", at,
		         count > 0 ? "" : " (no TLV)", was, now);
		rc = chaos_emit(out, work.data, work.len, sw);
		break;
	}
	case CHAOS_BOGUS_TLV: {
		struct buf junk = BUF_INIT;
		size_t where = chaos_below(c, 3);	/* replace, before, after */

		rc = chaos_bogus(c, &junk);
		if (rc == 0 && where == 1)
			rc = buf_append(&work, junk.data, junk.len);
		if (rc == 0 && where != 0)
			rc = buf_append(&work, data, n);
		if (rc == 0 && where != 1)
			rc = buf_append(&work, junk.data, junk.len);
		if (rc == 0) {
			size_t len = strlen(c->detail);
			snprintf(c->detail + len, sizeof c->detail - len, ", %s",
			         where == 0 ? "instead of the data" :
			         where == 1 ? "before the data" : "after the data");
			rc = chaos_emit(out, work.data, work.len, sw);
		}
		buf_free(&junk);
		break;
	}
	case CHAOS_FLIP: {
		size_t flips = 1 + chaos_below(c, 4);

		rc = buf_set(&work, data, n);
		for (size_t i = 0; rc == 0 && i < flips; i++)
			work.data[chaos_below(c, n)] ^= (uint8_t)(1u + chaos_below(c, 255));
		snprintf(c->detail, sizeof c->detail, "%zu bytes of %zu", flips, n);
		if (rc == 0)
			rc = chaos_emit(out, work.data, work.len, sw);
		break;
	}
	case CHAOS_STATUS: {
		uint16_t now = chaos_sws[chaos_below(c, sizeof chaos_sws / sizeof chaos_sws[0])];
		bool keep;

		if (now == 0x6100 || now == 0x6C00)
			now |= chaos_byte(c);
		else if (now == 0x63C0)
			now |= (uint16_t)chaos_below(c, 16);
		else if (now == 0x0000)
			now = (uint16_t)chaos_rand(c);
		/* 6Cxx is "resend with this Le": never with data. */
		keep = (now >> 8) != 0x6C && chaos_below(c, 2) == 0;
		snprintf(c->detail, sizeof c->detail, "%04X -> %04X%s", sw, now,
		         keep && n > 0 ? " with the data" : "");
		rc = chaos_emit(out, data, keep ? n : 0, now);
		break;
	}
	case CHAOS_EMPTY_OK:
		snprintf(c->detail, sizeof c->detail, "%zu data bytes, %04X dropped", n, sw);
		rc = chaos_emit(out, data, 0, 0x9000);
		break;
	case CHAOS_ENDLESS_61:
		c->endless = true;
		c->endless_rounds = 0;
		rc = chaos_emit(out, data, n, 0x61FF);
		break;
	case CHAOS_WRONG_ANSWER:
		snprintf(c->detail, sizeof c->detail, "%zu bytes instead of %zu",
		         c->last.len, n + 2);
		rc = buf_set(out, c->last.data, c->last.len);
		break;
	case CHAOS_STALL:
		c->stalled = true;
		*stall_ms = c->stall_ms;
		snprintf(c->detail, sizeof c->detail, "silent for %u ms", c->stall_ms);
		break;
	case CHAOS_KINDS:
		break;
	}
	if (rc != 0)
		snprintf(c->detail, sizeof c->detail, "(out of memory: answer kept)");
	if (out->len > CHAOS_OUT_MAX)
		out->len = CHAOS_OUT_MAX;
	buf_free(&work);
	return kind;
}

void
chaos_corrupt(struct chaos *c, const uint8_t *cmd, size_t len, struct buf *out,
              unsigned *stall_ms)
{
	struct buf honest = BUF_INIT;
	enum chaos_kind kind;
	uint16_t sw;

	*stall_ms = 0;
	c->apdus++;
	if (out->len < 2 || buf_set(&honest, out->data, out->len) != 0)
		goto out;
	if (chaos_below(c, 100) >= c->rate)
		goto out;
	sw = (uint16_t)((honest.data[honest.len - 2] << 8) | honest.data[honest.len - 1]);
	kind = chaos_pick(c);
	kind = chaos_apply(c, kind, honest.data, honest.len - 2, sw, out, stall_ms);
	if (kind == CHAOS_KINDS)
		goto out;
	c->faults++;
	c->counts[kind]++;
	fprintf(c->log, "kyso-vcard chaos: apdu %lu (%02X %02X): %s %s\n", c->apdus,
	        len > 0 ? cmd[0] : 0, len > 1 ? cmd[1] : 0, chaos_table[kind].name,
	        c->detail);
out:
	/* The next wrong-answer is this command's true answer. */
	if (honest.len >= 2)
		(void)buf_set(&c->last, honest.data, honest.len);
	buf_free(&honest);
}
