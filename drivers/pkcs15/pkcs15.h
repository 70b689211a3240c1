/* A generic PKCS#15 (ISO/IEC 7816-15) reader: the ODF, TokenInfo and the
 * directory files of private keys, public keys, certificates and PINs,
 * decoded as DER with OpenSSL's ASN.1 templates. It talks to a card only
 * through `struct p15_io` (read one file), so any driver of a PKCS#15 card
 * (ePass2003 today, an eID card tomorrow) reuses it. The parsers over bytes
 * are public for tests/fuzz/fuzz_pkcs15.c. Nothing here trusts a length it
 * did not check: a malformed entry is skipped, never half-used. */
#ifndef KYSO_PKCS15_H
#define KYSO_PKCS15_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/buf.h"

#define P15_ID_MAX 64
#define P15_PATH_MAX 16
#define P15_LABEL_MAX 64
#define P15_SERIAL_MAX 32
#define P15_MAX_OBJECTS 16
#define P15_MAX_DFS 8

/* The application DF's ODF and TokenInfo file ids (PKCS#15 v1.1, 5.4). */
#define P15_FID_ODF 0x5031
#define P15_FID_TOKENINFO 0x5032

/* PinFlags bits (PKCS#15 v1.1, 6.8.3). */
#define P15_PIN_FLAG_LOCAL 0x0002
#define P15_PIN_FLAG_INITIALIZED 0x0010
#define P15_PIN_FLAG_UNBLOCKING 0x0040
#define P15_PIN_FLAG_SO 0x0080

/* KeyUsageFlags bits (PKCS#15 v1.1, 6.2.4): encrypt 0, decrypt 1, sign 2,
 * signRecover 3, wrap 4, unwrap 5, verify 6, verifyRecover 7, derive 8,
 * nonRepudiation 9. */
#define P15_USAGE_DECRYPT 0x0002
#define P15_USAGE_SIGN 0x0004
#define P15_USAGE_UNWRAP 0x0020
#define P15_USAGE_NONREP 0x0200

/* A file reference: FIDs, 2 bytes each, absolute (from 3F00) once
 * resolved; `index`/`length` select a part of the file (-1: all). */
struct p15_path {
	uint8_t bytes[P15_PATH_MAX];
	size_t len;
	long index;
	long length;
};

struct p15_common {
	char label[P15_LABEL_MAX + 1];	/* printable, NUL-terminated */
	uint8_t auth_id[P15_ID_MAX];
	size_t auth_id_len;
	bool private_obj;		/* CommonObjectFlags.private */
};

/* The key types kyso reads (PrivateKeyType / PublicKeyType choices,
 * PKCS#15 v1.1 6.2.1, 6.3.1): RSA is the untagged SEQUENCE, EC is [0]. */
enum p15_key_type {
	P15_KEY_RSA = 0,
	P15_KEY_EC,
};

struct p15_key {
	struct p15_common c;
	enum p15_key_type type;
	uint8_t id[P15_ID_MAX];
	size_t id_len;
	unsigned long usage;		/* P15_USAGE_* */
	long key_ref;			/* keyReference, -1 absent */
	/* RSA: modulusLength; EC: the field size in bits when the entry
	 * states it (OpenSC writes it as the keyInfo INTEGER), else 0. */
	size_t modulus_bits;
	struct p15_path path;
};

struct p15_cert {
	struct p15_common c;
	uint8_t id[P15_ID_MAX];
	size_t id_len;
	bool authority;
	struct p15_path path;
};

struct p15_pin {
	struct p15_common c;
	uint8_t auth_id[P15_ID_MAX];	/* the object's own authId */
	size_t auth_id_len;
	unsigned long flags;		/* P15_PIN_FLAG_* */
	long reference;			/* pinReference, default 0 */
	size_t min_len, max_len, stored_len;
};

enum p15_df_kind {
	P15_DF_PRKDF = 0,	/* ODF [0] */
	P15_DF_PUKDF = 1,	/* ODF [1] (and [2], trusted) */
	P15_DF_CDF = 4,		/* ODF [4] (and [5], [6]) */
	P15_DF_AODF = 8,	/* ODF [8] */
};

struct p15_odf {
	struct {
		enum p15_df_kind kind;
		struct p15_path path;
	} dfs[P15_MAX_DFS];
	size_t count;
};

struct p15_token {
	char label[P15_LABEL_MAX + 1];
	char manufacturer[P15_LABEL_MAX + 1];
	uint8_t serial[P15_SERIAL_MAX];
	size_t serial_len;
	struct p15_key prkeys[P15_MAX_OBJECTS];
	size_t prkey_count;
	struct p15_key pubkeys[P15_MAX_OBJECTS];
	size_t pubkey_count;
	struct p15_cert certs[P15_MAX_OBJECTS];
	size_t cert_count;
	struct p15_pin pins[P15_MAX_OBJECTS];
	size_t pin_count;
};

/* How the reader reaches the card. read(): the whole transparent EF at the
 * absolute `path` into `out`. CKR_OK, or CKR_OK with *found false when the
 * card has no such file; any other value is a card failure and stops the
 * reading. */
struct p15_io {
	CK_RV (*read)(void *ctx, const uint8_t *path, size_t path_len, struct buf *out,
	              bool *found);
	void *ctx;
};

/* Read a PKCS#15 application whose DF has the absolute path `app`
 * (3F00 5015 on most cards). Missing DFs and malformed entries are
 * skipped (logged); only a card failure is an error. */
CK_RV p15_read(const struct p15_io *io, const uint8_t *app, size_t app_len,
               struct p15_token *out);

/* Parsers over bytes. Each returns 0, or -1 for data it cannot use at all;
 * DF parsers add what they can and skip malformed entries. */
int p15_parse_odf(const uint8_t *data, size_t len, struct p15_odf *out);
int p15_parse_tokeninfo(const uint8_t *data, size_t len, struct p15_token *out);
int p15_parse_df(enum p15_df_kind kind, const uint8_t *data, size_t len,
                 struct p15_token *out);
/* A path of a DF or object relative to the application (not starting with
 * 3F00) made absolute. -1 when too long. */
int p15_path_resolve(struct p15_path *p, const uint8_t *app, size_t app_len);

#endif
