/* kyso sign, kyso verify, kyso selftest: proof that the token signs, in a
 * form anyone can check (CMS, RFC 5652, as `openssl cms -verify` reads it),
 * and a quick check of every key (sign with the card, verify with the
 * public key in software). */
#include "tools/kyso.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>

/* The key to sign with: --slot, or the first key with a certificate. */
static int
pick_signer(struct ctx *c, struct inventory *inv, struct entry **out_e)
{
	const struct drv_key_slot *slot;
	uint8_t id[64];
	size_t id_len = 0, i;
	int code = KX_OK;

	*out_e = NULL;
	if (c->o.slot != NULL) {
		code = slot_resolve(c, c->o.slot, id, &id_len, &slot);
		if (code != KX_OK)
			goto out;
		*out_e = inventory_find(inv, id, id_len);
		if (*out_e == NULL || (*out_e)->priv == NULL)
			code = fail(c, KX_NOT_FOUND, "no_key", _("Slot %s holds no key."), c->o.slot);
		else if ((*out_e)->x509 == NULL)
			code = fail(c, KX_NOT_FOUND, "no_certificate",
			            _("Slot %s has no certificate, which a signature needs."),
			            c->o.slot);
		goto out;
	}
	for (i = 0; i < inv->n && *out_e == NULL; i++)
		if (inv->e[i].priv != NULL && inv->e[i].x509 != NULL)
			*out_e = &inv->e[i];
	if (*out_e == NULL)
		code = fail(c, KX_NOT_FOUND, "no_key",
		            _("The token has no key with a certificate to sign with."));
out:
	return code;
}

int
cmd_sign(struct ctx *c)
{
	const char *path = c->o.args[0];
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct entry *e = NULL;
	struct secret pin;
	struct buf data = BUF_INIT, der = BUF_INIT;
	char *out_path = NULL, *subject = NULL;
	int code;

	memset(&pin, 0, sizeof(pin));
	code = read_file(c, path, &data);
	if (code == KX_OK)
		code = need_token(c);
	if (code == KX_OK)
		code = inventory_load(c, &inv);
	if (code == KX_OK)
		code = pick_signer(c, &inv, &e);
	if (code == KX_OK)
		code = pin_current(c, DRV_USER, &pin);
	if (code == KX_OK)
		code = pin_login(c, &pin);
	if (code == KX_OK)
		code = make_cms(c, e, &pin, data.data, data.len, &der);
	if (code != KX_OK)
		goto out;
	if (c->o.out != NULL)
		out_path = strdup(c->o.out);
	else if (asprintf(&out_path, "%s.p7s", path) < 0)
		out_path = NULL;
	if (out_path == NULL) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	code = write_file(c, out_path, der.data, der.len);
	if (code != KX_OK)
		goto out;
	subject = name_text(X509_get_subject_name(e->x509));
	json_token(c, "token", c->tok);
	json_str(&c->json, "slot", entry_name(e));
	json_str(&c->json, "file", path);
	json_str(&c->json, "signature", out_path);
	json_str(&c->json, "signer", subject);
	if (strcmp(out_path, "-") != 0)
		out(c, _("Signed %s with the key in slot %s (%s). The signature is in %s.\n"), path,
		    entry_name(e), subject ? subject : "?", out_path);
out:
	secret_wipe(&pin);
	free(out_path);
	free(subject);
	buf_free(&data);
	buf_free(&der);
	inventory_free(&inv);
	return code;
}

int
cmd_verify(struct ctx *c)
{
	const char *path = c->o.args[0], *sig_path = c->o.args[1];
	struct buf sig = BUF_INIT;
	CMS_ContentInfo *cms = NULL;
	X509_STORE *store = NULL;
	STACK_OF(X509) *signers = NULL;
	BIO *content = NULL, *bio = NULL;
	const unsigned char *p;
	unsigned flags = CMS_BINARY;
	char *subject = NULL;
	int code;

	code = read_file(c, sig_path, &sig);
	if (code != KX_OK)
		goto out;
	p = sig.data;
	if (sig.len > 0)
		cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig.len);
	if (cms == NULL && sig.len > 0) {
		char *pem_name = NULL, *pem_header = NULL;
		unsigned char *pem_data = NULL;
		long pem_len = 0;

		/* PEM (openssl cms -outform PEM): its base64 body is the DER. */
		bio = BIO_new_mem_buf(sig.data, (int)sig.len);
		if (bio != NULL &&
		    PEM_read_bio(bio, &pem_name, &pem_header, &pem_data, &pem_len) == 1 &&
		    (strcmp(pem_name, "CMS") == 0 || strcmp(pem_name, "PKCS7") == 0)) {
			p = pem_data;
			cms = d2i_CMS_ContentInfo(NULL, &p, pem_len);
		}
		OPENSSL_free(pem_name);
		OPENSSL_free(pem_header);
		OPENSSL_free(pem_data);
	}
	if (cms == NULL) {
		code = fail(c, KX_FILE, "not_a_signature",
		            _("%s is not a CMS signature (DER or PEM)."), sig_path);
		goto out;
	}
	content = BIO_new_file(path, "rb");
	if (content == NULL) {
		code = fail(c, KX_FILE, "bad_file", _("Cannot read %s."), path);
		goto out;
	}
	store = X509_STORE_new();
	if (store == NULL) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	if (c->o.ca != NULL) {
		if (X509_STORE_load_file(store, c->o.ca) != 1) {
			code = fail(c, KX_FILE, "bad_file",
			            _("%s is not a file of CA certificates (PEM)."), c->o.ca);
			goto out;
		}
		/* A test signature: any key usage will do, as with openssl cms
		 * -verify -purpose any. */
		X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
	} else {
		flags |= CMS_NO_SIGNER_CERT_VERIFY;
	}
	ERR_clear_error();
	if (CMS_verify(cms, NULL, store, content, NULL, flags) != 1) {
		unsigned long err = ERR_peek_last_error();
		const char *why = err != 0 ? ERR_reason_error_string(err) : NULL;

		code = fail(c, KX_VERIFY, "bad_signature",
		            _("The signature in %s does not verify for %s (%s)."), sig_path, path,
		            why != NULL ? why : "?");
		json_bool(&c->json, "valid", false);
		goto out;
	}
	signers = CMS_get0_signers(cms);
	if (signers != NULL && sk_X509_num(signers) > 0)
		subject = name_text(X509_get_subject_name(sk_X509_value(signers, 0)));
	json_bool(&c->json, "valid", true);
	json_bool(&c->json, "chain_verified", c->o.ca != NULL);
	json_str(&c->json, "signer", subject);
	out(c, _("The signature is valid. Signer: %s\n"), subject ? subject : "?");
	if (c->o.ca != NULL)
		out(c, _("The signer's certificate was issued by a CA in %s.\n"), c->o.ca);
	else
		out(c, "%s\n", _("The signer's certificate was not checked: give the CA with --ca."));
