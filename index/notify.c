/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify.c - tell store_opts.on_change what a published index.json changed.
 *
 * Every index.json a repository gets (an HTTP push, tag or delete, a sync,
 * import, GC, retention, a write or copy through the mount) goes through
 * repo_save_text() or, for a layout copied whole, settles once; both call
 * store_notify() with the index before and after, before the change is
 * published (the index.json rename, or the layout's oci-layout marker),
 * and store_notify_end() after, so that an announcement is on disk before
 * what it announces and is kept only if that happened. The change is read from
 * the two: a tag that now names a digest it did not is an update, a tag
 * that is gone a deletion; an untagged digest counts only where the digest
 * appears or vanishes altogether, so tagging or untagging a manifest that
 * stays is not also reported as its creation or deletion.
 */
#define LOG_MODULE "store"

#include <stdio.h>
#include <string.h>

#include "daemon/hmap.h"
#include "daemon/log.h"
#include "index/store_int.h"

#define NOTIFY_KEY_MAX 512

/* The keys of @manifests: "d <digest>", "t <tag>", "p <tag> <digest>". */
static int keys_of(json_t *manifests, struct hmap *m)
{
	char key[NOTIFY_KEY_MAX];
	size_t i;
	json_t *e;

	json_array_foreach(manifests, i, e)
	{
		const char *d = json_string_value(json_object_get(e, "digest"));
		const char *t = entry_tag(e);

		if (!d)
			continue;
		snprintf(key, sizeof(key), "d %s", d);
		if (hmap_put(m, key, e) < 0)
			return -1;
		if (!t)
			continue;
		snprintf(key, sizeof(key), "t %s", t);
		if (hmap_put(m, key, e) < 0)
			return -1;
		snprintf(key, sizeof(key), "p %s %s", t, d);
		if (hmap_put(m, key, e) < 0)
			return -1;
	}
	return 0;
}

/* Report the entries of @side that @other does not explain. */
static void report(struct store *st, const char *repo, json_t *side,
                   const struct hmap *other, bool deleted)
{
	char key[NOTIFY_KEY_MAX];
	size_t i;
	json_t *e;

	json_array_foreach(side, i, e)
	{
		const char *d = json_string_value(json_object_get(e, "digest"));
		const char *t = entry_tag(e);

		if (!d)
			continue;
		if (t && deleted)
			snprintf(key, sizeof(key), "t %s", t);
		else if (t)
			snprintf(key, sizeof(key), "p %s %s", t, d);
		else
			snprintf(key, sizeof(key), "d %s", d);
		if (hmap_get(other, key))
			continue;
		st->opts.on_change(
			st->opts.on_change_arg,
			&(struct store_change){
				.repo = repo,
				.reference = t ? t : d,
				.digest = d,
				.media_type = json_string_value(
					json_object_get(e, "mediaType")),
				.deleted = deleted,
			});
	}
}

void store_notify(struct store *st, const char *repo, json_t *before,
                  json_t *after)
{
	json_t *old = json_object_get(before, "manifests");
	json_t *now = json_object_get(after, "manifests");
	struct hmap *old_keys = NULL, *now_keys = NULL;

	if (!st->opts.on_change)
		return;
	old_keys = hmap_new();
	now_keys = hmap_new();
	if (!old_keys || !now_keys || keys_of(old, old_keys) < 0 ||
	    keys_of(now, now_keys) < 0) {
		log_err("%s: out of memory: the change is not reported", repo);
		goto out;
	}
	report(st, repo, now, old_keys, false);
	report(st, repo, old, now_keys, true);
out:
	hmap_free(old_keys);
	hmap_free(now_keys);
}

void store_notify_end(struct store *st, bool published)
{
	if (st->opts.on_change_end)
		st->opts.on_change_end(st->opts.on_change_arg, published);
}
