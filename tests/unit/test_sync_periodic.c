/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sync_periodic.c - mirroring's pure parts: the Link rel="next"
 * parser that pages catalogs, tag lists and referrers, the list page
 * reader (with an out-of-memory loop), the upstream-to-local name mapping
 * (zot's getRepoDestination, the inverse of sync_map_local()), which
 * content entry mirrors a repository; and a run's bookkeeping against an
 * upstream that does not answer: counted as failed, the run goes on, and
 * a registry is polled only once its pollInterval has passed; SIGHUP's
 * update applies pollIntervals and names what else changed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "daemon/clock.h"
#include "index/lease.h"
#include "index/store.h"
#include "sync/sync.h"
#include "tests/unit/oomlib.h"
#include "tests/unit/testlib.h"

/* The next page of @link, or NULL when sync_link_next() finds none. */
static const char *next_of(const char *link)
{
	static char out[256];

	return sync_link_next(link, out, sizeof(out)) ? out : NULL;
}

static void test_link_next_finds_the_next_page(void **state)
{
	(void)state;
	/* Distribution's catalog, its last= escaped */
	assert_string_equal(
		next_of("</v2/_catalog?last=a%2Fthree&n=2>; rel=\"next\""),
		"/v2/_catalog?last=a%2Fthree&n=2");
	/* an absolute URL: the path only, the host is ours */
	assert_string_equal(
		next_of("<https://r.example:5000/v2/x/tags/list?n=2&last=b>; "
	                "rel=next"),
		"/v2/x/tags/list?n=2&last=b");
	/* several links, next not first; a rel of several types */
	assert_string_equal(
		next_of("</v2/a?p=1>; rel=\"prev\", </v2/a?p=3>; rel=\"next\""),
		"/v2/a?p=3");
	assert_string_equal(next_of("</v2/a?p=2>; rel=\"last next\""),
	                    "/v2/a?p=2");
	/* other parameters, a quoted comma among them, case of rel */
	assert_string_equal(
		next_of("</v2/b>; title=\"one, two\"; REL=\"Next\""), "/v2/b");
	assert_string_equal(next_of("  ,</v2/c>;rel=next"), "/v2/c");
}

static void test_link_without_a_usable_next_is_the_end(void **state)
{
	char small[8];

	(void)state;
	assert_null(next_of(""));
	assert_null(next_of(NULL));
	assert_null(next_of("</v2/a?p=1>; rel=\"prev\""));
	assert_null(next_of("</v2/a?p=1>; rel=\"nextpage\""));
	assert_null(next_of("</other/path>; rel=next"));
	assert_null(next_of("<relative?last=x>; rel=next"));
	assert_null(next_of("<https://r.example>; rel=next"));
	assert_null(next_of("</v2/a b>; rel=next"));
	assert_null(next_of("</v2/a\r\nX: y>; rel=next"));
	assert_null(next_of("</v2/a; rel=next"));
	assert_null(next_of("/v2/a; rel=next"));
	assert_false(sync_link_next("</v2/abcdefgh>; rel=next", small,
	                            sizeof(small)));
}

/* The local name of @remote under @c, or "" when there is none. */
static const char *local_of(const struct sync_content *c, const char *remote)
{
	static char out[256];

	if (!sync_map_remote(c, remote, out, sizeof(out)))
		out[0] = '\0';
	return out;
}

static void test_remote_names_map_as_zot_maps_them(void **state)
{
	struct sync_content plain = {.prefix = "lib/**"};
	struct sync_content dest = {.prefix = "lib/**", .destination = "/copy"};
	struct sync_content strip = {.prefix = "/src/team/**",
	                             .destination = "/mirror",
	                             .strip_prefix = true};
	struct sync_content exact = {.prefix = "repo1/repo",
	                             .destination = "/repo",
	                             .strip_prefix = true};
	struct sync_content root = {.prefix = "a/**", .strip_prefix = true};
	const struct {
		const struct sync_content *c;
		const char *remote, *local;
	} cases[] = {
		{NULL, "a/b", "a/b"},
		{&plain, "lib/alpha", "lib/alpha"},
		{&dest, "lib/app", "copy/lib/app"},
		{&strip, "src/team/gamma", "mirror/gamma"},
		{&strip, "src/team/x/y", "mirror/x/y"},
		{&exact, "repo1/repo", "repo"},
		{&root, "a/b/c", "b/c"},
	};
	char back[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(local_of(cases[i].c, cases[i].remote),
		                    cases[i].local);
		/* on demand maps the local name back to the same remote */
		assert_true(sync_map_local(cases[i].c, cases[i].local, back,
		                           sizeof(back)));
		assert_string_equal(back, cases[i].remote);
	}
	/* everything stripped and no destination: no name */
	assert_string_equal(local_of(&root, "a"), "");
}

static void test_first_matching_content_mirrors_a_repository(void **state)
{
	struct sync_content ct[] = {
		{.prefix = "lib/**"},
		{.prefix = "/src/team/**", .destination = "/mirror"},
		{.prefix = "lib/*"},
	};
	struct sync_registry r = {.content = ct, .n_content = 3};
	struct sync_registry all = {0};
	const struct sync_content *c = &ct[0];

	(void)state;
	assert_true(sync_content_of(&r, "lib/a/b", &c));
	assert_ptr_equal(c, &ct[0]);
	assert_true(sync_content_of(&r, "lib/a", &c));
	assert_ptr_equal(c, &ct[0]);
	assert_true(sync_content_of(&r, "src/team/x", &c));
	assert_ptr_equal(c, &ct[1]);
	assert_false(sync_content_of(&r, "other/x", &c));
	assert_false(sync_content_of(&r, "src/teamx", &c));
	assert_true(sync_content_of(&all, "anything/at/all", &c));
	assert_null(c);
}

static void test_list_pages_are_read(void **state)
{
	static const char refs[] =
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\","
		"\"digest\":\"sha256:0000000000000000000000000000000000000000"
		"000000000000000000000000\",\"size\":3}]}";
	struct strvec v = {0};
	struct err err = ERR_INIT;
	const char *p;

	(void)state;
	p = "{\"repositories\":[\"a/b\",\"c\"]}";
	assert_int_equal(sync_list_page(p, strlen(p), "repositories", &v, &err),
	                 0);
	p = "{\"name\":\"c\",\"tags\":[\"v1\"]}";
	assert_int_equal(sync_list_page(p, strlen(p), "tags", &v, &err), 0);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.v[0], "a/b");
	assert_string_equal(v.v[2], "v1");
	/* none: null, missing */
	p = "{\"name\":\"c\",\"tags\":null}";
	assert_int_equal(sync_list_page(p, strlen(p), "tags", &v, &err), 0);
	assert_int_equal(sync_list_page("{}", 2, "tags", &v, &err), 0);
	assert_int_equal(v.n, 3);
	/* a referrers index: the descriptors' digests */
	assert_int_equal(
		sync_list_page(refs, strlen(refs), "manifests", &v, &err), 0);
	assert_int_equal(v.n, 4);
	assert_int_equal(strncmp(v.v[3], "sha256:0000", 11), 0);
	strvec_release(&v);
}

