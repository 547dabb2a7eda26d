# SPDX-License-Identifier: Apache-2.0
# lib/limits.sh - resource figures (RSS, open files) and the flood tool.
# Sourced by lib.sh; not run on its own.

# proc_rss_kib PID: resident memory of PID in KiB.
proc_rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# proc_fds PID: how many file descriptors PID holds open.
proc_fds() {
	local fds=("/proc/$1/fd"/*)
	printf '%s' "${#fds[@]}"
}

# flood ARGS...: run tests/tools/flood against $PORT; its summary line
# ("requests=.. s2xx=.. s404=.. s429=.. other=.. errors=..") in FLOOD.
flood() {
	FLOOD=$("$DRAY_BUILD/flood" -p "$PORT" "$@") ||
		fail "flood $*: $FLOOD"
}

# flood_count KEY: the value of KEY in the last flood's summary.
flood_count() {
	printf '%s\n' "$FLOOD" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# stop_and_wait SECONDS: SIGTERM the daemon and wait for it to exit,
# at most SECONDS (a generous bound: the load of the machine varies); the
# time taken in STOP_MS. Fails if it is still running then, or exits
# with a status other than 0.
stop_and_wait() {
	local pid=$DRAY_PID rc=0 t0 i
	t0=$(date +%s%N)
	kill -TERM "$pid"
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "still running $1 s after SIGTERM"
	STOP_MS=$((($(date +%s%N) - t0) / 1000000))
	wait "$pid" || rc=$?
	DRAY_PID=
	ASSERTS=$((ASSERTS + 1))
	[ "$rc" -eq 0 ] || fail "exit status after SIGTERM is $rc, expected 0"
}

# need_rsync: rsync is a test dependency (contrib/install-deps.sh --test).
need_rsync() {
	command -v rsync >/dev/null ||
		fail "rsync is missing (contrib/install-deps.sh --test)"
}

# log_mark: how many lines the daemon log has now (for wait_log).
log_mark() {
	if [ -f "$DAEMON_LOG" ]; then
		wc -l <"$DAEMON_LOG"
	else
		echo 0
	fi
}

# wait_log MARK PATTERN WHAT: wait (up to 120 s) until a daemon log line
# after line MARK matches PATTERN (grep -E).
wait_log() {
	local i
	for ((i = 0; i < 1200; i++)); do
		tail -n +"$(($1 + 1))" "$DAEMON_LOG" 2>/dev/null | grep -qE "$2" && return 0
		daemon_alive || fail "$3: the daemon exited"
		sleep 0.1
	done
	fail "$3: no log line matching '$2' in 120 s"
}

# wait_log_n MARK PATTERN N WHAT: wait (up to 120 s) until N daemon log
# lines after line MARK match PATTERN (grep -E).
wait_log_n() {
	local i
	for ((i = 0; i < 1200; i++)); do
		[ "$(tail -n +"$(($1 + 1))" "$DAEMON_LOG" 2>/dev/null | grep -cE "$2")" -ge "$3" ] && return 0
		daemon_alive || fail "$4: the daemon exited"
		sleep 0.1
	done
	fail "$4: fewer than $3 log lines matching '$2' in 120 s"
}

# wait_log_follow MARK PATTERN WHAT: wait_log without polling, for long
# waits on a growing log: follows the daemon log (tail -f) from line
# MARK + 1 until a line matches PATTERN (grep -E). Fails if the daemon
# exits first. No time limit (a loaded machine is slow, not broken; a
# hang is ctest's timeout).
wait_log_follow() {
	# tail ends on SIGPIPE once grep has its line, or with the daemon.
	grep -qE "$2" < <(tail -n +"$(($1 + 1))" -f --pid="$DRAY_PID" \
		"$DAEMON_LOG" 2>/dev/null || true) && return 0
	fail "$3: the daemon exited with no log line matching '$2'"
}
