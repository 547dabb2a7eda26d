# SPDX-License-Identifier: Apache-2.0
# lib/report.sh - failure reports, notes, the ERR and EXIT traps, cleanup by PID.
# Sourced by lib.sh; not run on its own.

log() {
	printf '%s\n' "$*" >&2
}

is_dray() {
	[ "$DRAY_TEST_TARGET" = dray ]
}

# Whole case needs dray itself (CLI, on-disk layout): skip under Distribution.
require_dray() {
	if ! is_dray; then
		log "SKIP $CASE_NAME: needs dray ($*), target is $DRAY_TEST_TARGET"
		exit 77
	fi
}

# Guard for a layout/CLI-specific block: `if dray_only "why"; then ...; fi`.
dray_only() {
	if is_dray; then
		return 0
	fi
	log "  skip ($DRAY_TEST_TARGET): $*"
	return 1
}

# A known, accepted deviation of the reference registry; printed at the end.
note() {
	NOTES+=("$*")
}

# Where in the case file the failing assertion was called from: the first
# caller outside lib.sh and lib/.
call_site() {
	local i
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		case ${BASH_SOURCE[$i]} in
		*/lib.sh | */lib/*.sh) ;;
		*)
			printf '%s:%s' "$(basename "${BASH_SOURCE[$i]}")" \
				"${BASH_LINENO[$((i - 1))]}"
			return
			;;
		esac
	done
	printf 'lib.sh'
}

show_last_response() {
	[ -s "$RESP/request" ] || return 0
	log "--- last request: $(cat "$RESP/request")"
	# The status req wrote: $STATUS is stale after a request made in a
	# command substitution (tags_of, ...).
	log "--- last response: status $(cat "$RESP/status" 2>/dev/null || echo "$STATUS") (curl exit $CURL_RC)"
	if [ -s "$RESP/headers" ]; then
		tr -d '\r' <"$RESP/headers" | sed 's/^/  /' >&2
	fi
	if [ -s "$RESP/body" ]; then
		if head -c 1500 "$RESP/body" | LC_ALL=C grep -q '[^[:print:][:space:]]'; then
			log "--- body ($(wc -c <"$RESP/body") bytes, binary; first 64 as hex):"
			head -c 64 "$RESP/body" | od -An -tx1 >&2
		else
			log "--- body ($(wc -c <"$RESP/body") bytes, first 1500 shown):"
			head -c 1500 "$RESP/body" >&2
			log ""
		fi
	fi
}

show_daemon_logs() {
	local f
	for f in "$DAEMON_LOG" "$DAEMON_ERR"; do
		if [ -s "$f" ]; then
			log "--- tail of $f:"
			tail -n 25 "$f" | cut -c1-300 >&2
		fi
	done
}

write_repro() {
	local r=$WORK/repro.sh
	{
		echo "#!/bin/bash"
		echo "# Re-runs $CASE_NAME with the environment of the failed run. Its"
		echo "# HTTP requests, as curl commands, are in $WORK/requests.log;"
		echo "# the daemon's config is $CFG and its logs are in $WORK/logs."
		printf 'cd %q || exit 1\n' "$PWD"
		printf 'exec env DRAY_BIN=%q DRAY_BUILD=%q DRAY_SRC=%q DRAY_TEST_TARGET=%q bash %q "$@"\n' \
			"$DRAY_BIN" "$DRAY_BUILD" "$DRAY_SRC" "$DRAY_TEST_TARGET" \
			"$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
	} >"$r"
	chmod +x "$r"
}

fail() {
	trap - ERR
	if [ "${BASH_SUBSHELL:-0}" -gt 0 ]; then
		log "FAIL [$CASE_NAME] (in subshell) $(call_site): $*"
		exit 1
	fi
	FAILED=1
	set +e
	# The repro first: the report below may hit a closed pipe.
	write_repro
	log ""
	log "FAIL [$CASE_NAME] $(call_site): $*"
	show_last_response
	show_daemon_logs
	log "--- work dir kept: $WORK (requests as curl commands: requests.log)"
	log "--- repro: bash $WORK/repro.sh"
	exit 1
}

on_err() {
	local rc=$1 line=$2 cmd=$3
	fail "command failed (exit $rc) at line $line: $cmd"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

on_exit() {
	local rc=$? p
	trap - ERR
	set +e
	# A failure whose report was cut short (e.g. by SIGPIPE on a closed
	# output) must still count as one.
	[ "$FAILED" -eq 0 ] || [ "$rc" -ne 0 ] || rc=1
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$DRAY_PID" ]; then
		stop_pid "$DRAY_PID"
		DRAY_PID=
	fi
	# Directories a case made outside $WORK (podman's run root).
	[ ${#TMP_DIRS[@]} -eq 0 ] || rm -rf "${TMP_DIRS[@]}"
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
		rm -rf "$WORK"
	elif [ "$FAILED" -eq 0 ]; then
		log "FAIL [$CASE_NAME]: exited with status $rc"
		show_last_response
		show_daemon_logs
		write_repro
		log "--- work dir kept: $WORK"
	fi
	exit "$rc"
}
TMP_DIRS=()
trap on_exit EXIT

# End of a passing case: the one summary line.
pass() {
	local n
	# The daemon still running must exit cleanly too: a leak found by
	# LeakSanitizer or a crash at exit fails the case.
	[ -z "$DRAY_PID" ] || dray_stop
	for n in "${NOTES[@]}"; do
		printf '  note: %s\n' "$n"
	done
	printf 'PASS %s: %d assertions in %ds (target %s)\n' "$CASE_NAME" \
		"$ASSERTS" "$((SECONDS - T_START))" "$DRAY_TEST_TARGET"
	exit 0
}

