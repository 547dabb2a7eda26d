#!/bin/bash
# http-offload.sh - a bcrypt check of credentials not in the cache runs
# on an offload worker, its connection suspended, so the listener thread
# that took the request serves its other connections meanwhile.
# A test-only pause point (DRAY_TEST_HOLD=authcheck:<file>) stops every
# verification (htpasswd -B -C 12) until <file> exists and logs that it
# waits. With checks held (at least as many as there are listener
# threads, so before the offload every listener is stuck in one), an
# anonymous caller (anonymousPolicy read), two requests on one
# keep-alive connection among them, and a user whose credentials are
# cached (the fast path, never held) are answered while no check has
# been released (curl's 60 s limit only guards against a hang). Then:
#   - released, every held request is answered 200;
#   - a client that goes away while its check is held leaves the daemon
#     serving;
#   - SIGTERM with checks held and one queued behind them (4 workers):
#     the queued one is answered at once (429, busy), the held ones are
#     waited for, and the daemon exits 0 (ASan: no use after free).
. "$(dirname "$0")/../lib.sh"
require_dray "a test-only pause point in the credential check"
need_htpasswd

REQ_TIMEOUT=60
HOLD=$WORK/tmp/release
USERS=$WORK/cfg/htpasswd
N=4
HTTP_EXTRA="  drainTimeout: 1s
  auth:
    htpasswd:
      path: $USERS
  accessControl:
    repositories:
      \"**\":
        anonymousPolicy: [read]
        defaultPolicy: [read]"

# Cost 12: what a real file has (~190 ms a check). One hash made, the
# same password for all: each user's header is still its own cache key.
HASH=$(htpasswd -nbB -C 12 x pw 2>/dev/null) || fail "htpasswd failed"
for ((i = 0; i <= N + 7; i++)); do
	printf 'u%d:%s\n' "$i" "${HASH#x:}"
done >"$USERS"

# get_as USER OUT: GET /v2/_catalog as USER (password pw), status to
# OUT; the curl process itself (run it with &).
get_as() {
	exec curl -s -o /dev/null -w '%{http_code}' --max-time "$REQ_TIMEOUT" \
		-u "$1:pw" "$URL/v2/_catalog" >"$2" 2>/dev/null
}

touch "$HOLD" # released: u0's check goes through and is cached
export DRAY_TEST_HOLD="authcheck:$HOLD"
dray_start_cfg
as_user u0:pw
req GET /v2/_catalog
assert_status 200
as_anonymous

# --- checks held; the listeners answer meanwhile
rm -f "$HOLD"
M=$(log_mark)
for ((i = 1; i <= N; i++)); do
	bg get_as "u$i" "$WORK/tmp/st.$i"
done
wait_log_n "$M" "test hold: authcheck at " 2 "two checks held"
for ((i = 0; i < 4; i++)); do
	req GET /v2/_catalog
	assert_status 200
done
# Two requests on one keep-alive connection.
out=$(curl -s -o /dev/null -o /dev/null --max-time "$REQ_TIMEOUT" \
	-w '%{http_code} %{num_connects}\n' "$URL/v2/_catalog" "$URL/v2/_catalog")
assert_eq "200 1
200 0" "$out" "two anonymous GETs on one connection"
as_user u0:pw
req GET /v2/_catalog
assert_status 200
as_anonymous
assert_true "a check was released while the others were answered" \
	bash -c "! tail -n +$((M + 1)) '$DAEMON_LOG' | grep -q 'test hold: .* released'"
touch "$HOLD"
wait "${BG_PIDS[@]}" || true
BG_PIDS=()
for ((i = 1; i <= N; i++)); do
	assert_eq 200 "$(cat "$WORK/tmp/st.$i")" "u$i's GET once released"
done

# --- a client that goes away while its check is held
rm -f "$HOLD"
M=$(log_mark)
get_as "u$((N + 1))" "$WORK/tmp/gone" &
GONE=$!
wait_log "$M" "test hold: authcheck at u$((N + 1))," "the check of u$((N + 1)) held"
kill "$GONE"
wait "$GONE" 2>/dev/null || true
touch "$HOLD"
wait_log "$M" "test hold: authcheck at u$((N + 1)) released" "the check goes on"
as_user "u$((N + 2)):pw"
req GET /v2/_catalog
assert_status 200
as_anonymous
assert_alive "after a client left during its check"

# --- SIGTERM with 4 checks held and one queued behind them
rm -f "$HOLD"
M=$(log_mark)
for ((i = N + 3; i <= N + 6; i++)); do
	bg get_as "u$i" "$WORK/tmp/st.$i"
done
wait_log_n "$M" "test hold: authcheck at " 4 "four checks held"
get_as "u$((N + 7))" "$WORK/tmp/queued" &
QUEUED=$!
wait_log_n "$M" "credential check offloaded" 5 "five checks offloaded"
kill -TERM "$DRAY_PID"
# The queued check is not run: 429 while the workers are still held.
wait "$QUEUED" || true
assert_eq 429 "$(cat "$WORK/tmp/queued")" "the check queued at shutdown"
assert_true "a held check was released before the queued one was answered" \
	bash -c "! tail -n +$((M + 1)) '$DAEMON_LOG' | grep -q 'test hold: .* released'"
touch "$HOLD"
RC=0
wait "$DRAY_PID" || RC=$?
DRAY_PID=
assert_eq 0 "$RC" "exit status after SIGTERM"
wait "${BG_PIDS[@]}" || true
BG_PIDS=()
pass
