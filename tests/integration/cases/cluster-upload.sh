#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cluster-upload: two dray nodes on one replicated GlusterFS volume, each
# with its own storage.indexDirectory. A chunked upload whose requests
# alternate between the nodes (POST on one, PATCHes, status, a wrong
# offset and the closing PUT on either) stores the blob; a session is
# cancelled on the node that did not start it; skopeo copies to node 1
# and pulls from node 2; a repository made on node 1 appears in node 2's
# catalog and mount, a tag pushed later in both, and its withdrawal
# through node 1's mount is seen there too. The waits are
# logged, not asserted (a loaded machine is slow, not broken).
. "$(dirname "$0")/../lib.sh"
require_dray
need_mkimage

T_CASE=$(gl_now)
gluster_up 2
log "  volume lock and bring-up: $(gl_since "$T_CASE") s"
node_start_mount 1 "$WORK/mnt1" "indexDirectory: $WORK/node1"
node_start_mount 2 "$WORK/mnt2" "indexDirectory: $WORK/node2"
log "  nodes up: $(gl_since "$T_CASE") s"

# --- a chunked upload, its requests alternating between the nodes
CH=$((256 << 10))
SIZE=$((3 * CH + 100))
mkblob "$WORK/tmp/blob" "$SIZE"
D=$(digest_of "$WORK/tmp/blob")
for ((i = 0; i < 4; i++)); do
	n=$((i < 3 ? CH : SIZE - 3 * CH))
	slice "$WORK/tmp/blob" $((i * CH)) "$n" >"$WORK/tmp/chunk$i"
done
node_use 1
upload_open cl/up
for i in 0 1 2; do
	node_use $((i % 2 + 1))
	upload_chunk "$WORK/tmp/chunk$i" $((i * CH))
	# The status from the other node.
	node_use $(((i + 1) % 2 + 1))
	req GET "$(abs_url "$LOC")"
	assert_status 204
	assert_header Range "0-$(((i + 1) * CH - 1))"
done
# A chunk at the wrong offset, on either node: 416, nothing changes.
for i in 1 2; do
	node_use "$i"
	req PATCH "$(abs_url "$LOC")" -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $CH-$((2 * CH - 1))" --data-binary "@$WORK/tmp/chunk1"
	assert_status 416
	assert_header Range "0-$((3 * CH - 1))"
done
# The last chunk with the closing PUT on node 2, which did not start it.
node_use 2
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$D")" \
	-H 'Content-Type: application/octet-stream' \
	-H "Content-Range: $((3 * CH))-$((SIZE - 1))" \
	--data-binary "@$WORK/tmp/chunk3"
assert_status 201
assert_header Docker-Content-Digest "$D"
for i in 1 2; do
	node_use "$i"
	req GET "/v2/cl/up/blobs/$D"
	assert_status 200
	assert_body_digest "$D"
	req GET "$(abs_url "$LOC")"
	assert_status 404
done

log "  chunked upload across the nodes done: $(gl_since "$T_CASE") s"

# --- streamed PATCHes (no Content-Range, as docker and skopeo send)
# on node 1 then node 2, closed by a PUT on node 1
node_use 1
upload_open cl/up
cat "$WORK/tmp/chunk2" "$WORK/tmp/chunk3" >"$WORK/tmp/streamed"
D2=$(digest_of "$WORK/tmp/streamed")
for i in 1 2; do
	node_use "$i"
	req PATCH "$(abs_url "$LOC")" -H 'Content-Type: application/octet-stream' \
		--data-binary "@$WORK/tmp/chunk$((i + 1))"
	assert_status 202
	LOC=$(hdr Location)
done
node_use 1
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$D2")"
assert_status 201
node_use 2
req GET "/v2/cl/up/blobs/$D2"
assert_status 200
assert_body_digest "$D2"

# --- a streamed PATCH on node 1, cancelled on node 2
node_use 1
upload_open cl/up
req PATCH "$(abs_url "$LOC")" -H 'Content-Type: application/octet-stream' \
	--data-binary "@$WORK/tmp/chunk0"
assert_status 202
LOC=$(hdr Location)
node_use 2
req DELETE "$(abs_url "$LOC")"
assert_status 204
node_use 1
req GET "$(abs_url "$LOC")"
assert_status 404

# --- skopeo: copy to node 1, pull from node 2
export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
SRC=$WORK/tmp/src
D1=$("$MKIMAGE" "$SRC" v1 --layers 2 --layer-size 300000 --seed 41)
t0=$(gl_now)
skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false \
	"oci:$SRC:v1" "docker://127.0.0.1:${NODE_PORT[1]}/cl/sk:v1"
log "  skopeo copy to node 1: $(gl_since "$t0") s"
node_use 2
node_wait_get 200 /v2/cl/sk/manifests/v1 "node 1's skopeo push served"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://127.0.0.1:${NODE_PORT[2]}/cl/sk:v1" "oci:$WORK/tmp/back:v1"
assert_eq "$D1" "$(jq -r '.manifests[0].digest' "$WORK/tmp/back/index.json")" \
	"digest pulled from node 2"

# --- a repository made on node 1: in node 2's catalog and mount
node_use 1
push_image cl/new v1 1 1024
node_use 2
t0=$(gl_now)
until [[ " $(http_catalog) " == *" cl/new "* ]]; do
	assert_alive "node 2, waiting for cl/new in its catalog"
	sleep 0.05
done
log "  node 2: cl/new in its catalog after $(gl_since "$t0") s"
t0=$(gl_now)
until [ -f "$WORK/mnt2/cl/new/index.json" ] &&
	jq -e '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v1")' \
		"$WORK/mnt2/cl/new/index.json" >/dev/null 2>&1; do
	assert_alive "node 2, waiting for cl/new:v1 in its mount"
	sleep 0.05
done
log "  node 2: cl/new:v1 in its mount after $(gl_since "$t0") s"
# A second tag through node 1, and the repository's removal.
node_use 1
push_image cl/new v2 1 1024
node_use 2
t0=$(gl_now)
until [[ " $(tags_of cl/new) " == *" v2 "* ]] &&
	jq -e '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v2")' \
		"$WORK/mnt2/cl/new/index.json" >/dev/null 2>&1; do
	assert_alive "node 2, waiting for cl/new:v2"
	sleep 0.05
done
log "  node 2: cl/new:v2 in its tag list and mount after $(gl_since "$t0") s"
rm "$WORK/mnt1/cl/new/oci-layout"
t0=$(gl_now)
until [[ " $(http_catalog) " != *" cl/new "* ]] &&
	[ ! -e "$WORK/mnt2/cl/new/oci-layout" ]; do
	assert_alive "node 2, waiting for cl/new to go"
	sleep 0.05
done
log "  node 2: cl/new gone from its catalog and mount after $(gl_since "$t0") s"

log "  all checks done: $(gl_since "$T_CASE") s"
for i in 1 2; do
	node_use "$i"
	dray_stop
done
pass
