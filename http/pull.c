/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pull.c - reads that fall through to the sync extension: a manifest or
 * blob that is not here, in a repository an onDemand registry maps, is
 * fetched upstream (sync/sync.h), then read again. A manifest is
 * answered as soon as it is fetched and verified, from the sync
 * module's pending copy (sync_manifest_early()), while its blobs come in
 * the background; it is stored (and read from the store) once they are
 * all here. Fetch-then-serve for blob ranges: the answer starts once the
 * whole blob is stored. The fetch runs on the server's pull pool with the
 * connection suspended (a connection job, offload.c), so a listener thread
 * serves its other connections while an upstream transfer lasts; when the pool
 * is full, it runs inline. A tag that is here is re-checked upstream
 * the same way when it is due (sync_recheck_due()), then read again.
 *
 * A GET of a whole blob streams instead: the request follows the blob's
 * transfer (sync_follow(); the first to come starts it on the pull
 * pool, detached from any connection, so a client that leaves does not
 * end it). The connection is suspended until the upstream's length and
 * first bytes are in, then answered 200 with that length and a content
 * reader that preads the staging file up to what has landed. Caught up,
 * the reader suspends the connection and returns 0 (MHD allows both
 * from a content reader); the transfer resumes it as more lands, or at
 * the end. A transfer that fails, or whose bytes do not hash to the
 * digest, cuts the response (its last byte is sent only once the blob
 * is stored). Memory per streaming client: MHD's 64 KiB block.
 */
#define LOG_MODULE "http"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/testhold.h"
#include "http/http_int.h"
#include "sync/sync.h"

/* A fetch for a request, on copies of what it names. */
struct pull_job {
	struct conn_job base; /* first */
	struct sync *sync;
	char name[REF_NAME_MAX + 1];
	char ref[DIGEST_STR_MAX + 8]; /* a manifest's reference */
	struct digest digest;         /* a blob's digest */
	bool blob;
	int rc;
	struct err err;
	struct sync_manifest_copy copy; /* a manifest answered early */
};

static void job_release(struct conn_job *base)
{
	struct pull_job *job = (struct pull_job *)base;

	free(job->copy.body);
	free(job);
}

static void job_work(struct conn_job *base)
{
	struct pull_job *job = (struct pull_job *)base;

	test_hold("syncfetch", job->ref);
	if (job->blob)
		job->rc = sync_blob(job->sync, job->name, &job->digest,
		                    &job->err);
	else /* 1: answered from job->copy (never HTTP_PENDING) */
		job->rc = sync_manifest_early(job->sync, job->name, job->ref,
		                              &job->copy, &job->err) < 0
		                  ? -1
		                  : 0;
}

/* Re-check a mirrored tag upstream: never fails the request. */
static void job_recheck(struct conn_job *base)
{
	struct pull_job *job = (struct pull_job *)base;

	test_hold("syncfetch", job->ref);
	sync_recheck(job->sync, job->name, job->ref);
	job->rc = 0;
}

/*
 * Bring what @req names (blob @d, or the manifest req->ref when @d is
 * NULL) from upstream by @work: 0, -1 with @err, or HTTP_PENDING with the
 * connection suspended. Called again once resumed, it gives the result.
 */
static int fetch(struct http_req *req, const struct digest *d,
                 void (*work)(struct conn_job *),
                 struct sync_manifest_copy *copy, struct err *err)
{
	struct pull_job *job = req->pull_job;
	int rc;

	if (!job) {
		job = calloc(1, sizeof(*job));
		if (!job)
			return err_set(err, ERR_NOMEM, "out of memory");
		job->base.conn = req->conn;
		job->base.work = work;
		job->base.release = job_release;
		job->sync = req->srv->opts.sync;
		memcpy(job->name, req->name, sizeof(job->name));
		memcpy(job->ref, req->ref, sizeof(job->ref));
		job->blob = d != NULL;
		if (d)
			job->digest = *d;
		job->err = ERR_INIT;
		req->pull_job = job;
		if (conn_job_submit(req->srv->pulls, &job->base)) {
			log_debug("req=%llu: upstream fetch offloaded",
			          (unsigned long long)req->id);
			return HTTP_PENDING;
		}
		work(&job->base); /* the pool is full: here */
		job->base.ran = true;
	}
	req->pull_job = NULL;
	if (!job->base.ran) {
		rc = err_set(err, ERR_BUSY, "shutting down: not fetched");
	} else {
		rc = job->rc;
		*err = job->err;
		if (copy) {
			*copy = job->copy;
			job->copy.body = NULL;
		}
	}
	job_release(&job->base);
	return rc;
}

bool pull_pending(const struct http_req *req)
{
	return req->pull_job && conn_job_pending(&req->pull_job->base);
}

