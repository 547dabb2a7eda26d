/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - the dray command line: serve, verify, and the daemon's life
 * cycle (signals, background upkeep, orderly shutdown).
 *
 * SIGTERM/SIGINT are blocked in every thread and taken with sigtimedwait()
 * by the main thread, which also runs the periodic upkeep between signals.
 * SIGHUP reopens the log files, re-reads the TLS certificate, key and
 * client CA, and the configuration file (daemon/reload.h).
 */
#define LOG_MODULE "main"
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/config.h"
#include "daemon/fsutil.h"
#include "daemon/live.h"
#include "daemon/log.h"
#include "daemon/reload.h"
#include "daemon/progress.h"
#include "daemon/sched.h"
#include "daemon/testhold.h"
#include "fusefs/fusefs.h"
#include "http/auth.h"
#include "http/http.h"
#include "http/ldap.h"
#include "http/metrics.h"
#include "index/apikey.h"
#include "index/store.h"
#include "search/userprefs.h"
#include "search/zot.h"
#include "sync/sync.h"
#include "events/events.h"

#define EXIT_USAGE  2
#define UPKEEP_SECS 60
/*
 * glibc's malloc arenas: at most this many. By default glibc gives each
 * thread that meets a locked arena a new one, up to 8 per CPU, and each
 * keeps what its thread freed (the index build in one thread, the
 * periodic reconcile in another, each request thread...): at 10,000
 * repositories the build at open and the first periodic reconcile left
 * 111 and 100 MB in two arenas (search benchmark). One arena per CPU,
 * and at least two, still lets as many threads allocate at once as can
 * run at once.
 */
#define MALLOC_ARENAS_MIN 2

/* One option of a command. */
struct cli_opt {
	const char *name; /* "--dry-run" */
	char short_name;  /* 'q', or 0 */
	const char *arg;  /* its value's name ("FILE"), NULL for a flag */
	const char *help; /* one line */
};

#define CLI_OPTS_MAX 3 /* options of one command, besides --help */
#define CLI_ARGS_MAX 2 /* operands of one command */

/* One command: its operands, its options and its help. */
struct cli_cmd {
	const char *name;    /* "gc" */
	const char *args;    /* its operands, for the synopsis */
	int min_args;        /* operands it needs */
	int max_args;        /* operands it takes */
	const char *summary; /* one line, for dray --help */
	const char *text;    /* what dray help NAME says after the synopsis */
	const char *exits;   /* its exit statuses */
	struct cli_opt opts[CLI_OPTS_MAX];
};

/* clang-format off */
#define OPT_QUIET \
	{"--quiet", 'q', NULL, "no progress display, only the summary"}

#define OFFLINE_TEXT \
	"Offline: dray serve must not be running on the same storage (the\n" \
	"command refuses a storage in use). Progress goes to standard\n" \
	"error: on a terminal one line rewritten in place, else a line per\n" \
	"tenth of the work; a one-line summary goes to standard output.\n"

#define EXITS_OFFLINE \
	"0 done, 1 failed (the storage cannot be opened, or the pass\n" \
	"  failed), 2 usage error or invalid CONFIG"

