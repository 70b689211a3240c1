/* The virtual Feitian ePass2003: the card type, plain command dispatch,
 * PINs and RSA.
 *
 * Only GET DATA, INITIALIZE UPDATE and EXTERNAL AUTHENTICATE of the
 * handshake (and GET CHALLENGE before any session) are taken in the clear;
 * everything else must come through secure messaging (ep_sm.c), as on the
 * token, which OpenSC's card-epass2003.c drives with SM always on.
 *
 * PINs are "external authentication keys" (card-epass2003.c
 * external_key_auth): the host asks for a challenge and sends it back
 * 3DES-EDE3-CBC encrypted under SHA-1(PIN) | len(PIN) as a 32-bit big
 * endian number, in 00 82 01 (80|kid). The same command without data
 * reports the tries left as 63 Cx. */
#include "ep_card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

/* GET DATA 01 86 of a 2011-2014 ePass2003 (OpenSC #2815): SM with AES
 * (byte 2 = 01), no FIPS tags, secure messaging on. */
static const uint8_t ep_data_86[] = {
	0x80, 0x01, 0x01, 0x81, 0x02, 0x1D, 0xD5, 0x82, 0x01, 0x03,
};

static const uint8_t ep_default_sm_key[16] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,
};

void
ep_logout(struct ep_card *c)
{
	c->sm_open = false;
	c->sm_pending = false;
	c->level = 0;
	c->se_key = NULL;
	c->have_challenge = false;
	OPENSSL_cleanse(c->s_enc, sizeof c->s_enc);
	OPENSSL_cleanse(c->s_mac, sizeof c->s_mac);
	OPENSSL_cleanse(c->icv, sizeof c->icv);
	OPENSSL_cleanse(c->challenge, sizeof c->challenge);
}

int
ep_save(struct ep_card *c)
{
	if (c->state_file == NULL)
		return 0;
	return ep_state_save(c, c->state_file);
}

int
ep_secret_hash(const uint8_t *pin, size_t len, uint8_t out[24])
{
	/* card-epass2003.c hash_data(): SHA-1, then the length as 4 bytes
	 * big-endian: 24 bytes, a three-key 3DES key. */
	if (SHA1(pin, len, out) == NULL)
		return -1;
	out[20] = (uint8_t)(len >> 24);
	out[21] = (uint8_t)(len >> 16);
	out[22] = (uint8_t)(len >> 8);
	out[23] = (uint8_t)len;
	return 0;
}

/* A PIN-class secret (type 04 or 06) with `kid`; `type` 0 = any. */
struct ep_secret *
ep_secret_find(struct ep_card *c, uint8_t type, uint8_t kid)
{
	for (size_t i = 0; i < EP_SECRETS_MAX; i++) {
		struct ep_secret *s = &c->secrets[i];
		if (s->used && s->kid == kid &&
		    (type == 0 ? (s->type == 0x04 || s->type == 0x06)
		               : s->type == type))
			return s;
	}
	return NULL;
}

static void
ep_get_data(struct ep_card *c, const struct vcard_cmd *cmd, struct buf *rsp,
            uint16_t *sw)
{
	int rc;

	if (cmd->p1 != 0x01) {
		*sw = EP_SW_REF_NOT_FOUND;
		return;
	}
	if (cmd->p2 == 0x86)
		rc = buf_append(rsp, ep_data_86, sizeof ep_data_86);
	else if (cmd->p2 == 0x80)
		rc = buf_append(rsp, c->serial, sizeof c->serial);
	else {
		*sw = EP_SW_REF_NOT_FOUND;
		return;
	}
	*sw = rc == 0 ? EP_SW_OK : EP_SW_INTERNAL;
}

static void
ep_get_challenge(struct ep_card *c, const struct vcard_cmd *cmd,
                 struct buf *rsp, uint16_t *sw)
{
	uint8_t rnd[16];
	size_t n = cmd->le_present ? cmd->le : 8;

