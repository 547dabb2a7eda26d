/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_int.h - types shared by the store's files; private to index/.
 *
 * Lock order: the reconcile lock (rc_run), then a repository's lock (taken
 * only through repo_lock()), then the store's lock. The store's lock is
 * held only for table lookups, never across I/O; rc_lock only for the
 * reconcile worker's flags.
 */
#ifndef DRAY_STORE_INT_H
#define DRAY_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>

#include <jansson.h>
#include <linux/aio_abi.h>

#include "daemon/hmap.h"
#include "index/store.h"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
/*
 * Manifest summaries cached when store_opts.msum_cache_max is 0. One is
 * about 1 KiB (digests are sized for sha512): 65,536 of them, filled by
 * the index build of 100,000 manifests, were about 64 MiB of resident
 * size. A summary is read again from its file (one small read) when asked
 * after it went.
 */
#define MSUM_CACHE_MAX 4096

/* Idle AIO contexts kept: io_destroy() waits for an RCU grace period. */
#define STORE_AIO_POOL 8
/*
 * Content store copies remembered as verified (cas.c): a table of this
 * many, where a copy goes in one of STORE_CAS_WAYS places from its hash.
 */
#define STORE_CAS_KNOWN 1024
#define STORE_CAS_WAYS 8

/* A content store file known to hash to its name, as it was then. */
struct cas_known {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct store {
	char *root;             /* storage root, absolute */
	int lock_fd;            /* <nodedir>/lock, flock()ed, or -1 */
	char nodedir[PATH_MAX]; /* this node's own: storage.indexDirectory,
	                           or <root>/.dray */
	bool shared;            /* indexDirectory set: other nodes may
	                           serve the same tree */
	char tmpdir[PATH_MAX];  /* <root>/.dray/tmp[/<node id>]: temporaries */
	char updir[PATH_MAX];   /* <root>/.dray/uploads: staging */
	char casdir[PATH_MAX];  /* <root>/.dray/blobs: the content store */
	struct store_opts opts; /* as opened; access, lint: see rules */
	struct live *rules;     /* the struct store_rules in force */
	pthread_mutex_t lock;   /* protects the four tables */
	struct hmap *repos;     /* name -> struct repo */
	struct hmap *uploads;   /* id -> struct upload */
	struct hmap *up_repos;  /* repo -> its sessions (uintptr_t) */
	struct hmap *msums;     /* digest string -> struct msum */
	struct msum *msum_newest; /* cached msums, most recently used first */
	struct msum *msum_oldest; /* ... and last: the next one evicted */
	struct kv *kv;          /* the RocksDB index (idx.c) */
	struct srch *srch;      /* search's repository records (idx.c) */
	struct hmap *pulls;     /* "repo@digest" -> uint64_t ms, unflushed */
	struct hmap *pending;   /* repo -> struct pending (fsview.c) */
	void (*watch)(void *arg, const char *rel); /* change hook, or NULL */
	void *watch_arg;        /* its argument */
	pthread_mutex_t rc_run; /* held by the one reconcile running */
	pthread_mutex_t rc_lock;  /* protects the rc_ fields below and
	                             root_mtime_ns */
	pthread_cond_t rc_wake;   /* rc_wanted or rc_stop was set */
	uint64_t root_mtime_ns;   /* the root's mtime when the last reconcile
	                             was asked for or started */
	pthread_t rc_thread;      /* the background reconcile worker */
	bool rc_started;          /* rc_thread runs (started on first need) */
	bool rc_wanted;           /* a background reconcile is asked for */
	bool rc_running;          /* the worker is inside a reconcile */
	bool rc_stop;             /* store_close(): the worker ends; also read
	                             atomically by the walk, to stop early */
	uint64_t rc_queued;       /* background reconciles asked for */
	uint64_t rc_runs;         /* reconciles completed, of any cause */
	pthread_mutex_t aio_lock; /* protects the AIO pool */
	unsigned long aio_pool[STORE_AIO_POOL]; /* idle AIO contexts (upload_io.c) */
	unsigned aio_n;         /* how many */
	/* Verified store copies, by inode (cas.c); under lock. */
	struct cas_known cas_known[STORE_CAS_KNOWN];
	/* Shared tree (catalog.c), under rc_lock: */
	uint64_t cat_checked_ms;  /* when the marker was last stat()ed */
	uint64_t cat_seen;        /* its inode and mtime then, mixed */
	/* lease.c; on a shared tree only. */
	char node_id[20];             /* this node's id, or "" */
	int alive_fd;                 /* its liveness file, locked, or -1 */
	pthread_mutex_t lease_lock;   /* protects leases */
	struct hmap *leases;          /* lease name -> its fd + 1, held */
	_Atomic uint64_t gc_skips;    /* GC passes left to another node */
	_Atomic uint64_t other_skips; /* other leases held elsewhere */
	_Atomic uint64_t nodes_swept; /* dead nodes' staging removed */
};

/*
 * A repository's cached index.json. It stays in st->repos while held
 * (refs > 0), and after that only while it describes a layout and the
 * table is below opts.repo_cache: a name without a repository costs
 * nothing once its request is done.
 */
struct repo {
	pthread_mutex_t lock; /* serialises index.json changes and the cache;
	                         taken only through repo_lock() */
	char *name;           /* repository name */
	int lock_fd;          /* its lock file in the tree while repo_lock()
	                         holds it on a shared tree, or -1 */
	uint64_t checked_ms;  /* when repo_load() last stat()ed index.json
	                         (CLOCK_MONOTONIC) */
	unsigned refs;        /* repo_ref() not yet repo_unref()ed; under
	                         st->lock */
	bool loaded;          /* the fields below describe a parsed file */
	dev_t dev;            /* identity of the index.json parsed */
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint64_t xxh3;        /* hash of the index.json parsed */
	json_t *index;        /* parsed index.json, protected by lock */
	bool indexed_now;     /* the last repo_load() re-indexed it */
	bool stale;           /* index disagrees (no_reconcile stores only) */
	struct strvec tags;   /* sorted tags from the index, when cached */
	bool tags_cached;     /* tags is current; cleared by idx_sync_repo */
	char *dropped;        /* why the last index.json written through the
	                         mount was dropped when it landed, or NULL */
	bool layout_came;     /* a copy in through the mount wrote its
	                         oci-layout (fsview.c); protected by lock */
	bool layout_hidden;   /* the mount hides the oci-layout dray wrote
	                         when the copy completed, until the copy's
	                         own arrives; protected by st->lock */
};

/* An index.json written through the mount, waiting for its content. */
struct pending {
	char *buf;  /* the bytes as written */
	size_t len; /* their length */
};

/* What a reconcile did. */
struct idx_stats {
	size_t repos;   /* layouts found */
	size_t changed; /* re-indexed */
	size_t dropped; /* gone from disk, dropped from the index */
};

/*
 * What dray needs to know about one manifest; immutable once built, but for
 * the cache's bookkeeping at the end (protected by the store's lock).
 * msum_get() hands out a counted reference that the caller drops with
 * msum_put(); the cache holds one more while the summary is in it. An
 * evicted summary is freed when its last user drops it, so eviction never
 * pulls a summary from under a reader.
 */
struct msum {
	char media_type[STORE_MEDIA_TYPE_MAX]; /* the manifest's type */
	bool is_index;            /* an image index or manifest list */
	char *artifact_type;      /* artifactType, or config's media type */
	bool has_subject;         /* a subject descriptor is present */
	struct digest subject;    /* its digest */
	char *annotations;        /* annotations as JSON text, or NULL */
	struct digest *refs;      /* config, layers or child manifests */
	size_t nrefs;
	uint64_t size;            /* length of the manifest */
	unsigned users;           /* references held (cache's included) */
	bool cached;              /* in store->msums and the LRU list */
	struct msum *newer;       /* LRU neighbours while cached */
	struct msum *older;
	char key[DIGEST_STR_MAX]; /* the digest as text, the cache's key */
};

/* store.c */
int repo_path(const struct store *st, const char *repo, const char *sub,
              char *out, size_t outsz, struct err *err);
int blob_path(const struct store *st, const char *repo,
              const struct digest *d, char *out, size_t outsz,
              struct err *err);
/*
 * The record of repository @name, held until repo_unref(): the same
 * record for every holder of the name. ERR_INVALID (bad name), ERR_NOMEM.
 */
struct repo *repo_ref(struct store *st, const char *name, struct err *err);
/* Let go of @r (its lock not held); it may be freed. Accepts NULL. */
void repo_unref(struct store *st, struct repo *r);
/*
 * Take @r's lock: the only way a per-repository lock is taken, so that it
 * can become a lock on a file in the tree (several nodes on one shared
 * tree) in one place. After taking it, re-check what was decided before.
 * On a shared tree it can fail (the lock file cannot be opened or
 * locked): then nothing is held and -1 returned with ERR_IO; the caller
 * changes nothing.
 */
MUST_CHECK int repo_lock(struct store *st, struct repo *r, struct err *err);
/*
 * For a request that only reads the repository: this process's threads
 * kept in turn, other nodes not asked (index.json is replaced whole, by
 * rename). On a shared tree, repo_load() under it checks index.json at
 * most every opts.recheck_ms: another node's change is seen within that.
 */
void repo_lock_read(struct store *st, struct repo *r);
/* Release what repo_lock() or repo_lock_read() took. */
void repo_unlock(struct store *st, struct repo *r);
/*
 * Is <root>/@name a repository? Its oci-layout is what makes a directory
 * one (a copy through the mount gets it last, once complete): the one
 * answer for HTTP, the mount, repo_load() and the reconcile walk. @name
 * is not checked: store_repo_exists() does that for outside input.
 */
bool repo_has_layout(const struct store *st, const char *name);
int repo_load(struct store *st, struct repo *r, struct err *err);
int repo_create(struct store *st, const char *name, struct err *err);
int repo_save(struct store *st, struct repo *r, json_t *index,
              struct err *err);
/*
 * repo_save() of index.json text as written (@len bytes), @index its
 * parse (stolen): the one way an index.json is published, by HTTP,
 * import, GC and the mount alike.
 */
int repo_save_text(struct store *st, struct repo *r, const char *text,
                   size_t len, json_t *index, struct err *err);
/*
 * Tell store_opts.on_change what will change from index.json @before
 * (NULL: none) to @after in @repo (notify.c), before it is published;
 * then store_notify_end() says whether it was. Caller holds the
 * repository's lock.
 */
void store_notify(struct store *st, const char *repo, json_t *before,
                  json_t *after);
void store_notify_end(struct store *st, bool published);
/* Write @name's oci-layout (the layout marker): it becomes a repository. */
int repo_write_marker(struct store *st, const char *name, struct err *err);
int repo_blob_dir(struct store *st, const char *repo, enum digest_alg alg,
                  struct err *err);

int store_walk(struct store *st, struct strvec *out, struct err *err);
/* Tell the watcher that <repo>/<sub> changed or went away. */
void store_changed(struct store *st, const char *repo, const char *sub);
/* The same for blob @d of @repo. */
void store_blob_changed(struct store *st, const char *repo,
                        const struct digest *d);

/* One blob file of a repository, for repo_each_blob(). */
struct blob_file {
	struct digest digest;      /* from its name */
	const char *dstr;          /* the digest as text */
	const char *path;          /* absolute path */
	const struct stat *sb;     /* stat(2) of it: a regular file */
};

/*
 * Call @fn for every blob file of @repo (blobs/sha256 and blobs/sha512;
 * names that are no digest are skipped). Stops at the first non-zero
 * return of @fn and returns it; 0 otherwise.
 */
int repo_each_blob(struct store *st, const char *repo,
                   int (*fn)(const struct blob_file *bf, void *arg),
                   void *arg);
/* repo_each_blob() for the files @known (NULL: none) says are not known. */
int repo_each_blob_new(struct store *st, const char *repo,
                       bool (*known)(const char *dstr, void *arg),
                       int (*fn)(const struct blob_file *bf, void *arg),
                       void *arg);

/* Parse the digest of index.json entry @e; false if it has none. */
bool entry_digest(json_t *e, struct digest *out);

/* The tag (ref.name annotation) of index.json entry @e, or NULL. */
const char *entry_tag(json_t *e);

/* idx.c */
int idx_open(struct store *st, bool rebuild, struct err *err);
void idx_close(struct store *st);
bool idx_repo_current(struct store *st, const char *repo,
                      const struct stat *sb, uint64_t xxh3);
int idx_sync_repo(struct store *st, struct repo *r, bool blobs,
                  struct err *err);
int idx_blob_added(struct store *st, const char *repo, const struct digest *d,
                   uint64_t size, struct err *err);
int idx_blob_removed(struct store *st, const char *repo,
                     const struct digest *d, struct err *err);
int idx_reconcile(struct store *st, struct idx_stats *stats, struct err *err);
/*
 * Drop what the index holds about repository @name if it has no layout
 * now (checked under its lock, which the caller must not hold): what a
 * reconcile would do for it, without walking the tree.
 */
int idx_repo_gone(struct store *st, const char *name, struct err *err);
/* Record the first push of @d into @repo by @user (NULL: anonymous). */
/* @dstr is a manifest of @repo the index knows (has its S entry). */
bool idx_has_manifest(struct store *st, const char *repo, const char *dstr);
int idx_pushed(struct store *st, const char *repo, const struct digest *d,
               const char *user, struct err *err);
int idx_tag_get(struct store *st, const char *repo, const char *tag,
                struct manifest_desc *out, struct err *err);
int idx_tags(struct store *st, const char *repo, const char *last, size_t n,
             struct strvec *out, bool *more, struct err *err);
int idx_catalog(struct store *st, const char *last, size_t n,
                struct strvec *out, bool *more, struct err *err);
int idx_referrers(struct store *st, const char *repo,
                  const struct digest *subject, const char *artifact_type,
                  json_t *list, struct err *err);
/* Up to @max repositories the index says link blob @d, appended to @out. */
int idx_blob_holders(struct store *st, const struct digest *d, size_t max,
                     struct strvec *out, struct err *err);

/*
 * catalog.c: on a shared tree, tell the other nodes that a repository
 * was created or withdrawn here (does nothing on a tree of its own).
 */
void catalog_changed(struct store *st);
/*
 * Before a catalog answer: -1 when checked less than opts.recheck_ms
 * ago (nothing to do), else 0, or 1 when another node changed the list
 * (the root's noted mtime is cleared, so that a reconcile is asked for).
 * Always 0 on a tree of its own.
 */
int catalog_recheck(struct store *st);

/* blob.c, cas.c, upload.c, upload_io.c, park.c */
int blob_renew(const char *path, struct err *err);
/*
 * Does the file at @path hash to @d? 1 yes, 0 no, or -1 with ERR_NOT_FOUND
 * (no such file), ERR_IO.
 */
MUST_CHECK int blob_verify(const char *path, const struct digest *d,
                           struct err *err);
/* blob_verify() that also gives the stat(2) of the file it hashed. */
MUST_CHECK int blob_verify_stat(const char *path, const struct digest *d,
                                struct stat *sb, struct err *err);
/*
 * Is @b still the file @a was (same inode, size and modification time)?
 * Not the ctime: every link(2) to the inode changes that.
 */
bool blob_unchanged(const struct stat *a, const struct stat *b);

/* The content store's copy of a digest, as cas_survey() hashed it. */
struct cas_seen {
	struct stat sb; /* the copy hashed */
	int ok;         /* 1 it hashes to its name, 0 not, -1 no copy */
};

/*
 * Hash the content store's copy of @d, if there is one, into *out. Meant
 * to be called with no lock held, before cas_link(). Returns 0, or -1
 * with ERR_IO.
 */
MUST_CHECK int cas_survey(struct store *st, const struct digest *d,
                          struct cas_seen *out, struct err *err);

/*
 * Link the content store's copy of @d at @dst, entering @src first when
 * the store has none. @src must hold verified content (it hashed to @d):
 * nothing else enters the store. A store copy that is another inode is
 * checked: with @seen (what cas_survey() found) it is judged by that,
 * nothing is hashed, and if the copy is no longer the file surveyed (or a
 * copy appeared) this returns 1 having linked nothing, for the caller to
 * survey again outside its lock. With @seen NULL the copy is hashed here.
 * A bad copy is replaced by @src. Returns 0, 1, or -1 with ERR_IO,
 * ERR_BUSY (raced by GC too often).
 */
MUST_CHECK int cas_link(struct store *st, const char *src,
                        const struct digest *d, const char *dst,
                        const struct cas_seen *seen, struct err *err);
/*
 * Link the content store's copy of @d at @path if the store holds one
 * already known to hash to its name (nothing is hashed here). Returns 1
 * linked, 0 not (no copy, not known, link limit), -1 with ERR_IO.
 */
MUST_CHECK int cas_borrow(struct store *st, const struct digest *d,
                          const char *path, struct err *err);
/*
 * Does @path, a link to a content store copy of @d, hash to @d? Known
 * copies are not hashed again. 1 yes, 0 no, -1 with ERR_IO, ERR_NOT_FOUND.
 */
MUST_CHECK int cas_trusted(struct store *st, const char *path,
                           const struct digest *d, struct err *err);
int blob_place(struct store *st, const char *repo, const char *src,
               const struct digest *d, bool src_is_private, struct err *err);
void upload_no_layout(struct upload *u);
/*
 * Content the store holds is not written again: when the content store
 * has a copy of @d known to hash to its name (sha256, dedupe on), fresh
 * upload @u takes that copy as its staging file (a link: nothing is ever
 * written to it) and the bytes that come are only hashed; the commit
 * links the copy if they hashed to @d. A write out of order first gives
 * @u a private file holding what came so far. Does nothing otherwise.
 */
void upload_borrow(struct upload *u, const struct digest *d);
/*
 * At close: keep upload @u for the next start (a record beside its
 * staging file, written after the file is synced), or end it when that
 * cannot be done or it belongs to a file written through the mount.
 */
void upload_park(struct upload *u);
/* After the last upload_park(): make the records and files durable. */
void upload_park_sync(struct store *st);

/*
 * At open: resume the sessions the last close parked (their running
 * hash is recomputed at commit) and remove every other staging file.
 */
MUST_CHECK int upload_restore_all(struct store *st, struct err *err);

/* Destroy the idle AIO contexts (at close). */
void blob_aio_drain(struct store *st);
int upload_write_at(struct upload *u, const void *buf, size_t len,
                    uint64_t off, struct err *err);
int blob_store(struct store *st, const char *repo, const char *src,
               const struct digest *d, bool src_is_private, struct err *err);

/*
 * Shared by the blob files: blob.c (blobs in repositories), cas.c (the
 * content store), upload.c (upload sessions), upload_io.c (their staging
 * files' O_DIRECT + AIO writer) and park.c (sessions across restarts).
 */
/* Bytes between two writeback kicks of a buffered staging file. */
#define UPLOAD_WRITEBACK (8u << 20)
/* An upload id: this many hex digits. */
#define UPLOAD_ID_LEN 32
_Static_assert(UPLOAD_ID_LEN < STORE_UPLOAD_ID_MAX, "upload id");

/* A direct write: its size and the alignment O_DIRECT wants. */
#define UPLOAD_BLOCK (1u << 20)
#define UPLOAD_ALIGN 4096u
/*
 * ext4 makes a direct write that extends the file synchronous, even
 * through AIO: the file is grown ahead of the writes by this much, and
 * cut to its true size when settled.
 */
#define UPLOAD_GROW (64u << 20)

struct upload {
	struct store *st;             /* owner */
	char id[STORE_UPLOAD_ID_MAX]; /* session id, hex */
	char *repo;                   /* repository it is for */
	int fd;                       /* staging file while taken, or -1 */
	uint64_t offset;              /* bytes received */
	bool direct;                  /* fd is O_DIRECT */
	unsigned char *blocks;        /* O_DIRECT: two blocks, or NULL */
	unsigned cur;                 /* the one filling */
	size_t held;                  /* bytes in it */
	aio_context_t aio;            /* 0: blocks are written in place */
	bool inflight;                /* the other block is being written */
	uint64_t inflight_off;        /* where it goes */
	bool aio_lost;                /* io_getevents failed: destroy it */
	uint64_t grown;               /* the file's size, grown ahead */
	int werr;                     /* a block write failed: errno */
	struct hasher *sha256;        /* sha256 of those bytes */
	bool busy;                    /* taken by a request; under st->lock */
	uint64_t last_ms;             /* last use, clock_age_mono_ms() */
	uint64_t idle_before_ms;      /* idle time before the last restart */
	uint64_t flushed;             /* writeback started up to here */
	bool scattered;               /* written out of order: rehash */
	bool no_layout;               /* commit without making a layout */
	bool borrowed;                /* the staging file is a link to the
	                                 content store's copy, open read-only:
	                                 bytes are hashed, never written */
	/* Shared tree only (upload_shared.c): */
	bool adopted;                 /* started by another node, taken up
	                                 from the tree for one request; not in
	                                 st->uploads */
	ino_t seen_ino;               /* the staging file as this node left
	                                 it (0: unknown): if it differs at the
	                                 next take, another node wrote */
	off_t seen_size;              /* ... its size then */
	struct timespec seen_mtime;   /* ... and its mtime */
};

/* cas.c */
int cas_path(const struct store *st, const struct digest *d, unsigned n,
             char *out, size_t outsz, struct err *err);

/* blob.c: place @src as blob @d of @repo, taking @repo's lock. */
int blob_store_locked(struct store *st, const char *repo, const char *src,
                      const struct digest *d, bool src_is_private,
                      bool layout, struct err *err);

/* upload.c */
void upload_free(struct upload *u);
int staging_path(const struct upload *u, char *out, size_t outsz);
int count_in(struct store *st, const char *repo, struct err *err);
void count_out(struct store *st, const char *repo);
void upload_release(struct upload *u);
void upload_end(struct upload *u);

/*
 * upload_shared.c: sessions on a shared tree (store->shared). Record
 * @u's repository beside its staging file (write-fsync-rename), or
 * remove that record. ERR_IO.
 */
int shared_upload_record(struct upload *u, struct err *err);
void shared_upload_unrecord(struct upload *u);
/*
 * Session @id of @repo that another node started, from its record: a new
 * upload, taken (busy), not in st->uploads; ERR_NOT_FOUND.
 */
struct upload *shared_upload_adopt(struct store *st, const char *repo,
                                   const char *id, struct err *err);
/*
 * Lock @u's open staging file against every other request (waits a
 * moment, then ERR_BUSY), check it is still the session's (ERR_NOT_FOUND
 * once another node ended it) and read the offset from it.
 */
int shared_upload_lock(struct upload *u, struct err *err);
/* Remember the staging file as this node leaves it (before its close). */
void shared_upload_seen(struct upload *u);
/* Remove sessions whose files are idle past @idle_ms; how many. */
size_t shared_upload_sweep(struct store *st, uint64_t idle_ms);
/* Forget this node's sessions that another node ended; how many. */
size_t shared_upload_prune(struct store *st);

/* upload_io.c */
void aio_put(struct store *st, aio_context_t ctx);
int aio_reap(struct upload *u, struct err *err);
int upload_settle(struct upload *u, struct err *err);
int append_direct(struct upload *u, const unsigned char *buf, size_t len,
                  struct err *err);

/* gc.c: the audit trail of what GC and retention remove (done unless
 * @err is set). @ref (a tag) and @d may be NULL. */
void gc_audit(const char *action, const char *repo, const char *ref,
              const struct digest *d, const struct err *err);

/* retention.c */
void pull_note(struct store *st, const char *repo, const struct digest *d);
int pull_flush(struct store *st, struct err *err);
const struct store_policy *retention_policy(const struct store_retention *ret,
                                            const char *repo);
int retention_apply(struct store *st, struct repo *r,
                    const struct store_policy *pol, bool dry_run,
                    size_t *removed, struct err *err);

/* manifest.c */
void msum_free(struct msum *m);
/*
 * The summary of manifest @d as stored in @repo (only content that hashes
 * to @d is believed), or NULL with ERR_NOT_FOUND (no such blob, it does not
 * hash to @d, or it is no manifest), ERR_IO or ERR_NOMEM. Never fails for
 * want of room in the cache. The caller drops the result with msum_put().
 */
MUST_CHECK const struct msum *msum_get(struct store *st, const char *repo,
                                       const struct digest *d, struct err *err);
/* Drop a reference msum_get() handed out. Accepts NULL. */
void msum_put(struct store *st, const struct msum *m);
/*
 * Parse and validate manifest @body (@content_type, the client's, may be
 * NULL): a new summary for msum_free(), or NULL with ERR_INVALID or
 * ERR_NOMEM.
 */
struct msum *msum_parse(const char *body, size_t len, const char *content_type,
                        struct err *err);

/*
 * rules.c: the rules in force, referenced into *@ref until live_put()
 * (daemon/live.h); store_rules_init() makes the first from @st->opts.
 */
const struct store_rules *rules_get(struct store *st, struct live_ref **ref);
MUST_CHECK int store_rules_init(struct store *st, struct err *err);
/* storage.dedupe as last set (store_set_dedupe()). */
bool dedupe_on(const struct store *st);
/* Tell @cb (may be NULL) where an operation stands. */
static inline void progress_note(const struct store_progress_cb *cb,
                                 const char *unit, uint64_t done,
                                 uint64_t total, uint64_t bytes,
                                 uint64_t bytes_total)
{
	if (cb && cb->fn)
		cb->fn(cb->arg, &(struct store_progress){unit, done, total,
		                                         bytes, bytes_total});
}

/* lease.c */
/*
 * Open @path (created, with its parents, if missing) and take an OFD
 * write lock on it, waiting with @wait; the lock is on the file that is
 * at @path once taken (one removed meanwhile is let go, the new one
 * taken). The descriptor (close() releases the lock), or -1: ERR_BUSY
 * (held elsewhere, without @wait), ERR_IO.
 */
int lock_path(const char *path, bool wait, struct err *err);
int lease_init(struct store *st, struct err *err);
void lease_close(struct store *st);
/* Lock this node's liveness file (st->node_id set), for the store's life. */
int node_alive(struct store *st, struct err *err);
/*
 * Remove the staging (<root>/.dray/tmp/<id>) of nodes whose liveness file
 * nobody holds: entries older than @delay_ms by ctime, then the directory
 * once empty. Only the GC lease holder calls it. Directories removed.
 */
int sweep_dead_nodes(struct store *st, uint64_t delay_ms, struct err *err);

#endif