/* The commands, in the order dray --help lists them. */
static const struct cli_cmd cli_cmds[] = {
	{"serve", "[CONFIG]", 0, 1, "run the registry (and the mount)",
	 "Serve the OCI distribution API from the storage of CONFIG (a\n"
	 "zot-style YAML or JSON file; without it, the embedded default that\n"
	 "dray config prints) and mount that storage with FUSE at\n"
	 "fuse.mountpoint, if set. Runs until SIGTERM or SIGINT; SIGHUP\n"
	 "reloads the TLS files, re-reads the config and reopens log files.\n",
	 "0 stopped by a signal, 1 could not start, 2 usage error or\n"
	 "  invalid CONFIG",
	 {{"--port-file", 0, "FILE",
	   "once listening, write the port to FILE (for http.port 0)"},
	  {"--mount", 0, "DIR", "mount the storage at DIR (not fuse.mountpoint)"}}},
	{"verify", "CONFIG", 1, 1, "check a configuration file and exit",
	 "Load CONFIG as serve would (every key and value, the htpasswd file,\n"
	 "the TLS files) and exit. A key of zot's schema that dray does not\n"
	 "implement yet is named in a warning; a key of no schema is an\n"
	 "error naming its file, line and column.\n",
	 "0 valid, 2 invalid (or usage error)",
	 {{0}}},
	{"gc", "CONFIG", 1, 1, "one garbage collection pass, offline",
	 "In every repository of CONFIG's storage, apply storage.retention,\n"
	 "then remove untagged manifests nothing kept refers to and blobs no\n"
	 "remaining manifest names, each once older than storage.gcDelay;\n"
	 "then content store copies no repository links, and idle upload\n"
	 "sessions.\n\n" OFFLINE_TEXT,
	 EXITS_OFFLINE,
	 {{"--dry-run", 0, NULL, "count what would be removed, remove nothing"},
	  OPT_QUIET}},
	{"scrub", "CONFIG", 1, 1, "re-hash every blob and manifest, offline",
	 "Re-hash every blob and manifest of CONFIG's storage, each file\n"
	 "once, and check that every manifest's references are present.\n"
	 "Each problem is a line on standard output; nothing is changed.\n\n"
	 OFFLINE_TEXT,
	 "0 no problem, 1 a blob does not match its digest or is missing\n"
	 "  (or the storage cannot be opened), 2 usage error or invalid\n"
	 "  CONFIG",
	 {OPT_QUIET}},
	{"fsck", "CONFIG", 1, 1, "compare the index with the layouts, offline",
	 "Compare the index (.dray/index) with the repositories' layouts:\n"
	 "tags, repositories, index.json changed behind dray's back. Each\n"
	 "disagreement is a line on standard output.\n\n" OFFLINE_TEXT,
	 "0 they agree (or the index was rebuilt), 1 a disagreement (or\n"
	 "  the storage cannot be opened), 2 usage error or invalid CONFIG",
	 {{"--rebuild", 0, NULL, "rebuild the index from the layouts instead"},
	  OPT_QUIET}},
	{"import", "LAYOUT_DIR REPO[:TAG]", 2, 2,
	 "store an OCI image layout in REPO, offline",
	 "Store the OCI image layout in LAYOUT_DIR in repository REPO as a\n"
	 "push (or a copy into the mount) would: every tag of the layout, or\n"
	 "with :TAG only that tag (or the layout's only image, tagged TAG).\n"
	 "Blobs are verified against their digests and deduplicated.\n\n"
	 OFFLINE_TEXT,
	 "0 imported, 1 failed (not a layout, no such tag, a blob missing\n"
	 "  or corrupt, the storage cannot be opened), 2 usage error or\n"
	 "  invalid CONFIG",
	 {{"--config", 0, "CONFIG",
	   "the configuration (default: the embedded one)"},
	  OPT_QUIET}},
	{"sync", "[CONFIG]", 0, 1, "mirror the sync registries once, offline",
	 "Mirror every registry of CONFIG's extensions.sync once, whatever\n"
	 "its pollInterval or onDemand: each upstream repository a content\n"
	 "entry matches (all, without content), under its local name, with\n"
	 "every tag the tag filters let through and the referrers of each;\n"
	 "a tag already here with the upstream's digest is not transferred\n"
	 "again. For preparing a registry that will not reach the upstreams.\n"
	 "Progress counts repositories.\n\n" OFFLINE_TEXT,
	 "0 everything mirrored, 1 something could not be (each failure is\n"
	 "  a line of the log on standard error) or the storage cannot be\n"
	 "  opened, 2 usage error, invalid CONFIG or no registries in it",
	 {OPT_QUIET}},
	{"config", "", 0, 0, "print the embedded default configuration",
	 "Print the configuration serve uses without CONFIG, as YAML.\n", "0",
	 {{0}}},
	{"version", "", 0, 0, "print the version (also dray --version)",
	 "Print dray's version.\n", "0", {{0}}},
	{"help", "[COMMAND]", 0, 1, "print this help, or COMMAND's",
	 "Print the help of dray, or of COMMAND (as dray COMMAND --help).\n",
	 "0, 2 for an unknown COMMAND", {{0}}},
};
/* clang-format on */

#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < CLI_NCMDS; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

static int usage(FILE *out, int code)
{
	fputs("usage: dray COMMAND [options] [arguments]\n"
	      "       dray help COMMAND, or dray COMMAND --help\n\n"
	      "commands:\n",
	      out);
	for (size_t i = 0; i < CLI_NCMDS; i++) {
		char syn[64];

		snprintf(syn, sizeof(syn), "%s %s", cli_cmds[i].name,
		         cli_cmds[i].args);
		fprintf(out, "  %-30s %s\n", syn, cli_cmds[i].summary);
	}
	fputs("\noptions:\n"
	      "  --version                      print the version\n"
	      "  -h, --help                     print this help\n"
	      "\n"
	      "CONFIG is a configuration file in zot's schema, YAML or JSON.\n"
	      "Without one, serve uses the embedded default (dray config\n"
	      "prints it): 127.0.0.1:5000, storage in ./dray-data, mounted at\n"
	      "./dray-mnt.\n"
	      "\n"
	      "exit status: 0 success; 1 failure (the storage cannot be\n"
	      "opened, scrub found damage, fsck a disagreement, an import\n"
	      "failed); 2 usage error or invalid configuration.\n"
	      "\n"
	      "See dray(1) for the configuration keys, signals and files.\n",
	      out);
	return code;
}

/* dray help NAME, dray NAME --help. */
static int cmd_usage(const struct cli_cmd *c, FILE *out, int code)
{
	fprintf(out, "usage: dray %s%s%s%s\n\n%s\noptions:\n", c->name,
	        c->args[0] ? " " : "", c->args, " [options]", c->text);
	for (int i = 0; i < CLI_OPTS_MAX && c->opts[i].name; i++) {
		const struct cli_opt *o = &c->opts[i];
		char syn[48];

		snprintf(syn, sizeof(syn), "%c%c%c %s%s%s",
		         o->short_name ? '-' : ' ',
		         o->short_name ? o->short_name : ' ',
		         o->short_name ? ',' : ' ', o->name, o->arg ? " " : "",
		         o->arg ? o->arg : "");
		fprintf(out, "  %-24s %s\n", syn, o->help);
	}
	fprintf(out, "  %-24s %s\n\nexit status:\n  %s\n", "-h, --help",
	        "print this help", c->exits);
	return code;
}

