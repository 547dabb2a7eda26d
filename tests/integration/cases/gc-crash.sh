#!/bin/bash
# gc-crash.sh - DESIGN invariants 1 and 6 under SIGKILL during garbage
# collection: a store with much kept content (tagged images in many
# repositories, a tagged image index with untagged children, a referrer)
# and much garbage (untagged manifests pushed over HTTP and written into
# index.json by hand, thousands of loose blobs) is collected by the running
# daemon (gcDelay 0s, gcInterval 1s), and the daemon is SIGKILLed during
# the pass: right after its first removal, after 50, 300 and 800. The
# daemon logs into a pipe that the case reads: once the case stops
# reading, the daemon blocks at its next log line when the pipe is full,
# so the kill lands in the middle of the pass whatever the load.
# After each kill: every index.json parses, `dray scrub` finds no blob that
# fails its digest and no reference to a missing blob, every tag still
# resolves to its manifest over HTTP, and `dray fsck` agrees after the
# restart. At the end a complete pass leaves every tagged image fully
# pullable and every layout valid.
. "$(dirname "$0")/../lib.sh"
require_dray "SIGKILL of dray during GC, dray scrub/fsck"
need_mkimage

NREPOS=10
GARBAGE=120 # loose blobs per repository per round: 1320 (and what the
# rounds before left), well over what a pipe holds of log lines (~450)
# after the 800th removal
CFG_OFF=$WORK/cfg/nogc.yaml
dray_config_ext "$CFG_OFF" "gc: false"
dray_config_ext "$CFG" "gcDelay: 0s" "gcInterval: 1s"
FIFO=$WORK/logs/gc.fifo
CFG_FIFO=$WORK/cfg/gc-fifo.yaml
mkfifo "$FIFO"
sed "s|^  output: .*|  output: $FIFO|" "$CFG" >"$CFG_FIFO"

repo_name() {
	printf 'crash/r%02d' "$1"
}
start_off() { # the daemon without GC (dray_start reads $CFG)
	local CFG=$CFG_OFF
	dray_start
}
start_fifo() { # the daemon with GC, logging into $FIFO (read on fd 3)
	local CFG=$CFG_FIFO
	dray_start
}

# --- kept content, and some garbage pushed over HTTP
start_off
TAGS=$WORK/tmp/tags # "repo tag digest"
: >"$TAGS"
for ((i = 1; i <= NREPOS; i++)); do
	push_image "$(repo_name "$i")" v1 2 1500
	echo "$(repo_name "$i") v1 $MANIFEST_DIGEST" >>"$TAGS"
	if ((i % 4 == 0)); then
		push_image "$(repo_name "$i")" tmp 1 1200 # then untagged
		req DELETE "/v2/$(repo_name "$i")/manifests/tmp"
		assert_status 202
	fi
done
SRC=$WORK/tmp/src
"$MKIMAGE" "$SRC" multi --index --layers 2 --layer-size 4000 --seed 71 >/dev/null
push_layout crash/multi multi "$SRC"
echo "crash/multi multi $MANIFEST_DIGEST" >>"$TAGS"
SUBJ=$(awk '$1 == "crash/r01" { print $3 }' "$TAGS")
mkdir -p "$WORK/tmp/ref"
printf '{}' >"$WORK/tmp/ref/empty"
printf 'signature' >"$WORK/tmp/ref/sig"
push_blob crash/r01 "$WORK/tmp/ref/empty"
push_blob crash/r01 "$WORK/tmp/ref/sig"
req GET "/v2/crash/r01/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
cp "$RESP/body" "$WORK/tmp/ref/subject"
mkmanifest "$WORK/tmp/ref/m.json" "$(desc "$MT_OCI_EMPTY" "$WORK/tmp/ref/empty")" \
	"$(desc application/octet-stream "$WORK/tmp/ref/sig")" -- \
	"$(jq -cn --argjson s "$(desc "$MT_OCI_MANIFEST" "$WORK/tmp/ref/subject")" \
		'{artifactType: "application/vnd.example.sig", subject: $s}')"
REFERRER=$(digest_of "$WORK/tmp/ref/m.json")
push_manifest crash/r01 "$REFERRER" "$WORK/tmp/ref/m.json" "$MT_OCI_MANIFEST"
assert_eq "$SUBJ" "$(digest_of "$WORK/tmp/ref/subject")" "subject digest"
dray_stop

