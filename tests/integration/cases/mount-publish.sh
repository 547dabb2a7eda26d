#!/bin/bash
# mount-publish.sh - publishing by copying an OCI layout into the mount:
# `cp -r` of a layout makes a repository that HTTP serves with the same
# digests; a corrupt blob fails at close() with nothing changed; an
# index.json copied before its blobs keeps the repository invisible
# until the last blob arrives; adding a tag to a live repository waits
# for its content; identical rewrites succeed; rm of a manifest deletes
# it and rm of a blob a manifest needs fails; content copied in is
# deduplicated with HTTP pushes (same inode); a SIGKILL in the middle of
# a copy leaves nothing half visible over HTTP.
. "$(dirname "$0")/../lib.sh"
require_dray
need_fuse

dray_start_mount

"$MKIMAGE" "$WORK/tmp/a" v1 --layers 3 --layer-size 200000 --seed 21 >/dev/null
"$MKIMAGE" "$WORK/tmp/b" v2 --layers 2 --layer-size 100000 --seed 22 >/dev/null
A=$(layout_manifest_digest "$WORK/tmp/a" v1)
B=$(layout_manifest_digest "$WORK/tmp/b" v2)

# --- cp -r publishes; HTTP serves the same digests
assert_true "cp -r into the mount failed" cp -r "$WORK/tmp/a" "$MNT/pub"
assert_eq "v1" "$(tags_of pub)" "tags after cp -r"
req GET "/v2/pub/manifests/v1" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$A"
pull_verify pub v1
assert_true "skopeo cannot inspect the copied image" \
	skopeo inspect --tls-verify=false "docker://127.0.0.1:$PORT/pub:v1"
assert_true "layout on disk is invalid" test -f "$WORK/data/pub/oci-layout"

