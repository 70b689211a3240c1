/* Are PINs wiped after use? This program replaces the process's malloc,
 * calloc, realloc and free (an executable's definitions take precedence over
 * the C library's for every library it loads, the module, OpenSSL and
 * pcsc-lite included), keeps a table of the live heap blocks, and:
 *
 *  - looks for every PIN, PUK and wrong PIN of the test in each block as it
 *    is freed (the whole usable size of the block): a match means a copy was
 *    released without being wiped, left for the next malloc() to hand out;
 *  - after each PKCS#11 call that takes a PIN, and after C_Finalize, looks
 *    for them in every live block of the heap: a match means a copy is kept.
 *
 * The PINs reach the module from this program's read-only data, never from
 * the heap, so any heap copy is someone else's. realloc() goes through the
 * same check (a moved block's old copy is freed by the C library without
 * passing through free()). The one copy kyso keeps on purpose is the PUK,
 * from C_Login(CKU_SO) until C_InitPIN or C_Logout (docs/piv.md): the
 * live-heap check skips the PUK in those phases and only those.
 *
 * Before it starts, the program checks the checker: an unwiped block freed
 * and a live one, both holding a canary, must be found.
 *
 * What it does not see: copies on the stack or in registers, memory that
 * another process (pcscd, the card) holds, and blocks from mmap() outside
 * malloc.
 *
 *   pin_wipe MODULE [READER]   the demo PIV card (PIN 123456, PUK 12345678)
 *                              in the first slot with a token, or in READER
 *
 * Prints what it checked and one "RESULT ..." line; exit 0 when no copy was
 * found and the control worked. */
#include <dlfcn.h>
#include <execinfo.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

/* glibc's own allocator, under the names it exports for replacements. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

/* The replacements (declared in stdlib.h/malloc.h, defined here), visible
 * to the libraries: the project builds with -fvisibility=hidden. */
#define REPLACES __attribute__((visibility("default")))
REPLACES void *malloc(size_t size);
REPLACES void *calloc(size_t n, size_t size);
REPLACES void *realloc(void *p, size_t size);
REPLACES void free(void *p);
REPLACES void *memalign(size_t align, size_t size);
REPLACES void *aligned_alloc(size_t align, size_t size);
REPLACES int posix_memalign(void **out, size_t align, size_t size);
REPLACES void *valloc(size_t size);
REPLACES void *pvalloc(size_t size);

/* ---- the live-block table: open addressing, no allocation ---- */

#define TABLE_BITS 20
#define TABLE_SIZE (1u << TABLE_BITS)
#define TOMBSTONE ((void *)1)

static void *table[TABLE_SIZE];
static size_t table_live;
static bool table_full;
/* Recursive: backtrace() inside free() must not deadlock should it allocate. */
static pthread_mutex_t heap_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static size_t
slot_of(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15u;
	return (size_t)(h >> (64 - TABLE_BITS));
}

static void
table_add(void *p)
{
	size_t i = slot_of(p);

	for (size_t n = 0; n < TABLE_SIZE; n++, i = (i + 1) & (TABLE_SIZE - 1)) {
		if (table[i] == NULL || table[i] == TOMBSTONE) {
			table[i] = p;
			table_live++;
			return;
		}
	}
	table_full = true;
}

static void
table_remove(void *p)
{
	size_t i = slot_of(p);

	for (size_t n = 0; n < TABLE_SIZE; n++, i = (i + 1) & (TABLE_SIZE - 1)) {
		if (table[i] == NULL)
			return;
		if (table[i] == p) {
			table[i] = TOMBSTONE;
			table_live--;
			return;
		}
	}
}

/* ---- what is looked for ---- */

struct needle {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	bool held_ok;		/* a live copy is expected right now */
};

#define MAX_NEEDLES 8
#define MAX_INCIDENTS 16
#define BT_DEPTH 16

struct incident {
	const char *needle;
	const char *phase;
	bool freed;		/* in a block being freed, else a live one */
	size_t block_size;
	size_t offset;
	void *bt[BT_DEPTH];
	int bt_len;
};

static struct needle needles[MAX_NEEDLES];
static size_t needle_count;
static struct incident incidents[MAX_INCIDENTS];
static size_t incident_count;
static unsigned long frees_checked;
static unsigned long frees_of_untracked;
static const char *phase = "start-up";
static __thread bool in_check;	/* backtrace() may allocate */

static void
note(const char *needle, bool freed, size_t size, size_t offset)
{
	struct incident *in;

	if (incident_count >= MAX_INCIDENTS) {
		incident_count++;
		return;
	}
	in = &incidents[incident_count++];
	in->needle = needle;
	in->phase = phase;
	in->freed = freed;
	in->block_size = size;
	in->offset = offset;
	in->bt_len = freed ? backtrace(in->bt, BT_DEPTH) : 0;
}

