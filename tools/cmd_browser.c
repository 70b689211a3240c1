/* kyso browser register | unregister | status (issue 6, point 3): kyso's
 * module in the NSS databases of the current user's browsers and mail
 * program: every Firefox (and Firefox ESR) profile listed in
 * ~/.mozilla/firefox/profiles.ini, every Thunderbird profile in
 * ~/.thunderbird/profiles.ini, and Chromium's and Chrome's ~/.pki/nssdb.
 *
 * Why pkcs11.txt is edited here rather than by running NSS's modutil:
 * - modutil is in libnss3-tools, which residents' machines do not have
 *   (Firefox and Chromium need only libnss3); kyso would gain a runtime
 *   dependency for the one thing a browser-less text file edit does.
 * - modutil loads the module to register it, and records the "public
 *   certificates" flag (-mechanisms FRIENDLY) only for the slots present
 *   at that moment; kyso's slot IDs are 1..MODULE_MAX_SLOTS in reader
 *   order (module/slot.c), so the entry written here names them all and
 *   stays right when a reader is plugged in later.
 * - Writing the file ourselves lets kyso check every file's owner before
 *   touching it and replace it atomically (temp file + rename, mode and
 *   group kept), so a browser never reads half a file and root never
 *   leaves a root-owned file in a user's profile.
 * The format is NSS's own, read by nssutil_ReadSecmodDB (lib/util/utilmod.c):
 * stanzas of key=value lines (library=, name=, parameters=, NSS=) separated
 * by empty lines, '#' comments, lines of at most 2047 bytes. The internal
 * module's stanza and every stanza that is not kyso's are kept byte for
 * byte. The tests check the result with NSS itself (modutil -list,
 * certutil -L -h TOKEN). */
#include "tools/kyso.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/log.h"

#ifndef KYSO_MODULE_PATH
#define KYSO_MODULE_PATH "/usr/local/lib/x86_64-linux-gnu/pkcs11/kyso-pkcs11.so"
#endif

#define MODULE_FILE "kyso-pkcs11.so"
#define ENTRY_NAME "kyso"
/* module/module.h MODULE_MAX_SLOTS: slot IDs 1..32. */
#define KYSO_SLOT_IDS 32
/* NSS reads pkcs11.txt lines into a 2048-byte buffer (utilmod.c). */
#define NSS_LINE_MAX 2047
#define FILE_MAX (1024 * 1024)
#define MAX_DBS 64

enum app { APP_FIREFOX, APP_THUNDERBIRD, APP_CHROMIUM };

static const char *const app_ids[] = { "firefox", "thunderbird", "chromium" };

enum db_state {
	DB_OK,		/* pkcs11.txt there */
	DB_NEW,		/* no pkcs11.txt yet: kyso writes one */
	DB_LEGACY,	/* only the old secmod.db: the program upgrades it first */
	DB_MISSING,	/* the folder profiles.ini names does not exist */
};

static const char *const state_ids[] = { "ok", "new", "legacy", "missing" };

struct nssdb {
	enum app app;
	char profile[128];		/* profiles.ini Name=, or "" */
	char dir[PATH_MAX];
	enum db_state state;
	bool dir_missing;		/* ~/.pki/nssdb to create */
	bool running;
	char *text;			/* pkcs11.txt as read */
	int nkyso;			/* kyso stanzas in it */
	char *library;			/* the first one's library= */
	const char *action;		/* what register/unregister did */
};

struct browsers {
	char home[PATH_MAX];
	char module[PATH_MAX];
	struct nssdb db[MAX_DBS];
	size_t n;
	bool chromium_running;
};

/* ------------------------------------------------------------ small tools */

