/* The PIV commands, built in one place (SP 800-73-4 pt 2, 3, and the YubiKey
 * extensions). Each function sends one command (chained or followed by GET
 * RESPONSE as the card layer needs) and hands back the status word; what a
 * status means is the caller's business. */
#include "drivers/piv/piv_internal.h"

#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "drivers/card/tlv.h"

const uint8_t piv_aid[PIV_AID_LEN] = {
	0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
};

/* GET DATA and PUT DATA address the whole PIV data object space with
 * P1 P2 = 3F FF (pt 2, 3.1.2 and 3.3.1). */
#define PIV_DATA_P1 0x3F
#define PIV_DATA_P2 0xFF

/* The tag list 5C of GET DATA / PUT DATA: the object tag as its bytes. */
static int
piv_put_tag_list(struct buf *out, uint32_t tag)
{
	uint8_t t[3];
	size_t n = 0;

	if (tag > 0xFFFFu)
		t[n++] = (uint8_t)(tag >> 16);
	if (tag > 0xFFu)
		t[n++] = (uint8_t)(tag >> 8);
	t[n++] = (uint8_t)tag;
	return tlv_put(out, PIV_TAG_TAG_LIST, t, n);
}

/* Send a command every PIV application knows. PC/SC lets another
 * application select another applet of the card without resetting it (gpg's
 * scdaemon on a YubiKey's OpenPGP applet, say); the instruction then comes
 * back unknown (6D00) or its class unsupported (6E00), without PIV having
 * seen it. Select PIV again and send it once more. Costs nothing otherwise. */
static CK_RV
piv_transmit_until(struct card *card, const struct apdu *a, struct buf *rsp,
                   uint16_t *sw, apdu_more_fn more, void *more_arg)
{
	uint16_t sel = 0;
	CK_RV rv;

	rv = apdu_transmit_until(card, a, rsp, sw, more, more_arg);
	if (rv != CKR_OK || (*sw != 0x6D00 && *sw != 0x6E00))
		goto out;
	log_debug("piv: %02X answered %04X: selecting PIV again", a->ins, *sw);
	rv = piv_cmd_select(card, &sel);
	if (rv != CKR_OK || sel != SW_OK)
		goto out;
	piv_selection_lost(card);
	rv = apdu_transmit_until(card, a, rsp, sw, more, more_arg);
out:
	return rv;
}

static CK_RV
piv_transmit(struct card *card, const struct apdu *a, struct buf *rsp, uint16_t *sw)
{
	return piv_transmit_until(card, a, rsp, sw, NULL, NULL);
}

CK_RV
piv_cmd_select(struct card *card, uint16_t *sw)
{
	/* pt 2, 3.1.1: SELECT by AID, first occurrence, answer the
	 * application property template (not needed: Le only so the card
	 * does not answer 61xx and cost a GET RESPONSE). */
	struct apdu a = {
		.cla = 0x00, .ins = PIV_INS_SELECT, .p1 = 0x04, .p2 = 0x00,
		.data = piv_aid, .lc = sizeof(piv_aid), .le = APDU_LE_ANY,
	};
	struct buf rsp = BUF_INIT;
	CK_RV rv;

	rv = apdu_transmit(card, &a, &rsp, sw);
	buf_free(&rsp);
	return rv;
}

CK_RV
piv_cmd_get_data(struct card *card, uint32_t tag, struct buf *rsp, uint16_t *sw)
{
	return piv_cmd_get_data_until(card, tag, rsp, sw, NULL, NULL);
}

CK_RV
piv_cmd_get_data_until(struct card *card, uint32_t tag, struct buf *rsp, uint16_t *sw,
                       apdu_more_fn more, void *more_arg)
{
	struct buf cmd = BUF_INIT;
	struct apdu a = {
		.cla = 0x00, .ins = PIV_INS_GET_DATA, .p1 = PIV_DATA_P1,
		.p2 = PIV_DATA_P2, .le = APDU_LE_ANY,
	};
	CK_RV rv = CKR_HOST_MEMORY;

	if (piv_put_tag_list(&cmd, tag) != 0)
		goto out;
	a.data = cmd.data;
	a.lc = cmd.len;
	rv = piv_transmit_until(card, &a, rsp, sw, more, more_arg);
out:
	buf_free(&cmd);
	return rv;
}

/* kyso is about to change the object: its cache entry goes first, so a
 * write that fails halfway leaves no entry either way. The proof would
 * catch the change too; this keeps the file free of dead entries. */
static void
piv_cache_forget(struct card *card, uint32_t tag)
{
	struct piv_data *d = card->driver_data;
	char name[16];

	if (d == NULL || d->cache == NULL)
		return;
	piv_cache_name(tag, name);
	drv_cache_forget(d->cache, name);
	drv_cache_flush(d->cache);
}

CK_RV
piv_cmd_put_data(struct card *card, uint32_t tag, const uint8_t *value,
                 size_t len, uint16_t *sw)
{
	struct buf cmd = BUF_INIT;
	struct apdu a = {
		.cla = 0x00, .ins = PIV_INS_PUT_DATA, .p1 = PIV_DATA_P1,
		.p2 = PIV_DATA_P2,
	};
	CK_RV rv = CKR_HOST_MEMORY;

	if (piv_put_tag_list(&cmd, tag) != 0 ||
	    tlv_put(&cmd, PIV_TAG_DATA, value, len) != 0)
		goto out;
	a.data = cmd.data;
	a.lc = cmd.len;
	piv_cache_forget(card, tag);
	rv = piv_transmit(card, &a, NULL, sw);
out:
	buf_free(&cmd);
	return rv;
}

