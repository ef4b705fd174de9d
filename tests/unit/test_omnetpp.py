from __future__ import annotations

from pathlib import Path

from opp_ci.fingerprints.log import parse_log, simulation_error
from opp_ci.fingerprints.verdicts import FingerprintVerdict
from opp_ci.omnetpp import Simulation, parse_itervars, parse_runs

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "data" / "omnetpp-reference" / "transcripts"


def transcript(name: str) -> str:
    return (TRANSCRIPTS / name).read_text()


def test_runs_of_the_real_aloha_experiment():
    runs = parse_runs("PureAlohaExperiment", transcript("s-q-runs.stdout"))
    assert len(runs) == 42
    assert runs[3].number == 3
    assert runs[3].itervars == {"numHosts": "10", "iaMean": "2"}
    assert runs[3].repetition == 1
    assert runs[-1].itervars == {"numHosts": "20", "iaMean": "9"}


def test_runs_without_iteration_variables():
    [run] = parse_runs("PureAloha1", "Run 0: , $repetition=0\n")
    assert (run.number, run.itervars, run.repetition) == (0, {}, 0)


def test_quoted_itervar_values_keep_their_commas():
    assert parse_itervars('$mode="a, b", $n=2') == {"mode": '"a, b"', "n": "2"}


def test_error_text_from_real_transcripts():
    assert simulation_error(transcript("error-no-such-config.stderr")) == "No such config: NoSuchConfig"
    assert simulation_error(transcript("error-ini-syntax-line.stderr")) == (
        "Line must be in the form key=value, 'broken2.ini' line 3"
    )


def test_fingerprint_verdicts_from_real_transcripts():
    mismatch = parse_log(transcript("fingerprint-mismatch.stdout"))
    assert mismatch.fingerprint is FingerprintVerdict.MISMATCH
    assert (mismatch.fingerprint_calculated, mismatch.fingerprint_expected) == ("b9aa-4a66/tplx", "0000-0000/tplx")
    assert (mismatch.sim_time, mismatch.events) == ("3600", 117492)
    verified = parse_log(transcript("fingerprint-verified.stdout"))
    assert verified.fingerprint is FingerprintVerdict.VERIFIED
    assert parse_log(transcript("s-run-experiment-r3.stdout")).fingerprint is FingerprintVerdict.NONE


def test_cpu_time_limit_line():
    outcome = parse_log(transcript("run-noiter-cpulimit.stdout"))
    assert outcome.sim_time == "145011.925230747351"
    assert outcome.events == 4690944


def test_run_command_line_is_an_argument_list(tmp_path):
    simulation = Simulation(("./aloha",), tmp_path, ("omnetpp.ini", "extra.ini"))
    argv = simulation.run_argv("C", 3, tmp_path / "r", sim_time_limit="10min", fingerprint="abcd-1234/tplx",
                               args=("--**.vector-recording=false",))
    assert argv == [
        "./aloha", "-u", "Cmdenv", "-f", "omnetpp.ini", "-f", "extra.ini", "-c", "C", "-r", "3", "-s",
        f"--result-dir={tmp_path / 'r'}", "--sim-time-limit=10min", "--fingerprint=abcd-1234/tplx",
        "--**.vector-recording=false",
    ]


def test_digest_changes_with_the_ini(tmp_path):
    (tmp_path / "omnetpp.ini").write_text("[General]\n")
    simulation = Simulation(("./sim",), tmp_path)
    before = simulation.digest()
    (tmp_path / "omnetpp.ini").write_text("[General]\nsim-time-limit = 1s\n")
    assert simulation.digest() != before
