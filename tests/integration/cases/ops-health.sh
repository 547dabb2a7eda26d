#!/bin/bash
# ops-health.sh - the probes as zot serves them, unauthenticated:
# /livez, /readyz and /startupz answer 200 "ok" once dray serves; from
# SIGTERM on, /readyz answers 503 while /livez still answers 200 (caught
# mid-shutdown by the test hold "shutdown", which pauses the daemon right
# after it stopped being ready, before it stops listening); then the
# daemon exits 0. With extensions.metrics absent there is no /metrics, and
# extensions.mgmt.enable: false removes the mgmt endpoint.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's probes"

HOLD=$WORK/tmp/go
export DRAY_TEST_HOLD="shutdown:$HOLD"
dray_start_cfg -- 'extensions:
  mgmt:
    enable: false'
for p in /livez /readyz /startupz; do
	req GET "$p"
	assert_status 200
	assert_eq ok "$(cat "$RESP/body")" "$p body"
	req HEAD "$p"
	assert_status 200
done
req GET /metrics
assert_status 404
req GET /v2/_zot/ext/mgmt
assert_status 404

MARK=$(log_mark)
kill -TERM "$DRAY_PID"
wait_log "$MARK" 'test hold: shutdown at readyz' "shutdown"
req GET /readyz
assert_status 503
req GET /livez
assert_status 200
req GET /startupz
assert_status 200
touch "$HOLD"
dray_stop # waits for the exit (SIGTERM again is harmless) and checks 0
pass
