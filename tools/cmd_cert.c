/* kyso cert import / export / delete, and kyso import FILE.p12: writing
 * and reading certificates (create_object, destroy_object, the certificate
 * objects of load_objects) and putting a private key on the token
 * (import_key). Before anything is written, the certificate must be for the
 * slot's key: compared with the public key the token shows, or, when it
 * shows none, proved with a test signature (the user's PIN). */
#include "tools/kyso.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

/* Prove that the key in `e` is the certificate's: sign 32 random bytes on
 * the card and verify with the certificate's key. */
static int
prove_key(struct ctx *c, struct entry *e, EVP_PKEY *cert_key)
{
	struct secret pin;
	struct buf sig = BUF_INIT;
	uint8_t challenge[32];
	const EVP_MD *md = sign_md(cert_key);
	int code;

	memset(&pin, 0, sizeof(pin));
	if (RAND_bytes(challenge, sizeof(challenge)) != 1) {
		code = fail(c, KX_INTERNAL, "internal", _("No random numbers."));
		goto out;
	}
	note(c, _("The token does not show the public key of slot %s: kyso checks the "
	          "certificate with a test signature, which needs the PIN.\n"), entry_name(e));
	code = pin_current(c, DRV_USER, &pin);
	if (code == KX_OK)
		code = pin_login(c, &pin);
	if (code == KX_OK) {
		code = card_sign(c, e, &pin, md, challenge, sizeof(challenge), &sig);
		if (code == KX_REFUSED && strcmp(c->err_code, "refused") == 0) {
			/* The card would not sign with the certificate's algorithm
			 * in that slot: another kind of key is there. */
			free(c->err_message);
			c->err_message = NULL;
			c->exit_code = KX_OK;
			code = KX_MISMATCH;
		} else if (code == KX_OK && verify_sig(cert_key, md, challenge, sizeof(challenge),
		                                       &sig) != 1) {
			code = KX_MISMATCH;
		}
	}
	if (code == KX_MISMATCH)
		code = fail(c, KX_MISMATCH, "key_mismatch",
		            _("The certificate is for another key than the one in slot %s. "
		              "Nothing was written."), entry_name(e));
out:
	secret_wipe(&pin);
	buf_free(&sig);
	return code;
}

/* Write `x` to the slot `id` (create_object with a certificate
 * template). */
static int
write_cert(struct ctx *c, X509 *x, const uint8_t *id, size_t id_len)
{
	static const CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	static const CK_CERTIFICATE_TYPE type = CKC_X_509;
	static const CK_BBOOL yes = CK_TRUE;
	unsigned char *der = NULL;
	int len, code = KX_OK;
	CK_RV rv;

	len = i2d_X509(x, &der);
	if (len <= 0) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, (void *)&cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, (void *)&type, sizeof(type) },
			{ CKA_TOKEN, (void *)&yes, sizeof(yes) },
			{ CKA_ID, (void *)id, id_len },
			{ CKA_VALUE, der, (CK_ULONG)len },
		};
		rv = tok_begin(c);
		if (rv == CKR_OK) {
			rv = c->tok->card.driver->create_object(&c->tok->card, t,
			                                        sizeof(t) / sizeof(t[0]));
			tok_end(c);
		}
	}
	if (rv != CKR_OK)
		code = fail_rv(c, rv, _("writing the certificate"));
out:
	OPENSSL_free(der);
	return code;
}

static void
warn_validity(struct ctx *c, X509 *x)
{
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		warn(c, "cert_expired", "%s", _("This certificate has expired."));
	else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		warn(c, "cert_not_yet_valid", "%s", _("This certificate is not valid yet."));
}

