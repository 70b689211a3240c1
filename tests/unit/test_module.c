/* The module's argument checks (PKCS#11 2.40 chapter 5), with no card and no
 * pcscd: every C_* function says CKR_CRYPTOKI_NOT_INITIALIZED before
 * C_Initialize, CKR_ARGUMENTS_BAD for missing pointers, and
 * CKR_SLOT_ID_INVALID / CKR_SESSION_HANDLE_INVALID for handles it never
 * gave out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <p11-kit/pkcs11.h>

#define BAD_SLOT ((CK_SLOT_ID)4242)
#define BAD_SESSION ((CK_SESSION_HANDLE)4242)
#define BAD_OBJECT ((CK_OBJECT_HANDLE)4242)

static CK_FUNCTION_LIST_PTR f;

static int
setup(void **state)
{
	(void)state;
	/* No pcscd: the client library is pointed at a socket that is not
	 * there, so the module must come up with zero slots, at once. */
	setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/kyso-test/pcscd.comm", 1);
	unsetenv("KYSO_DEBUG");
	return C_GetFunctionList(&f) == CKR_OK ? 0 : -1;
}

static void
test_function_list(void **state)
{
	(void)state;
	assert_int_equal(C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->version.major, 2);
	assert_int_equal(f->version.minor, 40);
	/* Every slot of the list is filled. */
	const CK_VOID_PTR *fn = (const CK_VOID_PTR *)&f->C_Initialize;
	size_t n = (sizeof(*f) - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(void *);
	assert_int_equal(n, 68);
	for (size_t i = 0; i < n; i++)
		assert_non_null(fn[i]);
}

static void
test_not_initialized(void **state)
{
	CK_ULONG n = 0;
	CK_INFO info;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h;
	CK_BYTE b[8];
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };

	(void)state;
	assert_int_equal(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL),
	                 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h),
	                 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_Login(1, CKU_USER, b, 4), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_DigestInit(1, &m), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_SignInit(1, &m, 1), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_GenerateRandom(1, b, sizeof(b)), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_EncryptInit(1, &m, 1), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_CloseAllSessions(1), CKR_CRYPTOKI_NOT_INITIALIZED);
}

