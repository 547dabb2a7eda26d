#!/bin/bash
# concurrent-same-blob.sh - "If process A and B upload the same layer at
# the same time, both operations will proceed and the first to complete
# will be stored" (Use Cases, Layer Upload De-duplication): 8 clients push
# one 4 MiB blob into one repository at once (POST+PUT, released together
# from a barrier): all get 201, the blob is stored once and intact. Then
# the same into 8 repositories, the same with chunked uploads, and
# concurrent manifest PUTs: 8 different tags at once (no tag lost from
# index.json) and 8 manifests racing for one tag (one wins, every one
# stays pullable by digest).
. "$(dirname "$0")/../lib.sh"

dray_start
N=8
SIZE=$((4 << 20))
mkblob "$WORK/tmp/blob" "$SIZE"
D=$(digest_of "$WORK/tmp/blob")
BAR=$WORK/tmp/barrier

# client KIND ID REPO: one pusher; writes "<status> <digest-header>" to
# $BAR/result.ID. Waits for $BAR/go between starting and finishing.
client() {
	local kind=$1 id=$2 repo=$3 loc st dh i
	loc=$(curl -sS --max-time 120 -X POST -H 'Content-Length: 0' -D - -o /dev/null \
		"$URL/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	[ -n "$loc" ] || {
		echo "no-location" >"$BAR/result.$id"
		return
	}
	case $loc in /*) loc=$URL$loc ;; esac
	touch "$BAR/ready.$id"
	for ((i = 0; i < 2400; i++)); do
		[ -e "$BAR/go" ] && break
		sleep 0.05
	done
	[ -e "$BAR/go" ] || {
		echo "no-go" >"$BAR/result.$id"
		return
	}
	if [ "$kind" = chunked ]; then
		st=$(curl -sS --max-time 120 -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
			-H "Content-Range: 0-$((SIZE / 2 - 1))" --data-binary "@$WORK/tmp/half1" \
			-D "$BAR/h.$id" -o /dev/null -w '%{http_code}' "$loc") || st=000
		if [ "$st" != 202 ]; then
			echo "patch-$st" >"$BAR/result.$id"
			return
		fi
		loc=$(tr -d '\r' <"$BAR/h.$id" | sed -n 's/^[Ll]ocation: //p')
		case $loc in /*) loc=$URL$loc ;; esac
		case $loc in *\?*) loc="$loc&digest=$D" ;; *) loc="$loc?digest=$D" ;; esac
		st=$(curl -sS --max-time 120 -X PUT -H 'Expect:' -H 'Content-Type: application/octet-stream' \
			-H "Content-Range: $((SIZE / 2))-$((SIZE - 1))" --data-binary "@$WORK/tmp/half2" \
			-D "$BAR/h.$id" -o /dev/null -w '%{http_code}' "$loc") || st=000
	else
		case $loc in *\?*) loc="$loc&digest=$D" ;; *) loc="$loc?digest=$D" ;; esac
		st=$(curl -sS --max-time 120 -X PUT -H 'Expect:' -H 'Content-Type: application/octet-stream' \
			--data-binary "@$WORK/tmp/blob" -D "$BAR/h.$id" -o /dev/null -w '%{http_code}' \
			"$loc") || st=000
	fi
	dh=$(tr -d '\r' <"$BAR/h.$id" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
	echo "$st $dh" >"$BAR/result.$id"
}

# race KIND REPO-PATTERN: run N clients (REPO-PATTERN may use %d for the
# client id), release them together, assert every one got 201 with the
# right digest.
race() {
	local kind=$1 pat=$2 i n
	rm -rf "$BAR"
	mkdir -p "$BAR"
	BG_PIDS=()
	for ((i = 0; i < N; i++)); do
		# shellcheck disable=SC2059
		bg client "$kind" "$i" "$(printf "$pat" "$i")"
	done
	for ((n = 0; n < 1200; n++)); do
		[ "$(find "$BAR" -name 'ready.*' | wc -l)" -ge "$N" ] && break
		[ "$(find "$BAR" -name 'result.*' | wc -l)" -ge 1 ] && break
		sleep 0.05
	done
	touch "$BAR/go"
	for i in "${BG_PIDS[@]}"; do
		wait "$i" || true
	done
	BG_PIDS=()
	for ((i = 0; i < N; i++)); do
		assert_eq "201 $D" "$(cat "$BAR/result.$i" 2>/dev/null || echo missing)" \
			"client $i ($kind) status and Docker-Content-Digest"
	done
}

# --- 8 monolithic pushes of one blob into one repository
race mono same/repo
req GET "/v2/same/repo/blobs/$D"
assert_status 200
assert_body_digest "$D"
assert_content_length "$SIZE"
if dray_only "stored once"; then
	check_layout "$WORK/data/same/repo"
	# Dedupe may hard-link the blob elsewhere under the root: count inodes.
	assert_eq 1 "$(find "$WORK/data" -type f -size "${SIZE}c" -printf '%i\n' | sort -u | wc -l)" \
		"distinct files of the blob's size under the root (one blob, no staging left)"
fi

# --- 8 chunked pushes of the same blob into the same repository
slice "$WORK/tmp/blob" 0 $((SIZE / 2)) >"$WORK/tmp/half1"
slice "$WORK/tmp/blob" $((SIZE / 2)) $((SIZE / 2)) >"$WORK/tmp/half2"
race chunked same/repo
req GET "/v2/same/repo/blobs/$D"
assert_status 200
assert_body_digest "$D"
if dray_only "still stored once"; then
	check_layout "$WORK/data/same/repo"
	assert_eq 1 "$(find "$WORK/data" -type f -size "${SIZE}c" -printf '%i\n' | sort -u | wc -l)" \
		"distinct files of the blob's size after the chunked race"
	assert_eq 0 "$(find "$WORK/data" -type f -size "$((SIZE / 2))c" | wc -l)" \
		"half-size staging files left behind"
fi

# --- 8 pushes of the blob into 8 repositories
race mono "many/r%d"
for ((i = 0; i < N; i++)); do
	req HEAD "/v2/many/r$i/blobs/$D"
	assert_status 200
	assert_content_length "$SIZE"
done
if dray_only "every repository has its copy"; then
	for ((i = 0; i < N; i++)); do
		check_layout "$WORK/data/many/r$i"
	done
fi

# --- concurrent manifest PUTs
push_image same/img base 1 2000
BASEM=$IMG_DIR/manifest.json
for ((i = 0; i < N; i++)); do
	jq -cj --arg i "$i" '.annotations = {"n": $i}' "$BASEM" >"$WORK/tmp/m$i"
done
put_manifest() { # put_manifest ID TAG FILE
	curl -sS --max-time 120 -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
		--data-binary "@$3" -o /dev/null -w '%{http_code}' \
		"$URL/v2/same/img/manifests/$2" >"$BAR/mresult.$1" 2>/dev/null ||
		echo 000 >"$BAR/mresult.$1"
}
rm -rf "$BAR"
mkdir -p "$BAR"
BG_PIDS=()
for ((i = 0; i < N; i++)); do
	bg put_manifest "$i" "tag$i" "$WORK/tmp/m$i"
done
for p in "${BG_PIDS[@]}"; do wait "$p" || true; done
BG_PIDS=()
for ((i = 0; i < N; i++)); do
	assert_eq 201 "$(cat "$BAR/mresult.$i")" "PUT of tag$i"
done
req GET /v2/same/img/tags/list
assert_status 200
assert_json '(.tags | sort) == ["base","tag0","tag1","tag2","tag3","tag4","tag5","tag6","tag7"]' \
	"no tag lost to concurrent index.json updates"
for ((i = 0; i < N; i++)); do
	req GET "/v2/same/img/manifests/tag$i" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_body_file "$WORK/tmp/m$i"
done

# 8 manifests racing for one tag.
BG_PIDS=()
for ((i = 0; i < N; i++)); do
	bg put_manifest "$i" contested "$WORK/tmp/m$i"
done
for p in "${BG_PIDS[@]}"; do wait "$p" || true; done
BG_PIDS=()
for ((i = 0; i < N; i++)); do
	assert_eq 201 "$(cat "$BAR/mresult.$i")" "PUT $i of the contested tag"
done
req GET /v2/same/img/manifests/contested -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
W=$(hdr Docker-Content-Digest)
found=0
for ((i = 0; i < N; i++)); do
	[ "$(digest_of "$WORK/tmp/m$i")" = "$W" ] && found=1
	req HEAD "/v2/same/img/manifests/$(digest_of "$WORK/tmp/m$i")" -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
done
assert_eq 1 "$found" "the contested tag names one of the pushed manifests"
if dray_only "index.json after the manifest races"; then
	check_layout "$WORK/data/same/img"
	assert_eq 1 "$(jq '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "contested")] | length' \
		"$WORK/data/same/img/index.json")" "index.json has the contested tag once"
	assert_eq "$W" "$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "contested") | .digest' \
		"$WORK/data/same/img/index.json")" "index.json agrees with the HTTP answer"
fi

dray_stop
pass