static bool
path_join(char *out, size_t len, const char *a, const char *b)
{
	return (size_t)snprintf(out, len, "%s/%s", a, b) < len;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The whole of a small text file (NUL-terminated, malloc'd), or NULL. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *data = NULL;
	size_t len = 0, n;

	if (f == NULL)
		goto out;
	data = malloc(FILE_MAX + 1);
	if (data == NULL)
		goto out;
	while ((n = fread(data + len, 1, FILE_MAX - len, f)) > 0)
		len += n;
	if (ferror(f) || len == FILE_MAX) {
		free(data);
		data = NULL;
		goto out;
	}
	data[len] = '\0';
out:
	if (f != NULL)
		fclose(f);
	return data;
}

/* Whether the process `pid` (from a lock) is alive. */
static bool
pid_alive(const char *s)
{
	char *end;
	long pid = strtol(s, &end, 10);

	if (end == s || pid <= 0 || pid > INT_MAX)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Firefox and Thunderbird hold a symbolic link "lock" -> "IP:+PID" in the
 * profile while they run; Chromium "SingletonLock" -> "HOST-PID". A link
 * left by a crash names a dead process. */
static bool
lock_held(const char *dir, const char *name, char sep)
{
	char path[PATH_MAX], target[256], *p;
	ssize_t n;

	if (!path_join(path, sizeof(path), dir, name))
		return false;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	p = strrchr(target, sep);
	return p != NULL && pid_alive(p + 1);
}

/* --------------------------------------------------------- kyso's module */

/* --module; else, for a kyso run from its build directory, the module
 * built next to it (as i18n.c finds the catalogs); else the installed
 * path ($libdir/pkcs11, module/meson.build). */
static int
module_path(struct ctx *c, struct browsers *b, bool must_exist)
{
	char exe[PATH_MAX], cand[PATH_MAX], *slash;
	ssize_t n;
	int code = KX_OK;

	if (c->o.module != NULL) {
		if (realpath(c->o.module, b->module) == NULL)
			code = fail(c, KX_FILE, "no_module",
			            _("The module %s cannot be found: %s."), c->o.module,
			            strerror(errno));
		goto out;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(cand, sizeof(cand), "%s/../module/" MODULE_FILE, exe) <
			    sizeof(cand) && realpath(cand, b->module) != NULL)
				goto out;
		}
	}
	snprintf(b->module, sizeof(b->module), "%s", KYSO_MODULE_PATH);
	if (must_exist && !exists(b->module))
		code = fail(c, KX_FILE, "no_module",
		            _("kyso's module is not installed at %s. Give its path with "
		              "--module."), b->module);
out:
	return code;
}

/* ------------------------------------------------------------ discovery */

static struct nssdb *
db_add(struct browsers *b, enum app app, const char *profile, const char *dir)
{
	struct nssdb *d;
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->db[i].dir, dir) == 0)
			return NULL;
	if (b->n == MAX_DBS)
		return NULL;
	d = &b->db[b->n++];
	memset(d, 0, sizeof(*d));
	d->app = app;
	snprintf(d->profile, sizeof(d->profile), "%s", profile);
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	return d;
}

static void
profile_add(struct browsers *b, enum app app, const char *base, const char *name,
            const char *path, bool relative)
{
	char dir[PATH_MAX];

	if (path[0] == '\0')
		return;
	if (relative) {
		if (!path_join(dir, sizeof(dir), base, path))
			return;
	} else if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir)) {
		return;
	}
	(void)db_add(b, app, name, dir);
}

/* profiles.ini (Firefox and Thunderbird): [ProfileN] sections with Name=,
 * Path= and IsRelative=; Path is relative to the folder of profiles.ini
 * unless IsRelative=0. */
static void
profiles_read(struct browsers *b, enum app app, const char *base)
{
	char ini[PATH_MAX], name[128] = "", path[PATH_MAX] = "";
	char *text, *line, *save = NULL;
	bool in_profile = false, relative = true;

	if (!path_join(ini, sizeof(ini), base, "profiles.ini"))
		return;
	text = slurp(ini);
	if (text == NULL)
		return;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (line[0] == '[') {
			if (in_profile)
				profile_add(b, app, base, name, path, relative);
			in_profile = strncasecmp(line, "[Profile", 8) == 0;
			name[0] = path[0] = '\0';
			relative = true;
		} else if (in_profile && strncasecmp(line, "Name=", 5) == 0) {
			snprintf(name, sizeof(name), "%s", line + 5);
		} else if (in_profile && strncasecmp(line, "Path=", 5) == 0) {
			snprintf(path, sizeof(path), "%s", line + 5);
		} else if (in_profile && strncasecmp(line, "IsRelative=", 11) == 0) {
			relative = strcmp(line + 11, "0") != 0;
		}
	}
	if (in_profile)
		profile_add(b, app, base, name, path, relative);
	free(text);
}

