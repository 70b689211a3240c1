/* What a new virtual PIV card holds.
 *
 * Factory: CHUID, CCC and Discovery, PIN 123456, PUK 12345678, 3 tries
 * each, the YubiKey default 3DES management key, a random 8-digit serial,
 * and (as every YubiKey has one) an attestation key in F9 with a
 * self-signed certificate in object 5FFF01.
 *
 * Demo (--provision demo): a new demo CA, and under it RSA-2048 in 9A,
 * EC P-256 in 9C, RSA-2048 in 9D and EC P-384 in 9E, each with a
 * certificate; the attestation certificate is issued by the demo CA too;
 * a Key History object and a PIN-protected Printed Information object.
 * The CA's private key is thrown away; its
 * certificate is written out as PEM. */
#include "piv_card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CERT_DAYS	(10 * 365)

/* One X.509v3 extension in OpenSSL's configuration syntax. */
struct piv_ext {
	int nid;
	const char *value;
};

static int
piv_name_set(X509_NAME *name, const char *cn)
{
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	                               (const unsigned char *)"kyso", -1, -1,
	                               0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                               (const unsigned char *)cn, -1, -1, 0) != 1)
		return -1;
	return 0;
}

static int
piv_random_serial(X509 *x)
{
	uint8_t rnd[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int rc = -1;

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		goto out;
	rnd[0] &= 0x7F;		/* RFC 5280 4.1.2.2: positive */
	rnd[0] |= 0x01;
	bn = BN_bin2bn(rnd, sizeof rnd, NULL);
	ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	if (ai == NULL || X509_set_serialNumber(x, ai) != 1)
		goto out;
	rc = 0;
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

/* A certificate for `key` named `cn`, issued by `issuer`/`issuer_key`, or
 * self-signed when `issuer` is NULL. */
static X509 *
piv_cert_issue(EVP_PKEY *key, const char *cn, X509 *issuer,
               EVP_PKEY *issuer_key, const struct piv_ext *ext, size_t n_ext)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509 *ret = NULL;

	if (x == NULL || name == NULL || piv_name_set(name, cn) != 0 ||
	    X509_set_version(x, 2) != 1 || piv_random_serial(x) != 0 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
	                                   : name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto out;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	for (size_t i = 0; i < n_ext; i++) {
		X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &v3, ext[i].nid,
		                                         ext[i].value);
		int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
		X509_EXTENSION_free(e);
		if (!ok)
			goto out;
	}
	if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0)
		goto out;
	ret = x;
	x = NULL;
out:
	X509_NAME_free(name);
	X509_free(x);
	return ret;
}

static int
piv_store_cert(struct piv_card *card, uint8_t slot, X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	int rc = -1;

	if (len > 0)
		rc = piv_objects_put_cert(card, piv_cert_object_of_slot(slot),
		                          der, (size_t)len);
	OPENSSL_free(der);
	return rc;
}

/* Yubico's attestation certificate is a CA certificate for the
 * certificates ATTEST makes. */
static const struct piv_ext attest_exts[] = {
	{ NID_basic_constraints, "critical,CA:TRUE,pathlen:0" },
	{ NID_key_usage, "critical,keyCertSign,cRLSign" },
	{ NID_subject_key_identifier, "hash" },
};

