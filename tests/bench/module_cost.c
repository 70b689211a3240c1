/* kyso-bench-cost: a PKCS#11 module's own work, for the benchmark's
 * measure of it (issue 8, point 4).
 *
 *   kyso-bench-cost MODULE list
 *   kyso-bench-cost MODULE sign PIN KEY-ID-HEX COUNT
 *
 * list: C_Initialize, the slots with a token, C_GetTokenInfo, a session,
 * every object, and the attributes NSS reads when it lists a token (the
 * lengths, then the values), as bench_client.py's cold start does.
 * sign: log in, find the private key with CKA_ID KEY-ID, then COUNT times
 * C_SignInit + C_Sign. The key's type picks the mechanism: CKM_ECDSA over
 * 32 bytes, CKM_RSA_PKCS over a SHA-256 DigestInfo (RFC 8017, 9.2 note 1).
 * The bytes signed are a fixed pattern, not a real hash: the card signs
 * what it is given, and the figure is the module's work around it.
 *
 * The measured work is in bench_list() and bench_sign(), never inlined,
 * so that `valgrind --tool=callgrind --collect-atstart=no
 * --toggle-collect=bench_sign` counts exactly its instructions: the
 * module's, and pcsc-lite's client side, which the module calls; never the
 * card's, which is another process (kyso-vcard). Natively, the program
 * prints the process's CPU time in that function (and its wall time,
 * which includes the card's), one line:
 *   what=list|sign count=N errors=E cpu_ns=T wall_ns=W   (per operation)
 * Exit 0 when every call succeeded, 1 otherwise. */

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

/* The C_ functions this program calls, resolved by name from the module. */
struct p11 {
	CK_C_Initialize initialize;
	CK_C_Finalize finalize;
	CK_C_GetSlotList get_slot_list;
	CK_C_GetTokenInfo get_token_info;
	CK_C_OpenSession open_session;
	CK_C_CloseSession close_session;
	CK_C_Login login;
	CK_C_FindObjectsInit find_init;
	CK_C_FindObjects find;
	CK_C_FindObjectsFinal find_final;
	CK_C_GetAttributeValue get_attribute_value;
	CK_C_SignInit sign_init;
	CK_C_Sign sign;
};

struct counts {
	unsigned long ops;
	unsigned long errors;
};

static int
p11_load(void *lib, struct p11 *f)
{
	static const struct {
		const char *name;
		size_t offset;
	} names[] = {
		{ "C_Initialize", offsetof(struct p11, initialize) },
		{ "C_Finalize", offsetof(struct p11, finalize) },
		{ "C_GetSlotList", offsetof(struct p11, get_slot_list) },
		{ "C_GetTokenInfo", offsetof(struct p11, get_token_info) },
		{ "C_OpenSession", offsetof(struct p11, open_session) },
		{ "C_CloseSession", offsetof(struct p11, close_session) },
		{ "C_Login", offsetof(struct p11, login) },
		{ "C_FindObjectsInit", offsetof(struct p11, find_init) },
		{ "C_FindObjects", offsetof(struct p11, find) },
		{ "C_FindObjectsFinal", offsetof(struct p11, find_final) },
		{ "C_GetAttributeValue", offsetof(struct p11, get_attribute_value) },
		{ "C_SignInit", offsetof(struct p11, sign_init) },
		{ "C_Sign", offsetof(struct p11, sign) },
	};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *sym = dlsym(lib, names[i].name);

		if (sym == NULL) {
			fprintf(stderr, "kyso-bench-cost: no %s in the module\n",
			        names[i].name);
			return -1;
		}
		/* POSIX: dlsym's object pointer converts to a function
		 * pointer; memcpy says so without a cast warning. */
		memcpy((char *)f + names[i].offset, &sym, sizeof sym);
	}
	return 0;
}

static int
parse_hex(const char *hex, CK_BYTE *out, size_t max, size_t *len)
{
	size_t n = strlen(hex), i;

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (CK_BYTE)v;
	}
	*len = n / 2;
	return 0;
}

