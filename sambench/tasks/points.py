"""Point prompts: single- and multi-click segmentation (SAM paper §7.1, App. D.1).

For every evaluated object of an image the task simulates a user with
:mod:`sambench.clicker`: a first click at the object's centre (or at random), then each
later click at the centre of the larger error region, positive or negative (RITM's rule).
All objects' prompts of the same step go to the model in one batch. The record keeps,
per object and step, the click, the model's predicted IoUs, the index of the scored mask,
that mask (RLE), its IoU and the IoU of every returned candidate, so
:class:`sambench.metrics.points.PointsEvaluator` can recompute every figure without the
model.

Protocol choices the paper leaves open are knobs of :class:`PointsTask.Params`; the
shipped ``tasks/points.yaml`` pins the paper's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sambench.clicker import first_click, next_click
from sambench.errors import SambenchError
from sambench.masks import BoolMask, encode
from sambench.metrics.base import Evaluator, MetricValue
from sambench.metrics.points import PointsEvaluator
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.outputs import ModelOutput
from sambench.plots import plot_curves
from sambench.prompts import Click, Prompt
from sambench.samples import ImageSample, ObjectAnnotation
from sambench.seeding import rng_for
from sambench.tasks import TASKS
from sambench.tasks.base import Task
from sambench.timing import StageTimer

_CLICK_MODES = ("center", "random")
_SELECTIONS = ("most_confident", "oracle")


@dataclass
class _ObjectState:
    """One object's simulation in progress."""

    annotation: ObjectAnnotation
    gt: BoolMask
    gt_area: int
    clicks: list[Click] = field(default_factory=list)
    pred: BoolMask | None = None
    logits: npt.NDArray[np.float32] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None


