"""COCO and LVIS mask AP of instance predictions, through faster-coco-eval.

The records of :class:`sambench.tasks.instances.InstancesTask` carry, per image, every
prediction (detector category and score, the predicted mask as COCO RLE) and the image's
ground truth as the loader read it (category, box, mask, crowd flag, area; LVIS's per-image
negative and not-exhaustive category lists and per-category frequency). From them
:func:`ground_truth` rebuilds a COCO-format (or LVIS-format) annotation dict and
:func:`predictions` a COCO results list, and :func:`mask_ap` scores them with
``faster_coco_eval.COCOeval_faster`` (``iouType="segm"``), which equals pycocotools'
``COCOeval`` (and, with ``lvis_style=True``, the LVIS API's ``LVISEval``) on the same input;
``tests/test_coco_ap.py`` checks that. Scoring needs neither the model nor the dataset files.

Figures, per dataset (scope = dataset name), as fractions exactly as the COCO API prints them:

* ``coco`` style: ``AP`` (IoU .50:.05:.95), ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``
  with at most 100 detections per image and category (the COCO API's ``maxDets``);
* ``lvis`` style: the same plus ``APr``, ``APc``, ``APf`` (rare / common / frequent
  categories), with at most 300 detections per image (the LVIS API keeps each image's 300
  highest-scoring results before evaluating; so does :func:`predictions`), detections of
  categories neither annotated nor listed as negative in an image ignored, and unmatched
  detections of not-exhaustively annotated categories ignored (LVIS rules).

A figure the API reports as -1 (no ground truth in that area range or frequency group) is
``nan`` with ``extra["undefined"]``. The scope ``"suite"`` is the unweighted mean over datasets.

Differences from scoring the official annotation file: the ground truth is the loader's, so
an object's ``area`` (which decides the S / M / L range) is its mask's pixel count where
COCO's ``area`` field holds the polygon area (on the shared 80-image COCO sample the two put
1 of 815 objects in different ranges), and annotations the loader drops (empty masks) are
absent. AP, AP50 and AP75 are unaffected by the first. The run directory keeps both files
(``predictions-<dataset>.json``, ``ground-truth-<dataset>.json``), so anyone can re-score.

Confidence intervals: AP is not a mean over objects, so there is no per-object bootstrap.
With ``bootstrap > 0`` the interval is a percentile bootstrap over **images** (resample the
images with replacement, rename the copies, recompute AP), ``bootstrap`` replicates seeded by
``seed``; each replicate costs one full evaluation. With ``bootstrap = 0`` no interval is
computed: ``ci_low`` and ``ci_high`` are ``nan`` and ``extra["ci"]`` says so.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from sambench.errors import RecordsError
from sambench.metrics.base import MetricValue, record_label
from sambench.metrics.coco_records import (
    CocoGroundTruth,
    CocoRecordsEvaluator,
    coco_results,
    malformed_record,
    mean_over_datasets,
    numeric_id,
)

Style = Literal["coco", "lvis"]

COCO_FIGURES = ("AP", "AP50", "AP75", "APs", "APm", "APl")
"""The COCO API's mask AP summary (its first six numbers)."""

LVIS_FIGURES = (*COCO_FIGURES, "APr", "APc", "APf")
"""The LVIS API's AP summary."""

_STATS_KEYS = {
    "AP": "AP_all",
    "AP50": "AP_50",
    "AP75": "AP_75",
    "APs": "AP_small",
    "APm": "AP_medium",
    "APl": "AP_large",
    "APr": "APr",
    "APc": "APc",
    "APf": "APf",
}

LVIS_MAX_DETS = 300
"""Detections per image the LVIS API keeps (``LVISResults(max_dets=300)``, ``Params.max_dets``)."""

COCO_MAX_DETS = 100
"""The COCO API's largest ``maxDets`` (per image and category), the one AP is reported at."""


def figure_names(style: Style) -> tuple[str, ...]:
    """The figures of a style, in report order."""
    return LVIS_FIGURES if style == "lvis" else COCO_FIGURES


