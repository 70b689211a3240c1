/* Private-key operations with GENERAL AUTHENTICATE (SP 800-73-4 pt 2,
 * 3.2.4; the templates of appendix A.3-A.5): signing, RSA decryption and
 * ECDH. The card does raw RSA and ECDSA on a prepared hash; paddings and
 * signature formats are drivers/padding.c's.
 *
 * Each operation is exactly one GENERAL AUTHENTICATE (chained when the data
 * is long): no SELECT, no status query, so that login plus one signature is
 * VERIFY + GENERAL AUTHENTICATE on the wire. */
#include "drivers/piv/piv_internal.h"

#include <limits.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>

#include "common/log.h"
#include "drivers/card/tlv.h"
#include "drivers/padding.h"

/* The slot behind `key_ref`, with a key kyso knows. */
static CK_RV
piv_key(struct card *card, uint32_t key_ref, struct piv_slot **out)
{
	struct piv_data *d;
	int i;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	i = piv_slot_index(key_ref);
	if (i < 0 || d->slots[i].pub == NULL || d->slots[i].alg == 0) {
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	*out = &d->slots[i];
out:
	return rv;
}

/* What a status word after GENERAL AUTHENTICATE with a key means. */
static CK_RV
piv_ga_sw(uint16_t sw)
{
	CK_RV rv;

	switch (sw) {
	case SW_OK:
		rv = CKR_OK;
		break;
	case 0x6982:
		/* pt 2, 3.2.4: the key's access rule is not met: the PIN,
		 * or for 9C the PIN right before this use. */
		rv = CKR_USER_NOT_LOGGED_IN;
		break;
	case 0x6A80:
		rv = CKR_DATA_INVALID;
		break;
	case 0x6A86:
	case 0x6A88:
		/* No such key on the card, or not of this algorithm. */
		rv = CKR_KEY_HANDLE_INVALID;
		break;
	default:
		rv = apdu_sw_to_rv(sw);
		break;
	}
	return rv;
}

/* GENERAL AUTHENTICATE 7C{ 82 00, <tag> input } -> 7C{ 82 output }:
 * "compute the response for this challenge (or exponentiation) input". */
static CK_RV
piv_ga_compute(struct card *card, const struct piv_slot *slot, uint32_t key_ref,
               uint8_t tag, const struct buf *input, struct buf *output)
{
	struct buf content = BUF_INIT, rsp = BUF_INIT;
	const uint8_t *v;
	size_t vlen;
	uint16_t sw;
	CK_RV rv = CKR_HOST_MEMORY;

	if (tlv_put(&content, PIV_DAT_RESPONSE, NULL, 0) != 0 ||
	    tlv_put(&content, tag, input->data, input->len) != 0)
		goto out;
	rv = piv_cmd_general_authenticate(card, slot->alg, (uint8_t)key_ref, &content,
	                                  false, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	rv = piv_ga_sw(sw);
	if (rv != CKR_OK) {
		log_debug("piv: GENERAL AUTHENTICATE with %02X answered %04X",
		          (unsigned)key_ref, sw);
		goto out;
	}
	if (!piv_tlv_value(rsp.data, rsp.len, PIV_DAT_RESPONSE, &v, &vlen) || vlen == 0) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (buf_set(output, v, vlen) != 0)
		rv = CKR_HOST_MEMORY;
out:
	buf_free(&content);
	buf_free(&rsp);
	return rv;
}

/* A raw RSA result is a k-byte number; a card may drop leading zeros. */
static CK_RV
piv_rsa_result(const struct buf *raw, size_t k, struct buf *out)
{
	CK_RV rv = CKR_DEVICE_ERROR;

	if (raw->len <= k)
		rv = padding_raw(raw->data, raw->len, k, out);
	return rv;
}

static size_t
piv_ec_order_len(const struct piv_slot *slot)
{
	return (size_t)(EVP_PKEY_get_bits(slot->pub) + 7) / 8;
}

CK_RV
piv_sign(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
         const uint8_t *in, size_t in_len, struct buf *sig)
{
	struct buf block = BUF_INIT, raw = BUF_INIT;
	struct piv_slot *slot;
	bool rsa;
	size_t k = 0;
	CK_RV rv;

	rv = piv_key(card, key_ref, &slot);
	if (rv != CKR_OK)
		goto out;
	rsa = EVP_PKEY_get_base_id(slot->pub) == EVP_PKEY_RSA;
	if (rsa)
		k = (size_t)EVP_PKEY_get_size(slot->pub);
	if (mech->mechanism == CKM_ECDSA)
		rv = rsa ? CKR_KEY_TYPE_INCONSISTENT :
		     padding_ecdsa_input(in, in_len, piv_ec_order_len(slot), &block);
	else if (rsa)
		rv = padding_rsa_sign_block(mech, slot->pub, in, in_len, &block);
	else
		rv = padding_is_rsa_sign(mech->mechanism) ? CKR_KEY_TYPE_INCONSISTENT :
		     CKR_MECHANISM_INVALID;
	if (rv != CKR_OK)
		goto out;
	rv = piv_ga_compute(card, slot, key_ref, PIV_DAT_CHALLENGE, &block, &raw);
	if (rv != CKR_OK)
		goto out;
	if (rsa)
		rv = piv_rsa_result(&raw, k, sig);
	else
		rv = padding_ecdsa_der_to_raw(raw.data, raw.len, piv_ec_order_len(slot), sig);
out:
	buf_free(&block);
	buf_free(&raw);
	return rv;
}

CK_RV
piv_decrypt(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
            const uint8_t *in, size_t in_len, struct buf *out)
{
	struct buf block = BUF_INIT, raw = BUF_INIT, em = BUF_INIT;
	struct piv_slot *slot;
	size_t k;
	CK_RV rv;

	rv = piv_key(card, key_ref, &slot);
	if (rv != CKR_OK)
		goto out;
	if (EVP_PKEY_get_base_id(slot->pub) != EVP_PKEY_RSA) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	rv = padding_decrypt_check(mech);
	if (rv != CKR_OK)
		goto out;
	/* RFC 8017 7.1.2 / 7.2.2 step 1: the ciphertext is k bytes. */
	k = (size_t)EVP_PKEY_get_size(slot->pub);
	if (in == NULL || in_len != k) {
		rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
		goto out;
	}
	if (buf_set(&block, in, in_len) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = piv_ga_compute(card, slot, key_ref, PIV_DAT_CHALLENGE, &block, &raw);
	if (rv == CKR_OK)
		rv = piv_rsa_result(&raw, k, &em);
	if (rv != CKR_OK)
		goto out;
	rv = padding_decrypt_unpad(mech, em.data, em.len, k, out);
out:
	buf_free(&block);
	buf_free(&raw);
	buf_free(&em);
	return rv;
}

/* The peer's public point from CK_ECDH1_DERIVE_PARAMS: the raw uncompressed
 * point (SEC 1 2.3.3), or that point in a DER OCTET STRING, which some
 * applications pass since CKA_EC_POINT has that form. */
static CK_RV
piv_ecdh_point(const CK_ECDH1_DERIVE_PARAMS *p, size_t field, struct buf *point)
{
	const uint8_t *der = p->pPublicData;
	ASN1_OCTET_STRING *os = NULL;
	size_t want = 1 + 2 * field;
	CK_RV rv = CKR_MECHANISM_PARAM_INVALID;

	if (p->pPublicData == NULL || p->ulPublicDataLen == 0 ||
	    p->ulPublicDataLen > LONG_MAX)
		goto out;
	if (p->ulPublicDataLen == want && p->pPublicData[0] == POINT_CONVERSION_UNCOMPRESSED) {
		rv = buf_set(point, p->pPublicData, want) == 0 ? CKR_OK : CKR_HOST_MEMORY;
		goto out;
	}
	os = d2i_ASN1_OCTET_STRING(NULL, &der, (long)p->ulPublicDataLen);
	if (os == NULL || der != p->pPublicData + p->ulPublicDataLen ||
	    (size_t)ASN1_STRING_length(os) != want ||
	    ASN1_STRING_get0_data(os)[0] != POINT_CONVERSION_UNCOMPRESSED)
		goto out;
	rv = buf_set(point, ASN1_STRING_get0_data(os), want) == 0 ? CKR_OK : CKR_HOST_MEMORY;
out:
	ASN1_OCTET_STRING_free(os);
	return rv;
}

CK_RV
piv_derive(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
           struct buf *secret)
{
	const CK_ECDH1_DERIVE_PARAMS *p = mech->pParameter;
	struct buf point = BUF_INIT, raw = BUF_INIT;
	struct piv_slot *slot;
	size_t field;
	CK_RV rv;

	rv = piv_key(card, key_ref, &slot);
	if (rv != CKR_OK)
		goto out;
	if (EVP_PKEY_get_base_id(slot->pub) != EVP_PKEY_EC) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (mech->mechanism != CKM_ECDH1_DERIVE) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	/* The card gives the plain shared secret (SP 800-56A 5.7.1.2, the
	 * x-coordinate); a KDF over it is not something it can do. */
	if (p == NULL || mech->ulParameterLen != sizeof(CK_ECDH1_DERIVE_PARAMS) ||
	    p->kdf != CKD_NULL || p->ulSharedDataLen != 0) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	field = piv_ec_order_len(slot);
	rv = piv_ecdh_point(p, field, &point);
	if (rv != CKR_OK)
		goto out;
	/* pt 2, appendix A.5: the point goes in 85 (exponentiation). */
	rv = piv_ga_compute(card, slot, key_ref, PIV_DAT_EXPONENTIATION, &point, &raw);
	if (rv != CKR_OK)
		goto out;
	if (raw.len != field) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	rv = buf_set(secret, raw.data, raw.len) == 0 ? CKR_OK : CKR_HOST_MEMORY;
out:
	buf_free(&point);
	buf_free(&raw);
	return rv;
}
