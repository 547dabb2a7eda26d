/* SPDX-License-Identifier: Apache-2.0 */
/* hmap.c - chained hash map keyed by strings (FNV-1a). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/hmap.h"

struct node {
	struct node *next; /* next in the bucket */
	uint64_t hash;     /* hash of key */
	void *val;         /* borrowed value */
	char key[];        /* copied key */
};

struct hmap {
	struct node **b; /* buckets */
	size_t nb;       /* bucket count, a power of two */
	size_t n;        /* entries */
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

struct hmap *hmap_new(void)
{
	struct hmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nb = 16;
	m->b = calloc(m->nb, sizeof(*m->b));
	if (!m->b) {
		free(m);
		return NULL;
	}
	return m;
}

void hmap_free(struct hmap *m)
{
	hmap_free_with(m, NULL);
}

void hmap_free_with(struct hmap *m, void (*free_val)(void *val))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		struct node *n = m->b[i];

		while (n) {
			struct node *next = n->next;

			if (free_val)
				free_val(n->val);
			free(n);
			n = next;
		}
	}
	free(m->b);
	free(m);
}

static struct node **slot(const struct hmap *m, const char *key, uint64_t h)
{
	struct node **p = &m->b[h & (m->nb - 1)];

	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

void *hmap_get(const struct hmap *m, const char *key)
{
	struct node *n = *slot(m, key, fnv(key));

	return n ? n->val : NULL;
}

static void grow(struct hmap *m)
{
	size_t nb = m->nb * 2;
	struct node **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* keep working at a higher load */
	for (size_t i = 0; i < m->nb; i++) {
		struct node *n = m->b[i];

		while (n) {
			struct node *next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
			n = next;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

int hmap_put(struct hmap *m, const char *key, void *val)
{
	uint64_t h = fnv(key);
	struct node **p = slot(m, key, h);
	size_t klen;

	if (*p) {
		(*p)->val = val;
		return 0;
	}
	klen = strlen(key);
	*p = malloc(sizeof(**p) + klen + 1);
	if (!*p)
		return -1;
	(*p)->next = NULL;
	(*p)->hash = h;
	(*p)->val = val;
	memcpy((*p)->key, key, klen + 1);
	if (++m->n > m->nb)
		grow(m);
	return 0;
}

void *hmap_del(struct hmap *m, const char *key)
{
	struct node **p = slot(m, key, fnv(key));
	struct node *n = *p;
	void *val;

	if (!n)
		return NULL;
	*p = n->next;
	val = n->val;
	free(n);
	m->n--;
	return val;
}

size_t hmap_count(const struct hmap *m)
{
	return m->n;
}

int hmap_each(const struct hmap *m,
              int (*fn)(const char *key, void *val, void *arg), void *arg)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct node *n = m->b[i]; n; n = n->next) {
			int r = fn(n->key, n->val, arg);
			if (r)
				return r;
		}
	return 0;
}
