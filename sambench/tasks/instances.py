"""Instance segmentation from detector boxes: COCO / LVIS mask AP (SAM paper §7.4, Table 5).

Every box a detector found in an image (a detections file in the COCO results format, see
:mod:`sambench.detections`) becomes a box prompt; all of an image's boxes go to the model in
one batched call. The mask chosen for a box keeps the detector's category and score, so the
predictions are scored as instance segmentation with the COCO (or LVIS) API rules by
:class:`sambench.metrics.coco_ap.CocoApEvaluator`.

With ``refine`` on (the paper's protocol, App. D.4) each box is answered twice: the most
confident mask of the first pass is fed back as a mask prompt together with the box, and
the second pass gives the final mask. This needs a model with the ``mask_input`` capability.

The record of an image keeps, per box: the detections-file entry, the box, category and
score, the predicted IoUs of both passes with the index chosen in each, and the final mask
(RLE); and the image's ground truth as the loader read it (see
:mod:`sambench.metrics.coco_ap` for why and what differs from the official files), so
``sambench score`` needs neither the model, the images nor the annotation files. Scoring also
writes ``predictions-<dataset>.json`` (COCO results) and ``ground-truth-<dataset>.json``
into the run directory for re-scoring with any COCO tool, and ``table5.md``: the run's
figures beside SAM Table 5 and the follow-up papers' rows
(``results/paper/table5.yaml``).

Protocol choices the paper leaves open are knobs of :class:`InstancesTask.Params`; the shipped
``tasks/instances.yaml`` (COCO) and ``tasks/instances-lvis.yaml`` (LVIS v1) pin them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sambench.detections import Detection, Detections, file_sha256, load_detections
from sambench.errors import SambenchError
from sambench.masks import encode
from sambench.metrics.base import MetricValue
from sambench.metrics.coco_ap import CocoApEvaluator
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.samples import ImageSample
from sambench.tasks import TASKS
from sambench.tasks.coco_scored import CocoScoredTask, ground_truth_rows
from sambench.tasks.paper_tables import RunFigures, load_paper_table, table_cells
from sambench.timing import StageTimer

_EVALUATIONS = ("coco", "lvis")
_HASHES: dict[tuple[str, int, int], str] = {}
_HASHES_LOCK = threading.Lock()


def _cached_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per (path, size, mtime) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _HASHES_LOCK:
        if key not in _HASHES:
            _HASHES[key] = file_sha256(path)
        return _HASHES[key]


@TASKS.register("instances")
class InstancesTask(CocoScoredTask):
    """Box prompts from a detector's boxes; COCO / LVIS mask AP (SAM Table 5)."""

    @dataclass(frozen=True)
    class Params:
        """Knobs of the instance-segmentation protocol (SAM §7.4, App. D.4).

        Attributes:
            detections: The detections file (COCO results JSON: ``image_id``,
                ``category_id``, ``bbox`` as ``[x, y, w, h]``, ``score``), e.g. ViTDet-H's
                boxes for SAM Table 5. Required to run (``run --detections FILE``); not needed
                to re-score a finished run.
            detections_sha256: SHA-256 of the detections file. Filled in from the file when
                the task is built, so it is part of the recorded task config (and its hash):
                a run cannot be resumed, nor re-built, with a changed file; given explicitly,
                the file must match it.
            multimask: ``False``: the single-output mask (EdgeSAM: "the output of the first
                mask token"). ``True``: the three multimask outputs and the one with the
                highest predicted IoU (EfficientViT-SAM's ``predict_mask_from_box``). The SAM
                paper does not say (UNSPECIFIED).
            refine: The paper's one extra refinement pass: the most confident first-pass
                mask's low-resolution logits are fed back with the box, and the second pass
                gives the final mask. Needs the ``mask_input`` capability. EdgeSAM reports
                SAM without it (46.1 vs 46.5 COCO AP).
            refine_multimask: Output mode of the refinement pass (UNSPECIFIED in the paper):
                ``False`` single output, ``True`` multimask plus highest predicted IoU.
            min_score: Boxes scoring below this are not prompted (0: every box, the paper's
                "all boxes, no score filter").
            max_detections: Prompt only the highest-scoring ``max_detections`` boxes of an
                image (0: all of them).
            evaluation: ``"coco"``: the COCO API's mask AP (AP, AP50, AP75, APs/m/l; 100
                detections per image and category). ``"lvis"``: the LVIS API's rules and
                figures (also APr/c/f; 300 detections per image; negative and
                not-exhaustive category lists).
            ap_bootstrap: Replicates of the bootstrap over images for the AP intervals
                (each one a full evaluation); 0: no interval (reported as not computed).
        """

        detections: str | None = None
        detections_sha256: str | None = None
        multimask: bool = False
        refine: bool = True
        refine_multimask: bool = False
        min_score: float = 0.0
        max_detections: int = 0
        evaluation: Literal["coco", "lvis"] = "coco"
        ap_bootstrap: int = 0

        def __post_init__(self) -> None:
            for name in ("multimask", "refine", "refine_multimask"):
                if not isinstance(getattr(self, name), bool):
                    raise ValueError(
                        f"field {name!r} must be true or false, got {getattr(self, name)!r}"
                    )
            if self.evaluation not in _EVALUATIONS:
                raise ValueError(
                    f"field 'evaluation' must be one of {', '.join(_EVALUATIONS)}, "
                    f"got {self.evaluation!r}"
                )
            score = self.min_score
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise ValueError(f"field 'min_score' must be a number, got {score!r}")
            if not math.isfinite(score):
                raise ValueError(f"field 'min_score' must be finite, got {score!r}")
            for name in ("max_detections", "ap_bootstrap"):
                value = getattr(self, name)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"field {name!r} must be an integer >= 0, got {value!r}")
            if self.detections is not None:
                if not isinstance(self.detections, str) or not self.detections:
                    raise ValueError(
                        f"field 'detections' must be a file path, got {self.detections!r}"
                    )
                path = Path(self.detections)
                if path.is_file():
                    digest = _cached_sha256(path)
                    if self.detections_sha256 is None:
                        object.__setattr__(self, "detections_sha256", digest)
                    elif self.detections_sha256 != digest:
                        raise ValueError(
                            f"field 'detections_sha256': {path} has SHA-256 {digest}, the "
                            f"config records {self.detections_sha256} (the detections file "
                            "changed)"
                        )

    required_capabilities = frozenset({"boxes"})
    results_prefix = "predictions"
    table_file = "table5.md"

    params: InstancesTask.Params

    def __init__(self, params: InstancesTask.Params | None = None) -> None:
        super().__init__(params if params is not None else InstancesTask.Params())
        self._detections: Detections | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ running

    def knob_capabilities(self) -> dict[str, str]:
        return {"mask_input": "refine"} if self.params.refine else {}  # the refinement pass

    def detections(self) -> Detections:
        """The validated detections file (read once)."""
        p = self.params
        with self._lock:
            if self._detections is None:
                if p.detections is None:
                    raise SambenchError(
                        "task 'instances' needs a detections file: pass --detections FILE "
                        "(or --param detections=FILE); `sambench detections jitter` writes a "
                        "test file from ground truth"
                    )
                loaded = load_detections(Path(p.detections))
                if p.detections_sha256 is not None and loaded.sha256 != p.detections_sha256:
                    raise SambenchError(
                        f"field 'detections_sha256': {loaded.path} has SHA-256 {loaded.sha256}, "
                        f"the config records {p.detections_sha256} (the detections file changed)"
                    )
                self._detections = loaded
            return self._detections

    def selected(self, image_id: str) -> list[Detection]:
        """An image's prompted detections: score filter, then the top ``max_detections``."""
        p = self.params
        found = [d for d in self.detections().for_image(image_id) if d.score >= p.min_score]
        found.sort(key=lambda d: (-d.score, d.index))
        return found[: p.max_detections] if p.max_detections else found

    def run_sample(
        self,
        model: PromptableModel,
        embedding: ImageEmbedding,
        sample: ImageSample,
        seed: int,
        timer: StageTimer,
    ) -> dict[str, Any]:
        p = self.params
        if not sample.image_id.isdigit():
            raise SambenchError(
                f"{sample.dataset}/{sample.image_id}: mask AP needs the dataset's integer COCO "
                "image ids (detections files refer to them)"
            )
        detections = self.detections()
        chosen_detections = self.selected(sample.image_id)
        prompts = [Prompt(box=d.corners) for d in chosen_detections]
        first = self._predict(model, embedding, prompts, p.multimask, timer)
        picks = [_pick(out) for out in first]
        final, final_picks = first, picks
        second: list[ModelOutput] = []
        if p.refine and prompts:
            refined_prompts = []
            for prompt, out, pick in zip(prompts, first, picks, strict=True):
                if out.low_res_logits is None:
                    raise SambenchError(
                        f"refine: model {model.name!r} returned no low-resolution logits"
                    )
                refined_prompts.append(
                    Prompt(box=prompt.box, mask_logits=out.low_res_logits[pick : pick + 1])
                )
            second = self._predict(model, embedding, refined_prompts, p.refine_multimask, timer)
            final = second
            final_picks = [_pick(out) for out in second]

        with timer.stage("metric"):
            predictions = []
            for index, detection in enumerate(chosen_detections):
                out, pick = final[index], final_picks[index]
                if out.masks.shape[1:] != (sample.height, sample.width):
                    raise SambenchError(
                        f"model {model.name!r} returned masks of size {out.masks.shape[1:]}, "
                        f"expected {(sample.height, sample.width)}"
                    )
                row: dict[str, Any] = {
                    "detection": detection.index,
                    "category_id": detection.category_id,
                    "score": detection.score,
                    "bbox": list(detection.bbox),
                    "iou_predictions": [float(v) for v in first[index].iou_predictions],
                    "chosen": picks[index],
                }
                if second:
                    row["refined_iou_predictions"] = [float(v) for v in out.iou_predictions]
                    row["refined_chosen"] = pick
                row["mask"] = encode(out.masks[pick])
                predictions.append(row)
            ground_truth = ground_truth_rows(sample)
        record: dict[str, Any] = {
            "dataset": sample.dataset,
            "image_id": sample.image_id,
            "height": sample.height,
            "width": sample.width,
            "detections_sha256": detections.sha256,
            "detections_in_file": len(detections.for_image(sample.image_id)),
            "predictions": predictions,
            "ground_truth": ground_truth,
        }
        image_info = {
            key: list(sample.metadata[key])
            for key in ("neg_category_ids", "not_exhaustive_category_ids")
            if key in sample.metadata
        }
        if image_info:
            record["image"] = image_info
        return record

    @staticmethod
    def _predict(
        model: PromptableModel,
        embedding: ImageEmbedding,
        prompts: list[Prompt],
        multimask: bool,
        timer: StageTimer,
    ) -> list[ModelOutput]:
        if not prompts:
            return []
        model.check_prompts(prompts, multimask)
        with timer.stage("prompt"):
            outputs = model.predict(embedding, prompts, multimask_output=multimask)
        if len(outputs) != len(prompts):
            raise SambenchError(
                f"model {model.name!r} returned {len(outputs)} outputs for {len(prompts)} prompts"
            )
        return outputs

    # ------------------------------------------------------------------ scoring

    def coco_evaluator(self, seed: int) -> CocoApEvaluator:
        p = self.params
        return CocoApEvaluator(style=p.evaluation, bootstrap=p.ap_bootstrap, seed=seed)

    def render_table(self, runs: Sequence[RunFigures]) -> str:
        return render_table5(runs)


