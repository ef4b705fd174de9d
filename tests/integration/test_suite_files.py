"""Suite CSV files as editors and spreadsheets write them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from projects import copy_standin

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_a_suite_csv_with_a_byte_order_mark_is_read_and_keeps_it_when_updated(tmp_path, tagged):
    copy_standin(tmp_path / "standin", build=False)
    suite = shutil.copytree(ROOT / "examples" / "suite", tmp_path / "suite")
    csv = suite / "suite.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes().replace(b"2ed3-2ea9/tplx", b"2ed3-0000/tplx"))
    out = tmp_path / "out"
    done = tagged.run("run", str(suite), "-j", "2", "-o", str(out))
    assert done.returncode == 1, done.stderr  # the one wrong row, not "working directory '\ufeff/aloha/'"
    runs = json.loads((out / "campaign.json").read_text())["runs"]
    assert len({r["suite_row"] for r in runs}) == 9
    update = tagged.run("baseline", "update", str(suite), "--from", str(out))
    assert update.returncode == 0, update.stderr
    data = csv.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"2ed3-2ea9/tplx" in data and b"2ed3-0000" not in data


def test_arg_is_added_to_every_row_as_opp_fingerprinttest_a_adds_it(tmp_path, tagged):
    """`--arg` changes what every row simulates (it was dropped: every row passed with its old fingerprint)."""
    copy_standin(tmp_path / "standin", build=False)
    suite = shutil.copytree(ROOT / "examples" / "suite", tmp_path / "suite")
    out = tmp_path / "out"
    done = tagged.run("run", str(suite), "-j", "2", "-o", str(out), "--match", "aloha", "--arg=--Aloha.numHosts=11")
    assert done.returncode == 1, done.stderr
    runs = json.loads((out / "campaign.json").read_text())["runs"]
    assert runs and all(r["status"] != "passed" for r in runs)
    assert all("Fingerprint mismatch" in (r.get("error") or "") for r in runs), [r.get("error") for r in runs]
