# SPDX-License-Identifier: Apache-2.0
# lib/gc.sh - the test clock and waiting for GC passes.
# Sourced by lib.sh; not run on its own.
# Decisions by age (gcDelay, retention, upload idle time) read the age
# clock, which DRAY_TEST_CLOCK_FILE (tests only) runs ahead of real time.
# A case that needs "older than gcDelay" next to "younger than gcDelay"
# sets a long gcDelay, so that nothing ages by real time while it runs,
# and moves the age clock instead of sleeping; a push made after
# clock_advance ages from then on. Every daemon and dray_cli started
# after test_clock_on reads the same file.

# test_clock_on: an age clock (at real time for now) for this case; call
# before starting the daemon.
test_clock_on() {
	export DRAY_TEST_CLOCK_FILE=$WORK/clock
	TEST_CLOCK_S=0
	: >"$DRAY_TEST_CLOCK_FILE"
}

# clock_advance SECONDS: from now on, the age clock runs SECONDS further
# ahead (a step "<now, ms> <total offset, s>" appended to the file, which
# is replaced whole). Returns once file times are past the step, so that
# whatever changes afterwards ages from the new offset.
clock_advance() {
	local since i
	TEST_CLOCK_S=$((TEST_CLOCK_S + $1))
	since=$(date +%s%3N)
	{
		cat "$DRAY_TEST_CLOCK_FILE"
		printf '%s %s\n' "$since" "$TEST_CLOCK_S"
	} >"$DRAY_TEST_CLOCK_FILE.new"
	mv -f "$DRAY_TEST_CLOCK_FILE.new" "$DRAY_TEST_CLOCK_FILE"
	# File times come from a coarser clock, a tick behind at most.
	for ((i = 0; i < 100; i++)); do
		[ "$(date +%s%3N)" -gt $((since + 50)) ] && return 0
		sleep 0.02
	done
	fail "clock_advance: the wall clock did not move"
}

# gc_passes: background GC passes completed so far (one log line each).
gc_passes() {
	grep -c 'gc: [0-9]* tags' "$DAEMON_LOG" || true
}

# gc_wait_passes N WHAT: wait (up to 120 s) until N more GC passes have
# completed. With N >= 2 a whole pass began after the call: it saw every
# change made before it, the age clock's included.
gc_wait_passes() {
	local want=$(($(gc_passes) + $1)) i
	for ((i = 0; i < 1200; i++)); do
		[ "$(gc_passes)" -ge "$want" ] && return 0
		daemon_alive || fail "$2: the daemon exited while waiting for GC"
		sleep 0.1
	done
	fail "$2: $1 more GC passes did not complete in 120 s (log shows $(gc_passes))"
}

