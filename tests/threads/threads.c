/* Many threads on one module: every thread has its own session on one of the
 * tokens, finds the keys, signs (RSA-2048 PKCS#1 v1.5 with SHA-256 on CKA_ID
 * 01, the PIV Authentication key; ECDSA P-384 with SHA-384 on CKA_ID 04, the
 * Card Authentication key) and checks every signature twice: with C_Verify
 * (the module, in software) and with OpenSSL against the key of the
 * certificate the thread read itself from CKA_VALUE. Key 02 (9C, Digital
 * Signature) is left out on purpose: it needs a CKU_CONTEXT_SPECIFIC login
 * per signature (SP 800-73-4 pt 1, 3.2.2), which is a PIN policy test, not
 * a threading one.
 *
 * Login state belongs to the token (PKCS#11 2.40 section 5.6): the main
 * thread logs each token in once, with a session it keeps open, and every
 * worker's session must then show CKS_RO_USER_FUNCTIONS.
 *
 * Optionally one more thread sits in C_WaitForSlotEvent while the others
 * work: "--waiter event" expects a card to be inserted in the reader named
 * by --event-reader while the workers run (the program prints
 * "threads: waiting for a card event" when it wants one), then waits again;
 * in both modes the main thread calls C_Finalize once the workers are done,
 * and the waiting thread must come back with CKR_CRYPTOKI_NOT_INITIALIZED
 * promptly (PKCS#11 2.40 section 5.4, C_Finalize).
 *
 *   threads MODULE [--threads N] [--ops N] [--tokens N] [--pin PIN]
 *           [--waiter none|finalize|event] [--event-reader NAME]
 *           [--waiters N] [--reopen N] [--finalize-limit-ms N]
 *
 * Prints a summary and one "RESULT key=value ..." line; exits 0 only when
 * nothing went wrong. */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#define MAX_THREADS 64
#define MAX_TOKENS 4
#define MAX_EVENTS 8
#define MAX_WAITERS 4
#define SIG_MAX 512
#define CERT_MAX 8192
/* How many errors are described in full; all are counted. */
#define ERRORS_SHOWN 20
/* The longest a worker keeps going while it waits for the card event. */
#define EVENT_DEADLINE_S 60.0

enum waiter_mode { WAITER_NONE, WAITER_FINALIZE, WAITER_EVENT };

/* The two keys every worker uses, by CKA_ID. */
struct key_kind {
	const char *name;
	CK_BYTE id;
	CK_MECHANISM_TYPE mech;
	CK_KEY_TYPE key_type;
	size_t sig_len;		/* expected: modulus size, or 2 * order size */
};

static const struct key_kind key_kinds[] = {
	{ "RSA-2048/SHA-256 (01)", 0x01, CKM_SHA256_RSA_PKCS, CKK_RSA, 256 },
	{ "ECDSA-P384/SHA-384 (04)", 0x04, CKM_ECDSA_SHA384, CKK_EC, 96 },
};
#define KEY_KINDS (sizeof(key_kinds) / sizeof(key_kinds[0]))

struct options {
	const char *module;
	int threads;
	long ops;
	int tokens;
	const char *pin;
	enum waiter_mode waiter;
	const char *event_reader;
	int waiters;
	int reopen;
	long finalize_limit_ms;
};

struct waiter_result {
	CK_RV rv[MAX_EVENTS];
	CK_SLOT_ID slot[MAX_EVENTS];
	bool slot_is_event_reader[MAX_EVENTS];
	long ops_done_at[MAX_EVENTS];	/* workers' signatures at that moment */
	double at[MAX_EVENTS];		/* seconds since start */
	int count;
};

static CK_FUNCTION_LIST_PTR p11;
static struct options opt;
static CK_SLOT_ID token_slots[MAX_TOKENS];
static double start_time;

