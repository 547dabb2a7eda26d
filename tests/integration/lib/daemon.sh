# SPDX-License-Identifier: Apache-2.0
# lib/daemon.sh - config files, starting and stopping dray (or Distribution) by PID.
# Sourced by lib.sh; not run on its own.

# Write the case's config; extra YAML lines may follow on stdin.
dray_config() {
	cat >"$CFG" <<EOF
distSpecVersion: 1.1.0
http:
  address: 127.0.0.1
  port: 0
storage:
  rootDirectory: $WORK/data
log:
  level: debug
  output: $DAEMON_LOG
EOF
}

dist_config() {
	cat >"$WORK/cfg/distribution.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$1
EOF
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

dist_start() {
	local try i p
	for ((try = 0; try < 5; try++)); do
		p=$((20000 + RANDOM % 30000))
		port_in_use "$p" && continue
		dist_config "$p"
		/usr/bin/docker-registry serve "$WORK/cfg/distribution.yml" \
			>>"$DAEMON_LOG" 2>&1 &
		DRAY_PID=$!
		for ((i = 0; i < 100; i++)); do
			if curl -s -o /dev/null --max-time 1 \
				"http://127.0.0.1:$p/v2/"; then
				PORT=$p
				URL=http://127.0.0.1:$PORT
				return 0
			fi
			kill -0 "$DRAY_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$DRAY_PID"
		DRAY_PID=
	done
	fail "could not start docker-registry"
}

# Start the daemon on $WORK/data; sets DRAY_PID, PORT, URL.
dray_start() {
	local i rc=0 p=
	[ -z "$DRAY_PID" ] || fail "dray_start: daemon already running"
	if ! is_dray; then
		dist_start
		return 0
	fi
	[ -x "$DRAY_BIN" ] || fail "DRAY_BIN '$DRAY_BIN' is not executable"
	[ -f "$CFG" ] || dray_config
	rm -f "$PORTFILE"
	"$DRAY_BIN" serve "$CFG" --port-file "$PORTFILE" \
		>>"$WORK/logs/stdout.log" 2>>"$DAEMON_ERR" &
	DRAY_PID=$!
	# Until the port is written or the daemon exits: no time limit here
	# (a loaded machine is slow, not broken); a hang is ctest's timeout.
	for ((i = 1; ; i++)); do
		# A whole line: a non-atomic writer may be half way.
		if [ "$(tail -c 1 "$PORTFILE" 2>/dev/null)" = "" ] &&
			[ -s "$PORTFILE" ]; then
			p=$(tr -d ' \n\r' <"$PORTFILE")
			break
		fi
		if ! kill -0 "$DRAY_PID" 2>/dev/null; then
			wait "$DRAY_PID" || rc=$?
			DRAY_PID=
			fail "daemon exited with status $rc during startup"
		fi
		((i % 600)) || note "dray_start: no port in $PORTFILE yet ($((i / 10)) s)"
		sleep 0.1
	done
	[[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -gt 0 ] && [ "$p" -lt 65536 ] ||
		fail "port file holds '$p', not a TCP port"
	PORT=$p
	URL=http://127.0.0.1:$PORT
}

# SIGTERM, wait for the exit, and assert a clean exit status 0. No time
# limit: a hang is ctest's timeout, and the exit handler's SIGKILL.
dray_stop() {
	local rc=0 pid=$DRAY_PID
	[ -n "$pid" ] || fail "dray_stop: no daemon running"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	DRAY_PID=
	ASSERTS=$((ASSERTS + 1))
	if is_dray; then
		[ "$rc" -eq 0 ] || fail "daemon exit status after SIGTERM is $rc, expected 0"
	fi
}

dray_kill9() {
	[ -n "$DRAY_PID" ] || fail "dray_kill9: no daemon running"
	kill -KILL "$DRAY_PID"
	wait "$DRAY_PID" 2>/dev/null || true
	DRAY_PID=
}

daemon_alive() {
	[ -n "$DRAY_PID" ] && kill -0 "$DRAY_PID" 2>/dev/null
}

assert_alive() {
	ASSERTS=$((ASSERTS + 1))
	daemon_alive || fail "daemon is no longer running ($*)"
}

# Run a background job and remember its PID for cleanup.
bg() {
	"$@" &
	BG_PIDS+=($!)
}


# dray_reload PATTERN WHAT: SIGHUP the daemon and wait for its log line
# matching PATTERN (grep -E; reload_run() says "'FILE' applied" or
# "'FILE' refused", in the message field of a JSON line).
dray_reload() {
	local mark
	mark=$(log_mark)
	kill -HUP "$DRAY_PID"
	wait_log "$mark" "$1" "$2"
}

# wait_port_file FILE PID WHAT: until a helper server (PID) has renamed
# its port file FILE into place; prints the port. Fails if it exits, or
# after 60 s.
wait_port_file() {
	local pf=$1 pid=$2 what=$3 i
	for ((i = 0; i < 600; i++)); do
		if [ -s "$pf" ]; then
			tr -d ' \n' <"$pf"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "$what exited during startup"
		sleep 0.1
	done
	fail "$what wrote no port in 60 s"
}
