#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# mklayout.sh DIR TAG LAYERS LAYER_SIZE SEED
#
# Write a deterministic OCI image layout to DIR: LAYERS uncompressed tar
# layers, each holding one file of LAYER_SIZE pseudo-random bytes (AES-CTR
# keystream keyed by SEED and the layer number), a config and a manifest
# tagged TAG in index.json. The same arguments give the same digests.
# Fallback for the benchmark when build/mkimage is not there.
set -euo pipefail

[[ $# -eq 5 ]] || { echo "usage: $0 DIR TAG LAYERS LAYER_SIZE SEED" >&2; exit 2; }
dir=$1 tag=$2 layers=$3 size=$4 seed=$5
[[ $layers =~ ^[0-9]+$ && $layers -ge 1 && $layers -le 128 ]] || { echo "bad LAYERS" >&2; exit 2; }
[[ $size =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ ]] || { echo "bad LAYER_SIZE or SEED" >&2; exit 2; }

# Pseudo-random bytes, fast (AES-NI) and reproducible: printf SEED STREAM.
prng() {
	local key
	key=$(printf '%016x%016x' "$1" "$2")
	# openssl dies of SIGPIPE when head has enough: not an error.
	{ openssl enc -aes-128-ctr -nosalt -K "$key" -iv 0 -in /dev/zero \
		2>/dev/null || true; } | head -c "$3"
}

sha() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }

mkdir -p "$dir/blobs/sha256"
tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

layer_json="" diffs=""
for ((i = 1; i <= layers; i++)); do
	mkdir -p "$tmp/rootfs"
	prng "$seed" "$i" "$size" >"$tmp/rootfs/layer$i.bin"
	[[ $(stat -c %s "$tmp/rootfs/layer$i.bin") -eq $size ]] ||
		{ echo "mklayout: short layer $i" >&2; exit 1; }
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-cf "$tmp/layer.tar" -C "$tmp/rootfs" "layer$i.bin"
	rm -rf "$tmp/rootfs"
	d=$(sha "$tmp/layer.tar")
	n=$(stat -c %s "$tmp/layer.tar")
	mv "$tmp/layer.tar" "$dir/blobs/sha256/$d"
	layer_json+="${layer_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$d\",\"size\":$n}"
	diffs+="${diffs:+,}\"sha256:$d\""
done

printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
	"$diffs" >"$tmp/config"
cd_=$(sha "$tmp/config") cn=$(stat -c %s "$tmp/config")
mv "$tmp/config" "$dir/blobs/sha256/$cd_"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
	"$cd_" "$cn" "$layer_json" >"$tmp/manifest"
md=$(sha "$tmp/manifest") mn=$(stat -c %s "$tmp/manifest")
mv "$tmp/manifest" "$dir/blobs/sha256/$md"

printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
	"$md" "$mn" "$tag" >"$dir/index.json"
