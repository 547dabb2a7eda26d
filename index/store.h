/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h - the layout store: repositories kept as OCI image layouts under
 * one root, and every read and change of them (blobs, uploads, manifests,
 * tags, referrers). http/ and fusefs/ reach the storage only through here.
 *
 * On disk: <root>/<repo>/{oci-layout,index.json,blobs/<alg>/<hex>}, one
 * layout per repository (nested names are nested directories), and
 * <root>/.dray/ for internal state (upload staging, temporary files), which
 * no repository name can reach. Files enter a layout only complete and
 * verified, by link or rename; index.json is replaced by write-fsync-rename
 * under the repository's lock. Tags are index.json descriptors annotated
 * with org.opencontainers.image.ref.name; a manifest pushed by digest is an
 * index.json descriptor without one.
 *
 * All functions are thread-safe. Strings passed in are borrowed for the
 * call. Error codes: ERR_INVALID for bad input, ERR_NOT_FOUND for unknown
 * repositories/blobs/manifests (store_repo_exists() tells which), ERR_IO,
 * ERR_NOMEM, ERR_TOO_LARGE, ERR_BUSY.
 */
#ifndef DRAY_STORE_H
#define DRAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <jansson.h>

#include "daemon/digest.h"
#include "daemon/err.h"

#define STORE_MANIFEST_MAX     (4u << 20) /* largest manifest accepted */
#define STORE_MEDIA_TYPE_MAX   256
#define STORE_UPLOAD_ID_MAX    40

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"

/* The manifest media types dray accepts; NULL is none of them. */
bool store_mt_is_image(const char *mt);    /* an image manifest */
bool store_mt_is_index(const char *mt);    /* an image index or list */
bool store_mt_is_manifest(const char *mt); /* either */

struct store;
struct upload;

/* A growable vector of owned strings. */
struct strvec {
	char **v;   /* the strings */
	size_t n;   /* how many */
	size_t cap; /* allocated slots */
};
MUST_CHECK int strvec_push(struct strvec *sv, const char *s);
void strvec_release(struct strvec *sv);

struct access;

/* One image changed by a published index.json, for store_opts.on_change. */
struct store_change {
	const char *repo;       /* the repository */
	const char *reference;  /* the tag, or the digest if untagged */
	const char *digest;     /* the manifest's digest */
	const char *media_type; /* its media type, or NULL */
	bool deleted;           /* the reference is gone, not (re)set */
};

struct store_opts {
	/*
	 * One copy of identical content: every <repo>/blobs/<alg>/<hex> is a
	 * hard link to <root>/.dray/blobs/<alg>/<hex>. Default true.
	 */
	bool dedupe;
	/* Throw the RocksDB index away and rebuild it from the layouts. */
	bool rebuild_index;
	/*
	 * Leave the index as it is found (no reconcile at open, no
	 * re-indexing on access): for fsck, which reports what differs.
	 */
	bool no_reconcile;
	/*
	 * Repository policies for changes made through the mount (the
	 * store_fs_* calls); NULL allows everything. HTTP checks its own.
	 */
	const struct access *access;
	/*
	 * Write uploads through the page cache, as on a file system that
	 * refuses O_DIRECT (the default tries O_DIRECT first).
	 */
	bool buffered_uploads;
	/* Most upload sessions open at once, in all and per repository;
	 * 0 is no limit. A session past either is refused (ERR_BUSY). */
	size_t max_uploads;
	size_t max_uploads_per_repo;
	/* Largest blob an upload may grow to, in bytes; 0 is no limit. */
	uint64_t max_blob_size;
	/*
	 * Manifest summaries kept in memory (least recently used go first);
	 * 0 for the default. Tests set it small.
	 */
	size_t msum_cache_max;
	/*
	 * extensions.lint: annotations every image manifest pushed must
	 * carry, in itself or as a label of its config (zot's lint); none:
	 * no check. Borrowed, as @access.
	 */
	char *const *lint;
	size_t n_lint;
	/*
	 * Called with each image an index.json about to be published adds,
	 * retags or drops (store_change), under the repository's lock,
	 * before the change is on disk; then on_change_end, from the same
	 * thread, says whether it was published (the call that made it has
	 * not returned yet). NULL: nobody is told. Neither may call back
	 * into the store.
	 */
	void (*on_change)(void *arg, const struct store_change *c);
	void (*on_change_end)(void *arg, bool published);
	void *on_change_arg;
	/*
	 * storage.indexDirectory: where this node keeps what it must not
	 * share with other nodes serving the same tree (its RocksDB index,
	 * its lock, its id). NULL: <root>/.dray, the tree is this process's
	 * alone. Set, the tree may be shared: temporaries go to
	 * <root>/.dray/tmp/<node id> (on the tree's file system, so renames
	 * stay renames), and staging other nodes may own is left alone.
	 */
	const char *index_dir;
	/*
	 * On a shared tree, how long a reader trusts the index.json it last
	 * checked before it stats it again (milliseconds; 0: 1000). Writers
	 * always check, under the lock across nodes.
	 */
	uint64_t recheck_ms;
	/*
	 * Most repositories whose parsed index.json is kept while nobody
	 * holds them (0: STORE_REPO_CACHE). Past it, a repository is dropped
	 * when its last holder lets go, and parsed again when next asked.
	 */
	size_t repo_cache;
};