/* Is this stanza kyso's? By its name, or by the module file it loads
 * (an entry made with modutil or Firefox's dialog under another name). */
static bool
stanza_is_kyso(const char *name, const char *library)
{
	const char *base;

	if (name != NULL && strcmp(name, ENTRY_NAME) == 0)
		return true;
	if (library == NULL)
		return false;
	base = strrchr(library, '/');
	return strcmp(base != NULL ? base + 1 : library, MODULE_FILE) == 0;
}

/* A key's value on a stanza line, without NSS's optional quotes
 * (malloc'd). */
static char *
line_value(const char *line, size_t len, size_t keylen)
{
	const char *v = line + keylen;
	size_t n = len - keylen;
	char *s;

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

/* One stanza: [start, end) of the text, and what it says. */
struct stanza {
	const char *start, *end;
	char *name, *library;
};

/* The next stanza from *p (empty lines before it skipped); false at the
 * end. Lines end in \n or \r\n, as NSS reads them. */
static bool
stanza_next(const char **p, struct stanza *s)
{
	const char *q = *p;

	memset(s, 0, sizeof(*s));
	while (*q == '\n' || (q[0] == '\r' && q[1] == '\n'))
		q += *q == '\r' ? 2 : 1;
	if (*q == '\0') {
		*p = q;
		return false;
	}
	s->start = q;
	while (*q != '\0') {
		const char *eol = strchr(q, '\n');
		size_t len = eol != NULL ? (size_t)(eol - q) : strlen(q);
		size_t vis = len > 0 && q[len - 1] == '\r' ? len - 1 : len;

		if (vis == 0)
			break;
		if (vis >= 5 && strncasecmp(q, "name=", 5) == 0 && s->name == NULL)
			s->name = line_value(q, vis, 5);
		else if (vis >= 8 && strncasecmp(q, "library=", 8) == 0 && s->library == NULL)
			s->library = line_value(q, vis, 8);
		q += eol != NULL ? len + 1 : len;
	}
	s->end = q;
	*p = q;
	return true;
}

static void
stanza_free(struct stanza *s)
{
	free(s->name);
	free(s->library);
}

static void
db_scan(struct nssdb *d)
{
	char path[PATH_MAX];
	const char *p;
	struct stanza s;

	if (!is_dir(d->dir)) {
		d->state = d->app == APP_CHROMIUM ? DB_NEW : DB_MISSING;
		d->dir_missing = d->app == APP_CHROMIUM;
		return;
	}
	if (d->app != APP_CHROMIUM)
		d->running = lock_held(d->dir, "lock", '+');
	if (!path_join(path, sizeof(path), d->dir, "pkcs11.txt"))
		return;
	if (!exists(path)) {
		/* Without pkcs11.txt NSS looks for the old secmod.db and
		 * upgrades it (SEC_ERROR_LEGACY_DATABASE): a pkcs11.txt
		 * written now would hide the modules that one lists. */
		char old[PATH_MAX];
		d->state = path_join(old, sizeof(old), d->dir, "secmod.db") && exists(old)
		           ? DB_LEGACY : DB_NEW;
		return;
	}
	d->state = DB_OK;
	d->text = slurp(path);
	if (d->text == NULL)
		return;
	p = d->text;
	while (stanza_next(&p, &s)) {
		if (stanza_is_kyso(s.name, s.library)) {
			if (d->nkyso++ == 0 && s.library != NULL) {
				d->library = s.library;
				s.library = NULL;
			}
		}
		stanza_free(&s);
	}
}

static void
discover(struct browsers *b)
{
	static const char *const chromium_configs[] = {
		".config/chromium", ".config/google-chrome", ".config/google-chrome-beta",
	};
	char dir[PATH_MAX];
	struct nssdb *d;
	size_t i;

	if (path_join(dir, sizeof(dir), b->home, ".mozilla/firefox"))
		profiles_read(b, APP_FIREFOX, dir);
	if (path_join(dir, sizeof(dir), b->home, ".thunderbird"))
		profiles_read(b, APP_THUNDERBIRD, dir);
	if (path_join(dir, sizeof(dir), b->home, ".pki/nssdb"))
		(void)db_add(b, APP_CHROMIUM, "", dir);
	for (i = 0; i < sizeof(chromium_configs) / sizeof(chromium_configs[0]); i++)
		if (path_join(dir, sizeof(dir), b->home, chromium_configs[i]) &&
		    lock_held(dir, "SingletonLock", '-'))
			b->chromium_running = true;
	for (i = 0; i < b->n; i++) {
		d = &b->db[i];
		db_scan(d);
		if (d->app == APP_CHROMIUM)
			d->running = b->chromium_running;
	}
}

/* -------------------------------------------------------- sandboxed apps */

static const struct {
	const char *packaging;		/* "snap", "flatpak" */
	const char *app;		/* JSON id */
	const char *display;
	const char *dir;		/* under HOME */
	const char *package;		/* the distribution's package */
} sandboxed[] = {
	{ "snap", "firefox", "Firefox", "snap/firefox", "firefox-esr" },
	{ "snap", "thunderbird", "Thunderbird", "snap/thunderbird", "thunderbird" },
	{ "snap", "chromium", "Chromium", "snap/chromium", "chromium" },
	{ "flatpak", "firefox", "Firefox", ".var/app/org.mozilla.firefox", "firefox-esr" },
	{ "flatpak", "thunderbird", "Thunderbird", ".var/app/org.mozilla.Thunderbird",
	  "thunderbird" },
	{ "flatpak", "chromium", "Chromium", ".var/app/org.chromium.Chromium", "chromium" },
	{ "flatpak", "chrome", "Chrome", ".var/app/com.google.Chrome", "chromium" },
};

#define N_SANDBOXED (sizeof(sandboxed) / sizeof(sandboxed[0]))

/* Snap and Flatpak programs run in a sandbox that has its own /usr: they
 * cannot load a module installed on this computer. Flatpak hands a
 * sandbox only p11-kit's certificate-trust module through its p11-kit
 * server today (flatpak/flatpak#5547 to pass smart-card modules is not
 * merged), so the distribution's package is the way. */
static void
sandboxed_report(struct ctx *c, struct browsers *b)
{
	char dir[PATH_MAX];
	size_t i;

	json_arr(&c->json, "sandboxed");
	for (i = 0; i < N_SANDBOXED; i++) {
		if (!path_join(dir, sizeof(dir), b->home, sandboxed[i].dir) || !is_dir(dir))
			continue;
		json_obj(&c->json, NULL);
		json_str(&c->json, "application", sandboxed[i].app);
		json_str(&c->json, "packaging", sandboxed[i].packaging);
		json_str(&c->json, "path", dir);
		json_str(&c->json, "package", sandboxed[i].package);
		json_end(&c->json);
		if (strcmp(sandboxed[i].packaging, "snap") == 0)
			warn(c, "sandboxed_browser",
			     _("%s from a snap package (%s) cannot use kyso: a snap loads "
			       "only the libraries inside it. Install the distribution's "
			       "package instead (Debian: sudo apt install %s), start it once, "
			       "then run kyso browser register again."),
			     sandboxed[i].display, dir, sandboxed[i].package);
		else
			warn(c, "sandboxed_browser",
			     _("%s from Flatpak (%s) cannot use kyso: its sandbox cannot load "
			       "modules from this computer, and Flatpak passes only "
			       "certificate-trust modules into it. Install the distribution's "
			       "package instead (Debian: sudo apt install %s), start it once, "
			       "then run kyso browser register again."),
			     sandboxed[i].display, dir, sandboxed[i].package);
	}
	json_end(&c->json);
}

/* ------------------------------------------------------------ ownership */

/* 0, or the exit code after a refusal: `path` (when it exists) must be a
 * real file or folder of this user, so that nothing kyso writes ends up
 * owned by someone else, and root run with another user's HOME writes
 * nothing there. */
static int
owner_check(struct ctx *c, const char *path)
{
	struct stat st;
	int code = KX_OK;

	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			code = fail(c, KX_FILE, "bad_file", _("Cannot read %s: %s."), path,
			            strerror(errno));
	} else if (S_ISLNK(st.st_mode)) {
		code = fail(c, KX_FILE, "not_owner",
		            _("%s is a symbolic link: kyso does not change files it does not "
		              "own outright. Nothing was changed."), path);
	} else if (st.st_uid != geteuid()) {
		code = fail(c, KX_FILE, "not_owner",
		            _("%s belongs to another user (uid %lu), not to you (uid %lu). "
		              "Nothing was changed: run kyso browser as the user who uses "
		              "the browser, without sudo."),
		            path, (unsigned long)st.st_uid, (unsigned long)geteuid());
	}
	return code;
}