/* Whether the match of `n` at `at` lies inside a copy of a needle that is
 * held on purpose right now (the demo PUK 12345678 begins with the demo PIN
 * 123456: the held PUK is not a copy of the PIN). */
static bool
inside_held(const struct needle *n, const uint8_t *base, size_t size, const uint8_t *at)
{
	for (size_t i = 0; i < needle_count; i++) {
		const struct needle *h = &needles[i];
		const uint8_t *k;
		if (!h->held_ok || h == n || h->len < n->len)
			continue;
		k = memmem(h->bytes, h->len, n->bytes, n->len);
		if (k == NULL)
			continue;
		size_t shift = (size_t)(k - h->bytes);
		size_t off = (size_t)(at - base);
		if (off >= shift && off - shift + h->len <= size &&
		    memcmp(at - shift, h->bytes, h->len) == 0)
			return true;
	}
	return false;
}

/* Look for every needle in one block; `freed`: it is being released. */
static void
scan_block(const void *p, bool freed)
{
	const uint8_t *base = p;
	size_t size = malloc_usable_size((void *)p);

	for (size_t i = 0; i < needle_count; i++) {
		const struct needle *n = &needles[i];
		const uint8_t *at = base;
		if (!freed && n->held_ok)
			continue;
		while ((at = memmem(at, size - (size_t)(at - base), n->bytes, n->len)) != NULL) {
			if (freed || !inside_held(n, base, size, at)) {
				note(n->name, freed, size, (size_t)(at - base));
				break;
			}
			at++;
		}
	}
}

/* ---- the allocator ---- */

void *
malloc(size_t size)
{
	void *p = __libc_malloc(size);

	if (p != NULL) {
		pthread_mutex_lock(&heap_lock);
		table_add(p);
		pthread_mutex_unlock(&heap_lock);
	}
	return p;
}

void *
calloc(size_t n, size_t size)
{
	void *p = __libc_calloc(n, size);

	if (p != NULL) {
		pthread_mutex_lock(&heap_lock);
		table_add(p);
		pthread_mutex_unlock(&heap_lock);
	}
	return p;
}

void *
memalign(size_t align, size_t size)
{
	void *p = __libc_memalign(align, size);

	if (p != NULL) {
		pthread_mutex_lock(&heap_lock);
		table_add(p);
		pthread_mutex_unlock(&heap_lock);
	}
	return p;
}

void *
aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

int
posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return 22;	/* EINVAL */
	p = memalign(align, size);
	if (p == NULL)
		return 12;	/* ENOMEM */
	*out = p;
	return 0;
}

void *
valloc(size_t size)
{
	return memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *
pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return memalign(page, (size + page - 1) / page * page);
}

void
free(void *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&heap_lock);
	if (!in_check) {
		in_check = true;
		frees_checked++;
		scan_block(p, true);
		in_check = false;
	}
	size_t before = table_live;
	table_remove(p);
	if (table_live == before)
		frees_of_untracked++;
	pthread_mutex_unlock(&heap_lock);
	__libc_free(p);
}

/* Always moves the block, so that the old copy passes through free(). */
void *
realloc(void *p, size_t size)
{
	void *q;
	size_t old;

	if (p == NULL)
		return malloc(size);
	if (size == 0) {
		free(p);
		return NULL;
	}
	q = malloc(size);
	if (q == NULL)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < size ? old : size);
	free(p);
	return q;
}

/* Every live block, for every needle not expected right now. */
static void
scan_heap(const char *what)
{
	unsigned long blocks = 0;
	size_t before = incident_count;

	pthread_mutex_lock(&heap_lock);
	phase = what;
	in_check = true;
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		if (table[i] == NULL || table[i] == TOMBSTONE)
			continue;
		scan_block(table[i], false);
		blocks++;
	}
	in_check = false;
	pthread_mutex_unlock(&heap_lock);
	printf("pin_wipe: %-48s %6lu live blocks: %s\n", what, blocks,
	       incident_count == before ? "no PIN" : "PIN FOUND");
	fflush(stdout);
}

static void
set_phase(const char *what)
{
	pthread_mutex_lock(&heap_lock);
	phase = what;
	pthread_mutex_unlock(&heap_lock);
}

/* ---- the test ---- */

static const uint8_t PIN0[] = "123456";		/* the demo card's */
static const uint8_t PIN1[] = "k9#Qv7!z";	/* set with C_SetPIN */
static const uint8_t PIN2[] = "Wp3$x8&m";	/* set with C_InitPIN */
static const uint8_t WRONG[] = "0z!Kq4#u";	/* refused */
static const uint8_t PUK[] = "12345678";	/* the demo card's */
static const uint8_t CANARY[] = "kyso-canary-6f1d";