/* What a command line held: option values, then operands. */
struct cli_args {
	const struct cli_cmd *cmd;
	const char *val[CLI_OPTS_MAX]; /* the value, "" for a flag; or NULL */
	const char *arg[CLI_ARGS_MAX]; /* the operands */
	int nargs;
};

/* The value of option @name of @a's command, or NULL when not given. */
static const char *cli_opt(const struct cli_args *a, const char *name)
{
	for (int i = 0; i < CLI_OPTS_MAX && a->cmd->opts[i].name; i++)
		if (strcmp(a->cmd->opts[i].name, name) == 0)
			return a->val[i];
	return NULL;
}

/* Say what is wrong with a command line; EXIT_USAGE. */
static int cli_bad(const struct cli_cmd *c, const char *fmt, ...) PRINTF(2, 3);

static int cli_bad(const struct cli_cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dray %s: ", c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: dray %s %s [options]; see dray %s --help\n",
	        c->name, c->args, c->name);
	return EXIT_USAGE;
}

/*
 * Parse the @argc arguments @argv after command @name into @a: options
 * anywhere (--name VALUE, --name=VALUE, -x), "--" ends them. Returns -1 to
 * go on, or the exit status: 0 after --help, EXIT_USAGE after a message.
 */
static int cli_parse(const char *name, int argc, char **argv,
                     struct cli_args *a)
{
	const struct cli_cmd *c = cli_find(name);
	bool opts_done = false;

	assert(c);
	*a = (struct cli_args){.cmd = c};
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i], *eq = strchr(s, '=');
		size_t len = eq && s[1] == '-' ? (size_t)(eq - s) : strlen(s);
		int k;

		if (opts_done || s[0] != '-' || !s[1]) {
			if (a->nargs == c->max_args)
				return cli_bad(c, "unexpected operand '%s'", s);
			a->arg[a->nargs++] = s;
			continue;
		}
		if (strcmp(s, "--") == 0) {
			opts_done = true;
			continue;
		}
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
			return cmd_usage(c, stdout, 0);
		for (k = 0; k < CLI_OPTS_MAX && c->opts[k].name; k++) {
			const struct cli_opt *o = &c->opts[k];

			if ((s[1] == '-' && strlen(o->name) == len &&
			     strncmp(o->name, s, len) == 0) ||
			    (s[1] != '-' && o->short_name == s[1] && !s[2]))
				break;
		}
		if (k == CLI_OPTS_MAX || !c->opts[k].name)
			return cli_bad(c, "unknown option '%s'", s);
		if (!c->opts[k].arg && len != strlen(s))
			return cli_bad(c, "option '%s' takes no value", s);
		if (!c->opts[k].arg)
			a->val[k] = "";
		else if (len != strlen(s))
			a->val[k] = s + len + 1;
		else if (i + 1 < argc)
			a->val[k] = argv[++i];
		else
			return cli_bad(c, "option '%s' needs a value", s);
	}
	if (a->nargs < c->min_args)
		return cli_bad(c, "expected %s", c->args);
	return -1;
}

static void warn_unsupported(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_unsupported; i++)
		log_warn("config key %s is not supported yet; ignored",
		         cfg->unsupported[i]);
}

static int cmd_verify(int argc, char **argv)
{
	struct ldap_opts ldap;
	struct err err = ERR_INIT;
	struct htpasswd *users = NULL;
	struct http_opts tls = {0};
	struct cfg *cfg;
	struct cli_args a;
	int rc = cli_parse("verify", argc, argv, &a);

	if (rc >= 0)
		return rc;
	cfg = cfg_load(a.arg[0], &err);
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
	if (reload_ldap_opts(cfg, &ldap) && ldap_opts_check(&ldap, &err) < 0) {
		fprintf(stderr, "dray: %s\n", err.msg);
		cfg_free(cfg);
		return EXIT_USAGE;
	}
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
	printf("%s: configuration is valid\n", a.arg[0]);
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

/* Wait for SIGTERM/SIGINT; SIGHUP reloads the TLS files and config. */
static void wait_for_signal(const sigset_t *set, struct http_server *srv,
                            struct reload *rl)
{
	for (;;) {
		int sig = sigwaitinfo(set, NULL);
		struct err err = ERR_INIT;

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: shutting down", sig);
			return;
		}
		if (sig == SIGHUP)
			log_reopen(); /* logrotate renamed them */
		if (sig == SIGHUP && http_tls_reload(srv, &err) < 0)
			log_err("tls: reload failed, keeping the previous "
			        "certificate: %s",
			        err.msg);
		err = ERR_INIT;
		if (sig == SIGHUP && reload_run(rl, &err) < 0)
			continue; /* reload_run() logged why */
	}
}