static int
db_owner_check(struct ctx *c, struct browsers *b, const struct nssdb *d)
{
	static const char *const files[] = { "pkcs11.txt", "cert9.db", "key4.db" };
	char path[PATH_MAX];
	size_t i;
	int code = KX_OK;

	if (d->dir_missing) {
		/* ~/.pki/nssdb is made: ~/.pki must be ours if it is there. */
		if (path_join(path, sizeof(path), b->home, ".pki"))
			code = owner_check(c, path);
	} else {
		code = owner_check(c, d->dir);
		for (i = 0; code == KX_OK && i < sizeof(files) / sizeof(files[0]); i++)
			if (path_join(path, sizeof(path), d->dir, files[i]))
				code = owner_check(c, path);
	}
	return code;
}

static int
home_find(struct ctx *c, struct browsers *b, bool writing)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	struct stat st;
	int code = KX_OK;

	if (home == NULL || home[0] == '\0') {
		pw = getpwuid(geteuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || (size_t)snprintf(b->home, sizeof(b->home), "%s", home) >=
	    sizeof(b->home))
		code = fail(c, KX_FILE, "bad_file", _("Cannot find your home folder (HOME)."));
	else if (stat(b->home, &st) != 0)
		code = fail(c, KX_FILE, "bad_file", _("Cannot read %s: %s."), b->home,
		            strerror(errno));
	else if (writing && st.st_uid != geteuid())
		code = fail(c, KX_FILE, "not_owner",
		            _("The home folder %s belongs to another user (uid %lu), not to "
		              "you (uid %lu). Nothing was changed: run kyso browser as the "
		              "user who uses the browser, without sudo."),
		            b->home, (unsigned long)st.st_uid, (unsigned long)geteuid());
	return code;
}

