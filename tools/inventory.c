/* A token's keys and certificates, grouped by CKA_ID (a key and its
 * certificate share it) and named by the driver's slot table when it has
 * one. The objects come from the driver's load_objects, the same list the
 * module shows, private keys included (the driver lists them without a
 * PIN; only the module hides them before login). */
#include "tools/kyso.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>

static int
inv_slot_rank(const struct driver *drv, const struct entry *e)
{
	size_t i;

	for (i = 0; drv->key_slots != NULL && i < drv->key_slot_count; i++)
		if (&drv->key_slots[i] == e->slot)
			return (int)i;
	return (int)drv->key_slot_count;
}

static const struct driver *inv_sort_driver;

static int
inv_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int rx = inv_slot_rank(inv_sort_driver, x), ry = inv_slot_rank(inv_sort_driver, y);

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return strcmp(x->id_hex, y->id_hex);
}

struct entry *
inventory_find(struct inventory *inv, const uint8_t *id, size_t id_len)
{
	size_t i;

	for (i = 0; i < inv->n; i++)
		if (inv->e[i].id_len == id_len && memcmp(inv->e[i].id, id, id_len) == 0)
			return &inv->e[i];
	return NULL;
}

static struct entry *
inv_entry(struct inventory *inv, const struct driver *drv, const CK_ATTRIBUTE *id)
{
	struct entry *e = NULL, *grown;
	size_t i;

	if (id == NULL || id->ulValueLen > sizeof(e->id))
		goto out;
	e = inventory_find(inv, id->pValue, id->ulValueLen);
	if (e != NULL)
		goto out;
	grown = realloc(inv->e, (inv->n + 1) * sizeof(*inv->e));
	if (grown == NULL)
		goto out;
	inv->e = grown;
	e = &inv->e[inv->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id->pValue, id->ulValueLen);
	e->id_len = id->ulValueLen;
	hex_text(e->id, e->id_len, e->id_hex, sizeof(e->id_hex), false);
	for (i = 0; drv->key_slots != NULL && i < drv->key_slot_count; i++)
		if (drv->key_slots[i].id_len == e->id_len &&
		    memcmp(drv->key_slots[i].id, e->id, e->id_len) == 0)
			e->slot = &drv->key_slots[i];
	if (e->slot != NULL)
		snprintf(e->name, sizeof(e->name), "%s", e->slot->name);
	else
		snprintf(e->name, sizeof(e->name), "id:%s", e->id_hex);
out:
	return e;
}

static EVP_PKEY *
inv_spki(const struct drv_object *o)
{
	const CK_ATTRIBUTE *a = o != NULL ? attr_find(&o->attrs, CKA_PUBLIC_KEY_INFO) : NULL;
	const unsigned char *p;

	if (a == NULL || a->pValue == NULL || a->ulValueLen == 0 || a->ulValueLen > 65536)
		return NULL;
	p = a->pValue;
	return d2i_PUBKEY(NULL, &p, (long)a->ulValueLen);
}

int
inventory_load(struct ctx *c, struct inventory *inv)
{
	const struct driver *drv = c->tok->card.driver;
	size_t i;
	int code = KX_OK;
	CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED;

	memset(inv, 0, sizeof(*inv));
	if (drv->load_objects != NULL)
		rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->load_objects(&c->tok->card, &inv->objs);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("reading the keys and certificates"));
		goto out;
	}
	for (i = 0; i < inv->objs.count; i++) {
		const struct drv_object *o = &inv->objs.items[i];
		CK_ULONG cls;
		struct entry *e;

		if (!attr_get_ulong(&o->attrs, CKA_CLASS, &cls))
			continue;
		if (cls != CKO_CERTIFICATE && cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY)
			continue;
		e = inv_entry(inv, drv, attr_find(&o->attrs, CKA_ID));
		if (e == NULL)
			continue;
		if (cls == CKO_CERTIFICATE && e->cert == NULL)
			e->cert = o;
		else if (cls == CKO_PRIVATE_KEY && e->priv == NULL)
			e->priv = o;
		else if (cls == CKO_PUBLIC_KEY && e->pub == NULL)
			e->pub = o;
	}
	for (i = 0; i < inv->n; i++) {
		struct entry *e = &inv->e[i];
		const CK_ATTRIBUTE *v;
		const unsigned char *p;
		bool b;

		if (e->cert != NULL && (v = attr_find(&e->cert->attrs, CKA_VALUE)) != NULL &&
		    v->pValue != NULL && v->ulValueLen < 1u << 24) {
			p = v->pValue;
			e->x509 = d2i_X509(NULL, &p, (long)v->ulValueLen);
		}
		/* The key's own public half first: after a new key was made
		 * or imported it differs from the certificate's. */
		e->pubkey = inv_spki(e->pub);
		if (e->pubkey == NULL)
			e->pubkey = inv_spki(e->priv);
		if (e->pubkey == NULL && e->x509 != NULL && e->priv != NULL)
			e->pubkey = X509_get_pubkey(e->x509);
		if (e->priv != NULL && attr_get_bool(&e->priv->attrs, CKA_ALWAYS_AUTHENTICATE, &b))
			e->always_auth = b;
	}
	inv_sort_driver = drv;
	if (inv->n > 1)
		qsort(inv->e, inv->n, sizeof(*inv->e), inv_cmp);
