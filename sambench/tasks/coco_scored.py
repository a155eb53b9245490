"""What the COCO-scored tasks (instances, proposals) have in common.

Their records keep each image's ground truth as the loader read it (:func:`ground_truth_rows`),
so scoring needs neither the images nor the annotation files. A
:class:`~sambench.metrics.coco_records.CocoRecordsEvaluator` scores the records, and scoring
leaves each dataset's COCO files (for re-scoring with any COCO tool) and the paper table with
the run's row in the run directory (:meth:`CocoScoredTask.figures`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from sambench.metrics.base import Evaluator, MetricValue
from sambench.metrics.coco_records import CocoRecordsEvaluator
from sambench.records import write_json_atomic
from sambench.samples import ImageSample
from sambench.tasks.base import Task
from sambench.tasks.paper_tables import RunFigures, write_run_table


def ground_truth_rows(sample: ImageSample) -> list[dict[str, Any]]:
    """The ``ground_truth`` of an image's record: its objects as the COCO evaluators read them.

    Args:
        sample: The image; each of its objects gives a row (id, category and LVIS frequency,
            box, area, crowd flag, mask as COCO RLE).
    """
    return [
        {
            "object_id": obj.object_id,
            "category_id": obj.category_id,
            "category": obj.category,
            "frequency": obj.attributes.get("frequency"),
            "bbox": list(obj.box),
            "area": obj.area,
            "iscrowd": obj.iscrowd,
            "mask": obj.mask,
        }
        for obj in sample.objects
    ]


class CocoScoredTask(Task):
    """A task whose records are scored as COCO files, beside a paper table.

    Subclasses build their evaluator in :meth:`coco_evaluator`, render their paper table in
    :meth:`render_table` and name the files in :attr:`results_prefix` and :attr:`table_file`.
    """

    results_prefix: ClassVar[str]
    """The start of the COCO results files' names (``"predictions"``)."""

    table_file: ClassVar[str]
    """The paper table's file in the run directory (``"table5.md"``)."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self._evaluator: CocoRecordsEvaluator | None = None

    @abstractmethod
    def coco_evaluator(self, seed: int) -> CocoRecordsEvaluator:
        """A fresh evaluator for this task's records.

        Args:
            seed: Seed of its bootstrap intervals.
        """

    @abstractmethod
    def render_table(self, runs: Sequence[RunFigures]) -> str:
        """The paper table with a row for each of ``runs``.

        Args:
            runs: Each run's label, manifest and figures.
        """

    def evaluator(self, seed: int) -> Evaluator:
        self._evaluator = self.coco_evaluator(seed)
        return self._evaluator

    def figures(self, metrics: Sequence[MetricValue], out_dir: Path) -> list[Path]:
        """Write the scored datasets' COCO files and the paper table with this run's row.

        For each dataset this task's last evaluator scored, ``<results_prefix>-<dataset>.json``
        (COCO results) and ``ground-truth-<dataset>.json``; then :attr:`table_file`. These
        are files beside the report, not images, so none is returned for embedding.

        Args:
            metrics: The run's figures.
            out_dir: The run directory.
        """
        evaluator = self._evaluator
        if evaluator is not None:
            for dataset in evaluator.datasets():
                gt, results = evaluator.coco_files(dataset)
                write_json_atomic(out_dir / f"{self.results_prefix}-{dataset}.json", results)
                write_json_atomic(out_dir / f"ground-truth-{dataset}.json", gt)
        write_run_table(out_dir, self.table_file, self.render_table, metrics)
        return []


__all__ = ["CocoScoredTask", "ground_truth_rows"]