	if (cmd->p1 != 0 || cmd->p2 != 0) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	if (n < 8 || n > sizeof rnd) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	if (RAND_bytes(rnd, (int)n) != 1 || buf_append(rsp, rnd, n) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	memcpy(c->challenge, rnd, 8);
	c->have_challenge = true;
	*sw = EP_SW_OK;
}

static int
ep_3des_challenge(const uint8_t key[24], const uint8_t in[8], uint8_t out[8])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv[8] = { 0 };
	int n = 0, rc = -1;

	if (ctx == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_des_ede3_cbc(), NULL, key, iv) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_EncryptUpdate(ctx, out, &n, in, 8) != 1 || n != 8)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* A wrong PIN costs a try; the last one blocks (ISO 7816-4 7.5.6). */
static uint16_t
ep_pin_result(struct ep_card *c, struct ep_secret *s, bool ok)
{
	uint16_t sw;

	if (ok) {
		s->tries_left = s->max_tries;
		if (s->level > c->level)
			c->level = s->level;
		sw = EP_SW_OK;
	} else {
		if (s->tries_left > 0)
			s->tries_left--;
		sw = s->tries_left == 0 ? EP_SW_BLOCKED
		                        : EP_SW_TRIES(s->tries_left);
	}
	if (ep_save(c) != 0)
		sw = EP_SW_INTERNAL;
	return sw;
}

