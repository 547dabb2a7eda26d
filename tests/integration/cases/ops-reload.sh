#!/bin/bash
# ops-reload.sh - SIGHUP re-reads the configuration file and applies
# http.accessControl (and the rest zot reloads) without a restart:
#   - alice may push and bob may not; after a reload that swaps their
#     policies, the very next requests see bob push and alice refused;
#   - a file that does not parse is refused with the reason in the log,
#     and the policy in force stays; so does a file whose htpasswd file
#     does not load, though its accessControl alone would (all or
#     nothing);
#   - a key that needs a restart (storage.maxBlobSize) is named in a
#     warning and keeps its running value;
#   - repeated reloads while authenticated clients push and list never
#     fail a request for want of a policy, and the daemon (under ASan, or
#     TSan in contrib/ci/tsan.sh) reports nothing and exits 0.
. "$(dirname "$0")/../lib.sh"
require_dray "SIGHUP reload"
need_htpasswd

USERS=$WORK/cfg/htpasswd
htpasswd_users "$USERS" alice:apw bob:bpw

# cfg_with PUSHER [EXTRA_STORAGE_LINE...]: the config with PUSHER the one
# user that may create under "**"; both may read.
cfg_with() {
	local pusher=$1 other=alice
	shift
	[ "$pusher" = alice ] && other=bob
	HTTP_EXTRA="  auth:
    htpasswd:
      path: ${HTPASSWD:-$USERS}
  accessControl:
    repositories:
      \"**\":
        policies:
          - {users: [$pusher], actions: [read, create]}
          - {users: [$other], actions: [read]}" \
		dray_config_ext "$CFG" "$@"
}

# push_right USER:PW: RIGHT=yes if USER may start an upload (cancelled
# at once), RIGHT=no if that is refused 403 DENIED.
push_right() {
	as_user "$1"
	req POST "/v2/app/blobs/uploads/"
	case $STATUS in
	202)
		RIGHT=yes
		req DELETE "$(hdr Location)"
		assert_status 204
		;;
	403)
		RIGHT=no
		assert_json_error_code DENIED
		;;
	*) fail "upload start as ${1%%:*}: status $STATUS" ;;
	esac
}

# rights WANT_ALICE WANT_BOB WHEN: assert who may push.
rights() {
	push_right alice:apw
	assert_eq "$1" "$RIGHT" "alice's push right $3"
	push_right bob:bpw
	assert_eq "$2" "$RIGHT" "bob's push right $3"
}

cfg_with alice
dray_start
rights yes no "at start"
as_user alice:apw
push_image app v1 1 1000

# --- swap the policies: immediate effect, no restart
pid=$DRAY_PID
cfg_with bob "gcInterval: 2h"
dray_reload "'.*' applied: gc on every 7200s" "reload with bob pushing"
assert_eq "$pid" "$DRAY_PID" "the daemon was restarted"
rights no yes "right after the reload"
as_user alice:apw
req GET /v2/app/tags/list
assert_status 200

# --- an invalid file: refused with its reason, the old policy stays
cfg_with alice
echo "  bogusKey: 1" >>"$CFG" # inside log:, a key no schema has
dray_reload "'.*' refused.*log.bogusKey: unknown key" "invalid file"
rights no yes "after a refused file"

# --- all or nothing: a good accessControl with an htpasswd file that
# does not load (a plain-text password)
echo "alice:plain" >"$WORK/cfg/bad"
HTPASSWD=$WORK/cfg/bad cfg_with alice
dray_reload "'.*' refused.*not a bcrypt hash" "bad htpasswd file"
rights no yes "after a half-valid file"

# --- a restart-only key: named in a warning, not applied
cfg_with bob "maxBlobSize: 100"
mark=$(log_mark)
dray_reload "'.*' applied" "restart-only key"
assert_true "no warning names storage.maxBlobSize" \
	grep -qE "storage.maxBlobSize changed but needs a restart" \
	<(tail -n +"$((mark + 1))" "$DAEMON_LOG")
as_user bob:bpw
push_image app v2 1 1000 # 1000 bytes > 100: the running limit (none) holds
# Still not applied at the next reload: still named.
mark=$(log_mark)
dray_reload "'.*' applied" "restart-only key again"
assert_true "the second reload does not name storage.maxBlobSize" \
	grep -qE "storage.maxBlobSize changed but needs a restart" \
	<(tail -n +"$((mark + 1))" "$DAEMON_LOG")

# --- reloads under load: authenticated pushes and lists meanwhile
STOP=$WORK/tmp/stop
load() { # load USER:PW: list and start uploads until $STOP exists
	local n=0 code out
	while [ ! -e "$STOP" ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -u "$1" \
			"$URL/v2/app/tags/list")
		[ "$code" = 200 ] || echo "tags/list as ${1%%:*}: $code" >>"$WORK/tmp/load.err"
		out=$(curl -s -o /dev/null -w '%{http_code} %header{location}' \
			-u "$1" -X POST -H 'Content-Length: 0' \
			"$URL/v2/app/blobs/uploads/")
		case ${out%% *} in
		202) # cancelled; a reload meanwhile may refuse that (403)
			code=$(curl -s -o /dev/null -w '%{http_code}' -u "$1" \
				-X DELETE "$(abs_url "${out#* }")")
			case $code in 204 | 403) ;; *) echo "cancel as ${1%%:*}: $code" >>"$WORK/tmp/load.err" ;; esac
			;;
		403) ;;
		*) echo "upload as ${1%%:*}: $out" >>"$WORK/tmp/load.err" ;;
		esac
		n=$((n + 1))
	done
	echo "$n" >"$WORK/tmp/load.${1%%:*}"
}
: >"$WORK/tmp/load.err"
bg load alice:apw
bg load bob:bpw
for i in $(seq 1 ${N_RELOAD:-8}); do
	if ((i % 2)); then cfg_with alice; else cfg_with bob; fi
	dray_reload "'.*' applied" "reload $i under load"
done
touch "$STOP"
wait "${BG_PIDS[@]}"
BG_PIDS=()
assert_eq "" "$(head -5 "$WORK/tmp/load.err")" "requests failed during reloads"
assert_true "no requests ran during the reloads" \
	test "$(cat "$WORK/tmp/load.alice")" -gt 0 -a "$(cat "$WORK/tmp/load.bob")" -gt 0
# The last reload (an even one) made bob the pusher.
rights no yes "after the reloads"
assert_alive "after the reloads"
dray_stop
pass