static void
test_initialize_args(void **state)
{
	CK_C_INITIALIZE_ARGS args;

	(void)state;
	memset(&args, 0, sizeof(args));
	args.pReserved = &args;
	assert_int_equal(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);

	/* Some but not all mutex callbacks. */
	memset(&args, 0, sizeof(args));
	args.CreateMutex = (CK_CREATEMUTEX)1;
	assert_int_equal(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	assert_int_equal(f->C_Initialize(&args), CKR_OK);
	assert_int_equal(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	assert_int_equal(f->C_Finalize(&args), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
}

static int mutexes_created, locks, unlocks;
static int dummy_mutex;

static CK_RV
app_create(CK_VOID_PTR_PTR m)
{
	mutexes_created++;
	*m = &dummy_mutex;
	return CKR_OK;
}

static CK_RV
app_destroy(CK_VOID_PTR m)
{
	assert_ptr_equal(m, &dummy_mutex);
	mutexes_created--;
	return CKR_OK;
}

static CK_RV
app_lock(CK_VOID_PTR m)
{
	assert_ptr_equal(m, &dummy_mutex);
	locks++;
	return CKR_OK;
}

static CK_RV
app_unlock(CK_VOID_PTR m)
{
	assert_ptr_equal(m, &dummy_mutex);
	unlocks++;
	return CKR_OK;
}

static void
test_application_mutexes(void **state)
{
	CK_C_INITIALIZE_ARGS args;
	CK_ULONG n = 99;

	(void)state;
	memset(&args, 0, sizeof(args));
	args.CreateMutex = app_create;
	args.DestroyMutex = app_destroy;
	args.LockMutex = app_lock;
	args.UnlockMutex = app_unlock;
	assert_int_equal(f->C_Initialize(&args), CKR_OK);
	assert_int_equal(mutexes_created, 1);
	assert_int_equal(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	assert_true(locks > 0);
	assert_int_equal(locks, unlocks);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(mutexes_created, 0);
	assert_int_equal(locks, unlocks);
}

static void
test_no_pcscd_no_slots(void **state)
{
	CK_ULONG n = 99;
	CK_SLOT_ID list[4];
	CK_SLOT_ID slot;
	CK_INFO info;

	(void)state;
	assert_int_equal(f->C_Initialize(NULL), CKR_OK);
	assert_int_equal(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetInfo(&info), CKR_OK);
	assert_int_equal(info.cryptokiVersion.major, 2);
	assert_int_equal(info.cryptokiVersion.minor, 40);
	assert_memory_equal(info.manufacturerID, "kyso ", 5);
	assert_int_equal(f->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	assert_int_equal(n, 0);
	n = 4;
	assert_int_equal(f->C_GetSlotList(CK_TRUE, list, &n), CKR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, &slot), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_NO_EVENT);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
}

static void
test_slot_functions(void **state)
{
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0;
	CK_SESSION_HANDLE h;
	CK_BYTE pin[] = "123456";

	(void)state;
	assert_int_equal(f->C_Initialize(NULL), CKR_OK);
	assert_int_equal(f->C_GetSlotInfo(BAD_SLOT, &si), CKR_SLOT_ID_INVALID);
	assert_int_equal(f->C_GetSlotInfo(BAD_SLOT, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetTokenInfo(BAD_SLOT, &ti), CKR_SLOT_ID_INVALID);
	assert_int_equal(f->C_GetTokenInfo(BAD_SLOT, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetMechanismList(BAD_SLOT, NULL, &n), CKR_SLOT_ID_INVALID);
	assert_int_equal(f->C_GetMechanismList(BAD_SLOT, NULL, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetMechanismInfo(BAD_SLOT, CKM_RSA_PKCS, &mi), CKR_SLOT_ID_INVALID);
	assert_int_equal(f->C_GetMechanismInfo(BAD_SLOT, CKM_RSA_PKCS, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_InitToken(BAD_SLOT, pin, 6, (CK_UTF8CHAR_PTR)"label"),
	                 CKR_SLOT_ID_INVALID);
	assert_int_equal(f->C_InitToken(BAD_SLOT, pin, 6, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_OpenSession(BAD_SLOT, CKF_SERIAL_SESSION, NULL, NULL, &h),
	                 CKR_SLOT_ID_INVALID);
	assert_int_equal(f->C_OpenSession(BAD_SLOT, CKF_SERIAL_SESSION, NULL, NULL, NULL),
	                 CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_OpenSession(BAD_SLOT, 0, NULL, NULL, &h),
	                 CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	assert_int_equal(f->C_CloseAllSessions(BAD_SLOT), CKR_SLOT_ID_INVALID);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
}

/* Every session function with a session handle never given out. */
static void
test_session_functions(void **state)
{
	CK_SESSION_HANDLE s = BAD_SESSION;
	CK_SESSION_INFO info;
	CK_BYTE b[64];
	CK_ULONG n = sizeof(b);
	CK_OBJECT_HANDLE o;
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_ATTRIBUTE a = { CKA_LABEL, b, sizeof(b) };
	CK_OBJECT_HANDLE pub, priv;

	(void)state;
	assert_int_equal(f->C_Initialize(NULL), CKR_OK);
	assert_int_equal(f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetSessionInfo(s, &info), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetSessionInfo(s, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetOperationState(s, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetOperationState(s, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SetOperationState(s, b, n, 0, 0), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SetOperationState(s, NULL, n, 0, 0), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Login(s, CKU_USER, b, 6), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Login(s, CKU_USER, NULL, 6), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Logout(s), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_InitPIN(s, b, 6), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_InitPIN(s, NULL, 6), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SetPIN(s, b, 6, b, 6), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SetPIN(s, NULL, 6, b, 6), CKR_ARGUMENTS_BAD);

	assert_int_equal(f->C_CreateObject(s, &a, 1, &o), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_CreateObject(s, NULL, 1, &o), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_CreateObject(s, &a, 1, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_CopyObject(s, BAD_OBJECT, &a, 1, &o), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_CopyObject(s, BAD_OBJECT, &a, 1, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_DestroyObject(s, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetObjectSize(s, BAD_OBJECT, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetObjectSize(s, BAD_OBJECT, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetAttributeValue(s, BAD_OBJECT, &a, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetAttributeValue(s, BAD_OBJECT, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SetAttributeValue(s, BAD_OBJECT, &a, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SetAttributeValue(s, BAD_OBJECT, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_FindObjectsInit(s, &a, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_FindObjectsInit(s, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_FindObjects(s, &o, 1, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_FindObjects(s, NULL, 1, &n), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_FindObjects(s, &o, 1, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_FindObjectsFinal(s), CKR_SESSION_HANDLE_INVALID);

	assert_int_equal(f->C_EncryptInit(s, &m, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_EncryptInit(s, NULL, BAD_OBJECT), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Encrypt(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Encrypt(s, b, 1, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_EncryptUpdate(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_EncryptFinal(s, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_EncryptFinal(s, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_DecryptInit(s, &m, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DecryptInit(s, NULL, BAD_OBJECT), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Decrypt(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Decrypt(s, b, 1, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_DecryptUpdate(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DecryptUpdate(s, NULL, 1, b, &n), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_DecryptFinal(s, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DecryptFinal(s, b, NULL), CKR_ARGUMENTS_BAD);

	assert_int_equal(f->C_DigestInit(s, &m), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DigestInit(s, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Digest(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Digest(s, b, 1, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_DigestUpdate(s, b, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DigestUpdate(s, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_DigestKey(s, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DigestFinal(s, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DigestFinal(s, b, NULL), CKR_ARGUMENTS_BAD);

	assert_int_equal(f->C_SignInit(s, &m, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SignInit(s, NULL, BAD_OBJECT), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Sign(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Sign(s, b, 1, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SignUpdate(s, b, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SignUpdate(s, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SignFinal(s, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SignFinal(s, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SignRecoverInit(s, &m, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SignRecover(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_VerifyInit(s, &m, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_VerifyInit(s, NULL, BAD_OBJECT), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Verify(s, b, 1, b, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Verify(s, b, 1, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_VerifyUpdate(s, b, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_VerifyFinal(s, b, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_VerifyFinal(s, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_VerifyRecoverInit(s, &m, BAD_OBJECT), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_VerifyRecover(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DigestEncryptUpdate(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DecryptDigestUpdate(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SignEncryptUpdate(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DecryptVerifyUpdate(s, b, 1, b, &n), CKR_SESSION_HANDLE_INVALID);

	assert_int_equal(f->C_GenerateKey(s, &m, &a, 1, &o), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GenerateKey(s, NULL, &a, 1, &o), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GenerateKeyPair(s, &m, &a, 1, &a, 1, &pub, &priv),
	                 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GenerateKeyPair(s, &m, &a, 1, &a, 1, NULL, &priv),
	                 CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_WrapKey(s, &m, BAD_OBJECT, BAD_OBJECT, b, &n),
	                 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_WrapKey(s, &m, BAD_OBJECT, BAD_OBJECT, b, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_UnwrapKey(s, &m, BAD_OBJECT, b, 1, &a, 1, &o),
	                 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_UnwrapKey(s, &m, BAD_OBJECT, NULL, 1, &a, 1, &o), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_DeriveKey(s, &m, BAD_OBJECT, &a, 1, &o), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_DeriveKey(s, &m, BAD_OBJECT, &a, 1, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SeedRandom(s, b, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SeedRandom(s, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GenerateRandom(s, b, 1), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GenerateRandom(s, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_GetFunctionStatus(s), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_CancelFunction(s), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
}

/* A child of fork() starts clean (PKCS#11 2.40 section 6.7.1): the
 * parent's initialization is not the child's. */
static void
test_fork(void **state)
{
	(void)state;
	assert_int_equal(f->C_Initialize(NULL), CKR_OK);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		CK_ULONG n = 0;
		int bad = 0;
		bad |= f->C_GetSlotList(CK_FALSE, NULL, &n) != CKR_CRYPTOKI_NOT_INITIALIZED;
		bad |= f->C_Initialize(NULL) != CKR_OK;
		bad |= f->C_GetSlotList(CK_FALSE, NULL, &n) != CKR_OK;
		bad |= f->C_Finalize(NULL) != CKR_OK;
		_exit(bad);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_function_list),
		cmocka_unit_test(test_not_initialized),
		cmocka_unit_test(test_initialize_args),
		cmocka_unit_test(test_application_mutexes),
		cmocka_unit_test(test_no_pcscd_no_slots),
		cmocka_unit_test(test_slot_functions),
		cmocka_unit_test(test_session_functions),
		cmocka_unit_test(test_fork),
	};
	return cmocka_run_group_tests_name("module argument checks", tests, setup, NULL);
}
