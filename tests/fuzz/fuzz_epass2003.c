/* Fuzz the ePass2003 driver through its own hooks, with a card that speaks
 * the token's secure messaging and answers from the input: what the driver
 * reads behind a valid MAC (FCIs, the ENTERSAFE-ESPK index and attribute
 * streams with their certificates, PKCS#15 files, PIN status words, RSA
 * results) and how it copes with answers that are not protected, forged, or
 * say its session is gone (6988: the handshake again, then the command once
 * more).
 *
 * The harness is the card for the handshake (GET DATA 01 86, INITIALIZE
 * UPDATE, EXTERNAL AUTHENTICATE: computed here with EVP, from the host
 * random in the command, so any random the driver picks works). Every
 * protected command then takes its plain answer (data and SW) from the input
 * (fuzz_card.h format) and gets it back encrypted and MACed.
 *
 * Input: 1 byte of flags, then the answers.
 *   bit 0  before each answer, one input byte chooses how it is sent:
 *          0 protected, 1 as it is (no SM), 2 with a wrong MAC, 3 a plain
 *          6988 (the session dropped, as when another program opened one)
 *   bit 1  C_Login (user)         bit 2  sign (PKCS#1, PSS; ECDSA)
 *   bit 3  decrypt                bit 4  a reset by someone else, objects again
 *   bit 5  SO login, C_InitPIN    bit 6  C_SetPIN
 *   bit 7  token info, objects and PIN status once more */
#include <string.h>

#include <openssl/evp.h>

#include "drivers/epass2003/epass2003_internal.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_card.h"
#include "tests/fuzz/fuzz_driver.h"

#define FUZZ_EP_OBJECTS_MAX 256
/* The room the card layer gives a response (apdu.c), and ours. */
#define FUZZ_EP_RSP_MAX (65536 + 2)
#define FUZZ_EP_BUF (FUZZ_EP_RSP_MAX + 64)