/* 00 82 01 (80|kid) [08 cryptogram]: PIN check or tries left. */
static void
ep_pin_ext_auth(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	struct ep_secret *s;
	uint8_t want[8];
	bool ok;

	if (cmd->p1 != 0x01 || !(cmd->p2 & 0x80)) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	s = ep_secret_find(c, 0x04, cmd->p2 & 0x7F);
	if (s == NULL) {
		*sw = EP_SW_REF_NOT_FOUND;
		return;
	}
	if (cmd->lc == 0) {
		*sw = EP_SW_TRIES(s->tries_left);
		return;
	}
	if (cmd->lc != 8) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	if (s->tries_left == 0) {
		*sw = EP_SW_BLOCKED;
		return;
	}
	if (!c->have_challenge) {
		*sw = EP_SW_CONDITIONS;
		return;
	}
	c->have_challenge = false;
	if (ep_3des_challenge(s->value, c->challenge, want) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	ok = CRYPTO_memcmp(want, cmd->data, 8) == 0;
	OPENSSL_cleanse(c->challenge, sizeof c->challenge);
	*sw = ep_pin_result(c, s, ok);
}

/* 00 20 00 kid Lc PIN: the plain PINs (type 06, the erase "magic PIN"). */
static void
ep_verify(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	struct ep_secret *s = ep_secret_find(c, 0x06, cmd->p2);

	if (s == NULL) {
		*sw = EP_SW_REF_NOT_FOUND;
		return;
	}
	if (s->tries_left == 0) {
		*sw = EP_SW_BLOCKED;
		return;
	}
	if (cmd->lc == 0) {
		*sw = EP_SW_TRIES(s->tries_left);
		return;
	}
	*sw = ep_pin_result(c, s, cmd->lc == s->value_len &&
	                    CRYPTO_memcmp(cmd->data, s->value,
	                                  s->value_len) == 0);
}

/* 80 E3 00 00: install a secret (card-epass2003.c install_secret_key):
 * type kid useAC modifyAC ac ac 00 level FF (max<<4|left) value. */
static void
ep_install_secret(struct ep_card *c, const struct vcard_cmd *cmd,
                  uint16_t *sw)
{
	const uint8_t *d = cmd->data;
	struct ep_secret *s = NULL;
	size_t vlen;

	if (cmd->lc < 10 || cmd->lc - 10 > sizeof s->value) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	vlen = cmd->lc - 10;
	if (d[0] == 0x01 || d[0] == 0x02) {
		/* The SM transport keys. */
		if (vlen != 16) {
			*sw = EP_SW_WRONG_DATA;
			return;
		}
		memcpy(d[0] == 0x01 ? c->sm_key_enc : c->sm_key_mac, d + 10, 16);
		*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
		return;
	}
	if ((d[0] != 0x04 && d[0] != 0x06) || (d[0] == 0x04 && vlen != 24)) {
		*sw = EP_SW_WRONG_DATA;
		return;
	}
	s = ep_secret_find(c, d[0], d[1]);
	if (s != NULL && c->mf != NULL && !ep_access(c, s->modify_ac)) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	for (size_t i = 0; s == NULL && i < EP_SECRETS_MAX; i++)
		if (!c->secrets[i].used)
			s = &c->secrets[i];
	if (s == NULL) {
		*sw = EP_SW_NO_SPACE;
		return;
	}
	OPENSSL_cleanse(s, sizeof *s);
	s->used = true;
	s->type = d[0];
	s->kid = d[1];
	s->use_ac = d[2];
	s->modify_ac = d[3];
	s->level = d[7] & 0x0F;
	s->max_tries = d[9] >> 4;
	s->tries_left = d[9] & 0x0F;
	memcpy(s->value, d + 10, vlen);
	s->value_len = vlen;
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
}

/* 80 E5 04 kid 19 (max<<4|max) H(new PIN): change or reset a PIN; needs
 * its modify access (the user PIN's is the SO's or its own). */
static void
ep_update_secret(struct ep_card *c, const struct vcard_cmd *cmd,
                 uint16_t *sw)
{
	struct ep_secret *s = ep_secret_find(c, cmd->p1, cmd->p2);

	if (s == NULL || s->type != 0x04) {
		*sw = EP_SW_REF_NOT_FOUND;
		return;
	}
	if (cmd->lc != 25) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	if (!ep_access(c, s->modify_ac) && c->level < EP_AC_SO) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	if ((cmd->data[0] >> 4) != 0)
		s->max_tries = cmd->data[0] >> 4;
	s->tries_left = s->max_tries;
	memcpy(s->value, cmd->data + 1, 24);
	s->value_len = 24;
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
}

/* 00 22 41 B8|B6 80 01 alg 81 02 FID. */
static void
ep_mse(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	const uint8_t *p = cmd->data, *end = cmd->data + cmd->lc;
	struct ep_file *key = NULL;
	bool have_ref = false;

	if (cmd->p1 != 0x41 || (cmd->p2 != 0xB8 && cmd->p2 != 0xB6)) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	while (p < end) {
		size_t len;
		if (end - p < 2 || (len = p[1]) > (size_t)(end - p - 2)) {
			*sw = EP_SW_WRONG_DATA;
			return;
		}
		if (p[0] == 0x81 && len == 2) {
			key = ep_file_find_key(c, (uint16_t)(p[2] << 8 | p[3]));
			have_ref = true;
		}
		p += 2 + len;
	}
	if (!have_ref) {
		*sw = EP_SW_WRONG_DATA;
		return;
	}
	if (key == NULL) {
		*sw = EP_SW_REF_NOT_FOUND;
		return;
	}
	c->se_key = key;
	*sw = EP_SW_OK;
}

/* 00 2A 9E 9A: ECDSA with a P-256 key over what the host sends (a
 * SHA-1 / SHA-256 hash, or the data itself); the answer is r | s, 32
 * bytes each. */
static void
ep_pso_ecdsa(struct ep_card *c, const struct vcard_cmd *cmd, struct buf *rsp,
             uint16_t *sw)
{
	struct ep_file *k = c->se_key;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	unsigned char der[80];
	const unsigned char *p = der;
	size_t derlen = sizeof der;

	if (k == NULL || k->key == NULL || !EVP_PKEY_is_a(k->key, "EC")) {
		*sw = EP_SW_CONDITIONS;
		return;
	}
	if (!ep_access(c, k->acl[EP_ACI_USE])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	if (cmd->lc == 0 || cmd->lc > 64) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	*sw = EP_SW_INTERNAL;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL);
	if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, der, &derlen, cmd->data, cmd->lc) != 1 ||
	    (sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL ||
	    buf_reserve(rsp, 64) != 0)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, rsp->data, 32) != 32 ||
	    BN_bn2binpad(s, rsp->data + 32, 32) != 32)
		goto out;
	rsp->len = 64;
	*sw = EP_SW_OK;
out:
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX_free(ctx);
}

/* 00 2A 80 86: the raw RSA private-key operation, for signing (the host
 * pads) and deciphering alike. */
