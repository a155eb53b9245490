"""Ground-truth box prompts: mIoU overall and by object size (EfficientViT-SAM Table 3).

Every evaluated object of an image is prompted with its ground-truth box, all of an image's
boxes in one batched model call, and the chosen mask is scored by its IoU with the object's
mask. The record keeps, per object, the box, the predicted IoUs, the chosen index, that mask
(RLE), its IoU, every candidate's IoU and the object's area class, so
:class:`BoxMiouEvaluator` recomputes every figure without the model.

Figures (IoU shown in percent): ``mIoU`` (all objects) and ``mIoU_small``, ``mIoU_medium``,
``mIoU_large`` (COCO's area ranges: area < 32², 32² ≤ area < 96², area ≥ 96², the area being
the mask's pixel count), per dataset, each with a 95% bootstrap interval over objects, and
for scope ``"suite"`` the unweighted mean over datasets (objects resampled within each).
``tests/test_boxes_gt.py`` checks them on the real COCO sample.

This is the follow-up papers' COCO/LVIS box protocol (sam-protocol §9c), not part of the SAM
paper; the papers differ in the output mode (knob ``multimask``).

>>> record = {"dataset": "toy", "image_id": "1", "objects": [
...     {"object_id": "a", "iou": 0.9, "area_class": "large"},
...     {"object_id": "b", "iou": 0.5, "area_class": "small"}]}
>>> evaluator = BoxMiouEvaluator(seed=0)
>>> evaluator.process(record)
>>> figures = {(m.name, m.scope): m for m in evaluator.evaluate()}
>>> round(figures["mIoU", "toy"].value, 6), figures["mIoU_small", "toy"].value
(0.7, 0.5)
>>> figures["mIoU_medium", "toy"].n
0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sambench import masks
from sambench.errors import RecordsError, SambenchError
from sambench.masks import encode
from sambench.metrics.base import (
    Evaluator,
    MetricValue,
    RecordsEvaluator,
    macro_mean_with_ci,
    mean_with_ci,
)
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.prompts import Prompt
from sambench.records import write_text_atomic
from sambench.samples import ImageSample, ObjectAnnotation
from sambench.tasks import TASKS
from sambench.tasks.base import Task
from sambench.timing import StageTimer

AREA_CLASSES = ("small", "medium", "large")
"""COCO's object sizes, by the thresholds of :attr:`BoxesGtTask.Params.area_thresholds`."""

_BOX_SOURCES = ("annotation", "mask")


def area_class(area: float, thresholds: Sequence[float] = (32**2, 96**2)) -> str:
    """``"small"`` below ``thresholds[0]``, ``"large"`` from ``thresholds[1]``, else medium.

    >>> area_class(1023), area_class(1024), area_class(9216)
    ('small', 'medium', 'large')
    """
    if area < thresholds[0]:
        return "small"
    return "medium" if area < thresholds[1] else "large"


