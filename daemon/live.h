/* SPDX-License-Identifier: Apache-2.0 */
/*
 * live.h - a value read by many threads and replaced as a whole: the
 * settings SIGHUP reloads.
 *
 * A struct live publishes the current version of an immutable object. A
 * reader takes a reference with live_get() and drops it with live_put();
 * a writer makes a new version with live_ref_new() (which may fail) and
 * publishes it with live_publish() (which cannot), so a change of several
 * slots can be prepared in full before any of them moves. A version is
 * never changed in place: it is destroyed when its last reference goes,
 * so a reader keeps a consistent whole for as long as it holds one.
 * Taking a reference is a short mutex section (load and count as one
 * step, so a version cannot be freed between the two); dropping one is
 * an atomic decrement.
 */
#ifndef DRAY_LIVE_H
#define DRAY_LIVE_H

#include "daemon/err.h"

struct live;     /* the published slot */
struct live_ref; /* one version and its reference count */

/*
 * A version holding @obj, destroyed by @dtor (may be NULL) when its last
 * reference goes; the caller has the first one. ERR_NOMEM (@obj is
 * destroyed then).
 */
MUST_CHECK struct live_ref *live_ref_new(void *obj, void (*dtor)(void *obj),
                                         struct err *err);

/* The object of version @ref. */
void *live_obj(const struct live_ref *ref);

/* One more reference to @ref, returned. */
struct live_ref *live_hold(struct live_ref *ref);

/* Drop a reference. Accepts NULL. */
void live_put(struct live_ref *ref);

/*
 * A slot publishing @first (the caller's reference is taken). ERR_NOMEM
 * drops it. @first NULL (a failed live_ref_new(), @err set) gives NULL.
 */
MUST_CHECK struct live *live_new(struct live_ref *first, struct err *err);

/*
 * Publish @ref (the caller's reference is taken): readers from now on
 * get it; the previous version goes once no reader holds it.
 */
void live_publish(struct live *l, struct live_ref *ref);

/* The current version's object, referenced into *@ref for live_put(). */
void *live_get(struct live *l, struct live_ref **ref);

/* How many versions were published after the first (tests, logs). */
unsigned long live_generation(struct live *l);

/* Drop the slot and its reference to the current version. Accepts NULL. */
void live_free(struct live *l);

#endif
