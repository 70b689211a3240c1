/* The private-key slots of the virtual PIV card: GENERAL AUTHENTICATE with
 * a key (SP 800-73-4 pt 2, 3.2.4), GENERATE ASYMMETRIC KEY PAIR (3.3.2),
 * and the YubiKey IMPORT KEY, ATTEST and GET METADATA. Every private-key
 * operation is OpenSSL's, through EVP. */
#include "piv_card.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TAG_DYN_AUTH	0x7Cu
#define TAG_CHALLENGE	0x81u
#define TAG_RESPONSE	0x82u
#define TAG_EXPONENT	0x85u	/* ECDH: the peer's public point */
#define TAG_CRT		0xACu	/* control reference template */
#define TAG_ALGORITHM	0x80u
#define TAG_PIN_POLICY	0xAAu
#define TAG_TOUCH_POLICY 0xABu
#define TAG_PUBKEY	0x7F49u

/* Largest input an ECDSA signature takes here: a SHA-512 digest, twice
 * over for slack. The card truncates to the order as X9.62 says. */
#define ECDSA_INPUT_MAX 128u

static unsigned
piv_rsa_bits(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_RSA1024: return 1024;
	case PIV_ALG_RSA2048: return 2048;
	case PIV_ALG_RSA3072: return 3072;
	case PIV_ALG_RSA4096: return 4096;
	default: return 0;
	}
}

static const char *
piv_ec_group(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_ECP256: return "prime256v1";
	case PIV_ALG_ECP384: return "secp384r1";
	default: return NULL;
	}
}

/* Field size in bytes of an EC algorithm. */
static size_t
piv_ec_bytes(uint8_t alg)
{
	return alg == PIV_ALG_ECP256 ? 32 : alg == PIV_ALG_ECP384 ? 48 : 0;
}

EVP_PKEY *
piv_keygen(uint8_t alg)
{
	unsigned bits = piv_rsa_bits(alg);
	const char *group = piv_ec_group(alg);

	/* OpenSSL's default public exponent is 65537, the only one a
	 * YubiKey uses. */
	if (bits != 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (group != NULL)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	return NULL;
}

uint8_t
piv_alg_of_pkey(const EVP_PKEY *pkey)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		switch (EVP_PKEY_get_bits(pkey)) {
		case 1024: return PIV_ALG_RSA1024;
		case 2048: return PIV_ALG_RSA2048;
		case 3072: return PIV_ALG_RSA3072;
		case 4096: return PIV_ALG_RSA4096;
		default: return 0;
		}
	}
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) == 1) {
		if (strcmp(group, "prime256v1") == 0)
			return PIV_ALG_ECP256;
		if (strcmp(group, "secp384r1") == 0)
			return PIV_ALG_ECP384;
	}
	return 0;
}

void
piv_key_clear(struct piv_key *key)
{
	EVP_PKEY_free(key->pkey);
	key->pkey = NULL;
	key->alg = 0;
	key->pin_policy = 0;
	key->touch_policy = 0;
	key->origin = 0;
}

void
piv_key_install(struct piv_key *key, uint8_t alg, EVP_PKEY *pkey,
                uint8_t pin_policy, uint8_t touch_policy, uint8_t origin)
{
	piv_key_clear(key);
	key->alg = alg;
	key->pkey = pkey;
	key->pin_policy = pin_policy == PIV_PIN_DEFAULT
	                  ? piv_default_pin_policy(key->slot) : pin_policy;
	key->touch_policy = touch_policy == PIV_TOUCH_DEFAULT
	                    ? PIV_TOUCH_NEVER : touch_policy;
	key->origin = origin;
}

/* The public key as GENERATE returns it inside 7F49 (SP 800-73-4 pt 2,
 * 3.3.2 table 8): 81 modulus 82 exponent, or 86 the uncompressed point. */