#define STORE_REPO_CACHE 256

/*
 * Open the store rooted at @root, creating it (and .dray/) if missing, and
 * clear temporary files a crash left behind. @opts NULL means defaults.
 * ERR_IO.
 */
MUST_CHECK struct store *store_open_with(const char *root,
                                         const struct store_opts *opts,
                                         struct err *err);

/* store_open_with() with the default options. */
MUST_CHECK struct store *store_open(const char *root, struct err *err);

/*
 * Bring the index up to date with the layouts: re-index what changed
 * behind dray's back, drop what is gone. Runs at open; call it again to
 * pick up layouts copied into the root while serving. One reconcile runs
 * at a time: a call waits for the one running (a background one, say) to
 * end, then walks the tree itself. ERR_IO, ERR_NOMEM, ERR_BUSY (the store
 * is closing).
 */
MUST_CHECK int store_reconcile(struct store *st, struct err *err);

/* What the store's reconciles did since it was opened. */
struct store_reconcile_stats {
	uint64_t queued; /* background reconciles asked for (store_catalog) */
	uint64_t runs;   /* reconciles completed, of any cause */
	bool busy;       /* a background reconcile is asked for or running */
};

/* Fill @out. Cannot fail. */
void store_reconcile_stats(struct store *st, struct store_reconcile_stats *out);

/* Release @st. Accepts NULL. Open uploads are dropped. */
void store_close(struct store *st);

/* True if @repo is a repository (a layout exists for it). */
bool store_repo_exists(struct store *st, const char *repo);

/*
 * Repository names in lexical order that sort after @last (NULL: from the
 * start), at most @n of them; *more tells whether any remain. Answered
 * from the index, never waiting for a walk of the tree: a repository
 * created or indexed by dray is listed at once. When the root's mtime
 * changed since the last reconcile (a layout placed at the top level by
 * hand), a background reconcile is asked for, one at a time however many
 * requests see the change, and the layout is listed once it is done.
 */
MUST_CHECK int store_catalog(struct store *st, const char *last, size_t n,
                             struct strvec *out, bool *more, struct err *err);

/* Tags of @repo, like store_catalog(). ERR_NOT_FOUND for no repository. */
MUST_CHECK int store_tags(struct store *st, const char *repo,
                          const char *last, size_t n, struct strvec *out,
                          bool *more, struct err *err);

/* Size of blob @d in @repo. ERR_NOT_FOUND. */
MUST_CHECK int store_blob_stat(struct store *st, const char *repo,
                               const struct digest *d, uint64_t *size,
                               struct err *err);

/* Open blob @d of @repo for reading: *fd (caller closes) and *size. */
MUST_CHECK int store_blob_open(struct store *st, const char *repo,
                               const struct digest *d, int *fd,
                               uint64_t *size, struct err *err);

/*
 * Remove blob @d from @repo only. ERR_NOT_FOUND; ERR_EXISTS when a manifest
 * of the repository still references it.
 */
MUST_CHECK int store_blob_delete(struct store *st, const char *repo,
                                 const struct digest *d, struct err *err);

/*
 * Make blob @d of repository @from part of @repo as well: a hard link to
 * the content store's copy with dedupe, a copy of its own without.
 * ERR_NOT_FOUND when @from lacks it.
 */
MUST_CHECK int store_blob_mount(struct store *st, const char *repo,
                                const char *from, const struct digest *d,
                                struct err *err);

/*
 * Make blob @d part of @repo by linking it from another repository that
 * the index says holds it (store_blob_mount(), hash checked): a lookup,
 * never a walk of the tree. ERR_NOT_FOUND when no other one does. Only
 * for a blob @repo has a reason to hold (a manifest being stored names
 * it): a caller must never use it to hand one repository's blob to a
 * client of another.
 */
MUST_CHECK int store_blob_adopt(struct store *st, const char *repo,
                                const struct digest *d, struct err *err);

/*
 * Start an upload into @repo; its id is written to @id. ERR_BUSY when
 * opts.max_uploads or opts.max_uploads_per_repo sessions are open.
 */
MUST_CHECK int store_upload_start(struct store *st, const char *repo,
                                  char id[STORE_UPLOAD_ID_MAX],
                                  struct err *err);