static void
ep_pso(struct ep_card *c, const struct vcard_cmd *cmd, struct buf *rsp,
       uint16_t *sw)
{
	struct ep_file *k = c->se_key;
	EVP_PKEY_CTX *ctx = NULL;
	size_t n, outlen;

	if (cmd->p1 == 0x9E && cmd->p2 == 0x9A) {
		ep_pso_ecdsa(c, cmd, rsp, sw);
		return;
	}
	if (cmd->p1 != 0x80 || cmd->p2 != 0x86) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	if (k == NULL || k->key == NULL || !EVP_PKEY_is_a(k->key, "RSA")) {
		*sw = EP_SW_CONDITIONS;
		return;
	}
	if (!ep_access(c, k->acl[EP_ACI_USE])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	n = (size_t)EVP_PKEY_get_size(k->key);
	if (cmd->lc != n) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	outlen = n;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL);
	if (ctx == NULL || EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1 ||
	    buf_reserve(rsp, n) != 0) {
		*sw = EP_SW_INTERNAL;
		goto out;
	}
	if (EVP_PKEY_decrypt(ctx, rsp->data, &outlen, cmd->data, cmd->lc) != 1 ||
	    outlen != n) {
		/* Input not below the modulus. */
		*sw = EP_SW_WRONG_DATA;
		goto out;
	}
	rsp->len = n;
	*sw = EP_SW_OK;
out:
	EVP_PKEY_CTX_free(ctx);
}

static struct ep_file *
ep_find_pub(struct ep_card *c, uint16_t fid)
{
	struct ep_file *f = ep_file_child(c->cur_df, fid);

	return f != NULL && EP_IS_PUB(f->type) ? f : NULL;
}

/* 00 46 00 00 07 <01 RSA | 02 EC> bits(2) prvFID pubFID: a key pair on
 * the token (card-epass2003.c epass2003_gen_key; EC is P-256 only). */
