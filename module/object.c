/* The object store a driver fills, and the object functions:
 * C_FindObjects*, C_GetAttributeValue, C_SetAttributeValue, C_CreateObject,
 * C_DestroyObject, C_GetObjectSize, C_CopyObject. */
#include <stdlib.h>
#include <string.h>

#include "module/module.h"
#include "module/pkcs11_export.h"

bool
token_logged_in(const struct token *token)
{
	return token->login_user == CKU_USER;
}

static void
object_free(struct object *obj)
{
	attr_list_free(&obj->attrs);
}

void
objects_free(struct token *token)
{
	for (size_t i = 0; i < token->object_count; i++)
		object_free(&token->objects[i]);
	free(token->objects);
	token->objects = NULL;
	token->object_count = 0;
	token->objects_loaded = false;
}

void
objects_drop_session(struct token *token, CK_SESSION_HANDLE owner)
{
	size_t kept = 0;
	for (size_t i = 0; i < token->object_count; i++) {
		struct object *obj = &token->objects[i];
		if (!obj->on_token && obj->owner == owner)
			object_free(obj);
		else
			token->objects[kept++] = *obj;
	}
	token->object_count = kept;
}

static CK_RV
object_append(struct token *token, struct object *obj, CK_OBJECT_HANDLE handle)
{
	struct object *items = realloc(token->objects,
	                               (token->object_count + 1) * sizeof(*items));
	if (items == NULL)
		return CKR_HOST_MEMORY;
	token->objects = items;
	obj->handle = handle != CK_INVALID_HANDLE ? handle : mod.next_object++;
	bool priv = false;
	attr_get_bool(&obj->attrs, CKA_PRIVATE, &priv);
	obj->is_private = priv;
	token->objects[token->object_count++] = *obj;
	return CKR_OK;
}

static bool
attr_equal(const struct attr_list *a, const struct attr_list *b, CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *x = attr_find(a, type), *y = attr_find(b, type);
	if (x == NULL || y == NULL)
		return x == y;
	return x->ulValueLen == y->ulValueLen &&
	       (x->ulValueLen == 0 || memcmp(x->pValue, y->pValue, x->ulValueLen) == 0);
}

/* The handle an object had before a reload: the same driver object (key
 * reference, class and CKA_ID) keeps its handle, so an application's handles
 * survive a card reset or a write to another slot. */
static CK_OBJECT_HANDLE
handle_before(struct object *old, size_t old_count, const struct drv_object *now)
{
	for (size_t i = 0; i < old_count; i++) {
		if (old[i].handle != CK_INVALID_HANDLE && old[i].key_ref == now->key_ref &&
		    attr_equal(&old[i].attrs, &now->attrs, CKA_CLASS) &&
		    attr_equal(&old[i].attrs, &now->attrs, CKA_ID)) {
			CK_OBJECT_HANDLE h = old[i].handle;
			old[i].handle = CK_INVALID_HANDLE;	/* taken */
			return h;
		}
	}
	return CK_INVALID_HANDLE;
}

/* Read the token's objects from the driver (once, again after a write or a
 * reset); session objects stay. */
