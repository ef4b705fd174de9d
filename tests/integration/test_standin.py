"""The stand-in simulation (examples/standin/standin) against what a real OMNeT++ 6.1 prints.

The stand-in is the thing under test, so these tests run it as a subprocess (each run takes
milliseconds). Where a test has an exact transcript of the real `aloha` it compares byte for byte,
with an ini file copied from the real sample; elsewhere it compares the shape with regexes.
The exact tests also compare against the reference transcripts and results in
tests/data/omnetpp-reference.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from projects import build_project, copy_standin

ROOT = Path(__file__).resolve().parents[2]
STANDIN_DIR = ROOT / "examples" / "standin"
STANDIN = STANDIN_DIR / "standin"
REFERENCE = ROOT / "tests" / "data" / "omnetpp-reference"  # a copy of OMNeT++ 6.1's transcripts and results

# samples/aloha/omnetpp.ini of OMNeT++ 6.1 (the itervar block defines the 42-run order)
ALOHA_INI = """\
[General]
network = Aloha
#debug-on-errors = true
#record-eventlog = true

Aloha.numHosts = 20
Aloha.slotTime = 0s    # no slots
Aloha.txRate = 9.6kbps
Aloha.host[*].pkLenBits = 952b #=119 bytes, so that (with +1 byte guard) slotTime is a nice round number

**.x = uniform(0m, 1000m)
**.y = uniform(0m, 1000m)
**.animationHoldTimeOnCollision = 0s
**.idleAnimationSpeed = 1
**.transmissionEdgeAnimationSpeed = 1e-6
**.midTransmissionAnimationSpeed = 1e-1

[PureAloha1]
description = "pure Aloha, overloaded"
# too frequent transmissions result in high collision rate and low channel utilization
Aloha.host[*].iaTime = exponential(2s)

[PureAloha2]
description = "pure Aloha, optimal load"
Aloha.host[*].iaTime = exponential(6s)

[PureAloha3]
description = "pure Aloha, low traffic"
Aloha.host[*].iaTime = exponential(30s)

[PureAlohaExperiment]
description = "Channel utilization in the function of packet generation frequency"
repeat = 2
sim-time-limit = 90min
#**.vector-recording = false
Aloha.numHosts = ${numHosts=10,15,20}
Aloha.host[*].iaTime = exponential(${iaMean=1,2,3,4,5..9 step 2}s)

[SlottedAloha1]
description = "slotted Aloha, overloaded"
Aloha.slotTime = 100ms
Aloha.host[*].iaTime = exponential(0.5s)

[SlottedAloha2]
description = "slotted Aloha, optimal load"
Aloha.slotTime = 100ms
Aloha.host[*].iaTime = exponential(2s)

