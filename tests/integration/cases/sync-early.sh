#!/bin/bash
# sync-early.sh - a manifest miss is answered as soon as the manifest is
# fetched and verified, while its blobs still come; it is stored (with
# its tag) only once they are all here. Upstream: Debian's
# docker-registry. A test-only pause point (DRAY_TEST_HOLD=syncbody:<file>)
# holds every blob transfer after its first bytes until <file> exists, so
# nothing here depends on timing:
#   - with the blobs held, GET and HEAD of the tag answer 200 with the
#     upstream's digest, media type and bytes; so does a GET by digest,
#     and an index's child manifest; the tag is not in the layout's
#     index.json and no blob is stored. Released, the tag appears, the
#     layout is valid, and the manifest is served from the store.
#   - the same image in another repository: its blobs are linked from
#     the first, none is fetched upstream again (a blob GET alone, for a
#     blob no manifest from upstream names, links nothing).
#   - kill -9 with the blobs in flight: no tag, no blob, a valid layout;
#     restarted, podman pulls the image through dray (from the upstream
#     it never talks to): the upstream's manifest digest, and dray stores
#     the upstream's bytes.
#   - SIGTERM with the blobs in flight: a clean exit, nothing stored.
. "$(dirname "$0")/../lib.sh"
require_dray "test-only pause points in the upstream fetch"
need_mkimage

HOLD=$WORK/tmp/release
SRC=$WORK/tmp/src
D1=$("$MKIMAGE" "$SRC" v1 --layers 2 --layer-size 1500000 --seed 51)
D2=$("$MKIMAGE" "$SRC" v2 --layers 2 --layer-size 300000 --seed 52)
D3=$("$MKIMAGE" "$SRC" v3 --layers 1 --layer-size 200000 --seed 53)
DI=$("$MKIMAGE" "$SRC" multi --index --layers 1 --layer-size 50000 --seed 54)

upstream_start up
for t in v1 v2 v3; do
	up_put up "$SRC" "$(jq -r --arg t "$t" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$SRC/index.json")" lib/app "$t"
done
up_put up "$SRC" "$DI" lib/app multi
up_put up "$SRC" "$D1" lib/copy v1
echo '{}' >"$WORK/cfg/creds.json"
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url up)"]
        onDemand: true
        content: [{prefix: "lib/**"}]
EOF2

# tag_here TAG: the digest TAG names in dray's layout of lib/app, or "".
tag_here() {
	jq -r --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
		"$WORK/data/lib/app/index.json" 2>/dev/null || true
}
# blobs_of DIGEST: the config and layer digests of manifest DIGEST.
blobs_of() {
	jq -r '.config.digest, .layers[].digest' "$SRC/blobs/sha256/${1#sha256:}"
}
# none_stored DIGEST WHAT: no blob of manifest DIGEST in dray's layout.
none_stored() {
	local b
	for b in $(blobs_of "$1"); do
		assert_true "$2: blob $b not stored" [ ! -e "$WORK/data/lib/app/blobs/sha256/${b#sha256:}" ]
	done
}

