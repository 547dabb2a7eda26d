/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retention.c - zot's retention policies, and the pull times they need.
 *
 * A repository named by a policy keeps a tag if some keepTags rule keeps
 * it: the tag matches one of the rule's patterns (all tags when it has
 * none) and meets one of its criteria (pushedWithin, pulledWithin, among
 * the mostRecentlyPushedCount / mostRecentlyPulledCount newest of the
 * tags the rule matches) or the rule has no criteria. A push time is the
 * manifest's first push to this repository (the index's W record), not
 * its file's mtime: deduplicated content shares one inode, stamped by
 * whichever repository got it first. A policy with no
 * keepTags keeps every tag. A removed tag leaves an untagged manifest,
 * which GC then collects after retention.delay.
 *
 * Pull times are noted in memory on each manifest GET and written to the
 * index ("P<repo>\0<digest>" -> ms) before each GC and at close.
 */
#define LOG_MODULE "retention"
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/clock.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/kv.h"
#include "index/store_int.h"

void pull_note(struct store *st, const char *repo, const struct digest *d)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 2], dstr[DIGEST_STR_MAX];
	uint64_t *t;

	digest_format(d, dstr);
	snprintf(key, sizeof(key), "%s@%s", repo, dstr);
	pthread_mutex_lock(&st->lock);
	t = hmap_get(st->pulls, key);
	if (!t && (t = malloc(sizeof(*t))) && hmap_put(st->pulls, key, t) < 0) {
		free(t);
		t = NULL;
	}
	if (t)
		*t = clock_age_wall_ms();
	pthread_mutex_unlock(&st->lock);
}

/* What put_pull() writes with. */
struct flush {
	struct store *st;
	struct kv_batch *b;
};

static int put_pull(const char *key, void *val, void *arg)
{
	struct flush *fl = arg;
	struct kv_batch *b = fl->b;
	const char *at = strchr(key, '@');
	char k[REF_NAME_MAX + DIGEST_STR_MAX + 3];
	char repo[REF_NAME_MAX + 1];
	char v[24];
	size_t rl;

	if (!at || (size_t)(at - key) > REF_NAME_MAX || !fl->st->kv) {
		free(val);
		return 0;
	}
	rl = (size_t)(at - key);
	memcpy(repo, key, rl);
	repo[rl] = '\0';
	/*
	 * A manifest deleted since it was pulled took its P entry along:
	 * none is written back for it. (A delete between this check and
	 * the commit leaves one record until its repository goes.)
	 */
	if (!idx_has_manifest(fl->st, repo, at + 1)) {
		free(val);
		return 0;
	}
	k[0] = 'P';
	memcpy(k + 1, key, rl);
	k[1 + rl] = '\0';
	memcpy(k + 2 + rl, at + 1, strlen(at + 1));
	snprintf(v, sizeof(v), "%" PRIu64, *(uint64_t *)val);
	kv_batch_put(b, k, 2 + rl + strlen(at + 1), v, strlen(v));
	free(val);
	return 0;
}

int pull_flush(struct store *st, struct err *err)
{
	struct hmap *full, *fresh = hmap_new();
	struct kv_batch *b = kv_batch_new();
	int ret = -1;

	if (!fresh || !b) {
		hmap_free(fresh);
		kv_batch_free(b);
		return err_set(err, ERR_NOMEM, "cannot record pulls");
	}
	pthread_mutex_lock(&st->lock);
	full = st->pulls;
	st->pulls = fresh;
	pthread_mutex_unlock(&st->lock);
	hmap_each(full, put_pull, &(struct flush){st, b});
	hmap_free(full);
	ret = st->kv ? kv_commit(st->kv, b, err) : 0;
	kv_batch_free(b);
	return ret;
}

/*
 * Last pull of @d in @repo (ms since the epoch) into *@t, 0 if never.
 * ERR_IO, ERR_NOMEM, ERR_INTERNAL (a corrupt record): a tag kept by
 * pulledWithin must not go because its pull time could not be read.
 */