static int
piv_pubkey_encode(const struct piv_key *key, struct buf *out)
{
	BIGNUM *n = NULL, *e = NULL;
	uint8_t tmp[1024];
	size_t len = 0;
	int rc = -1;

	if (piv_rsa_bits(key->alg) != 0) {
		int nlen, elen;

		if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
		    EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
			goto out;
		nlen = BN_bn2binpad(n, tmp, (int)(piv_rsa_bits(key->alg) / 8));
		if (nlen <= 0 || piv_tlv_put(out, 0x81, tmp, (size_t)nlen) != 0)
			goto out;
		elen = BN_bn2bin(e, tmp);
		if (elen <= 0 || piv_tlv_put(out, 0x82, tmp, (size_t)elen) != 0)
			goto out;
	} else {
		if (EVP_PKEY_get_octet_string_param(key->pkey,
		        OSSL_PKEY_PARAM_PUB_KEY, tmp, sizeof tmp, &len) != 1 ||
		    len != 1 + 2 * piv_ec_bytes(key->alg) || tmp[0] != 0x04 ||
		    piv_tlv_put(out, 0x86, tmp, len) != 0)
			goto out;
	}
	rc = 0;
out:
	BN_free(n);
	BN_free(e);
	return rc;
}

/* 7C { 82 L result }: the answer of GENERAL AUTHENTICATE. */
static piv_sw
piv_dyn_auth_reply(struct buf *out, const uint8_t *result, size_t len)
{
	struct buf inner = BUF_INIT;
	piv_sw sw = PIV_SW_INTERNAL;

	if (piv_tlv_put(&inner, TAG_RESPONSE, result, len) == 0 &&
	    piv_tlv_put(out, TAG_DYN_AUTH, inner.data, inner.len) == 0)
		sw = PIV_SW_OK;
	buf_free(&inner);
	return sw;
}

static bool
piv_pin_satisfied(const struct piv_card *card, const struct piv_key *key)
{
	switch (key->pin_policy) {
	case PIV_PIN_NEVER:
		return true;
	case PIV_PIN_ALWAYS:
		return card->pin_verified && card->pin_always;
	default:
		return card->pin_verified;
	}
}

/* A raw private-key operation: RSA without padding (sign and decrypt are
 * the same exponentiation), or ECDSA over the given bytes. */
static piv_sw
piv_private_op(const struct piv_key *key, const uint8_t *in, size_t in_len,
               struct buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	uint8_t sig[1024];
	size_t sig_len = sizeof sig;
	piv_sw sw = PIV_SW_INTERNAL;

	if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1)
		goto out;
	if (piv_rsa_bits(key->alg) != 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1)
		goto out;
	if (EVP_PKEY_sign(ctx, sig, &sig_len, in, in_len) != 1) {
		/* An RSA input not below the modulus, for one. */
		sw = PIV_SW_WRONG_DATA;
		goto out;
	}
	sw = piv_dyn_auth_reply(out, sig, sig_len);
out:
	OPENSSL_cleanse(sig, sizeof sig);
	EVP_PKEY_CTX_free(ctx);
	return sw;
}

/* ECDH (SP 800-73-4 pt 2, 3.2.4 and SP 800-56A): the shared secret is the
 * x coordinate of d * peer point. The peer point is the host's and is
 * validated by OpenSSL before use. */
static piv_sw
piv_ecdh(const struct piv_key *key, const uint8_t *point, size_t len,
         struct buf *out)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *pctx = NULL, *dctx = NULL;
	EVP_PKEY *peer = NULL;
	uint8_t secret[64];
	size_t slen = sizeof secret;
	piv_sw sw = PIV_SW_WRONG_DATA;

	if (len != 1 + 2 * piv_ec_bytes(key->alg) || point[0] != 0x04)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	                (char *)piv_ec_group(key->alg), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	                (void *)point, len);
	params[2] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	if (dctx == NULL || EVP_PKEY_derive_init(dctx) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(dctx, peer, 1) != 1 ||
	    EVP_PKEY_derive(dctx, secret, &slen) != 1)
		goto out;
	sw = piv_dyn_auth_reply(out, secret, slen);
out:
	OPENSSL_cleanse(secret, sizeof secret);
	EVP_PKEY_free(peer);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_CTX_free(dctx);
	return sw;
}

/* GENERAL AUTHENTICATE with a private key: 00 87 alg slot, data
 * 7C{82 00, 81 input} for a signature or an RSA decryption, 7C{82 00,
 * 85 point} for ECDH; the answer is 7C{82 result}. RSA input is exactly
 * the modulus length and is used raw; ECDSA returns a DER
 * Ecdsa-Sig-Value. */
