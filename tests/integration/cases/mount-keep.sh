#!/bin/bash
# mount-keep.sh - nothing written through the mount disappears (issue 9,
# item 6): files under names that are not layout files (NOTES,
# index.json.bak, an editor's swap files, 4913, index.json~, a file in a
# dot directory) and an index.json edit that still waits for its content
# survive a SIGTERM restart and a kill -9, and are never served over HTTP;
# a temporary written before a crash is renamed onto index.json after
# it; vim edits index.json with its backup dance (4913 probe,
# index.json~, rewrite in place, remove).
. "$(dirname "$0")/../lib.sh"
require_dray "the mount"
need_fuse
need_mkimage
command -v vim >/dev/null || fail "vim is missing (contrib/install-deps.sh --test)"
command -v getfattr >/dev/null || fail "getfattr (package attr) is missing"

NAMES="NOTES index.json.bak .index.json.swp 4913 index.json~ .work/draft"
write_extras() { # DIR: one file per name, each holding its own name
	local n
	mkdir -p "$1/.work"
	for n in $NAMES; do
		printf 'kept: %s\n' "$n" >"$1/$n"
	done
}
check_extras() { # DIR WHEN
	local n
	for n in $NAMES; do
		assert_eq "kept: $n" "$(cat "$1/$n" 2>&1)" "$n $2"
	done
	assert_true "the pending index.json is gone $2" \
		grep -q "^pending: a new index.json waits for" <<<"$(status_of "$MNT/team/wait")"
	assert_eq "v1" "$(tags_of team/wait)" "team/wait's tags $2"
	assert_true "the temporary edit is gone $2" \
		cmp -s "$WORK/tmp/edit.json" "$MNT/team/app/index.json.tmp"
}

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 1 --layer-size 40000 --seed 81 >/dev/null
"$MKIMAGE" "$WORK/tmp/img" v2 --layers 2 --layer-size 40000 --seed 82 >/dev/null
D1=$(layout_manifest_digest "$WORK/tmp/img" v1)
D2=$(layout_manifest_digest "$WORK/tmp/img" v2)

dray_start_mount
push_layout team/app v1 "$WORK/tmp/img"
push_layout team/wait v1 "$WORK/tmp/img"
A=$MNT/team/app
W=$MNT/team/wait

# --- files under other names, an edit waiting for content, a temporary
write_extras "$A"
jq --arg d "$D2" --argjson s "$(stat -c %s "$WORK/tmp/img/blobs/sha256/${D2#sha256:}")" \
	'.manifests += [{mediaType: "application/vnd.oci.image.manifest.v1+json",
	  digest: $d, size: $s,
	  annotations: {"org.opencontainers.image.ref.name": "v2"}}]' \
	"$W/index.json" >"$WORK/tmp/wait.json"
assert_true "writing an index.json that waits failed" cp "$WORK/tmp/wait.json" "$W/index.json"
jq '.manifests[0].annotations["org.opencontainers.image.ref.name"] = "edited"' \
	"$A/index.json" >"$WORK/tmp/edit.json"
cp "$WORK/tmp/edit.json" "$A/index.json.tmp"
check_extras "$A" "before any restart"
req GET "/v2/team/app/blobs/sha256:$(sha256sum <"$A/NOTES" | cut -d' ' -f1)"
assert_status 404

dray_stop
dray_restart_mount
check_extras "$A" "after a SIGTERM restart"

dray_kill9
dray_restart_mount
check_extras "$A" "after kill -9"

# --- the temporary written before the crash lands by rename
assert_true "mv tmp index.json after the crash failed" mv "$A/index.json.tmp" "$A/index.json"
assert_eq "edited" "$(tags_of team/app)" "team/app's tags after the mv"
# --- the waiting edit lands when its content arrives
for b in $(jq -r '.config.digest, .layers[].digest, "'"$D2"'"' \
	"$WORK/tmp/img/blobs/sha256/${D2#sha256:}"); do
	cp "$WORK/tmp/img/blobs/sha256/${b#sha256:}" "$W/blobs/sha256/"
