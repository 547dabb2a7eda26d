/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - the dray command line: serve, verify, and the daemon's life
 * cycle (signals, background upkeep, orderly shutdown).
 *
 * SIGTERM/SIGINT are blocked in every thread and taken with sigtimedwait()
 * by the main thread, which also runs the periodic upkeep between signals.
 * SIGHUP re-reads the TLS certificate, key and client CA.
 */
#define LOG_MODULE "main"
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/clock.h"
#include "daemon/config.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/sched.h"
#include "daemon/testhold.h"
#include "fusefs/fusefs.h"
#include "http/auth.h"
#include "http/http.h"
#include "http/metrics.h"
#include "index/store.h"
#include "sync/sync.h"

#define EXIT_USAGE  2
#define UPKEEP_SECS 60

static const char usage_text[] =
	"usage: dray <command> [options]\n"
	"\n"
	"commands:\n"
	"  serve [CONFIG] [--port-file FILE] [--mount DIR]\n"
	"                     run the registry (CONFIG: zot-style YAML or JSON;\n"
	"                     without it, the embedded default: 127.0.0.1:5000,\n"
	"                     storage in ./dray-data)\n"
	"  verify CONFIG      check a configuration file and exit (0 valid,\n"
	"                     2 invalid)\n"
	"  gc CONFIG [--dry-run]\n"
	"                     one garbage collection pass, offline\n"
	"  scrub CONFIG       re-hash every blob and manifest; exit 1 if any\n"
	"                     does not match its digest or is missing\n"
	"  fsck CONFIG [--rebuild]\n"
	"                     compare the index with the layouts (exit 1 on\n"
	"                     disagreement); --rebuild rebuilds it from them\n"
	"  import LAYOUT_DIR REPO[:TAG] [--config CONFIG]\n"
	"                     store an OCI image layout in REPO, offline, as a\n"
	"                     push would (TAG: only that tag of the layout)\n"
	"  config             print the embedded default configuration\n"
	"  --version          print the version\n"
	"  --help             print this help\n";

static int usage(FILE *out, int code)
{
	fputs(usage_text, out);
	return code;
}

static void warn_unsupported(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_unsupported; i++)
		log_warn("config key %s is not supported yet; ignored",
		         cfg->unsupported[i]);
}

