/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - the libmicrohttpd daemon and the request life cycle.
 *
 * MHD calls the access handler first with the headers only, then once per
 * body piece, then once with no data. A response is queued on the last
 * call, never the first (MHD would add Connection: close), unless the
 * request is refused before its body is read. Errors are rendered here,
 * once; the access log line is written when MHD reports completion.
 */
#define LOG_MODULE "http"
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/jwt.h"
#include "daemon/live.h"
#include "daemon/log.h"
#include "http/http_int.h"
#include "sync/sync.h"

/* Longest a request body may keep trickling in below the minimum rate. */
#define SLOW_GRACE_MS 30000
#define SLOW_MIN_BPS  (16 * 1024)

static void req_free(struct http_req *req)
{
	http_auth_drop(req);
	pull_drop(req);
	search_drop(req);
	jwt_claims_free(req->claims);
	live_put(req->pol_ref);
	store_upload_put(req->up);
	free(req->buf);
	free(req->tls_user);
	auth_groups_release(&req->groups);
	free(req->group_list);
	free(req->key_groups);
	free(req);
}

/*
 * A response is queued: give back the upload session now, not at
 * completion, since the client may send its next request on another
 * connection before MHD reports this one completed.
 */
static void release(struct http_req *req)
{
	store_upload_put(req->up);
	req->up = NULL;
}

