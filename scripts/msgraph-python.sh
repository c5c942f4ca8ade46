#!/usr/bin/env bash
# Microsoft's Python Graph SDK (msgraph-sdk, from PyPI), pinned, in a virtualenv for the
# emulator conformance test (tests/it/emulator_py.rs runs tests/py/graph_sdk.py with it).
#
#   scripts/msgraph-python.sh install    install (idempotent); prints the venv's python
#
# The venv lives in tests/py/.venv (ignored by Git); ROSTER_MSGRAPH_VENV overrides it.
set -euo pipefail

VERSION=1.65.0
# The full dependency set, pinned, so that every machine runs the same SDK.
PINS=(
  "msgraph-sdk==${VERSION}"
  "msgraph-core==1.5.2"
  # msgraph-core imports `deprecated` (batch_request_item.py, batch_response_item.py)
  # without declaring it as a dependency.
  "Deprecated==1.3.1"
  "wrapt==2.5.2"
  "microsoft-kiota-abstractions==1.16.0"
  "microsoft-kiota-authentication-azure==1.16.0"
  "microsoft-kiota-http==1.16.0"
  "microsoft-kiota-serialization-form==1.16.0"
  "microsoft-kiota-serialization-json==1.16.0"
  "microsoft-kiota-serialization-multipart==1.16.0"
  "microsoft-kiota-serialization-text==1.16.0"
  "std-uritemplate==2.0.12"
  "azure-identity==1.27.0"
  "azure-core==1.41.0"
  "msal==1.39.0"
  "msal-extensions==1.3.1"
  "PyJWT==2.15.1"
  "cryptography==50.0.2"
  "cffi==2.1.1"
  "pycparser==3.12"
  "requests==2.34.2"
  "urllib3==2.8.0"
  "charset-normalizer==3.5.3"
  "certifi==2026.10.19.post1"
  "idna==3.20"
  "httpx==0.29.0"
  "httpcore==1.0.9"
  "h11==0.16.0"
  "h2==4.4.1"
  "hpack==4.2.0"
  "hyperframe==6.1.0"
  "anyio==4.16.0"
  "aiohttp==3.14.5"
  "aiohappyeyeballs==2.7.1"
  "aiosignal==1.4.0"
  "attrs==26.1.0"
  "frozenlist==1.8.0"
  "multidict==7.2.1"
  "propcache==0.5.4"
  "yarl==1.25.1"
  "opentelemetry-api==1.45.2"
  "opentelemetry-sdk==1.45.2"
  "opentelemetry-semantic-conventions==0.66b2"
  "typing_extensions==4.16.0"
)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${ROSTER_MSGRAPH_VENV:-$ROOT/tests/py/.venv}"
PY="$VENV/bin/python"

die() { echo "msgraph-python.sh: $*" >&2; exit 1; }

# shellcheck source=scripts/lib/venv.sh
. "$ROOT/scripts/lib/venv.sh"

# Every requirement satisfied, and the undeclared import resolves.
check_sdk() {
  "$1" -m pip check --disable-pip-version-check >&2 || die "the pinned set is inconsistent"
  "$1" -c 'import msgraph, msgraph_core.requests.batch_request_item' >&2 \
    || die "msgraph-sdk ${VERSION} does not import"
}

install() {
  venv_install "$VENV" msgraph-sdk "$VERSION" check_sdk "${PINS[@]}"
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
