/* The module lock. PKCS#11 2.40 section 5.4 (C_Initialize): with
 * CKF_OS_LOCKING_OK the library may use native locks; with mutex callbacks
 * and no such flag it must use the callbacks; with neither, the application
 * promises not to call from several threads, and native locks are harmless. */
#include <pthread.h>

#include "module/module.h"

static pthread_mutex_t native_lock = PTHREAD_MUTEX_INITIALIZER;
static CK_CREATEMUTEX app_create;
static CK_DESTROYMUTEX app_destroy;
static CK_LOCKMUTEX app_lock;
static CK_UNLOCKMUTEX app_unlock;
static void *app_mutex;

CK_RV
lock_setup(const CK_C_INITIALIZE_ARGS *args)
{
	app_create = NULL;
	app_mutex = NULL;
	if (args == NULL)
		return CKR_OK;
	bool any = args->CreateMutex || args->DestroyMutex || args->LockMutex ||
	           args->UnlockMutex;
	bool all = args->CreateMutex && args->DestroyMutex && args->LockMutex &&
	           args->UnlockMutex;
	if (any && !all)
		return CKR_ARGUMENTS_BAD;
	if (!any || (args->flags & CKF_OS_LOCKING_OK))
		return CKR_OK;
	CK_RV rv = args->CreateMutex(&app_mutex);
	if (rv != CKR_OK)
		return rv;
	app_create = args->CreateMutex;
	app_destroy = args->DestroyMutex;
	app_lock = args->LockMutex;
	app_unlock = args->UnlockMutex;
	return CKR_OK;
}

void
lock_teardown(void)
{
	if (app_create != NULL && app_mutex != NULL)
		app_destroy(app_mutex);
	app_create = NULL;
	app_mutex = NULL;
}

void
module_lock(void)
{
	if (app_create != NULL)
		app_lock(app_mutex);
	else
		pthread_mutex_lock(&native_lock);
}

void
module_unlock(void)
{
	if (app_create != NULL)
		app_unlock(app_mutex);
	else
		pthread_mutex_unlock(&native_lock);
}

void
lock_reset_after_fork(void)
{
	/* Another thread of the parent may have held it at fork(). */
	pthread_mutex_init(&native_lock, NULL);
	app_create = NULL;
	app_mutex = NULL;
}