static atomic_long sigs_done;		/* signatures made */
static atomic_long ops_claimed;		/* signatures handed out */
static atomic_long verified_p11;
static atomic_long verified_ossl;
static atomic_long rejected_bad;	/* corrupted signatures refused */
static atomic_long finds;
static atomic_long calls;
static atomic_long reopens;
static atomic_long errors;
static atomic_int waiters_in_call;
static atomic_bool event_seen;
static atomic_int workers_running;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error_at(int thread, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&print_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

/* Count an error; describe the first few. */
static void
error_at(int thread, const char *fmt, ...)
{
	long n = atomic_fetch_add(&errors, 1) + 1;
	va_list ap;

	if (n > ERRORS_SHOWN)
		return;
	pthread_mutex_lock(&print_lock);
	printf("ERROR [thread %d] ", thread);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

/* A C_* call, counted. */
#define CALL(expr) (atomic_fetch_add(&calls, 1), (expr))

/* ---- one worker ---- */

struct worker {
	int index;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	bool have_session;
	EVP_PKEY *cert_key[KEY_KINDS];	/* from the certificate's CKA_VALUE */
	uint64_t rng;
};

/* The one object of `cls` with CKA_ID `id`. */
static CK_RV
find_one(struct worker *w, CK_OBJECT_CLASS cls, CK_BYTE id, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, &id, sizeof(id) },
	};
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n = 0;
	CK_RV rv, rv2;

	atomic_fetch_add(&finds, 1);
	rv = CALL(p11->C_FindObjectsInit(w->session, tmpl, 2));
	if (rv != CKR_OK)
		goto out;
	rv = CALL(p11->C_FindObjects(w->session, found, 4, &n));
	rv2 = CALL(p11->C_FindObjectsFinal(w->session));
	if (rv == CKR_OK)
		rv = rv2;
	if (rv == CKR_OK && n != 1)
		rv = CKR_GENERAL_ERROR;
	if (rv == CKR_OK)
		*out = found[0];
	if (n != 1)
		error_at(w->index, "found %lu objects of class %lu with CKA_ID %02X, want 1",
		         (unsigned long)n, (unsigned long)cls, id);
out:
	return rv;
}

/* Read the certificate with CKA_ID `id` and keep its public key. */
static bool
load_cert_key(struct worker *w, size_t k)
{
	CK_OBJECT_HANDLE cert;
	CK_BYTE *der = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	bool ok = false;
	CK_RV rv;

	rv = find_one(w, CKO_CERTIFICATE, key_kinds[k].id, &cert);
	if (rv != CKR_OK) {
		error_at(w->index, "finding certificate %02X: 0x%lx", key_kinds[k].id,
		         (unsigned long)rv);
		goto out;
	}
	CK_ATTRIBUTE a = { CKA_VALUE, NULL, 0 };
	rv = CALL(p11->C_GetAttributeValue(w->session, cert, &a, 1));
	if (rv != CKR_OK || a.ulValueLen == 0 || a.ulValueLen > CERT_MAX) {
		error_at(w->index, "CKA_VALUE length of certificate %02X: 0x%lx, %lu",
		         key_kinds[k].id, (unsigned long)rv, (unsigned long)a.ulValueLen);
		goto out;
	}
	der = malloc(a.ulValueLen);
	if (der == NULL)
		goto out;
	a.pValue = der;
	rv = CALL(p11->C_GetAttributeValue(w->session, cert, &a, 1));
	if (rv != CKR_OK) {
		error_at(w->index, "CKA_VALUE of certificate %02X: 0x%lx", key_kinds[k].id,
		         (unsigned long)rv);
		goto out;
	}
	p = der;
	x = d2i_X509(NULL, &p, (long)a.ulValueLen);
	if (x == NULL || p != der + a.ulValueLen) {
		error_at(w->index, "certificate %02X does not parse", key_kinds[k].id);
		goto out;
	}
	EVP_PKEY_free(w->cert_key[k]);
	w->cert_key[k] = X509_get_pubkey(x);
	ok = w->cert_key[k] != NULL;
out:
	X509_free(x);
	free(der);
	return ok;
}

static void
close_session(struct worker *w)
{
	CK_RV rv;

	if (!w->have_session)
		return;
	rv = CALL(p11->C_CloseSession(w->session));
	if (rv != CKR_OK)
		error_at(w->index, "C_CloseSession: 0x%lx", (unsigned long)rv);
	w->have_session = false;
}

/* A fresh session, which must see the token's login, and the certificates
 * read again through it. */
