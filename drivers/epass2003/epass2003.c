/* The ePass2003 driver: recognising the token by its ATR, the per-card
 * state, token information and mechanisms. Docs: docs/epass2003.md. */
#include "drivers/epass2003/epass2003_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"

/* The FTCOS/ePass2003 ATR family (OpenSC card-epass2003.c, issue #2572):
 * the bytes under a zero mask are the COS version and personalisation. */
static const uint8_t epass_atr[] = {
	0x3B, 0x9F, 0x95, 0x81, 0x31, 0xFE, 0x9F, 0x00, 0x66, 0x46, 0x53, 0x05,
	0x00, 0x00, 0x00, 0x71, 0xDF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t epass_atr_mask[] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00,
};

#define EPASS_RSA_MIN_BITS 1024
#define EPASS_RSA_MAX_BITS 2048
#define RSA_SIGN (CKF_HW | CKF_SIGN)
#define RSA_MECH(m, f) { m, { EPASS_RSA_MIN_BITS, EPASS_RSA_MAX_BITS, f } }
/* EC: P-256 only (FTCOS generates and signs with nothing else; OpenSC's
 * epass2003 driver registers 256-bit EC alone). */
#define EC_SIGN (CKF_HW | CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
#define EC_MECH(m) { m, { 256, 256, EC_SIGN } }

static const struct drv_mechanism epass_mechanisms[] = {
	RSA_MECH(CKM_RSA_PKCS, RSA_SIGN | CKF_DECRYPT),
	RSA_MECH(CKM_RSA_X_509, RSA_SIGN | CKF_DECRYPT),
	RSA_MECH(CKM_RSA_PKCS_PSS, RSA_SIGN),
	RSA_MECH(CKM_RSA_PKCS_OAEP, CKF_HW | CKF_DECRYPT),
	RSA_MECH(CKM_SHA1_RSA_PKCS, RSA_SIGN),
	RSA_MECH(CKM_SHA224_RSA_PKCS, RSA_SIGN),
	RSA_MECH(CKM_SHA256_RSA_PKCS, RSA_SIGN),
	RSA_MECH(CKM_SHA384_RSA_PKCS, RSA_SIGN),
	RSA_MECH(CKM_SHA512_RSA_PKCS, RSA_SIGN),
	RSA_MECH(CKM_SHA1_RSA_PKCS_PSS, RSA_SIGN),
	RSA_MECH(CKM_SHA224_RSA_PKCS_PSS, RSA_SIGN),
	RSA_MECH(CKM_SHA256_RSA_PKCS_PSS, RSA_SIGN),
	RSA_MECH(CKM_SHA384_RSA_PKCS_PSS, RSA_SIGN),
	RSA_MECH(CKM_SHA512_RSA_PKCS_PSS, RSA_SIGN),
	EC_MECH(CKM_ECDSA),
	EC_MECH(CKM_ECDSA_SHA1),
	EC_MECH(CKM_ECDSA_SHA224),
	EC_MECH(CKM_ECDSA_SHA256),
	EC_MECH(CKM_ECDSA_SHA384),
	EC_MECH(CKM_ECDSA_SHA512),
};

static CK_RV
epass_match(struct card *card)
{
	size_t i;

	/* The ATR alone: no APDU, nothing left behind. */
	if (card->atr_len != sizeof(epass_atr))
		return CKR_TOKEN_NOT_RECOGNIZED;
	for (i = 0; i < sizeof(epass_atr); i++)
		if ((card->atr[i] & epass_atr_mask[i]) != epass_atr[i])
			return CKR_TOKEN_NOT_RECOGNIZED;
	return CKR_OK;
}

/* After a reset by someone else: the SM session, the PIN state and maybe
 * the objects are gone. */
static CK_RV
epass_reselect(struct card *card)
{
	struct epass_data *d = card->driver_data;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (d == NULL)
		goto out;
	d->reset_count = card->reset_count;
	d->logged_in = false;
	d->layout = EPASS_LAYOUT_UNKNOWN;
	d->label_read = false;
	d->max_tries_read = false;
	d->user_full_epoch = d->so_full_epoch = 0;
	epass_mse_forget(d);
	buf_free(&d->espk_index);
	d->label[0] = '\0';
	epass_forget_keys(d);
	rv = epass_sm_handshake(card, d);
out:
	return rv;
}

CK_RV
epass_data_get(struct card *card, struct epass_data **out)
{
	struct epass_data *d = card->driver_data;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (d == NULL)
		goto out;
	rv = CKR_OK;
	/* A new PKCS#11 call: on a token without secure messaging someone
	 * else may have selected another file since the last one. Under SM
	 * no one can without opening a session of its own, which ends ours
	 * (the next command answers 6988 and kyso opens SM again, forgetting
	 * the current DF): the DF kyso left stays known. */
	if (d->sm_plain)
		d->cur_df_len = 0;
	if (d->reset_count != card->reset_count)
		rv = epass_reselect(card);
	*out = d;
out:
	return rv;
}