int
piv_provision_factory(struct piv_card *card)
{
	uint8_t rnd[4];
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	int rc = -1;

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		goto out;
	card->serial = 10000000u + ((uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 |
	                            (uint32_t)rnd[2] << 8 | rnd[3]) % 90000000u;
	piv_auth_factory(card);
	if (piv_objects_factory(card) != 0)
		goto out;
	pkey = piv_keygen(PIV_ALG_RSA2048);
	if (pkey == NULL)
		goto out;
	cert = piv_cert_issue(pkey, "kyso vcard PIV Attestation", NULL, NULL,
	                      attest_exts,
	                      sizeof attest_exts / sizeof attest_exts[0]);
	if (cert == NULL || piv_store_cert(card, PIV_REF_ATTEST, cert) != 0)
		goto out;
	/* A YubiKey's attestation key was put there at the factory. */
	piv_key_install(piv_key_slot(card, PIV_REF_ATTEST), PIV_ALG_RSA2048,
	                pkey, PIV_PIN_NEVER, PIV_TOUCH_NEVER,
	                PIV_ORIGIN_IMPORTED);
	pkey = NULL;
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return rc;
}

struct piv_demo_slot {
	uint8_t slot;
	uint8_t alg;
	const char *cn;
	const char *email;
	const char *key_usage;
};

/* Key usages as SP 800-73-4 pt 1 table 4b names the slots' jobs, wide
 * enough for the tests' clients: TLS client auth (clientAuth with
 * digitalSignature), CMS signing in NSS (emailProtection), RSA decryption
 * and ECDH. */
static const struct piv_demo_slot demo_slots[] = {
	{ 0x9A, PIV_ALG_RSA2048, "kyso demo 9A", "kyso-demo-9a@example.org",
	  "critical,digitalSignature,keyEncipherment" },
	{ 0x9C, PIV_ALG_ECP256, "kyso demo 9C", "kyso-demo-9c@example.org",
	  "critical,digitalSignature,nonRepudiation,keyAgreement" },
	{ 0x9D, PIV_ALG_RSA2048, "kyso demo 9D", "kyso-demo-9d@example.org",
	  "critical,digitalSignature,keyEncipherment,dataEncipherment" },
	{ 0x9E, PIV_ALG_ECP384, "kyso demo 9E", "kyso-demo-9e@example.org",
	  "critical,digitalSignature,keyAgreement" },
};

static int
piv_write_ca(X509 *ca, const char *path)
{
	FILE *f = fopen(path, "w");
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "kyso-vcard piv: cannot write %s\n", path);
		return -1;
	}
	if (PEM_write_X509(f, ca) == 1)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

int
piv_provision_demo(struct piv_card *card, const char *ca_out)
{
	static const struct piv_ext ca_exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
		{ NID_authority_key_identifier, "keyid:always" },
	};
	EVP_PKEY *ca_key = piv_keygen(PIV_ALG_RSA2048);
	X509 *ca = NULL, *cert = NULL;
	struct piv_key *attest = piv_key_slot(card, PIV_REF_ATTEST);
	int rc = -1;

	if (ca_key == NULL)
		goto out;
	ca = piv_cert_issue(ca_key, "kyso demo CA", NULL, NULL, ca_exts,
	                    sizeof ca_exts / sizeof ca_exts[0]);
	if (ca == NULL)
		goto out;
	for (size_t i = 0; i < sizeof demo_slots / sizeof demo_slots[0]; i++) {
		const struct piv_demo_slot *d = &demo_slots[i];
		char san[80];
		struct piv_ext exts[] = {
			{ NID_basic_constraints, "critical,CA:FALSE" },
			{ NID_key_usage, d->key_usage },
			{ NID_ext_key_usage, "clientAuth,emailProtection" },
			{ NID_subject_alt_name, san },
			{ NID_subject_key_identifier, "hash" },
			{ NID_authority_key_identifier, "keyid:always" },
		};
		EVP_PKEY *pkey = piv_keygen(d->alg);

		snprintf(san, sizeof san, "email:%s", d->email);
		if (pkey == NULL)
			goto out;
		cert = piv_cert_issue(pkey, d->cn, ca, ca_key, exts,
		                      sizeof exts / sizeof exts[0]);
		piv_key_install(piv_key_slot(card, d->slot), d->alg, pkey,
		                PIV_PIN_DEFAULT, PIV_TOUCH_DEFAULT,
		                PIV_ORIGIN_GENERATED);
		if (cert == NULL || piv_store_cert(card, d->slot, cert) != 0)
			goto out;
		X509_free(cert);
		cert = NULL;
	}
	/* The attestation chain ends at the demo CA as a YubiKey's ends at
	 * Yubico's PIV root. */
	if (attest != NULL && attest->alg != 0) {
		cert = piv_cert_issue(attest->pkey, "kyso vcard PIV Attestation",
		                      ca, ca_key, attest_exts,
		                      sizeof attest_exts / sizeof attest_exts[0]);
		if (cert == NULL || piv_store_cert(card, PIV_REF_ATTEST, cert) != 0)
			goto out;
	}
	if (piv_objects_key_history(card) != 0 ||
	    piv_objects_printed_info(card) != 0)
		goto out;
	if (ca_out != NULL && piv_write_ca(ca, ca_out) != 0)
		goto out;
	rc = 0;
out:
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}
