/* Secure messaging of the virtual ePass2003: the card side.
 *
 * GlobalPlatform SCP01-style mutual authentication with the transport keys
 * (INITIALIZE UPDATE, EXTERNAL AUTHENTICATE), then every command arrives
 * with CLA|0C as [87 L 01 cipher] [97 L Le] 8E 08 MAC and every answer
 * leaves as [87 L 01 cipher] 99 02 SW 8E 08 MAC. AES-128 in the non-FIPS
 * form OpenSC's card-epass2003.c speaks to a token whose GET DATA 01 86
 * says 80 01 01 (gen_init_key, verify_init_key, construct_*_tlv,
 * decrypt_response). Facts in docs/epass2003-protocol.md. */
#include "ep_card.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define BLOCK 16

int
ep_aes_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, rc = -1;

	if (ctx == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_EncryptUpdate(ctx, out, &n, in, BLOCK) != 1 || n != BLOCK)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
ep_aes_cbc(const uint8_t key[16], const uint8_t iv[16], bool enc,
           const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, rc = -1;

	if (ctx == NULL || len % BLOCK != 0 || len > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv,
	                      enc ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
		goto out;
	if (len > 0 && (EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 ||
	                (size_t)n != len))
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
ep_aes_mac(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
           size_t len, uint8_t mac[8])
{
	struct buf tmp = BUF_INIT;
	int rc = -1;

	if (len == 0 || len % BLOCK != 0 || buf_reserve(&tmp, len) != 0)
		goto out;
	if (ep_aes_cbc(key, iv, true, in, len, tmp.data) != 0)
		goto out;
	memcpy(mac, tmp.data + len - BLOCK, 8);
	rc = 0;
out:
	buf_free(&tmp);
	return rc;
}

int
ep_pad(struct buf *out, const uint8_t *data, size_t len)
{
	if (buf_append(out, data, len) != 0 || buf_append_byte(out, 0x80) != 0)
		return -1;
	while (out->len % BLOCK != 0)
		if (buf_append_byte(out, 0x00) != 0)
			return -1;
	return 0;
}

void
ep_icv_increment(uint8_t icv[16])
{
	for (int i = 15; i >= 0; i--)
		if (++icv[i] != 0)
			break;
}

int
ep_sm_derive(const uint8_t k_enc[16], const uint8_t k_mac[16],
             const uint8_t host[8], const uint8_t card[8], uint8_t s_enc[16],
             uint8_t s_mac[16])
{
	uint8_t d[16];
	int rc;

	/* Derivation data: card[4..7] host[0..3] card[0..3] host[4..7]. */
	memcpy(d, card + 4, 4);
	memcpy(d + 4, host, 4);
	memcpy(d + 8, card, 4);
	memcpy(d + 12, host + 4, 4);
	rc = ep_aes_ecb(k_enc, d, s_enc) == 0 && ep_aes_ecb(k_mac, d, s_mac) == 0
	     ? 0 : -1;
	OPENSSL_cleanse(d, sizeof d);
	return rc;
}

int
ep_sm_cryptogram(const uint8_t s_enc[16], const uint8_t first[8],
                 const uint8_t second[8], uint8_t out[8])
{
	uint8_t in[32] = { 0 }, ct[32], iv[16] = { 0 };

	memcpy(in, first, 8);
	memcpy(in + 8, second, 8);
	in[16] = 0x80;
	if (ep_aes_cbc(s_enc, iv, true, in, sizeof in, ct) != 0)
		return -1;
	memcpy(out, ct + 16, 8);
	return 0;
}

/* 80 50 00 00 08 <host challenge>: a new session starts, the old one and
 * the security status are gone. */
void
ep_sm_init_update(struct ep_card *c, const struct vcard_cmd *cmd,
                  struct buf *rsp, uint16_t *sw)
{
	uint8_t out[28];

	ep_logout(c);
	if (cmd->p1 != 0 || cmd->p2 != 0) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	if (cmd->lc != 8) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	memcpy(c->host_chal, cmd->data, 8);
	if (RAND_bytes(c->card_chal, 8) != 1 ||
	    ep_sm_derive(c->sm_key_enc, c->sm_key_mac, c->host_chal,
	                 c->card_chal, c->s_enc, c->s_mac) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	/* Key diversification data (10), key version, SCP 01, card
	 * challenge, card cryptogram. */
	memset(out, 0, sizeof out);
	memcpy(out, c->serial, 8);
	out[10] = 0x01;
	out[11] = 0x01;
	memcpy(out + 12, c->card_chal, 8);
	if (ep_sm_cryptogram(c->s_enc, c->host_chal, c->card_chal,
	                     out + 20) != 0 ||
	    buf_append(rsp, out, sizeof out) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	c->sm_pending = true;
	*sw = EP_SW_OK;
}

/* 84 82 03 00 10 <host cryptogram> <MAC>. */
void
ep_sm_ext_auth(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	uint8_t expect[8], block[16] = { 0 }, iv[16] = { 0 }, mac[8];

	if (!c->sm_pending) {
		*sw = EP_SW_CONDITIONS;
		return;
	}
	c->sm_pending = false;
	if (cmd->lc != 16) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	if (ep_sm_cryptogram(c->s_enc, c->card_chal, c->host_chal,
	                     expect) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	block[0] = 0x84;
	block[1] = 0x82;
	block[2] = cmd->p1;
	block[3] = cmd->p2;
	block[4] = 0x10;
	memcpy(block + 5, cmd->data, 8);
	block[13] = 0x80;
	if (ep_aes_cbc(c->s_mac, iv, true, block, 16, block) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	memcpy(mac, block, 8);
	if (CRYPTO_memcmp(expect, cmd->data, 8) != 0 ||
	    CRYPTO_memcmp(mac, cmd->data + 8, 8) != 0) {
		*sw = EP_SW_AUTH_FAILED;
		return;
	}
	memset(c->icv, 0, sizeof c->icv);
	memcpy(c->icv, mac, 8);
	c->sm_open = true;
	*sw = EP_SW_OK;
}

/* One SM data object of the command: tag, then a length in 1, 81 xx or
 * 82 xx xx form. Returns the value, or NULL when it does not fit. */
static const uint8_t *
sm_tlv(const uint8_t *p, size_t left, uint8_t *tag, size_t *len,
       size_t *total)
{
	size_t hdr = 2, n;

	if (left < 2)
		return NULL;
	*tag = p[0];
	n = p[1];
	if (n == 0x81) {
		if (left < 3)
			return NULL;
		n = p[2];
		hdr = 3;
	} else if (n == 0x82) {
		if (left < 4)
			return NULL;
		n = (size_t)p[2] << 8 | p[3];
		hdr = 4;
	} else if (n > 0x80) {
		return NULL;
	}
	if (n > left - hdr)
		return NULL;
	*len = n;
	*total = hdr + n;
	return p + hdr;
}

/* Undo data | 80 | 00..: the last 80 after trailing zeros. */
static int
sm_unpad(const uint8_t *p, size_t len, size_t *out_len)
{
	while (len > 0 && p[len - 1] == 0x00)
		len--;
	if (len == 0 || p[len - 1] != 0x80)
		return -1;
	*out_len = len - 1;
	return 0;
}

/* The answer leaves as [87 L 01 C] 99 02 SW 8E 08 MAC. The length of 87
 * is written the way the firmware does it: one byte up to FF, even above
 * 7F, which is why OpenSC's decrypt_response accepts 87 L 01 for any L. */
static int
sm_wrap_response(struct ep_card *c, struct buf *rsp, uint16_t sw)
{
	struct buf out = BUF_INIT, pad = BUF_INIT, enc = BUF_INIT;
	uint8_t iv[16] = { 0 }, mac[8];
	int rc = -1;

	if (rsp->len > 0) {
		size_t l;

		if (ep_pad(&pad, rsp->data, rsp->len) != 0 ||
		    buf_reserve(&enc, pad.len) != 0 ||
		    ep_aes_cbc(c->s_enc, iv, true, pad.data, pad.len,
		               enc.data) != 0)
			goto out;
		l = pad.len + 1;
		if (buf_append_byte(&out, 0x87) != 0)
			goto out;
		if (l > 0xFF) {
			if (buf_append_byte(&out, 0x82) != 0 ||
			    buf_append_byte(&out, (uint8_t)(l >> 8)) != 0)
				goto out;
		}
		if (buf_append_byte(&out, (uint8_t)l) != 0 ||
		    buf_append_byte(&out, 0x01) != 0 ||
		    buf_append(&out, enc.data, pad.len) != 0)
			goto out;
	}
	if (buf_append_byte(&out, 0x99) != 0 || buf_append_byte(&out, 2) != 0 ||
	    buf_append_byte(&out, (uint8_t)(sw >> 8)) != 0 ||
	    buf_append_byte(&out, (uint8_t)sw) != 0)
		goto out;
	buf_clear(&pad);
	if (ep_pad(&pad, out.data, out.len) != 0 ||
	    ep_aes_mac(c->s_mac, c->icv, pad.data, pad.len, mac) != 0)
		goto out;
	if (buf_append_byte(&out, 0x8E) != 0 || buf_append_byte(&out, 8) != 0 ||
	    buf_append(&out, mac, 8) != 0)
		goto out;
	buf_clear(rsp);
	if (buf_append(rsp, out.data, out.len) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&out);
	buf_free(&pad);
	buf_free(&enc);
	return rc;
}

/* A command with CLA|0C: check the MAC, decrypt, run it, wrap the answer.
 * A bad MAC or malformed objects end the session: 6988 in the clear. */
void
ep_sm_process(struct ep_card *c, const struct vcard_cmd *cmd,
              struct buf *rsp, uint16_t *sw)
{
	struct buf macin = BUF_INIT, plain = BUF_INIT;
	struct vcard_cmd inner;
	const uint8_t *p = cmd->data, *enc = NULL, *le = NULL, *mac = NULL;
	size_t left = cmd->lc, enc_len = 0, le_len = 0, covered = 0;
	uint8_t hdr[16] = { 0 }, want[8], iv[16] = { 0 };

	*sw = EP_SW_SM_WRONG;
	if (!c->sm_open) {
		/* No session (reset, another process's handshake, a bad MAC):
		 * 6988 is what makes OpenSC >= 0.24 authenticate again
		 * (card-epass2003.c sc_transmit_apdu_t). */
		goto out;
	}
	while (left > 0) {
		uint8_t tag;
		size_t len, total;
		const uint8_t *v = sm_tlv(p, left, &tag, &len, &total);

		if (v == NULL)
			goto drop;
		if (tag == 0x87 && enc == NULL && le == NULL && mac == NULL) {
			enc = v;
			enc_len = len;
		} else if (tag == 0x97 && le == NULL && mac == NULL) {
			le = v;
			le_len = len;
		} else if (tag == 0x8E && mac == NULL && len == 8) {
			mac = v;
			covered = (size_t)(p - cmd->data);
		} else {
			goto drop;
		}
		p += total;
		left -= total;
	}
	if (mac == NULL)
		goto drop;
	/* MAC over the padded header block and, if any, the objects. */
	hdr[0] = (uint8_t)(cmd->cla | 0x0C);
	hdr[1] = cmd->ins;
	hdr[2] = cmd->p1;
	hdr[3] = cmd->p2;
	hdr[4] = 0x80;
	if (buf_append(&macin, hdr, sizeof hdr) != 0)
		goto internal;
	if (covered > 0 && ep_pad(&macin, cmd->data, covered) != 0)
		goto internal;
	ep_icv_increment(c->icv);
	if (ep_aes_mac(c->s_mac, c->icv, macin.data, macin.len, want) != 0)
		goto internal;
	if (CRYPTO_memcmp(want, mac, 8) != 0)
		goto drop;

	memset(&inner, 0, sizeof inner);
	inner.cla = (uint8_t)(cmd->cla & ~0x0Cu);
	inner.ins = cmd->ins;
	inner.p1 = cmd->p1;
	inner.p2 = cmd->p2;
	inner.extended = cmd->extended;
	if (enc != NULL) {
		size_t n;

		if (enc_len < 1 + BLOCK || enc[0] != 0x01 ||
		    (enc_len - 1) % BLOCK != 0 ||
		    buf_reserve(&plain, enc_len - 1) != 0)
			goto drop;
		if (ep_aes_cbc(c->s_enc, iv, false, enc + 1, enc_len - 1,
		               plain.data) != 0)
			goto internal;
		if (sm_unpad(plain.data, enc_len - 1, &n) != 0)
			goto drop;
		plain.len = n;
		inner.data = plain.data;
		inner.lc = n;
	}
	if (le != NULL) {
		if (le_len == 1)
			inner.le = le[0] == 0 ? 256 : le[0];
		else if (le_len == 2)
			inner.le = ((size_t)le[0] << 8 | le[1]) == 0
			           ? 65536 : ((size_t)le[0] << 8 | le[1]);
		else
			goto drop;
		inner.le_present = true;
	}
	ep_process_plain(c, &inner, rsp, sw);
	if (inner.le_present && rsp->len > inner.le)
		rsp->len = inner.le;
	if (sm_wrap_response(c, rsp, *sw) != 0)
		goto internal;
	goto out;
drop:
	/* The session is over: the host must authenticate again. */
	ep_logout(c);
	buf_clear(rsp);
	*sw = EP_SW_SM_WRONG;
	goto out;
internal:
	buf_clear(rsp);
	*sw = EP_SW_INTERNAL;
out:
	buf_free(&macin);
	buf_free(&plain);
}
