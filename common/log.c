#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"

int kyso_log_level;

static FILE *log_file;
static bool log_file_owned;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
log_init(void)
{
	const char *env = getenv("KYSO_DEBUG");
	const char *conf = config_get("debug");
	const char *level = env ? env : conf;

	log_close();
	kyso_log_level = level ? atoi(level) : 0;
	if (kyso_log_level <= 0) {
		kyso_log_level = 0;
		return;
	}
	const char *path = getenv("KYSO_DEBUG_FILE");
	if (path == NULL)
		path = config_get("debug_file");
	if (path != NULL) {
		log_file = fopen(path, "ae");
		log_file_owned = log_file != NULL;
	}
	if (log_file == NULL)
		log_file = stderr;
}

void
log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_file_owned)
		fclose(log_file);
	log_file = NULL;
	log_file_owned = false;
	pthread_mutex_unlock(&log_lock);
	kyso_log_level = 0;
}

void
log_write(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&log_lock);
	if (log_file == NULL)
		goto out;
	fprintf(log_file, "kyso[%ld] %ld.%03ld ", (long)getpid(), (long)ts.tv_sec,
	        ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
	fflush(log_file);
out:
	pthread_mutex_unlock(&log_lock);
}

void
log_hex(const char *what, const uint8_t *data, size_t len, bool secret)
{
	/* A command APDU's header (4 bytes) and length bytes stay visible; with
	 * `secret` everything after the header is masked, so a PIN or key never
	 * reaches the log even in part. */
	char line[3 * 64 + 32];
	size_t shown = len < 64 ? len : 64;
	size_t pos = 0;

	if (kyso_log_level <= 0)
		return;
	for (size_t i = 0; i < shown; i++) {
		if (secret && i >= 5)
			pos += (size_t)snprintf(line + pos, sizeof(line) - pos, "**");
		else
			pos += (size_t)snprintf(line + pos, sizeof(line) - pos, "%02X", data[i]);
		if (i + 1 < shown)
			line[pos++] = ' ';
		line[pos] = '\0';
	}
	if (shown == 0)
		line[0] = '\0';
	log_write("%s %s%s (%zu bytes)", what, line, len > shown ? " ..." : "", len);
}
