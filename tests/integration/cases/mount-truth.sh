#!/bin/bash
# mount-truth.sh - the mount never answers 0 for a change it did not make
# (issue 9, item 5). chmod and chown of a blob or index.json are refused
# with EPERM (asking for what is shown already succeeds); touch works and
# changes nothing; `>>` onto a blob is refused at open (EPERM) and a write
# past the size a blob's digest has is refused at that write (EFBIG);
# where only close can know (`echo '{bad' > index.json`, `echo x >
# <digest>`, which the shell reports as success), close fails and
# user.dray.status on the file (or, for a name that never came to be, on
# the repository directory) says why. HTTP sees nothing change.
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage
command -v getfattr >/dev/null || fail "getfattr (package attr) is missing"

# expect_refused ERRTEXT WHAT CMD...: CMD fails and says ERRTEXT
expect_refused() {
	local want=$1 what=$2 rc=0
	shift 2
	"$@" 2>"$WORK/tmp/err" || rc=$?
	assert_ne 0 "$rc" "$what succeeded"
	assert_true "$what: '$want' not in: $(cat "$WORK/tmp/err")" \
		grep -q "$want" "$WORK/tmp/err"
}

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 1 --layer-size 50000 --seed 61 >/dev/null
D1=$(layout_manifest_digest "$WORK/tmp/img" v1)
dray_start_mount
push_layout team/app v1 "$WORK/tmp/img"
R=$MNT/team/app
L=$(jq -r '.layers[0].digest' "$WORK/tmp/img/blobs/sha256/${D1#sha256:}")
B=$R/blobs/sha256/${L#sha256:}
SIZE=$(stat -c %s "$B")
cp "$R/index.json" "$WORK/tmp/index.json"
MODE=$(stat -c %a "$B")

# --- chmod, chown: refused when they would change something
expect_refused "Operation not permitted" "chmod 600 of a blob" chmod 600 "$B"
expect_refused "Operation not permitted" "chmod 600 of index.json" chmod 600 "$R/index.json"
expect_refused "Operation not permitted" "chown of index.json" chown 12345:12345 "$R/index.json"
expect_refused "Operation not permitted" "chgrp of a blob" chgrp 12345 "$B"
assert_eq "$MODE" "$(stat -c %a "$B")" "a blob's mode after a refused chmod"
assert_true "chmod to the mode shown failed" chmod "$MODE" "$B"
assert_true "chown to the owner shown failed" \
	chown "$(stat -c %u:%g "$R/index.json")" "$R/index.json"

# --- touch: works, changes nothing
assert_true "touch index.json failed" touch "$R/index.json"
assert_true "touch of a blob failed" touch "$B"
assert_true "touch -d of a blob failed" touch -d '2001-01-01' "$B"
assert_true "touch changed index.json" cmp -s "$WORK/tmp/index.json" "$R/index.json"
assert_eq "$L" "sha256:$(sha256sum <"$B" | cut -d' ' -f1)" "blob after touch"

# --- refused at the first call that can know
expect_refused "Operation not permitted" "appending to a blob" \
	bash -c "echo more >>'$B'"
expect_refused "File too large" "writing past a blob's size" \
	bash -c "head -c $((SIZE + 1)) /dev/zero >'$B'"
assert_eq "$L" "sha256:$(sha256sum <"$B" | cut -d' ' -f1)" "blob after refused writes"

# --- only close can know: the shell says 0, the status says why
assert_eq NONE "$(status_of "$R/index.json")" "index.json's status before"
echo '{bad' >"$R/index.json" # bash ignores close()'s error
assert_true "a broken index.json replaced the old one" \
	cmp -s "$WORK/tmp/index.json" "$R/index.json"
S=$(status_of "$R/index.json")
assert_true "index.json's status does not say why: $S" \
	grep -q "^refused: index.json is not a valid image index" <<<"$S"
echo x >"$B"
assert_eq "$L" "sha256:$(sha256sum <"$B" | cut -d' ' -f1)" "blob after echo x >"
S=$(status_of "$B")
assert_true "the blob's status does not say why: $S" \
	grep -q "^refused: content hashes to" <<<"$S"
NEW=$(printf 'no such content' | sha256sum | cut -d' ' -f1)
echo x >"$R/blobs/sha256/$NEW"
assert_true "a blob under a wrong name appeared" test ! -e "$R/blobs/sha256/$NEW"
S=$(status_of "$R")
assert_true "the repository's status does not name the refused blob: $S" \
	grep -q "^blobs/sha256/$NEW: refused: content hashes to" <<<"$S"
assert_true "the repository's status lost its state: $S" \
	grep -q "^state: published" <<<"$S"
# a good write afterwards clears it
cp "$WORK/tmp/index.json" "$R/index.json"
assert_eq NONE "$(status_of "$R/index.json")" "index.json's status after a good write"

# --- HTTP saw nothing change
assert_eq "v1" "$(tags_of team/app)" "tags"
assert_eq "$D1" "$(http_digest team/app v1)" "v1"
pull_verify team/app v1
check_layout "$WORK/data/team/app"

dray_stop
pass
