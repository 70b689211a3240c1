/* Checks the driver harnesses share: what a driver hands the module must be
 * well-formed whatever the card said. */
#ifndef KYSO_FUZZ_DRIVER_H
#define KYSO_FUZZ_DRIVER_H

#include <string.h>

#include <openssl/x509.h>

#include "drivers/driver.h"
#include "tests/fuzz/fuzz.h"

/* A hook's result: a hostile card may make any operation fail, but never
 * make kyso lose track of its own state (CKR_GENERAL_ERROR) or blame the
 * application (CKR_ARGUMENTS_BAD: the harnesses' arguments are good, so
 * kyso built a command it could not encode, or passed on the card's
 * refusal as the caller's fault). */
static inline CK_RV
fuzz_rv(const char *what, CK_RV rv)
{
	fuzz_note(what, rv);
	FUZZ_CHECK(rv != CKR_GENERAL_ERROR && rv != CKR_ARGUMENTS_BAD);
	return rv;
}

static inline void
fuzz_check_string(const char *s, size_t size)
{
	FUZZ_CHECK(memchr(s, '\0', size) != NULL);
}

static inline void
fuzz_check_token_info(const struct drv_token_info *info)
{
	fuzz_check_string(info->label, sizeof(info->label));
	fuzz_check_string(info->manufacturer, sizeof(info->manufacturer));
	fuzz_check_string(info->model, sizeof(info->model));
	fuzz_check_string(info->serial, sizeof(info->serial));
	FUZZ_CHECK(info->min_pin_len <= info->max_pin_len);
}

/* Every object has a class and an id; a certificate's value is one whole
 * X.509 certificate; a key's SPKI parses. */
static inline void
fuzz_check_objects(const struct drv_objects *objs, size_t max)
{
	FUZZ_CHECK(objs->count <= max);
	for (size_t i = 0; i < objs->count; i++) {
		const struct attr_list *l = &objs->items[i].attrs;
		const CK_ATTRIBUTE *a;
		const unsigned char *p;
		CK_ULONG cls;

		FUZZ_CHECK(attr_get_ulong(l, CKA_CLASS, &cls));
		FUZZ_CHECK(attr_find(l, CKA_ID) != NULL);
		if (cls == CKO_CERTIFICATE) {
			X509 *x;
			a = attr_find(l, CKA_VALUE);
			FUZZ_CHECK(a != NULL && a->ulValueLen > 0);
			p = a->pValue;
			x = d2i_X509(NULL, &p, (long)a->ulValueLen);
			FUZZ_CHECK(x != NULL && p == (const unsigned char *)a->pValue +
			                              a->ulValueLen);
			X509_free(x);
		} else {
			EVP_PKEY *k;
			FUZZ_CHECK(cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY);
			a = attr_find(l, CKA_PUBLIC_KEY_INFO);
			FUZZ_CHECK(a != NULL);
			p = a->pValue;
			k = d2i_PUBKEY(NULL, &p, (long)a->ulValueLen);
			FUZZ_CHECK(k != NULL);
			EVP_PKEY_free(k);
		}
	}
}

#endif
