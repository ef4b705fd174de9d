"""A campaign like the one issue 25 showed: one parameter study of AlohaExperiment (numHosts 10 and 20, four
repetitions each: 8 runs) whose six metrics span 0.04 .. 512,678, compared with a baseline in which every metric
moved by a different relative amount. Real .sca files and the real comparison (opp_ci.regression); nothing runs."""

from __future__ import annotations

from pathlib import Path

from opp_ci import regression
from opp_ci.comparison import ComparisonSummary, ScalarChange
from opp_ci.records import Campaign, RunRecord, RunStatus

CONFIG = "AlohaExperiment"
POINTS = ("10", "20")
REPETITIONS = 4
#: (module, scalar name): (baseline value at numHosts=10, relative change in the candidate)
METRICS = {
    ("Aloha.server", "channelUtilization:last"): (0.04, 0.30),
    ("Aloha.server", "collidedFrames:sum"): (3412.0, -0.40),
    ("Aloha.server", "receivedFrames:sum"): (1287.0, 0.05),
    ("Aloha.server", "duration"): (512678.0, 0.004),
    ("Aloha.host[0]", "radioState:timeavg"): (0.51, 2.50),
    ("Aloha.host[1]", "radioState:timeavg"): (0.49, 0.02),
}
#: Compared statistically over the repetitions (the rest run by run, exactly).
STATISTICAL = ("channelUtilization:last", "collidedFrames:sum")
RUNS = len(POINTS) * REPETITIONS


def value(metric: tuple[str, str], point: int, repetition: int, candidate: bool) -> float:
    base, change = METRICS[metric]
    noise = 1 + 0.001 * (repetition - 1.5)  # repetitions differ a little; the change dwarfs it
    return base * (1 + point) * noise * ((1 + change) if candidate else 1)


def write_output_dir(out_dir: Path, candidate: bool) -> Path:
    """An output directory as `opp-ci run` leaves it: campaign.json and one .sca file per run."""
    records = []
    for point, hosts in enumerate(POINTS):
        for repetition in range(REPETITIONS):
            number = point * REPETITIONS + repetition
            name = f"results/{CONFIG}-numHosts={hosts}-#{repetition}.sca"
            lines = ["version 3", f"run {CONFIG}-{number}-20261206-13:00:00-1", f"attr configname {CONFIG}",
                     f"attr runnumber {number}", f"attr repetition {repetition}", f"itervar numHosts {hosts}"]
            lines += [f"scalar {module} {scalar} {value((module, scalar), point, repetition, candidate)!r}"
                      for module, scalar in METRICS]
            (out_dir / "results").mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_text("\n".join(lines) + "\n")
            records.append(RunRecord(config=CONFIG, run=number, job_id=f"job-{number}", status=RunStatus.PASSED,
                                     itervars={"numHosts": hosts, "repetition": str(repetition)}, exit_code=0,
                                     repetition=repetition, result_files=[name], log=f"logs/{CONFIG}-{number}.log"))
    Campaign(campaign=out_dir.name, runs=records).write(out_dir)
    return out_dir


def compared(tmp_path: Path) -> Campaign:
    """The candidate campaign after the comparison: every run regressed, the summary in extra["regression"]."""
    base = write_output_dir(tmp_path / "baseline", candidate=False)
    candidate = write_output_dir(tmp_path / "candidate", candidate=True)
    settings = regression.Settings.from_mapping({"metrics": list(STATISTICAL)})
    return regression.compare_campaigns(base, candidate, settings, plots=False)


def big_campaign(runs: int) -> Campaign:
    """`runs` runs of a 1,000-point study, each failed by a regression with a long message, and the summary of
    campaign.json's `regression` at its largest (STORED_DIFFERENCES changes)."""
    message = "Regression: 6 scalar(s) beyond tolerance, largest: " + "; ".join(
        f"Aloha.server metric{i}:mean: 1.0 -> 2.0 (+100.00%)" for i in range(3)) + " (and 3 more)"
    records = [RunRecord(config="AlohaExperiment", run=i, job_id=f"j{i}", status=RunStatus.FAILED, error=message,
                         itervars={"numHosts": str(i // 2), "repetition": str(i % 2)}, repetition=i % 2,
                         log=f"logs/AlohaExperiment-{i}.log") for i in range(runs)]
    changes = [ScalarChange("AlohaExperiment", {"numHosts": str(i // 2), "repetition": str(i % 2)}, str(i % 2),
                            f"Aloha.host[{i % 7}]", f"metric{i % 5}:mean", "changed", 1.0 + i, 2.0 + i, None, None)
               for i in range(runs)]
    summary = ComparisonSummary("/base", "base", {}, runs, runs, runs * 6, runs * 6, differences=changes)
    return Campaign("big", records, extra={"regression": summary.to_json()})
