/* Sessions and login: C_OpenSession, C_CloseSession, C_CloseAllSessions,
 * C_GetSessionInfo, C_Login, C_Logout, C_InitPIN, C_SetPIN. Login state
 * belongs to the token and is shared by all its sessions (PKCS#11 2.40,
 * section 5.6). */
#include <stdlib.h>
#include <string.h>

#include "module/module.h"
#include "module/pkcs11_export.h"

void
operation_reset(struct operation *op)
{
	EVP_MD_CTX_free(op->md);
	EVP_PKEY_free(op->pkey);
	buf_free(&op->data);
	buf_free(&op->result);
	buf_free(&op->label);
	free(op->found);
	OPENSSL_cleanse(op->param, sizeof(op->param));
	memset(op, 0, sizeof(*op));
}

static struct operation *
session_operation(struct session *s, enum op_kind kind)
{
	switch (kind) {
	case OP_FIND:
		return &s->find;
	case OP_SIGN:
		return &s->sign;
	case OP_VERIFY:
		return &s->verify;
	case OP_DIGEST:
		return &s->digest;
	case OP_DECRYPT:
		return &s->decrypt;
	default:
		return NULL;
	}
}

static CK_RV
operation_session(CK_SESSION_HANDLE h, enum op_kind kind, bool with_objects,
                  struct session **s, struct slot **slot, struct token **token,
                  struct operation **op)
{
	CK_RV rv = with_objects ? object_session(h, s, slot, token) :
	                          session_get(h, s, slot, token);
	if (rv == CKR_OK)
		*op = session_operation(*s, kind);
	return rv;
}

CK_RV
operation_active(CK_SESSION_HANDLE h, enum op_kind kind, bool with_objects,
                 struct session **s, struct slot **slot, struct token **token,
                 struct operation **op)
{
	CK_RV rv = operation_session(h, kind, with_objects, s, slot, token, op);
	if (rv == CKR_OK && (*op)->kind != kind)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	return rv;
}

CK_RV
operation_start(CK_SESSION_HANDLE h, enum op_kind kind, bool with_objects,
                struct session **s, struct slot **slot, struct token **token,
                struct operation **op)
{
	CK_RV rv = operation_session(h, kind, with_objects, s, slot, token, op);
	if (rv == CKR_OK && (*op)->kind != OP_NONE)
		rv = CKR_OPERATION_ACTIVE;
	return rv;
}

static void
session_free(struct session *s)
{
	operation_reset(&s->find);
	operation_reset(&s->sign);
	operation_reset(&s->verify);
	operation_reset(&s->digest);
	operation_reset(&s->decrypt);
	free(s);
}

CK_RV
session_get(CK_SESSION_HANDLE h, struct session **s, struct slot **slot,
            struct token **token)
{
	for (struct session *it = mod.sessions; it != NULL; it = it->next) {
		if (it->handle != h)
			continue;
		struct slot *sl = slot_find(it->slot_id);
		/* Sessions die with their token (slot_drop_token), so a
		 * session's slot always has a token. */
		if (sl == NULL || sl->token == NULL)
			return CKR_SESSION_HANDLE_INVALID;
		*s = it;
		if (slot != NULL)
			*slot = sl;
		if (token != NULL)
			*token = sl->token;
		return CKR_OK;
	}
	return CKR_SESSION_HANDLE_INVALID;
}

size_t
sessions_count(CK_SLOT_ID slot_id, bool rw_only)
{
	size_t n = 0;
	for (struct session *s = mod.sessions; s != NULL; s = s->next)
		if (s->slot_id == slot_id && (!rw_only || (s->flags & CKF_RW_SESSION)))
			n++;
	return n;
}

/* Unlink and free every session of a slot; no card I/O (the card may be
 * gone). */
void
sessions_close_slot(CK_SLOT_ID slot_id)
{
	struct session **pp = &mod.sessions;
	struct slot *slot = slot_find(slot_id);

	while (*pp != NULL) {
		struct session *s = *pp;
		if (s->slot_id == slot_id) {
			*pp = s->next;
			if (slot != NULL && slot->token != NULL)
				objects_drop_session(slot->token, s->handle);
			session_free(s);
		} else {
			pp = &s->next;
		}
	}
	if (slot != NULL && slot->token != NULL)
		slot->token->login_user = CK_NO_USER;
}

void
sessions_free_all(void)
{
	while (mod.sessions != NULL) {
		struct session *s = mod.sessions;
		mod.sessions = s->next;
		session_free(s);
	}
}

/* The last session of a token closed: log the card out too, so the PIN
 * status does not outlive the application's use of it (section 5.6). */
static void
token_logout_if_idle(struct slot *slot)
{
	struct token *token = slot->token;

	if (token == NULL || token->login_user == CK_NO_USER ||
	    sessions_count(slot->id, false) > 0)
		return;
	if (token->card.driver->logout != NULL && token_begin(slot) == CKR_OK) {
		CK_RV rv = token->card.driver->logout(&token->card);
		token_end(slot, rv);
	}
	if (slot->token != NULL)
		slot->token->login_user = CK_NO_USER;
}

