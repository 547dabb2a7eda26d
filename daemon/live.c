/* SPDX-License-Identifier: Apache-2.0 */
/*
 * live.c - reference-counted versions behind one published pointer.
 */
#include <pthread.h>
#include <stdlib.h>

#include "daemon/live.h"

struct live_ref {
	void *obj;               /* the version */
	void (*dtor)(void *obj); /* destroys it */
	unsigned long refs;      /* holders, the slot included; atomic */
};

struct live {
	pthread_mutex_t lock; /* makes load-and-count one step */
	struct live_ref *cur; /* the published version */
	unsigned long gen;    /* versions published; under lock */
};

struct live_ref *live_ref_new(void *obj, void (*dtor)(void *obj),
                              struct err *err)
{
	struct live_ref *r = malloc(sizeof(*r));

	if (!r) {
		if (dtor)
			dtor(obj);
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	*r = (struct live_ref){.obj = obj, .dtor = dtor, .refs = 1};
	return r;
}

void *live_obj(const struct live_ref *ref)
{
	return ref->obj;
}

struct live_ref *live_hold(struct live_ref *ref)
{
	__atomic_add_fetch(&ref->refs, 1, __ATOMIC_RELAXED);
	return ref;
}

void live_put(struct live_ref *ref)
{
	if (!ref || __atomic_sub_fetch(&ref->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (ref->dtor)
		ref->dtor(ref->obj);
	free(ref);
}

struct live *live_new(struct live_ref *first, struct err *err)
{
	struct live *l;

	if (!first) /* live_ref_new() failed and said why */
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		live_put(first);
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->cur = first;
	return l;
}

void live_publish(struct live *l, struct live_ref *ref)
{
	struct live_ref *old;

	pthread_mutex_lock(&l->lock);
	old = l->cur;
	l->cur = ref;
	l->gen++;
	pthread_mutex_unlock(&l->lock);
	live_put(old);
}

void *live_get(struct live *l, struct live_ref **ref)
{
	struct live_ref *r;

	pthread_mutex_lock(&l->lock);
	r = live_hold(l->cur);
	pthread_mutex_unlock(&l->lock);
	*ref = r;
	return r->obj;
}

unsigned long live_generation(struct live *l)
{
	unsigned long gen;

	pthread_mutex_lock(&l->lock);
	gen = l->gen;
	pthread_mutex_unlock(&l->lock);
	return gen;
}

void live_free(struct live *l)
{
	if (!l)
		return;
	live_put(l->cur);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
