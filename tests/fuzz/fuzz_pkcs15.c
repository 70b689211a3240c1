/* Fuzz the generic PKCS#15 reader (drivers/pkcs15/pkcs15.c).
 *
 * Input: byte 0 picks what the rest is: 0 an ODF, 1 a TokenInfo, 2 a PrKDF,
 * 3 a PuKDF, 4 a CDF, 5 an AODF; 6 and up: a whole application read
 * through p15_read, whose files (ODF, TokenInfo, then each file the ODF
 * names, in order) are the rest of the input cut into pieces by a length
 * byte each.
 *
 * Checks: counts within their bounds, paths of whole FIDs within
 * P15_PATH_MAX, labels terminated, ids within P15_ID_MAX; p15_read answers
 * CKR_OK whatever the files hold. */
#include <string.h>

#include "drivers/pkcs15/pkcs15.h"
#include "tests/fuzz/fuzz.h"

struct fuzz_files {
	const uint8_t *p;
	size_t left;
};

static CK_RV
fuzz_read(void *ctx, const uint8_t *path, size_t path_len, struct buf *out, bool *found)
{
	struct fuzz_files *f = ctx;
	size_t n;

	FUZZ_CHECK(path != NULL && path_len > 0 && path_len <= P15_PATH_MAX &&
	           path_len % 2 == 0);
	*found = false;
	buf_clear(out);
	if (f->left == 0)
		return CKR_OK;
	n = f->p[0];
	f->p++;
	f->left--;
	if (n == 0xFF)
		return CKR_OK;	/* no such file */
	if (n > f->left)
		n = f->left;
	FUZZ_CHECK(buf_set(out, f->p, n) == 0);
	f->p += n;
	f->left -= n;
	*found = true;
	return CKR_OK;
}

static void
fuzz_path(const struct p15_path *p)
{
	FUZZ_CHECK(p->len <= P15_PATH_MAX && p->len % 2 == 0);
	FUZZ_CHECK(p->index >= -1 && p->length >= -1);
}

static void
fuzz_common(const struct p15_common *c)
{
	FUZZ_CHECK(strnlen(c->label, sizeof(c->label)) < sizeof(c->label));
	FUZZ_CHECK(c->auth_id_len <= P15_ID_MAX);
}

static void
fuzz_token(const struct p15_token *t)
{
	FUZZ_CHECK(strnlen(t->label, sizeof(t->label)) < sizeof(t->label));
	FUZZ_CHECK(strnlen(t->manufacturer, sizeof(t->manufacturer)) < sizeof(t->manufacturer));
	FUZZ_CHECK(t->serial_len <= P15_SERIAL_MAX);
	FUZZ_CHECK(t->prkey_count <= P15_MAX_OBJECTS && t->pubkey_count <= P15_MAX_OBJECTS);
	FUZZ_CHECK(t->cert_count <= P15_MAX_OBJECTS && t->pin_count <= P15_MAX_OBJECTS);
	for (size_t i = 0; i < t->prkey_count; i++) {
		fuzz_common(&t->prkeys[i].c);
		fuzz_path(&t->prkeys[i].path);
		FUZZ_CHECK(t->prkeys[i].id_len <= P15_ID_MAX);
		FUZZ_CHECK(t->prkeys[i].key_ref >= -1 && t->prkeys[i].key_ref <= 0xFFFF);
	}
	for (size_t i = 0; i < t->pubkey_count; i++) {
		fuzz_common(&t->pubkeys[i].c);
		fuzz_path(&t->pubkeys[i].path);
	}
	for (size_t i = 0; i < t->cert_count; i++) {
		fuzz_common(&t->certs[i].c);
		fuzz_path(&t->certs[i].path);
		FUZZ_CHECK(t->certs[i].id_len <= P15_ID_MAX);
	}
	for (size_t i = 0; i < t->pin_count; i++) {
		fuzz_common(&t->pins[i].c);
		FUZZ_CHECK(t->pins[i].auth_id_len <= P15_ID_MAX);
		FUZZ_CHECK(t->pins[i].reference >= 0 && t->pins[i].reference <= 0xFF);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t app[] = { 0x3F, 0x00, 0x50, 0x15 };
	static const enum p15_df_kind kinds[] = { P15_DF_PRKDF, P15_DF_PUKDF, P15_DF_CDF,
	                                          P15_DF_AODF };
	struct p15_token *t;
	struct p15_odf odf;
	int rc;

	if (size < 1)
		return 0;
	t = calloc(1, sizeof(*t));
	FUZZ_CHECK(t != NULL);
	if (data[0] == 0) {
		FUZZ_CHECK(p15_parse_odf(data + 1, size - 1, &odf) == 0);
		FUZZ_CHECK(odf.count <= P15_MAX_DFS);
		for (size_t i = 0; i < odf.count; i++) {
			fuzz_path(&odf.dfs[i].path);
			if (p15_path_resolve(&odf.dfs[i].path, app, sizeof(app)) == 0)
				fuzz_path(&odf.dfs[i].path);
		}
	} else if (data[0] == 1) {
		rc = p15_parse_tokeninfo(data + 1, size - 1, t);
		fuzz_note("p15_parse_tokeninfo", (unsigned long)rc);
		FUZZ_CHECK(rc == 0 || rc == -1);
	} else if (data[0] < 6) {
		rc = p15_parse_df(kinds[data[0] - 2], data + 1, size - 1, t);
		fuzz_note("p15_parse_df", (unsigned long)rc);
		FUZZ_CHECK(rc == 0 || rc == -1);
	} else {
		struct fuzz_files files = { data + 1, size - 1 };
		struct p15_io io = { fuzz_read, &files };
		FUZZ_CHECK(p15_read(&io, app, sizeof(app), t) == CKR_OK);
	}
	fuzz_token(t);
	free(t);
	return 0;
}
