/* Signing with a key that never leaves the card, in the forms CAs and
 * verifiers want: a PKCS#10 request (RFC 2986) and a CMS detached signature
 * (RFC 5652). OpenSSL builds and encodes every structure; only the
 * signature value comes from the card: OpenSSL DER-encodes what is signed
 * (the CertificationRequestInfo, the signed attributes), the tool hashes
 * it, the driver signs the hash, and OpenSSL puts the value in place. */
#include "tools/kyso.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#define FILE_MAX (16u << 20)

const EVP_MD *
sign_md(EVP_PKEY *pub)
{
	/* SHA-384 with P-384 (SP 800-78-4 table 3-2 pairs them); SHA-256
	 * with everything else. */
	if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC && EVP_PKEY_get_bits(pub) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

/* The DigestInfo of RFC 8017 9.2 step 2, DER-encoded by OpenSSL. */
static int
digest_info(const EVP_MD *md, const uint8_t *hash, unsigned hash_len, struct buf *out_b)
{
	X509_SIG *sig = X509_SIG_new();
	X509_ALGOR *alg = NULL;
	ASN1_OCTET_STRING *digest = NULL;
	unsigned char *der = NULL;
	int len = 0, rc = -1;

	if (sig == NULL)
		goto out;
	X509_SIG_getm(sig, &alg, &digest);
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL) != 1 ||
	    ASN1_OCTET_STRING_set(digest, hash, (int)hash_len) != 1)
		goto out;
	len = i2d_X509_SIG(sig, &der);
	if (len <= 0 || buf_set(out_b, der, (size_t)len) != 0)
		goto out;
	rc = 0;
out:
	OPENSSL_free(der);
	X509_SIG_free(sig);
	return rc;
}

/* PKCS#11's r || s (2.40 mechanisms 2.3.1) as a DER ECDSA-Sig-Value. */
static int
ecdsa_der(const struct buf *raw, struct buf *out_b)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	size_t half = raw->len / 2;
	int len, rc = -1;

	if (sig == NULL || raw->len == 0 || raw->len % 2 != 0)
		goto out;
	r = BN_bin2bn(raw->data, (int)half, NULL);
	s = BN_bin2bn(raw->data + half, (int)half, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL;
	len = i2d_ECDSA_SIG(sig, &der);
	if (len <= 0 || buf_set(out_b, der, (size_t)len) != 0)
		goto out;
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	return rc;
}

int
card_sign(struct ctx *c, struct entry *e, const struct secret *pin, const EVP_MD *md,
          const uint8_t *data, size_t len, struct buf *sig)
{
	const struct driver *drv = c->tok->card.driver;
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned hash_len = 0;
	struct buf in = BUF_INIT, raw = BUF_INIT;
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	bool rsa;
	CK_RV rv;
	int code = KX_OK;

	if (e->priv == NULL || e->pubkey == NULL || drv->sign == NULL) {
		code = fail(c, KX_NOT_FOUND, "no_key",
		            _("Slot %s holds no key this token can sign with."), entry_name(e));
		goto out;
	}
	rsa = EVP_PKEY_get_base_id(e->pubkey) == EVP_PKEY_RSA;
	if (EVP_Digest(data, len, hash, &hash_len, md, NULL) != 1) {
		code = fail(c, KX_INTERNAL, "internal", _("Hashing failed."));
		goto out;
	}
	if (rsa) {
		if (digest_info(md, hash, hash_len, &in) != 0) {
			code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
			goto out;
		}
	} else {
		mech.mechanism = CKM_ECDSA;
		if (buf_set(&in, hash, hash_len) != 0) {
			code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
			goto out;
		}
	}
	rv = tok_begin(c);
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("signing"));
		goto out;
	}
	/* A key that wants the PIN right before each use (PIV 9C) gets it
	 * here again: the PIN the user typed for this run, already accepted
	 * by the card, not a guess. */
	if (e->always_auth && drv->login != NULL) {
		rv = drv->login(&c->tok->card, DRV_CONTEXT, (const uint8_t *)pin->v, pin->len);
		if (rv != CKR_OK) {
			tok_end(c);
			code = pin_failed(c, DRV_USER, rv, _("signing"));
			goto out;
		}
	}
	rv = drv->sign(&c->tok->card, e->priv->key_ref, &mech, in.data, in.len, &raw);
	tok_end(c);
	if (rv != CKR_OK) {
		code = fail_rv(c, rv, _("signing"));
		goto out;
	}
	if (rsa ? buf_set(sig, raw.data, raw.len) != 0 : ecdsa_der(&raw, sig) != 0)
		code = fail(c, KX_CARD, "bad_token_answer",
		            _("The token returned a signature kyso cannot read."));
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	buf_free(&in);
	buf_free(&raw);
	return code;
}

