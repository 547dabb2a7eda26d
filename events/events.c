/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.c - the events extension: a durable spool per sink and one thread
 * that delivers it with libcurl.
 *
 * Spool: <root>/.dray/events/<sink>/<seq>.json, <sink> 16 hex digits of a
 * hash of the sink's address, <seq> 16 hex digits, one number per event
 * shared by all sinks and increasing across restarts (the next is one past
 * the largest found at open). A file is the whole CloudEvent as JSON in
 * structured form; it is sent in binary content mode (ce-* headers, the
 * data as the body) and unlinked once the sink answered 2xx.
 *
 * Locking: ev->lock guards the queues, the retry state and the counters;
 * files are written and sent without it. Each sink's queue is its spooled
 * sequence numbers in order; the thread only ever sends a queue's head,
 * so a sink sees events in the order they happened, retries included.
 */
#define LOG_MODULE "events"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "events/events.h"

#define DEFAULT_TIMEOUT_MS   30000u
#define DEFAULT_RETRY_MS     1000u
#define DEFAULT_MAX_RETRY_MS (5u * 60 * 1000)
#define DEFAULT_MAX_QUEUED   10000u
#define CONNECT_TIMEOUT_MS   10000u
#define EVENT_FILE_MAX       (64u * 1024) /* one spooled event, bytes */
#define CREDS_FILE_MAX       (64u * 1024)

/* One sink: its spool and its queue. */
struct sink {
	const struct events_sink_cfg *cfg; /* borrowed from the config */
	char dir[PATH_MAX - 32];           /* its spool directory */
	uint64_t *seqs;                    /* queued events, oldest at [off] */
	size_t off, len, cap;              /* protected by ev->lock */
	unsigned attempts;                 /* failed sends of the head so far */
	uint64_t next_ms;         /* monotonic time the head may be sent */
	CURL *h;                  /* the thread's handle for this sink */
	struct curl_slist *fixed; /* headers every send carries */
};

struct events {
	const struct events_cfg *cfg; /* borrowed */
	struct sink *sinks;           /* one per configured sink */
	size_t n_sinks;
	pthread_mutex_t lock;      /* see the file's comment */
	pthread_cond_t cond;       /* work queued, or stop */
	uint64_t next_seq;         /* the next event's number */
	bool stop;                 /* protected by lock */
	atomic_bool abort_send;    /* stop, read by curl's progress callback */
	bool started;              /* the thread runs */
	bool curl_inited;          /* curl_global_init() was called */
	pthread_t thread;          /* the delivery thread */
	size_t rr;                 /* the sink looked at first next time */
	struct events_stats stats; /* protected by lock (queued computed) */
};

/* -------------------------------------------------------------------- */
/* configuration                                                        */

static bool has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

/* Replace *@field with the string member @name of @o, if it has one. */
static int take_member(json_t *o, const char *name, char **field,
                       struct err *err)
{
	const char *s = json_string_value(json_object_get(o, name));

	if (!s)
		return 0;
	free(*field);
	*field = strdup(s);
	return *field ? 0 : err_set(err, ERR_NOMEM, "out of memory");
}

/* credentials.file: {"username": ..., "password": ..., "token": ...} */
static int read_creds(struct events_sink_cfg *s, struct err *err)
{
	char *buf = NULL;
	size_t len;
	json_t *o = NULL;
	json_error_t jerr;
	int ret = -1;

	if (fs_read_file(s->credentials_file, CREDS_FILE_MAX, &buf, &len, err) <
	    0) {
		err->code = ERR_INVALID;
		goto out;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		err_set(err, ERR_INVALID, "'%s': expected a JSON object",
		        s->credentials_file);
		goto out;
	}
	if (take_member(o, "username", &s->username, err) < 0 ||
	    take_member(o, "password", &s->password, err) < 0 ||
	    take_member(o, "token", &s->token, err) < 0)
		goto out;
	ret = 0;
out:
	json_decref(o);
	free(buf);
	return ret;
}

