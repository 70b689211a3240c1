/* The virtual ePass2003 on its own, APDU by APDU: a host side written
 * from card-epass2003.c's description (not from ep_sm.c) drives the
 * handshake, wraps commands, checks the response MACs, and then walks the
 * PKCS#15 token: FCI, TokenInfo, PIN counters, MSE + PSO.
 * Exit 0 when every check passes. */
#include "ep_card.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

static int failures;

static void
check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	failures++;
	fprintf(stderr, "FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const uint8_t tk[16] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
};

struct host {
	void *card;
	uint8_t enc[16], mac[16], icv[16];
};

static uint16_t
send_raw(struct host *h, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
         const uint8_t *data, size_t lc, long le, struct buf *rsp)
{
	struct vcard_cmd cmd;
	uint16_t sw = 0;

	memset(&cmd, 0, sizeof cmd);
	cmd.cla = cla;
	cmd.ins = ins;
	cmd.p1 = p1;
	cmd.p2 = p2;
	cmd.data = data;
	cmd.lc = lc;
	cmd.le_present = le >= 0;
	cmd.le = le == 0 ? 256 : (size_t)(le < 0 ? 0 : le);
	cmd.extended = lc > 255;
	buf_clear(rsp);
	vcard_epass2003.process(h->card, &cmd, rsp, &sw);
	return sw;
}

/* AES-128-CBC with OpenSSL, for the host's own computations. */
static void
cbc(const uint8_t key[16], const uint8_t iv[16], bool enc, const uint8_t *in,
    size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n;

	EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv, enc);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_CipherUpdate(ctx, out, &n, in, (int)len);
	EVP_CIPHER_CTX_free(ctx);
}

static void
pad16(struct buf *b)
{
	buf_append_byte(b, 0x80);
	while (b->len % 16)
		buf_append_byte(b, 0);
}

static void
hmac8(const struct host *h, const uint8_t *in, size_t len, uint8_t out[8])
{
	uint8_t *tmp = malloc(len);
	cbc(h->mac, h->icv, true, in, len, tmp);
	memcpy(out, tmp + len - 16, 8);
	free(tmp);
}

static bool
handshake(struct host *h)
{
	struct buf r = BUF_INIT;
	uint8_t hc[8], cc[8], d[16], blk[32] = { 0 }, ct[32], iv[16] = { 0 };
	uint8_t ea[16], m[16] = { 0 };
	EVP_CIPHER_CTX *ctx;
	int n;
	bool ok = false;

	RAND_bytes(hc, 8);
	if (send_raw(h, 0x80, 0x50, 0, 0, hc, 8, 0x1C, &r) != 0x9000 ||
	    r.len != 28)
		goto out;
	memcpy(cc, r.data + 12, 8);
	memcpy(d, cc + 4, 4);
	memcpy(d + 4, hc, 4);
	memcpy(d + 8, cc, 4);
	memcpy(d + 12, hc + 4, 4);
	ctx = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, tk, NULL);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_EncryptUpdate(ctx, h->enc, &n, d, 16);
	EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, tk, NULL);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_EncryptUpdate(ctx, h->mac, &n, d, 16);
	EVP_CIPHER_CTX_free(ctx);
	memcpy(blk, hc, 8);
	memcpy(blk + 8, cc, 8);
	blk[16] = 0x80;
	cbc(h->enc, iv, true, blk, 32, ct);
	check(memcmp(ct + 16, r.data + 20, 8) == 0, "card cryptogram");
	memcpy(blk, cc, 8);
	memcpy(blk + 8, hc, 8);
	cbc(h->enc, iv, true, blk, 32, ct);
	memcpy(ea, ct + 16, 8);
	memcpy(m, "\x84\x82\x03\x00\x10", 5);
	memcpy(m + 5, ea, 8);
	m[13] = 0x80;
	cbc(h->mac, iv, true, m, 16, m);
	memcpy(ea + 8, m, 8);
	if (send_raw(h, 0x84, 0x82, 0x03, 0x00, ea, 16, -1, &r) != 0x9000)
		goto out;
	memset(h->icv, 0, 16);
	memcpy(h->icv, m, 8);
	ok = true;
