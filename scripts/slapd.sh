#!/usr/bin/env bash
# A throwaway OpenLDAP slapd on loopback, for roster's `ldap` tests.
#
#   scripts/slapd.sh install                install Debian's slapd, ldap-utils and openssl if missing
#   scripts/slapd.sh start DIR [--owner PID] build a fresh cn=config in DIR, start slapd, print env lines
#   scripts/slapd.sh stop DIR               stop the slapd started in DIR
#
# `start` makes DIR (which must be empty or absent), a CA and a server certificate with
# subjectAltNames (IP:127.0.0.1, DNS:localhost) made with the openssl CLI, a cn=config
# built with slapadd from an LDIF (the mdb backend with suffix dc=example,dc=test and a
# root DN; the core, cosine, inetorgperson and nis schemas; the memberof and ppolicy
# overlays with a default policy), picks two free loopback ports (ldap:// with
# StartTLS, ldaps://), starts slapd and waits until an authenticated search answers.
# It prints (and writes to DIR/env) the lines
#   ROSTER_TEST_LDAP_URL  ROSTER_TEST_LDAPS_URL  ROSTER_TEST_LDAP_CA
#   ROSTER_TEST_LDAP_BIND_DN  ROSTER_TEST_LDAP_PASSWORD  ROSTER_TEST_LDAP_BASE_DN
#   ROSTER_TEST_LDAP_PID
# With `--owner PID` a watcher stops slapd and removes DIR once process PID has exited
# (the test binary that started it).
set -euo pipefail

BASE_DN=dc=example,dc=test
BIND_DN="cn=admin,$BASE_DN"
# A throwaway password for a throwaway directory on loopback.
ADMIN_PASSWORD='Roster-Ldap-Pa55!'
PACKAGES=(slapd ldap-utils openssl)
SCHEMA_DIR=/etc/ldap/schema
MODULE_DIR=/usr/lib/ldap

log() { echo "slapd: $*" >&2; }

find_slapd() {
    command -v slapd 2>/dev/null || { [ -x /usr/sbin/slapd ] && echo /usr/sbin/slapd; } || return 1
}