# --- the manifest answered while every blob is held upstream
export DRAY_TEST_HOLD="syncbody:$HOLD"
dray_start
M=$(log_mark)
req GET /v2/lib/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D1"
assert_content_type "$MT_OCI_MANIFEST"
assert_body_file "$SRC/blobs/sha256/${D1#sha256:}"
wait_log "$M" "test hold: syncbody" "a blob transfer of v1 held"
assert_true "the blobs are still held" [ ! -e "$HOLD" ]
assert_eq "" "$(tag_here v1)" "v1 not in index.json while its blobs are held"
none_stored "$D1" "held"
req HEAD /v2/lib/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D1"
assert_header Content-Length "$(stat -c %s "$SRC/blobs/sha256/${D1#sha256:}")"
req GET "/v2/lib/app/manifests/$D1" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_body_file "$SRC/blobs/sha256/${D1#sha256:}"
assert_eq 1 "$(up_requests up "GET /v2/lib/app/manifests/v1")" "upstream GETs of v1's manifest"
# an index and its child, both answered while the child's blobs are held
req GET /v2/lib/app/manifests/multi -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$DI"
CHILD=$(jq -r '.manifests[0].digest' "$SRC/blobs/sha256/${DI#sha256:}")
req GET "/v2/lib/app/manifests/$CHILD" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$CHILD"
assert_body_file "$SRC/blobs/sha256/${CHILD#sha256:}"
assert_eq "" "$(tag_here multi)" "multi not in index.json while held"
# released: stored, tagged, valid, served from the store
touch "$HOLD"
wait_log "$M" "synced manifest lib/app:v1 from" "v1 stored once its blobs came"
wait_log "$M" "synced manifest lib/app:multi from" "multi stored once its blobs came"
assert_eq "$D1" "$(tag_here v1)" "v1 in index.json once its blobs are stored"
assert_eq "$DI" "$(tag_here multi)" "multi in index.json once stored"
for b in $(blobs_of "$D1"); do
	assert_true "blob $b stored" cmp -s "$WORK/data/lib/app/blobs/sha256/${b#sha256:}" "$SRC/blobs/sha256/${b#sha256:}"
done
check_layout "$WORK/data/lib/app"
req GET /v2/lib/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D1"
assert_content_type "$MT_OCI_MANIFEST"

# --- blobs another repository here holds are linked, not fetched again
req GET /v2/lib/copy/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
wait_log "$M" "synced manifest lib/copy:v1 from" "lib/copy:v1 stored"
assert_eq 0 "$(up_settled up "GET /v2/lib/copy/blobs/")" "upstream blob GETs for lib/copy"
check_layout "$WORK/data/lib/copy"
# ...but a blob GET alone, in a repository upstream lacks, links nothing
L1=$(jq -r '.layers[0].digest' "$SRC/blobs/sha256/${D1#sha256:}")
req GET "/v2/lib/none/blobs/$L1"
assert_error 404 NAME_UNKNOWN
assert_true "nothing linked into lib/none" [ ! -e "$WORK/data/lib/none" ]

# --- kill -9 while the blobs of v2 are in flight
rm -f "$HOLD"
M=$(log_mark)
req GET /v2/lib/app/manifests/v2 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D2"
wait_log "$M" "test hold: syncbody" "a blob transfer of v2 held"
dray_kill9
assert_eq "" "$(tag_here v2)" "no v2 tag after kill -9"
none_stored "$D2" "kill -9"
check_layout "$WORK/data/lib/app"
unset DRAY_TEST_HOLD
dray_start
# the next pull, by podman, which only ever talks to dray
podman_init
pm pull -q --tls-verify=false "127.0.0.1:$PORT/lib/app:v2"
assert_eq "$D2" "$("${PM[@]}" image inspect --format '{{.Digest}}' "127.0.0.1:$PORT/lib/app:v2")" "podman's digest of v2 after kill -9"
wait_log "$M" "synced manifest lib/app:v2 from" "v2 stored after the pull"
assert_eq "$D2" "$(tag_here v2)" "v2 tagged after the pull"
for b in $(blobs_of "$D2"); do
	assert_true "blob $b stored" cmp -s "$WORK/data/lib/app/blobs/sha256/${b#sha256:}" "$SRC/blobs/sha256/${b#sha256:}"
done
dray_stop

# --- SIGTERM while the blobs of v3 are in flight: nothing stored
export DRAY_TEST_HOLD="syncbody:$HOLD"
rm -f "$HOLD"
dray_start
M=$(log_mark)
req GET /v2/lib/app/manifests/v3 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D3"
wait_log "$M" "test hold: syncbody" "a blob transfer of v3 held"
kill -TERM "$DRAY_PID"
wait_log "$M" "sync stopping" "the sync module told to stop"
touch "$HOLD"
rc=0
wait "$DRAY_PID" || rc=$?
DRAY_PID=
assert_eq 0 "$rc" "exit status after SIGTERM with blobs in flight"
assert_eq "" "$(tag_here v3)" "no v3 tag after SIGTERM"
none_stored "$D3" "SIGTERM"
check_layout "$WORK/data/lib/app"

upstream_stop up
pass "manifest answered before its blobs, committed after them; blobs linked from another repository; kill -9 and SIGTERM leave nothing; podman pulls through"
