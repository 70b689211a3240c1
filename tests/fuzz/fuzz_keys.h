/* Fixed keys and a certificate for the harnesses that need a key in a slot
 * without reading one from the card (piv_crypto) or a certificate to write
 * (piv_write). Public keys only: the card's answers are the fuzzer's, so no
 * private key is needed to make them. Made once with `openssl genpkey` and
 * `openssl req -x509`; the certificate is self-signed by the P-256 key. */
#ifndef KYSO_FUZZ_KEYS_H
#define KYSO_FUZZ_KEYS_H

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/fuzz/fuzz.h"

/* RSA 1024, RSA 2048, P-256, P-384: the index is the harnesses' key number. */
#define FUZZ_KEY_COUNT 4

static const char *const fuzz_key_pem[FUZZ_KEY_COUNT] = {
	"-----BEGIN PUBLIC KEY-----\n"
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCsOh+1iHRT9tk7vTuAHIaAx+o4\n"
	"OTEaxUBRZ0yZmqg3TaddU8YG+D3CPvc/XHQxyJl9ZKijucoK51XuXrqQCSlYb2eV\n"
	"dTpu9Df2DRH7ghaKyYaMwzhd+OjtYAmcLQGyT7yquPtsryemJRDIvpRg98JKeRf+\n"
	"wtRjpD8KzRpIpJdlNwIDAQAB\n"
	"-----END PUBLIC KEY-----\n"
	,
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxo7IllXKq14/WfWqegcn\n"
	"9TBonmLfGnhvg+XorM511OKo81gxl0gFsUScvVys/DZrA3eDwahkikLg1qMNrp77\n"
	"WcSY3StGn92pQbezty6ikC2ATnoSDt4I8yM0uG3aSQ/FIomWi76JTYRWLGbB4zHt\n"
	"XMJY32yxFozeinf13m0VVBzLmsN4qJXmtkesDcoU/1IB9tFqpNOTQGaHID07m4Wu\n"
	"3uUXfiTpRK50aPjDcolECsYO/GodNFUoaSHYFCMc0C7sb+8yE6FG/zmF/YX+EpZy\n"
	"WzW+uZEbQ68n57zvoFmcjyzQVhwpUCgFDGX90rYhd5H/Pm8T1F8yPks0DdqeEZj3\n"
	"/wIDAQAB\n"
	"-----END PUBLIC KEY-----\n"
	,
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcf5rOKNIyr9mZj7QVR9b7TyFEaKA\n"
	"jTdbsL1wr860VT0FVVi2LyzDanYFogAMmlI34iPVBEAM5N5q5027r93VDA==\n"
	"-----END PUBLIC KEY-----\n"
	,
	"-----BEGIN PUBLIC KEY-----\n"
	"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEn/ndb37QuPTDazG5xpZ5j9MOypycFURE\n"
	"Tf6crk1enBut71gS3ey4hZ5GGpQEgnP1qixXg2R+izMcwnu2QoEo7redELKRFF7w\n"
	"Bfa6yhBgrCCUEXN2EIzf6bKdl7yREKSC\n"
	"-----END PUBLIC KEY-----\n"
	,
};

/* Self-signed, P-256, CN "kyso fuzz certificate". */
static const char fuzz_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBtTCCAVugAwIBAgIURGt/1a+p0QweVjhuV+cUx7BX3e8wCgYIKoZIzj0EAwIw\n"
	"LzENMAsGA1UECgwEa3lzbzEeMBwGA1UEAwwVa3lzbyBmdXp6IGNlcnRpZmljYXRl\n"
	"MCAXDTI2MTEyOTE5NDMzNVoYDzIxMjYxMTA1MTk0MzM1WjAvMQ0wCwYDVQQKDARr\n"
	"eXNvMR4wHAYDVQQDDBVreXNvIGZ1enogY2VydGlmaWNhdGUwWTATBgcqhkjOPQIB\n"
	"BggqhkjOPQMBBwNCAARx/ms4o0jKv2ZmPtBVH1vtPIURooCNN1uwvXCvzrRVPQVV\n"
	"WLYvLMNqdgWiAAyaUjfiI9UEQAzk3mrnTbuv3dUMo1MwUTAdBgNVHQ4EFgQUZcBg\n"
	"gOl/aPtm1Jk2ogHZSXY/nWowHwYDVR0jBBgwFoAUZcBggOl/aPtm1Jk2ogHZSXY/\n"
	"nWowDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBTjjfjd/aLYH0J\n"
	"jmIIMLlDUPXKkO3VI/WiI8sj4ZohhQIhAOfuM30kXRqdszBWVHXqljJOxXMnSjaQ\n"
	"0G82uukRQ9aO\n"
	"-----END CERTIFICATE-----\n"
	;

static inline EVP_PKEY *
fuzz_key_load(int i)
{
	BIO *bio = BIO_new_mem_buf(fuzz_key_pem[i], -1);
	EVP_PKEY *k = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	FUZZ_CHECK(k != NULL);
	return k;
}

/* The certificate, DER; OPENSSL_free() it. */
static inline int
fuzz_cert_der(unsigned char **der)
{
	BIO *bio = BIO_new_mem_buf(fuzz_cert_pem, -1);
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	int len;

	FUZZ_CHECK(x != NULL);
	*der = NULL;
	len = i2d_X509(x, der);
	FUZZ_CHECK(len > 0);
	X509_free(x);
	BIO_free(bio);
	return len;
}

#endif