/* What background tasks work on. */
struct bg {
	struct store *st;           /* the store */
	struct live *cfg;           /* the configuration in force (SIGHUP) */
	struct metrics *metrics;    /* extensions.metrics, or NULL */
	struct sync_mirror *mirror; /* extensions.sync's, or NULL */
	struct timed {
		void (*run)(struct sched *s, void *arg);
		void *arg;
		const char *name;
		struct metrics *metrics;
	} timed[6]; /* the tasks, each timed into metrics */
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
	struct live_ref *ref;
	const struct cfg *cfg = live_get(bg->cfg, &ref);
	struct gc_opts opts = {.delay_ms = cfg->storage.gc_delay_ms,
	                       .retention = &cfg->storage.retention};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	uint64_t t0 = clock_mono_ms();
	struct metrics_gc m;

	if (store_gc(bg->st, &opts, gc_should_stop, s, &rep, &err) < 0) {
		log_err("gc: %s", err.msg);
	} else if (rep.skipped) {
		live_put(ref); /* another node's pass (dray_gc_lease_skips) */
		return;
	} else {
		log_gc(&rep, false);
	}
	m = (struct metrics_gc){.failed = err.code != ERR_OK,
	                        .ms = clock_mono_ms() - t0,
	                        .manifests = rep.manifests,
	                        .blobs = rep.blobs,
	                        .uploads = rep.uploads,
	                        .bytes = rep.bytes};
	metrics_gc_pass(bg->metrics, &m);
	live_put(ref);
}

static void task_uploads(struct sched *s, void *arg)
{
	struct bg *bg = arg;
	struct live_ref *ref;
	const struct cfg *cfg = live_get(bg->cfg, &ref);
	size_t n;

	(void)s;
	n = store_upload_expire(bg->st, cfg->storage.gc_delay_ms);
	live_put(ref);
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
	if (store_scrub(bg->st, log_problem, NULL, NULL, &rep, &err) < 0)
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
	/* A pass over many repositories leaves freed pages behind. */
	malloc_trim(0);
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
		         store_dedupe_on(bg->st) ? "on" : "off", n);
}

/* pollInterval: the registries whose interval has passed, mirrored. */
static void task_sync(struct sched *s, void *arg)
{
	struct bg *bg = arg;
	struct sync_run_opts opts = {.should_stop = gc_should_stop, .arg = s};
	struct sync_run_stats rs = {0};
	struct err err = ERR_INIT;

	if (sync_mirror_run(bg->mirror, &opts, &rs, &err) < 0 &&
	    err.code != ERR_BUSY)
		log_err("sync: %s", err.msg);
}

static struct sched *start_background(struct bg *bg, const struct cfg *cfg,
                                      struct err *err)
{
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
		/* At start, as zot does, then every smallest pollInterval;
		 * last, as it is left out when nothing polls. */
		{"sync", sync_mirror_interval(bg->mirror), 0, task_sync, bg},
	};

	/* The sync task only with a registry to poll (zot's generators). */
	size_t n = sizeof(tasks) / sizeof(tasks[0]) -
	           (sync_mirror_interval(bg->mirror) ? 0 : 1);

	_Static_assert(sizeof(tasks) / sizeof(tasks[0]) <=
	                       sizeof(bg->timed) / sizeof(bg->timed[0]),
	               "bg->timed");
	for (size_t i = 0; bg->metrics && i < n; i++) {
		bg->timed[i] = (struct timed){tasks[i].run, tasks[i].arg,
		                              tasks[i].name, bg->metrics};
		tasks[i].run = run_timed;
		tasks[i].arg = &bg->timed[i];
	}

	return sched_start(tasks, (int)n, err);
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
	if (log_open(NULL, (*cfgp)->log.level, &err) < 0 ||
	    log_audit_open((*cfgp)->log.audit, &err) < 0) {
		fprintf(stderr, "dray: %s\n", err.msg);
		return NULL;
	}
	warn_test_clock();
	o.dedupe = (*cfgp)->storage.dedupe;
	o.index_dir = (*cfgp)->storage.index_directory;
	st = store_open_with((*cfgp)->storage.root_directory, &o, &err);
	if (!st)
		fprintf(stderr,
		        "dray: cannot open storage '%s': %s (is dray serve "
		        "running on it?)\n",
		        (*cfgp)->storage.root_directory, err.msg);
	return st;
}

/* What an offline command was asked for, and its progress display. */
struct offline {
	enum progress_mode mode;     /* of the display: off with --quiet */
	bool flag;                   /* gc --dry-run, fsck --rebuild */
	const char *dir;             /* import: the layout */
	char repo[512];              /* import: into this repository */
	char *tag;                   /* import: only this tag, or NULL: all */
	struct progress *shown;      /* the display, once started */
	struct store_progress last;  /* what the store said last */
	struct store_progress_cb cb; /* feeds the display */
};

/*
 * Run offline command @fn on the store of config @path: its exit status,
 * EXIT_USAGE for a bad config, 1 when the store cannot be opened.
 */
static int run_offline(const char *path, const struct store_opts *extra,
                       int (*fn)(struct store *st, const struct cfg *cfg,
                                 struct offline *o),
                       struct offline *o)
{
	struct cfg *cfg = NULL;
	struct store *st = open_offline(path, extra, &cfg);
	int ret = !cfg ? EXIT_USAGE : st ? fn(st, cfg, o) : 1;

