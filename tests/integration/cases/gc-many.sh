#!/bin/bash
# gc-many.sh - GC keeps every tagged image whole in a store holding more
# manifests (100,000) than dray keeps summaries of in memory (65,536). The
# layouts are written straight to disk by tests/tools/mkmany (100
# repositories of 1,000 tagged images, each with its own config, plus a
# little garbage each); `dray gc` (offline, gcDelay 0s) indexes them at
# open, then collects. Afterwards every blob a tagged image names is
# present and hashes right, and the garbage is gone. (No daemon start
# afterwards: it would only repeat what the index checks show.)
# 200,000 small files: on a memory file system when there is one, where
# writing and removing them does not queue behind other disk traffic.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
. "$(dirname "$0")/../lib.sh"
require_dray "dray gc over a large store"
MKMANY=$DRAY_BUILD/mkmany
[ -x "$MKMANY" ] || fail "mkmany not built at $MKMANY (set DRAY_BUILD)"

REPOS=100
PER=1000
GARBAGE=2
KEEP=$WORK/tmp/keep.list
GONE=$WORK/tmp/gone.list

T0=$SECONDS
"$MKMANY" "$WORK/data" "$REPOS" "$PER" "$GARBAGE" "$KEEP" "$GONE"
note "wrote $((REPOS * PER)) tagged manifests in $((SECONDS - T0)) s"
assert_eq $((REPOS * (2 * PER + 1))) "$(wc -l <"$KEEP")" "blobs the tagged images name"

dray_config_ext "$CFG" "gcDelay: 0s"
T0=$SECONDS
dray_cli gc "$CFG"
assert_cli_rc 0 "dray gc"
note "dray gc (index and collect) took $((SECONDS - T0)) s"
COUNTS=$(grep -o '[0-9]* manifests, [0-9]* blobs' <<<"$CLI_OUT" | tail -n 1)
assert_eq "$((REPOS * GARBAGE)) manifests, $((REPOS * GARBAGE * 3 + REPOS))" \
	"${COUNTS% blobs}" "what gc removed"

# Every blob a tagged image names: present, and its content hashes to it.
T0=$SECONDS
BAD=$(cd "$WORK/data" && sha256sum -c --quiet "$KEEP" 2>&1 | head -n 5) || true
assert_eq "" "$BAD" "blobs of tagged images after gc"
note "checked $(wc -l <"$KEEP") blobs in $((SECONDS - T0)) s"
LEFT=0
while read -r p; do
	[ ! -e "$WORK/data/$p" ] || LEFT=$((LEFT + 1))
done <"$GONE"
assert_eq 0 "$LEFT" "garbage blobs left after gc"
for r in 000 $(printf '%03d' $((REPOS - 1))); do
	assert_eq "$PER" "$(jq '.manifests | length' "$WORK/data/many/r$r/index.json")" \
		"index.json entries of many/r$r"
done

pass
