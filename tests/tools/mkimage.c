/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimage.c - write a small, deterministic OCI image layout for tests.
 *
 * usage: mkimage DIR TAG [--layers N] [--layer-size BYTES] [--seed S]
 *                [--index]
 *
 * Each layer is an uncompressed tar (application/vnd.oci.image.layer.v1.tar)
 * holding one file of seeded pseudo-random bytes, so the same arguments
 * always give the same digests. --index wraps the image manifest in an
 * image index. TAG is added to DIR/index.json (replacing an entry with the
 * same tag, keeping every other one), so several tags can share a layout.
 * Prints the digest of the tagged descriptor on stdout.
 *
 * Files enter blobs/ and index.json by write, fsync and rename. Standalone
 * apart from OpenSSL's EVP for sha256.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>

#define PATH_CAP  4096
#define TAR_BLOCK 512
#define INDEX_MAX (16u << 20) /* refuse to rewrite a larger index.json */
#define REF_NAME  "org.opencontainers.image.ref.name"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_LAYER    "application/vnd.oci.image.layer.v1.tar"

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* A growable, always NUL-terminated string. */
struct buf {
	char *p;    /* the bytes, NUL-terminated; NULL until first append */
	size_t len; /* bytes used, without the NUL */
	size_t cap; /* bytes allocated */
};

/* A blob being written: hashed as it is written, renamed when done. */
struct blobw {
	FILE *f;                 /* the temporary file under blobs/sha256 */
	EVP_MD_CTX *ctx;         /* running sha256 of everything written */
	uint64_t size;           /* bytes written so far */
	char tmp[PATH_CAP];      /* path of the temporary file */
	char digest[7 + 64 + 1]; /* "sha256:<hex>", filled by blob_finish */
};

/* The parsed command line. */
struct opts {
	const char *dir;     /* layout directory, created if missing */
	const char *tag;     /* value of the ref.name annotation */
	unsigned layers;     /* number of layer blobs */
	uint64_t layer_size; /* bytes of random data in each layer's file */
	uint64_t seed;       /* PRNG seed: same seed, same bytes */
	bool index;          /* wrap the manifest in an image index */
};

static const char *prog = "mkimage";

static void die(const char *fmt, ...) PRINTF_LIKE(1, 2);

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: %s DIR TAG [--layers N] [--layer-size BYTES] "
	        "[--seed S] [--index]\n",
	        prog);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		die("out of memory");
	return q;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		die("formatting failed");
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
		return;
	}
	{
		char *big = xrealloc(NULL, (size_t)n + 1);

		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		buf_add(b, big, (size_t)n);
		free(big);
	}
}

static void path_join(char *out, const char *a, const char *b)
{
	int n = snprintf(out, PATH_CAP, "%s/%s", a, b);

	if (n < 0 || n >= PATH_CAP)
		die("path too long: '%s/%s'", a, b);
}

/* mkdir -p */
static void mkdirs(const char *path)
{
	char tmp[PATH_CAP];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		die("bad directory '%s'", path);
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			die("cannot create '%s': %s", tmp, strerror(errno));
		if (i < n)
			tmp[i] = '/';
	}
}

static void fsync_close(FILE *f, const char *path)
{
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		die("cannot write '%s': %s", path, strerror(errno));
	if (fclose(f) != 0)
		die("cannot close '%s': %s", path, strerror(errno));
}