out:
	buf_free(&r);
	return ok;
}

/* A protected command; `plain` gets the decrypted answer. `bad_mac`
 * spoils the MAC. Returns the SW (0 when the answer does not verify). */
static uint16_t
sm(struct host *h, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
   const uint8_t *data, size_t lc, long le, struct buf *plain, bool bad_mac)
{
	struct buf body = BUF_INIT, macin = BUF_INIT, r = BUF_INIT;
	uint8_t hdr[16] = { 0 }, mac[8], iv[16] = { 0 };
	uint16_t sw, ret = 0;
	size_t i;

	buf_clear(plain);
	cla |= 0x0C;
	if (lc > 0) {
		struct buf p = BUF_INIT;
		buf_append(&p, data, lc);
		pad16(&p);
		uint8_t *c = malloc(p.len);
		cbc(h->enc, iv, true, p.data, p.len, c);
		buf_append_byte(&body, 0x87);
		if (p.len + 1 > 0x7E) {
			buf_append_byte(&body, 0x82);
			buf_append_byte(&body, (uint8_t)((p.len + 1) >> 8));
		}
		buf_append_byte(&body, (uint8_t)(p.len + 1));
		buf_append_byte(&body, 0x01);
		buf_append(&body, c, p.len);
		free(c);
		buf_free(&p);
	}
	if (le >= 0) {
		buf_append_byte(&body, 0x97);
		if (le > 0x7F) {
			buf_append_byte(&body, 2);
			buf_append_byte(&body, (uint8_t)(le >> 8));
		} else {
			buf_append_byte(&body, 1);
		}
		buf_append_byte(&body, (uint8_t)le);
	}
	hdr[0] = cla;
	hdr[1] = ins;
	hdr[2] = p1;
	hdr[3] = p2;
	hdr[4] = 0x80;
	buf_append(&macin, hdr, 16);
	if (body.len > 0) {
		buf_append(&macin, body.data, body.len);
		pad16(&macin);
	}
	for (int k = 15; k >= 0; k--)
		if (++h->icv[k] != 0)
			break;
	hmac8(h, macin.data, macin.len, mac);
	if (bad_mac)
		mac[0] ^= 1;
	buf_append_byte(&body, 0x8E);
	buf_append_byte(&body, 8);
	buf_append(&body, mac, 8);
	sw = send_raw(h, cla, ins, p1, p2, body.data, body.len, 0, &r);
	if (sw == 0x6988 || sw == 0x6982) {
		ret = sw;
		goto out;
	}
	/* [87 L 01 C] 99 02 SW 8E 08 MAC */
	i = 0;
	if (r.len > 0 && r.data[0] == 0x87) {
		size_t l, hl;
		if (r.len < 3)
			goto out;
		if (r.data[1] == 0x82) {
			l = (size_t)r.data[2] << 8 | r.data[3];
			hl = 4;
		} else if (r.data[1] == 0x81) {
			l = r.data[2];
			hl = 3;
		} else {
			l = r.data[1];
			hl = 2;
		}
		if (hl + l > r.len || r.data[hl] != 0x01 || (l - 1) % 16)
			goto out;
		buf_reserve(plain, l - 1);
		cbc(h->enc, iv, false, r.data + hl + 1, l - 1, plain->data);
		plain->len = l - 1;
		while (plain->len > 0 && plain->data[plain->len - 1] == 0)
			plain->len--;
		if (plain->len == 0 || plain->data[plain->len - 1] != 0x80)
			goto out;
		plain->len--;
		i = hl + l;
	}
	if (i + 14 != r.len || r.data[i] != 0x99 || r.data[i + 1] != 2 ||
	    (uint16_t)(r.data[i + 2] << 8 | r.data[i + 3]) != sw ||
	    r.data[i + 4] != 0x8E || r.data[i + 5] != 8)
		goto out;
	buf_clear(&macin);
	buf_append(&macin, r.data, i + 4);
	pad16(&macin);
	hmac8(h, macin.data, macin.len, mac);
	check(memcmp(mac, r.data + i + 6, 8) == 0, "response MAC of %02X",
	      ins);
	ret = sw;
out:
	buf_free(&body);
	buf_free(&macin);
	buf_free(&r);
	return ret;
}

