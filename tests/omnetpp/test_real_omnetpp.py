"""A real OMNeT++ end to end on the local backend: models from their sources (no Makefile), built by
opp_makemake with OMNeT++ found where opp-ci looks for it, a fingerprint suite over several samples (one a
shared library run by `opp_run -l`), and `opp-ci export` against `opp_scavetool` on fresh results."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from projects import without_omnetpp
from real_models import MAKEMAKE, MAKEMAKE_LIBRARY, copy_sample, opp_ci, opp_ci_env

HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.omnetpp, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def aloha_campaign(aloha_project, omnetpp_root, tmp_path_factory) -> Path:
    """aloha's PureAlohaExperiment (4 runs), built from its sources by `opp-ci run` itself."""
    out = tmp_path_factory.mktemp("aloha-out")
    done = opp_ci("run", str(aloha_project), "--config", "PureAlohaExperiment", "-j", "2", "-o", str(out),
                  env=opp_ci_env(omnetpp_root))
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return out


#: Extraction refuses absolute paths and links out of the target where tarfile can (Python 3.11.4 and later:
#: Debian 12's 3.11.2 has no `filter`).
SAFE_EXTRACTION = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}


def test_aloha_from_its_sources_builds_with_opp_makemake_and_runs(aloha_campaign, aloha_project):
    campaign = json.loads((aloha_campaign / "campaign.json").read_text())
    assert campaign["totals"]["total"] == 4 and campaign["totals"]["passed"] == 4
    assert (aloha_project / "aloha").is_file() and (aloha_project / "Makefile").is_file()
    assert campaign["omnetpp"]["version"] == "6.1"
    assert campaign["omnetpp"]["found_in"].startswith("OMNETPP_ROOT=")
    environment = campaign["environment"]  # what a triage compares with a baseline's
    assert environment["omnetpp"] == "6.1" and environment["compiler"].split(":")[0] in ("g++", "clang++")
    assert "<summary>Environment</summary>" in (aloha_campaign / "summary.md").read_text()
    scalars = sorted(p.name for p in (aloha_campaign / "results").rglob("*.sca"))
    assert scalars == [f"PureAlohaExperiment-numHosts=10,iaMean={i}-#{r}.sca" for i in (1, 2) for r in (0, 1)]
    assert "OMNeT++ 6.1 in `" in (aloha_campaign / "summary.md").read_text()


def test_without_omnetpp_anywhere_one_line_exit_2_and_nothing_built(omnetpp_root, tmp_path):
    if Path("/root/omnetpp/setenv").is_file():
        pytest.skip("this machine has OMNeT++ in /root/omnetpp, where opp-ci looks")
    project = copy_sample(omnetpp_root, "aloha", tmp_path)
    (project / "opp-ci.toml").write_text(f'command = "./aloha"\n[image]\nbuild = "{MAKEMAKE.format(name="aloha")}"\n'
                                         '[configs.PureAloha1]\nsim-time-limit = "10s"\n')
    done = opp_ci("run", str(project), "-o", str(tmp_path / "out"), env=without_omnetpp())
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "opp-ci: error: OMNeT++ not found (looked in: PATH (opp_run), /root/omnetpp): source its setenv, set "
        "OMNETPP_ROOT to its directory, or use an OMNeT++ image"]
    assert not (project / "Makefile").exists() and not (tmp_path / "out").exists()


def test_opp_ci_export_matches_opp_scavetool_on_fresh_results(aloha_campaign, omnetpp_root, tmp_path):
    scalars = sorted((aloha_campaign / "results").rglob("*.sca"))
    ours = opp_ci("export", *map(str, scalars), env=opp_ci_env(omnetpp_root))
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([str(omnetpp_root / "bin" / "opp_scavetool"), "export", "-T", "s", "-F", "CSV-S",
                             "-o", str(tmp_path / "scavetool.csv"), *map(str, scalars)],
                            capture_output=True, text=True, timeout=120)
    assert theirs.returncode == 0, theirs.stderr
    expected = list(csv.DictReader(io.StringIO((tmp_path / "scavetool.csv").read_text())))
    found = list(csv.DictReader(io.StringIO(ours.stdout)))
    assert len(expected) > 20 and len(found) == len(expected)
    key = ("run", "module", "name")
    assert {tuple(r[k] for k in key): float(r["value"]) for r in found} == pytest.approx(
        {tuple(r[k] for k in key): float(r["value"]) for r in expected})


@pytest.fixture
def samples_suite(omnetpp_root, tmp_path) -> Path:
    """aloha, fifo, queueinglib (a shared library) and queuenet from their sources, and samples.csv."""
    for name in ("aloha", "fifo", "queueinglib", "queuenet"):
        copy_sample(omnetpp_root, name, tmp_path)
    shutil.copy(HERE / "samples.csv", tmp_path / "samples.csv")
    builds = [f"(cd {n} && {MAKEMAKE.format(name=n)})" for n in ("aloha", "fifo")]
    builds.append(f"(cd queueinglib && {MAKEMAKE_LIBRARY.format(name='queueinglib')})")
    (tmp_path / "opp-ci.toml").write_text(
        'command = "opp_run -l ../queueinglib/queueinglib"\n'
        'suite = ["samples.csv"]\n'
        f'\n[image]\nbuild = "{" && ".join(builds)}"\n')
    return tmp_path


def suite_verdicts(out: Path) -> dict[str, str]:
    runs = json.loads((out / "campaign.json").read_text())["runs"]
    return {r["suite_row"]: next(v["message"].split(":")[0] for v in r["verdicts"] if v["check"] == "suite")
            for r in runs}


