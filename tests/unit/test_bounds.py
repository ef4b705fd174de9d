"""Per-run bounds that need no process: sizes, the bounded log, the simulation's environment, the
payload limits, the ownership of --out."""

from __future__ import annotations

import pytest

from opp_ci import outdir
from opp_ci.errors import UserError
from opp_ci.execution import BoundedLog, simulation_environment
from opp_ci.options import parse_size
from opp_ci.payloads import PayloadError, RunPayload
from opp_ci.store import with_retries


@pytest.mark.parametrize(("text", "size"), [("16MiB", 16 << 20), ("2G", 2 * 10**9), ("500kB", 500_000), (0, 0),
                                            ("100", 100), ("1.5KiB", 1536)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-1", "", "5 parsecs"])
def test_bad_sizes_name_the_key(text):
    with pytest.raises(UserError, match="log-limit"):
        parse_size(text, "log-limit")


def test_bounded_log_keeps_head_and_tail(tmp_path):
    log = BoundedLog(tmp_path / "log", 1000)
    for i in range(10_000):
        log.write(f"{i:09d}\n".encode())
    log.close()
    text = (tmp_path / "log").read_text()
    assert text.startswith("000000000\n") and text.endswith("000009999\n")
    assert "bytes of output dropped here (log-limit)" in text
    assert len(text) < 1100
    assert log.dropped == 100_000 - 1000


def test_bounded_log_without_limit_keeps_everything(tmp_path):
    log = BoundedLog(tmp_path / "log", 0)
    log.write(b"a" * 100_000)
    log.close()
    assert (tmp_path / "log").stat().st_size == 100_000 and log.dropped == 0


def test_the_simulation_gets_no_secret():
    environ = {"PATH": "/bin", "OPP_CI_REDIS_URL": "redis://:pw@h", "OPP_CI_REDIS_PASSWORD": "pw",
               "AWS_SECRET_ACCESS_KEY": "s", "AWS_ACCESS_KEY_ID": "k", "AWS_SESSION_TOKEN": "t", "GITHUB_TOKEN": "g",
               "ACTIONS_RUNTIME_TOKEN": "r", "MY_DB_PASSWORD": "p", "HOME": "/root", "OPP_CI_TEST_TAG": "tag"}
    env = simulation_environment("marker", environ)
    assert set(env) == {"PATH", "HOME", "OPP_CI_TEST_TAG", "OPP_CI_RUN"}


@pytest.mark.parametrize(("change", "message"), [({"timeout": 30 * 86400.0}, "beyond the limit"),
                                                 ({"log_limit": 100}, "log-limit"),
                                                 ({"memory_limit": -1}, "memory-limit"),
                                                 ({"args": ("--load-libs=x",)}, "not allowed"),
                                                 ({"ini": ("../x.ini",)}, "inside the working directory")])
def test_payload_limits(change, message):
    payload = RunPayload(config="Quick", run=0, prefix="opp-ci-x", **change)
    with pytest.raises(PayloadError, match=message):
        payload.validate()


def test_store_operations_are_retried():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("down")
        return "ok"

    assert with_retries(flaky, backoff=(0.0, 0.0, 0.0)) == "ok" and len(calls) == 3
    with pytest.raises(OSError):
        with_retries(lambda: (_ for _ in ()).throw(OSError("still down")), backoff=(0.0,))


def test_out_dir_keeps_foreign_files_and_replaces_its_own(tmp_path):
    out = tmp_path / "out"
    outdir.claim(out, resume=False)
    (out / "results").mkdir()
    (out / "results" / "a.sca").write_text("x")
    (out / "notes.txt").write_text("mine")  # not where outputs go: never touched
    outdir.release(out)
    outdir.claim(out, resume=False)
    assert not (out / "results").exists() and (out / "notes.txt").read_text() == "mine"
    outdir.release(out)


def test_out_dir_refuses_foreign_results_and_a_second_claim(tmp_path):
    (tmp_path / "project" / "results").mkdir(parents=True)
    with pytest.raises(UserError, match="not written by opp-ci"):
        outdir.claim(tmp_path / "project", resume=False)
    assert (tmp_path / "project" / "results").is_dir()
    outdir.claim(tmp_path / "out", resume=False)
    try:
        with pytest.raises(UserError, match="in use"):
            outdir.claim(tmp_path / "out", resume=True)
    finally:
        outdir.release(tmp_path / "out")

