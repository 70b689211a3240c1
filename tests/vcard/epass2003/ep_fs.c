/* The file tree of the virtual ePass2003 (ISO 7816-4 clause 7.1, 7.2 and
 * FTCOS's proprietary CREATE / DELETE / LIST FILES).
 *
 * SELECT takes a FID only (P1 00) and answers an FCI in tag 6F, with the
 * type byte in 82 (38 DF, 01 transparent, 11/12 RSA private/public key,
 * 10 BSO), the FID in 83, the size in 80, the DF name in 84, the key size
 * in 85 and 8 access bytes in 86: what card-epass2003.c's process_fci
 * reads and its construct_fci writes. */
#include "ep_card.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define FS_FILE_MAX	0x8000u		/* largest EF the card creates */

struct ep_file *
ep_file_new(struct ep_file *parent, uint16_t fid, uint8_t type,
            const uint8_t acl[8])
{
	struct ep_file *f = calloc(1, sizeof *f);

	if (f == NULL)
		return NULL;
	f->fid = fid;
	f->type = type;
	memcpy(f->acl, acl, 8);
	f->parent = parent;
	if (parent != NULL) {
		/* Keep creation order: LIST FILES and the state file see it. */
		struct ep_file **pp = &parent->child;
		while (*pp != NULL)
			pp = &(*pp)->next;
		*pp = f;
	}
	return f;
}

void
ep_file_free(struct ep_file *f)
{
	while (f != NULL) {
		struct ep_file *next = f->next;
		ep_file_free(f->child);
		buf_free(&f->data);
		EVP_PKEY_free(f->key);
		free(f);
		f = next;
	}
}

struct ep_file *
ep_file_child(const struct ep_file *df, uint16_t fid)
{
	for (struct ep_file *f = df ? df->child : NULL; f != NULL; f = f->next)
		if (f->fid == fid)
			return f;
	return NULL;
}

static struct ep_file *
fs_find_key_in(struct ep_file *df, uint16_t fid)
{
	for (struct ep_file *f = df ? df->child : NULL; f != NULL; f = f->next) {
		struct ep_file *k;
		if (f->fid == fid && EP_IS_PRV(f->type))
			return f;
		if (f->type == EP_FT_DF && (k = fs_find_key_in(f, fid)) != NULL)
			return k;
	}
	return NULL;
}

/* MSE:SET names a private-key EF by FID: the current DF first. */
struct ep_file *
ep_file_find_key(struct ep_card *c, uint16_t fid)
{
	struct ep_file *f = ep_file_child(c->cur_df, fid);

	if (f != NULL && EP_IS_PRV(f->type))
		return f;
	return fs_find_key_in(c->mf, fid);
}

/* An access byte against the security level reached (cardctl.h
 * EPASS2003_AC_*): low nibble the level, high nibble the comparison. */
bool
ep_access(const struct ep_card *c, uint8_t ac)
{
	uint8_t need = ac & 0x0F;

	if (ac == 0xFF || need == EP_AC_NOONE)
		return false;
	if (need == 0)
		return true;
	if ((ac & 0xF0) == EP_AC_EQUAL)
		return c->level == need;
	return c->level >= need;
}

static int
fci_put(struct buf *b, uint8_t tag, const uint8_t *v, size_t len)
{
	if (len > 0x7F || buf_append_byte(b, tag) != 0 ||
	    buf_append_byte(b, (uint8_t)len) != 0 || buf_append(b, v, len) != 0)
		return -1;
	return 0;
}

static int
fs_fci(const struct ep_file *f, struct buf *rsp)
{
	struct buf in = BUF_INIT;
	uint8_t v[2];
	int rc = -1;

	v[0] = f->type;
	v[1] = 0;
	if (fci_put(&in, 0x82, v, 2) != 0)
		goto out;
	v[0] = (uint8_t)(f->fid >> 8);
	v[1] = (uint8_t)f->fid;
	if (fci_put(&in, 0x83, v, 2) != 0)
		goto out;
	if (f->type == EP_FT_EF) {
		v[0] = (uint8_t)(f->data.len >> 8);
		v[1] = (uint8_t)f->data.len;
		if (fci_put(&in, 0x80, v, 2) != 0)
			goto out;
	}
	if (f->type == EP_FT_DF && f->name_len > 0 &&
	    fci_put(&in, 0x84, f->name, f->name_len) != 0)
		goto out;
	if (f->type == EP_FT_DF) {
		v[0] = 0x00;
		v[1] = 0x7F;		/* 127 files at most */
		if (fci_put(&in, 0x85, v, 2) != 0)
			goto out;
	} else if (EP_IS_KEY(f->type)) {
		v[0] = (uint8_t)(f->key_bits >> 8);
		v[1] = (uint8_t)f->key_bits;
		if (fci_put(&in, 0x85, v, 2) != 0)
			goto out;
	}
	if (fci_put(&in, 0x86, f->acl, 8) != 0)
		goto out;
	if (EP_IS_PUB(f->type)) {
		v[0] = 0x00;
		v[1] = 0x66;
		if (fci_put(&in, 0x87, v, 2) != 0)
			goto out;
	}
	v[0] = 0x05;			/* life cycle: activated */
	if (fci_put(&in, 0x8A, v, 1) != 0 ||
	    fci_put(rsp, 0x6F, in.data, in.len) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&in);
	return rc;
}

