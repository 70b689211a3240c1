/* kyso key generate and kyso csr: a new key pair made on the token
 * (generate_key_pair, the C_GenerateKeyPair templates), and a PKCS#10
 * request signed by a key on the token for the CA. */
#include "tools/kyso.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

int
admin_key_apply(struct ctx *c)
{
	const struct driver *drv = c->tok->card.driver;
	struct secret s;
	uint8_t key[32];
	size_t len = 0;
	CK_RV rv;
	int code = KX_OK;

	memset(&s, 0, sizeof(s));
	memset(key, 0, sizeof(key));
	if (c->o.mgmt_key_source == NULL)
		goto out;
	if (drv->set_admin_key == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("using a management key"));
		goto out;
	}
	code = secret_read(c, strcmp(c->o.mgmt_key_source, "prompt") == 0 ? NULL
	                                                                  : c->o.mgmt_key_source,
	                   NULL, _("Management key (hex): "), &s);
	if (code == KX_OK)
		code = parse_hex_key(c, &s, key, &len);
	if (code != KX_OK)
		goto out;
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->set_admin_key(&c->tok->card, key, len);
		tok_end(c);
	}
	if (rv != CKR_OK)
		code = fail_rv(c, rv, _("using the management key"));
out:
	secret_wipe(&s);
	OPENSSL_cleanse(key, sizeof(key));
	return code;
}

int
parse_hex_key(struct ctx *c, const struct secret *s, uint8_t key[32], size_t *len)
{
	size_t i, n = 0;
	int hi, lo, code = KX_OK;

	for (i = 0; i + 1 < s->len && n < 32; i += 2) {
		hi = OPENSSL_hexchar2int((unsigned char)s->v[i]);
		lo = OPENSSL_hexchar2int((unsigned char)s->v[i + 1]);
		if (hi < 0 || lo < 0)
			break;
		key[n++] = (uint8_t)(hi << 4 | lo);
	}
	/* 16, 24 or 32 bytes: AES-128, 3DES or AES-192, AES-256. */
	if (i != s->len || (n != 16 && n != 24 && n != 32)) {
		OPENSSL_cleanse(key, 32);
		code = fail(c, KX_USAGE, "usage",
		            _("A management key is 32, 48 or 64 hexadecimal digits."));
		goto out;
	}
	*len = n;
out:
	return code;
}

struct key_type {
	const char *name;
	CK_MECHANISM_TYPE mech;
	CK_ULONG bits;
	int nid;
};

static const struct key_type key_types[] = {
	{ "rsa2048", CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, NID_undef },
	{ "rsa3072", CKM_RSA_PKCS_KEY_PAIR_GEN, 3072, NID_undef },
	{ "rsa4096", CKM_RSA_PKCS_KEY_PAIR_GEN, 4096, NID_undef },
	{ "p256", CKM_EC_KEY_PAIR_GEN, 256, NID_X9_62_prime256v1 },
	{ "p384", CKM_EC_KEY_PAIR_GEN, 384, NID_secp384r1 },
};

int
confirm_replace(struct ctx *c, struct entry *e, const char *question)
{
	int code = KX_OK;

	if (e != NULL && (e->priv != NULL || e->cert != NULL) && !ask_yes(c, question))
		code = fail(c, KX_CANCELED, "canceled",
		            _("Canceled: slot %s was left as it was (--yes replaces without "
		              "asking)."), entry_name(e));
	return code;
}

