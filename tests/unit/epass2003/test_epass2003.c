/* Unit tests of the ePass2003 driver's pure parts: secure messaging against
 * vectors computed with the openssl command line (the derivation in
 * tests/unit/epass2003/sm_vectors.py), the ESPK index and attribute-stream
 * parsers, and the generic PKCS#15 reader's parsers on DER built here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "drivers/card/tlv.h"
#include "drivers/epass2003/epass2003_sm.h"
#include "drivers/epass2003/espk_layout.h"
#include "drivers/pkcs15/pkcs15.h"
#include "tests/unit/script_transport.h"

/* ---- secure messaging ---- */

static const char *const KEY_ENC = "0102030405060708090a0b0c0d0e0f10";
static const char *const KEY_MAC = "100f0e0d0c0b0a090807060504030201";
static const char *const HOST_RAND = "1122334455667788";
/* 12 bytes of key data, card random a1..a8, card cryptogram. */
static const char *const INIT_RSP =
	"000102030405060708090a0b a1a2a3a4a5a6a7a8 3f448dbecaf722c7";
static const char *const S_ENC = "dc0be78286043a6c8a150beb675a0373";
static const char *const S_MAC = "d3749b550b5bf745ae081a02de309de1";
static const char *const EXT_AUTH = "6cf1ed594baa2156 27073b303d1f6fc7";
/* SELECT 3F00 (00 A4 00 00, data 3F00, Le 00), first command. */
static const char *const WRAPPED_SELECT =
	"871101851a7730b41ab17de6d40ab1a97b22dc 970100 8e08b875f4dc174902a3";
/* Its answer: FCI 6F 04 83 02 3F 00, 9000. */
static const char *const RSP_SELECT =
	"871101959a770272199489e8d3a094a865a2ef 99029000 8e08f66d7850ceca245a";

static void
hex(struct buf *b, const char *h)
{
	buf_clear(b);
	script_hex(b, h);
}

static void
assert_buf_hex(const struct buf *b, const char *h)
{
	struct buf want = BUF_INIT;

	hex(&want, h);
	assert_int_equal(b->len, want.len);
	assert_memory_equal(b->data, want.data, want.len);
	buf_free(&want);
}

static void
sm_open_vector(struct epass_sm *sm)
{
	struct buf ke = BUF_INIT, km = BUF_INIT, hr = BUF_INIT, rsp = BUF_INIT, ea = BUF_INIT;
	uint8_t ext[16];

	hex(&ke, KEY_ENC);
	hex(&km, KEY_MAC);
	hex(&hr, HOST_RAND);
	hex(&rsp, INIT_RSP);
	assert_int_equal(epass_sm_open(sm, ke.data, km.data, hr.data, rsp.data, rsp.len, ext), CKR_OK);
	assert_true(sm->open);
	hex(&ea, EXT_AUTH);
	assert_memory_equal(ext, ea.data, 16);
	buf_free(&ke);
	buf_free(&km);
	buf_free(&hr);
	buf_free(&rsp);
	buf_free(&ea);
}

static void
test_sm_handshake_vector(void **state)
{
	struct epass_sm sm;
	struct buf k = BUF_INIT;

	(void)state;
	sm_open_vector(&sm);
	hex(&k, S_ENC);
	assert_memory_equal(sm.enc, k.data, 16);
	hex(&k, S_MAC);
	assert_memory_equal(sm.mac, k.data, 16);
	epass_sm_close(&sm);
	assert_false(sm.open);
	buf_free(&k);
}

static void
test_sm_wrong_card_cryptogram(void **state)
{
	struct buf ke = BUF_INIT, hr = BUF_INIT, rsp = BUF_INIT;
	struct epass_sm sm;
	uint8_t ext[16];

	(void)state;
	hex(&ke, KEY_ENC);
	hex(&hr, HOST_RAND);
	hex(&rsp, INIT_RSP);
	rsp.data[27] ^= 0x01;
	assert_int_equal(epass_sm_open(&sm, ke.data, ke.data, hr.data, rsp.data, rsp.len, ext),
	                 CKR_DEVICE_ERROR);
	assert_false(sm.open);
	/* Too short an answer. */
	assert_int_equal(epass_sm_open(&sm, ke.data, ke.data, hr.data, rsp.data, 27, ext),
	                 CKR_DEVICE_ERROR);
	buf_free(&ke);
	buf_free(&hr);
	buf_free(&rsp);
}

