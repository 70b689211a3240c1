/* A whole card through the whole module: the fuzz input is everything the
 * card says while an application runs a session (C_Initialize, the slot and
 * token, every object and attribute, C_Login, signatures with several
 * mechanisms, verification, decryption, ECDH, optionally key generation and
 * certificate writes, C_Logout, C_Finalize). The module's own sources are
 * linked with fake_pcsc.c instead of drivers/card/pcsc.c: one reader, the
 * card answering from the input (fuzz_card.h), pulled out when the input
 * ends. As OpenSC fuzzes its PKCS#11 module with a fake reader.
 *
 * Input:
 *   byte 0  flags: bit 0 the reader takes extended APDUs, bit 1 T=0,
 *           bit 2 no C_Login, bit 3 multi-part signing,
 *           bit 4 a second session, closed while the first signs,
 *           bit 5 C_WaitForSlotEvent and C_GetSlotInfo along the way,
 *           bit 6 writes: C_GenerateKeyPair, a signature with the new key,
 *           C_CreateObject and C_DestroyObject of a certificate
 *   byte 1  the n-th card transaction finds the card reset by another
 *           program (0: none)
 *   byte 2  ATR length (at most 33), then the ATR
 *   then    the card's answers. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "tests/fuzz/fake_pcsc.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_card.h"
#include "tests/fuzz/fuzz_keys.h"

#define FUZZ_OBJECTS_MAX 128
#define FUZZ_KEYS_MAX 8
#define FUZZ_VALUE_MAX (64u * 1024u)

static CK_UTF8CHAR fuzz_pin[] = "123456";

/* What an application may see from any card: no CKR_GENERAL_ERROR (kyso
 * lost track of its own state) and no CKR_ARGUMENTS_BAD (the harness's
 * arguments are good: kyso built a command it could not encode, or blamed
 * the application for the card's refusal). */
static CK_RV
fuzz_rv_named(const char *what, CK_RV rv)
{
	fuzz_note(what, rv);
	FUZZ_CHECK(rv != CKR_GENERAL_ERROR && rv != CKR_ARGUMENTS_BAD);
	return rv;
}

/* The call's own text is its name in KYSO_FUZZ_VERBOSE output. */
#define fuzz_rv(call) fuzz_rv_named(#call, call)

/* Every attribute an application may ask of any object, in one template,
 * first for the sizes, then the values. */
static void
fuzz_attributes(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	static const CK_ATTRIBUTE_TYPE types[] = {
		CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_ID, CKA_VALUE,
		CKA_CERTIFICATE_TYPE, CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER,
		CKA_KEY_TYPE, CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT,
		CKA_EC_PARAMS, CKA_EC_POINT, CKA_PUBLIC_KEY_INFO, CKA_SIGN, CKA_DECRYPT,
		CKA_DERIVE, CKA_ALWAYS_AUTHENTICATE, CKA_SENSITIVE, CKA_EXTRACTABLE,
		CKA_PRIVATE_EXPONENT, CKA_VALUE_LEN, CKA_START_DATE,
	};
	enum { N = sizeof(types) / sizeof(types[0]) };
	CK_ATTRIBUTE t[N];
	CK_ULONG size = 0;
	CK_RV rv;

	memset(t, 0, sizeof(t));
	for (size_t i = 0; i < N; i++)
		t[i].type = types[i];
	rv = fuzz_rv(C_GetAttributeValue(h, obj, t, N));
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return;
	for (size_t i = 0; i < N; i++) {
		if (t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) {
			t[i].ulValueLen = 0;
			continue;
		}
		FUZZ_CHECK(t[i].ulValueLen <= FUZZ_VALUE_MAX);
		t[i].pValue = t[i].ulValueLen > 0 ? malloc(t[i].ulValueLen) : NULL;
		FUZZ_CHECK(t[i].ulValueLen == 0 || t[i].pValue != NULL);
	}
	rv = fuzz_rv(C_GetAttributeValue(h, obj, t, N));
	FUZZ_CHECK(rv != CKR_BUFFER_TOO_SMALL);
	for (size_t i = 0; i < N; i++)
		free(t[i].pValue);
	(void)fuzz_rv(C_GetObjectSize(h, obj, &size));
}

static CK_ULONG
fuzz_find(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out,
          CK_ULONG max)
{
	CK_ULONG total = 0, got = 0;

	if (fuzz_rv(C_FindObjectsInit(h, tmpl, n)) != CKR_OK)
		return 0;
	do {
		got = 0;
		if (fuzz_rv(C_FindObjects(h, out + total, max - total, &got)) != CKR_OK)
			break;
		FUZZ_CHECK(got <= max - total);
		total += got;
	} while (got > 0 && total < max);
	(void)fuzz_rv(C_FindObjectsFinal(h));
	return total;
}