static void test_malformed_list_pages_are_invalid(void **state)
{
	const char *bad[] = {
		"",
		"[\"a\"]",
		"{\"tags\":\"v1\"}",
		"{\"tags\":[1]}",
		"{\"tags\":[{}]}",
		"{\"tags\":[\"a\"",
		NULL,
	};
	struct strvec v = {0};

	(void)state;
	for (size_t i = 0; bad[i]; i++) {
		struct err err = ERR_INIT;

		assert_int_equal(sync_list_page(bad[i], strlen(bad[i]), "tags",
		                                &v, &err),
		                 -1);
		assert_int_equal(err.code, ERR_INVALID);
		strvec_release(&v);
	}
}

static void test_list_page_survives_every_failed_allocation(void **state)
{
	const char *p = "{\"tags\":[\"v1\",\"v2\",\"v3\"]}";
	bool done = false;

	(void)state;
	json_set_alloc_funcs(oom_malloc, free);
	for (long n = 0; !done; n++) {
		struct strvec v = {0};
		struct err err = ERR_INIT;
		int rc;

		alloc_countdown = n;
		alloc_failed = false;
		rc = sync_list_page(p, strlen(p), "tags", &v, &err);
		if (!alloc_failed) {
			assert_int_equal(rc, 0);
			assert_int_equal(v.n, 3);
			done = true;
		} else {
			/* jansson reports a failed allocation as no JSON */
			assert_int_equal(rc, -1);
			assert_true(err.code == ERR_INVALID ||
			            err.code == ERR_NOMEM);
		}
		strvec_release(&v);
		assert_true(n < 1000);
	}
	alloc_countdown = -1;
	json_set_alloc_funcs(malloc, free);
}

