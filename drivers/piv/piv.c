/* The PIV driver: recognising the card, its identity and its mechanisms.
 *
 * kyso reads each thing a PIV card can tell once and keeps it in
 * `struct piv_data` until the card is reset by someone else, so a cold start
 * costs: SELECT (match), GET SERIAL or the CHUID, one PIN status query, the
 * Key History and one GET DATA per certificate. */
#include "drivers/piv/piv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"

/* RSA key sizes PIV cards offer (SP 800-78-4 table 3-1; 3072 and 4096 on
 * YubiKeys) and the prime curves P-256 and P-384 (table 3-2), in bits. */
#define PIV_RSA_MIN_BITS 1024
#define PIV_RSA_MAX_BITS 4096
#define PIV_EC_MIN_BITS 256
#define PIV_EC_MAX_BITS 384

#define PIV_RSA_SIGN CKF_HW | CKF_SIGN
#define PIV_EC_FLAGS CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS
#define PIV_EC_SIGN CKF_HW | CKF_SIGN | PIV_EC_FLAGS

#define PIV_RSA_MECH(m, f) { m, { PIV_RSA_MIN_BITS, PIV_RSA_MAX_BITS, f } }
#define PIV_EC_MECH(m, f) { m, { PIV_EC_MIN_BITS, PIV_EC_MAX_BITS, f } }

/* What a PIV card does, as PKCS#11 mechanisms. Hash-and-sign mechanisms
 * are hashed by the module and reach piv_sign() as their raw mechanism;
 * verification is the module's, in software (it adds CKF_VERIFY). */
static const struct drv_mechanism piv_mechanisms[] = {
	PIV_RSA_MECH(CKM_RSA_PKCS, PIV_RSA_SIGN | CKF_DECRYPT),
	PIV_RSA_MECH(CKM_RSA_X_509, PIV_RSA_SIGN | CKF_DECRYPT),
	PIV_RSA_MECH(CKM_RSA_PKCS_PSS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_RSA_PKCS_OAEP, CKF_HW | CKF_DECRYPT),
	PIV_RSA_MECH(CKM_SHA1_RSA_PKCS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA224_RSA_PKCS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA256_RSA_PKCS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA384_RSA_PKCS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA512_RSA_PKCS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA1_RSA_PKCS_PSS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA224_RSA_PKCS_PSS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA256_RSA_PKCS_PSS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA384_RSA_PKCS_PSS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_SHA512_RSA_PKCS_PSS, PIV_RSA_SIGN),
	PIV_RSA_MECH(CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_HW | CKF_GENERATE_KEY_PAIR),
	PIV_EC_MECH(CKM_ECDSA, PIV_EC_SIGN),
	PIV_EC_MECH(CKM_ECDSA_SHA1, PIV_EC_SIGN),
	PIV_EC_MECH(CKM_ECDSA_SHA224, PIV_EC_SIGN),
	PIV_EC_MECH(CKM_ECDSA_SHA256, PIV_EC_SIGN),
	PIV_EC_MECH(CKM_ECDSA_SHA384, PIV_EC_SIGN),
	PIV_EC_MECH(CKM_ECDSA_SHA512, PIV_EC_SIGN),
	PIV_EC_MECH(CKM_ECDH1_DERIVE, CKF_HW | CKF_DERIVE | PIV_EC_FLAGS),
	PIV_EC_MECH(CKM_EC_KEY_PAIR_GEN, CKF_HW | CKF_GENERATE_KEY_PAIR | PIV_EC_FLAGS),
};

/* The application is selected and the volatile state the card lost on its
 * reset is forgotten here too. */
static CK_RV
piv_reselect(struct card *card)
{
	struct piv_data *d = card->driver_data;
	uint16_t sw;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (d == NULL)
		goto out;
	/* A reset ends the PIN's verified state on the card (pt 2, 2.4.3:
	 * security status is volatile); someone else may also have changed
	 * objects or counters while we were not looking. */
	d->reset_count = card->reset_count;
	d->pin_verified = false;
	d->pin_tries_left = -1;
	d->puk_tries_left = -1;
	piv_forget_puk(d);
	piv_forget_objects(d);
	rv = piv_cmd_select(card, &sw);
	if (rv == CKR_OK && sw != SW_OK) {
		log_debug("piv: SELECT after reset answered %04X", sw);
		rv = CKR_DEVICE_ERROR;
	}
out:
	return rv;
}

