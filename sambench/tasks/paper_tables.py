"""The papers' reference tables (``results/paper/*.yaml``) and a run's row beside them.

A task that reproduces a paper table renders it from runs given as ``(label, manifest,
metrics)``; :func:`write_run_table` writes the table with one run's row into its run directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sambench.metrics.base import MetricValue
from sambench.records import write_text_atomic
from sambench.resources import data_folder

RunFigures = tuple[str, Mapping[str, Any], Sequence[MetricValue]]
"""A run as a table shows it: its label, its manifest and its figures."""


def load_paper_table(name: str) -> dict[str, Any]:
    """The reference numbers of ``results/paper/<name>.yaml``.

    Args:
        name: The table's file name without ``.yaml`` (``"table5"``).
    """
    path = data_folder("results") / "paper" / f"{name}.yaml"
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def table_cells(row: Mapping[str, Any] | None, columns: Sequence[str]) -> list[str]:
    """A table row's cells: each column's figure to one decimal, ``–`` where there is none.

    Args:
        row: Figures by column name (in percent); ``None`` or empty: a row of ``–``.
        columns: The columns, in order.

    >>> table_cells({"AP": 46.54, "APs": None}, ("AP", "APs", "APm"))
    ['46.5', '–', '–']
    """
    if not row:
        return ["–"] * len(columns)
    return [f"{row[c]:.1f}" if row.get(c) is not None else "–" for c in columns]


def write_run_table(
    out_dir: Path,
    file_name: str,
    render: Callable[[Sequence[RunFigures]], str],
    metrics: Sequence[MetricValue],
) -> None:
    """Write a paper table with a run's row into the run directory.

    Args:
        out_dir: The run directory: its name labels the row, its ``manifest.json`` (when
            there is one) gives the model and knobs.
        file_name: The table's file in ``out_dir`` (``"table5.md"``).
        render: Renders the table from the runs' ``(label, manifest, metrics)``.
        metrics: The run's figures.
    """
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    write_text_atomic(out_dir / file_name, render([(out_dir.name, manifest, list(metrics))]))


__all__ = ["RunFigures", "load_paper_table", "table_cells", "write_run_table"]