static struct needle *
needle_add(const char *name, const uint8_t *bytes, size_t len)
{
	struct needle *n = &needles[needle_count++];

	n->name = name;
	n->bytes = bytes;
	n->len = len;
	return n;
}

static CK_FUNCTION_LIST_PTR p11;
static int failures;

static void
expect(CK_RV got, CK_RV want, const char *what)
{
	if (got == want)
		return;
	printf("pin_wipe: %s: 0x%lx, expected 0x%lx\n", what, (unsigned long)got,
	       (unsigned long)want);
	failures++;
}

/* The checker must see an unwiped copy, freed or live. */
static bool
control(void)
{
	struct needle *n = needle_add("canary", CANARY, sizeof(CANARY) - 1);
	size_t before = incident_count;
	char *live, *freed;
	bool ok;

	set_phase("control");
	freed = malloc(64);
	live = malloc(64);
	if (freed == NULL || live == NULL)
		return false;
	memcpy(freed + 5, CANARY, sizeof(CANARY) - 1);
	memcpy(live + 9, CANARY, sizeof(CANARY) - 1);
	free(freed);
	scan_heap("control (one live and one freed canary)");
	ok = incident_count == before + 2 && incidents[before].freed &&
	     !incidents[before + 1].freed;
	memset(live, 0, 64);
	free(live);
	incident_count = before;	/* the control's own finds */
	n->len = 0;
	needle_count--;
	return ok;
}

static CK_OBJECT_HANDLE
find_key(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_BYTE id)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, &id, sizeof(id) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (p11->C_FindObjectsInit(s, tmpl, 2) == CKR_OK) {
		p11->C_FindObjects(s, &h, 1, &n);
		p11->C_FindObjectsFinal(s);
	}
	return n == 1 ? h : CK_INVALID_HANDLE;
}

static CK_RV
login(CK_SESSION_HANDLE s, CK_USER_TYPE who, const uint8_t *pin, size_t len)
{
	return p11->C_Login(s, who, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)len);
}

#define PINLEN(p) (sizeof(p) - 1)

static void
run(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE s;
	CK_MECHANISM ecdsa = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_BYTE msg[] = "signed with a context login", sig[128];
	CK_ULONG sig_len = sizeof(sig);
	struct needle *puk = NULL;

	expect(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
	       CKR_OK, "C_OpenSession");

	set_phase("C_Login(CKU_USER, demo PIN)");
	expect(login(s, CKU_USER, PIN0, PINLEN(PIN0)), CKR_OK, "C_Login(demo PIN)");
	scan_heap("after C_Login(CKU_USER)");

	set_phase("C_SetPIN");
	expect(p11->C_SetPIN(s, (CK_UTF8CHAR_PTR)PIN0, PINLEN(PIN0), (CK_UTF8CHAR_PTR)PIN1,
	                     PINLEN(PIN1)), CKR_OK, "C_SetPIN");
	scan_heap("after C_SetPIN (old and new PIN)");

	set_phase("C_Logout, C_Login(CKU_USER, wrong PIN)");
	expect(p11->C_Logout(s), CKR_OK, "C_Logout");
	expect(login(s, CKU_USER, WRONG, PINLEN(WRONG)), CKR_PIN_INCORRECT,
	       "C_Login(wrong PIN)");
	scan_heap("after C_Login with a wrong PIN");

	set_phase("C_Login(CKU_USER, new PIN)");
	expect(login(s, CKU_USER, PIN1, PINLEN(PIN1)), CKR_OK, "C_Login(new PIN)");
	scan_heap("after C_Login(CKU_USER) with the new PIN");

	/* 9C wants the PIN again for each signature (SP 800-73-4 pt 1,
	 * 3.2.2): C_Login(CKU_CONTEXT_SPECIFIC) between SignInit and Sign. */
	set_phase("C_Login(CKU_CONTEXT_SPECIFIC)");
	CK_OBJECT_HANDLE key = find_key(s, CKO_PRIVATE_KEY, 0x02);
	expect(key != CK_INVALID_HANDLE ? CKR_OK : CKR_KEY_HANDLE_INVALID, CKR_OK,
	       "finding the 9C key (CKA_ID 02)");
	expect(p11->C_SignInit(s, &ecdsa, key), CKR_OK, "C_SignInit(9C)");
	expect(login(s, CKU_CONTEXT_SPECIFIC, PIN1, PINLEN(PIN1)), CKR_OK,
	       "C_Login(CKU_CONTEXT_SPECIFIC)");
	expect(p11->C_Sign(s, msg, sizeof(msg) - 1, sig, &sig_len), CKR_OK, "C_Sign(9C)");
	scan_heap("after C_Login(CKU_CONTEXT_SPECIFIC) and C_Sign");

	/* The SO is the PUK holder: kyso keeps the PUK until C_InitPIN. */
	set_phase("C_Login(CKU_SO)");
	expect(p11->C_Logout(s), CKR_OK, "C_Logout");
	puk = &needles[needle_count - 1];
	puk->held_ok = true;
	expect(login(s, CKU_SO, PUK, PINLEN(PUK)), CKR_OK, "C_Login(CKU_SO)");
	scan_heap("after C_Login(CKU_SO) (the PUK held, by design)");
	set_phase("C_InitPIN");
	expect(p11->C_InitPIN(s, (CK_UTF8CHAR_PTR)PIN2, PINLEN(PIN2)), CKR_OK, "C_InitPIN");
	puk->held_ok = false;
	scan_heap("after C_InitPIN (the PUK forgotten)");

	/* The PUK held once more, and the session closed without C_Logout. */
	set_phase("C_Login(CKU_SO), C_CloseSession");
	expect(p11->C_Logout(s), CKR_OK, "C_Logout");
	puk->held_ok = true;
	expect(login(s, CKU_SO, PUK, PINLEN(PUK)), CKR_OK, "C_Login(CKU_SO) again");
	puk->held_ok = false;
	expect(p11->C_CloseSession(s), CKR_OK, "C_CloseSession");
	scan_heap("after C_CloseSession of the SO's last session");

	/* And held when the application finalizes. */
	set_phase("C_Login(CKU_SO), C_Finalize");
	expect(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
	       CKR_OK, "C_OpenSession");
	puk->held_ok = true;
	expect(login(s, CKU_SO, PUK, PINLEN(PUK)), CKR_OK, "C_Login(CKU_SO) before C_Finalize");
	puk->held_ok = false;
}

