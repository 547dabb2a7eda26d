#!/bin/bash
# api-catalog-reconcile.sh - GET /v2/_catalog never waits for a walk of the
# tree, and many requests after a change of the storage root start one
# reconcile, in the background (issue 8 item 8). A repository pushed over
# HTTP is listed at once; a layout placed under the root by hand is listed
# once the reconcile that the next catalog request asked for is done.
#
# To hold the reconcile at its start without timing, the daemon runs with
# DRAY_TEST_HOLD=reconcile:<file>: a reconcile waits while <file> is
# missing. The requests made meanwhile must all answer.
. "$(dirname "$0")/../lib.sh"
require_dray "the reconcile's log lines, a layout placed under the root"

N=16
QUEUED='index reconcile queued'
STARTED='index reconcile started'

# count_after MARK PATTERN: daemon log lines after line MARK matching it.
count_after() {
	tail -n +"$(($1 + 1))" "$DAEMON_LOG" | grep -cE "$2" || true
}

# wait_catalog EXPECTED WHAT: wait (up to 120 s, like wait_log) until the
# catalog lists EXPECTED; catalog requests that find the root unchanged
# start nothing, so this only waits for the reconcile already asked for.
wait_catalog() {
	local i
	for ((i = 0; i < 1200; i++)); do
		[ "$(http_catalog)" != "$1" ] || return 0
		sleep 0.1
	done
	fail "$2: the catalog lists '$(http_catalog)', not '$1', after 120 s"
}

D=$WORK/data
# A plain directory: a push below it leaves the root's mtime as it is.
mkdir -p "$D/team"
HOLD=$WORK/hold-go
touch "$HOLD"
export DRAY_TEST_HOLD="reconcile:$HOLD"
dray_start

# --- a repository created over HTTP is listed at once, with no reconcile
mkblob "$WORK/tmp/blob" 100
mark=$(log_mark)
push_blob team/pushed "$WORK/tmp/blob"
assert_eq "team/pushed" "$(http_catalog)" "catalog right after the push"
assert_eq 0 "$(count_after "$mark" "$QUEUED")" "reconciles asked for by it"

# --- layouts placed by hand, while the next reconcile is held
rm "$HOLD"
for l in dropped held; do
	mkdir -p "$D/$l/blobs/sha256"
	echo '{"schemaVersion":2,"manifests":[]}' >"$D/$l/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$D/$l/oci-layout"
done

mark=$(log_mark)
pids=()
for ((i = 0; i < N; i++)); do
	curl -sS -o "$WORK/tmp/cat.$i" -w '%{http_code}' "$URL/v2/_catalog" \
		>"$WORK/tmp/status.$i" 2>"$WORK/tmp/curl.$i" &
	pids+=($!)
	BG_PIDS+=($!)
done
# No reconcile can finish before the hold is released below, so every
# request answers while one runs (or before it starts), or never: a
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
	# The last complete state: the held walk has not begun.
	got=$(jq -r '.repositories | join(" ")' "$WORK/tmp/cat.$i")
	assert_eq "team/pushed" "$got" "request $i listed"
done
# One reconcile walks (the one the requests asked for, unless the
# periodic one noted the change first); a second would wait for it.
wait_log "$mark" "$STARTED" "a reconcile started"
assert_eq 1 "$(count_after "$mark" "$STARTED")" \
	"reconciles started for $N concurrent requests"
assert_true "reconciles asked for by $N concurrent requests: more than one" \
	[ "$(count_after "$mark" "$QUEUED")" -le 1 ]
wait_log "$mark" "test hold: reconcile at " "the reconcile waits at its hold"
assert_eq 0 "$(count_after "$mark" 'index reconciled: ')" \
	"reconciles done while held"
assert_alive "with a reconcile held"

# Let the reconcile go on.
touch "$HOLD"
wait_catalog "dropped held team/pushed" "after the held reconcile"
assert_true "reconciles asked for, in all: more than one" \
	[ "$(count_after "$mark" "$QUEUED")" -le 1 ]

# --- a layout removed by hand leaves the catalog the same way
rm -rf "$D/held" "$D/dropped"
http_catalog >/dev/null
wait_catalog "team/pushed" "after the removal"

dray_stop
pass
