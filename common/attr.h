/* An owned list of PKCS#11 attributes: how a driver describes an object to
 * the module, and how the module stores it. Values are copied in. */
#ifndef KYSO_ATTR_H
#define KYSO_ATTR_H

#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

struct attr_list {
	CK_ATTRIBUTE *items;
	size_t count;
	size_t cap;
};

#define ATTR_LIST_INIT { NULL, 0, 0 }

/* Each returns CKR_OK or CKR_HOST_MEMORY. Setting a type again replaces it. */
CK_RV attr_set(struct attr_list *l, CK_ATTRIBUTE_TYPE type, const void *value, size_t len);
CK_RV attr_set_ulong(struct attr_list *l, CK_ATTRIBUTE_TYPE type, CK_ULONG value);
CK_RV attr_set_bool(struct attr_list *l, CK_ATTRIBUTE_TYPE type, bool value);
CK_RV attr_set_string(struct attr_list *l, CK_ATTRIBUTE_TYPE type, const char *value);

const CK_ATTRIBUTE *attr_find(const struct attr_list *l, CK_ATTRIBUTE_TYPE type);
bool attr_get_ulong(const struct attr_list *l, CK_ATTRIBUTE_TYPE type, CK_ULONG *value);
bool attr_get_bool(const struct attr_list *l, CK_ATTRIBUTE_TYPE type, bool *value);
/* True when every attribute of the template is present with an equal value. */
bool attr_match(const struct attr_list *l, const CK_ATTRIBUTE *tmpl, CK_ULONG count);
void attr_list_free(struct attr_list *l);

#endif
