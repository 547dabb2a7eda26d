# SPDX-License-Identifier: Apache-2.0
# contrib/bench/nginx-conf.sh - the nginx configuration the benchmarks
# share (run.sh, tls.sh); sourced, not run.
#
# nginx_conf DIR ROOT SERVER...: DIR/nginx.conf serving the files under
# ROOT with sendfile, access log off, a worker per CPU; each SERVER is one
# `server { ... }` block (its listen line and any TLS lines).
nginx_conf() {
	local d=$1 root=$2
	shift 2
	mkdir -p "$d/tmp"
	{
		# As root, workers would drop to nobody and not reach a 0700
		# mktemp dir.
		cat <<EOF
daemon off;
$([[ $(id -u) == 0 ]] && echo "user root;")
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	default_type application/octet-stream;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	root $root;
EOF
		printf '\t%s\n' "$@"
		echo "}"
	} >"$d/nginx.conf"
}
