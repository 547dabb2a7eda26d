/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.c - HTTPS and mutual TLS; the only file that speaks GnuTLS.
 *
 * libmicrohttpd does the TLS itself (Debian builds it with GnuTLS). It
 * wants a certificate and key when it starts, for credentials of its own
 * that cannot be changed afterwards; so dray keeps credentials of its own
 * too (a "set": chain, key and, for mutual TLS, the client CA) and switches
 * every new connection to the current set when MHD announces it
 * (MHD_CONNECTION_NOTIFY_STARTED comes after the GnuTLS session exists and
 * before the handshake). A SIGHUP loads a new set and makes it current:
 * new handshakes present it, open connections keep theirs. A set is
 * counted: each connection holds it from STARTED to CLOSED (MHD has freed
 * the session by then), and a replaced set is freed by its last
 * connection. With a client CA, a client must present a certificate that
 * GnuTLS verifies against it during the handshake, or the handshake fails.
 *
 * Thread-safety: tls->lock protects cur, sets, each set's refs and the
 * connection map; MHD threads take it once per connection open and close,
 * the main thread on reload.
 */
#define LOG_MODULE "http"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "daemon/fsutil.h"
#include "daemon/hmap.h"
#include "daemon/log.h"
#include "http/http_int.h"

/* The largest certificate, key or CA file read. */
#define PEM_MAX (1u << 20)

/*
 * TLS 1.2 and 1.3 only; on 1.2 only ECDHE key exchange (forward secrecy)
 * with AEAD ciphers (AES-GCM, ChaCha20-Poly1305): no CBC, RC4, 3DES, SHA-1
 * MACs, static RSA or DHE. SECURE128 drops anything weaker than 128-bit
 * security (small groups and keys, SHA-1 and MD5 signatures).
 */
const char tls_priorities[] =
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
	":-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305"
	":-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE";

/* One loaded certificate, key and client CA. */
struct tls_set {
	gnutls_certificate_credentials_t cred; /* what GnuTLS uses */
	unsigned refs;                         /* connections that use it */
	struct tls_set *next;                  /* in tls->sets */
	char desc[160]; /* "serial ..., expires ..." for the log */
};

struct http_tls {
	pthread_mutex_t lock;   /* see the file comment */
	struct tls_set *cur;    /* what new connections get */
	struct tls_set *sets;   /* every set not freed yet, cur included */
	struct hmap *conns;     /* "%p" of an MHD connection -> its set */
	char *cert, *key, *ca;  /* the paths (ca NULL: no mutual TLS) */
	char *boot_cert;        /* PEM given to MHD at start */
	char *boot_key;         /* likewise; wiped when freed */
	size_t boot_key_len;    /* its length */
	struct tls_ident ident; /* whom a client certificate names */
};

static void set_free(struct tls_set *s)
{
	if (!s)
		return;
	if (s->cred)
		gnutls_certificate_free_credentials(s->cred);
	free(s);
}

