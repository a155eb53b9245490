"""Figures for reports: metric-versus-clicks curves and per-dataset deltas between runs.

Drawn with matplotlib's object-oriented API (no pyplot, no global backend state), so they
render on headless machines and inside any host program.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from sambench.metrics.base import MetricValue

_STEP = re.compile(r"^(?P<stem>.+)@(?P<step>\d+)$")


def curve_points(
    metrics: Sequence[MetricValue], stem: str
) -> dict[str, list[tuple[int, MetricValue]]]:
    """Per scope, the ``(k, figure)`` pairs of the metrics named ``<stem>@<k>``, sorted by k.

    >>> m = [MetricValue("mIoU@2", "a", 0.8, 0.7, 0.9, 3),
    ...      MetricValue("mIoU@1", "a", 0.5, 0.4, 0.6, 3)]
    >>> [(k, v.value) for k, v in curve_points(m, "mIoU")["a"]]
    [(1, 0.5), (2, 0.8)]
    """
    curves: dict[str, list[tuple[int, MetricValue]]] = {}
    for metric in metrics:
        match = _STEP.match(metric.name)
        if match and match["stem"] == stem:
            curves.setdefault(metric.scope, []).append((int(match["step"]), metric))
    return {scope: sorted(points, key=lambda p: p[0]) for scope, points in curves.items()}


def plot_curves(metrics: Sequence[MetricValue], stem: str, path: Path, title: str) -> Path:
    """Draw ``<stem>@k`` against k for every scope, with 95% intervals shaded; save a PNG."""
    curves = curve_points(metrics, stem)
    figure = Figure(figsize=(6.4, 4.2), dpi=120)
    axes = figure.add_subplot()
    for scope in sorted(curves, key=lambda s: (s == "suite", s)):
        steps = [k for k, _ in curves[scope]]
        scale = 100.0 if "IoU" in stem else 1.0
        values = [m.value * scale for _, m in curves[scope]]
        low = [m.ci_low * scale for _, m in curves[scope]]
        high = [m.ci_high * scale for _, m in curves[scope]]
        style = {"linewidth": 2.5, "color": "black"} if scope == "suite" else {"linewidth": 1.2}
        (line,) = axes.plot(steps, values, marker="o", markersize=3, label=scope, **style)
        axes.fill_between(steps, low, high, alpha=0.15, color=line.get_color())
    axes.set_xlabel("number of clicks")
    axes.set_ylabel(f"{stem} (%)" if "IoU" in stem else stem)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def plot_deltas(
    baseline: Sequence[MetricValue],
    other: Sequence[MetricValue],
    metric_name: str,
    path: Path,
    labels: tuple[str, str],
) -> Path:
    """Per-dataset ``other − baseline`` of one figure as sorted horizontal bars (SAM Fig. 9a).

    Only scopes present in both runs are drawn; ``suite`` and breakdowns are left out.
    """
    first = {m.scope: m for m in baseline if m.name == metric_name}
    second = {m.scope: m for m in other if m.name == metric_name}
    scopes = [s for s in first if s in second and s != "suite" and "/" not in s]
    if not scopes:
        raise ValueError(f"the runs share no dataset with figure {metric_name!r}")
    scale = 100.0 if "IoU" in metric_name else 1.0
    deltas = sorted(((second[s].value - first[s].value) * scale, s) for s in scopes)
    figure = Figure(figsize=(6.4, 0.9 + 0.32 * len(deltas)), dpi=120)
    axes = figure.add_subplot()
    colours = ["tab:green" if d >= 0 else "tab:red" for d, _ in deltas]
    axes.barh([s for _, s in deltas], [d for d, _ in deltas], color=colours)
    for y, (delta, _) in enumerate(deltas):
        axes.annotate(
            f"{delta:+.1f}",
            (delta, y),
            fontsize="x-small",
            va="center",
            ha="left" if delta >= 0 else "right",
        )
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel(f"Δ {metric_name}: {labels[1]} − {labels[0]}")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
