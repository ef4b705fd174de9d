"""Comparing two output directories: verdicts, marked runs, re-checks, and the summary section."""

from __future__ import annotations

from pathlib import Path

import pytest

from opp_ci import regression
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.report import junit_xml, summary_markdown
from opp_ci.spec import resolve


def write_output_dir(out_dir: Path, runs: list[tuple[str, int, dict[str, str], dict[str, float]]]) -> Path:
    """An output directory as `opp-ci run` leaves it: campaign.json and one .sca file per run."""
    records = []
    for config, number, itervars, scalars in runs:
        name = f"results/{config}-{number}.sca"
        lines = ["version 3", f"run {config}-{number}-20260101-00:00:00-1", f"attr configname {config}",
                 f"attr runnumber {number}", f"attr repetition {itervars.get('repetition', number)}"]
        lines += [f"itervar {k} {v}" for k, v in itervars.items() if k != "repetition"]
        lines += [f"scalar Net.server {k} {v!r}" for k, v in scalars.items()]
        (out_dir / "results").mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text("\n".join(lines) + "\n")
        records.append(RunRecord(config=config, run=number, job_id=f"job-{config}-{number}", itervars=itervars,
                                 status=RunStatus.PASSED, exit_code=0, result_files=[name]))
    Campaign(campaign=out_dir.name, runs=records).write(out_dir)
    return out_dir


def deterministic(out_dir: Path, delay: float) -> Path:
    return write_output_dir(out_dir, [("Quick", 0, {}, {"delay": delay, "count": 10.0}),
                                      ("Quick", 1, {}, {"delay": 2.0, "count": 10.0})])


def test_within_tolerance_nothing_regresses(tmp_path):
    base, candidate = deterministic(tmp_path / "base", 1.0), deterministic(tmp_path / "cand", 1.01)
    settings = regression.Settings.from_mapping({"tolerances": {"delay": {"rel": 0.01}}})
    result = regression.compare_campaigns(base, candidate, settings, plots=False)
    assert result.all_passed
    verdict = result.extra["regression"]
    assert (verdict["scalars_compared"], verdict["scalars_changed"], verdict["regressed_runs"]) == (4, 0, 0)


def test_beyond_tolerance_fails_that_run_with_the_largest_difference(tmp_path):
    base, candidate = deterministic(tmp_path / "base", 1.0), deterministic(tmp_path / "cand", 1.0101)
    settings = regression.Settings.from_mapping({"tolerances": {"delay": {"rel": 0.01}}})
    result = regression.compare_campaigns(base, candidate, settings, plots=False)
    failed = [r for r in result.runs if r.status is RunStatus.FAILED]
    assert [r.run for r in failed] == [0]
    assert failed[0].error.startswith(regression.REGRESSION_PREFIX)
    assert "Net.server delay: 1.0 -> 1.0101 (+1.01%)" in failed[0].error
    assert result.extra["regression"]["differences"][0]["name"] == "delay"
    summary = summary_markdown(result)
    assert "### Comparison with the baseline: ❌ regressions" in summary
    assert "| Quick | Net.server delay | 1 | 1.0101 | 1/1 | +1.01% | ❌ beyond tolerance: 1 run(s) |" in summary
    assert "**3** of 4 scalars unchanged" in summary
    assert 'message="Regression: 1 scalar(s) beyond tolerance' in junit_xml(result)


def test_recheck_under_new_tolerances_undoes_old_verdicts(tmp_path):
    base, candidate = deterministic(tmp_path / "base", 1.0), deterministic(tmp_path / "cand", 1.05)
    strict = regression.compare_campaigns(base, candidate, regression.Settings(), plots=False)
    strict.write(candidate)
    assert not strict.all_passed
    lenient = regression.Settings.from_mapping({"tolerances": {"*": {"abs": 0.1}}})
    rechecked = regression.compare_campaigns(base, candidate, lenient, candidate=Campaign.read(candidate),
                                             plots=False)
    assert rechecked.all_passed and rechecked.extra["regression"]["settings"]["tolerances"] == {"*": {"abs": 0.1}}