static const uint8_t fuzz_ep_atr[] = {
	0x3B, 0x9F, 0x95, 0x81, 0x31, 0xFE, 0x9F, 0x00, 0x66, 0x46, 0x53, 0x05,
	0x01, 0x00, 0x11, 0x71, 0xDF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13,
};
static const uint8_t fuzz_ep_card_rand[8] = { 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
static const uint8_t fuzz_ep_pin[] = "12345678";
static const uint8_t fuzz_ep_so_pin[] = "87654321";
static const uint8_t fuzz_ep_new_pin[] = "11223344";

struct fuzz_ep_card {
	struct fuzz_card fc;
	uint8_t enc[16], mac[16], icv[16];
	bool open;
	bool modes;
};

static void
fuzz_ep_aes(const uint8_t key[16], const uint8_t *iv, const uint8_t *in, size_t len,
            uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ol = 0;

	FUZZ_CHECK(ctx != NULL && len % 16 == 0);
	FUZZ_CHECK(EVP_EncryptInit_ex(ctx, iv != NULL ? EVP_aes_128_cbc() : EVP_aes_128_ecb(),
	                              NULL, key, iv) == 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	FUZZ_CHECK(EVP_EncryptUpdate(ctx, out, &ol, in, (int)len) == 1);
	EVP_CIPHER_CTX_free(ctx);
}

/* `in` padded (ISO 9797-1 method 2) into `out`; the padded length. */
static size_t
fuzz_ep_pad(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t n = len;

	if (len > 0)
		memcpy(out, in, len);
	out[n++] = 0x80;
	while (n % 16)
		out[n++] = 0;
	return n;
}

/* INITIALIZE UPDATE: the card's side of the SCP01 derivation. */
static void
fuzz_ep_init_update(struct fuzz_ep_card *c, const uint8_t *host, uint8_t *rsp, size_t *len)
{
	uint8_t d[16], blk[32] = { 0 }, out[32];

	memcpy(d, fuzz_ep_card_rand + 4, 4);
	memcpy(d + 4, host, 4);
	memcpy(d + 8, fuzz_ep_card_rand, 4);
	memcpy(d + 12, host + 4, 4);
	fuzz_ep_aes(epass_sm_transport_key, NULL, d, 16, c->enc);
	fuzz_ep_aes(epass_sm_transport_key, NULL, d, 16, c->mac);
	memcpy(blk, host, 8);
	memcpy(blk + 8, fuzz_ep_card_rand, 8);
	blk[16] = 0x80;
	fuzz_ep_aes(c->enc, (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", blk, 32, out);
	memset(rsp, 0, 12);
	memcpy(rsp + 12, fuzz_ep_card_rand, 8);
	memcpy(rsp + 20, out + 16, 8);
	rsp[28] = 0x90;
	rsp[29] = 0x00;
	*len = 30;
	c->open = false;
}

/* A plain answer (data, SW) as the card protects it. */
static void
fuzz_ep_wrap(struct fuzz_ep_card *c, const uint8_t *plain, size_t n, bool bad_mac,
             uint8_t *rsp, size_t *len)
{
	static const uint8_t zero[16];
	static uint8_t pad[FUZZ_EP_BUF], body[FUZZ_EP_BUF], macin[FUZZ_EP_BUF],
	               macout[FUZZ_EP_BUF];
	size_t b = 0, m, data_len = n - 2;

	if (data_len > 0) {
		size_t p = fuzz_ep_pad(plain, data_len, pad);
		body[b++] = 0x87;
		if (p + 1 < 0x80) {
			body[b++] = (uint8_t)(p + 1);
		} else if (p + 1 <= 0xFF) {
			body[b++] = 0x81;
			body[b++] = (uint8_t)(p + 1);
		} else {
			body[b++] = 0x82;
			body[b++] = (uint8_t)((p + 1) >> 8);
			body[b++] = (uint8_t)(p + 1);
		}
		body[b++] = 0x01;
		fuzz_ep_aes(c->enc, zero, pad, p, body + b);
		b += p;
	}
	body[b++] = 0x99;
	body[b++] = 0x02;
	body[b++] = plain[n - 2];
	body[b++] = plain[n - 1];
	m = fuzz_ep_pad(body, b, macin);
	fuzz_ep_aes(c->mac, c->icv, macin, m, macout);
	body[b++] = 0x8E;
	body[b++] = 0x08;
	memcpy(body + b, macout + m - 16, 8);
	if (bad_mac)
		body[b] ^= 0x01;
	b += 8;
	memcpy(rsp, body, b);
	rsp[b++] = plain[n - 2];
	rsp[b++] = plain[n - 1];
	*len = b;
}

/* KYSO_FUZZ_EP_TRACE set: each protected command, decrypted, on stderr
 * ("ep-cmd INS P1 P2 DATA LE"), for make-corpus-epass2003.py, which answers
 * them from its model of a token to build the seeds. */
static void
fuzz_ep_trace(const struct fuzz_ep_card *c, const uint8_t *cmd, size_t len)
{
	static const uint8_t zero[16];
	static int on = -1;
	size_t off = 5, lc, le = 0;
	static uint8_t plain[FUZZ_EP_BUF];
	size_t plain_len = 0;

	if (on < 0)
		on = getenv("KYSO_FUZZ_EP_TRACE") != NULL;
	if (!on || len < 5)
		return;
	lc = cmd[4];
	if (lc == 0 && len >= 7) {
		lc = (size_t)cmd[5] << 8 | cmd[6];
		off = 7;
	}
	if (off + lc > len)
		return;
	for (size_t i = off; i + 2 <= off + lc;) {
		uint8_t tag = cmd[i], l = cmd[i + 1];
		size_t hl = 2, vl = l;
		if (l == 0x82 && i + 4 <= off + lc) {
			vl = (size_t)cmd[i + 2] << 8 | cmd[i + 3];
			hl = 4;
		} else if (l == 0x81 && i + 3 <= off + lc) {
			vl = cmd[i + 2];
			hl = 3;
		}
		if (i + hl + vl > off + lc)
			break;
		if (tag == 0x87 && vl > 1 && (vl - 1) % 16 == 0 && vl - 1 <= sizeof(plain)) {
			EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
			int ol = 0;
			EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, c->enc, zero);
			EVP_CIPHER_CTX_set_padding(ctx, 0);
			EVP_DecryptUpdate(ctx, plain, &ol, cmd + i + hl + 1, (int)(vl - 1));
			EVP_CIPHER_CTX_free(ctx);
			plain_len = vl - 1;
			while (plain_len > 0 && plain[plain_len - 1] == 0)
				plain_len--;
			if (plain_len > 0)
				plain_len--;
		} else if (tag == 0x97) {
			le = vl == 1 ? cmd[i + hl] : (size_t)cmd[i + hl] << 8 | cmd[i + hl + 1];
			if (vl == 1 && le == 0)
				le = 256;
		}
		i += hl + vl;
	}
	fprintf(stderr, "ep-cmd %02X %02X %02X ", cmd[1], cmd[2], cmd[3]);
	for (size_t i = 0; i < plain_len; i++)
		fprintf(stderr, "%02X", plain[i]);
	fprintf(stderr, "%s %zu\n", plain_len ? "" : "-", le);
}

static CK_RV
fuzz_ep_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp, size_t *rsp_len)
{
	static const uint8_t cfg[] = { 0x80, 0x01, 0x01, 0x81, 0x02, 0x1D, 0xD5, 0x82, 0x01, 0x03,
	                               0x90, 0x00 };
	static uint8_t plain[FUZZ_EP_BUF];
	struct fuzz_ep_card *c = ctx;
	size_t n = sizeof(plain);
	uint8_t mode = 0;
	CK_RV rv;

	FUZZ_CHECK(cmd_len >= 4 && *rsp_len >= FUZZ_EP_RSP_MAX);
	if (cmd[0] == 0x00 && cmd[1] == 0xCA && cmd[2] == 0x01 && cmd[3] == 0x86) {
		memcpy(rsp, cfg, sizeof(cfg));
		*rsp_len = sizeof(cfg);
		return CKR_OK;
	}
	if (cmd[0] == 0x80 && cmd[1] == 0x50) {
		FUZZ_CHECK(cmd_len >= 13 && cmd[4] == 8);
		fuzz_ep_init_update(c, cmd + 5, rsp, rsp_len);
		return CKR_OK;
	}
	if (cmd[0] == 0x84 && cmd[1] == 0x82 && cmd[2] == 0x03) {
		/* The host cryptogram is not checked: the driver's own unit
		 * tests do; this harness is about what comes back. */
		FUZZ_CHECK(cmd_len == 21 && cmd[4] == 0x10);
		memset(c->icv, 0, sizeof(c->icv));
		memcpy(c->icv, cmd + 13, 8);
		c->open = true;
		rsp[0] = 0x90;
		rsp[1] = 0x00;
		*rsp_len = 2;
		return CKR_OK;
	}
	/* The driver never sends a command unprotected once SM is open; the
	 * card layer's GET RESPONSE after a 61xx from a hostile card is not
	 * the driver's (its answer then fails the MAC check). */
	FUZZ_CHECK(!c->open || (cmd[0] & 0x0C) == 0x0C || cmd[1] == 0xC0);
	if (c->open)
		fuzz_ep_trace(c, cmd, cmd_len);
	if (c->modes)
		mode = fuzz_card_byte(&c->fc, 0) & 3;
	rv = fuzz_card_transmit(&c->fc, cmd, cmd_len, plain, &n);
	if (rv != CKR_OK)
		return rv;
	if (!c->open || mode == 1 || n < 2) {
		memcpy(rsp, plain, n);
		*rsp_len = n;
		return CKR_OK;
	}
	if (mode == 3) {
		c->open = false;
		rsp[0] = 0x69;
		rsp[1] = 0x88;
		*rsp_len = 2;
		return CKR_OK;
	}
	for (int i = 15; i >= 0; i--)
		if (++c->icv[i] != 0)
			break;
	/* The protected answer must fit the room the card layer gives: keep
	 * the data short enough (the SW stays the last two bytes). */
	if (n > FUZZ_EP_RSP_MAX - 64) {
		plain[FUZZ_EP_RSP_MAX - 66] = plain[n - 2];
		plain[FUZZ_EP_RSP_MAX - 65] = plain[n - 1];
		n = FUZZ_EP_RSP_MAX - 64;
	}
	fuzz_ep_wrap(c, plain, n, mode == 2, rsp, rsp_len);
	return CKR_OK;
}

static const struct transport_ops fuzz_ep_ops = {
	.transmit = fuzz_ep_transmit,
};

static void
fuzz_ep_reads(struct card *card)
{
	struct drv_token_info info;
	struct drv_objects objs = { NULL, 0, 0 };
	struct drv_pin_status st;
	CK_RV rv;

	memset(&info, 0x55, sizeof(info));
	if (fuzz_rv("token_info", epass2003_driver.token_info(card, &info)) == CKR_OK)
		fuzz_check_token_info(&info);
	rv = fuzz_rv("load_objects", epass2003_driver.load_objects(card, &objs));
	if (rv == CKR_OK)
		fuzz_check_objects(&objs, FUZZ_EP_OBJECTS_MAX);
	drv_objects_free(&objs);
	if (fuzz_rv("pin_status", epass2003_driver.pin_status(card, &st)) == CKR_OK) {
		FUZZ_CHECK(st.user_tries_left >= -1 && st.user_tries_left <= 15);
		FUZZ_CHECK(st.so_tries_left >= -1 && st.so_tries_left <= 15);
	}
}

/* Sign and decrypt with every private key the driver knows. */
static void
fuzz_ep_crypto(struct card *card, uint8_t flags)
{
	static const uint8_t digest_info[51] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
	                                         0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
	                                         0x00, 0x04, 0x20 };
	struct epass_data *d = card->driver_data;
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM pkcs1 = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM mpss = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
	uint16_t handles[EPASS_MAX_KEYS];
	size_t count = d->key_count;
	struct buf out = BUF_INIT;
	uint8_t cipher[512] = { 0 };
	CK_RV rv;

	for (size_t i = 0; i < count; i++)
		handles[i] = d->keys[i].handle;
	for (size_t i = 0; i < count; i++) {
		size_t k;
		const struct epass_key *key = epass_key_find(d, handles[i]);
		if (key == NULL)
			continue;
		k = (size_t)EVP_PKEY_get_size(key->pub);
		if (EVP_PKEY_get_base_id(key->pub) == EVP_PKEY_EC) {
			/* ECDSA (P-256): r || s; no deciphering. */
			if (flags & 0x04) {
				rv = fuzz_rv("sign ecdsa",
				             epass2003_driver.sign(card, handles[i], &ecdsa,
				                                   digest_info + 19, 32, &out));
				FUZZ_CHECK(rv != CKR_OK || out.len == 64);
			}
			if (flags & 0x08) {
				rv = epass2003_driver.decrypt(card, handles[i], &pkcs1, cipher, 64, &out);
				FUZZ_CHECK(rv != CKR_OK);
			}
			continue;
		}
		if (flags & 0x04) {
			rv = fuzz_rv("sign", epass2003_driver.sign(card, handles[i], &pkcs1, digest_info,
			                                           sizeof(digest_info), &out));
			FUZZ_CHECK(rv != CKR_OK || out.len == k);
			rv = fuzz_rv("sign pss", epass2003_driver.sign(card, handles[i], &mpss,
			                                               digest_info + 19, 32, &out));
			FUZZ_CHECK(rv != CKR_OK || out.len == k);
		}
		if ((flags & 0x08) && k <= sizeof(cipher)) {
			cipher[k - 1] = 0x01;
			rv = fuzz_rv("decrypt", epass2003_driver.decrypt(card, handles[i], &pkcs1, cipher,
			                                                 k, &out));
			FUZZ_CHECK(rv != CKR_OK || out.len <= k - 11);
		}
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ep_card c;
	struct card card;
	uint8_t flags;

	memset(&c, 0, sizeof(c));
	fuzz_card_init(&c.fc, data, size);
	memset(&card, 0, sizeof(card));
	flags = fuzz_card_byte(&c.fc, 0);
	c.modes = (flags & 0x01) != 0;
	c.fc.extended = true;
	card.ops = &fuzz_ep_ops;
	card.transport = &c;
	memcpy(card.atr, fuzz_ep_atr, sizeof(fuzz_ep_atr));
	card.atr_len = sizeof(fuzz_ep_atr);

	FUZZ_CHECK(epass2003_driver.match(&card) == CKR_OK);
	card.driver = &epass2003_driver;
	if (fuzz_rv("bind", epass2003_driver.bind(&card)) != CKR_OK) {
		FUZZ_CHECK(card.driver_data == NULL);
		goto out;
	}
	FUZZ_CHECK(card.extended);
	fuzz_ep_reads(&card);
	if (flags & 0x02)
		(void)fuzz_rv("login", epass2003_driver.login(&card, DRV_USER, fuzz_ep_pin, 8));
	fuzz_ep_crypto(&card, flags);
	if (flags & 0x10) {
		card.reset_count++;
		(void)fuzz_rv("reselect", epass2003_driver.reselect(&card));
		fuzz_ep_reads(&card);
	}
	if (flags & 0x20) {
		(void)fuzz_rv("login so", epass2003_driver.login(&card, DRV_SO, fuzz_ep_so_pin, 8));
		(void)fuzz_rv("init_pin", epass2003_driver.init_pin(&card, fuzz_ep_new_pin, 8));
	}
	if (flags & 0x40)
		(void)fuzz_rv("change_pin", epass2003_driver.change_pin(&card, DRV_USER, fuzz_ep_pin,
		                                                        8, fuzz_ep_new_pin, 8));
	if (flags & 0x80)
		fuzz_ep_reads(&card);
	(void)fuzz_rv("logout", epass2003_driver.logout(&card));
	epass2003_driver.unbind(&card);
	FUZZ_CHECK(card.driver_data == NULL);
out:
	fuzz_card_finish(&c.fc);
	return 0;
}
