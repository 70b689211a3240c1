/* A tiny in-memory PIV card for the PIV driver's crypto tests: it holds
 * real keys and certificates, answers GET DATA, VERIFY and GENERAL
 * AUTHENTICATE (raw RSA, ECDSA, ECDH) and records every command. Used where
 * the driver's commands cannot be scripted byte for byte (PSS salts). */
#ifndef KYSO_TEST_PIV_FAKE_CARD_H
#define KYSO_TEST_PIV_FAKE_CARD_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "drivers/card/card.h"

struct fake_piv {
	EVP_PKEY *keys[4];		/* 9A 9C 9D 9E, NULL: empty slot */
	struct buf certs[4];		/* DER, empty: none */
	struct buf chain;		/* command chaining in progress */
	unsigned commands;		/* whole commands seen (chains count once) */
	uint8_t last_ins;
	uint8_t last_p1;
	struct buf last_data;		/* the last whole command's data */
	/* Card management key (9B): algorithm 03/08/0A/0C and value. */
	uint8_t mgmt_alg;
	uint8_t mgmt_key[32];
	uint8_t witness[16];
	bool witness_sent;
	bool admin;			/* authenticated with 9B */
	unsigned puts;			/* PUT DATA commands accepted */
};

void fake_piv_init(struct fake_piv *f);
void fake_piv_free(struct fake_piv *f);
/* Put `key` (and a self-signed certificate for it) in slot 0-3. */
void fake_piv_set_key(struct fake_piv *f, int slot, EVP_PKEY *key);
void fake_piv_attach(struct fake_piv *f, struct card *card);

/* A self-signed certificate for `key`, DER into `out`. */
void test_make_cert(EVP_PKEY *key, struct buf *out);

#endif
