/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv.h - the few RocksDB operations the index needs; private to index/.
 *
 * Options are those of a metadata store: bloom filters, a bounded LRU block
 * cache, the WAL on (not synced per write: the layouts are the truth and a
 * lost index write is found and redone at the next reconcile), multi-key
 * changes in one WriteBatch. Keys are byte strings; iteration is in key
 * order within a prefix.
 */
#ifndef DRAY_KV_H
#define DRAY_KV_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/err.h"

struct kv;
struct kv_batch;
struct kv_iter;

/* Open (creating) the database in @dir. ERR_IO, ERR_INVALID (corrupt). */
MUST_CHECK struct kv *kv_open(const char *dir, struct err *err);
/* Flush the memtable and close. Accepts NULL. */
void kv_close(struct kv *kv);
/* Remove the database in @dir. ERR_IO. */
MUST_CHECK int kv_destroy(const char *dir, struct err *err);

/*
 * Read @key into a new buffer (*val, free(), NUL-terminated beyond *vlen).
 * ERR_NOT_FOUND, ERR_IO.
 */
MUST_CHECK int kv_get(struct kv *kv, const char *key, size_t klen, char **val,
                      size_t *vlen, struct err *err);

struct kv_batch *kv_batch_new(void);
void kv_batch_free(struct kv_batch *b);
void kv_batch_put(struct kv_batch *b, const char *key, size_t klen,
                  const char *val, size_t vlen);
void kv_batch_del(struct kv_batch *b, const char *key, size_t klen);
/*
 * Delete every key that starts with @prefix (as @kv holds them now).
 * ERR_NOMEM, ERR_IO.
 */
MUST_CHECK int kv_batch_del_prefix(struct kv *kv, struct kv_batch *b,
                                   const char *prefix, size_t plen,
                                   struct err *err);
/* Apply @b atomically. ERR_IO. */
MUST_CHECK int kv_commit(struct kv *kv, struct kv_batch *b, struct err *err);

/*
 * Iterate keys starting with @prefix in order, from the first key greater
 * than @after (NULL: from the start of the prefix). NULL when out of memory.
 */
struct kv_iter *kv_iter_new(struct kv *kv, const char *prefix, size_t plen,
                            const char *after, size_t alen);
/*
 * The next entry: 1 and its key and value (valid until the next call), 0
 * at the end of the prefix, or -1 with ERR_IO when RocksDB failed (the
 * listing is then incomplete: never take it for the end).
 */
MUST_CHECK int kv_iter_next(struct kv_iter *it, const char **key, size_t *klen,
                            const char **val, size_t *vlen, struct err *err);
void kv_iter_free(struct kv_iter *it);

#endif