static int pull_time(struct store *st, const char *repo, const char *ds,
                     uint64_t *t, struct err *err)
{
	char k[REF_NAME_MAX + DIGEST_STR_MAX + 3], *v = NULL, *end;
	size_t rl = strlen(repo), dl = strlen(ds), vlen;

	k[0] = 'P';
	memcpy(k + 1, repo, rl);
	k[1 + rl] = '\0';
	memcpy(k + 2 + rl, ds, dl);
	*t = 0;
	if (kv_get(st->kv, k, 2 + rl + dl, &v, &vlen, err) < 0) {
		if (err->code != ERR_NOT_FOUND)
			return -1;
		*err = ERR_INIT;
		return 0;
	}
	*t = strtoull(v, &end, 10);
	if (end == v || *end) {
		free(v);
		return err_set(err, ERR_INTERNAL, "corrupt pull time of %s",
		               ds);
	}
	free(v);
	return 0;
}

const struct store_policy *retention_policy(const struct store_retention *ret,
                                            const char *repo)
{
	for (size_t i = 0; ret && i < ret->n_policies; i++)
		for (size_t j = 0; j < ret->policies[i].n_repositories; j++)
			if (ref_glob_match(ret->policies[i].repositories[j],
			                   repo))
				return &ret->policies[i];
	return NULL;
}

/* One tagged entry, as the rules see it. */
struct tagged {
	const char *tag;  /* the tag */
	uint64_t pushed;  /* first push to this repository, ms */
	uint64_t pulled;  /* last pull, ms, 0 if never */
	bool keep;        /* out */
	bool match;       /* scratch: matches the current rule */
	size_t by_push;   /* scratch: rank among matches, newest push first */
	size_t by_pull;   /* scratch: the same by last pull */
};

/* Mark the entries whose tag one of @k's patterns matches, whole. */
static void match_rule(const struct store_keep_tags *k, struct tagged *t,
                       size_t n)
{
	for (size_t i = 0; i < n; i++)
		t[i].match = !k->n_patterns;
	for (size_t p = 0; p < k->n_patterns; p++) {
		char anchored[512];
		regex_t re;

		/* zot matches the whole tag; config.c checked each pattern. */
		snprintf(anchored, sizeof(anchored), "^(%s)$", k->patterns[p]);
		if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (!t[i].match &&
			    regexec(&re, t[i].tag, 0, NULL, 0) == 0)
				t[i].match = true;
		regfree(&re);
	}
}

/* A time and where it came from, to rank entries by it. */
struct stamp {
	uint64_t ms;
	size_t i;
};