static long long
now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The attributes NSS reads when it lists a token, per object class and
 * key type: the lists of bench_client.py (COMMON_ATTRS, CLASS_ATTRS,
 * KEY_ATTRS), so that this listing asks what the cold-start scenario asks.
 * CKA_CLASS is read first, alone. */
#define MAX_ATTRS 16
static const CK_ATTRIBUTE_TYPE common_attrs[] = {
	CKA_TOKEN, CKA_PRIVATE, CKA_ID, CKA_LABEL,
};
static const struct {
	CK_OBJECT_CLASS cls;
	CK_ATTRIBUTE_TYPE attrs[MAX_ATTRS];
	size_t n;
} class_attrs[] = {
	{ CKO_CERTIFICATE, { CKA_CERTIFICATE_TYPE, CKA_VALUE, CKA_ISSUER,
	  CKA_SUBJECT, CKA_SERIAL_NUMBER, CKA_TRUSTED,
	  CKA_CERTIFICATE_CATEGORY }, 7 },
	{ CKO_PUBLIC_KEY, { CKA_KEY_TYPE, CKA_SUBJECT, CKA_VERIFY, CKA_ENCRYPT,
	  CKA_WRAP, CKA_DERIVE }, 6 },
	{ CKO_PRIVATE_KEY, { CKA_KEY_TYPE, CKA_SUBJECT, CKA_SIGN, CKA_DECRYPT,
	  CKA_UNWRAP, CKA_DERIVE, CKA_SENSITIVE, CKA_EXTRACTABLE,
	  CKA_ALWAYS_AUTHENTICATE }, 9 },
	{ CKO_DATA, { CKA_APPLICATION, CKA_OBJECT_ID }, 2 },
};
static const struct {
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE type;
	CK_ATTRIBUTE_TYPE attrs[2];
	size_t n;
} key_attrs[] = {
	{ CKO_PUBLIC_KEY, CKK_RSA, { CKA_MODULUS, CKA_PUBLIC_EXPONENT }, 2 },
	{ CKO_PUBLIC_KEY, CKK_EC, { CKA_EC_PARAMS, CKA_EC_POINT }, 2 },
	{ CKO_PRIVATE_KEY, CKK_RSA, { CKA_MODULUS, CKA_PUBLIC_EXPONENT }, 2 },
	{ CKO_PRIVATE_KEY, CKK_EC, { CKA_EC_PARAMS }, 1 },
};

static int
attributes_ok(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	       rv == CKR_ATTRIBUTE_SENSITIVE;
}

/* As NSS (PK11_GetAttributes): the lengths, then the values of those the
 * object has. With `ulong`, the first value read as a CK_ULONG. */
static void
read_attributes(const struct p11 *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                const CK_ATTRIBUTE_TYPE *types, size_t count, CK_ULONG *ulong,
                struct counts *n)
{
	CK_ATTRIBUTE tmpl[MAX_ATTRS + 4], vals[MAX_ATTRS + 4];
	CK_ULONG nvals = 0;
	size_t i;
	CK_RV rv;

