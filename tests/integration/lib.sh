# SPDX-License-Identifier: Apache-2.0
# lib.sh - shared harness for the black-box integration cases.
#
# Sourced by every tests/integration/cases/<area>-<what>.sh. It gives each
# case a private work dir (cfg/ data/ logs/ resp/), starts and stops the
# daemon by PID, wraps curl so that every response's status, headers and
# body land in files, and offers assertions that, on failure, print the
# assertion, the last request and response, and the daemon log tail, keep
# the work dir and write a repro.sh next to it. A passing case removes its
# work dir and ends with one "PASS <case>: ..." line.
#
# This file holds the environment and the constants; the helpers live in
# lib/, one file per job (report, daemon, http, assert, content, layout,
# store, mount, gc, limits, token).
#
# Environment: DRAY_BIN (the daemon), DRAY_BUILD (build dir, for mkimage),
# DRAY_SRC (source dir). DRAY_TEST_TARGET=distribution runs the HTTP cases
# against Debian's docker-registry (CNCF Distribution 2.8) instead, to check
# the tests themselves. In that mode the assertions about dray's on-disk
# layout and CLI are skipped (dray_only, require_dray), and so are the few
# contract points stricter than the spec (each guarded by is_dray with the
# spec's wording beside it); Distribution's deviations from the spec are
# left to fail.

set -Eeuo pipefail
shopt -s nullglob

CASE_NAME=$(basename "$0" .sh)
IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${DRAY_SRC:=$(cd "$IT_DIR/../.." && pwd)}"
: "${DRAY_BIN:=$DRAY_SRC/build/dray}"
: "${DRAY_BUILD:=$(dirname "$DRAY_BIN")}"
: "${DRAY_TEST_TARGET:=dray}"
MKIMAGE=$DRAY_BUILD/mkimage

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-it-$CASE_NAME.XXXXXX")
mkdir -p "$WORK/cfg" "$WORK/data" "$WORK/logs" "$WORK/resp" "$WORK/tmp"
CFG=$WORK/cfg/dray.yaml
PORTFILE=$WORK/cfg/port
RESP=$WORK/resp
DAEMON_LOG=$WORK/logs/dray.log
DAEMON_ERR=$WORK/logs/stderr.log

DRAY_PID=
PORT=
URL=
STATUS=
CURL_RC=0
ASSERTS=0
NOTES=()
BG_PIDS=()
T_START=$SECONDS
FAILED=0
: >"$WORK/requests.log"

MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_LAYER=application/vnd.oci.image.layer.v1.tar
MT_OCI_LAYER_GZ=application/vnd.oci.image.layer.v1.tar+gzip
MT_OCI_EMPTY=application/vnd.oci.empty.v1+json
MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DOCKER_CONFIG=application/vnd.docker.container.image.v1+json
MT_DOCKER_LAYER=application/vnd.docker.image.rootfs.diff.tar.gzip
# What a client accepts when it wants any manifest back.
ACCEPT_MANIFESTS="$MT_OCI_MANIFEST, $MT_OCI_INDEX, $MT_DOCKER_MANIFEST, $MT_DOCKER_LIST"
# The empty descriptor's blob is the two bytes "{}" (image-spec manifest.md).
EMPTY_DIGEST=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
# Every error code of distribution-spec v1.1 "Error Codes".
SPEC_ERROR_CODES="BLOB_UNKNOWN BLOB_UPLOAD_INVALID BLOB_UPLOAD_UNKNOWN
DIGEST_INVALID MANIFEST_BLOB_UNKNOWN MANIFEST_INVALID MANIFEST_UNKNOWN
NAME_INVALID NAME_UNKNOWN SIZE_INVALID UNAUTHORIZED DENIED UNSUPPORTED
TOOMANYREQUESTS"
# "Legacy Docker support error codes": clients MAY encounter these.
LEGACY_ERROR_CODES="TAG_INVALID MANIFEST_UNVERIFIED"

# The helpers, one file per job. Helpers may call helpers of any file, so
# all are sourced before a case runs anything.
for _lib in report daemon http assert content layout store mount gc limits auth token metrics tls ldap sync events search gluster; do
	# shellcheck source=/dev/null
	. "$IT_DIR/lib/$_lib.sh"
done
unset _lib