cmd_install() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    # Below the kernel's ephemeral range, so that no client socket of a concurrent test
    # (the suites open thousands) can hold the port slapd is about to bind.
    local lo=32768 p
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    [ "$lo" -gt 12000 ] || lo=32768
    for _ in $(seq 1 200); do
        p=$((10000 + RANDOM % (lo - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    log "no free port found"
    exit 1
}

make_certs() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=roster test LDAP CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$d/key.pem" -out "$d/server.csr" >/dev/null 2>&1
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" >"$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 30 -extfile "$d/ext.cnf" -out "$d/cert.pem" >/dev/null 2>&1
    chmod 600 "$d/key.pem" "$d/ca.key"
}

config_ldif() {
    local dir=$1 hash=$2
    cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcArgsFile: $dir/slapd.args
olcTLSCACertificateFile: $dir/tls/ca.pem
olcTLSCertificateFile: $dir/tls/cert.pem
olcTLSCertificateKeyFile: $dir/tls/key.pem
olcSizeLimit: 500
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $MODULE_DIR
olcModuleLoad: {0}back_mdb
olcModuleLoad: {1}memberof
olcModuleLoad: {2}ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://$SCHEMA_DIR/core.ldif

include: file://$SCHEMA_DIR/cosine.ldif

include: file://$SCHEMA_DIR/inetorgperson.ldif

include: file://$SCHEMA_DIR/nis.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $BASE_DN
olcRootDN: $BIND_DN
olcRootPW: $hash
olcDbDirectory: $dir/db
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: entryUUID eq
olcDbIndex: uid,cn eq
olcDbIndex: member,uniqueMember,memberUid eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by self read by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE

dn: olcOverlay={1}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {1}ppolicy
olcPPolicyDefault: cn=default,ou=policies,$BASE_DN
olcPPolicyUseLockout: TRUE
EOF
}

data_ldif() {
    cat <<EOF
dn: $BASE_DN
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: roster test directory

dn: ou=policies,$BASE_DN
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$BASE_DN
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 0
pwdMustChange: FALSE
pwdAllowUserChange: TRUE
EOF
}

answers() {
    local dir=$1 url=$2
    LDAPTLS_CACERT=$dir/tls/ca.pem ldapsearch -LLL -x -o nettimeout=5 -H "$url" \
        -D "$BIND_DN" -w "$ADMIN_PASSWORD" -b "$BASE_DN" -s base dn >/dev/null 2>&1
}

cmd_start() {
    local dir=${1:?usage: $0 start DIR [--owner PID]} owner=
    shift
    if [ "${1:-}" = --owner ]; then
        owner=${2:?--owner needs a PID}
    fi
    local slapd
    slapd=$(find_slapd) || { log "slapd is not installed; run: $0 install"; exit 1; }
    command -v slapadd >/dev/null || [ -x /usr/sbin/slapadd ] || { log "slapadd is missing; run: $0 install"; exit 1; }
    local slapadd=${slapd%/slapd}/slapadd
    [ -x "$slapadd" ] || slapadd=$(command -v slapadd)
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
        log "$dir is not empty"
        exit 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mkdir -p "$dir/db" "$dir/slapd.d"
    make_certs "$dir/tls"
    local hash
    hash=$(${slapd%/slapd}/slappasswd -s "$ADMIN_PASSWORD" 2>/dev/null || slappasswd -s "$ADMIN_PASSWORD")
    config_ldif "$dir" "$hash" >"$dir/config.ldif"
    data_ldif >"$dir/data.ldif"
    "$slapadd" -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1 \
        || { log "building cn=config failed:"; cat "$dir/slapadd.log" >&2; exit 1; }
    "$slapadd" -n 1 -F "$dir/slapd.d" -l "$dir/data.ldif" >>"$dir/slapadd.log" 2>&1 \
        || { log "loading the base entries failed:"; cat "$dir/slapadd.log" >&2; exit 1; }
    local ldap_port ldaps_port ldap_url ldaps_url started=
    # A port can be taken between the probe and slapd's bind; try fresh ports then.
    for _ in 1 2 3 4 5; do
        ldap_port=$(free_port)
        ldaps_port=$(free_port)
        while [ "$ldaps_port" = "$ldap_port" ]; do ldaps_port=$(free_port); done
        ldap_url="ldap://127.0.0.1:$ldap_port"
        ldaps_url="ldaps://127.0.0.1:$ldaps_port"
        # slapd binds, then detaches; its pid lands in $dir/slapd.pid.
        if "$slapd" -F "$dir/slapd.d" -h "$ldap_url/ $ldaps_url/" </dev/null >"$dir/slapd.out" 2>&1; then
            started=1
            break
        fi
        log "slapd did not start on ports $ldap_port/$ldaps_port:"
        cat "$dir/slapd.out" >&2
    done
    [ -n "$started" ] || { log "slapd did not start"; exit 1; }
    local pid=
    for _ in $(seq 1 300); do
        [ -z "$pid" ] && [ -s "$dir/slapd.pid" ] && pid=$(cat "$dir/slapd.pid")
        if [ -n "$pid" ] && answers "$dir" "$ldaps_url"; then
            {
                echo "ROSTER_TEST_LDAP_URL=$ldap_url"
                echo "ROSTER_TEST_LDAPS_URL=$ldaps_url"
                echo "ROSTER_TEST_LDAP_CA=$dir/tls/ca.pem"
                echo "ROSTER_TEST_LDAP_BIND_DN=$BIND_DN"
                echo "ROSTER_TEST_LDAP_PASSWORD=$ADMIN_PASSWORD"
                echo "ROSTER_TEST_LDAP_BASE_DN=$BASE_DN"
                echo "ROSTER_TEST_LDAP_PID=$pid"
            } >"$dir/env"
            if [ -n "$owner" ]; then
                # Stops slapd once the owner is gone; detached from our stdout so the
                # caller's read of it ends.
                setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill "$2" 2>/dev/null; sleep 1; rm -rf "$3"' \
                    watcher "$owner" "$pid" "$dir" </dev/null >/dev/null 2>&1 &
            fi
            cat "$dir/env"
            return 0
        fi
        sleep 0.2
    done
    log "slapd did not answer within 60 s:"
    cat "$dir/slapd.out" >&2
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    exit 1
}

cmd_stop() {
    local dir=${1:?usage: $0 stop DIR}
    [ -s "$dir/slapd.pid" ] || return 0
    local pid
    pid=$(cat "$dir/slapd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/slapd.pid"
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *)
        echo "usage: $0 install | start DIR [--owner PID] | stop DIR" >&2
        exit 2
        ;;
esac
