/* The ePass2003's commands on the wire: opening secure messaging, wrapping
 * each command and unwrapping its answer, and re-opening the session once
 * when another program's session replaced ours (OpenSC #558: the card then
 * answers 6988, or MACs with keys we do not have). */
#include "drivers/epass2003/epass2003_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "drivers/card/tlv.h"

/* GET DATA 01 86: the card's SM configuration, readable in plain (OpenSC
 * card-epass2003.c epass2003_init). */
#define EPASS_DATA_SM 0x86
#define EPASS_CFG_SM_ALG 0x80	/* 01: AES, else 3DES */
#define EPASS_CFG_SM_ON 0x84	/* 00: no secure messaging */
#define EPASS_CFG_SERIAL 0x85
#define EPASS_CFG_FIPS 0x87	/* 01 (with 80 = 01): FIPS mode (CMAC) */

#define SW_SM_WRONG 0x6988	/* SM data objects incorrect */
#define APDU_EXT_LE_MAX 65536u

CK_RV
epass_sw_to_rv(uint16_t sw)
{
	switch (sw) {
	case 0x6983:
	case 0x63C0:
		return CKR_PIN_LOCKED;
	case 0x6982:
		return CKR_USER_NOT_LOGGED_IN;
	default:
		return apdu_sw_to_rv(sw);
	}
}

static void
epass_serial_from_cfg(struct epass_data *d, const uint8_t *cfg, size_t len)
{
	struct tlv t;
	size_t i, o = 0;

	if (d->serial[0] != '\0' || tlv_find(cfg, len, EPASS_CFG_SERIAL, &t) != 1)
		return;
	/* The last 8 bytes of the chip serial, as hex (16 digits fit
	 * CK_TOKEN_INFO.serialNumber). */
	for (i = t.len > 8 ? t.len - 8 : 0; i < t.len && o + 2 < sizeof(d->serial); i++) {
		static const char hex[] = "0123456789abcdef";
		d->serial[o++] = hex[t.value[i] >> 4];
		d->serial[o++] = hex[t.value[i] & 0x0F];
	}
	d->serial[o] = '\0';
}

