#!/bin/bash
# mount-posix.sh - the mount behaves like a file system: a layout
# published with rsync -a (temporaries renamed onto their names) and with
# cp then mv reads back right through the mount (every blob hashes to its
# name) and over HTTP (skopeo inspect, a full pull); a name renamed onto
# keeps its content when the temporary's name is written again; a blob
# linked into two repositories shows one inode number (the stored
# file's), so du and find -samefile see the dedup; df reports the storage
# file system; a reader keeps its open blob while HTTP deletes it; a file
# opened for writing without O_TRUNC starts from its content.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage
need_rsync

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 3 --layer-size 300000 --seed 61 >/dev/null
"$MKIMAGE" "$WORK/tmp/big" v1 --layers 1 --layer-size 24000000 --seed 62 >/dev/null
D1=$(layout_manifest_digest "$WORK/tmp/img" v1)
DB=$(layout_manifest_digest "$WORK/tmp/big" v1)

dray_start_mount

# every_blob_hashes DIR: each blob file read through the mount hashes to
# its name.
every_blob_hashes() {
	local f n=0
	for f in "$1"/blobs/sha256/*; do
		assert_eq "${f##*/}" "$(sha256sum <"$f" | cut -d' ' -f1)" \
			"sha256sum of $f through the mount"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "no blobs under $1"
}

# --- rsync -a: every blob arrives by rename and reads back at once
assert_true "rsync -a into the mount failed" \
	rsync -a "$WORK/tmp/img/" "$MNT/r1/"
every_blob_hashes "$MNT/r1"
assert_eq "$D1" "$(http_digest r1 v1)" "digest of r1:v1 over HTTP"
pull_verify r1 v1
assert_true "skopeo cannot inspect the rsynced image" \
	skopeo inspect --tls-verify=false "docker://127.0.0.1:$PORT/r1:v1"

