/* ePass2003 secure messaging (the card's SCP01 variant, AES-128 mode), as
 * the card implements it: GlobalPlatform Card Specification 2.1.1 annex D
 * (SCP01) with AES in place of 3DES, the command data and Le carried in
 * ISO/IEC 7816-4 10.2 objects (87 padding-indicator + cryptogram, 97 Le,
 * 8E MAC; responses 87, 99 status, 8E).
 *
 * Every byte of a response is checked before use: the objects are read with
 * the strict TLV reader, the MAC is verified before the cryptogram is
 * decrypted, and the decrypted padding is checked. */
#include "drivers/epass2003/epass2003_sm.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "drivers/card/tlv.h"

const uint8_t epass_sm_transport_key[EPASS_SM_KEY_LEN] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,
};

/* Tags of ISO/IEC 7816-4 10.2 (table 47). */
#define SM_TAG_CRYPTOGRAM 0x87
#define SM_TAG_LE 0x97
#define SM_TAG_STATUS 0x99
#define SM_TAG_MAC 0x8E
#define SM_PAD_INDICATOR 0x01	/* 87 content starts with 01: ISO padding */
#define SM_MAC_LEN 8
#define SM_CLA_BITS 0x0C
/* The largest data field kyso wraps: an RSA-2048 block with room to spare. */
#define SM_DATA_MAX 1024

/* AES-128 in CBC (or ECB, iv NULL) mode without padding; len a multiple of
 * the block size. */