	store_close(st);
	cfg_free(cfg);
	return ret;
}

/* The store's progress callback: on to the display. */
static void show_progress(void *arg, const struct store_progress *sp)
{
	struct offline *o = arg;
	struct progress_state s = {sp->unit, sp->done, sp->total, sp->bytes,
	                           sp->bytes_total};

	o->last = *sp;
	progress_update(o->shown, &s);
}

/* Start @o's display, its lines starting with @title; the clock runs. */
static void offline_start(struct offline *o, const char *title)
{
	o->shown = progress_new(STDERR_FILENO, o->mode, title);
	o->cb = (struct store_progress_cb){show_progress, o};
}

/*
 * Erase @o's display and say how long it ran, and with @bytes how much it
 * read or freed and how fast, into @buf: "1.2 MiB in 0.3 s, 4.0 MiB/s".
 */
static void offline_end(struct offline *o, bool bytes, char *buf, size_t size)
{
	uint64_t ms = progress_elapsed_ms(o->shown);

	if (bytes)
		progress_fmt_took(o->last.bytes, ms, buf, size);
	else
		progress_fmt_time(ms, buf, size);
	progress_free(o->shown);
	o->shown = NULL;
}

/* A problem found by scrub or fsck: a line of standard output. */
static void print_problem(void *arg, const char *problem)
{
	struct offline *o = arg;

	progress_clear(o->shown);
	printf("%s\n", problem);
	fflush(stdout);
}

static int gc_run(struct store *st, const struct cfg *cfg, struct offline *o)
{
	struct gc_opts opts = {.dry_run = o->flag,
	                       .delay_ms = cfg->storage.gc_delay_ms,
	                       .retention = &cfg->storage.retention,
	                       .progress = &o->cb};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	char bytes[32], took[32];

	offline_start(o, "gc");
	if (store_gc(st, &opts, NULL, NULL, &rep, &err) < 0) {
		progress_free(o->shown);
		fprintf(stderr, "dray: gc: %s\n", err.msg);
		return err_exit_code(&err);
	}
	if (rep.skipped) {
		progress_free(o->shown);
		fprintf(stderr, "dray: gc: another node holds the GC lease; "
		                "it collects\n");
		return 1;
	}
	offline_end(o, false, took, sizeof(took));
	progress_fmt_bytes(rep.bytes, bytes, sizeof(bytes));
	printf("gc%s: %llu repositories in %s, %s %zu tags, %zu manifests, "
	       "%zu blobs, %zu store copies (%s), %zu uploads\n",
	       opts.dry_run ? " (dry run)" : "",
	       (unsigned long long)o->last.total, took,
	       opts.dry_run ? "would remove" : "removed", rep.tags,
	       rep.manifests, rep.blobs, rep.store_blobs, bytes, rep.uploads);
	return 0;
}

static int scrub_run(struct store *st, const struct cfg *cfg, struct offline *o)
{
	struct check_report rep = {0};
	struct err err = ERR_INIT;
	char took[64];

	(void)cfg;
	offline_start(o, "scrub");
	if (store_scrub(st, print_problem, o, &o->cb, &rep, &err) < 0) {
		progress_free(o->shown);
		fprintf(stderr, "dray: scrub: %s\n", err.msg);
		return err_exit_code(&err);
	}
	offline_end(o, true, took, sizeof(took));
	printf("scrub: %zu blobs checked, %zu problems; %s\n", rep.checked,
	       rep.problems, took);
	return rep.problems ? 1 : 0;
}

static int fsck_run(struct store *st, const struct cfg *cfg, struct offline *o)
{
	struct check_report rep = {0};
	struct err err = ERR_INIT;
	char took[32];

	(void)cfg;
	if (o->flag) { /* store_open_with() did it */
		printf("fsck: index rebuilt from the layouts\n");
		return 0;
	}
	offline_start(o, "fsck");
	if (store_fsck(st, print_problem, o, &o->cb, &rep, &err) < 0) {
		progress_free(o->shown);
		fprintf(stderr, "dray: fsck: %s\n", err.msg);
		return err_exit_code(&err);
	}
	offline_end(o, false, took, sizeof(took));
	printf("fsck: %zu repositories checked, %zu disagreements in %s\n",
	       rep.checked, rep.problems, took);
	return rep.problems ? 1 : 0;
}

static int import_run(struct store *st, const struct cfg *cfg,
                      struct offline *o)
{
	struct store_import_stats stats;
	struct err err = ERR_INIT;
	char took[64];

	(void)cfg;
	offline_start(o, "import");
	if (store_import(st, o->dir, o->repo, o->tag, &o->cb, &stats, &err) <
	    0) {
		progress_free(o->shown);
		fprintf(stderr, "dray: import: %s\n", err.msg);
		return err_exit_code(&err);
	}
	o->last.bytes = stats.bytes; /* stored, not skipped */
	offline_end(o, true, took, sizeof(took));
	printf("imported %s into %s%s%s: %zu manifests, %zu blobs stored, "
	       "%zu already present; %s\n",
	       o->dir, o->repo, o->tag ? ":" : "", o->tag ? o->tag : "",
	       stats.manifests, stats.blobs, stats.blobs_present, took);
	return 0;
}

