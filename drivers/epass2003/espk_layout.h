/* Feitian's vendor layout on the ePass2003 (DF 3F00/2003, FCI name
 * ENTERSAFE-ESPK): the index EF 6F01 and the files it lists, each a raw
 * stream of PKCS#11 attributes. Pure parsers over bytes, fuzzed by
 * tests/fuzz/fuzz_espk.c. Layout as documented in OpenSC issue #3834. */
#ifndef KYSO_ESPK_LAYOUT_H
#define KYSO_ESPK_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#define ESPK_RECORD_LEN 30
#define ESPK_DIR_NAME_LEN 10
#define ESPK_FILE_NAME_LEN 13
#define ESPK_FID_DIR_LABEL 0xFFFFu
/* The vendor attribute holding the card's internal key handle: 0xA0xx for
 * a private key, 0x80xx for a public key; MSE:SET names the key by it. */
#define ESPK_ATTR_KEY_HANDLE 0x80000100UL

enum espk_kind {
	ESPK_OTHER = 0,
	ESPK_CERT,		/* certNNNN */
	ESPK_PUBKEY,		/* pubkNNNN */
	ESPK_PRIVKEY,		/* prvkNNNN */
};

struct espk_entry {
	uint16_t fid;
	char dir[ESPK_DIR_NAME_LEN + 1];	/* NUL-terminated, printable */
	char name[ESPK_FILE_NAME_LEN + 1];
	uint8_t acl;
	uint16_t used;
	uint16_t allocated;
	enum espk_kind kind;
};

struct espk_index {
	struct espk_entry *entries;	/* files only: directory labels and
					   empty records are skipped */
	size_t count;
};

/* One attribute of a stream; `value` points into the parsed bytes. */
struct espk_attr {
	CK_ATTRIBUTE_TYPE type;
	const uint8_t *value;
	size_t len;
};

struct espk_attrs {
	struct espk_attr *items;
	size_t count;
};

/* Parse the index EF. A trailing partial record and zero records (never
 * written) end it. 0, or -1 when out of memory or a record is malformed
 * (a used size above the allocated size). */
int espk_index_parse(const uint8_t *data, size_t len, struct espk_index *out);
void espk_index_free(struct espk_index *idx);

/* Parse an attribute stream (u32 LE type, u32 LE length, value). Zero
 * padding after the last attribute is allowed; -1 when an attribute runs
 * past the end, or out of memory. */
int espk_attrs_parse(const uint8_t *data, size_t len, struct espk_attrs *out);
/* The header of the attribute at the start of `data` (for reading a
 * stream piece by piece): 1 with its type and value length; 0 for zero
 * padding (type and length 0); -1 when fewer than 8 bytes are given. */
int espk_attr_header(const uint8_t *data, size_t len, CK_ATTRIBUTE_TYPE *type, size_t *vlen);
const struct espk_attr *espk_attrs_find(const struct espk_attrs *a, CK_ATTRIBUTE_TYPE type);
/* A CK_ULONG attribute stored as 4 (or 8) little-endian bytes. */
int espk_attr_ulong(const struct espk_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG *value);
void espk_attrs_free(struct espk_attrs *a);

#endif