/* The signature algorithm of X.509 and PKCS#10 for this key and hash
 * (RFC 4055 for RSA: NULL parameters; RFC 5758 for ECDSA: none). */
static X509_ALGOR *
sig_algor(EVP_PKEY *pub, const EVP_MD *md)
{
	X509_ALGOR *alg = X509_ALGOR_new();
	bool rsa = EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA;
	int nid;

	if (alg == NULL)
		goto out;
	if (OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(md),
	                           rsa ? NID_rsaEncryption : NID_X9_62_id_ecPublicKey) != 1 ||
	    X509_ALGOR_set0(alg, OBJ_nid2obj(nid), rsa ? V_ASN1_NULL : V_ASN1_UNDEF, NULL) != 1) {
		X509_ALGOR_free(alg);
		alg = NULL;
	}
out:
	return alg;
}

X509_NAME *
parse_subject(const char *s)
{
	X509_NAME *name = X509_NAME_new();
	char *copy = strdup(s), *parts[64], *p, *w;
	size_t n = 0, i;
	bool slash = s[0] == '/';
	char sep = slash ? '/' : ',';

	if (name == NULL || copy == NULL)
		goto bad;
	/* Split at the separator; a backslash escapes the next character. */
	p = w = copy + (slash ? 1 : 0);
	parts[n++] = w;
	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			*w++ = *++p;
		} else if (*p == sep) {
			*w++ = '\0';
			if (n == sizeof(parts) / sizeof(parts[0]))
				goto bad;
			parts[n++] = w;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	for (i = 0; i < n; i++) {
		/* "CN=a,O=b" is written most specific first (RFC 4514 2.1), the
		 * reverse of the order in the certificate; "/O=b/CN=a" (OpenSSL's
		 * -subj) is in certificate order. */
		char *part = parts[slash ? i : n - 1 - i], *eq, *key, *val, *end;

		while (*part == ' ')
			part++;
		eq = strchr(part, '=');
		if (eq == NULL || eq == part)
			goto bad;
		*eq = '\0';
		key = part;
		for (end = eq; end > key && end[-1] == ' ';)
			*--end = '\0';
		val = eq + 1;
		while (*val == ' ')
			val++;
		if (*val == '\0' ||
		    X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8, (const unsigned char *)val,
		                               -1, -1, 0) != 1)
			goto bad;
	}
	if (X509_NAME_entry_count(name) > 0)
		goto out;
bad:
	X509_NAME_free(name);
	name = NULL;
out:
	free(copy);
	return name;
}