CK_RV
objects_reload(struct slot *slot, struct token *token)
{
	struct drv_objects list = { 0 };
	struct object *old = NULL;
	size_t old_count = 0;
	CK_RV rv;

	if (token->card.driver->load_objects == NULL) {
		token->objects_loaded = true;
		return CKR_OK;
	}
	rv = token_begin(slot);
	if (rv != CKR_OK)
		return rv;
	rv = token->card.driver->load_objects(&token->card, &list);
	token_end(slot, rv);
	if (rv != CKR_OK)
		goto out;
	token = slot->token;

	old = malloc((token->object_count + 1) * sizeof(*old));
	if (old == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	size_t kept = 0;
	for (size_t i = 0; i < token->object_count; i++) {
		if (token->objects[i].on_token)
			old[old_count++] = token->objects[i];
		else
			token->objects[kept++] = token->objects[i];
	}
	token->object_count = kept;
	for (size_t i = 0; i < list.count; i++) {
		struct object obj = { 0 };
		obj.attrs = list.items[i].attrs;
		obj.key_ref = list.items[i].key_ref;
		obj.on_token = true;
		rv = object_append(token, &obj, handle_before(old, old_count, &list.items[i]));
		if (rv != CKR_OK)
			goto out;
		/* Now owned by the token. */
		memset(&list.items[i].attrs, 0, sizeof(list.items[i].attrs));
	}
	token->objects_loaded = true;
	log_debug("objects: %zu loaded", list.count);
out:
	for (size_t i = 0; i < old_count; i++)
		object_free(&old[i]);
	free(old);
	drv_objects_free(&list);
	return rv;
}

CK_RV
objects_load(struct slot *slot, struct token *token)
{
	if (token->objects_loaded)
		return CKR_OK;
	return objects_reload(slot, token);
}

struct object *
object_get(struct token *token, CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < token->object_count; i++) {
		struct object *obj = &token->objects[i];
		if (obj->handle != h)
			continue;
		if (obj->is_private && !token_logged_in(token))
			return NULL;
		return obj;
	}
	return NULL;
}

bool
object_hidden(const struct token *token, CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < token->object_count; i++)
		if (token->objects[i].handle == h)
			return token->objects[i].is_private && !token_logged_in(token);
	return false;
}

CK_RV
object_add_session(struct token *token, CK_SESSION_HANDLE owner,
                   struct attr_list *attrs, CK_OBJECT_HANDLE *out)
{
	struct object obj = { 0 };
	obj.attrs = *attrs;
	obj.owner = owner;
	CK_RV rv = object_append(token, &obj, CK_INVALID_HANDLE);
	if (rv != CKR_OK)
		return rv;
	memset(attrs, 0, sizeof(*attrs));
	*out = token->objects[token->object_count - 1].handle;
	return CKR_OK;
}

CK_RV
object_session(CK_SESSION_HANDLE h, struct session **s, struct slot **slot,
               struct token **token)
{
	CK_RV rv = session_get(h, s, slot, token);
	if (rv != CKR_OK)
		return rv;
	rv = objects_load(*slot, *token);
	if (rv != CKR_OK)
		return rv;
	/* A removed card drops the token while loading. */
	if ((*slot)->token == NULL)
		return CKR_DEVICE_REMOVED;
	return CKR_OK;
}

