#!/usr/bin/env bash
# Shared by the composite actions: installs opp-ci from the action's own checkout (so the action's
# tag pins the tool's version) into a venv under $RUNNER_TEMP, once per job, and prints the path of
# its `opp-ci` executable. OPP_CI_PYTHON picks the interpreter (default python3).
set -euo pipefail
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${RUNNER_TEMP:?RUNNER_TEMP is not set}/opp-ci-venv"
if [[ ! -x $venv/bin/opp-ci ]]; then
  "${OPP_CI_PYTHON:-python3}" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$source_dir[aws,github]" >&2
fi
echo "$venv/bin/opp-ci"