def stochastic(out_dir: Path, values: list[float]) -> Path:
    return write_output_dir(out_dir, [("Stochastic", i, {"repetition": str(i)}, {"utilization": v, "duration": 60.0})
                                      for i, v in enumerate(values)])


BASE_SAMPLE = [0.171, 0.176, 0.174, 0.169, 0.178, 0.172, 0.175, 0.173, 0.170, 0.177]


def test_statistical_shift_fails_the_groups_runs(tmp_path):
    base = stochastic(tmp_path / "base", BASE_SAMPLE)
    candidate = stochastic(tmp_path / "cand", [v + 0.01 for v in reversed(BASE_SAMPLE)])
    settings = regression.Settings.from_mapping({"metrics": ["utilization", "duration"]})
    result = regression.compare_campaigns(base, candidate, settings, plots=False)
    verdict = result.extra["regression"]
    assert (verdict["statistical_tests"], verdict["significant"], verdict["scalars_changed"]) == (2, 1, 0)
    shifted = next(t for t in verdict["statistical"] if t["significant"])
    assert shifted["name"] == "utilization" and shifted["relative"] == pytest.approx(0.01 / 0.1735, rel=1e-3)
    assert shifted["ci"][0] > 0 and shifted["hedges_g"] > 2
    assert all(r.status is RunStatus.FAILED and "changed significantly" in r.error for r in result.runs)
    assert "| ❌ shifted (Welch's t-test p_adj=" in summary_markdown(result)


def test_same_distribution_in_another_order_passes(tmp_path):
    base = stochastic(tmp_path / "base", BASE_SAMPLE)
    candidate = stochastic(tmp_path / "cand", list(reversed(BASE_SAMPLE)))
    # run by run every value changed, but as a sample nothing did
    settings = regression.Settings.from_mapping({"metrics": ["utilization"]})
    result = regression.compare_campaigns(base, candidate, settings, plots=False)
    assert result.all_passed and result.extra["regression"]["significant"] == 0


def test_plots_are_written_and_linked(tmp_path):
    base = stochastic(tmp_path / "base", BASE_SAMPLE)
    candidate = stochastic(tmp_path / "cand", [v + 0.01 for v in BASE_SAMPLE])
    settings = regression.Settings.from_mapping({"metrics": ["utilization"]})
    result = regression.compare_campaigns(base, candidate, settings)
    plots = result.extra["regression"]["plots"]
    assert plots and all((candidate / p).read_bytes().startswith(b"\x89PNG") for p in plots)
    summary = summary_markdown(result)
    assert f"`{plots[0]}`" in summary and f"]({plots[0]})" not in summary  # no link into an artifact