int
cmd_key_generate(struct ctx *c)
{
	static const CK_BBOOL yes = CK_TRUE;
	static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
	const struct driver *drv;
	const struct key_type *kt = NULL;
	const struct drv_key_slot *slot;
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct entry *e;
	struct spinner *sp;
	uint8_t id[64];
	size_t id_len = 0, i;
	unsigned char *params = NULL;
	int params_len = 0, code;
	char question[512], what[256], *pem = NULL;
	bool had_cert;
	double secs;
	CK_RV rv;

	code = need_token(c);
	if (code != KX_OK)
		goto out;
	drv = c->tok->card.driver;
	for (i = 0; c->o.type != NULL && i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(c->o.type, key_types[i].name) == 0)
			kt = &key_types[i];
	if (kt == NULL) {
		code = fail(c, KX_USAGE, "usage",
		            _("Give the key type with --type: rsa2048, rsa3072, rsa4096, p256 or "
		              "p384."));
		goto out;
	}
	code = slot_resolve(c, c->o.slot, id, &id_len, &slot);
	if (code != KX_OK)
		goto out;
	if (drv->generate_key_pair == NULL) {
		code = fail_rv(c, CKR_FUNCTION_NOT_SUPPORTED, _("making keys"));
		goto out;
	}
	code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	e = inventory_find(&inv, id, id_len);
	had_cert = e != NULL && e->cert != NULL;
	snprintf(question, sizeof(question),
	         _("Slot %s already holds a key or certificate. Replace the key? The old "
	           "key is lost for good."), c->o.slot);
	code = confirm_replace(c, e, question);
	if (code == KX_OK)
		code = admin_key_apply(c);
	if (code != KX_OK)
		goto out;

	{
		CK_MECHANISM mech = { kt->mech, NULL, 0 };
		CK_ULONG bits = kt->bits;
		CK_ATTRIBUTE pub[4], priv[4];
		CK_ULONG npub = 0, npriv = 0;

		pub[npub++] = (CK_ATTRIBUTE){ CKA_ID, id, id_len };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_TOKEN, (void *)&yes, sizeof(yes) };
		if (kt->mech == CKM_RSA_PKCS_KEY_PAIR_GEN) {
			pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
			pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, (void *)f4, sizeof(f4) };
		} else {
			/* CKA_EC_PARAMS: the curve's OID, DER (X9.62 namedCurve). */
			params_len = i2d_ASN1_OBJECT(OBJ_nid2obj(kt->nid), &params);
			if (params_len <= 0) {
				code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
				goto out;
			}
			pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, params, (CK_ULONG)params_len };
		}
		priv[npriv++] = (CK_ATTRIBUTE){ CKA_ID, id, id_len };
		priv[npriv++] = (CK_ATTRIBUTE){ CKA_TOKEN, (void *)&yes, sizeof(yes) };
		priv[npriv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, (void *)&yes, sizeof(yes) };
		priv[npriv++] = (CK_ATTRIBUTE){ CKA_SIGN, (void *)&yes, sizeof(yes) };

		/* TRANSLATORS: %s is the key type (rsa2048, p256...). */
		snprintf(what, sizeof(what), _("Making a %s key in slot %s on the token..."),
		         kt->name, c->o.slot);
		sp = spinner_start(c, what);
		rv = tok_begin(c);
		if (rv == CKR_OK) {
			rv = drv->generate_key_pair(&c->tok->card, &mech, pub, npub, priv, npriv);
			tok_end(c);
		}
		secs = spinner_stop(sp);
	}
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("making the key"));
		goto out;
	}
	inventory_free(&inv);
	code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	e = inventory_find(&inv, id, id_len);
	if (e == NULL || e->pubkey == NULL || (pem = pem_of_pubkey(e->pubkey)) == NULL) {
		code = fail(c, KX_CARD, "no_public_key",
		            _("The key was made, but the token did not give its public key."));
		goto out;
	}
	json_token(c, "token", c->tok);
	json_str(&c->json, "slot", entry_name(e));
	json_str(&c->json, "type", kt->name);
	json_str(&c->json, "public_key", pem);
	json_int(&c->json, "milliseconds", (long long)(secs * 1000));
	if (c->o.out != NULL) {
		code = write_file(c, c->o.out, (const uint8_t *)pem, strlen(pem));
		if (code != KX_OK)
			goto out;
		json_str(&c->json, "file", c->o.out);
		out(c, _("Made a %s key in slot %s in %.1f s; its public key is in %s.\n"), kt->name,
		    entry_name(e), secs, c->o.out);
	} else {
		out(c, _("Made a %s key in slot %s in %.1f s. Its public key:\n%s"), kt->name,
		    entry_name(e), secs, pem);
	}
	note(c, "%s\n", _("Keep the public key: some tokens cannot give it again after kyso "
	                  "exits (kyso csr --pubkey takes it). Next: kyso csr, then kyso cert "
	                  "import."));
	if (had_cert)
		warn(c, "old_certificate",
		     _("The certificate still in slot %s was for the old key: replace it with "
		       "kyso cert import once your CA has issued the new one."), entry_name(e));
out:
	OPENSSL_free(params);
	free(pem);
	inventory_free(&inv);
	return code;
}

/* A public key from a PEM or DER file. */
static EVP_PKEY *
load_pubkey(const struct buf *b)
{
	const unsigned char *p = b->data;
	EVP_PKEY *k = NULL;
	BIO *bio;

	if (b->len == 0 || b->len > (1u << 20))
		goto out;
	bio = BIO_new_mem_buf(b->data, (int)b->len);
	if (bio != NULL)
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k == NULL) {
		k = d2i_PUBKEY(NULL, &p, (long)b->len);
		if (k != NULL && p != b->data + b->len) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
out:
	ERR_clear_error();
	return k;
}

/* Tell the driver the public key of a slot it cannot see (set_public_key),
 * then find the slot again. */
