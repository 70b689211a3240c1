/* What an integrator who links libp11 does with kyso (issue 6): load the
 * module with PKCS11_CTX_load, enumerate the slots, pick the token in a
 * given reader, log in, find the certificates and their private keys,
 * sign through OpenSSL's EVP API with the key libp11 hands back, and
 * verify with the certificate's public key.
 *
 *   libp11-client MODULE READER PIN OUTDIR ID...
 *
 * ID is a key's CKA_ID in hex ("01"). For each, the program signs a fixed
 * message with SHA-256 (RSA PKCS#1 v1.5 or ECDSA, as the key is), checks
 * the signature with the certificate's public key, and writes
 * OUTDIR/libp11-ID.sig, OUTDIR/libp11-ID.pem (the certificate) and
 * OUTDIR/libp11-message.txt so that the test can verify again with the
 * openssl command, which loads neither libp11 nor kyso. It prints one line
 * per step; exit status 0 only when everything worked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static const char message[] = "kyso issue 6: signed through libp11's C API\n";

static int
write_file(const char *dir, const char *name, const unsigned char *data,
           size_t len)
{
	char path[4096];
	FILE *f;
	int rc = -1;

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return -1;
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	if (fwrite(data, 1, len, f) == len)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static int
write_cert(const char *dir, const char *name, X509 *x509)
{
	char path[4096];
	FILE *f;
	int rc = -1;

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return -1;
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	if (PEM_write_X509(f, x509) == 1)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static void
id_hex(const unsigned char *id, size_t len, char *out, size_t outlen)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < len && 2 * i + 3 <= outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static PKCS11_CERT *
cert_by_id(PKCS11_CERT *certs, unsigned int ncerts, const char *want)
{
	unsigned int i;
	char hex[64];

	for (i = 0; i < ncerts; i++) {
		id_hex(certs[i].id, certs[i].id_len, hex, sizeof hex);
		if (strcmp(hex, want) == 0)
			return &certs[i];
	}
	return NULL;
}

/* Sign with the card through EVP, verify with the certificate. */
static int
sign_and_verify(PKCS11_CERT *cert, const char *hexid, const char *outdir)
{
	PKCS11_KEY *key = PKCS11_find_key(cert);
	EVP_PKEY *priv = NULL;
	EVP_PKEY *pub;
	EVP_MD_CTX *md = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char name[64];
	int rc = -1;

	if (key == NULL || !key->isPrivate) {
		printf("FAIL key %s: PKCS11_find_key found no private key\n",
		       hexid);
		goto out;
	}
	priv = PKCS11_get_private_key(key);
	pub = X509_get0_pubkey(cert->x509);
	if (priv == NULL || pub == NULL) {
		printf("FAIL key %s: no EVP_PKEY (private %p, public %p)\n",
		       hexid, (void *)priv, (void *)pub);
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, priv) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)message,
	                   sizeof message - 1) != 1) {
		printf("FAIL key %s: EVP_DigestSignInit/length query\n", hexid);
		goto out;
	}
	sig = OPENSSL_malloc(siglen);
	if (sig == NULL ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)message,
	                   sizeof message - 1) != 1) {
		printf("FAIL key %s: EVP_DigestSign with the card's key\n",
		       hexid);
		goto out;
	}
	printf("signed key %s (%s): %zu bytes\n", hexid,
	       EVP_PKEY_get0_type_name(priv), siglen);
	EVP_MD_CTX_free(md);
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) != 1 ||
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)message,
	                     sizeof message - 1) != 1) {
		printf("FAIL key %s: the certificate's public key does not "
		       "verify the signature\n", hexid);
		goto out;
	}
	printf("verified key %s with the certificate's public key\n", hexid);
	snprintf(name, sizeof name, "libp11-%s.sig", hexid);
	if (write_file(outdir, name, sig, siglen) != 0)
		goto out;
	snprintf(name, sizeof name, "libp11-%s.pem", hexid);
	if (write_cert(outdir, name, cert->x509) != 0)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(sig);
	EVP_PKEY_free(priv);
	return rc;
}

