#!/bin/bash
# api-catalog-reconcile.sh - GET /v2/_catalog never waits for a walk of the
# tree, and many requests after a change of the storage root start one
# reconcile, in the background (issue 8 item 8). A repository pushed over
# HTTP is listed at once; a layout placed under the root by hand is listed
# once the reconcile that the next catalog request asked for is done.
#
# To hold the reconcile inside its walk without timing, one placed layout
# has a FIFO for index.json: reading it blocks until the test opens the
# other end. The requests made meanwhile must all answer.
. "$(dirname "$0")/../lib.sh"
require_dray "the reconcile's log lines, a layout placed under the root"

N=16
QUEUED='index reconcile queued'
DONE='index reconciled: .*\(root changed\)'

# count_after MARK PATTERN: daemon log lines after line MARK matching it.
count_after() {
	tail -n +"$(($1 + 1))" "$DAEMON_LOG" | grep -cE "$2" || true
}

dray_start

# --- a repository created over HTTP is listed at once
mkblob "$WORK/tmp/blob" 100
push_blob pushed "$WORK/tmp/blob"
mark=$(log_mark)
assert_eq "pushed" "$(http_catalog)" "catalog right after the push"
# The push made a new top-level directory: that asked for a reconcile.
wait_log "$mark" "$DONE" "reconcile after the push"

# --- layouts placed by hand: one plain, one whose index.json blocks
D=$WORK/data
mkdir -p "$D/dropped/blobs/sha256" "$D/held/blobs/sha256"
echo '{"schemaVersion":2,"manifests":[]}' >"$D/dropped/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$D/dropped/oci-layout"
mkfifo "$D/held/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$D/held/oci-layout"

mark=$(log_mark)
pids=()
for ((i = 0; i < N; i++)); do
	curl -sS -o "$WORK/tmp/cat.$i" -w '%{http_code}' "$URL/v2/_catalog" \
		>"$WORK/tmp/status.$i" 2>"$WORK/tmp/curl.$i" &
	pids+=($!)
	BG_PIDS+=($!)
done
# The reconcile cannot finish before the FIFO is opened below, so every
# request answers while it runs (or has not started yet), or never: a
# request that waited for the walk would block here.
for ((t = 0; t < 1200; t++)); do
	alive=0
	for p in "${pids[@]}"; do
		! kill -0 "$p" 2>/dev/null || alive=$((alive + 1))
	done
	[ "$alive" -gt 0 ] || break
	sleep 0.1
done
[ "$alive" -eq 0 ] ||
	fail "$alive of $N catalog requests did not answer in 120 s while a reconcile was held: they wait for the walk"
for p in "${pids[@]}"; do
	wait "$p" || fail "a catalog request failed: $(cat "$WORK"/tmp/curl.*)"
done
for ((i = 0; i < N; i++)); do
	assert_eq 200 "$(cat "$WORK/tmp/status.$i")" "status of request $i"
	# The last complete state, with what the walk did so far.
	got=$(jq -r '.repositories | join(" ")' "$WORK/tmp/cat.$i")
	assert_true "request $i listed '$got'" \
		grep -qxE 'pushed|dropped pushed' <<<"$got"
done
assert_eq 1 "$(count_after "$mark" "$QUEUED")" \
	"reconciles asked for by $N concurrent requests"
assert_eq 0 "$(count_after "$mark" "$DONE")" \
	"reconciles done while index.json is held"
assert_alive "with a reconcile held"

# Let the reconcile go on: the held layout reads an empty index.json.
: >"$D/held/index.json"
wait_log "$mark" "$DONE" "the held reconcile"
assert_eq "dropped pushed" "$(http_catalog)" "catalog after the reconcile"
assert_eq 1 "$(count_after "$mark" "$QUEUED")" "reconciles asked for, in all"
assert_eq 1 "$(count_after "$mark" "$DONE")" "reconciles done, in all"

# --- a layout removed by hand leaves the catalog the same way
rm -rf "$D/held" "$D/dropped"
mark=$(log_mark)
http_catalog >/dev/null
wait_log "$mark" "$DONE" "reconcile after the removal"
assert_eq "pushed" "$(http_catalog)" "catalog after the removal"
assert_eq 1 "$(count_after "$mark" "$QUEUED")" \
	"reconciles asked for after the removal"

dray_stop
pass