/* The public key object with the same CKA_ID, for C_Verify. */
static CK_OBJECT_HANDLE
fuzz_public_of(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_BYTE id[64];
	CK_ATTRIBUTE get = { CKA_ID, id, sizeof(id) };
	CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_ID, id, 0 } };
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;

	if (fuzz_rv(C_GetAttributeValue(h, priv, &get, 1)) != CKR_OK)
		return CK_INVALID_HANDLE;
	tmpl[1].ulValueLen = get.ulValueLen;
	if (fuzz_find(h, tmpl, 2, &pub, 1) != 1)
		pub = CK_INVALID_HANDLE;
	return pub;
}

static void
fuzz_sign(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key, bool always, bool multipart,
          CK_MECHANISM *mech, CK_ULONG data_len)
{
	static const CK_BYTE data[64] = "kyso fuzz: the data to sign, 64 bytes of it, exactly..";
	CK_BYTE sig[1024];
	CK_ULONG sig_len = 0;
	CK_OBJECT_HANDLE pub;
	CK_RV rv;

	if (fuzz_rv(C_SignInit(h, mech, key)) != CKR_OK)
		return;
	/* A key with CKA_ALWAYS_AUTHENTICATE (PIV 9C) wants the PIN right
	 * before each use. */
	if (always)
		(void)fuzz_rv(C_Login(h, CKU_CONTEXT_SPECIFIC, fuzz_pin, 6));
	if (multipart) {
		rv = fuzz_rv(C_SignUpdate(h, (CK_BYTE_PTR)data, data_len / 2));
		if (rv == CKR_OK)
			rv = fuzz_rv(C_SignUpdate(h, (CK_BYTE_PTR)data + data_len / 2,
			                          data_len - data_len / 2));
		if (rv != CKR_OK)
			return;
		rv = fuzz_rv(C_SignFinal(h, NULL, &sig_len));
		if (rv != CKR_OK)
			return;
		FUZZ_CHECK(sig_len > 0 && sig_len <= sizeof(sig));
		rv = fuzz_rv(C_SignFinal(h, sig, &sig_len));
	} else {
		rv = fuzz_rv(C_Sign(h, (CK_BYTE_PTR)data, data_len, NULL, &sig_len));
		if (rv != CKR_OK)
			return;
		FUZZ_CHECK(sig_len > 0 && sig_len <= sizeof(sig));
		rv = fuzz_rv(C_Sign(h, (CK_BYTE_PTR)data, data_len, sig, &sig_len));
	}
	if (rv != CKR_OK)
		return;
	FUZZ_CHECK(sig_len <= sizeof(sig));
	/* The card's signature is whatever it said: verifying it runs the
	 * public key the module built from the card's certificate. */
	pub = fuzz_public_of(h, key);
	if (pub != CK_INVALID_HANDLE && fuzz_rv(C_VerifyInit(h, mech, pub)) == CKR_OK)
		(void)fuzz_rv(C_Verify(h, (CK_BYTE_PTR)data, data_len, sig, sig_len));
}

/* A ciphertext for the key's public half, so that a recorded card's answer
 * is a well-padded block (the fuzzer's answers are whatever they are). */
static CK_ULONG
fuzz_encrypt(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key, bool oaep, CK_BYTE *out,
             size_t room)
{
	static const unsigned char secret[] = "kyso fuzz secret";
	CK_BYTE spki[2048];
	CK_ATTRIBUTE a = { CKA_PUBLIC_KEY_INFO, spki, sizeof(spki) };
	const unsigned char *p = spki;
	EVP_PKEY *pub = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = room;

	if (fuzz_rv(C_GetAttributeValue(h, key, &a, 1)) != CKR_OK ||
	    (pub = d2i_PUBKEY(NULL, &p, (long)a.ulValueLen)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new(pub, NULL)) == NULL ||
	    EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, oaep ? RSA_PKCS1_OAEP_PADDING :
	                                           RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_encrypt(ctx, out, &len, secret, sizeof(secret) - 1) != 1)
		len = 0;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	return (CK_ULONG)len;
}

