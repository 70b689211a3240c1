/* A card's --state file, written so that a crash or a full disk leaves the
 * old state or the new one, never half of each: a temporary file beside
 * it, flushed to disk, then renamed over it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/vcard/vcard.h"

int
vcard_state_write(const char *path, const struct buf *text)
{
	size_t tlen = strlen(path) + sizeof ".tmp.XXXXXX";
	char *tmp = malloc(tlen);
	int fd = -1, rc = -1;
	size_t off = 0;

	if (tmp == NULL)
		goto out;
	snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		goto out;
	while (off < text->len) {
		ssize_t n = write(fd, text->data + off, text->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}