/* splitmix64: tiny, seedable, and good enough for test payloads. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void blob_begin(struct blobw *w, const char *dir)
{
	char blobs[PATH_CAP];

	memset(w, 0, sizeof(*w));
	path_join(blobs, dir, "blobs/sha256");
	path_join(w->tmp, blobs, ".mkimage.tmp");
	w->f = fopen(w->tmp, "wb");
	if (!w->f)
		die("cannot create '%s': %s", w->tmp, strerror(errno));
	w->ctx = EVP_MD_CTX_new();
	if (!w->ctx || EVP_DigestInit_ex(w->ctx, EVP_sha256(), NULL) != 1)
		die("cannot initialise sha256");
}

static void blob_write(struct blobw *w, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (fwrite(p, 1, n, w->f) != n)
		die("cannot write '%s': %s", w->tmp, strerror(errno));
	if (EVP_DigestUpdate(w->ctx, p, n) != 1)
		die("sha256 update failed");
	w->size += n;
}

static void blob_finish(struct blobw *w, const char *dir)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char rel[PATH_CAP], final[PATH_CAP];

	if (EVP_DigestFinal_ex(w->ctx, md, &mdlen) != 1 || mdlen != 32)
		die("sha256 final failed");
	EVP_MD_CTX_free(w->ctx);
	w->ctx = NULL;
	memcpy(w->digest, "sha256:", 7);
	for (unsigned int i = 0; i < mdlen; i++) {
		w->digest[7 + 2 * i] = hexd[md[i] >> 4];
		w->digest[7 + 2 * i + 1] = hexd[md[i] & 0xf];
	}
	w->digest[7 + 64] = '\0';
	fsync_close(w->f, w->tmp);
	w->f = NULL;
	if (snprintf(rel, sizeof(rel), "blobs/sha256/%s", w->digest + 7) < 0)
		die("formatting failed");
	path_join(final, dir, rel);
	if (rename(w->tmp, final) < 0)
		die("cannot rename '%s': %s", w->tmp, strerror(errno));
}

/* Write a whole in-memory blob; its digest lands in w->digest. */
static void blob_put(struct blobw *w, const char *dir, const struct buf *b)
{
	blob_begin(w, dir);
	blob_write(w, b->p, b->len);
	blob_finish(w, dir);
}

/* A zero-padded octal field of @width bytes, the last one NUL. */
static void put_octal(char *field, size_t width, uint64_t v)
{
	field[width - 1] = '\0';
	for (size_t i = width - 1; i > 0; i--) {
		field[i - 1] = (char)('0' + (v & 7));
		v >>= 3;
	}
	if (v)
		die("value does not fit in a tar header field");
}

static void tar_header(unsigned char hdr[TAR_BLOCK], const char *name,
                       uint64_t size)
{
	char *h = (char *)hdr;
	unsigned sum = 0;

	memset(hdr, 0, TAR_BLOCK);
	if (strlen(name) >= 100)
		die("tar member name too long");
	memcpy(h, name, strlen(name));                /* name[100] */
	put_octal(h + 100, 8, 0644);                  /* mode */
	put_octal(h + 108, 8, 0);                     /* uid */
	put_octal(h + 116, 8, 0);                     /* gid */
	put_octal(h + 124, 12, size);                 /* size */
	put_octal(h + 136, 12, UINT64_C(1700000000)); /* mtime */
	memset(h + 148, ' ', 8);     /* chksum, spaces while summing */
	h[156] = '0';                /* typeflag: regular file */
	memcpy(h + 257, "ustar", 6); /* magic, NUL included */
	memcpy(h + 263, "00", 2);    /* version */
	memcpy(h + 265, "root", 4);  /* uname */
	memcpy(h + 297, "root", 4);  /* gname */
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += hdr[i];
	put_octal(h + 148, 7, sum); /* six digits and a NUL ... */
	h[155] = ' ';               /* ... then a space */
}

