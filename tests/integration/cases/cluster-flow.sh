#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cluster-flow: three dray nodes on one replicated GlusterFS volume (a
# mount and an index directory each) behind nginx round robin, running
# contrib/cluster/nginx.conf. Through the balancer: the distribution-spec
# flow (push: monolithic and chunked uploads whose requests land on
# different nodes, cross-repository mount, manifest PUT by tag and by
# digest; pull; discovery: tags with n/last, referrers; management: tag,
# manifest and blob deletes), skopeo copies in and out, and a podman push
# and pull. Then, node to node directly: a push to node 1 served by node 2,
# and a delete likewise, each within 10 s (the time is logged).
#
# A node serves another node's change after its next look at the
# repository's index.json (storage recheck, 1 s): after each write the
# case waits until every node answers the new state (lb_settle) before
# reading it back through the balancer, and logs how long that took. The
# state awaited is the one then read: a manifest by tag, but the tag list
# or the referrers themselves after a change by digest (a node answers a
# digest from the manifest's file, before its look at index.json: see
# node_wait_get).
. "$(dirname "$0")/../lib.sh"
require_dray
need_mkimage

# The guide's node config is one dray takes.
ASSERTS=$((ASSERTS + 1))
"$DRAY_BIN" verify "$DRAY_SRC/contrib/cluster/dray.yaml" >/dev/null ||
	fail "contrib/cluster/dray.yaml does not verify"
cluster_up 3

# lb_settle WHAT CMD...: on every node, node_wait WHAT CMD...; then
# helpers talk to the balancer again.
lb_settle() {
	local i
	for i in 1 2 3; do
		node_use "$i"
		node_wait "$@"
	done
	lb_use
}

# tags_are TAGS: the tag list of $R is TAGS (sorted, space-separated).
tags_are() {
	[ "$(tags_of "$R")" = "$1" ]
}

# referrers_are LIST: the referrers of $M1 are LIST ("DIGEST TYPE", comma
# separated).
referrers_are() {
	req GET "/v2/$R/referrers/$M1" && [ "$STATUS" = 200 ] &&
		[ "$(bjq -r '[.manifests[] | .digest + " " + .artifactType] | join(",")')" = "$1" ]
}

# lb_spread MARK WHAT: the requests logged since access-log line MARK went
# to more than one node.
lb_spread() {
	local nodes
	nodes=$(lb_nodes_since "$1")
	log "  $2: nodes ${nodes// /, }"
	ASSERTS=$((ASSERTS + 1))
	[ "$(wc -w <<<"$nodes")" -ge 2 ] || fail "$2: every request went to node port $nodes"
}

R=cf/app

# --- Location through the balancer: relative, so resolved against the
# balancer's address, and usable there.
req POST "/v2/$R/blobs/uploads/"
assert_status 202
loc=$(hdr Location)
assert_true "upload Location '$loc' is a path on the balancer" \
	[ "${loc#/v2/$R/blobs/uploads/}" != "$loc" ]
req DELETE "$LB_URL$loc"
assert_status 202 204

# --- push: a monolithic upload in one POST
mkblob "$WORK/tmp/mono" 70000
MONO=$(digest_of "$WORK/tmp/mono")
req POST "/v2/$R/blobs/uploads/?digest=$MONO" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/mono"
assert_status 201
assert_header Docker-Content-Digest "$MONO"

# --- push: POST then PUT (two requests, two nodes)
mark=$(lb_log_lines)
mkblob "$WORK/tmp/post-put" 50000
push_blob "$R" "$WORK/tmp/post-put"
POSTPUT=$BLOB_DIGEST
lb_spread "$mark" "POST+PUT upload"

# --- push: chunked, POST, 3 PATCHes, PUT: round robin sends them to
# every node
mark=$(lb_log_lines)
mkblob "$WORK/tmp/chunked" 300000
CHUNKED=$(digest_of "$WORK/tmp/chunked")
upload_open "$R"
off=0
for len in 100000 100000 100000; do
	slice "$WORK/tmp/chunked" "$off" "$len" >"$WORK/tmp/piece"
	upload_chunk "$WORK/tmp/piece" "$off"
	off=$((off + len))