/* A DF by its name (tag 84), anywhere in the tree. */
static struct ep_file *
fs_find_name(struct ep_file *df, const uint8_t *name, size_t len)
{
	if (df == NULL)
		return NULL;
	if (df->name_len == len && memcmp(df->name, name, len) == 0)
		return df;
	for (struct ep_file *f = df->child; f != NULL; f = f->next) {
		struct ep_file *hit;
		if (f->type == EP_FT_DF && (hit = fs_find_name(f, name, len)) != NULL)
			return hit;
	}
	return NULL;
}

/* 00 A4 04 00 name: a DF by name. 00 A4 00 00 02 FID: the MF, the current DF, a child of it, or its
 * parent. Selecting an EF leaves its DF current. */
void
ep_fs_select(struct ep_card *c, const struct vcard_cmd *cmd,
             struct buf *rsp, uint16_t *sw)
{
	struct ep_file *f = NULL, *df = c->cur_df;
	uint16_t fid;

	if (cmd->p1 == 0x04 && (cmd->p2 == 0x00 || cmd->p2 == 0x0C) &&
	    cmd->lc > 0 && cmd->lc <= 16) {
		f = fs_find_name(c->mf, cmd->data, cmd->lc);
		goto found;
	}
	if (cmd->p1 != 0x00 || cmd->p2 != 0x00) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	if (cmd->lc != 2) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	fid = (uint16_t)(cmd->data[0] << 8 | cmd->data[1]);
	if (fid == 0x3F00)
		f = c->mf;
	else if (df != NULL && fid == df->fid)
		f = df;
	else if ((f = ep_file_child(df, fid)) == NULL && df != NULL &&
	         df->parent != NULL && df->parent->fid == fid)
		f = df->parent;
found:
	if (f == NULL) {
		*sw = EP_SW_NOT_FOUND;
		return;
	}
	if (f->type == EP_FT_DF) {
		c->cur_df = f;
		c->cur_ef = NULL;
	} else {
		c->cur_df = f->parent;
		c->cur_ef = f;
	}
	if (cmd->le_present && fs_fci(f, rsp) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	*sw = EP_SW_OK;
}

void
ep_fs_read(struct ep_card *c, const struct vcard_cmd *cmd, struct buf *rsp,
           uint16_t *sw)
{
	struct ep_file *f = c->cur_ef;
	size_t off = (size_t)(cmd->p1 & 0x7F) << 8 | cmd->p2, n;

	if (cmd->p1 & 0x80) {
		/* SFI addressing: not offered by FTCOS here. */
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	if (f == NULL) {
		*sw = EP_SW_NO_EF;
		return;
	}
	if (f->type != EP_FT_EF) {
		*sw = EP_SW_INCOMPATIBLE;
		return;
	}
	if (!ep_access(c, f->acl[EP_ACI_READ])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	if (off >= f->data.len) {
		*sw = EP_SW_OFFSET;
		return;
	}
	n = f->data.len - off;
	if (cmd->le_present && n > cmd->le)
		n = cmd->le;
	if (buf_append(rsp, f->data.data + off, n) != 0) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	*sw = EP_SW_OK;
}

void
ep_fs_update(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	struct ep_file *f = c->cur_ef;
	size_t off = (size_t)(cmd->p1 & 0x7F) << 8 | cmd->p2;

	if (cmd->p1 & 0x80) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	if (f == NULL) {
		*sw = EP_SW_NO_EF;
		return;
	}
	if (f->type != EP_FT_EF) {
		*sw = EP_SW_INCOMPATIBLE;
		return;
	}
	if (!ep_access(c, f->acl[EP_ACI_UPDATE])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	if (off > f->data.len || cmd->lc > f->data.len - off) {
		*sw = EP_SW_NO_SPACE;
		return;
	}
	if (cmd->lc > 0)
		memcpy(f->data.data + off, cmd->data, cmd->lc);
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
}

/* 00 E0 00 00 Lc 62 L {82 83 80 84 85 86 87}: a new file in the current
 * DF (card-epass2003.c construct_fci). A new DF becomes current. */
void
ep_fs_create(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	const uint8_t *p = cmd->data, *end;
	uint8_t type = 0, acl[8];
	uint16_t fid = 0;
	size_t size = 0, name_len = 0;
	const uint8_t *name = NULL;
	bool have_fid = false, have_type = false;
	struct ep_file *f, *parent = c->cur_df;

	memset(acl, 0xFF, sizeof acl);
	if (cmd->lc < 2 || p[0] != 0x62 || p[1] > 0x7F ||
	    (size_t)p[1] + 2 != cmd->lc) {
		*sw = EP_SW_WRONG_DATA;
		return;
	}
	end = p + cmd->lc;
	p += 2;
	while (p < end) {
		uint8_t tag, len;
		if (end - p < 2 || (len = p[1]) > end - p - 2) {
			*sw = EP_SW_WRONG_DATA;
			return;
		}
		tag = p[0];
		p += 2;
		if (tag == 0x82 && len >= 1) {
			type = p[0];
			have_type = true;
		} else if (tag == 0x83 && len == 2) {
			fid = (uint16_t)(p[0] << 8 | p[1]);
			have_fid = true;
		} else if (tag == 0x80 && len == 2) {
			size = (size_t)p[0] << 8 | p[1];
		} else if (tag == 0x84 && len <= 16) {
			name = p;
			name_len = len;
		} else if (tag == 0x85 && len == 2 &&
		           EP_IS_KEY(type)) {
			size = (size_t)p[0] << 8 | p[1];
		} else if (tag == 0x86 && len == 8) {
			memcpy(acl, p, 8);
		}
		p += len;
	}
	if (!have_fid || !have_type ||
	    (type != EP_FT_DF && type != EP_FT_EF && type != EP_FT_BSO &&
	     !EP_IS_KEY(type) &&
	     type != EP_FT_LINEAR && type != EP_FT_VARIABLE) ||
	    (type == EP_FT_EF && size > FS_FILE_MAX)) {
		*sw = EP_SW_WRONG_DATA;
		return;
	}
	if (fid == 0x3F00) {
		if (c->mf != NULL || type != EP_FT_DF) {
			*sw = EP_SW_EXISTS;
			return;
		}
		parent = NULL;
	} else {
		if (parent == NULL) {
			*sw = EP_SW_NOT_FOUND;
			return;
		}
		if (!ep_access(c, parent->acl[EP_ACI_UPDATE])) {
			*sw = EP_SW_NOT_SATISFIED;
			return;
		}
		if (ep_file_child(parent, fid) != NULL) {
			*sw = EP_SW_EXISTS;
			return;
		}
	}
	f = ep_file_new(parent, fid, type, acl);
	if (f == NULL) {
		*sw = EP_SW_INTERNAL;
		return;
	}
	if (parent == NULL)
		c->mf = f;
	if (name != NULL) {
		memcpy(f->name, name, name_len);
		f->name_len = name_len;
	}
	if (type == EP_FT_EF) {
		if (buf_reserve(&f->data, size) != 0) {
			*sw = EP_SW_INTERNAL;
			return;
		}
		if (size > 0)
			memset(f->data.data, 0, size);
		f->data.len = size;
	} else if (EP_IS_KEY(type)) {
		f->key_bits = (unsigned)size;
	}
	if (type == EP_FT_DF) {
		c->cur_df = f;
		c->cur_ef = NULL;
	} else {
		c->cur_ef = f;
	}
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
}

static void
fs_unlink(struct ep_file *f)
{
	struct ep_file **pp = &f->parent->child;

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	f->next = NULL;
	ep_file_free(f);
}

/* 00 E4 00 00 02 FID: a child of the current DF, or the MF (erase). */
void
ep_fs_delete(struct ep_card *c, const struct vcard_cmd *cmd, uint16_t *sw)
{
	struct ep_file *f;
	uint16_t fid;

	if (cmd->lc != 2) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	fid = (uint16_t)(cmd->data[0] << 8 | cmd->data[1]);
	if (fid == 0x3F00 && c->mf != NULL) {
		if (!ep_access(c, c->mf->acl[EP_ACI_DELETE]) &&
		    c->level != EP_AC_NOONE) {
			*sw = EP_SW_NOT_SATISFIED;
			return;
		}
		/* Erase: the file system and every PIN go. */
		ep_file_free(c->mf);
		c->mf = NULL;
		c->cur_df = c->cur_ef = NULL;
		c->se_key = NULL;
		for (size_t i = 0; i < EP_SECRETS_MAX; i++)
			if (c->secrets[i].type == 0x04 ||
			    c->secrets[i].type == 0x06)
				OPENSSL_cleanse(&c->secrets[i],
				                sizeof c->secrets[i]);
		*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
		return;
	}
	f = ep_file_child(c->cur_df, fid);
	if (f == NULL) {
		*sw = EP_SW_NOT_FOUND;
		return;
	}
	if (!ep_access(c, f->acl[EP_ACI_DELETE])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	if (c->cur_ef == f)
		c->cur_ef = NULL;
	if (c->se_key == f)
		c->se_key = NULL;
	fs_unlink(f);
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
}

/* 80 34 00 00: the FIDs in the current DF. */
void
ep_fs_list(struct ep_card *c, struct buf *rsp, uint16_t *sw)
{
	if (c->cur_df == NULL) {
		*sw = EP_SW_NOT_FOUND;
		return;
	}
	for (struct ep_file *f = c->cur_df->child; f != NULL; f = f->next)
		if (buf_append_byte(rsp, (uint8_t)(f->fid >> 8)) != 0 ||
		    buf_append_byte(rsp, (uint8_t)f->fid) != 0) {
			*sw = EP_SW_INTERNAL;
			return;
		}
	*sw = EP_SW_OK;
}

/* The record `n` (1-based) of a record EF: offset of its length byte. */
static bool
fs_record_at(const struct ep_file *f, unsigned n, size_t *at)
{
	size_t off = 0;

	for (unsigned i = 1; off < f->data.len; i++) {
		if (i == n) {
			*at = off;
			return true;
		}
		off += 1 + (size_t)f->data.data[off];
	}
	return false;
}

/* 00 B2 n 04 (READ RECORD), 00 DC n 04 (UPDATE RECORD), 00 E2 00 00
 * (APPEND RECORD), on the current EF (ISO 7816-4 7.3). */
void
ep_fs_record(struct ep_card *c, const struct vcard_cmd *cmd,
             struct buf *rsp, uint16_t *sw)
{
	struct ep_file *f = c->cur_ef;
	struct buf tmp = BUF_INIT;
	size_t at = 0;
	bool read = cmd->ins == 0xB2;

	if (f == NULL) {
		*sw = EP_SW_NO_EF;
		return;
	}
	if (f->type != EP_FT_LINEAR && f->type != EP_FT_VARIABLE) {
		*sw = EP_SW_INCOMPATIBLE;
		return;
	}
	if (!ep_access(c, f->acl[read ? EP_ACI_READ : EP_ACI_UPDATE])) {
		*sw = EP_SW_NOT_SATISFIED;
		return;
	}
	if (cmd->ins == 0xE2) {
		if (cmd->p1 != 0 || cmd->p2 != 0) {
			*sw = EP_SW_WRONG_P1P2;
			return;
		}
		if (cmd->lc == 0 || cmd->lc > 0xFF ||
		    f->data.len + 1 + cmd->lc > FS_FILE_MAX) {
			*sw = EP_SW_WRONG_LENGTH;
			return;
		}
		if (buf_append_byte(&f->data, (uint8_t)cmd->lc) != 0 ||
		    buf_append(&f->data, cmd->data, cmd->lc) != 0) {
			*sw = EP_SW_INTERNAL;
			return;
		}
		*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
		return;
	}
	if (cmd->p2 != 0x04 || cmd->p1 == 0) {
		*sw = EP_SW_WRONG_P1P2;
		return;
	}
	if (!fs_record_at(f, cmd->p1, &at)) {
		*sw = 0x6A83;			/* record not found */
		return;
	}
	if (read) {
		*sw = buf_append(rsp, f->data.data + at + 1,
		                 f->data.data[at]) == 0 ? EP_SW_OK
		                                        : EP_SW_INTERNAL;
		return;
	}
	if (cmd->lc == 0 || cmd->lc > 0xFF) {
		*sw = EP_SW_WRONG_LENGTH;
		return;
	}
	/* Rebuild with the record replaced. */
	if (buf_append(&tmp, f->data.data, at) != 0 ||
	    buf_append_byte(&tmp, (uint8_t)cmd->lc) != 0 ||
	    buf_append(&tmp, cmd->data, cmd->lc) != 0 ||
	    buf_append(&tmp, f->data.data + at + 1 + f->data.data[at],
	               f->data.len - at - 1 - f->data.data[at]) != 0 ||
	    buf_set(&f->data, tmp.data, tmp.len) != 0) {
		*sw = EP_SW_INTERNAL;
		goto out;
	}
	*sw = ep_save(c) == 0 ? EP_SW_OK : EP_SW_INTERNAL;
out:
	buf_free(&tmp);
}
