/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - counters and their Prometheus text exposition (metrics.h),
 * and the endpoints that do not serve the registry: /metrics, the health
 * probes and zot's mgmt extension.
 *
 * The hot path (metrics_request and friends) does relaxed atomic adds on
 * a shard the calling thread owns for its life (threads share a shard
 * only past SHARDS threads), and finds a repository's slot by
 * hashing its name into a table that never moves: a slot's name is set
 * once, by compare-and-swap, and never freed before metrics_free().
 */
#define LOG_MODULE "metrics"
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/clock.h"
#include "daemon/log.h"
#include "daemon/opstat.h"
#include "http/http_int.h"
#include "http/metrics.h"
#include "index/lease.h"

#define SHARDS     OPSTAT_SHARDS
#define N_METHODS  8 /* methods[] and "other" */
#define CODE_MIN   100
#define N_CODES    500   /* 100..599 */
#define N_BUCKETS  8     /* zot's default buckets and +Inf */
#define REPO_SLOTS 16384 /* a power of two; at most 61% full */
#define N_TASKS    8

static const char *const methods[N_METHODS] = {
	"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "other",
};

/* zot's GetDefaultBuckets(), in microseconds; the last is +Inf. */
static const uint64_t bucket_us[N_BUCKETS - 1] = {
	50000, 500000, 1000000, 5000000, 30000000, 60000000, 600000000,
};
static const char *const bucket_le[N_BUCKETS] = {
	"0.05", "0.5", "1", "5", "30", "60", "600", "+Inf",
};

/* One thread's request counters. */
struct shard {
	uint64_t requests[N_METHODS][N_CODES];     /* by method and status */
	uint64_t lat_bucket[N_METHODS][N_BUCKETS]; /* not cumulative */
	uint64_t lat_us[N_METHODS];                /* latency sums */
} __attribute__((aligned(64)));

/* One repository's series; one cache line, so slots do not share. */
struct repo {
	char *name;         /* set once (CAS), or NULL: free slot */
	uint64_t downloads; /* manifests served */
	uint64_t uploads;   /* manifests stored */
	uint64_t lat_count; /* requests naming it */
	uint64_t lat_us;    /* their latency sum */
	int64_t bytes;      /* size when last measured + 1; 0: unknown
	                       (so that calloc's zeroes need no setting) */
	int changed;        /* measure again at the next scrape */
} __attribute__((aligned(64)));

struct metrics {
	struct shard shards[SHARDS];
	struct repo *slots;   /* REPO_SLOTS of them */
	unsigned n_repos;     /* slots taken or being taken, atomic */
	struct repo other;    /* past METRICS_REPOS_MAX */
	struct repo none;     /* paths naming no repository ("N/A") */
	bool listed;          /* the store's repositories were listed */
	bool counting;        /* opstat_enable() was called for it */
	pthread_mutex_t lock; /* render(): one at a time */
	/* Garbage collection. */
	uint64_t gc_runs[2];      /* by error=false, true */
	uint64_t gc_count, gc_ms; /* zot_gc_duration_seconds */
	uint64_t gc_manifests, gc_blobs, gc_uploads, gc_bytes;
	/* Background tasks, under task_lock (one thread reports them). */
	pthread_mutex_t task_lock;
	struct {
		const char *name;           /* NULL: free */
		uint64_t bucket[N_BUCKETS]; /* not cumulative */
		uint64_t us;                /* sum */
	} tasks[N_TASKS];
	char *version, *commit, *binary_type, *dist_spec_version, *root;
	void (*extra)(FILE *f, void *arg); /* metrics_set_extra() */
	void *extra_arg;
	struct {
		void (*fn)(FILE *f, void *arg);
		void *arg;
	} more[METRICS_MORE_MAX]; /* metrics_add_extra() */
	size_t n_more;
};