def test_plots_link_the_artifacts_and_changed_scalars_are_charted(tmp_path, monkeypatch):
    for name, value in (("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "o/r"),
                        ("GITHUB_RUN_ID", "7")):
        monkeypatch.setenv(name, value)
    base, candidate = deterministic(tmp_path / "base", 1.0), deterministic(tmp_path / "cand", 1.5)
    summary = summary_markdown(regression.compare_campaigns(base, candidate, regression.Settings()))
    assert "in [the artifact](https://github.com/o/r/actions/runs/7): `plots/" in summary
    assert "```mermaid\nxychart-beta" in summary and 'x-axis ["delay"]' in summary and "bar [150]" in summary


def test_runs_on_one_side_only_are_reported_not_compared(tmp_path):
    base = deterministic(tmp_path / "base", 1.0)
    candidate = write_output_dir(tmp_path / "cand", [("Quick", 0, {}, {"delay": 1.0, "count": 10.0})])
    result = regression.compare_campaigns(base, candidate, regression.Settings(), plots=False)
    assert result.all_passed
    assert result.extra["regression"]["runs_only_in_baseline"] == ["Quick[#1]"]


def test_artifacts_url_in_github_actions():
    environ = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    assert regression.artifacts_url(environ) == "https://github.com/o/r/actions/runs/7"
    assert regression.artifacts_url({}) is None


def test_spec_regression_keys(tmp_path):
    (tmp_path / "opp-ci.toml").write_text(
        'command = "./sim"\ncheck = ["fingerprints"]\nalpha = 0.01\nmetrics = ["util*"]\n'
        '[tolerances]\n"*:mean" = {rel = 0.01}\n[configs.Quick]\n')
    settings = resolve(tmp_path, {}, environ={}).checks
    assert settings.check == ["fingerprints"] and settings.comparison["alpha"] == 0.01
    assert settings.comparison["tolerances"] == {"*:mean": {"rel": 0.01}}
    assert settings.fingerprints == "opp-ci-fingerprints.json"
    assert regression.Settings.from_mapping(settings.comparison).metrics == ("util*",)
    flags = resolve(tmp_path, {"check": ["fingerprints"], "baseline": "/b"}, environ={}).checks
    assert flags.baseline == "/b"


def test_read_tolerances_file(tmp_path):
    (tmp_path / "t.toml").write_text('[tolerances]\n"delay" = {rel = 0.02, abs = 1e-9}\n')
    assert regression.read_tolerances_file(tmp_path / "t.toml") == {"delay": {"rel": 0.02, "abs": 1e-9}}
    (tmp_path / "bad.toml").write_text('[tolerances]\n"delay" = {relative = 0.02}\n')
    with pytest.raises(regression.UserError, match="unknown key 'relative'"):
        regression.read_tolerances_file(tmp_path / "bad.toml")


def test_missing_and_new_scalars_are_named_in_the_summary(tmp_path):
    base = write_output_dir(tmp_path / "base", [("Quick", 0, {}, {"delay": 1.0, "old": 1.0})])
    candidate = write_output_dir(tmp_path / "cand", [("Quick", 0, {}, {"delay": 1.0, "new": 1.0})])
    result = regression.compare_campaigns(base, candidate, regression.Settings(), plots=False)
    summary = summary_markdown(result)
    assert "| Quick | Net.server old | 1 | — | 1/0 | — | ❌ missing in the candidate: 1 run(s) |" in summary
    assert "| Quick | Net.server new | — | 1 | 0/1 | — | ❌ new in the candidate: 1 run(s) |" in summary
    assert "missing" in result.runs[0].error and "added" in result.runs[0].error


def test_a_broken_result_file_is_a_verdict_on_its_run_not_an_exit(tmp_path):
    base, candidate = deterministic(tmp_path / "base", 1.0), deterministic(tmp_path / "cand", 1.0)
    (candidate / "results" / "Quick-1.sca").write_text("version 3\nrun r\nscalar Net.server delay not-a-number\n")
    result = regression.compare_campaigns(base, candidate, regression.Settings(), plots=False)
    quick0, quick1 = sorted(result.runs, key=lambda r: r.run)
    assert quick0.status is RunStatus.PASSED
    assert quick1.status is RunStatus.ERROR and "cannot compare" in quick1.error and "Quick-1.sca" in quick1.error
    assert [v.file for v in quick1.verdicts] == ["results/Quick-1.sca"]
    assert any("Quick-1.sca" in p for p in result.extra["regression"]["unreadable_files"])
    assert "could not read results/Quick-1.sca" in summary_markdown(result)


def test_a_recheck_recomputes_the_verdicts_instead_of_undoing_them(tmp_path):
    base, candidate = deterministic(tmp_path / "base", 1.0), deterministic(tmp_path / "cand", 1.5)
    strict = regression.compare_campaigns(base, candidate, regression.Settings(), plots=False)
    assert [r.status for r in strict.runs] == [RunStatus.FAILED, RunStatus.PASSED]
    again = regression.compare_campaigns(base, candidate, regression.Settings(), candidate=strict, plots=False)
    assert [r.status for r in again.runs] == [RunStatus.FAILED, RunStatus.PASSED]
    assert [len(r.verdicts) for r in again.runs] == [1, 1]  # replaced, not piled up
    loose = regression.Settings.from_mapping({"tolerances": {"delay": {"rel": 0.6}}})
    relaxed = regression.compare_campaigns(base, candidate, loose, candidate=again, plots=False)
    assert relaxed.all_passed and all(r.execution is RunStatus.PASSED for r in relaxed.runs)