static bool
open_session(struct worker *w)
{
	CK_SESSION_INFO info;
	CK_RV rv;

	close_session(w);
	rv = CALL(p11->C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &w->session));
	if (rv != CKR_OK) {
		error_at(w->index, "C_OpenSession(slot %lu): 0x%lx", (unsigned long)w->slot,
		         (unsigned long)rv);
		return false;
	}
	w->have_session = true;
	rv = CALL(p11->C_GetSessionInfo(w->session, &info));
	if (rv != CKR_OK || info.state != CKS_RO_USER_FUNCTIONS || info.slotID != w->slot) {
		error_at(w->index, "C_GetSessionInfo: 0x%lx, state %lu (want %lu: the token's "
		         "login is every session's), slot %lu", (unsigned long)rv,
		         (unsigned long)info.state, (unsigned long)CKS_RO_USER_FUNCTIONS,
		         (unsigned long)info.slotID);
		return false;
	}
	for (size_t k = 0; k < KEY_KINDS; k++)
		if (!load_cert_key(w, k))
			return false;
	return true;
}

/* The PKCS#11 signature as OpenSSL wants it: PKCS#1 as is, ECDSA r||s as
 * DER ECDSA-Sig-Value (SEC 1, C.8). */
static bool
ossl_verify(struct worker *w, size_t k, const uint8_t *msg, size_t msg_len,
            const uint8_t *sig, size_t sig_len)
{
	const EVP_MD *md = key_kinds[k].key_type == CKK_RSA ? EVP_sha256() : EVP_sha384();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	ECDSA_SIG *es = NULL;
	const uint8_t *s = sig;
	size_t s_len = sig_len;
	bool ok = false;

	if (ctx == NULL)
		goto out;
	if (key_kinds[k].key_type == CKK_EC) {
		size_t half = sig_len / 2;
		BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
		BIGNUM *ss = BN_bin2bn(sig + half, (int)half, NULL);
		es = ECDSA_SIG_new();
		if (r == NULL || ss == NULL || es == NULL || !ECDSA_SIG_set0(es, r, ss)) {
			BN_free(r);
			BN_free(ss);
			goto out;
		}
		int n = i2d_ECDSA_SIG(es, &der);
		if (n <= 0)
			goto out;
		s = der;
		s_len = (size_t)n;
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, w->cert_key[k]) == 1 &&
	     EVP_DigestVerify(ctx, s, s_len, msg, msg_len) == 1;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static uint64_t
next_rand(struct worker *w)
{
	/* xorshift64: distinct messages per signature, no shared state. */
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

/* One signature: find both keys, sign, verify twice; every 16th time also
 * check that a corrupted signature is refused. */
static void
sign_once(struct worker *w, size_t k, long n)
{
	const struct key_kind *kk = &key_kinds[k];
	CK_MECHANISM mech = { kk->mech, NULL, 0 };
	CK_OBJECT_HANDLE priv, pub;
	uint8_t msg[64], sig[SIG_MAX];
	CK_ULONG sig_len = 0;
	CK_RV rv;
	int len;

	len = snprintf((char *)msg, sizeof(msg), "kyso threads: thread %d op %ld %016" PRIx64,
	               w->index, n, next_rand(w));
	if (len <= 0)
		return;
	if (find_one(w, CKO_PRIVATE_KEY, kk->id, &priv) != CKR_OK ||
	    find_one(w, CKO_PUBLIC_KEY, kk->id, &pub) != CKR_OK) {
		error_at(w->index, "%s: the keys are not found", kk->name);
		return;
	}
	rv = CALL(p11->C_SignInit(w->session, &mech, priv));
	if (rv != CKR_OK) {
		error_at(w->index, "%s: C_SignInit: 0x%lx", kk->name, (unsigned long)rv);
		return;
	}
	/* The length query first, as applications do (section 5.2). */
	rv = CALL(p11->C_Sign(w->session, msg, (CK_ULONG)len, NULL, &sig_len));
	if (rv == CKR_OK && sig_len > sizeof(sig))
		rv = CKR_BUFFER_TOO_SMALL;
	if (rv == CKR_OK)
		rv = CALL(p11->C_Sign(w->session, msg, (CK_ULONG)len, sig, &sig_len));
	if (rv != CKR_OK) {
		error_at(w->index, "%s: C_Sign: 0x%lx", kk->name, (unsigned long)rv);
		return;
	}
	atomic_fetch_add(&sigs_done, 1);
	if (sig_len != kk->sig_len) {
		error_at(w->index, "%s: signature of %lu bytes, want %zu", kk->name,
		         (unsigned long)sig_len, kk->sig_len);
		return;
	}
	rv = CALL(p11->C_VerifyInit(w->session, &mech, pub));
	if (rv == CKR_OK)
		rv = CALL(p11->C_Verify(w->session, msg, (CK_ULONG)len, sig, sig_len));
	if (rv == CKR_OK)
		atomic_fetch_add(&verified_p11, 1);
	else
		error_at(w->index, "%s: C_Verify: 0x%lx", kk->name, (unsigned long)rv);
	if (ossl_verify(w, k, msg, (size_t)len, sig, sig_len))
		atomic_fetch_add(&verified_ossl, 1);
	else
		error_at(w->index, "%s: OpenSSL does not verify the signature with the "
		         "certificate's key", kk->name);
	if (n % 16 == 0) {
		sig[sig_len / 3] ^= 0x01;
		rv = CALL(p11->C_VerifyInit(w->session, &mech, pub));
		if (rv == CKR_OK)
			rv = CALL(p11->C_Verify(w->session, msg, (CK_ULONG)len, sig, sig_len));
		if (rv == CKR_SIGNATURE_INVALID)
			atomic_fetch_add(&rejected_bad, 1);
		else
			error_at(w->index, "%s: C_Verify of a corrupted signature: 0x%lx, want "
			         "CKR_SIGNATURE_INVALID", kk->name, (unsigned long)rv);
	}
}

/* Keep going while signatures are left to hand out, and in event mode
 * until the waiter has seen its card (within a deadline). */
static bool
claim(long *n)
{
	long got = atomic_fetch_add(&ops_claimed, 1);

	*n = got;
	if (got < opt.ops)
		return true;
	if (opt.waiter != WAITER_EVENT || atomic_load(&event_seen))
		return false;
	return now() - start_time < EVENT_DEADLINE_S;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	long n, mine = 0;

	if (!open_session(w))
		goto out;
	while (claim(&n)) {
		sign_once(w, (size_t)(mine % (long)KEY_KINDS), n);
		mine++;
		if (opt.reopen > 0 && mine % opt.reopen == 0) {
			atomic_fetch_add(&reopens, 1);
			if (!open_session(w))
				break;
		}
	}
out:
	close_session(w);
	for (size_t k = 0; k < KEY_KINDS; k++)
		EVP_PKEY_free(w->cert_key[k]);
	atomic_fetch_sub(&workers_running, 1);
	return NULL;
}

/* ---- the waiter ---- */

static bool
slot_is_reader(CK_SLOT_ID slot, const char *name)
{
	CK_SLOT_INFO info;
	size_t len = strlen(name);

	if (CALL(p11->C_GetSlotInfo(slot, &info)) != CKR_OK)
		return false;
	if (len > sizeof(info.slotDescription))
		return false;
	if (memcmp(info.slotDescription, name, len) != 0)
		return false;
	for (size_t i = len; i < sizeof(info.slotDescription); i++)
		if (info.slotDescription[i] != ' ')
			return false;
	return true;
}

static void *
waiter_main(void *arg)
{
	struct waiter_result *res = arg;
	CK_SLOT_ID slot;
	CK_RV rv;

	while (res->count < MAX_EVENTS) {
		slot = (CK_SLOT_ID)-1;
		if (res->count == 0)
			atomic_fetch_add(&waiters_in_call, 1);
		rv = CALL(p11->C_WaitForSlotEvent(0, &slot, NULL));
		int i = res->count++;
		res->at[i] = now() - start_time;
		res->rv[i] = rv;
		res->slot[i] = slot;
		res->ops_done_at[i] = atomic_load(&sigs_done);
		if (rv != CKR_OK)
			break;
		/* Another call while C_Finalize may run would break the rules
		 * of section 5.4; this one runs while the workers do, which the
		 * main thread waits for before it finalizes. */
		res->slot_is_event_reader[i] = opt.event_reader != NULL &&
		                               slot_is_reader(slot, opt.event_reader);
		if (res->slot_is_event_reader[i])
			atomic_store(&event_seen, true);
	}
	return NULL;
}

/* ---- main ---- */

static int
usage(void)
{
	fprintf(stderr, "usage: threads MODULE [--threads N] [--ops N] [--tokens N] "
	        "[--pin PIN] [--waiter none|finalize|event] [--event-reader NAME] "
	        "[--waiters N] [--reopen N] [--finalize-limit-ms N]\n");
	return 2;
}

static bool
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
parse_options(int argc, char **argv)
{
	long v;

	opt.threads = 16;
	opt.ops = 3200;
	opt.tokens = 1;
	opt.pin = "123456";
	opt.waiter = WAITER_FINALIZE;
	opt.waiters = 1;
	opt.reopen = 50;
	opt.finalize_limit_ms = 2000;
	if (argc < 2)
		return false;
	opt.module = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (val == NULL)
			return false;
		i++;
		if (strcmp(a, "--threads") == 0 && parse_long(val, 0, MAX_THREADS, &v))
			opt.threads = (int)v;
		else if (strcmp(a, "--ops") == 0 && parse_long(val, 0, 10000000, &v))
			opt.ops = v;
		else if (strcmp(a, "--tokens") == 0 && parse_long(val, 1, MAX_TOKENS, &v))
			opt.tokens = (int)v;
		else if (strcmp(a, "--waiters") == 0 && parse_long(val, 1, MAX_WAITERS, &v))
			opt.waiters = (int)v;
		else if (strcmp(a, "--reopen") == 0 && parse_long(val, 0, 1000000, &v))
			opt.reopen = (int)v;
		else if (strcmp(a, "--finalize-limit-ms") == 0 &&
		         parse_long(val, 1, 600000, &v))
			opt.finalize_limit_ms = v;
		else if (strcmp(a, "--pin") == 0)
			opt.pin = val;
		else if (strcmp(a, "--event-reader") == 0)
			opt.event_reader = val;
		else if (strcmp(a, "--waiter") == 0 && strcmp(val, "none") == 0)
			opt.waiter = WAITER_NONE;
		else if (strcmp(a, "--waiter") == 0 && strcmp(val, "finalize") == 0)
			opt.waiter = WAITER_FINALIZE;
		else if (strcmp(a, "--waiter") == 0 && strcmp(val, "event") == 0)
			opt.waiter = WAITER_EVENT;
		else
			return false;
	}
	return opt.waiter != WAITER_EVENT || opt.event_reader != NULL;
}

/* The slots with a token, in slot order; the first opt.tokens are used. */
static bool
pick_tokens(void)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 0;
	CK_RV rv;

	rv = p11->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > 64)
		n = 64;
	if (rv == CKR_OK)
		rv = p11->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK) {
		error_at(-1, "C_GetSlotList: 0x%lx", (unsigned long)rv);
		return false;
	}
	if (n < (CK_ULONG)opt.tokens) {
		error_at(-1, "%lu tokens present, %d wanted", (unsigned long)n, opt.tokens);
		return false;
	}
	for (int i = 0; i < opt.tokens; i++)
		token_slots[i] = slots[i];
	return true;
}

