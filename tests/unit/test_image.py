"""opp_ci/image.py: the [image] settings, the default build command, the builder's command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from opp_ci import image
from opp_ci.cli import cli
from opp_ci.errors import UserError


def project(tmp_path: Path, toml: str = "", makefile: bool = False) -> Path:
    (tmp_path / "opp-ci.toml").write_text(toml)
    if makefile:
        (tmp_path / "Makefile").write_text("all:\n")
    return tmp_path


def test_defaults_are_the_omnetpp_image_and_opp_makemake_named_after_the_command(tmp_path):
    settings = image.resolve(project(tmp_path, 'command = "./aloha"\n'))
    assert settings.base == "ghcr.io/omnetpp/omnetpp:u24.04-6.2.0"
    assert settings.build == "opp_makemake -f --deep -O out -o aloha && make MODE=release -j$(nproc)"
    assert settings.packages == ()


def test_a_project_with_a_makefile_is_built_with_make(tmp_path):
    assert image.resolve(project(tmp_path, makefile=True)).build == "make MODE=release -j$(nproc)"


def test_flags_win_over_the_file_and_the_file_over_the_defaults(tmp_path):
    where = project(tmp_path, '[image]\nbase = "my/omnetpp:6"\nbuild = "make"\npackages = ["libpcap-dev"]\n')
    assert image.resolve(where) == image.ImageSettings("my/omnetpp:6", "make", ("libpcap-dev",))
    assert image.resolve(where, "other:1", "make all", ["a b", "c"]) == image.ImageSettings(
        "other:1", "make all", ("a", "b", "c"))


@pytest.mark.parametrize(("table", "message"), [
    ('[image]\nbuid = "make"\n', "unknown key 'buid'"),
    ('[image]\nbuild = ""\n', "non-empty string"),
    ('[image]\npackages = "g++"\n', "list of Debian package names"),
    ('image = "x"\n', "must be a table"),
])
def test_bad_image_settings_are_user_errors(tmp_path, table, message):
    with pytest.raises(UserError, match=message):
        image.resolve(project(tmp_path, table))


def test_opp_ci_run_builds_only_with_a_build_command(tmp_path):
    assert image.local_build_command(project(tmp_path), None, False) is None
    assert image.local_build_command(project(tmp_path), "make x", False) == "make x"
    built = project(tmp_path, '[image]\nbuild = "make"\n')
    assert image.local_build_command(built, None, False) == "make"
    assert image.local_build_command(built, "make y", True) is None


def test_the_build_command_line_is_the_same_for_every_builder(tmp_path):
    settings = image.ImageSettings("base:1", "make", ("g++",))
    argv = image.build_command_line(["podman"], tmp_path, "t:1", image.build_arguments(settings, "sims"),
                                    ("--layers",))
    assert argv[:4] == ["podman", "build", "-f", str(image.dockerfile())]
    assert argv[4] == "--layers"
    assert "BASE_IMAGE=base:1" in argv and "BUILD_COMMAND=make" in argv and "PACKAGES=g++" in argv
    assert "PROJECT_DIR=sims" in argv and argv[-3:] == ["-t", "t:1", str(tmp_path)]


def test_the_dockerfile_ships_in_the_package():
    text = image.dockerfile().read_text()
    assert "--mount=type=cache" in text and "ccache" in text
    # The model is copied after opp-ci is installed, so a change to the model reuses those layers.
    assert text.index("COPY ${OPP_CI_DIST}/") < text.index("COPY --chown=opp:opp . /model")


def test_a_missing_builder_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(image.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="install docker, podman or buildah"):
        image.find_builder()
    with pytest.raises(UserError, match="not on PATH"):
        image.find_builder("nerdctl --namespace x")


def test_image_settings_command_writes_github_outputs(tmp_path, monkeypatch):
    project(tmp_path, '[image]\nbuild = "make makefiles && make MODE=release -j$(nproc)"\n')
    output = tmp_path / "out.txt"
    result = CliRunner().invoke(cli, ["image", "settings", "--project-dir", str(tmp_path), "--package", "ccache",
                                      "--github-output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_text().splitlines() == [
        "base-image=ghcr.io/omnetpp/omnetpp:u24.04-6.2.0",
        "build-command=make makefiles && make MODE=release -j$(nproc)",
        "packages=ccache",
    ]