int events_cfg_check(struct events_cfg *c, struct err *err)
{
	if (!c->retry_delay_ms)
		c->retry_delay_ms = DEFAULT_RETRY_MS;
	if (!c->max_retry_delay_ms)
		c->max_retry_delay_ms = DEFAULT_MAX_RETRY_MS;
	if (c->max_retry_delay_ms < c->retry_delay_ms)
		c->max_retry_delay_ms = c->retry_delay_ms;
	if (!c->max_queued)
		c->max_queued = DEFAULT_MAX_QUEUED;
	if (has_crlf(c->source) || has_crlf(c->type_prefix))
		return err_set(err, ERR_INVALID,
		               "source and typePrefix are one line each");
	for (size_t i = 0; i < c->n_sinks; i++) {
		struct events_sink_cfg *s = &c->sinks[i];

		if (!s->type || strcmp(s->type, "http") != 0)
			return err_set(err, ERR_INVALID,
			               "sink %zu: type must be http (dray "
			               "sends to HTTP sinks only)",
			               i + 1);
		if (!s->address || (strncmp(s->address, "http://", 7) &&
		                    strncmp(s->address, "https://", 8)))
			return err_set(
				err, ERR_INVALID,
				"sink %zu: address must be an http:// or "
				"https:// URL",
				i + 1);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->sinks[j].address, s->address))
				return err_set(err, ERR_INVALID,
				               "sink %zu: address '%s' twice",
				               i + 1, s->address);
		if (!s->timeout_ms)
			s->timeout_ms = DEFAULT_TIMEOUT_MS;
		if (s->credentials_file && read_creds(s, err) < 0) {
			err_prefix(err, "sink %zu: credentials file", i + 1);
			return -1;
		}
		for (size_t j = 0; j < s->n_headers; j++)
			if (has_crlf(s->header_names[j]) ||
			    has_crlf(s->header_values[j]) ||
			    strchr(s->header_names[j], ':') ||
			    !s->header_names[j][0])
				return err_set(err, ERR_INVALID,
				               "sink %zu: bad header '%s'",
				               i + 1, s->header_names[j]);
		if (has_crlf(s->username) || has_crlf(s->password) ||
		    has_crlf(s->token))
			return err_set(err, ERR_INVALID,
			               "sink %zu: credentials are one line "
			               "each",
			               i + 1);
	}
	return 0;
}

void events_cfg_release(struct events_cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_sinks; i++) {
		struct events_sink_cfg *s = &c->sinks[i];

		free(s->type);
		free(s->address);
		for (size_t j = 0; j < s->n_headers; j++) {
			free(s->header_names[j]);
			free(s->header_values[j]);
		}
		free(s->header_names);
		free(s->header_values);
		free(s->username);
		free(s->password);
		free(s->token);
		free(s->credentials_file);
	}
	free(c->sinks);
	free(c->source);
	free(c->type_prefix);
	*c = (struct events_cfg){0};
}

uint64_t events_backoff_ms(const struct events_cfg *c, unsigned attempt)
{
	uint64_t d = c->retry_delay_ms ? c->retry_delay_ms : DEFAULT_RETRY_MS;
	uint64_t cap = c->max_retry_delay_ms ? c->max_retry_delay_ms
	                                     : DEFAULT_MAX_RETRY_MS;

	for (unsigned i = 1; i < attempt && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

/* -------------------------------------------------------------------- */
/* the spool                                                            */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3u;
	return h;
}

static void event_path(const struct sink *s, uint64_t seq, char *out)
{
	snprintf(out, PATH_MAX, "%s/%016" PRIx64 ".json", s->dir, seq);
}

/* Is @name a spooled event's file? Its number goes to *seq. */
static bool event_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (strcmp(name + i, ".json") != 0)
		return false;
	*seq = v;
	return true;
}

