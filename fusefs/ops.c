/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - the FUSE low-level operations over the store's view.
 *
 * Node ids map to paths relative to the storage root; a node lives while
 * the kernel holds lookups on it (forget). A rename re-keys the node it
 * moves (the kernel's entry for the new name is that node), and a name
 * removed or renamed over lets go of its node, so a later file of that
 * name is a new node. The node id stays internal: st_ino is the stored
 * file's, so hard links between repositories show. Blobs never change, so their
 * attributes are cached for an hour and their pages kept across opens;
 * everything else (index.json, directories) is not cached, so a push over
 * HTTP shows at the next look. Reads are spliced from the layout file.
 *
 * This file holds the operations table, the session (start, unmount,
 * stop) and the thread that sends the kernel invalidations; ops_int.h
 * lists the files that hold the operations themselves.
 */
#define _GNU_SOURCE /* umount2 flags, O_ACCMODE */
#define LOG_MODULE  "fuse"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/hmap.h"
#include "fusefs/fusefs.h"
#include "index/store.h"
#include "fusefs/ops_int.h"

static const struct fuse_lowlevel_ops ops = {
	.lookup = cnt_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = cnt_getattr,
	.opendir = cnt_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.setattr = op_setattr,
	.open = cnt_open,
	.create = cnt_create,
	.read = cnt_read,
	.write = cnt_write,
	.flush = op_flush,
	.fsync = op_fsync,
	.fsyncdir = op_fsyncdir,
	.release = op_release,
	.mkdir = cnt_mkdir,
	.unlink = cnt_unlink,
	.rmdir = cnt_rmdir,
	.rename = cnt_rename,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

/* The store's change hook: only queue (it may run under store locks). */
void on_change(void *arg, const char *rel)
{
	struct rfs *fs = arg;

	pthread_mutex_lock(&fs->qlock);
	if (strvec_push(&fs->queue, rel) == 0)
		pthread_cond_signal(&fs->qcond);
	pthread_mutex_unlock(&fs->qlock);
}

static void invalidate(struct rfs *fs, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char parent[PATH_MAX];
	struct node *p, *n;
	uint64_t pino = 0, ino = 0;

	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rel) : 0,
	         rel);
	pthread_mutex_lock(&fs->lock);
	p = *parent ? hmap_get(fs->by_path, parent) : fs->root;
	n = hmap_get(fs->by_path, rel);
	if (p)
		pino = p->ino;
	if (n)
		ino = n->ino;
	pthread_mutex_unlock(&fs->lock);
	/*
	 * Unknown to the kernel: nothing cached to drop (errors ignored).
	 * A blob only ever goes away: dropping its name is enough, and
	 * keeping its inode's attributes lets a reader that has it open
	 * finish (a refreshed getattr would find no file).
	 */
	if (ino && !store_fs_is_blob(rel))
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	if (pino) {
		const char *name = slash ? slash + 1 : rel;

		fuse_lowlevel_notify_inval_entry(fs->se, pino, name,
		                                 strlen(name));
	}
}

/*
 * Invalidations go from this thread, never from a FUSE handler: the
 * kernel may wait on the handler's own request, which would deadlock.
 */
static void *notifier(void *arg)
{
	struct rfs *fs = arg;

	for (;;) {
		struct strvec work;

		pthread_mutex_lock(&fs->qlock);
		while (!fs->queue.n && !fs->qstop)
			pthread_cond_wait(&fs->qcond, &fs->qlock);
		if (fs->qstop) {
			pthread_mutex_unlock(&fs->qlock);
			return NULL;
		}
		work = fs->queue;
		fs->queue = (struct strvec){0};
		pthread_mutex_unlock(&fs->qlock);
		for (size_t i = 0; i < work.n; i++)
			invalidate(fs, work.v[i]);
		strvec_release(&work);
	}
}

