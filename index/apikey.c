/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apikey.c - the API key table and its file, <root>/.dray/apikeys.json:
 *
 *   {"version": 1, "keys": [{"id", "user", "hash" (hex SHA-256 of the
 *    key's text after "zak_"), "label", "scopes": [...], "groups": [...],
 *    "creatorUa", "created", "expires", "lastUsed" (ms, 0: none)}, ...]}
 *
 * In memory: an array in creation order and a map from the hex hash to
 * the entry. One mutex guards both; a change rewrites the whole file
 * (crash-safe: fs_write_atomic) under it, which is fine for a table of at
 * most APIKEY_TOTAL_MAX entries changed by hand.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/hmap.h"
#include "index/apikey.h"
#include "index/store_int.h"

#define FILE_MAX (64u << 20) /* largest table file read */
#define HASH_HEX (2 * SHA256_DIGEST_LENGTH)

struct entry {
	struct apikey_info info;        /* what is shown */
	char user[APIKEY_USER_MAX + 1]; /* owner */
	char hash[HASH_HEX + 1];        /* hex SHA-256 of the secret */
	char **groups;                  /* the owner's groups, owned */
	size_t n_groups;                /* how many */
};

struct apikeys {
	pthread_mutex_t lock;  /* guards everything below */
	char path[PATH_MAX];   /* the table file */
	char tmpdir[PATH_MAX]; /* its temporaries (same file system) */
	struct entry **v;      /* in creation order */
	size_t n;              /* how many */
	struct hmap *by_hash;  /* hash -> entry */
	bool dirty;            /* last uses not written yet */
};

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_groups; i++)
		free(e->groups[i]);
	free(e->groups);
	OPENSSL_cleanse(e->hash, sizeof(e->hash));
	free(e);
}

static void hex_of(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The stored form of a secret's text after the prefix. */
static void hash_hex(const char *text, size_t len, char out[HASH_HEX + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)text, len, md);
	hex_of(md, sizeof(md), out);
	OPENSSL_cleanse(md, sizeof(md));
}

/* Copy @s into @dst (@size bytes) if it fits; false if it does not. */
static bool copy_str(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int add_groups(struct entry *e, const char *const *groups, size_t n,
                      struct err *err)
{
	if (n > APIKEY_GROUPS_MAX)
		return err_set(err, ERR_INVALID, "more than %d groups",
		               APIKEY_GROUPS_MAX);
	if (!n)
		return 0;
	e->groups = calloc(n, sizeof(*e->groups));
	if (!e->groups)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		e->groups[i] = strdup(groups[i]);
		if (!e->groups[i])
			return err_set(err, ERR_NOMEM, "out of memory");
		e->n_groups++;
	}
	return 0;
}

static int add_scopes(struct apikey_info *info, const char *const *scopes,
                      size_t n, struct err *err)
{
	if (n > APIKEY_SCOPES_MAX)
		return err_set(err, ERR_INVALID, "more than %d scopes",
		               APIKEY_SCOPES_MAX);
	for (size_t i = 0; i < n; i++)
		if (!copy_str(info->scopes[i], sizeof(info->scopes[i]),
		              scopes[i]) ||
		    !printable(scopes[i]))
			return err_set(err, ERR_INVALID,
			               "a scope must be printable and at most "
			               "%d bytes",
			               APIKEY_SCOPE_MAX);
	info->n_scopes = n;
	return 0;
}