/* A mirror run's progress: on to the display, in repositories. */
static void show_sync_progress(void *arg, uint64_t done, uint64_t total)
{
	struct store_progress sp = {"repositories", done, total, 0, 0};

	show_progress(arg, &sp);
}

static int sync_run(struct store *st, const struct cfg *cfg, struct offline *o)
{
	struct sync_run_opts opts = {
		.all = true, .arg = o, .progress = show_sync_progress};
	struct sync_run_stats rs = {0};
	struct sync_mirror *m = NULL;
	struct err err = ERR_INIT;
	struct sync *s = NULL;
	uint64_t failed;
	char took[32], unsigned_s[48] = "";
	int ret = 1;

	if (!cfg->extensions.sync.n_registries) {
		fprintf(stderr, "dray sync: the configuration has no "
		                "extensions.sync registries\n");
		return EXIT_USAGE;
	}
	s = sync_new(&cfg->extensions.sync, st, &err);
	if (!s) {
		fprintf(stderr, "dray sync: %s\n", err.msg);
		return err.code == ERR_NOMEM ? 1 : EXIT_USAGE;
	}
	m = sync_mirror_new(s, &err);
	if (!m) {
		fprintf(stderr, "dray sync: %s\n", err.msg);
		goto out;
	}
	offline_start(o, "sync");
	if (sync_mirror_run(m, &opts, &rs, &err) < 0) {
		progress_free(o->shown);
		fprintf(stderr, "dray sync: %s\n", err.msg);
		goto out;
	}
	offline_end(o, false, took, sizeof(took));
	failed = rs.repos_failed + rs.tags_failed + rs.referrers_failed;
	if (rs.tags_unsigned) /* onlySigned */
		snprintf(unsigned_s, sizeof(unsigned_s),
		         ", %llu unsigned left out",
		         (unsigned long long)rs.tags_unsigned);
	printf("sync: %llu repositories, %llu tags mirrored, %llu here "
	       "already%s, %llu referrers, %llu failed in %s\n",
	       (unsigned long long)rs.repos,
	       (unsigned long long)rs.tags_mirrored,
	       (unsigned long long)rs.tags_skipped, unsigned_s,
	       (unsigned long long)rs.referrers, (unsigned long long)failed,
	       took);
	if (failed)
		fprintf(stderr,
		        "dray sync: %llu repositories, %llu tags and %llu "
		        "referrers could not be mirrored (see the log)\n",
		        (unsigned long long)rs.repos_failed,
		        (unsigned long long)rs.tags_failed,
		        (unsigned long long)rs.referrers_failed);
	ret = failed ? 1 : 0;
out:
	sync_mirror_free(m);
	sync_free(s);
	return ret;
}

/*
 * dray gc|scrub|fsck|sync CONFIG and dray import LAYOUT_DIR REPO[:TAG]
 * [--config CONFIG]: offline, on a storage no daemon holds. import does
 * what a `cp -r` into the mount does, for machines without FUSE.
 */
static int cmd_offline(const char *name, int argc, char **argv)
{
	struct store_opts so = {.no_reconcile = true};
	struct offline o = {0};
	struct cli_args a;
	char *colon;
	int rc = cli_parse(name, argc, argv, &a);

	if (rc >= 0)
		return rc;
	o.mode = cli_opt(&a, "--quiet") ? PROGRESS_OFF
	                                : progress_mode_of(STDERR_FILENO);
	if (strcmp(name, "gc") == 0) {
		o.flag = cli_opt(&a, "--dry-run") != NULL;
		return run_offline(a.arg[0], NULL, gc_run, &o);
	}
	if (strcmp(name, "scrub") == 0)
		return run_offline(a.arg[0], NULL, scrub_run, &o);
	if (strcmp(name, "sync") == 0)
		return run_offline(a.arg[0], NULL, sync_run, &o);
	if (strcmp(name, "fsck") == 0) {
		o.flag = cli_opt(&a, "--rebuild") != NULL;
		if (o.flag)
			so = (struct store_opts){.rebuild_index = true};
		return run_offline(a.arg[0], &so, fsck_run, &o);
	}
	o.dir = a.arg[0];
	if (snprintf(o.repo, sizeof(o.repo), "%s", a.arg[1]) >=
	    (int)sizeof(o.repo))
		return cli_bad(a.cmd, "'%s' is too long", a.arg[1]);
	/* A name has no ':'; the last one (after any '/') starts the tag. */
	colon = strrchr(o.repo, ':');
	if (colon && !strchr(colon, '/')) {
		*colon = '\0';
		o.tag = colon + 1;
	}
	return run_offline(cli_opt(&a, "--config"), NULL, import_run, &o);
}

