#!/bin/bash
# ops-health.sh - the probes as zot serves them, unauthenticated, with a
# mount configured. While the mount is not up yet (the test hold "startup"
# pauses the daemon after HTTP started, before it mounts) /readyz answers
# 503 and /livez 200; once the mount is up, all three answer 200 "ok".
# From SIGTERM on (caught mid-shutdown by the test hold "shutdown", right
# after the daemon stopped being ready, before it stops listening) /readyz
# answers 503 while /livez still answers 200; then the daemon exits 0.
# With extensions.metrics absent there is no /metrics, and
# extensions.mgmt.enable: false removes the mgmt endpoint.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's probes"
need_fuse

# wait_ready: poll /readyz (bounded) until it answers 200.
wait_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		req GET /readyz
		[ "$STATUS" = 200 ] && return 0
		sleep 0.1
	done
	fail "/readyz never answered 200"
}

dray_config_ext "$CFG" -- "fuse:
  mountpoint: $MNT
extensions:
  mgmt:
    enable: false"
trap mount_on_exit EXIT

export DRAY_TEST_HOLD="startup:$WORK/tmp/mount"
MARK=$(log_mark)
dray_start
wait_log "$MARK" 'test hold: startup at mount' "startup"
req GET /readyz
assert_status 503
req GET /livez
assert_status 200
touch "$WORK/tmp/mount"
wait_mounted
wait_ready
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
dray_stop

export DRAY_TEST_HOLD="shutdown:$WORK/tmp/stop"
dray_restart_mount
wait_ready
MARK=$(log_mark)
kill -TERM "$DRAY_PID"
wait_log "$MARK" 'test hold: shutdown at readyz' "shutdown"
req GET /readyz
assert_status 503
req GET /livez
assert_status 200
req GET /startupz
assert_status 200
touch "$WORK/tmp/stop"
dray_stop # waits for the exit (a second SIGTERM is harmless) and checks 0
pass