CK_RV
piv_cmd_general_authenticate(struct card *card, uint8_t alg, uint8_t key_ref,
                             const struct buf *content, bool secret,
                             struct buf *rsp, uint16_t *sw)
{
	struct buf cmd = BUF_INIT, raw = BUF_INIT;
	struct apdu a = {
		.cla = 0x00, .ins = PIV_INS_GENERAL_AUTHENTICATE, .p1 = alg,
		.p2 = key_ref, .le = APDU_LE_ANY, .secret = secret,
	};
	const uint8_t *v;
	size_t vlen;
	CK_RV rv = CKR_HOST_MEMORY;

	buf_clear(rsp);
	if (tlv_put(&cmd, PIV_TAG_DAT, content->data, content->len) != 0)
		goto out;
	a.data = cmd.data;
	a.lc = cmd.len;
	rv = piv_transmit(card, &a, &raw, sw);
	if (rv != CKR_OK || *sw != SW_OK || raw.len == 0)
		goto out;
	/* pt 2, 3.2.4: the answer is one dynamic authentication template. */
	if (!piv_tlv_value(raw.data, raw.len, PIV_TAG_DAT, &v, &vlen)) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (buf_set(rsp, v, vlen) != 0)
		rv = CKR_HOST_MEMORY;
out:
	/* Both may hold a decrypted secret or a shared secret. */
	buf_free(&cmd);
	buf_free(&raw);
	return rv;
}

CK_RV
piv_cmd_verify(struct card *card, uint8_t p1, uint8_t ref,
               const uint8_t *pin_block, uint16_t *sw)
{
	struct apdu a = {
		.cla = 0x00, .ins = PIV_INS_VERIFY, .p1 = p1, .p2 = ref,
		.data = pin_block, .lc = pin_block != NULL ? PIV_PIN_BLOCK : 0,
		.secret = pin_block != NULL,
	};

	return piv_transmit(card, &a, NULL, sw);
}

CK_RV
piv_cmd_two_blocks(struct card *card, uint8_t ins, uint8_t ref,
                   const uint8_t *first, const uint8_t *second, uint16_t *sw)
{
	uint8_t data[2 * PIV_PIN_BLOCK];
	struct apdu a = {
		.cla = 0x00, .ins = ins, .p1 = 0x00, .p2 = ref,
		.data = data, .lc = sizeof(data), .secret = true,
	};
	CK_RV rv;

	memcpy(data, first, PIV_PIN_BLOCK);
	memcpy(data + PIV_PIN_BLOCK, second, PIV_PIN_BLOCK);
	rv = piv_transmit(card, &a, NULL, sw);
	OPENSSL_cleanse(data, sizeof(data));
	return rv;
}

CK_RV
piv_cmd_generate(struct card *card, uint8_t key_ref, uint8_t alg,
                 struct buf *rsp, uint16_t *sw)
{
	/* pt 2, 3.3.2: control reference template AC with the algorithm. */
	const uint8_t data[] = { PIV_TAG_GEN_CONTROL, 0x03, PIV_TAG_GEN_ALG, 0x01, alg };
	struct apdu a = {
		.cla = 0x00, .ins = PIV_INS_GENERATE, .p1 = 0x00, .p2 = key_ref,
		.data = data, .lc = sizeof(data), .le = APDU_LE_ANY,
	};

	return piv_transmit(card, &a, rsp, sw);
}

CK_RV
piv_cmd_yk(struct card *card, uint8_t ins, uint8_t p2, struct buf *rsp, uint16_t *sw)
{
	struct apdu a = {
		.cla = 0x00, .ins = ins, .p1 = 0x00, .p2 = p2, .le = APDU_LE_ANY,
	};

	return apdu_transmit(card, &a, rsp, sw);
}

CK_RV
piv_cmd_metadata(struct card *card, struct piv_data *d, uint8_t ref, struct buf *rsp,
                 bool *answered)
{
	uint16_t sw;
	CK_RV rv = CKR_OK;

	*answered = false;
	if (!d->yubikey || d->has_metadata == 0)
		goto out;
	rv = piv_cmd_yk(card, YK_INS_GET_METADATA, ref, rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	/* Before firmware 5.3 the instruction is unknown (6D00): not asked
	 * again. */
	if (sw != SW_OK) {
		d->has_metadata = 0;
		goto out;
	}
	d->has_metadata = 1;
	*answered = true;
out:
	return rv;
}

CK_RV
piv_pin_block(const uint8_t *pin, size_t len, size_t min, uint8_t block[PIV_PIN_BLOCK])
{
	CK_RV rv = CKR_PIN_LEN_RANGE;

	/* pt 2, 2.4.3: at most 8 bytes, padded with FF. No character check:
	 * the spec asks for digits, YubiKeys take any byte, and the card is
	 * the judge. */
	if (len < min || len == 0 || len > PIV_PIN_BLOCK || pin == NULL)
		goto out;
	memset(block, PIV_PIN_PAD, PIV_PIN_BLOCK);
	memcpy(block, pin, len);
	rv = CKR_OK;
out:
	return rv;
}

bool
piv_tlv_value(const uint8_t *data, size_t len, uint32_t tag,
              const uint8_t **value, size_t *value_len)
{
	struct tlv t;
	bool found = false;

	if (data != NULL && tlv_find(data, len, tag, &t) == 1) {
		*value = t.value;
		*value_len = t.len;
		found = true;
	}
	return found;
}
