#!/bin/bash
# mount-cp.sh - publishing by `cp -r` into the mount, with real clients
# (mount-publish.sh has the refusals): when cp returns 0 the tags are
# served over HTTP at once, skopeo inspects and pulls them with the
# layout's digests, every blob hashes to its name, and the content is
# deduplicated exactly as an HTTP push is (the same inode as the content
# store's copy and as the same image pushed over HTTP, in either order).
# `cp -r layout/. <mnt>/repo/` adds to a repository (identical blobs
# rewritten); an image index publishes with its children; nested names.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage

export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
sk() { # sk ARGS...: run skopeo, log its output, fail on error
	printf '+ skopeo %s\n' "$*" >>"$WORK/logs/skopeo.log"
	timeout 900 skopeo --command-timeout 850s "$@" 2>>"$WORK/logs/skopeo.log" ||
		fail "skopeo $* failed: $(tail -n 3 "$WORK/logs/skopeo.log")"
}

IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 3 --layer-size 1000000 --seed 41)
D2=$("$MKIMAGE" "$IMG" v2 --layers 2 --layer-size 300000 --seed 42)

dray_start_mount

# --- cp -r publishes: served the moment cp returns
assert_true "mkdir of a plain parent directory failed" mkdir "$MNT/team"
assert_true "cp -r into the mount failed" cp -r "$IMG" "$MNT/team/app"
assert_eq "$D1" "$(http_digest team/app v1)" "v1 over HTTP right after cp"
assert_eq "$D2" "$(http_digest team/app v2)" "v2 over HTTP right after cp"
assert_eq "team/app" "$(http_catalog)" "catalog after cp"
req GET /v2/team/app/tags/list
assert_status 200
assert_eq "v1 v2" "$(bjq -r '.tags | sort | join(" ")')" "tags after cp"
pull_verify team/app v1
pull_verify team/app v2

# skopeo: inspect gives the layout's digests, a pull reproduces them
sk inspect --tls-verify=false --raw "docker://127.0.0.1:$PORT/team/app:v1" \
	>"$WORK/tmp/raw.json"
assert_eq "$D1" "$(digest_of "$WORK/tmp/raw.json")" "skopeo inspect --raw digest"
sk inspect --tls-verify=false "docker://127.0.0.1:$PORT/team/app:v1" \
	>"$WORK/tmp/inspect.json"
assert_eq "$D1" "$(jq -r .Digest "$WORK/tmp/inspect.json")" "skopeo inspect Digest"
assert_eq "$(jq -r '.layers[].digest' "$IMG/blobs/sha256/${D1#sha256:}" | tr '\n' ' ')" \
	"$(jq -r '.Layers[]' "$WORK/tmp/inspect.json" | tr '\n' ' ')" "skopeo inspect Layers"
sk copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://127.0.0.1:$PORT/team/app:v1" "oci:$WORK/tmp/pulled:v1"
assert_eq "$D1" "$(layout_manifest_digest "$WORK/tmp/pulled" v1)" "pulled manifest digest"
for b in $(jq -r '.config.digest, .layers[].digest' "$IMG/blobs/sha256/${D1#sha256:}"); do
	assert_true "pulled blob $b differs" cmp -s "$IMG/blobs/sha256/${b#sha256:}" \
		"$WORK/tmp/pulled/blobs/sha256/${b#sha256:}"
done

# --- the mount and the disk show what was copied, valid and verified
assert_eq "$(blob_names "$IMG")" "$(blob_names "$MNT/team/app")" "blob files in the mount"
for f in "$MNT"/team/app/blobs/sha256/*; do
	assert_eq "${f##*/}" "$(sha256sum <"$f" | cut -d' ' -f1)" "blob ${f##*/} in the mount"
done
assert_eq "v1 v2" "$(layout_tags "$MNT/team/app" | tr '\n' ' ' | sed 's/ $//')" \
	"tags in the mounted index.json"
assert_true "umoci cannot read the published layout" \
	bash -c "umoci ls --layout '$MNT/team/app' >/dev/null"
assert_eq "team/app" "$(check_all_layouts "$WORK/data")" "layouts on disk"
assert_eq "" "$(ls -A "$MNT" | grep '^\.' || true)" "dot entries in the mount"

# --- dedup: mount-copied content is the content store's, as HTTP's is
for f in "$WORK"/data/team/app/blobs/sha256/*; do
	h=${f##*/}
	assert_eq "$(inode_of "$(store_blob_file "sha256:$h")")" "$(inode_of "$f")" \
		"blob $h is not linked to the content store"