/* Is @name a pending event's file? Its number goes to *seq. */
static bool pending_name(const char *name, uint64_t *seq)
{
	char json[32];

	if (strlen(name) != 16 + strlen(".pending") ||
	    strcmp(name + 16, ".pending") != 0)
		return false;
	snprintf(json, sizeof(json), "%.16s.json", name);
	return event_name(json, seq);
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Append @seq to the queue of @s, keeping it in order. */
static int queue_add(struct sink *s, uint64_t seq)
{
	size_t i;

	if (s->off + s->len == s->cap) {
		if (s->off > 0) {
			memmove(s->seqs, s->seqs + s->off,
			        s->len * sizeof(*s->seqs));
			s->off = 0;
		} else {
			size_t cap = s->cap ? 2 * s->cap : 64;
			uint64_t *grown =
				realloc(s->seqs, cap * sizeof(*grown));

			if (!grown)
				return -1;
			s->seqs = grown;
			s->cap = cap;
		}
	}
	/* Posts finish writing out of order now and then: insert. */
	for (i = s->off + s->len; i > s->off && s->seqs[i - 1] > seq; i--)
		s->seqs[i] = s->seqs[i - 1];
	s->seqs[i] = seq;
	s->len++;
	return 0;
}

/* Drop the head of @s's queue; caller holds ev->lock. */
static void queue_pop(struct sink *s)
{
	s->off++;
	s->len--;
	s->attempts = 0;
	s->next_ms = 0;
	if (!s->len)
		s->off = 0;
}

/*
 * Remove @seq from @s's queue wherever it is: the head, unless a post that
 * took an older number finished writing after the send began. Caller
 * holds ev->lock. False if it is not queued (dropped meanwhile).
 */
static bool queue_remove(struct sink *s, uint64_t seq)
{
	size_t i;

	for (i = s->off; i < s->off + s->len && s->seqs[i] != seq; i++)
		;
	if (i == s->off + s->len)
		return false;
	if (i == s->off) {
		queue_pop(s);
		return true;
	}
	memmove(&s->seqs[i], &s->seqs[i + 1],
	        (s->off + s->len - i - 1) * sizeof(*s->seqs));
	s->len--;
	return true;
}

/* Past the bound: drop the oldest of @s. Caller holds ev->lock. */
static void enforce_bound(struct events *ev, struct sink *s)
{
	char path[PATH_MAX];

	while (s->len > ev->cfg->max_queued) {
		event_path(s, s->seqs[s->off], path);
		log_warn("sink '%s': queue full (%" PRIu64 " events): "
		         "dropped the oldest, %s",
		         s->cfg->address, ev->cfg->max_queued, path);
		unlink(path);
		queue_pop(s);
		ev->stats.dropped++;
	}
}

/* Load what @s's spool holds. */
static int sink_load(struct events *ev, struct sink *s, struct err *err)
{
	DIR *d;
	struct dirent *de;
	int ret = -1;

	if (fs_mkdir_p(s->dir, 0700, err) < 0)
		return -1;
	d = opendir(s->dir);
	if (!d)
		return err_set_errno(err, errno, "cannot open '%s'", s->dir);
	while ((de = readdir(d))) {
		uint64_t seq;

		if (!strncmp(de->d_name, "atomic.", 7)) {
			/* A write that a crash cut short: never posted. */
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (pending_name(de->d_name, &seq)) {
			/* events_recover() judges it; its number is taken */
			if (seq >= ev->next_seq)
				ev->next_seq = seq + 1;
			continue;
		}
		if (!event_name(de->d_name, &seq))
			continue;
		if (queue_add(s, seq) < 0) {
			err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		if (seq >= ev->next_seq)
			ev->next_seq = seq + 1;
	}
	if (s->len) {
		qsort(s->seqs + s->off, s->len, sizeof(*s->seqs), cmp_seq);
		log_info("sink '%s': %zu undelivered events from before",
		         s->cfg->address, s->len);
	}
	enforce_bound(ev, s);
	ret = 0;
out:
	closedir(d);
	return ret;
}

/* Is @name the spool directory of one of ev's sinks? */
static bool is_sink_dir(const struct events *ev, const char *name)
{
	for (size_t i = 0; i < ev->n_sinks; i++) {
		const char *base = strrchr(ev->sinks[i].dir, '/');

		if (base && !strcmp(base + 1, name))
			return true;
	}
	return false;
}

/*
 * Say so when <root>/.dray/events holds the spool of a sink no longer
 * configured: its events are kept, not sent (the sink's address moved?).
 */
static void warn_orphans(const struct events *ev, const char *root)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/.dray/events", root);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !is_sink_dir(ev, de->d_name))
			log_warn("'%s/%s': the spool of a sink no longer "
			         "configured; its events are kept, not sent",
			         path, de->d_name);
	closedir(d);
}

/* -------------------------------------------------------------------- */
/* building an event                                                    */

/* A random (version 4) UUID. */
static int new_uuid(char out[37], struct err *err)
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return err_set(err, ERR_INTERNAL, "no random bytes");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	         b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* Now as RFC 3339 UTC with milliseconds. */
static void now_rfc3339(char out[64])
{
	uint64_t ms = clock_wall_ms();
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* The CloudEvent (structured form) as JSON text, for the spool. */
static char *event_text(const struct events_cfg *c, enum events_kind kind,
                        const char *repo, const char *reference,
                        const char *digest, const char *media_type,
                        struct err *err)
{
	char id[37], when[64], type[256];
	json_t *o = NULL, *data;
	char *text = NULL;

	if (new_uuid(id, err) < 0)
		return NULL;
	now_rfc3339(when);
	snprintf(type, sizeof(type), "%s.image.%s",
	         c->type_prefix ? c->type_prefix : "zotregistry",
	         kind == EVENTS_IMAGE_DELETED ? "deleted" : "updated");
	data = json_pack("{s:s, s:s, s:s}", "name", repo, "reference",
	                 reference, "digest", digest);
	if (data && media_type)
		json_object_set_new(data, "mediaType", json_string(media_type));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion",
	              "1.0", "id", id, "type", type, "source",
	              c->source ? c->source : "zotregistry.dev", "subject",
	              repo, "time", when, "datacontenttype", "application/json",
	              "data", data);
	if (o)
		text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		err_set(err, ERR_NOMEM, "cannot build an event");
	return text;
}

/*
 * This thread's events spooled as pending since its last events_settle():
 * the change they announce is being published under a repository lock.
 */
static _Thread_local struct {
	struct events *ev;
	uint64_t *seqs;
	size_t n, cap;
} pending;

static void pending_path(const struct sink *s, uint64_t seq, char *out)
{
	snprintf(out, PATH_MAX, "%s/%016" PRIx64 ".pending", s->dir, seq);
}

/* Remove the pending files of @seq from the first @n sinks. */
static void pending_drop(struct events *ev, size_t n, uint64_t seq)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		pending_path(&ev->sinks[i], seq, path);
		unlink(path);
	}
}

