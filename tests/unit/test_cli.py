from __future__ import annotations

from click.testing import CliRunner

from opp_ci.cli import cli


def test_every_run_option_is_explained():
    text = CliRunner().invoke(cli, ["run", "--help"]).output
    for option in ("--command", "--config", "--runs", "--ini", "--arg", "--sim-time-limit", "--cpu-time-limit",
                   "--timeout", "--retries", "--workers", "--redis-url", "--out", "--resume", "--backend"):
        assert option in text


def test_a_user_error_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "opp-ci.toml").write_text("comand = './sim'\n")
    result = CliRunner().invoke(cli, ["run", str(tmp_path)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"opp-ci: error: {tmp_path / 'opp-ci.toml'}: unknown key 'comand' (did you mean 'command'?)")


def test_report_rebuilds_from_campaign_json(tmp_path):
    campaign = '{"campaign": "c1", "runs": [{"config": "A", "run": 0, "status": "passed"}]}'
    (tmp_path / "campaign.json").write_text(campaign)
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "A" in (tmp_path / "junit.xml").read_text()
    assert "all runs passed" in (tmp_path / "summary.md").read_text()