static void
test_sm_wrap_and_unwrap_vector(void **state)
{
	static const uint8_t mf[] = { 0x3F, 0x00 };
	struct buf out = BUF_INIT, rsp = BUF_INIT, plain = BUF_INIT;
	struct epass_sm sm;
	uint8_t cla = 0;

	(void)state;
	sm_open_vector(&sm);
	assert_int_equal(epass_sm_wrap(&sm, 0x00, 0xA4, 0x00, 0x00, mf, 2, EPASS_SM_LE_ANY, &cla,
	                               &out), CKR_OK);
	assert_int_equal(cla, 0x0C);
	assert_buf_hex(&out, WRAPPED_SELECT);
	hex(&rsp, RSP_SELECT);
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x9000, &plain), CKR_OK);
	assert_buf_hex(&plain, "6f0483023f00");
	buf_free(&out);
	buf_free(&rsp);
	buf_free(&plain);
	epass_sm_close(&sm);
}

static void
test_sm_unwrap_rejects(void **state)
{
	struct buf rsp = BUF_INIT, plain = BUF_INIT, bad = BUF_INIT;
	struct epass_sm sm;
	uint8_t cla;

	(void)state;
	sm_open_vector(&sm);
	assert_int_equal(epass_sm_wrap(&sm, 0, 0xA4, 0, 0, (const uint8_t *)"\x3f\x00", 2,
	                               EPASS_SM_LE_ANY, &cla, &bad), CKR_OK);
	hex(&rsp, RSP_SELECT);

	/* The status outside must be the status inside. */
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x6A82, &plain), CKR_DEVICE_ERROR);
	/* A MAC bit flipped, a cryptogram bit flipped. */
	rsp.data[rsp.len - 1] ^= 0x80;
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x9000, &plain), CKR_DEVICE_ERROR);
	rsp.data[rsp.len - 1] ^= 0x80;
	rsp.data[5] ^= 0x01;
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x9000, &plain), CKR_DEVICE_ERROR);
	rsp.data[5] ^= 0x01;
	/* Cut short, or with bytes after the MAC. */
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len - 1, 0x9000, &plain),
	                 CKR_DEVICE_ERROR);
	assert_int_equal(buf_append_byte(&rsp, 0x00), 0);
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x9000, &plain), CKR_DEVICE_ERROR);
	/* No MAC at all, as a card without our session answers. */
	hex(&bad, "99029000");
	assert_int_equal(epass_sm_unwrap(&sm, bad.data, bad.len, 0x9000, &plain), CKR_DEVICE_ERROR);
	assert_int_equal(epass_sm_unwrap(&sm, NULL, 0, 0x6988, &plain), CKR_DEVICE_ERROR);
	assert_int_equal(plain.len, 0);
	/* After the counter moved on (a second command), the old answer's
	 * MAC no longer verifies: replays are refused. */
	assert_int_equal(epass_sm_wrap(&sm, 0, 0xA4, 0, 0, (const uint8_t *)"\x3f\x00", 2,
	                               EPASS_SM_LE_ANY, &cla, &bad), CKR_OK);
	rsp.len--;
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x9000, &plain), CKR_DEVICE_ERROR);
	buf_free(&rsp);
	buf_free(&plain);
	buf_free(&bad);
	epass_sm_close(&sm);
}

/* The card side, written independently of the driver with EVP: encrypt
 * and MAC a response for `sm`'s current counter. `firmware_len`: write the
 * 87 length in one byte as the ePass2003 firmware does. */