[SlottedAloha3]
description = "slotted Aloha, low traffic"
Aloha.slotTime = 100ms
Aloha.host[*].iaTime = exponential(20s)
"""

# Ini files shaped after the broken ones the error transcripts name
BROKEN1_INI = "[General]\nnetwork = Aloha\n[Config Broken\n**.x = 1\n"
BROKEN2_INI = "[General]\nnetwork = Aloha\nthis line has no equals sign\n"
NONET_INI = "[General]\nnetwork = NoSuchNet\n"

BANNER = (
    "OMNeT++ Discrete Event Simulation  (C) 1992-2024 Andras Varga, OpenSim Ltd.\n"
    "Version: 6.1, build: internal, edition: Academic Public License -- NOT FOR COMMERCIAL USE\n"
    "See the license for distribution terms and warranty disclaimer\n\n"
)
ALOHA_RUNS = [
    f"Run {2 * (7 * h + i) + r}: $numHosts={hosts}, $iaMean={ia}, $repetition={r}\n"
    for h, hosts in enumerate((10, 15, 20))
    for i, ia in enumerate((1, 2, 3, 4, 5, 7, 9))
    for r in (0, 1)
]
ALL_42 = "".join(f" {n}" for n in range(42)) + "\n"
VERBOSE_HEAD = BANNER + "Setting up Cmdenv...\n\nConfig: PureAlohaExperiment\nNumber of runs: 42\n\n"

CMDENV = ["-u", "Cmdenv"]
EXP = ["-u", "Cmdenv", "-c", "PureAlohaExperiment"]
ALOHA1 = ["-u", "Cmdenv", "-c", "PureAloha1"]
RUNNUMBERS = ["-s", "-q", "runnumbers"]

# name -> (argv after the program, expected stdout, expected stderr, exit status)
EXACT_TRANSCRIPTS: dict[str, tuple[list[str], str, str, int]] = {
    "s-a": ([*CMDENV, "-s", "-a"],
            "".join(f"Config {c}: {n}\n" for c, n in [
                ("General", 1), ("PureAloha1", 1), ("PureAloha2", 1), ("PureAloha3", 1),
                ("PureAlohaExperiment", 42), ("SlottedAloha1", 1), ("SlottedAloha2", 1),
                ("SlottedAloha3", 1)]), "", 0),
    "s-q-numruns": ([*EXP, "-s", "-q", "numruns"], "42\n", "", 0),
    "s-q-runnumbers": ([*EXP, *RUNNUMBERS], ALL_42, "", 0),
    "s-q-runnumbers-noiter": ([*ALOHA1, *RUNNUMBERS], " 0\n", "", 0),
    "s-q-runnumbers-filter": ([*EXP, "-r", "$numHosts==10 && $iaMean<3", *RUNNUMBERS], " 0 1 2 3\n", "", 0),
    "s-q-runs": ([*EXP, "-s", "-q", "runs"], "".join(ALOHA_RUNS), "", 0),
    "q-numruns": ([*EXP, "-q", "numruns"], VERBOSE_HEAD + "End.\n", "", 0),
    "q-runnumbers": ([*EXP, "-q", "runnumbers"], VERBOSE_HEAD + "Run numbers:" + ALL_42 + "\nEnd.\n", "", 0),
    "q-runs": ([*EXP, "-q", "runs"], VERBOSE_HEAD + "".join(ALOHA_RUNS) + "\nEnd.\n", "", 0),
    "error-ini-syntax-heading": ([*CMDENV, "-f", "broken1.ini", *RUNNUMBERS], "",
                                 "\n<!> Error: Syntax error in section heading, 'broken1.ini' line 3\n", 1),
    "error-ini-syntax-line": ([*CMDENV, "-f", "broken2.ini", *RUNNUMBERS], "",
                              "\n<!> Error: Line must be in the form key=value, 'broken2.ini' line 3\n", 1),
    "error-missing-ini": ([*CMDENV, "-f", "nonexistent.ini", *RUNNUMBERS], "",
                          "\n<!> Error: Cannot open ini file 'nonexistent.ini'\n", 1),
    "error-no-network": ([*CMDENV, "-f", "nonet.ini", "-s", "-r", "0"], "General run 0: , $repetition=0\n",
                         "\n<!> Error: Network 'NoSuchNet' not found, check .ini and .ned files\n", 1),
    "error-no-such-config": ([*CMDENV, "-c", "NoSuchConfig", *RUNNUMBERS], "",
                             "\n<!> Error: No such config: NoSuchConfig\n", 1),
    "error-run-out-of-range": ([*ALOHA1, "-r", "5", "-s"], "",
                               "\n<!> Error: Run number 5 in run list '5' is out of range 0..0\n", 1),
    "error-unknown-option": ([*ALOHA1, "-s", "--no-such-option=1", "-q", "runnumbers"], "",
                             "\n<!> Error: Unknown command-line configuration option --no-such-option\n", 1),
}

EVENT_BLOCK = (
    r"\*\* Event #\d+   t=[\d.]+   Elapsed: [\d.e+-]+s \(\dm \d\ds\)(?:  \d+% completed  \(\d+% total\))?\n"
    r"     Speed:     ev/sec=[\d.e+]+   simsec/sec=[\d.e+]+   ev/simsec=[\d.e+]+\n"
    r"     Messages:  created: \d+   present: \d+   in FES: \d+\n"
)


def standin(*args: str, cwd: Path, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(STANDIN), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture
def aloha(tmp_path: Path) -> Path:
    """A directory shaped like samples/aloha, with the broken ini files of the error transcripts."""
    (tmp_path / "omnetpp.ini").write_text(ALOHA_INI)
    (tmp_path / "broken1.ini").write_text(BROKEN1_INI)
    (tmp_path / "broken2.ini").write_text(BROKEN2_INI)
    (tmp_path / "nonet.ini").write_text(NONET_INI)
    return tmp_path


@pytest.fixture(autouse=True, scope="module")
def _built(standin_executable: Path) -> None:
    """STANDIN is a build product: made by the project's own build command before any test runs it."""


@pytest.fixture
def project(standin_project: Path) -> Path:
    """A private copy of the stand-in project, built."""
    return standin_project


# --- exact transcripts -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXACT_TRANSCRIPTS))
def test_exact_transcript(aloha: Path, name: str) -> None:
    argv, stdout, stderr, status = EXACT_TRANSCRIPTS[name]
    done = standin(*argv, cwd=aloha)
    assert (done.stdout, done.stderr, done.returncode) == (stdout, stderr, status)


@pytest.mark.parametrize("name", sorted(EXACT_TRANSCRIPTS))
def test_expectations_are_the_real_transcripts(name: str) -> None:
    """The embedded expectations are byte-identical to what the real OMNeT++ printed."""
    argv, stdout, stderr, status = EXACT_TRANSCRIPTS[name]
    base = REFERENCE / "transcripts" / name
    assert base.with_suffix(".stdout").read_text() == stdout
    assert base.with_suffix(".stderr").read_text() == stderr
    assert int(base.with_suffix(".exit").read_text()) == status
    assert " ".join(argv) in base.with_suffix(".cmd").read_text()


def test_unknown_user_interface_is_an_error(aloha: Path) -> None:
    done = standin("-u", "Qtenv", "-s", "-a", cwd=aloha)
    assert (done.stdout, done.stderr, done.returncode) == (
        "", "\n<!> Error: Could not start user interface 'Qtenv'\n", 1)


def test_verbose_error_keeps_banner_and_end(aloha: Path) -> None:
    done = standin("-u", "Cmdenv", "-c", "NoSuchConfig", "-q", "runnumbers", cwd=aloha)
    assert done.stdout == BANNER + "Setting up Cmdenv...\n\n\nEnd.\n"
    assert done.stderr == "\n<!> Error: No such config: NoSuchConfig\n"
    assert done.returncode == 1


