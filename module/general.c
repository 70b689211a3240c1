/* C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList. */
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "module/module.h"
#include "module/pkcs11_export.h"

struct module_state mod;

bool
module_ready(void)
{
	/* A child of fork() must call C_Initialize itself (PKCS#11 2.40
	 * section 6.7.1): the parent's PC/SC handles are not its own. */
	return mod.initialized && mod.pid == getpid();
}

KYSO_EXPORT CK_RV
C_Initialize(CK_VOID_PTR pInitArgs)
{
	CK_C_INITIALIZE_ARGS *args = pInitArgs;
	CK_RV rv;

	if (mod.initialized && mod.pid != getpid()) {
		/* Forked child: forget the parent's state without touching its
		 * PC/SC handles or memory that other threads may have owned. */
		memset(&mod, 0, sizeof(mod));
		lock_reset_after_fork();
	}
	if (args != NULL) {
		if (args->pReserved != NULL)
			return CKR_ARGUMENTS_BAD;
		/* kyso never creates threads, so CKF_LIBRARY_CANT_CREATE_OS_THREADS
		 * needs nothing. */
	}
	if (mod.initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	rv = lock_setup(args);
	if (rv != CKR_OK)
		return rv;

	config_load();
	log_init();
	module_lock();
	memset(&mod, 0, sizeof(mod));
	mod.pid = getpid();
	mod.next_slot_id = 1;
	mod.next_session = 1;
	mod.next_object = 1;
	rv = pcsc_open(&mod.pcsc);
	if (rv == CKR_OK)
		rv = pcsc_open(&mod.pcsc_wait);
	if (rv != CKR_OK) {
		pcsc_close(mod.pcsc);
		mod.pcsc = NULL;
		module_unlock();
		lock_teardown();
		return rv;
	}
	mod.initialized = true;
	module_unlock();
	log_debug("C_Initialize: ok (kyso %s)", KYSO_VERSION);
	return CKR_OK;
}

KYSO_EXPORT CK_RV
C_Finalize(CK_VOID_PTR pReserved)
{
	if (pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;

	module_lock();
	mod.finalizing = true;
	module_unlock();
	/* Wake every C_WaitForSlotEvent and let it leave before the state
	 * it reads goes away (section 5.4: it must return
	 * CKR_CRYPTOKI_NOT_INITIALIZED). */
	for (;;) {
		pcsc_cancel(mod.pcsc_wait);
		module_lock();
		int waiters = mod.waiters;
		module_unlock();
		if (waiters == 0)
			break;
		usleep(1000);
	}

	module_lock();
	sessions_free_all();
	slots_free();
	pcsc_close(mod.pcsc);
	pcsc_close(mod.pcsc_wait);
	mod.pcsc = mod.pcsc_wait = NULL;
	mod.initialized = false;
	mod.finalizing = false;
	module_unlock();
	lock_teardown();
	log_debug("C_Finalize: ok");
	log_close();
	config_free();
	return CKR_OK;
}

KYSO_EXPORT CK_RV
C_GetInfo(CK_INFO_PTR pInfo)
{
	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = 2;
	pInfo->cryptokiVersion.minor = 40;
	pad_string(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "kyso");
	pad_string(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
	           "kyso PKCS#11 smart card module");
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
	return CKR_OK;
}