/* -------------------------------------------------------------- writing */

/* The stanza kyso registers. slotParams marks each of kyso's slots
 * "PublicCerts" (modutil -mechanisms FRIENDLY): NSS then lists the card's
 * certificates without asking for the PIN first. */
static char *
kyso_stanza(const char *module)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	int i;

	if (f == NULL)
		return NULL;
	fprintf(f, "library=%s\nname=" ENTRY_NAME "\nNSS=slotParams={", module);
	for (i = 1; i <= KYSO_SLOT_IDS; i++)
		fprintf(f, "0x%08x=[slotFlags=PublicCerts]%s", i, i < KYSO_SLOT_IDS ? " " : "");
	fprintf(f, "}\n");
	if (fclose(f) != 0) {
		free(s);
		s = NULL;
	}
	return s;
}

/* NSS's own internal-module stanza for a new database (what certutil -N
 * writes; NSS replaces its parameters with the program's when it reads
 * it). */
static void
internal_stanza(FILE *f, const char *dir)
{
	fprintf(f, "library=\nname=NSS Internal PKCS #11 Module\n"
	        "parameters=configdir='sql:%s' certPrefix='' keyPrefix='' secmod='secmod.db' "
	        "flags= updatedir='' updateCertPrefix='' updateKeyPrefix='' updateid='' "
	        "updateTokenDescription='' \n"
	        "NSS=Flags=internal,critical trustOrder=75 cipherOrder=100 "
	        "slotParams=(1={slotFlags=[ECC,RSA,DSA,DH,RC2,RC4,DES,RANDOM,SHA1,MD5,MD2,"
	        "SSL,TLS,AES,Camellia,SEED,SHA256,SHA512] askpw=any timeout=30})\n\n", dir);
}

