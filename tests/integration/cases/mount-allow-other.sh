#!/bin/bash
# mount-allow-other.sh - who may use the mount. Without fuse.allowOther
# only the daemon's user gets in. With it, other users get in with the
# kernel checking the modes and owners shown (default_permissions): they
# read everything and change nothing of root's. fuse.uid/gid make another
# user the owner shown, and that user can then publish by cp -r.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

# nobody must be able to reach the mountpoint and read the source layout.
chmod 755 "$WORK" "$WORK/tmp"
IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 1 --layer-size 40000 --seed 91)
chmod -R a+rX "$IMG"

# --- without allowOther: only the daemon's user
dray_start_mount
push_layout app v1 "$IMG"
assert_true "another user listed the mount without allowOther" \
	bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups -- ls '$MNT' >/dev/null 2>&1"
dray_stop

# --- allowOther: others read, and cannot change root's files
dray_start_mount -- "  allowOther: true"
assert_eq "blobs index.json oci-layout" "$(as_nobody ls "$MNT/app" | tr '\n' ' ' | sed 's/ $//')" \
	"what another user lists"
assert_eq "${D1#sha256:}" "$(as_nobody sha256sum "$MNT/app/blobs/sha256/${D1#sha256:}" | cut -d' ' -f1)" \
	"a blob read by another user"
rc=0
as_nobody cp -r "$IMG" "$MNT/theirs" 2>"$WORK/tmp/cp.err" || rc=$?
assert_ne 0 "$rc" "another user published into root's mount"
assert_true "cp did not say permission denied: $(cat "$WORK/tmp/cp.err")" \
	grep -qi "permission denied" "$WORK/tmp/cp.err"
assert_true "theirs was created on disk" test ! -e "$WORK/data/theirs"
rc=0
as_nobody rm -f "$MNT/app/oci-layout" 2>/dev/null || rc=$?
assert_ne 0 "$rc" "another user removed root's oci-layout"
assert_eq "$D1" "$(http_digest app v1)" "app over HTTP after the refused changes"
dray_stop

# --- allowOther with fuse.uid/gid: the owner shown may publish
dray_start_mount -- "  allowOther: true
  uid: 65534
  gid: 65534"
assert_eq "65534:65534" "$(stat -c %u:%g "$MNT/app/index.json")" "owner shown"
rc=0
as_nobody cp -r "$IMG" "$MNT/pub" 2>"$WORK/tmp/cp.err" || rc=$?
assert_eq 0 "$rc" "cp -r by the owner shown: $(cat "$WORK/tmp/cp.err")"
assert_true "pub has no oci-layout in the mount" test -e "$MNT/pub/oci-layout"
assert_eq "$D1" "$(http_digest pub v1)" "what the owner shown published, over HTTP"
pull_verify pub v1
dray_stop
pass
