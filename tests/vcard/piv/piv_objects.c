/* PIV data objects: GET DATA and PUT DATA (SP 800-73-4 pt 2, 3.1.2 and
 * 3.3.2), their access rules (pt 1, 3.1 table 3), and the objects a new
 * card carries. */
#include "piv_card.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define TAG_OBJECT_ID	0x5Cu
#define TAG_DATA	0x53u
#define TAG_DISCOVERY	0x7Eu
#define TAG_BIT_GROUP	0x7F61u

/* The tags a YubiKey keeps: Discovery, the BIT group template, the PIV
 * objects 5FC101..5FC123, and Yubico's own 5FFF00..5FFF15 (5FFF01 is the
 * attestation certificate). The tag must come in its natural length. */
static bool
piv_object_tag_valid(const uint8_t *id, size_t len, uint32_t *tag)
{
	if (len == 1 && id[0] == 0x7E) {
		*tag = TAG_DISCOVERY;
		return true;
	}
	if (len == 2 && id[0] == 0x7F && id[1] == 0x61) {
		*tag = TAG_BIT_GROUP;
		return true;
	}
	if (len != 3 || id[0] != 0x5F)
		return false;
	if ((id[1] == 0xC1 && id[2] >= 0x01 && id[2] <= 0x23) ||
	    (id[1] == 0xFF && id[2] <= 0x15)) {
		*tag = 0x5F0000u | (uint32_t)id[1] << 8 | id[2];
		return true;
	}
	return false;
}

/* SP 800-73-4 pt 1, 3.1 table 3: the biometric objects, the printed
 * information and the pairing code reference data are read with the PIN
 * only. (YubiKey keeps its PIN-protected management key in Printed
 * Information for that reason.) */
static bool
piv_object_needs_pin(uint32_t tag)
{
	switch (tag) {
	case 0x5FC103:	/* Cardholder Fingerprints */
	case 0x5FC108:	/* Cardholder Facial Image */
	case 0x5FC109:	/* Printed Information */
	case 0x5FC121:	/* Cardholder Iris Images */
	case 0x5FC123:	/* Pairing Code Reference Data Container */
		return true;
	default:
		return false;
	}
}

struct piv_object *
piv_object_find(struct piv_card *card, uint32_t tag)
{
	for (size_t i = 0; i < card->n_objects; i++)
		if (card->objects[i].tag == tag)
			return &card->objects[i];
	return NULL;
}

int
piv_object_set(struct piv_card *card, uint32_t tag, const uint8_t *tlv,
               size_t len)
{
	struct piv_object *obj = piv_object_find(card, tag);
	struct piv_object *grown;

	if (obj != NULL)
		return buf_set(&obj->value, tlv, len);
	grown = realloc(card->objects, (card->n_objects + 1) * sizeof *grown);
	if (grown == NULL)
		return -1;
	card->objects = grown;
	obj = &card->objects[card->n_objects];
	obj->tag = tag;
	obj->value = (struct buf)BUF_INIT;
	if (buf_set(&obj->value, tlv, len) != 0) {
		buf_free(&obj->value);
		return -1;
	}
	card->n_objects++;
	return 0;
}

void
piv_object_delete(struct piv_card *card, uint32_t tag)
{
	struct piv_object *obj = piv_object_find(card, tag);
	size_t i;

	if (obj == NULL)
		return;
	i = (size_t)(obj - card->objects);
	buf_free(&obj->value);
	memmove(obj, obj + 1, (card->n_objects - i - 1) * sizeof *obj);
	card->n_objects--;
}

uint32_t
piv_cert_object_of_slot(uint8_t slot)
{
	switch (slot) {
	case 0x9A: return 0x5FC105;
	case 0x9C: return 0x5FC10A;
	case 0x9D: return 0x5FC10B;
	case 0x9E: return 0x5FC101;
	case PIV_REF_ATTEST: return 0x5FFF01;
	default:
		/* SP 800-73-4 pt 1, table 4b: retired key n has 5FC10C+n. */
		if (slot >= 0x82 && slot <= 0x95)
			return 0x5FC10Du + (uint32_t)(slot - 0x82);
		return 0;
	}
}

/* GET DATA, SP 800-73-4 pt 2, 3.1.2: 00 CB 3F FF, data 5C L tag. The
 * response is the whole object. A YubiKey answers 6A82 for an absent
 * object before it looks at the PIN (OpenSC calls that
 * CI_LEAKS_FILE_NOT_FOUND), and so does this card. */
piv_sw
piv_get_data(struct piv_card *card, const struct vcard_cmd *cmd,
             struct buf *rsp)
{
	struct piv_tlv id;
	struct piv_object *obj;
	uint32_t tag;

