/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_events.c - the events extension (events/events.h): the spool
 * survives a close and reopen, a crash's temporaries are swept, the queue
 * bound drops the oldest, the retry delays double up to the cap, delivery
 * to a real HTTP server (libmicrohttpd, in the test) is in order and
 * retried until it is answered 2xx, a close does not wait for a sink that
 * never answers; the store reports each image change of a published
 * index.json (index/notify.c); and extensions.events is read from YAML.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "daemon/config.h"
#include "events/events.h"
#include "tests/unit/testlib.h"
#include "tests/unit/storelib.h"

#define SEEN_MAX 64

/* A test directory and a one-sink configuration. */
struct fx {
	char root[64];
	char addr[64];
	struct events_sink_cfg sink;
	struct events_cfg cfg;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || test_mkdtemp(f->root, sizeof(f->root), "events") < 0)
		return -1;
	/* Port 1 on loopback: nothing listens, a send fails at once. */
	snprintf(f->addr, sizeof(f->addr), "http://127.0.0.1:1/events");
	f->sink = (struct events_sink_cfg){.type = "http", .address = f->addr};
	f->cfg = (struct events_cfg){.enable = true,
	                             .sinks = &f->sink,
	                             .n_sinks = 1,
	                             .retry_delay_ms = 10,
	                             .max_retry_delay_ms = 40,
	                             .max_queued = 100};
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	test_rm_tree(f->root);
	free(f);
	return 0;
}

static struct events *open_ok(struct fx *f)
{
	struct err err = ERR_INIT;
	struct events *ev = events_open(&f->cfg, f->root, &err);

	if (!ev)
		fail_msg("events_open: %s", err.msg);
	return ev;
}

static void post_ok(struct events *ev, enum events_kind kind, const char *ref)
{
	struct err err = ERR_INIT;

	if (events_post(ev, kind, "lib/app", ref, "sha256:abc",
	                "application/vnd.oci.image.manifest.v1+json", &err) < 0)
		fail_msg("events_post: %s", err.msg);
	events_settle(ev, true);
}

/* The spool directory of the one sink (there is one entry there). */
#define DIR_MAX 160