/*
 * Take upload @id of @repo for exclusive use until store_upload_put().
 * ERR_NOT_FOUND (no such session), ERR_BUSY (another request holds it).
 */
MUST_CHECK struct upload *store_upload_get(struct store *st, const char *repo,
                                           const char *id, struct err *err);

/* Give back an upload taken with store_upload_get(). Accepts NULL. */
void store_upload_put(struct upload *u);

/* Bytes received so far. */
uint64_t store_upload_offset(const struct upload *u);

/*
 * Append @len bytes (hashed as they arrive). ERR_IO; ERR_TOO_LARGE past
 * opts.max_blob_size (nothing of them is taken).
 */
MUST_CHECK int store_upload_append(struct upload *u, const void *buf,
                                   size_t len, struct err *err);

/*
 * Would the upload fit opts.max_blob_size at @end bytes? 0, or -1 with
 * ERR_TOO_LARGE: for a length known before the bytes come.
 */
MUST_CHECK int store_upload_room(const struct upload *u, uint64_t end,
                                 struct err *err);

/*
 * Verify that the upload's content hashes to @d and commit it into its
 * repository as blob @d. On success the session ends and @u is released.
 * ERR_INVALID on a digest mismatch (the session stays, nothing stored).
 */
MUST_CHECK int store_upload_commit(struct upload *u, const struct digest *d,
                                   struct err *err);

/* End the session and discard its data; @u is released. */
void store_upload_cancel(struct upload *u);

/*
 * For readers that follow an upload while it is written (sync streams a
 * blob as it arrives): from here on every byte store_upload_offset()
 * counts is in the staging file (written through the page cache, not
 * gathered in O_DIRECT blocks). Returns a new read-only descriptor of
 * the staging file, which stays readable after commit or cancel remove
 * its name; the caller closes it. -1 with ERR_IO.
 */
MUST_CHECK int store_upload_follow(struct upload *u, struct err *err);

/* Remove sessions idle for longer than @idle_ms. Returns how many. */
size_t store_upload_expire(struct store *st, uint64_t idle_ms);

/* Upload sessions held now (open, or parked and taken up again). */
size_t store_upload_count(struct store *st);

/* What a manifest reference resolves to. */
struct manifest_desc {
	struct digest digest;                  /* the manifest's digest */
	char media_type[STORE_MEDIA_TYPE_MAX]; /* its media type */
	uint64_t size;                         /* its length in bytes */
};

/*
 * Resolve @ref (a tag or a digest) of @repo. With @body non-NULL, also
 * read the manifest into a new buffer (*body, free()). ERR_NOT_FOUND.
 */
MUST_CHECK int store_manifest_get(struct store *st, const char *repo,
                                  const char *ref, struct manifest_desc *out,
                                  char **body, struct err *err);

/* What a manifest PUT did. */
struct manifest_put_result {
	struct digest digest;  /* digest of the stored manifest */
	bool has_subject;      /* it names a subject */
	struct digest subject; /* the subject's digest when it does */
};

/*
 * Validate and store manifest @body (@len bytes, @content_type may be
 * NULL) in @repo under @ref: a tag (which now points at it) or its digest.
 * The repository is created if needed. On failure nothing changed, and
 * err->oci says why in the spec's words: NAME_INVALID (a bad repository
 * name), SIZE_INVALID (over STORE_MANIFEST_MAX, ERR_TOO_LARGE),
 * DIGEST_INVALID (a malformed digest reference, or content that does not
 * hash to it), MANIFEST_INVALID (a bad tag, or malformed or inconsistent
 * content), MANIFEST_BLOB_UNKNOWN (a referenced blob or manifest is not
 * in @repo, ERR_NOT_FOUND); OCI_NONE for any later failure.
 */
MUST_CHECK int store_manifest_put(struct store *st, const char *repo,
                                  const char *ref, const char *content_type,
                                  const char *body, size_t len,
                                  struct manifest_put_result *res,
                                  struct err *err);

/*
 * store_manifest_put() by @user (NULL: anonymous), who search shows as
 * the manifest's pusher (PushedBy) with the time (PushTimestamp) of its
 * first push into @repo.
 */
MUST_CHECK int store_manifest_put_as(struct store *st, const char *repo,
                                     const char *ref,
                                     const char *content_type,
                                     const char *body, size_t len,
                                     const char *user,
                                     struct manifest_put_result *res,
                                     struct err *err);

/*
 * What store_manifest_put() checks of @body before it looks at the
 * repository (well-formed JSON, schemaVersion, media types, descriptors):
 * 0, or -1 with ERR_INVALID (err->oci MANIFEST_INVALID) or ERR_NOMEM.
 * For bytes that are answered before they are stored (sync).
 */
MUST_CHECK int store_manifest_check(const char *body, size_t len,
                                    const char *content_type, struct err *err);