/* The new pkcs11.txt: every stanza that is not kyso's as it was, and
 * `entry` (NULL: none) where the first kyso stanza was, else at the end. */
static char *
rewrite(const struct nssdb *d, const char *entry)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	const char *p = d->text != NULL ? d->text : "";
	struct stanza st;
	bool placed = false;

	if (f == NULL)
		return NULL;
	if (d->text == NULL)
		internal_stanza(f, d->dir);
	while (stanza_next(&p, &st)) {
		if (stanza_is_kyso(st.name, st.library)) {
			if (entry != NULL && !placed)
				fprintf(f, "%s\n", entry);
			placed = true;
		} else {
			fwrite(st.start, 1, (size_t)(st.end - st.start), f);
			if (st.end > st.start && st.end[-1] != '\n')
				fputc('\n', f);
			fputc('\n', f);
		}
		stanza_free(&st);
	}
	if (entry != NULL && !placed)
		fprintf(f, "%s\n", entry);
	if (fclose(f) != 0) {
		free(s);
		s = NULL;
	}
	return s;
}

/* Replace `path` with `data` atomically: a temporary file in the same
 * folder, the old file's mode and group (0600 for a new file, as NSS
 * makes it), fsync, rename. */
static int
write_atomic(struct ctx *c, const char *dir, const char *data)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	bool had = false, made = false;
	size_t len = strlen(data), done = 0;
	int fd = -1, code = KX_OK;

	if (!path_join(path, sizeof(path), dir, "pkcs11.txt") ||
	    !path_join(tmp, sizeof(tmp), dir, ".pkcs11.txt.kyso-XXXXXX")) {
		code = fail(c, KX_FILE, "write_failed", _("The path %s is too long."), dir);
		goto out;
	}
	had = stat(path, &st) == 0;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto failed;
	made = true;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto failed;
		done += (size_t)n;
	}
	if (fchmod(fd, had ? (st.st_mode & 07777) : 0600) != 0)
		goto failed;
	/* The old file's group where we may give it (we are a member);
	 * our own group else. */
	if (had && st.st_gid != getegid() && fchown(fd, (uid_t)-1, st.st_gid) != 0)
		log_debug("pkcs11.txt: group %lu not kept", (unsigned long)st.st_gid);
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto failed;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto failed;
	goto out;
failed:
	code = fail(c, KX_FILE, "write_failed", _("Cannot write %s: %s."), path,
	            strerror(errno));
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
out:
	return code;
}

static int
make_dirs(struct ctx *c, struct browsers *b, const char *dir)
{
	char pki[PATH_MAX];
	int code = KX_OK;

	if (!path_join(pki, sizeof(pki), b->home, ".pki"))
		code = fail(c, KX_FILE, "write_failed", _("The path %s is too long."), b->home);
	else if ((mkdir(pki, 0700) != 0 && errno != EEXIST) ||
	         (mkdir(dir, 0700) != 0 && errno != EEXIST))
		code = fail(c, KX_FILE, "write_failed", _("Cannot create %s: %s."), dir,
		            strerror(errno));
	return code;
}

/* -------------------------------------------------------------- output */

static const char *
app_name(enum app app)
{
	switch (app) {
	case APP_FIREFOX:
		return "Firefox";
	case APP_THUNDERBIRD:
		return "Thunderbird";
	default:
		return _("Chromium and Chrome");
	}
}

