#!/bin/bash
# ops-metrics.sh - extensions.metrics with zot's names, read by the real
# tools. After pushes and pulls over HTTP, GET /metrics shows zot's
# counters with the right values (requests by method and code, uploads
# and downloads per repository, each repository's storage bytes as the
# files on disk add up); `promtool check metrics` accepts the exposition;
# a prometheus server scraping dray on loopback every second returns the
# counters through its query API (GC passes included); and a later push
# shows up there too.
# Also the zot mgmt extension's summary (GET /v2/_zot/ext/mgmt).
. "$(dirname "$0")/../lib.sh"
require_dray "dray's metrics"

dray_start_cfg 'gcInterval: 1s' -- 'extensions:
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

req GET /v2/_zot/ext/mgmt
assert_status 200
assert_eq 1.1.0 "$(jq -r .distSpecVersion "$RESP/body")" "mgmt distSpecVersion"
assert_eq -metrics-mgmt "$(jq -r .binaryType "$RESP/body")" "mgmt binaryType"
assert_eq '{}' "$(jq -c .http "$RESP/body")" "mgmt: no auth method on"

# Prometheus answers queries on what it read.
prom_wait 'zot_repo_uploads_total{repo="ops/app"}' 1
prom_wait 'zot_repo_downloads_total{repo="ops/app"}' 3
prom_wait 'sum(zot_http_requests_total{method="PUT"})' 6
prom_wait 'up{job="dray"}' 1
# GC runs every second (gcDelay 1h: it removes nothing here).
prom_wait 'zot_gc_runs_total{error="false"} >= bool 1' 1
prom_wait 'zot_gc_deleted_total{type="blob"}' 0
prom_wait 'zot_scheduler_workers_tasks_duration_seconds_count{name="gc"} >= bool 1' 1
push_manifest ops/app v2 "$APP_DIR/manifest.json" "$MT_OCI_MANIFEST"
prom_wait 'zot_repo_uploads_total{repo="ops/app"}' 2
prom_stop
dray_stop
pass
