"""The patch that accepts a campaign's new fingerprints (opp_ci.fingerprints.acceptance): computed as `baseline
update --from` would change the project, written to the output directory only, and shown in the summary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from opp_ci.fingerprints import patches
from opp_ci.fingerprints.acceptance import (
    KEY,
    PATCH_FILE,
    UPDATE_DIR,
    FileUpdate,
    merge_proposals,
    propose,
    unified_patch,
)
from opp_ci.fingerprints.baseline import update_from_campaign, update_suites
from opp_ci.fingerprints.checks import FingerprintCheck, SuiteCheck, rows_of
from opp_ci.fingerprints.stores import RunId, open_store
from opp_ci.fingerprints.verdicts import FingerprintVerdict
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.report import summary_markdown

#: A store as `baseline update` writes it (a store written otherwise is rewritten whole, as it would be).
STORE = json.dumps({"version": 1, "fingerprints": [
    {"config": "Aloha", "run": run, "itervars": {}, "ingredients": "tplx", "fingerprint": digest}
    for run, digest in ((0, "1111-1111"), (1, "2222-2222"))]}, indent=2) + "\n"
SUITE = """# working directory, command line,  sim-time-limit, fingerprint, expected, tags
/aloha/,   -f omnetpp.ini -c Short -r 0,   100s,    03f6-d1ca/tplx,   PASS,   quick
/aloha/,   -f omnetpp.ini -c Short -r 1,   100s,    2ed3-2ea9/tplx,   PASS,   quick"""  # no newline at the end


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under `directory` by its path, with a digest of its content."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def store_record(run: int, calculated: str, expected: str) -> RunRecord:
    same = calculated == expected
    return RunRecord(config="Aloha", run=run, status=RunStatus.PASSED if same else RunStatus.FAILED,
                     fingerprint=FingerprintVerdict.VERIFIED if same else FingerprintVerdict.MISMATCH,
                     fingerprint_calculated=f"{calculated}/tplx", fingerprint_expected=f"{expected}/tplx")


def suite_record(line: int, calculated: str, expected: str) -> RunRecord:
    same = calculated == expected
    verdict = f"verified: {calculated}/tplx" if same else \
        f"mismatch! calculated: {calculated}/tplx, expected: {expected}/tplx"
    return RunRecord(config="Short", run=line - 2, status=RunStatus.PASSED if same else RunStatus.FAILED,
                     fingerprint=FingerprintVerdict.VERIFIED if same else FingerprintVerdict.MISMATCH,
                     suite_row=f"suite.csv:{line}", test=f"row {line}", repeat=0, exit_code=0,
                     log_tail=f"<!> Simulation time limit reached -- at t=100s, event #9\n<!> Fingerprint {verdict}\n")


def store_project(tmp_path: Path) -> tuple[Path, FingerprintCheck]:
    project = tmp_path / "project"
    (project / "fingerprints").mkdir(parents=True)
    (project / "fingerprints" / "store.json").write_text(STORE)
    return project, FingerprintCheck(open_store(project / "fingerprints" / "store.json"), ["tplx"])


def test_a_changed_fingerprint_of_the_store_becomes_a_patch_in_the_output_directory_only(tmp_path):
    project, check = store_project(tmp_path)
    before = snapshot(project)
    campaign = Campaign("c", [store_record(0, "1111-1111", "1111-1111"), store_record(1, "abcd-ef01", "2222-2222")],
                        extra={"project": str(project)})
    out = tmp_path / "out"
    out.mkdir()
    [update] = propose([check], campaign, out)

    assert snapshot(project) == before
    assert update.path == "fingerprints/store.json" and update.rows == 1
    patch = (out / PATCH_FILE).read_text()
    assert patch.startswith("--- a/fingerprints/store.json\n+++ b/fingerprints/store.json\n")
    assert [line for line in patch.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        '-      "fingerprint": "2222-2222"', '+      "fingerprint": "abcd-ef01"']
    assert campaign.extra[KEY]["files"] == ["fingerprints/store.json"] and campaign.extra[KEY]["rows"] == 1
    assert campaign.extra[KEY]["preview"] == patch

    # what the artifact carries is what `baseline update --from` writes into the project
    assert check.store.expected(RunId.of("Aloha", 1), ["tplx"]) == "2222-2222/tplx"  # the check's copy, too
    updated = (out / UPDATE_DIR / "fingerprints" / "store.json").read_text()
    store = open_store(project / "fingerprints" / "store.json")
    update_from_campaign(store, campaign)
    store.path = tmp_path / "by-baseline-update.json"
    store.save()
    assert store.path.read_text() == updated


def test_a_suite_row_that_mismatched_is_patched_and_the_patch_is_what_baseline_update_writes(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "suite.csv").write_text(SUITE)
    campaign = Campaign("c", [suite_record(2, "03f6-d1ca", "03f6-d1ca"), suite_record(3, "0bad-cafe", "2ed3-2ea9")],
                        extra={"project": str(project)})
    out = tmp_path / "out"
    out.mkdir()
    [update] = propose([SuiteCheck(rows_of(project, ["suite.csv"]), [])], campaign, out)

    assert (project / "suite.csv").read_text() == SUITE and update.rows == 1
    patch = (out / PATCH_FILE).read_text()
    assert "-/aloha/,   -f omnetpp.ini -c Short -r 1,   100s,    2ed3-2ea9/tplx,   PASS,   quick\n" \
           "\\ No newline at end of file\n" in patch
    assert "+/aloha/,   -f omnetpp.ini -c Short -r 1,   100s,    0bad-cafe/tplx,   PASS,   quick\n" \
           "\\ No newline at end of file\n" in patch
    update_suites(project, ["suite.csv"], campaign, out)  # now the project, as `baseline update --from`
    assert (project / "suite.csv").read_text() == (out / UPDATE_DIR / "suite.csv").read_text()
    assert campaign.extra[KEY]["suites"] == ["suite.csv"]


def test_nothing_is_proposed_when_every_fingerprint_was_verified(tmp_path):
    project, check = store_project(tmp_path)
    campaign = Campaign("c", [store_record(0, "1111-1111", "1111-1111")], extra={"project": str(project)})
    assert propose([check], campaign, tmp_path) == []
    assert not (tmp_path / PATCH_FILE).exists() and KEY not in campaign.extra
    assert "Accept the new fingerprints" not in summary_markdown(campaign)


def test_a_new_store_file_is_a_patch_from_dev_null():
    patch = unified_patch([FileUpdate("opp-ci-fingerprints.json", None, "{\n}\n", 1)])
    assert patch.splitlines()[:3] == ["--- /dev/null", "+++ b/opp-ci-fingerprints.json", "@@ -0,0 +1,2 @@"]


def test_the_summary_shows_the_patch_collapsed_and_cuts_a_long_one(tmp_path):
    project, check = store_project(tmp_path)
    campaign = Campaign("c", [store_record(1, "abcd-ef01", "2222-2222")], extra={"project": str(project)})
    propose([check], campaign, tmp_path)
    summary = summary_markdown(campaign)
    section = summary[summary.index("<details><summary>Accept the new fingerprints (1 row)</summary>"):]
    assert "`/opp-ci accept`" in section and "opp-ci baseline update --from OUT_DIR" in section
    assert "```diff\n--- a/fingerprints/store.json\n" in section and "cut here" not in section

    long_patch = "".join(f"+line {i}\n" for i in range(20000))
    campaign.extra[KEY] = {**campaign.extra[KEY], "preview": long_patch[:20000], "patch_chars": len(long_patch)}
    summary = summary_markdown(campaign)
    assert len(summary) < 30000
    assert f"of {len(long_patch)} characters shown): the whole patch is `baseline-update.patch`" in summary


# --- the patch undone, and the shards' proposals merged ---

PAIRS = [("a\nb\nc\n", "a\nB\nc\n"), ("x\ny", "x\nz\n"), ("x\ny", "x\nz"), ("x\ny\n", "x\nz"), ("", "new\n"),
         ("--- a\n+++ b\nkeep\n", "--- a\n+++ c\nkeep\n"),  # lines that look like a file's header
         ("".join(f"{i}\n" for i in range(40)), "".join(f"{i if i % 13 else 'x'}\n" for i in range(40)))]


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_a_patch_is_undone_from_the_file_it_made(old, new):
    diffs = patches.by_file(patches.unified_patch([("first.csv", old, new), ("second.csv", "1\n2\n", "1\n3\n")]))
    assert set(diffs) == {"first.csv", "second.csv"}
    assert patches.original(new, diffs["first.csv"]) == old
    assert patches.original("1\n3\n", diffs["second.csv"]) == "1\n2\n"


def test_a_new_file_is_undone_to_none():
    diff = patches.by_file(patches.unified_patch([("new.json", None, "{}\n")]))["new.json"]
    assert diff.new_file and patches.original("{}\n", diff) is None


def test_merged_shards_propose_what_one_campaign_of_all_their_runs_proposes(tmp_path):
    """Each shard's proposal holds its own runs; merge undoes one to the project's store (it has no checkout)
    and records every shard's runs, as one campaign would."""
    project, check = store_project(tmp_path)
    records = [store_record(0, "aaaa-0000", "1111-1111"), store_record(1, "bbbb-1111", "2222-2222")]
    shards = []
    for index, record in enumerate(records, 1):
        shard = Campaign(f"s{index}", [record], extra={"project": str(project)})
        (tmp_path / f"shard{index}").mkdir()
        propose([FingerprintCheck(open_store(check.store.path), ["tplx"])], shard, tmp_path / f"shard{index}")
        shards.append((tmp_path / f"shard{index}", shard))
    (tmp_path / "one").mkdir()
    propose([check], Campaign("one", records, extra={"project": str(project)}), tmp_path / "one")
    (tmp_path / "merged").mkdir()
    merged = Campaign("m", records, extra={"project": "/the/shards/project"})

    [update] = merge_proposals(shards, merged, tmp_path / "merged")
    assert update.rows == 2 and merged.extra[KEY]["rows"] == 2
    assert (tmp_path / "merged" / PATCH_FILE).read_text() == (tmp_path / "one" / PATCH_FILE).read_text()
    assert (tmp_path / "merged" / UPDATE_DIR / "fingerprints" / "store.json").read_text() == \
        (tmp_path / "one" / UPDATE_DIR / "fingerprints" / "store.json").read_text()


