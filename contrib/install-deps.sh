#!/usr/bin/env bash
# install-deps.sh - install what dray builds with, tests with and benchmarks
# against, from Debian 12's packages. Run as root (or with sudo). Idempotent.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
	libmicrohttpd-dev libfuse3-dev fuse3 librocksdb-dev libxxhash-dev
	libssl-dev libyaml-dev libjansson-dev libcmocka-dev libcrypt-dev)
# GnuTLS headers: http/tls.c sets up libmicrohttpd's TLS sessions
build_pkgs+=(libgnutls28-dev)
# OpenLDAP's libldap: http/ldap.c checks http.auth.ldap passwords with it
build_pkgs+=(libldap-dev)
# libcurl: sync/ fetches from upstream registries (HTTP/2, connection reuse)
build_pkgs+=(libcurl4-openssl-dev)
test_pkgs=(attr curl jq skopeo umoci valgrind rsync)
# openssl: the tls-* cases make their certificates; podman: tls-podman
test_pkgs+=(openssl podman)
# clang with its sanitizer and libFuzzer runtimes, llvm-symbolizer: ci/fuzz.sh, ci/tsan.sh
test_pkgs+=(clang libclang-rt-14-dev llvm)
# vim: mount-keep edits index.json in the mount with the real editor;
# python3: mount-tool-copy copies a layout in with shutil.copytree
test_pkgs+=(vim python3)
# apache2-utils: htpasswd -B makes the auth cases' users; podman: auth-htpasswd
test_pkgs+=(apache2-utils podman)
# prometheus (with promtool): ops-metrics scrapes dray with the real server
test_pkgs+=(prometheus)
# slapd, ldap-utils: auth-ldap runs a slapd of its own (by hand, in its
# work dir) and fills it with ldapadd
test_pkgs+=(slapd ldap-utils)
# groff-base, man-db: cli-progress renders contrib/dray.1 (groff -ww, man -l);
# bsdutils (essential) has the script(1) it runs commands on a terminal with
test_pkgs+=(groff-base man-db)
# docker-registry: the upstream of the sync-* cases
test_pkgs+=(docker-registry)
# python3-graphql-core: unit/graphql checks the SDL and introspection with it
test_pkgs+=(python3-graphql-core)
# chromium: it/ui-pages drives the web UI in it (headless, DevTools pipe)
test_pkgs+=(chromium)
# glusterfs-server, glusterfs-client: the cluster-* cases serve one tree
# from a replicated GlusterFS volume (run by hand, in the case's work dir)
test_pkgs+=(glusterfs-server glusterfs-client)
# nginx-light: the cluster-* cases put the balancer of contrib/cluster/nginx.conf
# in front of the nodes (run by hand, in the case's work dir)
test_pkgs+=(nginx-light)
bench_pkgs=(docker-registry nginx-light wrk)

want=("${build_pkgs[@]}")
case "${1:-}" in
--test) want+=("${test_pkgs[@]}") ;;
--bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	# slapd's postinst would start a system-wide slapd (and others their
	# daemons): with no policy in place, forbid service starts meanwhile.
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
		trap '$SUDO rm -f "$policy"' EXIT
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