CK_RV
epass_sm_handshake(struct card *card, struct epass_data *d)
{
	uint8_t host_rand[EPASS_SM_RAND_LEN], ext_auth[16];
	struct apdu a = { 0 };
	struct buf rsp = BUF_INIT;
	struct tlv t;
	uint16_t sw;
	CK_RV rv;

	epass_sm_close(&d->sm);
	d->logged_in = false;
	/* A new session: whatever the card selected since is not ours. */
	d->cur_df_len = 0;
	d->sm_epoch++;
	/* The card drops the security environment with the old session. */
	epass_mse_forget(d);

	a.cla = 0x00;
	a.ins = 0xCA;
	a.p1 = 0x01;
	a.p2 = EPASS_DATA_SM;
	a.le = APDU_LE_ANY;
	rv = apdu_transmit(card, &a, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK) {
		log_debug("epass2003: GET DATA 01 86 answered %04X", sw);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	epass_serial_from_cfg(d, rsp.data, rsp.len);
	if (tlv_find(rsp.data, rsp.len, EPASS_CFG_SM_ON, &t) == 1 && t.len == 1 &&
	    t.value[0] == 0x00) {
		log_debug("epass2003: card without secure messaging");
		d->sm_plain = true;
		goto out;
	}
	if (tlv_find(rsp.data, rsp.len, EPASS_CFG_SM_ALG, &t) != 1 || t.len != 1 ||
	    t.value[0] != 0x01) {
		log_debug("epass2003: 3DES secure messaging is not supported");
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (tlv_find(rsp.data, rsp.len, EPASS_CFG_FIPS, &t) == 1 && t.len == 1 &&
	    t.value[0] == 0x01) {
		log_debug("epass2003: FIPS-mode (CMAC) secure messaging is not supported");
		rv = CKR_DEVICE_ERROR;
		goto out;
	}

	/* INITIALIZE UPDATE (GP 2.1.1 E.5.2, key version 0). */
	if (RAND_bytes(host_rand, sizeof(host_rand)) != 1) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	memset(&a, 0, sizeof(a));
	a.cla = 0x80;
	a.ins = 0x50;
	a.data = host_rand;
	a.lc = sizeof(host_rand);
	a.le = EPASS_SM_INIT_RSP_LEN;
	rv = apdu_transmit(card, &a, &rsp, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK) {
		log_debug("epass2003: INITIALIZE UPDATE answered %04X", sw);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	rv = epass_sm_open(&d->sm, epass_sm_transport_key, epass_sm_transport_key, host_rand,
	                   rsp.data, rsp.len, ext_auth);
	if (rv != CKR_OK) {
		log_debug("epass2003: card cryptogram does not verify");
		goto out;
	}

	/* EXTERNAL AUTHENTICATE with C-MAC (GP 2.1.1 E.5.1, P1 03). */
	memset(&a, 0, sizeof(a));
	a.cla = 0x84;
	a.ins = 0x82;
	a.p1 = 0x03;
	a.data = ext_auth;
	a.lc = sizeof(ext_auth);
	rv = apdu_transmit(card, &a, NULL, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw != SW_OK) {
		log_debug("epass2003: EXTERNAL AUTHENTICATE answered %04X", sw);
		rv = CKR_DEVICE_ERROR;
	}
out:
	if (rv != CKR_OK)
		epass_sm_close(&d->sm);
	OPENSSL_cleanse(host_rand, sizeof(host_rand));
	OPENSSL_cleanse(ext_auth, sizeof(ext_auth));
	buf_free(&rsp);
	return rv;
}

/* One wrapped exchange. *sm_broken: the card refused our session (6988) or
 * its answer does not verify under our keys. */
static CK_RV
epass_cmd_once(struct card *card, struct epass_data *d, const struct apdu *plain,
               size_t le, struct buf *rsp, uint16_t *sw, bool *sm_broken)
{
	struct buf wrapped = BUF_INIT, raw = BUF_INIT;
	struct apdu a = *plain;
	CK_RV rv;

	*sm_broken = false;
	rv = epass_sm_wrap(&d->sm, plain->cla, plain->ins, plain->p1, plain->p2, plain->data,
	                   plain->lc, le, &a.cla, &wrapped);
	if (rv != CKR_OK)
		goto out;
	a.data = wrapped.data;
	a.lc = wrapped.len;
	/* An answer that does not fit a short Le is asked for in the
	 * extended form (the card takes extended APDUs). */
	/* A two-byte Le object (Le above 7F) goes in an extended APDU, as
	 * OpenSC sends it; so does a data field over 255 bytes
	 * (apdu_transmit decides that from the length). */
	a.le = le != EPASS_SM_LE_ANY && le > 0x7F ? APDU_EXT_LE_MAX : APDU_LE_ANY;
	rv = apdu_transmit(card, &a, &raw, sw);
	if (rv != CKR_OK)
		goto out;
	if (*sw == SW_SM_WRONG && raw.len == 0) {
		*sm_broken = true;
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	rv = epass_sm_unwrap(&d->sm, raw.data, raw.len, *sw, rsp);
	if (rv != CKR_OK) {
		log_debug("epass2003: SM answer (%04X) does not verify", *sw);
		*sm_broken = true;
	}
out:
	buf_free(&wrapped);
	buf_free(&raw);
	return rv;
}

CK_RV
epass_cmd(struct card *card, struct epass_data *d, uint8_t cla, uint8_t ins, uint8_t p1,
          uint8_t p2, const uint8_t *data, size_t lc, size_t le, bool secret, bool retry,
          struct buf *rsp, uint16_t *sw)
{
	struct apdu a = { 0 };
	struct buf scratch = BUF_INIT;
	struct buf *out = rsp != NULL ? rsp : &scratch;
	bool broken = false;
	CK_RV rv;

	a.cla = cla;
	a.ins = ins;
	a.p1 = p1;
	a.p2 = p2;
	a.data = data;
	a.lc = lc;
	a.secret = secret;
	/* The plain command, for APDU budgets (docs/epass2003.md); data only
	 * when it is a file id. */
	if (lc == 2 && ins == 0xA4)
		log_debug("epass2003: %02X %02X %02X %02X %02X%02X", cla, ins, p1, p2, data[0],
		          data[1]);
	else
		log_debug("epass2003: %02X %02X %02X %02X lc %zu le %zu", cla, ins, p1, p2, lc, le);
	if (d->sm_plain) {
		a.le = le == EPASS_SM_LE_ANY ? APDU_LE_ANY : le;
		rv = apdu_transmit(card, &a, out, sw);
		goto out;
	}
	if (!d->sm.open) {
		rv = epass_sm_handshake(card, d);
		if (rv != CKR_OK)
			goto out;
	}
	rv = epass_cmd_once(card, d, &a, le, out, sw, &broken);
	if (rv != CKR_OK && broken) {
		/* Our session is gone: another program opened its own. The
		 * card forgot our PIN with it. Open a new one; resend this
		 * command only if it carries no PIN. */
		log_debug("epass2003: secure messaging lost, opening it again");
		rv = epass_sm_handshake(card, d);
		if (rv == CKR_OK && retry)
			rv = epass_cmd_once(card, d, &a, le, out, sw, &broken);
		else if (rv == CKR_OK)
			rv = CKR_DEVICE_ERROR;
	}
out:
	buf_free(&scratch);
	return rv;
}

CK_RV
epass_select_path(struct card *card, struct epass_data *d, const uint16_t *path, size_t n,
                  size_t *size, struct buf *fci, uint16_t *sw)
{
	struct buf rsp = BUF_INIT;
	struct tlv t, s;
	bool is_df = false;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	*size = 0;
	if (n == 0 || n > sizeof(d->cur_df) / sizeof(d->cur_df[0]))
		goto out;
	for (int attempt = 0; attempt < 2; attempt++) {
		unsigned epoch = d->sm_epoch;
		size_t start = 0;

		/* SELECT by FID reaches a child of the current DF or the
		 * current DF itself (ISO 7816-4 7.1.1): skip the levels
		 * already selected. */
		if (d->cur_df_len > 0 && d->cur_df_len >= n - 1 && d->cur_df_len <= n &&
		    memcmp(d->cur_df, path, d->cur_df_len * sizeof(path[0])) == 0)
			start = n - 1;
		d->cur_df_len = 0;
		for (size_t i = start; i < n; i++) {
			uint8_t fid[2] = { (uint8_t)(path[i] >> 8), (uint8_t)path[i] };
			/* SELECT by FID, FCI wanted (ISO 7816-4 11.2.2; OpenSC
			 * selects each level from the MF the same way). */
			rv = epass_cmd(card, d, 0x00, 0xA4, 0x00, 0x00, fid, 2, EPASS_SM_LE_ANY,
			               false, true, &rsp, sw);
			if (rv != CKR_OK)
				goto out;
			if (d->sm_epoch != epoch)
				break;
			/* A failed SELECT leaves the current DF as it was (ISO
			 * 7816-4 7.1.1): the levels above, all DFs, stay
			 * selected, so the next path (3F00/5015 after
			 * 3F00/2003) starts there. */
			if (*sw != SW_OK) {
				d->cur_df_len = i;
				memcpy(d->cur_df, path, i * sizeof(path[0]));
				goto out;
			}
		}
		if (d->sm_epoch == epoch)
			break;
		/* Secure messaging was opened again under this SELECT: another
		 * program's session had replaced ours, and the card's current
		 * DF is whatever that program left. The whole path again, from
		 * the MF. */
		log_debug("epass2003: new SM session during a SELECT, selecting from the MF");
		rv = CKR_DEVICE_ERROR;
	}
	if (rv != CKR_OK)
		goto out;
	/* FCP/FCI template 62 or 6F; tag 80 (or 81): bytes in the file;
	 * tag 82 first byte 38: a DF (ISO 7816-4 table 14). */
	if (tlv_find(rsp.data, rsp.len, 0x6F, &t) == 1 ||
	    tlv_find(rsp.data, rsp.len, 0x62, &t) == 1) {
		if ((tlv_find(t.value, t.len, 0x80, &s) == 1 ||
		     tlv_find(t.value, t.len, 0x81, &s) == 1) && s.len >= 1 && s.len <= 2)
			*size = s.len == 2 ? (size_t)(s.value[0] << 8 | s.value[1]) : s.value[0];
		is_df = tlv_find(t.value, t.len, 0x82, &s) == 1 && s.len >= 1 &&
		        s.value[0] == 0x38;
	}
	/* Selecting an EF leaves its parent the current DF. */
	d->cur_df_len = is_df ? n : n - 1;
	memcpy(d->cur_df, path, d->cur_df_len * sizeof(path[0]));
	if (fci != NULL && buf_set(fci, rsp.data, rsp.len) != 0)
		rv = CKR_HOST_MEMORY;
out:
	buf_free(&rsp);
	return rv;
}

CK_RV
epass_read_selected(struct card *card, struct epass_data *d, size_t len, struct buf *out)
{
	buf_clear(out);
	return epass_read_more(card, d, len, out);
}

CK_RV
epass_read_more(struct card *card, struct epass_data *d, size_t len, struct buf *out)
{
	struct buf chunk = BUF_INIT;
	uint16_t sw;
	CK_RV rv = CKR_OK;

	/* READ BINARY offsets are 15 bits (ISO 7816-4 11.3.3, P1 b8 = 0). */
	while (out->len < len && out->len <= 0x7FFF) {
		size_t want = len - out->len;
		if (want > EPASS_READ_CHUNK)
			want = EPASS_READ_CHUNK;
		rv = epass_cmd(card, d, 0x00, 0xB0, (uint8_t)(out->len >> 8), (uint8_t)out->len,
		               NULL, 0, want, false, true, &chunk, &sw);
		if (rv != CKR_OK)
			goto out;
		if (sw == 0x6282 || sw == 0x6B00)
			break;	/* end of file before `len` */
		if (sw != SW_OK) {
			rv = epass_sw_to_rv(sw);
			goto out;
		}
		if (chunk.len == 0 || chunk.len > want)
			break;
		if (buf_append(out, chunk.data, chunk.len) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
out:
	buf_free(&chunk);
	return rv;
}

CK_RV
epass_read_piece(struct card *card, struct epass_data *d, size_t off, size_t len,
                 struct buf *out)
{
	uint16_t sw;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	buf_clear(out);
	if (off > 0x7FFF || len == 0 || len > EPASS_READ_CHUNK)
		goto out;
	rv = epass_cmd(card, d, 0x00, 0xB0, (uint8_t)(off >> 8), (uint8_t)off, NULL, 0, len, false,
	               true, out, &sw);
	if (rv != CKR_OK)
		goto out;
	if (sw == 0x6282 || sw == 0x6B00 || out->len > len)
		buf_clear(out);	/* past the end: nothing */
	else if (sw != SW_OK)
		rv = epass_sw_to_rv(sw);
out:
	return rv;
}

CK_RV
epass_select_for_read(struct card *card, struct epass_data *d, const uint16_t *path,
                      size_t n, size_t *len, uint16_t *sw)
{
	size_t size = 0;
	CK_RV rv;

	rv = epass_select_path(card, d, path, n, &size, NULL, sw);
	if (rv == CKR_OK && *sw == SW_OK && (*len == 0 || (size != 0 && size < *len)))
		*len = size;
	return rv;
}

CK_RV
epass_read_file(struct card *card, struct epass_data *d, const uint16_t *path, size_t n,
                size_t len, struct buf *out, uint16_t *sw)
{
	CK_RV rv;

	buf_clear(out);
	rv = epass_select_for_read(card, d, path, n, &len, sw);
	if (rv == CKR_OK && *sw == SW_OK)
		rv = epass_read_selected(card, d, len, out);
	return rv;
}
