# SPDX-License-Identifier: Apache-2.0
# lib/events.sh - the events tests' HTTP sink (tests/tools/eventsink.c),
# started and stopped by PID; it appends each request it gets to
# $SINK_OUT as one JSON line {"headers": {...}, "body": ...}.
# Sourced by lib.sh; not run on its own.

EVENTSINK=$DRAY_BUILD/eventsink
SINK_PID=
SINK_PORT=0
SINK_OUT=$WORK/tmp/events.jsonl

# eventsink_start: on $SINK_PORT (0 the first time: any free port, kept
# for the next start); sets SINK_PID and SINK_PORT.
eventsink_start() {
	local pf=$WORK/cfg/sink.port
	[ -x "$EVENTSINK" ] || fail "no event sink at $EVENTSINK"
	[ -z "$SINK_PID" ] || fail "eventsink_start: one is running"
	rm -f "$pf"
	"$EVENTSINK" --out "$SINK_OUT" --port-file "$pf" --port "$SINK_PORT" \
		2>>"$WORK/logs/eventsink.log" &
	SINK_PID=$!
	BG_PIDS+=("$SINK_PID")
	SINK_PORT=$(wait_port_file "$pf" "$SINK_PID" "event sink")
}

eventsink_stop() {
	[ -n "$SINK_PID" ] || fail "eventsink_stop: none running"
	stop_pid "$SINK_PID"
	SINK_PID=
}

# sink_has TYPE REPO REFERENCE DIGEST: has the sink got that event (ce-type
# ends in TYPE: updated or deleted)?
sink_has() {
	[ -s "$SINK_OUT" ] && jq -e --arg t "$1" --arg r "$2" --arg ref "$3" \
		--arg d "$4" -s 'any(.[]; (.headers["ce-type"] | endswith("image." + $t))
		and .headers["ce-subject"] == $r and .body.name == $r
		and .body.reference == $ref and .body.digest == $d)' \
		"$SINK_OUT" >/dev/null
}

# wait_events "TYPE REPO REFERENCE DIGEST"...: until the sink has every
# one (polled; a hang is ctest's timeout).
wait_events() {
	local e i missing
	for ((i = 1; ; i++)); do
		missing=
		for e in "$@"; do
			# shellcheck disable=SC2086
			sink_has $e || missing="$missing; $e"
		done
		[ -n "$missing" ] || break
		((i % 300)) || note "wait_events: still missing${missing}"
		sleep 0.1
	done
	ASSERTS=$((ASSERTS + 1))
}
