/* SPDX-License-Identifier: Apache-2.0 */
/* kv.c - the RocksDB C API behind kv.h. */
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "index/kv.h"

/*
 * Memory: RocksDB's share of dray's resident size is the block cache, plus
 * up to two memtables (the one written and the one being flushed), plus
 * what the cache does not hold (the pinned top-level index and filter
 * partitions, iterators). 10,000 repositories of 10 tags make a 200 MiB
 * index whose lookups touch a few MiB of it (the N entries, one
 * repository's S entries): 8 MiB of cache keeps them, and a miss is a
 * read from the page cache. A memtable is kept until it is full, so up
 * to its size stays resident after the index build: 4 MiB (RocksDB's
 * default is 64 MiB) at the cost of more, smaller flushes.
 */
#define KV_BLOCK_CACHE  (8u << 20)
#define KV_WRITE_BUFFER (4u << 20)

struct kv {
	rocksdb_t *db;                       /* the database */
	rocksdb_options_t *opts;             /* its options */
	rocksdb_cache_t *cache;              /* bounded block cache */
	rocksdb_block_based_table_options_t *table; /* bloom, cache */
	rocksdb_readoptions_t *ropts;        /* default reads */
	rocksdb_writeoptions_t *wopts;       /* WAL on, no sync */
};

struct kv_batch {
	rocksdb_writebatch_t *wb; /* the batch */
};

struct kv_iter {
	rocksdb_iterator_t *it;      /* RocksDB iterator */
	rocksdb_readoptions_t *ropts; /* with the upper bound */
	char *upper;                  /* prefix + 0xff..., the bound */
	size_t ulen;
	char *prefix;                 /* the prefix */
	size_t plen;
	bool started;                 /* next() moves before reading */
};

/* Copy RocksDB's error text into @err and free it. */
static int db_err(struct err *err, char *rerr, const char *what)
{
	err_set(err, ERR_IO, "%s: %s", what, rerr ? rerr : "unknown error");
	free(rerr);
	return -1;
}

void kv_close(struct kv *kv)
{
	if (!kv)
		return;
	if (kv->db) {
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		char *rerr = NULL;

		/* A flushed WAL makes the next open fast. */
		rocksdb_flush(kv->db, fo, &rerr);
		free(rerr);
		rocksdb_flushoptions_destroy(fo);
		rocksdb_close(kv->db);
	}
	if (kv->ropts)
		rocksdb_readoptions_destroy(kv->ropts);
	if (kv->wopts)
		rocksdb_writeoptions_destroy(kv->wopts);
	if (kv->opts)
		rocksdb_options_destroy(kv->opts);
	if (kv->table)
		rocksdb_block_based_options_destroy(kv->table);
	if (kv->cache)
		rocksdb_cache_destroy(kv->cache);
	free(kv);
}

struct kv *kv_open(const char *dir, struct err *err)
{
	struct kv *kv = calloc(1, sizeof(*kv));
	char *rerr = NULL;

	if (!kv) {
		err_set(err, ERR_NOMEM, "cannot open index");
		return NULL;
	}
	kv->opts = rocksdb_options_create();
	kv->cache = rocksdb_cache_create_lru(KV_BLOCK_CACHE);
	kv->table = rocksdb_block_based_options_create();
	kv->ropts = rocksdb_readoptions_create();
	kv->wopts = rocksdb_writeoptions_create();
	rocksdb_block_based_options_set_block_cache(kv->table, kv->cache);
	rocksdb_block_based_options_set_filter_policy(
		kv->table, rocksdb_filterpolicy_create_bloom(10));
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(
		kv->table, 1);
	/*
	 * Index and filter in 4 KiB partitions: a whole index block of a
	 * large table is bigger than a shard of the cache, so it would be
	 * read from the file again for every lookup.
	 */
	rocksdb_block_based_options_set_index_type(
		kv->table,
		rocksdb_block_based_table_index_type_two_level_index_search);
	rocksdb_block_based_options_set_partition_filters(kv->table, 1);
	rocksdb_block_based_options_set_metadata_block_size(kv->table, 4096);
	rocksdb_block_based_options_set_pin_top_level_index_and_filter(
		kv->table, 1);
	rocksdb_options_set_block_based_table_factory(kv->opts, kv->table);
	rocksdb_options_set_create_if_missing(kv->opts, 1);
	rocksdb_options_set_max_open_files(kv->opts, 256);
	rocksdb_options_set_write_buffer_size(kv->opts, KV_WRITE_BUFFER);
	rocksdb_options_set_max_write_buffer_number(kv->opts, 2);
	rocksdb_options_set_max_background_jobs(kv->opts, 2);
	rocksdb_options_set_keep_log_file_num(kv->opts, 2);
	rocksdb_options_set_info_log_level(kv->opts, 3 /* error */);
	rocksdb_options_set_compression(kv->opts, rocksdb_no_compression);
	rocksdb_writeoptions_set_sync(kv->wopts, 0);
	kv->db = rocksdb_open(kv->opts, dir, &rerr);
	if (!kv->db) {
		db_err(err, rerr, "cannot open index");
		err->code = ERR_INVALID;
		kv_close(kv);
		return NULL;
	}
	return kv;
}

int kv_destroy(const char *dir, struct err *err)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *rerr = NULL;

	rocksdb_destroy_db(o, dir, &rerr);
	rocksdb_options_destroy(o);
	if (rerr)
		return db_err(err, rerr, "cannot remove index");
	return 0;
}