	for (i = 0; i < count; i++) {
		tmpl[i].type = types[i];
		tmpl[i].pValue = NULL;
		tmpl[i].ulValueLen = 0;
	}
	rv = f->get_attribute_value(s, o, tmpl, (CK_ULONG)count);
	if (!attributes_ok(rv)) {
		fprintf(stderr, "kyso-bench-cost: C_GetAttributeValue: 0x%lx\n", rv);
		n->errors++;
		return;
	}
	for (i = 0; i < count; i++) {
		if (tmpl[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
			continue;
		vals[nvals] = tmpl[i];
		vals[nvals].pValue = calloc(1, tmpl[i].ulValueLen + sizeof(CK_ULONG));
		nvals++;
	}
	rv = f->get_attribute_value(s, o, vals, nvals);
	if (!attributes_ok(rv)) {
		fprintf(stderr, "kyso-bench-cost: C_GetAttributeValue: 0x%lx\n", rv);
		n->errors++;
	}
	if (ulong != NULL && nvals > 0 && vals[0].type == types[0] &&
	    vals[0].pValue != NULL && vals[0].ulValueLen == sizeof(CK_ULONG))
		memcpy(ulong, vals[0].pValue, sizeof(CK_ULONG));
	for (i = 0; i < nvals; i++)
		free(vals[i].pValue);
}

static void
list_object(const struct p11 *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
            struct counts *n)
{
	static const CK_ATTRIBUTE_TYPE class_only[] = { CKA_CLASS };
	CK_ATTRIBUTE_TYPE types[MAX_ATTRS + 4];
	CK_ULONG cls = (CK_ULONG)-1, key_type = (CK_ULONG)-1;
	size_t i, count = 0, extra = 0;

	read_attributes(f, s, o, class_only, 1, &cls, n);
	for (i = 0; i < sizeof common_attrs / sizeof common_attrs[0]; i++)
		types[count++] = common_attrs[i];
	for (i = 0; i < sizeof class_attrs / sizeof class_attrs[0]; i++) {
		if (class_attrs[i].cls != cls)
			continue;
		/* CKA_KEY_TYPE first, for read_attributes' `ulong`. */
		memmove(types + class_attrs[i].n, types,
		        count * sizeof types[0]);
		memcpy(types, class_attrs[i].attrs,
		       class_attrs[i].n * sizeof types[0]);
		count += class_attrs[i].n;
	}
	read_attributes(f, s, o, types, count, &key_type, n);
	if (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY)
		return;
	for (i = 0; i < sizeof key_attrs / sizeof key_attrs[0]; i++) {
		if (key_attrs[i].cls == cls && key_attrs[i].type == key_type) {
			extra = key_attrs[i].n;
			read_attributes(f, s, o, key_attrs[i].attrs, extra, NULL, n);
		}
	}
}

/* Measured: C_Initialize to the last attribute of the last object. */
__attribute__((noinline)) static void
bench_list(const struct p11 *f, struct counts *n)
{
	CK_SLOT_ID slots[16];
	CK_ULONG nslots = 16, i, found;
	CK_OBJECT_HANDLE objs[64];
	CK_TOKEN_INFO info;
	CK_SESSION_HANDLE s;

	if (f->initialize(NULL) != CKR_OK ||
	    f->get_slot_list(CK_TRUE, slots, &nslots) != CKR_OK) {
		n->errors++;
		return;
	}
	for (i = 0; i < nslots; i++) {
		n->ops++;
		if (f->get_token_info(slots[i], &info) != CKR_OK ||
		    f->open_session(slots[i], CKF_SERIAL_SESSION, NULL, NULL,
		                    &s) != CKR_OK) {
			n->errors++;
			continue;
		}
		found = 0;
		if (f->find_init(s, NULL, 0) != CKR_OK ||
		    f->find(s, objs, 64, &found) != CKR_OK ||
		    f->find_final(s) != CKR_OK)
			n->errors++;
		for (CK_ULONG j = 0; j < found; j++)
			list_object(f, s, objs[j], n);
		f->close_session(s);
	}
}

/* Measured: COUNT times C_SignInit + C_Sign. */
__attribute__((noinline)) static void
bench_sign(const struct p11 *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
           CK_MECHANISM *mech, CK_BYTE *data, CK_ULONG data_len,
           unsigned long count, struct counts *n)
{
	CK_BYTE sig[1024];
	CK_ULONG sig_len;
	CK_RV rv;

	for (; count > 0; count--) {
		sig_len = sizeof sig;
		n->ops++;
		rv = f->sign_init(s, mech, key);
		if (rv == CKR_OK)
			rv = f->sign(s, data, data_len, sig, &sig_len);
		if (rv != CKR_OK)
			n->errors++;
	}
}

static CK_RV
sign_setup(const struct p11 *f, const char *pin, const char *id_hex,
           CK_SESSION_HANDLE *s, CK_OBJECT_HANDLE *key, CK_KEY_TYPE *type)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BYTE id[64];
	size_t id_len = 0;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_ID, id, 0 },
	};
	CK_ATTRIBUTE kt = { CKA_KEY_TYPE, type, sizeof *type };
	CK_SLOT_ID slots[16];
	CK_ULONG nslots = 16, found = 0;
	CK_RV rv, rv2;

	if (parse_hex(id_hex, id, sizeof id, &id_len) != 0)
		return CKR_ARGUMENTS_BAD;
	tmpl[1].ulValueLen = (CK_ULONG)id_len;
	rv = f->initialize(NULL);
	if (rv != CKR_OK)
		goto out;
	rv = f->get_slot_list(CK_TRUE, slots, &nslots);
	if (rv == CKR_OK && nslots == 0)
		rv = CKR_TOKEN_NOT_PRESENT;
	if (rv == CKR_OK)
		rv = f->open_session(slots[0], CKF_SERIAL_SESSION, NULL, NULL, s);
	if (rv == CKR_OK)
		rv = f->login(*s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
		              (CK_ULONG)strlen(pin));
	if (rv == CKR_OK)
		rv = f->find_init(*s, tmpl, 2);
	if (rv != CKR_OK)
		goto out;
	rv = f->find(*s, key, 1, &found);
	rv2 = f->find_final(*s);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv == CKR_OK && found != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_OK)
		rv = f->get_attribute_value(*s, *key, &kt, 1);