def _pick(output: ModelOutput) -> int:
    """The scored mask: the only one, or the highest predicted IoU (first on ties)."""
    return 0 if output.masks.shape[0] == 1 else output.most_confident


# ---------------------------------------------------------------------- Table 5 report

_LVIS_DATASETS = ("lvis", "lvis-v1")
_COLUMNS = ("AP", "APs", "APm", "APl")


def load_table5() -> dict[str, Any]:
    """The reference numbers of ``results/paper/table5.yaml``."""
    return load_paper_table("table5")


def _cells(row: Mapping[str, Any] | None) -> list[str]:
    return table_cells(row, _COLUMNS)


def _ours(metrics: Sequence[MetricValue], datasets: Sequence[str]) -> dict[str, float] | None:
    for dataset in datasets:
        found = {m.name: m.value for m in metrics if m.scope == dataset}
        if "AP" in found:
            return {
                c: round(found[c] * 100, 1)
                for c in _COLUMNS
                if c in found and np.isfinite(found[c])
            }
    return None


def _refinement(value: object) -> str:
    if value is True:
        return "yes"
    return "no" if value is False else "unspecified"


def render_table5(runs: Sequence[tuple[str, Mapping[str, Any], Sequence[MetricValue]]]) -> str:
    """SAM Table 5 with our runs' rows beside the paper's, then the §9b leaderboard.

    Each run contributes a row with its COCO and/or LVIS figures (in percent, as the paper).
    Our rows compare with the paper's only when the detections are ViTDet-H's and the whole
    val sets are run (sam-protocol §9e); the row says which detections file and knobs it used.
    """
    table = load_table5()
    head = "| method | COCO AP | APS | APM | APL | LVIS AP | APS | APM | APL | source |"
    rule = "|---|---|---|---|---|---|---|---|---|---|"
    lines = [
        "# Instance segmentation from detector boxes (SAM Table 5)",
        "",
        "Mask AP in percent. Paper rows use ViTDet-H boxes on COCO val2017 and LVIS v1 val; "
        "a sambench row is comparable only with the same boxes on the full val sets.",
        "",
        head,
        rule,
    ]
    for row in table["table5"]:
        lines.append(
            f"| {row['method']} | "
            + " | ".join(_cells(row.get("coco")) + _cells(row.get("lvis")))
            + f" | {row['source']} ({row['status']}) |"
        )
    for label, manifest, metrics in runs:
        params = manifest.get("task", {}).get("params", {})
        model = manifest.get("model", {}).get("name", "?")
        detections = Path(str(params.get("detections") or "?")).name
        sha = str(params.get("detections_sha256") or "")[:12]
        knobs = (
            f"refine {'on' if params.get('refine') else 'off'}, "
            f"{'multimask' if params.get('multimask') else 'single output'}"
        )
        images = max((m.n for m in metrics if m.name == "AP"), default=0)
        coco = _ours(metrics, ["coco"])
        lvis = _ours(metrics, _LVIS_DATASETS)
        lines.append(
            f"| **sambench: {model}** ({knobs}) | "
            + " | ".join(_cells(coco) + _cells(lvis))
            + f" | run {label}: {images} images, detections {detections} `{sha}` |"
        )
    lines += [
        "",
        "## Leaderboard: box-prompted instance segmentation with ViTDet-H boxes (sam-protocol §9b)",
        "",
        "Reported numbers; papers differ in refinement pass and output mode (see notes).",
        "",
        "| model | COCO AP | APS | APM | APL | LVIS AP | APS | APM | APL | source | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = sorted(
        table["leaderboard"], key=lambda r: -(r.get("coco") or {}).get("AP", float("-inf"))
    )
    for row in rows:
        lines.append(
            f"| {row['model']} | "
            + " | ".join(_cells(row.get("coco")) + _cells(row.get("lvis")))
            + f" | {row['source']} ({row['status']}) | "
            + "; ".join(
                part
                for part in (f"refinement: {_refinement(row.get('refinement'))}", row.get("note"))
                if part
            )
            + " |"
        )
    lines.append("")
    return "\n".join(lines)


__all__ = ["InstancesTask", "load_table5", "render_table5"]
