# Sourced by tests/run and examples/demo: helpers that set up a fresh Debian/Ubuntu machine.

need_python() {
  PYTHON=${PYTHON:-python3}
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "opp-ci needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
    exit 2
  fi
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    [[ $(id -u) == 0 ]] || { echo "install python3-venv (apt install python3-venv), then run this again" >&2; exit 2; }
    apt_install "python3-venv" || apt_install "python3.$("$PYTHON" -c 'import sys; print(sys.version_info[1])')-venv"
  fi
}

# Installs Debian packages that are missing; only as root, quietly, once per package.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  echo "== apt-get install ${missing[*]}"
  [[ -n ${APT_UPDATED:-} ]] || { apt-get update -qq >/dev/null; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged redis-server as a service; opp-ci and the tests start their own.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    (service redis-server stop || systemctl stop redis-server) >/dev/null 2>&1 || true
  fi
}

# A venv in .venv with the project installed (editable) with the given extras.
make_venv() {
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -m pip install -q -e "$1" >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    echo "pip install of opp-ci failed (log above, also in .venv/pip.log)" >&2
    exit 2
  fi
}
