/* kyso-vcard: plays a card behind one of vsmartcard's vpcd readers.
 *
 * vpcd (the PC/SC reader driver) listens on a TCP port; the card is the
 * client. Every message both ways is a 2-byte big-endian length and that
 * many bytes. A 1-byte message from vpcd is a control code, anything longer
 * a command APDU that gets one response APDU back.
 *
 * This file owns what every card shares: the vpcd link, the APDU counter,
 * strict parsing of the four command cases, command chaining, and handing
 * out long responses in 61xx pieces through GET RESPONSE. Card types see
 * whole commands only. */
#include "tests/vcard/vcard.h"
#include "tests/vcard/chaos.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* vpcd control codes (vsmartcard, src/vpcd/vpcd.h). */
enum {
	VPCD_CTRL_OFF = 0,
	VPCD_CTRL_ON = 1,
	VPCD_CTRL_RESET = 2,
	VPCD_CTRL_ATR = 4,
};

/* A vpcd message carries at most 0xFFFF bytes: the response data of one
 * APDU can be no longer than that minus SW1 SW2. */
#define VPCD_MSG_MAX 0xFFFFu
#define RSP_DATA_MAX (VPCD_MSG_MAX - 2u)
/* Largest command a chain may add up to. */
#define CHAIN_MAX (64u * 1024u)
#define RETRY_MS 100
#define FIRST_CONNECT_MS 10000

/* ISO 7816-4 status words used here (5.6, tables 5 and 6). */
#define SW_OK			0x9000u
#define SW_WRONG_LENGTH		0x6700u
#define SW_LAST_CMD_EXPECTED	0x6883u
#define SW_CONDITIONS		0x6985u
#define SW_WRONG_P1P2		0x6A86u
#define SW_CLA_NOT_SUPPORTED	0x6E00u

#define INS_GET_RESPONSE 0xC0u

struct vcard {
	const struct vcard_type *type;
	void *card;
	unsigned long apdus;

	/* Command chaining in progress (ISO 7816-4 5.1.1.1): the header of
	 * the first piece and the data of all pieces so far. */
	bool chaining;
	uint8_t chain_cla, chain_ins, chain_p1, chain_p2;
	struct buf chain;

	/* Response data not handed out yet, for GET RESPONSE (7.6.1), and
	 * the status word that ends it. */
	bool pending;
	struct buf pending_data;
	size_t pending_off;
	uint16_t pending_sw;

	/* --chaos: the hostile layer between the card and vpcd, or NULL. */
	struct chaos *chaos;
};

static const struct vcard_type *const vcard_types[] = {
	&vcard_unknown,
	&vcard_piv,
	&vcard_epass2003,
};

/* Signals only set a flag and poke the self-pipe, so that the loop wakes
 * from poll() and does the work outside the handler. */
static volatile sig_atomic_t quit_requested;
static volatile sig_atomic_t report_requested;
static int signal_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;
	char c = 0;

	if (sig == SIGUSR1)
		report_requested = 1;
	else
		quit_requested = 1;
	if (write(signal_pipe[1], &c, 1) < 0) {
		/* The pipe is full: the loop is awake anyway. */
	}
	errno = saved;
}

