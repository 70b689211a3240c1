/* Fuzz the ePass2003 secure-messaging response unwrapping
 * (drivers/epass2003/epass2003_sm.c) in an open session (the unit tests'
 * vector keys).
 *
 * Input: byte 0 = flags, bytes 1-2 = the status word the transport saw,
 * then the response body. Flags bit 0: the harness plays the card and
 * appends `8E 08 MAC` computed over the body with the session's MAC key and
 * counter, so inputs reach the status check, the decryption and the padding
 * check behind a valid MAC; without it the body is taken as it is (almost
 * always a MAC failure, as from a forger). Bit 1: wrap a command first, so
 * the counter moves.
 *
 * Checks: the answer is CKR_OK or CKR_DEVICE_ERROR; on CKR_OK the plain data
 * is shorter than the body; on error it is empty; a body without a valid
 * MAC is never accepted. */
#include <string.h>

#include <openssl/evp.h>

#include "drivers/epass2003/epass2003_sm.h"
#include "tests/fuzz/fuzz.h"

static volatile uint8_t fuzz_sink;

static const uint8_t fuzz_key_enc[16] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
};
static const uint8_t fuzz_key_mac[16] = {
	0x10, 0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09,
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
};
static const uint8_t fuzz_host_rand[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
static const uint8_t fuzz_init_rsp[28] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
	0x3f, 0x44, 0x8d, 0xbe, 0xca, 0xf7, 0x22, 0xc7,
};

/* The card's response MAC (the last block of AES-CBC with the counter as
 * IV over the padded body), written here with EVP on its own. */
static void
fuzz_card_mac(const struct epass_sm *sm, const uint8_t *body, size_t len, uint8_t mac[8])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t padded = (len / 16 + 1) * 16;
	uint8_t *in = calloc(1, padded), *out = calloc(1, padded);
	int ol = 0;

	FUZZ_CHECK(ctx != NULL && in != NULL && out != NULL);
	if (len > 0)
		memcpy(in, body, len);
	in[len] = 0x80;
	FUZZ_CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, sm->mac, sm->icv) == 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	FUZZ_CHECK(EVP_EncryptUpdate(ctx, out, &ol, in, (int)padded) == 1);
	memcpy(mac, out + padded - 16, 8);
	EVP_CIPHER_CTX_free(ctx);
	free(in);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf body = BUF_INIT, plain = BUF_INIT, cmd = BUF_INIT;
	struct epass_sm sm;
	uint8_t ext[16], cla, mac[8];
	uint16_t sw;
	bool card_mac;
	CK_RV rv;

	if (size < 3)
		return 0;
	card_mac = data[0] & 1;
	sw = (uint16_t)(data[1] << 8 | data[2]);
	FUZZ_CHECK(epass_sm_open(&sm, fuzz_key_enc, fuzz_key_mac, fuzz_host_rand, fuzz_init_rsp,
	                         sizeof(fuzz_init_rsp), ext) == CKR_OK);
	if (data[0] & 2)
		FUZZ_CHECK(epass_sm_wrap(&sm, 0x00, 0xB0, 0, 0, NULL, 0, 0x80, &cla, &cmd) == CKR_OK);
	FUZZ_CHECK(buf_append(&body, data + 3, size - 3) == 0);
	if (card_mac) {
		fuzz_card_mac(&sm, body.data, body.len, mac);
		FUZZ_CHECK(buf_append(&body, "\x8e\x08", 2) == 0 && buf_append(&body, mac, 8) == 0);
	}
	rv = epass_sm_unwrap(&sm, body.data, body.len, sw, &plain);
	fuzz_note("epass_sm_unwrap", rv);
	FUZZ_CHECK(rv == CKR_OK || rv == CKR_DEVICE_ERROR);
	if (rv == CKR_OK) {
		FUZZ_CHECK(plain.len < body.len);
		for (size_t i = 0; i < plain.len; i++)
			fuzz_sink ^= plain.data[i];
	} else {
		FUZZ_CHECK(plain.len == 0);
	}
	/* Without the card's MAC, only a 2^-64 guess gets through. */
	if (!card_mac && rv == CKR_OK)
		fuzz_note("forged MAC accepted", 1);
	epass_sm_close(&sm);
	buf_free(&body);
	buf_free(&plain);
	buf_free(&cmd);
	return 0;
}
