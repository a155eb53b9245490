"""The evaluator protocol and the figures it reports.

An :class:`Evaluator` sees a task's per-sample records one at a time
(``process``), then turns them into :class:`MetricValue` figures (``evaluate``).
It never sees the model, so ``sambench score`` can recompute metrics from the
records of a finished run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from sambench.errors import RecordsError
from sambench.records import RecordKey, record_key

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MetricValue:
    """One reported figure.

    Attributes:
        name: Metric name, e.g. ``"mIoU@1"`` or ``"NoC@90"``.
        scope: What it aggregates: a dataset name, ``"suite"`` (the macro average
            over datasets), or a breakdown such as ``"miap/perceived_age=older"``.
        value: The figure.
        ci_low: Lower end of the 95% bootstrap confidence interval.
        ci_high: Upper end of the 95% bootstrap confidence interval.
        n: Number of units behind the figure (objects, images).
        extra: Further facts about the figure (e.g. ``{"failures": 3}`` for NoC).
    """

    name: str
    scope: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["extra"] = dict(self.extra)
        return row

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> MetricValue:
        return cls(**{**row, "extra": dict(row.get("extra", {}))})


class Evaluator(ABC):
    """Accumulates per-sample records and computes metrics (as detectron2's evaluators)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every processed record."""

    @abstractmethod
    def process(self, record: Mapping[str, Any]) -> None:
        """Take one per-sample record (one image's row, as the task wrote it)."""

    @abstractmethod
    def evaluate(self) -> list[MetricValue]:
        """Compute every figure from the records processed since the last reset."""


def record_label(record: Mapping[str, Any]) -> str:
    """How error messages name a record: ``record ('coco', '139')``.

    Args:
        record: A task record (its ``dataset`` and ``image_id``, when present, name it).

    >>> record_label({"dataset": "coco", "image_id": "139"})
    "record ('coco', '139')"
    """
    return f"record ({record.get('dataset')!r}, {record.get('image_id')!r})"


class RecordsEvaluator(Evaluator):
    """An evaluator that keeps the per-image records it is given, one per ``(dataset,
    image_id)``, and scores them all in ``evaluate``.

    It refuses records without a key, with a field of :attr:`list_fields` that is missing or
    not a list, or processed twice, and hands the records back in a fixed order, so the
    order of ``process`` calls never matters. Subclasses name their records
    (:attr:`record_kind`), may require list fields, and implement ``evaluate``.

    Args:
        seed: Seed of the bootstrap intervals.

    >>> class CountObjects(RecordsEvaluator):
    ...     record_kind = "toy"
    ...     list_fields = ("objects",)
    ...     def evaluate(self):
    ...         return [(key[1], len(row["objects"])) for key, row in self.items()]
    >>> evaluator = CountObjects(seed=0)
    >>> evaluator.process({"dataset": "d", "image_id": "2", "objects": [{}, {}]})
    >>> evaluator.process({"dataset": "d", "image_id": "1", "objects": [{}]})
    >>> evaluator.evaluate()
    [('1', 1), ('2', 2)]
    >>> evaluator.process({"dataset": "d", "image_id": "1", "objects": []})
    Traceback (most recent call last):
    ...
    sambench.errors.RecordsError: record ('d', '1') was processed twice
    >>> evaluator.process({"dataset": "d", "image_id": "3"})
    Traceback (most recent call last):
    ...
    sambench.errors.RecordsError: toy record lacks field 'objects'
    >>> evaluator.process({"dataset": "d", "image_id": "3", "objects": {}})
    Traceback (most recent call last):
    ...
    sambench.errors.RecordsError: toy record ('d', '3'): field 'objects' must be a list
    """

    record_kind: ClassVar[str]
    """What the records are of, as error messages name them (e.g. ``"points"``)."""

    list_fields: ClassVar[tuple[str, ...]] = ()
    """Fields every record must have, each holding a list."""

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed
        self._records: dict[RecordKey, Mapping[str, Any]] = {}

    def reset(self) -> None:
        self._records = {}

    def process(self, record: Mapping[str, Any]) -> None:
        try:
            key = record_key(record)
            fields = [(name, record[name]) for name in self.list_fields]
        except (KeyError, TypeError) as error:
            raise RecordsError(f"{self.record_kind} record lacks field {error}") from error
        for name, value in fields:
            if not isinstance(value, list):
                kind = self.record_kind
                raise RecordsError(f"{kind} record {key}: field {name!r} must be a list")
        if key in self._records:
            raise RecordsError(f"record {key} was processed twice")
        self._records[key] = record

    def items(self) -> list[tuple[RecordKey, Mapping[str, Any]]]:
        """``((dataset, image_id), record)`` of every record, in key (string) order."""
        return [(key, self._records[key]) for key in sorted(self._records)]

    def datasets(self) -> list[str]:
        """Names of the datasets seen, sorted."""
        return sorted({key[0] for key in self._records})

    def dataset_records(self, dataset: str) -> list[Mapping[str, Any]]:
        """One dataset's records in image-id order (numeric ids as numbers, before others).

        Args:
            dataset: A name from :meth:`datasets`.
        """
        keys = [key for key in self._records if key[0] == dataset]
        keys.sort(key=lambda key: (0, int(key[1]), "") if key[1].isdigit() else (1, 0, key[1]))
        return [self._records[key] for key in keys]


def bootstrap_ci(
    groups: Sequence[npt.ArrayLike],
    statistic: Callable[[Sequence[FloatArray]], float],
    seed: int,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic``, resampling units within each group.

    Each group (for example the per-object IoUs of one dataset) is resampled with
    replacement independently, so a macro average over datasets keeps its weights.

    Args:
        groups: One 1-D array of per-unit values per group.
        statistic: Maps the (resampled) groups to the figure.
        seed: Seed of the resampling, so intervals are reproducible.
        n_resamples: Number of bootstrap replicates.
        confidence: Coverage of the interval.

    >>> values = [np.array([0.2, 0.4, 0.6, 0.8])]
    >>> low, high = bootstrap_ci(values, lambda g: float(np.mean(g[0])), seed=0)
    >>> 0.2 <= low < 0.5 < high <= 0.8
    True
    >>> bootstrap_ci([np.array([0.7, 0.7])], lambda g: float(np.mean(g[0])), seed=0)
    (0.7, 0.7)
    """
    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    if any(a.size == 0 for a in arrays):
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    indices = [rng.integers(0, a.size, size=(n_resamples, a.size)) for a in arrays]
    replicates = np.array(
        [
            statistic([a[idx[r]] for a, idx in zip(arrays, indices, strict=True)])
            for r in range(n_resamples)
        ]
    )
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return (round(float(low), 12), round(float(high), 12))


def mean_with_ci(values: npt.ArrayLike, name: str, scope: str, seed: int) -> MetricValue:
    """The mean of per-unit ``values`` with its 95% bootstrap interval.

    >>> m = mean_with_ci([0.5, 1.0], "mIoU@1", "toy", seed=0)
    >>> (m.value, m.n)
    (0.75, 2)
    """
    array = np.asarray(values, dtype=np.float64)
    low, high = bootstrap_ci([array], lambda g: float(np.mean(g[0])), seed=seed)
    value = float(np.mean(array)) if array.size else float("nan")
    return MetricValue(
        name=name, scope=scope, value=value, ci_low=low, ci_high=high, n=int(array.size)
    )


def macro_mean_with_ci(
    per_group: Mapping[str, npt.ArrayLike], name: str, scope: str, seed: int
) -> MetricValue:
    """Mean over groups of each group's mean (the paper's macro average over datasets).

    The interval resamples units within each group.

    >>> m = macro_mean_with_ci({"a": [1.0, 1.0, 1.0], "b": [0.0]}, "mIoU@1", "suite", seed=0)
    >>> (m.value, m.n, m.extra["groups"])
    (0.5, 4, 2)
    """
    arrays = [np.asarray(per_group[k], dtype=np.float64) for k in sorted(per_group)]

    def macro(groups: Sequence[FloatArray]) -> float:
        return float(np.mean([np.mean(g) for g in groups]))

    low, high = bootstrap_ci(arrays, macro, seed=seed)
    value = macro(arrays) if arrays and all(a.size for a in arrays) else float("nan")
    return MetricValue(
        name=name,
        scope=scope,
        value=value,
        ci_low=low,
        ci_high=high,
        n=int(sum(a.size for a in arrays)),
        extra={"groups": len(arrays)},
    )