done
assert_eq "v1 v2" "$(tags_of team/wait)" "team/wait's tags once v2's content came"
assert_eq "$D2" "$(http_digest team/wait v2)" "v2 over HTTP"
pull_verify team/wait v2

# --- vim edits index.json (ex mode, as a script would); its swap file
# goes first, or vim stops at the ATTENTION prompt
rm "$A/.index.json.swp" "$A/4913" "$A/index.json~"
vim_edit() { # FROM TO BACKUPCOPY: vim renames tag FROM to TO in team/app
	(cd "$A" && timeout 900 vim -u NONE -i NONE -N -E -s \
		-c "set backupskip= writebackup backupcopy=$3" \
		-c "%s/\"$1\"/\"$2\"/" -c 'wq' index.json) </dev/null ||
		fail "vim (backupcopy=$3) could not write index.json: $(status_of "$A/index.json")"
	assert_eq "$2" "$(tags_of team/app)" "team/app's tags after vim (backupcopy=$3)"
	assert_eq "" "$(cd "$A" && ls -A | grep '4913\|~$\|\.swp$' || true)" \
		"vim's files left (backupcopy=$3)"
}
# the default probes with 4913, tries to rename index.json to
# index.json~ (refused), then copies it there, rewrites, removes it
vim_edit edited byvim auto
# copies to index.json~ and rewrites the same file (the inode it opened
# must be the name's)
vim_edit byvim dance yes
# --- jq . index.json > tmp && mv tmp index.json
jq '.manifests[0].annotations["org.opencontainers.image.ref.name"] = "jq"' \
	"$A/index.json" >"$A/tmp" && mv "$A/tmp" "$A/index.json"
assert_eq "jq" "$(tags_of team/app)" "team/app's tags after jq > tmp && mv"
assert_eq "$D1" "$(http_digest team/app jq)" "the tag jq set"

# --- fsync(2): a write answered ahead and refused after is fsync's error
# (a local file system reports a failed writeback there); a temporary and
# a directory fsync cleanly
before=$(cat "$A/index.json")
out=$(python3 - "$A" <<'PY' 2>&1
import errno, os, sys
d = sys.argv[1]
fd = os.open(d + "/index.json", os.O_WRONLY | os.O_TRUNC)
chunk = b" " * (1 << 20)
for _ in range(64):
    os.write(fd, chunk)
os.write(fd, b"x")  # byte 64 MiB + 1: past what index.json may hold
try:
    os.fsync(fd)
    print("fsync: ok")
except OSError as e:
    print("fsync:", errno.errorcode[e.errno])
try:
    os.close(fd)
    print("close: ok")
except OSError as e:
    print("close:", errno.errorcode[e.errno])
t = os.open(d + "/NOTES.fsync", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(t, b"durable\n")
os.fsync(t)
os.fdatasync(t)
os.close(t)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dfd)
os.close(dfd)
print("temporary and directory: ok")
PY
)
assert_eq "fsync: EFBIG
close: EFBIG
temporary and directory: ok" "$out" "fsync of refused, kept and directory writes"
assert_eq "$before" "$(cat "$A/index.json")" "index.json after the refused write"
assert_eq "durable" "$(cat "$A/NOTES.fsync")" "the fsynced temporary"
rm "$A/NOTES.fsync"

# --- removing what was kept, then the repository
rm -r "$A/.work" "$A/NOTES" "$A/index.json.bak"
assert_eq "" "$(cd "$A" && ls -A | grep -v '^blobs$\|^index.json$\|^oci-layout$' || true)" \
	"names left in team/app"
check_layout "$WORK/data/team/app"
check_layout "$WORK/data/team/wait"
assert_true "rm -r of a repository failed" rm -r "$A"
assert_true "team/app is still in the mount" test ! -e "$A"

dray_stop
pass