static void spool_dir(struct fx *f, char *out)
{
	char base[DIR_MAX - 20];
	struct dirent *de;
	DIR *d;

	snprintf(base, sizeof(base), "%s/.dray/events", f->root);
	d = opendir(base);
	assert_non_null(d);
	while ((de = readdir(d)) && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(out, DIR_MAX, "%s/%.16s", base, de->d_name);
	closedir(d);
}

/* The references of the spooled events, oldest first, joined by ' '. */
static void spooled_refs(struct fx *f, char *out, size_t n)
{
	char dir[DIR_MAX], path[DIR_MAX + 32];
	struct dirent **names;
	int k = 0, count;

	spool_dir(f, dir);
	out[0] = '\0';
	count = scandir(dir, &names, NULL, alphasort);
	assert_true(count >= 0);
	for (int i = 0; i < count; i++) {
		if (names[i]->d_name[0] != '.') {
			json_t *o;

			snprintf(path, sizeof(path), "%s/%.21s", dir,
			         names[i]->d_name);
			o = json_load_file(path, 0, NULL);
			assert_non_null(o);
			k += snprintf(out + k, n - (size_t)k, "%s%s",
			              k ? " " : "",
			              json_string_value(json_object_get(
					      json_object_get(o, "data"),
					      "reference")));
			json_decref(o);
		}
		free(names[i]);
	}
	free(names);
}

static void test_backoff_doubles_up_to_the_cap(void **state)
{
	struct events_cfg c = {.retry_delay_ms = 1000,
	                       .max_retry_delay_ms = 5000};
	struct events_cfg dflt = {0};

	(void)state;
	assert_int_equal(events_backoff_ms(&c, 1), 1000);
	assert_int_equal(events_backoff_ms(&c, 2), 2000);
	assert_int_equal(events_backoff_ms(&c, 3), 4000);
	assert_int_equal(events_backoff_ms(&c, 4), 5000);
	assert_int_equal(events_backoff_ms(&c, 1000), 5000);
	/* Defaults: 1 s doubling to 5 min. */
	assert_int_equal(events_backoff_ms(&dflt, 1), 1000);
	assert_int_equal(events_backoff_ms(&dflt, 9), 256000);
	assert_int_equal(events_backoff_ms(&dflt, 10), 300000);
}

static void test_spooled_events_survive_a_reopen(void **state)
{
	struct fx *f = *state;
	struct events_stats s;
	struct events *ev = open_ok(f);
	char refs[256], dir[DIR_MAX], tmp[DIR_MAX + 16];

	post_ok(ev, EVENTS_IMAGE_UPDATED, "v1");
	post_ok(ev, EVENTS_IMAGE_UPDATED, "v2");
	post_ok(ev, EVENTS_IMAGE_DELETED, "v1");
	events_stats(ev, &s);
	assert_int_equal(s.posted, 3);
	assert_int_equal(s.queued, 3);
	events_close(ev); /* never started: nothing sent */

	/* A write a crash cut short is swept, not sent. */
	spool_dir(f, dir);
	snprintf(tmp, sizeof(tmp), "%s/atomic.XYZ123", dir);
	write_file(tmp, "{", 1);

	ev = open_ok(f);
	events_stats(ev, &s);
	assert_int_equal(s.queued, 3);
	assert_false(exists(tmp));
	/* Numbers go on from the largest: the new one sorts last. */
	post_ok(ev, EVENTS_IMAGE_UPDATED, "v3");
	events_close(ev);
	spooled_refs(f, refs, sizeof(refs));
	assert_string_equal(refs, "v1 v2 v1 v3");
}

/* events_recover()'s judge: only what names tag "yes" happened. */
static bool only_yes(void *arg, enum events_kind kind, const char *repo,
                     const char *reference, const char *digest)
{
	(void)kind;
	(void)digest;
	(*(int *)arg)++;
	return !strcmp(repo, "lib/app") && !strcmp(reference, "yes");
}

/* How many entries of @dir end with @suffix. */
static int count_suffix(const char *dir, const char *suffix)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), k = strlen(suffix);

		n += l > k && !strcmp(de->d_name + l - k, suffix);
	}
	closedir(d);
	return n;
}

static void test_only_published_changes_are_announced(void **state)
{
	struct fx *f = *state;
	struct err err = ERR_INIT;
	struct events_stats s;
	struct events *ev = open_ok(f);
	char dir[DIR_MAX], saved[4][DIR_MAX + 64], keep[4][DIR_MAX + 64];
	char refs[256];
	struct dirent *de;
	int asked = 0, n = 0;
	DIR *d;

	/* A change that was not published: its event is dropped. */
	assert_int_equal(events_post(ev, EVENTS_IMAGE_UPDATED, "lib/app", "no",
	                             "sha256:abc", NULL, &err),
	                 0);
	spool_dir(f, dir);
	assert_int_equal(count_suffix(dir, ".pending"), 1);
	events_settle(ev, false);
	assert_int_equal(count_suffix(dir, ".pending"), 0);
	events_stats(ev, &s);
	assert_int_equal(s.posted, 0);
	assert_int_equal(s.queued, 0);

	/*
	 * A crash between the spool and the publication: two events are
	 * left pending. Kept aside while this run drops them, put back as
	 * the crash would have left them.
	 */
	assert_int_equal(events_post(ev, EVENTS_IMAGE_UPDATED, "lib/app", "yes",
	                             "sha256:abc", NULL, &err),
	                 0);
	assert_int_equal(events_post(ev, EVENTS_IMAGE_DELETED, "lib/app", "no",
	                             "sha256:abc", NULL, &err),
	                 0);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".pending")) {
			assert_true(n < 4);
			snprintf(keep[n], sizeof(keep[n]), "%s/%.32s", dir,
			         de->d_name);
			snprintf(saved[n], sizeof(saved[n]), "%s/../%.32s", dir,
			         de->d_name);
			assert_int_equal(link(keep[n], saved[n]), 0);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 2);
	events_settle(ev, false);
	events_close(ev);
	for (int i = 0; i < n; i++)
		assert_int_equal(rename(saved[i], keep[i]), 0);

	ev = open_ok(f);
	assert_int_equal(events_recover(ev, only_yes, &asked, &err), 0);
	assert_int_equal(asked, 2);
	assert_int_equal(count_suffix(dir, ".pending"), 0);
	events_stats(ev, &s);
	assert_int_equal(s.queued, 1);
	/* The numbers of pending events are not reused. */
	post_ok(ev, EVENTS_IMAGE_UPDATED, "later");
	events_close(ev);
	spooled_refs(f, refs, sizeof(refs));
	assert_string_equal(refs, "yes later");
}