static void
card_response(const struct epass_sm *sm, const uint8_t *data, size_t len, uint16_t sw,
              bool firmware_len, struct buf *out)
{
	static const uint8_t zero[16];
	uint8_t padded[512], cipher[512], mac_in[600], mac_out[600];
	size_t plen = len + 1, n = 0, m;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ol = 0;

	memcpy(padded, data, len);
	padded[len] = 0x80;
	while (plen % 16)
		padded[plen++] = 0;
	EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, sm->enc, zero);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_EncryptUpdate(ctx, cipher, &ol, padded, (int)plen);
	buf_clear(out);
	buf_append_byte(out, 0x87);
	if (plen + 1 <= 0x7F || firmware_len) {
		buf_append_byte(out, (uint8_t)(plen + 1));
	} else {
		buf_append_byte(out, 0x81);
		buf_append_byte(out, (uint8_t)(plen + 1));
	}
	buf_append_byte(out, 0x01);
	buf_append(out, cipher, plen);
	buf_append_byte(out, 0x99);
	buf_append_byte(out, 0x02);
	buf_append_byte(out, (uint8_t)(sw >> 8));
	buf_append_byte(out, (uint8_t)sw);
	memcpy(mac_in, out->data, out->len);
	m = out->len;
	mac_in[m++] = 0x80;
	while (m % 16)
		mac_in[m++] = 0;
	EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, sm->mac, sm->icv);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_EncryptUpdate(ctx, mac_out, &ol, mac_in, (int)m);
	n = m - 16;
	buf_append_byte(out, 0x8E);
	buf_append_byte(out, 0x08);
	buf_append(out, mac_out + n, 8);
	EVP_CIPHER_CTX_free(ctx);
}

static void
test_sm_long_cryptogram_lengths(void **state)
{
	uint8_t data[120];
	struct buf rsp = BUF_INIT, plain = BUF_INIT, cmd = BUF_INIT;
	struct epass_sm sm;
	uint8_t cla;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	sm_open_vector(&sm);
	assert_int_equal(epass_sm_wrap(&sm, 0, 0xB0, 0, 0, NULL, 0, sizeof(data), &cla, &cmd),
	                 CKR_OK);
	/* 120 bytes: 128 of cryptogram, 87 length 0x81: BER and the
	 * firmware's one-byte form are both read. */
	card_response(&sm, data, sizeof(data), 0x9000, false, &rsp);
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x9000, &plain), CKR_OK);
	assert_int_equal(plain.len, sizeof(data));
	assert_memory_equal(plain.data, data, sizeof(data));
	card_response(&sm, data, sizeof(data), 0x9000, true, &rsp);
	assert_int_equal(rsp.data[1], 0x81);
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x9000, &plain), CKR_OK);
	assert_memory_equal(plain.data, data, sizeof(data));
	/* An error status is MACed too, without data. */
	card_response(&sm, data, 0, 0x6A82, false, &rsp);
	assert_int_equal(epass_sm_unwrap(&sm, rsp.data, rsp.len, 0x6A82, &plain), CKR_OK);
	buf_free(&rsp);
	buf_free(&plain);
	buf_free(&cmd);
	epass_sm_close(&sm);
}

static void
test_sm_wrap_forms(void **state)
{
	uint8_t data[200] = { 0 };
	struct buf out = BUF_INIT;
	struct epass_sm sm;
	uint8_t cla;

	(void)state;
	sm_open_vector(&sm);
	/* No data, no Le: only the MAC. */
	assert_int_equal(epass_sm_wrap(&sm, 0x00, 0x82, 0x01, 0x81, NULL, 0, 0, &cla, &out), CKR_OK);
	assert_int_equal(out.len, 10);
	assert_int_equal(out.data[0], 0x8E);
	/* 200 bytes: 208 of cryptogram, 87 82 00 D1 01; Le 256 as 97 02 01 00. */
	assert_int_equal(epass_sm_wrap(&sm, 0x00, 0x2A, 0x80, 0x86, data, sizeof(data), 256, &cla,
	                               &out), CKR_OK);
	assert_int_equal(out.len, 5 + 208 + 4 + 10);
	assert_memory_equal(out.data, "\x87\x82\x00\xd1\x01", 5);
	assert_memory_equal(out.data + 5 + 208, "\x97\x02\x01\x00", 4);
	/* A closed session wraps nothing. */
	epass_sm_close(&sm);
	assert_int_equal(epass_sm_wrap(&sm, 0, 0xB0, 0, 0, NULL, 0, 8, &cla, &out),
	                 CKR_ARGUMENTS_BAD);
	buf_free(&out);
}