static uint64_t add(uint64_t *p, uint64_t v)
{
	return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static struct shard *shard_of(struct metrics *m)
{
	return &m->shards[opstat_shard()];
}

static int method_index(const char *method)
{
	for (int i = 0; i < N_METHODS - 1; i++)
		if (strcmp(methods[i], method) == 0)
			return i;
	return N_METHODS - 1;
}

static int bucket_index(uint64_t us)
{
	int i = 0;

	while (i < N_BUCKETS - 1 && us > bucket_us[i])
		i++;
	return i;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * The slot of @name, taking a free one the first time @name is seen (the
 * only allocation, once per repository), or m->other when the table holds
 * METRICS_REPOS_MAX names or memory is short.
 */
static struct repo *repo_of(struct metrics *m, const char *name)
{
	size_t i = hash(name) & (REPO_SLOTS - 1);
	char *mine = NULL;

	for (size_t probe = 0; probe < REPO_SLOTS; probe++) {
		struct repo *r = &m->slots[i];
		char *seen = __atomic_load_n(&r->name, __ATOMIC_ACQUIRE);

		if (!seen) {
			if (!mine) {
				if (__atomic_add_fetch(&m->n_repos, 1,
				                       __ATOMIC_RELAXED) >
				    METRICS_REPOS_MAX)
					break;
				mine = strdup(name);
				if (!mine)
					break;
			}
			if (__atomic_compare_exchange_n(&r->name, &seen, mine,
			                                false, __ATOMIC_ACQ_REL,
			                                __ATOMIC_ACQUIRE))
				return r;
			/* Another thread took it: @seen is its name. */
		}
		if (strcmp(seen, name) == 0) {
			if (mine) {
				free(mine);
				__atomic_sub_fetch(&m->n_repos, 1,
				                   __ATOMIC_RELAXED);
			}
			return r;
		}
		i = (i + 1) & (REPO_SLOTS - 1);
	}
	if (!mine) /* the table is full: give back the reservation */
		__atomic_sub_fetch(&m->n_repos, 1, __ATOMIC_RELAXED);
	free(mine);
	return &m->other;
}

void metrics_request(struct metrics *m, const char *method, unsigned status,
                     uint64_t latency_us, const char *repo)
{
	struct shard *s;
	struct repo *r;
	int mi;

	if (!m)
		return;
	s = shard_of(m);
	mi = method_index(method);
	if (status >= CODE_MIN && status < CODE_MIN + N_CODES)
		add(&s->requests[mi][status - CODE_MIN], 1);
	add(&s->lat_bucket[mi][bucket_index(latency_us)], 1);
	add(&s->lat_us[mi], latency_us);
	r = repo ? repo_of(m, repo) : &m->none;
	add(&r->lat_count, 1);
	add(&r->lat_us, latency_us);
}

void metrics_download(struct metrics *m, const char *repo)
{
	if (m)
		add(&repo_of(m, repo)->downloads, 1);
}

void metrics_upload(struct metrics *m, const char *repo)
{
	if (m)
		add(&repo_of(m, repo)->uploads, 1);
}

void metrics_repo_changed(struct metrics *m, const char *repo)
{
	if (m)
		__atomic_store_n(&repo_of(m, repo)->changed, 1,
		                 __ATOMIC_RELAXED);
}

void metrics_gc_pass(struct metrics *m, const struct metrics_gc *gc)
{
	if (!m)
		return;
	add(&m->gc_runs[gc->failed], 1);
	add(&m->gc_count, 1);
	add(&m->gc_ms, gc->ms);
	add(&m->gc_manifests, gc->manifests);
	add(&m->gc_blobs, gc->blobs);
	add(&m->gc_uploads, gc->uploads);
	add(&m->gc_bytes, gc->bytes);
}

void metrics_task(struct metrics *m, const char *name, uint64_t ms)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->task_lock);
	for (int i = 0; i < N_TASKS; i++) {
		if (m->tasks[i].name && strcmp(m->tasks[i].name, name) != 0)
			continue;
		m->tasks[i].name = name;
		m->tasks[i].bucket[bucket_index(ms * 1000)]++;
		m->tasks[i].us += ms * 1000;
		break;
	}
	pthread_mutex_unlock(&m->task_lock);
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

struct metrics *metrics_new(const struct metrics_info *info, struct err *err)
{
	struct metrics *m = NULL;

	if (posix_memalign((void **)&m, 64, sizeof(*m)) != 0) {
		err_set(err, ERR_NOMEM, "cannot allocate the metrics");
		return NULL;
	}
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->task_lock, NULL);
	m->slots = calloc(REPO_SLOTS, sizeof(*m->slots));
	m->version = dup_or_empty(info->version);
	m->commit = dup_or_empty(info->commit);
	m->binary_type = dup_or_empty(info->binary_type);
	m->dist_spec_version = dup_or_empty(info->dist_spec_version);
	m->root = dup_or_empty(info->root);
	if (!m->slots || !m->version || !m->commit || !m->binary_type ||
	    !m->dist_spec_version || !m->root) {
		metrics_free(m);
		err_set(err, ERR_NOMEM, "cannot allocate the metrics");
		return NULL;
	}
	m->counting = true;
	opstat_enable(); /* the mount, the locks: counted from now on */
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->counting)
		opstat_disable();
	if (m->slots)
		for (size_t i = 0; i < REPO_SLOTS; i++)
			free(m->slots[i].name);
	free(m->slots);
	free(m->version);
	free(m->commit);
	free(m->binary_type);
	free(m->dist_spec_version);
	free(m->root);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->task_lock);
	free(m);
}

