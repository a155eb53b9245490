"""Object proposals: class-agnostic mask AR@1000 on LVIS (SAM paper §7.3, App. D.3, Table 4).

For every image the model's automatic mask generator (:mod:`sambench.amg`, any model with the
``points`` and ``logits`` capabilities) proposes masks from a point grid; they are ranked and
the top ``max_proposals`` kept. The paper's settings, pinned by ``tasks/proposals-lvis.yaml``:

* **SAM**: 64×64 grid, multimask output, no crops, no predicted-IoU or stability filtering,
  box NMS 0.9, ranked by the mean of predicted IoU and stability score, top 1,000;
* **SAM – single output** (``tasks/proposals-lvis-single.yaml``): 128×128 grid, the
  single-output mask of each point, NMS 0.95, ranked randomly (seeded by the run seed and the
  image), top 1,000.

The record of an image keeps every kept proposal (COCO RLE, score, predicted IoU, stability
score, grid point, COCO box) in rank order, how many masks survived NMS, and the image's ground
truth as the loader read it (mask, box, area, crowd flag, category and LVIS frequency), so
``sambench score`` needs neither the model, the images nor the annotation files.
:class:`sambench.metrics.proposals.ProposalsEvaluator` scores AR@1000 overall, by area and by
frequency group. Scoring also writes ``proposals-<dataset>.json`` (COCO results) and
``ground-truth-<dataset>.json`` into the run directory for re-scoring with any COCO tool, and
``table4.md``: the run's figures beside SAM Table 4 (``results/paper/table4.yaml``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sambench.amg import AmgParams, AutomaticMaskGenerator, check_model
from sambench.masks import bbox
from sambench.metrics.base import MetricValue
from sambench.metrics.proposals import FREQUENCIES, ProposalsEvaluator
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.samples import ImageSample
from sambench.seeding import rng_for
from sambench.tasks import TASKS
from sambench.tasks.coco_scored import CocoScoredTask, ground_truth_rows
from sambench.tasks.paper_tables import RunFigures, load_paper_table, table_cells
from sambench.timing import StageTimer

_RANKINGS = ("iou_stability_mean", "predicted_iou", "random")


@TASKS.register("proposals")
class ProposalsTask(CocoScoredTask):
    """Automatic masks as object proposals; class-agnostic mask AR@K (SAM Table 4)."""

    @dataclass(frozen=True)
    class Params:
        """Knobs of the proposals protocol (defaults: the paper's SAM row, App. D.3).

        Attributes:
            points_per_side: Grid points per side (64; single-output row: 128).
            points_per_batch: Points per model call (64); speed and memory only.
            multimask: Three masks per point (True) or the single-output mask (False, the
                "single out." row).
            pred_iou_thresh: Predicted-IoU filter (0: off, as the paper: "no filtering").
            stability_score_thresh: Stability filter (0: off, as the paper).
            stability_score_offset: Logit offset of the stability score (1.0, SAM's; it also
                enters the ranking).
            mask_threshold: Logit threshold of a mask (0.0).
            box_nms_thresh: Box NMS IoU threshold (0.9; single-output row: 0.95).
            crop_n_layers: Crop layers (0: "no crops").
            crop_nms_thresh, crop_overlap_ratio, crop_n_points_downscale_factor: As
                :class:`sambench.amg.AmgParams`; unused without crops.
            min_mask_region_area: Hole / island clean-up below this area (0: off; the paper
                does not mention one for proposals).
            ranking: Order of the proposals: ``"iou_stability_mean"`` (the mean of predicted
                IoU and stability score, the paper's SAM row), ``"random"`` (a seeded random
                permutation, the single-output row), ``"predicted_iou"``. The proposal's score
                is this value (for ``random``: ``1 − rank / n``); it orders COCO's greedy
                matching as well as the cap.
            max_proposals: Proposals kept per image after ranking (1000).
            drop_empty: Drop empty masks before ranking (True; UNSPECIFIED in the paper: an
                empty mask cannot match anything but would take a place among the 1,000).
            max_dets: K of AR@K (1000).
            ar_bootstrap: Replicates of the bootstrap interval of AR@K over objects (0: none;
                each costs little, but the per-object matches need one extra pycocotools pass).
        """

        points_per_side: int = 64
        points_per_batch: int = 64
        multimask: bool = True
        pred_iou_thresh: float = 0.0
        stability_score_thresh: float = 0.0
        stability_score_offset: float = 1.0
        mask_threshold: float = 0.0
        box_nms_thresh: float = 0.9
        crop_n_layers: int = 0
        crop_nms_thresh: float = 0.7
        crop_overlap_ratio: float = 512 / 1500
        crop_n_points_downscale_factor: int = 1
        min_mask_region_area: int = 0
        ranking: Literal["iou_stability_mean", "predicted_iou", "random"] = "iou_stability_mean"
        max_proposals: int = 1000
        drop_empty: bool = True
        max_dets: int = 1000
        ar_bootstrap: int = 0

        def __post_init__(self) -> None:
            if self.ranking not in _RANKINGS:
                raise ValueError(
                    f"field 'ranking' must be one of {', '.join(_RANKINGS)}, got {self.ranking!r}"
                )
            for name in ("multimask", "drop_empty"):
                if not isinstance(getattr(self, name), bool):
                    raise ValueError(
                        f"field {name!r} must be true or false, got {getattr(self, name)!r}"
                    )
            for name in ("max_proposals", "max_dets"):
                value = getattr(self, name)
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"field {name!r} must be an integer >= 1, got {value!r}")
            if not isinstance(self.ar_bootstrap, int) or self.ar_bootstrap < 0:
                raise ValueError("field 'ar_bootstrap' must be an integer >= 0")
            self.amg()  # checks the generator's knobs

        def amg(self) -> AmgParams:
            """The generator's settings."""
            return AmgParams(
                points_per_side=self.points_per_side,
                points_per_batch=self.points_per_batch,
                pred_iou_thresh=self.pred_iou_thresh,
                stability_score_thresh=self.stability_score_thresh,
                stability_score_offset=self.stability_score_offset,
                mask_threshold=self.mask_threshold,
                box_nms_thresh=self.box_nms_thresh,
                crop_n_layers=self.crop_n_layers,
                crop_nms_thresh=self.crop_nms_thresh,
                crop_overlap_ratio=self.crop_overlap_ratio,
                crop_n_points_downscale_factor=self.crop_n_points_downscale_factor,
                min_mask_region_area=self.min_mask_region_area,
                multimask_output=self.multimask,
            )

    required_capabilities = frozenset({"points", "logits"})
    results_prefix = "proposals"
    table_file = "table4.md"

    params: ProposalsTask.Params

    def __init__(self, params: ProposalsTask.Params | None = None) -> None:
        super().__init__(params if params is not None else ProposalsTask.Params())
        self._generators: dict[int, AutomaticMaskGenerator] = {}

    def generator(self, model: PromptableModel) -> AutomaticMaskGenerator:
        """The generator for ``model`` (built once per model instance)."""
        key = id(model)
        if key not in self._generators:
            check_model(model, self.params.multimask)
            self._generators[key] = AutomaticMaskGenerator(model, self.params.amg())
        return self._generators[key]

    def run_sample(
        self,
        model: PromptableModel,
        embedding: ImageEmbedding,
        sample: ImageSample,
        seed: int,
        timer: StageTimer,
    ) -> dict[str, Any]:
        p = self.params
        generator = self.generator(model)
        image = sample.load_image() if p.crop_n_layers > 0 else None
        with timer.stage("prompt"):
            candidates = generator.generate_candidates(image, embedding)
        with timer.stage("metric"):
            records = generator.records(candidates)
            if p.drop_empty:
                records = [r for r in records if r.area > 0]
            scores = self._scores(records, seed, sample)
            order = sorted(range(len(records)), key=lambda i: (-scores[i], i))
            kept = order[: p.max_proposals]
            proposals = [
                {
                    "mask": records[i].segmentation,
                    "score": scores[i],
                    "predicted_iou": _finite(records[i].predicted_iou),
                    "stability_score": _finite(records[i].stability_score),
                    "point": records[i].point_coords[0],
                    "bbox": bbox(records[i].segmentation),
                }
                for i in kept
            ]
            ground_truth = ground_truth_rows(sample)
        return {
            "dataset": sample.dataset,
            "image_id": sample.image_id,
            "height": sample.height,
            "width": sample.width,
            "masks_after_nms": len(candidates),
            "masks_ranked": len(records),
            "proposals": proposals,
            "ground_truth": ground_truth,
        }

    def _scores(self, records: Sequence[Any], seed: int, sample: ImageSample) -> list[float]:
        n = len(records)
        ranking = self.params.ranking
        if ranking == "random":
            permutation = rng_for(seed, "proposals", sample.dataset, sample.image_id).permutation(n)
            return [1.0 - float(rank) / max(n, 1) for rank in permutation]
        values = []
        for r in records:
            iou = r.predicted_iou
            value = iou if ranking == "predicted_iou" else (iou + r.stability_score) / 2.0
            values.append(value if math.isfinite(value) else -math.inf)
        return values

    # ------------------------------------------------------------------ scoring

    def coco_evaluator(self, seed: int) -> ProposalsEvaluator:
        p = self.params
        return ProposalsEvaluator(max_dets=p.max_dets, bootstrap=p.ar_bootstrap, seed=seed)

    def render_table(self, runs: Sequence[RunFigures]) -> str:
        return render_table4(runs)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------- Table 4 report

_COLUMNS = ("all", "s", "m", "l", "f", "c", "r")


def load_table4() -> dict[str, Any]:
    """The reference numbers of ``results/paper/table4.yaml``."""
    return load_paper_table("table4")


def _cells(row: Mapping[str, Any] | None) -> list[str]:
    return table_cells(row, _COLUMNS)


def _ours(metrics: Sequence[MetricValue]) -> tuple[dict[str, float], str, int]:
    """Our figures in percent (the first dataset with AR figures), its name and images."""
    for metric in metrics:
        if metric.scope != "suite" and metric.name.startswith("AR@") and "_" not in metric.name:
            dataset, base = metric.scope, metric.name
            found = {m.name: m.value for m in metrics if m.scope == dataset}
            cells = {"all": found[base]}
            for column in ("s", "m", "l", *FREQUENCIES):
                cells[column] = found.get(f"{base}_{column}", float("nan"))
            percent = {c: round(v * 100, 1) for c, v in cells.items() if np.isfinite(v)}
            return percent, dataset, int(metric.extra.get("images", 0))
    return {}, "", 0


def render_table4(runs: Sequence[tuple[str, Mapping[str, Any], Sequence[MetricValue]]]) -> str:
    """SAM Table 4 with our runs' rows beside the paper's.

    A sambench row compares with the paper's only with the released SAM ViT-H weights on the
    whole LVIS v1 val set; it says which model, dataset, image count and knobs it used.
    """
    table = load_table4()
    head = "| method | all | small | med. | large | freq. | com. | rare | source |"
    rule = "|---|---|---|---|---|---|---|---|---|"
    lines = [
        "# Object proposals: mask AR@1000 (SAM Table 4)",
        "",
        "Class-agnostic mask AR@1000 in percent. Paper rows are on LVIS v1 val; a sambench row",
        "is comparable only with the released weights on the full val set.",
        "",
        head,
        rule,
    ]
    for row in table["table4"]:
        lines.append(
            f"| {row['method']} | "
            + " | ".join(_cells(row.get("ar")))
            + f" | {row['source']} ({row['status']}) |"
        )
    for label, manifest, metrics in runs:
        params = manifest.get("task", {}).get("params", {})
        model = manifest.get("model", {}).get("name", "?")
        ours, dataset, images = _ours(metrics)
        knobs = (
            f"{params.get('points_per_side', '?')}² grid, "
            f"{'multimask' if params.get('multimask', True) else 'single output'}, "
            f"NMS {params.get('box_nms_thresh', '?')}, ranking {params.get('ranking', '?')}"
        )
        lines.append(
            f"| **sambench: {model}** ({knobs}) | "
            + " | ".join(_cells(ours))
            + f" | run {label}: {dataset}, {images} images |"
        )
    lines.append("")
    for row in table["table4"]:
        if row.get("note"):
            lines.append(f"* {row['method']}: {row['note']}.")
    for row in table.get("context", []):
        lines.append(f"* Context, not a Table 4 row: {row['what']}: AR@1000 {row['ar']['all']}.")
    lines.append("")
    return "\n".join(lines)


__all__ = ["ProposalsTask", "load_table4", "render_table4"]