	if (cmd->p1 != 0x3F || cmd->p2 != 0xFF)
		return PIV_SW_WRONG_P1P2;
	if (piv_tlv_single(cmd->data, cmd->lc, TAG_OBJECT_ID, &id) != 1 ||
	    !piv_object_tag_valid(id.value, id.len, &tag))
		return PIV_SW_WRONG_DATA;
	obj = piv_object_find(card, tag);
	if (obj == NULL)
		return PIV_SW_NOT_FOUND;
	if (piv_object_needs_pin(tag) && !card->pin_verified)
		return PIV_SW_NOT_SATISFIED;
	if (buf_append(rsp, obj->value.data, obj->value.len) != 0)
		return PIV_SW_INTERNAL;
	return PIV_SW_OK;
}

/* PUT DATA, SP 800-73-4 pt 2, 3.3.2: 00 DB 3F FF, data 5C L tag followed
 * by the whole object, with the management key authenticated. An empty
 * object (53 00) deletes it, as YubiKeys do. */
piv_sw
piv_put_data(struct piv_card *card, const struct vcard_cmd *cmd)
{
	const uint8_t *p = cmd->data;
	size_t left = cmd->lc;
	const uint8_t *raw;
	size_t raw_len;
	struct piv_tlv id, obj;
	uint32_t tag, outer;

	if (cmd->p1 != 0x3F || cmd->p2 != 0xFF)
		return PIV_SW_WRONG_P1P2;
	if (!card->mgmt_ok)
		return PIV_SW_NOT_SATISFIED;
	if (piv_tlv_next(&p, &left, &id) != 1 || id.tag != TAG_OBJECT_ID ||
	    !piv_object_tag_valid(id.value, id.len, &tag))
		return PIV_SW_WRONG_DATA;
	raw = p;
	raw_len = left;
	outer = tag == TAG_DISCOVERY || tag == TAG_BIT_GROUP ? tag : TAG_DATA;
	if (piv_tlv_next(&p, &left, &obj) != 1 || obj.tag != outer ||
	    left != 0)
		return PIV_SW_WRONG_DATA;
	if (obj.len == 0) {
		piv_object_delete(card, tag);
	} else {
		if (raw_len > PIV_OBJECT_MAX)
			return PIV_SW_NO_SPACE;
		if (piv_object_set(card, tag, raw, raw_len) != 0)
			return PIV_SW_NO_SPACE;
	}
	piv_card_changed(card);
	return PIV_SW_OK;
}

/* Wrap `body` as 53 L body and store it under `tag`. */
static int
piv_object_store_data(struct piv_card *card, uint32_t tag,
                      const struct buf *body)
{
	struct buf tlv = BUF_INIT;
	int rc = -1;

	if (piv_tlv_put(&tlv, TAG_DATA, body->data, body->len) != 0)
		goto out;
	rc = piv_object_set(card, tag, tlv.data, tlv.len);
out:
	buf_free(&tlv);
	return rc;
}

/* CHUID, SP 800-73-4 pt 1, 3.1.2 table 9: the FASC-N of a non-federal
 * issuer (agency code 9999, all other fields zero: what yubico-piv-tool
 * writes), a random RFC 4122 version 4 GUID, an expiration date, an empty
 * issuer signature and the LRC. */
static int
piv_chuid_build(struct piv_card *card)
{
	static const uint8_t fascn[25] = {
		0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE,
		0x73, 0x9D, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10,
		0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB,
	};
	static const uint8_t expiry[8] = "20501231";
	uint8_t guid[16];
	struct buf body = BUF_INIT;
	int rc = -1;

	if (RAND_bytes(guid, sizeof guid) != 1)
		goto out;
	guid[6] = (uint8_t)((guid[6] & 0x0F) | 0x40);
	guid[8] = (uint8_t)((guid[8] & 0x3F) | 0x80);
	if (piv_tlv_put(&body, 0x30, fascn, sizeof fascn) != 0 ||
	    piv_tlv_put(&body, 0x34, guid, sizeof guid) != 0 ||
	    piv_tlv_put(&body, 0x35, expiry, sizeof expiry) != 0 ||
	    piv_tlv_put(&body, 0x3E, NULL, 0) != 0 ||
	    piv_tlv_put(&body, 0xFE, NULL, 0) != 0)
		goto out;
	rc = piv_object_store_data(card, 0x5FC102, &body);
out:
	buf_free(&body);
	return rc;
}

/* CCC, SP 800-73-4 pt 1, 3.1.1 table 8: a card identifier (GSC-RID
 * A0 00 00 01 16, manufacturer FF, card type 02, 14 random bytes), the
 * container and grammar versions 21, data model 10, and the empty
 * mandatory elements. */
