/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retention.c - zot's retention policies, and the pull times they need.
 *
 * A repository named by a policy keeps a tag if some keepTags rule keeps
 * it: the tag matches one of the rule's patterns (all tags when it has
 * none) and meets one of its criteria (pushedWithin, pulledWithin, among
 * the mostRecentlyPushedCount / mostRecentlyPulledCount newest of the
 * tags the rule matches) or the rule has no criteria. A policy with no
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

static int put_pull(const char *key, void *val, void *arg)
{
	struct kv_batch *b = arg;
	const char *at = strchr(key, '@');
	char k[REF_NAME_MAX + DIGEST_STR_MAX + 3];
	char v[24];
	size_t rl;

	if (!at)
		return 0;
	rl = (size_t)(at - key);
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
	hmap_each(full, put_pull, b);
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
	uint64_t pushed;  /* manifest file mtime, ms */
	uint64_t pulled;  /* last pull, ms, 0 if never */
	bool keep;        /* out */
	bool match;       /* scratch: matches the current rule */
};

static bool tag_matches(const struct store_keep_tags *k, const char *tag)
{
	if (!k->n_patterns)
		return true;
	for (size_t i = 0; i < k->n_patterns; i++) {
		char anchored[512];
		regex_t re;
		bool hit;

		/* zot matches the whole tag. */
		snprintf(anchored, sizeof(anchored), "^(%s)$", k->patterns[i]);
		if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
			continue;
		hit = regexec(&re, tag, 0, NULL, 0) == 0;
		regfree(&re);
		if (hit)
			return true;
	}
	return false;
}

/* Rank of @t among matching entries by @field (0 = newest). */
static size_t rank(const struct tagged *all, size_t n, const struct tagged *t,
                   bool by_pull)
{
	uint64_t mine = by_pull ? t->pulled : t->pushed;
	size_t r = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t other = by_pull ? all[i].pulled : all[i].pushed;

		if (all[i].match && &all[i] != t &&
		    (other > mine || (other == mine && &all[i] < t)))
			r++;
	}
	return r;
}

static void apply_rule(const struct store_keep_tags *k, struct tagged *t,
                       size_t n, uint64_t now)
{
	bool criteria = k->pushed_within_ms || k->pulled_within_ms ||
	                k->pushed_count >= 0 || k->pulled_count >= 0;

	for (size_t i = 0; i < n; i++)
		t[i].match = tag_matches(k, t[i].tag);
	for (size_t i = 0; i < n; i++) {
		if (!t[i].match)
			continue;
		if (!criteria ||
		    (k->pushed_within_ms &&
		     t[i].pushed + k->pushed_within_ms > now) ||
		    (k->pulled_within_ms && t[i].pulled &&
		     t[i].pulled + k->pulled_within_ms > now) ||
		    (k->pushed_count >= 0 &&
		     rank(t, n, &t[i], false) < (size_t)k->pushed_count) ||
		    (k->pulled_count >= 0 && t[i].pulled &&
		     rank(t, n, &t[i], true) < (size_t)k->pulled_count))
			t[i].keep = true;
	}
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
		t[i].pushed = clock_age_wall_of(clock_ts_ms(&sb.st_mtim));
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

	if (!tags || !where) {
		ret = err_set(err, ERR_NOMEM, "cannot apply retention");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (t[i].tag) {
			where[nt] = i;
			tags[nt++] = t[i];
		}
	for (size_t k = 0; k < pol->n_keep_tags; k++)
		apply_rule(&pol->keep_tags[k], tags, nt, now);
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
	free(where);
	free(tags);
	free(t);
	return ret;
}
