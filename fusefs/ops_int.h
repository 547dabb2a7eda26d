/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_int.h - what the mount's files share; private to fusefs/.
 *
 * ops.c    the operations table, the session and the kernel's invalidations
 * node.c   the node table: node ids and paths, lookups, readers' holds
 * name.c   the name space: lookup, forget, readdir, mkdir, unlink, rename
 * attr.c   attributes: getattr, setattr, statfs, how a file is shown
 * file.c   open files: open, create, read, release
 * write.c  files being written: write tickets, close as the commit
 * xattr.c  refusals remembered and user.dray.status
 * count.c  the figures for the metrics: operations, bytes, commits
 */
#ifndef DRAY_FUSEFS_OPS_INT_H
#define DRAY_FUSEFS_OPS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "daemon/hmap.h"
#include "fusefs/fusefs.h"
#include "index/store.h"

#define BLOB_TTL      3600.0
#define BLOB_ATTR_TTL 1.0
/*
 * index.json and directories change: HTTP changes reach the kernel as
 * invalidations at once (notifier()); this bounds how long an edit made
 * on the disk behind dray's back can stay unseen.
 */
#define META_TTL 10.0

struct node {
	uint64_t ino;     /* node id the kernel knows */
	uint64_t lookups; /* kernel references; protected by fs->lock */
	char *path;       /* relative to the root, "" for the root; replaced
	                     by a rename, so read under fs->lock (node_path) */
	unsigned readers; /* files open for reading; protected by fs->lock */
	int fd;           /* while readers: a dup of one's descriptor, so an
	                     fstat() answers once the name is gone; else -1 */
};

struct rfs {
	struct store *st;        /* what is shown */
	struct rfs_opts opts;    /* as started (mountpoint copied) */
	char *mountpoint;        /* absolute */
	struct fuse_session *se; /* the session */
	pthread_t thread;        /* runs the session loop */
	bool running;            /* thread started */
	pthread_mutex_t lock;    /* protects the tables */
	struct hmap *by_path;    /* path -> node */
	struct hmap *by_ino;     /* decimal ino -> node */
	uint64_t next_ino;       /* protected by lock */
	struct node *root;       /* ino 1 */
	struct hmap *writing;    /* path -> struct open_file being written;
	                            protected by lock */
	pthread_t notifier;      /* sends the kernel invalidations */
	bool notifying;          /* notifier started */
	pthread_mutex_t qlock;   /* protects queue and qstop */
	pthread_cond_t qcond;    /* queue grew or qstop set */
	struct strvec queue;     /* paths the store changed */
	bool qstop;              /* the notifier should end */
	struct open_file *files; /* open files the kernel holds; protected
	                            by lock (freed at stop if never released) */
	bool unmounted;          /* rfs_unmount() ran */
	double ttl_max;          /* on a tree other nodes change too, what
	                            the kernel caches lives no longer than
	                            this (s), as nothing tells this node of
	                            their changes; 0: no bound */
	struct hmap *refused;    /* path -> why its last close or rename
	                            was refused (malloc()ed text), for
	                            user.dray.status; protected by lock */
};

/* Writes to one file answered before they are applied, at most. */
#define WRITES_AHEAD 2

/* The I/O size a file being written asks for (the largest FUSE write). */
#define WRITE_BLKSIZE (1 << 20)

/*
 * An open file: a layout file to read, or a private copy being written.
 *
 * A WRITE is answered before its bytes are hashed and stored, so that
 * the writer's next write() travels to us while we hash this one. Each
 * write takes a ticket when it arrives and is applied in ticket order;
 * the first failure is kept and returned by close(), which waits for
 * every ticket (a write's error is the commit's, which is final only
 * at close anyway).
 */
