"""Zero-shot edge detection on BSDS500 (SAM paper §7.2, App. D.2, Table 3).

Per image the task gets a soft edge map in ``[0, 1]``:

* from an **edge detector** (a model with the ``edges`` capability: Sobel, Canny,
  Felzenszwalb-Huttenlocher, HED) through :meth:`PromptableModel.edge_map`;
* from a **promptable segmenter** through the SAM edge pipeline
  (:mod:`sambench.edges.sam_pipeline`: 16×16 point grid, multimask, box NMS, Sobel on each
  mask's probability map restricted to its boundary, pixel-wise max, normalisation, edge NMS).

The map is quantised to 16 bits (so the record re-evaluates identically from its PNG) and
scored with the BSDS benchmark (:mod:`sambench.edges.evaluation`: 99 thresholds, thinning,
matching within 0.0075 × the diagonal to every annotator). The record keeps the benchmark
counts at every threshold and the map itself as a base64 16-bit PNG; ``sambench score``
recomputes ODS, OIS, AP and R50 from the counts, and writes the maps to
``edges/<image_id>.png`` and the precision-recall curve to ``edges-pr.png`` in the run
directory, so any other tool can re-evaluate them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sambench.edges.evaluation import ImageCounts, as_thresholds, evaluate_image, summarize
from sambench.edges.sam_pipeline import SamEdgeSettings, sam_edge_map
from sambench.errors import RecordsError, SambenchError
from sambench.metrics.base import Evaluator, MetricValue, RecordsEvaluator, record_label
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.samples import ImageSample
from sambench.tasks import TASKS
from sambench.tasks.base import Task
from sambench.timing import StageTimer

FIGURES = ("ODS", "OIS", "AP", "R50")


@TASKS.register("edges")
class EdgesTask(Task):
    """BSDS500 edge detection: ODS, OIS, AP and R50 of an edge detector or a SAM-style model."""

    @dataclass(frozen=True)
    class Params:
        """Knobs of the edge task (benchmark defaults; SAM pipeline defaults from the paper).

        Attributes:
            thresholds: Number of evenly spaced thresholds ``k / (K + 1)`` (BSDS: 99).
            max_dist: Matching radius as a fraction of the image diagonal (BSDS: 0.0075).
            thin: Thin each thresholded map before matching (BSDS: yes).
            grid: SAM pipeline: points per side of the prompt grid (paper: 16 → 768 masks).
            nms_iou: SAM pipeline: box-NMS IoU threshold removing redundant masks. The paper
                does not state it (UNSPECIFIED); 0.7 is the automatic mask generator's value.
            boundary: SAM pipeline: which boundary pixels keep their Sobel response
                (``"outer"``: outside pixels touching the mask, our reading of "outer
                boundary"; ``"inner"``; ``"both"``).
            edge_nms: SAM pipeline: thin the normalised map with the toolbox's edge NMS.
            prompt_batch: SAM pipeline: prompts per model call (memory only, not results).
        """

        thresholds: int = 99
        max_dist: float = 0.0075
        thin: bool = True
        grid: int = 16
        nms_iou: float = 0.7
        boundary: Literal["outer", "inner", "both"] = "outer"
        edge_nms: bool = True
        prompt_batch: int = 64

        def __post_init__(self) -> None:
            if not isinstance(self.thresholds, int) or self.thresholds < 1:
                raise ValueError(
                    f"field 'thresholds' must be an integer >= 1, got {self.thresholds!r}"
                )
            if not 0.0 < float(self.max_dist) < 1.0:
                raise ValueError(f"field 'max_dist' must be in (0, 1), got {self.max_dist!r}")
            if not isinstance(self.grid, int) or self.grid < 1:
                raise ValueError(f"field 'grid' must be an integer >= 1, got {self.grid!r}")
            if not 0.0 < float(self.nms_iou) <= 1.0:
                raise ValueError(f"field 'nms_iou' must be in (0, 1], got {self.nms_iou!r}")
            if self.boundary not in ("outer", "inner", "both"):
                raise ValueError(
                    f"field 'boundary' must be outer, inner or both, got {self.boundary!r}"
                )
            if not isinstance(self.prompt_batch, int) or self.prompt_batch < 1:
                raise ValueError(f"field 'prompt_batch' must be >= 1, got {self.prompt_batch!r}")

    def run_sample(
        self,
        model: PromptableModel,
        embedding: ImageEmbedding,
        sample: ImageSample,
        seed: int,
        timer: StageTimer,
    ) -> dict[str, Any]:
        from sambench.data.bsds500 import load_boundaries

        p = self.params
        gt_file = sample.metadata.get("groundtruth_mat")
        if not gt_file:
            raise SambenchError(
                f"dataset {sample.dataset!r} image {sample.image_id!r} has no BSDS boundary "
                "ground truth (metadata 'groundtruth_mat'): the edges task needs BSDS500"
            )
        info: dict[str, Any]
        with timer.stage("prompt"):
            if model.capabilities.edges:
                edges = np.asarray(model.edge_map(embedding), dtype=np.float64)
                info = {"source": "edge_map"}
            else:
                settings = SamEdgeSettings(
                    grid=p.grid,
                    nms_iou=p.nms_iou,
                    boundary=p.boundary,
                    edge_nms=p.edge_nms,
                    prompt_batch=p.prompt_batch,
                )
                sam_map, facts = sam_edge_map(model, embedding, settings)
                edges = sam_map.astype(np.float64)
                info = {"source": "sam_pipeline", **facts}
        if edges.shape != (sample.height, sample.width):
            raise SambenchError(
                f"model {model.name!r} returned a {edges.shape} edge map for a "
                f"{sample.height}x{sample.width} image"
            )
        quantised = np.rint(np.clip(edges, 0.0, 1.0) * 65535.0).astype(np.uint16)
        with timer.stage("metric"):
            counts = evaluate_image(
                quantised.astype(np.float64) / 65535.0,
                load_boundaries(gt_file),
                p.thresholds,
                p.max_dist,
                p.thin,
                image_id=sample.image_id,
            )
        with timer.stage("io"):
            png = _encode_png16(quantised)
        return {
            "dataset": sample.dataset,
            "image_id": sample.image_id,
            "height": sample.height,
            "width": sample.width,
            "annotators": sample.metadata.get("annotators"),
            "edge_map": info,
            "counts": {k: v for k, v in counts.to_json().items() if k != "image_id"},
            "edge_png16": png,
        }

    def evaluator(self, seed: int) -> Evaluator:
        return EdgesEvaluator(thresholds=self.params.thresholds, seed=seed)

    def figures(self, metrics: Sequence[MetricValue], out_dir: Path) -> list[Path]:
        """The edge maps as ``edges/<image_id>.png`` (16-bit) and the PR curve ``edges-pr.png``."""
        from sambench.records import load_records

        records_dir = out_dir / "records"
        if not records_dir.is_dir():
            return []
        by_dataset: dict[str, list[ImageCounts]] = {}
        for record in load_records(records_dir):
            png = record.get("edge_png16")
            if isinstance(png, str):
                target = out_dir / "edges" / f"{record['image_id']}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(png))
            by_dataset.setdefault(str(record["dataset"]), []).append(_counts_of(record))
        if not by_dataset:
            return []
        curves = {name: summarize(rows) for name, rows in sorted(by_dataset.items())}
        lines = {k: (v.recall, v.precision, v.ods) for k, v in curves.items()}
        return [plot_pr_curves(lines, out_dir / "edges-pr.png", "BSDS boundary precision-recall")]


def _encode_png16(image: npt.NDArray[np.uint16]) -> str:
    import cv2

    ok, buffer = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - OpenCV failure
        raise SambenchError("cannot encode the edge map as PNG")
    return base64.b64encode(buffer.tobytes()).decode("ascii")


def decode_png16(text: str) -> npt.NDArray[np.float64]:
    """A record's ``edge_png16`` back to the float map in ``[0, 1]`` it was scored on."""
    import cv2

    data = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16:
        raise RecordsError("edge_png16 is not a 16-bit PNG")
    return np.asarray(image, dtype=np.float64) / 65535.0


def _counts_of(record: Mapping[str, Any]) -> ImageCounts:
    try:
        return ImageCounts.from_json({**record["counts"], "image_id": record["image_id"]})
    except (KeyError, TypeError, ValueError) as error:
        raise RecordsError(
            f"edges record {record.get('dataset')}/{record.get('image_id')}: bad counts ({error})"
        ) from error


def plot_pr_curves(
    curves: Mapping[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]],
    path: Path,
    title: str,
) -> Path:
    """Precision against recall per label, with iso-F contours; saves a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 5.0), dpi=120)
    axes = figure.add_subplot()
    grid = np.linspace(0.01, 1, 200)
    for f in np.arange(0.1, 1.0, 0.1):
        r = grid[grid > f / (2 - f)]
        axes.plot(r, f * r / (2 * r - f), color="0.85", linewidth=0.6)
    for label, (recall, precision, ods) in curves.items():
        keep = (recall > 0) | (precision > 0)
        axes.plot(recall[keep], precision[keep], linewidth=1.6, label=f"[F={ods:.3f}] {label}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


class EdgesEvaluator(RecordsEvaluator):
    """ODS, OIS, AP and R50 per dataset from the records' benchmark counts.

    Intervals are 95% percentile bootstrap intervals over images (counts of resampled images
    summed, figures recomputed). ``extra`` of ODS holds its threshold, recall and precision.

    Args:
        thresholds: The task's thresholds (a count or the values); records evaluated at
            others are refused.
        seed: Seed of the bootstrap intervals.
        n_resamples: Bootstrap replicates.
    """

    record_kind = "edges"

    def __init__(self, thresholds: int = 99, seed: int = 0, n_resamples: int = 1000) -> None:
        super().__init__(seed=seed)
        self.thresholds = as_thresholds(thresholds)
        self.n_resamples = n_resamples

    def process(self, record: Mapping[str, Any]) -> None:
        counts = _counts_of(record)
        if counts.thresholds.shape != self.thresholds.shape or not np.allclose(
            counts.thresholds, self.thresholds
        ):
            raise RecordsError(
                f"{self.record_kind} {record_label(record)}: evaluated at other thresholds "
                "than the task's"
            )
        super().process(record)

    def evaluate(self) -> list[MetricValue]:
        figures: list[MetricValue] = []
        for dataset in self.datasets():
            rows = [_counts_of(r) for k, r in self.items() if k[0] == dataset]
            scores = summarize(rows)
            intervals = self._bootstrap(rows)
            values = scores.figures()
            for name in FIGURES:
                extra: dict[str, Any] = {}
                if name == "ODS":
                    extra = {
                        "threshold": scores.ods_threshold,
                        "recall": scores.ods_recall,
                        "precision": scores.ods_precision,
                    }
                elif name == "OIS":
                    extra = {"recall": scores.ois_recall, "precision": scores.ois_precision}
                low, high = intervals[name]
                figures.append(
                    MetricValue(
                        name=name,
                        scope=dataset,
                        value=values[name],
                        ci_low=low,
                        ci_high=high,
                        n=len(rows),
                        extra=extra,
                    )
                )
        return figures

    def _bootstrap(self, rows: Sequence[ImageCounts]) -> dict[str, tuple[float, float]]:
        """Percentile intervals of the four figures over images resampled with replacement."""
        from sambench.edges.evaluation import (
            average_precision,
            best_interpolated,
            recall_at_half_precision,
            rpf,
        )

        n = len(rows)
        counts = np.stack([np.stack([r.cnt_r, r.sum_r, r.cnt_p, r.sum_p]) for r in rows])
        best = np.zeros((n, 4), dtype=np.int64)
        for i, r in enumerate(rows):
            _, _, f = rpf(r.cnt_r, r.sum_r, r.cnt_p, r.sum_p)
            k = r.thresholds.size - 1 if r.sum_r[0] == 0 else int(np.argmax(f))
            best[i] = counts[i, :, k]
        rng = np.random.default_rng(self.seed)
        samples: dict[str, list[float]] = {name: [] for name in FIGURES}
        for _ in range(self.n_resamples):
            pick = rng.integers(0, n, size=n)
            total = counts[pick].sum(axis=0)
            recall, precision, _ = rpf(*total)
            samples["ODS"].append(best_interpolated(self.thresholds, recall, precision)[3])
            samples["OIS"].append(float(rpf(*best[pick].sum(axis=0))[2]))
            samples["AP"].append(average_precision(recall, precision))
            samples["R50"].append(recall_at_half_precision(recall, precision))
        out = {}
        for name, values in samples.items():
            array = np.asarray(values, dtype=np.float64)
            array = array[~np.isnan(array)]
            if array.size == 0:
                out[name] = (float("nan"), float("nan"))
            else:
                low, high = np.percentile(array, [2.5, 97.5])
                out[name] = (round(float(low), 12), round(float(high), 12))
        return out


__all__ = ["EdgesEvaluator", "EdgesTask", "decode_png16", "plot_pr_curves"]