/* "serial 0a1b..., expires 2027-01-01": the chain's first certificate. */
static void describe(struct tls_set *s)
{
	gnutls_datum_t der;
	gnutls_x509_crt_t crt = NULL;
	unsigned char serial[40];
	size_t n = sizeof(serial), off;
	char when[32] = "?";
	time_t t;
	struct tm tm;

	snprintf(s->desc, sizeof(s->desc), "serial ?");
	if (gnutls_certificate_get_crt_raw(s->cred, 0, 0, &der) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_serial(crt, serial, &n) < 0)
		goto out;
	t = gnutls_x509_crt_get_expiration_time(crt);
	if (t != (time_t)-1 && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	off = (size_t)snprintf(s->desc, sizeof(s->desc), "serial ");
	for (size_t i = 0; i < n && off + 3 < sizeof(s->desc); i++)
		off += (size_t)snprintf(s->desc + off, sizeof(s->desc) - off,
		                        "%02X", serial[i]);
	snprintf(s->desc + off, sizeof(s->desc) - off, ", expires %s", when);
	if (t != (time_t)-1 && t < time(NULL))
		log_warn("tls: certificate %s has expired", s->desc);
out:
	gnutls_x509_crt_deinit(crt);
}

static void wipe_free(char *p, size_t len)
{
	if (!p)
		return;
	gnutls_memset(p, 0, len);
	free(p);
}

/*
 * Read the files and build a set. If @cert_pem/@key_pem are not NULL the
 * PEM texts are handed out too (the caller frees them). ERR_NOT_FOUND,
 * ERR_IO (a file), ERR_INVALID (not PEM, key does not match), ERR_NOMEM.
 */
static struct tls_set *load(const char *cert, const char *key, const char *ca,
                            char **cert_pem, char **key_pem, size_t *key_len,
                            struct err *err)
{
	struct tls_set *s = calloc(1, sizeof(*s));
	char *c = NULL, *k = NULL, *a = NULL;
	size_t clen = 0, klen = 0, alen = 0;
	gnutls_datum_t dc, dk, da;
	int rc;

	if (!s) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (fs_read_file(cert, PEM_MAX, &c, &clen, err) < 0) {
		err_prefix(err, "http.tls.cert");
		goto fail;
	}
	if (fs_read_file(key, PEM_MAX, &k, &klen, err) < 0) {
		err_prefix(err, "http.tls.key");
		goto fail;
	}
	if (ca && fs_read_file(ca, PEM_MAX, &a, &alen, err) < 0) {
		err_prefix(err, "http.tls.cacert");
		goto fail;
	}
	if (gnutls_certificate_allocate_credentials(&s->cred) < 0) {
		s->cred = NULL;
		err_set(err, ERR_NOMEM, "cannot allocate TLS credentials");
		goto fail;
	}
	dc = (gnutls_datum_t){(unsigned char *)c, (unsigned)clen};
	dk = (gnutls_datum_t){(unsigned char *)k, (unsigned)klen};
	/* GnuTLS checks that the key belongs to the certificate. */
	rc = gnutls_certificate_set_x509_key_mem2(s->cred, &dc, &dk,
	                                          GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		err_set(err, ERR_INVALID,
		        "http.tls: key '%s' does not match certificate '%s'",
		        key, cert);
		goto fail;
	}
	if (rc < 0) {
		err_set(err, ERR_INVALID,
		        "http.tls: cannot use certificate '%s' with key '%s': "
		        "%s",
		        cert, key, gnutls_strerror(rc));
		goto fail;
	}
	if (a) {
		da = (gnutls_datum_t){(unsigned char *)a, (unsigned)alen};
		rc = gnutls_certificate_set_x509_trust_mem(s->cred, &da,
		                                           GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			err_set(err, ERR_INVALID,
			        "http.tls.cacert: no CA certificate in "
			        "'%s'%s%s",
			        ca, rc < 0 ? ": " : "",
			        rc < 0 ? gnutls_strerror(rc) : "");
			goto fail;
		}
	}
	describe(s);
	if (cert_pem) {
		*cert_pem = c;
		*key_pem = k;
		*key_len = klen;
		c = k = NULL;
	}
	wipe_free(k, klen);
	free(c);
	free(a);
	return s;
fail:
	wipe_free(k, klen);
	free(c);
	free(a);
	set_free(s);
	return NULL;
}

/* The keys go together. ERR_INVALID. */
static int opts_check(const struct http_opts *opts, struct err *err)
{
	if (!opts->tls_cert && !opts->tls_key) {
		if (opts->tls_cacert)
			return err_set(err, ERR_INVALID,
			               "http.tls.cacert needs http.tls.cert "
			               "and http.tls.key");
		return 0;
	}
	if (!opts->tls_cert || !opts->tls_key)
		return err_set(err, ERR_INVALID,
		               "http.tls needs both cert and key");
	return 0;
}

int http_tls_check(const struct http_opts *opts, struct err *err)
{
	struct tls_set *s;

	if (opts_check(opts, err) < 0)
		return -1;
	if (!opts->tls_cert)
		return 0;
	s = load(opts->tls_cert, opts->tls_key, opts->tls_cacert, NULL, NULL,
	         NULL, err);
	if (!s)
		return -1;
	set_free(s);
	return 0;
}

void tls_free(struct http_tls *tls)
{
	if (!tls)
		return;
	while (tls->sets) {
		struct tls_set *s = tls->sets;

		tls->sets = s->next;
		set_free(s);
	}
	hmap_free(tls->conns);
	tls_ident_release(&tls->ident);
	free(tls->cert);
	free(tls->key);
	free(tls->ca);
	free(tls->boot_cert);
	wipe_free(tls->boot_key, tls->boot_key_len);
	pthread_mutex_destroy(&tls->lock);
	free(tls);
}

struct http_tls *tls_new(const struct http_opts *opts, struct err *err)
{
	struct http_tls *tls;

	if (opts_check(opts, err) < 0 || !opts->tls_cert)
		return NULL;
	tls = calloc(1, sizeof(*tls));
	if (!tls) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&tls->lock, NULL);
	tls->conns = hmap_new();
	tls->cert = strdup(opts->tls_cert);
	tls->key = strdup(opts->tls_key);
	tls->ca = opts->tls_cacert ? strdup(opts->tls_cacert) : NULL;
	if (!tls->conns || !tls->cert || !tls->key ||
	    (opts->tls_cacert && !tls->ca)) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (tls_ident_init(&tls->ident, opts, err) < 0)
		goto fail;
	tls->cur = load(tls->cert, tls->key, tls->ca, &tls->boot_cert,
	                &tls->boot_key, &tls->boot_key_len, err);
	if (!tls->cur)
		goto fail;
	tls->sets = tls->cur;
	log_info("tls: certificate %s%s", tls->cur->desc,
	         tls->ca ? "; client certificates required" : "");
	return tls;
fail:
	tls_free(tls);
	return NULL;
}

