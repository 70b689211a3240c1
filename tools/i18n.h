/* Messages in the user's language: gettext from the C library, domain
 * "kyso", catalogs in tools/po (English is the source language). */
#ifndef KYSO_TOOL_I18N_H
#define KYSO_TOOL_I18N_H

#include <libintl.h>

#define _(s) gettext(s)
/* Singular and plural by the count `n`. */
#define P_(s, p, n) ngettext(s, p, (unsigned long)(n))
/* A string translated later, where it is used. */
#define N_(s) (s)

/* Set the locale from the environment and find the catalogs. */
void i18n_init(void);

#endif
