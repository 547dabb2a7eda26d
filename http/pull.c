/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pull.c - reads that fall through to the sync extension: a manifest or
 * blob that is not here, in a repository an onDemand registry maps, is
 * fetched upstream (sync/sync.h), then read again. Fetch-then-serve: the
 * answer starts once the whole object is stored. The fetch runs on the
 * server's pull pool with the connection suspended (a connection job,
 * offload.c), so a listener thread serves its other connections while an
 * upstream transfer lasts; when the pool is full, it runs inline. A tag
 * that is here is re-checked upstream the same way when it is due
 * (sync_recheck_due()), then read again.
 */
#define LOG_MODULE "http"
#include <stdlib.h>
#include <string.h>

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
};

static void job_release(struct conn_job *base)
{
	free(base);
}

static void job_work(struct conn_job *base)
{
	struct pull_job *job = (struct pull_job *)base;

	test_hold("syncfetch", job->ref);
	if (job->blob)
		job->rc = sync_blob(job->sync, job->name, &job->digest,
		                    &job->err);
	else
		job->rc = sync_manifest(job->sync, job->name, job->ref,
		                        &job->err);
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
                 void (*work)(struct conn_job *), struct err *err)
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
	}
	job_release(&job->base);
	return rc;
}

bool pull_pending(const struct http_req *req)
{
	return req->pull_job && conn_job_pending(&req->pull_job->base);
}

void pull_drop(struct http_req *req)
{
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

int pull_manifest(struct http_req *req, struct manifest_desc *desc, char **body,
                  struct err *err)
{
	struct store *st = req->srv->st;
	void (*work)(struct conn_job *) = job_work;
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
		}
	}
	rc = fetch(req, NULL, work, err);
	if (rc == HTTP_PENDING)
		return rc;
	if (rc < 0)
		return failed(err, OCI_MANIFEST_UNKNOWN);
	return store_manifest_get(st, req->name, req->ref, desc, body, err);
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
	rc = fetch(req, d, job_work, err);
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
	rc = fetch(req, subject, job_referrers, err);
	if (rc == HTTP_PENDING || rc == 0)
		return rc;
	if (err->code == ERR_BUSY || err->code == ERR_NOMEM ||
	    err->code == ERR_INTERNAL)
		return -1;
	/* Logged by the sync module; what is here answers. */
	*err = ERR_INIT;
	return 0;
}