/* Sum of the sizes of the regular files under the directory @fd (closed). */
static int64_t tree_bytes(int fd, bool recurse)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int64_t total = 0;

	if (!d) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(sb.st_mode)) {
			total += sb.st_size;
		} else if (S_ISDIR(sb.st_mode) &&
		           (recurse || !strcmp(e->d_name, "blobs"))) {
			int sub = openat(dirfd(d), e->d_name,
			                 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			int64_t n = sub < 0 ? -1 : tree_bytes(sub, true);

			if (n > 0)
				total += n;
		}
	}
	closedir(d);
	return total;
}

/*
 * Bytes of @rel under the storage root: the layout's own files and its
 * blobs/, not the repositories nested in it. -1 if it is gone.
 */
static int64_t dir_bytes(const struct metrics *m, const char *rel, bool layout)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", m->root, rel) >=
	    (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return tree_bytes(fd, !layout);
}

/* The first scrape measures every repository the store has. */
static void list_repos(struct metrics *m, struct store *st)
{
	struct strvec names = {0};
	const char *last = NULL;
	char *prev = NULL;
	bool more = true;

	while (more) {
		struct err err = ERR_INIT;

		strvec_release(&names);
		names = (struct strvec){0};
		if (store_catalog(st, last, 1000, &names, &more, &err) < 0) {
			log_warn("cannot list repositories: %s", err.msg);
			break;
		}
		for (size_t i = 0; i < names.n; i++)
			metrics_repo_changed(m, names.v[i]);
		if (!names.n)
			break;
		free(prev);
		prev = strdup(names.v[names.n - 1]);
		if (!prev)
			break;
		last = prev;
	}
	strvec_release(&names);
	free(prev);
}

