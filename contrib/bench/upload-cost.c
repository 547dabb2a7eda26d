/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upload-cost.c - what an upload costs through the store API, without
 * HTTP: N blobs of 1 KiB (small), one blob of N MiB in 1 MiB appends
 * (large), and on a shared tree (two stores with index directories of
 * their own on ROOT/tree) one N MiB blob committed by the node that
 * wrote it (sharedlarge) or by the other one, which hashes the file
 * again (rehash). Prints wall time. Built against the Release libraries
 * of the tree to measure, e.g.:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-rel --target drindex
 *   gcc -O2 -I. -o upload-cost contrib/bench/upload-cost.c \
 *     build-rel/libdrindex.a build-rel/libdrbase.a \
 *     $(pkg-config --libs rocksdb jansson libcrypto) -lxxhash -lpthread
 *   ./upload-cost DIR small 2000; ./upload-cost DIR large 256
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "daemon/digest.h"
#include "daemon/err.h"
#include "index/store.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *w, struct err *e)
{
	fprintf(stderr, "%s: %s\n", w, e->msg);
	exit(1);
}

/* push @len bytes of @buf in @chunk appends; commit on @fin (may differ) */
static void push(struct store *st, struct store *fin, const char *repo,
                 const unsigned char *buf, size_t len, size_t chunk)
{
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct digest d;
	struct upload *u;

	if (digest_buffer(DIGEST_SHA256, buf, len, &d, &err) < 0)
		die("digest", &err);
	if (store_upload_start(st, repo, id, &err) < 0)
		die("start", &err);
	u = store_upload_get(st, repo, id, &err);
	if (!u)
		die("get", &err);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		if (store_upload_append(u, buf + off, n, &err) < 0)
			die("append", &err);
	}
	if (fin != st) {
		store_upload_put(u);
		u = store_upload_get(fin, repo, id, &err);
		if (!u)
			die("get2", &err);
	}
	if (store_upload_commit(u, &d, &err) < 0)
		die("commit", &err);
}

int main(int argc, char **argv)
{
	struct err err = ERR_INIT;
	const char *mode = argc > 2 ? argv[2] : "";
	size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
	struct store *st, *st2 = NULL;
	char d1[4096], d2[4096], tree[4096];
	double t0;

	if (argc < 3) {
		fprintf(stderr, "usage: upload-cost ROOT "
		                "small|large|sharedlarge|rehash [N]\n");
		return 2;
	}

	if (!strcmp(mode, "rehash") || !strcmp(mode, "sharedlarge")) {
		struct store_opts o = {.dedupe = true, .index_dir = d1};
		snprintf(d1, sizeof d1, "%s/n1", argv[1]);
		snprintf(d2, sizeof d2, "%s/n2", argv[1]);
		snprintf(tree, sizeof tree, "%s/tree", argv[1]);
		st = store_open_with(tree, &o, &err);
		o.index_dir = d2;
		if (st)
			st2 = store_open_with(tree, &o, &err);
		if (!st || !st2)
			die("open", &err);
	} else {
		st = store_open(argv[1], &err);
		if (!st)
			die("open", &err);
	}
	if (!strcmp(mode, "small")) {
		unsigned char b[1024];
		t0 = now();
		for (size_t i = 0; i < n; i++) {
			memset(b, 0, sizeof b);
			memcpy(b, &i, sizeof i);
			push(st, st, "bench/small", b, sizeof b, sizeof b);
		}
		printf("small: %zu blobs %.3f s, %.1f us/blob\n", n, now() - t0,
		       (now() - t0) / n * 1e6);
	} else {
		size_t len = n << 20;
		unsigned char *b = malloc(len);
		for (size_t i = 0; i < len; i++)
			b[i] = (unsigned char)(i * 2654435761u >> 13);
		b[0] = (unsigned char)getpid();
		b[1] = (unsigned char)(getpid() >> 8);
		t0 = now();
		push(st, !strcmp(mode, "rehash") ? st2 : st, "bench/large", b,
		     len, 1 << 20);
		printf("%s: %zu MiB %.3f s\n", mode, n, now() - t0);
		free(b);
	}
	store_close(st2);
	store_close(st);
	return 0;
}
