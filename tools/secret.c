/* Reading PINs, PUKs, passwords and keys.
 *
 * At a terminal: /dev/tty, echo off (termios), so that nothing shows on
 * the screen or goes into a pipe's output; the terminal's settings come
 * back even when the user presses Ctrl-C. For scripts: --pin-source stdin
 * (one line per secret, in the order the command asks), file:PATH (its
 * first line) or env:VAR. Values given on the command line are accepted only
 * through their own options, which warn (main.c). Every copy is wiped. */
#include "tools/kyso.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

static int secret_tty_fd = -1;
static struct termios secret_saved;
static volatile sig_atomic_t secret_restore;

void
secret_wipe(struct secret *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* Ctrl-C or a kill while echo is off: give the terminal back its echo,
 * then die of the same signal. Only async-signal-safe calls. */
static void
secret_on_signal(int sig)
{
	if (secret_restore && secret_tty_fd >= 0) {
		tcsetattr(secret_tty_fd, TCSANOW, &secret_saved);
		(void)!write(secret_tty_fd, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

bool
have_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* One line from `fd`, byte by byte so that nothing after the line is
 * consumed (the next secret on stdin is the next line). 1: a line;
 * 0: end of input before anything; -1: error or too long. */
static int
secret_line(int fd, char *out_s, size_t cap, size_t *len)
{
	size_t n = 0;
	bool too_long = false, any = false;
	char ch;
	ssize_t r;

	for (;;) {
		r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		any = true;
		if (ch == '\n')
			break;
		if (n < cap)
			out_s[n++] = ch;
		else
			too_long = true;
	}
	ch = 0;
	if (!any)
		return 0;
	if (n > 0 && out_s[n - 1] == '\r')
		n--;
	out_s[n] = '\0';
	*len = n;
	return too_long ? -1 : 1;
}

/* Prompt on the terminal with echo off. */
static int
secret_tty(struct ctx *c, const char *prompt, struct secret *s)
{
	struct sigaction sa, old_int, old_term, old_hup, old_quit;
	struct termios quiet;
	int fd, rc, code = KX_OK;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		code = fail(c, KX_USAGE, "no_terminal",
		            _("No terminal to ask on: give the value with a --*-source "
		              "option (stdin, file:PATH or env:VAR)."));
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = secret_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigaction(SIGQUIT, &sa, &old_quit);
	secret_tty_fd = fd;
	if (tcgetattr(fd, &secret_saved) == 0) {
		quiet = secret_saved;
		/* Canonical input (the user can correct with backspace), no
		 * echo, but the final newline is shown. Echo goes off before
		 * the prompt appears: nothing typed after it is ever shown. */
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
		quiet.c_lflag |= ECHONL;
		secret_restore = 1;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	(void)!write(fd, prompt, strlen(prompt));
	rc = secret_line(fd, s->v, SECRET_MAX, &s->len);
	if (secret_restore) {
		tcsetattr(fd, TCSAFLUSH, &secret_saved);
		secret_restore = 0;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	secret_tty_fd = -1;
	close(fd);
	s->prompted = true;
	if (rc == 0)
		code = fail(c, KX_CANCELED, "canceled", _("Canceled: the input ended."));
	else if (rc < 0)
		code = fail(c, KX_USAGE, "too_long", _("What you typed is too long."));
out:
	return code;
}

static int
secret_from_file(struct ctx *c, const char *path, struct secret *s)
{
	int fd, rc, code = KX_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		code = fail(c, KX_FILE, "bad_file", _("Cannot read %s: %s."), path,
		            strerror(errno));
		goto out;
	}
	rc = secret_line(fd, s->v, SECRET_MAX, &s->len);
	close(fd);
	if (rc == 0)
		code = fail(c, KX_FILE, "bad_file", _("%s is empty."), path);
	else if (rc < 0)
		code = fail(c, KX_FILE, "bad_file",
		            _("Cannot read %s, or its first line is too long."), path);
out:
	return code;
}

int
secret_read(struct ctx *c, const char *source, const char *value,
            const char *prompt, struct secret *s)
{
	const char *v;
	int rc, code = KX_OK;

	memset(s, 0, sizeof(*s));
	if (source != NULL && strcmp(source, "stdin") == 0) {
		rc = secret_line(STDIN_FILENO, s->v, SECRET_MAX, &s->len);
		if (rc == 0)
			code = fail(c, KX_CANCELED, "canceled",
			            _("Canceled: the standard input ended."));
		else if (rc < 0)
			code = fail(c, KX_USAGE, "too_long",
			            _("A line on the standard input is too long."));
	} else if (source != NULL && strncmp(source, "file:", 5) == 0) {
		code = secret_from_file(c, source + 5, s);
	} else if (source != NULL && strncmp(source, "env:", 4) == 0) {
		v = getenv(source + 4);
		if (v == NULL)
			code = fail(c, KX_USAGE, "usage",
			            _("The environment variable %s is not set."), source + 4);
		else if (strlen(v) > SECRET_MAX)
			code = fail(c, KX_USAGE, "too_long",
			            _("The environment variable %s is too long."), source + 4);
		else {
			s->len = strlen(v);
			memcpy(s->v, v, s->len);
		}
	} else if (source != NULL) {
		code = fail(c, KX_USAGE, "usage",
		            _("Unknown source %s: use stdin, file:PATH or env:VAR."), source);
	} else if (value != NULL) {
		if (strlen(value) > SECRET_MAX)
			code = fail(c, KX_USAGE, "too_long", _("The value is too long."));
		else {
			s->len = strlen(value);
			memcpy(s->v, value, s->len);
		}
	} else {
		code = secret_tty(c, prompt, s);
	}
	if (code != KX_OK)
		secret_wipe(s);
	return code;
}

int
ask_line(struct ctx *c, const char *prompt, char *line, size_t len)
{
	int fd, rc, code = KX_OK;
	size_t n = 0;

	line[0] = '\0';
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		code = fail(c, KX_CANCELED, "no_terminal",
		            _("No terminal to ask for a confirmation on."));
		goto out;
	}
	(void)!write(fd, prompt, strlen(prompt));
	rc = secret_line(fd, line, len - 1, &n);
	close(fd);
	if (rc <= 0) {
		line[0] = '\0';
		code = fail(c, KX_CANCELED, "canceled", _("Canceled."));
	}
out:
	return code;
}

bool
ask_yes(struct ctx *c, const char *question)
{
	char line[32], prompt[512];
	/* TRANSLATORS: the one-letter answer for "yes" (the [y/N] prompt). */
	const char *yes = _("y");
	bool answer = false;
	size_t i;

	if (c->o.yes || c->o.force) {
		answer = true;
		goto out;
	}
	if (!have_tty())
		goto out;
	/* TRANSLATORS: a yes/no question; the default, N, is "no". */
	snprintf(prompt, sizeof(prompt), _("%s [y/N] "), question);
	if (ask_line(c, prompt, line, sizeof(line)) != KX_OK) {
		/* Not an error of the command: the caller says what was
		 * canceled. */
		c->exit_code = KX_OK;
		free(c->err_message);
		c->err_message = NULL;
		goto out;
	}
	for (i = 0; line[i] == ' '; i++)
		;
	answer = line[i] != '\0' && (strncasecmp(line + i, "y", 1) == 0 ||
	                             strncasecmp(line + i, yes, strlen(yes)) == 0);
out:
	return answer;
}