@TASKS.register("boxes-gt")
class BoxesGtTask(Task):
    """Ground-truth box of every object as the prompt; mIoU overall and by area."""

    @dataclass(frozen=True)
    class Params:
        """Knobs of the GT-box protocol (sam-protocol §9c).

        Attributes:
            multimask: ``True``: the three multimask outputs and the one with the highest
                predicted IoU (EfficientViT-SAM's ``predict_mask_from_box``; EfficientSAM
                scores "the most confident mask"). ``False``: the single-output mask
                (EdgeSAM: "the first mask token").
            box_source: ``"annotation"``: the annotation's ``bbox`` (COCO's tight box of the
                polygon, in float pixels). ``"mask"``: the tight box of the decoded mask
                (whole pixels).
            area_thresholds: Area limits of small / medium / large (COCO: 32², 96²), compared
                with the mask's pixel count.
            skip_crowd: Skip COCO crowd regions; they are not objects.
            min_area: Skip objects with fewer mask pixels (EfficientViT-SAM skips area < 1).
        """

        multimask: bool = True
        box_source: Literal["annotation", "mask"] = "annotation"
        area_thresholds: tuple[int, ...] = (32**2, 96**2)
        skip_crowd: bool = True
        min_area: int = 1

        def __post_init__(self) -> None:
            for name in ("multimask", "skip_crowd"):
                if not isinstance(getattr(self, name), bool):
                    raise ValueError(
                        f"field {name!r} must be true or false, got {getattr(self, name)!r}"
                    )
            if self.box_source not in _BOX_SOURCES:
                raise ValueError(
                    f"field 'box_source' must be one of {', '.join(_BOX_SOURCES)}, "
                    f"got {self.box_source!r}"
                )
            object.__setattr__(self, "area_thresholds", tuple(self.area_thresholds))
            limits = self.area_thresholds
            if (
                len(limits) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in limits)
                or not 0 < limits[0] < limits[1]
            ):
                raise ValueError(
                    f"field 'area_thresholds' must be two increasing positive integers, "
                    f"got {list(limits)}"
                )
            if not isinstance(self.min_area, int) or isinstance(self.min_area, bool):
                raise ValueError(f"field 'min_area' must be an integer, got {self.min_area!r}")
            if self.min_area < 1:
                raise ValueError(f"field 'min_area' must be at least 1, got {self.min_area}")

    required_capabilities = frozenset({"boxes"})

    params: BoxesGtTask.Params

    def __init__(self, params: BoxesGtTask.Params | None = None) -> None:
        super().__init__(params if params is not None else BoxesGtTask.Params())

    def knob_capabilities(self) -> dict[str, str]:
        return {"multimask": "multimask"} if self.params.multimask else {}

    def evaluator(self, seed: int) -> Evaluator:
        return BoxMiouEvaluator(seed=seed)

    def run_sample(
        self,
        model: PromptableModel,
        embedding: ImageEmbedding,
        sample: ImageSample,
        seed: int,
        timer: StageTimer,
    ) -> dict[str, Any]:
        p = self.params
        objects: list[ObjectAnnotation] = []
        skipped: list[dict[str, str]] = []
        for obj in sample.objects:
            if p.skip_crowd and obj.iscrowd:
                skipped.append({"object_id": obj.object_id, "reason": "crowd"})
            elif obj.area < p.min_area:
                skipped.append({"object_id": obj.object_id, "reason": "min_area"})
            else:
                objects.append(obj)
        boxes = [self._box(obj) for obj in objects]
        rows: list[dict[str, Any]] = []
        if objects:
            prompts = [Prompt(box=box) for box in boxes]
            model.check_prompts(prompts, p.multimask)
            with timer.stage("prompt"):
                outputs = model.predict(embedding, prompts, multimask_output=p.multimask)
            if len(outputs) != len(prompts):
                raise SambenchError(
                    f"model {model.name!r} returned {len(outputs)} outputs "
                    f"for {len(prompts)} prompts"
                )
            with timer.stage("metric"):
                for obj, box, output in zip(objects, boxes, outputs, strict=True):
                    gt = obj.dense_mask()
                    if output.masks.shape[1:] != gt.shape:
                        raise SambenchError(
                            f"model {model.name!r} returned masks of size "
                            f"{output.masks.shape[1:]}, expected {gt.shape}"
                        )
                    gt_area = int(np.count_nonzero(gt))
                    ious = [_iou(mask, gt, gt_area) for mask in output.masks]
                    chosen = 0 if output.masks.shape[0] == 1 else output.most_confident
                    rows.append(
                        {
                            "object_id": obj.object_id,
                            "category_id": obj.category_id,
                            "area": obj.area,
                            "area_class": area_class(obj.area, p.area_thresholds),
                            "box": list(box),
                            "iou_predictions": [float(v) for v in output.iou_predictions],
                            "chosen": chosen,
                            "mask": encode(output.masks[chosen]),
                            "iou": ious[chosen],
                            "candidate_ious": ious,
                        }
                    )
        return {
            "dataset": sample.dataset,
            "image_id": sample.image_id,
            "height": sample.height,
            "width": sample.width,
            "objects": rows,
            "skipped": skipped,
        }

    def _box(self, obj: ObjectAnnotation) -> tuple[float, float, float, float]:
        """The prompt box ``(x0, y0, x1, y1)``."""
        x, y, w, h = obj.box if self.params.box_source == "annotation" else masks.bbox(obj.mask)
        return (float(x), float(y), float(x + w), float(y + h))

    def figures(self, metrics: Sequence[MetricValue], out_dir: Path) -> list[Path]:
        """Write ``gt-box-miou.md``: the run's figures beside the papers' (no image)."""
        write_text_atomic(out_dir / "gt-box-miou.md", render_box_table(metrics))
        return []