const char *tls_boot_cert(const struct http_tls *tls)
{
	return tls->boot_cert;
}

const char *tls_boot_key(const struct http_tls *tls)
{
	return tls->boot_key;
}

/* Unlink @s from tls->sets; under the lock. */
static void unlink_set(struct http_tls *tls, struct tls_set *s)
{
	for (struct tls_set **p = &tls->sets; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

int http_tls_reload(struct http_server *srv, struct err *err)
{
	struct http_tls *tls = srv->tls;
	struct tls_set *s, *old = NULL;

	if (!tls)
		return 0;
	s = load(tls->cert, tls->key, tls->ca, NULL, NULL, NULL, err);
	if (!s)
		return -1;
	pthread_mutex_lock(&tls->lock);
	s->next = tls->sets;
	tls->sets = s;
	if (tls->cur->refs == 0) {
		old = tls->cur;
		unlink_set(tls, old);
	}
	tls->cur = s;
	pthread_mutex_unlock(&tls->lock);
	set_free(old);
	log_info("tls: certificate reloaded: %s", s->desc);
	return 0;
}

static gnutls_session_t session_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return ci ? (gnutls_session_t)ci->tls_session : NULL;
}

/*
 * A client certificate with an extendedKeyUsage must list clientAuth (as
 * Go's crypto/tls, hence zot, wants); one without the extension passes.
 */
static gnutls_typed_vdata_st client_auth = {
	.type = GNUTLS_DT_KEY_PURPOSE_OID,
	.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
};

/* A new connection, before its handshake: give it the current set. */
static void conn_started(struct http_tls *tls, struct MHD_Connection *conn)
{
	gnutls_session_t ses = session_of(conn);
	struct tls_set *s;
	char key[32];

	if (!ses)
		return;
	/*
	 * Whatever happens below, a client CA means a verified client
	 * certificate or no handshake. Without the swap the session keeps
	 * MHD's credentials, which hold no CA: then every client is
	 * refused, never let in unverified.
	 */
	if (tls->ca) {
		gnutls_certificate_server_set_request(ses, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert2(ses, &client_auth, 1, 0);
	}
	snprintf(key, sizeof(key), "%p", (void *)conn);
	pthread_mutex_lock(&tls->lock);
	s = tls->cur;
	if (hmap_put(tls->conns, key, s) == 0) {
		if (gnutls_credentials_set(ses, GNUTLS_CRD_CERTIFICATE,
		                           s->cred) == 0)
			s->refs++;
		else
			hmap_del(tls->conns, key);
	}
	pthread_mutex_unlock(&tls->lock);
}

/* MHD has freed the connection's session: let go of its set. */
static void conn_closed(struct http_tls *tls, struct MHD_Connection *conn)
{
	struct tls_set *s, *dead = NULL;
	char key[32];

	snprintf(key, sizeof(key), "%p", (void *)conn);
	pthread_mutex_lock(&tls->lock);
	s = hmap_del(tls->conns, key);
	if (s && --s->refs == 0 && s != tls->cur) {
		unlink_set(tls, s);
		dead = s;
	}
	pthread_mutex_unlock(&tls->lock);
	set_free(dead);
}

void tls_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;

	conn_notify(srv->watch, conn, socket_context, code);
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		conn_started(srv->tls, conn);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		conn_closed(srv->tls, conn);
}

/* What an identity attribute names; zot's spellings in attr_names. */
enum ident_attr { ID_CN, ID_SUBJECT, ID_EMAIL, ID_URI, ID_DNS };

static const struct {
	const char *name;
	enum ident_attr attr;
} attr_names[] = {
	{"commonname", ID_CN}, {"cn", ID_CN},       {"subject", ID_SUBJECT},
	{"dn", ID_SUBJECT},    {"email", ID_EMAIL}, {"rfc822name", ID_EMAIL},
	{"uri", ID_URI},       {"url", ID_URI},     {"dnsname", ID_DNS},
	{"dns", ID_DNS},
};

/* The attribute @name names (any case, spaces around), or -1. */
static int attr_of(const char *name)
{
	size_t n;

	while (*name == ' ' || *name == '\t')
		name++;
	n = strlen(name);
	while (n && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
		if (strlen(attr_names[i].name) == n &&
		    strncasecmp(attr_names[i].name, name, n) == 0)
			return (int)attr_names[i].attr;
	return -1;
}

bool http_mtls_attr_known(const char *name)
{
	return attr_of(name) >= 0;
}

int tls_ident_init(struct tls_ident *id, const struct http_opts *opts,
                   struct err *err)
{
	*id = (struct tls_ident){.n = 1,
	                         .attrs = {ID_CN},
	                         .uri_idx = opts->mtls_uri_index,
	                         .dns_idx = opts->mtls_dns_index,
	                         .email_idx = opts->mtls_email_index};
	if (opts->n_mtls_attrs > TLS_IDENT_MAX)
		return err_set(
			err, ERR_INVALID,
			"http.auth.mtls.identityAttributes: more than %d",
			TLS_IDENT_MAX);
	if (opts->n_mtls_attrs)
		id->n = opts->n_mtls_attrs;
	for (size_t i = 0; i < opts->n_mtls_attrs; i++) {
		int a = attr_of(opts->mtls_attrs[i]);

		if (a < 0)
			return err_set(err, ERR_INVALID,
			               "http.auth.mtls.identityAttributes: "
			               "unknown '%s'",
			               opts->mtls_attrs[i]);
		id->attrs[i] = (unsigned char)a;
	}
	if (opts->mtls_uri_pattern) {
		if (regcomp(&id->re, opts->mtls_uri_pattern, REG_EXTENDED) != 0)
			return err_set(err, ERR_INVALID,
			               "http.auth.mtls.uriSanPattern: not a "
			               "regular expression");
		id->has_re = true;
		if (id->re.re_nsub < 1)
			return err_set(
				err, ERR_INVALID,
				"http.auth.mtls.uriSanPattern: no group");
	}
	return 0;
}

void tls_ident_release(struct tls_ident *id)
{
	if (id->has_re)
		regfree(&id->re);
	id->has_re = false;
}

/* A copy of @len bytes at @s if they are printable text, else NULL. */
static char *printable_dup(const char *s, size_t len)
{
	if (len == 0 || memchr(s, '\0', len))
		return NULL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return strndup(s, len);
}

/* The CommonName of @crt, if it is printable text; else NULL. */
static char *common_name(gnutls_x509_crt_t crt)
{
	char buf[256];
	size_t n = sizeof(buf);

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	                                  0, buf, &n) < 0 ||
	    n >= sizeof(buf))
		return NULL;
	return printable_dup(buf, n);
}

