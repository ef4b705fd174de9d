"""Triage as campaigns: `opp-ci run` over a stand-in suite whose failing rows have each one cause — a
deliberately nondeterministic row, a planted wrong expectation the base branch fails the same way, a model
change, and a new executable the base branch could not start — triaged nondeterministic, baseline-outdated,
changed and unknown against a real baseline campaign (unknown without one); the quarantine with its expiry
and `--fail-on changed`, by exit code."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from projects import copy_standin

from opp_ci.triage import parse_quarantine

ROOT = Path(__file__).resolve().parents[2]

#: One row per cause, and one that passes; fingerprints the stand-in calculates (Short's is planted wrong).
TRIAGE_CSV = """\
# working directory, command line arguments,               sim-time-limit, fingerprint,   expected result, tags
/inet/,    -f omnetpp.ini -c Jitter -r 0,                         100s,    9c11-3995/tplx,   PASS,   unstable
/aloha/,   ../bin/aloha -f omnetpp.ini -c Short -r 0,             100s,    0000-0000/tplx,   PASS,   planted
/aloha/,   ../bin/aloha -f omnetpp.ini -c Long -r 0,              1h,      49a2-2ef8/tplx,   PASS,   aloha
/inet/,    -f omnetpp.ini -c Plain -r 0,                          100s,    9cae-f495/tplx,   PASS,   plain
/aloha/,   ../bin/newmodel -f omnetpp.ini -c Short -r 1,          100s,    2ed3-0000/tplx,   PASS,   new
"""
NEW, JITTER, SHORT, LONG, PLAIN = ("newmodel", "-c Jitter", "-c Short", "-c Long", "-c Plain")
TOML = 'command = "../standin/standin"\nsuite = ["triage.csv"]\n[image]\nbuild = "make -C ../standin"\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """examples/suite with the triage rows (the suite refers to the stand-in beside it)."""
    copy_standin(tmp_path / "standin", build=False)
    shutil.copytree(ROOT / "examples" / "suite", tmp_path / "suite")
    suite = tmp_path / "suite"
    (suite / "triage.csv").write_text(TRIAGE_CSV)
    (suite / "opp-ci.toml").write_text(TOML)
    shutil.copy(suite / "bin" / "aloha", suite / "bin" / "newmodel")
    (suite / "bin" / "newmodel").chmod(0o644)  # the base branch's build left it not executable: it cannot start
    return suite


def change_the_model(project: Path) -> None:
    """What a pull request changes: Long's network (so its fingerprint), and newmodel made executable."""
    (project / "bin" / "newmodel").chmod(0o755)
    ini = project / "aloha" / "omnetpp.ini"
    ini.write_text(ini.read_text().replace("Aloha.numHosts = 20", "Aloha.numHosts = 21"))


def by_row(out: Path) -> dict[str, dict]:
    runs = json.loads((out / "campaign.json").read_text())["runs"]
    return {next(c for c in (NEW, JITTER, SHORT, LONG, PLAIN) if c in r["test"]): r for r in runs}


def findings(out: Path) -> dict[str, str | None]:
    return {row: (r.get("triage") or {}).get("finding") for row, r in by_row(out).items()}


@pytest.fixture
def baseline(project, tagged, tmp_path) -> Path:
    """The base branch's campaign: Jitter and the planted Short fail, newmodel cannot start, Long and Plain pass."""
    out = tmp_path / "base"
    done = tagged.run("run", str(project), "-j", "2", "--confirm", "0", "-o", str(out))
    assert done.returncode == 1, done.stderr
    assert findings(out) == {JITTER: "unknown", SHORT: "unknown", LONG: None, PLAIN: None, NEW: "unknown"}
    assert by_row(out)[NEW]["status"] == "error"
    return out


def test_each_failure_is_triaged_by_its_cause(project, baseline, tagged, tmp_path):
    change_the_model(project)
    out = tmp_path / "pr"
    done = tagged.run("run", str(project), "-j", "2", "--confirm", "2", "--baseline", str(baseline), "-o", str(out))
    assert done.returncode == 1, done.stderr
    assert findings(out) == {JITTER: "nondeterministic", SHORT: "baseline-outdated", LONG: "changed", PLAIN: None,
                             NEW: "unknown"}
    rows = by_row(out)
    assert "the baseline's run has no result to compare" in rows[NEW]["triage"]["evidence"][0]
    jitter = rows[JITTER]["triage"]
    assert len(jitter["results"]) == 3 and len({r["fingerprints"] for r in jitter["results"]}) == 3  # all kept
    assert "calculated fingerprints differ between attempts" in jitter["evidence"][0]
    short = rows[SHORT]["triage"]
    assert [r["fingerprints"] for r in short["results"]] == ["03f6-d1ca/tplx"] * 3
    assert "baseline campaign" in short["evidence"][0] and "produced the same" in short["evidence"][0]
    long = rows[LONG]["triage"]
    assert "49a2-2ef8/tplx" in long["evidence"][0] and long["results"][0]["fingerprints"] != "49a2-2ef8/tplx"
    for attempt in (1, 2):  # every attempt's own records and logs are kept
        kept = json.loads((out / "confirm" / str(attempt) / "campaign.json").read_text())
        assert len(kept["runs"]) == 4 and all((out / "confirm" / str(attempt) / r["log"]).is_file()
                                              for r in kept["runs"])
    assert "triage: 1 nondeterministic, 1 baseline-outdated, 1 changed, 1 unknown" in done.stderr
    assert_summary_groups_by_triage((out / "summary.md").read_text())
    junit = (out / "junit.xml").read_text()
    assert junit.count("triage: ") == 4 and "triage: baseline-outdated" in junit
    assert_nondeterministic_fingerprints_are_not_accepted(project, out, tagged)


