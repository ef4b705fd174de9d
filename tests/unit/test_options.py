"""The options layer: every setting declared once, resolved defaults → file → environment → flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from opp_ci import options
from opp_ci.errors import UserError
from opp_ci.spec import resolve

ROOT = Path(__file__).resolve().parents[2]


def test_docs_options_md_is_generated_from_the_declarations():
    assert (ROOT / "docs" / "options.md").read_text() == options.markdown_table(), (
        "regenerate it: python -m opp_ci.options > docs/options.md")


def test_every_declared_default_converts_to_its_kind():
    for opt in options.OPTIONS:
        options.convert(opt, opt.default)  # raises on a default of the wrong kind


def test_the_ecs_table_is_checked_like_the_top_level(tmp_path):
    (tmp_path / "opp-ci.toml").write_text('command = "./sim"\n[ecs]\nworkrs = 3\n[configs.A]\n')
    with pytest.raises(UserError, match=r"\[ecs\]: unknown key 'workrs' \(did you mean 'workers'\?\)"):
        resolve(tmp_path, {}, environ={})
    (tmp_path / "opp-ci.toml").write_text('command = "./sim"\n[ecs]\nworkers = "many"\n[configs.A]\n')
    with pytest.raises(UserError, match="'workers' must be a whole number"):
        resolve(tmp_path, {}, environ={})


def test_ecs_settings_resolve_in_order(tmp_path):
    (tmp_path / "opp-ci.toml").write_text('command = "./sim"\n[ecs]\nworkers = 3\nimage = "a"\n[configs.A]\n')
    spec = resolve(tmp_path, {"ecs.image": "c"}, environ={"OPP_CI_ECS_WORKERS": "5", "OPP_CI_ECS_IMAGE": "b"})
    assert spec.ecs["workers"] == 5 and spec.ecs["image"] == "c"
    assert spec.ecs["ttl"] == 3 * 3600 and spec.ecs["redis-image"] == "redis:7"
    assert resolve(tmp_path, {}, environ={}).ecs["workers"] == 3


def test_environment_values_are_converted_and_checked(tmp_path):
    (tmp_path / "opp-ci.toml").write_text('command = "./sim"\n[configs.A]\n')
    assert resolve(tmp_path, {}, environ={"OPP_CI_ECS_SPOT": "yes"}).ecs["spot"] is True
    with pytest.raises(UserError, match=r"ecs\.spot: 'maybe' must be true or false"):
        resolve(tmp_path, {}, environ={"OPP_CI_ECS_SPOT": "maybe"})
    with pytest.raises(UserError, match="unknown value 'fingerprint' \\(did you mean 'fingerprints'\\?\\)"):
        resolve(tmp_path, {"check": ["fingerprint"]}, environ={})


def test_environment_wins_over_a_config_table_and_flags_over_both(tmp_path):
    (tmp_path / "opp-ci.toml").write_text('command = "./sim"\n[configs.A]\ntimeout = "1m"\n')
    assert resolve(tmp_path, {}, environ={}).configs[0].timeout == 60
    assert resolve(tmp_path, {}, environ={"OPP_CI_TIMEOUT": "2m"}).configs[0].timeout == 120
    assert resolve(tmp_path, {"timeout": "3m"}, environ={"OPP_CI_TIMEOUT": "2m"}).configs[0].timeout == 180


def test_a_command_with_an_unbalanced_quote_is_a_user_error(tmp_path):
    (tmp_path / "opp-ci.toml").write_text('command = "./sim \'-n"\n[configs.A]\n')
    with pytest.raises(UserError, match="check its quotes"):
        resolve(tmp_path, {}, environ={})


def test_a_non_utf8_spec_file_is_a_user_error(tmp_path):
    (tmp_path / "opp-ci.toml").write_bytes(b'command = "./sim\xff"\n')
    with pytest.raises(UserError, match="not UTF-8"):
        resolve(tmp_path, {}, environ={})


def test_help_shows_each_default_from_its_declaration():
    assert options.help_text(options.option("timeout")).endswith("[default: 1h]")
    assert options.help_text(options.option("ecs.workers")).endswith("[default: 2]")