/* Layer @i: a tar with one file "file<i>.bin" of seeded random bytes. */
static void write_layer(struct blobw *w, const struct opts *o, unsigned i)
{
	unsigned char block[65536];
	unsigned char hdr[TAR_BLOCK];
	uint64_t state = o->seed * UINT64_C(1000003) + i + 1;
	uint64_t left = o->layer_size;
	char name[64];
	size_t pad;

	if (snprintf(name, sizeof(name), "file%u.bin", i) < 0)
		die("formatting failed");
	blob_begin(w, o->dir);
	tar_header(hdr, name, o->layer_size);
	blob_write(w, hdr, sizeof(hdr));
	while (left > 0) {
		size_t n = left < sizeof(block) ? (size_t)left : sizeof(block);

		for (size_t k = 0; k < n; k += 8) {
			uint64_t r = rng_next(&state);
			size_t m = n - k < 8 ? n - k : 8;

			memcpy(block + k, &r, m);
		}
		blob_write(w, block, n);
		left -= n;
	}
	pad = (size_t)((TAR_BLOCK - o->layer_size % TAR_BLOCK) % TAR_BLOCK);
	memset(block, 0, sizeof(block));
	blob_write(w, block, pad);
	blob_write(w, block, 2 * TAR_BLOCK); /* end-of-archive marker */
	blob_finish(w, o->dir);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b = {0};
	char chunk[8192];
	size_t n;

	if (!f) {
		if (errno == ENOENT)
			return NULL;
		die("cannot open '%s': %s", path, strerror(errno));
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf_add(&b, chunk, n);
		if (b.len > INDEX_MAX)
			die("'%s' is too large", path);
	}
	if (ferror(f))
		die("cannot read '%s'", path);
	fclose(f);
	if (!b.p)
		buf_add(&b, "", 0);
	*len = b.len;
	return b.p;
}

/*
 * A minimal JSON scanner over existing index.json text: enough to find the
 * "manifests" array, split it into elements and read each element's ref.name
 * annotation. Strings are compared undecoded, so an escaped spelling of a
 * tag is not recognised (mkimage itself never writes one).
 */
struct scan {
	const char *p;   /* cursor */
	const char *end; /* one past the last byte */
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	                         *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool scan_string(struct scan *s, const char **start, size_t *len)
{
	skip_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return false;
	s->p++;
	*start = s->p;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\')
			s->p++;
		s->p++;
	}
	if (s->p >= s->end)
		return false;
	*len = (size_t)(s->p - *start);
	s->p++;
	return true;
}

static bool skip_value(struct scan *s, int depth)
{
	const char *str;
	size_t len;

	if (depth > 64)
		return false;
	skip_ws(s);
	if (s->p >= s->end)
		return false;
	if (*s->p == '"')
		return scan_string(s, &str, &len);
	if (*s->p == '{' || *s->p == '[') {
		char close = *s->p == '{' ? '}' : ']';

		s->p++;
		skip_ws(s);
		if (s->p < s->end && *s->p == close) {
			s->p++;
			return true;
		}
		for (;;) {
			if (close == '}') {
				if (!scan_string(s, &str, &len))
					return false;
				skip_ws(s);
				if (s->p >= s->end || *s->p != ':')
					return false;
				s->p++;
			}
			if (!skip_value(s, depth + 1))
				return false;
			skip_ws(s);
			if (s->p < s->end && *s->p == ',') {
				s->p++;
				continue;
			}
			if (s->p < s->end && *s->p == close) {
				s->p++;
				return true;
			}
			return false;
		}
	}
	/* number, true, false, null */
	if (!strchr("-0123456789tfn", *s->p))
		return false;
	while (s->p < s->end && strchr("+-.0123456789eEtruefalsn", *s->p))
		s->p++;
	return true;
}

static bool str_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/*
 * Find member @key of the object at the cursor; leaves the cursor on its
 * value. Returns false if the object has no such member or is malformed.
 */
static bool find_member(struct scan *s, const char *key)
{
	const char *k;
	size_t klen;

	skip_ws(s);
	if (s->p >= s->end || *s->p != '{')
		return false;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}')
		return false;
	for (;;) {
		if (!scan_string(s, &k, &klen))
			return false;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return false;
		s->p++;
		skip_ws(s);
		if (str_is(k, klen, key))
			return true;
		if (!skip_value(s, 1))
			return false;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		return false;
	}
}

