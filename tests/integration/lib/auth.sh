# SPDX-License-Identifier: Apache-2.0
# lib/auth.sh - users and credentials for the authentication cases.
# Sourced by lib.sh; not run on its own.

# need_htpasswd: apache2-utils' htpasswd is there (install-deps --test).
need_htpasswd() {
	command -v htpasswd >/dev/null ||
		fail "htpasswd is missing: contrib/install-deps.sh --test"
}

# htpasswd_users FILE USER:PASSWORD...: (re)write FILE with a bcrypt
# entry (htpasswd -B, cost 5) per user, through a temporary and rename,
# as an administrator's editor would replace it.
htpasswd_users() {
	local file=$1 up tmp=$1.tmp
	shift
	: >"$tmp"
	for up in "$@"; do
		htpasswd -B -C 5 -b "$tmp" "${up%%:*}" "${up#*:}" 2>/dev/null ||
			fail "htpasswd could not add ${up%%:*}"
	done
	mv -f "$tmp" "$file"
}

# as_user USER:PASSWORD: every later curl of req (and the helpers built
# on it) sends these Basic credentials; as_anonymous stops that. Done
# with a curlrc in a CURL_HOME of the case's own.
as_user() {
	mkdir -p "$WORK/cfg/curl"
	printf 'user = "%s"\n' "$1" >"$WORK/cfg/curl/.curlrc"
	export CURL_HOME=$WORK/cfg/curl
}

as_anonymous() {
	rm -f "$WORK/cfg/curl/.curlrc"
}


# as_bearer TOKEN: every later curl of req sends "Authorization: Bearer
# TOKEN" (a curlrc, as as_user); as_anonymous stops that.
as_bearer() {
	mkdir -p "$WORK/cfg/curl"
	printf 'header = "Authorization: Bearer %s"\n' "$1" >"$WORK/cfg/curl/.curlrc"
	export CURL_HOME=$WORK/cfg/curl
}