static void test_a_spooled_event_is_a_whole_cloudevent(void **state)
{
	struct fx *f = *state;
	char dir[DIR_MAX], path[DIR_MAX + 32];
	struct dirent *de;
	json_t *o;
	DIR *d;
	struct events *ev;

	f->cfg.source = "dray.test";
	ev = open_ok(f);
	post_ok(ev, EVENTS_IMAGE_DELETED, "v1");
	events_close(ev);
	spool_dir(f, dir);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(path, sizeof(path), "%s/%.21s", dir, de->d_name);
	closedir(d);
	o = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "type")),
	                    "zotregistry.image.deleted");
	assert_string_equal(
		json_string_value(json_object_get(o, "specversion")), "1.0");
	assert_string_equal(json_string_value(json_object_get(o, "source")),
	                    "dray.test");
	assert_string_equal(json_string_value(json_object_get(o, "subject")),
	                    "lib/app");
	assert_int_equal(strlen(json_string_value(json_object_get(o, "id"))),
	                 36);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(o, "data"), "digest")),
	                    "sha256:abc");
	json_decref(o);
}

static void test_past_the_bound_the_oldest_are_dropped(void **state)
{
	struct fx *f = *state;
	struct events_stats s;
	struct events *ev;
	char refs[256];

	f->cfg.max_queued = 2;
	ev = open_ok(f);
	post_ok(ev, EVENTS_IMAGE_UPDATED, "t1");
	post_ok(ev, EVENTS_IMAGE_UPDATED, "t2");
	post_ok(ev, EVENTS_IMAGE_UPDATED, "t3");
	post_ok(ev, EVENTS_IMAGE_UPDATED, "t4");
	events_stats(ev, &s);
	assert_int_equal(s.posted, 4);
	assert_int_equal(s.queued, 2);
	assert_int_equal(s.dropped, 2);
	events_close(ev);
	spooled_refs(f, refs, sizeof(refs));
	assert_string_equal(refs, "t3 t4");

	/* A smaller bound at the next start applies to what was spooled. */
	f->cfg.max_queued = 1;
	ev = open_ok(f);
	events_stats(ev, &s);
	assert_int_equal(s.queued, 1);
	assert_int_equal(s.dropped, 1);
	events_close(ev);
	spooled_refs(f, refs, sizeof(refs));
	assert_string_equal(refs, "t4");
}

/* The test's sink: refuses the first @refuse requests with 503. */
struct sink_srv {
	pthread_mutex_t lock;
	unsigned refuse;          /* 503s still to give */
	unsigned answered;        /* requests seen */
	char seen[SEEN_MAX][128]; /* "<ce-type> <reference>" of each 200 */
	unsigned n_seen;
	char body[4096]; /* the body being received */
	size_t len;
};

