# Sourced by tests/run and examples/demo: helpers that set up a fresh Debian/Ubuntu machine.
# Each set-up phase prints one line, `== NAME ... Ns`, so a newcomer sees where the time goes.

# Runs "$@" as the set-up phase NAME: prints its name, then its elapsed seconds (or that it failed).
# errexit is off inside "$@" (it runs in an || list), so the phase functions check every step.
phase() {
  local name=$1 start=$SECONDS status=0
  shift
  printf '== %-13s' "$name"
  "$@" || status=$?
  if ((status)); then
    echo "== $name failed after $((SECONDS - start))s"
  else
    echo " $((SECONDS - start))s${PHASE_NOTE:+ ($PHASE_NOTE)}"
  fi
  PHASE_NOTE=
  return $status
}

need_python() {
  PYTHON=${PYTHON:-python3}
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "opp-ci needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
    exit 2
  fi
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    [[ $(id -u) == 0 ]] || { echo "install python3-venv (apt install python3-venv), then run this again" >&2; exit 2; }
    local minor
    minor=$("$PYTHON" -c 'import sys; print(sys.version_info[1])')
    phase "apt packages" apt_install "python3-venv" || phase "apt packages" apt_install "python3.$minor-venv"
  fi
}

# Installs the Debian packages that are missing; only as root, quietly, once per package.
apt_install() {
  local missing=() p log
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ! ((${#missing[@]})); then PHASE_NOTE="all present"; return 0; fi
  printf ' %s ...' "${missing[*]}"
  log=$(mktemp) || return 2
  if [[ -z ${APT_UPDATED:-} ]]; then
    apt-get update -qq >"$log" 2>&1 || { echo; cat "$log" >&2; rm -f "$log"; return 2; }
    APT_UPDATED=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    echo; tail -20 "$log" >&2; rm -f "$log"
    return 2
  fi
  rm -f "$log"
  # Debian starts the packaged redis-server as a service; opp-ci and the tests start their own.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    (service redis-server stop || systemctl stop redis-server) >/dev/null 2>&1 || true
  fi
}

# A venv in .venv with the project installed (editable) with the given extras.
make_venv() {
  phase venv new_venv
  phase "pip install" pip_install "$1"
}

new_venv() {
  if [[ -x .venv/bin/python ]]; then PHASE_NOTE="exists"; return 0; fi
  "$PYTHON" -m venv .venv || return 2
  .venv/bin/python -m pip install -q -c tests/constraints.txt --upgrade pip >/dev/null 2>&1 || true
}

# Versions come from tests/constraints.txt, so that every run installs the same packages.
pip_install() {
  PHASE_NOTE=$1
  if ! .venv/bin/python -m pip install -q -c tests/constraints.txt -e "$1" >.venv/pip.log 2>&1; then
    echo; cat .venv/pip.log >&2
    echo "pip install of opp-ci failed (log above, also in .venv/pip.log)" >&2
    return 2
  fi
}

# The pinned JavaScript tools the tests use (prism, GitHub's API description): `npm ci` of tests/node's
# lockfile, unless node_modules is newer than the lockfile. Without npm (not root) those tests skip.
npm_tools() {
  local dir=tests/node
  if ! command -v npm >/dev/null; then PHASE_NOTE="no npm: the GitHub API tests will skip"; return 0; fi
  if [[ $dir/node_modules/.package-lock.json -nt $dir/package-lock.json ]]; then
    PHASE_NOTE="up to date"; return 0
  fi
  if ! (cd "$dir" && npm ci --engine-strict --no-audit --no-fund) >.venv/npm.log 2>&1; then
    echo; tail -30 .venv/npm.log >&2
    echo "npm ci in $dir failed (node $(node --version 2>&1); log above, also in .venv/npm.log)" >&2
    return 2
  fi
  PHASE_NOTE="node $(node --version)"
}