/*
 * Delete by tag (the tag goes; the manifest stays, untagged) or by digest
 * (the manifest and every tag naming it go). ERR_NOT_FOUND.
 */
MUST_CHECK int store_manifest_delete(struct store *st, const char *repo,
                                     const char *ref, struct err *err);

/*
 * The referrers of @subject in @repo as an OCI image index (JSON text in a
 * new buffer, free()), filtered by @artifact_type when non-NULL.
 */
MUST_CHECK int store_referrers(struct store *st, const char *repo,
                               const struct digest *subject,
                               const char *artifact_type, char **json,
                               size_t *len, struct err *err);

/*
 * What SIGHUP may change in an open store (rules.c): the policies the
 * mount's changes answer to, and lint. A version is immutable; readers
 * hold the one they took for the whole operation.
 */
struct store_rules {
	const struct access *access; /* as store_opts.access */
	char *const *lint;           /* as store_opts.lint */
	size_t n_lint;
};

struct live_ref;

/*
 * A version of the rules holding a copy of @r (the arrays it points to
 * are borrowed) and the reference @keep (may be NULL), which keeps them
 * alive and is dropped with the version. ERR_NOMEM (@keep is dropped).
 */
MUST_CHECK struct live_ref *store_rules_new(const struct store_rules *r,
                                            struct live_ref *keep,
                                            struct err *err);

/* Make @rules (from store_rules_new(), taken) the rules of @st. */
void store_rules_publish(struct store *st, struct live_ref *rules);

/* storage.dedupe from now on (the next blobs stored, and conversion). */
void store_set_dedupe(struct store *st, bool on);
/* storage.dedupe as last set. */
bool store_dedupe_on(const struct store *st);

/*
 * Check @body, manifest @d of @repo about to be committed, against the
 * lint rules in force: 0, or -1 with ERR_INVALID naming the missing
 * annotations (OCI_MANIFEST_INVALID), ERR_NOMEM, ERR_IO (its config
 * unreadable). Indexes pass; so does anything without rules.
 */
MUST_CHECK int store_lint(struct store *st, const char *repo, const char *body,
                          size_t len, struct err *err);

/* Garbage collection (gc.c). */

/*
 * Retention policies (zot's storage.retention semantics). daemon/config.c
 * fills them from the configuration file; index/ never sees the schema.
 * One keepTags rule of a policy:
 */
struct store_keep_tags {
	char **patterns;           /* regexes (POSIX ERE, whole tag) */
	size_t n_patterns;         /* 0: every tag */
	uint64_t pulled_within_ms; /* pulledWithin, 0: not a criterion */
	uint64_t pushed_within_ms; /* pushedWithin, 0: not a criterion */
	int64_t pushed_count;      /* mostRecentlyPushedCount, -1: none */
	int64_t pulled_count;      /* mostRecentlyPulledCount, -1: none */
};

/* One storage.retention.policies entry. */
struct store_policy {
	char **repositories; /* globs naming repositories */
	size_t n_repositories;
	bool delete_referrers;             /* deleteReferrers, default false */
	bool delete_untagged;              /* deleteUntagged, default true */
	struct store_keep_tags *keep_tags; /* keepTags rules */
	size_t n_keep_tags;                /* 0: every tag is kept */
};

/* storage.retention. */
struct store_retention {
	bool dry_run;                  /* dryRun: log, change nothing */
	uint64_t delay_ms;             /* delay, for untagged; default 24h */
	struct store_policy *policies; /* in order; the first match applies */
	size_t n_policies;
};

/*
 * Progress of a long operation (gc, scrub, fsck, import), for a display:
 * index/ counts, the caller prints. Each call reports the totals so far.
 */
struct store_progress {
	const char *unit;     /* what done and total count: "repositories" */
	uint64_t done;        /* items finished */
	uint64_t total;       /* items in all; 0: not known */
	uint64_t bytes;       /* bytes hashed, imported or freed so far */
	uint64_t bytes_total; /* bytes in all; 0: not known */
};

/*
 * A progress callback: @fn is called after each item (and, importing,
 * after each piece of a blob) on the operation's thread; it must be cheap.
 * Operations take a pointer to one, NULL for none.
 */
struct store_progress_cb {
	void (*fn)(void *arg, const struct store_progress *p);
	void *arg;
};

struct gc_opts {
	uint64_t delay_ms; /* never remove what changed more recently */
	bool dry_run;      /* report, change nothing */
	/*
	 * storage.retention (zot's semantics), or NULL. A repository that a
	 * policy names keeps only the tags its keepTags rules keep; its
	 * untagged manifests go after retention->delay_ms (unless
	 * deleteUntagged is false), and referrers whose subject is gone go
	 * only with deleteReferrers. Other repositories keep every tag.
	 */
	const struct store_retention *retention;
	/* Repositories done of all (bytes: freed so far), or NULL. */
	const struct store_progress_cb *progress;
};

