/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_reload.c - SIGHUP's reload: which changed keys need a restart,
 * applying a file (store rules, HTTP policy, the configuration the
 * background reads) all or nothing, the scheduler taking a new interval,
 * and the versioned slot every reader goes through (daemon/live.h) under
 * concurrent readers.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tests/unit/testlib.h"
#include "tests/unit/storelib.h"
#include "daemon/config.h"
#include "daemon/live.h"
#include "daemon/reload.h"
#include "daemon/sched.h"
#include "http/http.h"

static struct cfg *parse(const char *text)
{
	struct err err = ERR_INIT;
	struct cfg *cfg = cfg_parse(text, strlen(text), "t.yaml", &err);

	if (!cfg)
		fail_msg("%s", err.msg);
	return cfg;
}

#define BASE "storage: {rootDirectory: /d, gc: true, dedupe: true}\n"

static void test_restart_keys_are_named(void **state)
{
	const char *keys[8];
	struct cfg *a, *b;

	(void)state;
	a = parse(BASE "http: {port: 5000}\n");
	/* What zot reloads changes nothing here. */
	b = parse("storage: {rootDirectory: /d, gc: false, dedupe: false,\n"
	          "  gcInterval: 1h, gcDelay: 5m}\n"
	          "http:\n"
	          "  port: 5000\n"
	          "  auth: {failDelay: 3}\n"
	          "  accessControl: {repositories: {'**': "
	          "{anonymousPolicy: [read]}}}\n"
	          "extensions: {lint: {mandatoryAnnotations: [x]}}\n");
	assert_int_equal(reload_restart_keys(a, b, keys, 8), 0);
	cfg_free(b);
	b = parse("storage: {rootDirectory: /e, maxBlobSize: 10}\n"
	          "http: {port: 5001}\n"
	          "fuse: {mountpoint: /m}\n"
	          "extensions: {metrics: {}}\n");
	assert_int_equal(reload_restart_keys(a, b, keys, 8), 5);
	assert_string_equal(keys[0], "http.port");
	assert_string_equal(keys[1], "storage.rootDirectory");
	assert_string_equal(keys[2], "storage.maxBlobSize");
	assert_string_equal(keys[3], "extensions.metrics.enable");
	assert_string_equal(keys[4], "fuse.mountpoint");
	/* More than room: counted, not written past the end. */
	assert_int_equal(reload_restart_keys(a, b, keys, 2), 5);
	cfg_free(a);
	cfg_free(b);
}

/* What test_reload_* share: a store, a server and a config file. */
struct rfix {
	struct test_fixture f;
	char path[PATH_MAX];     /* the config file */
	struct http_server *srv; /* on 127.0.0.1, a free port */
	struct reload rl;        /* what SIGHUP would run */
	struct cfg *first;       /* the configuration at start */
};

static void write_cfg(struct rfix *x, const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	write_file(x->path, text, (size_t)n);
}

static int setup_rfix(void **state)
{
	struct rfix *x = calloc(1, sizeof(*x));
	struct http_opts o = {.address = "127.0.0.1"};
	struct err err = ERR_INIT;

	if (!x)
		return -1;
	x->f.st = test_store_open(x->f.root, sizeof(x->f.root), "reload");
	if (!x->f.st)
		return -1;
	snprintf(x->path, sizeof(x->path), "%s/.dray/cfg.yaml", x->f.root);
	x->first = parse(BASE);
	x->srv = http_start(&o, x->f.st, &err);
	x->rl = (struct reload){
		x->path,
		x->first,
		live_new(live_ref_new(x->first, NULL, &err), &err),
		x->f.st,
		x->srv,
		NULL,
		NULL};
	if (!x->srv || !x->rl.cfg)
		return -1;
	*state = x;
	return 0;
}

static int teardown_rfix(void **state)
{
	struct rfix *x = *state;

	http_stop(x->srv);
	store_close(x->f.st);
	live_free(x->rl.cfg);
	cfg_free(x->first);
	test_rm_tree(x->f.root);
	free(x);
	return 0;
}

/* The lint verdict on a manifest without annotations: 0 or -1. */
static int lint_bare(struct rfix *x)
{
	struct image im;
	struct err err = ERR_INIT;

	make_image(&x->f, "app", "layer", "", &im);
	return store_lint(x->f.st, "app", im.body, im.len, &err);
}

/* storage.gcDelay of the configuration the background reads now. */
static uint64_t gc_delay_in_force(struct rfix *x)
{
	struct live_ref *ref;
	uint64_t ms = ((const struct cfg *)live_get(x->rl.cfg, &ref))
	                      ->storage.gc_delay_ms;

	live_put(ref);
	return ms;
}

