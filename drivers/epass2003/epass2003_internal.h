/* The ePass2003 driver's own declarations: commands (from OpenSC's
 * card-epass2003.c behaviour and FTCOS), per-card state, shared helpers. */
#ifndef KYSO_EPASS2003_INTERNAL_H
#define KYSO_EPASS2003_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "drivers/card/apdu.h"
#include "drivers/cache.h"
#include "drivers/driver.h"
#include "drivers/epass2003/epass2003.h"
#include "drivers/epass2003/epass2003_sm.h"

/* PIN references (FTCOS "secret keys" used by EXTERNAL AUTHENTICATE). */
#define EPASS_KID_USER 0x01
#define EPASS_KID_SO 0x02
/* PINs: 4 to 16 bytes as OpenSC's driver states; Feitian's middleware
 * asks for at least 8 when it sets one, kyso accepts what the card does. */
#define EPASS_PIN_MIN 4
#define EPASS_PIN_MAX 16

/* MSE:SET control reference templates (ISO 7816-4 table 51). */
#define EPASS_MSE_RSA 0xB8
#define EPASS_MSE_EC 0xB6

#define EPASS_MAX_KEYS 16
/* Deepest file path kyso selects: MF, DF, DF, EF. */
#define EPASS_PATH_MAX 4

enum epass_layout {
	EPASS_LAYOUT_UNKNOWN = 0,
	EPASS_LAYOUT_VENDOR,	/* ENTERSAFE-ESPK */
	EPASS_LAYOUT_PKCS15,
	EPASS_LAYOUT_EMPTY,	/* neither: a blank token */
};

/* A private key the card can use, by the handle MSE:SET names it with. */
struct epass_key {
	uint16_t handle;
	EVP_PKEY *pub;		/* for the size and PSS; NULL when unknown */
};

struct epass_data {
	struct epass_sm sm;
	bool sm_plain;			/* the card runs without SM */
	unsigned reset_count;

	enum epass_layout layout;
	char serial[17];
	char label[33];

	bool logged_in;
	enum drv_user who;
	uint8_t user_kid, so_kid;
	/* -1: unknown */
	int user_tries_left, user_tries_max, so_tries_left, so_tries_max;
	/* A wrong PIN (SO PIN) seen since the last good one: the counter is
	 * low even when the card never told its maximum (vendor layout). */
	bool user_count_low, so_count_low;
	/* The SM session (sm_epoch) in which a good PIN (SO PIN) put its
	 * counter back at the maximum, 0: none since. The next status query
	 * in the same session, with no wrong PIN between, reads the maximum
	 * the vendor layout does not store (epass2003_auth.c): another
	 * program's wrong PIN would have needed a session of its own. */
	unsigned user_full_epoch, so_full_epoch;
	bool label_read;
	/* PKCS#15: 5015/9F00 (the PIN maxima) read, once a counter is
	 * wanted; not with the objects, which do not need it. */
	bool max_tries_read;
	/* Vendor layout: the index EF as one call read it, for the next
	 * (epass2003_objects.c epass_read_index); empty when taken. */
	struct buf espk_index;

	/* The DF the card has selected, as FIDs from the MF (0: unknown).
	 * Kept from one PKCS#11 call to the next while our SM session lives:
	 * another program must open its own to send the card anything but
	 * GET DATA, and that ends ours (epass2003.c epass_data_get). */
	uint16_t cur_df[EPASS_PATH_MAX];
	size_t cur_df_len;
	/* Counts the SM sessions opened: a command that changed it was
	 * resent in a session whose card state is not what kyso left. */
	unsigned sm_epoch;

	struct epass_key keys[EPASS_MAX_KEYS];
	size_t key_count;
	/* The key and template the last MSE:SET chose, while mse_epoch is
	 * sm_epoch (0: none): FTCOS keeps the security environment until
	 * its SM session ends, so a PSO with the same key needs no MSE:SET
	 * (epass2003_crypto.c epass_pso). */
	unsigned mse_epoch;
	uint16_t mse_handle;
	bool mse_ec;

	/* Certificates read before (drivers/cache.h), by the chip serial. */
	struct drv_cache *cache;
};

/* epass2003_apdu.c: every command goes through here. */
/* Open (or reopen) secure messaging: GET DATA for the mode, INITIALIZE
 * UPDATE, EXTERNAL AUTHENTICATE. Leaves the PIN unverified on the card. */
