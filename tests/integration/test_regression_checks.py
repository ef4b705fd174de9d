"""Regression checks through the CLI with the stand-in: fingerprint baselines (update and verify
cycles, opp-ci's JSON store and INET's CSV), scalar and statistical comparison of campaigns."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FINGERPRINT = re.compile(r"[0-9a-f]{4}-[0-9a-f]{4}")


def records(out: Path) -> dict[tuple[str, int], dict]:
    return {(r["config"], r["run"]): r for r in json.loads((out / "campaign.json").read_text())["runs"]}


def verdict(out: Path) -> dict:
    return json.loads((out / "campaign.json").read_text())["regression"]


def actions(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines() if line.split() and line.split()[0] in (
        "KEEP", "INSERT", "UPDATE", "SKIP")]


def test_fingerprint_update_and_verify_cycle(standin_project, tagged, tmp_path):
    project, store = standin_project, standin_project / "opp-ci-fingerprints.json"
    run = ("-c", "Quick", "-c", "AlohaExperiment", "-j", "2")

    first = tagged.run("baseline", "update", str(project), *run, "-o", str(tmp_path / "rec1"))
    assert first.returncode == 0, first.stderr
    assert actions(first.stdout) == ["INSERT"] * 9
    entries = json.loads(store.read_text())["fingerprints"]
    assert len(entries) == 9 and all(FINGERPRINT.fullmatch(e["fingerprint"]) for e in entries)
    assert {e["ingredients"] for e in entries} == {"tplx"}
    assert all(r["status"] == "passed" for r in records(tmp_path / "rec1").values())  # the dummy is not a failure

    again = tagged.run("baseline", "update", str(project), *run, "-o", str(tmp_path / "rec2"))
    assert actions(again.stdout) == ["KEEP"] * 9, again.stdout

    verified = tagged.run("run", str(project), *run, "--check", "fingerprints", "-o", str(tmp_path / "ok"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert {r["fingerprint"] for r in records(tmp_path / "ok").values()} == {"verified"}

    # A model change: Quick now stops at 5 minutes, so its fingerprint changes and only its.
    ini = project / "omnetpp.ini"
    ini.write_text(ini.read_text().replace("sim-time-limit = 10min\n", "sim-time-limit = 5min\n", 1))
    expected = next(e["fingerprint"] for e in entries if e["config"] == "Quick")
    mismatch = tagged.run("run", str(project), *run, "--check", "fingerprints", "-o", str(tmp_path / "bad"))
    assert mismatch.returncode == 1
    quick = records(tmp_path / "bad")["Quick", 0]
    assert (quick["status"], quick["fingerprint"], quick["fingerprint_expected"]) == (
        "failed", "mismatch", f"{expected}/tplx")
    case = next(c for c in ET.parse(tmp_path / "bad" / "junit.xml").getroot().iter("testcase")
                if c.get("classname") == "Quick")
    message = case.find("failure").get("message")
    assert message == f"Fingerprint mismatch! calculated: {quick['fingerprint_calculated']}, expected: {expected}/tplx"
    assert sum(r["status"] == "passed" for r in records(tmp_path / "bad").values()) == 8

    updated = tagged.run("baseline", "update", str(project), "--from", str(tmp_path / "bad"))
    assert updated.returncode == 0, updated.stderr
    assert sorted(actions(updated.stdout)) == ["KEEP"] * 8 + ["UPDATE"]
    assert f"{expected} -> {quick['fingerprint_calculated'].split('/')[0]}" in updated.stdout
    assert tagged.run("run", str(project), *run, "--check", "fingerprints",
                      "-o", str(tmp_path / "ok2")).returncode == 0


def test_a_run_without_an_expected_fingerprint_fails_clearly(standin_project, tagged, tmp_path):
    done = tagged.run("run", str(standin_project), "-c", "Quick", "-j", "1", "--check", "fingerprints",
                      "-o", str(tmp_path / "out"))
    assert done.returncode == 1
    quick = records(tmp_path / "out")["Quick", 0]
    assert quick["status"] == "failed" and quick["fingerprint"] == "none"
    assert "No expected fingerprint for Quick #0 in opp-ci-fingerprints.json" in quick["error"]
    assert "opp-ci baseline update" in (tmp_path / "out" / "summary.md").read_text()


def test_inet_fingerprint_csv(standin_project, tagged, tmp_path):
    project = standin_project
    toml = project / "opp-ci.toml"
    toml.write_text('fingerprints = "tests/fingerprints.csv"\n' + toml.read_text())
    csv_path = project / "tests" / "fingerprints.csv"
    csv_path.parent.mkdir()
    csv_path.write_text("# working directory, command line arguments, simulation time limit, fingerprint, "
                        "expected result, tags\n"
                        ".,  -f omnetpp.ini -c Quick -r 0,  10min,  0123-4567/tplx,  PASS,  quick\n")
    done = tagged.run("baseline", "update", str(project), "-c", "Quick", "-c", "Slow", "-j", "2",
                      "-o", str(tmp_path / "rec"))
    assert done.returncode == 0, done.stderr
    assert actions(done.stdout) == ["UPDATE", "INSERT"]
    lines = csv_path.read_text().splitlines()
    assert lines[1].startswith(".,  -f omnetpp.ini -c Quick -r 0,  10min,  ") and lines[1].endswith("PASS,  quick")
    assert "-c Slow -r 0" in lines[2]
    checked = tagged.run("run", str(project), "-c", "Quick", "-c", "Slow", "-j", "2", "--check", "fingerprints",
                         "-o", str(tmp_path / "ok"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


STATISTICAL_SETTINGS = 'metrics = ["channelUtilization:last"]\n'


def test_statistical_check_detects_an_injected_shift(standin_project, tagged, tmp_path):
    project = standin_project
    toml = project / "opp-ci.toml"
    toml.write_text(STATISTICAL_SETTINGS + toml.read_text())
    stochastic = ("-c", "Stochastic", "-j", "2")
    base = tagged.run("run", str(project), *stochastic, "-o", str(tmp_path / "base"))
    assert base.returncode == 0, base.stderr

    # The same model with other seeds: every scalar differs run by run, the distribution does not.
    rerun = tagged.run("run", str(project), *stochastic, "--arg=--seed-set=1${repetition}",
                       "-o", str(tmp_path / "rerun"))
    assert rerun.returncode == 0, rerun.stderr
    same = tagged.run("compare", str(tmp_path / "base"), str(tmp_path / "rerun"), "--project", str(project),
                      "--metrics", "*")
    assert same.returncode == 0, same.stdout + same.stderr
    assert verdict(tmp_path / "rerun")["significant"] == 0

    shifted = tagged.run("run", str(project), *stochastic, "--arg=--**.meanShift=0.02", "--baseline",
                         str(tmp_path / "base"), "-o", str(tmp_path / "shifted"))
    assert shifted.returncode == 1, shifted.stdout + shifted.stderr
    result = verdict(tmp_path / "shifted")
    assert result["significant"] == 1 and result["scalars_changed"] == 0
    test = result["statistical"][0]
    assert test["name"] == "channelUtilization:last" and test["difference"] == pytest.approx(0.02, rel=1e-6)
    assert test["n_base"] == test["n_candidate"] == 10
    summary = (tmp_path / "shifted" / "summary.md").read_text()
    assert "Aloha.server channelUtilization:last" in summary and "❌ shifted" in summary
    assert all(r["status"] == "failed" for r in records(tmp_path / "shifted").values())

    # Re-evaluated under a much stricter level without re-running: the shift is not significant there.
    recheck = tagged.run("report", str(tmp_path / "shifted"), "--recheck", "--alpha", "1e-300", "--no-plots")
    assert recheck.returncode == 0, recheck.stdout + recheck.stderr
    assert all(r["status"] == "passed" for r in records(tmp_path / "shifted").values())


def test_scalar_regression_with_tolerances(standin_project, tagged, tmp_path):
    project = standin_project
    base = tagged.run("run", str(project), "-c", "Stochastic", "-r", "0..1", "-j", "2", "-o", str(tmp_path / "b"))
    assert base.returncode == 0, base.stderr
    cand = tagged.run("run", str(project), "-c", "Stochastic", "-r", "0..1", "-j", "2",
                      "--arg=--**.meanShift=0.001", "-o", str(tmp_path / "c"))
    assert cand.returncode == 0, cand.stderr
    strict = tagged.run("compare", str(tmp_path / "b"), str(tmp_path / "c"), "--no-plots")
    assert strict.returncode == 1
    error = records(tmp_path / "c")["Stochastic", 0]["error"]
    assert error.startswith("Regression: 1 scalar(s) beyond tolerance, largest: Aloha.server channelUtilization:last")
    tolerances = tmp_path / "tolerances.toml"
    tolerances.write_text('[tolerances]\n"channelUtilization:*" = {abs = 0.001}\n')
    lenient = tagged.run("compare", str(tmp_path / "b"), str(tmp_path / "c"), "--tolerances", str(tolerances))
    assert lenient.returncode == 0, lenient.stdout
    assert "**14** of 14 scalars unchanged" in (tmp_path / "c" / "summary.md").read_text()