int
cmd_cert_import(struct ctx *c)
{
	const char *path = c->o.args[0];
	const struct drv_key_slot *slot;
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct entry *e;
	struct buf file = BUF_INIT;
	X509 *x = NULL;
	EVP_PKEY *cert_key;
	char *subject = NULL;
	uint8_t id[64];
	size_t id_len = 0;
	int code;

	code = need_token(c);
	if (code == KX_OK)
		code = slot_resolve(c, c->o.slot, id, &id_len, &slot);
	if (code == KX_OK)
		code = read_file(c, path, &file);
	if (code != KX_OK)
		goto out;
	x = load_cert(&file);
	if (x == NULL) {
		code = fail(c, KX_FILE, "not_a_certificate",
		            _("%s is not a certificate (PEM or DER X.509). Nothing was written."),
		            path);
		goto out;
	}
	if (c->tok->card.driver->create_object == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("writing certificates"));
		goto out;
	}
	cert_key = X509_get0_pubkey(x);
	subject = name_text(X509_get_subject_name(x));
	code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	e = inventory_find(&inv, id, id_len);
	if (cert_key == NULL) {
		code = fail(c, KX_FILE, "not_a_certificate",
		            _("The key in %s is of a kind kyso cannot read."), path);
		goto out;
	}
	if (e != NULL && e->priv != NULL && e->pubkey != NULL) {
		if (EVP_PKEY_eq(e->pubkey, cert_key) != 1) {
			code = fail(c, KX_MISMATCH, "key_mismatch",
			            _("The certificate in %s is for another key than the one in slot "
			              "%s. Nothing was written."), path, entry_name(e));
			goto out;
		}
	} else if (c->tok->card.driver->set_public_key != NULL) {
		code = adopt_public_key(c, &inv, id, id_len, cert_key, &e);
		if (code == KX_OK)
			code = prove_key(c, e, cert_key);
		if (code != KX_OK)
			goto out;
	} else if (!c->o.force) {
		code = fail(c, KX_NOT_FOUND, "cannot_check",
		            _("The token does not show a key in slot %s, so kyso cannot check "
		              "that the certificate is for it. --force writes it unchecked."),
		            c->o.slot);
		goto out;
	}
	warn_validity(c, x);
	code = admin_key_apply(c);
	if (code == KX_OK)
		code = write_cert(c, x, id, id_len);
	if (code != KX_OK)
		goto out;
	json_token(c, "token", c->tok);
	json_str(&c->json, "slot", c->o.slot);
	json_str(&c->json, "subject", subject);
	out(c, _("Wrote the certificate %s to slot %s.\n"), subject ? subject : "?", c->o.slot);
out:
	free(subject);
	X509_free(x);
	buf_free(&file);
	inventory_free(&inv);
	return code;
}