# --- cp then mv, file by file, with a temporary name that is reused
mkdir -p "$MNT/r2/blobs/sha256"
prev=
for f in "$WORK"/tmp/img/blobs/sha256/*; do
	assert_true "cp to a temporary failed" cp "$f" "$MNT/r2/blobs/sha256/.t"
	assert_true "mv onto ${f##*/} failed" mv "$MNT/r2/blobs/sha256/.t" "$MNT/r2/blobs/sha256/${f##*/}"
	assert_true "cat of ${f##*/} after the rename failed" \
		cat "$MNT/r2/blobs/sha256/${f##*/}" >/dev/null
	if [ -n "$prev" ]; then # the name before still reads its own bytes
		assert_eq "$prev" "$(sha256sum <"$MNT/r2/blobs/sha256/$prev" | cut -d' ' -f1)" \
			"blob renamed before .t was written again"
	fi
	prev=${f##*/}
done
cp "$WORK/tmp/img/index.json" "$MNT/r2/.i" && mv "$MNT/r2/.i" "$MNT/r2/index.json"
cp "$WORK/tmp/img/oci-layout" "$MNT/r2/.o" && mv "$MNT/r2/.o" "$MNT/r2/oci-layout"
every_blob_hashes "$MNT/r2"
assert_eq "$D1" "$(http_digest r2 v1)" "digest of r2:v1 over HTTP"
pull_verify r2 v1

# --- a pending index.json renamed from tmp, then tmp written again: the
# name shows what the layout holds, not the temporary's new bytes
jq --arg d "$DB" '.manifests += [{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":$d,"size":1,"annotations":{"org.opencontainers.image.ref.name":"v2"}}]' \
	"$MNT/r1/index.json" >"$MNT/r1/tmp"
assert_true "mv tmp index.json failed" mv "$MNT/r1/tmp" "$MNT/r1/index.json"
echo '{"not":"an index"}' >"$MNT/r1/tmp"
assert_true "index.json read through the mount differs from the layout's" \
	cmp "$MNT/r1/index.json" "$WORK/data/r1/index.json"
rm -f "$MNT/r1/tmp"

# --- inode numbers are the stored file's: shared across repositories
L=$(jq -r '.layers[0].digest' "$WORK/tmp/img/blobs/sha256/${D1#sha256:}")
L=${L#sha256:}
assert_eq "$(inode_of "$WORK/data/r1/blobs/sha256/$L")" \
	"$(inode_of "$MNT/r1/blobs/sha256/$L")" "inode of a blob through the mount"
assert_eq "$(inode_of "$MNT/r1/blobs/sha256/$L")" \
	"$(inode_of "$MNT/r2/blobs/sha256/$L")" "inode of one blob in two repositories"
assert_eq 2 "$(find "$MNT" -samefile "$MNT/r1/blobs/sha256/$L" | wc -l)" \
	"find -samefile through the mount"
assert_eq "$(du -sbc "$WORK/data/r1" "$WORK/data/r2" | tail -1 | cut -f1)" \
	"$(du -sbc "$MNT/r1" "$MNT/r2" | tail -1 | cut -f1)" "du -sb of two repositories"

# --- df: the storage file system's figures
read -r mb mt mi <<<"$(stat -f -c '%S %b %c' "$MNT")"
read -r db dt di <<<"$(stat -f -c '%S %b %c' "$WORK/data")"
assert_eq "$db $dt $di" "$mb $mt $mi" "block size, blocks and inodes of the mount"
assert_true "df of the mount shows no space available" \
	test "$(stat -f -c '%a' "$MNT")" -gt 0

# --- copy-on-write starts from the content
printf 'a\n' >"$MNT/r1/notes"
printf 'b\n' >>"$MNT/r1/notes"
assert_eq "$(printf 'a\nb')" "$(cat "$MNT/r1/notes")" "a temporary appended to"
rm -f "$MNT/r1/notes"
f=$MNT/r1/blobs/sha256/$L
assert_true "rewriting a blob's first block in place failed" \
	dd if="$WORK/tmp/img/blobs/sha256/$L" of="$f" bs=4096 count=1 conv=notrunc status=none
assert_eq "$L" "$(sha256sum <"$f" | cut -d' ' -f1)" "blob after an in-place rewrite"
assert_true "appending a newline to index.json failed" \
	bash -c "echo >>'$MNT/r2/index.json'"
assert_eq "$D1" "$(http_digest r2 v1)" "digest of r2:v1 after the append"
# (dd reports close(); a shell's redirection does not)
assert_true "an append to a blob was accepted" \
	bash -c "! echo | dd of='$f' oflag=append conv=notrunc status=none 2>/dev/null"
assert_eq "$L" "$(sha256sum <"$f" | cut -d' ' -f1)" "blob after a refused append"

# --- a reader keeps its open blob while HTTP deletes it
push_layout big v1 "$WORK/tmp/big"
BL=$(jq -r '.layers[0].digest' "$WORK/tmp/big/blobs/sha256/${DB#sha256:}")
(
	dd bs=1M count=8 iflag=fullblock status=none
	touch "$WORK/tmp/half"
	while [ ! -e "$WORK/tmp/deleted" ]; do sleep 0.1; done
	cat
) <"$MNT/big/blobs/sha256/${BL#sha256:}" | sha256sum | cut -d' ' -f1 >"$WORK/tmp/read.sum" &
RD=$!
while [ ! -e "$WORK/tmp/half" ]; do
	kill -0 "$RD" 2>/dev/null || break
	sleep 0.1
done
req DELETE "/v2/big/manifests/$DB"
assert_status 202
req DELETE "/v2/big/blobs/$BL"
assert_status 202
# Past the attributes' cache time, so the reader's next read asks again.
sleep 2
touch "$WORK/tmp/deleted"
wait "$RD"
assert_eq "${BL#sha256:}" "$(cat "$WORK/tmp/read.sum")" "what the reader read"

dray_stop
! is_mounted || fail "the mount stayed after SIGTERM"

# --- fuse.readOnly: reads as before; every change is EROFS; HTTP pushes
# still land and show
dray_start_mount -- "  readOnly: true"
push_layout ro v1 "$WORK/tmp/big"
R=$MNT/ro
assert_eq "$(cat "$WORK/tmp/big/index.json")" "$(cat "$R/index.json")" \
	"index.json of an HTTP push, read from a read-only mount"
erofs() { # WHAT CMD...: CMD fails with "Read-only file system"
	local what=$1 out
	shift
	out=$("$@" 2>&1) && fail "$what succeeded on a read-only mount"
	assert_true "$what: not EROFS: $out" grep -q "Read-only file system" <<<"$out"
}
erofs "creating a file" touch "$R/NOTES"
erofs "mkdir" mkdir "$MNT/newrepo"
erofs "rm of index.json" rm -f "$R/index.json"
erofs "rmdir" rmdir "$R/blobs"
erofs "mv" mv "$R/index.json" "$R/index.json.old"
erofs "writing index.json" dd if=/dev/null of="$R/index.json" status=none
assert_eq "$(cat "$WORK/tmp/big/index.json")" "$(cat "$R/index.json")" \
	"index.json after the refused changes"
pull_verify ro v1
dray_stop
pass
