/* The virtual Feitian ePass2003 (FTCOS): what its files share.
 *
 * The card as OpenSC's epass2003 driver knows it (card-epass2003.c,
 * pkcs15init/pkcs15-epass2003.c, epass2003.profile) and as
 * docs/epass2003-protocol.md writes it down: GET DATA 01 86, secure
 * messaging mandatory (SCP01-style mutual authentication with the transport
 * keys, AES-128, MAC and encryption of commands and responses, the ICV
 * counter), an ISO 7816-4 file tree with 8-byte access conditions, PINs
 * checked by EXTERNAL AUTHENTICATE with a PIN-derived 3DES key, MSE:SET and
 * PSO for raw RSA, on-token key generation.
 *
 * ep_card.c      the vcard_type, plain command dispatch, PINs, RSA
 * ep_sm.c        mutual authentication, command unwrap, response wrap
 * ep_fs.c        the file tree, SELECT / READ / UPDATE / CREATE / DELETE
 * ep_provision.c the "pkcs15" and "vendor" layouts, the demo CA
 * ep_state.c     the --state file */
#ifndef KYSO_VCARD_EP_CARD_H
#define KYSO_VCARD_EP_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "tests/vcard/vcard.h"

/* Status words (ISO 7816-4 5.6 and card-epass2003.c's table). */
#define EP_SW_OK		0x9000u
#define EP_SW_WRONG_LENGTH	0x6700u
#define EP_SW_AUTH_FAILED	0x6300u
#define EP_SW_INCOMPATIBLE	0x6981u	/* command incompatible with file */
#define EP_SW_NOT_SATISFIED	0x6982u
#define EP_SW_BLOCKED		0x6983u
#define EP_SW_CONDITIONS	0x6985u
#define EP_SW_NO_EF		0x6986u
#define EP_SW_SM_MISSING	0x6987u
#define EP_SW_SM_WRONG		0x6988u
#define EP_SW_WRONG_DATA	0x6A80u
#define EP_SW_NOT_FOUND		0x6A82u
#define EP_SW_NO_SPACE		0x6A84u
#define EP_SW_WRONG_P1P2	0x6A86u
#define EP_SW_REF_NOT_FOUND	0x6A88u
#define EP_SW_EXISTS		0x6A89u
#define EP_SW_OFFSET		0x6B00u
#define EP_SW_INS_UNKNOWN	0x6D00u
#define EP_SW_CLA_UNKNOWN	0x6E00u
#define EP_SW_INTERNAL		0x6F00u
#define EP_SW_TRIES(n)		(0x63C0u | ((n) > 15 ? 15u : (unsigned)(n)))

/* FCP tag 82 first byte (card-epass2003.c process_fci / construct_fci). */
#define EP_FT_DF	0x38u
#define EP_FT_EF	0x01u	/* transparent */
#define EP_FT_LINEAR	0x02u	/* linear fixed */
#define EP_FT_VARIABLE	0x04u	/* linear variable (EF.DIR) */
#define EP_FT_BSO	0x10u
#define EP_FT_PRV	0x11u	/* RSA private key (internal EF) */
#define EP_FT_PUB	0x12u	/* RSA public key (internal EF) */
#define EP_FT_ECPRV	0x13u	/* EC P-256 private key (construct_fci, size 256) */
#define EP_FT_ECPUB	0x14u	/* EC P-256 public key */
#define EP_IS_PRV(t)	((t) == EP_FT_PRV || (t) == EP_FT_ECPRV)
#define EP_IS_PUB(t)	((t) == EP_FT_PUB || (t) == EP_FT_ECPUB)
#define EP_IS_KEY(t)	(EP_IS_PRV(t) || EP_IS_PUB(t))

/* Access condition bytes (cardctl.h EPASS2003_AC_*): low nibble the
 * security level asked for, high nibble how it compares. */
#define EP_AC_EVERYONE	0x00u
#define EP_AC_USER	0x06u
#define EP_AC_SO	0x08u
#define EP_AC_NOONE	0x0Fu
#define EP_AC_NOLESS	0x90u
#define EP_AC_EQUAL	0xB0u
#define EP_AC_FREE	(EP_AC_NOLESS | EP_AC_EVERYONE)	/* 0x90 */
#define EP_AC_PIN	(EP_AC_NOLESS | EP_AC_USER)	/* 0x96 */
#define EP_AC_NEVER	(EP_AC_NOLESS | EP_AC_NOONE)	/* 0x9F */

/* Indexes into the 8 access bytes of tag 86. */
#define EP_ACI_READ	0	/* EF read, DF list */
#define EP_ACI_UPDATE	1	/* EF update, DF create, key update */
#define EP_ACI_USE	2	/* key: crypto */
#define EP_ACI_DELETE	3

#define EP_USER_PIN	1u	/* ENTERSAFE_USER_PIN_ID */
#define EP_SO_PIN	2u	/* ENTERSAFE_SO_PIN_ID */
#define EP_SECRETS_MAX	8

struct ep_file {
	uint16_t fid;
	uint8_t type;			/* EP_FT_* */
	uint8_t acl[8];
	uint8_t name[16];		/* DF name (tag 84) */
	size_t name_len;
	struct buf data;		/* EF content, its length is the size;
					 * record EFs: records as length byte,
					 * value */
	EVP_PKEY *key;			/* EP_FT_PRV / EP_FT_PUB, or NULL */
	unsigned key_bits;		/* declared size of a key EF */
	struct ep_file *parent, *child, *next;
};

