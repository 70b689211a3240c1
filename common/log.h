/* Debug log: off by default, one branch when off.
 *
 * KYSO_DEBUG=1 (or "debug = 1" in kyso.conf) turns it on, KYSO_DEBUG_FILE=PATH
 * sends it to a file instead of stderr. Callers never pass PINs or key
 * material: log_apdu() masks the data of commands that carry secrets. */
#ifndef KYSO_LOG_H
#define KYSO_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern int kyso_log_level;	/* 0 = off; read once by log_init() */

void log_init(void);
void log_close(void);
void log_write(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An APDU or response, hex. `secret` masks the data field. */
void log_hex(const char *what, const uint8_t *data, size_t len, bool secret);

#define log_debug(...) \
	do { if (kyso_log_level > 0) log_write(__VA_ARGS__); } while (0)

#endif
