#!/usr/bin/env bash
# Google's Python client for the Admin SDK (google-api-python-client with google-auth,
# from PyPI), pinned, in a virtualenv for the Google emulator conformance test
# (tests/it/google_emulator_py.rs runs tests/google/client.py with it).
#
#   scripts/google-python.sh install    install (idempotent); prints the venv's python
#
# The venv lives in tests/google/.venv (ignored by Git); ROSTER_GOOGLE_VENV overrides it.
set -euo pipefail

VERSION=2.202.0
# The full dependency set, pinned, so that every machine runs the same client.
PINS=(
  "google-api-python-client==${VERSION}"
  "google-auth==2.63.0"
  "google-auth-httplib2==0.4.4"
  "google-api-core==2.44.0"
  "googleapis-common-protos==1.76.0"
  "proto-plus==1.29.0"
  "protobuf==7.36.2"
  "httplib2==0.32.1"
  "pyparsing==3.3.3"
  "uritemplate==4.2.0"
  "pyasn1==0.6.5"
  "pyasn1_modules==0.4.2"
  "cryptography==50.0.2"
  "cffi==2.1.1"
  "pycparser==3.12"
  "requests==2.34.2"
  "urllib3==2.8.0"
  "charset-normalizer==3.5.3"
  "certifi==2026.10.19.post1"
  "idna==3.20"
  "opentelemetry-api==1.45.2"
  "typing_extensions==4.16.0"
)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${ROSTER_GOOGLE_VENV:-$ROOT/tests/google/.venv}"
PY="$VENV/bin/python"

die() { echo "google-python.sh: $*" >&2; exit 1; }

# shellcheck source=scripts/lib/venv.sh
. "$ROOT/scripts/lib/venv.sh"

# Every requirement satisfied, and the client and the service-account signer import.
check_client() {
  "$1" -m pip check --disable-pip-version-check >&2 || die "the pinned set is inconsistent"
  "$1" -c 'import googleapiclient.discovery, googleapiclient.http, google.oauth2.service_account' >&2 \
    || die "google-api-python-client ${VERSION} does not import"
}

install() {
  venv_install "$VENV" google-api-python-client "$VERSION" check_client "${PINS[@]}"
  echo "$PY"
}

case "${1:-}" in
  install)
    install
    ;;
  *)
    die "usage: $0 install"
    ;;
esac
