# Pinned Python virtualenvs for test tools, shared by scripts/msgraph-python.sh and
# scripts/scim-server.sh. Sourced; the caller defines `die MESSAGE`.
#
#   venv_installed VENV PACKAGE VERSION      whether VENV is complete with PACKAGE==VERSION
#   venv_install VENV PACKAGE VERSION CHECK PIN...
#                                            create VENV with the PINs (idempotent, one
#                                            installer at a time); CHECK is a command run
#                                            with the venv's python as $1 before the venv
#                                            is marked complete (`:` for none)

venv_installed() {
  [ -f "$1/.complete" ] && [ -x "$1/bin/python" ] \
    && "$1/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$2') != '$3')" 2>/dev/null
}

# python3 with venv and ensurepip; as root on Debian/Ubuntu, installed when missing.
venv_ensure_python() {
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$(basename "$0"): installing python3 and python3-venv" >&2
    apt-get install -y --no-install-recommends python3 python3-venv >/dev/null 2>&1 || {
      apt-get update >/dev/null && apt-get install -y --no-install-recommends python3 python3-venv >/dev/null
    }
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 is required"
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || die "python3 venv/ensurepip is required (Debian: apt-get install python3-venv)"
}

venv_install() {
  local venv="$1" package="$2" version="$3" check="$4"
  shift 4
  venv_installed "$venv" "$package" "$version" && return
  mkdir -p "$(dirname "$venv")"
  # Several test binaries may install at once: one installs, the others wait.
  exec 9>"$venv.lock"
  flock 9
  if ! venv_installed "$venv" "$package" "$version"; then
    venv_ensure_python
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@" >&2
    "$check" "$venv/bin/python"
    touch "$venv/.complete"
    venv_installed "$venv" "$package" "$version" || die "$package $version did not install into $venv"
  fi
  flock -u 9
}