/* After C_Finalize: every waiting thread came back with
 * CKR_CRYPTOKI_NOT_INITIALIZED within the limit; in event mode one of them
 * saw the card while the workers were signing. Returns how long the slowest
 * took, in ms after C_Finalize started. */
static double
check_waiters(const struct waiter_result *wres, int n, double fin_start)
{
	double slowest = 0;
	int events = 0;
	bool during_work = false;

	for (int w = 0; w < n; w++) {
		const struct waiter_result *r = &wres[w];
		CK_RV last = r->count > 0 ? r->rv[r->count - 1] : CKR_OK;
		double back = r->count > 0 ? r->at[r->count - 1] + start_time : now();
		double ms = (back - fin_start) * 1000.0;

		if (ms > slowest)
			slowest = ms;
		if (last != CKR_CRYPTOKI_NOT_INITIALIZED)
			error_at(-1, "waiter %d: C_WaitForSlotEvent ended with 0x%lx after "
			         "C_Finalize, want CKR_CRYPTOKI_NOT_INITIALIZED", w,
			         (unsigned long)last);
		if (ms > (double)opt.finalize_limit_ms)
			error_at(-1, "waiter %d: C_WaitForSlotEvent came back %.0f ms after "
			         "C_Finalize started (limit %ld ms)", w, ms, opt.finalize_limit_ms);
		for (int i = 0; i + 1 < r->count; i++) {
			say("threads: waiter %d, event %d: slot %lu%s at %.3f s, %ld signatures "
			    "done\n", w, i, (unsigned long)r->slot[i],
			    r->slot_is_event_reader[i] ? " (the event reader)" : "", r->at[i],
			    r->ops_done_at[i]);
			events++;
			if (r->slot_is_event_reader[i] && r->ops_done_at[i] < atomic_load(&sigs_done))
				during_work = true;
		}
	}
	if (opt.waiter == WAITER_FINALIZE && events > 0)
		error_at(-1, "C_WaitForSlotEvent reported %d events, none expected", events);
	if (opt.waiter == WAITER_EVENT && !atomic_load(&event_seen))
		error_at(-1, "no C_WaitForSlotEvent event for \"%s\"", opt.event_reader);
	else if (opt.waiter == WAITER_EVENT && !during_work)
		error_at(-1, "the card event came after the workers had finished");
	return slowest;
}