struct gc_report {
	size_t tags;        /* tags removed by retention policies */
	size_t manifests;   /* untagged, unreferenced manifests removed */
	size_t blobs;       /* unreferenced repository blobs removed */
	size_t store_blobs; /* content store copies no repository links */
	size_t uploads;     /* idle upload sessions dropped */
	uint64_t bytes;     /* bytes freed (content store copies) */
	bool skipped;       /* another node holds the GC lease: no pass */
	size_t locks;       /* lock files of deleted repositories removed */
	size_t nodes;       /* dead nodes' staging directories removed */
};

/*
 * Collect garbage in @repo: manifests that are untagged and that nothing
 * kept refers to (not a child of a kept index, not a referrer of a kept
 * manifest), then blobs no remaining manifest refers to, each only when
 * older than opts->delay_ms. Holds only @repo's lock. Adds to @rep.
 */
MUST_CHECK int store_gc_repo(struct store *st, const char *repo,
                             const struct gc_opts *opts,
                             struct gc_report *rep, struct err *err);

/*
 * store_gc_repo() for every repository, one at a time, then the content
 * store and idle uploads. @yield (may be NULL) is called between
 * repositories; when it returns true the pass stops early. On a shared
 * tree only the node holding the GC lease (index/lease.h) runs a pass,
 * and it also removes the lock files of deleted repositories and the
 * staging of nodes that are gone; elsewhere rep->skipped is set.
 */
MUST_CHECK int store_gc(struct store *st, const struct gc_opts *opts,
                        bool (*yield)(void *arg), void *arg,
                        struct gc_report *rep, struct err *err);

/*
 * Bring existing blobs in line with opts.dedupe: with dedupe on, every
 * repository blob that is a copy of its own becomes a link to the content
 * store's copy; with it off, every linked blob becomes a copy of its own.
 * Each file is replaced atomically (rename over it), under its
 * repository's lock. @yield as for store_gc(). Returns files converted.
 */
MUST_CHECK int store_dedupe_convert(struct store *st,
                                    bool (*yield)(void *arg), void *arg,
                                    size_t *converted, struct err *err);

/* A problem found by scrub or fsck, one line, for the log. */
typedef void (*store_report_fn)(void *arg, const char *problem);

struct check_report {
	size_t checked;  /* blobs hashed (scrub) or repositories (fsck) */
	size_t problems; /* problems reported */
};

/*
 * Re-hash every stored blob and manifest; report each whose content no
 * longer matches its digest, and each reference to a missing blob. Never
 * changes anything. @progress (may be NULL): blob files done of all, and
 * the bytes hashed.
 */
MUST_CHECK int store_scrub(struct store *st, store_report_fn fn, void *arg,
                           const struct store_progress_cb *progress,
                           struct check_report *rep, struct err *err);

/*
 * Compare the index with the layouts and report each disagreement. Only
 * meaningful on a store opened with opts.no_reconcile. @progress (may be
 * NULL): repositories done of all.
 */
MUST_CHECK int store_fsck(struct store *st, store_report_fn fn, void *arg,
                          const struct store_progress_cb *progress,
                          struct check_report *rep, struct err *err);

/*
 * The mounted view (fsview.c). Paths are relative to the storage root
 * ("" is the root itself) and show exactly the layouts and the plain
 * directories above nested ones: internal state (.dray) is not there.
 * ERR_NOT_FOUND for a path outside the view, ERR_INVALID for a malformed
 * one ("..", "//").
 */

/* stat(2) of @rel. */
MUST_CHECK int store_fs_stat(struct store *st, const char *rel,
                             struct stat *sb, struct err *err);

/* The names in directory @rel, in no particular order, into @out. */
MUST_CHECK int store_fs_list(struct store *st, const char *rel,
                             struct strvec *out, struct err *err);

/* Open regular file @rel for reading into *fd (the caller closes it). */
MUST_CHECK int store_fs_open(struct store *st, const char *rel, int *fd,
                             struct err *err);

/*
 * Have @fn called with the view path of each file the store changes or
 * removes (index.json rewritten, a blob deleted), so the mount can drop
 * what the kernel cached of it. @fn runs on the thread that made the
 * change, possibly under store locks: it must only queue the work. Set it
 * before serving; NULL stops the calls.
 */
void store_set_watch(struct store *st, void (*fn)(void *arg, const char *rel),
                     void *arg);

/* statvfs(2) of the storage root: what df of the mount shows. ERR_IO. */
struct statvfs;
MUST_CHECK int store_fs_statfs(struct store *st, struct statvfs *out,
                               struct err *err);