/* A secret installed with 80 E3 (install_secret_key in card-epass2003.c). */
struct ep_secret {
	bool used;
	uint8_t type;			/* 01/02 SM keys, 04 PIN (ext auth), 06 PIN (VERIFY) */
	uint8_t kid;
	uint8_t use_ac, modify_ac;
	uint8_t level;			/* security level granted on success */
	uint8_t max_tries, tries_left;
	uint8_t value[32];
	size_t value_len;
};

struct ep_card {
	char *state_file;
	uint8_t atr[33];
	size_t atr_len;
	uint8_t serial[8];
	uint8_t sm_key_enc[16], sm_key_mac[16];	/* transport keys */
	struct ep_file *mf;
	struct ep_secret secrets[EP_SECRETS_MAX];

	/* Volatile: lost on reset. */
	struct ep_file *cur_df, *cur_ef;
	bool sm_pending;		/* INITIALIZE UPDATE done, EXT AUTH due */
	bool sm_open;
	uint8_t host_chal[8], card_chal[8];
	uint8_t s_enc[16], s_mac[16], icv[16];
	uint8_t level;			/* highest level reached: 0, 6 or 8 */
	uint8_t challenge[8];
	bool have_challenge;
	struct ep_file *se_key;		/* MSE:SET */
	struct buf import_n;		/* 80 E7 02: n, until d comes */
	uint16_t import_fid;
};

/* ep_card.c: one plain (unwrapped) command. */
void ep_process_plain(struct ep_card *c, const struct vcard_cmd *cmd,
                      struct buf *rsp, uint16_t *sw);
/* Forget the login and the session (reset, new mutual authentication). */
void ep_logout(struct ep_card *c);
int ep_secret_hash(const uint8_t *pin, size_t len, uint8_t out[24]);
struct ep_secret *ep_secret_find(struct ep_card *c, uint8_t type_mask_pin,
                                 uint8_t kid);
/* Save the card to its --state file, if any. 0 on success. */
int ep_save(struct ep_card *c);

/* ep_sm.c */
void ep_sm_init_update(struct ep_card *c, const struct vcard_cmd *cmd,
                       struct buf *rsp, uint16_t *sw);
void ep_sm_ext_auth(struct ep_card *c, const struct vcard_cmd *cmd,
                    uint16_t *sw);
void ep_sm_process(struct ep_card *c, const struct vcard_cmd *cmd,
                   struct buf *rsp, uint16_t *sw);
/* Crypto helpers shared with the self-test. 0 on success. */
int ep_aes_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);
int ep_aes_cbc(const uint8_t key[16], const uint8_t iv[16], bool enc,
               const uint8_t *in, size_t len, uint8_t *out);
/* First 8 bytes of the last block of AES-CBC(key, iv, in), len % 16 == 0. */
int ep_aes_mac(const uint8_t key[16], const uint8_t iv[16],
               const uint8_t *in, size_t len, uint8_t mac[8]);
/* data | 80 | 00.. to a multiple of 16, appended to out. */
int ep_pad(struct buf *out, const uint8_t *data, size_t len);
/* Session keys and cryptograms of the handshake (protocol.md, steps 2-4). */
int ep_sm_derive(const uint8_t k_enc[16], const uint8_t k_mac[16],
                 const uint8_t host[8], const uint8_t card[8],
                 uint8_t s_enc[16], uint8_t s_mac[16]);
int ep_sm_cryptogram(const uint8_t s_enc[16], const uint8_t first[8],
                     const uint8_t second[8], uint8_t out[8]);
void ep_icv_increment(uint8_t icv[16]);

/* ep_fs.c */
struct ep_file *ep_file_new(struct ep_file *parent, uint16_t fid,
                            uint8_t type, const uint8_t acl[8]);
void ep_file_free(struct ep_file *f);
struct ep_file *ep_file_child(const struct ep_file *df, uint16_t fid);
struct ep_file *ep_file_find_key(struct ep_card *c, uint16_t fid);
bool ep_access(const struct ep_card *c, uint8_t ac);
void ep_fs_select(struct ep_card *c, const struct vcard_cmd *cmd,
                  struct buf *rsp, uint16_t *sw);
void ep_fs_read(struct ep_card *c, const struct vcard_cmd *cmd,
                struct buf *rsp, uint16_t *sw);
void ep_fs_update(struct ep_card *c, const struct vcard_cmd *cmd,
                  uint16_t *sw);
void ep_fs_create(struct ep_card *c, const struct vcard_cmd *cmd,
                  uint16_t *sw);
void ep_fs_delete(struct ep_card *c, const struct vcard_cmd *cmd,
                  uint16_t *sw);
void ep_fs_list(struct ep_card *c, struct buf *rsp, uint16_t *sw);
/* READ RECORD, UPDATE RECORD, APPEND RECORD on a record EF. */
void ep_fs_record(struct ep_card *c, const struct vcard_cmd *cmd,
                  struct buf *rsp, uint16_t *sw);

/* ep_provision.c: fill a new card. `state_file` (may be NULL) is where the
 * demo CA certificate goes, as <state_file>.ca.pem. */
int ep_provision(struct ep_card *c, const char *name, const char *state_file);
int ep_factory(struct ep_card *c);

/* ep_state.c */
int ep_state_load(struct ep_card *c, const char *path);
int ep_state_save(const struct ep_card *c, const char *path);

#endif
