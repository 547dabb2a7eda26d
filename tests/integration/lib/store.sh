# SPDX-License-Identifier: Apache-2.0
# lib/store.sh - storage configs, the offline CLI, and layouts made by hand.
# Sourced by lib.sh; not run on its own.
# (added for the index/dedup/GC/scrub cases)

# dray_config_ext FILE [STORAGE_LINE...] [-- TOP_LEVEL_YAML]: write a
# config like dray_config's to FILE ($CFG is the daemon's), each
# STORAGE_LINE ("gcDelay: 5s", "dedupe: false") added to the storage
# section, and TOP_LEVEL_YAML (e.g. an extensions: section) appended.
dray_config_ext() {
	local file=$1 top=
	shift
	{
		printf 'distSpecVersion: 1.1.0\nhttp:\n  address: 127.0.0.1\n  port: 0\n'
		# Lines for the http section ("  accessControl: ..."), if any.
		[ -z "${HTTP_EXTRA:-}" ] || printf '%s\n' "$HTTP_EXTRA"
		printf 'storage:\n  rootDirectory: %s\n' "$WORK/data"
		while [ $# -gt 0 ]; do
			if [ "$1" = -- ]; then
				top=${2:-}
				break
			fi
			printf '  %s\n' "$1"
			shift
		done
		printf 'log:\n  level: debug\n  output: %s\n' "$DAEMON_LOG"
		if [ -n "$top" ]; then
			printf '%s\n' "$top"
		fi
	} >"$file"
}

# dray_start_cfg [STORAGE_LINE...] [-- TOP_LEVEL_YAML]: rewrite $CFG with
# dray_config_ext and start the daemon on it.
dray_start_cfg() {
	dray_config_ext "$CFG" "$@"
	dray_start
}

# dray_cli ARGS...: run `$DRAY_BIN ARGS...` (an offline command such as
# gc/scrub/fsck, with its config path among ARGS), with no time limit (a
# loaded machine is slow, not broken; a hang is ctest's timeout);
# stdout+stderr in $CLI_OUT, exit status in $CLI_RC; both logged to
# logs/cli.log.
dray_cli() {
	CLI_RC=0
	CLI_OUT=$("$DRAY_BIN" "$@" 2>&1) || CLI_RC=$?
	printf '+ dray %s (exit %s)\n%s\n' "$*" "$CLI_RC" "$CLI_OUT" \
		>>"$WORK/logs/cli.log"
}

# assert_cli_rc CODE MESSAGE: the last dray_cli exited with CODE.
assert_cli_rc() {
	ASSERTS=$((ASSERTS + 1))
	[ "$CLI_RC" = "$1" ] ||
		fail "$2: dray exited $CLI_RC, expected $1; output: $(printf '%s' "$CLI_OUT" | tail -n 15)"
}

inode_of() {
	stat -c %i "$1"
}

nlinks_of() {
	stat -c %h "$1"
}

# The file of blob DIGEST in repository REPO of the storage root.
repo_blob_file() {
	printf '%s/%s/blobs/%s/%s' "$WORK/data" "$1" "${2%%:*}" "${2#*:}"
}

# The content store's copy of blob DIGEST.
store_blob_file() {
	printf '%s/.dray/blobs/%s/%s' "$WORK/data" "${1%%:*}" "${1#*:}"
}

# layout_manifest_digest DIR TAG: digest of TAG in layout DIR's index.json.
layout_manifest_digest() {
	jq -r --arg t "$2" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t) |
		.digest' "$1/index.json" | head -n 1
}

# push_layout REPO TAG DIR: push image (or one-level image index) TAG of
# OCI layout DIR (e.g. made by mkimage) over HTTP: every blob with
# push_blob, child manifests by digest, then the tagged manifest. Sets
# MANIFEST_DIGEST.
push_layout() {
	local repo=$1 tag=$2 dir=$3 d mt f child cmt
	d=$(layout_manifest_digest "$dir" "$tag")
	[ -n "$d" ] || fail "push_layout: no tag $tag in $dir"
	f=$dir/blobs/${d%%:*}/${d#*:}
	mt=$(jq -r '.mediaType' "$f")
	if [ "$mt" = "$MT_OCI_INDEX" ] || [ "$mt" = "$MT_DOCKER_LIST" ]; then
		for child in $(jq -r '.manifests[].digest' "$f"); do
			local cf=$dir/blobs/${child%%:*}/${child#*:}
			local b
			for b in $(jq -r '.config.digest, .layers[].digest' "$cf"); do
				push_blob "$repo" "$dir/blobs/${b%%:*}/${b#*:}" "$b"
			done
			cmt=$(jq -r '.mediaType' "$cf")
			push_manifest "$repo" "$child" "$cf" "$cmt"
		done
	else
		local b
		for b in $(jq -r '.config.digest, .layers[].digest' "$f"); do
			push_blob "$repo" "$dir/blobs/${b%%:*}/${b#*:}" "$b"
		done
	fi
	push_manifest "$repo" "$tag" "$f" "$mt"
	MANIFEST_DIGEST=$d
}

# pull_verify REPO REF: GET manifest REF of REPO and every blob it names
# (through one level of index), each answered 200 and hashing to its
# digest. Fails the case otherwise.
pull_verify() {
	local repo=$1 ref=$2 d mt man=$WORK/tmp/pull_verify.$$ c
	req GET "/v2/$repo/manifests/$ref" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
	d=$(hdr Docker-Content-Digest) || fail "no Docker-Content-Digest for $repo:$ref"
	assert_body_digest "$d"
	cp "$RESP/body" "$man"
	mt=$(jq -r '.mediaType // ""' "$man")
	if [ "$mt" = "$MT_OCI_INDEX" ] || [ "$mt" = "$MT_DOCKER_LIST" ]; then
		for c in $(jq -r '.manifests[].digest' "$man"); do
			pull_verify "$repo" "$c"
		done
		return 0
	fi
	for c in $(jq -r '(.config.digest // empty), (.layers[]?.digest)' "$man"); do
		req GET "/v2/$repo/blobs/$c"
		assert_status 200
		assert_body_digest "$c"
	done
}


# dray_tty ARGS...: dray_cli on a terminal: `$DRAY_BIN ARGS...` under
# script(1)'s pseudo-terminal (stdout and stderr both on it); what the
# terminal received (\r, escapes and all) in $TTY_OUT, exit status in
# $CLI_RC; logged to logs/cli.log.
dray_tty() {
	local ts=$WORK/tmp/typescript cmd
	cmd=$(printf '%q ' "$DRAY_BIN" "$@")
	CLI_RC=0
	timeout 600 script -qec "$cmd" "$ts" </dev/null >/dev/null 2>&1 || CLI_RC=$?
	TTY_OUT=$(cat "$ts")
	printf '+ (tty) dray %s (exit %s)\n%s\n' "$*" "$CLI_RC" "$TTY_OUT" \
		>>"$WORK/logs/cli.log"
}
