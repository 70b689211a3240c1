/* RSA paddings and ECDSA signature formats that drivers share, all done by
 * OpenSSL. Cards compute raw RSA (or raw ECDSA over a prepared hash); these
 * helpers turn PKCS#11 input into the block the card expects, and the card's
 * output into what PKCS#11 returns. */
#ifndef KYSO_PADDING_H
#define KYSO_PADDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "common/buf.h"

/* The digest of a PKCS#11 hash mechanism (CKM_SHA256...) or MGF1 type
 * (CKG_MGF1_SHA256...), or NULL for one kyso does not know. */
const EVP_MD *padding_md_from_mech(CK_MECHANISM_TYPE hash);
const EVP_MD *padding_md_from_mgf(CK_RSA_PKCS_MGF_TYPE mgf);

/* CKM_RSA_PKCS signing: EMSA-PKCS1-v1_5 block type 1 (RFC 8017 9.2 steps
 * 3-6) around `in` (a DigestInfo, or whatever the application hashed), to
 * `k` bytes, the modulus size. CKR_DATA_LEN_RANGE when `in` is longer than
 * k - 11. */
CK_RV padding_pkcs1_sign(const uint8_t *in, size_t in_len, size_t k, struct buf *out);

/* CKM_RSA_X_509: `in` as a k-byte big-endian number, left-padded with zeros
 * (PKCS#11 2.40 mechanisms 2.1.7). CKR_DATA_LEN_RANGE when longer than k. */
CK_RV padding_raw(const uint8_t *in, size_t in_len, size_t k, struct buf *out);

/* CKM_RSA_PKCS_PSS: EMSA-PSS-ENCODE (RFC 8017 9.1.1) of the hash `hash` for
 * the RSA public key `pub`, with the hash, MGF1 hash and salt length of
 * `params`. Output: the modulus size in bytes. CKR_MECHANISM_PARAM_INVALID
 * for unknown or impossible parameters, CKR_DATA_LEN_RANGE when the hash
 * does not have the size of params->hashAlg. */
CK_RV padding_pss(EVP_PKEY *pub, const CK_RSA_PKCS_PSS_PARAMS *params,
                  const uint8_t *hash, size_t hash_len, struct buf *out);

/* The block a card with a raw RSA operation signs for CKM_RSA_PKCS,
 * CKM_RSA_X_509 or CKM_RSA_PKCS_PSS (with its parameters checked), for the
 * RSA key `pub`. CKR_MECHANISM_INVALID for any other mechanism. */
CK_RV padding_rsa_sign_block(const CK_MECHANISM *mech, EVP_PKEY *pub,
                             const uint8_t *in, size_t in_len, struct buf *out);
/* Whether `mech` is one padding_rsa_sign_block() takes. */
bool padding_is_rsa_sign(CK_MECHANISM_TYPE mech);

/* Decryption: strip the padding of `em`, the k-byte result of a raw RSA
 * private-key operation. CKR_ENCRYPTED_DATA_INVALID when it does not
 * verify. */
CK_RV padding_pkcs1_decrypt(const uint8_t *em, size_t em_len, size_t k, struct buf *out);
CK_RV padding_oaep_decrypt(const uint8_t *em, size_t em_len, size_t k,
                           const CK_RSA_PKCS_OAEP_PARAMS *params, struct buf *out);

/* The RSA decryption mechanisms a card with a raw RSA operation offers:
 * CKM_RSA_PKCS, CKM_RSA_X_509 and CKM_RSA_PKCS_OAEP with its parameters.
 * Checked before the card is used; CKR_MECHANISM_INVALID or
 * CKR_MECHANISM_PARAM_INVALID otherwise. */
CK_RV padding_decrypt_check(const CK_MECHANISM *mech);
/* The plaintext from `em` (the card's raw result) for such a mechanism. */
CK_RV padding_decrypt_unpad(const CK_MECHANISM *mech, const uint8_t *em, size_t em_len,
                            size_t k, struct buf *out);

/* CKM_ECDSA input for a card that signs the number it is given: the hash
 * truncated to its leftmost `order_len` bytes, or left-padded with zeros to
 * that size (FIPS 186-4 6.4: the leftmost min(N, outlen) bits; the orders of
 * the curves kyso handles are whole bytes). `out` gets order_len bytes. */
CK_RV padding_ecdsa_input(const uint8_t *hash, size_t hash_len, size_t order_len,
                          struct buf *out);

/* A DER ECDSA-Sig-Value (X9.62 / RFC 3279 2.2.3) to r||s, each `order_len`
 * bytes, as PKCS#11 returns ECDSA signatures. CKR_DEVICE_ERROR when the
 * card's answer is not a well-formed signature of that size. */
CK_RV padding_ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t order_len,
                               struct buf *out);

#endif