/* dray config, dray version, dray help [COMMAND]. */
static int cmd_info(const char *name, int argc, char **argv)
{
	const struct cli_cmd *c;
	struct cli_args a;
	int rc = cli_parse(name, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (strcmp(name, "config") == 0) {
		fputs(cfg_default_yaml, stdout);
		return 0;
	}
	if (strcmp(name, "version") == 0) {
		printf("dray %s\n", DRAY_VERSION);
		return 0;
	}
	if (!a.nargs)
		return usage(stdout, 0);
	c = cli_find(a.arg[0]);
	if (!c)
		return cli_bad(a.cmd, "unknown command '%s'", a.arg[0]);
	return cmd_usage(c, stdout, 0);
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

/* store_opts.on_change: each image change becomes an event. */
static void post_event(void *arg, const struct store_change *c)
{
	struct err err = ERR_INIT;

	if (events_post(
		    arg,
		    c->deleted ? EVENTS_IMAGE_DELETED : EVENTS_IMAGE_UPDATED,
		    c->repo, c->reference, c->digest, c->media_type, &err) < 0)
		log_err("extensions.events: %s:%s: event not spooled: %s",
		        c->repo, c->reference, err.msg);
}

/* store_opts.on_change_end: the events announced go out, or not. */
static void settle_events(void *arg, bool published)
{
	events_settle(arg, published);
}

/* events_recover(): is what an event a crash left pending true now? */
static bool event_true(void *arg, enum events_kind kind, const char *repo,
                       const char *reference, const char *digest)
{
	struct manifest_desc md;
	struct err err = ERR_INIT;
	char have[DIGEST_STR_MAX];
	bool here;

	here = store_manifest_get(arg, repo, reference, &md, NULL, &err) == 0;
	if (here)
		digest_format(&md.digest, have);
	if (kind == EVENTS_IMAGE_DELETED)
		return !here || strcmp(have, digest) != 0;
	return here && !strcmp(have, digest);
}

static int cmd_serve(int argc, char **argv)
{
	const char *cfg_path = NULL, *port_file = NULL, *mount = NULL;
	struct err err = ERR_INIT;
	struct cfg *cfg = NULL;
	struct store *st = NULL;
	struct http_server *srv = NULL;
	struct http_opts hopts = {0};
	struct ldap_opts ldap;
	struct store_opts sopts = {0};
	struct sched *sched = NULL;
	struct rfs *fs = NULL;
	struct metrics *metrics = NULL;
	struct sync *sync = NULL;
	struct zsearch *search = NULL;
	struct userprefs *prefs = NULL;
	struct events *events = NULL;
	struct sync_mirror *mirror = NULL;
	struct metrics_info mi;
	struct mgmt_auth ma;
	char *mgmt = NULL, btype[64];
	struct apikeys *apikeys = NULL;
	struct store_rules rules;
	struct reload rl = {0};
	struct bg bg;
	sigset_t set;
	struct cli_args a;
	int ret = cli_parse("serve", argc, argv, &a);

	if (ret >= 0)
		return ret;
	ret = 1;
	cfg_path = a.arg[0];
	port_file = cli_opt(&a, "--port-file");
	mount = cli_opt(&a, "--mount");
	cfg = cfg_load(cfg_path, &err);
	if (!cfg) {
		fprintf(stderr, "dray: %s\n", err.msg);
		return EXIT_USAGE;
	}
	log_set_format(cfg->log.format);
	if (log_open(cfg->log.output, cfg->log.level, &err) < 0 ||
	    log_audit_open(cfg->log.audit, &err) < 0) {
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

	/* Kept to the end: the first versions of the rules borrow from it. */
	rl.cfg = live_new(live_ref_new(cfg, NULL, &err), &err);
	if (!rl.cfg) {
		log_err("%s", err.msg);
		goto out;
	}
	reload_opts(cfg, &hopts, &rules, &ldap);
	sopts.dedupe = cfg->storage.dedupe;
	sopts.access = rules.access;
	sopts.lint = rules.lint;
	sopts.n_lint = rules.n_lint;
	sopts.max_uploads = (size_t)cfg->storage.max_upload_sessions;
	sopts.max_uploads_per_repo =
		(size_t)cfg->storage.max_upload_sessions_per_repo;
	sopts.max_blob_size = cfg->storage.max_blob_size;
	sopts.index_dir = cfg->storage.index_directory;
	if (cfg->extensions.events.enable) {
		events = events_open(&cfg->extensions.events,
		                     cfg->storage.root_directory, &err);
		if (!events) {
			log_err("extensions.events: %s", err.msg);
			goto out;
		}
		sopts.on_change = post_event;
		sopts.on_change_end = settle_events;
		sopts.on_change_arg = events;
	}
	st = store_open_with(cfg->storage.root_directory, &sopts, &err);
	if (!st) {
		log_err("cannot open storage: %s", err.msg);
		goto out;
	}
	/* The index build at open freed most of what it used. */
	malloc_trim(0);
	if (events && (events_recover(events, event_true, st, &err) < 0 ||
	               events_start(events, &err) < 0)) {
		log_err("extensions.events: %s", err.msg);
		goto out;
	}
	hopts.address = cfg->http.address;
	hopts.port = cfg->http.port;
	hopts.max_conns = (unsigned)cfg->http.max_connections;
	hopts.max_conns_per_ip = (unsigned)cfg->http.max_connections_per_client;
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
	ma = (struct mgmt_auth){.htpasswd = cfg->http.htpasswd_path != NULL,
	                        .ldap = cfg->http.ldap.on,
	                        .apikey = cfg->http.apikey,
	                        .bearer_realm = cfg->http.bearer_realm,
	                        .bearer_service = cfg->http.bearer_service};
	if (cfg->extensions.mgmt_enable &&
	    !(mgmt = metrics_mgmt_json(&mi, &ma))) {
		log_err("cannot allocate the mgmt answer");
		goto out;
	}
	if (metrics && events)
		metrics_set_extra(metrics, events_metrics, events);
	hopts.metrics = metrics;
	hopts.metrics_path = cfg->extensions.metrics_path;
	hopts.mgmt_json = mgmt;
	hopts.ui = cfg->extensions.ui_enable;
	hopts.tls_cert = cfg->http.tls_cert;
	hopts.tls_key = cfg->http.tls_key;
	hopts.tls_cacert = cfg->http.tls_cacert;
	hopts.mtls_attrs = (const char *const *)cfg->http.mtls_attrs;
	hopts.n_mtls_attrs = cfg->http.n_mtls_attrs;
	hopts.mtls_uri_pattern = cfg->http.mtls_uri_pattern;
	hopts.mtls_uri_index = (unsigned)cfg->http.mtls_uri_index;
	hopts.mtls_dns_index = (unsigned)cfg->http.mtls_dns_index;
	hopts.mtls_email_index = (unsigned)cfg->http.mtls_email_index;
	if (cfg->http.apikey && !(apikeys = apikeys_open(st, &err))) {
		log_err("http.auth.apikey: %s", err.msg);
		goto out;
	}
	hopts.apikeys = apikeys;
	if (cfg->extensions.sync.enable &&
	    !(sync = sync_new(&cfg->extensions.sync, st, &err))) {
		log_err("extensions.sync: %s", err.msg);
		goto out;
	}
	if (sync && !(mirror = sync_mirror_new(sync, &err))) {
		log_err("extensions.sync: %s", err.msg);
		goto out;
	}
	if (metrics && mirror &&
	    metrics_add_extra(metrics, sync_metrics, mirror, &err) < 0) {
		log_err("extensions.sync: %s", err.msg);
		goto out;
	}
	hopts.sync = sync;
	if (cfg->extensions.search_enable &&
	    !(search = zsearch_new(st, 0, &err))) {
		log_err("extensions.search: %s", err.msg);
		goto out;
	}
	hopts.search = search;
	/* zot keeps user preferences when search and the UI are on. */
	if (search && cfg->extensions.ui_enable) {
		prefs = userprefs_open(cfg->storage.root_directory, NULL, &err);
		if (!prefs) {
			log_err("user preferences: %s", err.msg);
			goto out;
		}
		zsearch_set_userprefs(search, prefs);
	}
	hopts.userprefs = prefs;
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
	bg = (struct bg){
		.st = st, .cfg = rl.cfg, .metrics = metrics, .mirror = mirror};
	sched = start_background(&bg, cfg, &err);
	if (!sched) {
		log_err("%s", err.msg);
		goto out;
	}
	rl = (struct reload){cfg_path, cfg, rl.cfg, st, srv, sched, mirror};
	wait_for_signal(&set, srv, &rl);
	http_set_ready(srv, false); /* /readyz: 503 from here on */
	test_hold("shutdown", "readyz");
	/* First: whatever the rest of the stop does, no mount is left. */
	rfs_unmount(fs);
	ret = 0;
out:
	sched_stop(sched);
	http_stop(srv);
	/* After the scheduler and HTTP: no run now, no scrape reads it. */
	sync_mirror_free(mirror);
	apikeys_close(apikeys); /* after HTTP: no request uses them now */
	sync_free(sync); /* after HTTP: no request is using it */
	zsearch_free(search); /* after HTTP, as sync */
	userprefs_close(prefs);
	metrics_free(metrics);
	free(mgmt);
	rfs_stop(fs); /* after HTTP: no request can reach its hook now */
	store_close(st);
	events_close(events); /* after the store: no change can come now */
	if (ret == 0)
		log_info("stopped");
	log_close();
	live_free(rl.cfg); /* the last version SIGHUP loaded, if any */
	cfg_free(cfg);
	return ret;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd)
		return usage(stderr, EXIT_USAGE);
	if (strcmp(cmd, "--version") == 0)
		cmd = "version";
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		cmd = "help";
	if (!cli_find(cmd)) {
		fprintf(stderr, "dray: unknown %s '%s'; see dray --help\n",
		        cmd[0] == '-' ? "option" : "command", cmd);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "serve") == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		mallopt(M_ARENA_MAX, (int)(cpus > MALLOC_ARENAS_MIN
		                                   ? cpus
		                                   : MALLOC_ARENAS_MIN));
		return cmd_serve(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc - 2, argv + 2);
	if (strcmp(cmd, "config") == 0 || strcmp(cmd, "version") == 0 ||
	    strcmp(cmd, "help") == 0)
		return cmd_info(cmd, argc - 2, argv + 2);
	return cmd_offline(cmd, argc - 2, argv + 2);
}
