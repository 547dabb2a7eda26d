#!/bin/bash
# search-offload.sh - a search query runs on the search pool with its
# connection suspended, so a slow one holds no listener thread: with as
# many queries held (DRAY_TEST_HOLD=search:<file>, a test-only pause at
# the start of each query) as there are listener threads, /v2/, a push
# and a pull are answered; released, each held query gets its answer.
. "$(dirname "$0")/../lib.sh"
require_dray "test-only pause point in the search"

N=2 # listener threads (http.threads' default)
HOLD=$WORK/tmp/release
export DRAY_TEST_HOLD="search:$HOLD"
dray_start_cfg -- "extensions:
  search:
    enable: true"
push_image pub/app v1 1 1024
M=$(log_mark)
HELD=()
for ((i = 1; i <= N; i++)); do
	curl -s -o "$WORK/tmp/q.$i" -w '%{http_code}' -G \
		--data-urlencode 'query={ImageList(repo: "pub/app") {Results {Tag}}}' \
		"$URL/v2/_zot/ext/search" >"$WORK/tmp/q.$i.st" 2>/dev/null &
	HELD+=($!)
done
wait_log_n "$M" "test hold: search at" "$N" "$N queries held"
req GET /v2/
assert_status 200
push_image pub/other v1 1 1024
req GET /v2/pub/other/manifests/v1
assert_status 200
assert_true "a query was released while the registry answered" \
	bash -c "! tail -n +$((M + 1)) '$DAEMON_LOG' | grep -q 'test hold: .* released'"
touch "$HOLD"
wait "${HELD[@]}" || true
for ((i = 1; i <= N; i++)); do
	assert_eq 200 "$(cat "$WORK/tmp/q.$i.st")" "held query $i once released"
	assert_eq '["v1"]' "$(jq -c '[.data.ImageList.Results[].Tag]' "$WORK/tmp/q.$i")" \
		"held query $i answered"
done
pass
