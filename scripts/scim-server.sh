#!/usr/bin/env bash
# The SCIM 2.0 service provider that roster's scim tests run against: scim2-server
# (python-scim project, from PyPI), pinned, installed into a private virtualenv.
#
#   scripts/scim-server.sh install            install (idempotent); prints the server's path
#   scripts/scim-server.sh run PORT TOKEN [ARGS...]
#                                             serve on 127.0.0.1:PORT in the foreground
#                                             (exec: the caller owns the process)
#   scripts/scim-server.sh start PORT TOKEN [ARGS...]
#                                             serve in the background (idempotent: a server
#                                             already started on PORT is reused); prints
#                                             the base URL once it answers
#   scripts/scim-server.sh stop PORT          stop a server started with `start`
#
# ARGS are passed to scim2-server (e.g. --service-provider-config FILE).
# ROSTER_SCIM_VENV overrides the virtualenv location.
set -euo pipefail

VERSION=0.8.3
# The full dependency set, pinned, so that every machine runs the same server.
PINS=(
  "scim2-server==${VERSION}"
  "scim2-models==0.12.3"
  "pydantic==2.14.3"
  "pydantic_core==2.50.4"
  "annotated-types==0.8.0"
  "typing-inspection==0.4.5"
  "typing_extensions==4.16.0"
  "email-validator==2.4.0"
  "dnspython==2.9.2"
  "idna==3.20"
  "lark==1.3.1"
)
VENV="${ROSTER_SCIM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/roster/scim2-server-${VERSION}}"
BIN="$VENV/bin/scim2-server"
RUN_DIR="${XDG_RUNTIME_DIR:-/tmp}/roster-scim"

die() { echo "scim-server.sh: $*" >&2; exit 1; }

# shellcheck source=scripts/lib/venv.sh
. "$(cd "$(dirname "$0")" && pwd)/lib/venv.sh"

install() {
  venv_install "$VENV" scim2-server "$VERSION" : "${PINS[@]}"
  [ -x "$BIN" ] || die "scim2-server ${VERSION} has no $BIN"
  echo "$BIN"
}

check_port() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ] || die "PORT must be a TCP port number, got '${1:-}'"
}

answers() { # PORT TOKEN: whether the server serves its configuration
  "$VENV/bin/python" - "$1" "$2" <<'PY' >/dev/null 2>&1
import sys, urllib.request
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/v2/ServiceProviderConfig",
    headers={"Authorization": f"Bearer {sys.argv[2]}"},
)
sys.exit(0 if urllib.request.urlopen(req, timeout=2).status == 200 else 1)
PY
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install)
    install
    ;;
  run)
    port="${1:-}"; token="${2:-}"; shift 2 || die "usage: run PORT TOKEN [ARGS...]"
    check_port "$port"
    [ -n "$token" ] || die "TOKEN must not be empty"
    install >/dev/null
    exec "$BIN" --hostname 127.0.0.1 --port "$port" --bearer-token "$token" "$@"
    ;;
  start)
    port="${1:-}"; token="${2:-}"; shift 2 || die "usage: start PORT TOKEN [ARGS...]"
    check_port "$port"
    [ -n "$token" ] || die "TOKEN must not be empty"
    install >/dev/null
    mkdir -p "$RUN_DIR"
    pidfile="$RUN_DIR/$port.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers "$port" "$token"; then
      echo "http://127.0.0.1:$port/v2"
      exit 0
    fi
    nohup "$BIN" --hostname 127.0.0.1 --port "$port" --bearer-token "$token" "$@" \
      >"$RUN_DIR/$port.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if answers "$port" "$token"; then
        echo "http://127.0.0.1:$port/v2"
        exit 0
      fi
      kill -0 "$(cat "$pidfile")" 2>/dev/null || die "scim2-server exited; see $RUN_DIR/$port.log"
      sleep 0.1
    done
    die "scim2-server did not answer on port $port; see $RUN_DIR/$port.log"
    ;;
  stop)
    port="${1:-}"
    check_port "$port"
    pidfile="$RUN_DIR/$port.pid"
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *)
    die "usage: $0 install | run PORT TOKEN [ARGS...] | start PORT TOKEN [ARGS...] | stop PORT"
    ;;
esac
