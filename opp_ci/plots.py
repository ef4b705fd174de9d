"""Baseline-versus-candidate plots, as PNG files in the output directory's plots/.

The plots take plain values (`Distribution`, `Bars`); what to draw is the regression check's choice.
matplotlib is optional (the `plots` extra): without it no plots are drawn and the summary says so.
Figures are built with `matplotlib.figure.Figure`, never pyplot, so no global state is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PLOTS_DIR = "plots"
#: At most this many plots per comparison: the largest changes first.
MAX_PLOTS = 12
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


@dataclass(frozen=True)
class Distribution:
    """A metric's values over repetitions, baseline beside candidate (a box plot with the points)."""

    title: str
    axis: str
    note: str
    base: list[float]
    candidate: list[float]
    name: str  # the file name, from file_name()


@dataclass(frozen=True)
class Bars:
    """A scalar's baseline and candidate values over the runs where it changed."""

    title: str
    labels: list[str]
    base: list[float]
    candidate: list[float]
    name: str


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(out_dir: Path, figures: list[Distribution | Bars]) -> list[str]:
    """Draws the figures (replacing an earlier comparison's); returns their paths relative to `out_dir`."""
    if not available():
        return []
    from opp_ci import outdir

    directory = Path(out_dir) / PLOTS_DIR
    for old in directory.glob("*.png"):
        if outdir.is_ours(out_dir, f"{PLOTS_DIR}/{old.name}"):  # never a picture of someone else's
            old.unlink()
    written = [_distribution(directory, f) if isinstance(f, Distribution) else _bars(directory, f)
               for f in figures[:MAX_PLOTS]]
    outdir.note_written(out_dir, [f"{PLOTS_DIR}/{name}" for name in written])
    return [f"{PLOTS_DIR}/{name}" for name in written]


def file_name(*parts: str) -> str:
    return _UNSAFE.sub("_", "-".join(p for p in parts if p)).strip("_")[:150] + ".png"


def _distribution(directory: Path, plot: Distribution) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.boxplot([plot.base, plot.candidate], tick_labels=["baseline", "candidate"])
    for position, values in ((1, plot.base), (2, plot.candidate)):
        axes.plot([position] * len(values), values, "o", alpha=0.5)
    axes.set_title(plot.title, fontsize=9)
    axes.set_ylabel(plot.axis)
    axes.text(0.02, 0.98, plot.note, transform=axes.transAxes, va="top", fontsize=8)
    return _save(figure, directory, plot.name)


def _bars(directory: Path, plot: Bars) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(6, len(plot.labels) * 0.6), 4))
    axes = figure.subplots()
    positions = range(len(plot.labels))
    axes.bar([p - 0.2 for p in positions], plot.base, width=0.4, label="baseline")
    axes.bar([p + 0.2 for p in positions], plot.candidate, width=0.4, label="candidate")
    axes.set_xticks(list(positions), plot.labels, rotation=45, ha="right", fontsize=7)
    axes.set_title(plot.title, fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, directory, plot.name)


def _save(figure, directory: Path, name: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    figure.savefig(directory / name, dpi=80)
    return name