static void stream_free(void *cls);

void pull_drop(struct http_req *req)
{
	if (req->stream)
		stream_free(req->stream);
	req->stream = NULL;
	if (!req->pull_job)
		return;
	conn_job_drop(&req->pull_job->base);
	req->pull_job = NULL;
}

/* Should the miss in @err be tried upstream? */
static bool wants(struct http_req *req, const struct err *err)
{
	return err->code == ERR_NOT_FOUND && req->srv->opts.sync &&
	       sync_wants(req->srv->opts.sync, req->name);
}

/*
 * An upstream failure is a miss, said with its reason: 404 @oci with
 * the message (upstream down, refused, wrong bytes, too large), except
 * what the client may retry (429) or what failed here (5xx).
 */
static int failed(struct err *err, enum oci_code oci)
{
	switch (err->code) {
	case ERR_BUSY:
	case ERR_NOMEM:
	case ERR_INTERNAL:
		return -1;
	default:
		err->code = ERR_NOT_FOUND;
		return err_oci(err, oci);
	}
}

/* Answer from manifest @c (its body taken into *@body, if asked). */
static int from_copy(struct sync_manifest_copy *c, struct manifest_desc *desc,
                     char **body)
{
	desc->digest = c->digest;
	snprintf(desc->media_type, sizeof(desc->media_type), "%s",
	         c->media_type);
	desc->size = c->len;
	if (body)
		*body = c->body;
	else
		free(c->body);
	c->body = NULL;
	return 0;
}

int pull_manifest(struct http_req *req, struct manifest_desc *desc, char **body,
                  struct err *err)
{
	struct store *st = req->srv->st;
	void (*work)(struct conn_job *) = job_work;
	struct sync_manifest_copy copy = {0};
	int rc;

	if (!req->pull_job) { /* not resumed */
		if (store_manifest_get(st, req->name, req->ref, desc, body,
		                       err) == 0) {
			/* A tag here, due for a check upstream? */
			if (!req->srv->opts.sync ||
			    !sync_recheck_due(req->srv->opts.sync, req->name,
			                      req->ref))
				return 0;
			if (body) {
				free(*body);
				*body = NULL;
			}
			work = job_recheck;
		} else {
			if (!wants(req, err))
				return -1;
			*err = ERR_INIT;
			/* Answered already, its blobs still coming? */
			rc = sync_pending_get(req->srv->opts.sync, req->name,
			                      req->ref, &copy, err);
			if (rc != 0)
				return rc < 0 ? -1
				              : from_copy(&copy, desc, body);
		}
	}
	rc = fetch(req, NULL, work, &copy, err);
	if (rc == HTTP_PENDING)
		return rc;
	if (rc < 0)
		return failed(err, OCI_MANIFEST_UNKNOWN);
	if (copy.body) /* pending: its blobs still coming */
		return from_copy(&copy, desc, body);
	return store_manifest_get(st, req->name, req->ref, desc, body, err);
}

/* A blob GET that follows a transfer (the response's, once queued). */
struct pull_stream {
	struct sync_follow *follow;
	struct MHD_Connection *conn;
	uint64_t id; /* the request's, for the log */
	bool parked; /* suspended in the content reader */
};

/* The transfer a stream started, on the pull pool. */
struct lead_job {
	struct offload_job base; /* first */
	struct sync_job *job;
	char what[DIGEST_STR_MAX];
};

static void lead_run(struct offload_job *base)
{
	struct lead_job *lj = (struct lead_job *)base;
	struct err e = ERR_INIT;

	test_hold("syncfetch", lj->what);
	(void)sync_job_run(lj->job, &e); /* its followers see the outcome */
	lj->job = NULL;
}

static void lead_done(struct offload_job *base, bool ran)
{
	struct lead_job *lj = (struct lead_job *)base;

	if (!ran)
		sync_job_cancel(lj->job);
	free(lj);
}

/* Run @job on the pull pool, or here when it does not take it. */
static void lead(struct http_req *req, struct sync_job *job, const char *what)
{
	struct lead_job *lj = calloc(1, sizeof(*lj));
	struct err e = ERR_INIT;

	if (lj) {
		lj->base.run = lead_run;
		lj->base.done = lead_done;
		lj->job = job;
		snprintf(lj->what, sizeof(lj->what), "%s", what);
		if (offload_submit(req->srv->pulls, &lj->base)) {
			log_debug("req=%llu: upstream fetch offloaded",
			          (unsigned long long)req->id);
			return;
		}
		free(lj);
	}
	test_hold("syncfetch", what);
	(void)sync_job_run(job, &e);
}

