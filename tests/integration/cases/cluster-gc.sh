#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cluster-gc: three dray nodes on one replicated GlusterFS volume, GC on
# every second (gcDelay 1h, the age clock moved instead of waiting).
# Pushes go through all three while GC runs: exactly one node (the holder
# of the GC lease, an OFD lock in the tree) runs passes, the others skip
# theirs (dray_gc_lease_skips_total), and every image stays pullable from
# every node. The leader is then SIGKILLed: another node takes the lease,
# collects a blob nobody names, and removes the dead node's staging.
. "$(dirname "$0")/../lib.sh"
require_dray

# passes_of I: GC passes node I has logged.
passes_of() {
	grep -c 'gc: [0-9]* tags' "$WORK/logs/node$1.log" || true
}

# leaders: the nodes (of those given) that have logged GC passes.
leaders() {
	local i
	for i in "$@"; do
		[ "$(passes_of "$i")" -eq 0 ] || printf '%s ' "$i"
	done
}

# wait_passes N NODE...: until the nodes given have logged N passes in all.
wait_passes() {
	local want=$1 i sum
	shift
	while :; do
		sum=0
		for i in "$@"; do
			sum=$((sum + $(passes_of "$i")))
			node_use "$i"
			assert_alive "node $i, waiting for GC passes"
		done
		[ "$sum" -ge "$want" ] && return 0
		sleep 0.1
	done
}

# pull_all NODE REPO TAG DIGEST BLOB...: NODE serves the image whole,
# once it serves the tag: another node's push is served after this
# node's next look at index.json, and the leader looks at every
# repository at each of its passes, so a push that came in just after a
# pass is not served by the leader for up to a second (storage recheck).
pull_all() {
	local repo=$2 tag=$3 dg=$4 d
	node_use "$1"
	node_wait_get 200 "/v2/$repo/manifests/$tag" "$repo:$tag"
	assert_body_digest "$dg"
	shift 4
	for d in "$@"; do
		req GET "/v2/$repo/blobs/$d"
		assert_status 200
		assert_body_digest "$d"
	done
}

test_clock_on
gluster_up 3
t_case=$(gl_now)
NODE_EXTRA=$'extensions:\n  metrics: {enable: true}'
for i in 1 2 3; do
	node_start "$i" "indexDirectory: $WORK/node$i" "gcInterval: 1s" \
		"gcDelay: 1h"
done
log "  3 nodes up at $(gl_since "$t_case") s"

# Pushes through every node while GC runs; remember what each pushed.
images=()
for i in 1 2 3; do
	node_use "$i"
	push_image "cl/n$i" v1 1 2048
	images+=("cl/n$i v1 $MANIFEST_DIGEST ${IMG_LAYERS[*]} $IMG_CONFIG")
done
log "  pushed at $(gl_since "$t_case") s"
wait_passes 4 1 2 3
log "  4 GC passes at $(gl_since "$t_case") s"

# Exactly one node collects; the others count the passes they left.
read -r -a lead <<<"$(leaders 1 2 3)"
assert_eq 1 "${#lead[@]}" "nodes that ran GC passes ($(leaders 1 2 3))"
leader=${lead[0]}
log "  node $leader holds the GC lease"
for i in 1 2 3; do
	node_use "$i"
	scrape
	id=$(cat "$WORK/node$i/node-id")
	held=$(metric_value "dray_gc_lease_held{node=\"$id\"}")
	skips=$(metric_value "dray_gc_lease_skips_total{node=\"$id\"}")
	if [ "$i" = "$leader" ]; then
		assert_eq 1 "$held" "node $i's dray_gc_lease_held"
	else
		assert_eq 0 "$held" "node $i's dray_gc_lease_held"
		ASSERTS=$((ASSERTS + 1))
		[ "${skips:-0}" -gt 0 ] ||
			fail "node $i counted no skipped GC pass ('$skips')"
	fi
done

# Every pushed image, from every node.
for i in 1 2 3; do
	for im in "${images[@]}"; do
		# shellcheck disable=SC2086
		pull_all "$i" $im
	done
done

log "  pulled at $(gl_since "$t_case") s"

# A blob nobody names, made old; then the leader dies.
node_use 2
mkblob "$WORK/tmp/orphan" 1024
push_blob cl/n2 "$WORK/tmp/orphan"
orphan=$BLOB_DIGEST
clock_advance 7200
node_use "$leader"
dray_kill9
NODE_PID[leader]=
others=()
for i in 1 2 3; do
	[ "$i" = "$leader" ] || others+=("$i")
done

# Another node takes the lease at its next pass and collects.
t0=$(gl_now)
node_use "${others[0]}"
until req GET "/v2/cl/n2/blobs/$orphan" && [ "$STATUS" = 404 ]; do
	for i in "${others[@]}"; do
		node_use "$i"
		assert_alive "node $i, waiting for the orphan to be collected"
	done
	node_use "${others[0]}"
	sleep 0.1
done
log "  the orphan collected $(gl_since "$t0") s after node $leader died"
wait_passes 1 "${others[@]}"
read -r -a lead <<<"$(leaders "${others[@]}")"
assert_eq 1 "${#lead[@]}" "surviving nodes that ran GC passes"
dead=$(cat "$WORK/node$leader/node-id")
node_use "${lead[0]}"
wait_log 0 "staging of node $dead, which is gone, removed" \
	"the dead node's staging"
ASSERTS=$((ASSERTS + 1))
[ ! -e "${GL_MNT[1]}/tree/.dray/tmp/$dead" ] ||
	fail "node $leader's staging is still there"

# Still every image from the nodes that live.
for i in "${others[@]}"; do
	for im in "${images[@]}"; do
		# shellcheck disable=SC2086
		pull_all "$i" $im
	done
done

for i in "${others[@]}"; do
	node_use "$i"
	dray_stop
done
log "cluster-gc: $(gl_since "$t_case") s with the volume up"
pass