static void
fuzz_decrypt(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key, CK_MECHANISM *mech)
{
	CK_BYTE in[512], out[512];
	CK_ULONG in_len, out_len = sizeof(out);

	in_len = fuzz_encrypt(h, key, mech->mechanism == CKM_RSA_PKCS_OAEP, in, sizeof(in));
	if (in_len == 0)
		return;
	if (fuzz_rv(C_DecryptInit(h, mech, key)) != CKR_OK)
		return;
	if (fuzz_rv(C_Decrypt(h, in, in_len, out, &out_len)) == CKR_OK)
		FUZZ_CHECK(out_len <= in_len);
}

/* ECDH with the key's own public point (CKA_EC_POINT, a DER OCTET STRING,
 * which kyso takes as the peer's point too): a point a real card accepts. */
static void
fuzz_derive(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key, CK_BYTE *point, CK_ULONG point_len)
{
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, point_len, point };
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &no, sizeof(no) },
	};
	CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;

	if (fuzz_rv(C_DeriveKey(h, &mech, key, tmpl, 3, &secret)) == CKR_OK) {
		fuzz_attributes(h, secret);
		(void)fuzz_rv(C_DestroyObject(h, secret));
	}
}

/* Sign, verify, decrypt and derive with one private key, with the
 * mechanisms that fit its type. */
static void
fuzz_use_key(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key, bool multipart)
{
	CK_KEY_TYPE type = (CK_KEY_TYPE)-1;
	CK_BBOOL always = CK_FALSE, decrypt = CK_FALSE, derive = CK_FALSE;
	CK_BYTE ec_point[256];
	CK_ATTRIBUTE t[4] = {
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_ALWAYS_AUTHENTICATE, &always, sizeof(always) },
		{ CKA_DECRYPT, &decrypt, sizeof(decrypt) },
		{ CKA_DERIVE, &derive, sizeof(derive) },
	};
	CK_ATTRIBUTE pt = { CKA_EC_POINT, ec_point, sizeof(ec_point) };
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM m;

	if (fuzz_rv(C_GetAttributeValue(h, key, t, 4)) != CKR_OK)
		return;
	if (type == CKK_RSA) {
		m = (CK_MECHANISM){ CKM_SHA256_RSA_PKCS, NULL, 0 };
		fuzz_sign(h, key, always, multipart, &m, 64);
		m = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
		fuzz_sign(h, key, always, false, &m, 32);
		m = (CK_MECHANISM){ CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss) };
		fuzz_sign(h, key, always, multipart, &m, 64);
		if (decrypt) {
			m = (CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 };
			fuzz_decrypt(h, key, &m);
			m = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
			fuzz_decrypt(h, key, &m);
		}
	} else if (type == CKK_EC) {
		m = (CK_MECHANISM){ CKM_ECDSA_SHA256, NULL, 0 };
		fuzz_sign(h, key, always, multipart, &m, 64);
		m = (CK_MECHANISM){ CKM_ECDSA, NULL, 0 };
		fuzz_sign(h, key, always, false, &m, 48);
		if (derive && fuzz_rv(C_GetAttributeValue(h, key, &pt, 1)) == CKR_OK)
			fuzz_derive(h, key, ec_point, pt.ulValueLen);
	}
}

/* Writes, as `kyso` or an enrolment tool does them: a key pair generated on
 * the card (the management key's challenge and GENERATE's answer), a
 * signature with it, a certificate written and deleted, each followed by
 * the module reading the objects again. */