static void header(FILE *f, const char *name, const char *type,
                   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void seconds(FILE *f, uint64_t us)
{
	fprintf(f, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

/* @ns as seconds, to the nanosecond. */
static void seconds_ns(FILE *f, uint64_t ns)
{
	fprintf(f, "%" PRIu64 ".%09" PRIu64, ns / 1000000000, ns % 1000000000);
}

/*
 * The series of histogram @name with the labels @labels ('a="x"'): @nb
 * buckets @b (not cumulative) whose "le" labels are @le, and the sum @ns.
 * Nothing when it saw nothing.
 */
static void histogram(FILE *f, const char *name, const char *labels,
                      const char *const *le, const uint64_t *b, int nb,
                      uint64_t ns)
{
	uint64_t cum = 0;

	for (int k = 0; k < nb; k++)
		cum += b[k];
	if (!cum)
		return;
	cum = 0;
	for (int k = 0; k < nb; k++) {
		cum += b[k];
		fprintf(f, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name,
		        labels, le[k], cum);
	}
	fprintf(f, "%s_sum{%s} ", name, labels);
	seconds_ns(f, ns);
	fprintf(f, "\n%s_count{%s} %" PRIu64 "\n", name, labels, cum);
}

/* histogram() of one label, @label="@value", in zot's default buckets. */
static void histogram1(FILE *f, const char *name, const char *label,
                       const char *value, const uint64_t b[N_BUCKETS],
                       uint64_t us)
{
	char labels[256];

	snprintf(labels, sizeof(labels), "%s=\"%s\"", label, value);
	histogram(f, name, labels, bucket_le, b, N_BUCKETS, us * 1000);
}

static void render_requests(FILE *f, struct metrics *m)
{
	header(f, "zot_http_requests_total", "counter",
	       "Total number of http request in zot");
	for (int mi = 0; mi < N_METHODS; mi++)
		for (int c = 0; c < N_CODES; c++) {
			uint64_t n = 0;

			for (int s = 0; s < SHARDS; s++)
				n += load(&m->shards[s].requests[mi][c]);
			if (n)
				fprintf(f,
				        "zot_http_requests_total{method=\"%s\","
				        "code=\"%d\"} %" PRIu64 "\n",
				        methods[mi], c + CODE_MIN, n);
		}
	header(f, "zot_http_method_latency_seconds", "histogram",
	       "Latency of serving HTTP requests");
	for (int mi = 0; mi < N_METHODS; mi++) {
		uint64_t b[N_BUCKETS] = {0}, us = 0;

		for (int s = 0; s < SHARDS; s++) {
			us += load(&m->shards[s].lat_us[mi]);
			for (int k = 0; k < N_BUCKETS; k++)
				b[k] += load(&m->shards[s].lat_bucket[mi][k]);
		}
		histogram1(f, "zot_http_method_latency_seconds", "method",
		           methods[mi], b, us);
	}
}

/* Each repository (and the two shared rows) with what @fn prints. */
static void each_repo(FILE *f, struct metrics *m,
                      void (*fn)(FILE *f, const char *name, struct repo *r))
{
	for (size_t i = 0; i < REPO_SLOTS; i++) {
		char *name =
			__atomic_load_n(&m->slots[i].name, __ATOMIC_ACQUIRE);

		if (name)
			fn(f, name, &m->slots[i]);
	}
	fn(f, METRICS_REPO_OTHER, &m->other);
}

static void print_latency(FILE *f, const char *name, struct repo *r)
{
	uint64_t n = load(&r->lat_count);

	if (!n)
		return;
	fprintf(f, "zot_http_repo_latency_seconds_sum{repo=\"%s\"} ", name);
	seconds(f, load(&r->lat_us));
	fprintf(f,
	        "\nzot_http_repo_latency_seconds_count{repo=\"%s\"} %" PRIu64
	        "\n",
	        name, n);
}

static void print_downloads(FILE *f, const char *name, struct repo *r)
{
	uint64_t n = load(&r->downloads);

	if (n)
		fprintf(f,
		        "zot_repo_downloads_total{repo=\"%s\"} %" PRIu64 "\n",
		        name, n);
}

static void print_uploads(FILE *f, const char *name, struct repo *r)
{
	uint64_t n = load(&r->uploads);

	if (n)
		fprintf(f, "zot_repo_uploads_total{repo=\"%s\"} %" PRIu64 "\n",
		        name, n);
}

static void print_bytes(FILE *f, const char *name, struct repo *r)
{
	if (r->bytes > 0)
		fprintf(f, "zot_repo_storage_bytes{repo=\"%s\"} %" PRId64 "\n",
		        name, r->bytes - 1);
}

static void render_repos(FILE *f, struct metrics *m)
{
	header(f, "zot_http_repo_latency_seconds", "summary",
	       "Latency of serving HTTP requests");
	each_repo(f, m, print_latency);
	print_latency(f, "N/A", &m->none);
	header(f, "zot_repo_downloads_total", "counter",
	       "Total number times an image was downloaded");
	each_repo(f, m, print_downloads);
	header(f, "zot_repo_uploads_total", "counter",
	       "Total number times an image was uploaded");
	each_repo(f, m, print_uploads);
	/* Sizes: measured here, for the repositories that changed. */
	for (size_t i = 0; i < REPO_SLOTS; i++) {
		struct repo *r = &m->slots[i];
		char *name = __atomic_load_n(&r->name, __ATOMIC_ACQUIRE);

		if (name &&
		    __atomic_exchange_n(&r->changed, 0, __ATOMIC_RELAXED))
			r->bytes = dir_bytes(m, name, true) + 1;
	}
	header(f, "zot_repo_storage_bytes", "gauge",
	       "Storage used per zot repo");
	each_repo(f, m, print_bytes);
}

static void render_gc(FILE *f, struct metrics *m)
{
	header(f, "zot_gc_runs_total", "counter",
	       "Total number of garbage collection runs");
	for (int e = 0; e < 2; e++)
		fprintf(f, "zot_gc_runs_total{error=\"%s\"} %" PRIu64 "\n",
		        e ? "true" : "false", load(&m->gc_runs[e]));
	header(f, "zot_gc_duration_seconds", "summary",
	       "Duration of garbage collection runs");
	fprintf(f, "zot_gc_duration_seconds_sum ");
	seconds(f, load(&m->gc_ms) * 1000);
	fprintf(f, "\nzot_gc_duration_seconds_count %" PRIu64 "\n",
	        load(&m->gc_count));
	header(f, "zot_gc_deleted_total", "counter",
	       "Total number of items deleted by garbage collection");
	fprintf(f,
	        "zot_gc_deleted_total{type=\"manifest\"} %" PRIu64 "\n"
	        "zot_gc_deleted_total{type=\"blob\"} %" PRIu64 "\n"
	        "zot_gc_deleted_total{type=\"upload\"} %" PRIu64 "\n",
	        load(&m->gc_manifests), load(&m->gc_blobs),
	        load(&m->gc_uploads));
	header(f, "zot_scheduler_workers_tasks_duration_seconds", "histogram",
	       "How long it takes for a worker to execute a task");
	pthread_mutex_lock(&m->task_lock);
	for (int i = 0; i < N_TASKS && m->tasks[i].name; i++)
		histogram1(f, "zot_scheduler_workers_tasks_duration_seconds",
		           "name", m->tasks[i].name, m->tasks[i].bucket,
		           m->tasks[i].us);
	pthread_mutex_unlock(&m->task_lock);
	header(f, "dray_gc_freed_bytes_total", "counter",
	       "Bytes of content store copies garbage collection removed");
	fprintf(f, "dray_gc_freed_bytes_total %" PRIu64 "\n",
	        load(&m->gc_bytes));
}

/* @v as a label value: backslash, quote and newline escaped. */
static void label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* The repository locks and the scheduler (daemon/opstat.h). */
static void render_locks_sched(FILE *f, struct metrics *m,
                               const struct opstat_snap *o)
{
	static const char *const prio[] = {"low", "medium", "high"};
	char *labels = NULL;
	size_t len = 0;
	FILE *lf = open_memstream(&labels, &len);

	/* zot's help text, which says HTTP where it means the lock. */
	header(f, "zot_storage_lock_latency_seconds", "histogram",
	       "Latency of serving HTTP requests");
	if (lf) {
		/* dray's repository lock is exclusive: zot's write lock. */
		fputs("storageName=\"", lf);
		label_value(lf, m->root);
		fputs("\",lockType=\"RWLock\"", lf);
		if (fclose(lf) == 0)
			histogram(f, "zot_storage_lock_latency_seconds", labels,
			          opstat_lock_le, o->lock, OPSTAT_LOCK_BUCKETS,
			          o->lock_ns);
	}
	free(labels);
	header(f, "zot_scheduler_workers_total", "gauge",
	       "Total number of available workers to perform scheduler tasks");
	fprintf(f, "zot_scheduler_workers_total %u\n", o->sched_workers);
	header(f, "zot_scheduler_workers", "gauge", "Scheduler workers state");
	fprintf(f,
	        "zot_scheduler_workers{state=\"idle\"} %u\n"
	        "zot_scheduler_workers{state=\"working\"} %u\n",
	        o->sched_workers - o->sched_working, o->sched_working);
	header(f, "zot_scheduler_generators_total", "counter",
	       "Total number of generators registered in scheduler");
	fprintf(f, "zot_scheduler_generators_total %u\n", o->sched_tasks);
	/* dray's tasks all run at idle priority: zot's "low". */
	header(f, "zot_scheduler_generators_status", "gauge",
	       "Scheduler generators by priority & state");
	for (int p = 0; p < 3; p++)
		fprintf(f,
		        "zot_scheduler_generators_status{priority=\"%s\","
		        "state=\"ready\"} %u\n"
		        "zot_scheduler_generators_status{priority=\"%s\","
		        "state=\"waiting\"} %u\n"
		        "zot_scheduler_generators_status{priority=\"%s\","
		        "state=\"done\"} %u\n",
		        prio[p], p ? 0 : o->sched_ready, prio[p],
		        p ? 0 : o->sched_waiting, prio[p],
		        p ? 0 : o->sched_done);
	header(f, "zot_scheduler_tasksqueue_length", "gauge",
	       "Number of tasks waiting in the queue to pe processed by "
	       "scheduler workers");
	for (int p = 0; p < 3; p++)
		fprintf(f,
		        "zot_scheduler_tasksqueue_length{priority=\"%s\"} %u\n",
		        prio[p], p ? 0 : o->sched_queued);
}

/* Counter @name of @help, a sample per kind of file (daemon/opstat.h). */
static void by_kind(FILE *f, const char *name, const char *help,
                    const uint64_t v[OPSTAT_KINDS])
{
	header(f, name, "counter", help);
	for (int k = 0; k < OPSTAT_KINDS; k++)
		fprintf(f, "%s{kind=\"%s\"} %" PRIu64 "\n", name,
		        opstat_kind_name((enum opstat_kind)k), v[k]);
}

/* The mount (daemon/opstat.h) and dedupe. */
static void render_mount(FILE *f, struct store *st, const struct opstat_snap *o)
{
	header(f, "dray_mount_operations_total", "counter",
	       "Operations the kernel asked of the mount");
	for (int i = 0; i < OPSTAT_OPS; i++)
		fprintf(f,
		        "dray_mount_operations_total{op=\"%s\"} %" PRIu64 "\n",
		        opstat_op_name((enum opstat_op)i), o->ops[i]);
	header(f, "dray_mount_read_bytes_total", "counter",
	       "Bytes read through the mount");
	fprintf(f, "dray_mount_read_bytes_total %" PRIu64 "\n", o->read_bytes);
	header(f, "dray_mount_written_bytes_total", "counter",
	       "Bytes written through the mount");
	fprintf(f, "dray_mount_written_bytes_total %" PRIu64 "\n",
	        o->write_bytes);
	by_kind(f, "dray_mount_commits_total",
	        "Files published through the mount (close or rename), by kind",
	        o->commits);
	by_kind(f, "dray_mount_refusals_total",
	        "Files the mount refused to publish, by kind", o->refusals);
	if (st) {
		header(f, "dray_dedupe_saved_bytes", "gauge",
		       "Bytes the content store's hard links save");
		fprintf(f, "dray_dedupe_saved_bytes %" PRIu64 "\n",
		        store_dedupe_saved(st));
	}
}

static void render_own(FILE *f, struct metrics *m, struct store *st,
                       int inflight)
{
	int64_t index = dir_bytes(m, ".dray/index", false);

	header(f, "zot_info", "gauge", "Server general information");
	fprintf(f,
	        "zot_info{commit=\"%s\",binaryType=\"%s\",goVersion=\"\","
	        "version=\"%s\"} 0\n",
	        m->commit, m->binary_type, m->dist_spec_version);
	header(f, "dray_build_info", "gauge", "dray's version");
	fprintf(f, "dray_build_info{version=\"%s\"} 1\n", m->version);
	header(f, "dray_http_requests_in_flight", "gauge",
	       "HTTP requests being served");
	fprintf(f, "dray_http_requests_in_flight %d\n", inflight);
	header(f, "dray_repositories_tracked", "gauge",
	       "Repositories with series of their own (at most 10000)");
	fprintf(f, "dray_repositories_tracked %u\n",
	        __atomic_load_n(&m->n_repos, __ATOMIC_RELAXED));
	if (st) {
		header(f, "dray_upload_sessions_open", "gauge",
		       "Upload sessions the store holds");
		fprintf(f, "dray_upload_sessions_open %zu\n",
		        store_upload_count(st));
	}
	if (index >= 0) {
		header(f, "dray_index_bytes", "gauge",
		       "Size of the RocksDB index on disk");
		fprintf(f, "dray_index_bytes %" PRId64 "\n", index);
	}
}

/* Issue 14: which node does GC and how often the others left it. */
static void render_lease(FILE *f, struct store *st)
{
	struct store_lease_stats ls;

	if (!st)
		return;
	store_lease_stats(st, &ls);
	header(f, "dray_gc_lease_held", "gauge",
	       "1 while this node holds the GC lease: it runs GC and "
	       "retention for every node on the tree");
	fprintf(f, "dray_gc_lease_held %d\n", ls.gc_held ? 1 : 0);
	header(f, "dray_gc_lease_skips_total", "counter",
	       "GC passes this node left to the node holding the lease");
	fprintf(f, "dray_gc_lease_skips_total %" PRIu64 "\n", ls.gc_skips);
	header(f, "dray_sync_lease_skips_total", "counter",
	       "Registry polls this node left to the node holding its lease");
	fprintf(f, "dray_sync_lease_skips_total %" PRIu64 "\n", ls.other_skips);
	header(f, "dray_gc_nodes_swept_total", "counter",
	       "Staging directories of dead nodes removed");
	fprintf(f, "dray_gc_nodes_swept_total %" PRIu64 "\n", ls.nodes_swept);
}

/*
 * Copy @n bytes of exposition @in to @f, each dray_ sample labelled
 * node="@node" (where several nodes serve one tree).
 */
static void label_node(FILE *f, const char *in, size_t n, const char *node)
{
	const char *p = in, *end = in + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p), k = 0;

		if (l > 5 && !memcmp(p, "dray_", 5)) {
			while (k < l && (p[k] == '_' || p[k] == ':' ||
			                 (p[k] >= 'a' && p[k] <= 'z') ||
			                 (p[k] >= 'A' && p[k] <= 'Z') ||
			                 (p[k] >= '0' && p[k] <= '9')))
				k++;
			fwrite(p, 1, k, f);
			fprintf(f, "{node=\"%s\"", node);
			if (k < l && p[k] == '{') {
				k++;
				if (k < l && p[k] != '}')
					fputc(',', f);
			} else {
				fputc('}', f);
			}
		}
		fwrite(p + k, 1, l - k, f);
		p += l;
	}
}

int metrics_render(struct metrics *m, struct store *st, int inflight,
                   char **out, size_t *len, struct err *err)
{
	struct opstat_snap o;
	FILE *f;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (st && !m->listed) {
		m->listed = true;
		list_repos(m, st);
	}
	f = open_memstream(out, len);
	if (!f) {
		pthread_mutex_unlock(&m->lock);
		return err_set(err, ERR_NOMEM, "cannot render the metrics");
	}
	render_requests(f, m);
	render_repos(f, m);
	render_gc(f, m);
	opstat_read(&o);
	render_locks_sched(f, m, &o);
	render_mount(f, st, &o);
	render_own(f, m, st, inflight);
	render_lease(f, st);
	if (m->extra)
		m->extra(f, m->extra_arg);
	for (size_t i = 0; i < m->n_more; i++)
		m->more[i].fn(f, m->more[i].arg);
	if (ferror(f))
		ret = err_set(err, ERR_NOMEM, "cannot render the metrics");
	if (fclose(f) != 0 && ret == 0)
		ret = err_set(err, ERR_NOMEM, "cannot render the metrics");
	pthread_mutex_unlock(&m->lock);
	if (ret == 0 && st && store_node_id(st)) {
		char *plain = *out;
		size_t plen = *len;

		f = open_memstream(out, len);
		if (!f) {
			*out = plain;
			ret = err_set(err, ERR_NOMEM,
			              "cannot render the metrics");
		} else {
			bool bad;

			label_node(f, plain, plen, store_node_id(st));
			bad = ferror(f) != 0;
			if (fclose(f) != 0 || bad)
				ret = err_set(err, ERR_NOMEM,
				              "cannot render the metrics");
			free(plain);
		}
	}
	if (ret < 0) {
		free(*out);
		*out = NULL;
	}
	return ret;
}

/* The endpoints. */

int h_health(struct http_req *req, struct err *err)
{
	static const char not_ready[] = "not ready yet\n";
	int h = __atomic_load_n(&req->srv->health, __ATOMIC_ACQUIRE);
	bool ok = req->kind == RT_LIVEZ ||
	          (req->kind == RT_READYZ && (h & HEALTH_READY)) ||
	          (req->kind == RT_STARTUPZ && (h & HEALTH_STARTED));

	if (ok)
		return reply_buf(req, MHD_HTTP_OK, "text/plain; charset=utf-8",
		                 "ok", 2, false, err);
	return reply_buf(req, MHD_HTTP_SERVICE_UNAVAILABLE,
	                 "text/plain; charset=utf-8", not_ready,
	                 sizeof(not_ready) - 1, false, err);
}

int h_metrics(struct http_req *req, struct err *err)
{
	struct http_server *srv = req->srv;
	char *buf = NULL;
	size_t len = 0;

	if (http_metrics_denied(req, err))
		return -1;
	if (metrics_render(srv->opts.metrics, srv->st,
	                   __atomic_load_n(&srv->inflight, __ATOMIC_RELAXED),
	                   &buf, &len, err) < 0)
		return -1;
	return reply_buf(req, MHD_HTTP_OK,
	                 "text/plain; version=0.0.4; charset=utf-8", buf, len,
	                 true, err);
}

int h_mgmt(struct http_req *req, struct err *err)
{
	const char *json = req->srv->opts.mgmt_json;

	return reply_buf(req, MHD_HTTP_OK, "application/json", json,
	                 strlen(json), false, err);
}

void http_metrics_count(const struct http_req *req)
{
	struct metrics *m = req->srv->opts.metrics;
	const char *repo = NULL;
	bool read;

	if (!m || req->kind == RT_METRICS) /* as zot: scrapes not counted */
		return;
	/* Only an answered request names a repository in a label: a flood
	 * of 404s for made-up names would fill the table. */
	if (req->status >= 200 && req->status < 400 &&
	    route_names_repo(req->kind) &&
	    req->kind != RT_REFERRERS) /* as zot's latency label reads it */
		repo = req->name;
	read = !strcmp(req->method, MHD_HTTP_METHOD_GET) ||
	       !strcmp(req->method, MHD_HTTP_METHOD_HEAD);
	metrics_request(m, req->method, req->status,
	                (clock_mono_ms() - req->start_ms) * 1000, repo);
	if (!repo)
		return;
	if (req->kind == RT_MANIFEST && read && req->status == MHD_HTTP_OK)
		metrics_download(m, repo);
	if (req->kind == RT_MANIFEST &&
	    !strcmp(req->method, MHD_HTTP_METHOD_PUT))
		metrics_upload(m, repo);
	/* A blob or manifest stored or deleted (a chunk is not yet). */
	if (!read && strcmp(req->method, MHD_HTTP_METHOD_PATCH) != 0)
		metrics_repo_changed(m, repo);
}

/* zot's StrippedConfig.HTTP.Auth, or NULL when no method is on. */
static json_t *mgmt_auth_json(const struct mgmt_auth *a)
{
	json_t *o;

	if (!a || (!a->htpasswd && !a->ldap && !a->apikey && !a->bearer_realm))
		return NULL;
	o = json_object();
	if (o && (a->htpasswd || a->ldap))
		json_object_set_new(o, "htpasswd", json_object());
	if (o && a->bearer_realm)
		json_object_set_new(
			o, "bearer",
			json_pack("{s:s, s:s}", "realm", a->bearer_realm,
		                  "service",
		                  a->bearer_service ? a->bearer_service : ""));
	if (o && a->apikey)
		json_object_set_new(o, "apikey", json_true());
	return o;
}

char *metrics_mgmt_json(const struct metrics_info *info,
                        const struct mgmt_auth *auth)
{
	json_t *http = json_object(), *auth_json = mgmt_auth_json(auth);
	json_t *root;
	char tag[80];
	char *text;

	snprintf(tag, sizeof(tag), "v%s", info->version ? info->version : "");
	if (http && auth_json)
		json_object_set_new(http, "auth", auth_json);
	else
		json_decref(auth_json);
	root = json_pack("{s:s, s:s, s:s, s:s, s:o}", "distSpecVersion",
	                 info->dist_spec_version ? info->dist_spec_version : "",
	                 "commit", info->commit ? info->commit : "",
	                 "releaseTag", tag, "binaryType",
	                 info->binary_type ? info->binary_type : "", "http",
	                 http);
	text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return text;
}

void metrics_set_extra(struct metrics *m, void (*fn)(FILE *f, void *arg),
                       void *arg)
{
	m->extra = fn;
	m->extra_arg = arg;
}

int metrics_add_extra(struct metrics *m, void (*fn)(FILE *f, void *arg),
                      void *arg, struct err *err)
{
	if (m->n_more == METRICS_MORE_MAX)
		return err_set(err, ERR_INVALID,
		               "more than %d extra metrics writers",
		               METRICS_MORE_MAX);
	m->more[m->n_more].fn = fn;
	m->more[m->n_more].arg = arg;
	m->n_more++;
	return 0;
}