/* Add @e to the table (which takes it, also on failure). */
static int table_add(struct apikeys *k, struct entry *e, struct err *err)
{
	struct entry **grown;

	if (hmap_get(k->by_hash, e->hash)) {
		entry_free(e);
		return err_set(err, ERR_INVALID, "a key appears twice");
	}
	grown = realloc(k->v, (k->n + 1) * sizeof(*grown));
	if (!grown || hmap_put(k->by_hash, e->hash, e) < 0) {
		if (grown)
			k->v = grown;
		entry_free(e);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	k->v = grown;
	k->v[k->n++] = e;
	return 0;
}

/* Remove entry @i from the table, returning it. */
static struct entry *table_take(struct apikeys *k, size_t i)
{
	struct entry *e = k->v[i];

	hmap_del(k->by_hash, e->hash);
	memmove(&k->v[i], &k->v[i + 1], (k->n - i - 1) * sizeof(*k->v));
	k->n--;
	return e;
}

/* Put @e back at position @i (undoing table_take). ERR_NOMEM. */
static int table_restore(struct apikeys *k, size_t i, struct entry *e,
                         struct err *err)
{
	if (hmap_put(k->by_hash, e->hash, e) < 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	memmove(&k->v[i + 1], &k->v[i], (k->n - i) * sizeof(*k->v));
	k->v[i] = e;
	k->n++;
	return 0;
}

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *entry_json(const struct entry *e)
{
	const char *scopes[APIKEY_SCOPES_MAX];

	for (size_t i = 0; i < e->info.n_scopes; i++)
		scopes[i] = e->info.scopes[i];
	return json_pack("{s:s, s:s, s:s, s:s, s:o?, s:o?, s:s, s:I, s:I, s:I}",
	                 "id", e->info.id, "user", e->user, "hash", e->hash,
	                 "label", e->info.label, "scopes",
	                 str_array(scopes, e->info.n_scopes), "groups",
	                 str_array((const char *const *)e->groups, e->n_groups),
	                 "creatorUa", e->info.creator_ua, "created",
	                 (json_int_t)e->info.created_ms, "expires",
	                 (json_int_t)e->info.expires_ms, "lastUsed",
	                 (json_int_t)e->info.last_used_ms);
}

/* Write the table to its file. Called with the lock held. */
static int save(struct apikeys *k, struct err *err)
{
	json_t *root = json_pack("{s:i, s:[]}", "version", 1, "keys");
	json_t *keys = root ? json_object_get(root, "keys") : NULL;
	char *text = NULL;
	int ret = -1;

	if (!root) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < k->n; i++) {
		if (json_array_append_new(keys, entry_json(k->v[i])) < 0) {
			err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	text = json_dumps(root, JSON_COMPACT);
	if (!text) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (fs_write_atomic(k->tmpdir, k->path, text, strlen(text), err) < 0) {
		/* Whatever the cause, the table could not be written. */
		err->code = ERR_IO;
		err_prefix(err, "API keys not saved");
		goto out;
	}
	k->dirty = false;
	ret = 0;
out:
	free(text);
	json_decref(root);
	return ret;
}

/* A string member @name of @o that fits @size bytes, into @dst. */
static bool get_str(json_t *o, const char *name, char *dst, size_t size)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && copy_str(dst, size, json_string_value(v));
}

static bool get_ms(json_t *o, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* The strings of array member @name (absent: none) into @v (@max). */
static bool get_strs(json_t *o, const char *name, const char **v, size_t max,
                     size_t *n)
{
	json_t *a = json_object_get(o, name), *s;
	size_t i;

	*n = 0;
	if (!a)
		return true;
	if (!json_is_array(a) || json_array_size(a) > max)
		return false;
	json_array_foreach(a, i, s)
	{
		if (!json_is_string(s))
			return false;
		v[(*n)++] = json_string_value(s);
	}
	return true;
}

/* One record of the file into a new entry. */
static struct entry *load_one(json_t *o, struct err *err)
{
	struct entry *e = calloc(1, sizeof(*e));
	const char *groups[APIKEY_GROUPS_MAX], *scopes[APIKEY_SCOPES_MAX];
	size_t ng, ns;

	if (!e) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (!json_is_object(o) ||
	    !get_str(o, "id", e->info.id, sizeof(e->info.id)) ||
	    !get_str(o, "user", e->user, sizeof(e->user)) ||
	    !get_str(o, "hash", e->hash, sizeof(e->hash)) ||
	    strlen(e->hash) != HASH_HEX ||
	    !get_str(o, "label", e->info.label, sizeof(e->info.label)) ||
	    !get_str(o, "creatorUa", e->info.creator_ua,
	             sizeof(e->info.creator_ua)) ||
	    !get_ms(o, "created", &e->info.created_ms) ||
	    !get_ms(o, "expires", &e->info.expires_ms) ||
	    !get_ms(o, "lastUsed", &e->info.last_used_ms) ||
	    !get_strs(o, "groups", groups, APIKEY_GROUPS_MAX, &ng) ||
	    !get_strs(o, "scopes", scopes, APIKEY_SCOPES_MAX, &ns)) {
		err_set(err, ERR_INVALID, "a malformed key record");
		goto fail;
	}
	if (add_groups(e, groups, ng, err) < 0 ||
	    add_scopes(&e->info, scopes, ns, err) < 0)
		goto fail;
	return e;
fail:
	entry_free(e);
	return NULL;
}

static int load(struct apikeys *k, struct err *err)
{
	json_error_t jerr;
	json_t *root = NULL, *keys, *o;
	char *text = NULL;
	size_t len = 0, i;
	int ret = -1;

	if (fs_read_file(k->path, FILE_MAX, &text, &len, err) < 0) {
		if (err->code != ERR_NOT_FOUND)
			return -1;
		*err = ERR_INIT; /* no keys yet */
		return 0;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	keys = root ? json_object_get(root, "keys") : NULL;
	if (!json_is_array(keys) || json_array_size(keys) > APIKEY_TOTAL_MAX) {
		err_set(err, ERR_INVALID, "'%s': not an API key table",
		        k->path);
		goto out;
	}
	json_array_foreach(keys, i, o)
	{
		struct entry *e = load_one(o, err);

		if (!e || table_add(k, e, err) < 0) {
			err_prefix(err, "'%s': key %zu", k->path, i + 1);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(root);
	free(text);
	return ret;
}

struct apikeys *apikeys_open(struct store *st, struct err *err)
{
	struct apikeys *k = calloc(1, sizeof(*k));

	if (!k) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&k->lock, NULL);
	k->by_hash = hmap_new();
	if (!k->by_hash) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (snprintf(k->path, sizeof(k->path), "%s/.dray/apikeys.json",
	             st->root) >= (int)sizeof(k->path)) {
		err_set(err, ERR_TOO_LARGE, "storage root path too long");
		goto fail;
	}
	memcpy(k->tmpdir, st->tmpdir, sizeof(k->tmpdir));
	if (load(k, err) < 0)
		goto fail;
	return k;
fail:
	apikeys_close(k);
	return NULL;
}

void apikeys_close(struct apikeys *k)
{
	if (!k)
		return;
	if (k->dirty) {
		struct err ignored = ERR_INIT;

		/* Only last-use times are at stake, and nothing can be
		   told at close: they stay as last written. */
		if (save(k, &ignored) < 0)
			k->dirty = false;
	}
	for (size_t i = 0; i < k->n; i++)
		entry_free(k->v[i]);
	free(k->v);
	hmap_free(k->by_hash);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* A random version 4 UUID, as zot names its keys. */
static int new_uuid(char out[APIKEY_ID_LEN + 1], struct err *err)
{
	unsigned char b[16];
	char hex[33];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return err_set(err, ERR_INTERNAL, "no random bytes");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	hex_of(b, sizeof(b), hex);
	snprintf(out, APIKEY_ID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex,
	         hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

/* Fill the parts of a new entry that come from @n. */
static int fill_new(struct entry *e, const struct apikey_new *n, uint64_t now,
                    struct err *err)
{
	if (!copy_str(e->user, sizeof(e->user), n->user) || !n->user[0])
		return err_set(err, ERR_INVALID, "bad user name");
	if (!copy_str(e->info.label, sizeof(e->info.label),
	              n->label ? n->label : "") ||
	    !printable(e->info.label))
		return err_set(err, ERR_INVALID,
		               "a label must be printable and at most %d "
		               "bytes",
		               APIKEY_LABEL_MAX);
	if (n->expires_ms && n->expires_ms <= now)
		return err_set(err, ERR_INVALID,
		               "the expiration date is not in the future");
	if (add_scopes(&e->info, n->scopes, n->n_scopes, err) < 0 ||
	    add_groups(e, n->groups, n->n_groups, err) < 0)
		return -1;
	/* A User-Agent is only informative: cut it, keep it printable. */
	snprintf(e->info.creator_ua, sizeof(e->info.creator_ua), "%s",
	         n->creator_ua ? n->creator_ua : "");
	for (char *p = e->info.creator_ua; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	e->info.created_ms = clock_wall_ms();
	e->info.expires_ms = n->expires_ms;
	return new_uuid(e->info.id, err);
}

static size_t count_of(const struct apikeys *k, const char *user)
{
	size_t c = 0;

	for (size_t i = 0; i < k->n; i++)
		c += strcmp(k->v[i]->user, user) == 0;
	return c;
}

/* Is @e past its expiry at @now? */
static bool expired(const struct entry *e, uint64_t now)
{
	return e->info.expires_ms && now >= e->info.expires_ms;
}

int apikeys_create(struct apikeys *k, const struct apikey_new *n, char *key,
                   struct apikey_info *info, struct err *err)
{
	struct entry *e = calloc(1, sizeof(*e));
	unsigned char secret[32];
	uint64_t now = clock_age_wall_ms();
	int ret = -1;

	if (!e)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (fill_new(e, n, now, err) < 0)
		goto fail;
	if (RAND_bytes(secret, sizeof(secret)) != 1) {
		err_set(err, ERR_INTERNAL, "no random bytes");
		goto fail;
	}
	memcpy(key, APIKEY_PREFIX, 4);
	hex_of(secret, sizeof(secret), key + 4);
	OPENSSL_cleanse(secret, sizeof(secret));
	hash_hex(key + 4, APIKEY_TEXT_LEN - 4, e->hash);
	*info = e->info;

	pthread_mutex_lock(&k->lock);
	if (count_of(k, n->user) >= APIKEY_PER_USER_MAX) {
		err_set(err, ERR_TOO_LARGE,
		        "user '%s' has %d API keys already: revoke one",
		        n->user, APIKEY_PER_USER_MAX);
		entry_free(e);
	} else if (k->n >= APIKEY_TOTAL_MAX) {
		err_set(err, ERR_TOO_LARGE, "the registry holds %d API keys",
		        APIKEY_TOTAL_MAX);
		entry_free(e);
	} else if (table_add(k, e, err) == 0) {
		ret = save(k, err);
		if (ret < 0)
			entry_free(table_take(k, k->n - 1));
	}
	pthread_mutex_unlock(&k->lock);
	if (ret < 0)
		OPENSSL_cleanse(key, APIKEY_TEXT_LEN + 1);
	return ret;
fail:
	entry_free(e);
	return -1;
}

int apikeys_list(struct apikeys *k, const char *user, struct apikey_info **out,
                 size_t *n, struct err *err)
{
	uint64_t now = clock_age_wall_ms();
	struct apikey_info *v;
	size_t c = 0;

	pthread_mutex_lock(&k->lock);
	v = calloc(count_of(k, user) + 1, sizeof(*v));
	for (size_t i = 0; v && i < k->n; i++) {
		if (strcmp(k->v[i]->user, user) != 0)
			continue;
		v[c] = k->v[i]->info;
		v[c++].expired = expired(k->v[i], now);
	}
	pthread_mutex_unlock(&k->lock);
	if (!v)
		return err_set(err, ERR_NOMEM, "out of memory");
	*out = v;
	*n = c;
	return 0;
}

int apikeys_revoke(struct apikeys *k, const char *user, const char *id,
                   struct err *err)
{
	struct entry *e = NULL;
	size_t i;
	int ret = -1;

	pthread_mutex_lock(&k->lock);
	for (i = 0; i < k->n; i++)
		if (strcmp(k->v[i]->info.id, id) == 0 &&
		    strcmp(k->v[i]->user, user) == 0)
			break;
	if (i == k->n) {
		err_set(err, ERR_NOT_FOUND, "no API key '%.36s' of '%s'", id,
		        user);
		goto out;
	}
	e = table_take(k, i);
	ret = save(k, err);
	if (ret < 0) {
		struct err e2 = ERR_INIT;

		/* Not durable: keep the key, so what is seen is what is
		   stored; the caller tries again. */
		if (table_restore(k, i, e, &e2) < 0)
			entry_free(e); /* out of memory: revoked after all */
		e = NULL;
	}
out:
	pthread_mutex_unlock(&k->lock);
	entry_free(e);
	return ret;
}

/* Copy @e's groups into one block: an array of pointers, then the text. */
static int copy_groups(const struct entry *e, char ***out, size_t *n,
                       struct err *err)
{
	size_t size = e->n_groups * sizeof(char *);
	char **v, *p;

	*out = NULL;
	*n = 0;
	if (!e->n_groups)
		return 0;
	for (size_t i = 0; i < e->n_groups; i++)
		size += strlen(e->groups[i]) + 1;
	v = malloc(size);
	if (!v)
		return err_set(err, ERR_NOMEM, "out of memory");
	p = (char *)(v + e->n_groups);
	for (size_t i = 0; i < e->n_groups; i++) {
		size_t l = strlen(e->groups[i]) + 1;

		memcpy(p, e->groups[i], l);
		v[i] = p;
		p += l;
	}
	*out = v;
	*n = e->n_groups;
	return 0;
}

int apikeys_check(struct apikeys *k, const char *user, const char *secret,
                  char ***groups, size_t *n_groups, struct err *err)
{
	char hash[HASH_HEX + 1];
	struct entry *e;
	uint64_t now = clock_age_wall_ms();
	int ret = -1;

	if (strlen(secret) != APIKEY_TEXT_LEN ||
	    strncmp(secret, APIKEY_PREFIX, 4) != 0)
		return err_set(err, ERR_DENIED, "not an API key");
	hash_hex(secret + 4, APIKEY_TEXT_LEN - 4, hash);
	pthread_mutex_lock(&k->lock);
	e = hmap_get(k->by_hash, hash);
	/* The map found it by its hash; compare the whole of it in constant
	   time all the same, and the owner. */
	if (!e || CRYPTO_memcmp(e->hash, hash, HASH_HEX) != 0 ||
	    strcmp(e->user, user) != 0) {
		err_set(err, ERR_DENIED, "unknown or revoked API key for '%s'",
		        user);
	} else if (expired(e, now)) {
		err_set(err, ERR_DENIED, "API key '%s' of '%s' expired",
		        e->info.id, user);
	} else if (!groups || copy_groups(e, groups, n_groups, err) == 0) {
		e->info.last_used_ms = clock_wall_ms();
		k->dirty = true;
		ret = 0;
	}
	pthread_mutex_unlock(&k->lock);
	OPENSSL_cleanse(hash, sizeof(hash));
	return ret;
}

size_t apikeys_count(struct apikeys *k)
{
	size_t n;

	pthread_mutex_lock(&k->lock);
	n = k->n;
	pthread_mutex_unlock(&k->lock);
	return n;
}