def test_a_campaign_that_no_longer_mismatches_leaves_no_earlier_proposal_behind(tmp_path):
    project, check = store_project(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    propose([check], Campaign("c", [store_record(1, "abcd-ef01", "2222-2222")], extra={"project": str(project)}), out)
    assert (out / PATCH_FILE).is_file() and (out / UPDATE_DIR).is_dir()
    again = Campaign("c", [store_record(1, "2222-2222", "2222-2222")], extra={"project": str(project), KEY: {}})
    assert propose([check], again, out) == []  # resumed in the same directory: the run passes now
    assert not (out / PATCH_FILE).exists() and not (out / UPDATE_DIR).exists() and KEY not in again.extra


INET_STORE = """# working directory, command line arguments, simulation time limit, fingerprint, expected result, tags
.,  -f omnetpp.ini -c Aloha -r 0,  10s,  1111-1111/tplx,  PASS,  quick
.,  -f omnetpp.ini -c Aloha -r 1,  10s,  2222-2222/tplx,  PASS,  quick
"""


def test_an_inet_csv_store_is_patched_in_its_row_alone(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "fingerprints.csv").write_text(INET_STORE)
    check = FingerprintCheck(open_store(project / "fingerprints.csv"), ["tplx"])
    campaign = Campaign("c", [store_record(0, "1111-1111", "1111-1111"), store_record(1, "abcd-ef01", "2222-2222")],
                        extra={"project": str(project)})
    propose([check], campaign, tmp_path)
    assert (project / "fingerprints.csv").read_text() == INET_STORE
    changed = [line for line in (tmp_path / PATCH_FILE).read_text().splitlines() if line[:1] in "+-"]
    assert changed[2:] == ["-.,  -f omnetpp.ini -c Aloha -r 1,  10s,  2222-2222/tplx,  PASS,  quick",
                           "+.,  -f omnetpp.ini -c Aloha -r 1,  10s,  abcd-ef01/tplx,  PASS,  quick"]


def test_merged_shards_of_a_suite_propose_both_rows(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "suite.csv").write_text(SUITE)
    records = [suite_record(2, "0bad-0001", "03f6-d1ca"), suite_record(3, "0bad-0002", "2ed3-2ea9")]
    shards = []
    for index, record in enumerate(records, 1):
        shard = Campaign(f"s{index}", [record], extra={"project": str(project)})
        (tmp_path / f"shard{index}").mkdir()
        propose([SuiteCheck(rows_of(project, ["suite.csv"]), [])], shard, tmp_path / f"shard{index}")
        shards.append((tmp_path / f"shard{index}", shard))
    (tmp_path / "merged").mkdir()
    [update] = merge_proposals(shards, Campaign("m", records), tmp_path / "merged")
    assert update.suite and update.rows == 2 and update.old == SUITE
    assert "0bad-0001/tplx" in update.new and "0bad-0002/tplx" in update.new