/* Newest first; among equal times, the earlier entry in index.json. */
static int newest_first(const void *a, const void *b)
{
	const struct stamp *x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms > y->ms ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Rank the matching entries by push and by pull (0 = newest): sorted
 * once, so a repository with 100,000 tags costs n log n, not n squared. */
static void rank_rule(struct tagged *t, size_t n, struct stamp *s)
{
	size_t m;

	for (int by_pull = 0; by_pull < 2; by_pull++) {
		m = 0;
		for (size_t i = 0; i < n; i++)
			if (t[i].match)
				s[m++] = (struct stamp){
					by_pull ? t[i].pulled : t[i].pushed, i};
		qsort(s, m, sizeof(*s), newest_first);
		for (size_t r = 0; r < m; r++) {
			if (by_pull)
				t[s[r].i].by_pull = r;
			else
				t[s[r].i].by_push = r;
		}
	}
}

static void apply_rule(const struct store_keep_tags *k, struct tagged *t,
                       size_t n, struct stamp *scratch, uint64_t now)
{
	bool criteria = k->pushed_within_ms || k->pulled_within_ms ||
	                k->pushed_count >= 0 || k->pulled_count >= 0;

	match_rule(k, t, n);
	rank_rule(t, n, scratch);
	for (size_t i = 0; i < n; i++) {
		if (!t[i].match)
			continue;
		if (!criteria ||
		    (k->pushed_within_ms &&
		     t[i].pushed + k->pushed_within_ms > now) ||
		    (k->pulled_within_ms && t[i].pulled &&
		     t[i].pulled + k->pulled_within_ms > now) ||
		    (k->pushed_count >= 0 &&
		     t[i].by_push < (size_t)k->pushed_count) ||
		    (k->pulled_count >= 0 && t[i].pulled &&
		     t[i].by_pull < (size_t)k->pulled_count))
			t[i].keep = true;
	}
}

/*
 * When @ds was first pushed to @repo, on the age clock: the index's push
 * record. Content that came in without a push (a layout copied into the
 * mount) has none; then the manifest file's mtime, which for deduplicated
 * content is the first copy's, in whichever repository that was.
 */
static uint64_t push_time(struct store *st, const char *repo, const char *ds,
                          const struct stat *sb)
{
	char user[8];
	uint64_t ms;

	if (store_pushed_get(st, repo, ds, &ms, user, sizeof(user)) == 0 &&
	    ms)
		return clock_age_wall_of(ms);
	return clock_age_wall_of(clock_ts_ms(&sb->st_mtim));
}

int retention_apply(struct store *st, struct repo *r,
                    const struct store_policy *pol, bool dry_run,
                    size_t *removed, struct err *err)
{
	json_t *mans = json_object_get(r->index, "manifests"), *e, *index;
	size_t n = json_array_size(mans), i, gone = 0;
	struct tagged *t;
	uint64_t now = clock_age_wall_ms();
	int ret = 0;

	if (!pol->n_keep_tags || !n)
		return 0;
	t = calloc(n, sizeof(*t));
	if (!t)
		return err_set(err, ERR_NOMEM, "cannot apply retention");
	json_array_foreach(mans, i, e)
	{
		const char *ds = json_string_value(json_object_get(e, "digest"));
		struct err ignored = ERR_INIT;
		char path[PATH_MAX];
		struct digest d;
		struct stat sb;

		t[i].tag = entry_tag(e);
		if (!t[i].tag || !ds ||
		    digest_parse(&d, ds, strlen(ds), &ignored) < 0 ||
		    blob_path(st, r->name, &d, path, sizeof(path), &ignored) < 0 ||
		    stat(path, &sb) < 0) {
			t[i].tag = NULL; /* untagged or unknown: not ours */
			t[i].keep = true;
			continue;
		}
		t[i].pushed = push_time(st, r->name, ds, &sb);
		if (pull_time(st, r->name, ds, &t[i].pulled, err) < 0) {
			free(t);
			err_prefix(err, "retention of '%s' not applied",
			           r->name);
			return -1;
		}
	}
	/* Rules see tagged entries only. */
	struct tagged *tags = calloc(n, sizeof(*tags));
	size_t nt = 0, *where = calloc(n, sizeof(*where));
	struct stamp *scratch = NULL;

	if (!tags || !where) {
		ret = err_set(err, ERR_NOMEM, "cannot apply retention");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (t[i].tag) {
			where[nt] = i;
			tags[nt++] = t[i];
		}
	scratch = calloc(nt ? nt : 1, sizeof(*scratch));
	if (!scratch) {
		ret = err_set(err, ERR_NOMEM, "cannot apply retention");
		goto out;
	}
	for (size_t k = 0; k < pol->n_keep_tags; k++)
		apply_rule(&pol->keep_tags[k], tags, nt, scratch, now);
	for (i = 0; i < nt; i++)
		if (!tags[i].keep) {
			log_info("%s%s: tag %s not kept by retention policy",
			         dry_run ? "dry run: " : "", r->name,
			         tags[i].tag);
			gone++;
		}
	*removed += gone;
	if (!gone || dry_run)
		goto out;
	index = json_deep_copy(r->index);
	mans = json_object_get(index, "manifests");
	if (!mans) {
		json_decref(index);
		ret = err_set(err, ERR_NOMEM, "cannot apply retention");
		goto out;
	}
	for (i = nt; i-- > 0;) {
		if (tags[i].keep)
			continue;
		/* The manifest stays, untagged, for GC to judge. */
		json_object_del(json_array_get(mans, where[i]), "annotations");
	}
	/* The tags' strings live in the index being replaced. */
	json_t *old = json_incref(r->index);

	ret = repo_save(st, r, index, err);
	for (i = 0; i < nt; i++) {
		json_t *m = json_array_get(json_object_get(old, "manifests"),
		                           where[i]);
		const char *ds =
			json_string_value(json_object_get(m, "digest"));
		struct err ignored = ERR_INIT;
		struct digest d;
		bool has_d =
			ds && digest_parse(&d, ds, strlen(ds), &ignored) == 0;

		if (!tags[i].keep)
			gc_audit("retention.tag", r->name, tags[i].tag,
			         has_d ? &d : NULL, ret < 0 ? err : NULL);
	}
	json_decref(old);
out:
	free(scratch);
	free(where);
	free(tags);
	free(t);
	return ret;
}