/* ---- ENTERSAFE-ESPK ---- */

static void
espk_record(struct buf *b, uint16_t fid, const char *dir, const char *name, uint16_t used,
            uint16_t alloc)
{
	uint8_t r[ESPK_RECORD_LEN] = { 0 };

	r[0] = (uint8_t)fid;
	r[1] = (uint8_t)(fid >> 8);
	memcpy(r + 2, dir, strlen(dir));
	memcpy(r + 12, name, strlen(name));
	r[25] = 0x90;
	r[26] = (uint8_t)used;
	r[27] = (uint8_t)(used >> 8);
	r[28] = (uint8_t)alloc;
	r[29] = (uint8_t)(alloc >> 8);
	buf_append(b, r, sizeof(r));
}

static void
test_espk_index(void **state)
{
	struct buf b = BUF_INIT;
	struct espk_index idx;
	uint8_t blank[ESPK_RECORD_LEN] = { 0 };

	(void)state;
	espk_record(&b, 0xFFFF, "mscp", "", 0, 0);
	espk_record(&b, 0x0103, "mscp", "cert0000", 0x0412, 0x0800);
	buf_append(&b, blank, sizeof(blank));
	espk_record(&b, 0x0203, "mscp", "prvk0000", 0x0120, 0x0200);
	espk_record(&b, 0x0303, "mscp", "containermap", 56, 64);
	buf_append(&b, "\x01\x02\x03", 3);	/* a partial record: ignored */
	assert_int_equal(espk_index_parse(b.data, b.len, &idx), 0);
	assert_int_equal(idx.count, 3);
	assert_int_equal(idx.entries[0].fid, 0x0103);
	assert_string_equal(idx.entries[0].name, "cert0000");
	assert_string_equal(idx.entries[0].dir, "mscp");
	assert_int_equal(idx.entries[0].kind, ESPK_CERT);
	assert_int_equal(idx.entries[0].used, 0x0412);
	assert_int_equal(idx.entries[0].allocated, 0x0800);
	assert_int_equal(idx.entries[1].kind, ESPK_PRIVKEY);
	assert_int_equal(idx.entries[2].kind, ESPK_OTHER);
	espk_index_free(&idx);

	/* A name filling its 13 bytes, with a control character. */
	buf_clear(&b);
	espk_record(&b, 0x0104, "d", "pubk\x01" "00000000", 1, 2);
	assert_int_equal(espk_index_parse(b.data, b.len, &idx), 0);
	assert_string_equal(idx.entries[0].name, "pubk?00000000");
	espk_index_free(&idx);

	/* More used than allocated: the index is not trusted. */
	buf_clear(&b);
	espk_record(&b, 0x0104, "d", "cert0001", 300, 200);
	assert_int_equal(espk_index_parse(b.data, b.len, &idx), -1);
	assert_int_equal(espk_index_parse(NULL, 0, &idx), 0);
	assert_int_equal(idx.count, 0);
	buf_free(&b);
}

static void
attr_put(struct buf *b, uint32_t type, const void *v, uint32_t len)
{
	uint8_t h[8] = { (uint8_t)type, (uint8_t)(type >> 8), (uint8_t)(type >> 16),
	                 (uint8_t)(type >> 24), (uint8_t)len, (uint8_t)(len >> 8),
	                 (uint8_t)(len >> 16), (uint8_t)(len >> 24) };
	buf_append(b, h, sizeof(h));
	buf_append(b, v, len);
}