static int
signals_setup(void)
{
	struct sigaction sa;
	int rc = -1;

	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		perror("kyso-vcard: pipe");
		goto out;
	}
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocked read returns EINTR and the loop looks at
	 * the flags. */
	sa.sa_handler = on_signal;
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGUSR1, &sa, NULL) != 0) {
		perror("kyso-vcard: sigaction");
		goto out;
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		perror("kyso-vcard: sigaction");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static void
report_count(const struct vcard *vc)
{
	printf("kyso-vcard: apdus=%lu\n", vc->apdus);
	fflush(stdout);
}

/* Empty the self-pipe and act on the flags. Returns true when asked to
 * quit. */
static bool
signals_handle(const struct vcard *vc)
{
	char drain[64];

	while (read(signal_pipe[0], drain, sizeof drain) > 0)
		;
	if (report_requested) {
		report_requested = 0;
		report_count(vc);
	}
	return quit_requested != 0;
}

/* Wait up to `ms` for a signal. Returns true when asked to quit. */
static bool
signals_wait(const struct vcard *vc, int ms)
{
	struct pollfd pfd = { .fd = signal_pipe[0], .events = POLLIN };

	if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
		perror("kyso-vcard: poll");
	return signals_handle(vc);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stay silent for `ms` (chaos stall), waking only to quit. Returns true
 * when asked to quit. */
static bool
signals_sleep(const struct vcard *vc, unsigned ms)
{
	long long deadline = now_ms() + ms;
	bool quit = false;

	while (!quit && now_ms() < deadline)
		quit = signals_wait(vc, (int)(deadline - now_ms()));
	return quit;
}

static int
socket_tune(int fd)
{
	int one = 1;

	/* vpcd writes the length and the payload in two send()s: without
	 * TCP_NODELAY here and TCP_QUICKACK before every read, Nagle on one
	 * side and delayed ACK on the other cost ~40 ms per message. */
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int
connect_once(const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL;
	int fd = -1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		goto out;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    socket_tune(fd) == 0)
			break;
		close(fd);
		fd = -1;
	}
out:
	if (res != NULL)
		freeaddrinfo(res);
	return fd;
}

/* Connect to vpcd, retrying every RETRY_MS: pcscd may still be starting, or
 * restarting. `limit_ms` < 0 retries until a signal says quit. */
static int
connect_retry(struct vcard *vc, const char *host, const char *port, int limit_ms)
{
	long long deadline = now_ms() + limit_ms;
	int fd = -1;

	for (;;) {
		if (signals_handle(vc))
			break;
		fd = connect_once(host, port);
		if (fd >= 0)
			break;
		if (limit_ms >= 0 && now_ms() >= deadline) {
			fprintf(stderr, "kyso-vcard: no vpcd reader at %s port %s\n",
			        host, port);
			break;
		}
		if (signals_wait(vc, RETRY_MS))
			break;
	}
	return fd;
}

/* Read exactly `len` bytes. 0 on success, -1 on EOF or error. */
static int
read_full(int fd, uint8_t *p, size_t len)
{
	int one = 1;
	size_t got = 0;

	while (got < len) {
		/* TCP_QUICKACK is not sticky: the kernel may fall back to
		 * delayed ACKs after any read, so re-arm it every time. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
		ssize_t n = recv(fd, p + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Send one vpcd message: length and payload in one write. */
static int
send_msg(int fd, const uint8_t *data, size_t len)
{
	struct buf frame = BUF_INIT;
	size_t sent = 0;
	int rc = -1;

	if (len > VPCD_MSG_MAX)
		goto out;
	if (buf_append_byte(&frame, (uint8_t)(len >> 8)) != 0 ||
	    buf_append_byte(&frame, (uint8_t)len) != 0 ||
	    buf_append(&frame, data, len) != 0)
		goto out;
	while (sent < frame.len) {
		ssize_t n = send(fd, frame.data + sent, frame.len - sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		sent += (size_t)n;
	}
	rc = 0;
out:
	buf_free(&frame);
	return rc;
}

/* Whether CLA bit 5 (0x10) means "more commands of this chain follow":
 * true for the interindustry classes 0x00-0x7F and for 0x80-0xAF, which
 * ISO 7816-4 5.1.1 structures like the first interindustry class. */
static bool
cla_has_chaining_bit(uint8_t cla)
{
	return cla < 0xB0u && (cla & 0x10u) != 0;
}

/* Decode a command APDU strictly as one of the four cases of ISO 7816-4
 * 5.1 (short or extended length). 0 on success, -1 when the bytes fit no
 * case. `cmd->cla` keeps the chaining bit; the caller clears it. */
static int
apdu_parse(const uint8_t *a, size_t len, struct vcard_cmd *cmd)
{
	size_t body;

	memset(cmd, 0, sizeof *cmd);
	if (len < 4)
		return -1;
	cmd->cla = a[0];
	cmd->ins = a[1];
	cmd->p1 = a[2];
	cmd->p2 = a[3];
	body = len - 4;
	if (body == 0)				/* case 1 */
		return 0;
	if (body == 1) {			/* case 2S */
		cmd->le_present = true;
		cmd->le = a[4] ? a[4] : 256;
		return 0;
	}
	if (a[4] != 0) {			/* short Lc */
		size_t lc = a[4];
		cmd->lc = lc;
		cmd->data = a + 5;
		if (body == 1 + lc)		/* case 3S */
			return 0;
		if (body == 2 + lc) {		/* case 4S */
			cmd->le_present = true;
			cmd->le = a[5 + lc] ? a[5 + lc] : 256;
			return 0;
		}
		return -1;
	}
	/* a[4] == 0 with more bytes: extended length. */
	cmd->extended = true;
	if (body < 3)
		return -1;
	if (body == 3) {			/* case 2E */
		size_t le = ((size_t)a[5] << 8) | a[6];
		cmd->le_present = true;
		cmd->le = le ? le : 65536;
		return 0;
	}
	size_t lc = ((size_t)a[5] << 8) | a[6];
	if (lc == 0)
		return -1;
	cmd->lc = lc;
	cmd->data = a + 7;
	if (body == 3 + lc)			/* case 3E */
		return 0;
	if (body == 5 + lc) {			/* case 4E */
		size_t le = ((size_t)a[7 + lc] << 8) | a[8 + lc];
		cmd->le_present = true;
		cmd->le = le ? le : 65536;
		return 0;
	}
	return -1;
}

static void
chain_abort(struct vcard *vc)
{
	vc->chaining = false;
	buf_clear(&vc->chain);
}

static void
pending_drop(struct vcard *vc)
{
	vc->pending = false;
	vc->pending_off = 0;
	buf_clear(&vc->pending_data);
}

/* Power off, power on, reset: the card forgets everything volatile. */
static void
vcard_reset(struct vcard *vc)
{
	chain_abort(vc);
	pending_drop(vc);
	vc->type->reset(vc->card);
}

static int
out_sw(struct buf *out, uint16_t sw)
{
	if (buf_append_byte(out, (uint8_t)(sw >> 8)) != 0 ||
	    buf_append_byte(out, (uint8_t)sw) != 0)
		return -1;
	return 0;
}

/* Hand out at most `ne` bytes of the pending response. What does not fit
 * stays for GET RESPONSE and SW 61xx says how much is left, 00 meaning 256
 * or more (ISO 7816-4 5.6, 7.6.1), as a short-APDU card does. */
static int
pending_serve(struct vcard *vc, size_t ne, struct buf *out)
{
	size_t left = vc->pending_data.len - vc->pending_off;
	size_t take = left < ne ? left : ne;
	int rc = -1;

	if (buf_append(out, vc->pending_data.data + vc->pending_off, take) != 0)
		goto out;
	vc->pending_off += take;
	left -= take;
	if (left > 0) {
		rc = out_sw(out, (uint16_t)(0x6100u | (left >= 256 ? 0 : left)));
		goto out;
	}
	rc = out_sw(out, vc->pending_sw);
	pending_drop(vc);
out:
	return rc;
}

/* How many data bytes the response to `cmd` may carry in one go. */
static size_t
response_room(const struct vcard *vc, const struct vcard_cmd *cmd)
{
	/* A card that takes extended APDUs answers them whole. */
	if (cmd->extended && vc->type->extended)
		return RSP_DATA_MAX;
	/* Short APDUs with Le absent: ISO 7816-4 5.1 says no data is expected,
	 * but YubiKeys and most T=1 cards answer as if Le were 256, and
	 * yubico-piv-tool and ykman rely on it. */
	if (vc->type->short_le_ignored)
		return RSP_DATA_MAX;
	return cmd->le_present ? cmd->le : 256;
}

static bool
sw_carries_data(uint16_t sw)
{
	/* Only normal processing (9000) and warnings (62xx, 63xx) come with
	 * response data; an error has none (ISO 7816-4 5.6). */
	return sw == SW_OK || (sw >> 8) == 0x62 || (sw >> 8) == 0x63;
}

static int
get_response(struct vcard *vc, const struct vcard_cmd *cmd, struct buf *out)
{
	int rc;

	/* ISO 7816-4 7.6.1: P1-P2 are 0000 and there is no command data. */
	if (cmd->p1 != 0 || cmd->p2 != 0)
		rc = out_sw(out, SW_WRONG_P1P2);
	else if (cmd->lc != 0)
		rc = out_sw(out, SW_WRONG_LENGTH);
	else
		rc = pending_serve(vc, response_room(vc, cmd), out);
	return rc;
}

/* The whole (de-chained) command goes to the card type. */
static int
dispatch(struct vcard *vc, const struct vcard_cmd *cmd, struct buf *out)
{
	struct buf rsp = BUF_INIT;
	uint16_t sw = 0x6F00;		/* no precise diagnosis */
	int rc = -1;

	vc->type->process(vc->card, cmd, &rsp, &sw);
	if (!(sw_carries_data(sw) || vc->type->errors_carry_data) ||
	    rsp.len == 0) {
		rc = out_sw(out, sw);
		goto out;
	}
	if (buf_set(&vc->pending_data, rsp.data, rsp.len) != 0)
		goto out;
	vc->pending = true;
	vc->pending_off = 0;
	vc->pending_sw = sw;
	rc = pending_serve(vc, response_room(vc, cmd), out);
out:
	buf_free(&rsp);
	return rc;
}

/* One command APDU in, one response APDU out. */
static int
vcard_apdu(struct vcard *vc, const uint8_t *apdu, size_t len, struct buf *out)
{
	struct vcard_cmd cmd;
	bool more;
	int rc = -1;

	vc->apdus++;
	if (apdu_parse(apdu, len, &cmd) != 0 ||
	    (cmd.extended && !vc->type->extended)) {
		/* A card without extended length rejects it as a wrong
		 * length, like any malformed command. */
		chain_abort(vc);
		pending_drop(vc);
		rc = out_sw(out, SW_WRONG_LENGTH);
		goto out;
	}
	if (cmd.cla == 0xFF) {
		/* CLA FF is reserved for PPS (ISO 7816-4 5.1.1). */
		chain_abort(vc);
		pending_drop(vc);
		rc = out_sw(out, SW_CLA_NOT_SUPPORTED);
		goto out;
	}
	more = cla_has_chaining_bit(cmd.cla);
	if (more)
		cmd.cla &= (uint8_t)~0x10u;

	if (!vc->chaining && !more && cmd.ins == INS_GET_RESPONSE) {
		if (vc->pending)
			rc = get_response(vc, &cmd, out);
		else
			rc = out_sw(out, SW_CONDITIONS);
		goto out;
	}
	/* Any other command discards what GET RESPONSE did not fetch. */
	pending_drop(vc);

	if (vc->chaining) {
		/* Every piece of a chain is the same command (5.1.1.1); a
		 * different one ends the chain unexecuted. */
		if (cmd.cla != vc->chain_cla || cmd.ins != vc->chain_ins ||
		    cmd.p1 != vc->chain_p1 || cmd.p2 != vc->chain_p2) {
			chain_abort(vc);
			rc = out_sw(out, SW_LAST_CMD_EXPECTED);
			goto out;
		}
	} else if (more) {
		vc->chaining = true;
		vc->chain_cla = cmd.cla;
		vc->chain_ins = cmd.ins;
		vc->chain_p1 = cmd.p1;
		vc->chain_p2 = cmd.p2;
		buf_clear(&vc->chain);
	}

	if (vc->chaining) {
		if (cmd.lc > CHAIN_MAX - vc->chain.len) {
			chain_abort(vc);
			rc = out_sw(out, SW_WRONG_LENGTH);
			goto out;
		}
		if (buf_append(&vc->chain, cmd.data, cmd.lc) != 0)
			goto out;
		if (more) {
			rc = out_sw(out, SW_OK);
			goto out;
		}
		/* The last piece: the whole command, with the last piece's
		 * Le and length form. */
		cmd.data = vc->chain.data;
		cmd.lc = vc->chain.len;
		vc->chaining = false;
	}
	rc = dispatch(vc, &cmd, out);
	buf_clear(&vc->chain);
out:
	return rc;
}

/* Serve one vpcd message. 0 when the link is still good. */
static int
vcard_message(struct vcard *vc, int fd, const uint8_t *msg, size_t len)
{
	struct buf out = BUF_INIT;
	uint8_t atr[33];
	int rc = 0;

	/* The protocol cannot tell a 1-byte "APDU" from a control code: such
	 * a message is always taken as a control code (no answer). */
	if (len == 1) {
		switch (msg[0]) {
		case VPCD_CTRL_OFF:
		case VPCD_CTRL_ON:
		case VPCD_CTRL_RESET:
			vcard_reset(vc);
			break;
		case VPCD_CTRL_ATR:
			rc = send_msg(fd, atr, vc->type->atr(vc->card, atr));
			break;
		default:
			fprintf(stderr, "kyso-vcard: unknown vpcd control code %u\n",
			        msg[0]);
			break;
		}
		goto out;
	}
	if (len == 0)
		goto out;
	if (vc->chaos != NULL && chaos_intercept(vc->chaos, msg, len, &out)) {
		vc->apdus++;
	} else {
		rc = vcard_apdu(vc, msg, len, &out);
		if (rc == 0 && vc->chaos != NULL) {
			unsigned stall_ms = 0;
			chaos_corrupt(vc->chaos, msg, len, &out, &stall_ms);
			if (stall_ms > 0 && signals_sleep(vc, stall_ms))
				rc = -1;
		}
	}
	if (rc == 0)
		rc = send_msg(fd, out.data, out.len);
out:
	buf_free(&out);
	return rc;
}

/* Serve vpcd on `fd` until it hangs up (returns 0), a signal says quit
 * (returns 1), --drop-after is reached (returns 2) or the card cannot go
 * on (returns -1). */
static int
serve(struct vcard *vc, int fd, unsigned long drop_after)
{
	uint8_t *msg = malloc(VPCD_MSG_MAX);
	int rc = 0;

	if (msg == NULL) {
		fprintf(stderr, "kyso-vcard: out of memory\n");
		rc = -1;
		goto out;
	}
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = signal_pipe[0], .events = POLLIN },
		};
		uint8_t hdr[2];
		size_t len;

		if (signals_handle(vc)) {
			rc = 1;
			break;
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("kyso-vcard: poll");
			rc = -1;
			break;
		}
		if (pfd[0].revents == 0)
			continue;
		if (read_full(fd, hdr, sizeof hdr) != 0)
			break;
		len = ((size_t)hdr[0] << 8) | hdr[1];
		if (read_full(fd, msg, len) != 0)
			break;
		if (vcard_message(vc, fd, msg, len) != 0)
			break;
		if (drop_after != 0 && vc->apdus >= drop_after) {
			rc = 2;
			break;
		}
	}
out:
	free(msg);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: kyso-vcard --type TYPE --port PORT [--host ADDR] "
	        "[--state FILE] [--provision NAME] [--drop-after N]\n"
	        "                  [--chaos SEED [--chaos-rate PERCENT] "
	        "[--chaos-stall-ms MS]\n"
	        "                   [--chaos-kinds LIST] [--chaos-log FILE]]\n"
	        "  --chaos SEED         a hostile card: corrupt a share of the answers\n"
	        "                       (truncated data, bumped TLV lengths, bogus and\n"
	        "                       oversized TLVs, wrong status words: 61xx, 6Cxx,\n"
	        "                       63Cx, 9000 without data; endless 61xx, the answer\n"
	        "                       to another command, one silent stall);\n"
	        "                       the same seed and commands give the same faults\n"
	        "  --chaos-rate PERCENT share of answers corrupted (1-100, default %u)\n"
	        "  --chaos-stall-ms MS  how long the one stall lasts (0: none, default %u)\n"
	        "  --chaos-kinds LIST   only these faults (comma-separated) of:\n"
	        "                       %s\n"
	        "  --chaos-log FILE     append one line per fault there (default: stderr)\n"
	        "types:", CHAOS_RATE_DEFAULT, CHAOS_STALL_MS_DEFAULT,
	        chaos_kind_names());
	for (size_t i = 0; i < sizeof vcard_types / sizeof vcard_types[0]; i++)
		fprintf(f, " %s", vcard_types[i]->name);
	fprintf(f, "\n");
}

