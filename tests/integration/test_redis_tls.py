"""TLS to Redis with a per-campaign CA, against a real redis-server listening on --tls-port only."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from ports import free_port, wait_for_port

from opp_ci.cloud.certificates import CampaignCertificates, issue
from opp_ci.errors import UserError
from opp_ci.queue import connect_redis
from opp_ci.tls import CAMPAIGN_SERVER_NAME, RedisTLS

pytestmark = pytest.mark.integration

PASSWORD = "tls-test-password-5f1c"


@dataclass
class TLSRedis:
    port: int
    certificates: CampaignCertificates
    ca_file: Path

    @property
    def url(self) -> str:
        return f"rediss://:{PASSWORD}@127.0.0.1:{self.port}/0"

    @property
    def tls(self) -> RedisTLS:
        return RedisTLS(self.certificates.ca, CAMPAIGN_SERVER_NAME)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TLSRedis]:
    certificates, port = issue("tls-test", timedelta(hours=1)), free_port()
    files = {name: tmp_path / name for name in ("ca.crt", "server.crt", "server.key")}
    for (_name, path), text in zip(files.items(), [certificates.ca, certificates.certificate, certificates.key],
                                   strict=True):
        path.write_text(text)
    process = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", "0", "--tls-port", str(port),
         "--bind", "127.0.0.1", "--tls-cert-file", str(files["server.crt"]), "--tls-key-file",
         str(files["server.key"]), "--tls-ca-cert-file", str(files["ca.crt"]), "--tls-auth-clients", "no",
         "--requirepass", PASSWORD, "--save", "", "--dir", str(tmp_path)],
        stdout=(tmp_path / "redis.log").open("w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, tmp_path / "redis.log", "redis-server (TLS)")
        yield TLSRedis(port, certificates, files["ca.crt"])
    finally:
        process.terminate()
        process.wait(10)


def test_a_campaign_runs_over_tls_with_the_campaign_ca(tls_redis, tagged, standin_project, tmp_path):
    """The orchestrator and the worker it spawns both reach Redis over rediss://, trusting the CA file."""
    out = tmp_path / "out"
    done = tagged.run("run", str(standin_project), "--redis-url", tls_redis.url, "--workers", "1", "--config",
                      "Quick", "--out", str(out), OPP_CI_REDIS_CA=str(tls_redis.ca_file),
                      OPP_CI_REDIS_SERVER_NAME=CAMPAIGN_SERVER_NAME)
    assert done.returncode == 0, done.stderr
    [record] = json.loads((out / "campaign.json").read_text())["runs"]
    assert record["status"] == "passed" and record["worker"]
    client = connect_redis(tls_redis.url, tls=tls_redis.tls)
    assert int(client.info("stats")["total_connections_received"]) >= 2  # orchestrator and worker, TLS only


def test_a_client_trusting_another_ca_is_refused(tls_redis, tagged, standin_project, tmp_path):
    stranger = tmp_path / "stranger.crt"
    stranger.write_text(issue("stranger", timedelta(hours=1)).ca)
    done = tagged.run("run", str(standin_project), "--redis-url", tls_redis.url, "--workers", "0", "--store",
                      str(tmp_path / "store"), "--out", str(tmp_path / "out"), OPP_CI_REDIS_CA=str(stranger),
                      OPP_CI_REDIS_SERVER_NAME=CAMPAIGN_SERVER_NAME)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot reach Redis" in done.stderr and "CERTIFICATE_VERIFY_FAILED" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def test_the_system_store_and_the_wrong_name_are_not_enough(tls_redis):
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        connect_redis(tls_redis.url).ping()  # no CA given: the system's CAs, which never signed it
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        connect_redis(tls_redis.url, tls=RedisTLS(tls_redis.certificates.ca, "127.0.0.1")).ping()
    assert connect_redis(tls_redis.url, tls=tls_redis.tls).ping()


def test_a_plain_client_is_refused(tls_redis, tagged, standin_project, tmp_path):
    plain = f"redis://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0"
    with pytest.raises(redis.ConnectionError):
        connect_redis(plain).ping()
    done = tagged.run("run", str(standin_project), "--redis-url", plain, "--workers", "0", "--store",
                      str(tmp_path / "store"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "cannot reach Redis" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(UserError, match="not a rediss:// URL"):
        connect_redis(plain, tls=tls_redis.tls)


@pytest.mark.parametrize("query", ["ssl_cert_reqs=none", "ssl_check_hostname=false", "ssl_cert_reqs=optional"])
def test_a_url_that_turns_verification_off_is_refused(tls_redis, query):
    with pytest.raises(UserError, match="turns off the check"):
        connect_redis(f"{tls_redis.url}?{query}")