/* Queue spooled event @seq of @s for sending. Caller holds ev->lock. */
static int queue_event(struct events *ev, struct sink *s, uint64_t seq)
{
	int rc = queue_add(s, seq);

	if (rc == 0)
		enforce_bound(ev, s);
	pthread_cond_signal(&ev->cond);
	return rc;
}

/*
 * Make pending event @seq of @s deliverable: <seq>.pending becomes
 * <seq>.json and is queued for sending. Not synced: a crash leaves
 * .pending, which recovery judges. Returns 0 once queued; 1 when the
 * rename failed (logged; the .pending file is judged at the next start);
 * -1 with ERR_NOMEM when it could not be queued (the .json file is sent
 * at the next start).
 */
static int ready(struct events *ev, struct sink *s, uint64_t seq,
                 struct err *err)
{
	char from[PATH_MAX], to[PATH_MAX];
	int rc;

	pending_path(s, seq, from);
	event_path(s, seq, to);
	if (rename(from, to) < 0) {
		log_err("cannot rename '%s': %s; it is judged at the next "
		        "start",
		        from, strerror(errno));
		return 1;
	}
	pthread_mutex_lock(&ev->lock);
	rc = queue_event(ev, s, seq);
	pthread_mutex_unlock(&ev->lock);
	if (rc < 0)
		return err_set(err, ERR_NOMEM,
		               "out of memory: '%s' is sent at the next start",
		               to);
	return 0;
}

