"""Baseline-versus-candidate plots of changed metrics, as PNG files in the output directory's plots/.

matplotlib is optional (the `plots` extra): without it no plots are drawn and the summary says so.
Figures are built with `matplotlib.figure.Figure`, never pyplot, so no global state is touched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from opp_ci.results import Run

if TYPE_CHECKING:
    from opp_ci.regression import ScalarDifference, StatisticalChange

PLOTS_DIR = "plots"
#: At most this many plots per comparison: the largest changes first.
MAX_PLOTS = 12
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(out_dir: Path, base_runs: list[Run], cand_runs: list[Run],
                differences: list[ScalarDifference], changes: list[StatisticalChange]) -> list[str]:
    """Draws the changed metrics; returns the plots' paths relative to `out_dir`."""
    if not available():
        return []
    directory = Path(out_dir) / PLOTS_DIR
    for old in directory.glob("*.png"):  # an earlier comparison's plots
        old.unlink()
    written: list[str] = []
    significant = sorted((c for c in changes if c.significant), key=lambda c: c.p_adjusted)
    for change in significant[:MAX_PLOTS]:
        written.append(_distribution_plot(directory, base_runs, cand_runs, change))
    changed = [d for d in differences if d.base is not None and d.candidate is not None]
    for difference in _by_metric(changed)[:MAX_PLOTS - len(written)]:
        written.append(_value_plot(directory, difference, changed))
    return [f"{PLOTS_DIR}/{name}" for name in written]


def file_name(*parts: str) -> str:
    return _UNSAFE.sub("_", "-".join(p for p in parts if p)).strip("_")[:150] + ".png"


def _by_metric(differences: list[ScalarDifference]) -> list[ScalarDifference]:
    """The first (largest) difference of each (config, module, name)."""
    seen, first = set(), []
    for difference in differences:
        key = (difference.run[0], difference.module, difference.name)
        if key not in seen:
            seen.add(key)
            first.append(difference)
    return first


def _values(runs: list[Run], group: tuple, module: str, name: str) -> list[float]:
    from opp_ci.regression import group_key

    return [s.value for run in runs if group_key(run) == group for s in run.scalars
            if s.module == module and s.name == name]


def _distribution_plot(directory: Path, base_runs: list[Run], cand_runs: list[Run],
                       change: StatisticalChange) -> str:
    from matplotlib.figure import Figure

    base = _values(base_runs, change.group, change.module, change.name)
    candidate = _values(cand_runs, change.group, change.module, change.name)
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.boxplot([base, candidate], tick_labels=["baseline", "candidate"])
    for position, values in ((1, base), (2, candidate)):
        axes.plot([position] * len(values), values, "o", alpha=0.5)
    variables = ", ".join(f"{k}={v}" for k, v in change.group[1])
    axes.set_title(f"{change.group[0]} {variables}\n{change.module} {change.name}", fontsize=9)
    axes.set_ylabel(change.name)
    axes.text(0.02, 0.98, f"{change.test.relative:+.2%}, g={change.test.hedges_g:.2f}, p_adj={change.p_adjusted:.2g}",
              transform=axes.transAxes, va="top", fontsize=8)
    name = file_name(change.group[0], variables, change.module, change.name)
    return _save(figure, directory, name)


def _value_plot(directory: Path, difference: ScalarDifference, differences: list[ScalarDifference]) -> str:
    """Baseline and candidate values of one scalar over the runs of its config where it changed."""
    from matplotlib.figure import Figure

    same = [d for d in differences if (d.run[0], d.module, d.name) == (difference.run[0], difference.module,
                                                                        difference.name)]
    labels = [", ".join(f"{k}={v}" for k, v in d.run[1]) + f" #{d.run[2]}" for d in same]
    figure = Figure(figsize=(max(6, len(same) * 0.6), 4))
    axes = figure.subplots()
    positions = range(len(same))
    axes.bar([p - 0.2 for p in positions], [d.base for d in same], width=0.4, label="baseline")
    axes.bar([p + 0.2 for p in positions], [d.candidate for d in same], width=0.4, label="candidate")
    axes.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize=7)
    axes.set_title(f"{difference.run[0]}: {difference.module} {difference.name}", fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, directory, file_name(difference.run[0], difference.module, difference.name))


def _save(figure, directory: Path, name: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    figure.savefig(directory / name, dpi=80)
    return name
