/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics.c - unit tests for http/metrics.h and the probes: counts
 * from many threads add up exactly; latencies land in zot's buckets;
 * repositories past METRICS_REPOS_MAX share the "_other" series and the
 * table never grows past it; sizes are measured from the layout once a
 * repository changed; the exposition at 1,000 repositories stays small
 * (its size is printed); and a server's /readyz answers 503 until it is
 * declared ready and again from the start of shutdown, while /livez and
 * /startupz answer 200.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"
#include "tests/unit/storelib.h"
#include "tests/unit/metricslib.h"

#include "daemon/config.h"
#include "http/http.h"
#include "http/metrics.h"

#define THREADS    4
#define PER_THREAD 20000

static const struct metrics_info info = {
	.version = "0.1.0",
	.binary_type = "-metrics",
	.dist_spec_version = "1.1.0",
	.root = "/nonexistent",
};

/* New counters with the default info. */
static struct metrics *fresh(void)
{
	struct err err = ERR_INIT;
	struct metrics *m = metrics_new(&info, &err);

	assert_non_null(m);
	return m;
}

static char *render(struct metrics *m, size_t *len)
{
	struct err err = ERR_INIT;
	char *text = NULL;
	size_t n = 0;

	assert_int_equal(metrics_render(m, NULL, 0, &text, &n, &err), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), n);
	if (len)
		*len = n;
	return text;
}

static void *count_some(void *arg)
{
	struct metrics *m = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		metrics_request(m, "GET", 200, 1000, "app");
		metrics_download(m, "app");
	}
	return NULL;
}

static void test_threads_add_up(void **state)
{
	struct metrics *m = fresh();
	pthread_t t[THREADS];
	char *text;

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, count_some, m), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	text = render(m, NULL);
	assert_true(value_of(text, "zot_http_requests_total{method=\"GET\","
	                           "code=\"200\"}") == THREADS * PER_THREAD);
	assert_true(value_of(text, "zot_repo_downloads_total{repo=\"app\"}") ==
	            THREADS * PER_THREAD);
	assert_true(
		value_of(text,
	                 "zot_http_repo_latency_seconds_count{repo=\"app\"}") ==
		THREADS * PER_THREAD);
	/* 80000 ms of 1 ms each. */
	assert_true(
		value_of(text,
	                 "zot_http_repo_latency_seconds_sum{repo=\"app\"}") ==
		THREADS * PER_THREAD / 1000.0);
	free(text);
	metrics_free(m);
}

static void test_buckets(void **state)
{
	struct metrics *m = fresh();
	char *text;

	(void)state;
	metrics_request(m, "PUT", 201, 40000, NULL);     /* 40 ms */
	metrics_request(m, "PUT", 201, 50000, NULL);     /* 50 ms: le 0.05 */
	metrics_request(m, "PUT", 201, 2000000, NULL);   /* 2 s */
	metrics_request(m, "PUT", 500, 700000000, NULL); /* 700 s */
	metrics_request(m, "BREW", 418, 1, NULL);        /* no such method */
	metrics_request(m, "GET", 0, 1, NULL);           /* never answered */
	metrics_task(m, "gc", 40);
	metrics_task(m, "gc", 40);
	metrics_task(m, "scrub", 2000);
	text = render(m, NULL);
	assert_true(value_of(text, "zot_http_method_latency_seconds_bucket{"
	                           "method=\"PUT\",le=\"0.05\"}") == 2);
	assert_true(value_of(text, "zot_http_method_latency_seconds_bucket{"
	                           "method=\"PUT\",le=\"1\"}") == 2);
	assert_true(value_of(text, "zot_http_method_latency_seconds_bucket{"
	                           "method=\"PUT\",le=\"5\"}") == 3);
	assert_true(value_of(text, "zot_http_method_latency_seconds_bucket{"
	                           "method=\"PUT\",le=\"600\"}") == 3);
	assert_true(value_of(text, "zot_http_method_latency_seconds_bucket{"
	                           "method=\"PUT\",le=\"+Inf\"}") == 4);
	assert_true(value_of(text, "zot_http_method_latency_seconds_sum{"
	                           "method=\"PUT\"}") == 702.09);
	assert_true(value_of(text, "zot_http_requests_total{method=\"PUT\","
	                           "code=\"500\"}") == 1);
	assert_true(value_of(text,
	                     "zot_scheduler_workers_tasks_duration_"
	                     "seconds_bucket{name=\"gc\",le=\"0.05\"}") == 2);
	assert_true(value_of(text,
	                     "zot_scheduler_workers_tasks_duration_"
	                     "seconds_bucket{name=\"scrub\",le=\"1\"}") == 0);
	assert_true(value_of(text, "zot_scheduler_workers_tasks_duration_"
	                           "seconds_count{name=\"scrub\"}") == 1);
	assert_true(value_of(text, "zot_scheduler_workers_tasks_duration_"
	                           "seconds_sum{name=\"gc\"}") == 0.08);
	assert_true(value_of(text, "zot_http_requests_total{method=\"other\","
	                           "code=\"418\"}") == 1);
	assert_true(value_of(text, "zot_http_repo_latency_seconds_count{"
	                           "repo=\"N/A\"}") == 6);
	/* Nothing seen, nothing rendered; the headers are there. */
	assert_true(value_of(text, "zot_http_method_latency_seconds_count{"
	                           "method=\"DELETE\"}") == -1);
	assert_non_null(strstr(text, "# TYPE zot_http_method_latency_seconds "
	                             "histogram\n"));
	assert_non_null(strstr(text, "zot_info{commit=\"\",binaryType=\""
	                             "-metrics\",goVersion=\"\",version=\""
	                             "1.1.0\"} 0\n"));
	free(text);
	metrics_free(m);
}

