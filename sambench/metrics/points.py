"""Metrics of the point-prompt task: mIoU after k clicks, oracle mIoU at 1 click, NoC.

Every figure is computed from the records of :class:`sambench.tasks.points.PointsTask`
(per object, the IoU after each click and the IoU of every candidate mask), never from the
model.

* ``mIoU@k``: the mean over objects of the IoU after ``k`` clicks. An object with fewer
  than ``k`` recorded clicks (it stopped early, or no error pixel was left to click)
  carries its last IoU forward. Emitted for every ``k`` in ``1..max_clicks`` so curves can
  be drawn; the ``k`` not in ``report_clicks`` carry ``extra={"curve": True}``.
* ``oracle_mIoU@1``: the mean over objects of the best candidate IoU at click 1 (the SAM
  paper's "oracle" that picks the mask best matching the ground truth).
* ``NoC@T`` (T = 100 × threshold, e.g. ``NoC@90``): the mean number of clicks to reach
  IoU ≥ threshold; an object that does not within ``noc_max_clicks`` clicks counts as
  ``noc_max_clicks`` and as a failure, ``extra={"failures": n, ...}``. (RITM's
  ">=20@90%" column instead counts every object with NoC = 20, including one that reached
  the threshold at exactly click 20.)

Each figure comes per dataset (the mean over that dataset's objects, as the paper's
"per-dataset mIoU … averaged across all objects") and for scope ``"suite"``: the macro
mean of the per-dataset figures, as the paper's top line. Intervals are 95% percentile
bootstraps over objects (within each dataset for the suite figure), seeded, and records are
sorted by key first, so the order of :meth:`PointsEvaluator.process` calls never matters.

>>> steps_a = [{"step": 1, "iou": 0.5, "candidate_ious": [0.5, 0.7, 0.2]},
...            {"step": 2, "iou": 0.95, "candidate_ious": [0.95]}]
>>> steps_b = [{"step": k, "iou": 0.3, "candidate_ious": [0.3]} for k in range(1, 21)]
>>> record = {"dataset": "toy", "image_id": "1",
...           "objects": [{"object_id": "a", "steps": steps_a},
...                       {"object_id": "b", "steps": steps_b}]}
>>> evaluator = PointsEvaluator(max_clicks=3, report_clicks=(1, 3), seed=0)
>>> evaluator.process(record)
>>> figures = {(m.name, m.scope): m for m in evaluator.evaluate()}
>>> figures["mIoU@1", "toy"].value                  # (0.5 + 0.3) / 2
0.4
>>> figures["mIoU@3", "toy"].value                  # a stopped at click 2: 0.95 carries on
0.625
>>> figures["mIoU@2", "toy"].extra                  # not a reported k: a curve point
{'curve': True}
>>> figures["oracle_mIoU@1", "toy"].value           # best candidates: (0.7 + 0.3) / 2
0.5
>>> noc = figures["NoC@90", "toy"]                  # a: 2 clicks; b: never, counts as 20
>>> noc.value, noc.extra["failures"]
(11.0, 1)
>>> figures["NoC@90", "suite"].value                # one dataset: the suite is its figure
11.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sambench.errors import RecordsError
from sambench.metrics.base import (
    MetricValue,
    RecordsEvaluator,
    macro_mean_with_ci,
    mean_with_ci,
)


def iou_after(ious: Sequence[float], k: int) -> float:
    """IoU after ``k`` clicks from the per-click IoUs, carrying the last one forward.

    >>> iou_after([0.4, 0.8], 1), iou_after([0.4, 0.8], 5)
    (0.4, 0.8)
    """
    if not ious:
        raise ValueError("no click was recorded")
    return float(ious[min(k, len(ious)) - 1])


def clicks_to_reach(ious: Sequence[float], threshold: float, max_clicks: int) -> tuple[int, bool]:
    """Number of clicks until IoU ≥ ``threshold`` and whether it was reached (RITM's NoC).

    Only the first ``max_clicks`` clicks count; not reaching it gives ``max_clicks``.

    >>> clicks_to_reach([0.5, 0.86, 0.91], 0.85, 20)
    (2, True)
    >>> clicks_to_reach([0.5, 0.86, 0.91], 0.95, 20)
    (20, False)
    >>> clicks_to_reach([0.5, 0.86, 0.91], 0.90, 2)
    (2, False)
    """
    for index, value in enumerate(ious[:max_clicks]):
        if value >= threshold:
            return index + 1, True
    return max_clicks, False


def noc_name(threshold: float) -> str:
    """``NoC@85`` for 0.85, ``NoC@87.5`` for 0.875.

    >>> noc_name(0.85), noc_name(0.9), noc_name(0.875)
    ('NoC@85', 'NoC@90', 'NoC@87.5')
    """
    return f"NoC@{round(threshold * 100, 6):g}"


@dataclass
class _Columns:
    """Per-object values of one dataset, in key order."""

    miou: dict[int, list[float]] = field(default_factory=dict)
    oracle: list[float] = field(default_factory=list)
    noc: dict[float, list[float]] = field(default_factory=dict)
    failures: dict[float, int] = field(default_factory=dict)


class PointsEvaluator(RecordsEvaluator):
    """mIoU@k, oracle mIoU@1 and NoC per dataset and for the suite (see the module docs).

    Args:
        max_clicks: Largest ``k`` of the ``mIoU@k`` curve.
        report_clicks: The ``k`` of the results table (the others are flagged as curve).
        noc_thresholds: IoU thresholds of the NoC figures.
        noc_max_clicks: NoC click budget; the value counted for a failure.
        seed: Seed of the bootstrap intervals.
    """

    record_kind = "points"
    list_fields = ("objects",)

    def __init__(
        self,
        *,
        max_clicks: int = 9,
        report_clicks: Sequence[int] = (1, 2, 3, 5, 9),
        noc_thresholds: Sequence[float] = (0.85, 0.90),
        noc_max_clicks: int = 20,
        seed: int = 0,
    ) -> None:
        self.max_clicks = max_clicks
        self.report_clicks = tuple(report_clicks)
        self.noc_thresholds = tuple(noc_thresholds)
        self.noc_max_clicks = noc_max_clicks
        super().__init__(seed=seed)

    def evaluate(self) -> list[MetricValue]:
        columns: dict[str, _Columns] = {}
        for key, record in self.items():
            table = columns.setdefault(key[0], self._empty_columns())
            for obj in record["objects"]:
                self._add_object(table, obj, key)

        figures: list[MetricValue] = []
        per_dataset: dict[str, dict[str, list[float]]] = {}
        for dataset in sorted(columns):
            table = columns[dataset]
            for name, values, extra in self._rows(table):
                per_dataset.setdefault(name, {})[dataset] = values
                figure = mean_with_ci(values, name, dataset, self.seed)
                figures.append(replace(figure, extra={**figure.extra, **extra}))
        if columns:
            totals = self._empty_columns()
            for table in columns.values():
                for t, n in table.failures.items():
                    totals.failures[t] += n
            for name, _, extra in self._rows(totals):
                figure = macro_mean_with_ci(per_dataset[name], name, "suite", self.seed)
                figures.append(replace(figure, extra={**figure.extra, **extra}))
        return figures

    # -- helpers ----------------------------------------------------------------------------

    def _empty_columns(self) -> _Columns:
        return _Columns(
            miou={k: [] for k in range(1, self.max_clicks + 1)},
            noc={t: [] for t in self.noc_thresholds},
            failures=dict.fromkeys(self.noc_thresholds, 0),
        )

    def _add_object(self, table: _Columns, obj: Mapping[str, Any], key: tuple[str, str]) -> None:
        steps = obj.get("steps") if isinstance(obj, Mapping) else None
        where = (
            f"record {key}, object {obj.get('object_id') if isinstance(obj, Mapping) else obj!r}"
        )
        if not isinstance(steps, list) or not steps:
            raise RecordsError(f"{where}: no clicks recorded")
        if [s.get("step") for s in steps] != list(range(1, len(steps) + 1)):
            raise RecordsError(f"{where}: steps are not numbered 1..{len(steps)}")
        try:
            ious = [float(s["iou"]) for s in steps]
            oracle = max(float(v) for v in steps[0]["candidate_ious"])
        except (KeyError, TypeError, ValueError) as error:
            raise RecordsError(f"{where}: malformed step ({error})") from error
        for k, values in table.miou.items():
            values.append(iou_after(ious, k))
        table.oracle.append(oracle)
        for t in self.noc_thresholds:
            clicks, reached = clicks_to_reach(ious, t, self.noc_max_clicks)
            table.noc[t].append(float(clicks))
            table.failures[t] += 0 if reached else 1

    def _rows(self, table: _Columns) -> list[tuple[str, list[float], dict[str, Any]]]:
        """``(name, per-object values, extra)`` of every figure, in the order reported."""
        rows: list[tuple[str, list[float], dict[str, Any]]] = [
            (f"mIoU@{k}", table.miou[k], {} if k in self.report_clicks else {"curve": True})
            for k in range(1, self.max_clicks + 1)
        ]
        rows.append(("oracle_mIoU@1", table.oracle, {}))
        rows += [
            (
                noc_name(t),
                table.noc[t],
                {"failures": table.failures[t], "max_clicks": self.noc_max_clicks},
            )
            for t in self.noc_thresholds
        ]
        return rows


__all__ = ["PointsEvaluator", "clicks_to_reach", "iou_after", "noc_name"]