static void
ep_generate(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	struct ep_file *prv, *pub;
	unsigned bits;
	EVP_PKEY *key = NULL;
	bool ec;

	if (cmd->lc != 7) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	ec = cmd->data[0] == 0x02;
	bits = (unsigned)cmd->data[1] << 8 | cmd->data[2];
	if ((cmd->data[0] != 0x01 && !ec) || (ec && bits != 256) ||
	    (!ec && (bits < 512 || bits > 2048 || bits % 32 != 0))) {
		*sw = EP_SW_WRONG_DATA;
		return;
	}
	prv = ep_file_child(c->cur_df,
	                    (uint16_t)(cmd->data[3] << 8 | cmd->data[4]));
	pub = ep_find_pub(c, (uint16_t)(cmd->data[5] << 8 | cmd->data[6]));
	if (prv == NULL || !EP_IS_PRV(prv->type) || pub == NULL) {
		*sw = EP_SW_NOT_FOUND;
		return;
	}
	if (!ep_access(c, prv->acl[EP_ACI_UPDATE])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	key = ec ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
	         : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (key == NULL || EVP_PKEY_up_ref(key) != 1) {
		EVP_PKEY_free(key);
		*sw = EP_SW_INTERNAL;
		return;
	}
	EVP_PKEY_free(prv->key);
	EVP_PKEY_free(pub->key);
	prv->key = key;
	pub->key = key;
	prv->key_bits = pub->key_bits = bits;
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
}

/* 80 B4 02 00 02 pubFID: the modulus of an RSA public-key EF;
 * 80 B4 00 00: an EC point as 58 L X 59 L Y. */
static void
ep_read_pub(struct ep_card *c, const struct vcard_cmd *cmd, struct buf *rsp,
            uint16_t *sw)
{
	struct ep_file *pub;
	BIGNUM *n = NULL;
	uint8_t pt[65];
	size_t ptlen = 0;
	int len;

	if (cmd->lc != 2) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	pub = ep_find_pub(c, (uint16_t)(cmd->data[0] << 8 | cmd->data[1]));
	if (pub == NULL || pub->key == NULL) {
		*sw = EP_SW_NOT_FOUND;
		return;
	}
	if (EVP_PKEY_is_a(pub->key, "EC")) {
		if (EVP_PKEY_get_octet_string_param(pub->key,
		                                    OSSL_PKEY_PARAM_PUB_KEY, pt,
		                                    sizeof pt, &ptlen) != 1 ||
		    ptlen != 65 || pt[0] != 0x04 ||
		    buf_append_byte(rsp, 0x58) != 0 ||
		    buf_append_byte(rsp, 32) != 0 ||
		    buf_append(rsp, pt + 1, 32) != 0 ||
		    buf_append_byte(rsp, 0x59) != 0 ||
		    buf_append_byte(rsp, 32) != 0 ||
		    buf_append(rsp, pt + 33, 32) != 0) {
			*sw = EP_SW_INTERNAL;
			return;
		}
		*sw = EP_SW_OK;
		return;
	}
	len = EVP_PKEY_get_size(pub->key);
	if (EVP_PKEY_get_bn_param(pub->key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    len <= 0 || buf_reserve(rsp, (size_t)len) != 0 ||
	    BN_bn2binpad(n, rsp->data, len) != len) {
		*sw = EP_SW_INTERNAL;
		goto out;
	}
	rsp->len = (size_t)len;
	*sw = EP_SW_OK;
out:
	BN_free(n);
}

/* 80 E7 02|03 00 FID value: n, then d, of a private key (e = 65537). */
static void
ep_write_key(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	struct ep_file *prv;
	uint16_t fid;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *n = NULL, *e = NULL, *d = NULL;

	if (cmd->lc < 3) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	fid = (uint16_t)(cmd->data[0] << 8 | cmd->data[1]);
	prv = ep_file_child(c->cur_df, fid);
	if (prv == NULL || prv->type != EP_FT_PRV) {
		*sw = EP_SW_NOT_FOUND;
		return;
	}
	if (!ep_access(c, prv->acl[EP_ACI_UPDATE])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	if (cmd->p1 == 0x02) {
		buf_clear(&c->import_n);
		c->import_fid = fid;
		*sw = buf_append(&c->import_n, cmd->data + 2, cmd->lc - 2) == 0
		      ? EP_SW_OK : EP_SW_INTERNAL;
		return;
	}
	if (cmd->p1 != 0x03 || c->import_fid != fid || c->import_n.len == 0) {
		*sw = EP_SW_CONDITIONS;
		return;
	}
	*sw = EP_SW_INTERNAL;
	n = BN_bin2bn(c->import_n.data, (int)c->import_n.len, NULL);
	d = BN_bin2bn(cmd->data + 2, (int)(cmd->lc - 2), NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (n == NULL || d == NULL || e == NULL || bld == NULL ||
	    BN_set_word(e, 65537) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	EVP_PKEY_free(prv->key);
	prv->key = key;
	prv->key_bits = (unsigned)BN_num_bits(n);
	key = NULL;
	buf_clear(&c->import_n);
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
out:
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_clear_free(d);
	BN_free(e);
}

void
ep_process_plain(struct ep_card *c, const struct vcard_cmd *cmd,
                 struct buf *rsp, uint16_t *sw)
{
	if (cmd->cla == 0x80) {
		switch (cmd->ins) {
		case 0x34: ep_fs_list(c, rsp, sw); return;
		case 0xB4: ep_read_pub(c, cmd, rsp, sw); return;
		case 0xE3: ep_install_secret(c, cmd, sw); return;
		case 0xE5: ep_update_secret(c, cmd, sw); return;
		case 0xE7: ep_write_key(c, cmd, sw); return;
		default: *sw = EP_SW_INS_UNKNOWN; return;
		}
	}
	if (cmd->cla != 0x00) {
		*sw = EP_SW_CLA_UNKNOWN;
		return;
	}
	switch (cmd->ins) {
	case 0xA4: ep_fs_select(c, cmd, rsp, sw); break;
	case 0xB0: ep_fs_read(c, cmd, rsp, sw); break;
	case 0xD6: ep_fs_update(c, cmd, sw); break;
	case 0xB2:
	case 0xDC:
	case 0xE2: ep_fs_record(c, cmd, rsp, sw); break;
	case 0xE0: ep_fs_create(c, cmd, sw); break;
	case 0xE4: ep_fs_delete(c, cmd, sw); break;
	case 0xCA: ep_get_data(c, cmd, rsp, sw); break;
	case 0x84: ep_get_challenge(c, cmd, rsp, sw); break;
	case 0x82: ep_pin_ext_auth(c, cmd, sw); break;
	case 0x20: ep_verify(c, cmd, sw); break;
	case 0x22: ep_mse(c, cmd, sw); break;
	case 0x2A: ep_pso(c, cmd, rsp, sw); break;
	case 0x46: ep_generate(c, cmd, sw); break;
	default: *sw = EP_SW_INS_UNKNOWN; break;
	}
}

static void
ep_process(void *card, const struct vcard_cmd *cmd, struct buf *rsp,
           uint16_t *sw)
{
	struct ep_card *c = card;

	if (cmd->cla == 0x80 && cmd->ins == 0x50) {
		ep_sm_init_update(c, cmd, rsp, sw);
	} else if (cmd->cla == 0x84 && cmd->ins == 0x82) {
		ep_sm_ext_auth(c, cmd, sw);
	} else if ((cmd->cla & 0x0C) == 0x0C) {
		ep_sm_process(c, cmd, rsp, sw);
	} else if (cmd->cla == 0x00 && cmd->ins == 0xCA) {
		/* OpenSC reads 01 86 in the clear to learn the SM type. */
		ep_get_data(c, cmd, rsp, sw);
	} else if (cmd->cla == 0x00 && cmd->ins == 0x84 && !c->sm_open) {
		ep_get_challenge(c, cmd, rsp, sw);
	} else {
		/* Secure messaging is mandatory. */
		*sw = EP_SW_NOT_SATISFIED;
	}
}

static void
ep_reset(void *card)
{
	struct ep_card *c = card;

	ep_logout(c);
	c->cur_df = c->mf;
	c->cur_ef = NULL;
}

static size_t
ep_atr(void *card, uint8_t *out)
{
	struct ep_card *c = card;

	memcpy(out, c->atr, c->atr_len);
	return c->atr_len;
}

static void
ep_destroy(void *card)
{
	struct ep_card *c = card;

	if (c == NULL)
		return;
	ep_file_free(c->mf);
	free(c->state_file);
	buf_free(&c->import_n);
	OPENSSL_cleanse(c, sizeof *c);
	free(c);
}

static void *
ep_create(const struct vcard_options *opt)
{
	struct ep_card *c = calloc(1, sizeof *c);
	struct stat st;

	if (c == NULL)
		goto fail;
	memcpy(c->sm_key_enc, ep_default_sm_key, 16);
	memcpy(c->sm_key_mac, ep_default_sm_key, 16);
	if (opt->state_file != NULL) {
		c->state_file = strdup(opt->state_file);
		if (c->state_file == NULL)
			goto fail;
	}
	if (opt->state_file != NULL && stat(opt->state_file, &st) == 0) {
		if (ep_state_load(c, opt->state_file) != 0) {
			fprintf(stderr, "kyso-vcard: epass2003: cannot load "
			        "%s\n", opt->state_file);
			goto fail;
		}
	} else {
		if (ep_provision(c, opt->provision, opt->state_file) != 0) {
			fprintf(stderr, "kyso-vcard: epass2003: cannot make "
			        "the '%s' card\n",
			        opt->provision ? opt->provision : "factory");
			goto fail;
		}
		if (ep_save(c) != 0) {
			fprintf(stderr, "kyso-vcard: epass2003: cannot write "
			        "%s\n", opt->state_file);
			goto fail;
		}
	}
	ep_reset(c);
	return c;
fail:
	ep_destroy(c);
	return NULL;
}

const struct vcard_type vcard_epass2003 = {
	.name = "epass2003",
	.create = ep_create,
	.destroy = ep_destroy,
	.atr = ep_atr,
	.reset = ep_reset,
	.process = ep_process,
	.extended = true,
	.errors_carry_data = true,
	.short_le_ignored = true,
};
