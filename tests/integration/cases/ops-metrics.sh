#!/bin/bash
# ops-metrics.sh - extensions.metrics with zot's names, read by the real
# tools. After pushes and pulls over HTTP, GET /metrics shows zot's
# counters with the right values (requests by method and code, uploads
# and downloads per repository, each repository's storage bytes as the
# files on disk add up); `promtool check metrics` accepts the exposition;
# a prometheus server scraping dray on loopback every second returns the
# counters through its query API (GC passes included); and a later push
# shows up there too.
# Also zot's storage lock and scheduler figures, and dray's own: reads,
# writes, a publish and a refusal through the FUSE mount move the mount's
# counters by exactly what was done, and dedupe's savings are the content
# store's extra links.
# Also the zot mgmt extension's summary (GET /v2/_zot/ext/mgmt).
. "$(dirname "$0")/../lib.sh"
require_dray "dray's metrics"
need_fuse

dray_start_mount 'gcInterval: 1s' -- 'extensions:
  metrics:
    prometheus:
      path: /metrics'

# A real prometheus, scraping dray every second from here on.
prom_start "$PORT" /metrics

push_image ops/app v1 1 3000
APP_MANIFEST=$MANIFEST_DIGEST
APP_DIR=$IMG_DIR
push_image ops/web v1 1 5000
for i in 1 2; do
	req GET "/v2/ops/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
done
req HEAD "/v2/ops/app/manifests/$APP_MANIFEST"
assert_status 200
req GET "/v2/ops/app/blobs/${IMG_LAYERS[0]}"
assert_status 404 # a blob of ops/web, not of ops/app
req GET "/v2/ops/nothing/manifests/v1"
assert_status 404

scrape
# Two blobs and a manifest each.
assert_eq 6 "$(metric_value 'zot_http_requests_total{method="PUT",code="201"}')" "PUTs answered 201"
assert_eq 2 "$(metric_value 'zot_http_requests_total{method="GET",code="200"}')" "GETs answered 200"
assert_eq 1 "$(metric_value 'zot_http_requests_total{method="HEAD",code="200"}')" "HEADs answered 200"
assert_eq 2 "$(metric_value 'zot_http_requests_total{method="GET",code="404"}')" "GETs answered 404"
assert_eq 1 "$(metric_value 'zot_repo_uploads_total{repo="ops/app"}')" "ops/app uploads"
assert_eq 1 "$(metric_value 'zot_repo_uploads_total{repo="ops/web"}')" "ops/web uploads"
assert_eq 3 "$(metric_value 'zot_repo_downloads_total{repo="ops/app"}')" "ops/app downloads (GET, GET, HEAD)"
assert_eq '' "$(metric_value 'zot_repo_downloads_total{repo="ops/nothing"}')" "no series for a repository that is not there"
# The latency histogram and summary are consistent with the counters.
assert_eq 4 "$(metric_value 'zot_http_method_latency_seconds_count{method="GET"}')" "GET latency count"
assert_eq 4 "$(metric_value 'zot_http_method_latency_seconds_bucket{method="GET",le="+Inf"}')" "GET +Inf bucket"
assert_eq 2 "$(metric_value 'zot_http_repo_latency_seconds_count{repo="N/A"}')" "requests naming no answered repository"
for r in app web; do
	want=$(find "$WORK/data/ops/$r" -maxdepth 1 -type f -printf '%s\n' |
		cat - <(find "$WORK/data/ops/$r/blobs" -type f -printf '%s\n') |
		awk '{ s += $1 } END { print s }')
	assert_eq "$want" "$(metric_value "zot_repo_storage_bytes{repo=\"ops/$r\"}")" "ops/$r storage bytes"
done
assert_true "zot_info is there" grep -q '^zot_info{.*binaryType="-metrics-mgmt".*version="1.1.0"} 0$' "$WORK/tmp/metrics.txt"
promtool_check "$WORK/tmp/metrics.txt"

# zot's storage lock and scheduler figures. The pushes took ops/app's
# lock; dray's one worker has five tasks (gc, uploads, scrub, reconcile,
# dedupe conversion).
lock_count=$(metric_value "zot_storage_lock_latency_seconds_count{storageName=\"$WORK/data\",lockType=\"RWLock\"}")
assert_true "the repository lock was counted ($lock_count)" test "${lock_count:-0}" -gt 0
assert_eq 1 "$(metric_value zot_scheduler_workers_total)" "scheduler workers"
assert_eq 5 "$(metric_value zot_scheduler_generators_total)" "scheduler generators"
assert_eq 0 "$(metric_value 'zot_scheduler_tasksqueue_length{priority="high"}')" "no high priority tasks"