/*
 * How long the mount may keep what it shows before it asks again: on a
 * tree other nodes share, their changes reach this node only by asking
 * (storage.indexDirectory; opts.recheck_ms); 0 on a tree of its own,
 * where every change is this process's and the watch tells of it.
 */
uint64_t store_fs_recheck_ms(const struct store *st);

/* True if @rel is a blob of a layout: content that never changes. */
bool store_fs_is_blob(const char *rel);

/*
 * Writing through the mount. The files of a layout,
 * <repo>/blobs/<alg>/<hex>, <repo>/index.json and <repo>/oci-layout, are
 * each written to a private staging copy and judged at commit (close);
 * any other name in a repository's directory is a temporary, judged when
 * renamed onto one of them (store_fs_rename):
 *   - a blob must hash to its name (ERR_INVALID otherwise, nothing
 *     stored); it then enters the repository like an HTTP upload. With
 *     dedupe, content the content store already holds (a layout copied
 *     into a second repository) is only hashed, never written: the
 *     store's copy is linked once the bytes hashed to the name;
 *   - index.json must be an image index naming valid digests; in a live
 *     repository it replaces the old one atomically once everything it
 *     names is present (until then it waits, and the old one stays);
 *   - oci-layout must be the layout marker.
 * A directory becomes a repository (visible over HTTP) when its
 * index.json names only content that is present and verified: dray then
 * writes its oci-layout, so a copy stopped half way is never served.
 */
struct fs_writer;

/* Start writing @rel. ERR_DENIED (not a layout file), ERR_INVALID. */
MUST_CHECK struct fs_writer *store_fs_create(struct store *st,
                                             const char *rel,
                                             struct err *err);
/*
 * Start writing @rel from what it holds now (an open without O_TRUNC):
 * the private copy starts as a copy of the file. As store_fs_create(),
 * plus ERR_NOT_FOUND when @rel is no file.
 */
MUST_CHECK struct fs_writer *store_fs_edit(struct store *st, const char *rel,
                                           struct err *err);
/*
 * Write @len bytes at @off. ERR_IO, ERR_TOO_LARGE; ERR_INVALID when a blob
 * whose content the store holds is written out of order after bytes that
 * differ from that content.
 */
MUST_CHECK int store_fs_write(struct fs_writer *w, const void *buf,
                              size_t len, uint64_t off, struct err *err);
/* Bytes written so far (the staged file's size). */
uint64_t store_fs_written(const struct fs_writer *w);
/*
 * Judge and commit (see above). After a success the file is final and
 * later calls do nothing; after a refusal it stays open for more writes.
 */
MUST_CHECK int store_fs_commit(struct fs_writer *w, struct err *err);
/*
 * fsync(2) of a file being written: a temporary (a name that is no layout
 * file) is made durable as it stands (@datasync: its data only). Layout
 * files are judged at close, and commit makes them durable then; before
 * that there is nothing of theirs to keep, so this does nothing. ERR_IO.
 */
MUST_CHECK int store_fs_sync(struct fs_writer *w, bool datasync,
                             struct err *err);
/*
 * fsync(2) of directory @rel: what renames and creations in it did is
 * made durable, in the view and in the stage. ERR_NOT_FOUND, ERR_IO.
 */
MUST_CHECK int store_fs_syncdir(struct store *st, const char *rel,
                                struct err *err);
/*
 * True if store_fs_commit() would publish @w into a repository (written,
 * not yet final, not a temporary whose rename publishes it).
 */
bool store_fs_publishes(const struct fs_writer *w);
/* Release @w; what was not committed is dropped. Accepts NULL. */
void store_fs_writer_free(struct fs_writer *w);

/*
 * Rename temporary @from (a file written under another name in a layout
 * directory) to @to: onto a layout file it is judged as if copied there
 * and closed (ERR_INVALID when refused; the temporary then stays, as
 * after a failed rename(2)); onto another staged name it simply moves, as
 * a staging directory does. ERR_DENIED for any other rename.
 */
MUST_CHECK int store_fs_rename(struct store *st, const char *from,
                               const char *to, struct err *err);

/*
 * mkdir @rel: a repository path, a layout's blobs directory, or a
 * staging directory (a name starting with a dot below a repository,
 * made with @mode). ERR_DENIED for any other directory in a layout.
 */
MUST_CHECK int store_fs_mkdir(struct store *st, const char *rel, mode_t mode,
                              struct err *err);

/*
 * Remove @rel. In a live repository: a manifest blob named by index.json
 * deletes the manifest and its tags; another blob goes unless a manifest
 * needs it (ERR_EXISTS); oci-layout withdraws the repository (HTTP no
 * longer knows it; its files stay, as a directory being copied in);
 * ERR_DENIED for index.json. In any other directory (a copy stopped half
 * way, a withdrawn repository) a file is simply removed. store_fs_list()
 * names oci-layout first, so `rm -r` of a repository withdraws it before
 * anything else goes.
 */