static void
test_espk_attrs(void **state)
{
	static const uint8_t cls[4] = { 0x03, 0, 0, 0 };	/* CKO_PRIVATE_KEY */
	static const uint8_t handle[4] = { 0x01, 0xA0, 0, 0 };
	struct buf b = BUF_INIT;
	struct espk_attrs a;
	CK_ULONG v = 0;

	(void)state;
	attr_put(&b, CKA_CLASS, cls, 4);
	attr_put(&b, CKA_LABEL, "Chu ky so", 9);
	attr_put(&b, CKA_ID, "\x12\x34", 2);
	attr_put(&b, (uint32_t)ESPK_ATTR_KEY_HANDLE, handle, 4);
	attr_put(&b, CKA_SIGN, "\x01", 1);
	buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0", 11);	/* zero padding */
	assert_int_equal(espk_attrs_parse(b.data, b.len, &a), 0);
	assert_int_equal(a.count, 5);
	assert_int_equal(espk_attr_ulong(&a, CKA_CLASS, &v), 0);
	assert_int_equal(v, CKO_PRIVATE_KEY);
	assert_int_equal(espk_attr_ulong(&a, ESPK_ATTR_KEY_HANDLE, &v), 0);
	assert_int_equal(v, 0xA001);
	assert_int_equal(espk_attrs_find(&a, CKA_LABEL)->len, 9);
	assert_null(espk_attrs_find(&a, CKA_VALUE));
	assert_int_equal(espk_attr_ulong(&a, CKA_SIGN, &v), -1);	/* 1 byte */
	espk_attrs_free(&a);

	/* A value running past the end, junk after the last attribute. */
	assert_int_equal(espk_attrs_parse(b.data, 8 + 4 + 8 + 5, &a), -1);
	buf_append_byte(&b, 0x07);
	assert_int_equal(espk_attrs_parse(b.data, b.len, &a), -1);
	/* A length of 2^32 - 1 does not wrap. */
	buf_clear(&b);
	attr_put(&b, CKA_LABEL, "", 0);
	b.data[4] = b.data[5] = b.data[6] = b.data[7] = 0xFF;
	assert_int_equal(espk_attrs_parse(b.data, b.len, &a), -1);

	/* Headers one at a time (the driver's piece-by-piece read): the
	 * length as stored, even 2^32 - 1 (the caller bounds it); zero
	 * padding; too few bytes. */
	{
		CK_ATTRIBUTE_TYPE type = 0;
		size_t vlen = 0;
		assert_int_equal(espk_attr_header(b.data, b.len, &type, &vlen), 1);
		assert_int_equal(type, CKA_LABEL);
		assert_true(vlen == 0xFFFFFFFFu);
		assert_int_equal(espk_attr_header(b.data, 7, &type, &vlen), -1);
		assert_int_equal(espk_attr_header((const uint8_t *)"\0\0\0\0\0\0\0\0", 8, &type,
		                                  &vlen), 0);
	}
	buf_free(&b);
}

/* ---- PKCS#15 ---- */

/* DER builders over tlv_put: wrap `inner` in `tag`. */
static void
der_wrap(struct buf *out, uint32_t tag, const struct buf *inner)
{
	assert_int_equal(tlv_put(out, tag, inner->data, inner->len), 0);
}

static void
der_hex(struct buf *out, const char *h)
{
	script_hex(out, h);
}

/* One RSA private key entry as OpenSC's pkcs15-init writes it. `subclass`
 * 0: none, 1: [0] explicit, 2: [0] implicit; `extra`: trailing fields. */
static void
prkdf_entry(struct buf *out, int subclass, bool extra)
{
	struct buf common = BUF_INIT, key = BUF_INIT, sub = BUF_INIT, rsa = BUF_INIT,
	           t = BUF_INIT, obj = BUF_INIT;

	der_hex(&t, "0C 08 50726976204B6579 03 02 07 80 04 01 01");	/* "Priv Key" */
	if (extra)
		der_hex(&t, "02 01 00");	/* userConsent */
	der_wrap(&common, 0x30, &t);
	buf_clear(&t);
	der_hex(&t, "04 02 4512 03 03 06 2040 01 01 FF 02 01 01");
	if (extra)
		der_hex(&t, "18 0F 32303236303130313030303030305A");	/* startDate */
	der_wrap(&key, 0x30, &t);
	buf_clear(&t);
	der_hex(&t, "30 08 04 06 3F0050152901 02 02 0800");
	if (extra)
		der_hex(&t, "A0 02 05 00");
	der_wrap(&rsa, 0x30, &t);
	buf_clear(&t);
	der_wrap(&t, 0xA1, &rsa);
	buf_clear(&rsa);
	buf_append(&obj, common.data, common.len);
	buf_append(&obj, key.data, key.len);
	if (subclass == 1) {
		der_hex(&sub, "30 03 04 01 AA");
		der_wrap(&obj, 0xA0, &sub);
	} else if (subclass == 2) {
		der_hex(&sub, "04 01 AA 02 01 05");
		der_wrap(&obj, 0xA0, &sub);
	}
	buf_append(&obj, t.data, t.len);
	der_wrap(out, 0x30, &obj);
	buf_free(&common);
	buf_free(&key);
	buf_free(&sub);
	buf_free(&rsa);
	buf_free(&t);
	buf_free(&obj);
}