static void
fuzz_writes(CK_SESSION_HANDLE h)
{
	static const CK_BYTE p256[] = {
		0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07,
	};
	CK_BYTE id = 0x03;	/* PIV 9D */
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_CLASS cert_class = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE x509 = CKC_X_509;
	CK_MECHANISM gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM ecdsa = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_ATTRIBUTE pub_tmpl[] = {
		{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_ID, &id, 1 },
	};
	CK_ATTRIBUTE priv_tmpl[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_ID, &id, 1 },
		{ CKA_SIGN, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE cert = CK_INVALID_HANDLE;
	unsigned char *der = NULL;
	int der_len = fuzz_cert_der(&der);
	CK_ATTRIBUTE cert_tmpl[] = {
		{ CKA_CLASS, &cert_class, sizeof(cert_class) },
		{ CKA_CERTIFICATE_TYPE, &x509, sizeof(x509) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_ID, &id, 1 },
		{ CKA_VALUE, der, (CK_ULONG)der_len },
	};

	if (fuzz_rv(C_GenerateKeyPair(h, &gen, pub_tmpl, 3, priv_tmpl, 3, &pub, &priv)) ==
	    CKR_OK) {
		fuzz_attributes(h, pub);
		fuzz_sign(h, priv, false, false, &ecdsa, 64);
	}
	if (fuzz_rv(C_CreateObject(h, cert_tmpl, 5, &cert)) == CKR_OK) {
		fuzz_attributes(h, cert);
		(void)fuzz_rv(C_DestroyObject(h, cert));
	}
	OPENSSL_free(der);
}

static void
fuzz_session(uint8_t flags)
{
	CK_SLOT_ID slots[4], slot, event;
	CK_ULONG n = 4;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_INFO sess;
	CK_MECHANISM_TYPE mechs[64];
	CK_MECHANISM_INFO mi;
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE, h2 = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE objs[FUZZ_OBJECTS_MAX], keys[FUZZ_KEYS_MAX];
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE by_class = { CKA_CLASS, &priv, sizeof(priv) };
	CK_ULONG count;

	FUZZ_CHECK(C_Initialize(NULL) == CKR_OK);
	if (fuzz_rv(C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK || n == 0)
		goto out;
	slot = slots[0];
	if (fuzz_rv(C_GetTokenInfo(slot, &ti)) == CKR_OK)
		FUZZ_CHECK(ti.ulMinPinLen <= ti.ulMaxPinLen);
	count = sizeof(mechs) / sizeof(mechs[0]);
	if (fuzz_rv(C_GetMechanismList(slot, mechs, &count)) == CKR_OK)
		for (CK_ULONG i = 0; i < count; i++)
			(void)fuzz_rv(C_GetMechanismInfo(slot, mechs[i], &mi));
	if (fuzz_rv(C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	                          &h)) != CKR_OK)
		goto out;
	if (flags & 0x10)
		(void)fuzz_rv(C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h2));

	count = fuzz_find(h, NULL, 0, objs, FUZZ_OBJECTS_MAX);
	for (CK_ULONG i = 0; i < count; i++)
		fuzz_attributes(h, objs[i]);
	if (flags & 0x20) {
		(void)fuzz_rv(C_GetSlotInfo(slot, &si));
		(void)fuzz_rv(C_WaitForSlotEvent(CKF_DONT_BLOCK, &event, NULL));
	}

	if (!(flags & 0x04)) {
		(void)fuzz_rv(C_Login(h, CKU_USER, fuzz_pin, 6));
		(void)fuzz_rv(C_GetSessionInfo(h, &sess));
	}
	count = fuzz_find(h, &by_class, 1, keys, FUZZ_KEYS_MAX);
	for (CK_ULONG i = 0; i < count; i++) {
		fuzz_attributes(h, keys[i]);
		fuzz_use_key(h, keys[i], (flags & 0x08) != 0);
		if (i == 0 && h2 != CK_INVALID_HANDLE)
			(void)fuzz_rv(C_CloseSession(h2));
	}
	if (flags & 0x40)
		fuzz_writes(h);
	if (flags & 0x20) {
		(void)fuzz_rv(C_GetTokenInfo(slot, &ti));
		(void)fuzz_rv(C_WaitForSlotEvent(CKF_DONT_BLOCK, &event, NULL));
	}
	(void)fuzz_rv(C_Logout(h));
	(void)fuzz_rv(C_CloseSession(h));
out:
	FUZZ_CHECK(C_Finalize(NULL) == CKR_OK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_card fc;
	struct fake_pcsc_card card;
	const uint8_t *p;
	uint8_t flags, atr_len;

	/* Only the card may vary: no kyso.conf or management key of whoever
	 * runs this, and the same management key challenge every time. */
	setenv("KYSO_CONF", "/dev/null", 1);
	unsetenv("KYSO_PIV_MGMT_KEY");
	unsetenv("KYSO_PIV_MGMT_ALG");
	fuzz_rand_reset();
	fuzz_card_init(&fc, data, size);
	memset(&card, 0, sizeof(card));
	flags = fuzz_card_byte(&fc, 0);
	card.reset_at = fuzz_card_byte(&fc, 0);
	atr_len = fuzz_card_byte(&fc, 0);
	if (atr_len > CARD_ATR_MAX)
		atr_len = CARD_ATR_MAX;
	if (fuzz_card_take(&fc, atr_len, &p)) {
		memcpy(card.atr, p, atr_len);
		card.atr_len = atr_len;
	}
	card.fc = &fc;
	card.extended = (flags & 0x01) != 0;
	card.t0 = (flags & 0x02) != 0;
	fake_pcsc_insert(&card);

	fuzz_session(flags);

	FUZZ_CHECK(fake_pcsc_balanced());
	fuzz_card_finish(&fc);
	return 0;
}
