#!/bin/bash
# auth-faildelay.sh - http.auth.failDelay: a refused login is answered
# (401 with the challenge) only after the delay, and the wait holds no
# server thread: with 24 refused logins waiting on a 2-thread server, a
# valid login sent once all have arrived is answered while the last of
# them still waits. (A delay that slept in a server thread would leave
# the valid login queued behind them until they were all answered.)
. "$(dirname "$0")/../lib.sh"
require_dray "http.auth.failDelay"
need_htpasswd

USERS=$WORK/cfg/htpasswd
HTTP_EXTRA="  auth:
    failDelay: 4
    htpasswd:
      path: $USERS"
htpasswd_users "$USERS" alice:pw-alice
dray_config_ext "$CFG"
dray_start

N=24
pids=()
for ((i = 0; i < N; i++)); do
	(
		t0=$(date +%s%N)
		curl -s -o "$WORK/tmp/bad.$i.body" -D "$WORK/tmp/bad.$i.hdr" \
			--max-time 120 -u "alice:wrong$i" "$URL/v2/" || true
		echo $((($(date +%s%N) - t0) / 1000000)) >"$WORK/tmp/bad.$i.ms"
	) &
	pids+=($!)
done
# Every refused login has arrived and waits.
for ((i = 0; i < 600; i++)); do
	[ "$(grep -c 'login refused, answered after failDelay' "$DAEMON_LOG")" -ge "$N" ] && break
	sleep 0.1
done
assert_eq "$N" "$(grep -c 'login refused, answered after failDelay' "$DAEMON_LOG")" "refused logins waiting"
req GET /v2/ -u alice:pw-alice
assert_status 200
# The last refused login arrived just before; it still waits (under
# load the first ones may have had their answer already).
done_bad=("$WORK"/tmp/bad.*.ms)
assert_true "all $N refused logins were answered before the valid one" \
	test "${#done_bad[@]}" -lt "$N"
wait "${pids[@]}" # not the daemon, also a child of this shell
for ((i = 0; i < N; i++)); do
	assert_true "refused login $i: $(head -n 1 "$WORK/tmp/bad.$i.hdr")" \
		grep -q "^HTTP/1.1 401" "$WORK/tmp/bad.$i.hdr"
	assert_true "refused login $i has no challenge" \
		grep -qi '^WWW-Authenticate: Basic realm="dray"' "$WORK/tmp/bad.$i.hdr"
	ms=$(cat "$WORK/tmp/bad.$i.ms")
	assert_true "refused login $i answered after $ms ms, before failDelay" \
		test "$ms" -ge 4000
done
# An anonymous request is no failed login: answered at once (its 401
# carries no delay; not timed here, only that it is not counted).
req GET /v2/
assert_error 401 UNAUTHORIZED
assert_eq "$N" "$(grep -c 'login refused, answered after failDelay' "$DAEMON_LOG")" "refused logins after an anonymous request"
dray_stop
pass