/* Does the descriptor text [@p, @end) carry the ref.name @tag? */
static bool desc_has_tag(const char *p, const char *end, const char *tag)
{
	struct scan s = {p, end};
	const char *v;
	size_t vlen;

	if (!find_member(&s, "annotations") || !find_member(&s, REF_NAME))
		return false;
	return scan_string(&s, &v, &vlen) && str_is(v, vlen, tag);
}

/*
 * The new index.json text: @old (may be NULL) with any entry for @tag
 * dropped and @desc appended to "manifests".
 */
static void merge_index(struct buf *out, const char *old, size_t oldlen,
                        const char *tag, const char *desc)
{
	struct scan s;
	const char *open, *elem;
	bool first = true;

	if (!old) {
		buf_printf(out,
		           "{\"schemaVersion\":2,\"mediaType\":\"%s\","
		           "\"manifests\":[%s]}",
		           MT_INDEX, desc);
		return;
	}
	s.p = old;
	s.end = old + oldlen;
	if (!find_member(&s, "manifests") || s.p >= s.end || *s.p != '[')
		die("existing index.json has no \"manifests\" array");
	open = s.p++;
	buf_add(out, old, (size_t)(open - old) + 1);
	skip_ws(&s);
	if (s.p < s.end && *s.p == ']') {
		s.p++;
	} else {
		for (;;) {
			skip_ws(&s);
			elem = s.p;
			if (!skip_value(&s, 1))
				die("existing index.json is not valid JSON");
			if (!desc_has_tag(elem, s.p, tag)) {
				if (!first)
					buf_add(out, ",", 1);
				buf_add(out, elem, (size_t)(s.p - elem));
				first = false;
			}
			skip_ws(&s);
			if (s.p < s.end && *s.p == ',') {
				s.p++;
				continue;
			}
			if (s.p < s.end && *s.p == ']') {
				s.p++;
				break;
			}
			die("existing index.json is not valid JSON");
		}
	}
	if (!first)
		buf_add(out, ",", 1);
	buf_printf(out, "%s]", desc);
	buf_add(out, s.p, (size_t)(s.end - s.p));
}

static void write_file_atomic(const char *dir, const char *name,
                              const char *data, size_t len)
{
	char path[PATH_CAP], tmp[PATH_CAP];
	char tmpname[128];
	FILE *f;

	if (snprintf(tmpname, sizeof(tmpname), ".%s.mkimage.tmp", name) < 0)
		die("formatting failed");
	path_join(path, dir, name);
	path_join(tmp, dir, tmpname);
	f = fopen(tmp, "wb");
	if (!f)
		die("cannot create '%s': %s", tmp, strerror(errno));
	if (len && fwrite(data, 1, len, f) != len)
		die("cannot write '%s': %s", tmp, strerror(errno));
	fsync_close(f, tmp);
	if (rename(tmp, path) < 0)
		die("cannot rename '%s': %s", tmp, strerror(errno));
}

static bool tag_is_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' ||
		          (i > 0 && (c == '.' || c == '-'));

		if (!ok)
			return false;
	}
	return true;
}

