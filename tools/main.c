/* kyso: the PIN and key tool for residents and administrators (issue 5).
 *
 *   kyso [OPTIONS] COMMAND [SUBCOMMAND] [ARGUMENTS]
 *
 * Options may come anywhere on the line; each command accepts the ones its
 * help lists. The manual is docs/kyso.1, the JSON output docs/kyso-json.md. */
#include "tools/kyso.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/config.h"
#include "common/log.h"

enum {
	O_TOKEN = 1u << 0,
	O_PIN = 1u << 1,		/* --pin-source, --pin */
	O_PUK = 1u << 2,		/* --puk-source, --puk */
	O_NEWPIN = 1u << 3,		/* --new-pin-source, --new-pin */
	O_PASSWORD = 1u << 4,
	O_MGMT = 1u << 5,
	O_NEWMGMT = 1u << 6,		/* --new-mgmt-key-source, --generate */
	O_YES = 1u << 7,
	O_LASTTRY = 1u << 8,		/* --yes-last-try */
	O_FORCE = 1u << 9,
	O_SLOT = 1u << 10,
	O_TYPE = 1u << 11,
	O_SUBJECT = 1u << 12,
	O_OUT = 1u << 13,
	O_PUBKEY = 1u << 14,
	O_FORMAT = 1u << 15,
	O_CA = 1u << 16,
	O_CONFIRM = 1u << 17,
	O_MODULE = 1u << 18,
};

struct command {
	const char *name;
	int (*run)(struct ctx *c);
	unsigned options;
	int min_args, max_args;
	const char *summary;
	const char *usage;
	const char *help;
};

