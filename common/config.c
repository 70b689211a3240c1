#include "common/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KYSO_SYSCONFDIR
#define KYSO_SYSCONFDIR "/etc/kyso"
#endif

#define CONFIG_MAX_ENTRIES 32

struct config_entry {
	char *key;
	char *value;
};

static struct config_entry entries[CONFIG_MAX_ENTRIES];
static size_t entry_count;

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static void
config_put(const char *key, const char *value)
{
	for (size_t i = 0; i < entry_count; i++) {
		if (strcmp(entries[i].key, key) == 0) {
			char *v = strdup(value);
			if (v == NULL)
				return;
			free(entries[i].value);
			entries[i].value = v;
			return;
		}
	}
	if (entry_count == CONFIG_MAX_ENTRIES)
		return;
	char *k = strdup(key);
	char *v = strdup(value);
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return;
	}
	entries[entry_count].key = k;
	entries[entry_count].value = v;
	entry_count++;
}

static void
config_read_file(const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		char *key = trim(line);
		char *value = trim(eq + 1);
		if (*key != '\0')
			config_put(key, value);
	}
	fclose(f);
}

void
config_load(void)
{
	char path[4096];
	const char *explicit_path = getenv("KYSO_CONF");

	config_free();
	if (explicit_path != NULL) {
		config_read_file(explicit_path);
		return;
	}
	config_read_file(KYSO_SYSCONFDIR "/kyso.conf");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg != NULL && *xdg != '\0')
		snprintf(path, sizeof(path), "%s/kyso/kyso.conf", xdg);
	else if (home != NULL && *home != '\0')
		snprintf(path, sizeof(path), "%s/.config/kyso/kyso.conf", home);
	else
		return;
	config_read_file(path);
}

void
config_free(void)
{
	for (size_t i = 0; i < entry_count; i++) {
		free(entries[i].key);
		free(entries[i].value);
	}
	entry_count = 0;
}

const char *
config_get(const char *key)
{
	for (size_t i = 0; i < entry_count; i++)
		if (strcmp(entries[i].key, key) == 0)
			return entries[i].value;
	return NULL;
}

/* Whether `name` contains any of the comma-separated substrings in `list`. */
static bool
name_in_list(const char *name, const char *list)
{
	char item[256];

	while (*list != '\0') {
		size_t n = strcspn(list, ",");
		if (n < sizeof(item)) {
			memcpy(item, list, n);
			item[n] = '\0';
			char *t = trim(item);
			if (*t != '\0' && strstr(name, t) != NULL)
				return true;
		}
		list += n;
		if (*list == ',')
			list++;
	}
	return false;
}

bool
config_reader_allowed(const char *reader_name)
{
	const char *allow = config_get("reader_allow");
	const char *deny = config_get("reader_deny");

	if (deny != NULL && name_in_list(reader_name, deny))
		return false;
	if (allow != NULL && *allow != '\0' && !name_in_list(reader_name, allow))
		return false;
	return true;
}
