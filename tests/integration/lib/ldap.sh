# SPDX-License-Identifier: Apache-2.0
# lib/ldap.sh - a real directory for the LDAP cases: Debian's slapd run by
# hand from a slapd.conf in the case's work dir (back_mdb, and the memberof
# overlay, which gives each member of a groupOfNames a memberOf value), on
# 127.0.0.1 at a free port, started and stopped by PID. Entries are
# queued (ldap_base, ldap_searcher, ldap_user, ldap_group) and added in one
# ldapadd (ldap-utils) run by ldap_commit, through the overlay.
# Sourced by lib.sh; not run on its own.

LDAP_DIR=$WORK/ldap
LDAP_SUFFIX=dc=example,dc=org
LDAP_ROOT_DN=cn=admin,$LDAP_SUFFIX
LDAP_ROOT_PW=root-secret
LDAP_PID=
LDAP_PORT=
LDAPS_PORT=

# need_slapd: slapd and ldap-utils are there (contrib/install-deps.sh --test).
need_slapd() {
	[ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null ||
		fail "slapd or ldapadd is missing: contrib/install-deps.sh --test"
}

# ldap_conf: write $LDAP_DIR/slapd.conf and make its database directory.
ldap_conf() {
	mkdir -p "$LDAP_DIR/db"
	cat >"$LDAP_DIR/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile $LDAP_DIR/slapd.pid
argsfile $LDAP_DIR/slapd.args
database mdb
maxsize 16777216
suffix "$LDAP_SUFFIX"
rootdn "$LDAP_ROOT_DN"
rootpw $LDAP_ROOT_PW
directory $LDAP_DIR/db
overlay memberof
EOF
}

# ldap_tls CERT KEY: slapd (configured, not started) speaks TLS with the
# $WORK/tls certificate CERT and its key: StartTLS on its port, and LDAPS
# on the next one (LDAPS_PORT).
ldap_tls() {
	[ -f "$LDAP_DIR/slapd.conf" ] || ldap_conf
	cat >>"$LDAP_DIR/slapd.conf" <<EOF
TLSCertificateFile $WORK/tls/$1.crt
TLSCertificateKeyFile $WORK/tls/$1.key
EOF
	LDAP_TLS=1
}
LDAP_TLS=

# ldap_start: start slapd in the foreground (-d 0) in the background, on
# $LDAP_PORT if set (a restart), else on a free port (and LDAPS on the
# next, after ldap_tls); wait until it answers a search. Sets LDAP_PID
# and LDAP_PORT (LDAPS_PORT).
ldap_start() {
	local try i p urls
	[ -z "$LDAP_PID" ] || fail "ldap_start: slapd already running"
	[ -f "$LDAP_DIR/slapd.conf" ] || ldap_conf
	for ((try = 0; try < 20; try++)); do
		p=${LDAP_PORT:-$((20000 + RANDOM % 20000))}
		if [ -z "$LDAP_PORT" ] && { port_in_use "$p" || port_in_use $((p + 1)); }; then
			continue
		fi
		urls="ldap://127.0.0.1:$p/"
		[ -z "$LDAP_TLS" ] || urls+=" ldaps://127.0.0.1:$((p + 1))/"
		/usr/sbin/slapd -d 0 -f "$LDAP_DIR/slapd.conf" \
			-h "$urls" >>"$WORK/logs/slapd.log" 2>&1 &
		LDAP_PID=$!
		BG_PIDS+=("$LDAP_PID")
		for ((i = 0; i < 300; i++)); do
			if ldapsearch -x -H "ldap://127.0.0.1:$p" -b "" -s base \
				-o nettimeout=5 >/dev/null 2>&1; then
				LDAP_PORT=$p
				[ -z "$LDAP_TLS" ] || LDAPS_PORT=$((p + 1))
				return 0
			fi
			kill -0 "$LDAP_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$LDAP_PID"
		LDAP_PID=
	done
	fail "could not start slapd: $(tail -n 3 "$WORK/logs/slapd.log")"
}

# ldap_stop: stop slapd by its PID (the port stays in LDAP_PORT).
ldap_stop() {
	[ -n "$LDAP_PID" ] || fail "ldap_stop: slapd is not running"
	stop_pid "$LDAP_PID"
	LDAP_PID=
}

# ldap_add: queue the LDIF entries on stdin (ldap_commit adds them).
ldap_add() {
	mkdir -p "$LDAP_DIR"
	cat >>"$LDAP_DIR/pending.ldif"
	printf '\n' >>"$LDAP_DIR/pending.ldif"
}

# ldap_commit: add the queued entries as the root DN, in one ldapadd.
ldap_commit() {
	ldapadd -x -H "ldap://127.0.0.1:$LDAP_PORT" -D "$LDAP_ROOT_DN" \
		-w "$LDAP_ROOT_PW" -o nettimeout=10 -f "$LDAP_DIR/pending.ldif" \
		>>"$WORK/logs/ldapadd.log" 2>&1 ||
		fail "ldapadd failed: $(tail -n 3 "$WORK/logs/ldapadd.log")"
	rm -f "$LDAP_DIR/pending.ldif"
}

# ldap_base: the suffix, ou=people and ou=groups.
ldap_base() {
	ldap_add <<EOF
dn: $LDAP_SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: example

dn: ou=people,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: groups
EOF
}

# ldap_user UID PASSWORD: an inetOrgPerson cn=userN under ou=people (N
# counts up, so any uid works), its uid attribute as given; its DN in
# LDAP_DN.
ldap_user() {
	local uid=$1 pw=$2 n=$((++LDAP_USERS))
	LDAP_DN=cn=user$n,ou=people,$LDAP_SUFFIX
	ldap_add <<EOF
dn: cn=user$n,ou=people,$LDAP_SUFFIX
objectClass: inetOrgPerson
cn: user$n
sn: user$n
uid: $uid
userPassword: $pw
EOF
}
LDAP_USERS=0
LDAP_DN=

# ldap_searcher CN PASSWORD: the account dray searches as, cn=CN,<suffix>;
# its DN in LDAP_DN.
ldap_searcher() {
	LDAP_DN=cn=$1,$LDAP_SUFFIX
	ldap_add <<EOF
dn: $LDAP_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: $1
userPassword: $2
EOF
}

# ldap_group NAME MEMBER-UID-CN...: a groupOfNames cn=NAME,ou=groups whose
# members are the DNs given (cn=userN,...); the overlay adds memberOf.
ldap_group() {
	local name=$1 m
	shift
	{
		printf 'dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n' \
			"$name" "$LDAP_SUFFIX" "$name"
		for m in "$@"; do
			printf 'member: %s\n' "$m"
		done
	} | ldap_add
}

# ldap_credentials FILE DN PASSWORD: zot's credentialsFile.
ldap_credentials() {
	jq -n --arg dn "$2" --arg pw "$3" '{bindDN: $dn, bindPassword: $pw}' >"$1"
}