out:
	ERR_clear_error();
	sk_X509_free(signers);
	free(subject);
	BIO_free(bio);
	BIO_free(content);
	X509_STORE_free(store);
	CMS_ContentInfo_free(cms);
	buf_free(&sig);
	return code;
}

int
cmd_selftest(struct ctx *c)
{
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct secret pin;
	struct buf sig = BUF_INIT;
	uint8_t challenge[32];
	char desc[64];
	size_t i, tested = 0, failed = 0;
	int code;

	memset(&pin, 0, sizeof(pin));
	code = need_token(c);
	if (code == KX_OK)
		code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	for (i = 0; i < inv.n; i++)
		if (inv.e[i].priv != NULL && inv.e[i].pubkey != NULL)
			tested++;
	if (tested == 0) {
		code = fail(c, KX_NOT_FOUND, "no_key", _("The token shows no key to test."));
		goto out;
	}
	code = pin_current(c, DRV_USER, &pin);
	if (code == KX_OK)
		code = pin_login(c, &pin);
	if (code != KX_OK)
		goto out;
	json_token(c, "token", c->tok);
	json_arr(&c->json, "results");
	out(c, "%s\n", _("Self-test: log in, sign with each key, verify each signature."));
	for (i = 0; i < inv.n; i++) {
		struct entry *e = &inv.e[i];
		const EVP_MD *md;
		const char *error = NULL;
		int rc;

		if (e->priv == NULL || e->pubkey == NULL)
			continue;
		md = sign_md(e->pubkey);
		key_desc(e->pubkey, desc, sizeof(desc));
		buf_clear(&sig);
		if (RAND_bytes(challenge, sizeof(challenge)) != 1) {
			code = fail(c, KX_INTERNAL, "internal", _("No random numbers."));
			goto out;
		}
		rc = card_sign(c, e, &pin, md, challenge, sizeof(challenge), &sig);
		if (rc == KX_CARD || rc == KX_BLOCKED || rc == KX_WRONG_PIN) {
			/* Nothing more can be tested without the card or PIN. */
			code = rc;
			goto out;
		}
		if (rc != KX_OK) {
			error = c->err_message;
		} else if (verify_sig(e->pubkey, md, challenge, sizeof(challenge), &sig) != 1) {
			error = _("the signature does not verify with the public key");
		}
		json_obj(&c->json, NULL);
		json_str(&c->json, "slot", entry_name(e));
		json_str(&c->json, "key", desc);
		json_str(&c->json, "result", error == NULL ? "ok" : "failed");
		json_str(&c->json, "error", error);
		json_end(&c->json);
		if (error == NULL)
			out(c, _("  %-4s %-10s signature verified\n"), entry_name(e), desc);
		else
			out(c, _("  %-4s %-10s FAILED: %s\n"), entry_name(e), desc, error);
		if (error != NULL)
			failed++;
		/* One key's failure is reported with it, not as the command's. */
		free(c->err_message);
		c->err_message = NULL;
		c->exit_code = KX_OK;
	}
	json_end(&c->json);
	json_int(&c->json, "passed", (long long)(tested - failed));
	json_int(&c->json, "failed", (long long)failed);
	if (failed > 0)
		code = fail(c, KX_VERIFY, "selftest_failed",
		            P_("%zu of %zu key failed the self-test.",
		               "%zu of %zu keys failed the self-test.", tested), failed, tested);
	else
		out(c, P_("The key passed.\n", "All %zu keys passed.\n", tested), tested);
out:
	secret_wipe(&pin);
	buf_free(&sig);
	inventory_free(&inv);
	return code;
}