int
cmd_cert_export(struct ctx *c)
{
	const struct drv_key_slot *slot;
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct entry *e;
	BIO *bio = NULL;
	char *pem = NULL, *subject = NULL, *copy = NULL;
	unsigned char *der = NULL;
	long pem_len = 0;
	int der_len = 0;
	uint8_t id[64];
	size_t id_len = 0;
	bool as_der = false;
	int code;

	if (c->o.format != NULL && strcmp(c->o.format, "der") != 0 &&
	    strcmp(c->o.format, "pem") != 0) {
		code = fail(c, KX_USAGE, "usage", _("--format is pem or der."));
		goto out;
	}
	as_der = c->o.format != NULL && strcmp(c->o.format, "der") == 0;
	code = need_token(c);
	if (code == KX_OK)
		code = slot_resolve(c, c->o.slot, id, &id_len, &slot);
	if (code == KX_OK)
		code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	e = inventory_find(&inv, id, id_len);
	if (e == NULL || e->x509 == NULL) {
		code = fail(c, KX_NOT_FOUND, "no_certificate", _("Slot %s holds no certificate."),
		            c->o.slot);
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	der_len = i2d_X509(e->x509, &der);
	if (bio == NULL || der_len <= 0 || PEM_write_bio_X509(bio, e->x509) != 1 ||
	    (pem_len = BIO_get_mem_data(bio, &pem)) <= 0 ||
	    (copy = strndup(pem, (size_t)pem_len)) == NULL) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	subject = name_text(X509_get_subject_name(e->x509));
	json_token(c, "token", c->tok);
	json_str(&c->json, "slot", entry_name(e));
	json_str(&c->json, "subject", subject);
	json_str(&c->json, "certificate", copy);
	if (c->o.out != NULL) {
		code = as_der ? write_file(c, c->o.out, der, (size_t)der_len)
		              : write_file(c, c->o.out, (const uint8_t *)copy, strlen(copy));
		if (code != KX_OK)
			goto out;
		json_str(&c->json, "file", c->o.out);
		if (strcmp(c->o.out, "-") != 0)
			out(c, _("Wrote the certificate of slot %s (%s) to %s.\n"), entry_name(e),
			    subject ? subject : "?", c->o.out);
	} else if (as_der) {
		code = fail(c, KX_USAGE, "usage", _("DER is binary: give a file with --out."));
	} else {
		out(c, "%s", copy);
	}
out:
	free(copy);
	free(subject);
	OPENSSL_free(der);
	BIO_free(bio);
	inventory_free(&inv);
	return code;
}

int
cmd_cert_delete(struct ctx *c)
{
	const struct drv_key_slot *slot;
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct entry *e;
	char question[512], *subject = NULL;
	uint8_t id[64];
	size_t id_len = 0;
	int code;
	CK_RV rv;

	code = need_token(c);
	if (code == KX_OK)
		code = slot_resolve(c, c->o.slot, id, &id_len, &slot);
	if (code == KX_OK)
		code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	e = inventory_find(&inv, id, id_len);
	if (e == NULL || e->cert == NULL) {
		code = fail(c, KX_NOT_FOUND, "no_certificate", _("Slot %s holds no certificate."),
		            c->o.slot);
		goto out;
	}
	if (c->tok->card.driver->destroy_object == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("deleting certificates"));
		goto out;
	}
	subject = e->x509 != NULL ? name_text(X509_get_subject_name(e->x509)) : NULL;
	snprintf(question, sizeof(question),
	         _("Delete the certificate %s from slot %s? The key stays."),
	         subject ? subject : "?", entry_name(e));
	if (!ask_yes(c, question)) {
		code = fail(c, KX_CANCELED, "canceled",
		            _("Canceled: nothing was deleted (--yes deletes without asking)."));
		goto out;
	}
	code = admin_key_apply(c);
	if (code != KX_OK)
		goto out;
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = c->tok->card.driver->destroy_object(&c->tok->card, e->cert);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("deleting the certificate"));
		goto out;
	}
	json_token(c, "token", c->tok);
	json_str(&c->json, "slot", entry_name(e));
	out(c, _("Deleted the certificate in slot %s.\n"), entry_name(e));
out:
	free(subject);
	inventory_free(&inv);
	return code;
}

/* ---- kyso import FILE.p12 ---- */

struct key_tmpl {
	CK_ATTRIBUTE a[12];
	CK_ULONG n;
	uint8_t *owned[12];
	size_t owned_len[12];
	size_t nowned;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE type;
};

static void
tmpl_free(struct key_tmpl *t)
{
	size_t i;

	for (i = 0; i < t->nowned; i++)
		OPENSSL_clear_free(t->owned[i], t->owned_len[i]);
	memset(t, 0, sizeof(*t));
}

static int
tmpl_add(struct key_tmpl *t, CK_ATTRIBUTE_TYPE type, uint8_t *v, size_t len)
{
	int rc = -1;

	if (v == NULL || t->n >= sizeof(t->a) / sizeof(t->a[0]))
		goto out;
	t->owned[t->nowned] = v;
	t->owned_len[t->nowned++] = len;
	t->a[t->n++] = (CK_ATTRIBUTE){ type, v, (CK_ULONG)len };
	rc = 0;
out:
	return rc;
}