out:
	return code;
}

void
inventory_free(struct inventory *inv)
{
	size_t i;

	for (i = 0; i < inv->n; i++) {
		EVP_PKEY_free(inv->e[i].pubkey);
		X509_free(inv->e[i].x509);
	}
	free(inv->e);
	drv_objects_free(&inv->objs);
	memset(inv, 0, sizeof(*inv));
}

static int
inv_hex(const char *s, uint8_t *out_b, size_t cap, size_t *len)
{
	size_t n = strlen(s), i;
	unsigned v;
	int rc = -1;

	if (n == 0 || n % 2 != 0 || n / 2 > cap)
		goto out;
	for (i = 0; i < n / 2; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			goto out;
		out_b[i] = (uint8_t)v;
	}
	*len = n / 2;
	rc = 0;
out:
	return rc;
}

int
slot_resolve(struct ctx *c, const char *name, uint8_t *id, size_t *id_len,
             const struct drv_key_slot **slot)
{
	const struct driver *drv = c->tok->card.driver;
	struct buf names = BUF_INIT;
	const char *n = name;
	size_t i;
	int code = KX_OK;

	*slot = NULL;
	if (name == NULL) {
		code = fail(c, KX_USAGE, "usage", _("Name the key slot with --slot."));
		goto out;
	}
	if (strncasecmp(n, "0x", 2) == 0)
		n += 2;
	for (i = 0; drv->key_slots != NULL && i < drv->key_slot_count; i++) {
		if (strcasecmp(drv->key_slots[i].name, n) == 0) {
			*slot = &drv->key_slots[i];
			memcpy(id, drv->key_slots[i].id, drv->key_slots[i].id_len);
			*id_len = drv->key_slots[i].id_len;
			goto out;
		}
	}
	if (strncasecmp(name, "id:", 3) == 0 && inv_hex(name + 3, id, 64, id_len) == 0) {
		for (i = 0; drv->key_slots != NULL && i < drv->key_slot_count; i++)
			if (drv->key_slots[i].id_len == *id_len &&
			    memcmp(drv->key_slots[i].id, id, *id_len) == 0)
				*slot = &drv->key_slots[i];
		goto out;
	}
	for (i = 0; drv->key_slots != NULL && i < drv->key_slot_count; i++) {
		if (i > 0)
			(void)buf_append(&names, ", ", 2);
		(void)buf_append(&names, drv->key_slots[i].name, strlen(drv->key_slots[i].name));
	}
	(void)buf_append_byte(&names, 0);
	if (drv->key_slots != NULL && names.data != NULL)
		code = fail(c, KX_USAGE, "usage",
		            _("Unknown slot %s. This token's slots are: %s (or id:HEX)."), name,
		            (const char *)names.data);
	else
		code = fail(c, KX_USAGE, "usage",
		            _("Unknown slot %s: name keys on this token by id:HEX (see kyso "
		              "list)."), name);
	buf_free(&names);
out:
	return code;
}

const char *
entry_name(const struct entry *e)
{
	return e->name;
}

void
key_desc(EVP_PKEY *k, char *out_s, size_t len)
{
	char group[64];
	const char *nist;

	if (k == NULL) {
		snprintf(out_s, len, "?");
	} else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		snprintf(out_s, len, "RSA %d", EVP_PKEY_get_bits(k));
	} else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
		if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
		                                   sizeof(group), NULL) != 1)
			snprintf(group, sizeof(group), "?");
		nist = EC_curve_nid2nist(OBJ_txt2nid(group));
		snprintf(out_s, len, "EC %s", nist != NULL ? nist : group);
	} else {
		snprintf(out_s, len, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
	}
}

const char *
slot_purpose(const struct drv_key_slot *s)
{
	return s != NULL && s->purpose != NULL ? _(s->purpose) : "";
}