MUST_CHECK int store_fs_unlink(struct store *st, const char *rel,
                               struct err *err);

/*
 * What the admin reads as the xattr user.dray.status of repository
 * directory @rel: "state: published" or "state: incomplete (not served
 * over HTTP)", then what it waits for ("waiting: index.json", "missing:
 * <digest>" lines, "invalid: <why>", or "pending: ..." for an index.json
 * written into a live repository). A malloc()ed text in @out, @outlen
 * bytes, no NUL counted. ERR_NOT_FOUND when @rel is no repository.
 */
MUST_CHECK int store_fs_status(struct store *st, const char *rel, char **out,
                               size_t *outlen, struct err *err);

/* True if @rel is a repository directory, complete or not. */
bool store_fs_is_repo(struct store *st, const char *rel);

/*
 * rmdir @rel (not the root). ERR_EXISTS with sys_errno ENOTEMPTY when it
 * holds files or temporaries; ERR_NOT_FOUND.
 */
MUST_CHECK int store_fs_rmdir(struct store *st, const char *rel,
                              struct err *err);

/*
 * Names that are not layout files (NOTES, `jq > tmp`, an editor's swap
 * file, umoci's .umoci-* directories) are staged: kept durably in
 * .dray/stage until renamed onto a layout file or removed, never served
 * over HTTP. True if @rel is a staged file or directory.
 */
bool store_fs_is_staged(struct store *st, const char *rel);

/* What store_fs_set_staged() changes. */
enum {
	FS_SET_MODE = 1 << 0,  /* mode: permission bits */
	FS_SET_UID = 1 << 1,   /* uid */
	FS_SET_GID = 1 << 2,   /* gid */
	FS_SET_SIZE = 1 << 3,  /* size */
	FS_SET_TIMES = 1 << 4, /* times (UTIME_NOW, UTIME_OMIT allowed) */
};

/* Attributes for store_fs_set_staged(). */
struct fs_attr {
	int set;                  /* FS_SET_* bits: what to change */
	mode_t mode;              /* FS_SET_MODE */
	uid_t uid;                /* FS_SET_UID */
	gid_t gid;                /* FS_SET_GID */
	uint64_t size;            /* FS_SET_SIZE */
	struct timespec times[2]; /* FS_SET_TIMES: access, modification */
};

/*
 * chmod, chown, truncate and utimes of staged @rel: they apply to it as
 * on any file. ERR_NOT_FOUND when @rel is not staged (a layout file's
 * owner and modes are dray's); else as the system calls fail.
 */
MUST_CHECK int store_fs_set_staged(struct store *st, const char *rel,
                                   const struct fs_attr *a, struct err *err);

/*
 * ftruncate(2) of a file being written: a temporary, index.json or
 * oci-layout take any size; a blob can only be emptied (it is hashed as
 * it comes), else ERR_DENIED (EPERM).
 */
MUST_CHECK int store_fs_truncate(struct fs_writer *w, uint64_t size,
                                 struct err *err);

/*
 * The size that blob being written can reach and still match its name:
 * the size the store knows for its digest (in the repository or the
 * content store), else UINT64_MAX (also for every other kind of file).
 * store_fs_write() past it fails with ERR_TOO_LARGE (EFBIG).
 */
uint64_t store_fs_limit(const struct fs_writer *w);

/*
 * Take back the index.json edits of live repositories that still waited
 * for content when dray stopped (kept in .dray/pending), and publish
 * those that are complete now. ERR_IO, ERR_NOMEM.
 */
MUST_CHECK int store_fs_restore(struct store *st, struct err *err);

/* Import (import.c): `dray import`, the mount's effect without a mount. */

/* What store_import() did. */
struct store_import_stats {
	size_t blobs;         /* blobs uploaded */
	size_t blobs_present; /* blobs the repository had already */
	size_t manifests;     /* manifests and indexes stored */
	uint64_t bytes;       /* bytes of the blobs and manifests imported */
};

/*
 * Import the OCI image layout in directory @dir into @repo (created if
 * needed): with @tag, the descriptor of index.json named @tag (or its
 * only descriptor) is stored as tag @tag; with @tag NULL, every
 * descriptor under its own ref.name annotation, or by digest without
 * one. Blobs go through upload sessions and manifests through
 * store_manifest_put(), children first, so each tag appears only once
 * complete. ERR_NOT_FOUND (no such tag, a blob missing from @dir),
 * ERR_INVALID (not a layout, a blob not matching its digest, a bad
 * manifest), ERR_IO. What was stored before a failure stays (untagged
 * content, for GC). @progress (may be NULL): descriptors done of all that
 * the chosen ones reach, and their bytes (the layout's manifests are read
 * once first, to count them).
 */