static void *loop(void *arg)
{
	struct rfs *fs = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	if (!cfg) {
		log_err("cannot configure the fuse loop");
		return NULL;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, 8);
	if (fuse_session_loop_mt(fs->se, cfg) != 0)
		log_debug("fuse loop ended");
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

static void free_node(void *val)
{
	node_free(val);
}

static void rfs_free(struct rfs *fs)
{
	hmap_free_with(fs->refused, free);
	hmap_free_with(fs->by_ino, free_node);
	hmap_free(fs->by_path);
	hmap_free(fs->writing);
	node_free(fs->root);
	pthread_mutex_destroy(&fs->lock);
	strvec_release(&fs->queue);
	pthread_cond_destroy(&fs->qcond);
	pthread_mutex_destroy(&fs->qlock);
	free(fs->mountpoint);
	free(fs);
}

/* Make @mnt usable: created if missing, a stale mount cleared. */
static int prepare_mountpoint(const char *mnt, struct err *err)
{
	struct stat sb;

	if (stat(mnt, &sb) < 0 && errno == ENOTCONN) {
		/* A crashed dray left its mount: detach it. */
		log_warn("clearing the stale mount at '%s'", mnt);
		if (umount2(mnt, MNT_DETACH) < 0)
			return err_set_errno(err, errno,
			                     "cannot clear stale mount '%s'",
			                     mnt);
	}
	return fs_mkdir_p(mnt, 0755, err);
}

struct rfs *rfs_start(struct store *st, const struct rfs_opts *opts,
                      struct err *err)
{
	struct rfs *fs = calloc(1, sizeof(*fs));
	char *argv[4] = {"dray", "-o", NULL, NULL};
	char optstr[128];
	struct fuse_args args;

	if (!fs) {
		err_set(err, ERR_NOMEM, "cannot start the mount");
		return NULL;
	}
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->qlock, NULL);
	pthread_cond_init(&fs->qcond, NULL);
	fs->st = st;
	fs->opts = *opts;
	fs->next_ino = FUSE_ROOT_ID + 1;
	fs->by_path = hmap_new();
	fs->by_ino = hmap_new();
	fs->writing = hmap_new();
	fs->refused = hmap_new();
	fs->root = calloc(1, sizeof(*fs->root));
	if (fs->root) {
		fs->root->fd = -1;
		fs->root->path = strdup("");
	}
	if (!fs->by_path || !fs->by_ino || !fs->writing || !fs->refused ||
	    !fs->root || !fs->root->path) {
		err_set(err, ERR_NOMEM, "cannot start the mount");
		goto fail;
	}
	fs->root->ino = FUSE_ROOT_ID;
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		err_set_errno(err, errno, "FUSE is not available (/dev/fuse)");
		goto fail;
	}
	if (prepare_mountpoint(opts->mountpoint, err) < 0)
		goto fail;
	/* Edits that waited for content when dray stopped wait again. */
	if (store_fs_restore(st, err) < 0)
		goto fail;
	fs->mountpoint = realpath(opts->mountpoint, NULL);
	if (!fs->mountpoint) {
		err_set_errno(err, errno, "cannot resolve '%s'",
		              opts->mountpoint);
		goto fail;
	}
	fs->opts.mountpoint = fs->mountpoint;
	fs->ttl_max = (double)store_fs_recheck_ms(st) / 1000.0;
	/*
	 * Other users get in only with the kernel checking the modes and
	 * owners shown (the daemon itself could do anything for them).
	 */
	snprintf(optstr, sizeof(optstr), "%sfsname=dray,subtype=dray%s",
	         opts->read_only ? "ro," : "",
	         opts->allow_other ? ",allow_other,default_permissions" : "");
	argv[2] = optstr;
	args = (struct fuse_args)FUSE_ARGS_INIT(3, argv);
	fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	fuse_opt_free_args(&args); /* libfuse may have grown them */
	if (!fs->se) {
		err_set(err, ERR_IO, "cannot create the fuse session");
		goto fail;
	}
	if (fuse_session_mount(fs->se, fs->mountpoint) != 0) {
		err_set(err, ERR_IO, "cannot mount at '%s'", fs->mountpoint);
		goto fail;
	}
	if (pthread_create(&fs->thread, NULL, loop, fs) != 0) {
		fuse_session_unmount(fs->se);
		err_set(err, ERR_IO, "cannot start the fuse thread");
		goto fail;
	}
	fs->running = true;
	if (pthread_create(&fs->notifier, NULL, notifier, fs) == 0) {
		fs->notifying = true;
		store_set_watch(st, on_change, fs);
	} else {
		log_warn("no cache invalidation thread: HTTP changes show "
		         "in the mount after %.0f s",
		         META_TTL);
	}
	return fs;