static int
sm_aes(const uint8_t key[16], const uint8_t *iv, bool encrypt, const uint8_t *in,
       size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0, rc = -1;

	if (ctx == NULL || len % EPASS_SM_BLOCK != 0 || len > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(ctx, iv != NULL ? EVP_aes_128_cbc() : EVP_aes_128_ecb(), NULL,
	                      key, iv, encrypt ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1 ||
	    EVP_CipherFinal_ex(ctx, out + outl, &fin) != 1)
		goto out;
	rc = (size_t)(outl + fin) == len ? 0 : -1;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* The last block of AES-CBC over `in` (a multiple of 16): the cryptograms
 * and MACs of SCP01 (GP 2.1.1 D.4.1, D.4.2). */
static int
sm_cbc_last(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, size_t len,
            uint8_t last[16])
{
	struct buf tmp = BUF_INIT;
	int rc = -1;

	if (len == 0 || buf_reserve(&tmp, len) != 0)
		goto out;
	if (sm_aes(key, iv, true, in, len, tmp.data) != 0)
		goto out;
	memcpy(last, tmp.data + len - EPASS_SM_BLOCK, EPASS_SM_BLOCK);
	rc = 0;
out:
	buf_free(&tmp);
	return rc;
}

/* ISO/IEC 9797-1 padding method 2: 80 then zeros to a block boundary. */
static int
sm_pad(struct buf *b)
{
	if (buf_append_byte(b, 0x80) != 0)
		return -1;
	while (b->len % EPASS_SM_BLOCK != 0)
		if (buf_append_byte(b, 0x00) != 0)
			return -1;
	return 0;
}

CK_RV
epass_sm_open(struct epass_sm *sm, const uint8_t key_enc[EPASS_SM_KEY_LEN],
              const uint8_t key_mac[EPASS_SM_KEY_LEN],
              const uint8_t host_rand[EPASS_SM_RAND_LEN],
              const uint8_t *init_rsp, size_t init_rsp_len, uint8_t ext_auth[16])
{
	static const uint8_t zero_iv[EPASS_SM_BLOCK];
	uint8_t derive[EPASS_SM_BLOCK], block[2 * EPASS_SM_BLOCK], last[EPASS_SM_BLOCK];
	const uint8_t *card_rand, *card_crypto;
	CK_RV rv = CKR_DEVICE_ERROR;

	epass_sm_close(sm);
	if (init_rsp == NULL || init_rsp_len < EPASS_SM_INIT_RSP_LEN)
		goto out;
	card_rand = init_rsp + 12;
	card_crypto = init_rsp + 20;

	/* Session key derivation data (GP 2.1.1 D.3.1, SCP01): card random
	 * bytes 4-7, host random 0-3, card random 0-3, host random 4-7. */
	memcpy(derive, card_rand + 4, 4);
	memcpy(derive + 4, host_rand, 4);
	memcpy(derive + 8, card_rand, 4);
	memcpy(derive + 12, host_rand + 4, 4);
	if (sm_aes(key_enc, NULL, true, derive, sizeof(derive), sm->enc) != 0 ||
	    sm_aes(key_mac, NULL, true, derive, sizeof(derive), sm->mac) != 0) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}

	/* Card cryptogram (D.3.2): host random || card random, padded. */
	memset(block, 0, sizeof(block));
	memcpy(block, host_rand, 8);
	memcpy(block + 8, card_rand, 8);
	block[16] = 0x80;
	if (sm_cbc_last(sm->enc, zero_iv, block, sizeof(block), last) != 0 ||
	    CRYPTO_memcmp(last, card_crypto, 8) != 0)
		goto out;

	/* Host cryptogram: card random || host random, padded. */
	memcpy(block, card_rand, 8);
	memcpy(block + 8, host_rand, 8);
	if (sm_cbc_last(sm->enc, zero_iv, block, sizeof(block), last) != 0)
		goto out;
	memcpy(ext_auth, last, 8);

	/* The EXTERNAL AUTHENTICATE command MAC (D.4.2) over its header and
	 * the host cryptogram; its first 8 bytes also start the counter. */
	memset(block, 0, EPASS_SM_BLOCK);
	block[0] = 0x84;
	block[1] = 0x82;
	block[2] = 0x03;
	block[3] = 0x00;
	block[4] = 0x10;
	memcpy(block + 5, ext_auth, 8);
	block[13] = 0x80;
	if (sm_cbc_last(sm->mac, zero_iv, block, EPASS_SM_BLOCK, last) != 0)
		goto out;
	memcpy(ext_auth + 8, last, 8);
	memset(sm->icv, 0, sizeof(sm->icv));
	memcpy(sm->icv, last, 8);
	sm->open = true;
	rv = CKR_OK;
out:
	OPENSSL_cleanse(derive, sizeof(derive));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(last, sizeof(last));
	if (rv != CKR_OK)
		epass_sm_close(sm);
	return rv;
}

static void
sm_counter_next(struct epass_sm *sm)
{
	for (int i = EPASS_SM_BLOCK - 1; i >= 0; i--)
		if (++sm->icv[i] != 0)
			break;
}

CK_RV
epass_sm_wrap(struct epass_sm *sm, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
              const uint8_t *data, size_t lc, size_t le, uint8_t *cla_out, struct buf *out)
{
	static const uint8_t zero_iv[EPASS_SM_BLOCK];
	struct buf pad = BUF_INIT, enc = BUF_INIT, mac_in = BUF_INIT;
	uint8_t hdr[EPASS_SM_BLOCK] = { 0 }, last[EPASS_SM_BLOCK];
	size_t objs;
	CK_RV rv = CKR_HOST_MEMORY;

	buf_clear(out);
	if (!sm->open || lc > SM_DATA_MAX || (lc > 0 && data == NULL)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	*cla_out = (uint8_t)(cla | SM_CLA_BITS);

	if (lc > 0) {
		if (buf_append(&pad, data, lc) != 0 || sm_pad(&pad) != 0 ||
		    buf_reserve(&enc, pad.len) != 0)
			goto out;
		if (sm_aes(sm->enc, zero_iv, true, pad.data, pad.len, enc.data) != 0) {
			rv = CKR_FUNCTION_FAILED;
			goto out;
		}
		enc.len = pad.len;
		/* The card reads the 87 length in one byte up to 7E+1 and in
		 * the three-byte form (82 hi lo) above, as Feitian's own
		 * middleware writes it; both are valid BER (X.690 8.1.3). */
		if (buf_append_byte(out, SM_TAG_CRYPTOGRAM) != 0)
			goto out;
		if (enc.len + 1 <= 0x7F) {
			if (buf_append_byte(out, (uint8_t)(enc.len + 1)) != 0)
				goto out;
		} else {
			uint8_t l[3] = { 0x82, (uint8_t)((enc.len + 1) >> 8),
			                 (uint8_t)(enc.len + 1) };
			if (buf_append(out, l, sizeof(l)) != 0)
				goto out;
		}
		if (buf_append_byte(out, SM_PAD_INDICATOR) != 0 ||
		    buf_append(out, enc.data, enc.len) != 0)
			goto out;
	}
	if (le != 0) {
		size_t v = le == EPASS_SM_LE_ANY ? 0 : le;
		uint8_t l[4] = { SM_TAG_LE, 1, (uint8_t)v, 0 };
		size_t n = 3;
		if (v > 0x7F) {
			l[1] = 2;
			l[2] = (uint8_t)(v >> 8);
			l[3] = (uint8_t)v;
			n = 4;
		}
		if (buf_append(out, l, n) != 0)
			goto out;
	}
	objs = out->len;

	/* The MAC covers the padded header block (CLA with the SM bits),
	 * then the objects, padded (GP 2.1.1 D.4.4 with the ISO objects). */
	hdr[0] = *cla_out;
	hdr[1] = ins;
	hdr[2] = p1;
	hdr[3] = p2;
	hdr[4] = 0x80;
	if (buf_append(&mac_in, hdr, sizeof(hdr)) != 0)
		goto out;
	if (objs > 0 && (buf_append(&mac_in, out->data, objs) != 0 || sm_pad(&mac_in) != 0))
		goto out;
	sm_counter_next(sm);
	if (sm_cbc_last(sm->mac, sm->icv, mac_in.data, mac_in.len, last) != 0) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	if (buf_append_byte(out, SM_TAG_MAC) != 0 || buf_append_byte(out, SM_MAC_LEN) != 0 ||
	    buf_append(out, last, SM_MAC_LEN) != 0)
		goto out;
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		buf_clear(out);
	buf_free(&pad);
	buf_free(&enc);
	buf_free(&mac_in);
	return rv;
}

/* The ePass2003 firmware writes the length of a response cryptogram of
 * 0x80 to 0xFF bytes in ONE byte, which BER reads as a long-form length
 * (OpenSC PR #2772: `87 E1 01 ...` where BER wants `87 81 E1 01 ...`). The
 * cryptogram is 01 + n * 16 bytes, so such a length ends in 1 and is
 * followed by the padding indicator 01; a BER `87 81 L 01` has L there,
 * never 01 (a cryptogram of 1 byte is no cryptogram). Checked against the
 * bytes there are; the strict TLV reader handles every other form. */
static bool
sm_firmware_87(const uint8_t *rsp, size_t len, struct tlv *out)
{
	size_t l;

	if (len < 3 || rsp[0] != SM_TAG_CRYPTOGRAM || rsp[1] < 0x80 || rsp[1] == 0x82 ||
	    (rsp[1] & 0x0F) != 0x01 || rsp[2] != SM_PAD_INDICATOR)
		return false;
	l = rsp[1];
	if (2 + l > len)
		return false;
	out->tag = SM_TAG_CRYPTOGRAM;
	out->value = rsp + 2;
	out->len = l;
	out->raw = rsp;
	out->raw_len = 2 + l;
	return true;
}

CK_RV
epass_sm_unwrap(const struct epass_sm *sm, const uint8_t *rsp, size_t rsp_len,
                uint16_t sw, struct buf *plain)
{
	static const uint8_t zero_iv[EPASS_SM_BLOCK];
	struct tlv_reader r;
	struct tlv t, crypt = { 0 }, status = { 0 }, mac = { 0 };
	struct buf mac_in = BUF_INIT, dec = BUF_INIT;
	uint8_t last[EPASS_SM_BLOCK];
	bool have_crypt = false, have_status = false, have_mac = false;
	size_t end;
	int rc;
	CK_RV rv = CKR_DEVICE_ERROR;

	buf_clear(plain);
	if (!sm->open || rsp == NULL)
		goto out;
	tlv_reader_init(&r, rsp, rsp_len);
	if (sm_firmware_87(rsp, rsp_len, &crypt)) {
		have_crypt = true;
		tlv_reader_init(&r, rsp + crypt.raw_len, rsp_len - crypt.raw_len);
	}
	while ((rc = tlv_next(&r, &t)) == 1) {
		/* Each object once, in the order 87, 99, 8E; nothing after
		 * the MAC. */
		if (have_mac)
			goto out;
		if (t.tag == SM_TAG_CRYPTOGRAM && !have_crypt && !have_status) {
			crypt = t;
			have_crypt = true;
		} else if (t.tag == SM_TAG_STATUS && !have_status) {
			status = t;
			have_status = true;
		} else if (t.tag == SM_TAG_MAC) {
			mac = t;
			have_mac = true;
		} else {
			goto out;
		}
	}
	if (rc != 0 || !have_status || !have_mac || status.len != 2 || mac.len != SM_MAC_LEN)
		goto out;
	if (status.value[0] != (uint8_t)(sw >> 8) || status.value[1] != (uint8_t)sw)
		goto out;

	/* Response MAC: everything before the 8E object, padded, chained from
	 * the counter of the command it answers. */
	end = (size_t)(mac.raw - rsp);
	if (buf_append(&mac_in, rsp, end) != 0 || sm_pad(&mac_in) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (sm_cbc_last(sm->mac, sm->icv, mac_in.data, mac_in.len, last) != 0 ||
	    CRYPTO_memcmp(last, mac.value, SM_MAC_LEN) != 0)
		goto out;

	if (have_crypt) {
		size_t n;
		if (crypt.len < 1 + EPASS_SM_BLOCK || crypt.value[0] != SM_PAD_INDICATOR ||
		    (crypt.len - 1) % EPASS_SM_BLOCK != 0)
			goto out;
		n = crypt.len - 1;
		if (buf_reserve(&dec, n) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		if (sm_aes(sm->enc, zero_iv, false, crypt.value + 1, n, dec.data) != 0)
			goto out;
		dec.len = n;
		/* Strip ISO 9797-1 method 2 padding: zeros, then 80. */
		while (dec.len > 0 && dec.data[dec.len - 1] == 0x00)
			dec.len--;
		if (dec.len == 0 || dec.data[dec.len - 1] != 0x80 ||
		    n - dec.len >= EPASS_SM_BLOCK)
			goto out;
		dec.len--;
		if (buf_set(plain, dec.data, dec.len) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		buf_clear(plain);
	buf_free(&mac_in);
	buf_free(&dec);
	OPENSSL_cleanse(last, sizeof(last));
	return rv;
}

void
epass_sm_close(struct epass_sm *sm)
{
	OPENSSL_cleanse(sm, sizeof(*sm));
	sm->open = false;
}