static void
db_title(struct ctx *c, const struct nssdb *d, const char *what)
{
	if (d->profile[0] != '\0')
		/* TRANSLATORS: "Firefox, profile "default-esr": added". */
		out(c, _("  %s, profile \"%s\": %s\n"), app_name(d->app), d->profile, what);
	else
		out(c, "  %s: %s\n", app_name(d->app), what);
	out(c, "      %s\n", d->dir);
}

static void
db_json(struct ctx *c, const struct browsers *b, const struct nssdb *d,
        bool registered, const char *library)
{
	json_obj(&c->json, NULL);
	json_str(&c->json, "application", app_ids[d->app]);
	json_str(&c->json, "profile", d->profile[0] != '\0' ? d->profile : NULL);
	json_str(&c->json, "path", d->dir);
	json_str(&c->json, "state", state_ids[d->state]);
	json_bool(&c->json, "registered", registered);
	json_str(&c->json, "library", library);
	json_bool(&c->json, "current", registered && library != NULL &&
	          strcmp(library, b->module) == 0);
	json_bool(&c->json, "running", d->running);
	json_str(&c->json, "action", d->action);
	json_end(&c->json);
}

static void
restart_warning(struct ctx *c, const struct browsers *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		const struct nssdb *d = &b->db[i];
		if (!d->running || d->action == NULL ||
		    (strcmp(d->action, "added") != 0 && strcmp(d->action, "updated") != 0 &&
		     strcmp(d->action, "removed") != 0))
			continue;
		warn(c, "browser_running",
		     _("%s is running (%s): quit it completely and start it again, or it "
		       "will not see the change (and may write its old list back)."),
		     app_name(d->app), d->dir);
	}
}

/* ------------------------------------------------------------ commands */

static void
browsers_free(struct browsers *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		free(b->db[i].text);
		free(b->db[i].library);
	}
	free(b);
}

/* Register (`entry`: kyso's stanza) or unregister (NULL) in one database
 * whose owners were checked. Sets d->action. */
static int
db_apply(struct ctx *c, struct browsers *b, struct nssdb *d, const char *entry)
{
	bool registering = entry != NULL;
	char *text = NULL;
	int code = KX_OK;

	if (d->state == DB_MISSING || d->state == DB_LEGACY) {
		d->action = "skipped";
		if (d->state == DB_LEGACY && registering)
			warn(c, "legacy_database",
			     _("%s keeps an old-format database in %s: start %s once "
			       "(it converts it), quit it, and run kyso browser register "
			       "again."), app_name(d->app), d->dir, app_name(d->app));
		goto out;
	}
	if (!registering && d->nkyso == 0) {
		d->action = "unchanged";
		db_title(c, d, _("not registered"));
		goto out;
	}
	text = rewrite(d, entry);
	if (text == NULL) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	/* Idempotent: a file that already says exactly this is left alone. */
	if (d->text != NULL && strcmp(text, d->text) == 0) {
		d->action = "unchanged";
		db_title(c, d, _("already registered"));
		goto out;
	}
	if (d->dir_missing)
		code = make_dirs(c, b, d->dir);
	if (code == KX_OK)
		code = write_atomic(c, d->dir, text);
	if (code != KX_OK)
		goto out;
	if (!registering) {
		d->action = "removed";
		db_title(c, d, _("removed"));
	} else if (d->nkyso > 0) {
		d->action = "updated";
		db_title(c, d, _("updated (it had another entry for kyso)"));
	} else {
		d->action = "added";
		db_title(c, d, d->state == DB_OK ? _("added") : _("added (new database)"));
	}
out:
	free(text);
	return code;
}

