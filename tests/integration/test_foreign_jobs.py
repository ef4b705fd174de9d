"""A worker runs nothing but opp-ci's own job function, whoever wrote to Redis."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from opp_ci.jobs import JOB_FUNCTION

pytestmark = pytest.mark.integration


def test_foreign_functions_and_pickled_jobs_are_refused(redis_server, redis_client, tagged, tmp_path, standin_project):
    marker = tmp_path / "pwned"
    json_queue = Queue("opp-ci", connection=redis_client, serializer=JSONSerializer)
    json_queue.enqueue_call("os.system", args=(f"touch {marker}-json",), job_id="evil-json")
    json_queue.enqueue_call("subprocess.call", args=(["touch", f"{marker}-argv"],), job_id="evil-argv")
    Queue("opp-ci", connection=redis_client).enqueue_call("os.system", args=(f"touch {marker}-pickle",),
                                                          job_id="evil-pickle")

    done = tagged.run("worker", "--project", str(standin_project), "--store", str(tmp_path / "store"), "--burst",
                      OPP_CI_REDIS_URL=redis_server.url, timeout=60)

    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob("pwned*"))
    for job_id in ("evil-json", "evil-argv", "evil-pickle"):
        assert redis_client.hget(f"rq:job:{job_id}", "status") == b"failed"
    log = done.stdout + done.stderr
    assert "refusing job evil-json" in log
    assert "pickled jobs are never loaded" in log


def test_a_job_with_our_function_but_a_bad_payload_is_not_run(redis_server, redis_client, tagged, tmp_path,
                                                               standin_project):
    queue = Queue("opp-ci", connection=redis_client, serializer=JSONSerializer)
    queue.enqueue_call(JOB_FUNCTION, kwargs={"payload": {
        "config": "General", "run": 0, "prefix": "x", "args": ["--load-libs=/tmp/evil"]}}, job_id="bad-payload")

    done = tagged.run("worker", "--project", str(standin_project), "--store", str(tmp_path / "store"), "--burst",
                      OPP_CI_REDIS_URL=redis_server.url, timeout=60)

    assert done.returncode == 0, done.stderr
    assert redis_client.hget("rq:job:bad-payload", "status") == b"failed"
    assert not (tmp_path / "store" / "x").exists()