def ground_truth(records: Sequence[Mapping[str, Any]], style: Style = "coco") -> dict[str, Any]:
    """The COCO-format (``style="lvis"``: LVIS-format) ground truth of one dataset's records.

    Images in record order, annotation ids renumbered from 1 (the original id is kept as
    ``object_id``), categories those of the annotations. For LVIS, images carry
    ``neg_category_ids`` and ``not_exhaustive_category_ids`` and categories ``frequency``.
    """
    built = CocoGroundTruth()
    for record in records:
        with malformed_record(record, "instance record"):
            image = built.add_image(record)
            if style == "lvis":
                info = record.get("image") or {}
                for key in ("neg_category_ids", "not_exhaustive_category_ids"):
                    image[key] = [int(v) for v in info.get(key, [])]
            for obj in record["ground_truth"]:
                built.add_annotation(obj, image["id"])
                built.add_category(obj, _lvis_frequency(obj, record) if style == "lvis" else None)
    return built.as_dict()


def _lvis_frequency(obj: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """An object's LVIS frequency group; a :class:`RecordsError` if it has none."""
    frequency = obj.get("frequency")
    if frequency not in ("r", "c", "f"):
        raise RecordsError(
            f"{record_label(record)}: object {obj.get('object_id')!r} has no LVIS frequency "
            "(r, c or f); evaluation 'lvis' needs LVIS annotations"
        )
    return str(frequency)


def predictions(
    records: Sequence[Mapping[str, Any]], style: Style = "coco"
) -> list[dict[str, Any]]:
    """The COCO results list (``segmentation`` as RLE) of one dataset's records.

    With ``style="lvis"`` only each image's 300 highest-scoring predictions are kept, as
    ``lvis.LVISResults`` does (stable order on ties).
    """
    results: list[dict[str, Any]] = []
    for record in records:
        with malformed_record(record, "prediction"):
            rows = coco_results(record, "predictions")
        if style == "lvis" and len(rows) > LVIS_MAX_DETS:
            rows = sorted(rows, key=lambda row: -float(row["score"]))[:LVIS_MAX_DETS]
        results += rows
    return results


def mask_ap(
    gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], style: Style = "coco"
) -> dict[str, float]:
    """Mask AP figures (``-1`` where undefined) of ``results`` against ``gt``.

    Every image of ``gt`` is evaluated (``params.imgIds``), with or without results.
    Neither argument is modified.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    quiet = logging.getLogger("sambench.faster_coco_eval").debug
    gt_api = COCO(copy.deepcopy(dict(gt)), print_function=quiet)
    dt_api = gt_api.loadRes([dict(row) for row in results])
    evaluation = COCOeval_faster(
        gt_api, dt_api, "segm", lvis_style=style == "lvis", print_function=quiet
    )
    evaluation.params.imgIds = sorted(image["id"] for image in gt["images"])
    if style == "lvis":
        evaluation.params.maxDets = [LVIS_MAX_DETS]
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    stats = evaluation.stats_as_dict
    return {name: float(stats[_STATS_KEYS[name]]) for name in figure_names(style)}


def _renamed(
    gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], picks: Sequence[int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A bootstrap replicate: the images at positions ``picks`` (repeats renamed 1..n)."""
    by_image_gt: dict[int, list[Mapping[str, Any]]] = {}
    for ann in gt["annotations"]:
        by_image_gt.setdefault(ann["image_id"], []).append(ann)
    by_image_dt: dict[int, list[Mapping[str, Any]]] = {}
    for row in results:
        by_image_dt.setdefault(row["image_id"], []).append(row)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for new_id, position in enumerate(picks, start=1):
        image = gt["images"][position]
        images.append({**image, "id": new_id})
        for ann in by_image_gt.get(image["id"], []):
            annotations.append({**ann, "id": len(annotations) + 1, "image_id": new_id})
        rows += [{**row, "image_id": new_id} for row in by_image_dt.get(image["id"], [])]
    replicate = {**gt, "images": images, "annotations": annotations}
    return replicate, rows


