#!/bin/bash
# mount-rm.sh - deleting through the mount, checked against HTTP and the
# other repositories that share the content: rm of a tag's manifest takes
# the manifest and its tags; rm of a blob a manifest needs fails (EBUSY)
# and changes nothing; rm of an unreferenced blob removes it from this
# repository only (a deduplicated copy elsewhere is intact); `rm -r` of a
# repository, of a parent of nested repositories and of a half-copied
# directory deletes it for HTTP and the mount alike. A half-copied
# directory tells what it waits for in the xattr user.dray.status.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

blob_status() { # REPO DIGEST: the status of a GET of the blob
	req GET "/v2/$1/blobs/$2"
	printf '%s' "$STATUS"
}

IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 2 --layer-size 100000 --seed 71)
D2=$("$MKIMAGE" "$IMG" v2 --layers 2 --layer-size 100000 --seed 72)
L1=$(jq -r '.layers[0].digest' "$IMG/blobs/sha256/${D1#sha256:}")
L2=$(jq -r '.layers[0].digest' "$IMG/blobs/sha256/${D2#sha256:}")

dray_start_mount
for r in team/app team/web keep/app; do
	push_layout "$r" v1 "$IMG"
	push_layout "$r" v2 "$IMG"
done
R=$MNT/team/app

# --- a blob a manifest needs: refused, nothing changes
rc=0
rm "$R/blobs/sha256/${L1#sha256:}" 2>"$WORK/tmp/rm.err" || rc=$?
assert_ne 0 "$rc" "rm of a needed layer succeeded"
assert_true "rm did not say the blob is busy: $(cat "$WORK/tmp/rm.err")" \
	grep -qi "busy" "$WORK/tmp/rm.err"
assert_eq 200 "$(blob_status team/app "$L1")" "needed layer over HTTP after a refused rm"
assert_true "needed layer gone from the mount" test -f "$R/blobs/sha256/${L1#sha256:}"
pull_verify team/app v1

# --- the manifest of a tag: the manifest and its tags go, here only
assert_true "rm of v2's manifest failed" rm "$R/blobs/sha256/${D2#sha256:}"
assert_eq "v1" "$(tags_of team/app)" "tags after rm of v2's manifest"
assert_eq 404 "$(http_digest team/app "$D2")" "v2's manifest by digest"
assert_eq "v1" "$(layout_tags "$R" | tr '\n' ' ' | sed 's/ $//')" "mounted index.json"
assert_eq "v1 v2" "$(tags_of team/web)" "another repository's tags"

# --- now unreferenced: the layer goes from this repository only
assert_true "rm of an unreferenced layer failed" rm "$R/blobs/sha256/${L2#sha256:}"
assert_eq 404 "$(blob_status team/app "$L2")" "removed layer over HTTP"
assert_true "removed layer still in the mount" test ! -e "$R/blobs/sha256/${L2#sha256:}"
assert_eq 200 "$(blob_status team/web "$L2")" "the layer in another repository"
assert_eq "${L2#sha256:}" "$(sha256sum <"$MNT/team/web/blobs/sha256/${L2#sha256:}" | cut -d' ' -f1)" \
	"the other repository's copy of the layer"
pull_verify team/web v2
check_layout "$WORK/data/team/app"

# --- rm -r of a repository
rm -r "$R" 2>"$WORK/tmp/rmr.err" || true
assert_true "rm -r of a repository failed: $(head -c 600 "$WORK/tmp/rmr.err")" test ! -e "$R"
assert_eq "NONE:404" "$(tags_of team/app)" "tags of a removed repository"
req GET "/v2/_catalog"
assert_status 200
assert_eq "keep/app team/web" "$(bjq -r '.repositories | join(" ")')" "catalog after rm -r"
assert_true "the removed repository is on disk" test ! -e "$WORK/data/team/app"
pull_verify team/web v1
pull_verify keep/app v2

# --- rm -r of the parent of nested repositories
push_layout team/x/y v1 "$IMG"
rm -r "$MNT/team" 2>"$WORK/tmp/rmr.err" || true
assert_true "rm -r of a parent failed: $(head -c 600 "$WORK/tmp/rmr.err")" test ! -e "$MNT/team"
req GET "/v2/_catalog"
assert_eq "keep/app" "$(bjq -r '.repositories | join(" ")')" "catalog after rm -r of a parent"
assert_eq "NONE:404" "$(tags_of team/x/y)" "tags of a nested repository removed"
pull_verify keep/app v1

# --- rm -r of a copy stopped half way cleans it up
mkdir -p "$MNT/half/blobs/sha256"
cp "$IMG/index.json" "$MNT/half/"
cp "$IMG/blobs/sha256/${L1#sha256:}" "$MNT/half/blobs/sha256/"
assert_eq "NONE:404" "$(tags_of half)" "a half copy over HTTP"
# Its state is readable: what it waits for, as the xattr user.dray.status.
st=$(getfattr --absolute-names --only-values -n user.dray.status "$MNT/half")
assert_true "status of a half copy: $st" grep -qx 'state: incomplete (not served over HTTP)' <<<"$st"
assert_true "status does not name the missing manifest: $st" grep -qx "missing: $D1" <<<"$st"
cp "$IMG/blobs/sha256/${D1#sha256:}" "$MNT/half/blobs/sha256/"
CFG1=$(jq -r '.config.digest' "$IMG/blobs/sha256/${D1#sha256:}")
L1B=$(jq -r '.layers[1].digest' "$IMG/blobs/sha256/${D1#sha256:}")
st=$(getfattr --absolute-names --only-values -n user.dray.status "$MNT/half")
assert_eq "state: incomplete (not served over HTTP)
waiting: 3 blob(s) that index.json names
missing: $CFG1
missing: $L1B
missing: $D2" "$st" "status once v1's manifest is in"
assert_true "getfattr --absolute-names -d does not list the status" \
	grep -q '^user.dray.status=' <(getfattr --absolute-names -d "$MNT/half")
assert_true "a blob directory has a status" \
	bash -c "! getfattr --absolute-names -n user.dray.status '$MNT/half/blobs' 2>/dev/null"
assert_eq "state: published" "$(getfattr --absolute-names --only-values -n user.dray.status "$MNT/keep/app")" \
	"status of a published repository"
assert_true "a namespace directory has a status" \
	bash -c "! getfattr --absolute-names -n user.dray.status '$MNT/keep' 2>/dev/null"
rm -r "$MNT/half" 2>"$WORK/tmp/rmr.err" || true
assert_true "rm -r of a half copy failed: $(head -c 600 "$WORK/tmp/rmr.err")" test ! -e "$MNT/half"
assert_true "the half copy is on disk" test ! -e "$WORK/data/half"
assert_eq "keep/app" "$(check_all_layouts "$WORK/data" | tr '\n' ' ' | sed 's/ $//')" \
	"layouts at the end"
dray_stop
pass
