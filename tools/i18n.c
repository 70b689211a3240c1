/* The locale and the message catalog.
 *
 * Messages follow LANGUAGE, LC_ALL, LC_MESSAGES and LANG as gettext
 * documents. One addition: Debian ships only C.UTF-8 until an administrator
 * generates other locales (locale-gen), so LANG=vi_VN.UTF-8 alone would make
 * setlocale() fail and every message English. When the user's locale does
 * not exist, kyso runs in C.UTF-8 and takes the language from the variable
 * that named it, so a Vietnamese user reads Vietnamese without root. */
#include "tools/i18n.h"

#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KYSO_LOCALEDIR
#define KYSO_LOCALEDIR "/usr/local/share/locale"
#endif

/* The first of the POSIX locale variables that is set, as
 * setlocale(LC_MESSAGES, "") would pick it. */
static const char *
i18n_user_locale(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		v = getenv(vars[i]);
		if (v != NULL && v[0] != '\0')
			return v;
	}
	return NULL;
}

/* "vi_VN.UTF-8@x" -> LANGUAGE=vi_VN, unless LANGUAGE is set already. */
static void
i18n_language_from(const char *loc)
{
	char lang[64];
	size_t n;
	const char *cur = getenv("LANGUAGE");

	if (loc == NULL || (cur != NULL && cur[0] != '\0'))
		return;
	n = strcspn(loc, ".@");
	if (n == 0 || n >= sizeof(lang))
		return;
	memcpy(lang, loc, n);
	lang[n] = '\0';
	if (strcmp(lang, "C") == 0 || strcmp(lang, "POSIX") == 0)
		return;
	setenv("LANGUAGE", lang, 1);
}

/* The catalogs: KYSO_LOCALEDIR from the environment; else, for a kyso run
 * from its build directory, the po/ folder meson builds next to it; else
 * the installed ones. */
static const char *
i18n_dir(char *buf, size_t len)
{
	const char *env = secure_getenv("KYSO_LOCALEDIR");
	char exe[PATH_MAX];
	struct stat st;
	ssize_t n;
	char *slash;

	if (env != NULL && env[0] != '\0')
		return env;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(buf, len, "%s/po", exe) < len &&
			    stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
				return buf;
		}
	}
	return KYSO_LOCALEDIR;
}

void
i18n_init(void)
{
	char dir[PATH_MAX];

	if (setlocale(LC_ALL, "") == NULL) {
		i18n_language_from(i18n_user_locale());
		if (setlocale(LC_ALL, "C.UTF-8") == NULL)
			setlocale(LC_ALL, "C");
	}
	bindtextdomain("kyso", i18n_dir(dir, sizeof(dir)));
	textdomain("kyso");
}
