#include "tests/unit/script_transport.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int
script_nibble(char c)
{
	int v = -1;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	return v;
}

void
script_hex(struct buf *out, const char *hex)
{
	int hi = -1;

	for (const char *p = hex; *p != '\0'; p++) {
		int v;
		if (*p == ' ' || *p == '\n' || *p == '\t')
			continue;
		v = script_nibble(*p);
		if (v < 0)
			fail_msg("script: '%c' in hex string \"%s\"", *p, hex);
		if (hi < 0) {
			hi = v;
		} else {
			assert_int_equal(buf_append_byte(out, (uint8_t)(hi << 4 | v)), 0);
			hi = -1;
		}
	}
	if (hi >= 0)
		fail_msg("script: odd number of digits in \"%s\"", hex);
}

/* Hex for messages; the caller frees. */
static char *
script_to_hex(const uint8_t *p, size_t len)
{
	char *s = malloc(len * 2 + 1);

	assert_non_null(s);
	for (size_t i = 0; i < len; i++)
		snprintf(s + 2 * i, 3, "%02X", p[i]);
	s[len * 2] = '\0';
	return s;
}

void
script_init(struct script *s)
{
	memset(s, 0, sizeof(*s));
	s->begin_rv = CKR_OK;
}

void
script_free(struct script *s)
{
	for (size_t i = 0; i < s->count; i++) {
		buf_free(&s->steps[i].cmd);
		buf_free(&s->steps[i].rsp);
	}
	free(s->steps);
	memset(s, 0, sizeof(*s));
}

static struct script_step *
script_add(struct script *s)
{
	struct script_step *step;

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct script_step *n = realloc(s->steps, cap * sizeof(*n));
		assert_non_null(n);
		s->steps = n;
		s->cap = cap;
	}
	step = &s->steps[s->count++];
	memset(step, 0, sizeof(*step));
	step->rv = CKR_OK;
	return step;
}

void
script_expect(struct script *s, const char *cmd_hex, const char *rsp_hex)
{
	struct script_step *step = script_add(s);

	script_hex(&step->cmd, cmd_hex);
	script_hex(&step->rsp, rsp_hex);
}

void
script_expect_bytes(struct script *s, const uint8_t *cmd, size_t cmd_len,
                    const uint8_t *rsp, size_t rsp_len)
{
	struct script_step *step = script_add(s);

	assert_int_equal(buf_append(&step->cmd, cmd, cmd_len), 0);
	assert_int_equal(buf_append(&step->rsp, rsp, rsp_len), 0);
}

void
script_expect_error(struct script *s, const char *cmd_hex, CK_RV rv)
{
	struct script_step *step = script_add(s);

	script_hex(&step->cmd, cmd_hex);
	step->rv = rv;
}

static CK_RV
script_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
                size_t *rsp_len)
{
	struct script *s = ctx;
	struct script_step *step;

	if (s->next >= s->count) {
		char *got = script_to_hex(cmd, cmd_len);
		fail_msg("script: command %zu was not expected (the script has "
		         "%zu)\n  got:      %s", s->next + 1, s->count, got);
	}
	step = &s->steps[s->next];
	if (step->cmd.len != cmd_len ||
	    (cmd_len > 0 && memcmp(step->cmd.data, cmd, cmd_len) != 0)) {
		char *want = script_to_hex(step->cmd.data, step->cmd.len);
		char *got = script_to_hex(cmd, cmd_len);
		fail_msg("script: command %zu differs\n  expected: %s\n  got:      %s",
		         s->next + 1, want, got);
	}
	s->next++;
	if (step->rv != CKR_OK)
		return step->rv;
	if (step->rsp.len > *rsp_len)
		fail_msg("script: response %zu has %zu bytes, the caller gave room "
		         "for %zu", s->next, step->rsp.len, *rsp_len);
	if (step->rsp.len > 0)
		memcpy(rsp, step->rsp.data, step->rsp.len);
	*rsp_len = step->rsp.len;
	return CKR_OK;
}

static CK_RV
script_begin(void *ctx, bool *was_reset)
{
	struct script *s = ctx;

	s->begins++;
	*was_reset = false;
	if (s->begin_rv != CKR_OK)
		return s->begin_rv;
	*was_reset = s->reset_on_begin;
	s->reset_on_begin = false;
	return CKR_OK;
}

static void
script_end(void *ctx)
{
	struct script *s = ctx;

	s->ends++;
}

static void
script_close(void *ctx)
{
	struct script *s = ctx;

	s->closes++;
}

const struct transport_ops script_transport_ops = {
	.transmit = script_transmit,
	.begin = script_begin,
	.end = script_end,
	.close = script_close,
};

void
script_attach(struct script *s, struct card *card)
{
	card->ops = &script_transport_ops;
	card->transport = s;
}

void
script_assert_done(const struct script *s)
{
	if (s->next != s->count) {
		const struct script_step *step = &s->steps[s->next];
		char *want = script_to_hex(step->cmd.data, step->cmd.len);
		fail_msg("script: only %zu of %zu commands were sent; next "
		         "expected: %s", s->next, s->count, want);
	}
}