MUST_CHECK int store_import(struct store *st, const char *dir, const char *repo,
                            const char *tag,
                            const struct store_progress_cb *progress,
                            struct store_import_stats *stats, struct err *err);

/* Dedupe's savings (stats.c), for the metrics. */

/*
 * Bytes the content store's hard links save now: each store copy linked
 * into k repositories holds what would otherwise take k copies, so it
 * saves (k - 1) times its size. Read from the copies' link counts (a
 * stat of each, no hashing); a staging file borrowing a copy for an
 * upload in flight counts as a link while it lasts. 0 without dedupe.
 */
uint64_t store_dedupe_saved(struct store *st);

/* What search reads of the index (idx.c). */

/*
 * The summary search keeps of manifest @dstr of @repo: JSON text in a
 * new buffer (*text, free()) of *len bytes, with "mt" (media type),
 * "size", "mtime" (of its file, ms), "m" (the manifest), and for an image
 * "c" (its config's os, architecture, variant, created, history and
 * config.Labels), "plat" ({"Os","Arch"}), "t" (created, ns), or for an
 * index "kids" (its manifests' digests). ERR_NOT_FOUND.
 */
MUST_CHECK int store_search_manifest(struct store *st, const char *repo,
                                     const char *dstr, char **text,
                                     size_t *len, struct err *err);

/*
 * What search ranks and filters a repository by, kept in memory for
 * every repository with an image (its N record's ranking fields) and
 * kept current as the index changes.
 */
struct store_srepo {
	const char *name;
	int64_t t;          /* its newest image's creation, ns */
	uint64_t pulls;     /* the counted pulls of all its manifests */
	bool is_signed;     /* one of its images is signed */
	size_t nplats;      /* its platforms: */
	const char *plats;  /* nplats pairs of strings "os\0arch\0" ("" when
	                       absent) */
};

/*
 * Call @fn for each repository with an image, in name order, with its
 * record (valid during the call; @fn must not write to the index). @fn's
 * failure (-1) stops the walk: ERR_NOMEM.
 */
MUST_CHECK int store_search_repos(struct store *st,
                                  int (*fn)(const struct store_srepo *rec,
                                            void *arg),
                                  void *arg, struct err *err);

/*
 * What search's summary of @repo shows (its N record, a new object):
 * "n", "t", "signed", "plats" (ranking), "size" (of every blob of its
 * images, once), "Platforms", "Vendors", "digests" (its images'), and
 * its newest image's "tag" and "digest". ERR_NOT_FOUND (no image),
 * ERR_NOMEM.
 */
MUST_CHECK int store_search_repo(struct store *st, const char *repo,
                                 json_t **rec, struct err *err);

/*
 * @repo's tags as an object, tag -> digest string, in tag order (*tags,
 * a new object), its layout loaded (and re-indexed if it changed) once.
 * ERR_NOT_FOUND, ERR_IO, ERR_NOMEM.
 */
MUST_CHECK int store_search_tags(struct store *st, const char *repo,
                                 json_t **tags, struct err *err);

/*
 * Append the referrers of @dstr in @repo (descriptors) to @list, as
 * store_referrers() lists them but without loading the layout: for a
 * request that just did (store_search_tags()). ERR_INVALID, ERR_NOMEM.
 */
MUST_CHECK int store_search_referrers(struct store *st, const char *repo,
                                      const char *dstr, json_t *list,
                                      struct err *err);

/* RFC 3339 text into nanoseconds since the epoch (0: not a time). */
int64_t store_time_ns(const char *s);

/* A cosign signature's tag ("sha256-<hex>.sig"). */
bool store_is_sig_tag(const char *tag);

/* Pulls counted for manifest @digest of @repo since it was pushed. */
struct store_pull {
	const char *repo;
	const char *digest;
	uint64_t count;   /* pulls to add */
	uint64_t last_ms; /* the last one, ms since the epoch */
};

/* Add @n counts to the index, in one write. ERR_NOMEM, ERR_IO. */
MUST_CHECK int store_pulls_add(struct store *st, const struct store_pull *p,
                               size_t n, struct err *err);

/* The counted pulls of @dstr in @repo (0, 0: none). */
void store_pulls_get(struct store *st, const char *repo, const char *dstr,
                     uint64_t *count, uint64_t *last_ms);

/* The counted pulls of all of @repo's manifests. */
uint64_t store_pulls_repo(struct store *st, const char *repo);

/*
 * When manifest @dstr was first pushed into @repo (*ms) and by whom
 * (@user, "" for anonymous); -1 when no push was recorded (published
 * through the mount, say).
 */
int store_pushed_get(struct store *st, const char *repo, const char *dstr,
                     uint64_t *ms, char *user, size_t usz);

#endif