int
make_csr(struct ctx *c, struct entry *e, EVP_PKEY *pub, const struct secret *pin,
         const char *subject, X509_REQ **out_req)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *bits = NULL;
	const EVP_MD *md = sign_md(pub);
	struct buf sig = BUF_INIT;
	unsigned char *tbs = NULL;
	int tbs_len, code = KX_OK;

	name = parse_subject(subject);
	if (name == NULL) {
		code = fail(c, KX_USAGE, "usage",
		            _("Cannot read the subject \"%s\": write it as "
		              "\"CN=Name,O=Organisation,C=VN\"."), subject);
		goto out;
	}
	if (req == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pub) != 1 ||
	    (alg = sig_algor(pub, md)) == NULL) {
		code = fail(c, KX_INTERNAL, "internal", _("Cannot build the request."));
		goto out;
	}
	/* RFC 2986 4.2: the signature is over the DER CertificationRequestInfo. */
	tbs_len = i2d_re_X509_REQ_tbs(req, &tbs);
	if (tbs_len <= 0) {
		code = fail(c, KX_INTERNAL, "internal", _("Cannot build the request."));
		goto out;
	}
	code = card_sign(c, e, pin, md, tbs, (size_t)tbs_len, &sig);
	if (code != KX_OK)
		goto out;
	bits = ASN1_BIT_STRING_new();
	if (bits == NULL || X509_REQ_set1_signature_algo(req, alg) != 1 ||
	    ASN1_BIT_STRING_set(bits, sig.data, (int)sig.len) != 1) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	/* A whole number of bytes: no unused bits (X.690 8.6.2.2). */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bits);
	bits = NULL;
	if (X509_REQ_verify(req, pub) != 1) {
		code = fail(c, KX_MISMATCH, "key_mismatch",
		            _("The key in slot %s did not make a signature that the public key "
		              "verifies: the public key does not belong to this slot."),
		            entry_name(e));
		goto out;
	}
	*out_req = req;
	req = NULL;
out:
	OPENSSL_free(tbs);
	ASN1_BIT_STRING_free(bits);
	X509_ALGOR_free(alg);
	X509_NAME_free(name);
	X509_REQ_free(req);
	buf_free(&sig);
	return code;
}

int
make_cms(struct ctx *c, struct entry *e, const struct secret *pin,
         const uint8_t *data, size_t len, struct buf *der)
{
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	STACK_OF(X509_ATTRIBUTE) *attrs = NULL;
	EVP_PKEY *cert_key = NULL;
	ASN1_TIME *now = NULL;
	const EVP_MD *md;
	uint8_t hash[EVP_MAX_MD_SIZE];
	unsigned hash_len = 0;
	unsigned char *signed_der = NULL, *out_der = NULL;
	struct buf sig = BUF_INIT;
	int i, n, signed_len, out_len, code = KX_OK;

	cert_key = X509_get_pubkey(e->x509);
	md = sign_md(cert_key);
	/* A SignedData without a signature yet (CMS_PARTIAL), and the signer
	 * from its certificate. CMS_add1_signer checks the key against the
	 * certificate: the certificate's own public key passes, and with
	 * CMS_PARTIAL nothing is signed with it. */
	cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_DETACHED | CMS_BINARY);
	if (cms == NULL || cert_key == NULL || CMS_set_detached(cms, 1) != 1) {
		code = fail(c, KX_INTERNAL, "internal", _("Cannot build the signature."));
		goto out;
	}
	si = CMS_add1_signer(cms, e->x509, cert_key, md,
	                     CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP);
	now = X509_gmtime_adj(NULL, 0);
	if (si == NULL || now == NULL || EVP_Digest(data, len, hash, &hash_len, md, NULL) != 1) {
		code = fail(c, KX_INTERNAL, "internal", _("Cannot build the signature."));
		goto out;
	}
	/* RFC 5652 5.3: with signed attributes, content-type and
	 * message-digest are required; signing-time tells when. */
	if (CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
	                                OBJ_nid2obj(NID_pkcs7_data), -1) != 1 ||
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING,
	                                hash, (int)hash_len) != 1 ||
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, now->type, now, -1) != 1) {
		code = fail(c, KX_INTERNAL, "internal", _("Cannot build the signature."));
		goto out;
	}
	/* RFC 5652 5.4: the signature is over the DER of the signed
	 * attributes as a SET OF (universal tag, DER order), which is how
	 * PKCS7_ATTR_SIGN encodes a list of attributes. */
	attrs = sk_X509_ATTRIBUTE_new_null();
	n = CMS_signed_get_attr_count(si);
	for (i = 0; attrs != NULL && i < n; i++)
		if (sk_X509_ATTRIBUTE_push(attrs, CMS_signed_get_attr(si, i)) <= 0)
			break;
	if (attrs == NULL || i < n) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
	signed_len = ASN1_item_i2d((const ASN1_VALUE *)attrs, &signed_der,
	                           ASN1_ITEM_rptr(PKCS7_ATTR_SIGN));
	if (signed_len <= 0) {
		code = fail(c, KX_INTERNAL, "internal", _("Cannot build the signature."));
		goto out;
	}
	code = card_sign(c, e, pin, md, signed_der, (size_t)signed_len, &sig);
	if (code != KX_OK)
		goto out;
	if (ASN1_STRING_set(CMS_SignerInfo_get0_signature(si), sig.data, (int)sig.len) != 1 ||
	    (out_len = i2d_CMS_ContentInfo(cms, &out_der)) <= 0 ||
	    buf_set(der, out_der, (size_t)out_len) != 0) {
		code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
		goto out;
	}
