/* ePass2003 secure messaging: SCP01-style mutual authentication with the
 * transport keys, then every command MACed and its data encrypted, every
 * response MACed and its data encrypted (AES-128 mode). Pure functions over
 * bytes: no card I/O here, so the unit tests and the fuzzer drive them. */
#ifndef KYSO_EPASS2003_SM_H
#define KYSO_EPASS2003_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"

#define EPASS_SM_KEY_LEN 16
#define EPASS_SM_BLOCK 16
/* INITIALIZE UPDATE answers 28 bytes: key data (12), card random (8),
 * card cryptogram (8). */
#define EPASS_SM_INIT_RSP_LEN 28
#define EPASS_SM_RAND_LEN 8

/* The session: keys, and the MAC chaining value that doubles as the
 * command counter (incremented before each command). */
struct epass_sm {
	uint8_t enc[EPASS_SM_KEY_LEN];
	uint8_t mac[EPASS_SM_KEY_LEN];
	uint8_t icv[EPASS_SM_BLOCK];
	bool open;
};

/* The factory transport keys of the ePass2003 (ENC and MAC alike). */
extern const uint8_t epass_sm_transport_key[EPASS_SM_KEY_LEN];

/* From our random and the card's INITIALIZE UPDATE answer: derive the
 * session keys, check the card cryptogram, and produce the 16 data bytes of
 * EXTERNAL AUTHENTICATE (host cryptogram, MAC). CKR_DEVICE_ERROR when the
 * card's cryptogram is wrong (not the transport keys, or not an ePass2003).
 * On success the session is open. */
CK_RV epass_sm_open(struct epass_sm *sm, const uint8_t key_enc[EPASS_SM_KEY_LEN],
                    const uint8_t key_mac[EPASS_SM_KEY_LEN],
                    const uint8_t host_rand[EPASS_SM_RAND_LEN],
                    const uint8_t *init_rsp, size_t init_rsp_len,
                    uint8_t ext_auth[16]);

/* Wrap one command: *cla_out is CLA with the SM bits (0C), `out` the new
 * data field (87 encrypted data, 97 Le, 8E MAC). `le`: 0 no response data
 * expected; 1..65536 that many; EPASS_SM_LE_ANY "what there is". Bumps the
 * counter. */
#define EPASS_SM_LE_ANY ((size_t)-1)
CK_RV epass_sm_wrap(struct epass_sm *sm, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
                    const uint8_t *data, size_t lc, size_t le,
                    uint8_t *cla_out, struct buf *out);

/* Unwrap a response body (without SW1 SW2) that came with status `sw`:
 * check that the 99 status object equals `sw`, check the MAC, decrypt the 87
 * object into `plain` (replaced). CKR_OK; CKR_DEVICE_ERROR for any response
 * that is malformed, has a wrong MAC, or a status that does not match. */
CK_RV epass_sm_unwrap(const struct epass_sm *sm, const uint8_t *rsp, size_t rsp_len,
                      uint16_t sw, struct buf *plain);

/* Forget the session keys. */
void epass_sm_close(struct epass_sm *sm);

#endif
