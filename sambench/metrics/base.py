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
from typing import Any

import numpy as np
import numpy.typing as npt

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