static uint64_t parse_u64(const char *s, const char *what, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!*s || *s == '-')
		die("bad %s '%s'", what, s);
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		die("bad %s '%s'", what, s);
	return (uint64_t)v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int pos = 0;

	o->layers = 1;
	o->layer_size = 1024;
	o->seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--index") == 0) {
			o->index = true;
		} else if (strcmp(a, "--layers") == 0 && i + 1 < argc) {
			o->layers = (unsigned)parse_u64(argv[++i], "--layers",
			                                1000);
		} else if (strcmp(a, "--layer-size") == 0 && i + 1 < argc) {
			o->layer_size = parse_u64(argv[++i], "--layer-size",
			                          UINT64_C(1) << 33);
		} else if (strcmp(a, "--seed") == 0 && i + 1 < argc) {
			o->seed = parse_u64(argv[++i], "--seed", UINT64_MAX);
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage();
		} else if (a[0] == '-' && a[1] == '-') {
			die("unknown or incomplete option '%s'", a);
		} else if (pos == 0) {
			o->dir = a;
			pos++;
		} else if (pos == 1) {
			o->tag = a;
			pos++;
		} else {
			usage();
		}
	}
	if (pos != 2)
		usage();
	if (!tag_is_valid(o->tag))
		die("invalid tag '%s'", o->tag);
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct blobw w;
	struct buf cfg = {0}, man = {0}, idx = {0}, desc = {0}, out = {0};
	struct buf layers = {0}, diffs = {0}, hist = {0};
	char path[PATH_CAP], *old;
	size_t oldlen = 0;

	parse_args(argc, argv, &o);
	path_join(path, o.dir, "blobs/sha256");
	mkdirs(path);
	path_join(path, o.dir, "oci-layout");
	if (access(path, F_OK) != 0) {
		static const char lay[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

		write_file_atomic(o.dir, "oci-layout", lay, sizeof(lay) - 1);
	}

	for (unsigned i = 0; i < o.layers; i++) {
		const char *sep = i ? "," : "";

		write_layer(&w, &o, i);
		buf_printf(&layers,
		           "%s{\"mediaType\":\"%s\",\"digest\":\"%s\","
		           "\"size\":%" PRIu64 "}",
		           sep, MT_LAYER, w.digest, w.size);
		buf_printf(&diffs, "%s\"%s\"", sep, w.digest);
		buf_printf(&hist,
		           "%s{\"created\":\"2023-11-14T22:13:20Z\","
		           "\"created_by\":\"mkimage layer %u\"}",
		           sep, i);
	}
	buf_printf(&cfg,
	           "{\"created\":\"2023-11-14T22:13:20Z\","
	           "\"architecture\":\"amd64\",\"os\":\"linux\","
	           "\"config\":{\"Env\":[\"PATH=/usr/bin:/bin\"],"
	           "\"Labels\":{\"dray.test.seed\":\"%" PRIu64 "\"}},"
	           "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]},"
	           "\"history\":[%s]}",
	           o.seed, diffs.p ? diffs.p : "", hist.p ? hist.p : "");
	blob_put(&w, o.dir, &cfg);
	buf_printf(&man,
	           "{\"schemaVersion\":2,\"mediaType\":\"%s\","
	           "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
	           "\"size\":%" PRIu64 "},\"layers\":[%s]}",
	           MT_MANIFEST, MT_CONFIG, w.digest, w.size,
	           layers.p ? layers.p : "");
	blob_put(&w, o.dir, &man);
	if (o.index) {
		buf_printf(&idx,
		           "{\"schemaVersion\":2,\"mediaType\":\"%s\","
		           "\"manifests\":[{\"mediaType\":\"%s\","
		           "\"digest\":\"%s\",\"size\":%" PRIu64 ","
		           "\"platform\":{\"architecture\":\"amd64\","
		           "\"os\":\"linux\"}}]}",
		           MT_INDEX, MT_MANIFEST, w.digest, w.size);
		blob_put(&w, o.dir, &idx);
	}
	buf_printf(&desc,
	           "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%" PRIu64
	           ",\"annotations\":{\"" REF_NAME "\":\"%s\"}}",
	           o.index ? MT_INDEX : MT_MANIFEST, w.digest, w.size, o.tag);

	path_join(path, o.dir, "index.json");
	old = read_file(path, &oldlen);
	merge_index(&out, old, oldlen, o.tag, desc.p);
	write_file_atomic(o.dir, "index.json", out.p, out.len);
	printf("%s\n", w.digest);

	free(old);
	free(cfg.p);
	free(man.p);
	free(idx.p);
	free(desc.p);
	free(out.p);
	free(layers.p);
	free(diffs.p);
	free(hist.p);
	return fflush(stdout) == 0 ? 0 : 1;
}
