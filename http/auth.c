/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.c - Basic credentials against an htpasswd file, then LDAP (as zot
 * tries them), with a cache of verified headers. The cache also keeps
 * refused headers for a short while (REFUSED_TTL_MS), so that a client
 * sending the same wrong password again and again (a stale secret in a
 * CI job, or a flood) costs one bcrypt per header and period, not one
 * per request. A refusal never displaces a live verified entry, and a
 * change of the file (its generation) forgets both. Only a definite "no"
 * is kept: LDAP that could not answer is asked again next time.
 */
#define LOG_MODULE "auth"
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "daemon/base64.h"
#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/testhold.h"
#include "http/auth.h"
#include "http/ldap.h"

#define BCRYPT_LEN    60 /* "$2y$NN$" + 22 salt + 31 hash characters */
#define CACHE_SLOTS   4096
#define CACHE_TTL_MS  60000
#define REFUSED_TTL_MS 10000 /* a refused header, at most this long */
#define CACHE_STRIPES 64 /* locks over the slots */
#define KEY_LEN       32

struct entry {
	char *user;
	char hash[BCRYPT_LEN + 1];
};

struct htpasswd {
	struct entry *v; /* sorted by user */
	size_t n;
};

static int by_user(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->user,
	              ((const struct entry *)b)->user);
}

void htpasswd_free(struct htpasswd *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].user);
	OPENSSL_cleanse(h->v, h->n * sizeof(*h->v));
	free(h->v);
	free(h);
}

size_t htpasswd_count(const struct htpasswd *h)
{
	return h ? h->n : 0;
}

static bool bcrypt_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '/';
}

/* "$2y$NN$" with NN 04..31, then 53 characters of bcrypt's base64. */
static bool bcrypt_ok(const char *s, size_t len)
{
	int cost;

	if (len != BCRYPT_LEN || s[0] != '$' || s[1] != '2' ||
	    (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$' ||
	    s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' || s[6] != '$')
		return false;
	cost = (s[4] - '0') * 10 + (s[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	for (size_t i = 7; i < len; i++)
		if (!bcrypt_char(s[i]))
			return false;
	return true;
}

static bool user_char_ok(unsigned char c)
{
	return c >= 0x20 && c != 0x7f && c != ':';
}

/* Check and add line @lno, "user:hash" (@len bytes, no newline). */
static int add_line(struct htpasswd *h, const char *line, size_t len,
                    const char *name, size_t lno, struct err *err)
{
	const char *colon = memchr(line, ':', len);
	const char *hash;
	size_t ulen, hlen;
	struct entry *grown;

	if (!colon)
		return err_set(err, ERR_INVALID, "%s:%zu: expected user:hash",
		               name, lno);
	ulen = (size_t)(colon - line);
	if (ulen == 0 || ulen > AUTH_USER_MAX)
		return err_set(err, ERR_INVALID,
		               "%s:%zu: a user name must have 1 to %d bytes",
		               name, lno, AUTH_USER_MAX);
	for (size_t i = 0; i < ulen; i++)
		if (!user_char_ok((unsigned char)line[i]))
			return err_set(err, ERR_INVALID,
			               "%s:%zu: control character in the user "
			               "name",
			               name, lno);
	hash = colon + 1;
	hlen = len - ulen - 1;
	if (!bcrypt_ok(hash, hlen))
		return err_set(
			err, ERR_INVALID,
			"%s:%zu: user '%.*s': not a bcrypt hash; only "
			"bcrypt entries ($2y$, $2b$, $2a$) are supported "
			"(htpasswd -B)",
			name, lno, (int)ulen, line);
	grown = realloc(h->v, (h->n + 1) * sizeof(*grown));
	if (!grown)
		return err_set(err, ERR_NOMEM, "out of memory");
	h->v = grown;
	grown[h->n].user = strndup(line, ulen);
	if (!grown[h->n].user)
		return err_set(err, ERR_NOMEM, "out of memory");
	memcpy(grown[h->n].hash, hash, BCRYPT_LEN);
	grown[h->n].hash[BCRYPT_LEN] = '\0';
	h->n++;
	return 0;
}

int htpasswd_parse(const char *text, size_t len, const char *name,
                   struct htpasswd **out, struct err *err)
{
	struct htpasswd *h = calloc(1, sizeof(*h));
	size_t pos = 0, lno = 0;

	if (!h)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (len > AUTH_HTPASSWD_MAX) {
		err_set(err, ERR_INVALID, "%s: larger than %d bytes", name,
		        AUTH_HTPASSWD_MAX);
		goto fail;
	}
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;

		pos += l + (nl ? 1 : 0);
		lno++;
		if (memchr(line, '\0', l)) {
			err_set(err, ERR_INVALID, "%s:%zu: NUL byte", name,
			        lno);
			goto fail;
		}
		if (l && line[l - 1] == '\r')
			l--;
		if (l == 0 || line[0] == '#')
			continue;
		if (add_line(h, line, l, name, lno, err) < 0)
			goto fail;
	}
	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), by_user);
	for (size_t i = 1; i < h->n; i++) {
		if (strcmp(h->v[i - 1].user, h->v[i].user) == 0) {
			err_set(err, ERR_INVALID, "%s: user '%s' appears twice",
			        name, h->v[i].user);
			goto fail;
		}
	}
	*out = h;
	return 0;
fail:
	htpasswd_free(h);
	return -1;
}

int htpasswd_load(const char *path, struct htpasswd **out, struct err *err)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (fs_read_file(path, AUTH_HTPASSWD_MAX, &text, &len, err) < 0) {
		err_prefix(err, "htpasswd file '%s'", path);
		return -1;
	}
	ret = htpasswd_parse(text, len, path, out, err);
	OPENSSL_cleanse(text, len);
	free(text);
	return ret;
}