KYSO_EXPORT CK_RV
C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct session *s;
	struct operation *op;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pTemplate == NULL && ulCount > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_start(hSession, OP_FIND, false, &s, &slot, &token, &op);
	if (rv != CKR_OK)
		goto out;
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	op->found = calloc(token->object_count + 1, sizeof(CK_OBJECT_HANDLE));
	if (op->found == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	for (size_t i = 0; i < token->object_count; i++) {
		struct object *obj = &token->objects[i];
		if (obj->is_private && !token_logged_in(token))
			continue;
		if (attr_match(&obj->attrs, pTemplate, ulCount))
			op->found[op->found_count++] = obj->handle;
	}
	op->kind = OP_FIND;
out:
	module_unlock();
	log_debug("C_FindObjectsInit: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
              CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (phObject == NULL || pulObjectCount == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = operation_active(hSession, OP_FIND, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	CK_ULONG n = 0;
	while (n < ulMaxObjectCount && op->found_pos < op->found_count)
		phObject[n++] = op->found[op->found_pos++];
	*pulObjectCount = n;
out:
	module_unlock();
	log_debug("C_FindObjects: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	struct session *s;
	struct operation *op;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	module_lock();
	rv = operation_active(hSession, OP_FIND, false, &s, NULL, NULL, &op);
	if (rv != CKR_OK)
		goto out;
	operation_reset(op);
out:
	module_unlock();
	log_debug("C_FindObjectsFinal: 0x%lx", (unsigned long)rv);
	return rv;
}

/* Attributes that never leave a sensitive or unextractable key
 * (PKCS#11 2.40 section 4.9, table 15 footnote 7). */
static bool
attribute_is_sensitive(const struct object *obj, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG cls = 0;
	bool sensitive = false, extractable = true;

	if (!attr_get_ulong(&obj->attrs, CKA_CLASS, &cls) ||
	    (cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY))
		return false;
	attr_get_bool(&obj->attrs, CKA_SENSITIVE, &sensitive);
	attr_get_bool(&obj->attrs, CKA_EXTRACTABLE, &extractable);
	if (!sensitive && extractable)
		return false;
	switch (type) {
	case CKA_VALUE:
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
		return true;
	default:
		return false;
	}
}

KYSO_EXPORT CK_RV
C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pTemplate == NULL && ulCount > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	struct object *obj = object_get(token, hObject);
	if (obj == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	/* Section 5.7 C_GetAttributeValue: every attribute is processed; the
	 * result reports one of the problems met. */
	for (CK_ULONG i = 0; i < ulCount; i++) {
		CK_ATTRIBUTE *t = &pTemplate[i];
		const CK_ATTRIBUTE *a = attr_find(&obj->attrs, t->type);
		if (attribute_is_sensitive(obj, t->type)) {
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_SENSITIVE;
		} else if (a == NULL) {
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (rv == CKR_OK)
				rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (t->pValue == NULL) {
			t->ulValueLen = a->ulValueLen;
		} else if (t->ulValueLen < a->ulValueLen) {
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (rv == CKR_OK)
				rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (a->ulValueLen)
				memcpy(t->pValue, a->pValue, a->ulValueLen);
			t->ulValueLen = a->ulValueLen;
		}
	}
out:
	module_unlock();
	log_debug("C_GetAttributeValue: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pTemplate == NULL && ulCount > 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	struct object *obj = object_get(token, hObject);
	if (obj == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	if (obj->on_token) {
		/* Card objects change only through the driver's write paths. */
		rv = CKR_ACTION_PROHIBITED;
		goto out;
	}
	for (CK_ULONG i = 0; i < ulCount && rv == CKR_OK; i++) {
		if (pTemplate[i].type == CKA_CLASS || pTemplate[i].type == CKA_TOKEN ||
		    pTemplate[i].type == CKA_PRIVATE)
			rv = CKR_ATTRIBUTE_READ_ONLY;
		else if (pTemplate[i].pValue == NULL && pTemplate[i].ulValueLen)
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
		else
			rv = attr_set(&obj->attrs, pTemplate[i].type, pTemplate[i].pValue,
			              pTemplate[i].ulValueLen);
	}
out:
	module_unlock();
	log_debug("C_SetAttributeValue: 0x%lx", (unsigned long)rv);
	return rv;
}

static bool
template_bool(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type, bool dflt)
{
	for (CK_ULONG i = 0; i < count; i++)
		if (tmpl[i].type == type && tmpl[i].pValue != NULL &&
		    tmpl[i].ulValueLen == sizeof(CK_BBOOL))
			return *(CK_BBOOL *)tmpl[i].pValue != CK_FALSE;
	return dflt;
}

/* After a driver wrote an object: the new object's handle, found by its
 * class and CKA_ID from the template. */
CK_OBJECT_HANDLE
object_find_written(struct token *token, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                    CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE want[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, NULL, 0 },
	};
	CK_ULONG n = 1;
	for (CK_ULONG i = 0; i < count; i++) {
		if (tmpl[i].type == CKA_ID) {
			want[1] = tmpl[i];
			n = 2;
		}
	}
	for (size_t i = token->object_count; i-- > 0;)
		if (token->objects[i].on_token && attr_match(&token->objects[i].attrs, want, n))
			return token->objects[i].handle;
	return CK_INVALID_HANDLE;
}

KYSO_EXPORT CK_RV
C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
               CK_OBJECT_HANDLE_PTR phObject)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	struct attr_list attrs = ATTR_LIST_INIT;
	CK_OBJECT_CLASS cls = 0;
	bool have_class = false;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pTemplate == NULL || ulCount == 0 || phObject == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < ulCount; i++) {
		if (pTemplate[i].pValue == NULL && pTemplate[i].ulValueLen) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			goto out;
		}
		if (pTemplate[i].type == CKA_CLASS) {
			if (pTemplate[i].ulValueLen != sizeof(cls)) {
				rv = CKR_ATTRIBUTE_VALUE_INVALID;
				goto out;
			}
			memcpy(&cls, pTemplate[i].pValue, sizeof(cls));
			have_class = true;
		}
	}
	if (!have_class) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	bool is_private = template_bool(pTemplate, ulCount, CKA_PRIVATE, false);
	if (is_private && !token_logged_in(token)) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	if (template_bool(pTemplate, ulCount, CKA_TOKEN, false)) {
		if (!(s->flags & CKF_RW_SESSION)) {
			rv = CKR_SESSION_READ_ONLY;
			goto out;
		}
		if (token->card.driver->create_object == NULL) {
			rv = CKR_FUNCTION_NOT_SUPPORTED;
			goto out;
		}
		rv = token_begin(slot);
		if (rv != CKR_OK)
			goto out;
		rv = token->card.driver->create_object(&token->card, pTemplate, ulCount);
		token_end(slot, rv);
		if (rv != CKR_OK)
			goto out;
		rv = objects_reload(slot, slot->token);
		if (rv != CKR_OK)
			goto out;
		*phObject = object_find_written(slot->token, pTemplate, ulCount, cls);
		if (*phObject == CK_INVALID_HANDLE)
			rv = CKR_DEVICE_ERROR;
		goto out;
	}
	for (CK_ULONG i = 0; i < ulCount && rv == CKR_OK; i++)
		rv = attr_set(&attrs, pTemplate[i].type, pTemplate[i].pValue,
		              pTemplate[i].ulValueLen);
	if (rv == CKR_OK && attr_find(&attrs, CKA_TOKEN) == NULL)
		rv = attr_set_bool(&attrs, CKA_TOKEN, false);
	if (rv == CKR_OK && attr_find(&attrs, CKA_PRIVATE) == NULL)
		rv = attr_set_bool(&attrs, CKA_PRIVATE, false);
	if (rv == CKR_OK)
		rv = object_add_session(token, s->handle, &attrs, phObject);
out:
	attr_list_free(&attrs);
	module_unlock();
	log_debug("C_CreateObject: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	struct object *obj = object_get(token, hObject);
	if (obj == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	if (!obj->on_token) {
		size_t idx = (size_t)(obj - token->objects);
		object_free(obj);
		memmove(&token->objects[idx], &token->objects[idx + 1],
		        (token->object_count - idx - 1) * sizeof(*obj));
		token->object_count--;
		goto out;
	}
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if (token->card.driver->destroy_object == NULL) {
		rv = CKR_ACTION_PROHIBITED;
		goto out;
	}
	rv = token_begin(slot);
	if (rv != CKR_OK)
		goto out;
	/* Again: token_begin() may have read the objects anew. */
	obj = object_get(token, hObject);
	if (obj == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
	} else {
		struct drv_object dobj = { obj->attrs, obj->key_ref };
		rv = token->card.driver->destroy_object(&token->card, &dobj);
	}
	token_end(slot, rv);
	if (rv == CKR_OK && slot->token != NULL)
		rv = objects_reload(slot, slot->token);
out:
	module_unlock();
	log_debug("C_DestroyObject: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pulSize == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = object_session(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	if (object_get(token, hObject) == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
		goto out;
	}
	*pulSize = CK_UNAVAILABLE_INFORMATION;
out:
	module_unlock();
	log_debug("C_GetObjectSize: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
             CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
	struct session *s;
	CK_RV rv;

	(void)hObject;
	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((pTemplate == NULL && ulCount > 0) || phNewObject == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, NULL, NULL);
	module_unlock();
	return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}