static void
test_p15_odf_and_tokeninfo(void **state)
{
	struct buf b = BUF_INIT;
	struct p15_odf odf;
	struct p15_token *t = calloc(1, sizeof(*t));

	(void)state;
	der_hex(&b, "A0 06 30 04 04 02 4402  A1 06 30 04 04 02 4403"
	            "A4 06 30 04 04 02 4404  A8 06 30 04 04 02 4401"
	            "A7 06 30 04 04 02 4405  A0 03 04 01 00  0000");
	assert_int_equal(p15_parse_odf(b.data, b.len, &odf), 0);
	/* The data objects ([7]) are not read; a [0] without a Path is
	 * skipped; zeros end the file. */
	assert_int_equal(odf.count, 4);
	assert_int_equal(odf.dfs[0].kind, P15_DF_PRKDF);
	assert_int_equal(odf.dfs[3].kind, P15_DF_AODF);
	assert_int_equal(odf.dfs[3].path.len, 2);
	assert_memory_equal(odf.dfs[3].path.bytes, "\x44\x01", 2);
	assert_int_equal(p15_path_resolve(&odf.dfs[3].path, (const uint8_t *)"\x3f\x00\x50\x15", 4), 0);
	assert_memory_equal(odf.dfs[3].path.bytes, "\x3f\x00\x50\x15\x44\x01", 6);

	buf_clear(&b);
	/* version, serial, manufacturer, [0] label, flags, then fields
	 * added after v1.1 (ignored). */
	der_hex(&b, "30 25 02 01 00 04 04 12345678 0C 07 466569746961 6E"
	            "80 06 4D7920546F6B 03 02 04 10 A2 03 02 01 01 13 02 7669 04 01 00 00");
	b.data[1] = (uint8_t)(b.len - 3);
	assert_int_equal(p15_parse_tokeninfo(b.data, b.len, t), 0);
	assert_string_equal(t->label, "My Tok");
	assert_string_equal(t->manufacturer, "Feitian");
	assert_int_equal(t->serial_len, 4);
	/* Not DER at all. */
	assert_int_equal(p15_parse_tokeninfo((const uint8_t *)"\x30\x05\x02", 3, t), -1);
	buf_free(&b);
	free(t);
}

static void
test_p15_prkdf(void **state)
{
	struct buf b = BUF_INIT;
	struct p15_token *t = calloc(1, sizeof(*t));

	(void)state;
	prkdf_entry(&b, 0, false);
	prkdf_entry(&b, 1, true);
	der_hex(&b, "30 03 02 01 00");	/* not a key object: skipped */
	prkdf_entry(&b, 2, false);
	der_hex(&b, "A0 03 02 01 00");	/* a malformed EC key: skipped */
	der_hex(&b, "00 00 00");
	assert_int_equal(p15_parse_df(P15_DF_PRKDF, b.data, b.len, t), 0);
	assert_int_equal(t->prkey_count, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct p15_key *k = &t->prkeys[i];
		assert_string_equal(k->c.label, "Priv Key");
		assert_true(k->c.private_obj);
		assert_int_equal(k->c.auth_id_len, 1);
		assert_int_equal(k->id_len, 2);
		assert_memory_equal(k->id, "\x45\x12", 2);
		assert_int_equal(k->key_ref, 1);
		assert_int_equal(k->modulus_bits, 2048);
		assert_true(k->usage & P15_USAGE_SIGN);
		assert_int_equal(k->path.len, 6);
	}
	buf_free(&b);
	free(t);
}