# --- runs: shape of the output -------------------------------------------------------------------


def test_silent_run_like_s_run_experiment(project: Path) -> None:
    done = standin(*CMDENV, "-c", "AlohaExperiment", "-r", "2", "-s", "--sim-time-limit=10min", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    pattern = (
        r"AlohaExperiment run 2: \$numHosts=10, \$iaMean=3, \$repetition=0\n" + EVENT_BLOCK + EVENT_BLOCK
        + r"\n<!> Simulation time limit reached -- at t=600s, event #\d+\n\[INFO\]\tduration: 600\n")
    assert re.fullmatch(pattern, done.stdout), done.stdout
    assert "  0% completed  (0% total)" in done.stdout and "  100% completed  (100% total)" in done.stdout
    assert re.search(r"Messages:  created: 11   present: 11   in FES: 11", done.stdout)


def test_verbose_run_like_run_experiment(project: Path) -> None:
    done = standin("-u", "Cmdenv", "-c", "AlohaExperiment", "-r", "3", "--sim-time-limit=10min", cwd=project)
    assert done.returncode == 0, done.stderr
    pattern = (
        re.escape(BANNER + "Setting up Cmdenv...\n\n") + r"Loading NED files from \.:  \d+\n"
        r"\nPreparing for running configuration AlohaExperiment, run #3\.\.\.\n"
        r"Scenario: \$numHosts=10, \$iaMean=3, \$repetition=1\n"
        r"Assigned runID=AlohaExperiment-3-\d{8}-\d\d:\d\d:\d\d-\d+\n"
        r"Setting up network \"Aloha\"\.\.\.\nInitializing\.\.\.\n\nRunning simulation\.\.\.\n"
        + EVENT_BLOCK + EVENT_BLOCK
        + r"\n<!> Simulation time limit reached -- at t=600s, event #\d+\n"
        r"\nCalling finish\(\) at end of Run #3\.\.\.\n\[INFO\]\tduration: 600\n\nEnd\.\n")
    assert re.fullmatch(pattern, done.stdout), done.stdout


def test_verbose_batch_prints_run_statistics(project: Path) -> None:
    done = standin("-c", "AlohaExperiment", "-r", "0..1", "--sim-time-limit=1min", cwd=project)
    assert done.returncode == 0
    assert done.stdout.endswith("\nRun statistics: total 2, successful 2\n\nEnd.\n")


def test_fifo_shape_run_line_with_unit_itervar(project: Path) -> None:
    """fifo-tandem-experiment-r1: `CONFIG run N: $var=1.5s, $repetition=1`, blocks, limit message."""
    (project / "units.ini").write_text(
        "[General]\nnetwork = Aloha\n**.vector-recording = false\n"
        "[TandemLike]\nrepeat = 2\nsim-time-limit = 200s\n"
        "Aloha.host[*].iaTime = exponential(${serviceTimeMean=1.5s, 2.5s})\n")
    done = standin("-u", "Cmdenv", "-f", "units.ini", "-c", "TandemLike", "-r", "1", "-s", cwd=project)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"TandemLike run 1: \$serviceTimeMean=1\.5s, \$repetition=1\n" + EVENT_BLOCK + EVENT_BLOCK
        + r"\n<!> Simulation time limit reached -- at t=200s, event #\d+\n\[INFO\]\tduration: 200\n",
        done.stdout)
    assert (project / "results" / "TandemLike-serviceTimeMean=1.5s-#1.sca").exists()


def test_cpu_time_limit_without_sim_time_limit(project: Path) -> None:
    """run-noiter-cpulimit: ends at an arbitrary simulation time when the CPU time is used up."""
    done = standin("-u", "Cmdenv", "-c", "Forever", "-r", "0", "-s", "--cpu-time-limit=0.3s",
                   "--**.vector-recording=false", cwd=project)
    assert done.returncode == 0, done.stderr
    m = re.fullmatch(
        r"Forever run 0: , \$repetition=0\n" + EVENT_BLOCK + EVENT_BLOCK
        + r"\n<!> CPU time limit reached -- at t=([\d.]+)s, event #(\d+)\n\[INFO\]\tduration: ([\d.]+)\n",
        done.stdout)
    assert m, done.stdout
    assert m.group(1) == m.group(3) and float(m.group(1)) > 0


def test_no_time_limit_stops_at_max_sim_time(project: Path) -> None:
    done = standin("-c", "Forever", "-s", "--**.maxSimTime=100s", cwd=project)
    assert done.returncode == 0
    assert re.search(r"<!> No more events, simulation completed -- at t=[\d.]+s, event #\d+\n", done.stdout)
    assert "% completed" not in done.stdout  # no limit: no progress percentage, like Cmdenv