/* Does @pass hash to @hash? Compared in constant time. */
static bool bcrypt_matches(const char *hash, const char *pass)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *out;
	bool ok = false;

	if (!cd)
		return false;
	out = crypt_r(pass, hash, cd);
	if (out && strlen(out) == BCRYPT_LEN)
		ok = CRYPTO_memcmp(out, hash, BCRYPT_LEN) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool htpasswd_verify(const struct htpasswd *h, const char *user,
                     const char *pass)
{
	struct entry key = {.user = (char *)user};
	const struct entry *e;

	if (!h || !h->n)
		return false;
	e = bsearch(&key, h->v, h->n, sizeof(*h->v), by_user);
	if (!e) {
		/* Spend the same time as for a known user. */
		(void)bcrypt_matches(h->v[0].hash, pass);
		return false;
	}
	return bcrypt_matches(e->hash, pass);
}

/*
 * Decode @len characters of padded base64 into @out (room for len / 4 * 3
 * bytes). Returns the decoded length, or -1 if @s is not canonical base64.
 */
static long b64_decode(const char *s, size_t len, unsigned char *out)
{
	size_t n = 0, pad = 0;

	if (len == 0 || len % 4)
		return -1;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		bool last = i + 4 == len;

		for (int j = 0; j < 4; j++) {
			bool padded = last && j >= 4 - (int)pad;

			v[j] = padded ? 0 : base64_digit((unsigned char)s[i + (size_t)j], false);
			if (v[j] < 0)
				return -1;
		}
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (!last || pad < 2)
			out[n++] =
				(unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (!last || pad < 1)
			out[n++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)n;
}

static bool ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

int auth_basic_parse(const char *hdr, char *user, char *pass, struct err *err)
{
	unsigned char buf[AUTH_HEADER_MAX / 4 * 3 + 1];
	size_t len = strnlen(hdr, AUTH_HEADER_MAX + 1), start = 5, ulen;
	const unsigned char *colon;
	long n;
	int ret = -1;

	if (len > AUTH_HEADER_MAX)
		return err_set(err, ERR_INVALID,
		               "Authorization header longer than %d bytes",
		               AUTH_HEADER_MAX);
	if (len < 6 || !ieq(hdr, "basic", 5) ||
	    (hdr[5] != ' ' && hdr[5] != '\t'))
		return err_set(err, ERR_INVALID,
		               "unsupported Authorization scheme (Basic "
		               "expected)");
	while (start < len && (hdr[start] == ' ' || hdr[start] == '\t'))
		start++;
	while (len > start && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
		len--;
	n = b64_decode(hdr + start, len - start, buf);
	if (n < 0)
		return err_set(err, ERR_INVALID,
		               "Authorization: invalid base64 credentials");
	colon = memchr(buf, ':', (size_t)n);
	if (memchr(buf, '\0', (size_t)n)) {
		err_set(err, ERR_INVALID, "Authorization: NUL in credentials");
		goto out;
	}
	if (!colon) {
		err_set(err, ERR_INVALID,
		        "Authorization: credentials without user:password");
		goto out;
	}
	ulen = (size_t)(colon - buf);
	if (n == 1) { /* ":" is what clients send having no credentials */
		user[0] = pass[0] = '\0';
		ret = 0;
		goto out;
	}
	if (ulen == 0 || ulen > AUTH_USER_MAX) {
		err_set(err, ERR_INVALID,
		        "Authorization: a user name must have 1 to %d bytes",
		        AUTH_USER_MAX);
		goto out;
	}
	for (size_t i = 0; i < ulen; i++) {
		if (!user_char_ok(buf[i])) {
			err_set(err, ERR_INVALID,
			        "Authorization: control character in the user "
			        "name");
			goto out;
		}
	}
	if ((size_t)n - ulen - 1 > AUTH_PASS_MAX) {
		err_set(err, ERR_INVALID,
		        "Authorization: password longer than %d bytes",
		        AUTH_PASS_MAX);
		goto out;
	}
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, (size_t)n - ulen - 1);
	pass[(size_t)n - ulen - 1] = '\0';
	ret = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

struct slot {
	unsigned char mac[SHA256_DIGEST_LENGTH]; /* keyed hash of the header */
	uint64_t gen;                            /* file generation */
	uint64_t expires_ms;                     /* monotonic */
	bool used;
	bool refused; /* a refusal, not a verified header */
	char user[AUTH_USER_MAX + 1];
	char *groups;      /* LDAP's, packed NUL-terminated names, or NULL */
	size_t groups_len; /* their bytes */
};

struct auth {
	char *path;            /* htpasswd file, or NULL: LDAP only */
	pthread_rwlock_t lock; /* guards h, st, gen */
	struct htpasswd *h;    /* NULL: the current file did not load */
	struct stat st;        /* the file as last read */
	uint64_t gen;          /* bumped on each re-read */
	unsigned char key[KEY_LEN];
	struct slot *slots;
	size_t n_slots;
	uint64_t ttl_ms;
	pthread_mutex_t stripes[CACHE_STRIPES];
	uint64_t hits, verified, failed, reloads, refused_hits; /* atomic */
	/* http.auth.ldap, asked after the file; NULL: none */
	struct ldap_auth *ldap;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

struct auth *auth_new(const struct auth_opts *opts, struct err *err)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (!a) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_rwlock_init(&a->lock, NULL);
	for (size_t i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_init(&a->stripes[i], NULL);
	a->n_slots = opts->cache_slots ? opts->cache_slots : CACHE_SLOTS;
	a->ttl_ms = opts->cache_ttl_ms ? opts->cache_ttl_ms : CACHE_TTL_MS;
	a->path = opts->htpasswd_path ? strdup(opts->htpasswd_path) : NULL;
	a->slots = calloc(a->n_slots, sizeof(*a->slots));
	if ((opts->htpasswd_path && !a->path) || !a->slots) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (RAND_bytes(a->key, sizeof(a->key)) != 1) {
		err_set(err, ERR_INTERNAL, "no random bytes for the cache key");
		goto fail;
	}
	if (opts->ldap) {
		a->ldap = ldap_auth_new(opts->ldap, err);
		if (!a->ldap)
			goto fail;
	}
	if (!a->path)
		return a;
	if (stat(a->path, &a->st) < 0) {
		err_set_errno(err, errno, "htpasswd file '%s'", a->path);
		goto fail;
	}
	if (htpasswd_load(a->path, &a->h, err) < 0)
		goto fail;
	return a;
fail:
	auth_free(a);
	return NULL;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	htpasswd_free(a->h);
	ldap_auth_free(a->ldap);
	for (size_t i = 0; a->slots && i < a->n_slots; i++)
		free(a->slots[i].groups);
	if (a->slots)
		OPENSSL_cleanse(a->slots, a->n_slots * sizeof(*a->slots));
	free(a->slots);
	free(a->path);
	pthread_rwlock_destroy(&a->lock);
	for (size_t i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_destroy(&a->stripes[i]);
	OPENSSL_cleanse(a->key, sizeof(a->key));
	free(a);
}

/*
 * Re-read the file if it changed since it was read. A file that cannot
 * be read or parsed lets nobody in until it is fixed.
 */
static void refresh(struct auth *a)
{
	struct htpasswd *h = NULL;
	struct err err = ERR_INIT;
	struct stat st;
	bool gone;

	if (!a->path)
		return;
	gone = stat(a->path, &st) < 0;
	pthread_rwlock_rdlock(&a->lock);
	if (!gone && same_file(&st, &a->st)) {
		pthread_rwlock_unlock(&a->lock);
		return;
	}
	pthread_rwlock_unlock(&a->lock);

	pthread_rwlock_wrlock(&a->lock);
	if (gone || !same_file(&st, &a->st)) {
		if (gone)
			memset(&st, 0, sizeof(st));
		else if (htpasswd_load(a->path, &h, &err) < 0)
			h = NULL;
		/* The stat before the read: a change during it shows next time.
		 */
		if (gone || !same_file(&st, &a->st)) {
			htpasswd_free(a->h);
			a->h = h;
			a->st = st;
			a->gen++;
			__atomic_add_fetch(&a->reloads, 1, __ATOMIC_RELAXED);
			if (gone)
				log_err("htpasswd file '%s' is gone: nobody "
				        "can "
				        "log in",
				        a->path);
			else if (!h)
				log_err("%s: nobody can log in until it is "
				        "fixed",
				        err.msg);
			else
				log_info(
					"htpasswd file '%s' re-read: %zu users",
					a->path, h->n);
		} else {
			htpasswd_free(h);
		}
	}
	pthread_rwlock_unlock(&a->lock);
}

static uint64_t current_gen(struct auth *a)
{
	uint64_t gen;

	pthread_rwlock_rdlock(&a->lock);
	gen = a->gen;
	pthread_rwlock_unlock(&a->lock);
	return gen;
}

/* Keyed hash of the header: SHA-256 over the process key and it. */
static void header_mac(const struct auth *a, const char *hdr, size_t len,
                       unsigned char mac[SHA256_DIGEST_LENGTH])
{
	unsigned char buf[KEY_LEN + AUTH_HEADER_MAX];

	memcpy(buf, a->key, KEY_LEN);
	memcpy(buf + KEY_LEN, hdr, len);
	SHA256(buf, KEY_LEN + len, mac);
	OPENSSL_cleanse(buf, KEY_LEN + len);
}

static size_t slot_of(const struct auth *a, const unsigned char *mac)
{
	uint64_t v;

	memcpy(&v, mac, sizeof(v));
	return (size_t)(v % a->n_slots);
}

/*
 * A live entry for @mac: its user to @user, whether it is a refusal to
 * *@refused and, when @groups is not NULL, a copy of its groups (NULL for
 * none). A copy that cannot be made is a miss, which costs a verification
 * and nothing else.
 */
static bool cache_get(struct auth *a, const unsigned char *mac, uint64_t gen,
                      char *user, struct auth_groups *groups, bool *refused)
{
	size_t i = slot_of(a, mac);
	struct slot *s = &a->slots[i];
	bool hit;

	pthread_mutex_lock(&a->stripes[i % CACHE_STRIPES]);
	hit = s->used && s->gen == gen && s->expires_ms > clock_mono_ms() &&
	      CRYPTO_memcmp(s->mac, mac, sizeof(s->mac)) == 0;
	if (hit && groups && s->groups) {
		groups->names = malloc(s->groups_len);
		if (groups->names) {
			memcpy(groups->names, s->groups, s->groups_len);
			groups->len = s->groups_len;
		} else {
			hit = false;
		}
	}
	if (hit) {
		memcpy(user, s->user, sizeof(s->user));
		*refused = s->refused;
	}
	pthread_mutex_unlock(&a->stripes[i % CACHE_STRIPES]);
	return hit;
}

/* Keep @mac as verified for @user (@groups), or as refused when @groups
 * is NULL: that one never displaces a live verified entry. */
static void cache_put(struct auth *a, const unsigned char *mac, uint64_t gen,
                      const char *user, const struct auth_groups *groups)
{
	size_t i = slot_of(a, mac);
	struct slot *s = &a->slots[i];
	uint64_t now = clock_mono_ms();
	char *copy = NULL;

	if (groups && groups->names) {
		copy = malloc(groups->len);
		if (!copy)
			return; /* not cached: verified again next time */
		memcpy(copy, groups->names, groups->len);
	}
	pthread_mutex_lock(&a->stripes[i % CACHE_STRIPES]);
	if (!groups && s->used && !s->refused && s->gen == gen &&
	    s->expires_ms > now) {
		pthread_mutex_unlock(&a->stripes[i % CACHE_STRIPES]);
		return;
	}
	free(s->groups);
	s->groups = copy;
	s->groups_len = copy ? groups->len : 0;
	memcpy(s->mac, mac, sizeof(s->mac));
	s->gen = gen;
	s->refused = !groups;
	s->expires_ms =
		now + (groups || a->ttl_ms < REFUSED_TTL_MS ? a->ttl_ms
		                                             : REFUSED_TTL_MS);
	s->used = true;
	snprintf(s->user, sizeof(s->user), "%s", user);
	pthread_mutex_unlock(&a->stripes[i % CACHE_STRIPES]);
}

static enum auth_result refuse(struct auth *a, struct err *err)
{
	__atomic_add_fetch(&a->failed, 1, __ATOMIC_RELAXED);
	err->code = ERR_DENIED;
	err_oci(err, OCI_UNAUTHORIZED);
	return AUTH_FAILED;
}

/*
 * Ask LDAP about @user and @pass, if it is configured; groups into
 * @groups. A server that cannot answer refuses, and says so in the log;
 * *@denied is then false (the refusal is not cached).
 */
static bool ldap_ok(struct auth *a, const char *user, const char *pass,
                    struct auth_groups *groups, bool *denied,
                    struct err *err)
{
	struct err lerr = ERR_INIT;

	if (!a->ldap)
		return false;
	if (ldap_auth_verify(a->ldap, user, pass, &groups->names, &groups->len,
	                     &lerr) == 0)
		return true;
	*denied = lerr.code == ERR_DENIED;
	if (lerr.code == ERR_DENIED)
		log_debug("%s", lerr.msg);
	else
		log_warn("%s: refused", lerr.msg);
	err_set(err, ERR_DENIED, "invalid user name or password (user '%s')",
	        user);
	return false;
}

void auth_groups_release(struct auth_groups *g)
{
	free(g->names);
	*g = (struct auth_groups){0};
}

enum auth_result auth_check(struct auth *a, const char *hdr, char *user,
                            struct err *err)
{
	struct auth_groups ignored = {0};
	enum auth_result r = auth_check_groups(a, hdr, user, &ignored, err);

	auth_groups_release(&ignored);
	return r;
}

/*
 * What takes no verification: no header, one too long or malformed,
 * empty credentials, or a cache hit. True with the result in *r; false
 * with the parsed credentials in @user and @pass, the header's MAC in
 * @mac, for a verification.
 */
static bool check_quick(struct auth *a, const char *hdr, char *user, char *pass,
                        struct auth_groups *groups, unsigned char *mac,
                        enum auth_result *r, struct err *err)
{
	size_t len;
	bool refused = false;

	*groups = (struct auth_groups){0};
	*r = AUTH_ANONYMOUS;
	if (!hdr)
		return true;
	len = strnlen(hdr, AUTH_HEADER_MAX + 1);
	if (len > AUTH_HEADER_MAX) {
		err_set(err, ERR_INVALID,
		        "Authorization header longer than %d bytes",
		        AUTH_HEADER_MAX);
		*r = refuse(a, err);
		return true;
	}
	refresh(a);
	header_mac(a, hdr, len, mac);
	if (cache_get(a, mac, current_gen(a), user, groups, &refused)) {
		__atomic_add_fetch(&a->hits, 1, __ATOMIC_RELAXED);
		if (!refused) {
			*r = AUTH_OK;
			return true;
		}
		__atomic_add_fetch(&a->refused_hits, 1, __ATOMIC_RELAXED);
		err_set(err, ERR_DENIED,
		        "invalid user name or password (user '%s')", user);
		*r = refuse(a, err);
		return true;
	}
	if (auth_basic_parse(hdr, user, pass, err) < 0) {
		*r = refuse(a, err);
		return true;
	}
	return !user[0]; /* empty: anonymous */
}

bool auth_check_quick(struct auth *a, const char *hdr, char *user,
                      struct auth_groups *groups, enum auth_result *r,
                      struct err *err)
{
	unsigned char mac[SHA256_DIGEST_LENGTH];
	char pass[AUTH_PASS_MAX + 1];
	bool done = check_quick(a, hdr, user, pass, groups, mac, r, err);

	OPENSSL_cleanse(pass, sizeof(pass));
	return done;
}

enum auth_result auth_check_groups(struct auth *a, const char *hdr, char *user,
                                   struct auth_groups *groups, struct err *err)
{
	unsigned char mac[SHA256_DIGEST_LENGTH];
	char pass[AUTH_PASS_MAX + 1];
	enum auth_result r;
	uint64_t gen;
	bool ok, denied = true;

	if (check_quick(a, hdr, user, pass, groups, mac, &r, err)) {
		OPENSSL_cleanse(pass, sizeof(pass));
		return r;
	}
	test_hold("authcheck", user);
	pthread_rwlock_rdlock(&a->lock);
	ok = htpasswd_verify(a->h, user, pass);
	gen = a->gen;
	pthread_rwlock_unlock(&a->lock);
	if (!ok)
		ok = ldap_ok(a, user, pass, groups, &denied, err);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (!ok) {
		if (!a->ldap)
			err_set(err, ERR_DENIED,
			        "invalid user name or password (user '%s')",
			        user);
		if (denied)
			cache_put(a, mac, gen, user, NULL);
		return refuse(a, err);
	}
	__atomic_add_fetch(&a->verified, 1, __ATOMIC_RELAXED);
	cache_put(a, mac, gen, user, groups);
	return AUTH_OK;
}

void auth_stats(struct auth *a, struct auth_stats *out)
{
	uint64_t gen = current_gen(a), now = clock_mono_ms();

	out->hits = __atomic_load_n(&a->hits, __ATOMIC_RELAXED);
	out->verified = __atomic_load_n(&a->verified, __ATOMIC_RELAXED);
	out->failed = __atomic_load_n(&a->failed, __ATOMIC_RELAXED);
	out->refused_hits = __atomic_load_n(&a->refused_hits, __ATOMIC_RELAXED);
	out->reloads = __atomic_load_n(&a->reloads, __ATOMIC_RELAXED);
	out->cached = 0;
	for (size_t i = 0; i < a->n_slots; i++) {
		struct slot *s = &a->slots[i];

		pthread_mutex_lock(&a->stripes[i % CACHE_STRIPES]);
		out->cached += s->used && !s->refused && s->gen == gen &&
		               s->expires_ms > now;
		pthread_mutex_unlock(&a->stripes[i % CACHE_STRIPES]);
	}
}
