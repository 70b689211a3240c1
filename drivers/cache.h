/* The card cache: public data a driver read from a card, kept on disk per
 * user so that the next process to meet the same card reads less of it
 * (issue 8).
 *
 * One file per card, named by the driver and the card's identity (its
 * serial number), in $XDG_CACHE_HOME/kyso (~/.cache/kyso). Each entry is a
 * name, a proof and a value. The proof is what the driver must read from
 * the card again to show the value is still the card's: an entry is served
 * only when the card gives the same proof now, so a card whose content
 * changed, by kyso or by anyone, is never served stale. Which bytes make a
 * good proof is the driver's knowledge of its card (drivers/piv: the
 * first response piece of a certificate container).
 *
 * Only public data goes here: certificates and what a card shows anyone.
 * Never a PIN, a key, or anything read after a login. `cache = no` in
 * kyso.conf turns it off (docs/configuration.md).
 *
 * The file is the user's own but still read as untrusted input: a damaged
 * or foreign file is ignored and replaced. */
#ifndef KYSO_DRIVER_CACHE_H
#define KYSO_DRIVER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct drv_cache;

/* Bounds of one entry; a driver's value above them is not cached. */
#define DRV_CACHE_NAME_MAX 64
#define DRV_CACHE_PROOF_MAX 1024
#define DRV_CACHE_VALUE_MAX (64u * 1024u)

/* Whether a cache would be opened (not switched off, a folder to keep it
 * in): lets a driver skip reading a card's identity only the cache needs. */
bool drv_cache_enabled(void);

/* The cache of the card `identity` (bytes that tell this card from any
 * other of its driver), loaded from disk if there. NULL when caching is
 * off, the identity is empty, there is no cache folder, or memory is
 * short: every other function accepts NULL and then caches nothing. */
struct drv_cache *drv_cache_open(const char *driver, const uint8_t *identity,
                                 size_t identity_len);
void drv_cache_close(struct drv_cache *c);

/* The value stored under `name`, if its proof equals `proof`. */
bool drv_cache_get(const struct drv_cache *c, const char *name,
                   const uint8_t *proof, size_t proof_len, struct buf *value);
/* Store (or replace) an entry; written to disk by drv_cache_flush(). */
void drv_cache_put(struct drv_cache *c, const char *name, const uint8_t *proof,
                   size_t proof_len, const uint8_t *value, size_t value_len);
/* Drop an entry: the driver changed that object on the card. */
void drv_cache_forget(struct drv_cache *c, const char *name);
/* Write the cache file if anything changed (atomically: a reader sees the
 * old file or the new one). Failing to write only costs the next start
 * its speed, so there is no error to report. */
void drv_cache_flush(struct drv_cache *c);

/* For tests and the fuzzer: parse the bytes of a cache file into `c`'s
 * entries (replacing them). 0, or -1 when the file is not a valid cache
 * file (c is then empty). drv_cache_new() makes a cache with no file. */
struct drv_cache *drv_cache_new(void);
int drv_cache_parse(struct drv_cache *c, const uint8_t *data, size_t len);
/* The file's bytes for `c`'s entries (what drv_cache_flush() writes). */
int drv_cache_serialize(const struct drv_cache *c, struct buf *out);

#endif