int
main(int argc, char **argv)
{
	CK_C_GetFunctionList get_list;
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32;
	void *lib, *warm[1];
	bool control_ok;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: pin_wipe MODULE [READER]\n");
		return 2;
	}
	/* backtrace() loads libgcc_s on its first call: not inside free(). */
	(void)backtrace(warm, 1);
	control_ok = control();
	printf("pin_wipe: control: %s\n", control_ok ? "an unwiped canary is found, freed "
	       "and live" : "THE CHECKER DOES NOT WORK");

	needle_add("the demo PIN", PIN0, PINLEN(PIN0));
	needle_add("the PIN set by C_SetPIN", PIN1, PINLEN(PIN1));
	needle_add("the PIN set by C_InitPIN", PIN2, PINLEN(PIN2));
	needle_add("the wrong PIN", WRONG, PINLEN(WRONG));
	needle_add("the PUK", PUK, PINLEN(PUK));	/* last: run() marks it */

	set_phase("C_Initialize");
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "pin_wipe: %s\n", dlerror());
		return 1;
	}
	*(void **)&get_list = dlsym(lib, "C_GetFunctionList");
	if (get_list == NULL || get_list(&p11) != CKR_OK)
		return 1;
	expect(p11->C_Initialize(NULL), CKR_OK, "C_Initialize");
	expect(p11->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK, "C_GetSlotList");
	if (n == 0) {
		printf("pin_wipe: no token\n");
		return 1;
	}
	CK_SLOT_ID slot = slots[0];
	for (CK_ULONG i = 0; argc == 3 && i < n; i++) {
		CK_SLOT_INFO info;
		if (p11->C_GetSlotInfo(slots[i], &info) == CKR_OK &&
		    memcmp(info.slotDescription, argv[2], strlen(argv[2])) == 0)
			slot = slots[i];
	}
	run(slot);
	expect(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
	scan_heap("after C_Finalize (the PUK was held)");

	for (size_t i = 0; i < incident_count && i < MAX_INCIDENTS; i++) {
		struct incident *in = &incidents[i];
		printf("pin_wipe: FOUND %s in a %s block of %zu bytes at offset %zu, during "
		       "\"%s\"\n", in->needle, in->freed ? "freed" : "live", in->block_size,
		       in->offset, in->phase);
		fflush(stdout);
		if (in->bt_len > 0)
			backtrace_symbols_fd(in->bt, in->bt_len, STDOUT_FILENO);
	}
	printf("RESULT control=%s frees_checked=%lu untracked_frees=%lu table_full=%d "
	       "found=%zu call_failures=%d\n", control_ok ? "ok" : "broken", frees_checked,
	       frees_of_untracked, table_full, incident_count, failures);
	/* No dlclose(): the backtraces above name the module's code. */
	return control_ok && incident_count == 0 && failures == 0 && !table_full ? 0 : 1;
}