static int cmd_verify(int argc, char **argv)
{
	struct err err = ERR_INIT;
	struct htpasswd *users = NULL;
	struct http_opts tls = {0};
	struct cfg *cfg;

	if (argc != 1)
		return usage(stderr, EXIT_USAGE);
	cfg = cfg_load(argv[0], &err);
	if (!cfg) {
		fprintf(stderr, "dray: %s\n", err.msg);
		return EXIT_USAGE;
	}
	if (cfg->http.htpasswd_path &&
	    htpasswd_load(cfg->http.htpasswd_path, &users, &err) < 0) {
		fprintf(stderr, "dray: %s\n", err.msg);
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	htpasswd_free(users);
	for (size_t i = 0; i < cfg->n_unsupported; i++)
		fprintf(stderr, "dray: warning: %s is not supported yet\n",
		        cfg->unsupported[i]);
	tls.tls_cert = cfg->http.tls_cert;
	tls.tls_key = cfg->http.tls_key;
	tls.tls_cacert = cfg->http.tls_cacert;
	if (http_tls_check(&tls, &err) < 0) {
		fprintf(stderr, "dray: %s\n", err.msg);
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	printf("%s: configuration is valid\n", argv[0]);
	cfg_free(cfg);
	return 0;
}

static int write_port_file(const char *path, int port, struct err *err)
{
	char text[16], dir[PATH_MAX];
	int n = snprintf(text, sizeof(text), "%d\n", port);
	const char *slash = strrchr(path, '/');

	/* The temporary must be on the port file's file system. */
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return fs_write_atomic(dir[0] ? dir : "/", path, text, (size_t)n,
	                       err);
}

/* Wait for SIGTERM/SIGINT; SIGHUP reloads the TLS files. */
static void wait_for_signal(const sigset_t *set, struct http_server *srv)
{
	for (;;) {
		int sig = sigwaitinfo(set, NULL);
		struct err err = ERR_INIT;

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: shutting down", sig);
			return;
		}
		if (sig == SIGHUP && http_tls_reload(srv, &err) < 0)
			log_err("tls: reload failed, keeping the previous "
			        "certificate: %s",
			        err.msg);
	}
}

/* What background tasks work on. */
struct bg {
	struct store *st;        /* the store */
	const struct cfg *cfg;   /* the configuration */
	struct metrics *metrics; /* extensions.metrics, or NULL */
	struct timed {
		void (*run)(struct sched *s, void *arg);
		void *arg;
		const char *name;
		struct metrics *metrics;
	} timed[5]; /* the tasks, each timed into metrics */
};

/* Run a task and report how long it took (zot's scheduler figures). */
static void run_timed(struct sched *s, void *arg)
{
	struct timed *t = arg;
	uint64_t t0 = clock_mono_ms();

	t->run(s, t->arg);
	metrics_task(t->metrics, t->name, clock_mono_ms() - t0);
}

static bool gc_should_stop(void *arg)
{
	return sched_stopping(arg);
}

static void log_gc(const struct gc_report *rep, bool dry)
{
	log_info("gc%s: %zu tags, %zu manifests, %zu blobs, %zu store copies "
	         "(%llu bytes), %zu uploads",
	         dry ? " (dry run)" : "", rep->tags, rep->manifests, rep->blobs,
	         rep->store_blobs, (unsigned long long)rep->bytes,
	         rep->uploads);
}

static void task_gc(struct sched *s, void *arg)
{
	struct bg *bg = arg;
	struct gc_opts opts = {.delay_ms = bg->cfg->storage.gc_delay_ms,
	                       .retention = &bg->cfg->storage.retention};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	uint64_t t0 = clock_mono_ms();
	struct metrics_gc m;

	if (store_gc(bg->st, &opts, gc_should_stop, s, &rep, &err) < 0)
		log_err("gc: %s", err.msg);
	else
		log_gc(&rep, false);
	m = (struct metrics_gc){.failed = err.code != ERR_OK,
	                        .ms = clock_mono_ms() - t0,
	                        .manifests = rep.manifests,
	                        .blobs = rep.blobs,
	                        .uploads = rep.uploads,
	                        .bytes = rep.bytes};
	metrics_gc_pass(bg->metrics, &m);
}

static void task_uploads(struct sched *s, void *arg)
{
	struct bg *bg = arg;
	size_t n;

	(void)s;
	n = store_upload_expire(bg->st, bg->cfg->storage.gc_delay_ms);
	if (n)
		log_info("dropped %zu idle upload sessions", n);
}

static void log_problem(void *arg, const char *problem)
{
	(void)arg;
	log_err("%s", problem);
}

static void task_scrub(struct sched *s, void *arg)
{
	struct bg *bg = arg;
	struct check_report rep;
	struct err err = ERR_INIT;

	(void)s;
	if (store_scrub(bg->st, log_problem, NULL, &rep, &err) < 0)
		log_err("scrub: %s", err.msg);
	else
		log_info("scrub: %zu blobs checked, %zu problems", rep.checked,
		         rep.problems);
}

static void task_reconcile(struct sched *s, void *arg)
{
	struct bg *bg = arg;
	struct err err = ERR_INIT;

	(void)s;
	if (store_reconcile(bg->st, &err) < 0)
		log_err("reconcile: %s", err.msg);
}

static void task_dedupe(struct sched *s, void *arg)
{
	struct bg *bg = arg;
	struct err err = ERR_INIT;
	size_t n = 0;

	if (store_dedupe_convert(bg->st, gc_should_stop, s, &n, &err) < 0)
		log_err("dedupe conversion: %s", err.msg);
	else if (n)
		log_info("dedupe %s: %zu blobs converted",
		         bg->cfg->storage.dedupe ? "on" : "off", n);
}

static struct sched *start_background(struct bg *bg, struct err *err)
{
	const struct cfg *cfg = bg->cfg;
	struct sched_task tasks[] = {
		{"gc", cfg->storage.gc ? cfg->storage.gc_interval_ms : 0,
		 cfg->storage.gc_interval_ms, task_gc, bg},
		{"uploads", cfg->storage.gc ? 0 : 3600 * 1000ULL,
		 3600 * 1000ULL, task_uploads, bg},
		{"scrub",
		 cfg->extensions.scrub_enable
		         ? cfg->extensions.scrub_interval_ms
		         : 0,
		 cfg->extensions.scrub_interval_ms, task_scrub, bg},
		{"reconcile", UPKEEP_SECS * 1000ULL, UPKEEP_SECS * 1000ULL,
		 task_reconcile, bg},
		/* Once after start, then rarely: it only finds work after
		 * storage.dedupe changed or files were copied in by hand. */
		{"dedupe", 24 * 3600 * 1000ULL, 2000, task_dedupe, bg},
	};

	_Static_assert(sizeof(tasks) / sizeof(tasks[0]) <=
	                       sizeof(bg->timed) / sizeof(bg->timed[0]),
	               "bg->timed");
	for (size_t i = 0; bg->metrics && i < sizeof(tasks) / sizeof(tasks[0]);
	     i++) {
		bg->timed[i] = (struct timed){tasks[i].run, tasks[i].arg,
		                              tasks[i].name, bg->metrics};
		tasks[i].run = run_timed;
		tasks[i].arg = &bg->timed[i];
	}

	return sched_start(tasks, (int)(sizeof(tasks) / sizeof(tasks[0])),
	                   err);
}

/* Say so when DRAY_TEST_CLOCK_FILE (tests only) shifts decisions by age. */
static void warn_test_clock(void)
{
	if (clock_test_file())
		log_warn("test clock: ages shifted by the seconds in '%s'",
		         clock_test_file());
}

/* Open the store of config @path for an offline command. */
static struct store *open_offline(const char *path,
                                  const struct store_opts *extra,
                                  struct cfg **cfgp)
{
	struct err err = ERR_INIT;
	struct store_opts o = extra ? *extra : (struct store_opts){0};
	struct store *st;

	*cfgp = cfg_load(path, &err);
	if (!*cfgp) {
		fprintf(stderr, "dray: %s\n", err.msg);
		return NULL;
	}
	if (log_open(NULL, (*cfgp)->log.level, &err) < 0) {
		fprintf(stderr, "dray: %s\n", err.msg);
		return NULL;
	}
	warn_test_clock();
	o.dedupe = (*cfgp)->storage.dedupe;
	st = store_open_with((*cfgp)->storage.root_directory, &o, &err);
	if (!st)
		fprintf(stderr,
		        "dray: cannot open storage '%s': %s (is dray serve "
		        "running on it?)\n",
		        (*cfgp)->storage.root_directory, err.msg);
	return st;
}

/*
 * Run offline command @fn on the store of config @path: its exit status,
 * EXIT_USAGE for a bad config, 1 when the store cannot be opened.
 */
static int run_offline(const char *path, const struct store_opts *extra,
                       int (*fn)(struct store *st, const struct cfg *cfg,
                                 void *arg),
                       void *arg)
{
	struct cfg *cfg = NULL;
	struct store *st = open_offline(path, extra, &cfg);
	int ret = !cfg ? EXIT_USAGE : st ? fn(st, cfg, arg) : 1;

	store_close(st);
	cfg_free(cfg);
	return ret;
}

static void print_problem(void *arg, const char *problem)
{
	(void)arg;
	printf("%s\n", problem);
}

static int gc_run(struct store *st, const struct cfg *cfg, void *arg)
{
	struct gc_opts *opts = arg;
	struct gc_report rep = {0};
	struct err err = ERR_INIT;

	opts->delay_ms = cfg->storage.gc_delay_ms;
	opts->retention = &cfg->storage.retention;
	if (store_gc(st, opts, NULL, NULL, &rep, &err) < 0) {
		fprintf(stderr, "dray: gc: %s\n", err.msg);
		return err_exit_code(&err);
	}
	log_gc(&rep, opts->dry_run);
	return 0;
}

static int cmd_gc(int argc, char **argv)
{
	struct gc_opts opts = {0};

	if (argc < 1 || argc > 2 ||
	    (argc == 2 && strcmp(argv[1], "--dry-run") != 0))
		return usage(stderr, EXIT_USAGE);
	opts.dry_run = argc == 2;
	return run_offline(argv[0], NULL, gc_run, &opts);
}

static int scrub_run(struct store *st, const struct cfg *cfg, void *arg)
{
	struct check_report rep = {0};
	struct err err = ERR_INIT;

	(void)cfg;
	(void)arg;
	if (store_scrub(st, print_problem, NULL, &rep, &err) < 0) {
		fprintf(stderr, "dray: scrub: %s\n", err.msg);
		return err_exit_code(&err);
	}
	printf("scrub: %zu blobs checked, %zu problems\n", rep.checked,
	       rep.problems);
	return rep.problems ? 1 : 0;
}

static int cmd_scrub(int argc, char **argv)
{
	if (argc != 1)
		return usage(stderr, EXIT_USAGE);
	return run_offline(argv[0], NULL, scrub_run, NULL);
}

static int fsck_run(struct store *st, const struct cfg *cfg, void *arg)
{
	const bool *rebuilt = arg;
	struct check_report rep = {0};
	struct err err = ERR_INIT;

	(void)cfg;
	if (*rebuilt) { /* store_open_with() did it */
		printf("fsck: index rebuilt from the layouts\n");
		return 0;
	}
	if (store_fsck(st, print_problem, NULL, &rep, &err) < 0) {
		fprintf(stderr, "dray: fsck: %s\n", err.msg);
		return err_exit_code(&err);
	}
	printf("fsck: %zu repositories checked, %zu disagreements\n",
	       rep.checked, rep.problems);
	return rep.problems ? 1 : 0;
}

static int cmd_fsck(int argc, char **argv)
{
	struct store_opts o = {.no_reconcile = true};
	bool rebuild;

	if (argc < 1 || argc > 2 ||
	    (argc == 2 && strcmp(argv[1], "--rebuild") != 0))
		return usage(stderr, EXIT_USAGE);
	rebuild = argc == 2;
	if (rebuild)
		o = (struct store_opts){.rebuild_index = true};
	return run_offline(argv[0], &o, fsck_run, &rebuild);
}

/* What dray import was asked for. */
struct import_args {
	const char *dir; /* the layout */
	char repo[512];  /* into this repository */
	char *tag;       /* only this tag, or NULL: all */
};

static int import_run(struct store *st, const struct cfg *cfg, void *arg)
{
	struct import_args *a = arg;
	struct store_import_stats stats;
	struct err err = ERR_INIT;

	(void)cfg;
	if (store_import(st, a->dir, a->repo, a->tag, &stats, &err) < 0) {
		fprintf(stderr, "dray: import: %s\n", err.msg);
		return err_exit_code(&err);
	}
	printf("imported %s into %s%s%s: %zu manifests, %zu blobs stored, "
	       "%zu already present\n",
	       a->dir, a->repo, a->tag ? ":" : "", a->tag ? a->tag : "",
	       stats.manifests, stats.blobs, stats.blobs_present);
	return 0;
}

/*
 * dray import LAYOUT_DIR REPO[:TAG] [--config CONFIG]: what a `cp -r` into
 * the mount does, for machines without FUSE. Offline, like gc.
 */
static int cmd_import(int argc, char **argv)
{
	struct import_args a = {0};
	const char *cfg_path = NULL, *ref = NULL;
	char *colon;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			cfg_path = argv[++i];
		else if (argv[i][0] != '-' && !a.dir)
			a.dir = argv[i];
		else if (argv[i][0] != '-' && !ref)
			ref = argv[i];
		else
			return usage(stderr, EXIT_USAGE);
	}
	if (!ref ||
	    snprintf(a.repo, sizeof(a.repo), "%s", ref) >= (int)sizeof(a.repo))
		return usage(stderr, EXIT_USAGE);
	/* A name has no ':'; the last one (after any '/') starts the tag. */
	colon = strrchr(a.repo, ':');
	if (colon && !strchr(colon, '/')) {
		*colon = '\0';
		a.tag = colon + 1;
	}
	return run_offline(cfg_path, NULL, import_run, &a);
}

