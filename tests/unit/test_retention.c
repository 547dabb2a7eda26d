/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_retention.c - unit tests for retention policies (index/retention.c)
 * through store_gc(): which tags keepTags rules keep by pattern, by push
 * time, by pull time and by rank; that a push time is the push to this
 * repository, not the shared file's mtime of deduplicated content; that
 * pull times survive an index rebuild; and ranking in a repository of
 * 20,000 tags.
 *
 * Time moves by the age clock's offset file (daemon/clock.h), never by
 * sleeping.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tests/unit/testlib.h"
#include "tests/unit/storelib.h"
#include "daemon/clock.h"

#define HOUR_S 3600LL
#define DAY_S  (24 * HOUR_S)

/* The age clock's offset file, set up by main(). */
static char clock_dir[64], clock_file[96];
static long long ahead; /* seconds the age clock runs ahead, in all */

/*
 * The age clock @secs further ahead for what is stamped from now on;
 * returns once the wall clock is past the line's start, so the next
 * stamp falls under it.
 */
static void advance(long long secs)
{
	uint64_t now = clock_wall_ms();
	FILE *f = fopen(clock_file, "a");

	ahead += secs;
	assert_non_null(f);
	assert_true(fprintf(f, "%llu %lld\n", (unsigned long long)now, ahead) >
	            0);
	assert_int_equal(fclose(f), 0);
	while (clock_wall_ms() <= now)
		; /* at most a millisecond */
}

static int reset_clock(void **state)
{
	(void)state;
	ahead = 0;
	unlink(clock_file);
	return 0;
}

static int setup_r(void **state)
{
	reset_clock(state);
	return setup(state);
}

#define TR(fn) cmocka_unit_test_setup_teardown(fn, setup_r, teardown)

/* One keepTags rule: @pattern (NULL: every tag) and its criteria. */
static struct store_keep_tags rule(const char *pattern, long long pushed_s,
                                   long long pulled_s, int pushed_n,
                                   int pulled_n)
{
	static char *pats[8];
	static size_t next;
	struct store_keep_tags k = {
		.pushed_within_ms = (uint64_t)pushed_s * 1000,
		.pulled_within_ms = (uint64_t)pulled_s * 1000,
		.pushed_count = pushed_n,
		.pulled_count = pulled_n,
	};

	if (pattern) {
		pats[next % 8] = (char *)pattern;
		k.patterns = &pats[next++ % 8];
		k.n_patterns = 1;
	}
	return k;
}

/* A GC pass with one policy for @repo_glob holding @rules; tags removed. */
static size_t retain(struct test_fixture *f, const char *repo_glob,
                     struct store_keep_tags *rules, size_t n)
{
	char *globs[] = {(char *)repo_glob};
	struct store_policy pol = {
		.repositories = globs,
		.n_repositories = 1,
		.delete_untagged = true,
		.keep_tags = rules,
		.n_keep_tags = n,
	};
	struct store_retention ret = {
		.delay_ms = 24 * 3600 * 1000ULL,
		.policies = &pol,
		.n_policies = 1,
	};
	struct gc_opts o = {.delay_ms = 3600 * 1000, .retention = &ret};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;

	if (store_gc(f->st, &o, NULL, NULL, &rep, &err) < 0)
		fail_msg("gc: %s", err.msg);
	return rep.tags;
}

/* A distinct image of @repo pushed as @tag. */
static void push_tag(struct test_fixture *f, const char *repo, const char *tag,
                     struct image *im)
{
	char layer[128];

	snprintf(layer, sizeof(layer), "layer of %s:%s", repo, tag);
	make_image(f, repo, layer, "", im);
	put_image(f, repo, tag, im);
}

/* A pull of @repo:@tag, as a client's GET of the manifest. */
static void pull(struct test_fixture *f, const char *repo, const char *tag)
{
	struct manifest_desc md;
	struct err err = ERR_INIT;
	char *body = NULL;

	if (store_manifest_get(f->st, repo, tag, &md, &body, &err) < 0)
		fail_msg("pull %s:%s: %s", repo, tag, err.msg);
	free(body);
}

static void assert_tags(struct test_fixture *f, const char *repo,
                        const char *want)
{
	char got[4096];

	tags_of(f, repo, got, sizeof(got));
	assert_string_equal(got, want);
}

static void reopen(struct test_fixture *f, bool rebuild)
{
	struct store_opts o = {.rebuild_index = rebuild, .dedupe = true};
	struct err err = ERR_INIT;

	store_close(f->st);
	f->st = store_open_with(f->root, &o, &err);
	if (!f->st)
		fail_msg("reopen: %s", err.msg);
}

/* Patterns match whole tags; a tag no rule keeps goes; others stay. */
static void test_patterns_keep_whole_tags(void **state)
{
	struct test_fixture *f = *state;
	struct store_keep_tags k[] = {rule("v[0-9]+", 0, 0, -1, -1),
	                              rule("keep", 0, 0, -1, -1)};
	struct image im;

	push_tag(f, "p/a", "v1", &im);
	push_tag(f, "p/a", "v22", &im);
	push_tag(f, "p/a", "v1-rc", &im);
	push_tag(f, "p/a", "keeper", &im);
	push_tag(f, "p/a", "keep", &im);
	push_tag(f, "other/b", "x", &im);
	assert_int_equal(retain(f, "p/*", k, 2), 2);
	assert_tags(f, "p/a", "keep v1 v22");
	assert_tags(f, "other/b", "x"); /* no policy names it */
}