piv_sw
piv_key_authenticate(struct piv_card *card, const struct vcard_cmd *cmd,
                     struct buf *rsp)
{
	struct piv_key *key = piv_key_slot(card, cmd->p2);
	struct piv_tlv outer, el, in = { 0 };
	bool has_resp = false, has_in = false, ecdh = false;
	const uint8_t *p;
	size_t left;
	unsigned bits;

	if (key == NULL || key->slot == PIV_REF_ATTEST)
		return PIV_SW_WRONG_P1P2;
	/* A YubiKey says 6A80 both for an empty slot and for an algorithm
	 * that is not the slot's. */
	if (key->alg == 0 || cmd->p1 != key->alg)
		return PIV_SW_WRONG_DATA;
	if (!piv_pin_satisfied(card, key))
		return PIV_SW_NOT_SATISFIED;
	/* Spent whatever happens next. */
	card->pin_always = false;

	if (piv_tlv_single(cmd->data, cmd->lc, TAG_DYN_AUTH, &outer) != 1)
		return PIV_SW_WRONG_DATA;
	p = outer.value;
	left = outer.len;
	for (;;) {
		int rc = piv_tlv_next(&p, &left, &el);
		if (rc == 0)
			break;
		if (rc < 0)
			return PIV_SW_WRONG_DATA;
		if (el.tag == TAG_RESPONSE && el.len == 0 && !has_resp) {
			has_resp = true;
		} else if ((el.tag == TAG_CHALLENGE || el.tag == TAG_EXPONENT) &&
		           !has_in) {
			in = el;
			has_in = true;
			ecdh = el.tag == TAG_EXPONENT;
		} else {
			return PIV_SW_WRONG_DATA;
		}
	}
	if (!has_resp || !has_in)
		return PIV_SW_WRONG_DATA;

	bits = piv_rsa_bits(key->alg);
	if (bits != 0) {
		if (ecdh || in.len != bits / 8)
			return PIV_SW_WRONG_DATA;
		return piv_private_op(key, in.value, in.len, rsp);
	}
	if (ecdh)
		return piv_ecdh(key, in.value, in.len, rsp);
	if (in.len == 0 || in.len > ECDSA_INPUT_MAX)
		return PIV_SW_WRONG_DATA;
	return piv_private_op(key, in.value, in.len, rsp);
}

static bool
piv_policies_ok(uint8_t pin_policy, uint8_t touch_policy)
{
	return pin_policy <= PIV_PIN_ALWAYS && touch_policy <= PIV_TOUCH_CACHED;
}

/* Read the optional AA (PIN policy) and AB (touch policy) elements of a
 * YubiKey GENERATE or IMPORT KEY. 1: it was one of them; 0: another tag;
 * -1: malformed or repeated. */
static int
piv_policy_element(const struct piv_tlv *el, bool *seen_pin, bool *seen_touch,
                   uint8_t *pin_policy, uint8_t *touch_policy)
{
	if (el->tag == TAG_PIN_POLICY) {
		if (*seen_pin || el->len != 1)
			return -1;
		*seen_pin = true;
		*pin_policy = el->value[0];
		return 1;
	}
	if (el->tag == TAG_TOUCH_POLICY) {
		if (*seen_touch || el->len != 1)
			return -1;
		*seen_touch = true;
		*touch_policy = el->value[0];
		return 1;
	}
	return 0;
}

/* GENERATE ASYMMETRIC KEY PAIR, SP 800-73-4 pt 2, 3.3.2: 00 47 00 slot,
 * data AC{80 alg [AA pin policy] [AB touch policy]}, with the management
 * key. The new key replaces the old one; the slot's certificate object
 * stays as it was, as on a YubiKey. */