@TASKS.register("points")
class PointsTask(Task):
    """Interactive point-prompt evaluation: mIoU after k clicks and NoC (clicks to reach IoU)."""

    @dataclass(frozen=True)
    class Params:
        """Knobs of the point-prompt protocol (defaults: the SAM paper's, §7.1 and App. D.1).

        Attributes:
            first_click: Where the first (positive) click goes. ``"center"``: the object
                pixel farthest from its boundary (SAM and RITM default; the image border
                counts as boundary). ``"random"``: uniform over the object's pixels
                (SAM Fig. 9d, the EfficientSAM protocol), seeded by
                ``(seed, dataset, image_id, object_id, step)``.
            next_click: Where each later click goes. ``"center"``: the farthest pixel from
                the boundary of the larger error region (RITM; SAM App. D.1). ``"random"``:
                the same region, a uniform random pixel in it (same seeding).
            max_clicks: Clicks of the mIoU curve: ``mIoU@k`` is reported for every
                ``k <= max_clicks`` (9 in SAM Fig. 9c/d).
            report_clicks: The ``k`` shown in the results table (SAM: 1, 2, 3, 5, 9);
                strictly increasing, each in ``1..max_clicks``.
            noc_thresholds: IoU thresholds of the NoC metrics (NoC@85, NoC@90 as in RITM);
                strictly increasing, each in ``(0, 1]``.
            noc_max_clicks: Click budget for NoC: an object that never reaches a threshold
                counts as this many clicks and as a failure (RITM: 20). The task clicks up
                to ``max(max_clicks, noc_max_clicks)`` times per object.
            multimask_selection: Which of the masks returned with multimask output is the
                scored prediction and the one the next click corrects. ``"most_confident"``:
                the highest predicted IoU (SAM's default, first on ties). ``"oracle"``: the
                one best matching the ground truth. The oracle IoU at click 1 is recorded
                and reported either way.
            multimask_every_click: ``False``: multimask output at click 1 only, the
                single-output mask afterwards (the SAM paper, App. A). ``True``: multimask
                output plus selection at every click (the EfficientViT-SAM evaluation code).
            feed_previous_logits: Pass the previously chosen mask's low-resolution logits as
                a mask prompt with each later click (SAM training does; the paper does not
                say for evaluation: UNSPECIFIED, off by default). Needs a model with the
                ``mask_input`` capability that returns ``low_res_logits``; the prompt gets
                the ``(1, h, w)`` slice of the chosen mask.
            early_stop: Stop clicking an object once at least ``max_clicks`` clicks are made
                and its IoU is at least ``max(noc_thresholds)`` (as RITM stops at its target
                IoU). Every figure is then already determined: later ``mIoU@k`` carry the
                last IoU forward and NoC counts the threshold as reached.
            skip_crowd: Skip COCO crowd regions (``iscrowd``); they are not object targets.
            min_area: Skip objects with fewer mask pixels than this (at least 1; an empty
                mask cannot be clicked). EfficientViT-SAM skips area < 1.
        """

        first_click: Literal["center", "random"] = "center"
        next_click: Literal["center", "random"] = "center"
        max_clicks: int = 9
        report_clicks: tuple[int, ...] = (1, 2, 3, 5, 9)
        noc_thresholds: tuple[float, ...] = (0.85, 0.90)
        noc_max_clicks: int = 20
        multimask_selection: Literal["most_confident", "oracle"] = "most_confident"
        multimask_every_click: bool = False
        feed_previous_logits: bool = False
        early_stop: bool = True
        skip_crowd: bool = True
        min_area: int = 1

        def __post_init__(self) -> None:
            for name in ("first_click", "next_click"):
                if getattr(self, name) not in _CLICK_MODES:
                    raise ValueError(
                        f"field {name!r} must be one of {', '.join(_CLICK_MODES)}, "
                        f"got {getattr(self, name)!r}"
                    )
            if self.multimask_selection not in _SELECTIONS:
                raise ValueError(
                    f"field 'multimask_selection' must be one of {', '.join(_SELECTIONS)}, "
                    f"got {self.multimask_selection!r}"
                )
            for name in (
                "multimask_every_click",
                "feed_previous_logits",
                "early_stop",
                "skip_crowd",
            ):
                if not isinstance(getattr(self, name), bool):
                    raise ValueError(
                        f"field {name!r} must be true or false, got {getattr(self, name)!r}"
                    )
            for name in ("max_clicks", "noc_max_clicks", "min_area"):
                value = getattr(self, name)
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"field {name!r} must be an integer >= 1, got {value!r}")
            # Lists (from Python callers) become tuples so the params stay hashable.
            object.__setattr__(self, "report_clicks", tuple(self.report_clicks))
            object.__setattr__(self, "noc_thresholds", tuple(self.noc_thresholds))
            clicks = self.report_clicks
            if not clicks:
                raise ValueError("field 'report_clicks' must name at least one click count")
            for k in clicks:
                if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= self.max_clicks:
                    raise ValueError(
                        f"field 'report_clicks': {k!r} is not a click count in 1..max_clicks "
                        f"(max_clicks = {self.max_clicks})"
                    )
            if list(clicks) != sorted(set(clicks)):
                raise ValueError(
                    f"field 'report_clicks' must be strictly increasing, got {list(clicks)}"
                )
            thresholds = self.noc_thresholds
            if not thresholds:
                raise ValueError("field 'noc_thresholds' must name at least one IoU threshold")
            for t in thresholds:
                if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0.0 < t <= 1.0:
                    raise ValueError(f"field 'noc_thresholds': {t!r} is not an IoU in (0, 1]")
            if list(thresholds) != sorted(set(thresholds)):
                raise ValueError(
                    f"field 'noc_thresholds' must be strictly increasing, got {list(thresholds)}"
                )

        @property
        def total_clicks(self) -> int:
            """Most clicks simulated per object: enough for the mIoU curve and for NoC."""
            return max(self.max_clicks, self.noc_max_clicks)

    required_capabilities = frozenset({"points", "multimask"})

    params: PointsTask.Params

    def __init__(self, params: PointsTask.Params | None = None) -> None:
        super().__init__(params if params is not None else PointsTask.Params())

    def knob_capabilities(self) -> dict[str, str]:
        return {"mask_input": "feed_previous_logits"} if self.params.feed_previous_logits else {}

    def evaluator(self, seed: int) -> Evaluator:
        p = self.params
        return PointsEvaluator(
            max_clicks=p.max_clicks,
            report_clicks=p.report_clicks,
            noc_thresholds=p.noc_thresholds,
            noc_max_clicks=p.noc_max_clicks,
            seed=seed,
        )

    def figures(self, metrics: Sequence[MetricValue], out_dir: Path) -> list[Path]:
        """The mIoU-versus-clicks curve of every dataset and of the suite (``curves.png``)."""
        title = f"mIoU after k clicks ({self.params.first_click} first click)"
        return [plot_curves(metrics, "mIoU", out_dir / "curves.png", title)]

    def run_sample(
        self,
        model: PromptableModel,
        embedding: ImageEmbedding,
        sample: ImageSample,
        seed: int,
        timer: StageTimer,
    ) -> dict[str, Any]:
        p = self.params
        states: list[_ObjectState] = []
        skipped: list[dict[str, str]] = []
        with timer.stage("metric"):
            for annotation in sample.objects:
                if p.skip_crowd and annotation.iscrowd:
                    skipped.append({"object_id": annotation.object_id, "reason": "crowd"})
                    continue
                if annotation.area < p.min_area:
                    skipped.append({"object_id": annotation.object_id, "reason": "min_area"})
                    continue
                gt = annotation.dense_mask()
                if gt.shape != (sample.height, sample.width):
                    raise SambenchError(
                        f"{sample.dataset}/{sample.image_id}: object {annotation.object_id} mask "
                        f"is {gt.shape}, image is {(sample.height, sample.width)}"
                    )
                gt_area = int(np.count_nonzero(gt))
                if gt_area == 0:
                    skipped.append({"object_id": annotation.object_id, "reason": "empty_mask"})
                    continue
                states.append(_ObjectState(annotation=annotation, gt=gt, gt_area=gt_area))

        for step in range(1, p.total_clicks + 1):
            with timer.stage("metric"):
                active = [
                    s for s in states if s.stopped is None and self._click(s, step, sample, seed)
                ]
            if not active:
                break
            multimask = step == 1 or p.multimask_every_click
            prompts = [self._prompt(s) for s in active]
            model.check_prompts(prompts, multimask)
            with timer.stage("prompt"):
                outputs = model.predict(embedding, prompts, multimask_output=multimask)
            if len(outputs) != len(prompts):
                raise SambenchError(
                    f"model {model.name!r} returned {len(outputs)} outputs "
                    f"for {len(prompts)} prompts"
                )
            with timer.stage("metric"):
                for state, output in zip(active, outputs, strict=True):
                    self._score(state, output, step, model.name)
        for state in states:
            if state.stopped is None:
                state.stopped = "click_budget"

        return {
            "dataset": sample.dataset,
            "image_id": sample.image_id,
            "height": sample.height,
            "width": sample.width,
            "objects": [
                {
                    "object_id": s.annotation.object_id,
                    "area": s.annotation.area,
                    "category": s.annotation.category,
                    "attributes": dict(s.annotation.attributes),
                    "stopped": s.stopped,
                    "steps": s.steps,
                }
                for s in states
            ],
            "skipped": skipped,
        }

    def _click(self, state: _ObjectState, step: int, sample: ImageSample, seed: int) -> bool:
        """Add the object's click for ``step``; ``False`` (and stop it) if none is left."""
        p = self.params
        mode = p.first_click if step == 1 else p.next_click
        rng = (
            rng_for(seed, sample.dataset, sample.image_id, state.annotation.object_id, step)
            if mode == "random"
            else None
        )
        if step == 1:
            click: Click | None = first_click(state.gt, mode, rng)
        else:
            assert state.pred is not None
            click = next_click(state.gt, state.pred, state.clicks, mode, rng)
        if click is None:
            state.stopped = "no_error"
            return False
        state.clicks.append(click)
        return True

    def _prompt(self, state: _ObjectState) -> Prompt:
        logits = state.logits if self.params.feed_previous_logits else None
        return Prompt(clicks=tuple(state.clicks), mask_logits=logits)

    def _score(self, state: _ObjectState, output: ModelOutput, step: int, model_name: str) -> None:
        p = self.params
        if output.masks.shape[1:] != state.gt.shape:
            raise SambenchError(
                f"model {model_name!r} returned masks of size {output.masks.shape[1:]}, "
                f"expected {state.gt.shape}"
            )
        candidate_ious = _ious(output.masks, state.gt, state.gt_area)
        if output.masks.shape[0] == 1:
            chosen = 0
        elif p.multimask_selection == "oracle":
            chosen = int(np.argmax(candidate_ious))
        else:
            chosen = output.most_confident
        state.pred = np.asarray(output.masks[chosen], dtype=bool)
        if p.feed_previous_logits:
            if output.low_res_logits is None:
                raise SambenchError(
                    f"feed_previous_logits: model {model_name!r} returned no low_res_logits"
                )
            state.logits = output.low_res_logits[chosen : chosen + 1]
        iou = candidate_ious[chosen]
        click = state.clicks[-1]
        state.steps.append(
            {
                "step": step,
                "click": click.to_json(),
                "iou_predictions": [float(v) for v in output.iou_predictions],
                "chosen": chosen,
                "mask": encode(state.pred),
                "iou": iou,
                "candidate_ious": candidate_ious,
            }
        )
        if p.early_stop and step >= p.max_clicks and iou >= max(p.noc_thresholds):
            state.stopped = "early_stop"


def _ious(candidates: npt.NDArray[np.bool_], gt: BoolMask, gt_area: int) -> list[float]:
    """IoU of each ``(K, H, W)`` candidate with ``gt`` (exact integer counts)."""
    ious: list[float] = []
    for mask in candidates:
        inter = int(np.count_nonzero(mask & gt))
        union = gt_area + int(np.count_nonzero(mask)) - inter
        ious.append(inter / union if union else 1.0)
    return ious


__all__ = ["PointsTask"]