def assert_nondeterministic_fingerprints_are_not_accepted(project: Path, out: Path, tagged) -> None:
    """The proposed patch and `baseline update --from` take every changed row's fingerprint but Jitter's (one
    attempt's happenstance): Jitter's row is skipped with the reason."""
    patch = (out / "baseline-update.patch").read_text()
    added = [line for line in patch.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any("-c Long" in line for line in added) and any("-c Short -r 0" in line for line in added)
    assert not any("Jitter" in line for line in added), patch
    done = tagged.run("baseline", "update", str(project), "--from", str(out))
    assert "SKIP   /inet/ -f omnetpp.ini -c Jitter -r 0: nondeterministic" in done.stdout, done.stdout
    assert "9c11-3995/tplx" in (project / "triage.csv").read_text()  # Jitter's expectation as it was


def assert_summary_groups_by_triage(summary: str) -> None:
    headings = re.findall(r"^### (\w[\w ]*?):", summary, re.M)
    assert headings[:4] == ["Changed", "Not explained", "Baseline out of date", "Nondeterministic"], headings
    [proposal] = re.findall(r"```toml\n(.*?)```", summary, re.S)
    entries = parse_quarantine(tomllib.loads(proposal)["quarantine"])  # what it proposes is what opp-ci reads
    assert [e.pattern for e in entries] == ["/inet/ -f omnetpp.ini -c Jitter -r 0"]


def test_without_a_baseline_a_stable_failure_is_unknown(project, tagged, tmp_path):
    out = tmp_path / "out"
    done = tagged.run("run", str(project), "-j", "2", "--match", "aloha .*Short|Jitter", "-o", str(out),
                      GITHUB_EVENT_NAME="pull_request")  # a pull request confirms twice by default
    assert done.returncode == 1, done.stderr
    campaign = json.loads((out / "campaign.json").read_text())
    assert campaign["gate"]["confirm"] == 2
    assert findings(out) == {JITTER: "nondeterministic", SHORT: "unknown"}
    assert "no baseline campaign" in by_row(out)[SHORT]["triage"]["evidence"][0]


def test_fail_on_changed_and_the_quarantine_decide_the_exit_code(project, baseline, tagged, tmp_path):
    change_the_model(project)
    run = ("run", str(project), "-j", "2", "--confirm", "1", "--baseline", str(baseline))
    done = tagged.run(*run, "-o", str(tmp_path / "a"))
    assert done.returncode == 1, done.stderr  # --fail-on any: every failure fails
    done = tagged.run(*run, "--fail-on", "changed", "-o", str(tmp_path / "b"))
    assert done.returncode == 1, done.stderr  # Long changed
    gate = json.loads((tmp_path / "b" / "campaign.json").read_text())["gate"]
    assert (gate["failing"], gate["tolerated"], gate["quarantined"]) == (2, 2, 0)  # Long changed, newmodel unknown
    toml = project / "opp-ci.toml"
    active = ('[quarantine]\n"*-c Long -r 0" = { reason = "model change under review", expires = 2999-01-01 }\n'
              '"*newmodel*" = { reason = "new model", expires = 2999-01-01 }\n')
    toml.write_text(TOML + active)
    done = tagged.run(*run, "--fail-on", "changed", "-o", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    assert "✅ passed: every failure is let pass" in (tmp_path / "c" / "summary.md").read_text()
    assert by_row(tmp_path / "c")[LONG]["triage"]["quarantine"]["reason"] == "model change under review"
    # an expired entry fails the campaign though every failure is let pass (Jitter's by --fail-on changed)
    toml.write_text(TOML + active + '"*-c Jitter*" = { reason = "inet#929", expires = 2020-01-01 }\n')
    done = tagged.run(*run, "--fail-on", "changed", "-o", str(tmp_path / "d"))
    assert done.returncode == 1
    assert "quarantine entry '*-c Jitter*' expired on 2020-01-01 (inet#929)" in done.stderr
    gate = json.loads((tmp_path / "d" / "campaign.json").read_text())["gate"]
    assert gate["failing"] == 0 and len(gate["expired"]) == 1
    assert "> ❌ quarantine entry" in (tmp_path / "d" / "summary.md").read_text()


def test_a_malformed_quarantine_entry_fails_before_anything_starts(project, tagged, tmp_path):
    (project / "opp-ci.toml").write_text(TOML + '[quarantine]\n"x" = { reason = "flaky" }\n')
    done = tagged.run("run", str(project), "-o", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "opp-ci: error: quarantine entry 'x' must be { reason = \"why\", expires = YYYY-MM-DD } and nothing else"]
    assert not (tmp_path / "out").exists() and not tagged.alive()