/* A duration for http_opts: whole seconds, rounded up; 0 stays 0. */
static unsigned ms_to_s(uint64_t ms)
{
	uint64_t s = (ms + 999) / 1000;

	return s > UINT_MAX ? UINT_MAX : (unsigned)s;
}

static unsigned ms_clamp(uint64_t ms)
{
	return ms > UINT_MAX ? UINT_MAX : (unsigned)ms;
}

/* zot's binaryType: "-" and the extensions on, in zot's order. */
static void binary_type(const struct cfg *cfg, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s",
	         cfg->extensions.scrub_enable ? "-scrub" : "",
	         cfg->extensions.metrics_enable ? "-metrics" : "",
	         cfg->extensions.mgmt_enable ? "-mgmt" : "");
}

static int cmd_serve(int argc, char **argv)
{
	const char *cfg_path = NULL, *port_file = NULL, *mount = NULL;
	struct err err = ERR_INIT;
	struct cfg *cfg = NULL;
	struct store *st = NULL;
	struct http_server *srv = NULL;
	struct http_opts hopts = {0};
	struct store_opts sopts = {0};
	struct sched *sched = NULL;
	struct rfs *fs = NULL;
	struct metrics *metrics = NULL;
	struct sync *sync = NULL;
	struct metrics_info mi;
	char *mgmt = NULL, btype[64];
	struct bg bg;
	sigset_t set;
	int ret = 1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			port_file = argv[++i];
		else if (strcmp(argv[i], "--mount") == 0 && i + 1 < argc)
			mount = argv[++i];
		else if (argv[i][0] != '-' && !cfg_path)
			cfg_path = argv[i];
		else
			return usage(stderr, EXIT_USAGE);
	}
	cfg = cfg_load(cfg_path, &err);
	if (!cfg) {
		fprintf(stderr, "dray: %s\n", err.msg);
		return EXIT_USAGE;
	}
	if (log_open(cfg->log.output, cfg->log.level, &err) < 0) {
		fprintf(stderr, "dray: %s\n", err.msg);
		goto out;
	}
	warn_unsupported(cfg);
	warn_test_clock();

	/* Threads started from here on inherit the blocked signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	sopts.dedupe = cfg->storage.dedupe;
	sopts.access = &cfg->http.access;
	sopts.max_uploads = (size_t)cfg->storage.max_upload_sessions;
	sopts.max_uploads_per_repo =
		(size_t)cfg->storage.max_upload_sessions_per_repo;
	sopts.max_blob_size = cfg->storage.max_blob_size;
	st = store_open_with(cfg->storage.root_directory, &sopts, &err);
	if (!st) {
		log_err("cannot open storage: %s", err.msg);
		goto out;
	}
	hopts.address = cfg->http.address;
	hopts.port = cfg->http.port;
	hopts.access = &cfg->http.access;
	hopts.htpasswd_path = cfg->http.htpasswd_path;
	hopts.realm = cfg->http.realm;
	hopts.bearer_realm = cfg->http.bearer_realm;
	hopts.bearer_service = cfg->http.bearer_service;
	hopts.bearer_cert = cfg->http.bearer_cert;
	/*
	 * zot's failDelay is whole seconds. A waiting answer makes no
	 * progress, so it must stay under writeTimeout (30 s by default).
	 */
	hopts.fail_delay_ms = cfg->http.fail_delay_s > 20
	                              ? 20000
	                              : (unsigned)cfg->http.fail_delay_s * 1000;
	hopts.max_conns = (unsigned)cfg->http.max_connections;
	hopts.idle_timeout_s = ms_to_s(cfg->http.idle_timeout_ms);
	hopts.drain_timeout_s = ms_to_s(cfg->http.drain_timeout_ms);
	hopts.header_timeout_ms = ms_clamp(cfg->http.read_header_timeout_ms);
	hopts.read_timeout_ms = ms_clamp(cfg->http.read_timeout_ms);
	hopts.write_timeout_ms = ms_clamp(cfg->http.write_timeout_ms);
	binary_type(cfg, btype, sizeof(btype));
	mi = (struct metrics_info){DRAY_VERSION, NULL, btype,
	                           cfg->dist_spec_version,
	                           cfg->storage.root_directory};
	if (cfg->extensions.metrics_enable &&
	    !(metrics = metrics_new(&mi, &err))) {
		log_err("%s", err.msg);
		goto out;
	}
	if (cfg->extensions.mgmt_enable && !(mgmt = metrics_mgmt_json(&mi))) {
		log_err("cannot allocate the mgmt answer");
		goto out;
	}
	hopts.metrics = metrics;
	hopts.metrics_path = cfg->extensions.metrics_path;
	hopts.mgmt_json = mgmt;
	hopts.tls_cert = cfg->http.tls_cert;
	hopts.tls_key = cfg->http.tls_key;
	hopts.tls_cacert = cfg->http.tls_cacert;
	if (cfg->extensions.sync.enable &&
	    !(sync = sync_new(&cfg->extensions.sync, st, &err))) {
		log_err("extensions.sync: %s", err.msg);
		goto out;
	}
	hopts.sync = sync;
	srv = http_start(&hopts, st, &err);
	if (!srv) {
		log_err("%s", err.msg);
		goto out;
	}
	log_info("dray %s serving %s on %s:%d", DRAY_VERSION,
	         cfg->storage.root_directory, cfg->http.address,
	         http_port(srv));
	if (port_file && write_port_file(port_file, http_port(srv), &err) < 0) {
		log_err("cannot write port file: %s", err.msg);
		goto out;
	}
	if (!mount)
		mount = cfg->fuse.mountpoint;
	if (mount) {
		struct rfs_opts fo = {mount, cfg->fuse.allow_other,
		                      cfg->fuse.read_only, cfg->fuse.uid,
		                      cfg->fuse.gid};

		test_hold("startup", "mount"); /* /readyz: 503 meanwhile */
		fs = rfs_start(st, &fo, &err);
		if (fs)
			log_info("storage mounted at %s", mount);
		else /* HTTP goes on without the mount */
			log_err("cannot mount at '%s': %s; serving HTTP only",
			        mount, err.msg);
		err = ERR_INIT;
	}
	/* The index was reconciled at open; the mount, if any, is up. */
	if (!mount || fs)
		http_set_ready(srv, true);
	bg = (struct bg){.st = st, .cfg = cfg, .metrics = metrics};
	sched = start_background(&bg, &err);
	if (!sched) {
		log_err("%s", err.msg);
		goto out;
	}
	wait_for_signal(&set, srv);
	http_set_ready(srv, false); /* /readyz: 503 from here on */
	test_hold("shutdown", "readyz");
	/* First: whatever the rest of the stop does, no mount is left. */
	rfs_unmount(fs);
	ret = 0;
out:
	sched_stop(sched);
	http_stop(srv);
	sync_free(sync); /* after HTTP: no request is using it */
	metrics_free(metrics);
	free(mgmt);
	rfs_stop(fs); /* after HTTP: no request can reach its hook now */
	store_close(st);
	if (ret == 0)
		log_info("stopped");
	log_close();
	cfg_free(cfg);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("dray %s\n", DRAY_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return usage(stdout, 0);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 2, argv + 2);
	if (strcmp(argv[1], "gc") == 0)
		return cmd_gc(argc - 2, argv + 2);
	if (strcmp(argv[1], "scrub") == 0)
		return cmd_scrub(argc - 2, argv + 2);
	if (strcmp(argv[1], "fsck") == 0)
		return cmd_fsck(argc - 2, argv + 2);
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(argc - 2, argv + 2);
	if (strcmp(argv[1], "config") == 0) {
		fputs(cfg_default_yaml, stdout);
		return 0;
	}
	fprintf(stderr, "dray: unknown command '%s'\n", argv[1]);
	return usage(stderr, EXIT_USAGE);
}