/* Make pending event @seq deliverable in every sink, after a publication. */
static void promote(struct events *ev, uint64_t seq)
{
	for (size_t i = 0; i < ev->n_sinks; i++) {
		struct err err = ERR_INIT;

		if (ready(ev, &ev->sinks[i], seq, &err) < 0)
			log_err("%s", err.msg);
	}
	pthread_mutex_lock(&ev->lock);
	ev->stats.posted++;
	pthread_mutex_unlock(&ev->lock);
}

int events_post(struct events *ev, enum events_kind kind, const char *repo,
                const char *reference, const char *digest,
                const char *media_type, struct err *err)
{
	char path[PATH_MAX];
	char *text;
	uint64_t seq;
	size_t i = 0;
	int ret = -1;

	if (pending.n && pending.ev != ev)
		return err_set(err, ERR_INTERNAL,
		               "events of another spool are not settled");
	if (pending.n == pending.cap) {
		size_t cap = pending.cap ? 2 * pending.cap : 8;
		uint64_t *grown = realloc(pending.seqs, cap * sizeof(*grown));

		if (!grown)
			return err_set(err, ERR_NOMEM, "out of memory");
		pending.seqs = grown;
		pending.cap = cap;
	}
	text = event_text(ev->cfg, kind, repo, reference, digest, media_type,
	                  err);
	if (!text)
		return -1;
	pthread_mutex_lock(&ev->lock);
	seq = ev->next_seq++;
	pthread_mutex_unlock(&ev->lock);
	for (; i < ev->n_sinks; i++) {
		pending_path(&ev->sinks[i], seq, path);
		if (fs_write_atomic(ev->sinks[i].dir, path, text, strlen(text),
		                    err) < 0)
			goto out;
	}
	pending.ev = ev;
	pending.seqs[pending.n++] = seq;
	ret = 0;
out:
	if (ret < 0)
		pending_drop(ev, i, seq);
	free(text);
	return ret;
}

void events_settle(struct events *ev, bool published)
{
	for (size_t i = 0; i < pending.n; i++) {
		if (published)
			promote(ev, pending.seqs[i]);
		else
			pending_drop(ev, ev->n_sinks, pending.seqs[i]);
	}
	/* Freed each time: a thread's exit would lose it. */
	free(pending.seqs);
	pending.seqs = NULL;
	pending.n = pending.cap = 0;
	pending.ev = NULL;
}

/* Ask @fn whether the change pending event file @path announces happened. */
static bool judge(const char *path, events_verify_fn fn, void *arg)
{
	const char *type, *repo, *ref, *digest;
	enum events_kind kind;
	struct err err = ERR_INIT;
	char *text = NULL;
	size_t len, tl;
	json_t *o = NULL;
	bool ok = false;

	if (fs_read_file(path, EVENT_FILE_MAX, &text, &len, &err) < 0)
		goto out;
	o = json_loadb(text, len, 0, NULL);
	if (json_unpack(o, "{s:s, s:{s:s, s:s, s:s}}", "type", &type, "data",
	                "name", &repo, "reference", &ref, "digest",
	                &digest) < 0)
		goto out; /* torn or foreign: never announced */
	tl = strlen(type);
	kind = tl > 8 && !strcmp(type + tl - 8, ".deleted")
	               ? EVENTS_IMAGE_DELETED
	               : EVENTS_IMAGE_UPDATED;
	ok = fn(arg, kind, repo, ref, digest);
out:
	json_decref(o);
	free(text);
	return ok;
}