CK_RV
piv_data_get(struct card *card, struct piv_data **out)
{
	struct piv_data *d = card->driver_data;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (d == NULL)
		goto out;
	rv = CKR_OK;
	/* card_begin() calls reselect on a reset; this catches a reset seen
	 * by some other path before we ran. */
	if (d->reset_count != card->reset_count)
		rv = piv_reselect(card);
	*out = d;
out:
	return rv;
}

void
piv_selection_lost(struct card *card)
{
	struct piv_data *d = card->driver_data;

	/* Selecting another applet ends PIV's security status as a reset
	 * does; the card's objects and a held PUK are not affected. */
	if (d != NULL)
		d->pin_verified = false;
}

static CK_RV
piv_match(struct card *card)
{
	uint16_t sw;
	CK_RV rv;

	/* One SELECT of the PIV AID (pt 2, 3.1.1). Selecting an application
	 * leaves nothing behind that another driver must undo: its own SELECT
	 * replaces it. */
	rv = piv_cmd_select(card, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK) {
		log_debug("piv: SELECT PIV AID answered %04X: not a PIV card", sw);
		rv = CKR_TOKEN_NOT_RECOGNIZED;
	}
out:
	return rv;
}

static CK_RV
piv_bind(struct card *card)
{
	struct piv_data *d;
	CK_RV rv = CKR_HOST_MEMORY;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		goto out;
	/* match() selected the application in this same transaction. */
	d->reset_count = card->reset_count;
	d->pin_tries_left = -1;
	d->pin_tries_max = -1;
	d->puk_tries_left = -1;
	d->puk_tries_max = -1;
	d->has_metadata = -1;
	card->driver_data = d;
	rv = CKR_OK;
out:
	return rv;
}

static void
piv_unbind(struct card *card)
{
	struct piv_data *d = card->driver_data;
	size_t i;

	if (d == NULL)
		return;
	piv_forget_puk(d);
	for (i = 0; i < PIV_SLOT_COUNT; i++)
		piv_slot_free(&d->slots[i]);
	buf_free(&d->history_url);
	drv_cache_close(d->cache);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
	card->driver_data = NULL;
}

/* The serial from the CHUID (pt 1, 3.1.2): as OpenSC does, the FASC-N
 * unless it is the "no agency" FASC-N (agency code 9999) of a card that
 * has a GUID, then the GUID; as hex, of which PKCS#11 keeps 16 digits. */
static void
piv_serial_from_chuid(struct piv_data *d, const uint8_t *obj, size_t len)
{
	const uint8_t *body, *fascn = NULL, *guid = NULL, *use = NULL;
	size_t body_len, fascn_len = 0, guid_len = 0, use_len = 0, i;
	bool guid_set = false;

	if (!piv_tlv_value(obj, len, PIV_TAG_DATA, &body, &body_len))
		return;
	if (!piv_tlv_value(body, body_len, PIV_CHUID_FASCN, &fascn, &fascn_len))
		fascn = NULL;
	if (!piv_tlv_value(body, body_len, PIV_CHUID_GUID, &guid, &guid_len) ||
	    guid_len != 16)
		guid = NULL;
	for (i = 0; guid != NULL && i < guid_len; i++)
		guid_set |= guid[i] != 0;
	/* FASC-N starting ";9999" in its 5-bit BCD coding (pt 1, 3.1.2 and
	 * TIG SCEPACS): a PIV-I or commercial card identified by its GUID. */
	if (fascn != NULL && fascn_len == 25 &&
	    !(guid_set && fascn[0] == 0xD4 && fascn[1] == 0xE7 && fascn[2] == 0x39 &&
	      (fascn[3] & 0x80) == 0x80)) {
		use = fascn;
		use_len = fascn_len;
	} else if (guid_set) {
		use = guid;
		use_len = guid_len;
	}
	for (i = 0; use != NULL && i < use_len && 2 * i + 2 < sizeof(d->serial); i++)
		snprintf(d->serial + 2 * i, 3, "%02x", use[i]);
}

