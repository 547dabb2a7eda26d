#!/bin/bash
# scrub-corrupt.sh - `dray scrub CONFIG` and extensions.scrub: exit 0 on a
# clean store; after one byte of a stored layer is flipped (a hard link:
# every repository and the content store see the change) it exits 1 and
# names the blob; a blob removed by hand from one layout is reported as a
# dangling reference naming the repository and the blob. Scrub repairs
# nothing: every file is still there, same inode, same (corrupt) bytes,
# index.json untouched. The background scrub of a running daemon
# (extensions.scrub, interval 1s) logs the same problem. Once the byte is
# flipped back and the blob pushed again, scrub exits 0.
. "$(dirname "$0")/../lib.sh"
require_dray "dray scrub and the on-disk layout"
need_mkimage

SRC=$WORK/tmp/src
D=$("$MKIMAGE" "$SRC" v1 --layers 2 --layer-size 50000 --seed 81)
MAN=$SRC/blobs/sha256/${D#sha256:}
LAYER=$(jq -r '.layers[1].digest' "$MAN")
CONFIG=$(jq -r '.config.digest' "$MAN")
LAYER_SRC=$SRC/blobs/sha256/${LAYER#sha256:}
REPOS=(sc/a sc/b sc/c)

dray_start
for r in "${REPOS[@]}"; do
	push_layout "$r" v1 "$SRC"
done
dray_stop

# every file of the root but the index database and the lock (which holds
# the PID of the last opener): inode, size, md5
state() {
	(cd "$WORK/data" && find . \( -path ./.dray/index -o -path ./.dray/lock \) -prune -o -type f \
		-printf '%P %i %s\n' | sort &&
		find . -path ./.dray -prune -o -type f -print0 | sort -z | xargs -0 md5sum)
}
# flip FILE OFFSET: invert one byte in place (the inode stays).
flip() {
	perl -e 'open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!";
		binmode $f; seek($f, $ARGV[1], 0); read($f, my $c, 1) == 1 or die;
		seek($f, $ARGV[1], 0); print $f chr(ord($c) ^ 0xff); close($f) or die' "$1" "$2"
}

# --- clean
dray_cli scrub "$CFG"
assert_cli_rc 0 "scrub of a clean store"
assert_true "scrub reports its count: $CLI_OUT" grep -q 'scrub: [1-9][0-9]* blobs checked, 0 problems' <<<"$CLI_OUT"

# --- one byte flipped in a layer: all links see it
F=$(repo_blob_file sc/a "$LAYER")
INO=$(inode_of "$F")
flip "$F" 1000
for r in "${REPOS[@]}"; do
	assert_eq "$INO" "$(inode_of "$(repo_blob_file "$r" "$LAYER")")" "$r's layer is the same inode"
	assert_true "$r sees the flipped byte" bash -c '! cmp -s "$1" "$2"' _ "$(repo_blob_file "$r" "$LAYER")" "$LAYER_SRC"
done
assert_true "the content store copy sees the flipped byte" bash -c '! cmp -s "$1" "$2"' _ "$(store_blob_file "$LAYER")" "$LAYER_SRC"
BEFORE=$(state)
dray_cli scrub "$CFG"
assert_cli_rc 1 "scrub after a byte was flipped"
assert_true "scrub names the corrupt blob ${LAYER#sha256:}: $CLI_OUT" grep -q "${LAYER#sha256:}" <<<"$CLI_OUT"
assert_true "scrub says why: $CLI_OUT" grep -q "${LAYER#sha256:}.*hashes to" <<<"$CLI_OUT"
assert_true "scrub names nothing else: $CLI_OUT" \
	bash -c '! grep -v -E -e "$1" -e "^scrub: " -e "^[0-9]{4}-[0-9]{2}-[0-9]{2}T" <<<"$2" | grep -q .' _ "${LAYER#sha256:}" "$CLI_OUT"
assert_eq "$BEFORE" "$(state)" "files after scrub (scrub changes nothing)"
for r in "${REPOS[@]}"; do
	assert_true "$r still has the corrupt layer" [ -f "$(repo_blob_file "$r" "$LAYER")" ]
done
assert_true "the content store still has the corrupt layer" [ -f "$(store_blob_file "$LAYER")" ]

# --- a dangling reference: sc/c's config link removed by hand
rm "$(repo_blob_file sc/c "$CONFIG")"
dray_cli scrub "$CFG"
assert_cli_rc 1 "scrub with a dangling reference"
assert_true "scrub names sc/c's missing config: $CLI_OUT" grep -q "sc/c.*${CONFIG#sha256:}" <<<"$CLI_OUT"
assert_true "scrub still names the corrupt layer: $CLI_OUT" grep -q "${LAYER#sha256:}" <<<"$CLI_OUT"
assert_true "the other repositories keep their config" [ -f "$(repo_blob_file sc/a "$CONFIG")" ]

# --- the running daemon's scrub logs it too, and deletes nothing
BEFORE=$(state)
off=$(log_mark)
dray_start_cfg -- "extensions:
  scrub:
    enable: true
    interval: 1s"
wait_log "$off" 'scrub: .* problems' "the background scrub"
NEW=$(tail -n +"$((off + 1))" "$DAEMON_LOG")
assert_true "the background scrub ran" grep -q 'scrub: [0-9]* blobs checked, [1-9][0-9]* problems' <<<"$NEW"
assert_true "the background scrub logs the corrupt blob" grep -q "${LAYER#sha256:}.*hashes to" <<<"$NEW"
assert_true "the background scrub logs the missing config" grep -q "sc/c.*${CONFIG#sha256:}" <<<"$NEW"
assert_alive "after a background scrub"
req GET /v2/sc/a/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
dray_stop
assert_eq "$BEFORE" "$(state)" "files after the background scrub"

# --- repaired by hand: clean again
flip "$F" 1000
assert_true "the layer is whole again" cmp -s "$F" "$LAYER_SRC"
dray_config_ext "$CFG"
dray_start
push_blob sc/c "$SRC/blobs/sha256/${CONFIG#sha256:}" "$CONFIG"
pull_verify sc/c v1
dray_stop
dray_cli scrub "$CFG"
assert_cli_rc 0 "scrub after the repair"
check_all_layouts "$WORK/data" >/dev/null
pass