static uint16_t
sel(struct host *h, uint16_t fid, struct buf *fci)
{
	uint8_t f[2] = { (uint8_t)(fid >> 8), (uint8_t)fid };
	return sm(h, 0x00, 0xA4, 0, 0, f, 2, 0, fci, false);
}

static uint16_t
pin(struct host *h, uint8_t kid, const char *p)
{
	struct buf r = BUF_INIT;
	uint8_t key[24], out[8], iv[8] = { 0 };
	size_t len = strlen(p);
	EVP_CIPHER_CTX *ctx;
	uint16_t sw;
	int n;

	sw = sm(h, 0x00, 0x84, 0, 0, NULL, 0, 8, &r, false);
	check(sw == 0x9000 && r.len == 8, "GET CHALLENGE: %04X", sw);
	SHA1((const uint8_t *)p, len, key);
	key[20] = 0;
	key[21] = 0;
	key[22] = 0;
	key[23] = (uint8_t)len;
	ctx = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(ctx, EVP_des_ede3_cbc(), NULL, key, iv);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_EncryptUpdate(ctx, out, &n, r.data, 8);
	EVP_CIPHER_CTX_free(ctx);
	sw = sm(h, 0x00, 0x82, 0x01, (uint8_t)(0x80 | kid), out, 8, -1, &r,
	        false);
	buf_free(&r);
	return sw;
}

/* SELECT fid, then READ BINARY the size the FCI gives (tag 80). */
static bool
read_ef(struct host *h, uint16_t fid, struct buf *out)
{
	struct buf fci = BUF_INIT, r = BUF_INIT;
	size_t size = 0;
	bool ok = false;

	buf_clear(out);
	if (sel(h, fid, &fci) != 0x9000 || fci.len < 2)
		goto out;
	for (size_t i = 2; i + 2 <= fci.len; i += 2 + fci.data[i + 1])
		if (fci.data[i] == 0x80 && fci.data[i + 1] == 2 && i + 4 <= fci.len)
			size = (size_t)fci.data[i + 2] << 8 | fci.data[i + 3];
	while (out->len < size) {
		size_t n = size - out->len > 0xD8 ? 0xD8 : size - out->len;
		if (sm(h, 0x00, 0xB0, (uint8_t)(out->len >> 8),
		       (uint8_t)out->len, NULL, 0, (long)n, &r, false) != 0x9000 ||
		    r.len == 0)
			goto out;
		buf_append(out, r.data, r.len);
	}
	ok = size > 0;
out:
	buf_free(&fci);
	buf_free(&r);
	return ok;
}

/* The value of attribute `type` in a vendor stream (u32 LE type, u32 LE
 * length, value), or NULL. */
static const uint8_t *
vendor_attr(const struct buf *b, uint32_t type, size_t *len)
{
	size_t i = 0;

	while (i + 8 <= b->len) {
		uint32_t t = (uint32_t)b->data[i] | (uint32_t)b->data[i + 1] << 8 |
		             (uint32_t)b->data[i + 2] << 16 |
		             (uint32_t)b->data[i + 3] << 24;
		uint32_t l = (uint32_t)b->data[i + 4] | (uint32_t)b->data[i + 5] << 8 |
		             (uint32_t)b->data[i + 6] << 16 |
		             (uint32_t)b->data[i + 7] << 24;
		if (l > b->len - i - 8)
			return NULL;
		if (t == type) {
			*len = l;
			return b->data + i + 8;
		}
		i += 8 + l;
	}
	return NULL;
}