struct open_file {
	int fd;                        /* reading: the layout file, else -1 */
	struct fs_writer *w;           /* writing: the staged copy, else NULL */
	pthread_mutex_t wlock;         /* writing: protects the fields below */
	pthread_cond_t wcond;          /* a ticket was served */
	uint64_t tickets;              /* writes taken */
	uint64_t served;               /* writes applied */
	int werr;                      /* first write error, an errno */
	_Atomic uint64_t size;         /* end of the furthest write taken;
	                                  reading: the file's size when
	                                  counting (count.c), else 0 */
	struct open_file *prev, *next; /* in fs->files; protected by fs->lock */
	char path[];                   /* relative path */
};

/* A directory listing taken at opendir. */
struct dirlist {
	struct strvec names; /* entries */
};

/* node.c: the node table */
int errno_for(const struct err *err);
void node_free(struct node *n);
void node_hold(struct rfs *fs, fuse_ino_t ino, int fd);
void node_release(struct rfs *fs, fuse_ino_t ino);
bool node_fstat(struct rfs *fs, fuse_ino_t ino, struct stat *sb);
int node_path(struct rfs *fs, fuse_ino_t ino, char *out);
void node_unkey(struct rfs *fs, const char *path);
struct node *node_ref(struct rfs *fs, const char *path);
int node_rename(struct rfs *fs, const char *from, const char *to);
void node_forget(struct rfs *fs, fuse_ino_t ino, uint64_t count);
int child_path(struct rfs *fs, fuse_ino_t parent, const char *name, char *out);
bool refuse_read_only(struct rfs *fs, fuse_req_t req);
bool writable_child(struct rfs *fs, fuse_req_t req, fuse_ino_t parent,
                    const char *name, char *out);

/* attr.c: attributes */
void show_attr(const struct rfs *fs, struct stat *sb, uint64_t nodeid);
int view_stat(struct rfs *fs, const char *path, struct stat *sb,
              struct err *err);
/*
 * How long the kernel may keep @path's attributes, and its name: long
 * for blobs, short for the rest, and never past fs->ttl_max.
 */
double attr_ttl_for(const struct rfs *fs, const char *path);
double ttl_for(const struct rfs *fs, const char *path);
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                struct fuse_file_info *fi);
void op_statfs(fuse_req_t req, fuse_ino_t ino);

/* name.c: the name space */
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count,
                     struct fuse_forget_data *forgets);
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
               fuse_ino_t newparent, const char *newname, unsigned int flags);

/* file.c: open files */
struct open_file *open_file_new(const char *path);
void open_file_free(struct open_file *of);
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
               struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
             struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* write.c: files being written */
int writes_drain(struct open_file *of);
struct open_file *start_write(struct rfs *fs, const char *path, bool keep,
                              struct err *err);
void end_write(struct rfs *fs, struct open_file *of);
void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
              off_t off, struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
              struct fuse_file_info *fi);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                 struct fuse_file_info *fi);

/* xattr.c: refusals and user.dray.status */
void refusal_set(struct rfs *fs, const char *path, const char *why);
void refusal_clear(struct rfs *fs, const char *path);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

/* ops.c: the session */
void on_change(void *arg, const char *rel);
/*
 * The mount's boundary of the audit trail: @action ("mount.publish",
 * "mount.delete", "mount.rename") of @path (from @source for a rename) by
 * the caller of @req, done unless @err is set; before the reply.
 */
void mount_audit(fuse_req_t req, const char *action, const char *path,
                 const char *source, const struct err *err);

/* count.c: the metrics' figures (daemon/opstat.h); cnt_* count, then
 * call op_* */
void count_commit(const char *rel, bool ok);
void cnt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void cnt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cnt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cnt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cnt_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                mode_t mode, struct fuse_file_info *fi);
void cnt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
              struct fuse_file_info *fi);
void cnt_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
               off_t off, struct fuse_file_info *fi);
void cnt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
               mode_t mode);
void cnt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void cnt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void cnt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                fuse_ino_t newparent, const char *newname, unsigned int flags);

#endif