class CocoApEvaluator(CocoRecordsEvaluator):
    """COCO / LVIS mask AP per dataset and for the suite (see the module docs).

    Args:
        style: ``"coco"`` or ``"lvis"`` evaluation rules and figures.
        bootstrap: Bootstrap replicates over images for the intervals; 0: no interval.
        seed: Seed of the bootstrap.
    """

    record_kind = "instances"
    list_fields = ("ground_truth", "predictions")

    def __init__(self, *, style: Style = "coco", bootstrap: int = 0, seed: int = 0) -> None:
        if style not in ("coco", "lvis"):
            raise ValueError(f"style must be 'coco' or 'lvis', got {style!r}")
        super().__init__(seed=seed)
        self.style: Style = style
        self.bootstrap = int(bootstrap)

    def coco_files(self, dataset: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(ground truth, results)`` of a dataset as scored (for saving and re-scoring)."""
        records = self.dataset_records(dataset)
        return ground_truth(records, self.style), predictions(records, self.style)

    def evaluate(self) -> list[MetricValue]:
        names = figure_names(self.style)
        figures: list[MetricValue] = []
        values: dict[str, dict[str, float]] = {}
        replicates: dict[str, dict[str, np.ndarray]] = {}
        for dataset in self.datasets():
            gt, results = self.coco_files(dataset)
            values[dataset] = mask_ap(gt, results, self.style)
            replicates[dataset] = self._bootstrap(gt, results, dataset)
            extra = {
                "images": len(gt["images"]),
                "predictions": len(results),
                "ground_truth_objects": len(gt["annotations"]),
                "max_dets": LVIS_MAX_DETS if self.style == "lvis" else COCO_MAX_DETS,
                "evaluation": self.style,
            }
            for name in names:
                figures.append(
                    self._figure(
                        name, dataset, [values[dataset][name]], [replicates[dataset][name]], extra
                    )
                )
        if values:
            for name in names:
                datasets = sorted(values)
                figures.append(
                    self._figure(
                        name,
                        "suite",
                        [values[d][name] for d in datasets],
                        [replicates[d][name] for d in datasets],
                        {
                            "images": sum(len(self.dataset_records(d)) for d in datasets),
                            "groups": len(datasets),
                            "evaluation": self.style,
                        },
                    )
                )
        return figures

    def _bootstrap(
        self, gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], dataset: str
    ) -> dict[str, np.ndarray]:
        """Each figure's bootstrap replicates (``nan`` where undefined); empty if off."""
        names = figure_names(self.style)
        if self.bootstrap <= 0 or not gt["images"]:
            return {name: np.empty(0) for name in names}
        from sambench.seeding import rng_for

        rng = rng_for(self.seed, "coco-ap-bootstrap", dataset)
        count = len(gt["images"])
        rows: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(self.bootstrap):
            picks = [int(v) for v in rng.integers(0, count, size=count)]
            replicate_gt, replicate_results = _renamed(gt, results, picks)
            stats = mask_ap(replicate_gt, replicate_results, self.style)
            for name in names:
                rows[name].append(stats[name] if stats[name] >= 0 else float("nan"))
        return {name: np.asarray(rows[name], dtype=np.float64) for name in names}

    def _figure(
        self,
        name: str,
        scope: str,
        values: Sequence[float],
        replicates: Sequence[np.ndarray],
        extra: Mapping[str, Any],
    ) -> MetricValue:
        """The mean of ``values`` (one per dataset) with its bootstrap interval."""
        value, info = mean_over_datasets(values, extra)
        low = high = float("nan")
        if self.bootstrap > 0 and all(r.size for r in replicates):
            stacked = np.mean(np.vstack(replicates), axis=0)
            finite = stacked[np.isfinite(stacked)]
            if finite.size:
                low, high = (round(float(v), 12) for v in np.percentile(finite, [2.5, 97.5]))
            info["ci"] = f"percentile bootstrap over images, {self.bootstrap} replicates"
        else:
            info["ci"] = "not computed (AP has no per-object bootstrap; set ap_bootstrap > 0)"
        return MetricValue(
            name=name,
            scope=scope,
            value=value,
            ci_low=low,
            ci_high=high,
            n=int(info.get("images", 0)),
            extra=info,
        )


__all__ = [
    "COCO_FIGURES",
    "LVIS_FIGURES",
    "CocoApEvaluator",
    "figure_names",
    "ground_truth",
    "mask_ap",
    "numeric_id",
    "predictions",
]
