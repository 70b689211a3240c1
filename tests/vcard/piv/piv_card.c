/* The virtual PIV card as a kyso-vcard card type: ATR, SELECT, the YubiKey
 * GET VERSION and GET SERIAL, and the dispatch of every other command to
 * the file that owns it. */
#include "piv_card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* A YubiKey 5 NFC over USB: T=1, historical bytes in compact-TLV form
 * (ISO 7816-4 8.1.1): 73 C0 21 C0 card capabilities (command chaining,
 * extended Lc/Le), 57 "YubiKey" (tag 5, length 7, the card issuer's data
 * that OpenSC's PIV driver looks for to treat the card as a YubiKey), and
 * TCK. */
static const uint8_t piv_atr_bytes[] = {
	0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73,
	0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79,
	0x40,
};

/* SP 800-73-4 pt 1, 2.2: the PIV AID is the NIST RID A0 00 00 03 08 and
 * the PIX 00 00 10 00 01 00 (version 01 00). */
static const uint8_t piv_aid[] = {
	0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
};

#define INS_VERIFY		0x20u
#define INS_CHANGE_REFERENCE	0x24u
#define INS_RESET_RETRY		0x2Cu
#define INS_GENERATE		0x47u
#define INS_AUTHENTICATE	0x87u
#define INS_SELECT		0xA4u
#define INS_GET_DATA		0xCBu
#define INS_PUT_DATA		0xDBu
#define INS_GET_METADATA	0xF7u	/* YubiKey 5.3 */
#define INS_GET_SERIAL		0xF8u	/* YubiKey 5 */
#define INS_ATTEST		0xF9u	/* YubiKey 4.3 */
#define INS_SET_PIN_RETRIES	0xFAu
#define INS_RESET		0xFBu
#define INS_GET_VERSION		0xFDu
#define INS_IMPORT_KEY		0xFEu
#define INS_SET_MGMT_KEY	0xFFu

static const uint8_t piv_slot_order[PIV_KEY_SLOTS] = {
	0x9A, 0x9C, 0x9D, 0x9E,
	0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B,
	0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
	PIV_REF_ATTEST,
};

struct piv_key *
piv_key_slot(struct piv_card *card, uint8_t slot)
{
	for (size_t i = 0; i < PIV_KEY_SLOTS; i++)
		if (card->keys[i].slot == slot)
			return &card->keys[i];
	return NULL;
}

uint8_t
piv_default_pin_policy(uint8_t slot)
{
	switch (slot) {
	case 0x9C:
		/* SP 800-73-4 pt 1, 3.2: the digital signature key is
		 * "PIN Always". */
		return PIV_PIN_ALWAYS;
	case 0x9E:
		/* Card authentication: no PIN (SP 800-73-4 pt 1, 3.2). */
	case PIV_REF_ATTEST:
		return PIV_PIN_NEVER;
	default:
		return PIV_PIN_ONCE;
	}
}

void
piv_card_clear(struct piv_card *card)
{
	for (size_t i = 0; i < PIV_KEY_SLOTS; i++)
		piv_key_clear(&card->keys[i]);
	for (size_t i = 0; i < card->n_objects; i++)
		buf_free(&card->objects[i].value);
	free(card->objects);
	card->objects = NULL;
	card->n_objects = 0;
}

void
piv_card_changed(struct piv_card *card)
{
	if (card->state_file == NULL)
		return;
	if (piv_state_save(card, card->state_file) != 0)
		fprintf(stderr, "kyso-vcard piv: cannot write %s; the card "
		        "goes on in memory\n", card->state_file);
}

/* "5.4.3" from KYSO_VCARD_PIV_VERSION lets a test play another firmware
 * (5.7 adds RSA 3072/4096 as far as OpenSC is concerned). */
static void
piv_set_version(struct piv_card *card)
{
	const char *env = getenv("KYSO_VCARD_PIV_VERSION");
	unsigned a, b, c;

	card->version[0] = 5;
	card->version[1] = 4;
	card->version[2] = 3;
	if (env != NULL && sscanf(env, "%u.%u.%u", &a, &b, &c) == 3 &&
	    a < 256 && b < 256 && c < 256) {
		card->version[0] = (uint8_t)a;
		card->version[1] = (uint8_t)b;
		card->version[2] = (uint8_t)c;
	}
}

static char *
piv_ca_out_path(const struct vcard_options *opt)
{
	char *path = NULL;
	const char *env;

	if (opt->state_file != NULL) {
		size_t n = strlen(opt->state_file) + sizeof ".ca.pem";
		path = malloc(n);
		if (path != NULL)
			snprintf(path, n, "%s.ca.pem", opt->state_file);
	} else if ((env = getenv("KYSO_VCARD_CA_OUT")) != NULL && *env) {
		path = strdup(env);
	}
	return path;
}

static void piv_destroy(void *c);

static void *
piv_create(const struct vcard_options *opt)
{
	struct piv_card *card = calloc(1, sizeof *card);
	char *ca_out = NULL;
	int loaded = 0;
	bool ok = false;

	if (card == NULL) {
		fprintf(stderr, "kyso-vcard piv: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < PIV_KEY_SLOTS; i++)
		card->keys[i].slot = piv_slot_order[i];
	piv_set_version(card);
	if (opt->provision != NULL && strcmp(opt->provision, "demo") != 0) {
		fprintf(stderr, "kyso-vcard piv: unknown provisioning \"%s\" "
		        "(known: demo)\n", opt->provision);
		goto out;
	}
	if (opt->state_file != NULL) {
		card->state_file = strdup(opt->state_file);
		if (card->state_file == NULL)
			goto out;
		loaded = piv_state_load(card, opt->state_file);
		if (loaded < 0)
			goto out;
	}
	if (loaded == 0) {
		/* A new card: the factory state, then the demo on top. */
		if (piv_provision_factory(card) != 0) {
			fprintf(stderr, "kyso-vcard piv: cannot create the card\n");
			goto out;
		}
		if (opt->provision != NULL) {
			ca_out = piv_ca_out_path(opt);
			if (piv_provision_demo(card, ca_out) != 0) {
				fprintf(stderr, "kyso-vcard piv: cannot provision "
				        "the demo card\n");
				goto out;
			}
		}
		if (card->state_file != NULL &&
		    piv_state_save(card, card->state_file) != 0) {
			fprintf(stderr, "kyso-vcard piv: cannot write %s\n",
			        card->state_file);
			goto out;
		}
	}
	ok = true;
out:
	free(ca_out);
	if (!ok && card != NULL) {
		piv_destroy(card);
		card = NULL;
	}
	return card;
}

static void
piv_destroy(void *c)
{
	struct piv_card *card = c;

	if (card == NULL)
		return;
	piv_card_clear(card);
	free(card->state_file);
	OPENSSL_cleanse(card, sizeof *card);
	free(card);
}

static size_t
piv_atr(void *c, uint8_t *out)
{
	(void)c;
	memcpy(out, piv_atr_bytes, sizeof piv_atr_bytes);
	return sizeof piv_atr_bytes;
}

static void
piv_reset(void *c)
{
	struct piv_card *card = c;

	/* A YubiKey comes up with no application selected; every security
	 * status is gone (SP 800-73-4 pt 2, 2.4.2: status is volatile). */
	card->selected = false;
	card->pin_verified = false;
	card->pin_always = false;
	card->mgmt_ok = false;
	card->mgmt_step = PIV_MGMT_IDLE;
	OPENSSL_cleanse(card->mgmt_nonce, sizeof card->mgmt_nonce);
}

/* SP 800-73-4 pt 2, 3.1.1 SELECT: the application property template. A
 * YubiKey answers with the PIX and the coexistent tag allocation
 * authority (the NIST RID) only; no label, URL or algorithm list. A
 * right-truncated AID selects too (ISO 7816-4 5.3.1.1 partial DF name). */
static piv_sw
piv_select(struct piv_card *card, const struct vcard_cmd *cmd, struct buf *rsp)
{
	static const uint8_t apt[] = {
		0x61, 0x11,
		0x4F, 0x06, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
		0x79, 0x07, 0x4F, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08,
	};

	if (cmd->p1 != 0x04)
		return PIV_SW_NOT_FOUND;
	if (cmd->p2 != 0x00 && cmd->p2 != 0x0C)
		return PIV_SW_WRONG_P1P2;
	/* A failed SELECT leaves the current selection as it was. */
	if (cmd->lc < 5 || cmd->lc > sizeof piv_aid ||
	    memcmp(cmd->data, piv_aid, cmd->lc) != 0)
		return PIV_SW_NOT_FOUND;
	card->selected = true;
	if (cmd->p2 == 0x0C)
		return PIV_SW_OK;
	return buf_append(rsp, apt, sizeof apt) == 0 ? PIV_SW_OK
	                                             : PIV_SW_INTERNAL;
}

/* YubiKey GET VERSION: three bytes, major minor patch. */
static piv_sw
piv_get_version(struct piv_card *card, struct buf *rsp)
{
	return buf_append(rsp, card->version, 3) == 0 ? PIV_SW_OK
	                                               : PIV_SW_INTERNAL;
}

/* YubiKey GET SERIAL: four bytes, big-endian. */
static piv_sw
piv_get_serial(struct piv_card *card, struct buf *rsp)
{
	uint8_t s[4] = {
		(uint8_t)(card->serial >> 24), (uint8_t)(card->serial >> 16),
		(uint8_t)(card->serial >> 8), (uint8_t)card->serial,
	};

	return buf_append(rsp, s, sizeof s) == 0 ? PIV_SW_OK : PIV_SW_INTERNAL;
}

static piv_sw
piv_dispatch(struct piv_card *card, const struct vcard_cmd *cmd,
             struct buf *rsp)
{
	switch (cmd->ins) {
	case INS_VERIFY:
		return piv_verify(card, cmd);
	case INS_CHANGE_REFERENCE:
		return piv_change_reference(card, cmd);
	case INS_RESET_RETRY:
		return piv_reset_retry(card, cmd);
	case INS_GENERATE:
		return piv_generate(card, cmd, rsp);
	case INS_AUTHENTICATE:
		if (cmd->p2 == PIV_REF_MGMT)
			return piv_mgmt_authenticate(card, cmd, rsp);
		return piv_key_authenticate(card, cmd, rsp);
	case INS_GET_DATA:
		return piv_get_data(card, cmd, rsp);
	case INS_PUT_DATA:
		return piv_put_data(card, cmd);
	case INS_GET_METADATA:
		return piv_get_metadata(card, cmd, rsp);
	case INS_GET_SERIAL:
		return piv_get_serial(card, rsp);
	case INS_ATTEST:
		return piv_attest(card, cmd, rsp);
	case INS_SET_PIN_RETRIES:
		return piv_set_pin_retries(card, cmd);
	case INS_RESET:
		return piv_reset_application(card, cmd);
	case INS_GET_VERSION:
		return piv_get_version(card, rsp);
	case INS_IMPORT_KEY:
		return piv_import_key(card, cmd);
	case INS_SET_MGMT_KEY:
		return piv_set_mgmt_key(card, cmd);
	default:
		return PIV_SW_INS_UNKNOWN;
	}
}

static void
piv_process(void *c, const struct vcard_cmd *cmd, struct buf *rsp,
            uint16_t *sw)
{
	struct piv_card *card = c;
	piv_sw r;

	if (cmd->cla != 0x00)
		r = PIV_SW_CLA_UNKNOWN;
	else if (cmd->ins == INS_SELECT)
		r = piv_select(card, cmd, rsp);
	else if (!card->selected)
		r = PIV_SW_INS_UNKNOWN;
	else
		r = piv_dispatch(card, cmd, rsp);

	/* The two steps of a management-key authentication must follow
	 * each other (SP 800-73-4 pt 2, appendix A). */
	if (!(cmd->ins == INS_AUTHENTICATE && cmd->p2 == PIV_REF_MGMT)) {
		card->mgmt_step = PIV_MGMT_IDLE;
		OPENSSL_cleanse(card->mgmt_nonce, sizeof card->mgmt_nonce);
	}
	/* "PIN Always": the PIN is verified immediately before the key is
	 * used (SP 800-73-4 pt 1, 3.2). Any other command in between spends
	 * it; VERIFY handles the flag itself. */
	if (cmd->ins != INS_VERIFY)
		card->pin_always = false;

	if (r != PIV_SW_OK)
		buf_clear(rsp);
	*sw = r;
}

const struct vcard_type vcard_piv = {
	.name = "piv",
	.create = piv_create,
	.destroy = piv_destroy,
	.atr = piv_atr,
	.reset = piv_reset,
	.process = piv_process,
	/* Short APDUs with chaining and 61xx, as the brief for this card
	 * asks (a real YubiKey 4/5 also takes extended APDUs, and its ATR
	 * says so). */
	.extended = false,
};
