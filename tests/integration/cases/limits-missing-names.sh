#!/bin/bash
# limits-missing-names.sh - GETs of names that exist nowhere leave
# nothing behind: 400,000 manifest GETs (390 times the repository cache's
# bound, STORE_REPO_CACHE), each of a different random
# repository name, all 404 NAME_UNKNOWN, and the daemon's RSS after all
# of them is what it was after the first 10%. Repositories that exist
# keep answering meanwhile.
. "$(dirname "$0")/../lib.sh"
require_dray "memory of the daemon"

# A small quarantine, so that RSS shows what the daemon keeps rather
# than what ASan holds back of what it freed (no effect without ASan).
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8"
N=${LIMITS_GETS:-400000}

dray_config
sed -i 's/level: debug/level: warn/' "$CFG" # no log line per request
dray_start
push_image real/one v1

req GET /v2/flood/none/manifests/latest
assert_error 404 NAME_UNKNOWN MANIFEST_UNKNOWN

flood -n $((N / 10)) -c 4 get
assert_eq $((N / 10)) "$(flood_count s404)" "404s in the first 10%"
RSS1=$(proc_rss_kib "$DRAY_PID")
flood -n $((N - N / 10)) -c 4 get
assert_eq $((N - N / 10)) "$(flood_count s404)" "404s in the other 90%"
RSS2=$(proc_rss_kib "$DRAY_PID")
note "$N GETs of missing names: RSS $((RSS1 / 1024)) MiB after 10%, $((RSS2 / 1024)) MiB after 100%"
assert_true "RSS grew by $(((RSS2 - RSS1) / 1024)) MiB over the last 90%" \
	[ $((RSS2 - RSS1)) -lt $((16 * 1024)) ]

req GET /v2/real/one/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
req GET /v2/real/one/tags/list
assert_status 200
assert_json '.tags == ["v1"]'
dray_stop
pass
