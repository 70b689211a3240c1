/* The card that answers from the fuzz input (fuzz_card.h), and its record
 * mode: the same harness, talking to kyso-vcard over the vpcd protocol
 * (2-byte big-endian length, then the message; a 1-byte message is a
 * control code), writes the input that replays what the card said. */
#include "tests/fuzz/fuzz_card.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/fuzz/fuzz.h"

/* Response room every caller of transmit gives (drivers/card/apdu.c): the
 * largest response plus SW1 SW2. */
#define FUZZ_RSP_ROOM 65538u
/* vpcd control codes (vsmartcard's vpcd.h). */
#define VPCD_CTRL_ON 1
/* How long record mode waits for kyso-vcard to connect. */
#define RECORD_ACCEPT_MS 30000

static int record_fd = -1;
static char record_path[4096];

/* ---- Record mode: a vpcd-protocol link to a live virtual card ---- */

static void
record_die(const char *what)
{
	fprintf(stderr, "fuzz record: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
record_write_all(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(record_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			record_die("send");
		p += w;
		n -= (size_t)w;
	}
}

static void
record_read_all(uint8_t *p, size_t n)
{
	int one = 1;

	/* Delayed ACK against vpcd-style two-part messages: see the lab
	 * notes (40 ms per message otherwise). */
	setsockopt(record_fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	while (n > 0) {
		ssize_t r = read(record_fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			record_die("receive (did the card stop?)");
		p += r;
		n -= (size_t)r;
	}
}

static void
record_send(const uint8_t *msg, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	record_write_all(hdr, 2);
	record_write_all(msg, len);
}

/* Listen on the port, wait for the card, keep the link for the process. */
static void
record_connect(const char *spec)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	const char *colon = strchr(spec, ':');
	long port = strtol(spec, NULL, 10);
	int lfd, one = 1;

	if (colon == NULL || port <= 0 || port > 65535 ||
	    strlen(colon + 1) >= sizeof(record_path)) {
		fprintf(stderr, "fuzz record: KYSO_FUZZ_RECORD=PORT:FILE\n");
		exit(2);
	}
	snprintf(record_path, sizeof(record_path), "%s", colon + 1);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		record_die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0)
		record_die("listen");
	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, RECORD_ACCEPT_MS) != 1) {
		fprintf(stderr, "fuzz record: no card connected to port %ld\n", port);
		exit(2);
	}
	record_fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (record_fd < 0)
		record_die("accept");
	close(lfd);
	setsockopt(record_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Append one response in the replay format. */
static void
record_response(struct buf *rec, const uint8_t *rsp, size_t n)
{
	uint8_t hdr[3];
	int rc;

	if (n < 0xFE) {
		hdr[0] = (uint8_t)n;
		rc = buf_append(rec, hdr, 1);
	} else {
		hdr[0] = 0xFF;
		hdr[1] = (uint8_t)((n - 3) >> 8);
		hdr[2] = (uint8_t)(n - 3);
		rc = buf_append(rec, hdr, 3);
	}
	if (rc != 0 || buf_append(rec, rsp, n) != 0) {
		fprintf(stderr, "fuzz record: out of memory\n");
		exit(2);
	}
}

static CK_RV
record_transmit(struct fuzz_card *fc, const uint8_t *cmd, size_t cmd_len,
                uint8_t *rsp, size_t *rsp_len)
{
	uint8_t hdr[2];
	size_t n;

	record_send(cmd, cmd_len);
	record_read_all(hdr, 2);
	n = (size_t)hdr[0] << 8 | hdr[1];
	FUZZ_CHECK(n <= *rsp_len);
	record_read_all(rsp, n);
	record_response(&fc->record, rsp, n);
	*rsp_len = n;
	return CKR_OK;
}

/* ---- Replay ---- */

void
fuzz_card_init(struct fuzz_card *fc, const uint8_t *data, size_t size)
{
	static bool log_ready;
	const char *spec = getenv("KYSO_FUZZ_RECORD");
	uint8_t on = VPCD_CTRL_ON;

	/* KYSO_DEBUG=1 shows the APDUs of a replayed input. */
	if (!log_ready) {
		log_init();
		log_ready = true;
	}
	memset(fc, 0, sizeof(*fc));
	fc->in = data;
	fc->left = size;
	if (spec == NULL || spec[0] == '\0')
		return;
	if (record_fd < 0)
		record_connect(spec);
	/* Power on: the card forgets its volatile state, as a new input
	 * starts from a card just inserted. */
	record_send(&on, 1);
	fc->recording = true;
}

bool
fuzz_card_take(struct fuzz_card *fc, size_t n, const uint8_t **p)
{
	bool ok = fc->left >= n;

	if (ok) {
		*p = fc->in;
		if (fc->recording && n > 0 && buf_append(&fc->record, fc->in, n) != 0) {
			fprintf(stderr, "fuzz record: out of memory\n");
			exit(2);
		}
		fc->in += n;
		fc->left -= n;
	}
	return ok;
}

uint8_t
fuzz_card_byte(struct fuzz_card *fc, uint8_t dflt)
{
	const uint8_t *p;

	return fuzz_card_take(fc, 1, &p) ? p[0] : dflt;
}

/* The command must be one well-formed APDU (ISO/IEC 7816-4 5.1, table 1),
 * in the extended form only on a card that takes it. */
static void
fuzz_card_check_command(const struct fuzz_card *fc, const uint8_t *cmd, size_t len)
{
	bool ok;

	FUZZ_CHECK(len >= 4);
	if (len == 4 || len == 5) {
		ok = true;				/* case 1, 2S */
	} else if (cmd[4] != 0) {
		ok = len == 5u + cmd[4] || len == 6u + cmd[4];	/* 3S, 4S */
	} else {
		size_t lc = (size_t)cmd[5] << 8 | cmd[6];
		FUZZ_CHECK(fc->extended);
		ok = len == 7 ||			/* 2E */
		     (lc > 0 && (len == 7 + lc || len == 9 + lc));
	}
	FUZZ_CHECK(ok);
}

CK_RV
fuzz_card_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *rsp,
                   size_t *rsp_len)
{
	struct fuzz_card *fc = ctx;
	const uint8_t *p;
	size_t n;
	CK_RV rv = CKR_DEVICE_REMOVED;

	fc->calls++;
	fuzz_card_check_command(fc, cmd, cmd_len);
	FUZZ_CHECK(*rsp_len >= FUZZ_RSP_ROOM);
	if (fc->recording) {
		rv = record_transmit(fc, cmd, cmd_len, rsp, rsp_len);
		goto out;
	}
	if (!fuzz_card_take(fc, 1, &p))
		goto out;
	n = p[0];
	if (n == 0xFE) {
		if (!fuzz_card_take(fc, 2, &p))
			goto out;
		n = (size_t)p[0] << 8 | p[1];
		memset(rsp, 0x5A, n);
		if (!fuzz_card_take(fc, 2, &p))
			goto out;
		rsp[n] = p[0];
		rsp[n + 1] = p[1];
		n += 2;
	} else {
		if (n == 0xFF) {
			if (!fuzz_card_take(fc, 2, &p))
				goto out;
			n = ((size_t)p[0] << 8 | p[1]) + 3;
		}
		if (n > fc->left)
			n = fc->left;
		if (n > 0 && fuzz_card_take(fc, n, &p))
			memcpy(rsp, p, n);
	}
	*rsp_len = n;
	rv = CKR_OK;
out:
	/* A card that is gone stays gone, whatever bytes are left. */
	if (rv == CKR_DEVICE_REMOVED)
		fc->left = 0;
	return rv;
}

static const struct transport_ops fuzz_card_ops = {
	.transmit = fuzz_card_transmit,
};

void
fuzz_card_attach(struct fuzz_card *fc, struct card *card)
{
	card->ops = &fuzz_card_ops;
	card->transport = fc;
}

void
fuzz_card_finish(struct fuzz_card *fc)
{
	FILE *fp;

	if (fc->recording) {
		fp = fopen(record_path, "wb");
		if (fp == NULL || fwrite(fc->record.data, 1, fc->record.len, fp) !=
		                  fc->record.len || fclose(fp) != 0) {
			fprintf(stderr, "fuzz record: cannot write %s\n", record_path);
			exit(2);
		}
		fprintf(stderr, "fuzz record: %zu bytes, %lu commands to %s\n",
		        fc->record.len, fc->calls, record_path);
	}
	buf_free(&fc->record);
}