static enum MHD_Result sink_handle(void *arg, struct MHD_Connection *c,
                                   const char *url, const char *method,
                                   const char *version, const char *data,
                                   size_t *size, void **st)
{
	struct sink_srv *s = arg;
	struct MHD_Response *r;
	unsigned code = MHD_HTTP_OK;
	enum MHD_Result ret;

	(void)url;
	(void)method;
	(void)version;
	if (!*st) {
		*st = s;
		pthread_mutex_lock(&s->lock);
		s->len = 0;
		pthread_mutex_unlock(&s->lock);
		return MHD_YES;
	}
	pthread_mutex_lock(&s->lock);
	if (*size) {
		if (s->len + *size < sizeof(s->body)) {
			memcpy(s->body + s->len, data, *size);
			s->len += *size;
		}
		*size = 0;
		pthread_mutex_unlock(&s->lock);
		return MHD_YES;
	}
	s->answered++;
	if (s->refuse) {
		s->refuse--;
		code = MHD_HTTP_SERVICE_UNAVAILABLE;
	} else if (s->n_seen < SEEN_MAX) {
		const char *type = MHD_lookup_connection_value(
			c, MHD_HEADER_KIND, "ce-type");
		json_t *b = json_loadb(s->body, s->len, 0, NULL);

		snprintf(s->seen[s->n_seen++], sizeof(s->seen[0]), "%s %s",
		         type ? type : "-",
		         json_string_value(json_object_get(b, "reference")));
		json_decref(b);
	}
	pthread_mutex_unlock(&s->lock);
	r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* Wait (no time limit: a hang is ctest's timeout) for @n deliveries. */
static void wait_delivered(struct events *ev, uint64_t n)
{
	struct events_stats s;

	for (;;) {
		events_stats(ev, &s);
		if (s.delivered >= n)
			return;
		poll(NULL, 0, 5);
	}
}

static void test_delivery_is_in_order_and_retried_until_answered(void **state)
{
	struct fx *f = *state;
	struct sink_srv s = {.lock = PTHREAD_MUTEX_INITIALIZER, .refuse = 3};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;
	struct err err = ERR_INIT;
	struct events_stats st;
	struct MHD_Daemon *d;
	struct events *ev;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
	                     sink_handle, &s, MHD_OPTION_SOCK_ADDR, &sa,
	                     MHD_OPTION_END);
	assert_non_null(d);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(f->addr, sizeof(f->addr), "http://127.0.0.1:%u/hook",
	         info->port);
	ev = open_ok(f);
	post_ok(ev, EVENTS_IMAGE_UPDATED, "a");
	post_ok(ev, EVENTS_IMAGE_DELETED, "b");
	assert_int_equal(events_start(ev, &err), 0);
	post_ok(ev, EVENTS_IMAGE_UPDATED, "c");
	wait_delivered(ev, 3);
	events_stats(ev, &st);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.failed, 3); /* the 503s, each retried */
	assert_int_equal(st.queued, 0);
	events_close(ev);
	MHD_stop_daemon(d);
	assert_int_equal(s.answered, 6);
	assert_int_equal(s.n_seen, 3);
	assert_string_equal(s.seen[0], "zotregistry.image.updated a");
	assert_string_equal(s.seen[1], "zotregistry.image.deleted b");
	assert_string_equal(s.seen[2], "zotregistry.image.updated c");

	/* Delivered events left the spool: a reopen has none. */
	ev = open_ok(f);
	events_stats(ev, &st);
	assert_int_equal(st.queued, 0);
	events_close(ev);
	pthread_mutex_destroy(&s.lock);
}

static void test_close_does_not_wait_for_a_silent_sink(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct err err = ERR_INIT;
	struct events_stats st;
	struct pollfd p;
	struct events *ev;
	int fd;

	/* Listens, never accepts: the connection waits in the backlog. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(f->addr, sizeof(f->addr), "http://127.0.0.1:%u/",
	         ntohs(sa.sin_port));
	f->sink.timeout_ms = 3600 * 1000; /* only a stop ends the send */
	ev = open_ok(f);
	post_ok(ev, EVENTS_IMAGE_UPDATED, "v1");
	assert_int_equal(events_start(ev, &err), 0);
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, -1), 1); /* the send is under way */
	events_close(ev);                     /* returns: it was aborted */
	close(fd);
	ev = open_ok(f);
	events_stats(ev, &st);
	assert_int_equal(st.queued, 1); /* still spooled for next time */
	events_close(ev);
}