int
main(int argc, char **argv)
{
	PKCS11_CTX *ctx = NULL;
	PKCS11_SLOT *slots = NULL, *slot = NULL;
	PKCS11_CERT *certs = NULL;
	PKCS11_KEY *keys = NULL;
	unsigned int nslots = 0, ncerts = 0, nkeys = 0, i;
	const char *module, *reader, *pin, *outdir;
	int loaded = 0, status = 1;

	if (argc < 6) {
		fprintf(stderr, "usage: %s MODULE READER PIN OUTDIR ID...\n",
		        argv[0]);
		return 2;
	}
	module = argv[1];
	reader = argv[2];
	pin = argv[3];
	outdir = argv[4];

	ctx = PKCS11_CTX_new();
	if (ctx == NULL || PKCS11_CTX_load(ctx, module) != 0) {
		printf("FAIL PKCS11_CTX_load(%s)\n", module);
		goto out;
	}
	loaded = 1;
	printf("loaded %s: %s\n", module, ctx->manufacturer);
	if (PKCS11_enumerate_slots(ctx, &slots, &nslots) != 0) {
		printf("FAIL PKCS11_enumerate_slots\n");
		goto out;
	}
	for (i = 0; i < nslots; i++) {
		printf("slot %u: %s: %s\n", i, slots[i].description,
		       slots[i].token ? slots[i].token->label : "(no token)");
		if (slots[i].token != NULL &&
		    strcmp(slots[i].description, reader) == 0)
			slot = &slots[i];
	}
	if (slot == NULL) {
		printf("FAIL no token in a slot named \"%s\"\n", reader);
		goto out;
	}
	if (!slot->token->loginRequired) {
		printf("FAIL token \"%s\" does not ask for a login\n",
		       slot->token->label);
		goto out;
	}
	if (PKCS11_open_session(slot, 0) != 0 ||
	    PKCS11_login(slot, 0, pin) != 0) {
		printf("FAIL PKCS11_login\n");
		goto out;
	}
	printf("logged in to \"%s\"\n", slot->token->label);
	if (PKCS11_enumerate_certs(slot->token, &certs, &ncerts) != 0) {
		printf("FAIL PKCS11_enumerate_certs\n");
		goto out;
	}
	for (i = 0; i < ncerts; i++) {
		char hex[64], subject[256] = "";

		id_hex(certs[i].id, certs[i].id_len, hex, sizeof hex);
		if (certs[i].x509 != NULL)
			X509_NAME_oneline(X509_get_subject_name(certs[i].x509),
			                  subject, sizeof subject);
		printf("certificate id %s \"%s\": %s\n", hex, certs[i].label,
		       subject);
	}
	if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) != 0) {
		printf("FAIL PKCS11_enumerate_keys\n");
		goto out;
	}
	for (i = 0; i < nkeys; i++) {
		char hex[64];

		id_hex(keys[i].id, keys[i].id_len, hex, sizeof hex);
		printf("private key id %s \"%s\"\n", hex, keys[i].label);
	}
	printf("%u certificates, %u private keys\n", ncerts, nkeys);
	if (write_file(outdir, "libp11-message.txt",
	               (const unsigned char *)message, sizeof message - 1) != 0) {
		printf("FAIL writing to %s\n", outdir);
		goto out;
	}
	status = 0;
	for (i = 5; i < (unsigned int)argc; i++) {
		PKCS11_CERT *cert = cert_by_id(certs, ncerts, argv[i]);

		if (cert == NULL || cert->x509 == NULL) {
			printf("FAIL no certificate with id %s\n", argv[i]);
			status = 1;
			continue;
		}
		if (sign_and_verify(cert, argv[i], outdir) != 0)
			status = 1;
	}
out:
	if (status != 0)
		ERR_print_errors_fp(stdout);
	if (slots != NULL)
		PKCS11_release_all_slots(ctx, slots, nslots);
	if (loaded)
		PKCS11_CTX_unload(ctx);
	if (ctx != NULL)
		PKCS11_CTX_free(ctx);
	return status;
}
