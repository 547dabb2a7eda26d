/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - the dray command line: serve, verify, and the daemon's life
 * cycle (signals, background upkeep, orderly shutdown).
 *
 * SIGTERM/SIGINT are blocked in every thread and taken with sigtimedwait()
 * by the main thread, which also runs the periodic upkeep between signals.
 */
#define LOG_MODULE "main"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/config.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "http/http.h"
#include "index/store.h"

#define EXIT_USAGE  2
#define UPKEEP_SECS 60

static const char usage_text[] =
	"usage: dray <command> [options]\n"
	"\n"
	"commands:\n"
	"  serve [CONFIG] [--port-file FILE]\n"
	"                     run the registry (CONFIG: zot-style YAML or JSON;\n"
	"                     without it, the embedded default: 127.0.0.1:5000,\n"
	"                     storage in ./dray-data)\n"
	"  verify CONFIG      check a configuration file and exit (0 valid,\n"
	"                     2 invalid)\n"
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
	struct cfg *cfg;

	if (argc != 1)
		return usage(stderr, EXIT_USAGE);
	cfg = cfg_load(argv[0], &err);
	if (!cfg) {
		fprintf(stderr, "dray: %s\n", err.msg);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < cfg->n_unsupported; i++)
		fprintf(stderr, "dray: warning: %s is not supported yet\n",
		        cfg->unsupported[i]);
	printf("%s: configuration is valid\n", argv[0]);
	cfg_free(cfg);
	return 0;
}

static int write_port_file(const char *path, int port, struct err *err)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%d\n", port);

	return fs_write_atomic(".", path, text, (size_t)n, err);
}

/* Wait for SIGTERM/SIGINT, doing upkeep every UPKEEP_SECS. */
static void run_until_signal(const sigset_t *set, struct store *st)
{
	struct timespec tick = {UPKEEP_SECS, 0};

	for (;;) {
		int sig = sigtimedwait(set, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: shutting down", sig);
			return;
		}
		if (sig < 0 && errno == EAGAIN) {
			size_t n = store_upload_expire(st, 3600 * 1000ULL);
			if (n)
				log_info("dropped %zu idle upload sessions",
				         n);
		}
	}
}

static int cmd_serve(int argc, char **argv)
{
	const char *cfg_path = NULL, *port_file = NULL;
	struct err err = ERR_INIT;
	struct cfg *cfg = NULL;
	struct store *st = NULL;
	struct http_server *srv = NULL;
	struct http_opts hopts = {0};
	struct store_opts sopts = {0};
	sigset_t set;
	int ret = 1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			port_file = argv[++i];
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

	/* Threads started from here on inherit the blocked signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	sopts.dedupe = cfg->storage.dedupe;
	st = store_open_with(cfg->storage.root_directory, &sopts, &err);
	if (!st) {
		log_err("cannot open storage: %s", err.msg);
		goto out;
	}
	hopts.address = cfg->http.address;
	hopts.port = cfg->http.port;
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
	run_until_signal(&set, st);
	ret = 0;
out:
	http_stop(srv);
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
	if (strcmp(argv[1], "config") == 0) {
		fputs(cfg_default_yaml, stdout);
		return 0;
	}
	fprintf(stderr, "dray: unknown command '%s'\n", argv[1]);
	return usage(stderr, EXIT_USAGE);
}