piv_sw
piv_generate(struct piv_card *card, const struct vcard_cmd *cmd,
             struct buf *rsp)
{
	struct piv_key *key = piv_key_slot(card, cmd->p2);
	struct piv_key fresh = { .slot = cmd->p2 };
	struct piv_tlv crt, el;
	const uint8_t *p;
	size_t left;
	bool seen_alg = false, seen_pin = false, seen_touch = false;
	uint8_t alg = 0, pin_policy = 0, touch_policy = 0;
	struct buf pub = BUF_INIT;
	EVP_PKEY *pkey;
	piv_sw sw = PIV_SW_WRONG_DATA;

	if (cmd->p1 != 0x00 || key == NULL)
		return PIV_SW_WRONG_P1P2;
	if (!card->mgmt_ok)
		return PIV_SW_NOT_SATISFIED;
	if (piv_tlv_single(cmd->data, cmd->lc, TAG_CRT, &crt) != 1)
		return PIV_SW_WRONG_DATA;
	p = crt.value;
	left = crt.len;
	for (;;) {
		int rc = piv_tlv_next(&p, &left, &el);
		if (rc == 0)
			break;
		if (rc < 0)
			return PIV_SW_WRONG_DATA;
		if (el.tag == TAG_ALGORITHM && !seen_alg && el.len == 1) {
			seen_alg = true;
			alg = el.value[0];
			continue;
		}
		if (piv_policy_element(&el, &seen_pin, &seen_touch, &pin_policy,
		                       &touch_policy) != 1)
			return PIV_SW_WRONG_DATA;
	}
	if (!seen_alg || !piv_policies_ok(pin_policy, touch_policy))
		return PIV_SW_WRONG_DATA;
	if (piv_rsa_bits(alg) == 0 && piv_ec_group(alg) == NULL)
		return PIV_SW_WRONG_DATA;
	pkey = piv_keygen(alg);
	if (pkey == NULL)
		return PIV_SW_INTERNAL;
	piv_key_install(&fresh, alg, pkey, pin_policy, touch_policy,
	                PIV_ORIGIN_GENERATED);
	sw = PIV_SW_INTERNAL;
	if (piv_pubkey_encode(&fresh, &pub) != 0 ||
	    piv_tlv_put(rsp, TAG_PUBKEY, pub.data, pub.len) != 0)
		goto out;
	piv_key_clear(key);
	*key = fresh;
	fresh.pkey = NULL;
	piv_card_changed(card);
	sw = PIV_SW_OK;
out:
	piv_key_clear(&fresh);
	buf_free(&pub);
	return sw;
}

/* RSA from the CRT components of IMPORT KEY. A YubiKey only takes the
 * public exponent 65537, so n and d follow from p and q; OpenSSL then
 * checks that the given dP, dQ and qInv belong to them. */
static EVP_PKEY *
piv_rsa_from_crt(const struct piv_tlv *el, unsigned bits)
{
	BIGNUM *bn[5] = { NULL }, *n = NULL, *e = NULL, *d = NULL;
	BIGNUM *p1 = NULL, *q1 = NULL, *phi = NULL;
	BN_CTX *bctx = BN_CTX_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *pkey = NULL, *ret = NULL;

	if (bctx == NULL || bld == NULL)
		goto out;
	for (int i = 0; i < 5; i++) {
		bn[i] = BN_bin2bn(el[i].value, (int)el[i].len, NULL);
		if (bn[i] == NULL)
			goto out;
	}
	n = BN_new();
	e = BN_new();
	p1 = BN_dup(bn[0]);
	q1 = BN_dup(bn[1]);
	phi = BN_new();
	if (n == NULL || e == NULL || p1 == NULL || q1 == NULL || phi == NULL ||
	    BN_set_word(e, RSA_F4) != 1 ||
	    BN_mul(n, bn[0], bn[1], bctx) != 1 ||
	    (unsigned)BN_num_bits(n) != bits ||
	    BN_sub_word(p1, 1) != 1 || BN_sub_word(q1, 1) != 1 ||
	    BN_mul(phi, p1, q1, bctx) != 1)
		goto out;
	d = BN_mod_inverse(NULL, e, phi, bctx);
	if (d == NULL)
		goto out;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, bn[0]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, bn[1]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, bn[2]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, bn[3]) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bn[4]) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (check == NULL || EVP_PKEY_pairwise_check(check) != 1)
		goto out;
	ret = pkey;
	pkey = NULL;