static void test_reload_applies_whole_or_nothing(void **state)
{
	struct rfix *x = *state;
	struct err err = ERR_INIT;
	unsigned long gen = live_generation(x->rl.cfg);
	char pw[PATH_MAX];

	assert_int_equal(lint_bare(x), 0);
	write_cfg(x, "storage: {rootDirectory: /d, gcDelay: 7m}\n"
	             "extensions: {lint: {mandatoryAnnotations: [x]}}\n");
	assert_int_equal(reload_run(&x->rl, &err), 0);
	assert_int_equal(lint_bare(x), -1);
	assert_int_equal(gc_delay_in_force(x), 7 * 60 * 1000);
	assert_int_equal(live_generation(x->rl.cfg), gen + 1);

	/* Not YAML the schema knows: refused, nothing changes. */
	write_cfg(x, "storage: {rootDirectory: /d, gcDelay: 1m, nope: 1}\n");
	assert_int_equal(reload_run(&x->rl, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "storage.nope: unknown key"));
	assert_int_equal(lint_bare(x), -1);
	assert_int_equal(gc_delay_in_force(x), 7 * 60 * 1000);

	/* A valid file, lint off, but an htpasswd file that does not
	 * load: the HTTP part fails, so the store's part is not applied
	 * either. */
	err = ERR_INIT;
	snprintf(pw, sizeof(pw), "%s/htpasswd", x->f.root);
	write_file(pw, "bob:plain\n", 10);
	write_cfg(x,
	          "storage: {rootDirectory: /d, gcDelay: 1m}\n"
	          "http: {auth: {htpasswd: {path: %s}}}\n",
	          pw);
	assert_int_equal(reload_run(&x->rl, &err), -1);
	assert_non_null(strstr(err.msg, "not a bcrypt hash"));
	assert_int_equal(lint_bare(x), -1);
	assert_int_equal(gc_delay_in_force(x), 7 * 60 * 1000);
	assert_int_equal(live_generation(x->rl.cfg), gen + 1);

	/* A missing file is refused too. */
	err = ERR_INIT;
	unlink(x->path);
	assert_int_equal(reload_run(&x->rl, &err), -1);
	assert_int_equal(lint_bare(x), -1);

	/* And a good one after all that applies. */
	err = ERR_INIT;
	write_cfg(x, "storage: {rootDirectory: /d, gcDelay: 2m}\n");
	assert_int_equal(reload_run(&x->rl, &err), 0);
	assert_int_equal(lint_bare(x), 0);
	assert_int_equal(gc_delay_in_force(x), 2 * 60 * 1000);
}

/* The versioned slot: readers see whole versions; each is freed once. */
struct obj {
	unsigned long a, b; /* always equal while the version lives */
};

static unsigned long freed; /* atomic */

static void obj_free(void *p)
{
	struct obj *o = p;

	o->a = 1; /* a reader still holding it would see a != b */
	__atomic_add_fetch(&freed, 1, __ATOMIC_RELAXED);
	free(o);
}

static struct live_ref *obj_new(unsigned long v)
{
	struct obj *o = malloc(sizeof(*o));
	struct err err = ERR_INIT;

	assert_non_null(o);
	*o = (struct obj){v, v};
	return live_ref_new(o, obj_free, &err);
}

struct readers {
	struct live *l;
	int stop;        /* atomic */
	unsigned long n; /* reads done, atomic */
	int torn;        /* atomic: a version seen half made or freed */
};

static void *reader(void *arg)
{
	struct readers *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		struct live_ref *ref;
		const struct obj *o = live_get(r->l, &ref);
		struct live_ref *again = live_hold(ref);

		if (o->a != o->b)
			__atomic_store_n(&r->torn, 1, __ATOMIC_RELAXED);
		live_put(ref);
		if (((const struct obj *)live_obj(again))->a != o->b)
			__atomic_store_n(&r->torn, 1, __ATOMIC_RELAXED);
		live_put(again);
		__atomic_add_fetch(&r->n, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_live_versions_under_readers(void **state)
{
	struct readers r = {0};
	struct err err = ERR_INIT;
	pthread_t t[4];
	unsigned long v;

	(void)state;
	freed = 0;
	r.l = live_new(obj_new(100), &err);
	assert_non_null(r.l);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, &r), 0);
	for (v = 101; v < 2101; v++) {
		live_publish(r.l, obj_new(v));
		/* Readers make progress between publications now and then. */
		if (v % 100 == 0)
			while (__atomic_load_n(&r.n, __ATOMIC_RELAXED) < v)
				sched_yield();
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.torn, 0);
	assert_int_equal(live_generation(r.l), 2000);
	assert_int_equal(freed, 2000); /* all but the current */
	live_free(r.l);
	assert_int_equal(freed, 2001);
	/* A failed live_ref_new() gives no slot. */
	assert_null(live_new(NULL, &err));
}

static int ran; /* atomic */

static void count_run(struct sched *s, void *arg)
{
	(void)s;
	(void)arg;
	__atomic_add_fetch(&ran, 1, __ATOMIC_RELAXED);
}

static void test_sched_set_turns_a_task_on(void **state)
{
	struct sched_task t = {"gc", 0, 0, count_run, NULL};
	struct err err = ERR_INIT;
	struct sched *s;

	(void)state;
	s = sched_start(&t, 1, &err);
	assert_non_null(s);
	/* Off (interval 0): never runs. On, due now: runs, woken at once. */
	sched_set(s, "gc", 24 * 3600 * 1000ULL, 0);
	while (!__atomic_load_n(&ran, __ATOMIC_RELAXED))
		sched_yield();
	sched_set(s, "nosuch", 1, 0); /* unknown: nothing */
	sched_stop(s);
	assert_int_equal(ran, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_keys_are_named),
		cmocka_unit_test_setup_teardown(
			test_reload_applies_whole_or_nothing, setup_rfix,
			teardown_rfix),
		cmocka_unit_test(test_live_versions_under_readers),
		cmocka_unit_test(test_sched_set_turns_a_task_on),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