/* The subject as RFC 4514 text ("CN=x,O=y"), as Go prints it. */
static char *subject(gnutls_x509_crt_t crt)
{
	gnutls_datum_t dn = {NULL, 0};
	char *s = NULL;

	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0)
		s = printable_dup((const char *)dn.data, dn.size);
	gnutls_free(dn.data);
	return s;
}

/* The @idx-th subject alternative name of @type, or NULL. */
static char *san(gnutls_x509_crt_t crt, int type, unsigned idx)
{
	char buf[1024];
	unsigned seen = 0;

	for (unsigned seq = 0;; seq++) {
		size_t n = sizeof(buf);
		int t = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &n,
		                                             NULL);

		if (t == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue; /* too long for a user name anyway */
		if (t < 0)
			return NULL;
		if (t == type && seen++ == idx)
			return printable_dup(buf, n);
	}
}

/* A URI SAN, or the first group of uriSanPattern in it. */
static char *uri_part(const struct tls_ident *id, char *uri)
{
	regmatch_t m[2];
	char *part;

	if (!uri || !id->has_re)
		return uri;
	part = regexec(&id->re, uri, 2, m, 0) == 0 && m[1].rm_so >= 0
	               ? printable_dup(uri + m[1].rm_so,
	                               (size_t)(m[1].rm_eo - m[1].rm_so))
	               : NULL;
	free(uri);
	return part;
}