/* The ENTERSAFE-ESPK token: index, attribute streams, MSE with the
 * vendor handle, PSO. */
static void
vendor_walk(void)
{
	struct vcard_options opt = { NULL, "vendor" };
	struct host h;
	struct buf fci = BUF_INIT, idx = BUF_INIT, crt = BUF_INIT,
	           prv = BUF_INIT, sig = BUF_INIT;
	uint16_t fid_cert = 0, fid_prvk = 0, handle = 0, sw;
	const uint8_t *v;
	size_t len;
	X509 *x = NULL;

	memset(&h, 0, sizeof h);
	h.card = vcard_epass2003.create(&opt);
	check(h.card != NULL, "no vendor card");
	if (h.card == NULL)
		return;
	vcard_epass2003.reset(h.card);
	check(handshake(&h), "vendor: mutual authentication");
	sel(&h, 0x3F00, &fci);
	sw = sel(&h, 0x2003, &fci);
	check(sw == 0x9000 && fci.len > 20 &&
	      memmem(fci.data, fci.len, "\x84\x0E" "ENTERSAFE-ESPK", 16) != NULL,
	      "vendor: DF 2003 named ENTERSAFE-ESPK");
	check(read_ef(&h, 0x6F01, &idx) && idx.len % 30 == 0,
	      "vendor: index 6F01 (%zu bytes)", idx.len);
	for (size_t i = 0; i + 30 <= idx.len; i += 30) {
		uint16_t fid = (uint16_t)(idx.data[i] | idx.data[i + 1] << 8);
		if (memcmp(idx.data + i + 12, "cert0001", 9) == 0)
			fid_cert = fid;
		if (memcmp(idx.data + i + 12, "prvk0001", 9) == 0)
			fid_prvk = fid;
	}
	check(fid_cert != 0 && fid_prvk != 0, "vendor: cert0001, prvk0001");
	check(read_ef(&h, fid_cert, &crt), "vendor: read cert0001");
	check(read_ef(&h, fid_prvk, &prv), "vendor: read prvk0001");
	v = vendor_attr(&crt, 0x11, &len);
	if (v != NULL)
		x = d2i_X509(NULL, &v, (long)len);
	check(x != NULL, "vendor: CKA_VALUE of cert0001 is no certificate");
	v = vendor_attr(&prv, 0x80000100, &len);
	check(v != NULL && len == 4 && v[1] == 0xA0, "vendor: key handle");
	if (v != NULL && len == 4)
		handle = (uint16_t)(v[0] | v[1] << 8);
	sw = pin(&h, 1, "12345678");
	check(sw == 0x9000, "vendor: PIN: %04X", sw);
	{
		uint8_t mse[] = { 0x80, 0x01, 0x84, 0x81, 0x02,
		                  (uint8_t)(handle >> 8), (uint8_t)handle };
		uint8_t in[256];
		EVP_PKEY_CTX *ctx;
		uint8_t out[256];
		size_t outlen = sizeof out;

		sw = sm(&h, 0x00, 0x22, 0x41, 0xB8, mse, sizeof mse, -1, &fci,
		        false);
		check(sw == 0x9000, "vendor: MSE with %04X: %04X", handle, sw);
		memset(in, 0x5A, sizeof in);
		in[0] = 0;
		sw = sm(&h, 0x00, 0x2A, 0x80, 0x86, in, sizeof in, 0, &sig,
		        false);
		check(sw == 0x9000 && sig.len == 256, "vendor: PSO: %04X", sw);
		/* Raw RSA: the public key gives the input back. */
		ctx = x ? EVP_PKEY_CTX_new(X509_get0_pubkey(x), NULL) : NULL;
		check(ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
		      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 &&
		      sig.len == 256 &&
		      EVP_PKEY_encrypt(ctx, out, &outlen, sig.data, 256) == 1 &&
		      memcmp(out, in, 256) == 0,
		      "vendor: the raw RSA result does not match the certificate");
		EVP_PKEY_CTX_free(ctx);
	}
	X509_free(x);
	buf_free(&fci);
	buf_free(&idx);
	buf_free(&crt);
	buf_free(&prv);
	buf_free(&sig);
	vcard_epass2003.destroy(h.card);
}