int
main(int argc, char **argv)
{
	static struct worker workers[MAX_THREADS];
	static struct waiter_result wres[MAX_WAITERS];
	CK_C_INITIALIZE_ARGS init = { .flags = CKF_OS_LOCKING_OK };
	CK_SESSION_HANDLE login_session[MAX_TOKENS];
	CK_C_GetFunctionList get_list;
	pthread_t tid[MAX_THREADS], waiter_tid[MAX_WAITERS];
	int started = 0, waiters_started = 0, events = 0;
	bool asked_event = false;
	double work_end = 0, fin_start, fin_end, wake_ms = -1;
	void *lib;
	CK_RV rv;

	if (!parse_options(argc, argv))
		return usage();
	lib = dlopen(opt.module, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "threads: %s\n", dlerror());
		return 1;
	}
	*(void **)&get_list = dlsym(lib, "C_GetFunctionList");
	if (get_list == NULL || get_list(&p11) != CKR_OK) {
		fprintf(stderr, "threads: no C_GetFunctionList in %s\n", opt.module);
		return 1;
	}
	start_time = now();
	rv = p11->C_Initialize(&init);
	if (rv != CKR_OK) {
		fprintf(stderr, "threads: C_Initialize: 0x%lx\n", (unsigned long)rv);
		return 1;
	}
	if (!pick_tokens())
		goto finalize;
	for (int t = 0; t < opt.tokens; t++) {
		rv = p11->C_OpenSession(token_slots[t], CKF_SERIAL_SESSION, NULL, NULL,
		                        &login_session[t]);
		if (rv == CKR_OK)
			rv = p11->C_Login(login_session[t], CKU_USER, (CK_UTF8CHAR_PTR)opt.pin,
			                  (CK_ULONG)strlen(opt.pin));
		if (rv != CKR_OK) {
			error_at(-1, "opening and logging in token %d (slot %lu): 0x%lx", t,
			         (unsigned long)token_slots[t], (unsigned long)rv);
			goto finalize;
		}
	}

	for (int w = 0; opt.waiter != WAITER_NONE && w < opt.waiters; w++) {
		if (pthread_create(&waiter_tid[w], NULL, waiter_main, &wres[w]) != 0) {
			error_at(-1, "pthread_create failed");
			break;
		}
		waiters_started++;
	}
	atomic_store(&workers_running, opt.threads);
	for (int i = 0; i < opt.threads; i++) {
		workers[i].index = i;
		workers[i].slot = token_slots[i % opt.tokens];
		workers[i].rng = 0x9E3779B97F4A7C15u * (uint64_t)(i + 1);
		if (pthread_create(&tid[i], NULL, worker_main, &workers[i]) != 0) {
			error_at(-1, "pthread_create failed");
			atomic_fetch_sub(&workers_running, opt.threads - i);
			break;
		}
		started++;
	}
	/* In event mode, ask for the card once the waiters are in their call
	 * and the workers well under way. */
	while (atomic_load(&workers_running) > 0) {
		if (opt.waiter == WAITER_EVENT && !asked_event &&
		    atomic_load(&waiters_in_call) == waiters_started &&
		    atomic_load(&sigs_done) >= opt.ops / 10) {
			say("threads: waiting for a card event in \"%s\" (%ld signatures so far)\n",
			    opt.event_reader, atomic_load(&sigs_done));
			asked_event = true;
		}
		usleep(10000);
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	work_end = now();
	for (int t = 0; t < opt.tokens; t++) {
		rv = p11->C_Logout(login_session[t]);
		if (rv == CKR_OK)
			rv = p11->C_CloseSession(login_session[t]);
		if (rv != CKR_OK)
			error_at(-1, "logging out token %d: 0x%lx", t, (unsigned long)rv);
	}
	if (waiters_started > 0)
		usleep(100000);	/* let them be well inside the call again */

finalize:
	/* Section 5.4: C_Finalize while threads wait in C_WaitForSlotEvent;
	 * those calls must end with CKR_CRYPTOKI_NOT_INITIALIZED. */
	fin_start = now();
	rv = p11->C_Finalize(NULL);
	fin_end = now();
	if (rv != CKR_OK)
		error_at(-1, "C_Finalize: 0x%lx", (unsigned long)rv);
	for (int w = 0; w < waiters_started; w++) {
		pthread_join(waiter_tid[w], NULL);
		events += wres[w].count > 0 ? wres[w].count - 1 : 0;
	}
	if (waiters_started > 0) {
		wake_ms = check_waiters(wres, waiters_started, fin_start);
		say("threads: %d thread(s) in C_WaitForSlotEvent came back with "
		    "CKR_CRYPTOKI_NOT_INITIALIZED at most %.1f ms after C_Finalize started "
		    "(C_Finalize took %.1f ms)\n", waiters_started, wake_ms,
		    (fin_end - fin_start) * 1000.0);
	}
	if (work_end == 0)
		work_end = fin_start;
	long sigs = atomic_load(&sigs_done);
	double elapsed = work_end - start_time;
	if ((sigs != atomic_load(&verified_p11) || sigs != atomic_load(&verified_ossl)) &&
	    atomic_load(&errors) == 0)
		error_at(-1, "signatures and verifications do not add up");
	if (sigs < opt.ops)
		error_at(-1, "%ld signatures made, %ld wanted", sigs, opt.ops);
	say("threads: %d worker threads, %d token(s), %d waiter(s) (%s)\n", opt.threads,
	    opt.tokens, waiters_started,
	    opt.waiter == WAITER_NONE ? "none" : opt.waiter == WAITER_EVENT ? "event" : "finalize");
	say("threads: %ld signatures, %ld verified by C_Verify, %ld by OpenSSL, "
	    "%ld corrupted ones refused, %ld finds, %ld session reopens, %ld C_ calls\n",
	    sigs, atomic_load(&verified_p11), atomic_load(&verified_ossl),
	    atomic_load(&rejected_bad), atomic_load(&finds), atomic_load(&reopens),
	    atomic_load(&calls));
	say("threads: %ld errors, %.2f s (%.0f signatures/s)\n", atomic_load(&errors), elapsed,
	    elapsed > 0 ? (double)sigs / elapsed : 0.0);
	say("RESULT threads=%d tokens=%d waiters=%d signatures=%ld verified_p11=%ld "
	    "verified_ossl=%ld rejected=%ld calls=%ld errors=%ld elapsed=%.3f "
	    "finalize_wake_ms=%.1f events=%d\n",
	    opt.threads, opt.tokens, waiters_started, sigs, atomic_load(&verified_p11),
	    atomic_load(&verified_ossl), atomic_load(&rejected_bad), atomic_load(&calls),
	    atomic_load(&errors), elapsed, wake_ms, events);
	/* No dlclose(): a sanitizer's leak report needs the module's symbols. */
	return atomic_load(&errors) == 0 ? 0 : 1;
}
