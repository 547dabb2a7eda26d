#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cluster-basic: two dray nodes serve one tree on a replicated GlusterFS
# volume (each through its own mount, each with its own
# storage.indexDirectory): what one node pushes the other serves, and what
# one deletes is gone on the other. How long the other node took to serve
# the push is logged, not asserted (a loaded machine is slow, not broken).
. "$(dirname "$0")/../lib.sh"
require_dray

gluster_up 2
node_start 1 "indexDirectory: $WORK/node1"
node_start 2 "indexDirectory: $WORK/node2"

# Each node's own state is in its index directory, not in the tree.
ASSERTS=$((ASSERTS + 1))
[ -d "$WORK/node1/index" ] && [ -d "$WORK/node2/index" ] ||
	fail "no RocksDB index in the nodes' index directories"
ASSERTS=$((ASSERTS + 1))
[ ! -e "${GL_MNT[1]}/tree/.dray/index" ] ||
	fail "an index in the shared tree"

# Push through node 1.
node_use 1
push_image cl/app v1 2 4096
pushed=$MANIFEST_DIGEST

# Served by node 2: the tag, the manifest, every blob.
node_use 2
node_wait_get 200 /v2/cl/app/manifests/v1 "node 1's push served"
assert_body_digest "$pushed"
for d in "${IMG_LAYERS[@]}" "$IMG_CONFIG"; do
	req GET "/v2/cl/app/blobs/$d"
	assert_status 200
	assert_body_digest "$d"
done
assert_eq "$(tags_of cl/app)" v1 "node 2's tag list"

# A second tag pushed through node 2 is seen by node 1.
push_image cl/app v2 1 1024
node_use 1
node_wait_get 200 /v2/cl/app/manifests/v2 "node 2's push served"

# Delete on node 2; gone on node 1.
node_use 2
req DELETE "/v2/cl/app/manifests/$pushed"
assert_status 202
node_use 1
node_wait_get 404 "/v2/cl/app/manifests/$pushed" "node 2's delete seen"
req GET /v2/cl/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404

for i in 1 2; do
	node_use "$i"
	dray_stop
done
pass
