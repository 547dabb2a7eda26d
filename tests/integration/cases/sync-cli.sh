#!/bin/bash
# sync-cli.sh - dray sync CONFIG: one mirror run of every registry of
# extensions.sync (no pollInterval needed), offline, no daemon running,
# against Debian's docker-registry. Exit 0 with the summary line on
# standard output and plain progress lines (not a terminal) when all is
# mirrored (on a terminal, one progress line rewritten in place), and
# the images are in the storage with the upstream's
# digests (excluded tags not); a second run transfers nothing; exit 1
# naming the failures when the upstream is down; exit 2 for a config
# without registries or an invalid one; dray --help lists sync.
. "$(dirname "$0")/../lib.sh"
require_dray "the dray command line"
need_mkimage

SRC=$WORK/tmp/src
X1=$("$MKIMAGE" "$SRC" x1 --layers 2 --layer-size 20000 --seed 51)
X2=$("$MKIMAGE" "$SRC" x2 --layers 1 --layer-size 20000 --seed 52)
upstream_start dist
up_put dist "$SRC" "$X1" app/one v1
up_put dist "$SRC" "$X2" app/one v2
up_tag dist "$SRC" "$X2" app/one nightly
up_put dist "$SRC" "$X2" app/two v1

sync_config "$WORK/cfg/none.json"
echo '{}' >"$WORK/cfg/none.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url dist)"]
        content:
          - prefix: "app/**"
            destination: /mirror
            tags: {regex: "^v[0-9]"}
EOF2

dray_cli sync "$CFG"
assert_cli_rc 0 "dray sync"
assert_true "summary: 2 repositories, 3 tags: $CLI_OUT" \
	grep -Eq "^sync: 2 repositories, 3 tags mirrored, 0 here already, 0 referrers, 0 failed in [0-9.]+ s" <<<"$CLI_OUT"
assert_true "plain progress lines (not a terminal): $CLI_OUT" \
	grep -Eq "^sync: 2/2 repositories \(100%\)" <<<"$CLI_OUT"
assert_eq "$X1" "$(layout_tag_digest "$WORK/data/mirror/app/one" v1)" "mirror/app/one:v1"
assert_eq "$X2" "$(layout_tag_digest "$WORK/data/mirror/app/one" v2)" "mirror/app/one:v2"
assert_eq "$X2" "$(layout_tag_digest "$WORK/data/mirror/app/two" v1)" "mirror/app/two:v1"
assert_eq "$(printf 'v1\nv2')" "$(layout_tags "$WORK/data/mirror/app/one")" "nightly left out"
check_layout "$WORK/data/mirror/app/one"
check_layout "$WORK/data/mirror/app/two"

# again: nothing transferred
blobs=$(up_requests dist "GET /v2/[^ ]*/blobs/")
dray_cli sync "$CFG" -q
assert_cli_rc 0 "dray sync, a second time"
assert_true "second run: all here already: $CLI_OUT" \
	grep -Eq "^sync: 2 repositories, 0 tags mirrored, 3 here already, 0 referrers, 0 failed" <<<"$CLI_OUT"
assert_true "-q: no progress lines" bash -c '! grep -q "^sync: [0-9]*/" <<<"$1"' _ "$CLI_OUT"
assert_eq "$blobs" "$(up_requests dist "GET /v2/[^ ]*/blobs/")" "no blob GET in the second run"

# on a terminal: one line rewritten in place, then the summary
dray_tty sync "$CFG"
assert_cli_rc 0 "dray sync on a terminal"
assert_true "a progress line drawn in place: $(cat -v <<<"$TTY_OUT")" \
	grep -Eq $'\rsync: [0-9]+/2 repositories \\([0-9]+%\\)[^\r]*\033\\[K\r' <<<"$TTY_OUT"
assert_true "the summary after it" grep -q "sync: 2 repositories, 0 tags mirrored, 3 here already" <<<"$TTY_OUT"

# the upstream down: exit 1, the failure named
upstream_stop dist
dray_cli sync "$CFG" -q
assert_cli_rc 1 "dray sync with the upstream down"
assert_true "says what failed: $CLI_OUT" grep -q "could not be mirrored" <<<"$CLI_OUT"
assert_true "the log names the upstream: $CLI_OUT" grep -q "cannot list the catalog of $(up_url dist)" <<<"$CLI_OUT"

# no registries, an invalid config: exit 2
dray_config
dray_cli sync "$CFG"
assert_cli_rc 2 "dray sync without registries"
assert_true "says so: $CLI_OUT" grep -q "no extensions.sync registries" <<<"$CLI_OUT"
printf 'extensions:\n  sync:\n    registries:\n      - urls: ["ftp://x"]\n' >>"$CFG"
dray_cli sync "$CFG"
assert_cli_rc 2 "dray sync with an invalid registry"
dray_cli --help
assert_true "dray --help lists sync" grep -Eq "^  sync \[CONFIG\] +mirror" <<<"$CLI_OUT"
pass "dray sync: mirrored offline (exit 0), nothing again on a second run, 1 with the upstream down, 2 for a bad config"