int
adopt_public_key(struct ctx *c, struct inventory *inv, const uint8_t *id, size_t id_len,
                 EVP_PKEY *pub, struct entry **e)
{
	const struct driver *drv = c->tok->card.driver;
	unsigned char *spki = NULL;
	int len, code = KX_OK;
	CK_RV rv;

	*e = NULL;
	if (drv->set_public_key == NULL)
		goto absent;
	len = i2d_PUBKEY(pub, &spki);
	if (len <= 0) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	rv = tok_begin(c);
	if (rv == CKR_OK) {
		rv = drv->set_public_key(&c->tok->card, id, id_len, spki, (size_t)len);
		tok_end(c);
	}
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("using this public key"));
		goto out;
	}
	inventory_free(inv);
	code = inventory_load(c, inv);
	if (code != KX_OK)
		goto out;
	*e = inventory_find(inv, id, id_len);
	if (*e != NULL && (*e)->priv != NULL)
		goto out;
absent:
	code = fail(c, KX_NOT_FOUND, "no_key", _("The token does not show a key in slot %s."),
	            c->o.slot);
out:
	OPENSSL_free(spki);
	return code;
}

int
cmd_csr(struct ctx *c)
{
	const struct drv_key_slot *slot;
	struct inventory inv = { { NULL, 0, 0 }, NULL, 0 };
	struct entry *e;
	struct secret pin;
	struct buf file = BUF_INIT;
	EVP_PKEY *given = NULL, *pub;
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	char *pem = NULL, *subject = NULL;
	long pem_len;
	uint8_t id[64];
	size_t id_len = 0;
	int code;

	memset(&pin, 0, sizeof(pin));
	if (c->o.subject == NULL) {
		code = fail(c, KX_USAGE, "usage",
		            _("Give the certificate's subject with --subject \"CN=...,O=...,C=VN\"."));
		goto out;
	}
	code = need_token(c);
	if (code == KX_OK)
		code = slot_resolve(c, c->o.slot, id, &id_len, &slot);
	if (code == KX_OK)
		code = inventory_load(c, &inv);
	if (code != KX_OK)
		goto out;
	e = inventory_find(&inv, id, id_len);
	if (c->o.pubkey != NULL) {
		code = read_file(c, c->o.pubkey, &file);
		if (code != KX_OK)
			goto out;
		given = load_pubkey(&file);
		if (given == NULL) {
			code = fail(c, KX_FILE, "bad_file",
			            _("%s is not a public key (PEM or DER)."), c->o.pubkey);
			goto out;
		}
		if (e != NULL && e->pubkey != NULL && EVP_PKEY_eq(e->pubkey, given) != 1) {
			code = fail(c, KX_MISMATCH, "key_mismatch",
			            _("The public key in %s is not the key in slot %s."),
			            c->o.pubkey, c->o.slot);
			goto out;
		}
		if (e == NULL || e->priv == NULL) {
			code = adopt_public_key(c, &inv, id, id_len, given, &e);
			if (code != KX_OK)
				goto out;
		}
	}
	if (e == NULL || e->priv == NULL || e->pubkey == NULL) {
		code = fail(c, KX_NOT_FOUND, "no_key",
		            _("The token shows no key in slot %s. If kyso key generate made it "
		              "earlier, give its public key with --pubkey."), c->o.slot);
		goto out;
	}
	pub = given != NULL ? given : e->pubkey;
	code = pin_current(c, DRV_USER, &pin);
	if (code == KX_OK)
		code = pin_login(c, &pin);
	if (code == KX_OK)
		code = make_csr(c, e, pub, &pin, c->o.subject, &req);
	if (code != KX_OK)
		goto out;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_X509_REQ(bio, req) != 1 ||
	    (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	subject = name_text(X509_REQ_get_subject_name(req));
	json_token(c, "token", c->tok);
	json_str(&c->json, "slot", entry_name(e));
	json_str(&c->json, "subject", subject);
	if (c->o.out != NULL && strcmp(c->o.out, "-") != 0) {
		code = write_file(c, c->o.out, (const uint8_t *)pem, (size_t)pem_len);
		if (code != KX_OK)
			goto out;
		json_str(&c->json, "file", c->o.out);
		out(c, _("Wrote the certificate request for slot %s (%s) to %s. Send it to your "
		         "CA.\n"), entry_name(e), subject ? subject : "?", c->o.out);
	} else {
		if (c->o.json) {
			char *copy = strndup(pem, (size_t)pem_len);
			if (copy != NULL) {
				json_str(&c->json, "request", copy);
				free(copy);
			}
		} else {
			fwrite(pem, 1, (size_t)pem_len, stdout);
		}
	}
out:
	secret_wipe(&pin);
	free(subject);
	BIO_free(bio);
	X509_REQ_free(req);
	EVP_PKEY_free(given);
	buf_free(&file);
	inventory_free(&inv);
	return code;
}