static void test_repo_bound(void **state)
{
	struct metrics *m = fresh();
	char name[32], *text;

	(void)state;
	for (int i = 0; i < METRICS_REPOS_MAX + 50; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		metrics_upload(m, name);
		metrics_upload(m, name); /* the same slot again */
	}
	text = render(m, NULL);
	assert_true(value_of(text, "dray_repositories_tracked") ==
	            METRICS_REPOS_MAX);
	assert_true(value_of(text, "zot_repo_uploads_total{repo=\"r0\"}") == 2);
	snprintf(name, sizeof(name), "r%d", METRICS_REPOS_MAX - 1);
	assert_non_null(strstr(text, name));
	assert_true(value_of(text,
	                     "zot_repo_uploads_total{repo=\"" METRICS_REPO_OTHER
	                     "\"}") == 100);
	free(text);
	metrics_free(m);
}

static void test_sizes(void **state)
{
	struct test_fixture *f = *state;
	struct metrics_info mi = info;
	struct err err = ERR_INIT;
	struct metrics *m;
	char path[256], *text;
	size_t len;

	mi.root = f->root;
	m = metrics_new(&mi, &err);
	assert_non_null(m);
	snprintf(path, sizeof(path), "%s/a", f->root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a/blobs", f->root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a/b", f->root); /* a nested repo */
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a/index.json", f->root);
	write_file(path, "0123456789", 10);
	snprintf(path, sizeof(path), "%s/a/blobs/x", f->root);
	write_file(path, "01234", 5);
	snprintf(path, sizeof(path), "%s/a/b/index.json", f->root);
	write_file(path, "0123456789012", 13);

	metrics_repo_changed(m, "a");
	text = render(m, &len);
	assert_true(value_of(text, "zot_repo_storage_bytes{repo=\"a\"}") == 15);
	free(text);
	/* Not measured again until it changes. */
	snprintf(path, sizeof(path), "%s/a/blobs/y", f->root);
	write_file(path, "01", 2);
	text = render(m, &len);
	assert_true(value_of(text, "zot_repo_storage_bytes{repo=\"a\"}") == 15);
	free(text);
	metrics_repo_changed(m, "a");
	text = render(m, &len);
	assert_true(value_of(text, "zot_repo_storage_bytes{repo=\"a\"}") == 17);
	free(text);
	metrics_free(m);
}

/* With the store: its upload sessions, and every repository's size. */
static void test_store_figures(void **state)
{
	struct test_fixture *f = *state;
	struct metrics_info mi = info;
	char id[STORE_UPLOAD_ID_MAX], *text = NULL;
	struct err err = ERR_INIT;
	struct metrics *m;
	struct image im;
	size_t len;

	mi.root = f->root;
	m = metrics_new(&mi, &err);
	assert_non_null(m);
	make_image(f, "seen/before", "0123456789", "", &im);
	put_image(f, "seen/before", "v1", &im);
	assert_int_equal(store_upload_start(f->st, "up", id, &err), 0);
	assert_int_equal(store_upload_start(f->st, "up", id, &err), 0);
	assert_int_equal(metrics_render(m, f->st, 3, &text, &len, &err), 0);
	assert_true(value_of(text, "dray_upload_sessions_open") == 2);
	assert_true(value_of(text, "dray_http_requests_in_flight") == 3);
	/* Listed on the first scrape, though no request named it. */
	assert_true(value_of(text, "zot_repo_storage_bytes{repo=\"seen/"
	                           "before\"}") > 10 + 2 + (double)im.len);
	free(text);
	metrics_free(m);
}

