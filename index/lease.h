/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lease.h - work that one node of several on a shared storage tree does
 * for all of them (GC, retention, a registry's periodic sync): a lease
 * is an OFD lock on a file in the tree, <root>/.dray/leases/<name>,
 * taken without waiting. The node that gets it keeps it until the store
 * closes (or store_lease_drop()), so one node keeps doing the work; a
 * node that dies loses its locks with its open files, and another node
 * takes the lease at its next try. On a tree no other node shares
 * (storage.indexDirectory unset) every lease is granted at once.
 * Thread-safe.
 */
#ifndef DRAY_LEASE_H
#define DRAY_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"

struct store;

/* The lease of garbage collection and retention. */
#define STORE_LEASE_GC "gc"

/*
 * Hold lease @name (letters, digits, '-', '_', '.'; at most 64): 1 when
 * this node holds it (now or already), 0 when another node does (counted
 * in store_lease_stats()), -1 with ERR_IO or ERR_INVALID.
 */
MUST_CHECK int store_lease_take(struct store *st, const char *name,
                                struct err *err);

/* Let lease @name go, if this node holds it. */
void store_lease_drop(struct store *st, const char *name);

/* This node's id on a shared tree (16 hex digits), or NULL. */
const char *store_node_id(const struct store *st);

/* What the lease module counted, for metrics. */
struct store_lease_stats {
	bool gc_held;         /* this node holds STORE_LEASE_GC */
	uint64_t gc_skips;    /* GC passes left to another node */
	uint64_t other_skips; /* other leases found held elsewhere */
	uint64_t nodes_swept; /* dead nodes' staging directories emptied */
};

void store_lease_stats(struct store *st, struct store_lease_stats *out);

#endif
