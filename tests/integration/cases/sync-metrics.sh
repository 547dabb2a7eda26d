#!/bin/bash
# sync-metrics.sh - the sync extension under /metrics (dray_sync_*): a
# mirror run against another dray (pollInterval 1h: the run at start
# only), on-demand fetches from tests/tools/badupstream (a referrers
# list, a blob with wrong bytes, a missing tag). Checked by scraping:
# the run counted as ok with its tag, its timestamps, the requests per
# registry and URL (their sum is the run's logged count), the bytes, and
# each on-demand fetch under its kind and result; promtool parses it.
. "$(dirname "$0")/../lib.sh"
require_dray "the sync extension"

upstream_dray_start up </dev/null
URL=$(up_url up)
push_image lib/app v1 1 3000
badupstream_start bad
SUBJ=sha256:$(printf 'a%.0s' {1..64})

echo '{}' >"$WORK/cfg/creds.json"
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url up)"]
        pollInterval: 1h
        content: [{prefix: "lib/**"}]
      - urls: ["$(up_url bad)"]
        onDemand: true
        content: [{prefix: "paged/**"}, {prefix: "wrong/**"}]
  metrics:
    enable: true
    prometheus: {path: /metrics}
EOF2
mark=$(log_mark)
dray_start
wait_log "$mark" "sync run done" "the mirror run at start"
run=$(tail -n +"$((mark + 1))" "$DAEMON_LOG" | grep -m1 "sync run done")
sent=$(sed -E 's/.* ([0-9]+) upstream requests in .*/\1/' <<<"$run")

scrape
promtool_check "$WORK/tmp/metrics.txt"
assert_eq 1 "$(metric_value 'dray_sync_runs_total{result="ok"}')" "one run, ok"
assert_eq 0 "$(metric_value 'dray_sync_runs_total{result="failed"}')" "none failed"
assert_eq 1 "$(metric_value 'dray_sync_tags_total{result="mirrored"}')" "its tag mirrored"
ok=$(metric_value 'dray_sync_upstream_requests_total{registry="0",url="0",result="ok"}')
sum=$(awk '$1 ~ /^dray_sync_upstream_requests_total\{registry="0"/ { s += $2 } END { print s }' "$WORK/tmp/metrics.txt")
assert_eq "$sent" "$sum" "registry 0's requests, all results, are the run's ($run)"
assert_true "most of them ok ($ok of $sum)" [ "$ok" -ge 3 ]
assert_true "bytes received (blob of 3000 and more)" \
	[ "$(metric_value 'dray_sync_upstream_bytes_total{registry="0",url="0"}')" -gt 3000 ]
end=$(metric_value dray_sync_last_run_timestamp_seconds)
assert_eq "$end" "$(metric_value dray_sync_last_success_timestamp_seconds)" "the last run was the last success"
assert_true "its time is now-ish ($end)" [ "${end%.*}" -gt "$(($(date +%s) - 3600))" ]
assert_eq 0 "$(metric_value 'dray_sync_upstream_requests_total{registry="1",url="0",result="ok"}')" \
	"nothing asked of the on-demand upstream yet"

# on demand: a referrers list (ok), a blob with wrong bytes (error), a
# tag upstream lacks (not_found)
req GET "/v2/paged/app/referrers/$SUBJ"
assert_status 200
req GET "/v2/wrong/app/blobs/sha256:$(printf 'b%.0s' {1..64})"
assert_status 404
req GET "/v2/paged/app/manifests/nope" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404
scrape
assert_eq 1 "$(metric_value 'dray_sync_ondemand_total{kind="referrers",result="ok"}')" "referrers fetched"
assert_eq 1 "$(metric_value 'dray_sync_ondemand_total{kind="blob",result="error"}')" "wrong bytes: an error"
assert_eq 1 "$(metric_value 'dray_sync_ondemand_total{kind="manifest",result="not_found"}')" "missing tag: not found"
assert_true "the on-demand upstream's 404 counted" \
	[ "$(metric_value 'dray_sync_upstream_requests_total{registry="1",url="0",result="not_found"}')" -ge 1 ]
assert_true "its answers counted (2 pages, 2 manifests, a config, a blob)" \
	[ "$(metric_value 'dray_sync_upstream_requests_total{registry="1",url="0",result="ok"}')" -ge 6 ]
assert_eq 3 "$(metric_value 'dray_sync_stored_total{kind="manifest"}')" \
	"manifests stored: lib/app:v1 and 2 referrers"
pass "dray_sync_*: a run, its requests and bytes per upstream, on-demand fetches by kind and result"