def test_redirect_output_like_opp_runall(project: Path) -> None:
    """opp_runall's batches: only the run lines on stdout, the rest in results/*.out."""
    done = standin("-u", "Cmdenv", "-c", "AlohaExperiment", "--sim-time-limit=10min", "-s",
                   "--cmdenv-redirect-output=true", "-r", "0,1", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("AlohaExperiment run 0: $numHosts=10, $iaMean=1, $repetition=0\n"
                           "AlohaExperiment run 1: $numHosts=10, $iaMean=1, $repetition=1\n")
    out = (project / "results" / "AlohaExperiment-numHosts=10,iaMean=1-#1.out").read_text()
    assert re.fullmatch(EVENT_BLOCK + EVENT_BLOCK + r"\n<!> Simulation time limit reached -- at t=600s, "
                        r"event #\d+\n\[INFO\]\tduration: 600\n", out), out
    assert "(50% total)" in out


def test_empty_filter_selection_runs_nothing(project: Path) -> None:
    done = standin("-c", "AlohaExperiment", "-r", "$numHosts==99", "-s", cwd=project)
    assert (done.stdout, done.stderr, done.returncode) == ("", "", 0)


# --- run filters and iteration ---------------------------------------------------------------------


@pytest.mark.parametrize(("run_filter", "expected"), [
    ("0,2..5", " 0 2 3 4 5"),
    ("7", " 7"),
    ("$numHosts==10 && $iaMean<3", " 0 1"),
    ("$numHosts>10 || $repetition==1", " 1 3 4 5 6 7"),
    ("!($numHosts==10)", " 4 5 6 7"),
    ("($iaMean==1 || $iaMean==3) && $repetition==0", " 0 2 4 6"),
    ("${numHosts}==20 && $iaMean>=3", " 6 7"),
    ("$configname==\"AlohaExperiment\" && $runnumber<2", " 0 1"),
    ("$numHosts==99", ""),
])
def test_run_filter(project: Path, run_filter: str, expected: str) -> None:
    done = standin("-c", "AlohaExperiment", "-r", run_filter, "-s", "-q", "runnumbers", cwd=project)
    assert (done.stdout, done.returncode) == (expected + "\n", 0), done.stderr


def test_string_itervars_compare_as_strings(project: Path) -> None:
    done = standin("-c", "Failing", "-r", '$behaviour=="fail"', "-s", "-q", "runs", cwd=project)
    assert done.stdout == 'Run 1: $behaviour="fail", $repetition=0\n'


def test_empty_filter_verbose_query(project: Path) -> None:
    done = standin("-c", "AlohaExperiment", "-r", "$numHosts==99", "-q", "runnumbers", cwd=project)
    assert done.stdout == (BANNER + "Setting up Cmdenv...\n\nConfig: AlohaExperiment\nNumber of runs: 8\n"
                           "Number of runs selected: 0\n\nRun numbers:\n\nEnd.\n")


def test_filter_with_unknown_variable(project: Path) -> None:
    done = standin("-c", "AlohaExperiment", "-r", "$nope==1", "-s", "-q", "runnumbers", cwd=project)
    assert done.returncode == 1
    assert done.stderr == "\n<!> Error: Cannot evaluate run filter: Unknown variable $nope\n"


def test_standin_configs_and_run_counts(project: Path) -> None:
    done = standin("-s", "-a", cwd=project)
    assert done.stdout == ("Config General: 1\nConfig Quick: 1\nConfig AlohaExperiment: 8\n"
                           "Config Failing: 2\nConfig Crashing: 1\nConfig Hanging: 1\nConfig Slow: 1\n"
                           "Config Stochastic: 10\nConfig Forever: 1\n")


def test_query_runs_without_itervars(project: Path) -> None:
    assert standin("-c", "Quick", "-s", "-q", "runs", cwd=project).stdout == "Run 0: $repetition=0\n"


def test_extends_unnamed_ranges_and_seed_set(project: Path) -> None:
    (project / "more.ini").write_text(
        "[General]\nnetwork = Aloha\nsim-time-limit = 1min\n**.vector-recording = false\n"
        "[Base]\nAloha.numHosts = ${2..4 step 2}\n"
        "[Derived]\nextends = Base\nrepeat = 2\nseed-set = ${repetition}\n"
        "Aloha.host[*].iaTime = exponential(${ia=1,5..9 step 2}s)\n")
    runs = standin("-f", "more.ini", "-c", "Derived", "-s", "-q", "runs", cwd=project).stdout.splitlines()
    assert runs[:3] == ["Run 0: $ia=1, $0=2, $repetition=0", "Run 1: $ia=1, $0=2, $repetition=1",
                        "Run 2: $ia=1, $0=4, $repetition=0"]
    assert len(runs) == 16
    done = standin("-f", "more.ini", "-c", "Derived", "-r", "3", "-s", cwd=project)
    assert done.returncode == 0, done.stderr
    sca = (project / "results" / "Derived-ia=1,4-#1.sca").read_text()
    assert "attr seedset 1\n" in sca and "itervar ia 1\n" in sca


# --- behaviours -------------------------------------------------------------------------------------


def test_behaviour_fail(project: Path) -> None:
    done = standin("-c", "Failing", "-r", "1", "-s", cwd=project)
    assert done.returncode == 1
    assert done.stdout.startswith('Failing run 1: $behaviour="fail", $repetition=0\n')
    assert re.fullmatch(r'\n<!> Error: Simulated failure \(behaviour="fail"\) -- in module \(Server\) '
                        r"Aloha\.server \(id=2\), at t=300s, event #\d+\n", done.stderr), done.stderr
    assert "[INFO]" not in done.stdout


def test_behaviour_from_command_line_and_batch_stops_on_error(project: Path) -> None:
    done = standin("-c", "AlohaExperiment", "-s", "--**.behaviour=fail", "--**.failAt=5s", cwd=project)
    assert done.returncode == 1
    assert done.stdout.count(" run ") == 1  # cmdenv-stop-batch-on-error defaults to true
    assert "at t=5s" in done.stderr


def test_behaviour_crash_dies_by_signal(project: Path) -> None:
    done = standin("-c", "Crashing", "-s", cwd=project)
    assert done.returncode == -signal.SIGSEGV
    assert done.stdout.startswith("Crashing run 0: , $repetition=0\n")


def test_behaviour_hang_ignores_sigterm_until_killed(project: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(STANDIN), "-c", "Hanging", "-s"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None and proc.stderr is not None
        stdout = proc.stdout.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert stdout.startswith("Hanging run 0: , $repetition=0\n")


def test_sigterm_ends_the_run_like_cmdenv(project: Path) -> None:
    """Cmdenv finishes the current event, calls finish() (results are written) and exits 2."""
    argv = [sys.executable, str(STANDIN), "-c", "Slow", "-s", "--**.wallTime=20s"]
    proc = subprocess.Popen(argv, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        time.sleep(0.7)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 2
    assert re.search(r"\n<!> SIGINT or SIGTERM received, exiting -- at t=[\d.]+s, event #\d+\n"
                     r"\[INFO\]\tduration: ", stdout), stdout
    assert (project / "results" / "Slow-#0.sca").exists()


def test_wall_time_parameter(project: Path) -> None:
    start = time.monotonic()
    done = standin("-c", "Slow", "-s", "--**.wallTime=0.4s", cwd=project)
    assert done.returncode == 0
    assert time.monotonic() - start >= 0.4


def scalar(sca: str, module: str, name: str) -> float:
    m = re.search(rf"^scalar {re.escape(module)} {re.escape(name)} (\S+)$", sca, re.M)
    assert m, name
    return float(m.group(1))


def test_mean_shift_moves_the_utilization_scalar(project: Path) -> None:
    for shift, out in (("0", "a"), ("0.25", "b")):
        done = standin("-c", "Stochastic", "-r", "4", "-s", f"--**.meanShift={shift}", f"--result-dir={out}",
                       cwd=project)
        assert done.returncode == 0, done.stderr
    base, moved = (scalar((project / d / "Stochastic-#4.sca").read_text(), "Aloha.server",
                          "channelUtilization:last") for d in ("a", "b"))
    assert moved == pytest.approx(base + 0.25)


def test_replications_differ(project: Path) -> None:
    standin("-c", "Stochastic", "-r", "0..2", "-s", cwd=project)
    values = {scalar((project / "results" / f"Stochastic-#{r}.sca").read_text(), "Aloha.server",
                     "receivedFrames:last") for r in range(3)}
    assert len(values) == 3


# --- fingerprints -------------------------------------------------------------------------------------


def fingerprint_run(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return standin("-u", "Cmdenv", "-c", "Forever", "-r", "0", "-s", "--sim-time-limit=1h",
                   "--**.vector-recording=false", *extra, cwd=project)


def calculated(done: subprocess.CompletedProcess[str]) -> str:
    m = re.search(r"<!> Fingerprint mismatch! calculated: ([0-9a-f]{4}-[0-9a-f]{4}/tplx), "
                  r"expected: 0000-0000/tplx\n\n$", done.stdout)
    assert m, done.stdout
    return m.group(1)


def test_fingerprint_mismatch_then_verified(project: Path) -> None:
    mismatch = fingerprint_run(project, "--fingerprint=0000-0000/tplx")
    assert (mismatch.returncode, mismatch.stderr) == (0, "")
    assert re.search(r"\[INFO\]\tduration: 3600\n\n<!> Fingerprint mismatch! ", mismatch.stdout)
    value = calculated(mismatch)
    verified = fingerprint_run(project, f"--fingerprint={value}")
    assert verified.returncode == 0
    assert verified.stdout.endswith(
        f"[INFO]\tduration: 3600\n\n<!> Fingerprint successfully verified: {value}\n\n")


def test_fingerprint_depends_on_the_model(project: Path) -> None:
    first = calculated(fingerprint_run(project, "--fingerprint=0000-0000/tplx"))
    again = calculated(fingerprint_run(project, "--fingerprint=0000-0000/tplx"))
    changed = calculated(fingerprint_run(project, "--fingerprint=0000-0000/tplx", "--Aloha.numHosts=19"))
    assert first == again != changed


def test_fingerprint_malformed(project: Path) -> None:
    done = fingerprint_run(project, "--fingerprint=zzzz")
    assert done.returncode == 1
    assert done.stderr == '\n<!> Error: Cannot verify hash: Invalid hash text "zzzz" -- during finalization\n'
    assert done.stdout.endswith("[INFO]\tduration: 3600\n")


def test_no_fingerprint_line_without_option(project: Path) -> None:
    assert "Fingerprint" not in fingerprint_run(project).stdout


# --- result files -------------------------------------------------------------------------------------

SCA_ATTRS = ["configname", "datetime", "datetimef", "experiment", "inifile", "iterationvars",
             "iterationvarsd", "iterationvarsf", "measurement", "network", "processid", "repetition",
             "replication", "resultdir", "runnumber", "seedset"]
LINE_KINDS = {"version", "run", "attr", "itervar", "config", "par", "scalar", "statistic", "field", "bin"}


def run_with_vectors(project: Path, *extra: str) -> Path:
    done = standin("-c", "AlohaExperiment", "-r", "3", "-s", "--sim-time-limit=5min",
                   "--**.vector-recording=true", *extra, cwd=project)
    assert done.returncode == 0, done.stderr
    return project / "results" / "AlohaExperiment-numHosts=10,iaMean=3-#1"


def check_header(lines: list[str], config: str, run_number: int) -> int:
    """Check version/run/attr lines; return the index after the attrs."""
    assert lines[0] == "version 3"
    assert re.fullmatch(rf"run {config}-{run_number}-\d{{8}}-\d\d:\d\d:\d\d-\d+", lines[1])
    names = [line.split(" ")[1] for line in lines[2:2 + len(SCA_ATTRS)]]
    assert names == SCA_ATTRS
    return 2 + len(SCA_ATTRS)


def test_sca_format(project: Path) -> None:
    lines = run_with_vectors(project).with_suffix(".sca").read_text().split("\n")
    i = check_header(lines, "AlohaExperiment", 3)
    assert lines[2:2 + len(SCA_ATTRS)][5] == 'attr iterationvars "$numHosts=10, $iaMean=3"'
    assert "attr iterationvarsf numHosts=10,iaMean=3-" in lines and "attr replication #1" in lines
    assert lines[i:i + 2] == ["itervar iaMean 3", "itervar numHosts 10"]
    assert lines[i + 2:i + 5] == ["config **.vector-recording true", "config sim-time-limit 5min",
                                  'config description "Channel utilization in the function of packet '
                                  'generation frequency"']
    blank = lines.index("")
    assert all(line.startswith("config ") for line in lines[i + 2:blank])
    assert lines[-2:] == ["", ""]  # the file ends with a blank line, like the real one
    body = lines[blank + 1:-2]
    assert {line.split(None, 1)[0] for line in body} <= LINE_KINDS
    assert "scalar Aloha.server duration 300" in body
    assert 'par Aloha.host[9] typename "\\"Host\\""' in body
    stat = body.index("statistic Aloha.server collisionLength:histogram")
    assert [line.split()[1] for line in body[stat + 1:stat + 8]] == ["count", "mean", "stddev", "min", "max",
                                                                     "sum", "sqrsum"]
    bins = [line for line in body if line.startswith("bin\t")]
    assert bins[0] == "bin\t-inf\t0" and all(len(b.split("\t")) == 3 for b in bins)
    for name in ("collisionLength:mean", "collidedFrames:last", "channelUtilization:last",
                 "receivedFrames:last"):
        scalar("\n".join(body), "Aloha.server", name)


def test_sca_line_kinds_match_the_real_file(project: Path) -> None:
    real = (REFERENCE / "results" / "PureAlohaExperiment-numHosts=10,iaMean=2-#1.sca").read_text().split("\n")
    ours = run_with_vectors(project).with_suffix(".sca").read_text().split("\n")

    def kinds(lines: list[str]) -> list[str]:
        result: list[str] = []
        for line in lines:
            kind = line.split(" ", 1)[0].split("\t", 1)[0]
            if not result or result[-1] != kind:
                result.append(kind)
        return result

    assert kinds(ours)[:8] == kinds(real)[:8]
    assert set(kinds(ours)) == set(kinds(real))
    assert [x.split()[1] for x in real if x.startswith("attr ")][:16] == SCA_ATTRS


def parse_vci(path: Path) -> tuple[str, list[list[str]]]:
    text = path.read_text()
    return text.split("\n", 1)[0], [line.split() for line in text.splitlines() if line[:1].isdigit()]


def test_vci_offsets_point_at_vec_lines(project: Path) -> None:
    base = run_with_vectors(project)
    vec = base.with_suffix(".vec").read_bytes()
    first, blocks = parse_vci(base.with_suffix(".vci"))
    assert len(first) == 64 and re.fullmatch(rf"file {len(vec)} \d+ *", first)
    assert blocks and {b[0] for b in blocks} == {str(i) for i in range(11)}
    for vid, offset, length, ev0, ev1, t0, t1, count, vmin, vmax, vsum, sqrsum in blocks:
        block = vec[int(offset):int(offset) + int(length)].decode()
        assert block.endswith("\n") and (int(offset) == 0 or vec[int(offset) - 1:int(offset)] == b"\n")
        rows = [row.split("\t") for row in block.splitlines()]
        assert all(row[0] == vid and len(row) == 4 for row in rows)
        assert len(rows) == int(count)
        assert (rows[0][1], rows[-1][1], rows[0][2], rows[-1][2]) == (ev0, ev1, t0, t1)
        values = [float(row[3]) for row in rows]
        assert (min(values), max(values)) == (float(vmin), float(vmax))
        assert sum(values) == pytest.approx(float(vsum))
        assert sum(v * v for v in values) == pytest.approx(float(sqrsum))


def test_vec_and_vci_headers(project: Path) -> None:
    base = run_with_vectors(project)
    vec_lines = base.with_suffix(".vec").read_text().split("\n")
    vci_lines = base.with_suffix(".vci").read_text().split("\n")
    i = check_header(vec_lines, "AlohaExperiment", 3)
    assert vec_lines[:i] == vci_lines[1:i + 1]
    blank = vec_lines.index("")
    assert vec_lines[blank + 1] == "vector 0 Aloha.server serverChannelState:vector ETV"
    assert "vector 10 Aloha.host[9] radioState:vector ETV" in vec_lines
    data = [line for line in vec_lines[blank + 1:] if line[:1].isdigit()]
    assert data and all(re.fullmatch(r"\d+\t\d+\t[\d.]+\t[\d.e+-]+", line) for line in data)
    assert vec_lines[-2:] == ["", ""] and vci_lines[-2:] == ["", ""]


def test_vci_with_several_blocks_per_vector(project: Path) -> None:
    base = run_with_vectors(project, "--sim-time-limit=2h")
    _, blocks = parse_vci(base.with_suffix(".vci"))
    assert len(blocks) > 11  # buffers flushed more than once
    offsets = sorted((int(b[1]), int(b[2])) for b in blocks)
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(offsets))


def test_no_vectors_when_recording_is_off(project: Path) -> None:
    done = standin("-c", "Quick", "-s", cwd=project)
    assert done.returncode == 0
    assert sorted(p.name for p in (project / "results").iterdir()) == ["Quick-#0.sca"]


def test_result_dir_and_string_itervar_file_names(project: Path) -> None:
    done = standin("-c", "Failing", "-r", "0", "-s", "--result-dir=out/x", cwd=project)
    assert done.returncode == 0
    sca = (project / "out" / "x" / "Failing-behaviour=normal-#0.sca").read_text()
    assert "attr resultdir out/x\n" in sca and 'itervar behaviour "\\"normal\\""\n' in sca


@pytest.mark.skipif(shutil.which("opp_scavetool") is None, reason="opp_scavetool not installed")
def test_opp_scavetool_reads_the_files(project: Path) -> None:
    base = run_with_vectors(project)
    done = subprocess.run(["opp_scavetool", "export", "-T", "sv", "-F", "CSV-S", "-o", "-",
                           str(base.with_suffix(".sca")), str(base.with_suffix(".vec"))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- the project files -----------------------------------------------------------------------------------


def test_standin_is_built_not_committed(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "examples/standin"], capture_output=True,
                             text=True, check=True).stdout.split()
    assert "examples/standin/standin.py" in tracked and "examples/standin/standin" not in tracked
    project = copy_standin(tmp_path / "copy", build=False)
    assert not (project / "standin").exists()
    build_project(project)
    assert os.access(project / "standin", os.X_OK)
    assert (project / "standin").read_text().startswith("#!/usr/bin/env python3\n")


def test_broken_ini(project: Path) -> None:
    done = standin("-f", "broken.ini", "-s", "-q", "runnumbers", cwd=project)
    assert done.returncode == 1
    assert done.stderr == "\n<!> Error: Syntax error in section heading, 'broken.ini' line 3\n"


def test_demo_campaign_spec_runs_pass(project: Path) -> None:
    spec = tomllib.loads((project / "opp-ci.toml").read_text())
    assert spec["command"] == "./standin"
    total = 0
    for config, options in spec["configs"].items():
        limit = [f"--sim-time-limit={options['sim-time-limit']}"] if "sim-time-limit" in options else []
        listing = standin("-u", "Cmdenv", "-c", config, "-s", "-q", "runnumbers", cwd=project)
        numbers = listing.stdout.split()
        total += len(numbers)
        for number in numbers:
            args = [*spec.get("args", []), *options.get("args", [])]
            done = standin(*CMDENV, "-c", config, "-r", number, "-s", *args, *limit, cwd=project)
            assert done.returncode == 0, done.stderr
    assert total >= 4


def test_aloha_spec_names_real_aloha_configs() -> None:
    spec = tomllib.loads((ROOT / "examples" / "upstream" / "aloha" / "opp-ci.toml").read_text())
    assert spec["command"] == "./aloha"
    assert set(spec["configs"]) == {"PureAlohaExperiment", "PureAloha1"}
    assert all("sim-time-limit" in options for options in spec["configs"].values())


def test_other_queries(project: Path) -> None:
    details = standin("-c", "AlohaExperiment", "-r", "0..1", "-s", "-q", "rundetails", cwd=project).stdout
    assert details == ("Run 0: $numHosts=10, $iaMean=1, $repetition=0\n\tAloha.numHosts = 10\n"
                       "\tAloha.host[*].iaTime = exponential(1s)\n\n"
                       "Run 1: $numHosts=10, $iaMean=1, $repetition=1\n\tAloha.numHosts = 10\n"
                       "\tAloha.host[*].iaTime = exponential(1s)\n")
    chain = standin("-c", "AlohaExperiment", "-s", "-q", "sectioninheritance", cwd=project).stdout
    assert chain == "Config AlohaExperiment\nGeneral\n"
    echo = standin("-c", "AlohaExperiment", "-r", "3", "-s", "-e", "sim-time-limit", cwd=project)
    assert (echo.stdout, echo.returncode) == ("30min\n", 0)
    bad = standin("-c", "AlohaExperiment", "-s", "-q", "nonsense", cwd=project)
    assert (bad.stderr, bad.returncode) == ("\n<!> Error: Unrecognized -q argument 'nonsense'\n", 1)


@pytest.mark.parametrize(("ini", "message"), [
    ("[General]\nnetwork = Aloha\nsim-time-limt = 1s\n", "Unknown configuration option: sim-time-limt"),
    ("[General]\nvector-recording = false\n",
     "Configuration option vector-recording should be specified per object, try **.vector-recording="),
    ("[General]\n[A]\nload-libs = x\n",
     "Configuration option load-libs may only occur in the [General] section"),
    ("[General]\n**.vector-recordin = false\n",
     "Unknown per-object configuration option 'vector-recordin' in **.vector-recordin"),
    ("[A]\nextends = Nope\n", "No such config: Nope"),
    ("[General]\nnetwork = Aloha\n\n  indented = 1\n",
     "Content must begin on column 1 because indentation is used for line continuation, 'x.ini' line 4"),
])
def test_ini_validation_errors(tmp_path: Path, ini: str, message: str) -> None:
    (tmp_path / "x.ini").write_text(ini)
    done = standin("-f", "x.ini", "-s", "-a", cwd=tmp_path)
    assert (done.stdout, done.stderr, done.returncode) == ("", f"\n<!> Error: {message}\n", 1)


@pytest.mark.parametrize(("option", "message"), [
    ("--**.sim-time-limit=3s",
     "Invalid command-line configuration option --**.sim-time-limit: "
     "sim-time-limit is not a per-object option"),
    ("--sim-time-limt=3s", "Unknown command-line configuration option --sim-time-limt"),
])
def test_command_line_option_errors(project: Path, option: str, message: str) -> None:
    done = standin("-s", option, "-a", cwd=project)
    assert (done.stderr, done.returncode) == (f"\n<!> Error: {message}\n", 1)


def test_known_options_are_accepted(project: Path) -> None:
    done = standin("-c", "Quick", "-s", "--seed-0-mt=5", "--cmdenv-express-mode=true",
                   "--**.vector-recording=false", "--cmdenv-stop-batch-on-error=false", "--repeat=2",
                   "-q", "numruns", cwd=project)
    assert (done.stdout, done.returncode) == ("2\n", 0)


def test_output_file_options(project: Path) -> None:
    done = standin("-c", "AlohaExperiment", "-r", "1", "-s", "--sim-time-limit=1min",
                   "--**.vector-recording=true",
                   "--output-scalar-file=${resultdir}/s/${configname}-${runnumber}.sca",
                   "--output-vector-file=v/${iterationvarsf}${repetition}.vec", cwd=project)
    assert done.returncode == 0, done.stderr
    assert (project / "results" / "s" / "AlohaExperiment-1.sca").exists()
    assert (project / "v" / "numHosts=10,iaMean=1-1.vec").exists()
    assert (project / "v" / "numHosts=10,iaMean=1-1.vci").exists()


def test_dash_m_sends_errors_to_stdout(project: Path) -> None:
    done = standin("-m", "-s", "-c", "Nope", "-q", "runs", cwd=project)
    assert (done.stdout, done.stderr, done.returncode) == ("\n<!> Error: No such config: Nope\n", "", 1)


def test_parallel_iteration(tmp_path: Path) -> None:
    (tmp_path / "p.ini").write_text("[General]\nnetwork = Aloha\n**.a = ${a=1,2,3}\n**.b = ${b=x,y,z ! a}\n"
                                    "**.c = ${c=5,6}\n")
    runs = standin("-f", "p.ini", "-s", "-q", "runs", cwd=tmp_path).stdout.splitlines()
    assert runs[:3] == ["Run 0: $a=1, $b=x, $c=5, $repetition=0", "Run 1: $a=1, $b=x, $c=6, $repetition=0",
                        "Run 2: $a=2, $b=y, $c=5, $repetition=0"]
    assert len(runs) == 6


def test_constraint(tmp_path: Path) -> None:
    (tmp_path / "c.ini").write_text("[General]\nnetwork = Aloha\n**.a = ${a=1..4}\n**.b = ${b=1..4}\n"
                                    "constraint = $a < $b\n")
    assert standin("-f", "c.ini", "-s", "-q", "numruns", cwd=tmp_path).stdout == "6\n"


@pytest.mark.parametrize("limit", ["--sim-time-limit=5min", "--cpu-time-limit=0.2s"])
def test_no_vector_data_after_the_end_of_the_run(project: Path, limit: str) -> None:
    done = standin("-c", "Forever", "-s", limit, "--**.vector-recording=true", cwd=project)
    assert done.returncode == 0, done.stderr
    end = float(re.search(r"\[INFO\]\tduration: ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    vec = (project / "results" / "Forever-#0.vec").read_text()
    times = [float(line.split("\t")[2]) for line in vec.splitlines() if line[:1].isdigit()]
    assert times and max(times) <= end
    assert f"t={done.stdout.split('duration: ')[1].strip()}s" in done.stdout