# --- a corrupt blob fails at close and changes nothing
L=$(jq -r '.layers[0].digest' "$WORK/tmp/a/blobs/sha256/${A#sha256:}")
f=$MNT/pub/blobs/sha256/${L#sha256:}
printf 'not the content' >"$WORK/tmp/junk"
assert_true "a corrupt blob was accepted" \
	bash -c "! cp '$WORK/tmp/junk' '$f' 2>'$WORK/tmp/cp.err'"
assert_true "cp did not report the refusal" grep -q "Bad message" "$WORK/tmp/cp.err"
assert_eq "${L#sha256:}" "$(sha256sum <"$f" | cut -d' ' -f1)" "blob after a refused write"
assert_true "a new corrupt blob was stored" \
	bash -c "! cp '$WORK/tmp/junk' '$MNT/pub/blobs/sha256/$(printf x | sha256sum | cut -d' ' -f1)' 2>/dev/null"
assert_eq "" "$(ls "$WORK/data/pub/blobs/sha256" | grep "$(printf x | sha256sum | cut -c1-16)" || true)" \
	"refused blob on disk"
# an identical rewrite succeeds
assert_true "identical rewrite refused" cp "$WORK/tmp/a/blobs/sha256/${L#sha256:}" "$f"

# --- index.json before blobs: invisible until complete
mkdir "$MNT/late" "$MNT/late/blobs" "$MNT/late/blobs/sha256"
cp "$WORK/tmp/b/index.json" "$WORK/tmp/b/oci-layout" "$MNT/late/"
assert_eq "NONE:404" "$(tags_of late)" "repository with index.json only"
blobs=("$WORK"/tmp/b/blobs/sha256/*)
for ((i = 0; i < ${#blobs[@]} - 1; i++)); do
	cp "${blobs[$i]}" "$MNT/late/blobs/sha256/"
	assert_eq "NONE:404" "$(tags_of late)" "repository with $((i + 1)) of ${#blobs[@]} blobs"
	req GET /v2/_catalog
	assert_true "incomplete repository listed" bash -c "! jq -e '.repositories | index(\"late\")' '$RESP/body' >/dev/null"
done
assert_true "the mount shows the incomplete copy" test -f "$MNT/late/index.json"
# The copy's own oci-layout shows in the mount (shutil.copytree sets its
# times after closing it), from staging: not on disk, nothing served.
assert_true "the mount hides the copy's oci-layout" test -e "$MNT/late/oci-layout"
assert_true "an incomplete copy has an oci-layout on disk" \
	test ! -e "$WORK/data/late/oci-layout"
cp "${blobs[-1]}" "$MNT/late/blobs/sha256/"
assert_eq "v2" "$(tags_of late)" "repository once complete"
pull_verify late v2

# --- adding a tag to a live repository waits for its content
jq --arg d "$B" --argjson s "$(stat -c %s "$WORK/tmp/b/blobs/sha256/${B#sha256:}")" \
	'.manifests += [{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":$d,"size":$s,"annotations":{"org.opencontainers.image.ref.name":"v2"}}]' \
	"$WORK/tmp/a/index.json" >"$WORK/tmp/index2.json"
cp "$WORK/tmp/index2.json" "$MNT/pub/index.json"
assert_eq "v1" "$(tags_of pub)" "tags while v2's content is missing"
cp -r "$WORK/tmp/b/blobs/." "$MNT/pub/blobs/"
assert_eq "v1 v2" "$(tags_of pub)" "tags once v2's content arrived"

# --- dedup with HTTP pushes: the same inode
push_layout http-side v1 "$WORK/tmp/a"
assert_eq "$(inode_of "$WORK/data/pub/blobs/sha256/${L#sha256:}")" \
	"$(inode_of "$WORK/data/http-side/blobs/sha256/${L#sha256:}")" \
	"inode of a blob copied in and pushed"
assert_eq "$(inode_of "$WORK/data/pub/blobs/sha256/${L#sha256:}")" \
	"$(inode_of "$WORK/data/.dray/blobs/sha256/${L#sha256:}")" \
	"inode of the content store's copy"

# --- rm: a needed blob fails, a manifest goes with its tags
assert_true "rm of a needed blob succeeded" bash -c "! rm '$f' 2>'$WORK/tmp/rm.err'"
assert_true "rm did not say why" grep -q "busy" "$WORK/tmp/rm.err"
assert_true "rm of a manifest failed" rm "$MNT/late/blobs/sha256/${B#sha256:}"
assert_eq "" "$(tags_of late)" "tags after rm of the manifest"
assert_true "rm of a now unneeded blob failed" \
	rm "$MNT/late/blobs/sha256/$(jq -r '.config.digest' "$WORK/tmp/b/blobs/sha256/${B#sha256:}" | cut -d: -f2)"

# --- SIGKILL during a copy: nothing half visible, the rest still fine
"$MKIMAGE" "$WORK/tmp/big" v1 --layers 4 --layer-size 40000000 --seed 23 >/dev/null
# The kill comes once the copy's directory exists, once its first blob
# reached the disk, and once three had.
for n in 0 1 3; do
	( cp -r "$WORK/tmp/big" "$MNT/killed$n" 2>/dev/null || true ) &
	KCP=$!
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$KCP" 2>/dev/null || break # done already: noted below
		if [ -d "$WORK/data/killed$n" ] &&
			[ "$(find "$WORK/data/killed$n" -path '*/blobs/*' -type f 2>/dev/null | wc -l)" -ge "$n" ]; then
			break
		fi
		sleep 0.05
	done
	dray_kill9
	wait "$KCP" 2>/dev/null || true
	dray_start
	wait_mounted
	# Either the copy finished before the kill and the image is whole,
	# or it did not and HTTP does not know the repository.
	t=$(tags_of "killed$n")
	if [ "$t" = v1 ]; then
		note "the copy finished before the kill after $n blobs"
		pull_verify "killed$n" v1
	else
		assert_eq "NONE:404" "$t" "half-copied repository over HTTP (kill after $n blobs)"
		req GET /v2/_catalog
		assert_true "half-copied repository listed" \
			bash -c "! jq -e '.repositories | index(\"killed$n\")' '$RESP/body' >/dev/null"
	fi
done
pull_verify pub v2
pull_verify pub v1
dray_stop
pass
