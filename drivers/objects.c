#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"

struct drv_object *
drv_objects_add(struct drv_objects *list, uint32_t key_ref)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct drv_object *items = realloc(list->items, cap * sizeof(*items));
		if (items == NULL)
			return NULL;
		list->items = items;
		list->cap = cap;
	}
	struct drv_object *obj = &list->items[list->count++];
	memset(obj, 0, sizeof(*obj));
	obj->key_ref = key_ref;
	return obj;
}

void
drv_objects_free(struct drv_objects *list)
{
	for (size_t i = 0; i < list->count; i++)
		attr_list_free(&list->items[i].attrs);
	free(list->items);
	list->items = NULL;
	list->count = list->cap = 0;
}