KYSO_EXPORT CK_RV
C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
              CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (phSession == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	module_lock();
	struct slot *slot = slot_find(slotID);
	if (slot == NULL) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	rv = slot_token(slot, &token);
	if (rv != CKR_OK)
		goto out;
	if (token->login_user == CKU_SO && !(flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
		goto out;
	}
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	s->handle = mod.next_session++;
	s->slot_id = slotID;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	s->notify = Notify;
	s->app = pApplication;
	s->next = mod.sessions;
	mod.sessions = s;
	*phSession = s->handle;
out:
	module_unlock();
	log_debug("C_OpenSession(%lu): 0x%lx", (unsigned long)slotID, (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_CloseSession(CK_SESSION_HANDLE hSession)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	module_lock();
	rv = session_get(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	for (struct session **pp = &mod.sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	objects_drop_session(token, s->handle);
	session_free(s);
	token_logout_if_idle(slot);
out:
	module_unlock();
	log_debug("C_CloseSession: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_CloseAllSessions(CK_SLOT_ID slotID)
{
	CK_RV rv = CKR_OK;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	module_lock();
	struct slot *slot = slot_find(slotID);
	if (slot == NULL) {
		rv = CKR_SLOT_ID_INVALID;
		goto out;
	}
	if (slot->token != NULL) {
		CK_USER_TYPE user = slot->token->login_user;
		sessions_close_slot(slotID);	/* resets login_user */
		slot->token->login_user = user;
		token_logout_if_idle(slot);
	}
out:
	module_unlock();
	log_debug("C_CloseAllSessions: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	struct session *s;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, NULL, &token);
	if (rv != CKR_OK)
		goto out;
	/* Applications (NSS) ask this to learn whether their session and its
	 * token are still there: look at the reader (no APDU), which closes
	 * the session if the card was pulled. */
	slot_refresh_all(false);
	rv = session_get(hSession, &s, NULL, &token);
	if (rv != CKR_OK)
		goto out;
	bool rw = (s->flags & CKF_RW_SESSION) != 0;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->slotID = s->slot_id;
	pInfo->flags = s->flags;
	if (token->login_user == CKU_SO)
		pInfo->state = CKS_RW_SO_FUNCTIONS;
	else if (token->login_user == CKU_USER)
		pInfo->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	else
		pInfo->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
out:
	module_unlock();
	log_debug("C_GetSessionInfo: 0x%lx", (unsigned long)rv);
	return rv;
}

/* The operation a CKU_CONTEXT_SPECIFIC login is for, if any. */
static struct operation *
session_context_op(struct session *s)
{
	if (s->sign.kind != OP_NONE && s->sign.needs_context_login)
		return &s->sign;
	if (s->decrypt.kind != OP_NONE && s->decrypt.needs_context_login)
		return &s->decrypt;
	return NULL;
}

KYSO_EXPORT CK_RV
C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
        CK_ULONG ulPinLen)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	struct operation *op = NULL;
	enum drv_user user;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pPin == NULL && ulPinLen != 0)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	switch (userType) {
	case CKU_USER:
		user = DRV_USER;
		if (token->login_user == CKU_USER)
			rv = CKR_USER_ALREADY_LOGGED_IN;
		else if (token->login_user == CKU_SO)
			rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
		break;
	case CKU_SO:
		user = DRV_SO;
		if (token->login_user == CKU_SO)
			rv = CKR_USER_ALREADY_LOGGED_IN;
		else if (token->login_user == CKU_USER)
			rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
		else if (sessions_count(slot->id, false) > sessions_count(slot->id, true))
			rv = CKR_SESSION_READ_ONLY_EXISTS;
		break;
	case CKU_CONTEXT_SPECIFIC:
		user = DRV_CONTEXT;
		op = session_context_op(s);
		if (op == NULL)
			rv = CKR_OPERATION_NOT_INITIALIZED;
		break;
	default:
		rv = CKR_USER_TYPE_INVALID;
		break;
	}
	if (rv != CKR_OK)
		goto out;
	if (pPin == NULL) {
		/* No protected authentication path on any kyso token. */
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (token->card.driver->login == NULL) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
		goto out;
	}
	rv = token_begin(slot);
	if (rv != CKR_OK)
		goto out;
	rv = token->card.driver->login(&token->card, user, pPin, ulPinLen);
	token_end(slot, rv);
	if (rv != CKR_OK)
		goto out;
	if (op != NULL)
		op->context_login = true;
	else
		token->login_user = userType;
out:
	module_unlock();
	log_debug("C_Login(user=%lu): 0x%lx", (unsigned long)userType, (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_Logout(CK_SESSION_HANDLE hSession)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	module_lock();
	rv = session_get(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	if (token->login_user == CK_NO_USER) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	token->login_user = CK_NO_USER;
	if (token->card.driver->logout != NULL) {
		rv = token_begin(slot);
		if (rv != CKR_OK)
			goto out;
		rv = token->card.driver->logout(&token->card);
		token_end(slot, rv);
	}
out:
	module_unlock();
	log_debug("C_Logout: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pPin == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if (token->login_user != CKU_SO) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	if (token->card.driver->init_pin == NULL) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
		goto out;
	}
	rv = token_begin(slot);
	if (rv != CKR_OK)
		goto out;
	rv = token->card.driver->init_pin(&token->card, pPin, ulPinLen);
	token_end(slot, rv);
out:
	module_unlock();
	log_debug("C_InitPIN: 0x%lx", (unsigned long)rv);
	return rv;
}

KYSO_EXPORT CK_RV
C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
         CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	struct session *s;
	struct slot *slot;
	struct token *token;
	CK_RV rv;

	if (!module_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (pOldPin == NULL || pNewPin == NULL)
		return CKR_ARGUMENTS_BAD;
	module_lock();
	rv = session_get(hSession, &s, &slot, &token);
	if (rv != CKR_OK)
		goto out;
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if (token->card.driver->change_pin == NULL) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
		goto out;
	}
	rv = token_begin(slot);
	if (rv != CKR_OK)
		goto out;
	rv = token->card.driver->change_pin(&token->card,
	        token->login_user == CKU_SO ? DRV_SO : DRV_USER,
	        pOldPin, ulOldLen, pNewPin, ulNewLen);
	token_end(slot, rv);
out:
	module_unlock();
	log_debug("C_SetPIN: 0x%lx", (unsigned long)rv);
	return rv;
}
