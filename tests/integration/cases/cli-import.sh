#!/bin/bash
# cli-import.sh - `dray import LAYOUT_DIR REPO[:TAG]`, the mount's publish
# without a mount: every tag of a layout (or just TAG) is stored with the
# layout's digests and served over HTTP; the content is deduplicated with
# HTTP pushes (same inode); a corrupt blob fails the import with nothing
# tagged; a second import finds the blobs present; it refuses to run
# beside a serving daemon; bad arguments are usage errors (2).
. "$(dirname "$0")/../lib.sh"
require_dray "the CLI"
need_mkimage

IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 2 --layer-size 200000 --seed 61)
D2=$("$MKIMAGE" "$IMG" v2 --layers 1 --layer-size 1000 --seed 62)
DI=$("$MKIMAGE" "$WORK/tmp/idx" multi --index --layers 2 --layer-size 5000 --seed 63)
dray_config

# --- every tag of a layout
dray_cli import "$IMG" team/app --config "$CFG"
assert_cli_rc 0 "import of a layout"
assert_true "import did not report what it stored" \
	grep -q "2 manifests" <<<"$CLI_OUT"
# --- only TAG, renamed: the single descriptor of a layout, tagged TAG
dray_cli import "$WORK/tmp/idx" team/multi:latest --config "$CFG"
assert_cli_rc 0 "import of an image index as TAG"
dray_cli import "$IMG" only/one:v2 --config "$CFG"
assert_cli_rc 0 "import of one tag"
dray_cli import "$IMG" only/one:nope --config "$CFG"
assert_cli_rc 1 "import of a tag the layout lacks"
# --- a second import finds everything present
dray_cli import "$IMG" team/app --config "$CFG"
assert_cli_rc 0 "second import"
assert_true "second import re-uploaded blobs" grep -q " 0 blobs stored" <<<"$CLI_OUT"
# --- a corrupt blob: refused, nothing tagged
cp -r "$IMG" "$WORK/tmp/bad"
L=$(jq -r '.layers[0].digest' "$IMG/blobs/sha256/${D1#sha256:}")
printf 'corrupt' >"$WORK/tmp/bad/blobs/sha256/${L#sha256:}"
dray_cli import "$WORK/tmp/bad" bad/repo:v1 --config "$CFG"
assert_cli_rc 1 "import of a corrupt layout"
assert_true "the corruption was not named" grep -q "hashes to" <<<"$CLI_OUT"
# --- usage errors
dray_cli import "$IMG" --config "$CFG"
assert_cli_rc 2 "import without a repository"
dray_cli import "$WORK/tmp" x/y --config "$CFG"
assert_cli_rc 1 "import of a directory that is no layout"

dray_start
req GET /v2/team/app/tags/list
assert_status 200
assert_eq "v1 v2" "$(bjq -r '.tags | sort | join(" ")')" "imported tags"
pull_verify team/app v1
pull_verify team/app v2
assert_eq "$D1" "$(http_digest team/app v1)" "digest of v1"
assert_eq "$DI" "$(http_digest team/multi latest)" "digest of the index"
pull_verify team/multi latest
req GET /v2/only/one/tags/list
assert_status 200
assert_eq "v2" "$(bjq -r '.tags | join(" ")')" "the one tag imported"
assert_eq "404" "$(http_digest bad/repo v1)" "a corrupt import's tag"
req GET "/v2/bad/repo/blobs/$L"
assert_status 404
check_layout "$WORK/data/team/app"

# --- dedup with an HTTP push of the same image
push_layout http/app v1 "$IMG"
assert_eq "$(inode_of "$(repo_blob_file team/app "$L")")" \
	"$(inode_of "$(repo_blob_file http/app "$L")")" "imported and pushed layer"

# --- not beside a serving daemon (one process per storage root)
dray_cli import "$IMG" other/app --config "$CFG"
assert_cli_rc 1 "import while dray serve holds the storage"
assert_true "the refusal did not say why" grep -q "in use" <<<"$CLI_OUT"
dray_stop
pass