fail:
	if (fs->se)
		fuse_session_destroy(fs->se);
	rfs_free(fs);
	return NULL;
}

void rfs_unmount(struct rfs *fs)
{
	int root;

	if (!fs || fs->unmounted)
		return;
	fs->unmounted = true;
	/*
	 * The notifier first, while the workers still answer: an
	 * invalidation can wait for a request in flight. Changes queued
	 * from now on are dropped with the queue.
	 */
	if (fs->notifying) {
		pthread_mutex_lock(&fs->qlock);
		fs->qstop = true;
		pthread_cond_signal(&fs->qcond);
		pthread_mutex_unlock(&fs->qlock);
		pthread_join(fs->notifier, NULL);
		fs->notifying = false;
	}
	/* A way into the mount that outlives its name, for the wake-up. */
	root = open(fs->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fuse_session_exit(fs->se);
	/* Detached: the mountpoint is a plain directory from here on. */
	fuse_session_unmount(fs->se);
	/*
	 * The workers see the exit only after a request; while a client
	 * holds a file open in the detached mount the connection lives and
	 * none comes. One lookup (never cached: a dot name at the top is
	 * nowhere in the view) ends the loop; once its threads are gone the
	 * connection is closed and any client still in it gets ENOTCONN.
	 */
	if (root >= 0) {
		struct stat sb;

		if (fs->running)
			(void)fstatat(root, ".dray-stop", &sb,
			              AT_SYMLINK_NOFOLLOW);
		close(root);
	}
	if (fs->running)
		pthread_join(fs->thread, NULL);
	fs->running = false;
}

void rfs_stop(struct rfs *fs)
{
	if (!fs)
		return;
	store_set_watch(fs->st, NULL, NULL);
	rfs_unmount(fs);
	fuse_session_destroy(fs->se);
	/* Files the kernel never released (the mount went first). */
	while (fs->files) {
		struct open_file *of = fs->files;

		fs->files = of->next;
		if (of->w) {
			end_write(fs, of);
			store_fs_writer_free(of->w);
		}
		open_file_free(of);
	}
	rfs_free(fs);
}

/*
 * The repository of mount path @path into @repo (@size bytes): what comes
 * before its layout's own names, or the whole path (a directory). The
 * blob's digest, for a path under blobs/, into @dstr.
 */
static void mount_names(const char *path, char *repo, size_t size, char *dstr,
                        size_t dsize)
{
	const char *b = strstr(path, "/blobs/"), *end = b;
	const char *slash;

	dstr[0] = '\0';
	if (b && (slash = strchr(b + 7, '/')) && !strchr(slash + 1, '/'))
		snprintf(dstr, dsize, "%.*s:%s", (int)(slash - b - 7), b + 7,
		         slash + 1);
	if (!end) {
		end = strrchr(path, '/');
		if (!end || (strcmp(end, "/index.json") != 0 &&
		             strcmp(end, "/oci-layout") != 0))
			end = path + strlen(path);
	}
	snprintf(repo, size, "%.*s", (int)(end - path), path);
}

void mount_audit(fuse_req_t req, const char *action, const char *path,
                 const char *source, const struct err *err)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char repo[PATH_MAX], dstr[160], pwbuf[1024];
	struct passwd pw, *found = NULL;
	bool ok = !err || err->code == ERR_OK;

	if (!log_audit_on())
		return;
	mount_names(path, repo, sizeof(repo), dstr, sizeof(dstr));
	if (getpwuid_r(ctx->uid, &pw, pwbuf, sizeof(pwbuf), &found) != 0)
		found = NULL;
	log_audit(&(struct audit_rec){
		.action = action,
		.subject = found ? found->pw_name : NULL,
		.client = "mount",
		.uid = (long long)ctx->uid,
		.repository = repo,
		.digest = dstr[0] ? dstr : NULL,
		.object = path,
		.source = source,
		.ok = ok,
		.error = ok ? NULL : err->msg,
	});
}
