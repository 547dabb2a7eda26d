#!/bin/bash
# mount-umoci.sh - umoci works on a layout in the mount (issue 9, item 7):
# its .umoci-* temporary directory is staging like a temporary file, so
# `umoci tag`, `umoci rm` and `umoci gc` succeed, and HTTP shows a tag
# appear and disappear, and the collected content go, while the image
# left still pulls whole.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage
command -v umoci >/dev/null || fail "umoci is missing (contrib/install-deps.sh)"

run_umoci() { # WHAT ARGS...: umoci ARGS, which must succeed
	local what=$1 rc=0
	shift
	umoci "$@" >"$WORK/logs/umoci.log" 2>&1 || rc=$?
	assert_eq 0 "$rc" "$what: $(tail -n 3 "$WORK/logs/umoci.log")"
}

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 2 --layer-size 60000 --seed 71 >/dev/null
"$MKIMAGE" "$WORK/tmp/img" v2 --layers 2 --layer-size 60000 --seed 72 >/dev/null
D1=$(layout_manifest_digest "$WORK/tmp/img" v1)
D2=$(layout_manifest_digest "$WORK/tmp/img" v2)
L2=$(jq -r '.layers[0].digest' "$WORK/tmp/img/blobs/sha256/${D2#sha256:}")

dray_start_mount
push_layout team/app v1 "$WORK/tmp/img"
push_layout team/app v2 "$WORK/tmp/img"
R=$MNT/team/app
assert_eq "v1 v2" "$(tags_of team/app)" "tags after the pushes"

run_umoci "umoci tag" tag --image "$R:v1" v1b
assert_eq "v1 v1b v2" "$(tags_of team/app)" "tags after umoci tag"
assert_eq "$D1" "$(http_digest team/app v1b)" "the new tag over HTTP"
export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
rc=0
timeout 900 skopeo --command-timeout 850s inspect --tls-verify=false \
	"docker://127.0.0.1:$PORT/team/app:v1b" >"$WORK/tmp/inspect.json" \
	2>"$WORK/logs/skopeo.log" || rc=$?
assert_eq 0 "$rc" "skopeo inspect of the new tag: $(tail -n 3 "$WORK/logs/skopeo.log")"
assert_eq "$D1" "$(jq -r .Digest "$WORK/tmp/inspect.json")" "skopeo's digest of v1b"

run_umoci "umoci rm" rm --image "$R:v2"
assert_eq "v1 v1b" "$(tags_of team/app)" "tags after umoci rm"
assert_eq 404 "$(http_digest team/app v2)" "v2 after umoci rm"

run_umoci "umoci gc" gc --layout "$R"
req GET "/v2/team/app/blobs/$L2"
assert_status 404
assert_true "v2's layer is still in the mount" test ! -e "$R/blobs/sha256/${L2#sha256:}"
req GET "/v2/team/app/manifests/$D2"
assert_status 404
assert_eq "v1 v1b" "$(tags_of team/app)" "tags after umoci gc"
pull_verify team/app v1
pull_verify team/app v1b
assert_eq "" "$(cd "$R" && ls -A | grep '^\.umoci' || true)" "umoci's directories left in the mount"
check_layout "$WORK/data/team/app"

dray_stop
pass