done
req GET "$(abs_url "$LOC")"
assert_status 204
assert_header Range "0-299999"
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$CHUNKED")"
assert_status 201
assert_header Docker-Content-Digest "$CHUNKED"
lb_spread "$mark" "chunked upload"

# --- push: cross-repository mount
req POST "/v2/cf/other/blobs/uploads/?mount=$CHUNKED&from=$R"
assert_status 201
assert_header Docker-Content-Digest "$CHUNKED"

# --- manifests: by tag, then the same bytes by digest
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' \
	>"$WORK/tmp/config"
push_blob "$R" "$WORK/tmp/config"
mkmanifest "$WORK/tmp/m1" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/mono")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/post-put")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/chunked")"
push_manifest "$R" v1 "$WORK/tmp/m1" "$MT_OCI_MANIFEST"
M1=$MANIFEST_DIGEST
mkmanifest "$WORK/tmp/m2" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/mono")"
push_manifest "$R" "$(digest_of "$WORK/tmp/m2")" "$WORK/tmp/m2" "$MT_OCI_MANIFEST"
M2=$MANIFEST_DIGEST
# Read right after the push, through the balancer: a node that looked at
# the repository less than a second ago may not serve it yet (logged, not
# asserted: that is the bound issue 14 sets).
miss=0
for i in 1 2 3; do
	req HEAD "/v2/$R/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
	[ "$STATUS" = 200 ] || miss=$((miss + 1))
done
log "  right after the push, $miss of 3 HEADs through the balancer were not 200"
lb_settle "the tag v1" get_is 200 "/v2/$R/manifests/v1"
lb_settle "the manifest pushed by digest" get_is 200 "/v2/$R/manifests/$M2"

# --- pull, three times each (one answer per node)
for i in 1 2 3; do
	req GET "/v2/$R/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_body_digest "$M1"
	req HEAD "/v2/$R/manifests/$M2" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_header Docker-Content-Digest "$M2"
	for d in "$MONO" "$POSTPUT" "$CHUNKED"; do
		req GET "/v2/$R/blobs/$d"
		assert_status 200
		assert_body_digest "$d"
	done
	req GET "/v2/cf/other/blobs/$CHUNKED"
	assert_status 200
	assert_body_digest "$CHUNKED"
done
req GET "/v2/$R/blobs/$CHUNKED" -H 'Range: bytes=100-199'
assert_status 206
assert_content_length 100

# --- discovery: tags with n and last
for t in t1 t2 t3 t4; do
	push_manifest "$R" "$t" "$WORK/tmp/m2" "$MT_OCI_MANIFEST"
done
lb_settle "the tag t4" get_is 200 "/v2/$R/manifests/t4"
for i in 1 2 3; do
	req GET "/v2/$R/tags/list?n=2"
	assert_status 200
	assert_eq "$(bjq -r '.tags | join(" ")')" "t1 t2" "tags, n=2"
	assert_header_match Link '^<[^>]+>; *rel="?next"?$'
	req GET "/v2/$R/tags/list?n=2&last=t2"
	assert_status 200
	assert_eq "$(bjq -r '.tags | join(" ")')" "t3 t4" "tags, n=2&last=t2"
done

# --- discovery: referrers
printf '{}' >"$WORK/tmp/empty"
push_blob "$R" "$WORK/tmp/empty"
mkmanifest "$WORK/tmp/sig" "$(jq -cn --arg d "$EMPTY_DIGEST" \
	'{mediaType: "application/vnd.oci.empty.v1+json", digest: $d, size: 2}')" \
	"$(jq -cn --arg d "$EMPTY_DIGEST" \
		'{mediaType: "application/vnd.oci.empty.v1+json", digest: $d, size: 2}')" \
	-- "$(jq -cn --argjson s "$(desc "$MT_OCI_MANIFEST" "$WORK/tmp/m1")" \
		'{artifactType: "application/vnd.example.sig", subject: $s}')"
