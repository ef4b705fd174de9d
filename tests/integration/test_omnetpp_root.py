"""Where opp-ci finds OMNeT++, on fake OMNeT++ trees whose setenv is a bash script like OMNeT++'s (exports
PATH, PYTHONPATH, OMNETPP_RELEASE, __omnetpp_root_dir): the order it looks in, what it applies, what it
refuses. The real OMNeT++ is in the real tier (tests/omnetpp)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opp_ci import omnetpp_root
from opp_ci.errors import UserError

pytestmark = pytest.mark.integration

SETENV = """\
dir=$(cd $(dirname ${BASH_SOURCE[0]}) && pwd)
[ -f "$dir/Version" ] || { echo "Error: not an OMNeT++ root"; return 1; }
export PATH="$dir/bin:$PATH"
export PYTHONPATH="$dir/python:$PYTHONPATH"
export OMNETPP_RELEASE=$(cat $dir/Version)
export __omnetpp_root_dir=$dir
echo "Environment for '$OMNETPP_RELEASE' in directory '$dir' is ready."
"""


def fake_omnetpp(path: Path, version: str = "omnetpp-6.1") -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "setenv").write_text(SETENV)
    (path / "Version").write_text(version + "\n")
    (path / "Makefile.inc").write_text("# configured\n")
    opp_run = path / "bin" / "opp_run"
    opp_run.write_text(f"#!/bin/sh\necho 'Version: {version.split('-')[1]}, build: test'\n")
    opp_run.chmod(0o755)
    return path


def test_omnetpp_root_is_found_and_its_setenv_applied_without_secrets(tmp_path):
    root = fake_omnetpp(tmp_path / "omnetpp")
    environ = {"PATH": "/usr/bin:/bin", "OMNETPP_ROOT": str(root), "OPP_CI_REDIS_PASSWORD": "s3cret"}
    found = omnetpp_root.activate(needed=True, environ=environ)
    assert found.root == root and found.found_in == f"OMNETPP_ROOT={root}"
    assert environ["PATH"] == f"{root}/bin:/usr/bin:/bin" and environ["OMNETPP_RELEASE"] == "omnetpp-6.1"
    assert environ["__omnetpp_root_dir"] == str(root) and environ["PYTHONPATH"].startswith(f"{root}/python")
    assert "s3cret" not in "".join(found.environment.values())
    assert found.describe()["version"] == "6.1"
    # once applied, finding it again (on PATH now) changes nothing and sources nothing
    again = omnetpp_root.activate(needed=True, environ=environ)
    assert again.found_in == "PATH (opp_run)" and again.environment == {}


def test_path_comes_before_omnetpp_root(tmp_path):
    first, second = fake_omnetpp(tmp_path / "a", "omnetpp-6.2"), fake_omnetpp(tmp_path / "b")
    environ = {"PATH": f"{first}/bin:/usr/bin:/bin", "OMNETPP_ROOT": str(second)}
    assert omnetpp_root.activate(needed=True, environ=environ).root == first


def test_none_needed_and_none_found_is_an_error_naming_where_it_looked(tmp_path):
    if Path("/root/omnetpp/setenv").is_file():
        pytest.skip("this machine has OMNeT++ in /root/omnetpp")
    environ = {"PATH": "/usr/bin:/bin", "OMNETPP_ROOT": str(tmp_path / "nothing")}
    assert omnetpp_root.activate(needed=False, environ=dict(environ)) is None
    with pytest.raises(UserError, match=r"^OMNeT\+\+ not found \(looked in: PATH \(opp_run\), "
                                        rf"OMNETPP_ROOT={tmp_path}/nothing, /root/omnetpp\)"):
        omnetpp_root.activate(needed=True, environ=environ)


def test_a_setenv_that_fails_is_a_clear_error(tmp_path):
    root = fake_omnetpp(tmp_path / "omnetpp")
    (root / "Version").unlink()
    with pytest.raises(UserError, match="its setenv failed"):
        omnetpp_root.activate(needed=False, environ={"PATH": "/usr/bin:/bin", "OMNETPP_ROOT": str(root)})


@pytest.mark.parametrize(("commands", "makefile", "needed"), [
    (["./aloha", "opp_makemake -f --deep -O out -o aloha && make"], None, True),
    (["opp_run -l ../src/INET"], None, True),
    (["./standin", "make"], "standin: standin.py\n\tcp $< $@\n", False),
    (["./aloha", "make MODE=release"], "CONFIGFILE = $(shell opp_configfilepath)\n", True),
    (["./my_opp_model"], None, False),
])
def test_which_models_need_omnetpp(tmp_path, commands, makefile, needed):
    if makefile:
        (tmp_path / "Makefile").write_text(makefile)
    assert omnetpp_root.needs_omnetpp(commands, tmp_path) is needed


def test_the_cli_says_where_it_found_it(tmp_path):
    import subprocess
    import sys

    root = fake_omnetpp(tmp_path / "omnetpp")
    env = {**os.environ, "OMNETPP_ROOT": str(root), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "opp_ci", "omnetpp"], env=env, capture_output=True, text=True)
    assert done.stdout == f"OMNeT++ 6.1 in {root} (found in OMNETPP_ROOT={root})\n", done.stderr
    exports = subprocess.run([sys.executable, "-m", "opp_ci", "omnetpp", "--export"], env=env, capture_output=True,
                             text=True).stdout
    assert "export OMNETPP_RELEASE=omnetpp-6.1\n" in exports and f"export PATH={root}/bin:" in exports


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory another user cannot enter")
def test_a_place_this_user_cannot_look_into_holds_no_omnetpp(tmp_path):
    """As a non-root worker sees /root (700) in most images: not an error, just not there."""
    import subprocess
    import sys

    locked = tmp_path / "locked"
    fake_omnetpp(locked / "omnetpp")
    locked.chmod(0o700)
    tmp_path.chmod(0o755)
    script = ("import sys; from opp_ci import omnetpp_root; "
              "print(omnetpp_root.locate({'PATH': '/usr/bin:/bin', 'OMNETPP_ROOT': sys.argv[1]}))")
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                           script, str(locked / "omnetpp")], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0 and done.stdout.strip() == "None", done.stderr