/* mostRecentlyPushedCount ranks by push time among the rule's matches. */
static void test_most_recently_pushed(void **state)
{
	struct test_fixture *f = *state;
	struct store_keep_tags k[] = {rule("v.*", 0, 0, 2, -1)};
	struct image im;

	push_tag(f, "n/a", "v3", &im);
	advance(HOUR_S);
	push_tag(f, "n/a", "v1", &im);
	advance(HOUR_S);
	push_tag(f, "n/a", "latest", &im); /* matches no rule */
	advance(HOUR_S);
	push_tag(f, "n/a", "v2", &im);
	assert_int_equal(retain(f, "n/a", k, 1), 2);
	assert_tags(f, "n/a", "v1 v2");
}

/*
 * Identical manifests share one inode (dedupe): its mtime is the first
 * repository's push, a year ago. The push to this repository an hour ago
 * is what pushedWithin judges.
 */
static void test_push_time_is_this_repositorys(void **state)
{
	struct test_fixture *f = *state;
	struct store_keep_tags k[] = {rule(NULL, 2 * HOUR_S, 0, -1, -1)};
	char a_path[PATH_MAX], b_path[PATH_MAX];
	struct image im, im_b;

	make_image(f, "d/old", "shared layer", "", &im);
	put_image(f, "d/old", "v1", &im);
	advance(365 * DAY_S);
	make_image(f, "d/new", "shared layer", "", &im_b);
	assert_true(digest_equal(&im.digest, &im_b.digest));
	put_image(f, "d/new", "v1", &im_b);
	blob_file(f, "d/old", &im.digest, a_path);
	blob_file(f, "d/new", &im.digest, b_path);
	assert_true(inode_of(a_path) == inode_of(b_path));
	advance(HOUR_S);
	assert_int_equal(retain(f, "d/*", k, 1), 1);
	assert_tags(f, "d/new", "v1");
	assert_tags(f, "d/old", "");
}

/* A pull time noted before an index rebuild still keeps its tag. */
static void test_pulled_within_survives_rebuild(void **state)
{
	struct test_fixture *f = *state;
	struct store_keep_tags k[] = {rule(NULL, 0, DAY_S, -1, -1)};
	struct image im;

	push_tag(f, "q/a", "pulled", &im);
	push_tag(f, "q/a", "idle", &im);
	advance(3 * DAY_S);
	pull(f, "q/a", "pulled");
	reopen(f, false); /* the pull is written at close */
	reopen(f, true);
	advance(HOUR_S);
	assert_int_equal(retain(f, "q/a", k, 1), 1);
	assert_tags(f, "q/a", "pulled");
}

/* mostRecentlyPulledCount: never-pulled tags do not count as recent. */
static void test_most_recently_pulled(void **state)
{
	struct test_fixture *f = *state;
	struct store_keep_tags k[] = {rule(NULL, 0, 0, -1, 1)};
	struct image im;

	push_tag(f, "r/a", "a", &im);
	push_tag(f, "r/a", "b", &im);
	push_tag(f, "r/a", "c", &im);
	const char *order[] = {"b", "a"};

	for (size_t i = 0; i < 2; i++) {
		advance(HOUR_S);
		pull(f, "r/a", order[i]);
	}
	assert_int_equal(retain(f, "r/a", k, 1), 2);
	assert_tags(f, "r/a", "a");
}

/*
 * 20,000 tags of one manifest, written into index.json by hand: the rule
 * keeps the 10 first (equal push times rank in index.json's order), and
 * ranking them is n log n, not a pass over all tags per tag.
 */
static void test_twenty_thousand_tags(void **state)
{
	struct test_fixture *f = *state;
	struct store_keep_tags k[] = {rule("t[0-9]+", 0, 0, 10, -1)};
	enum { N = 20000 };
	char path[PATH_MAX], dstr[DIGEST_STR_MAX], *buf, want[256];
	struct image im;
	size_t len = 0, cap = (size_t)N * 256;
	int n;

	push_tag(f, "big/a", "seed", &im);
	digest_format(&im.digest, dstr);
	buf = malloc(cap);
	assert_non_null(buf);
	len += (size_t)snprintf(buf, cap,
	                        "{\"schemaVersion\":2,\"mediaType\":\"%s\","
	                        "\"manifests\":[",
	                        MT_OCI_INDEX);
	for (int i = 0; i < N; i++) {
		n = snprintf(buf + len, cap - len,
		             "%s{\"mediaType\":\"%s\",\"digest\":\"%s\","
		             "\"size\":%zu,\"annotations\":{\"org.opencontainers"
		             ".image.ref.name\":\"t%05d\"}}",
		             i ? "," : "", MT_OCI_MANIFEST, dstr, im.len, i);
		assert_true(n > 0 && (size_t)n < cap - len);
		len += (size_t)n;
	}
	assert_true(len + 3 < cap);
	len += (size_t)snprintf(buf + len, cap - len, "]}");
	path_of(f, path, "big/a/index.json");
	write_file(path, buf, len);
	free(buf);
	reopen(f, false); /* picks up the layout changed behind its back */
	assert_int_equal(retain(f, "big/a", k, 1), N - 10);
	n = 0;
	for (int i = 0; i < 10; i++)
		n += snprintf(want + n, sizeof(want) - (size_t)n, "%st%05d",
		              i ? " " : "", i);
	assert_tags(f, "big/a", want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TR(test_patterns_keep_whole_tags),
		TR(test_most_recently_pushed),
		TR(test_push_time_is_this_repositorys),
		TR(test_pulled_within_survives_rebuild),
		TR(test_most_recently_pulled),
		TR(test_twenty_thousand_tags),
	};
	int failed;

	if (test_clock_file(clock_dir, sizeof(clock_dir), clock_file,
	                    sizeof(clock_file), "retention-clock") < 0)
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_rm_tree(clock_dir);
	return failed;
}
