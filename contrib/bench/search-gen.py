#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""search-gen.py - write many small OCI image layouts for the search benchmark.

    search-gen.py OCI_ROOT [--repos N] [--tags T] [--dist DIST_ROOT]
                  [--dist-tags D]

Writes N repositories (default 10,000) under OCI_ROOT, each an OCI image
layout with T tags (default 10). Every tag is a distinct manifest whose
config carries os, architecture, variant, created, labels and history;
each manifest has one or two layers, shared by all repositories (hard
links of one file, as dray's dedupe would keep them). With --dist, the
same repositories (with their first D tags, default all) are also
written as a Distribution (docker-registry) filesystem tree under
DIST_ROOT (docker/registry/v2), for a catalog over the same names. Deterministic: the same arguments
give the same digests.
"""
import argparse
import hashlib
import json
import os
import sys

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
WORDS = ["alpine", "nginx", "redis", "postgres", "python", "node", "golang",
         "busybox", "httpd", "memcached", "mariadb", "rabbitmq", "traefik",
         "grafana", "prometheus", "etcd", "consul", "vault", "envoy", "kafka"]
ARCHES = [("amd64", None), ("arm64", "v8"), ("arm", "v7"), ("s390x", None),
          ("ppc64le", None)]


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def link(src, dst):
    try:
        os.link(src, dst)
    except FileExistsError:
        pass


def repo_name(i):
    return "team%02d/%s-%s%d" % (i % 50, WORDS[i % len(WORDS)],
                                 WORDS[(i // 7) % len(WORDS)], i)


def image(i, t, layers):
    """The config and manifest bytes of tag t of repository i."""
    arch, variant = ARCHES[(i + t) % len(ARCHES)]
    created = "2024-%02d-%02dT%02d:%02d:00Z" % (1 + (i + t) % 12,
                                                 1 + (i * 7 + t) % 28,
                                                 (i + t) % 24, t % 60)
    nl = 1 + (i + t) % 2
    cfg = {
        "created": created, "architecture": arch, "os": "linux",
        "config": {"Labels": {
            "org.opencontainers.image.vendor": "Vendor %d" % (i % 13),
            "org.opencontainers.image.description":
                "image %d tag %d" % (i, t),
            "org.opencontainers.image.licenses": "MIT"}},
        "rootfs": {"type": "layers",
                   "diff_ids": [layers[k][0] for k in range(nl)]},
        "history": [{"created": created, "created_by": "ADD layer%d" % k}
                    for k in range(nl)],
    }
    if variant:
        cfg["variant"] = variant
    cfgb = json.dumps(cfg, separators=(",", ":")).encode()
    man = {
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": digest(cfgb),
                   "size": len(cfgb)},
        "layers": [{"mediaType": MT_LAYER, "digest": layers[k][0],
                    "size": layers[k][1]} for k in range(nl)],
        "annotations": {"org.opencontainers.image.title":
                        "%s:v1.%d" % (repo_name(i), t)},
    }
    return cfgb, json.dumps(man, separators=(",", ":")).encode()


def oci_repo(root, i, tags, layers, layer_files):
    d = os.path.join(root, repo_name(i))
    blobs = os.path.join(d, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    write(os.path.join(d, "oci-layout"), b'{"imageLayoutVersion":"1.0.0"}')
    for (ld, _), f in zip(layers, layer_files):
        link(f, os.path.join(blobs, ld[7:]))
    entries = []
    for t in range(tags):
        cfgb, manb = image(i, t, layers)
        write(os.path.join(blobs, digest(cfgb)[7:]), cfgb)
        md = digest(manb)
        write(os.path.join(blobs, md[7:]), manb)
        entries.append({"mediaType": MT_MANIFEST, "digest": md,
                        "size": len(manb),
                        "annotations": {
                            "org.opencontainers.image.ref.name":
                                "v1.%d" % t}})
    write(os.path.join(d, "index.json"),
          json.dumps({"schemaVersion": 2, "manifests": entries}).encode())


def dist_link(path, dgst):
    os.makedirs(path, exist_ok=True)
    write(os.path.join(path, "link"), dgst.encode())


def dist_blob(root, data_or_file, dgst):
    d = os.path.join(root, "docker/registry/v2/blobs/sha256", dgst[7:9],
                     dgst[7:])
    if os.path.exists(os.path.join(d, "data")):
        return
    os.makedirs(d, exist_ok=True)
    if isinstance(data_or_file, bytes):
        write(os.path.join(d, "data"), data_or_file)
    else:
        link(data_or_file, os.path.join(d, "data"))


def dist_repo(root, i, tags, layers, layer_files):
    r = os.path.join(root, "docker/registry/v2/repositories", repo_name(i))
    for (ld, _), f in zip(layers, layer_files):
        dist_blob(root, f, ld)
        dist_link(os.path.join(r, "_layers/sha256", ld[7:]), ld)
    for t in range(tags):
        cfgb, manb = image(i, t, layers)
        cd, md = digest(cfgb), digest(manb)
        dist_blob(root, cfgb, cd)
        dist_blob(root, manb, md)
        dist_link(os.path.join(r, "_layers/sha256", cd[7:]), cd)
        dist_link(os.path.join(r, "_manifests/revisions/sha256", md[7:]), md)
        tag = os.path.join(r, "_manifests/tags", "v1.%d" % t)
        dist_link(os.path.join(tag, "current"), md)
        dist_link(os.path.join(tag, "index/sha256", md[7:]), md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--repos", type=int, default=10000)
    ap.add_argument("--tags", type=int, default=10)
    ap.add_argument("--dist")
    ap.add_argument("--dist-tags", type=int)
    a = ap.parse_args()
    os.makedirs(a.root, exist_ok=True)
    # Two small layers every image shares (one or both of them).
    layers, files = [], []
    for k in range(2):
        data = (b"layer %d " % k) * (512 * (k + 1))
        f = os.path.join(a.root, ".layer%d" % k)
        write(f, data)
        layers.append((digest(data), len(data)))
        files.append(f)
    for i in range(a.repos):
        oci_repo(a.root, i, a.tags, layers, files)
        if a.dist:
            dist_repo(a.dist, i, a.dist_tags or a.tags, layers, files)
        if (i + 1) % 1000 == 0:
            print("%d repositories" % (i + 1), file=sys.stderr)
    for f in files:
        os.unlink(f)


if __name__ == "__main__":
    main()