CK_RV
piv_identity(struct card *card, struct piv_data *d)
{
	struct buf rsp = BUF_INIT;
	uint16_t sw;
	CK_RV rv = CKR_OK;

	if (d->identity_read)
		goto out;
	/* YubiKey GET SERIAL first: one short answer, and it tells us the
	 * YubiKey extensions are there. Other cards answer 6D00 or 6A81. */
	rv = piv_cmd_yk(card, YK_INS_GET_SERIAL, 0x00, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw == SW_OK && rsp.len == 4) {
		d->yubikey = true;
		d->yk_serial = (uint32_t)rsp.data[0] << 24 | (uint32_t)rsp.data[1] << 16 |
		               (uint32_t)rsp.data[2] << 8 | rsp.data[3];
		snprintf(d->serial, sizeof(d->serial), "%lu", (unsigned long)d->yk_serial);
	} else {
		d->has_metadata = 0;	/* no YubiKey, no GET METADATA */
		rv = piv_cmd_get_data(card, PIV_TAG_CHUID, &rsp, &sw);
		if (rv != CKR_OK)
			goto out;
		if (sw == SW_OK)
			piv_serial_from_chuid(d, rsp.data, rsp.len);
		else
			log_debug("piv: no CHUID (%04X), no serial number", sw);
	}
	d->identity_read = true;
out:
	buf_free(&rsp);
	return rv;
}

static CK_RV
piv_token_info(struct card *card, struct drv_token_info *info)
{
	struct piv_data *d;
	CK_RV rv;

	rv = piv_data_get(card, &d);
	if (rv != CKR_OK)
		goto out;
	rv = piv_identity(card, d);
	if (rv != CKR_OK)
		goto out;
	memset(info, 0, sizeof(*info));
	/* The labels ykcs11 gives YubiKeys, so URIs and NSS nicknames written
	 * for it keep working; other cards: a plain name (their label would
	 * otherwise need the PIN-protected Printed Information). */
	if (d->yubikey) {
		snprintf(info->label, sizeof(info->label), "YubiKey PIV #%lu",
		         (unsigned long)d->yk_serial);
		snprintf(info->manufacturer, sizeof(info->manufacturer), "Yubico");
		snprintf(info->model, sizeof(info->model), "YubiKey");
	} else {
		snprintf(info->label, sizeof(info->label), "PIV card");
		snprintf(info->manufacturer, sizeof(info->manufacturer), "unknown");
		snprintf(info->model, sizeof(info->model), "PIV II");
	}
	snprintf(info->serial, sizeof(info->serial), "%s",
	         d->serial[0] != '\0' ? d->serial : "0");
	/* pt 2, 2.4.3: PINs are 6 to 8 bytes. */
	info->min_pin_len = PIV_PIN_MIN;
	info->max_pin_len = PIV_PIN_BLOCK;
	info->flags = CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
	/* One PIN status query per reset at most; after that kyso tracks the
	 * counter from the answers to its own VERIFYs. */
	rv = piv_pin_refresh(card, d, false);
	if (rv != CKR_OK)
		goto out;
	info->flags |= piv_pin_flags(d);
out:
	return rv;
}

static CK_RV
piv_mechanisms_list(struct card *card, const struct drv_mechanism **list, size_t *count)
{
	(void)card;
	*list = piv_mechanisms;
	*count = sizeof(piv_mechanisms) / sizeof(piv_mechanisms[0]);
	return CKR_OK;
}

const struct driver piv_driver = {
	.name = "piv",
	.match = piv_match,
	.bind = piv_bind,
	.unbind = piv_unbind,
	.reselect = piv_reselect,
	.token_info = piv_token_info,
	.mechanisms = piv_mechanisms_list,
	.load_objects = piv_load_objects,
	.login = piv_login,
	.logout = piv_logout,
	.pin_status = piv_pin_status,
	.change_pin = piv_change_pin,
	.init_pin = piv_init_pin,
	.sign = piv_sign,
	.decrypt = piv_decrypt,
	.derive = piv_derive,
	.generate_key_pair = piv_generate_key_pair,
	.create_object = piv_create_object,
	.destroy_object = piv_destroy_object,
	/* The kyso tool's hooks (piv_admin.c). */
	.key_slots = piv_key_slots,
	.key_slot_count = PIV_SLOT_COUNT,
	/* The YubiKey factory values; SP 800-73-4 sets none. */
	.default_pin = "123456",
	.default_so_pin = "12345678",
	/* SP 800-73-4 pt 2, 2.4.3 asks for digits; YubiKeys take any
	 * printable ASCII, which is what kyso lets users set. */
	.pin_chars = DRV_PIN_CHARS_ASCII,
	.pin_is_default = piv_pin_is_default,
	.set_admin_key = piv_set_admin_key,
	.change_admin_key = piv_change_admin_key,
	.import_key = piv_import_key,
	.set_public_key = piv_set_public_key,
	.factory_reset = piv_factory_reset,
};