int events_recover(struct events *ev, events_verify_fn fn, void *arg,
                   struct err *err)
{
	char path[PATH_MAX];
	size_t kept = 0, dropped = 0;

	for (size_t i = 0; i < ev->n_sinks; i++) {
		struct sink *s = &ev->sinks[i];
		struct dirent *de;
		DIR *d = opendir(s->dir);

		if (!d)
			return err_set_errno(err, errno, "cannot open '%s'",
			                     s->dir);
		while ((de = readdir(d))) {
			uint64_t seq;
			int rc;

			if (!pending_name(de->d_name, &seq))
				continue;
			pending_path(s, seq, path);
			if (!judge(path, fn, arg)) {
				unlink(path);
				dropped++;
				continue;
			}
			rc = ready(ev, s, seq, err);
			if (rc < 0) {
				closedir(d);
				return -1;
			}
			if (rc > 0)
				continue;
			kept++;
		}
		closedir(d);
	}
	if (kept || dropped)
		log_info("events a crash left pending: %zu announce what was "
		         "published and are sent, %zu announced what was "
		         "not and are dropped",
		         kept, dropped);
	return 0;
}

/* -------------------------------------------------------------------- */
/* delivery                                                             */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* curl's progress callback: a non-zero return aborts the transfer. */
static int check_stop(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                      curl_off_t un)
{
	struct events *ev = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load(&ev->abort_send) ? 1 : 0;
}

/* Add "@name: @value" to *@l. */
static int add_header(struct curl_slist **l, const char *name,
                      const char *value)
{
	char line[2048];
	struct curl_slist *n;

	if (snprintf(line, sizeof(line), "%s: %s", name, value) >=
	    (int)sizeof(line))
		return -1;
	n = curl_slist_append(*l, line);
	if (!n)
		return -1;
	*l = n;
	return 0;
}

/* The headers every send to @s carries: authorisation and headers. */
static int fixed_headers(struct sink *s, struct err *err)
{
	const struct events_sink_cfg *c = s->cfg;
	char auth[1024];
	int rc = 0;

	if (c->token) {
		snprintf(auth, sizeof(auth), "Bearer %s", c->token);
		rc = add_header(&s->fixed, "Authorization", auth);
	}
	for (size_t i = 0; rc == 0 && i < c->n_headers; i++)
		rc = add_header(&s->fixed, c->header_names[i],
		                c->header_values[i]);
	if (rc < 0)
		return err_set(err, ERR_NOMEM, "sink '%s': cannot set headers",
		               c->address);
	return 0;
}

/*
 * Send the event in @text to @s in binary content mode: the attributes
 * as ce-* headers, the data as the body. Returns 0 on a 2xx answer.
 */
static int send_event(struct events *ev, struct sink *s, const char *text,
                      struct err *err)
{
	static const char *const attrs[] = {"specversion", "id",      "type",
	                                    "source",      "subject", "time"};
	struct curl_slist *hdrs = NULL;
	json_t *o, *data;
	char *body = NULL;
	long status = 0;
	CURLcode rc;
	int ret = -1;

	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	data = json_object_get(o, "data");
	if (!json_is_object(o) || !data) {
		err_set(err, ERR_INVALID, "spooled event is corrupt");
		goto out;
	}
	body = json_dumps(data, JSON_COMPACT);
	if (!body)
		goto nomem;
	for (struct curl_slist *l = s->fixed; l; l = l->next) {
		struct curl_slist *n = curl_slist_append(hdrs, l->data);

		if (!n)
			goto nomem;
		hdrs = n;
	}
	if (add_header(&hdrs, "Content-Type", "application/json") < 0)
		goto nomem;
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		const char *v = json_string_value(json_object_get(o, attrs[i]));
		char name[32];