# The mount: counters before, then real I/O through it.
m_before() { metric_value "$1"; }
rb0=$(m_before dray_mount_read_bytes_total)
wb0=$(m_before dray_mount_written_bytes_total)
cb0=$(m_before 'dray_mount_commits_total{kind="blob"}')
rf0=$(m_before 'dray_mount_refusals_total{kind="blob"}')
lk0=$(m_before 'dray_mount_operations_total{op="lookup"}')
layer=${IMG_LAYERS[0]} # ops/web's, 5000 bytes, never read yet
assert_eq "${layer#sha256:}" "$(sha256sum <"$MNT/ops/web/blobs/sha256/${layer#sha256:}" | cut -d' ' -f1)" "a blob read through the mount"
mkblob "$WORK/tmp/new" 2000
new=$(digest_of "$WORK/tmp/new")
cp "$WORK/tmp/new" "$MNT/ops/web/blobs/sha256/${new#sha256:}"
mkblob "$WORK/tmp/wrong" 100
# A name the store does not know: written, then refused at close.
if cp "$WORK/tmp/wrong" "$MNT/ops/web/blobs/sha256/$(printf '%064d' 7)" 2>/dev/null; then
	fail "content under a name it does not hash to was accepted"
fi
# The same layer in a second repository: dedupe links the store's copy.
push_blob ops/app "$IMG_DIR/layer0"
scrape
assert_eq $((rb0 + 5000)) "$(metric_value dray_mount_read_bytes_total)" "bytes read through the mount"
assert_eq $((wb0 + 2000 + 100)) "$(metric_value dray_mount_written_bytes_total)" "bytes written through the mount"
assert_eq $((cb0 + 1)) "$(metric_value 'dray_mount_commits_total{kind="blob"}')" "blobs published through the mount"
assert_eq $((rf0 + 1)) "$(metric_value 'dray_mount_refusals_total{kind="blob"}')" "blobs refused by the mount"
lk1=$(metric_value 'dray_mount_operations_total{op="lookup"}')
assert_true "lookups counted ($lk0 -> $lk1)" test "$lk1" -gt "$lk0"
saved=$(find "$WORK/data/.dray/blobs" -type f -links +2 -printf '%s %n\n' |
	awk '{ s += $1 * ($2 - 2) } END { print s + 0 }')
assert_true "dedupe saves something ($saved)" test "$saved" -ge 5000
assert_eq "$saved" "$(metric_value dray_dedupe_saved_bytes)" "dedupe savings"

req GET /v2/_zot/ext/mgmt
assert_status 200
assert_eq 1.1.0 "$(jq -r .distSpecVersion "$RESP/body")" "mgmt distSpecVersion"
assert_eq -metrics-mgmt "$(jq -r .binaryType "$RESP/body")" "mgmt binaryType"
assert_eq '{}' "$(jq -c .http "$RESP/body")" "mgmt: no auth method on"

# Prometheus answers queries on what it read.
prom_wait 'zot_repo_uploads_total{repo="ops/app"}' 1
prom_wait 'zot_repo_downloads_total{repo="ops/app"}' 3
prom_wait 'sum(zot_http_requests_total{method="PUT"})' 7 # and the layer into ops/app
prom_wait 'up{job="dray"}' 1
# GC runs every second (gcDelay 1h: it removes nothing here).
prom_wait 'zot_gc_runs_total{error="false"} >= bool 1' 1
prom_wait 'zot_gc_deleted_total{type="blob"}' 0
prom_wait 'zot_scheduler_workers_tasks_duration_seconds_count{name="gc"} >= bool 1' 1
prom_wait 'zot_scheduler_workers_total' 1
prom_wait 'dray_mount_commits_total{kind="blob"} >= bool 1' 1
push_manifest ops/app v2 "$APP_DIR/manifest.json" "$MT_OCI_MANIFEST"
prom_wait 'zot_repo_uploads_total{repo="ops/app"}' 2
prom_stop
dray_stop
pass