static CK_RV
epass_bind(struct card *card)
{
	struct epass_data *d;
	CK_RV rv = CKR_HOST_MEMORY;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		goto out;
	d->reset_count = card->reset_count;
	d->user_kid = EPASS_KID_USER;
	d->so_kid = EPASS_KID_SO;
	d->user_tries_left = d->user_tries_max = -1;
	d->so_tries_left = d->so_tries_max = -1;
	card->driver_data = d;
	/* The token takes extended APDUs (OpenSC: SC_CARD_CAP_APDU_EXT); an
	 * SM-wrapped RSA-2048 block needs them. */
	card->extended = true;
	rv = epass_sm_handshake(card, d);
	if (rv != CKR_OK) {
		card->driver_data = NULL;
		OPENSSL_cleanse(d, sizeof(*d));
		free(d);
	}
out:
	return rv;
}

static void
epass_unbind(struct card *card)
{
	struct epass_data *d = card->driver_data;

	if (d == NULL)
		return;
	drv_cache_close(d->cache);
	buf_free(&d->espk_index);
	epass_forget_keys(d);
	epass_sm_close(&d->sm);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
	card->driver_data = NULL;
}

static CK_FLAGS
epass_pin_flags(const struct epass_data *d)
{
	CK_FLAGS f = 0;

	if (d->user_tries_left == 0)
		f |= CKF_USER_PIN_LOCKED;
	else if (d->user_tries_left == 1)
		f |= CKF_USER_PIN_FINAL_TRY;
	else if (d->user_tries_left > 0 &&
	         (d->user_tries_left < d->user_tries_max || d->user_count_low))
		f |= CKF_USER_PIN_COUNT_LOW;
	if (d->so_tries_left == 0)
		f |= CKF_SO_PIN_LOCKED;
	else if (d->so_tries_left == 1)
		f |= CKF_SO_PIN_FINAL_TRY;
	else if (d->so_tries_left > 0 &&
	         (d->so_tries_left < d->so_tries_max || d->so_count_low))
		f |= CKF_SO_PIN_COUNT_LOW;
	return f;
}

/* GET DATA 01 80: the 8-byte chip serial (OpenSC epass2003_get_serialnr),
 * as 16 hex digits. */
void
epass_read_serial(struct card *card, struct epass_data *d)
{
	static const char hex[] = "0123456789abcdef";
	struct buf rsp = BUF_INIT;
	uint16_t sw;

	if (epass_cmd(card, d, 0x00, 0xCA, 0x01, 0x80, NULL, 0, 8, false, true, &rsp, &sw) ==
	        CKR_OK && sw == SW_OK && rsp.len == 8) {
		for (size_t i = 0; i < 8; i++) {
			d->serial[2 * i] = hex[rsp.data[i] >> 4];
			d->serial[2 * i + 1] = hex[rsp.data[i] & 0x0F];
		}
		d->serial[16] = '\0';
	}
	buf_free(&rsp);
}

static CK_RV
epass_token_info(struct card *card, struct drv_token_info *info)
{
	struct epass_data *d;
	int left;
	CK_RV rv;

	rv = epass_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	if (d->serial[0] == '\0')
		epass_read_serial(card, d);
	/* Label and counter are extras: a card that will not tell them still
	 * has a token, but a card that is gone has none. */
	if (!d->label_read) {
		rv = epass_read_label(card, d);
		if (rv == CKR_DEVICE_REMOVED)
			goto out;
		if (rv != CKR_OK)
			log_debug("epass2003: no token label");
		rv = CKR_OK;
	}
	memset(info, 0, sizeof(*info));
	snprintf(info->label, sizeof(info->label), "%s", d->label[0] ? d->label : "ePass2003");
	snprintf(info->manufacturer, sizeof(info->manufacturer), "Feitian (EnterSafe)");
	snprintf(info->model, sizeof(info->model), "ePass2003");
	snprintf(info->serial, sizeof(info->serial), "%s", d->serial[0] ? d->serial : "0");
	info->min_pin_len = EPASS_PIN_MIN;
	info->max_pin_len = EPASS_PIN_MAX;
	info->flags = CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
	/* The user PIN counter, once per bind: asking uses no try. */
	if (d->user_tries_left < 0) {
		rv = epass_refresh_tries(card, d, d->user_kid, &left);
		if (rv == CKR_DEVICE_REMOVED)
			goto out;
		if (rv != CKR_OK)
			log_debug("epass2003: no PIN status");
		rv = CKR_OK;
	}
	info->flags |= epass_pin_flags(d);
out:
	return rv;
}

static CK_RV
epass_mechanisms_list(struct card *card, const struct drv_mechanism **list, size_t *count)
{
	(void)card;
	*list = epass_mechanisms;
	*count = sizeof(epass_mechanisms) / sizeof(epass_mechanisms[0]);
	return CKR_OK;
}

const struct driver epass2003_driver = {
	.name = "epass2003",
	.match = epass_match,
	.bind = epass_bind,
	.unbind = epass_unbind,
	.reselect = epass_reselect,
	.token_info = epass_token_info,
	.mechanisms = epass_mechanisms_list,
	.load_objects = epass_load_objects,
	.login = epass_login,
	.logout = epass_logout,
	.pin_status = epass_pin_status,
	.change_pin = epass_change_pin,
	.init_pin = epass_init_pin,
	.sign = epass_sign,
	.decrypt = epass_decrypt,
	/* Feitian's default PINs for blank tokens; CAs set their own. */
	.default_pin = NULL,
	.default_so_pin = NULL,
	.pin_chars = DRV_PIN_CHARS_ASCII,
};