push_manifest "$R" "$(digest_of "$WORK/tmp/sig")" "$WORK/tmp/sig" "$MT_OCI_MANIFEST"
SIG=$MANIFEST_DIGEST
lb_settle "the referrer" referrers_are "$SIG application/vnd.example.sig"
for i in 1 2 3; do
	req GET "/v2/$R/referrers/$M1"
	assert_status 200
	assert_eq "$(bjq -r '[.manifests[] | .digest + " " + .artifactType] | join(",")')" \
		"$SIG application/vnd.example.sig" "referrers of v1"
done

# --- management: tag delete, manifest delete, blob delete
req DELETE "/v2/$R/manifests/t4"
assert_status 202
lb_settle "the tag t4 deleted" get_is 404 "/v2/$R/manifests/t4"
assert_eq "t1 t2 t3 v1" "$(tags_of "$R")" "tags after deleting t4"
req DELETE "/v2/$R/manifests/$M2"
assert_status 202
# Its tags go with it (index.json), and then its file.
lb_settle "the tags of the manifest deleted by digest gone" tags_are v1
lb_settle "the manifest deleted by digest" get_is 404 "/v2/$R/manifests/$M2"
for i in 1 2 3; do
	assert_eq v1 "$(tags_of "$R")" "tags after deleting their manifest"
	req HEAD "/v2/$R/manifests/$M2" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 404
done
req DELETE "/v2/cf/other/blobs/$CHUNKED"
assert_status 202
for i in 1 2 3; do
	node_use "$i"
	t0=$(gl_now)
	until req HEAD "/v2/cf/other/blobs/$CHUNKED" && [ "$STATUS" = 404 ]; do
		assert_alive "node $i, waiting for the blob delete"
		sleep 0.05
	done
	log "  node $i: the blob delete after $(gl_since "$t0") s"
done
lb_use
req GET "/v2/$R/blobs/$CHUNKED"
assert_status 200

# --- skopeo in and out through the balancer
H=127.0.0.1:$LB_PORT
"$MKIMAGE" "$WORK/tmp/src" v1 --layers 3 --layer-size 200000 --seed 141 >/dev/null
SD=$(layout_manifest_digest "$WORK/tmp/src" v1)
skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false "oci:$WORK/tmp/src:v1" "docker://$H/cf/sk:v1"
lb_settle "skopeo's push" get_is 200 /v2/cf/sk/manifests/v1
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://$H/cf/sk:v1" "oci:$WORK/tmp/out:v1"
assert_eq "$(layout_manifest_digest "$WORK/tmp/out" v1)" "$SD" "skopeo's pull"

# --- podman push and pull through the balancer
podman_init
id=$(cd "$WORK/tmp" && timeout 900 "${PM[@]}" pull -q oci:src:v1 2>>"$WORK/logs/podman.log") ||
	fail "podman pull oci:src:v1 failed: $(tail -n 3 "$WORK/logs/podman.log")"
pm tag "$id" "$H/cf/pod:v1"
pm push -q --tls-verify=false "$H/cf/pod:v1"
lb_settle "podman's push" get_is 200 /v2/cf/pod/manifests/v1
pm rmi -f "$H/cf/pod:v1"
pm pull -q --tls-verify=false "$H/cf/pod:v1"

# --- node to node, directly: a push to node 1 read from node 2 within
# 10 s (logged), then a delete likewise

# node2_sees STATUS TARGET WHAT: node 2 answers STATUS to TARGET within 10 s.
node2_sees() {
	local t0 el
	t0=$(gl_now)
	node_use 2
	node_wait_get "$@"
	el=$(gl_since "$t0")
	assert_true "node 2: $3 after $el s, not within 10 s" \
		awk -v e="$el" 'BEGIN { exit !(e <= 10) }'
	node_use 1
}
node_use 2
req GET /v2/cf/direct/tags/list
node_use 1
push_image cf/direct v1 1 2048
node2_sees 200 /v2/cf/direct/manifests/v1 "node 1's push"
req DELETE "/v2/cf/direct/manifests/$MANIFEST_DIGEST"
assert_status 202
node2_sees 404 /v2/cf/direct/manifests/v1 "node 1's delete"

check_all_layouts "${GL_MNT[1]}/tree" >/dev/null
for i in 1 2 3; do
	node_use "$i"
	dray_stop
done
pass