static void test_a_run_counts_an_upstream_that_does_not_answer(void **state)
{
	char *urls[] = {"http://127.0.0.1:1"};
	struct sync_registry regs[] = {
		{.urls = urls, .n_urls = 1, .poll_interval_ms = 3600 * 1000},
		{.urls = urls, .n_urls = 1, .poll_interval_ms = 0},
		{.urls = urls, .n_urls = 1, .poll_interval_ms = 5000},
	};
	struct sync_cfg cfg = {
		.enable = true, .registries = regs, .n_registries = 3};
	struct sync_run_opts polled = {0}, all = {.all = true};
	struct sync_run_stats st = {0};
	struct err err = ERR_INIT;
	struct sync_mirror *m;
	struct sync *s;

	(void)state;
	s = sync_new(&cfg, NULL, &err);
	assert_non_null(s);
	m = sync_mirror_new(s, &err);
	assert_non_null(m);
	assert_int_equal(sync_mirror_interval(m), 5000);
	/* the two polled registries, each failing, and the run ends */
	assert_int_equal(sync_mirror_run(m, &polled, &st, &err), 0);
	assert_int_equal(st.runs, 1);
	assert_int_equal(st.repos_failed, 2);
	assert_int_equal(st.repos, 0);
	/* their intervals have not passed: nothing is asked */
	assert_int_equal(sync_mirror_run(m, &polled, &st, &err), 0);
	assert_int_equal(st.runs, 2);
	assert_int_equal(st.repos_failed, 2);
	/* dray sync: every registry, whatever its pollInterval */
	assert_int_equal(sync_mirror_run(m, &all, &st, &err), 0);
	assert_int_equal(st.repos_failed, 5);
	sync_mirror_free(m);
	sync_free(s);

	cfg.n_registries = 2;
	regs[0].poll_interval_ms = 0;
	s = sync_new(&cfg, NULL, &err);
	assert_non_null(s);
	m = sync_mirror_new(s, &err);
	assert_non_null(m);
	assert_int_equal(sync_mirror_interval(m), 0);
	sync_mirror_free(m);
	sync_free(s);
	assert_int_equal(sync_mirror_interval(NULL), 0);
}

/* A store on "<dir>/tree" as node @i of several (index in "<dir>/node<i>"). */
static struct store *open_node(const char *dir, int i)
{
	char tree[PATH_MAX], idx[PATH_MAX];
	struct store_opts o = {.dedupe = true, .index_dir = idx};
	struct err err = ERR_INIT;
	struct store *st;

	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(idx, sizeof(idx), "%s/node%d", dir, i);
	st = store_open_with(tree, &o, &err);
	if (!st)
		fail_msg("node %d: %s", i, err.msg);
	return st;
}

/*
 * Nodes sharing a tree poll a registry one at a time: the one holding
 * its lease; another polls it once that node is gone.
 */
static void test_one_node_polls_a_registry(void **state)
{
	char *urls[] = {"http://127.0.0.1:1"};
	struct sync_registry regs[] = {
		{.urls = urls, .n_urls = 1, .poll_interval_ms = 3600 * 1000},
	};
	struct sync_cfg cfg = {
		.enable = true, .registries = regs, .n_registries = 1};
	struct sync_run_opts polled = {0};
	struct sync_run_stats st = {0};
	struct store_lease_stats ls;
	struct err err = ERR_INIT;
	struct sync_mirror *ma, *mb;
	struct store *a, *b;
	struct sync *sa, *sb;
	char dir[64];

	(void)state;
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "sync-lease"), 0);
	a = open_node(dir, 1);
	b = open_node(dir, 2);
	sa = sync_new(&cfg, a, &err);
	sb = sync_new(&cfg, b, &err);
	assert_non_null(sa);
	assert_non_null(sb);
	ma = sync_mirror_new(sa, &err);
	mb = sync_mirror_new(sb, &err);
	assert_non_null(ma);
	assert_non_null(mb);
	assert_int_equal(sync_mirror_run(ma, &polled, &st, &err), 0);
	assert_int_equal(st.repos_failed, 1); /* a polled it */
	assert_int_equal(sync_mirror_run(mb, &polled, &st, &err), 0);
	assert_int_equal(st.repos_failed, 1); /* b left it to a */
	store_lease_stats(b, &ls);
	assert_int_equal(ls.other_skips, 1);
	sync_mirror_free(ma);
	sync_free(sa);
	store_close(a); /* a is gone */
	sync_mirror_free(mb);
	mb = sync_mirror_new(sb, &err); /* its interval anew */
	assert_non_null(mb);
	assert_int_equal(sync_mirror_run(mb, &polled, &st, &err), 0);
	assert_int_equal(st.repos_failed, 2); /* b polled it */
	sync_mirror_free(mb);
	sync_free(sb);
	store_close(b);
	test_rm_tree(dir);
}