def test_a_fingerprint_suite_over_real_samples_passes_with_real_fingerprints(samples_suite, omnetpp_root):
    out = samples_suite / "out"
    done = opp_ci("run", str(samples_suite), "-j", "2", "-o", str(out), env=opp_ci_env(omnetpp_root))
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    verdicts = suite_verdicts(out)
    assert len(verdicts) == 6 and set(verdicts.values()) == {"PASS"}, verdicts
    assert (samples_suite / "queueinglib" / "libqueueinglib.so").is_file()
    # and a wrong fingerprint fails exactly its row
    csv_file = samples_suite / "samples.csv"
    csv_file.write_text(csv_file.read_text().replace("be44-15dd/tplx", "be44-0000/tplx"))
    done = opp_ci("run", str(samples_suite), "-j", "2", "-o", str(out), "--no-build", env=opp_ci_env(omnetpp_root))
    assert done.returncode == 1, done.stderr
    failed = {row: v for row, v in suite_verdicts(out).items() if v != "PASS"}
    assert [v.split()[0] for v in failed.values()] == ["FAIL"] and next(iter(failed)) == "samples.csv:9"


def test_config_and_ini_names_omnetpp_accepts_are_accepted(aloha_campaign, aloha_project, omnetpp_root, tmp_path):
    """OMNeT++ 6.1 takes `[Config At@Name]`, `[Config Ünï]` and an ini file named with spaces and non-ASCII
    letters; so does opp-ci (it refused them as "not a relative path inside the working directory")."""
    (aloha_project / "my ini ü.ini").write_text(
        "include omnetpp.ini\n\n[Config At@Name]\nextends = PureAloha1\n\n[Config Ünï]\nextends = PureAloha1\n")
    out = tmp_path / "out"
    done = opp_ci("run", str(aloha_project), "--ini", "my ini ü.ini", "--config", "At@Name", "--config", "Ünï",
                  "--sim-time-limit", "10s", "--no-build", "-o", str(out), env=opp_ci_env(omnetpp_root))
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    campaign = json.loads((out / "campaign.json").read_text())
    assert sorted(r["config"] for r in campaign["runs"]) == ["At@Name", "Ünï"]
    assert {p.name for p in (out / "results").rglob("*.sca")} == {"At@Name-#0.sca", "Ünï-#0.sca"}


def test_aloha_built_once_and_packed_runs_where_nothing_is_built(omnetpp_root, tmp_path):
    """The shard jobs' path on a real model: `opp-ci image model --archive` builds aloha with opp_makemake in
    one place; another directory unpacks it and runs it with --no-build."""

    repository = tmp_path / "repository"
    project = copy_sample(omnetpp_root, "aloha", repository)
    shutil.copy(HERE.parents[1] / "examples" / "upstream" / "aloha" / "opp-ci.toml", project / "opp-ci.toml")
    archive = tmp_path / "built.tar.gz"
    env = opp_ci_env(omnetpp_root)
    done = opp_ci("image", "model", str(repository), "--project-dir", "aloha", "--archive", str(archive), env=env)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "aloha/aloha" in names and not [n for n in names if n.endswith(".o")]
        tar.extractall(tmp_path / "shard", **SAFE_EXTRACTION)
    out = tmp_path / "out"
    run = opp_ci("run", str(tmp_path / "shard" / "aloha"), "--no-build", "-c", "PureAlohaExperiment", "-r", "0..1",
                 "-j", "2", "-o", str(out), env=env)
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert json.loads((out / "campaign.json").read_text())["totals"]["passed"] == 2


def test_a_real_sample_made_nondeterministic_is_triaged_so_and_a_stable_failure_is_not(
        aloha_campaign, aloha_project, omnetpp_root, tmp_path):
    """aloha seeded from its process id (`seed-set = ${processid}`: a model that seeds from the clock) fails its
    fingerprint differently at every attempt: --confirm 2 finds it nondeterministic, and proposes the quarantine
    entry; PureAloha1 with a planted wrong fingerprint fails the same way three times: unknown (no baseline)."""
    shutil.copytree(aloha_project, tmp_path / "aloha", symlinks=True)  # built by aloha_campaign
    with (tmp_path / "aloha" / "omnetpp.ini").open("a") as ini:
        ini.write("\n[Config Unstable]\nextends = PureAloha1\nseed-set = ${processid}\n")
    (tmp_path / "triage.csv").write_text(
        "/aloha/, ./aloha -f omnetpp.ini -c Unstable -r 0,   100s, 701f-3e9a/tplx, PASS, unstable\n"
        "/aloha/, ./aloha -f omnetpp.ini -c PureAloha1 -r 0, 100s, 701f-0000/tplx, PASS, planted\n")
    (tmp_path / "opp-ci.toml").write_text('command = "opp_run"\nsuite = ["triage.csv"]\n')
    out = tmp_path / "out"
    done = opp_ci("run", str(tmp_path), "--no-build", "--confirm", "2", "-j", "2", "-o", str(out),
                  env=opp_ci_env(omnetpp_root))
    assert done.returncode == 1, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    runs = {r["test"].split(" -c ")[1].split()[0]: r for r in json.loads((out / "campaign.json").read_text())["runs"]}
    unstable, planted = runs["Unstable"]["triage"], runs["PureAloha1"]["triage"]
    assert unstable["finding"] == "nondeterministic", unstable
    assert len({r["fingerprints"] for r in unstable["results"]}) == 3  # every attempt's fingerprint, all kept
    assert planted["finding"] == "unknown" and [r["fingerprints"] for r in planted["results"]] == ["701f-3e9a/tplx"] * 3
    assert '"/aloha/ ./aloha -f omnetpp.ini -c Unstable -r 0" = { reason' in (out / "summary.md").read_text()