static void test_size_at_1000_repos(void **state)
{
	struct metrics *m = fresh();
	char name[64], *text;
	size_t len;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "team%02d/service-%04d", i % 50,
		         i);
		metrics_request(m, "GET", 200, 1500, name);
		metrics_request(m, "PUT", 201, 25000, name);
		metrics_download(m, name);
		metrics_upload(m, name);
	}
	text = render(m, &len);
	print_message("exposition at 1000 repositories: %zu bytes\n", len);
	/* Four short lines per repository and a few dozen others. */
	assert_true(len < 1000 * 4 * 100 + 8192);
	free(text);
	metrics_free(m);
}

/* GET @path from 127.0.0.1:@port; the status code. */
static int get_status(int port, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port)};
	char req[256], resp[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
	ssize_t n;
	size_t got = 0;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req),
	         "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	         path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got < sizeof(resp) - 1 &&
	       (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	sscanf(resp, "HTTP/1.1 %d", &status);
	return status;
}

static void test_probes(void **state)
{
	struct test_fixture *f = *state;
	struct http_opts o = {.address = "127.0.0.1"};
	struct err err = ERR_INIT;
	struct http_server *srv = http_start(&o, f->st, &err);
	int port;

	assert_non_null(srv);
	port = http_port(srv);
	assert_int_equal(get_status(port, "/livez"), 200);
	assert_int_equal(get_status(port, "/startupz"), 200);
	assert_int_equal(get_status(port, "/readyz"), 503);
	http_set_ready(srv, true);
	assert_int_equal(get_status(port, "/readyz"), 200);
	/* Shutdown begins (main does this before unmounting). */
	http_set_ready(srv, false);
	assert_int_equal(get_status(port, "/readyz"), 503);
	assert_int_equal(get_status(port, "/livez"), 200);
	/* Neither metrics nor mgmt configured: no such endpoints. */
	assert_int_equal(get_status(port, "/metrics"), 404);
	assert_int_equal(get_status(port, "/v2/_zot/ext/mgmt"), 404);
	http_stop(srv);
}

static struct cfg *parse(const char *ext)
{
	char text[512];
	struct err err = ERR_INIT;
	struct cfg *cfg;

	snprintf(text, sizeof(text),
	         "storage:\n  rootDirectory: /tmp/x\nextensions:\n%s", ext);
	cfg = cfg_parse(text, strlen(text), "t.yaml", &err);
	if (!cfg)
		print_message("%s\n", err.msg);
	return cfg;
}

/* @cfg has what it should; freed. */
static void expect(struct cfg *cfg, bool metrics, bool mgmt, const char *path)
{
	assert_non_null(cfg);
	assert_int_equal(cfg->extensions.metrics_enable, metrics);
	assert_int_equal(cfg->extensions.mgmt_enable, mgmt);
	assert_string_equal(cfg->extensions.metrics_path, path);
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);
}

static void test_config(void **state)
{
	static const char *const bad[] = {
		"/",     "/v2",     "/v2/x",  "metrics", "/a/",
		"/a//b", "/a/../b", "/a/./b", "/a/..",   "",
	};
	static const char plain[] = "storage:\n  rootDirectory: /tmp/x\n";
	struct err err = ERR_INIT;
	char ext[128];

	(void)state;
	expect(cfg_parse(plain, strlen(plain), "t", &err), false, true,
	       "/metrics");
	/* As in zot, naming the section turns it on. */
	expect(parse("  metrics: {}\n  mgmt: {}\n"), true, true, "/metrics");
	expect(parse("  metrics:\n    enable: false\n    prometheus:\n"
	             "      path: /ops/prom\n  mgmt:\n    enable: false\n"),
	       false, false, "/ops/prom");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(ext, sizeof(ext),
		         "  metrics:\n    prometheus:\n      path: \"%s\"\n",
		         bad[i]);
		struct cfg *cfg = parse(ext);

		if (cfg)
			fail_msg("path '%s' accepted", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_add_up),
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_repo_bound),
		TF(test_sizes),
		cmocka_unit_test(test_size_at_1000_repos),
		TF(test_probes),
		TF(test_store_figures),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