static const struct command commands[] = {
	{ "list", cmd_list, O_TOKEN, 0, 0,
	  N_("readers, tokens, PIN tries, keys and certificates"),
	  "kyso list [--token TOKEN] [--json]",
	  N_("Shows every reader and the token in it: label, type, serial number, the\n"
	     "PIN and PUK tries left, and each key with its certificate (subject,\n"
	     "issuer, validity). A certificate that has expired or expires within 30\n"
	     "days is pointed out.\n") },
	{ "pin status", cmd_pin_status, O_TOKEN, 0, 0,
	  N_("PIN and PUK tries left"),
	  "kyso pin status [--token TOKEN] [--json]",
	  N_("Shows the PIN and PUK tries left, the PIN length the token accepts,\n"
	     "and whether the PIN is still the factory default. Uses no try.\n") },
	{ "pin change", cmd_pin_change, O_TOKEN | O_PIN | O_NEWPIN | O_LASTTRY | O_FORCE | O_YES,
	  0, 0, N_("change the PIN"),
	  "kyso pin change [--pin-source SRC] [--new-pin-source SRC] [--yes-last-try]",
	  N_("Asks for the current PIN, then the new one twice, and changes it.\n"
	     "The tries left are shown first; the last try is used only with\n"
	     "--yes-last-try.\n") },
	{ "pin unblock", cmd_pin_unblock, O_TOKEN | O_PUK | O_NEWPIN | O_LASTTRY | O_FORCE | O_YES,
	  0, 0, N_("unblock the PIN with the PUK and set a new PIN"),
	  "kyso pin unblock [--puk-source SRC] [--new-pin-source SRC]",
	  N_("Asks for the PUK (the unblocking code your issuer gave you), then a\n"
	     "new PIN twice. The PIN's tries are full again afterwards.\n") },
	{ "puk change", cmd_puk_change, O_TOKEN | O_PUK | O_NEWPIN | O_LASTTRY | O_FORCE | O_YES,
	  0, 0, N_("change the PUK"),
	  "kyso puk change [--puk-source SRC] [--new-pin-source SRC]",
	  N_("Asks for the current PUK, then the new one twice.\n") },
	{ "key generate", cmd_key_generate,
	  O_TOKEN | O_SLOT | O_TYPE | O_OUT | O_MGMT | O_YES | O_FORCE, 0, 0,
	  N_("make a new key pair on the token"),
	  "kyso key generate --slot SLOT --type rsa2048|rsa3072|p256|p384 [--out PUBKEY.pem]",
	  N_("Makes a new key pair in SLOT, on the token (the private key never leaves\n"
	     "it), and writes its public key (PEM) to --out or shows it. A key already\n"
	     "in the slot is replaced: kyso asks first (--yes to skip the question).\n"
	     "Then make a request for a certificate with kyso csr.\n") },
	{ "csr", cmd_csr, O_TOKEN | O_SLOT | O_SUBJECT | O_OUT | O_PUBKEY | O_PIN | O_LASTTRY | O_FORCE,
	  0, 0, N_("a certificate request (PKCS#10) signed by a key on the token"),
	  "kyso csr --slot SLOT --subject \"CN=...,O=...,C=VN\" [--out REQ.pem] [--pubkey PUBKEY.pem]",
	  N_("Makes a certificate request for the key in SLOT, signed on the token,\n"
	     "to send to your CA. --pubkey gives the public key when the token cannot\n"
	     "tell it (a key made earlier by kyso key generate). Needs the PIN.\n") },
	{ "cert import", cmd_cert_import, O_TOKEN | O_SLOT | O_MGMT | O_FORCE | O_PIN | O_LASTTRY, 1, 1,
	  N_("write a certificate to the token"),
	  "kyso cert import FILE --slot SLOT",
	  N_("Writes the certificate in FILE (PEM or DER) to SLOT, after checking that\n"
	     "it is for the key in that slot. Use it to write back a renewed\n"
	     "certificate.\n") },
	{ "cert export", cmd_cert_export, O_TOKEN | O_SLOT | O_OUT | O_FORMAT, 0, 0,
	  N_("read a certificate from the token"),
	  "kyso cert export --slot SLOT [--out FILE] [--format pem|der]",
	  N_("Writes the certificate in SLOT to --out (or shows it), as PEM or DER.\n") },
	{ "cert delete", cmd_cert_delete, O_TOKEN | O_SLOT | O_MGMT | O_YES | O_FORCE, 0, 0,
	  N_("delete a certificate from the token"),
	  "kyso cert delete --slot SLOT [--yes]",
	  N_("Deletes the certificate in SLOT; the key stays. kyso asks first.\n") },
	{ "import", cmd_import, O_TOKEN | O_SLOT | O_PASSWORD | O_MGMT | O_YES | O_FORCE, 1, 1,
	  N_("put a key and its certificate from a PKCS#12 file on the token"),
	  "kyso import FILE.p12 --slot SLOT [--password-source SRC]",
	  N_("Writes the private key and the certificate of a PKCS#12 file (.p12,\n"
	     ".pfx) to SLOT, where the token allows importing keys.\n") },
	{ "sign", cmd_sign, O_TOKEN | O_SLOT | O_OUT | O_PIN | O_LASTTRY | O_FORCE, 1, 1,
	  N_("a test signature of a file (CMS, detached)"),
	  "kyso sign FILE [--slot SLOT] [--out FILE.p7s]",
	  N_("Signs FILE with the key in SLOT (by default the first key with a\n"
	     "certificate) and writes a detached CMS signature (DER) to FILE.p7s or\n"
	     "--out. openssl cms -verify and kyso verify check it.\n") },
	{ "verify", cmd_verify, O_CA, 2, 2,
	  N_("check a signature made by kyso sign"),
	  "kyso verify FILE SIGNATURE [--ca CA.pem]",
	  N_("Checks the detached CMS signature of FILE, and with --ca that the\n"
	     "signer's certificate was issued by that CA. Needs no token.\n") },
	{ "selftest", cmd_selftest, O_TOKEN | O_PIN | O_LASTTRY | O_FORCE, 0, 0,
	  N_("log in, then sign and verify with every key"),
	  "kyso selftest [--token TOKEN]",
	  N_("Logs in, signs with every key on the token and verifies each signature\n"
	     "with its public key.\n") },
	{ "mgmkey change", cmd_mgmkey_change, O_TOKEN | O_MGMT | O_NEWMGMT, 0, 0,
	  N_("change the token's management key"),
	  "kyso mgmkey change [--mgmt-key-source SRC] [--new-mgmt-key-source SRC | --generate]",
	  N_("Replaces the administrative (management) key, which writing keys and\n"
	     "certificates needs. Keys are hex: 32, 48 or 64 digits. --generate makes\n"
	     "a random key and shows it once.\n") },
	{ "reset", cmd_reset, O_TOKEN | O_CONFIRM, 0, 0,
	  N_("erase the token back to its factory state"),
	  "kyso reset [--confirm SERIAL]",
	  N_("Erases every key and certificate and sets the PIN, PUK and management\n"
	     "key back to the factory values, where the token allows it. Type the\n"
	     "token's serial number to confirm (or give it with --confirm).\n") },
	{ "browser register", cmd_browser_register, O_MODULE, 0, 0,
	  N_("use the token in Firefox, Thunderbird and Chromium"),
	  "kyso browser register [--module PATH]",
	  N_("Adds kyso's module to every Firefox and Thunderbird profile of the\n"
	     "current user and to Chromium's and Chrome's database (~/.pki/nssdb),\n"
	     "or updates an entry with an old path. Running it again changes nothing.\n"
	     "Run it as yourself, not with sudo. Firefox and Chromium from snap or\n"
	     "Flatpak cannot use kyso: kyso says what to install instead.\n") },
	{ "browser unregister", cmd_browser_unregister, 0, 0, 0,
	  N_("remove the token from the browsers again"),
	  "kyso browser unregister",
	  N_("Removes kyso's module from the databases kyso browser register\n"
	     "writes to; everything else in them stays.\n") },
	{ "browser status", cmd_browser_status, O_MODULE, 0, 0,
	  N_("where kyso is registered"),
	  "kyso browser status [--json]",
	  N_("Lists the NSS databases of the current user's Firefox and Thunderbird\n"
	     "profiles and of Chromium, and whether kyso is registered in each (and\n"
	     "with which path). Changes nothing.\n") },
	{ "diag", cmd_diag, O_TOKEN, 0, 0,
	  N_("what to paste into a bug report"),
	  "kyso diag [--json]",
	  N_("Shows the readers, the cards' ATRs, the driver chosen for each and the\n"
	     "versions, without serial numbers, certificates or PINs.\n") },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

enum {
	LO_PIN_SOURCE = 256, LO_PUK_SOURCE, LO_NEW_PIN_SOURCE, LO_PASSWORD_SOURCE,
	LO_MGMT_SOURCE, LO_NEW_MGMT_SOURCE, LO_PIN, LO_PUK, LO_NEW_PIN, LO_YES_LAST_TRY,
	LO_FORCE, LO_GENERATE, LO_TYPE, LO_SUBJECT, LO_PUBKEY, LO_FORMAT, LO_CA,
	LO_CONFIRM, LO_JSON, LO_VERSION, LO_MODULE,
};

static const struct option long_options[] = {
	{ "token", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, LO_JSON },
	{ "pin-source", required_argument, NULL, LO_PIN_SOURCE },
	{ "puk-source", required_argument, NULL, LO_PUK_SOURCE },
	{ "new-pin-source", required_argument, NULL, LO_NEW_PIN_SOURCE },
	{ "password-source", required_argument, NULL, LO_PASSWORD_SOURCE },
	{ "mgmt-key-source", required_argument, NULL, LO_MGMT_SOURCE },
	{ "new-mgmt-key-source", required_argument, NULL, LO_NEW_MGMT_SOURCE },
	{ "pin", required_argument, NULL, LO_PIN },
	{ "puk", required_argument, NULL, LO_PUK },
	{ "new-pin", required_argument, NULL, LO_NEW_PIN },
	{ "yes", no_argument, NULL, 'y' },
	{ "yes-last-try", no_argument, NULL, LO_YES_LAST_TRY },
	{ "force", no_argument, NULL, LO_FORCE },
	{ "generate", no_argument, NULL, LO_GENERATE },
	{ "slot", required_argument, NULL, 's' },
	{ "type", required_argument, NULL, LO_TYPE },
	{ "subject", required_argument, NULL, LO_SUBJECT },
	{ "out", required_argument, NULL, 'o' },
	{ "pubkey", required_argument, NULL, LO_PUBKEY },
	{ "format", required_argument, NULL, LO_FORMAT },
	{ "ca", required_argument, NULL, LO_CA },
	{ "confirm", required_argument, NULL, LO_CONFIRM },
	{ "module", required_argument, NULL, LO_MODULE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, LO_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* For the message about an option a command does not take. */
static const struct {
	unsigned bit;
	const char *name;
} option_names[] = {
	{ O_TOKEN, "--token" }, { O_PIN, "--pin-source/--pin" },
	{ O_PUK, "--puk-source/--puk" }, { O_NEWPIN, "--new-pin-source/--new-pin" },
	{ O_PASSWORD, "--password-source" }, { O_MGMT, "--mgmt-key-source" },
	{ O_NEWMGMT, "--new-mgmt-key-source/--generate" }, { O_YES, "--yes" },
	{ O_LASTTRY, "--yes-last-try" }, { O_FORCE, "--force" }, { O_SLOT, "--slot" },
	{ O_TYPE, "--type" }, { O_SUBJECT, "--subject" }, { O_OUT, "--out" },
	{ O_PUBKEY, "--pubkey" }, { O_FORMAT, "--format" }, { O_CA, "--ca" },
	{ O_CONFIRM, "--confirm" }, { O_MODULE, "--module" },
};

static void
usage_global(FILE *f)
{
	size_t i;
	int width = 0;

	fprintf(f, "%s", _("Usage: kyso [OPTIONS] COMMAND [ARGUMENTS]\n"
	                   "The PIN and key tool for smart cards and USB tokens.\n\n"
	                   "Commands:\n"));
	for (i = 0; i < N_COMMANDS; i++)
		if ((int)strlen(commands[i].name) + 2 > width)
			width = (int)strlen(commands[i].name) + 2;
	for (i = 0; i < N_COMMANDS; i++) {
		int pad = width - (int)strlen(commands[i].name);
		fprintf(f, "  %s%*s%s\n", commands[i].name, pad > 1 ? pad : 1, "",
		        _(commands[i].summary));
	}
	fprintf(f, "%s", _("\nOptions for every command:\n"
	                   "  -t, --token TOKEN   the token: serial number, part of the reader's name,\n"
	                   "                      or a pkcs11: URI (RFC 7512); not needed with one token\n"
	                   "      --json          output as JSON (docs/kyso-json.md)\n"
	                   "  -h, --help          help; kyso COMMAND --help for a command\n"
	                   "      --version       the version\n\n"
	                   "PINs are asked on the terminal without echo. For scripts:\n"
	                   "  --pin-source, --puk-source, --new-pin-source SRC\n"
	                   "      SRC is stdin (one line per value), file:PATH or env:VARIABLE.\n"
	                   "  --pin, --puk, --new-pin VALUE: on the command line (others can see it).\n\n"
	                   "Exit codes: 0 done, 1 usage, 2 no token, 3 wrong PIN, 4 PIN blocked,\n"
	                   "5 token removed, 6 bad file, 7 certificate and key do not match,\n"
	                   "8 not supported by the token, 9 refused by the token, 10 canceled,\n"
	                   "11 verification failed, 12 PIN not acceptable, 13 not found,\n"
	                   "14 internal error. See man kyso.\n"));
}

static void
usage_command(FILE *f, const struct command *cmd)
{
	/* TRANSLATORS: "Usage:" before a command line. */
	fprintf(f, _("Usage: %s\n"), cmd->usage);
	fprintf(f, "%s\n%s", _(cmd->summary), _(cmd->help));
	if (cmd->options & O_SLOT)
		fprintf(f, "%s", _("  -s, --slot SLOT     the key slot: its name (kyso list shows them, e.g. 9a)\n"
		                   "                      or id:HEX (the key's CKA_ID)\n"));
	if (cmd->options & O_PIN)
		fprintf(f, "%s", _("  --pin-source SRC    read the PIN from stdin, file:PATH or env:VAR\n"));
	if (cmd->options & O_PUK)
		fprintf(f, "%s", _("  --puk-source SRC    read the PUK from stdin, file:PATH or env:VAR\n"));
	if (cmd->options & O_NEWPIN)
		fprintf(f, "%s", _("  --new-pin-source SRC  read the new PIN (or PUK) from stdin, file:PATH or env:VAR\n"));
	if (cmd->options & O_LASTTRY)
		fprintf(f, "%s", _("  --yes-last-try      allow using the last PIN or PUK try\n"));
	if (cmd->options & O_MGMT)
		fprintf(f, "%s", _("  --mgmt-key-source SRC  the current management key (hex), when it is not\n"
		                   "                      the factory one or the configured one\n"));
	if (cmd->options & O_NEWMGMT)
		fprintf(f, "%s", _("  --new-mgmt-key-source SRC  the new management key (hex)\n"
		                   "  --generate          make a random new management key and show it\n"));
	if (cmd->options & O_PASSWORD)
		fprintf(f, "%s", _("  --password-source SRC  the PKCS#12 file's password\n"));
	if (cmd->options & O_OUT)
		fprintf(f, "%s", _("  -o, --out FILE      where to write the result (- for the standard output)\n"));
	if (cmd->options & O_YES)
		fprintf(f, "%s", _("  -y, --yes           do not ask before replacing or deleting\n"));
	if (cmd->options & O_FORCE)
		fprintf(f, "%s", _("  --force             go on despite warnings (implies --yes and --yes-last-try)\n"));
	if (cmd->options & O_TOKEN)
		fprintf(f, "%s", _("  -t, --token TOKEN   the token (see kyso --help)\n"));
	if (cmd->options & O_MODULE)
		fprintf(f, "%s", _("  --module PATH       kyso's PKCS#11 module (default: the installed one)\n"));
	fprintf(f, "%s", _("  --json              output as JSON\n"));
}

static const struct command *
find_command(struct ctx *c, char **words, int n, int *used)
{
	size_t i;
	char name[64];

	*used = 0;
	if (n >= 2) {
		snprintf(name, sizeof(name), "%s %s", words[0], words[1]);
		for (i = 0; i < N_COMMANDS; i++)
			if (strcmp(commands[i].name, name) == 0) {
				*used = 2;
				return &commands[i];
			}
	}
	if (n >= 1) {
		for (i = 0; i < N_COMMANDS; i++)
			if (strcmp(commands[i].name, words[0]) == 0) {
				*used = 1;
				return &commands[i];
			}
	}
	(void)c;
	return NULL;
}

static void
cli_warn_value(struct ctx *c, const char *opt)
{
	warn(c, "pin_on_command_line",
	     _("%s puts the secret on the command line, where other users of this "
	       "computer can see it (ps) and your shell keeps it in its history. "
	       "Prefer the terminal prompt or a --*-source option."), opt);
}

/* Parse the whole command line; 0 ok, else an exit code (help printed
 * counts as done: *done set). */
static int
parse(struct ctx *c, int argc, char **argv, const struct command **cmd_out, bool *done)
{
	unsigned seen = 0;
	bool help = false;
	const struct command *cmd;
	int opt, used = 0, code = KX_OK;

	*done = false;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":t:s:o:yh", long_options, NULL)) != -1) {
		switch (opt) {
		case 't': c->o.token = optarg; seen |= O_TOKEN; break;
		case LO_JSON: c->o.json = true; break;
		case LO_PIN_SOURCE: c->o.pin_source = optarg; seen |= O_PIN; break;
		case LO_PUK_SOURCE: c->o.puk_source = optarg; seen |= O_PUK; break;
		case LO_NEW_PIN_SOURCE: c->o.new_pin_source = optarg; seen |= O_NEWPIN; break;
		case LO_PASSWORD_SOURCE: c->o.password_source = optarg; seen |= O_PASSWORD; break;
		case LO_MGMT_SOURCE: c->o.mgmt_key_source = optarg; seen |= O_MGMT; break;
		case LO_NEW_MGMT_SOURCE: c->o.new_mgmt_key_source = optarg; seen |= O_NEWMGMT; break;
		case LO_PIN: c->o.pin = optarg; seen |= O_PIN; cli_warn_value(c, "--pin"); break;
		case LO_PUK: c->o.puk = optarg; seen |= O_PUK; cli_warn_value(c, "--puk"); break;
		case LO_NEW_PIN:
			c->o.new_pin = optarg;
			seen |= O_NEWPIN;
			cli_warn_value(c, "--new-pin");
			break;
		case 'y': c->o.yes = true; seen |= O_YES; break;
		case LO_YES_LAST_TRY: c->o.yes_last_try = true; seen |= O_LASTTRY; break;
		case LO_FORCE: c->o.force = true; seen |= O_FORCE; break;
		case LO_GENERATE: c->o.generate = true; seen |= O_NEWMGMT; break;
		case 's': c->o.slot = optarg; seen |= O_SLOT; break;
		case LO_TYPE: c->o.type = optarg; seen |= O_TYPE; break;
		case LO_SUBJECT: c->o.subject = optarg; seen |= O_SUBJECT; break;
		case 'o': c->o.out = optarg; seen |= O_OUT; break;
		case LO_PUBKEY: c->o.pubkey = optarg; seen |= O_PUBKEY; break;
		case LO_FORMAT: c->o.format = optarg; seen |= O_FORMAT; break;
		case LO_CA: c->o.ca = optarg; seen |= O_CA; break;
		case LO_CONFIRM: c->o.confirm = optarg; seen |= O_CONFIRM; break;
		case LO_MODULE: c->o.module = optarg; seen |= O_MODULE; break;
		case 'h': help = true; break;
		case LO_VERSION:
			printf("kyso %s (%s)\n", KYSO_VERSION, OpenSSL_version(OPENSSL_VERSION));
			*done = true;
			goto out;
		case ':':
			code = fail(c, KX_USAGE, "usage", _("Option %s needs a value."),
			            argv[optind - 1]);
			goto out;
		default:
			code = fail(c, KX_USAGE, "usage", _("Unknown option %s (see kyso --help)."),
			            argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc && strcmp(argv[optind], "help") == 0) {
		help = true;
		optind++;
	}
	cmd = find_command(c, argv + optind, argc - optind, &used);
	if (cmd == NULL && help) {
		usage_global(stdout);
		*done = true;
		goto out;
	}
	if (cmd == NULL) {
		if (optind >= argc)
			code = fail(c, KX_USAGE, "usage", _("Give a command (see kyso --help)."));
		else
			code = fail(c, KX_USAGE, "usage",
			            _("Unknown command \"%s\" (see kyso --help)."), argv[optind]);
		goto out;
	}
	c->command = cmd->name;
	if (help) {
		usage_command(stdout, cmd);
		*done = true;
		goto out;
	}
	optind += used;
	c->o.args = argv + optind;
	c->o.nargs = argc - optind;
	if (seen & ~cmd->options) {
		size_t i;

		for (i = 0; i < sizeof(option_names) / sizeof(option_names[0]); i++)
			if (seen & ~cmd->options & option_names[i].bit)
				break;
		code = fail(c, KX_USAGE, "usage",
		            _("Option %s does not apply to kyso %s (see kyso %s --help)."),
		            i < sizeof(option_names) / sizeof(option_names[0]) ?
		            option_names[i].name : "?", cmd->name, cmd->name);
		goto out;
	}
	if (c->o.nargs < cmd->min_args || c->o.nargs > cmd->max_args) {
		code = fail(c, KX_USAGE, "usage", _("Wrong number of arguments. Usage: %s"),
		            cmd->usage);
		goto out;
	}
	*cmd_out = cmd;
out:
	return code;
}

int
main(int argc, char **argv)
{
	static struct ctx c;
	const struct command *cmd = NULL;
	bool done = false;
	int code;

	i18n_init();
	config_load();
	log_init();
	json_init(&c.json);
	json_init(&c.warnings);
	json_arr(&c.warnings, NULL);
	code = parse(&c, argc, argv, &cmd, &done);
	json_obj(&c.json, NULL);
	json_int(&c.json, "schema", 1);
	json_str(&c.json, "command", c.command);
	if (code == KX_OK && !done)
		code = cmd->run(&c);
	tok_logout(&c);
	if (!done)
		code = out_finish(&c, code);
	else if (code != KX_OK)
		code = out_finish(&c, code);
	tokens_free(&c);
	json_free(&c.json);
	json_free(&c.warnings);
	free(c.err_message);
	log_close();
	config_free();
	return code;
}
