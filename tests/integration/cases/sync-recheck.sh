#!/bin/bash
# sync-recheck.sh - a mirrored tag is re-checked upstream (HEAD,
# Docker-Content-Digest) at most once per tagRecheckInterval (dray's own
# key), and followed when the upstream moved it. Upstream: Debian's
# docker-registry; requests counted in its access log.
#   - fast/** (interval 1ms): the tag moved upstream is followed on the
#     next GET (the new manifest and its blobs fetched, the tag moved in
#     dray's layout).
#   - slow/** (interval 1h): a tag just mirrored is not re-checked; the
#     move upstream is not seen; after a restart (the check times are in
#     memory), a GET and a HEAD make one upstream check, which follows it.
#   - never/** (interval 0): never re-checked.
#   - the upstream stopped (SIGSTOP: slow), then down: the copy here is
#     served (200), the failure logged once; back, the check works again.
. "$(dirname "$0")/../lib.sh"
need_mkimage

SRC=$WORK/tmp/src
D1=$("$MKIMAGE" "$SRC" v1 --layers 1 --layer-size 20000 --seed 51)
D2=$("$MKIMAGE" "$SRC" v2 --layers 1 --layer-size 20000 --seed 52)
L2=$(jq -r '.layers[0].digest' "$SRC/blobs/sha256/${D2#sha256:}")

upstream_start up
for r in fast slow never; do
	up_put up "$SRC" "$D1" $r/app v1
done
echo '{}' >"$WORK/cfg/creds.json"
sync_config "$WORK/cfg/creds.json"
for r in fast:1ms slow:1h never:0s; do
	cat >>"$CFG" <<EOF2
      - urls: ["$(up_url up)"]
        onDemand: true
        tagRecheckInterval: ${r#*:}
        content: [{prefix: "${r%%:*}/**"}]
EOF2
done
"$DRAY_BIN" verify "$CFG" >/dev/null
dray_start

# get REPO: GET (or HEAD with a second argument) of REPO:v1 through dray,
# answered 200; prints the digest served
get() {
	req "${2:-GET}" "/v2/$1/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
	hdr Docker-Content-Digest
}
heads() { up_settled up "HEAD /v2/$1/manifests/v1"; }
stored() { layout_manifest_digest "$WORK/data/$1" v1; }

# --- mirrored: no check right after the fetch, whatever the interval
for r in fast slow never; do
	assert_eq "$D1" "$(get $r/app)" "$r/app:v1 mirrored"
done
assert_eq 0 "$(heads fast/app)" "no check right after the fetch"

# --- the tag moves upstream
for r in fast slow never; do
	up_put up "$SRC" "$D2" $r/app v1
done
assert_eq "$D2" "$(get fast/app)" "fast/app:v1 followed upstream"
assert_eq 1 "$(heads fast/app)" "one check of fast/app:v1"
assert_eq "$D2" "$(stored fast/app)" "fast/app:v1 moved in dray's layout"
assert_true "the new layer is here" [ -f "$WORK/data/fast/app/blobs/sha256/${L2#sha256:}" ]
check_layout "$WORK/data/fast/app"
req GET "/v2/fast/app/manifests/$D1" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200 # the old manifest stays, untagged
assert_eq "$D2" "$(get fast/app HEAD)" "fast/app:v1 again (checked, unchanged)"
assert_eq 2 "$(heads fast/app)" "every request checks with 1ms"

for i in 1 2; do
	assert_eq "$D1" "$(get slow/app)" "slow/app:v1 within the hour ($i)"
	assert_eq "$D1" "$(get never/app)" "never/app:v1 ($i)"
done
assert_eq 0 "$(heads slow/app)" "slow/app:v1 not checked within the hour"
assert_eq 0 "$(heads never/app)" "never/app:v1 never checked"

# --- restarted: the check times are gone; one check per interval
dray_stop
dray_start
assert_eq "$D2" "$(get slow/app)" "slow/app:v1 followed after the restart"
assert_eq "$D2" "$(get slow/app HEAD)" "slow/app:v1 HEAD"
assert_eq "$D2" "$(get slow/app)" "slow/app:v1 GET"
assert_eq 1 "$(heads slow/app)" "three requests, one check of slow/app:v1"
assert_eq "$D2" "$(stored slow/app)" "slow/app:v1 moved in dray's layout"
assert_eq "$D1" "$(get never/app)" "never/app:v1 not followed"
assert_eq 0 "$(heads never/app)" "never/app:v1 never checked"

# --- the upstream slow (stopped), then down: the copy here is served
UPPID=$(cat "$WORK/up/up/pid")
kill -STOP "$UPPID"
M=$(log_mark)
assert_eq "$D2" "$(get fast/app)" "fast/app:v1 with the upstream hanging"
kill -CONT "$UPPID"
upstream_stop up
assert_eq "$D2" "$(get fast/app)" "fast/app:v1 with the upstream down"
assert_eq "$D2" "$(get fast/app HEAD)" "fast/app:v1 HEAD with the upstream down"
assert_eq 1 "$(tail -n +$((M + 1)) "$DAEMON_LOG" | grep -c 'cannot re-check fast/app:v1 upstream')" \
	"the failed check is logged once"
assert_true "...saying why" bash -c "tail -n +$((M + 1)) '$DAEMON_LOG' | grep 'cannot re-check fast/app:v1' | grep -qi 'timeout\|timed out'"
upstream_start up
assert_eq "$D2" "$(get fast/app)" "fast/app:v1 with the upstream back"
wait_log "$M" "re-check of fast/app:v1 upstream works again" "the check works again"

dray_stop
pass "tag re-check: followed after the interval, once per interval, never with 0, the copy here served when the upstream hangs or is down (logged once)"