int
main(void)
{
	struct vcard_options opt = { NULL, "pkcs15" };
	struct host h;
	struct buf r = BUF_INIT;
	uint16_t sw;
	static const uint8_t data86[] = { 0x80, 0x01, 0x01, 0x81, 0x02, 0x1D,
	                                  0xD5, 0x82, 0x01, 0x03 };
	uint8_t atr[33], f[2] = { 0x3F, 0x00 }, mse[] = {
		0x80, 0x01, 0x84, 0x81, 0x02, 0x29, 0x20 };
	size_t n;

	memset(&h, 0, sizeof h);
	h.card = vcard_epass2003.create(&opt);
	if (h.card == NULL) {
		fprintf(stderr, "FAIL: no card\n");
		return 1;
	}
	vcard_epass2003.reset(h.card);
	n = vcard_epass2003.atr(h.card, atr);
	check(n == 23 && atr[0] == 0x3B && atr[12] == 0x01, "ATR");

	sw = send_raw(&h, 0x00, 0xCA, 0x01, 0x86, NULL, 0, 0, &r);
	check(sw == 0x9000 && r.len == sizeof data86 &&
	      memcmp(r.data, data86, sizeof data86) == 0, "GET DATA 01 86");
	sw = send_raw(&h, 0x00, 0xA4, 0, 0, f, 2, 0, &r);
	check(sw == 0x6982, "plain SELECT answered %04X, not 6982", sw);

	check(handshake(&h), "mutual authentication");
	sw = sel(&h, 0x3F00, &r);
	check(sw == 0x9000 && r.len > 2 && r.data[0] == 0x6F, "SELECT MF: %04X",
	      sw);
	sw = sel(&h, 0x5015, &r);
	check(sw == 0x9000 && r.len > 4 && r.data[2] == 0x82 &&
	      r.data[4] == 0x38, "SELECT 5015: %04X", sw);
	sw = sel(&h, 0x5032, &r);
	check(sw == 0x9000, "SELECT 5032: %04X", sw);
	sw = sm(&h, 0x00, 0xB0, 0, 0, NULL, 0, 0xD8, &r, false);
	check(sw == 0x9000 && r.len == 128 && r.data[0] == 0x30,
	      "READ BINARY TokenInfo: %04X, %zu bytes", sw, r.len);
	sw = sel(&h, 0x4711, &r);
	check(sw == 0x6A82, "SELECT 4711: %04X", sw);
	/* Max tries file, read in one go with Le 2. */
	sw = sel(&h, 0x9F00, &r);
	sw = sm(&h, 0x00, 0xB0, 0, 0, NULL, 0, 2, &r, false);
	check(sw == 0x9000 && r.len == 2 && r.data[0] == 6, "9F00: %04X", sw);

	/* A spoilt MAC ends the session. */
	sw = sm(&h, 0x00, 0xB0, 0, 0, NULL, 0, 2, &r, true);
	check(sw == 0x6988, "bad MAC answered %04X, not 6988", sw);
	sw = sm(&h, 0x00, 0xB0, 0, 0, NULL, 0, 2, &r, false);
	check(sw == 0x6988, "after a bad MAC: %04X, not 6988", sw);

	check(handshake(&h), "second mutual authentication");
	sw = sm(&h, 0x00, 0x82, 0x01, 0x81, NULL, 0, -1, &r, false);
	check(sw == 0x63C6, "tries left: %04X", sw);
	sw = pin(&h, 1, "11111111");
	check(sw == 0x63C5, "wrong PIN: %04X", sw);
	sw = sm(&h, 0x00, 0x82, 0x01, 0x81, NULL, 0, -1, &r, false);
	check(sw == 0x63C5, "tries left after a wrong PIN: %04X", sw);

	/* Without the PIN the key does not sign. */
	sel(&h, 0x3F00, &r);
	sel(&h, 0x5015, &r);
	sw = sm(&h, 0x00, 0x22, 0x41, 0xB8, mse, sizeof mse, -1, &r, false);
	check(sw == 0x9000, "MSE:SET: %04X", sw);
	{
		uint8_t in[256], dgst[32];
		struct buf sig = BUF_INIT, crt = BUF_INIT;
		EVP_PKEY_CTX *vctx;
		const unsigned char *p;
		X509 *x;

		SHA256((const uint8_t *)"kyso", 4, dgst);
		/* PKCS#1 v1.5 block with a SHA-256 DigestInfo. */
		static const uint8_t di[] = {
			0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
			0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
			0x20 };
		memset(in, 0xFF, sizeof in);
		in[0] = 0;
		in[1] = 1;
		in[256 - 52] = 0;
		memcpy(in + 256 - 51, di, sizeof di);
		memcpy(in + 256 - 32, dgst, 32);
		sw = sm(&h, 0x00, 0x2A, 0x80, 0x86, in, sizeof in, 0, &sig,
		        false);
		check(sw == 0x6982, "PSO without PIN: %04X", sw);
		sw = pin(&h, 1, "12345678");
		check(sw == 0x9000, "right PIN: %04X", sw);
		sw = sm(&h, 0x00, 0x82, 0x01, 0x81, NULL, 0, -1, &r, false);
		check(sw == 0x63C6, "tries reset: %04X", sw);
		sw = sm(&h, 0x00, 0x22, 0x41, 0xB8, mse, sizeof mse, -1, &r,
		        false);
		sw = sm(&h, 0x00, 0x2A, 0x80, 0x86, in, sizeof in, 0, &sig,
		        false);
		check(sw == 0x9000 && sig.len == 256, "PSO: %04X %zu", sw,
		      sig.len);
		sel(&h, 0x3120, &r);
		while ((sw = sm(&h, 0x00, 0xB0, (uint8_t)(crt.len >> 8),
		                (uint8_t)crt.len, NULL, 0, 0xD8, &r,
		                false)) == 0x9000 && r.len > 0)
			buf_append(&crt, r.data, r.len);
		p = crt.data;
		x = d2i_X509(NULL, &p, (long)crt.len);
		check(x != NULL, "certificate 3120 (%zu bytes)", crt.len);
		if (x != NULL) {
			vctx = EVP_PKEY_CTX_new(X509_get0_pubkey(x), NULL);
			check(vctx != NULL && EVP_PKEY_verify_init(vctx) == 1 &&
			      EVP_PKEY_CTX_set_rsa_padding(vctx,
			                                   RSA_PKCS1_PADDING) == 1 &&
			      EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256()) == 1 &&
			      EVP_PKEY_verify(vctx, sig.data, sig.len, dgst,
			                      32) == 1,
			      "the PSO signature does not verify");
			EVP_PKEY_CTX_free(vctx);
			X509_free(x);
		}
		buf_free(&sig);
		buf_free(&crt);
	}
	/* A new session logs out. */
	check(handshake(&h), "third mutual authentication");
	sel(&h, 0x3F00, &r);
	sel(&h, 0x5015, &r);
	sm(&h, 0x00, 0x22, 0x41, 0xB8, mse, sizeof mse, -1, &r, false);
	{
		uint8_t in[256] = { 0, 1 };
		sw = sm(&h, 0x00, 0x2A, 0x80, 0x86, in, sizeof in, 0, &r,
		        false);
		check(sw == 0x6982, "PSO after a new session: %04X", sw);
	}
	for (int i = 0; i < 6; i++)
		sw = pin(&h, 2, "00000000");
	check(sw == 0x6983, "SO PIN blocked: %04X", sw);

	buf_free(&r);
	vcard_epass2003.destroy(h.card);
	vendor_walk();
	if (failures == 0)
		printf("epass2003-selftest: all checks passed\n");
	return failures == 0 ? 0 : 1;
}