static int
tmpl_bn(struct key_tmpl *t, CK_ATTRIBUTE_TYPE type, EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t *v;
	int n, rc = -1;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		goto out;
	n = BN_num_bytes(bn);
	v = OPENSSL_malloc(n > 0 ? (size_t)n : 1);
	if (v == NULL)
		goto out;
	BN_bn2bin(bn, v);
	rc = tmpl_add(t, type, v, (size_t)n);
	if (rc != 0)
		OPENSSL_clear_free(v, (size_t)n);
out:
	BN_clear_free(bn);
	return rc;
}

/* The PKCS#11 private-key template of an OpenSSL key (PKCS#11 2.40
 * 2.1.3 for RSA, 2.3.4 for EC). */
static int
tmpl_of_key(struct key_tmpl *t, EVP_PKEY *k, const uint8_t *id, size_t id_len)
{
	char group[64];
	unsigned char *oid = NULL;
	uint8_t *copy = NULL;
	int len, rc = -1;

	memset(t, 0, sizeof(*t));
	t->cls = CKO_PRIVATE_KEY;
	t->a[t->n++] = (CK_ATTRIBUTE){ CKA_CLASS, &t->cls, sizeof(t->cls) };
	t->a[t->n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &t->type, sizeof(t->type) };
	t->a[t->n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		t->type = CKK_RSA;
		if (tmpl_bn(t, CKA_MODULUS, k, OSSL_PKEY_PARAM_RSA_N) == 0 &&
		    tmpl_bn(t, CKA_PUBLIC_EXPONENT, k, OSSL_PKEY_PARAM_RSA_E) == 0 &&
		    tmpl_bn(t, CKA_PRIVATE_EXPONENT, k, OSSL_PKEY_PARAM_RSA_D) == 0 &&
		    tmpl_bn(t, CKA_PRIME_1, k, OSSL_PKEY_PARAM_RSA_FACTOR1) == 0 &&
		    tmpl_bn(t, CKA_PRIME_2, k, OSSL_PKEY_PARAM_RSA_FACTOR2) == 0 &&
		    tmpl_bn(t, CKA_EXPONENT_1, k, OSSL_PKEY_PARAM_RSA_EXPONENT1) == 0 &&
		    tmpl_bn(t, CKA_EXPONENT_2, k, OSSL_PKEY_PARAM_RSA_EXPONENT2) == 0 &&
		    tmpl_bn(t, CKA_COEFFICIENT, k, OSSL_PKEY_PARAM_RSA_COEFFICIENT1) == 0)
			rc = 0;
		goto out;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		goto out;
	t->type = CKK_EC;
	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                   NULL) != 1 ||
	    OBJ_txt2nid(group) == NID_undef)
		goto out;
	len = i2d_ASN1_OBJECT(OBJ_nid2obj(OBJ_txt2nid(group)), &oid);
	if (len <= 0 || (copy = OPENSSL_memdup(oid, (size_t)len)) == NULL)
		goto out;
	if (tmpl_add(t, CKA_EC_PARAMS, copy, (size_t)len) != 0)
		goto out;
	copy = NULL;
	rc = tmpl_bn(t, CKA_VALUE, k, OSSL_PKEY_PARAM_PRIV_KEY);
out:
	OPENSSL_free(copy);
	OPENSSL_free(oid);
	return rc;
}

/* Open a PKCS#12 file; files from older Windows tools use RC2 and 3DES,
 * which OpenSSL 3 keeps in its "legacy" provider. */
static int
p12_open(PKCS12 *p12, const struct secret *pass, EVP_PKEY **key, X509 **cert)
{
	static OSSL_PROVIDER *legacy, *dflt;
	STACK_OF(X509) *ca = NULL;
	int rc = 0;

	if (PKCS12_parse(p12, pass->v, key, cert, &ca) == 1)
		goto out;
	ERR_clear_error();
	/* Loading "legacy" alone would leave only its algorithms: the
	 * default provider is loaded with it. */
	if (legacy == NULL) {
		legacy = OSSL_PROVIDER_load(NULL, "legacy");
		dflt = OSSL_PROVIDER_load(NULL, "default");
	}
	if (legacy == NULL || dflt == NULL || PKCS12_parse(p12, pass->v, key, cert, &ca) != 1)
		rc = -1;
out:
	ERR_clear_error();
	sk_X509_pop_free(ca, X509_free);
	return rc;
}