def _iou(mask: np.ndarray, gt: np.ndarray, gt_area: int) -> float:
    inter = int(np.count_nonzero(mask & gt))
    union = gt_area + int(np.count_nonzero(mask)) - inter
    return inter / union if union else 1.0


class BoxMiouEvaluator(RecordsEvaluator):
    """``mIoU`` and ``mIoU_<area class>`` per dataset and for the suite (see the module docs).

    Args:
        seed: Seed of the bootstrap intervals.
    """

    record_kind = "boxes-gt"
    list_fields = ("objects",)

    def evaluate(self) -> list[MetricValue]:
        columns: dict[str, dict[str, list[float]]] = {}
        for key, record in self.items():
            table = columns.setdefault(key[0], {name: [] for name in _names()})
            for obj in record["objects"]:
                try:
                    iou = float(obj["iou"])
                    size = str(obj["area_class"])
                except (KeyError, TypeError, ValueError) as error:
                    raise RecordsError(f"record {key}: malformed object ({error!r})") from error
                if size not in AREA_CLASSES:
                    raise RecordsError(f"record {key}: unknown area class {size!r}")
                table["mIoU"].append(iou)
                table[f"mIoU_{size}"].append(iou)
        figures: list[MetricValue] = []
        for dataset in sorted(columns):
            figures += [
                mean_with_ci(columns[dataset][name], name, dataset, self.seed) for name in _names()
            ]
        if columns:
            for name in _names():
                per_dataset = {dataset: columns[dataset][name] for dataset in columns}
                figures.append(macro_mean_with_ci(per_dataset, name, "suite", self.seed))
        return figures


def _names() -> list[str]:
    return ["mIoU", *(f"mIoU_{size}" for size in AREA_CLASSES)]


def render_box_table(metrics: Sequence[MetricValue]) -> str:
    """GT-box mIoU (all / S / M / L, percent) of the run beside EfficientViT-SAM Table 3."""
    from sambench.tasks.instances import load_table5

    reference = load_table5().get("boxes_gt", [])
    lines = [
        "# GT-box mIoU (EfficientViT-SAM Table 3 protocol, sam-protocol §9c)",
        "",
        "mIoU in percent: all / small / medium / large objects. Paper rows: the full COCO "
        "val2017 and LVIS v1 val; ours: the images of this run.",
        "",
        "| model | dataset | all | small | medium | large | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in reference:
        for dataset in ("coco", "lvis"):
            values = row.get(dataset)
            if values:
                cells = " | ".join(f"{values[k]:.1f}" for k in ("all", *AREA_CLASSES))
                lines.append(
                    f"| {row['model']} | {dataset} | {cells} | {row['source']} ({row['status']}) |"
                )
    scopes = sorted({m.scope for m in metrics if m.name == "mIoU"}, key=lambda s: s == "suite")
    for scope in scopes:
        found = {m.name: m for m in metrics if m.scope == scope}
        cells = " | ".join(
            f"{found[name].value * 100:.1f}"
            if name in found and np.isfinite(found[name].value)
            else "–"
            for name in _names()
        )
        count = found["mIoU"].n if "mIoU" in found else 0
        lines.append(f"| **sambench** | {scope} | {cells} | this run ({count} objects) |")
    lines.append("")
    return "\n".join(lines)


__all__ = ["AREA_CLASSES", "BoxMiouEvaluator", "BoxesGtTask", "area_class", "render_box_table"]