out:
	for (int i = 0; i < 5; i++)
		BN_clear_free(bn[i]);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(p1);
	BN_clear_free(q1);
	BN_clear_free(phi);
	BN_CTX_free(bctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_free(pkey);
	return ret;
}

/* EC from the private scalar of IMPORT KEY: the public point is d * G,
 * computed with the curve arithmetic because OpenSSL 3.0's EVP import
 * does not derive it. */
static EVP_PKEY *
piv_ec_from_scalar(const struct piv_tlv *el, uint8_t alg)
{
	const char *group_name = piv_ec_group(alg);
	EC_GROUP *group = EC_GROUP_new_by_curve_name(
	        alg == PIV_ALG_ECP256 ? NID_X9_62_prime256v1 : NID_secp384r1);
	EC_POINT *pub = NULL;
	BIGNUM *d = BN_bin2bn(el->value, (int)el->len, NULL);
	BN_CTX *bctx = BN_CTX_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t point[1 + 2 * 48];
	size_t plen;

	if (group == NULL || d == NULL || bctx == NULL || bld == NULL ||
	    BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
		goto out;
	pub = EC_POINT_new(group);
	if (pub == NULL || EC_POINT_mul(group, pub, d, NULL, NULL, bctx) != 1)
		goto out;
	plen = EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED,
	                          point, sizeof point, bctx);
	if (plen == 0 ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	                                    group_name, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	                                     point, plen) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		pkey = NULL;
out:
	EC_POINT_free(pub);
	EC_GROUP_free(group);
	BN_clear_free(d);
	BN_CTX_free(bctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* YubiKey IMPORT KEY: 00 FE alg slot, data 01 p 02 q 03 dP 04 dQ 05 qInv
 * for RSA or 06 d for EC, then the optional AA and AB policies; with the
 * management key. */
piv_sw
piv_import_key(struct piv_card *card, const struct vcard_cmd *cmd)
{
	struct piv_key *key = piv_key_slot(card, cmd->p2);
	struct piv_tlv comp[6], el;
	bool seen[6] = { false }, seen_pin = false, seen_touch = false;
	uint8_t pin_policy = 0, touch_policy = 0, alg = cmd->p1;
	unsigned bits = piv_rsa_bits(alg);
	const uint8_t *p = cmd->data;
	size_t left = cmd->lc;
	EVP_PKEY *pkey;

	if (key == NULL || (bits == 0 && piv_ec_group(alg) == NULL))
		return PIV_SW_WRONG_P1P2;
	if (!card->mgmt_ok)
		return PIV_SW_NOT_SATISFIED;
	for (;;) {
		int rc = piv_tlv_next(&p, &left, &el);
		if (rc == 0)
			break;
		if (rc < 0)
			return PIV_SW_WRONG_DATA;
		if (el.tag >= 0x01 && el.tag <= 0x06) {
			if (seen[el.tag - 1] || el.len == 0)
				return PIV_SW_WRONG_DATA;
			seen[el.tag - 1] = true;
			comp[el.tag - 1] = el;
			continue;
		}
		if (piv_policy_element(&el, &seen_pin, &seen_touch, &pin_policy,
		                       &touch_policy) != 1)
			return PIV_SW_WRONG_DATA;
	}
	if (!piv_policies_ok(pin_policy, touch_policy))
		return PIV_SW_WRONG_DATA;
	if (bits != 0) {
		for (int i = 0; i < 5; i++)
			if (!seen[i] || comp[i].len > bits / 16)
				return PIV_SW_WRONG_DATA;
		if (seen[5])
			return PIV_SW_WRONG_DATA;
		pkey = piv_rsa_from_crt(comp, bits);
	} else {
		for (int i = 0; i < 5; i++)
			if (seen[i])
				return PIV_SW_WRONG_DATA;
		if (!seen[5] || comp[5].len > piv_ec_bytes(alg))
			return PIV_SW_WRONG_DATA;
		pkey = piv_ec_from_scalar(&comp[5], alg);
	}
	if (pkey == NULL)
		return PIV_SW_WRONG_DATA;
	piv_key_install(key, alg, pkey, pin_policy, touch_policy,
	                PIV_ORIGIN_IMPORTED);
	piv_card_changed(card);
	return PIV_SW_OK;
}

/* The certificate stored for a slot, parsed; NULL if none or unreadable. */
static X509 *
piv_slot_cert(struct piv_card *card, uint8_t slot)
{
	struct piv_object *obj = piv_object_find(card,
	                                         piv_cert_object_of_slot(slot));
	struct piv_tlv data, el;
	const uint8_t *p;
	size_t left;

	if (obj == NULL ||
	    piv_tlv_single(obj->value.data, obj->value.len, 0x53, &data) != 1)
		return NULL;
	p = data.value;
	left = data.len;
	while (piv_tlv_next(&p, &left, &el) == 1) {
		if (el.tag == 0x70) {
			const unsigned char *der = el.value;
			return d2i_X509(NULL, &der, (long)el.len);
		}
	}
	return NULL;
}

/* A private extension of Yubico's attestation certificates, with the raw
 * bytes as its value. */
static int
piv_attest_ext(X509 *x, const char *oid, const uint8_t *value, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int rc = -1;

	if (obj == NULL || os == NULL ||
	    ASN1_OCTET_STRING_set(os, value, (int)len) != 1)
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		goto out;
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return rc;
}

/* YubiKey ATTEST: 00 F9 slot 00. The answer is a DER X.509 certificate for
 * the slot's public key, "CN=YubiKey PIV Attestation <slot>", issued and
 * signed by the attestation key in F9 under the name of F9's certificate
 * (object 5FFF01), with Yubico's extensions under 1.3.6.1.4.1.41482.3:
 * .3 firmware version, .7 serial number, .8 PIN and touch policy, .9 form
 * factor. Only keys generated on the card can be attested. */
piv_sw
piv_attest(struct piv_card *card, const struct vcard_cmd *cmd, struct buf *rsp)
{
	struct piv_key *key = piv_key_slot(card, cmd->p1);
	struct piv_key *signer = piv_key_slot(card, PIV_REF_ATTEST);
	X509 *issuer = NULL, *x = NULL;
	X509_NAME *subject = NULL;
	BIGNUM *serial_bn = NULL;
	ASN1_INTEGER *serial = NULL, *card_serial = NULL;
	unsigned char *der = NULL, *serial_der = NULL;
	uint8_t rnd[16], policy[2], form_factor = 0x01;
	char cn[40];
	int der_len, serial_len;
	piv_sw sw = PIV_SW_INTERNAL;

	if (key == NULL || key->slot == PIV_REF_ATTEST || cmd->p2 != 0x00)
		return PIV_SW_WRONG_P1P2;
	if (key->alg == 0 || key->origin != PIV_ORIGIN_GENERATED)
		return PIV_SW_WRONG_DATA;
	if (signer == NULL || signer->alg == 0)
		return PIV_SW_CONDITIONS;
	issuer = piv_slot_cert(card, PIV_REF_ATTEST);
	if (issuer == NULL)
		return PIV_SW_CONDITIONS;

	x = X509_new();
	subject = X509_NAME_new();
	snprintf(cn, sizeof cn, "YubiKey PIV Attestation %02x", key->slot);
	if (x == NULL || subject == NULL || RAND_bytes(rnd, sizeof rnd) != 1)
		goto out;
	rnd[0] &= 0x7F;
	serial_bn = BN_bin2bn(rnd, sizeof rnd, NULL);
	serial = serial_bn ? BN_to_ASN1_INTEGER(serial_bn, NULL) : NULL;
	if (serial == NULL ||
	    X509_set_version(x, 2) != 1 ||
	    X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
	    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
	                               (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set1_notBefore(x, X509_get0_notBefore(issuer)) != 1 ||
	    X509_set1_notAfter(x, X509_get0_notAfter(issuer)) != 1 ||
	    X509_set_pubkey(x, key->pkey) != 1)
		goto out;
	card_serial = ASN1_INTEGER_new();
	if (card_serial == NULL ||
	    ASN1_INTEGER_set_uint64(card_serial, card->serial) != 1)
		goto out;
	serial_len = i2d_ASN1_INTEGER(card_serial, &serial_der);
	policy[0] = key->pin_policy;
	policy[1] = key->touch_policy;
	if (serial_len <= 0 ||
	    piv_attest_ext(x, "1.3.6.1.4.1.41482.3.3", card->version, 3) != 0 ||
	    piv_attest_ext(x, "1.3.6.1.4.1.41482.3.7", serial_der,
	                   (size_t)serial_len) != 0 ||
	    piv_attest_ext(x, "1.3.6.1.4.1.41482.3.8", policy, 2) != 0 ||
	    piv_attest_ext(x, "1.3.6.1.4.1.41482.3.9", &form_factor, 1) != 0)
		goto out;
	if (X509_sign(x, signer->pkey, EVP_sha256()) <= 0)
		goto out;
	der_len = i2d_X509(x, &der);
	if (der_len <= 0 || buf_append(rsp, der, (size_t)der_len) != 0)
		goto out;
	sw = PIV_SW_OK;
out:
	OPENSSL_free(der);
	OPENSSL_free(serial_der);
	ASN1_INTEGER_free(card_serial);
	ASN1_INTEGER_free(serial);
	BN_free(serial_bn);
	X509_NAME_free(subject);
	X509_free(x);
	X509_free(issuer);
	return sw;
}

/* YubiKey 5.3 GET METADATA: 00 F7 00 ref. 01 algorithm, 02 policy (PIN,
 * touch), 03 origin, 04 public key (as GENERATE encodes it, without
 * 7F49), 05 whether the value is the default, 06 retries (total,
 * remaining). An empty slot is 6A88. */
piv_sw
piv_get_metadata(struct piv_card *card, const struct vcard_cmd *cmd,
                 struct buf *rsp)
{
	struct piv_key *key;
	struct buf pub = BUF_INIT;
	uint8_t v[2];
	piv_sw sw = PIV_SW_INTERNAL;

	if (cmd->p1 != 0x00)
		return PIV_SW_WRONG_P1P2;
	if (cmd->p2 == PIV_REF_PIN || cmd->p2 == PIV_REF_PUK) {
		bool pin = cmd->p2 == PIV_REF_PIN;
		v[0] = PIV_ALG_PIN;
		if (piv_tlv_put(rsp, 0x01, v, 1) != 0)
			goto out;
		v[0] = (pin ? piv_pin_is_default(card)
		            : piv_puk_is_default(card)) ? 1 : 0;
		if (piv_tlv_put(rsp, 0x05, v, 1) != 0)
			goto out;
		v[0] = pin ? card->pin_max : card->puk_max;
		v[1] = pin ? card->pin_left : card->puk_left;
		if (piv_tlv_put(rsp, 0x06, v, 2) != 0)
			goto out;
		sw = PIV_SW_OK;
		goto out;
	}
	if (cmd->p2 == PIV_REF_MGMT) {
		v[0] = card->mgmt_alg;
		if (piv_tlv_put(rsp, 0x01, v, 1) != 0)
			goto out;
		v[0] = PIV_PIN_DEFAULT;
		v[1] = card->mgmt_touch;
		if (piv_tlv_put(rsp, 0x02, v, 2) != 0)
			goto out;
		v[0] = piv_mgmt_is_default(card) ? 1 : 0;
		if (piv_tlv_put(rsp, 0x05, v, 1) != 0)
			goto out;
		sw = PIV_SW_OK;
		goto out;
	}
	key = piv_key_slot(card, cmd->p2);
	if (key == NULL || key->alg == 0) {
		sw = PIV_SW_REF_NOT_FOUND;
		goto out;
	}
	v[0] = key->alg;
	if (piv_tlv_put(rsp, 0x01, v, 1) != 0)
		goto out;
	v[0] = key->pin_policy;
	v[1] = key->touch_policy;
	if (piv_tlv_put(rsp, 0x02, v, 2) != 0)
		goto out;
	v[0] = key->origin;
	if (piv_tlv_put(rsp, 0x03, v, 1) != 0 ||
	    piv_pubkey_encode(key, &pub) != 0 ||
	    piv_tlv_put(rsp, 0x04, pub.data, pub.len) != 0)
		goto out;
	sw = PIV_SW_OK;
out:
	buf_free(&pub);
	return sw;
}