int kv_get(struct kv *kv, const char *key, size_t klen, char **val,
           size_t *vlen, struct err *err)
{
	char *rerr = NULL, *v, *copy;
	size_t n;

	v = rocksdb_get(kv->db, kv->ropts, key, klen, &n, &rerr);
	if (rerr)
		return db_err(err, rerr, "cannot read index");
	if (!v)
		return err_set(err, ERR_NOT_FOUND, "not in index");
	copy = malloc(n + 1);
	if (!copy) {
		free(v);
		return err_set(err, ERR_NOMEM, "cannot read index");
	}
	memcpy(copy, v, n);
	copy[n] = '\0';
	free(v);
	*val = copy;
	*vlen = n;
	return 0;
}

struct kv_batch *kv_batch_new(void)
{
	struct kv_batch *b = calloc(1, sizeof(*b));

	if (b)
		b->wb = rocksdb_writebatch_create();
	return b;
}

void kv_batch_free(struct kv_batch *b)
{
	if (!b)
		return;
	rocksdb_writebatch_destroy(b->wb);
	free(b);
}

void kv_batch_put(struct kv_batch *b, const char *key, size_t klen,
                  const char *val, size_t vlen)
{
	rocksdb_writebatch_put(b->wb, key, klen, val, vlen);
}

void kv_batch_del(struct kv_batch *b, const char *key, size_t klen)
{
	rocksdb_writebatch_delete(b->wb, key, klen);
}

/* The smallest key greater than every key with @prefix; NULL if none. */
static char *prefix_end(const char *prefix, size_t plen, size_t *outlen)
{
	char *end = malloc(plen + 1);
	size_t n = plen;

	if (!end)
		return NULL;
	memcpy(end, prefix, plen);
	while (n > 0 && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (n == 0) {
		free(end);
		return NULL;
	}
	end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
	*outlen = n;
	return end;
}

int kv_batch_del_prefix(struct kv *kv, struct kv_batch *b, const char *prefix,
                        size_t plen, struct err *err)
{
	/*
	 * Key by key, not DeleteRange: range tombstones in the memtable make
	 * every later read fragment them all, which turned a full re-index
	 * quadratic.
	 */
	struct kv_iter *it = kv_iter_new(kv, prefix, plen, NULL, 0);
	const char *k, *v;
	size_t klen, vlen;
	int rc;

	if (!it)
		return err_set(err, ERR_NOMEM, "cannot list index");
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0)
		rocksdb_writebatch_delete(b->wb, k, klen);
	kv_iter_free(it);
	return rc;
}

int kv_commit(struct kv *kv, struct kv_batch *b, struct err *err)
{
	char *rerr = NULL;

	rocksdb_write(kv->db, kv->wopts, b->wb, &rerr);
	if (rerr)
		return db_err(err, rerr, "cannot write index");
	return 0;
}

struct kv_iter *kv_iter_new(struct kv *kv, const char *prefix, size_t plen,
                            const char *after, size_t alen)
{
	struct kv_iter *it = calloc(1, sizeof(*it));

	if (!it)
		return NULL;
	it->prefix = malloc(plen + 1);
	it->ropts = rocksdb_readoptions_create();
	if (!it->prefix || !it->ropts) {
		kv_iter_free(it);
		return NULL;
	}
	memcpy(it->prefix, prefix, plen);
	it->plen = plen;
	it->upper = prefix_end(prefix, plen, &it->ulen);
	if (it->upper)
		rocksdb_readoptions_set_iterate_upper_bound(it->ropts, it->upper,
		                                            it->ulen);
	it->it = rocksdb_create_iterator(kv->db, it->ropts);
	if (after) {
		rocksdb_iter_seek(it->it, after, alen);
		/* Skip @after itself: listing starts after it. */
		if (rocksdb_iter_valid(it->it)) {
			size_t kl;
			const char *k = rocksdb_iter_key(it->it, &kl);

			if (kl == alen && memcmp(k, after, alen) == 0)
				rocksdb_iter_next(it->it);
		}
		if (alen < plen || memcmp(after, prefix, plen) < 0)
			rocksdb_iter_seek(it->it, prefix, plen);
	} else {
		rocksdb_iter_seek(it->it, prefix, plen);
	}
	return it;
}

int kv_iter_next(struct kv_iter *it, const char **key, size_t *klen,
                 const char **val, size_t *vlen, struct err *err)
{
	if (it->started)
		rocksdb_iter_next(it->it);
	it->started = true;
	if (!rocksdb_iter_valid(it->it)) {
		char *rerr = NULL;

		/* Invalid is the end, or a failed read: ask which. */
		rocksdb_iter_get_error(it->it, &rerr);
		if (rerr)
			return db_err(err, rerr, "cannot list index");
		return 0;
	}
	*key = rocksdb_iter_key(it->it, klen);
	if (*klen < it->plen || memcmp(*key, it->prefix, it->plen) != 0)
		return 0;
	*val = rocksdb_iter_value(it->it, vlen);
	return 1;
}

void kv_iter_free(struct kv_iter *it)
{
	if (!it)
		return;
	if (it->it)
		rocksdb_iter_destroy(it->it);
	if (it->ropts)
		rocksdb_readoptions_destroy(it->ropts);
	free(it->upper);
	free(it->prefix);
	free(it);
}