/* EC P-256 key entries exactly as OpenSC 0.23's pkcs15-init writes them
 * on an ePass2003 (-G ec/prime256v1, label gen-ec): the private key [0]
 * with keyInfo INTEGER 256 (the field size), the public key without. */
static void
test_p15_ec_keys(void **state)
{
	struct buf b = BUF_INIT;
	struct p15_token *t = calloc(1, sizeof(*t));
	static const uint8_t id[] = { 0xdb, 0xe8, 0xb1, 0xc9, 0x05, 0x88, 0x32, 0x0b, 0xc1, 0x53,
	                              0x4e, 0x35, 0x91, 0x5a, 0x28, 0x6f, 0x46, 0x8d, 0x95, 0x75 };

	(void)state;
	der_hex(&b, "a0 46 30 0f 0c 06 67 65 6e 2d 65 63 03 02 06 c0 04 01 01 30 21 04 14"
	            " db e8 b1 c9 05 88 32 0b c1 53 4e 35 91 5a 28 6f 46 8d 95 75"
	            " 03 02 05 20 03 02 03 b8 02 01 01 a1 10 30 0e 30 08 04 06"
	            " 3f 00 50 15 29 01 02 02 01 00");
	assert_int_equal(p15_parse_df(P15_DF_PRKDF, b.data, b.len, t), 0);
	assert_int_equal(t->prkey_count, 1);
	assert_int_equal(t->prkeys[0].type, P15_KEY_EC);
	assert_string_equal(t->prkeys[0].c.label, "gen-ec");
	assert_true(t->prkeys[0].c.private_obj);
	assert_int_equal(t->prkeys[0].id_len, sizeof(id));
	assert_memory_equal(t->prkeys[0].id, id, sizeof(id));
	assert_int_equal(t->prkeys[0].key_ref, 1);
	assert_int_equal(t->prkeys[0].modulus_bits, 256);
	assert_true(t->prkeys[0].usage & P15_USAGE_SIGN);
	assert_int_equal(t->prkeys[0].path.len, 6);
	assert_memory_equal(t->prkeys[0].path.bytes, "\x3f\x00\x50\x15\x29\x01", 6);

	buf_clear(&b);
	der_hex(&b, "a0 3e 30 0c 0c 06 67 65 6e 2d 65 63 03 02 06 40 30 20 04 14"
	            " db e8 b1 c9 05 88 32 0b c1 53 4e 35 91 5a 28 6f 46 8d 95 75"
	            " 03 02 01 02 01 01 00 02 01 00 a1 0c 30 0a 30 08 04 06"
	            " 3f 00 50 15 30 01");
	assert_int_equal(p15_parse_df(P15_DF_PUKDF, b.data, b.len, t), 0);
	assert_int_equal(t->pubkey_count, 1);
	assert_int_equal(t->pubkeys[0].type, P15_KEY_EC);
	assert_int_equal(t->pubkeys[0].modulus_bits, 0);
	assert_memory_equal(t->pubkeys[0].id, id, sizeof(id));
	assert_memory_equal(t->pubkeys[0].path.bytes, "\x3f\x00\x50\x15\x30\x01", 6);

	/* The [0] tag on an RSA body, or an EC body under the SEQUENCE tag
	 * with a keyInfo that is not a field size: kept apart, never mixed. */
	buf_clear(&b);
	der_hex(&b, "a0 0a 30 08 04 06 3f 00 50 15 29 01");
	assert_int_equal(p15_parse_df(P15_DF_PRKDF, b.data, b.len, t), 0);
	assert_int_equal(t->prkey_count, 1);
	buf_free(&b);
	free(t);
}

/* `tag` around the DER given in hex. */
static void
der_tagged(struct buf *out, uint32_t tag, const char *h)
{
	struct buf in = BUF_INIT;

	der_hex(&in, h);
	der_wrap(out, tag, &in);
	buf_free(&in);
}