static void test_config_reads_zot_sinks(void **state)
{
	struct fx *f = *state;
	char creds[128], yaml[1024];
	struct err err = ERR_INIT;
	struct events_sink_cfg *s;
	struct cfg *cfg;

	snprintf(creds, sizeof(creds), "%s/creds.json", f->root);
	write_file(creds, "{\"username\":\"u\",\"password\":\"p\"}", 31);
	snprintf(yaml, sizeof(yaml),
	         "storage: {rootDirectory: /d}\n"
	         "extensions:\n"
	         "  events:\n"
	         "    sinks:\n"
	         "      - type: http\n"
	         "        address: http://sink.example/e\n"
	         "        timeout: 2s\n"
	         "        headers: {X-One: '1', X-Two: two}\n"
	         "        credentials: {file: %s}\n"
	         "      - type: http\n"
	         "        address: https://other.example/\n"
	         "        channel: c\n"
	         "        credentials: {token: t0k}\n",
	         creds);
	cfg = cfg_parse(yaml, strlen(yaml), "t.yaml", &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_true(cfg->extensions.events.enable);
	assert_int_equal(cfg->extensions.events.n_sinks, 2);
	s = &cfg->extensions.events.sinks[0];
	assert_string_equal(s->address, "http://sink.example/e");
	assert_int_equal(s->timeout_ms, 2000);
	assert_int_equal(s->n_headers, 2);
	assert_string_equal(s->header_names[1], "X-Two");
	assert_string_equal(s->header_values[1], "two");
	assert_string_equal(s->username, "u");
	assert_string_equal(s->password, "p");
	s = &cfg->extensions.events.sinks[1];
	assert_int_equal(s->timeout_ms, 30000); /* zot's default */
	assert_string_equal(s->token, "t0k");
	assert_int_equal(cfg->extensions.events.retry_delay_ms, 1000);
	assert_int_equal(cfg->extensions.events.max_queued, 10000);
	/* channel is NATS's: accepted, recorded as unsupported. */
	assert_int_equal(cfg->n_unsupported, 1);
	cfg_free(cfg);
}

static void test_config_refuses_bad_sinks(void **state)
{
	static const char *const bad[] = {
		"    sinks: [{type: nats, address: 'nats://x:4222'}]\n",
		"    sinks: [{type: http}]\n",
		"    sinks: [{type: http, address: 'ftp://x/'}]\n",
		"    sinks: [{type: http, address: 'http://x/',"
		" headers: {'X-A': \"a\\r\\nX-B: b\"}}]\n",
		"    sinks: [{type: http, address: 'http://x/',"
		" credentials: {file: /nonexistent/creds.json}}]\n",
		"    sinks: [{type: http, address: 'http://x/', bogus: 1}]\n",
	};
	char yaml[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err err = ERR_INIT;
		struct cfg *cfg;

		snprintf(yaml, sizeof(yaml),
		         "storage: {rootDirectory: /d}\n"
		         "extensions:\n  events:\n%s",
		         bad[i]);
		cfg = cfg_parse(yaml, strlen(yaml), "t.yaml", &err);
		if (cfg)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(err.code, ERR_INVALID);
	}
}

/* What store_opts.on_change heard, one line per change. */
static char changes[SEEN_MAX][256];
static unsigned n_changes;

static void heard(void *arg, const struct store_change *c)
{
	char d[16];

	(void)arg;
	assert_true(n_changes < SEEN_MAX);
	/* The digest's first hex digits tell the images apart. */
	snprintf(d, sizeof(d), "%.14s", c->digest);
	snprintf(changes[n_changes++], sizeof(changes[0]), "%s %s %s %s",
	         c->deleted ? "deleted" : "updated", c->repo,
	         strncmp(c->reference, "sha256:", 7) ? c->reference : "@", d);
}

static int notify_setup(void **state)
{
	struct store_opts o = {.dedupe = true, .on_change = heard};
	struct err err = ERR_INIT;
	struct test_fixture *f;

	if (test_fixture_setup(state, "events-notify") < 0)
		return -1;
	f = *state;
	store_close(f->st);
	f->st = store_open_with(f->root, &o, &err);
	n_changes = 0;
	return f->st ? 0 : -1;
}

/* The changes heard since the last call, joined by "; ". */
static void heard_since(char *out, size_t n)
{
	size_t k = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < n_changes; i++)
		k += (size_t)snprintf(out + k, n - k, "%s%s", i ? "; " : "",
		                      changes[i]);
	n_changes = 0;
}

