"""Fingerprint suites as campaigns: `opp-ci run --suite` over the stand-in suite (examples/suite: three
working directories, two executables and the spec's command, several ini files and time limits, PASS,
FAIL and ERROR rows, one multi-ingredient row), judged row by row; a planted fingerprint; --repeat;
selection; the in-place update cycle."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from projects import copy_standin
from test_charts_mermaid import parse  # noqa: F401  (the real Mermaid parser, a fixture)

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {3: "PASS", 4: "PASS", 5: "PASS", 8: "PASS", 9: "FAIL (expected)", 12: "PASS", 13: "PASS",
            14: "ERROR (expected)", 15: "ERROR (expected)"}


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A copy of examples/ (the suite refers to the stand-in beside it)."""
    copy_standin(tmp_path / "standin", build=False)  # `opp-ci run` builds it with the suite's build command
    shutil.copytree(ROOT / "examples" / "suite", tmp_path / "suite")
    return tmp_path / "suite"


def records(out: Path) -> dict[int, dict]:
    runs = json.loads((out / "campaign.json").read_text())["runs"]
    return {int(r["suite_row"].rpartition(":")[2]): r for r in runs if r["repeat"] == 0}


def suite_verdict(record: dict) -> str:
    [verdict] = [v for v in record["verdicts"] if v["check"] == "suite"]
    return verdict["message"].split(":")[0]


def test_every_row_gets_the_verdict_opp_fingerprinttest_gives(suite, tagged, tmp_path, parse):  # noqa: F811
    out = tmp_path / "out"
    done = tagged.run("run", str(suite), "-j", "2", "-o", str(out))
    assert done.returncode == 0, done.stderr
    found = records(out)
    assert {line: suite_verdict(r) for line, r in found.items()} == EXPECTED
    assert all(r["status"] == "passed" for r in found.values())
    assert found[9]["execution"] == "failed" and "Fingerprint mismatch" in found[9]["execution_error"]
    assert found[8]["fingerprint"] == "verified" and found[8]["fingerprint_calculated"].count("/") == 3
    # JUnit: one testsuite per CSV file and working directory, one testcase per row named by the row
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["suite.csv /aloha/", "suite.csv /quick/", "suite.csv /inet/"]
    names = [c.get("name") for s in suites for c in s.findall("testcase")]
    assert "/aloha/ ../bin/aloha -f omnetpp.ini -c Short -r 0" in names and len(names) == 9
    # rows of one config and run number in different directories keep their own files
    assert found[12]["log"] != found[13]["log"] and (out / found[13]["log"]).is_file()
    assert any(f.endswith(".vec") for f in found[13]["result_files"])
    assert not any(f.endswith(".vec") for f in found[12]["result_files"])
    summary = (out / "summary.md").read_text()
    assert "### Fingerprint suite: ✅ every row as expected" in summary
    [pie] = re.findall(r"```mermaid\n.*?```\n", summary + "\n", re.S)
    [parsed] = parse([pie])
    assert parsed["ok"] and parsed["type"] == "pie", parsed


def test_a_planted_wrong_fingerprint_fails_exactly_its_row(suite, tagged, tmp_path):
    csv = suite / "suite.csv"
    csv.write_text(csv.read_text().replace("2ed3-2ea9/tplx", "2ed3-0000/tplx"))
    out = tmp_path / "out"
    done = tagged.run("run", str(suite), "-j", "2", "-o", str(out))
    assert done.returncode == 1, done.stderr
    found = records(out)
    failed = [line for line, r in found.items() if r["status"] != "passed"]
    assert failed == [4]
    assert found[4]["error"].startswith("Fingerprint mismatch! calculated: 2ed3-2ea9/tplx")
    junit = (out / "junit.xml").read_text()
    assert junit.count("<failure") == 1
    summary = (out / "summary.md").read_text()
    assert "❌ 1 row(s) not as expected" in summary and "opp-ci baseline update --suite suite.csv --from" in summary


def test_repeat_catches_a_nondeterministic_row(suite, tagged, tmp_path):
    (suite / "opp-ci.toml").write_text('command = "../standin/standin"\n[image]\nbuild = "make -C ../standin"\n')
    out = tmp_path / "out"
    done = tagged.run("run", str(suite), "--suite", "unstable.csv", "--suite", "suite.csv", "--match", "Jitter|Short",
                      "--repeat", "2", "-j", "2", "-o", str(out))
    assert done.returncode == 1, done.stderr
    runs = json.loads((out / "campaign.json").read_text())["runs"]
    assert len(runs) == 6  # 3 rows, twice each
    bad = {r["suite_row"] for r in runs if r["status"] != "passed"}
    assert bad == {"unstable.csv:3"}
    jitter = [r for r in runs if r["suite_row"] in bad]
    assert jitter[0]["fingerprint_calculated"] != jitter[1]["fingerprint_calculated"]
    assert all(suite_verdict(r).startswith("FAIL (should be PASS)") for r in jitter)


def test_selection_by_regex_and_tags(suite, tagged, tmp_path):
    out = tmp_path / "out"
    done = tagged.run("run", str(suite), "--tag", "plain", "--exclude", "vector", "-j", "1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(records(out)) == [12]
    nothing = tagged.run("run", str(suite), "--match", "no-such-row", "-o", str(tmp_path / "none"))
    assert nothing.returncode == 2 and "no suite rows selected" in nothing.stderr and "Traceback" not in nothing.stderr


def test_update_rewrites_only_fingerprint_fields_and_a_second_update_changes_no_byte(suite, tagged, tmp_path):
    csv = suite / "suite.csv"
    original = csv.read_text()
    csv.write_text(original.replace("03f6-d1ca/tplx", "0000-0000/tplx"))
    out = tmp_path / "out"
    first = tagged.run("baseline", "update", str(suite), "-j", "2", "-o", str(out))
    assert first.returncode == 0, first.stderr
    assert "UPDATE suite.csv:3 /aloha/ ../bin/aloha -f omnetpp.ini -c Short -r 0: 0000-0000/tplx -> 03f6-d1ca/tplx" \
        in first.stdout
    updated = csv.read_text()
    changed = [n for n, (a, b) in enumerate(zip(original.splitlines(), updated.splitlines(), strict=True), 1) if a != b]
    assert 3 not in changed  # the placeholder got the real fingerprint back, byte for byte
    assert set(changed) <= {9, 15}  # rows expecting FAIL/ERROR record what they calculate
    for number in changed:
        before, after = original.splitlines()[number - 1], updated.splitlines()[number - 1]
        assert before.split(",")[:3] == after.split(",")[:3] and before.split(",")[4:] == after.split(",")[4:]
    again = tagged.run("baseline", "update", str(suite), "--from", str(out))
    assert again.returncode == 0, again.stderr
    assert csv.read_text() == updated and "UPDATE" not in again.stdout
    assert again.stdout.count("KEEP") == 8  # the failing row calculates none