done
push_layout http/app v1 "$IMG"
for b in $(jq -r '.config.digest, .layers[].digest' "$IMG/blobs/sha256/${D1#sha256:}") "$D1"; do
	assert_eq "$(inode_of "$(repo_blob_file team/app "$b")")" \
		"$(inode_of "$(repo_blob_file http/app "$b")")" \
		"$b: mount copy and HTTP push are not one file"
done
L=$(jq -r '.layers[0].digest' "$IMG/blobs/sha256/${D1#sha256:}")
assert_eq 3 "$(nlinks_of "$(repo_blob_file team/app "$L")")" "links of a shared layer"
# A blob's attributes are cached for a second (its pages far longer), so
# a link added over HTTP shows in the link count once that expired.
for ((i = 0; i < 600; i++)); do
	[ "$(nlinks_of "$MNT/team/app/blobs/sha256/${L#sha256:}")" = 3 ] && break
	sleep 0.1
done
assert_eq 3 "$(nlinks_of "$MNT/team/app/blobs/sha256/${L#sha256:}")" \
	"link count through the mount after an HTTP push"

# the other order: pushed over HTTP first, copied in second
IMG3=$WORK/tmp/img3
D3=$("$MKIMAGE" "$IMG3" v3 --layers 2 --layer-size 200000 --seed 43)
push_layout first/http v3 "$IMG3"
mkdir "$MNT/then"
assert_true "cp -r of an already-pushed image failed" cp -r "$IMG3" "$MNT/then/mount"
assert_eq "$D3" "$(http_digest then/mount v3)" "v3 copied after the push"
for b in $(jq -r '.config.digest, .layers[].digest' "$IMG3/blobs/sha256/${D3#sha256:}"); do
	assert_eq "$(inode_of "$(repo_blob_file first/http "$b")")" \
		"$(inode_of "$(repo_blob_file then/mount "$b")")" "$b pushed then copied"
done

# --- cp -r layout/. into an existing repository adds to it
cp -r "$IMG" "$WORK/tmp/plus"
D4=$("$MKIMAGE" "$WORK/tmp/plus" v4 --layers 1 --layer-size 5000 --seed 44)
assert_true "cp -r layout/. into an existing repository failed" \
	cp -r "$WORK/tmp/plus/." "$MNT/team/app/"
assert_eq "$D4" "$(http_digest team/app v4)" "added tag v4"
assert_eq "$D1" "$(http_digest team/app v1)" "v1 after adding v4"
pull_verify team/app v4
assert_eq "v1 v2 v4" "$(layout_tags "$MNT/team/app" | tr '\n' ' ' | sed 's/ $//')" \
	"tags after adding"

# --- an image index publishes with its child manifests
DI=$("$MKIMAGE" "$WORK/tmp/idx" multi --index --layers 2 --layer-size 10000 --seed 45)
assert_true "cp -r of an image index layout failed" cp -r "$WORK/tmp/idx" "$MNT/team/multi"
assert_eq "$DI" "$(http_digest team/multi multi)" "image index over HTTP"
pull_verify team/multi multi

# --- a nested name, and a layout copied with cp -a (modes, times kept)
assert_true "mkdir -p of plain directories failed" mkdir -p "$MNT/a/b"
assert_true "cp -a failed" cp -a "$IMG3" "$MNT/a/b/c"
assert_eq "$D3" "$(http_digest a/b/c v3)" "nested repository copied with cp -a"

assert_eq "a/b/c first/http http/app team/app team/multi then/mount" \
	"$(check_all_layouts "$WORK/data" | tr '\n' ' ' | sed 's/ $//')" "layouts at the end"
dray_stop
assert_true "mount left after SIGTERM" bash -c "! grep -q ' $MNT fuse' /proc/mounts"
pass
