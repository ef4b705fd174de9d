"""What campaign.json records as `environment`: found on the machine, short, never a secret."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opp_ci import provenance
from opp_ci.omnetpp_root import Omnetpp

pytestmark = pytest.mark.integration


def fake_omnetpp(tmp_path: Path, cxx: str) -> Omnetpp:
    root = tmp_path / "omnetpp"
    root.mkdir(parents=True)
    (root / "Makefile.inc").write_text(f"MODE = release\nCC = gcc\nCXX = {cxx}\nTOOLCHAIN_NAME = gcc\n")
    return Omnetpp(root, "test")


def test_the_environment_names_this_machine(tmp_path):
    found = provenance.describe(tmp_path, None, environ={"PATH": "/usr/bin:/bin"})
    assert set(found) <= set(provenance.KEYS)
    assert found["opp_ci"] and found["python"].count(".") == 2 and found["arch"]
    assert "omnetpp" not in found and "compiler" not in found and "commit" not in found  # none of them here


def test_the_compiler_is_omnetpp_s_with_its_version(tmp_path):
    environ = {"PATH": "/usr/bin:/bin"}
    assert provenance.compiler(fake_omnetpp(tmp_path / "a", "false").root, environ) == "false"  # no version: its name
    python = provenance.compiler(fake_omnetpp(tmp_path / "b", "python3").root, environ)
    assert python.startswith("python3: Python 3.")
    assert provenance.compiler(tmp_path / "none", environ) is None


def test_the_commit_and_uncommitted_changes(tmp_path):
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "omnetpp.ini").write_text("[General]\n")
    subprocess.run([*git, "add", "omnetpp.ini"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert provenance.git_commit(tmp_path, environ) == commit
    (tmp_path / "omnetpp.ini").write_text("[General]\nsim-time-limit = 1s\n")
    assert provenance.git_commit(tmp_path, environ) == f"{commit}+changes"
    assert provenance.describe(tmp_path / "nowhere", None, environ={**environ, "GITHUB_SHA": "a" * 40}
                               )["commit"] == "a" * 40


def test_no_secret_reaches_a_probe(tmp_path, monkeypatch):
    """git and the compiler get PATH, HOME and the locale, nothing else of this process's environment."""
    seen = tmp_path / "seen"
    probe = tmp_path / "bin" / "c++"
    probe.parent.mkdir()
    probe.write_text(f"#!/bin/sh\nenv > {seen}\necho 'c++ 1.0'\n")
    probe.chmod(0o755)
    root = fake_omnetpp(tmp_path, "c++").root
    environ = {"PATH": f"{probe.parent}:/usr/bin:/bin", "OPP_CI_REDIS_PASSWORD": "hunter2", "HOME": str(tmp_path)}
    found = provenance.describe(tmp_path, Omnetpp(root, "test"), "6.1", environ=environ)
    assert found["compiler"] == "c++: c++ 1.0" and found["omnetpp"] == "6.1"
    assert "hunter2" not in seen.read_text()


def test_the_os_is_named_by_its_release_file(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\n')
    assert provenance.os_name(release) == "Ubuntu 24.04.1 LTS"
    assert provenance.os_name(tmp_path / "none")  # the kernel's name instead
