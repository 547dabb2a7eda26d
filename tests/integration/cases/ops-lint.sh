#!/bin/bash
# ops-lint.sh - extensions.lint (zot's schema): with mandatoryAnnotations
# [org.opencontainers.image.title, team], an image manifest that lacks
# one, in its annotations and in its config's labels (where zot looks
# too), is refused:
#   - over HTTP (curl, skopeo): 400 MANIFEST_INVALID naming the missing
#     ones; with the title annotated and team a config label, accepted;
#   - through the mount: the close of the index.json that would publish
#     it fails with EBADMSG ("Bad message"), user.dray.status names the
#     missing annotations and nothing is served; an index.json naming an
#     annotated image then publishes;
#   - SIGHUP with lint off: the same manifest is accepted at once.
. "$(dirname "$0")/../lib.sh"
require_dray "extensions.lint"
need_fuse
need_mkimage
command -v umoci >/dev/null || fail "umoci is missing (contrib/install-deps.sh)"
command -v getfattr >/dev/null || fail "getfattr (package attr) is missing"

TITLE=org.opencontainers.image.title
IMG=$WORK/tmp/img
"$MKIMAGE" "$IMG" bare --layers 1 --layer-size 2000 --seed 91 >/dev/null
# v2: both (team as a config label); v3: the title only.
umoci config --image "$IMG:bare" --tag good \
	--manifest.annotation "$TITLE=t" --config.label team=x >/dev/null
umoci config --image "$IMG:bare" --tag half \
	--manifest.annotation "$TITLE=t" >/dev/null
GOOD=$(layout_manifest_digest "$IMG" good)
LINT="extensions:
  lint:
    mandatoryAnnotations: [$TITLE, team]"
dray_start_mount -- "$LINT"

# put_tag REPO TAG: the blobs of layout tag TAG, then its manifest, over
# HTTP; the manifest's answer is left in STATUS and the body.
put_tag() {
	local d f b
	d=$(layout_manifest_digest "$IMG" "$2")
	f=$IMG/blobs/sha256/${d#sha256:}
	for b in $(jq -r '.config.digest, .layers[].digest' "$f"); do
		push_blob "$1" "$IMG/blobs/sha256/${b#sha256:}" "$b"
	done
	req PUT "/v2/$1/manifests/$2" -H "Content-Type: $MT_OCI_MANIFEST" \
		--data-binary "@$f"
}

# --- curl
put_tag app bare
assert_error 400 MANIFEST_INVALID
msg=$(jq -r '.errors[0].message' "$RESP/body")
assert_true "the message does not name both: $msg" \
	grep -qF "mandatory annotations: $TITLE, team" <<<"$msg"
put_tag app half
assert_error 400 MANIFEST_INVALID
msg=$(jq -r '.errors[0].message' "$RESP/body")
assert_true "the message names the wrong ones: $msg" \
	grep -qF "mandatory annotation: team (extensions.lint)" <<<"$msg"
put_tag app good
assert_status 201
assert_eq "$GOOD" "$(http_digest app good)" "app:good"
assert_eq 404 "$(http_digest app bare)" "app:bare, refused, is served"

# --- skopeo
H=127.0.0.1:$PORT
out=$WORK/tmp/skopeo.out
rc=0
timeout 120 skopeo --command-timeout 100s copy --quiet --preserve-digests \
	--dest-tls-verify=false "oci:$IMG:bare" "docker://$H/sk:bare" \
	>"$out" 2>&1 || rc=$?
assert_ne 0 "$rc" "skopeo pushed an image lacking the annotations"
assert_true "skopeo's error does not name them: $(tail -n 2 "$out")" \
	grep -qF "$TITLE, team" "$out"
skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false \
	"oci:$IMG:good" "docker://$H/sk:good"
assert_eq "$GOOD" "$(http_digest sk good)" "sk:good"

# --- the mount: blobs and oci-layout first, then index.json
mkdir -p "$MNT/m1/blobs/sha256"
cp "$IMG"/blobs/sha256/* "$MNT/m1/blobs/sha256/"
cp "$IMG/oci-layout" "$MNT/m1/oci-layout"
jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == "bare"))' \
	"$IMG/index.json" >"$WORK/tmp/bare.json"
jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == "good"))' \
	"$IMG/index.json" >"$WORK/tmp/good.json"
rc=0
cp "$WORK/tmp/bare.json" "$MNT/m1/index.json" 2>"$WORK/tmp/cp.err" || rc=$?
assert_ne 0 "$rc" "the mount published an image lacking the annotations"
assert_true "cp's error is not EBADMSG: $(cat "$WORK/tmp/cp.err")" \
	grep -q "Bad message" "$WORK/tmp/cp.err"
st=$(getfattr --absolute-names --only-values -n user.dray.status "$MNT/m1")
assert_true "the status does not say why: $st" \
	grep -qF "mandatory annotations: $TITLE, team" <<<"$st"
assert_eq 404 "$(http_digest m1 bare)" "m1:bare, refused, is served"
cp "$WORK/tmp/good.json" "$MNT/m1/index.json"
assert_eq "$GOOD" "$(http_digest m1 good)" "m1:good, published through the mount"

# --- SIGHUP: lint off applies at once
dray_config_ext "$CFG" -- "fuse:
  mountpoint: $MNT
extensions:
  lint:
    enable: false
    mandatoryAnnotations: [$TITLE, team]"
dray_reload "'.*' applied: .* lint off" "reload with lint off"
put_tag app bare
assert_status 201
dray_stop
pass