static int
piv_ccc_build(struct piv_card *card)
{
	uint8_t card_id[21] = { 0xA0, 0x00, 0x00, 0x01, 0x16, 0xFF, 0x02 };
	static const uint8_t v21 = 0x21, v00 = 0x00, v10 = 0x10;
	static const uint8_t empty_tags[] = {
		0xF6, 0xF7, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE,
	};
	struct buf body = BUF_INIT;
	int rc = -1;

	if (RAND_bytes(card_id + 7, sizeof card_id - 7) != 1)
		goto out;
	if (piv_tlv_put(&body, 0xF0, card_id, sizeof card_id) != 0 ||
	    piv_tlv_put(&body, 0xF1, &v21, 1) != 0 ||
	    piv_tlv_put(&body, 0xF2, &v21, 1) != 0 ||
	    piv_tlv_put(&body, 0xF3, NULL, 0) != 0 ||
	    piv_tlv_put(&body, 0xF4, &v00, 1) != 0 ||
	    piv_tlv_put(&body, 0xF5, &v10, 1) != 0)
		goto out;
	for (size_t i = 0; i < sizeof empty_tags; i++)
		if (piv_tlv_put(&body, empty_tags[i], NULL, 0) != 0)
			goto out;
	rc = piv_object_store_data(card, 0x5FC107, &body);
out:
	buf_free(&body);
	return rc;
}

/* Discovery, SP 800-73-4 pt 1, 3.3.2 table 18, as a YubiKey has it: the
 * full PIV AID and a PIN usage policy of 40 00 (the PIV PIN only; no
 * global PIN, no OCC, no VCI). */
static int
piv_discovery_build(struct piv_card *card)
{
	static const uint8_t discovery[] = {
		0x7E, 0x12,
		0x4F, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10,
		0x00, 0x01, 0x00,
		0x5F, 0x2F, 0x02, 0x40, 0x00,
	};

	return piv_object_set(card, TAG_DISCOVERY, discovery,
	                      sizeof discovery);
}

int
piv_objects_factory(struct piv_card *card)
{
	if (piv_chuid_build(card) != 0 || piv_ccc_build(card) != 0 ||
	    piv_discovery_build(card) != 0)
		return -1;
	return 0;
}

/* Key History, SP 800-73-4 pt 1, 3.3.3 table 19: no retired keys with
 * on-card or off-card certificates. */
int
piv_objects_key_history(struct piv_card *card)
{
	static const uint8_t zero = 0x00;
	struct buf body = BUF_INIT;
	int rc = -1;

	if (piv_tlv_put(&body, 0xC1, &zero, 1) != 0 ||
	    piv_tlv_put(&body, 0xC2, &zero, 1) != 0 ||
	    piv_tlv_put(&body, 0xFE, NULL, 0) != 0)
		goto out;
	rc = piv_object_store_data(card, 0x5FC10C, &body);
out:
	buf_free(&body);
	return rc;
}

/* Printed Information, SP 800-73-4 pt 1, 3.1.4 table 12: what is printed
 * on the card; read with the PIN only. */
int
piv_objects_printed_info(struct piv_card *card)
{
	static const struct { uint8_t tag; const char *text; } fields[] = {
		{ 0x01, "kyso demo cardholder" },	/* name */
		{ 0x02, "kyso" },			/* employee affiliation */
		{ 0x04, "2050DEC31" },			/* expiration date */
		{ 0x05, "0000000001" },			/* agency card serial */
		{ 0x06, "kyso vcard" },			/* issuer identification */
	};
	struct buf body = BUF_INIT;
	int rc = -1;

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (piv_tlv_put(&body, fields[i].tag,
		                (const uint8_t *)fields[i].text,
		                strlen(fields[i].text)) != 0)
			goto out;
	if (piv_tlv_put(&body, 0xFE, NULL, 0) != 0)
		goto out;
	rc = piv_object_store_data(card, 0x5FC109, &body);
out:
	buf_free(&body);
	return rc;
}

/* SP 800-73-4 pt 1, table 10 (X.509 certificate objects): 70 the DER
 * certificate, 71 CertInfo 00 (not compressed), FE the empty LRC. */
int
piv_objects_put_cert(struct piv_card *card, uint32_t tag, const uint8_t *der,
                     size_t len)
{
	static const uint8_t cert_info = 0x00;
	struct buf body = BUF_INIT;
	int rc = -1;

	if (piv_tlv_put(&body, 0x70, der, len) != 0 ||
	    piv_tlv_put(&body, 0x71, &cert_info, 1) != 0 ||
	    piv_tlv_put(&body, 0xFE, NULL, 0) != 0)
		goto out;
	rc = piv_object_store_data(card, tag, &body);
out:
	buf_free(&body);
	return rc;
}