int
cmd_import(struct ctx *c)
{
	const char *path = c->o.args[0];
	const struct drv_key_slot *slot;
	const struct driver *drv;
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct key_tmpl t;
	struct secret pass;
	struct buf file = BUF_INIT;
	PKCS12 *p12 = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	const unsigned char *p;
	char prompt[512], question[512], *subject = NULL;
	uint8_t id[64];
	size_t id_len = 0;
	int code;
	CK_RV rv;

	memset(&t, 0, sizeof(t));
	memset(&pass, 0, sizeof(pass));
	code = need_token(c);
	if (code == KX_OK)
		code = slot_resolve(c, c->o.slot, id, &id_len, &slot);
	if (code != KX_OK)
		goto out;
	drv = c->tok->card.driver;
	if (drv->import_key == NULL || drv->create_object == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("importing keys"));
		goto out;
	}
	code = read_file(c, path, &file);
	if (code != KX_OK)
		goto out;
	p = file.data;
	p12 = file.len > 0 ? d2i_PKCS12(NULL, &p, (long)file.len) : NULL;
	if (p12 == NULL) {
		code = fail(c, KX_FILE, "not_pkcs12", _("%s is not a PKCS#12 (.p12, .pfx) file."),
		            path);
		goto out;
	}
	snprintf(prompt, sizeof(prompt), _("Password of %s: "), path);
	code = secret_read(c, c->o.password_source, NULL, prompt, &pass);
	if (code != KX_OK)
		goto out;
	if (p12_open(p12, &pass, &key, &cert) != 0 || key == NULL) {
		code = fail(c, KX_FILE, "bad_pkcs12",
		            _("Cannot open %s: the password is wrong, or the file holds no key."),
		            path);
		goto out;
	}
	if (cert == NULL) {
		code = fail(c, KX_FILE, "bad_pkcs12", _("%s holds no certificate for its key."),
		            path);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		code = fail(c, KX_MISMATCH, "key_mismatch",
		            _("In %s, the certificate is not for the key."), path);
		goto out;
	}
	subject = name_text(X509_get_subject_name(cert));
	code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	snprintf(question, sizeof(question),
	         _("Slot %s already holds a key or certificate. Replace them? The old key is "
	           "lost for good."), c->o.slot);
	code = confirm_replace(c, inventory_find(&inv, id, id_len), question);
	if (code == KX_OK)
		code = admin_key_apply(c);
	if (code != KX_OK)
		goto out;
	if (tmpl_of_key(&t, key, id, id_len) != 0) {
		code = fail_rv(c, CKR_KEY_TYPE_INCONSISTENT, _("importing this kind of key"));
		goto out;
	}
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->import_key(&c->tok->card, t.a, t.n);
		tok_end(c);
	}
	tmpl_free(&t);
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("importing the key"));
		goto out;
	}
	warn_validity(c, cert);
	code = write_cert(c, cert, id, id_len);
	if (code != KX_OK)
		goto out;
	json_token(c, "token", c->tok);
	json_str(&c->json, "slot", c->o.slot);
	json_str(&c->json, "subject", subject);
	out(c, _("Imported the key and certificate %s into slot %s.\n"), subject ? subject : "?",
	    c->o.slot);
out:
	tmpl_free(&t);
	secret_wipe(&pass);
	free(subject);
	EVP_PKEY_free(key);
	X509_free(cert);
	PKCS12_free(p12);
	/* The file may hold an unencrypted key. */
	if (file.data != NULL)
		OPENSSL_cleanse(file.data, file.len);
	buf_free(&file);
	inventory_free(&inv);
	return code;
}