static void test_store_reports_each_image_change(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a, b;
	char got[1024], want[1024], da[16], db[16], dstr[DIGEST_STR_MAX];

	make_image(f, "lib/app", "layer a", "", &a);
	make_image(f, "lib/app", "layer b", "", &b);
	digest_format(&a.digest, dstr);
	snprintf(da, sizeof(da), "%.14s", dstr);
	digest_format(&b.digest, dstr);
	snprintf(db, sizeof(db), "%.14s", dstr);
	n_changes = 0;

	put_image(f, "lib/app", "v1", &a); /* a push */
	heard_since(got, sizeof(got));
	snprintf(want, sizeof(want), "updated lib/app v1 %s", da);
	assert_string_equal(got, want);

	put_image(f, "lib/app", "latest", &a); /* a second tag */
	heard_since(got, sizeof(got));
	snprintf(want, sizeof(want), "updated lib/app latest %s", da);
	assert_string_equal(got, want);

	put_image(f, "lib/app", "v1", &a); /* the same again: no change */
	heard_since(got, sizeof(got));
	assert_string_equal(got, "");

	put_image(f, "lib/app", "latest", &b); /* a tag moved */
	heard_since(got, sizeof(got));
	snprintf(want, sizeof(want), "updated lib/app latest %s", db);
	assert_string_equal(got, want);

	assert_int_equal(store_manifest_delete(f->st, "lib/app", "v1", &err),
	                 0); /* a tag deleted; a stays by digest */
	heard_since(got, sizeof(got));
	snprintf(want, sizeof(want), "deleted lib/app v1 %s", da);
	assert_string_equal(got, want);

	digest_format(&a.digest, dstr);
	assert_int_equal(store_manifest_delete(f->st, "lib/app", dstr, &err),
	                 0); /* the untagged manifest deleted */
	heard_since(got, sizeof(got));
	snprintf(want, sizeof(want), "deleted lib/app @ %s", da);
	assert_string_equal(got, want);

	put_image(f, "lib/app", NULL, &a); /* pushed by digest */
	heard_since(got, sizeof(got));
	snprintf(want, sizeof(want), "updated lib/app @ %s", da);
	assert_string_equal(got, want);

	digest_format(&b.digest, dstr); /* tagged b, deleted by digest */
	assert_int_equal(store_manifest_delete(f->st, "lib/app", dstr, &err),
	                 0);
	heard_since(got, sizeof(got));
	snprintf(want, sizeof(want), "deleted lib/app latest %s", db);
	assert_string_equal(got, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_up_to_the_cap),
		cmocka_unit_test_setup_teardown(
			test_only_published_changes_are_announced, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_spooled_events_survive_a_reopen, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_spooled_event_is_a_whole_cloudevent, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_past_the_bound_the_oldest_are_dropped, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_delivery_is_in_order_and_retried_until_answered,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_close_does_not_wait_for_a_silent_sink, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_config_reads_zot_sinks,
	                                        fx_setup, fx_teardown),
		cmocka_unit_test(test_config_refuses_bad_sinks),
		cmocka_unit_test_setup_teardown(
			test_store_reports_each_image_change, notify_setup,
			test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