static int
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "state", required_argument, NULL, 's' },
		{ "provision", required_argument, NULL, 'P' },
		{ "drop-after", required_argument, NULL, 'd' },
		{ "chaos", required_argument, NULL, 'c' },
		{ "chaos-rate", required_argument, NULL, 'r' },
		{ "chaos-stall-ms", required_argument, NULL, 'S' },
		{ "chaos-log", required_argument, NULL, 'L' },
		{ "chaos-kinds", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vcard vc = { .chain = BUF_INIT, .pending_data = BUF_INIT };
	struct vcard_options opt = { NULL, NULL };
	const char *type_name = NULL, *host = "127.0.0.1", *port = NULL;
	unsigned long port_num = 0, drop_after = 0, num = 0;
	struct chaos_options chaos_opt = {
		0, CHAOS_RATE_DEFAULT, CHAOS_STALL_MS_DEFAULT, NULL, 0,
	};
	bool chaos_on = false;
	int fd = -1, served = 0, rc = 2, c;

	/* First of all: a SIGUSR1 must never kill the card. */
	if (signals_setup() != 0)
		return 1;

	while ((c = getopt_long(argc, argv, "t:p:H:s:P:d:c:r:S:L:K:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			type_name = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 's':
			opt.state_file = optarg;
			break;
		case 'P':
			opt.provision = optarg;
			break;
		case 'd':
			if (parse_ulong(optarg, 1000000000ul, &drop_after) != 0 ||
			    drop_after == 0) {
				fprintf(stderr, "kyso-vcard: bad --drop-after %s\n", optarg);
				goto out;
			}
			break;
		case 'c':
			if (parse_ulong(optarg, ULONG_MAX, &chaos_opt.seed) != 0) {
				fprintf(stderr, "kyso-vcard: bad --chaos %s\n", optarg);
				goto out;
			}
			chaos_on = true;
			break;
		case 'r':
		case 'S':
			if (parse_ulong(optarg, c == 'r' ? 100 : 3600000, &num) != 0 ||
			    (c == 'r' && num == 0)) {
				fprintf(stderr, "kyso-vcard: bad --chaos-%s %s\n",
				        c == 'r' ? "rate" : "stall-ms", optarg);
				goto out;
			}
			if (c == 'r')
				chaos_opt.rate = (unsigned)num;
			else
				chaos_opt.stall_ms = (unsigned)num;
			break;
		case 'L':
			chaos_opt.log_path = optarg;
			break;
		case 'K':
			if (chaos_parse_kinds(optarg, &chaos_opt.kinds) != 0)
				goto out;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc || type_name == NULL || port == NULL ||
	    parse_ulong(port, 65535, &port_num) != 0 || port_num == 0) {
		usage(stderr);
		goto out;
	}
	for (size_t i = 0; i < sizeof vcard_types / sizeof vcard_types[0]; i++)
		if (strcmp(vcard_types[i]->name, type_name) == 0)
			vc.type = vcard_types[i];
	if (vc.type == NULL) {
		fprintf(stderr, "kyso-vcard: unknown card type '%s'\n", type_name);
		usage(stderr);
		goto out;
	}
	rc = 1;
	if (chaos_on) {
		vc.chaos = chaos_create(&chaos_opt);
		if (vc.chaos == NULL)
			goto out;
	}
	vc.card = vc.type->create(&opt);
	if (vc.card == NULL)
		goto out;

	fd = connect_retry(&vc, host, port, FIRST_CONNECT_MS);
	while (fd >= 0) {
		served = serve(&vc, fd, drop_after);
		close(fd);
		fd = -1;
		if (served != 0)
			break;
		/* vpcd hung up: pcscd stopped. Keep the card and wait for the
		 * next pcscd, which powers it on again. */
		vcard_reset(&vc);
		fd = connect_retry(&vc, host, port, -1);
	}
	if (served == 1 || served == 2 || quit_requested)
		rc = 0;
out:
	if (vc.card != NULL) {
		report_count(&vc);
		vc.type->destroy(vc.card);
	}
	chaos_destroy(vc.chaos);
	buf_free(&vc.chain);
	buf_free(&vc.pending_data);
	return rc;
}