static void test_sighup_changes_poll_intervals_only(void **state)
{
	char *urls[] = {"http://127.0.0.1:1"};
	struct sync_registry regs[] = {
		{.urls = urls, .n_urls = 1, .poll_interval_ms = 3600 * 1000},
		{.urls = urls, .n_urls = 1, .poll_interval_ms = 0},
	};
	struct sync_registry now[2];
	struct sync_cfg cfg = {
		.enable = true, .registries = regs, .n_registries = 2};
	struct sync_cfg next = cfg;
	struct sync_run_opts polled = {0};
	struct sync_run_stats st = {0};
	struct err err = ERR_INIT;
	struct sync_mirror *m;
	struct sync *s;
	char what[256];
	uint64_t ran;

	(void)state;
	s = sync_new(&cfg, NULL, &err);
	assert_non_null(s);
	m = sync_mirror_new(s, &err);
	assert_non_null(m);
	assert_int_equal(sync_mirror_run(m, &polled, &st, &err), 0);
	ran = clock_mono_ms(); /* no earlier than the run began */
	assert_int_equal(st.repos_failed, 1);
	assert_true(sync_mirror_next_ms(m) > 3000 * 1000);

	/* the same file: nothing changes, nothing to name */
	assert_false(sync_mirror_update(m, &cfg, what, sizeof(what)));
	assert_string_equal(what, "");

	/* 1 h -> 1 ms, and the second registry polls too: in force now */
	memcpy(now, regs, sizeof(now));
	next.registries = now;
	now[0].poll_interval_ms = 1;
	now[1].poll_interval_ms = 2000;
	assert_true(sync_mirror_update(m, &next, what, sizeof(what)));
	assert_string_equal(what, "");
	assert_int_equal(sync_mirror_interval(m), 1);
	/* the 1 ms passing (the next run is due at once anyway: the
	 * second registry never ran, so sync_mirror_next_ms() is 0) */
	while (clock_mono_ms() <= ran + 1)
		;
	st = (struct sync_run_stats){0};
	assert_int_equal(sync_mirror_run(m, &polled, &st, &err), 0);
	assert_int_equal(st.repos_failed, 2); /* both were due */

	/* what cannot change live is named; the interval still applies */
	now[0].tls_verify = !regs[0].tls_verify;
	now[0].poll_interval_ms = 5000;
	assert_true(sync_mirror_update(m, &next, what, sizeof(what)));
	assert_string_equal(what, "extensions.sync.registries[0].tlsVerify");
	assert_int_equal(sync_mirror_interval(m), 2000);

	/* another number of registries, or enable: nothing applies */
	next.n_registries = 1;
	now[0].poll_interval_ms = 7000;
	assert_false(sync_mirror_update(m, &next, what, sizeof(what)));
	assert_string_equal(what, "extensions.sync.registries (1 now, 2 in "
	                          "force)");
	next.n_registries = 2;
	next.enable = false;
	assert_false(sync_mirror_update(m, &next, what, sizeof(what)));
	assert_string_equal(what, "extensions.sync.enable");
	assert_int_equal(sync_mirror_interval(m), 2000);
	sync_mirror_free(m);
	sync_free(s);

	/* nothing polled at start (no sync task): polling is refused */
	regs[0].poll_interval_ms = 0;
	s = sync_new(&cfg, NULL, &err);
	assert_non_null(s);
	m = sync_mirror_new(s, &err);
	assert_non_null(m);
	next = cfg;
	next.registries = now;
	memcpy(now, regs, sizeof(now));
	now[1].poll_interval_ms = 1000;
	assert_false(sync_mirror_update(m, &next, what, sizeof(what)));
	assert_string_equal(what, "extensions.sync.registries[1].pollInterval "
	                          "(no registry polled at start)");
	assert_int_equal(sync_mirror_interval(m), 0);
	sync_mirror_free(m);
	sync_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_next_finds_the_next_page),
		cmocka_unit_test(test_link_without_a_usable_next_is_the_end),
		cmocka_unit_test(test_remote_names_map_as_zot_maps_them),
		cmocka_unit_test(
			test_first_matching_content_mirrors_a_repository),
		cmocka_unit_test(test_list_pages_are_read),
		cmocka_unit_test(test_malformed_list_pages_are_invalid),
		cmocka_unit_test(
			test_list_page_survives_every_failed_allocation),
		cmocka_unit_test(
			test_a_run_counts_an_upstream_that_does_not_answer),
		cmocka_unit_test(test_sighup_changes_poll_intervals_only),
		cmocka_unit_test(test_one_node_polls_a_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