		snprintf(name, sizeof(name), "ce-%s", attrs[i]);
		if (v && add_header(&hdrs, name, v) < 0)
			goto nomem;
	}
	curl_easy_reset(s->h);
	curl_easy_setopt(s->h, CURLOPT_URL, s->cfg->address);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, (long)s->cfg->timeout_ms);
	curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(s->cfg->timeout_ms < CONNECT_TIMEOUT_MS
	                                ? s->cfg->timeout_ms
	                                : CONNECT_TIMEOUT_MS));
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(s->h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->h, CURLOPT_XFERINFOFUNCTION, check_stop);
	curl_easy_setopt(s->h, CURLOPT_XFERINFODATA, ev);
	curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (s->cfg->username && !s->cfg->token) {
		curl_easy_setopt(s->h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(s->h, CURLOPT_USERNAME, s->cfg->username);
		curl_easy_setopt(s->h, CURLOPT_PASSWORD,
		                 s->cfg->password ? s->cfg->password : "");
	}
	rc = curl_easy_perform(s->h);
	if (rc != CURLE_OK) {
		err_set(err, ERR_IO, "%s", curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		err_set(err, ERR_IO, "answered %ld", status);
		goto out;
	}
	ret = 0;
	goto out;
nomem:
	err_set(err, ERR_NOMEM, "cannot build the request");
out:
	curl_slist_free_all(hdrs);
	free(body);
	json_decref(o);
	return ret;
}

/* Send the head of @s (its number @seq); caller does not hold the lock. */
static void deliver(struct events *ev, struct sink *s, uint64_t seq)
{
	char path[PATH_MAX], *text = NULL;
	struct err err = ERR_INIT;
	size_t len;
	int rc;

	event_path(s, seq, path);
	rc = fs_read_file(path, EVENT_FILE_MAX, &text, &len, &err);
	if (rc == 0)
		rc = send_event(ev, s, text, &err);
	free(text);
	pthread_mutex_lock(&ev->lock);
	if (rc == 0 || err.code == ERR_INVALID || err.code == ERR_NOT_FOUND) {
		/* Sent, or never sendable: either way it leaves the spool. */
		if (rc == 0)
			ev->stats.delivered++;
		else
			log_err("sink '%s': event '%s' dropped: %s",
			        s->cfg->address, path, err.msg);
		if (queue_remove(s, seq))
			unlink(path);
	} else if (!ev->stop) {
		ev->stats.failed++;
		s->attempts++;
		s->next_ms = clock_mono_ms() +
		             events_backoff_ms(ev->cfg, s->attempts);
		/* Once per outage, then at debug. */
		if (s->attempts == 1)
			log_warn("sink '%s': cannot deliver (%s); retrying "
			         "with backoff, %zu events waiting",
			         s->cfg->address, err.msg, s->len);
		else
			log_debug("sink '%s': attempt %u failed: %s",
			          s->cfg->address, s->attempts, err.msg);
	}
	pthread_mutex_unlock(&ev->lock);
}

/* Wait on ev->cond until monotonic @when_ms. Caller holds the lock. */
static void wait_until(struct events *ev, uint64_t when_ms)
{
	struct timespec ts = {.tv_sec = (time_t)(when_ms / 1000),
	                      .tv_nsec = (long)(when_ms % 1000) * 1000000};

	pthread_cond_timedwait(&ev->cond, &ev->lock, &ts);
}

static void *run(void *arg)
{
	struct events *ev = arg;

	pthread_mutex_lock(&ev->lock);
	while (!ev->stop) {
		uint64_t now = clock_mono_ms(), soonest = UINT64_MAX;
		struct sink *pick = NULL;

		for (size_t k = 0; k < ev->n_sinks; k++) {
			struct sink *s = &ev->sinks[(ev->rr + k) % ev->n_sinks];

			if (!s->len)
				continue;
			if (s->next_ms <= now) {
				pick = s;
				ev->rr = (size_t)(s - ev->sinks) + 1;
				break;
			}
			if (s->next_ms < soonest)
				soonest = s->next_ms;
		}
		if (pick) {
			uint64_t seq = pick->seqs[pick->off];

			pthread_mutex_unlock(&ev->lock);
			deliver(ev, pick, seq);
			pthread_mutex_lock(&ev->lock);
		} else if (soonest == UINT64_MAX) {
			pthread_cond_wait(&ev->cond, &ev->lock);
		} else {
			wait_until(ev, soonest);
		}
	}
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/* -------------------------------------------------------------------- */
/* life cycle                                                           */

struct events *events_open(const struct events_cfg *c, const char *root,
                           struct err *err)
{
	struct events *ev = calloc(1, sizeof(*ev));
	pthread_condattr_t ca;

	if (!ev) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	ev->cfg = c;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&ev->abort_send, false);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err_set(err, ERR_INTERNAL, "cannot initialise libcurl");
		goto fail;
	}
	ev->curl_inited = true;
	ev->sinks = calloc(c->n_sinks ? c->n_sinks : 1, sizeof(*ev->sinks));
	if (!ev->sinks) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	ev->n_sinks = c->n_sinks;
	for (size_t i = 0; i < c->n_sinks; i++) {
		struct sink *s = &ev->sinks[i];

		s->cfg = &c->sinks[i];
		if (snprintf(s->dir, sizeof(s->dir),
		             "%s/.dray/events/%016" PRIx64, root,
		             fnv1a(s->cfg->address)) >= (int)sizeof(s->dir)) {
			err_set(err, ERR_INVALID, "root path too long");
			goto fail;
		}
		if (sink_load(ev, s, err) < 0 || fixed_headers(s, err) < 0)
			goto fail;
		s->h = curl_easy_init();
		if (!s->h) {
			err_set(err, ERR_NOMEM, "cannot create a curl handle");
			goto fail;
		}
	}
	warn_orphans(ev, root);
	return ev;
fail:
	events_close(ev);
	return NULL;
}

