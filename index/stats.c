/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c - figures about the store for the metrics that no request
 * keeps: what dedupe saves, from the link counts of the content store.
 */
#include "index/store_int.h"

static int add_saved(const struct blob_file *bf, void *arg)
{
	uint64_t *saved = arg;

	/* One link is the store's own name, one the first repository's:
	 * the rest are copies not made. */
	if (bf->sb->st_nlink > 2)
		*saved += (uint64_t)bf->sb->st_size *
		          (uint64_t)(bf->sb->st_nlink - 2);
	return 0;
}

uint64_t store_dedupe_saved(struct store *st)
{
	uint64_t saved = 0;

	/*
	 * The content store is <root>/.dray/blobs/<alg>/<hex>: the blob
	 * directories of a "repository" .dray. Extra copies made past the
	 * file system's link limit (<hex>.1, ...) are no digest and are
	 * left out.
	 */
	repo_each_blob(st, ".dray", add_saved, &saved);
	return saved;
}