out:
	return rv;
}

int
main(int argc, char **argv)
{
	/* SHA-256 DigestInfo prefix (RFC 8017, 9.2 note 1) + 32 bytes. */
	static const CK_BYTE digest_info[19] = {
		0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
	};
	struct p11 f;
	struct counts n = { 0, 0 };
	void *lib = NULL;
	CK_BYTE data[19 + 32];
	CK_ULONG data_len = 32;
	CK_SESSION_HANDLE s = 0;
	CK_OBJECT_HANDLE key = 0;
	CK_KEY_TYPE key_type = 0;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	unsigned long count = 0;
	long long cpu0, wall0, cpu1, wall1;
	int list, status = 1;
	CK_RV rv;

	list = argc == 3 && strcmp(argv[2], "list") == 0;
	if (!list && (argc != 6 || strcmp(argv[2], "sign") != 0 ||
	              (count = strtoul(argv[5], NULL, 10)) == 0)) {
		fprintf(stderr, "usage: kyso-bench-cost MODULE list\n"
		        "       kyso-bench-cost MODULE sign PIN KEY-ID-HEX COUNT\n");
		goto out;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "kyso-bench-cost: %s\n", dlerror());
		goto out;
	}
	if (p11_load(lib, &f) != 0)
		goto out;
	if (list) {
		cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		wall0 = now_ns(CLOCK_MONOTONIC);
		bench_list(&f, &n);
		cpu1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		wall1 = now_ns(CLOCK_MONOTONIC);
		count = 1;
	} else {
		rv = sign_setup(&f, argv[3], argv[4], &s, &key, &key_type);
		if (rv != CKR_OK) {
			fprintf(stderr, "kyso-bench-cost: setting up: 0x%lx\n", rv);
			goto out;
		}
		memset(data, 0x5A, sizeof data);
		if (key_type == CKK_RSA) {
			mech.mechanism = CKM_RSA_PKCS;
			memcpy(data, digest_info, sizeof digest_info);
			data_len = sizeof data;
		}
		cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		wall0 = now_ns(CLOCK_MONOTONIC);
		bench_sign(&f, s, key, &mech, data, data_len, count, &n);
		cpu1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
		wall1 = now_ns(CLOCK_MONOTONIC);
	}
	printf("what=%s count=%lu tokens=%lu errors=%lu cpu_ns=%lld "
	       "wall_ns=%lld\n", list ? "list" : "sign", count,
	       list ? n.ops : 1UL, n.errors,
	       (cpu1 - cpu0) / (long long)count, (wall1 - wall0) / (long long)count);
	status = n.errors == 0 ? 0 : 1;
out:
	if (lib != NULL)
		f.finalize(NULL);
	/* No dlclose: OpenSC's module leaves threads behind, and the process
	 * ends here anyway. */
	return status;
}
