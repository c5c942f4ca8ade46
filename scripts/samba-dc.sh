#!/usr/bin/env bash
# A throwaway Samba Active Directory domain controller on loopback, for roster's
# active_directory tests and benchmarks.
#
#   scripts/samba-dc.sh install   install Samba and the LDAP tools from Debian's packages if missing
#   scripts/samba-dc.sh start     start a DC (reuse a running one); print its env lines
#   scripts/samba-dc.sh stop      stop the DC started by `start`
#   scripts/samba-dc.sh status    say whether the DC runs and answers
#
# `start` provisions once into a cached template directory (keyed by TEMPLATE_VERSION),
# copies it into a fresh run directory, generates a CA and a server certificate with
# subjectAltNames, starts samba in the background and waits until an authenticated
# search answers. It prints (and writes to $ROOT/run/env) the lines
#   ROSTER_TEST_AD_URL  ROSTER_TEST_AD_LDAP_URL  ROSTER_TEST_AD_CA  ROSTER_TEST_AD_WRONG_CA
#   ROSTER_TEST_AD_BIND_DN  ROSTER_TEST_AD_PASSWORD  ROSTER_TEST_AD_BASE_DN
# Concurrent callers are serialised by a lock file, so parallel test binaries share one DC.
#
# Environment: ROSTER_SAMBA_ROOT (default /var/tmp/roster-samba), ROSTER_SAMBA_IP
# (default 127.0.0.1; use 127.0.0.2, ... to run several DCs side by side).
set -euo pipefail

TEMPLATE_VERSION=2
ROOT=${ROSTER_SAMBA_ROOT:-/var/tmp/roster-samba}
IP=${ROSTER_SAMBA_IP:-127.0.0.1}
TEMPLATE=$ROOT/template-v$TEMPLATE_VERSION
RUN=$ROOT/run
ENV_FILE=$RUN/env
PID_FILE=$RUN/samba.pid
REALM=EXAMPLE.TEST
DOMAIN=EXAMPLE
BASE_DN=DC=example,DC=test
BIND_DN="CN=Administrator,CN=Users,$BASE_DN"
# A throwaway password for a throwaway domain on loopback.
ADMIN_PASSWORD='Roster-Test-Pa55!'
PACKAGES=(samba samba-dsdb-modules samba-vfs-modules samba-ad-provision ldap-utils ldb-tools openssl)

log() { echo "samba-dc: $*" >&2; }

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

running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid=$(cat "$PID_FILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

answers() {
    LDAPTLS_CACERT=$RUN/tls/ca.pem ldapsearch -LLL -x -o nettimeout=5 -H "ldaps://$IP" \
        -D "$BIND_DN" -w "$ADMIN_PASSWORD" -b "$BASE_DN" -s base dn >/dev/null 2>&1
}

provision_template() {
    [ -f "$TEMPLATE/.complete" ] && return 0
    log "provisioning template $TEMPLATE"
    rm -rf "$TEMPLATE.tmp"
    mkdir -p "$TEMPLATE.tmp"
    samba-tool domain provision -s /dev/null --use-rfc2307 \
        --targetdir="$TEMPLATE.tmp" --realm=$REALM --domain=$DOMAIN --server-role=dc \
        --dns-backend=NONE --adminpass="$ADMIN_PASSWORD" --host-name=dc1 \
        --option="bind interfaces only=yes" --option="interfaces=$IP/8" \
        --option="server services=ldap" --option="ldb:nosync=true" >"$ROOT/provision.log" 2>&1 \
        || { log "provisioning failed, see $ROOT/provision.log"; tail -20 "$ROOT/provision.log" >&2; exit 1; }
    # Paths in the config point at a placeholder, filled in per run copy.
    sed -i "s#$TEMPLATE.tmp#@RUNDIR@#g" "$TEMPLATE.tmp/etc/smb.conf"
    touch "$TEMPLATE.tmp/.complete"
    rm -rf "$TEMPLATE"
    mv "$TEMPLATE.tmp" "$TEMPLATE"
}

make_certs() {
    local d=$RUN/tls
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=roster test CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=roster unrelated CA" \
        -keyout "$d/wrong-ca.key" -out "$d/wrong-ca.pem" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.example.test" \
        -keyout "$d/key.pem" -out "$d/server.csr" >/dev/null 2>&1
    printf '%s\n' "subjectAltName=IP:$IP,DNS:localhost,DNS:dc1.example.test" \
        "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" >"$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 30 -extfile "$d/ext.cnf" -out "$d/cert.pem" >/dev/null 2>&1
    chmod 600 "$d/key.pem" "$d/ca.key" "$d/wrong-ca.key"
}

write_env() {
    {
        echo "ROSTER_TEST_AD_URL=ldaps://$IP:636"
        echo "ROSTER_TEST_AD_LDAP_URL=ldap://$IP:389"
        echo "ROSTER_TEST_AD_CA=$RUN/tls/ca.pem"
        echo "ROSTER_TEST_AD_WRONG_CA=$RUN/tls/wrong-ca.pem"
        echo "ROSTER_TEST_AD_BIND_DN=$BIND_DN"
        echo "ROSTER_TEST_AD_PASSWORD=$ADMIN_PASSWORD"
        echo "ROSTER_TEST_AD_BASE_DN=$BASE_DN"
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

stop_locked() {
    local pid
    if pid=$(running_pid); then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$ENV_FILE"
}

cmd_start() {
    if running_pid >/dev/null && [ -f "$ENV_FILE" ] && answers; then
        cat "$ENV_FILE"
        return 0
    fi
    command -v samba >/dev/null || { log "samba is not installed; run: $0 install"; exit 1; }
    provision_template
    stop_locked
    rm -rf "$RUN"
    cp -a "$TEMPLATE" "$RUN"
    rm -f "$RUN/.complete"
    sed -i "s#@RUNDIR@#$RUN#g" "$RUN/etc/smb.conf"
    make_certs
    mkdir -p "$RUN/run" "$RUN/log"
    # Plain-LDAP simple binds are allowed so that tests can prove roster's own refusal
    # to send passwords without TLS.
    sed -i "/^\[global\]/a\\
\tldap server require strong auth = no\\
\ttls enabled = yes\\
\ttls certfile = $RUN/tls/cert.pem\\
\ttls keyfile = $RUN/tls/key.pem\\
\ttls cafile = $RUN/tls/ca.pem" "$RUN/etc/smb.conf"
    setsid samba -F --debug-stdout -M single -s "$RUN/etc/smb.conf" \
        --option="pid directory=$RUN/run" --option="log file=$RUN/log/log.%m" \
        </dev/null >"$RUN/log/samba.out" 2>&1 9>&- &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    for _ in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "samba exited during start-up (port in use?); last lines of $RUN/log/samba.out:"
            tail -20 "$RUN/log/samba.out" >&2
            rm -f "$PID_FILE"
            exit 1
        fi
        if answers; then
            write_env
            cat "$ENV_FILE"
            return 0
        fi
        sleep 0.2
    done
    log "samba did not answer within 60 s; see $RUN/log/samba.out"
    stop_locked
    exit 1
}

cmd_status() {
    local pid
    if pid=$(running_pid) && answers; then
        echo "running (pid $pid) on $IP"
    else
        echo "not running"
        return 1
    fi
}

with_lock() {
    mkdir -p "$ROOT"
    exec 9>"$ROOT/lock"
    flock 9
    "$@"
}

case "${1:-}" in
    install) cmd_install ;;
    start) with_lock cmd_start ;;
    stop) with_lock stop_locked ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 install|start|stop|status" >&2
        exit 2
        ;;
esac