/* sync_follow()'s park and wake: under its lock. */
static void stream_park(void *arg)
{
	struct pull_stream *ps = arg;

	conn_phase(ps->conn, CONN_WORK); /* upstream's turn */
	MHD_suspend_connection(ps->conn);
}

static void stream_wake(void *arg)
{
	struct pull_stream *ps = arg;

	MHD_resume_connection(ps->conn);
}

static void stream_free(void *cls)
{
	struct pull_stream *ps = cls;

	sync_follow_free(ps->follow);
	free(ps);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct pull_stream *ps = cls;
	struct sync_view v;
	ssize_t n;

	switch (sync_follow_poll(ps->follow, pos, &v)) {
	case SYNC_WAIT: /* suspended until more lands */
		ps->parked = true;
		return 0;
	case SYNC_READY:
		break;
	default:
		log_warn("req=%llu: blob stream cut after %llu bytes: %s",
		         (unsigned long long)ps->id, (unsigned long long)pos,
		         v.err.msg);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (ps->parked) {
		ps->parked = false;
		conn_phase(ps->conn, CONN_REPLY);
	}
	if (max > v.readable - pos)
		max = (size_t)(v.readable - pos);
	do
		n = pread(v.fd, buf, max, (off_t)pos);
	while (n < 0 && errno == EINTR);
	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

int pull_blob_stream(struct http_req *req, const struct digest *d, int *fd,
                     uint64_t *size, struct err *err)
{
	struct pull_stream *ps = req->stream;
	char dstr[DIGEST_STR_MAX];
	struct sync_job *job;
	struct sync_view v;

	*fd = -1;
	digest_format(d, dstr);
	if (!ps) { /* not resumed */
		if (store_blob_open(req->srv->st, req->name, d, fd, size,
		                    err) == 0)
			return 0;
		if (!wants(req, err))
			return -1;
		*err = ERR_INIT;
		ps = calloc(1, sizeof(*ps));
		if (!ps)
			return err_set(err, ERR_NOMEM, "out of memory");
		ps->conn = req->conn;
		ps->id = req->id;
		ps->follow =
			sync_follow(req->srv->opts.sync, req->name, d,
		                    stream_park, stream_wake, ps, &job, err);
		if (!ps->follow) {
			free(ps);
			return failed(err, OCI_BLOB_UNKNOWN);
		}
		req->stream = ps;
		if (job)
			lead(req, job, dstr);
	}
	switch (sync_follow_poll(ps->follow, 0, &v)) {
	case SYNC_WAIT:
		return HTTP_PENDING;
	case SYNC_READY:
		req->stream = NULL; /* the response's now */
		log_debug("req=%llu: streaming %s as it arrives",
		          (unsigned long long)req->id, dstr);
		reply_hdr(req, "Docker-Content-Digest", dstr);
		return reply_stream(req, v.size, stream_read, ps, stream_free,
		                    err);
	case SYNC_STORED:
		pull_drop(req);
		return store_blob_open(req->srv->st, req->name, d, fd, size,
		                       err);
	case SYNC_FAILED:
		break;
	}
	pull_drop(req);
	*err = v.err;
	return failed(err, OCI_BLOB_UNKNOWN);
}

int pull_blob(struct http_req *req, const struct digest *d, int *fd,
              uint64_t *size, struct err *err)
{
	struct store *st = req->srv->st;
	int rc;

	if (!req->pull_job) { /* not resumed */
		if (store_blob_open(st, req->name, d, fd, size, err) == 0)
			return 0;
		if (!wants(req, err))
			return -1;
		*err = ERR_INIT;
	}
	rc = fetch(req, d, job_work, NULL, err);
	if (rc == HTTP_PENDING)
		return rc;
	if (rc < 0)
		return failed(err, OCI_BLOB_UNKNOWN);
	return store_blob_open(st, req->name, d, fd, size, err);
}

/* Ask upstream for the referrers of job->digest. */
static void job_referrers(struct conn_job *base)
{
	struct pull_job *job = (struct pull_job *)base;

	test_hold("syncfetch", job->ref);
	job->rc = sync_referrers(job->sync, job->name, &job->digest, &job->err);
}

int pull_referrers(struct http_req *req, const struct digest *subject,
                   struct err *err)
{
	int rc;

	if (!req->pull_job && /* not resumed */
	    (!req->srv->opts.sync ||
	     !sync_referrers_due(req->srv->opts.sync, req->name, subject)))
		return 0;
	rc = fetch(req, subject, job_referrers, NULL, err);
	if (rc == HTTP_PENDING || rc == 0)
		return rc;
	if (err->code == ERR_BUSY || err->code == ERR_NOMEM ||
	    err->code == ERR_INTERNAL)
		return -1;
	/* Logged by the sync module; what is here answers. */
	*err = ERR_INIT;
	return 0;
}
