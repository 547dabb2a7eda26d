/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules.c - the store's reloadable rules: one immutable version in force,
 * swapped whole (daemon/live.h), never edited under its readers.
 */
#include <stdlib.h>

#include "daemon/live.h"
#include "index/store_int.h"

/* One version: the rules and what keeps their arrays alive. */
struct rules_ver {
	struct store_rules r;
	struct live_ref *keep;
};

static void rules_ver_free(void *obj)
{
	struct rules_ver *v = obj;

	live_put(v->keep);
	free(v);
}

struct live_ref *store_rules_new(const struct store_rules *r,
                                 struct live_ref *keep, struct err *err)
{
	struct rules_ver *v = malloc(sizeof(*v));

	if (!v) {
		live_put(keep);
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	*v = (struct rules_ver){*r, keep};
	return live_ref_new(v, rules_ver_free, err);
}

int store_rules_init(struct store *st, struct err *err)
{
	struct store_rules r = {st->opts.access, st->opts.lint,
	                        st->opts.n_lint};
	struct live_ref *first = store_rules_new(&r, NULL, err);

	if (!first)
		return -1;
	st->rules = live_new(first, err);
	return st->rules ? 0 : -1;
}

void store_rules_publish(struct store *st, struct live_ref *rules)
{
	live_publish(st->rules, rules);
}

const struct store_rules *rules_get(struct store *st, struct live_ref **ref)
{
	struct rules_ver *v = live_get(st->rules, ref);

	return &v->r;
}

void store_set_dedupe(struct store *st, bool on)
{
	__atomic_store_n(&st->opts.dedupe, on, __ATOMIC_RELAXED);
}

bool store_dedupe_on(const struct store *st)
{
	return dedupe_on(st);
}

bool dedupe_on(const struct store *st)
{
	return __atomic_load_n(&st->opts.dedupe, __ATOMIC_RELAXED);
}