int events_start(struct events *ev, struct err *err)
{
	int rc = pthread_create(&ev->thread, NULL, run, ev);

	if (rc)
		return err_set_errno(err, rc, "cannot start the events thread");
	ev->started = true;
	return 0;
}

void events_close(struct events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->stop = true;
	atomic_store(&ev->abort_send, true);
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	if (ev->started)
		pthread_join(ev->thread, NULL);
	for (size_t i = 0; i < ev->n_sinks; i++) {
		curl_easy_cleanup(ev->sinks[i].h);
		curl_slist_free_all(ev->sinks[i].fixed);
		free(ev->sinks[i].seqs);
	}
	free(ev->sinks);
	if (ev->curl_inited)
		curl_global_cleanup();
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void events_stats(struct events *ev, struct events_stats *out)
{
	pthread_mutex_lock(&ev->lock);
	*out = ev->stats;
	out->queued = 0;
	for (size_t i = 0; i < ev->n_sinks; i++)
		out->queued += ev->sinks[i].len;
	pthread_mutex_unlock(&ev->lock);
}

void events_metrics(FILE *f, void *arg)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} fam[] = {
		{"dray_events_queued", "gauge",
	         "Events spooled and not yet delivered, summed over the sinks",
	         offsetof(struct events_stats, queued)},
		{"dray_events_posted_total", "counter",
	         "Events spooled since the start",
	         offsetof(struct events_stats, posted)},
		{"dray_events_delivered_total", "counter",
	         "Events a sink answered with 2xx",
	         offsetof(struct events_stats, delivered)},
		{"dray_events_failed_total", "counter",
	         "Sends that failed and will be retried",
	         offsetof(struct events_stats, failed)},
		{"dray_events_dropped_total", "counter",
	         "Events dropped, the oldest past maxQueued",
	         offsetof(struct events_stats, dropped)},
	};
	struct events_stats s;

	events_stats(arg, &s);
	for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		uint64_t v;

		memcpy(&v, (const char *)&s + fam[i].off, sizeof(v));
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n",
		        fam[i].name, fam[i].help, fam[i].name, fam[i].type,
		        fam[i].name, v);
	}
}
