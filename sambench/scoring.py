"""Scoring a run directory from its records alone: no model, no images needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sambench.errors import RecordsError, SambenchError
from sambench.metrics.base import MetricValue
from sambench.records import load_records, write_json_atomic, write_text_atomic
from sambench.report import render_run_report
from sambench.tasks import build_task
from sambench.tasks.base import TaskConfig

MANIFEST = "manifest.json"
METRICS = "metrics.json"
REPORT = "report.md"


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a :class:`SambenchError` names the file if unreadable."""
    try:
        loaded = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise SambenchError(f"{path}: no such file") from error
    except (OSError, json.JSONDecodeError) as error:
        raise SambenchError(f"{path}: unreadable JSON ({error})") from error
    if not isinstance(loaded, dict):
        raise SambenchError(f"{path}: expected a JSON object")
    return loaded


def task_config_of(manifest: dict[str, Any], run_dir: Path) -> TaskConfig:
    """The resolved task config a run recorded."""
    try:
        raw = manifest["task"]
        return TaskConfig(
            name=raw["name"],
            adapter=raw["adapter"],
            description=raw.get("description", ""),
            datasets=tuple(raw.get("datasets", ())),
            params=raw.get("params", {}),
            source=str(run_dir / MANIFEST),
        )
    except (KeyError, TypeError) as error:
        raise SambenchError(f"{run_dir / MANIFEST}: malformed 'task' entry ({error})") from error


def score_run(run_dir: Path) -> list[MetricValue]:
    """Recompute ``metrics.json`` and ``report.md`` of a run from its records."""
    manifest = read_json_object(run_dir / MANIFEST)
    task = build_task(task_config_of(manifest, run_dir))
    records_dir = run_dir / "records"
    if not records_dir.is_dir():
        raise RecordsError(f"{records_dir}: no records folder")
    records = load_records(records_dir)
    evaluator = task.evaluator(seed=int(manifest.get("seed", 0)))
    evaluator.reset()
    for record in records:
        evaluator.process(record)
    metrics = evaluator.evaluate()
    payload = {
        "task": manifest["task"]["name"],
        "task_config_sha256": manifest.get("task_config_sha256"),
        "model": manifest.get("model", {}).get("name"),
        "seed": manifest.get("seed"),
        "records": len(records),
        "metrics": [m.to_json() for m in metrics],
    }
    write_json_atomic(run_dir / METRICS, payload)
    figures = [path.relative_to(run_dir) for path in task.figures(metrics, run_dir)]
    write_text_atomic(run_dir / REPORT, render_run_report(manifest, metrics, figures))
    return metrics


def load_metrics(run_dir: Path) -> list[MetricValue]:
    """The metrics a run directory holds (run :func:`score_run` first if it has none)."""
    payload = read_json_object(run_dir / METRICS)
    try:
        return [MetricValue.from_json(row) for row in payload["metrics"]]
    except (KeyError, TypeError) as error:
        raise SambenchError(f"{run_dir / METRICS}: malformed metrics ({error})") from error
