from __future__ import annotations

import pytest

from opp_ci.payloads import PayloadError, RunPayload, job_id

GOOD = {"config": "Experiment", "run": 3, "prefix": "opp-ci-abc", "ini": ["omnetpp.ini"],
        "args": ["--**.vector-recording=false"], "sim_time_limit": "10min", "timeout": 60}


def test_a_valid_payload_round_trips():
    payload = RunPayload.from_json(GOOD)
    assert RunPayload.from_json(payload.to_json()) == payload


@pytest.mark.parametrize(
    "change",
    [
        {"run": -1}, {"run": "3"}, {"run": True}, {"config": "A; rm -rf /"}, {"prefix": "../etc"},
        {"prefix": "/abs"}, {"ini": ["/etc/passwd"]}, {"ini": ["../x.ini"]}, {"args": ["-l", "evil.so"]},
        {"args": ["--load-libs=evil"]}, {"args": ["--result-dir=/"]}, {"args": ["--cmdenv-output-file=/x"]},
        {"timeout": 0}, {"timeout": "60"}, {"sim_time_limit": "1s; reboot"}, {"command": ["sh"]}, {"version": 2},
    ],
)
def test_invalid_payloads_are_refused(change):
    with pytest.raises(PayloadError):
        RunPayload.from_json({**GOOD, **change})


def test_payload_must_be_an_object():
    with pytest.raises(PayloadError):
        RunPayload.from_json(["Experiment", 3])


def test_job_ids_are_stable_and_depend_on_every_determinant():
    base = {"config": "A", "run": 1, "args": [], "digest": "x"}
    assert job_id(base) == job_id(dict(reversed(list(base.items()))))
    assert job_id(base) != job_id({**base, "run": 2})
    assert job_id(base) != job_id({**base, "digest": "y"})