# add_garbage SEED: GARBAGE loose blobs in every repository, and in every
# third one an untagged manifest (naming two of them) added to index.json
# by hand. The daemon is stopped.
add_garbage() {
	local seed=$1 r d s
	perl -MDigest::SHA=sha256_hex -e '
		my ($root, $n, $seed, @repos) = @ARGV;
		my $k = 0;
		for my $r (@repos) {
			my @made;
			for my $i (1 .. $n) {
				my $c = "garbage $seed $r $i " x (1 + $i % 7);
				my $h = sha256_hex($c);
				open(my $f, ">", "$root/$r/blobs/sha256/$h") or die "$r: $!";
				print $f $c;
				close($f) or die;
				push @made, [$h, length($c)];
			}
			next if $k++ % 3;
			my $m = sprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\",\"size\":%d},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\",\"size\":%d}]}",
				$made[0][0], $made[0][1], $made[1][0], $made[1][1]);
			my $h = sha256_hex($m);
			open(my $f, ">", "$root/$r/blobs/sha256/$h") or die;
			print $f $m;
			close($f) or die;
			printf("%s sha256:%s %d\n", $r, $h, length($m));
		}' "$WORK/data" "$GARBAGE" "$seed" $(cut -d' ' -f1 "$TAGS" | sort -u) >"$WORK/tmp/hand-manifests"
	while read -r r d s; do
		jq -c --arg d "$d" --argjson s "$s" \
			'.manifests += [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s}]' \
			"$WORK/data/$r/index.json" >"$WORK/tmp/ij" || fail "jq on $r/index.json"
		mv "$WORK/tmp/ij" "$WORK/data/$r/index.json"
	done <"$WORK/tmp/hand-manifests"
}

# verify_store WHAT: the checks after a kill (daemon stopped on entry and
# on return).
verify_store() {
	local what=$1 repo tag d
	ASSERTS=$((ASSERTS + 1))
	find "$WORK/data" -path "$WORK/data/.dray" -prune -o -name index.json -print0 |
		xargs -0 jq -e '.schemaVersion == 2 and (.manifests | type == "array")' >/dev/null ||
		fail "$what: an index.json does not parse"
	dray_cli scrub "$CFG_OFF"
	assert_cli_rc 0 "$what: dray scrub (no blob fails its digest, no reference dangles)"
	start_off
	assert_manifests_each "$TAGS" "$what" -H "Accept: $ACCEPT_MANIFESTS"
	req GET "/v2/crash/r01/referrers/$SUBJ"
	assert_status 200
	assert_json "any(.manifests[]; .digest == \"$REFERRER\")" "$what: the referrer survives"
	dray_stop
	dray_cli fsck "$CFG_OFF"
	assert_cli_rc 0 "$what: dray fsck after the restart"
}

MID_GC=0
# round NAME N: garbage in, start with GC, read the log until N removals
# are logged, then SIGKILL (the daemon is held in its pass meanwhile: it
# cannot log the rest of it into the unread pipe).
round() {
	local name=$1 n=$2 off line seen=0
	add_garbage "$name"
	off=$(wc -l <"$DAEMON_LOG")
	exec 3<>"$FIFO" # before the daemon opens it: its open never blocks
	start_fifo
	while [ "$seen" -lt "$n" ]; do
		IFS= read -r -t 120 line <&3 ||
			fail "round $name: $seen removals logged, no log line for 120 s"
		printf '%s\n' "$line" >>"$DAEMON_LOG"
		case $line in
		*'is unreferenced'*) seen=$((seen + 1)) ;;
		esac
	done
	dray_kill9
	# The writer is dead: what the pipe holds is all there is.
	while IFS= read -r -t 0.2 line <&3; do
		printf '%s\n' "$line" >>"$DAEMON_LOG"
	done
	exec 3<&-
	if tail -n +"$((off + 1))" "$DAEMON_LOG" | grep -q 'gc: [0-9]* tags'; then
		log "  round $name: the pass had finished before the kill"
	else
		MID_GC=$((MID_GC + 1))
		log "  round $name: killed during the pass ($(tail -n +"$((off + 1))" "$DAEMON_LOG" | grep -c 'is unreferenced') removals logged)"
	fi
	verify_store "round $name"
}

log "  setup done at $((SECONDS - T_START))s"
round first 1
round soon 50
round later 300
round late 800
log "  rounds done at $((SECONDS - T_START))s"
assert_eq 4 "$MID_GC" "SIGKILLs that landed during a GC pass"

# --- a complete pass now: the garbage goes, everything tagged stays
off=$(wc -l <"$DAEMON_LOG")
dray_start
wait_log_follow "$off" 'gc: [0-9]* tags' "a complete GC pass"
assert_true "a complete GC pass ran" bash -c "tail -n +$((off + 1)) '$DAEMON_LOG' | grep -q 'gc: [0-9]* tags'"
dray_stop
start_off
while read -r repo tag d; do
	pull_verify "$repo" "$tag"
done <"$TAGS"
dray_stop
check_all_layouts "$WORK/data" >"$WORK/tmp/repos"
assert_eq $((NREPOS + 1)) "$(wc -l <"$WORK/tmp/repos")" "repositories after the crashes"
LEFT=$(find "$WORK/data" -path "$WORK/data/.dray" -prune -o -type f -path '*/blobs/sha256/*' -print0 |
	xargs -0 grep -l '^garbage ' 2>/dev/null | wc -l || true)
assert_eq 0 "$LEFT" "loose garbage blobs left after a complete pass"
dray_cli scrub "$CFG_OFF"
assert_cli_rc 0 "final scrub"
dray_cli fsck "$CFG_OFF"
assert_cli_rc 0 "final fsck"
pass