static char *ident_attr(const struct tls_ident *id, gnutls_x509_crt_t crt,
                        enum ident_attr a)
{
	switch (a) {
	case ID_CN:
		return common_name(crt);
	case ID_SUBJECT:
		return subject(crt);
	case ID_EMAIL:
		return san(crt, GNUTLS_SAN_RFC822NAME, id->email_idx);
	case ID_URI:
		return uri_part(id, san(crt, GNUTLS_SAN_URI, id->uri_idx));
	case ID_DNS:
		return san(crt, GNUTLS_SAN_DNSNAME, id->dns_idx);
	}
	return NULL;
}

char *tls_ident_of(const struct tls_ident *id, const void *der, size_t len)
{
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
	gnutls_x509_crt_t crt = NULL;
	char *user = NULL;

	if (len > UINT32_MAX || gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) == 0)
		for (size_t i = 0; i < id->n && !user; i++)
			user = ident_attr(id, crt,
			                  (enum ident_attr)id->attrs[i]);
	gnutls_x509_crt_deinit(crt);
	return user;
}

int tls_peer(const struct http_tls *tls, struct MHD_Connection *conn,
             char **user)
{
	gnutls_session_t ses = session_of(conn);
	const gnutls_datum_t *peers;
	unsigned n = 0;

	*user = NULL;
	if (!tls->ca)
		return 0;
	/*
	 * The handshake verified the certificate already; this only makes
	 * sure no path around that check reaches a handler.
	 */
	if (!ses || gnutls_session_get_verify_cert_status(ses) != 0)
		return -1;
	peers = gnutls_certificate_get_peers(ses, &n);
	if (!peers || n == 0)
		return -1;
	*user = tls_ident_of(&tls->ident, peers[0].data, peers[0].size);
	return 0;
}