CK_RV epass_sm_handshake(struct card *card, struct epass_data *d);
/* One command, wrapped when SM is on. `retry`: when the card answers 6988
 * or the response MAC fails (someone else's session replaced ours, OpenSC
 * #558), open SM again and send this command once more. Never set for a
 * command carrying a PIN. */
CK_RV epass_cmd(struct card *card, struct epass_data *d, uint8_t cla, uint8_t ins,
                uint8_t p1, uint8_t p2, const uint8_t *data, size_t lc, size_t le,
                bool secret, bool retry, struct buf *rsp, uint16_t *sw);
/* SELECT each FID of `path` from the MF; *size gets the last file's size
 * from its FCI (0 when it does not say). CKR_OK with *sw != 9000 when a
 * file is missing. */
CK_RV epass_select_path(struct card *card, struct epass_data *d, const uint16_t *path,
                        size_t n, size_t *size, struct buf *fci, uint16_t *sw);
/* READ BINARY size per command: OpenSC's max_recv_size for this card. */
#define EPASS_READ_CHUNK 0xD8
/* READ BINARY the first `len` bytes of the selected EF (fewer when the
 * card says the file ends). */
CK_RV epass_read_selected(struct card *card, struct epass_data *d, size_t len,
                          struct buf *out);
/* Go on reading the selected EF from offset out->len up to `len`. */
CK_RV epass_read_more(struct card *card, struct epass_data *d, size_t len,
                      struct buf *out);
/* One READ BINARY of up to `len` (at most EPASS_READ_CHUNK) bytes at
 * `off` of the selected EF into `out`; empty past the file's end. */
CK_RV epass_read_piece(struct card *card, struct epass_data *d, size_t off, size_t len,
                       struct buf *out);
/* SELECT the EF at `path` and bring *len (0: the whole file) down to the
 * size its FCI gives. CKR_OK with *sw != 9000 when it is missing. */
CK_RV epass_select_for_read(struct card *card, struct epass_data *d, const uint16_t *path,
                            size_t n, size_t *len, uint16_t *sw);
/* Select and read a whole EF. */
CK_RV epass_read_file(struct card *card, struct epass_data *d, const uint16_t *path,
                      size_t n, size_t len, struct buf *out, uint16_t *sw);
CK_RV epass_sw_to_rv(uint16_t sw);

/* epass2003_objects.c */
CK_RV epass_load_objects(struct card *card, struct drv_objects *out);
CK_RV epass_detect_layout(struct card *card, struct epass_data *d);
void epass_forget_keys(struct epass_data *d);
/* The token label the layout stores (ESPK tokeninfo, PKCS#15 TokenInfo),
 * read once into d->label. */
CK_RV epass_read_label(struct card *card, struct epass_data *d);
/* PKCS#15 layout (known): the PIN maxima of OpenSC's profile, read once. */
void epass_learn_max_tries(struct card *card, struct epass_data *d);
const struct epass_key *epass_key_find(const struct epass_data *d, uint16_t handle);

/* epass2003_auth.c */
CK_RV epass_login(struct card *card, enum drv_user user, const uint8_t *pin, size_t len);
CK_RV epass_logout(struct card *card);
CK_RV epass_pin_status(struct card *card, struct drv_pin_status *st);
CK_RV epass_change_pin(struct card *card, enum drv_user user, const uint8_t *old_pin,
                       size_t old_len, const uint8_t *new_pin, size_t new_len);
CK_RV epass_init_pin(struct card *card, const uint8_t *pin, size_t len);
CK_RV epass_refresh_tries(struct card *card, struct epass_data *d, uint8_t kid, int *left);

/* epass2003_crypto.c */
/* The card's security environment is no longer known (a new SM session,
 * a reset, a failed MSE:SET or PSO): the next PSO sends MSE:SET. */
void epass_mse_forget(struct epass_data *d);
CK_RV epass_sign(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
                 const uint8_t *in, size_t in_len, struct buf *sig);
CK_RV epass_decrypt(struct card *card, uint32_t key_ref, const CK_MECHANISM *mech,
                    const uint8_t *in, size_t in_len, struct buf *out);

/* epass2003.c */
CK_RV epass_data_get(struct card *card, struct epass_data **out);
/* GET DATA 01 80 once: the chip serial into d->serial. */
void epass_read_serial(struct card *card, struct epass_data *d);

#endif
