#!/usr/bin/env bash
# Runs every test of roster on a fresh Debian machine: installs what the tests need
# (Samba for a real AD domain controller, Microsoft's Graph JavaScript client and Python
# SDK, actionlint), then runs the Rust test suite. The tests start their own servers
# (the Graph emulator, the Samba DC) through the project's scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }

if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; then
  log "System packages (Samba AD DC, LDAP tools, OpenSSL)"
  bash scripts/samba-dc.sh install
  log "OpenLDAP slapd and the LDAP tools for the ldap tests"
  bash scripts/slapd.sh install
fi

if [ -f tests/js/package.json ]; then
  log "Microsoft Graph JavaScript client for the emulator conformance test"
  if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y --no-install-recommends nodejs npm >/dev/null
  fi
  (cd tests/js && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
fi

if [ -x scripts/install-actionlint.sh ]; then
  log "actionlint"
  bash scripts/install-actionlint.sh
fi

log "Microsoft Graph Python SDK (msgraph-sdk from PyPI) for the emulator conformance test"
bash scripts/msgraph-python.sh install >/dev/null

log "Google's Python client (google-api-python-client from PyPI) for the Google emulator conformance test"
bash scripts/google-python.sh install >/dev/null

log "SCIM 2.0 server (scim2-server from PyPI) for the scim tests"
bash scripts/scim-server.sh install >/dev/null

log "cargo deny (licences, bans, sources; advisories when the RustSec database is reachable)"
if ! command -v cargo-deny >/dev/null 2>&1; then
  cargo install --locked cargo-deny
fi
# The advisory database is a Git repository on GitHub. Without it (no route to GitHub and
# no earlier copy) the other checks still run; a network outage does not fail the build.
if timeout 20 git ls-remote --exit-code https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny --locked check advisories licenses bans sources
elif compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-*/.git" >/dev/null; then
  echo "RustSec advisory database unreachable: checking advisories against the local copy" >&2
  cargo deny --frozen check advisories licenses bans sources
else
  echo "RustSec advisory database unreachable: skipping 'cargo deny check advisories'" >&2
  cargo deny --locked check licenses bans sources
fi

log "cargo test"
cargo test --locked --no-fail-fast "$@"
