/* kyso.conf: the few knobs users need.
 *
 * Read once from KYSO_CONF if set, else from /etc/kyso/kyso.conf and then
 * $XDG_CONFIG_HOME/kyso/kyso.conf (or ~/.config/kyso/kyso.conf), the later
 * overriding the earlier. Lines are `key = value`; `#` starts a comment.
 * Keys: debug, debug_file, reader_allow, reader_deny (comma-separated
 * substrings of reader names), cache (yes/no), piv_management_key (hex). See docs/configuration.md. */
#ifndef KYSO_CONFIG_H
#define KYSO_CONFIG_H

#include <stdbool.h>

void config_load(void);
void config_free(void);
/* The value of `key`, or NULL. Valid until config_free(). */
const char *config_get(const char *key);
/* Whether a reader with this name passes reader_allow / reader_deny. */
bool config_reader_allowed(const char *reader_name);

#endif
