#!/bin/bash
# access-control.sh - http.accessControl (zot's schema): with no
# authentication every client is anonymous, so each repository glob's
# anonymousPolicy is what HTTP clients and the mount may do; the longest
# matching glob wins and a name no glob matches allows nothing.
#   "**"        read, create: push yes; move a tag, delete: no
#   "tmp/**"    read, create, update, delete
#   "secret/*"  nothing: not readable, not listed, not a mount source
#   "hidden*"   nothing (three of them, so that whole catalog pages are
#               unreadable: paging goes on past them)
#   "strict/**" with detectManifestCollision: a delete by digest that
#               matches two index.json entries is refused (405: the
#               spec's "deletion not allowed"; zot answers 409, which
#               the spec does not list for end-9)
# Through the mount: rm and rm -r need delete (EACCES otherwise); writing
# needs create; an index.json that drops a tag needs delete and one that
# moves a tag needs update.
. "$(dirname "$0")/../lib.sh"
require_dray "http.accessControl"
need_fuse
need_mkimage

# with_tag LAYOUT DIGEST TAG: app's index.json (as the mount shows it)
# plus TAG for manifest DIGEST of LAYOUT.
with_tag() {
	local sz
	sz=$(stat -c %s "$1/blobs/sha256/${2#sha256:}")
	jq --arg d "$2" --argjson s "$sz" --arg mt "$MT_OCI_MANIFEST" --arg t "$3" \
		'.manifests += [{mediaType: $mt, digest: $d, size: $s,
		  annotations: {"org.opencontainers.image.ref.name": $t}}]' \
		"$MNT/app/index.json"
}

IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 1 --layer-size 50000 --seed 81)
D2=$("$MKIMAGE" "$IMG" v2 --layers 1 --layer-size 50000 --seed 82)
L1=$(jq -r '.layers[0].digest' "$IMG/blobs/sha256/${D1#sha256:}")
M2=$IMG/blobs/sha256/${D2#sha256:}

HTTP_EXTRA='  accessControl:
    repositories:
      "**":
        anonymousPolicy: [read, create]
      "tmp/**":
        anonymousPolicy: [read, create, update, delete]
      "secret/*":
        anonymousPolicy: []
      "hidden*":
        anonymousPolicy: []
      "strict/**":
        anonymousPolicy: [read, create, delete, detectManifestCollision]'
mkdir -p "$WORK/data/secret"
cp -r "$IMG" "$WORK/data/secret/a"
for r in hidden1 hidden2 hidden3; do cp -r "$IMG" "$WORK/data/$r"; done
dray_start_mount

# --- HTTP: create is allowed, update and delete are not
push_layout app v1 "$IMG"
req PUT "/v2/app/manifests/v1" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$M2"
assert_error 403 DENIED
assert_eq "$D1" "$(http_digest app v1)" "v1 after a refused move"
push_layout app v2 "$IMG"
req PUT "/v2/app/manifests/v2" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$M2"
assert_status 201 # the same content again moves nothing
req DELETE "/v2/app/manifests/$D1"
assert_error 403 DENIED
req DELETE "/v2/app/blobs/$L1"
assert_error 403 DENIED
assert_eq "$D1" "$(http_digest app v1)" "v1 after a refused delete"

# --- HTTP: the longer glob tmp/** allows all
push_layout tmp/x v1 "$IMG"
push_layout tmp/x v2 "$IMG"
push_manifest tmp/x v1 "$M2" "$MT_OCI_MANIFEST"
assert_eq "$D2" "$(http_digest tmp/x v1)" "a moved tag under tmp/**"
req DELETE "/v2/tmp/x/manifests/$D2"
assert_status 202

# --- HTTP: detectManifestCollision
push_layout strict/a v1 "$IMG"
push_manifest strict/a v9 "$IMG/blobs/sha256/${D1#sha256:}" "$MT_OCI_MANIFEST"
req DELETE "/v2/strict/a/manifests/$D1"
assert_error 405 DENIED
assert_header Allow "GET, HEAD, PUT"
assert_eq "$D1" "$(http_digest strict/a v9)" "v9 after a refused delete"
req DELETE "/v2/strict/a/manifests/v9"
assert_status 202
req DELETE "/v2/strict/a/manifests/$D1"
assert_status 202
assert_eq 404 "$(http_digest strict/a v1)" "v1 once its manifest is deleted"

# --- HTTP: secret/* allows nothing, and is not listed
req GET "/v2/secret/a/tags/list"
assert_error 403 DENIED
req GET "/v2/secret/a/manifests/v1"
assert_error 403 DENIED
req POST "/v2/secret/b/blobs/uploads/"
assert_error 403 DENIED
assert_eq "app strict/a tmp/x" "$(http_catalog)" "catalog"
# Pages skip what cannot be read and go on past it.
for r in zz/a zz/b; do push_layout "$r" v1 "$IMG"; done
follow_pages "/v2/_catalog?n=2" .repositories "$WORK/tmp/pages"
assert_eq "app strict/a tmp/x zz/a zz/b" "$(tr '\n' ' ' <"$WORK/tmp/pages" | sed 's/ $//')" \
	"catalog read in pages of 2"
# A blob of secret/a cannot be mounted from there: an ordinary session.
req POST "/v2/other/blobs/uploads/?mount=$L1&from=secret/a"
assert_status 202

# --- the mount: rm needs delete
rc=0
rm "$MNT/app/blobs/sha256/${D1#sha256:}" 2>"$WORK/tmp/rm.err" || rc=$?
assert_ne 0 "$rc" "rm of a manifest without delete succeeded"
assert_true "rm did not say permission denied: $(cat "$WORK/tmp/rm.err")" \
	grep -qi "permission denied" "$WORK/tmp/rm.err"
rm -r "$MNT/app" 2>/dev/null || true
assert_eq "v1 v2" "$(layout_tags "$MNT/app" | tr '\n' ' ' | sed 's/ $//')" "tags in the mount after a refused rm -r"
pull_verify app v1
pull_verify app v2

# --- the mount: an index.json that drops a tag needs delete, one that
# moves a tag update; one that only adds tags is a create
jq 'del(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v2"))' \
	"$MNT/app/index.json" >"$WORK/tmp/drop.json"
rc=0
cp "$WORK/tmp/drop.json" "$MNT/app/index.json" 2>"$WORK/tmp/cp.err" || rc=$?
assert_ne 0 "$rc" "an index.json dropping a tag was taken without delete"
assert_true "cp did not say permission denied: $(cat "$WORK/tmp/cp.err")" \
	grep -qi "permission denied" "$WORK/tmp/cp.err"
assert_eq "$D2" "$(http_digest app v2)" "v2 after a refused index.json"
jq --arg d "$D2" '(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v1") | .digest) |= $d' \
	"$MNT/app/index.json" >"$WORK/tmp/move.json"
rc=0
cp "$WORK/tmp/move.json" "$MNT/app/index.json" 2>/dev/null || rc=$?
assert_ne 0 "$rc" "an index.json moving a tag was taken without update"
assert_eq "$D1" "$(http_digest app v1)" "v1 after a refused index.json"
with_tag "$IMG" "$D1" v3 >"$WORK/tmp/add.json"
assert_true "an index.json adding a tag was refused" cp "$WORK/tmp/add.json" "$MNT/app/index.json"
assert_eq "$D1" "$(http_digest app v3)" "a tag added through the mount"

# --- an index.json that waits for content is judged again when it lands:
# a tag pushed over HTTP meanwhile would go, so it is dropped instead
D4=$("$MKIMAGE" "$WORK/tmp/img4" v4 --layers 1 --layer-size 20000 --seed 84)
with_tag "$WORK/tmp/img4" "$D4" v4 >"$WORK/tmp/wait.json"
assert_true "an index.json adding v4 was refused" cp "$WORK/tmp/wait.json" "$MNT/app/index.json"
push_manifest app v5 "$M2" "$MT_OCI_MANIFEST"
assert_true "copying v4's blobs failed" cp "$WORK/tmp/img4/blobs/sha256/"* "$MNT/app/blobs/sha256/"
assert_eq "$D2" "$(http_digest app v5)" "v5, pushed while an index.json waited"
assert_eq 404 "$(http_digest app v4)" "v4 of the dropped index.json"
assert_true "the daemon did not say it dropped the index.json" \
	grep -q "index.json written through the mount dropped" "$DAEMON_LOG"
st=$(getfattr --absolute-names --only-values -n user.dray.status "$MNT/app")
assert_true "the status does not tell of the dropped index.json: $st" \
	grep -q "^dropped: .*delete on repository 'app' is not allowed" <<<"$st"

# --- the mount: under tmp/** rm works; under secret/* nothing can be written
push_layout tmp/y v1 "$IMG"
assert_true "rm of a manifest under tmp/** failed" rm "$MNT/tmp/y/blobs/sha256/${D1#sha256:}"
assert_eq 404 "$(http_digest tmp/y v1)" "a tag removed through the mount"
rc=0
cp -r "$IMG" "$MNT/secret/b" 2>/dev/null || rc=$?
assert_ne 0 "$rc" "cp -r into secret/* succeeded"
assert_true "secret/b was created on disk" test ! -e "$WORK/data/secret/b"
dray_stop
pass
