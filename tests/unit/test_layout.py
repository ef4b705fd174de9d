"""README's Layout names every module of the package, so a reader finds where a thing lives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layout_paths() -> set[str]:
    section = ROOT.joinpath("README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(opp_ci/[^`]*)`", section))


def modules() -> set[str]:
    """The package's modules, a subpackage counted once (as `opp_ci/NAME/`)."""
    package = ROOT / "opp_ci"
    files = {f"opp_ci/{p.name}" for p in package.glob("*.py") if p.name != "__init__.py"}
    return files | {f"opp_ci/{p.parent.name}/" for p in package.glob("*/__init__.py")}


def test_the_layout_names_every_module():
    missing = modules() - layout_paths()
    assert not missing, f"README's Layout does not name: {sorted(missing)}"


def test_the_layout_names_no_module_that_is_gone():
    gone = {p for p in layout_paths() if not (ROOT / p).exists()}
    assert not gone, f"README's Layout names what is not there: {sorted(gone)}"