static int
browser_change(struct ctx *c, bool registering)
{
	struct browsers *b = calloc(1, sizeof(*b));
	char *entry = NULL;
	bool changed = false;
	size_t i;
	int code;

	if (b == NULL) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	code = home_find(c, b, true);
	if (code == KX_OK)
		code = module_path(c, b, registering);
	if (code != KX_OK)
		goto out;
	if (strchr(b->module, '\n') != NULL || strchr(b->module, '"') != NULL ||
	    strlen(b->module) + 8 > NSS_LINE_MAX) {
		code = fail(c, KX_USAGE, "usage", _("NSS cannot load a module from the path %s."),
		            b->module);
		goto out;
	}
	json_str(&c->json, "module", b->module);
	discover(b);
	if (registering) {
		entry = kyso_stanza(b->module);
		if (entry == NULL) {
			code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
			goto out;
		}
	}
	/* Every owner first: all or nothing. */
	for (i = 0; i < b->n && code == KX_OK; i++) {
		struct nssdb *d = &b->db[i];
		if (d->state == DB_MISSING || d->state == DB_LEGACY)
			continue;
		if (!registering && d->nkyso == 0)
			continue;
		code = db_owner_check(c, b, d);
		if (code == KX_OK && d->state == DB_OK && d->text == NULL)
			code = fail(c, KX_FILE, "bad_file",
			            _("Cannot read %s/pkcs11.txt (or it is larger than 1 MiB). "
			              "Nothing was changed."), d->dir);
	}
	if (code != KX_OK)
		goto out;
	if (registering)
		out(c, _("kyso's module: %s\n"), b->module);
	for (i = 0; i < b->n && code == KX_OK; i++)
		code = db_apply(c, b, &b->db[i], entry);
	if (b->n == 0)
		out(c, "%s", _("  No browser profile found.\n"));
	json_arr(&c->json, "databases");
	for (i = 0; i < b->n; i++) {
		const struct nssdb *d = &b->db[i];
		bool acted = d->action != NULL && strcmp(d->action, "skipped") != 0;

		if (acted && registering)
			db_json(c, b, d, true, b->module);
		else if (acted)
			db_json(c, b, d, false, NULL);
		else
			db_json(c, b, d, d->nkyso > 0, d->library);
		if (acted && strcmp(d->action, "unchanged") != 0)
			changed = true;
	}
	json_end(&c->json);
	sandboxed_report(c, b);
	if (code == KX_OK) {
		restart_warning(c, b);
		if (registering && changed)
			out(c, "%s", _("Restart Firefox, Thunderbird and Chromium if they are open; "
			               "the token then shows in their certificate lists.\n"));
	}
out:
	free(entry);
	browsers_free(b);
	return code;
}

int
cmd_browser_register(struct ctx *c)
{
	return browser_change(c, true);
}

int
cmd_browser_unregister(struct ctx *c)
{
	return browser_change(c, false);
}

int
cmd_browser_status(struct ctx *c)
{
	struct browsers *b = calloc(1, sizeof(*b));
	size_t i;
	int code;

	if (b == NULL) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	code = home_find(c, b, false);
	if (code == KX_OK)
		code = module_path(c, b, false);
	if (code != KX_OK)
		goto out;
	json_str(&c->json, "module", b->module);
	out(c, _("kyso's module: %s%s\n"), b->module,
	    exists(b->module) ? "" : _(" (not there)"));
	discover(b);
	json_arr(&c->json, "databases");
	for (i = 0; i < b->n; i++) {
		const struct nssdb *d = &b->db[i];
		bool registered = d->nkyso > 0;
		char what[PATH_MAX + 128];

		db_json(c, b, d, registered, registered ? d->library : NULL);
		if (d->state == DB_MISSING)
			snprintf(what, sizeof(what), "%s", _("the profile folder is missing"));
		else if (d->state == DB_LEGACY)
			snprintf(what, sizeof(what), "%s",
			         _("old-format database: start the program once"));
		else if (!registered)
			snprintf(what, sizeof(what), "%s",
			         d->state == DB_NEW ? _("not registered (no database yet)")
			                            : _("not registered"));
		else if (d->library != NULL && strcmp(d->library, b->module) == 0)
			snprintf(what, sizeof(what), "%s", _("registered"));
		else
			snprintf(what, sizeof(what), _("registered with another path: %s"),
			         d->library != NULL ? d->library : "?");
		if (d->running)
			snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s",
			         _(" (running)"));
		db_title(c, d, what);
	}
	json_end(&c->json);
	if (b->n == 0)
		out(c, "%s", _("  No browser profile found.\n"));
	sandboxed_report(c, b);
out:
	browsers_free(b);
	return code;
}
