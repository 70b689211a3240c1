#include "common/attr.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static CK_ATTRIBUTE *
attr_find_mut(struct attr_list *l, CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i].type == type)
			return &l->items[i];
	return NULL;
}

CK_RV
attr_set(struct attr_list *l, CK_ATTRIBUTE_TYPE type, const void *value, size_t len)
{
	void *copy = NULL;

	if (len > 0) {
		copy = malloc(len);
		if (copy == NULL)
			return CKR_HOST_MEMORY;
		memcpy(copy, value, len);
	}
	CK_ATTRIBUTE *a = attr_find_mut(l, type);
	if (a != NULL) {
		free(a->pValue);
		a->pValue = copy;
		a->ulValueLen = len;
		return CKR_OK;
	}
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		CK_ATTRIBUTE *items = realloc(l->items, cap * sizeof(*items));
		if (items == NULL) {
			free(copy);
			return CKR_HOST_MEMORY;
		}
		l->items = items;
		l->cap = cap;
	}
	l->items[l->count].type = type;
	l->items[l->count].pValue = copy;
	l->items[l->count].ulValueLen = len;
	l->count++;
	return CKR_OK;
}

CK_RV
attr_set_ulong(struct attr_list *l, CK_ATTRIBUTE_TYPE type, CK_ULONG value)
{
	return attr_set(l, type, &value, sizeof(value));
}

CK_RV
attr_set_bool(struct attr_list *l, CK_ATTRIBUTE_TYPE type, bool value)
{
	CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
	return attr_set(l, type, &b, sizeof(b));
}

CK_RV
attr_set_string(struct attr_list *l, CK_ATTRIBUTE_TYPE type, const char *value)
{
	return attr_set(l, type, value, strlen(value));
}

const CK_ATTRIBUTE *
attr_find(const struct attr_list *l, CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i].type == type)
			return &l->items[i];
	return NULL;
}

bool
attr_get_ulong(const struct attr_list *l, CK_ATTRIBUTE_TYPE type, CK_ULONG *value)
{
	const CK_ATTRIBUTE *a = attr_find(l, type);
	if (a == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return false;
	memcpy(value, a->pValue, sizeof(CK_ULONG));
	return true;
}

bool
attr_get_bool(const struct attr_list *l, CK_ATTRIBUTE_TYPE type, bool *value)
{
	const CK_ATTRIBUTE *a = attr_find(l, type);
	if (a == NULL || a->ulValueLen != sizeof(CK_BBOOL))
		return false;
	*value = *(const CK_BBOOL *)a->pValue != CK_FALSE;
	return true;
}

bool
attr_match(const struct attr_list *l, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	for (CK_ULONG i = 0; i < count; i++) {
		const CK_ATTRIBUTE *a = attr_find(l, tmpl[i].type);
		if (a == NULL || a->ulValueLen != tmpl[i].ulValueLen)
			return false;
		if (a->ulValueLen && memcmp(a->pValue, tmpl[i].pValue, a->ulValueLen) != 0)
			return false;
	}
	return true;
}

void
attr_list_free(struct attr_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		if (l->items[i].pValue) {
			OPENSSL_cleanse(l->items[i].pValue, l->items[i].ulValueLen);
			free(l->items[i].pValue);
		}
	}
	free(l->items);
	l->items = NULL;
	l->count = l->cap = 0;
}