static void
pin_entry(struct buf *out, const char *label_hex, uint8_t auth_id, const char *flags_hex,
          uint8_t ref)
{
	struct buf obj = BUF_INIT, attrs = BUF_INIT, type = BUF_INIT, h = BUF_INIT;
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "0C %02zX %s", strlen(label_hex) / 2, label_hex);
	der_tagged(&obj, 0x30, tmp);
	snprintf(tmp, sizeof(tmp), "04 01 %02X", auth_id);
	der_tagged(&obj, 0x30, tmp);
	snprintf(tmp, sizeof(tmp),
	         "03 02 %s 0A 01 01 02 01 04 02 01 10 02 01 10 80 01 %02X 04 01 00", flags_hex, ref);
	der_tagged(&attrs, 0x30, tmp);
	der_wrap(&type, 0xA1, &attrs);
	buf_append(&obj, type.data, type.len);
	der_wrap(out, 0x30, &obj);
	buf_free(&obj);
	buf_free(&attrs);
	buf_free(&type);
	buf_free(&h);
}

static void
test_p15_aodf_cdf(void **state)
{
	struct buf b = BUF_INIT, obj = BUF_INIT, x = BUF_INIT, type = BUF_INIT;
	struct p15_token *t = calloc(1, sizeof(*t));

	(void)state;
	/* User PIN (local, initialized, needs-padding), SO PIN (soPin). */
	pin_entry(&b, "55736572205049 4E", 1, "02 CC", 1);
	pin_entry(&b, "534F50", 2, "00 FF", 2);
	assert_int_equal(p15_parse_df(P15_DF_AODF, b.data, b.len, t), 0);
	assert_int_equal(t->pin_count, 2);
	assert_string_equal(t->pins[0].c.label, "User PIN");
	assert_int_equal(t->pins[0].reference, 1);
	assert_int_equal(t->pins[0].min_len, 4);
	assert_int_equal(t->pins[0].max_len, 16);
	assert_int_equal(t->pins[0].auth_id_len, 1);
	assert_false(t->pins[0].flags & P15_PIN_FLAG_SO);
	assert_int_equal(t->pins[1].reference, 2);
	assert_true(t->pins[1].flags & P15_PIN_FLAG_SO);

	/* Certificate: label, id 45 12, path 3F00 5015 3101; a second one
	 * with a path of odd length is skipped. */
	buf_clear(&b);
	der_tagged(&obj, 0x30, "0C 04 43657274");
	der_tagged(&obj, 0x30, "04 02 4512");
	der_tagged(&x, 0x30, "30 08 04 06 3F0050153101");
	der_wrap(&type, 0xA1, &x);
	buf_append(&obj, type.data, type.len);
	der_wrap(&b, 0x30, &obj);
	buf_clear(&obj);
	buf_clear(&x);
	buf_clear(&type);
	der_tagged(&obj, 0x30, "0C 01 41");
	der_tagged(&obj, 0x30, "04 01 01");
	der_tagged(&x, 0x30, "30 05 04 03 3F0050");
	der_wrap(&type, 0xA1, &x);
	buf_append(&obj, type.data, type.len);
	der_wrap(&b, 0x30, &obj);
	assert_int_equal(p15_parse_df(P15_DF_CDF, b.data, b.len, t), 0);
	assert_int_equal(t->cert_count, 1);
	assert_string_equal(t->certs[0].c.label, "Cert");
	assert_int_equal(t->certs[0].path.len, 6);
	assert_memory_equal(t->certs[0].path.bytes, "\x3f\x00\x50\x15\x31\x01", 6);
	buf_free(&b);
	buf_free(&obj);
	buf_free(&x);
	buf_free(&type);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sm_handshake_vector),
		cmocka_unit_test(test_sm_wrong_card_cryptogram),
		cmocka_unit_test(test_sm_wrap_and_unwrap_vector),
		cmocka_unit_test(test_sm_unwrap_rejects),
		cmocka_unit_test(test_sm_long_cryptogram_lengths),
		cmocka_unit_test(test_sm_wrap_forms),
		cmocka_unit_test(test_espk_index),
		cmocka_unit_test(test_espk_attrs),
		cmocka_unit_test(test_p15_odf_and_tokeninfo),
		cmocka_unit_test(test_p15_prkdf),
		cmocka_unit_test(test_p15_ec_keys),
		cmocka_unit_test(test_p15_aodf_cdf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