out:
	OPENSSL_free(out_der);
	OPENSSL_free(signed_der);
	sk_X509_ATTRIBUTE_free(attrs);
	ASN1_TIME_free(now);
	EVP_PKEY_free(cert_key);
	CMS_ContentInfo_free(cms);
	buf_free(&sig);
	return code;
}

int
read_file(struct ctx *c, const char *path, struct buf *b)
{
	uint8_t chunk[65536];
	int fd, code = KX_OK;
	ssize_t r;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		code = fail(c, KX_FILE, "bad_file", _("Cannot read %s: %s."), path,
		            strerror(errno));
		goto out;
	}
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			code = fail(c, KX_FILE, "bad_file", _("Cannot read %s: %s."), path,
			            strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (b->len + (size_t)r > FILE_MAX) {
			code = fail(c, KX_FILE, "bad_file", _("%s is too large."), path);
			break;
		}
		if (buf_append(b, chunk, (size_t)r) != 0) {
			code = fail(c, KX_INTERNAL, "internal", _("Out of memory."));
			break;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
out:
	return code;
}

int
write_file(struct ctx *c, const char *path, const uint8_t *data, size_t len)
{
	size_t done = 0;
	ssize_t w;
	int fd, code = KX_OK;

	fd = strcmp(path, "-") == 0 ? STDOUT_FILENO
	                            : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	while (done < len) {
		w = write(fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (fd != STDOUT_FILENO && close(fd) != 0)
		done = 0;
	if (done >= len)
		goto out;
fail:
	code = fail(c, KX_FILE, "bad_file", _("Cannot write %s: %s."), path, strerror(errno));
out:
	return code;
}

X509 *
load_cert(const struct buf *b)
{
	const unsigned char *p = b->data;
	BIO *bio;
	X509 *x = NULL;

	if (b->len == 0 || b->len > FILE_MAX)
		goto out;
	bio = BIO_new_mem_buf(b->data, (int)b->len);
	if (bio != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (x == NULL) {
		x = d2i_X509(NULL, &p, (long)b->len);
		/* DER: the whole file, nothing after the certificate. */
		if (x != NULL && p != b->data + b->len) {
			X509_free(x);
			x = NULL;
		}
	}
out:
	/* The failed attempts leave errors behind: not ours to report. */
	ERR_clear_error();
	return x;
}

char *
pem_of_pubkey(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (bio != NULL && PEM_write_bio_PUBKEY(bio, k) == 1)
		s = bio_text(bio);
	BIO_free(bio);
	return s;
}

int
verify_sig(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *data, size_t len,
           const struct buf *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, sig->data, sig->len, data, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}
