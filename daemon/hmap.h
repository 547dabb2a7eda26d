/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hmap.h - a string-keyed hash map of pointers (chained, power-of-two
 * buckets, grows at load 1). Not thread-safe: callers lock. Keys are copied;
 * values are borrowed and never freed by the map.
 */
#ifndef DRAY_HMAP_H
#define DRAY_HMAP_H

#include <stddef.h>

#include "daemon/err.h"

struct hmap;

struct hmap *hmap_new(void);
/* Free the map and its keys (not the values). Accepts NULL. */
void hmap_free(struct hmap *m);
/* hmap_free(), and @free_val (NULL: nothing) on every value first. */
void hmap_free_with(struct hmap *m, void (*free_val)(void *val));
/* The value stored under @key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key);
/* Store @val under @key, replacing any value. -1 only when out of memory. */
MUST_CHECK int hmap_put(struct hmap *m, const char *key, void *val);
/* Remove @key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key);
size_t hmap_count(const struct hmap *m);
/* Call @fn for every entry, in no particular order; stop when it returns
 * non-zero and return that. @fn must not change the map. */
int hmap_each(const struct hmap *m, int (*fn)(const char *key, void *val,
                                              void *arg),
              void *arg);

#endif
