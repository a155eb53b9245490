"""Human-readable Markdown reports of one run or a comparison of several.

Figures whose name contains ``IoU`` are shown in percent, as the papers print them;
every figure carries its 95% bootstrap interval.

>>> from sambench.metrics.base import MetricValue
>>> format_value(MetricValue("mIoU@1", "coco", 0.5812, 0.55, 0.6, 10))
'58.1 [55.0, 60.0]'
>>> format_value(MetricValue("NoC@90", "coco", 4.25, 3.5, 5.0, 10, {"failures": 1}))
'4.25 [3.50, 5.00]'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sambench.metrics.base import MetricValue


def format_value(metric: MetricValue) -> str:
    """``value [low, high]``, in percent for IoU-type figures."""
    if "IoU" in metric.name:
        return f"{metric.value * 100:.1f} [{metric.ci_low * 100:.1f}, {metric.ci_high * 100:.1f}]"
    return f"{metric.value:.2f} [{metric.ci_low:.2f}, {metric.ci_high:.2f}]"


def metrics_table(metrics: Sequence[MetricValue]) -> str:
    """One row per scope (datasets, then breakdowns, then ``suite``), one column per figure."""
    shown = [m for m in metrics if not m.extra.get("curve")]
    names = list(dict.fromkeys(m.name for m in shown))
    scopes = list(dict.fromkeys(m.scope for m in shown))
    scopes.sort(key=lambda s: (s == "suite", "/" in s, s))
    cells = {(m.scope, m.name): m for m in shown}
    lines = ["| scope | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for scope in scopes:
        row_metrics = [cells.get((scope, name)) for name in names]
        n = max((m.n for m in row_metrics if m is not None), default=0)
        values = [_cell(m) for m in row_metrics]
        lines.append(f"| {scope} | {n} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def render_run_report(
    manifest: dict[str, Any], metrics: Sequence[MetricValue], figures: Sequence[Path] = ()
) -> str:
    """The ``report.md`` of one run: what ran, the figures, the knobs, the provenance.

    ``figures`` are image paths relative to the report, embedded after the tables.
    """
    task = manifest.get("task", {})
    model = manifest.get("model", {})
    build = manifest.get("sambench", {})
    lines = [
        f"# {task.get('name', '?')}: {model.get('name', '?')}",
        "",
        task.get("description", ""),
        "",
        "## Results",
        "",
        "Values with 95% bootstrap confidence intervals (resampling objects); IoU in percent. "
        "`suite` is the unweighted mean over datasets.",
        "",
        metrics_table(metrics),
        "",
    ]
    failures = [m for m in metrics if "failures" in m.extra and not m.extra.get("curve")]
    if failures:
        lines += [
            "Failures (objects that never reached the NoC threshold, counted at the cap): "
            + ", ".join(f"{m.scope} {m.name}: {m.extra['failures']}" for m in failures),
            "",
        ]
    absent = manifest.get("missing_datasets") or []
    if absent:
        lines += [
            f"Not evaluated ({len(absent)} missing): "
            + "; ".join(f"{d['name']} ({d['reason']})" for d in absent),
            "",
        ]
    lines += [f"![{path.stem}]({path.as_posix()})\n" for path in figures]
    lines += ["## Protocol knobs", "", "| knob | value |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in task.get("params", {}).items()]
    timings = manifest.get("timings", {})
    if timings:
        lines += [
            "",
            "## Timing (seconds)",
            "",
            "| " + " | ".join(timings) + " |",
            "|" + "---|" * len(timings),
            "| " + " | ".join(f"{v:.2f}" for v in timings.values()) + " |",
        ]
    lines += [
        "",
        "## Provenance",
        "",
        f"- sambench {build.get('version')} (git {build.get('git_sha') or 'unknown'}"
        f"{', modified' if build.get('git_dirty') else ''})",
        f"- task config SHA-256 `{manifest.get('task_config_sha256')}`",
        f"- model: `{model}`",
        "- datasets: " + ", ".join(_dataset_line(d) for d in manifest.get("datasets", [])),
        f"- seed {manifest.get('seed')}, limit {manifest.get('limit')}, "
        f"samples {manifest.get('samples_done', '?')}/{manifest.get('samples')}, "
        f"status {manifest.get('status')}",
        f"- started {manifest.get('started_at')}, finished {manifest.get('finished_at')}",
        "",
    ]
    return "\n".join(lines)


def render_comparison(runs: Sequence[tuple[str, dict[str, Any], Sequence[MetricValue]]]) -> str:
    """Side-by-side figures of several runs: one table per scope, one row per run."""
    scopes: list[str] = []
    for _, _, metrics in runs:
        scopes += [m.scope for m in metrics if m.scope not in scopes]
    scopes.sort(key=lambda s: (s == "suite", "/" in s, s))
    lines = ["# Comparison", ""]
    for scope in scopes:
        names = list(
            dict.fromkeys(
                m.name
                for _, _, ms in runs
                for m in ms
                if m.scope == scope and not m.extra.get("curve")
            )
        )
        lines += [
            f"## {scope}",
            "",
            "| run | model | task config | " + " | ".join(names) + " |",
            "|---|---|---|" + "---|" * len(names),
        ]
        for label, manifest, metrics in runs:
            cells = {m.name: m for m in metrics if m.scope == scope}
            lines.append(
                f"| {label} | {manifest.get('model', {}).get('name', '?')} | "
                f"`{str(manifest.get('task_config_sha256', ''))[:12]}` | "
                + " | ".join(_cell(cells.get(name)) for name in names)
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def _dataset_line(described: dict[str, Any]) -> str:
    checksums = described.get("annotation_sha256", {})
    files = ", ".join(f"{path} sha256 {digest[:12]}" for path, digest in checksums.items())
    return f"{described['name']} ({files})"


def _cell(metric: MetricValue | None) -> str:
    return "–" if metric is None else format_value(metric)