/* The client's address, "ip:port" ("[ip]:port" for IPv6), or "". */
static void client_addr(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN], port[8];
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	bool v6 = sa && sa->sa_family == AF_INET6;

	buf[0] = '\0';
	if (!sa || getnameinfo(sa,
	                       v6 ? sizeof(struct sockaddr_in6)
	                          : sizeof(struct sockaddr_in),
	                       host, sizeof(host), port, sizeof(port),
	                       NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(buf, size, v6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* What @req changes, named for the audit trail; NULL: nothing. */
static const char *audit_action(const struct http_req *req)
{
	bool put = strcmp(req->method, MHD_HTTP_METHOD_PUT) == 0;
	bool del = strcmp(req->method, MHD_HTTP_METHOD_DELETE) == 0;

	switch (req->kind) {
	case RT_MANIFEST:
		if (put || del)
			return ref_is_digest(req->ref)
			               ? (put ? "manifest.push"
			                      : "manifest.delete")
			               : (put ? "manifest.tag" : "tag.delete");
		return NULL;
	case RT_BLOB:
		return del ? "blob.delete" : NULL;
	case RT_UPLOAD:
		return put ? "blob.push" : NULL;
	case RT_UPLOADS:
		/* A POST that opened a session (202) changed nothing. */
		if (strcmp(req->method, MHD_HTTP_METHOD_POST) != 0 ||
		    req->status == MHD_HTTP_ACCEPTED)
			return NULL;
		if (req_arg((struct http_req *)req, "mount"))
			return "blob.mount";
		return req_arg((struct http_req *)req, "digest") ? "blob.push"
		                                                 : NULL;
	default:
		return NULL;
	}
}

/*
 * The HTTP boundary of the audit trail: @req was answered (@err: why
 * not). Called while MHD still holds the response, so the line is
 * written before the client can see the answer.
 */
static void audit(struct http_req *req, const struct err *err)
{
	const char *action = log_audit_on() ? audit_action(req) : NULL;
	char client[64], dstr[DIGEST_STR_MAX];
	bool ok = req->status >= 200 && req->status < 300;

	if (!action)
		return;
	client_addr(req->conn, client, sizeof(client));
	if (req->has_digest)
		digest_format(&req->digest, dstr);
	log_audit(&(struct audit_rec){
		.action = action,
		.subject = req->who.user,
		.client = client,
		.uid = -1,
		.repository = req->name[0] ? req->name : NULL,
		/* An upload's id is no reference: the digest says what. */
		.reference =
			req->ref[0] && req->kind != RT_UPLOAD ? req->ref : NULL,
		.digest = req->has_digest ? dstr : NULL,
		.object = req->url,
		.status = req->status,
		.ok = ok,
		.error = ok || !err ? NULL : err->msg,
	});
}

/* Log @err once and turn it into a response. */
static enum MHD_Result fail(struct http_req *req, struct err *err)
{
	enum MHD_Result ret = MHD_YES;
	unsigned status;

	http_err_complete(req, err);
	status = http_status_for(err);

	if (status >= 500)
		log_err("req=%llu %s %s: %s (%s)", (unsigned long long)req->id,
		        req->method, req->url, err->msg,
		        err_code_name(err->code));
	else
		log_debug("req=%llu %s %s: %s", (unsigned long long)req->id,
		          req->method, req->url, err->msg);
	release(req);
	if (!req->queued && reply_error(req, err) < 0)
		ret = MHD_NO;
	audit(req, err);
	return ret;
}

/*
 * The headers are in: find the handler. A routing failure is kept in
 * req->route_err and answered on the last call.
 */
/*
 * A repository name that no repository can have. What it names does not
 * exist: reading it (GET, HEAD) or continuing an upload under it answers
 * 404, as the spec wants for anything absent (end-2, 3, 5, 8, 13); a
 * request that would create it is refused as NAME_INVALID (400).
 */
static void bad_name(struct http_req *req, struct err *err)
{
	if (strcmp(req->method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0)
		err_oci(err, OCI_NAME_UNKNOWN);
	else if (req->kind == RT_UPLOAD)
		err_oci(err, OCI_BLOB_UPLOAD_UNKNOWN);
	else
		err_oci(err, OCI_NAME_INVALID);
}

static void authorize(struct http_req *req);

static void start(struct http_req *req)
{
	struct err *err = &req->route_err;

	if (route_parse(req, err) < 0) {
		if (err->code == ERR_INVALID)
			bad_name(req, err);
		return;
	}
	/* A %2F that did not land in the reference landed in the name. */
	if (req->encoded_slash && !strchr(req->ref, '/')) {
		err_set(err, ERR_INVALID, "encoded '/' in a repository name");
		bad_name(req, err);
		return;
	}
	/* Pending: the connection is suspended until the check is done. */
	if (http_authenticate(req, err) != 0)
		return;
	authorize(req);
}

/* The caller is known: find the handler, if the caller may use it. */
static void authorize(struct http_req *req)
{
	struct err *err = &req->route_err;
	bool others;

	req->h = route_handler(req->kind, req->method, &others);
	if (!req->h) {
		if (others)
			err_set(err, ERR_UNSUPPORTED,
			        "method %s not allowed here", req->method);
		else
			err_set(err, ERR_NOT_FOUND, "no such endpoint");
		return;
	}
	if (req->h->need && http_denied(req, req->name, req->h->need, err))
		req->h = NULL;
}

/* What count_lengths() found: how many, and whether they all agree. */
struct lengths {
	unsigned n;
	const char *first;
	bool differ;
};

static enum MHD_Result count_lengths(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
	struct lengths *l = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (!value)
		value = "";
	if (l->n++ == 0)
		l->first = value;
	else if (strcmp(l->first, value) != 0)
		l->differ = true;
	return MHD_YES;
}

/*
 * A body whose length two headers give differently (Content-Length
 * headers that disagree, or one beside Transfer-Encoding) is framed two
 * ways: a proxy in front may read one and dray the other, and the bytes
 * between become a request nobody sent (request smuggling). Refused with
 * the connection, before any of the body is read. Repeated equal values
 * are one length (RFC 9110, 8.6).
 */
static int framing_check(struct http_req *req, struct err *err)
{
	struct lengths l = {0};

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_lengths,
	                          &l);
	if (l.differ)
		err_set(err, ERR_INVALID, "%u Content-Length headers that differ",
		        l.n);
	else if (l.n && req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		err_set(err, ERR_INVALID,
		        "Content-Length beside Transfer-Encoding");
	else
		return 0;
	err_oci(err, OCI_SIZE_INVALID);
	return -1;
}

/* The request says a body follows. */
static bool body_announced(struct http_req *req)
{
	const char *cl = req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	       (cl && strtoull(cl, NULL, 10) > 0);
}

/*
 * The headers are in and the caller known. A refusal based on the
 * headers alone is answered now, before the body is read (MHD then
 * closes the connection, which is right for a body nobody will read;
 * conn.c keeps reading it for a while so the answer is not lost to a
 * reset). MHD accepts a response only on this call or after the body.
 */
static enum MHD_Result begin(struct http_req *req)
{
	struct err err = ERR_INIT;

	if (req->h && req->h->begin && req->h->begin(req, &err) < 0) {
		if (body_announced(req))
			conn_linger(req->conn);
		return fail(req, &err);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;
	struct err err = ERR_INIT;
	int rc;

	(void)version;
	if (!req) /* no URI callback ran: cannot happen with our options */
		return MHD_NO;
	if (!req->srv) {
		req->srv = srv;
		req->conn = conn;
		req->url = url;
		req->method = method;
		req->id =
			__atomic_add_fetch(&srv->next_id, 1, __ATOMIC_RELAXED);
		req->start_ms = clock_mono_ms();
		__atomic_add_fetch(&srv->inflight, 1, __ATOMIC_RELAXED);
		conn_phase(conn, CONN_BODY);
		/* Only a handshake that verified the client gets this far. */
		if (srv->tls && tls_peer(srv->tls, conn, &req->tls_user) < 0) {
			log_warn("req=%llu: no verified client certificate",
			         (unsigned long long)req->id);
			return MHD_NO;
		}
		if (req->tls_user)
			log_debug("req=%llu tls client '%s'",
			          (unsigned long long)req->id, req->tls_user);
		http_pol_take(req);
		if (framing_check(req, &err) < 0) {
			conn_linger(conn);
			return fail(req, &err);
		}
		start(req);
		if (req->auth_job) /* suspended until checked */
			return MHD_YES;
		return begin(req);
	}
	if (req->auth_job) {
		/* Resumed: MHD calls again with the headers only. */
		if (http_auth_pending(req)) {
			log_err("req=%llu: resumed before its check was done",
			        (unsigned long long)req->id);
			return MHD_NO;
		}
		conn_phase(conn, CONN_BODY);
		if (http_auth_finish(req, &req->route_err) == 0)
			authorize(req);
		return begin(req);
	}
	if (req->queued) { /* refused early: drop what still arrives */
		*data_size = 0;
		return MHD_YES;
	}
	if (*data_size) {
		size_t n = *data_size;
		uint64_t elapsed = clock_mono_ms() - req->start_ms;

		*data_size = 0;
		req->body_bytes += n;
		if (elapsed > SLOW_GRACE_MS &&
		    req->body_bytes / (elapsed / 1000) < SLOW_MIN_BPS) {
			log_warn("req=%llu %s %s: client too slow, dropped",
			         (unsigned long long)req->id, method, url);
			return MHD_NO;
		}
		/* After a failure the rest of the body is only drained. */
		if (!req->h || req->failed)
			return MHD_YES;
		if (!req->h->body) {
			err_set(&req->route_err, ERR_INVALID,
			        "this request takes no body");
			err_oci(&req->route_err, OCI_UNSUPPORTED);
			req->failed = true;
		} else if (req->h->body(req, data, n, &req->route_err) < 0) {
			req->failed = true;
		}
		if (req->failed)
			release(req);
		return MHD_YES;
	}
	/* The whole request is in: from here on dray works and answers. */
	conn_phase(conn, CONN_REPLY);
	if (req->delay_due) { /* a refused login waits, holding no thread */
		req->delay_due = false;
		if (delay_hold(srv->fail_delay, conn, req->pol->fail_delay_ms))
			return MHD_YES;
	}
	if (!req->h || req->failed)
		return fail(req, &req->route_err);
	if (pull_pending(req) || search_pending(req)) {
		log_err("req=%llu: resumed before its fetch was done",
		        (unsigned long long)req->id);
		return MHD_NO;
	}
	rc = req->h->end(req, &err);
	if (rc == HTTP_PENDING) /* suspended until fetched */
		return MHD_YES;
	if (rc < 0)
		return fail(req, &err);
	release(req);
	audit(req, NULL);
	return MHD_YES;
}

/*
 * MHD shows the raw request target here, before it decodes it; the
 * request object is born here so routing can tell "a%2Fb" from "a/b".
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_req *req = calloc(1, sizeof(*req));
	size_t n = strcspn(uri, "?");

	(void)cls;
	(void)conn;
	if (!req)
		return NULL;
	for (size_t i = 0; i + 2 < n; i++)
		if (uri[i] == '%' && uri[i + 1] == '2' &&
		    (uri[i + 2] == 'f' || uri[i + 2] == 'F'))
			req->encoded_slash = true;
	return req;
}

/*
 * The access log: one line per request, at completion. JSON carries
 * zot's fields (clientIP, method, path, statusCode, latency, bodySize,
 * username) and dray's; no header is logged, so no credential is.
 */
static void access_line(struct http_req *req, bool completed)
{
	uint64_t ms = clock_mono_ms() - req->start_ms;
	char client[64], latency[32], dstr[DIGEST_STR_MAX];

	client_addr(req->conn, client, sizeof(client));
	snprintf(latency, sizeof(latency), "%llums", (unsigned long long)ms);
	if (req->has_digest)
		digest_format(&req->digest, dstr);
	const struct log_field f[] = {
		LOG_NUM("requestId", req->id),
		LOG_STR("clientIP", client),
		LOG_STR("method", req->method),
		LOG_STR("path", req->url),
		LOG_NUM("statusCode", req->status),
		LOG_STR("latency", latency),
		LOG_NUM("durationMs", ms),
		LOG_NUM("bodySize", req->sent_bytes),
		LOG_NUM("requestBodySize", req->body_bytes),
		LOG_STR("repository", req->name[0] ? req->name : NULL),
		LOG_STR("reference", req->ref[0] ? req->ref : NULL),
		LOG_STR("digest", req->has_digest ? dstr : NULL),
		LOG_STR("username", req->who.user),
		LOG_STR("outcome", completed ? NULL : "aborted"),
	};

	log_fields(LOG_INFO, LOG_MODULE, f, sizeof(f) / sizeof(f[0]),
	           "req=%llu %s %s %u %llu %llums%s",
	           (unsigned long long)req->id, req->method, req->url,
	           req->status, (unsigned long long)req->sent_bytes,
	           (unsigned long long)ms, completed ? "" : " (aborted)");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	conn_phase(conn, CONN_IDLE);
	if (!req)
		return;
	if (!req->srv) { /* MHD gave up before calling the handler */
		req_free(req);
		*con_cls = NULL;
		return;
	}
	if (log_enabled(LOG_INFO))
		access_line(req, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	http_metrics_count(req);
	req_free(req);
	*con_cls = NULL;
	__atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_RELAXED);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("mhd: %s", msg);
}

static int resolve(const char *address, int port, struct sockaddr_storage *out,
                   bool *v6, struct err *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char service[16];
	int rc;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(address && *address ? address : NULL, service, &hints,
	                 &res);
	if (rc != 0)
		return err_set(err, ERR_INVALID, "cannot resolve '%s': %s",
		               address ? address : "", gai_strerror(rc));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

/* Fail with ERR_IO if another socket holds @sa (SO_REUSEPORT would let
 * a second dray share the port silently). */
static int check_free(const struct sockaddr_storage *sa, struct err *err)
{
	socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                          : sizeof(struct sockaddr_in);
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	int ret = 0;

	if (fd < 0)
		return err_set_errno(err, errno, "cannot create a socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, len) < 0)
		ret = err_set_errno(err, errno, "cannot listen");
	close(fd);
	return ret;
}

static void set_port(struct sockaddr_storage *sa, int port)
{
	if (sa->ss_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
}

static struct MHD_Daemon *start_one(struct http_server *srv, unsigned flags,
                                    struct sockaddr_storage *sa, int port)
{
	unsigned n = srv->opts.threads;
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, NULL},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, NULL},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities},
		{MHD_OPTION_END, 0, NULL},
	};

	if (srv->tls) {
		flags |= MHD_USE_TLS;
		tls[0].ptr_value = (void *)tls_boot_cert(srv->tls);
		tls[1].ptr_value = (void *)tls_boot_key(srv->tls);
	} else {
		tls[0].option = MHD_OPTION_END;
	}
	return MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY,
		tls, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)sa,
		MHD_OPTION_CONNECTION_LIMIT, (srv->opts.max_conns + n - 1) / n,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(srv->opts.max_conns_per_ip + n - 1) / n,
		MHD_OPTION_CONNECTION_TIMEOUT, srv->opts.idle_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION,
		srv->tls ? tls_notify : conn_notify,
		srv->tls ? (void *)srv : (void *)srv->watch,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
}

struct http_server *http_start(const struct http_opts *opts, struct store *st,
                               struct err *err)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage sa;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	                 MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	bool v6 = false;
	int port;

	if (!srv) {
		err_set(err, ERR_NOMEM, "cannot allocate server");
		return NULL;
	}
	srv->st = st;
	srv->opts = *opts;
	if (!srv->opts.threads)
		srv->opts.threads = 2;
	if (srv->opts.threads > HTTP_LISTENERS_MAX)
		srv->opts.threads = HTTP_LISTENERS_MAX;
	if (!srv->opts.max_conns)
		srv->opts.max_conns = 1000;
	if (!srv->opts.max_conns_per_ip)
		srv->opts.max_conns_per_ip = 512;
	if (!srv->opts.idle_timeout_s)
		srv->opts.idle_timeout_s = 60;
	if (!srv->opts.drain_timeout_s)
		srv->opts.drain_timeout_s = 10;
	if (!srv->opts.header_timeout_ms)
		srv->opts.header_timeout_ms = 10000;
	if (!srv->opts.read_timeout_ms)
		srv->opts.read_timeout_ms = 30000;
	if (!srv->opts.write_timeout_ms)
		srv->opts.write_timeout_ms = 30000;
	srv->pol = live_new(http_policy_new(opts, NULL, err), err);
	if (!srv->pol)
		goto fail;
	/* Always there: a reload may turn authentication on. */
	srv->fail_delay = delay_new(err);
	if (!srv->fail_delay)
		goto fail;
	srv->watch = conn_watch_new(&srv->opts, err);
	if (!srv->watch)
		goto fail;
	srv->offload = offload_new(OFFLOAD_WORKERS, OFFLOAD_QUEUE, OFFLOAD_NICE, err);
	if (!srv->offload)
		goto fail;
	if (opts->sync) {
		srv->pulls = offload_new(PULL_WORKERS, PULL_QUEUE, 0, err);
		if (!srv->pulls)
			goto fail;
	}
	if (opts->search) {
		srv->searches = offload_new(SEARCH_WORKERS, SEARCH_QUEUE,
		                            OFFLOAD_NICE, err);
		if (!srv->searches)
			goto fail;
	}
	/* Never clear text when TLS is configured: its failure is fatal. */
	srv->tls = tls_new(opts, err);
	if (!srv->tls && (opts->tls_cert || opts->tls_key || opts->tls_cacert))
		goto fail;
	if (resolve(opts->address, opts->port, &sa, &v6, err) < 0)
		goto fail;
	if (opts->port && check_free(&sa, err) < 0) {
		err_prefix(err, "%s:%d", opts->address ? opts->address : "*",
		           opts->port);
		goto fail;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	port = opts->port;
	for (unsigned i = 0; i < srv->opts.threads; i++) {
		srv->mhd[i] = start_one(srv, flags, &sa, port);
		if (!srv->mhd[i]) {
			err_set(err, ERR_IO, "cannot listen on %s:%d",
			        opts->address ? opts->address : "*", port);
			goto fail;
		}
		srv->n_mhd++;
		if (i == 0) {
			/* The others join the port the first one got. */
			info = MHD_get_daemon_info(srv->mhd[0],
			                           MHD_DAEMON_INFO_BIND_PORT);
			port = info ? info->port : opts->port;
			set_port(&sa, port);
		}
	}
	srv->port = port;
	__atomic_or_fetch(&srv->health, HEALTH_STARTED, __ATOMIC_RELEASE);
	return srv;
fail:
	for (unsigned i = 0; i < srv->n_mhd; i++)
		MHD_stop_daemon(srv->mhd[i]);
	conn_watch_free(srv->watch);
	offload_stop(srv->offload);
	offload_free(srv->offload);
	offload_stop(srv->pulls);
	offload_free(srv->pulls);
	offload_stop(srv->searches);
	offload_free(srv->searches);
	delay_stop(srv->fail_delay);
	delay_free(srv->fail_delay);
	live_free(srv->pol);
	tls_free(srv->tls);
	free(srv);
	return NULL;
}

int http_port(const struct http_server *srv)
{
	return srv->port;
}

void http_stop(struct http_server *srv)
{
	uint64_t deadline;
	int left;

	if (!srv)
		return;
	http_set_ready(srv, false);
	for (unsigned i = 0; i < srv->n_mhd; i++) {
		int fd = MHD_quiesce_daemon(srv->mhd[i]);

		if (fd >= 0)
			close(fd);
	}
	conn_watch_drain(srv->watch);
	delay_stop(srv->fail_delay); /* refused logins: answered now */
	deadline = clock_mono_ms() + srv->opts.drain_timeout_s * 1000ULL;
	while ((left = __atomic_load_n(&srv->inflight, __ATOMIC_RELAXED)) > 0 &&
	       clock_mono_ms() < deadline) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (left > 0)
		log_warn("stopping with %d requests still in flight", left);
	/*
	 * MHD may not stop with a connection suspended: checks and fetches
	 * not begun are answered now (busy), checks under way are waited for
	 * (bounded by bcrypt's cost and LDAP's timeouts), upstream transfers
	 * under way are ended. Later ones run inline.
	 */
	offload_stop(srv->offload);
	sync_stop(srv->opts.sync);
	offload_stop(srv->pulls);
	offload_stop(srv->searches);
	for (unsigned i = 0; i < srv->n_mhd; i++)
		MHD_stop_daemon(srv->mhd[i]);
	offload_free(srv->offload);
	offload_free(srv->pulls);
	offload_free(srv->searches);
	conn_watch_free(srv->watch);
	delay_free(srv->fail_delay);
	live_free(srv->pol);
	tls_free(srv->tls);
	free(srv);
}

void http_set_ready(struct http_server *srv, bool ready)
{
	if (ready)
		__atomic_or_fetch(&srv->health, HEALTH_READY, __ATOMIC_RELEASE);
	else
		__atomic_and_fetch(&srv->health, ~HEALTH_READY,
		                   __ATOMIC_RELEASE);
}
