"""Class-agnostic mask AR@K of object proposals (SAM §7.3, Table 4), through faster-coco-eval.

The records of :class:`sambench.tasks.proposals.ProposalsTask` carry, per image, the ranked
proposals (COCO RLE and score) and the image's ground truth as the loader read it (mask, box,
area, crowd flag, category and, for LVIS, the category's ``frequency``). From them
:func:`ground_truth` rebuilds a COCO-format annotation dict and :func:`proposals` a COCO
results list, and :func:`mask_ar` scores them with ``faster_coco_eval.COCOeval_faster``
(``iouType="segm"``, ``useCats = 0``, ``maxDets = [K]``), which equals pycocotools'
``COCOeval`` with the same parameters (``tests/test_proposals.py`` checks it). AR is read
from the accumulated recall exactly as ``COCOeval._summarize(ap=0)`` reads it: the mean of the
recall over the IoU thresholds .50:.05:.95 (pycocotools' ``summarize()`` itself assumes three
``maxDets`` and cannot print AR@1000 alone).

Figures, per dataset (scope = dataset name), as fractions:

* ``AR@K`` — all objects; ``AR@K_s``, ``AR@K_m``, ``AR@K_l`` — objects of area < 32²,
  32²–96², ≥ 96² (COCO's ranges; an object's area is its mask's pixel count, as the loader
  gives it — the paper implies COCO ranges without saying which area);
* ``AR@K_f``, ``AR@K_c``, ``AR@K_r`` — the ground truth restricted to the objects of LVIS
  *frequent*, *common* and *rare* categories (every proposal competes for them), as the paper
  describes; only for records whose objects carry a ``frequency``.

A figure without ground truth (no small objects, no rare categories) is ``nan`` with
``extra["undefined"]``. The scope ``"suite"`` is the unweighted mean over datasets.

Class-agnostic means LVIS's category rules (negative and not-exhaustive category lists) do not
apply: every object is a target and every proposal may match any object. Crowd regions
(COCO) are ignored by the COCO rules (a proposal matched to one is neither true nor false).

Confidence intervals: with ``useCats = 0`` and one IoU threshold, recall is (matched objects)
/ (objects), so AR is the mean over objects of the fraction of IoU thresholds at which the
object is matched. The interval is a percentile bootstrap over those per-object values
(matches taken from pycocotools-style per-image evaluation with the same greedy matching),
seeded; it ignores the dependence of one object's match on the other objects.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sambench.metrics.base import MetricValue, bootstrap_ci
from sambench.metrics.coco_records import (
    CocoGroundTruth,
    CocoRecordsEvaluator,
    coco_results,
    malformed_record,
    mean_over_datasets,
)

AREA_RANGES = {
    "all": [0.0, 1e5**2],
    "s": [0.0, 32.0**2],
    "m": [32.0**2, 96.0**2],
    "l": [96.0**2, 1e5**2],
}
"""COCO's area ranges (pycocotools ``Params.areaRng``)."""

FREQUENCIES = ("f", "c", "r")
"""LVIS category frequency groups: frequent, common, rare."""


def figure_names(max_dets: int = 1000, frequencies: bool = True) -> tuple[str, ...]:
    """The figures, in report order.

    >>> figure_names(1000)
    ('AR@1000', 'AR@1000_s', 'AR@1000_m', 'AR@1000_l', 'AR@1000_f', 'AR@1000_c', 'AR@1000_r')
    """
    base = f"AR@{max_dets}"
    names = [base, f"{base}_s", f"{base}_m", f"{base}_l"]
    if frequencies:
        names += [f"{base}_{g}" for g in FREQUENCIES]
    return tuple(names)


def ground_truth(
    records: Sequence[Mapping[str, Any]], frequency: str | None = None
) -> dict[str, Any]:
    """COCO-format ground truth of one dataset's records (``frequency``: only those objects).

    Images in record order (all of them, also without objects), annotation ids from 1 (the
    loader's id kept as ``object_id``), each category with its ``frequency`` when known.
    """
    built = CocoGroundTruth()
    for record in records:
        with malformed_record(record, "proposals record"):
            image = built.add_image(record)
            for obj in record["ground_truth"]:
                built.add_category(obj, obj.get("frequency"))
                if frequency is None or obj.get("frequency") == frequency:
                    built.add_annotation(obj, image["id"])
    if not built.categories:
        built.categories[1] = {"id": 1, "name": "object"}
    return built.as_dict()


def proposals(records: Sequence[Mapping[str, Any]], category_id: int = 1) -> list[dict[str, Any]]:
    """The COCO results list of one dataset's proposals (one category: class-agnostic).

    The COCO APIs only look at detections of the ground truth's category ids even with
    ``useCats = 0``, so every proposal gets ``category_id`` (one of the ground truth's).
    """
    results: list[dict[str, Any]] = []
    for record in records:
        with malformed_record(record, "proposal"):
            results += coco_results(record, "proposals", category_id)
    return results


def _evaluation(gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], max_dets: int) -> Any:
    from faster_coco_eval import COCO, COCOeval_faster

    quiet = logging.getLogger("sambench.faster_coco_eval").debug
    gt_api = COCO(copy.deepcopy(dict(gt)), print_function=quiet)
    dt_api = gt_api.loadRes(copy.deepcopy([dict(row) for row in results]))
    evaluation = COCOeval_faster(gt_api, dt_api, "segm", print_function=quiet)
    params = evaluation.params
    params.imgIds = sorted(image["id"] for image in gt["images"])
    params.useCats = 0
    params.maxDets = [max_dets]
    params.areaRng = [list(r) for r in AREA_RANGES.values()]
    params.areaRngLbl = ["all", "small", "medium", "large"]
    evaluation.evaluate()
    evaluation.accumulate()
    return evaluation


def recall_summary(recall: np.ndarray) -> dict[str, float]:
    """AR per area range from a COCO ``eval["recall"]`` array ``[T, 1, 4, 1]`` (-1: no GT)."""
    out: dict[str, float] = {}
    for index, label in enumerate(AREA_RANGES):
        values = recall[:, :, index, -1]
        defined = values[values > -1]
        out[label] = float(np.mean(defined)) if defined.size else -1.0
    return out


def mask_ar(
    gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], max_dets: int = 1000
) -> dict[str, float]:
    """Class-agnostic mask AR@``max_dets`` of ``results`` by area range (``-1``: no GT).

    Keys ``all``, ``s``, ``m``, ``l``. Neither argument is modified.
    """
    if not gt["annotations"]:
        return dict.fromkeys(AREA_RANGES, -1.0)
    return recall_summary(_evaluation(gt, results, max_dets).eval["recall"])


def per_object_recall(
    gt: Mapping[str, Any], results: Sequence[Mapping[str, Any]], max_dets: int = 1000
) -> np.ndarray:
    """Each non-crowd object's fraction of IoU thresholds .50:.05:.95 at which it is matched.

    pycocotools' greedy matching (``COCOeval.evaluateImg``, all areas, ``useCats = 0``); the
    mean of these values is ``AR@max_dets``. Used for the bootstrap interval.
    """
    import contextlib
    import io

    from pycocotools.coco import COCO as PyCOCO
    from pycocotools.cocoeval import COCOeval

    if not gt["annotations"]:
        return np.zeros(0)
    with contextlib.redirect_stdout(io.StringIO()):
        api = PyCOCO()
        api.dataset = copy.deepcopy(dict(gt))
        api.createIndex()
        dets = api.loadRes(copy.deepcopy([dict(r) for r in results])) if results else None
        if dets is None:
            return np.zeros(sum(1 for a in gt["annotations"] if not a["iscrowd"]))
        evaluation = COCOeval(api, dets, "segm")
        evaluation.params.imgIds = sorted(image["id"] for image in gt["images"])
        evaluation.params.useCats = 0
        evaluation.params.maxDets = [max_dets]
        evaluation.params.areaRng = [AREA_RANGES["all"]]
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
    values: list[float] = []
    for item in evaluation.evalImgs:
        if item is None:
            continue
        matched = np.asarray(item["gtMatches"]) > 0
        ignored = np.asarray(item["gtIgnore"], dtype=bool)
        if matched.size:
            values += [float(v) for v in matched[:, ~ignored].mean(axis=0)]
    return np.asarray(values)


class ProposalsEvaluator(CocoRecordsEvaluator):
    """Class-agnostic mask AR@K per dataset and for the suite (see the module docs).

    Args:
        max_dets: K, the proposals per image counted (the paper's 1000).
        bootstrap: Bootstrap replicates of the intervals over objects (0: none).
        seed: Seed of the bootstrap.
    """

    record_kind = "proposals"
    list_fields = ("ground_truth", "proposals")

    def __init__(self, *, max_dets: int = 1000, bootstrap: int = 1000, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.max_dets = int(max_dets)
        self.bootstrap = int(bootstrap)

    def coco_files(self, dataset: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(ground truth, proposals)`` of a dataset in COCO format, as scored."""
        records = self.dataset_records(dataset)
        gt = ground_truth(records)
        return gt, proposals(records, int(gt["categories"][0]["id"]))

    def dataset_figures(self, dataset: str) -> tuple[dict[str, float], dict[str, Any]]:
        """A dataset's figures (``-1``: undefined) and facts about them."""
        records = self.dataset_records(dataset)
        gt, results = self.coco_files(dataset)
        base = f"AR@{self.max_dets}"
        by_area = mask_ar(gt, results, self.max_dets)
        values = {base: by_area["all"]}
        for label in ("s", "m", "l"):
            values[f"{base}_{label}"] = by_area[label]
        groups = {obj.get("frequency") for r in records for obj in r["ground_truth"]}
        counts: dict[str, int] = {}
        if groups & set(FREQUENCIES):
            for group in FREQUENCIES:
                restricted = ground_truth(records, group)
                counts[group] = len(restricted["annotations"])
                values[f"{base}_{group}"] = mask_ar(restricted, results, self.max_dets)["all"]
        facts = {
            "images": len(gt["images"]),
            "proposals": len(results),
            "ground_truth_objects": len(gt["annotations"]),
            "objects_by_frequency": counts,
            "max_dets": self.max_dets,
        }
        return values, {"facts": facts, "gt": gt, "results": results}

    def evaluate(self) -> list[MetricValue]:
        figures: list[MetricValue] = []
        per_dataset: dict[str, dict[str, float]] = {}
        samples: dict[str, np.ndarray] = {}
        base = f"AR@{self.max_dets}"
        for dataset in self.datasets():
            values, context = self.dataset_figures(dataset)
            per_dataset[dataset] = values
            objects = np.zeros(0)
            if self.bootstrap > 0:
                objects = per_object_recall(context["gt"], context["results"], self.max_dets)
            samples[dataset] = objects
            for name, value in values.items():
                interval = (float("nan"), float("nan"))
                if name == base and objects.size:
                    interval = bootstrap_ci(
                        [objects],
                        lambda g: float(np.mean(g[0])),
                        seed=self.seed,
                        n_resamples=self.bootstrap,
                    )
                figures.append(self._figure(name, dataset, [value], interval, context["facts"]))
        if per_dataset:
            objects_total = sum(
                len(ground_truth(self.dataset_records(d))["annotations"]) for d in per_dataset
            )
            names = [n for n in figure_names(self.max_dets) if
                     all(n in v for v in per_dataset.values())]  # fmt: skip
            for name in names:
                interval = (float("nan"), float("nan"))
                if name == base and self.bootstrap > 0 and all(s.size for s in samples.values()):
                    interval = bootstrap_ci(
                        [samples[d] for d in sorted(samples)],
                        lambda g: float(np.mean([np.mean(x) for x in g])),
                        seed=self.seed,
                        n_resamples=self.bootstrap,
                    )
                figures.append(
                    self._figure(
                        name,
                        "suite",
                        [per_dataset[d][name] for d in sorted(per_dataset)],
                        interval,
                        {"groups": len(per_dataset), "ground_truth_objects": objects_total},
                    )
                )
        return figures

    def _figure(
        self,
        name: str,
        scope: str,
        values: Sequence[float],
        interval: tuple[float, float],
        facts: Mapping[str, Any],
    ) -> MetricValue:
        value, info = mean_over_datasets(values, facts)
        if np.isnan(interval[0]):
            info["ci"] = (
                "percentile bootstrap over objects (AR@K only)"
                if self.bootstrap > 0
                else "not computed"
            )
        else:
            info["ci"] = f"percentile bootstrap over objects, {self.bootstrap} replicates"
        n = int(facts.get("ground_truth_objects", 0))
        return MetricValue(
            name=name,
            scope=scope,
            value=value,
            ci_low=interval[0],
            ci_high=interval[1],
            n=n,
            extra=info,
        )


__all__ = [
    "AREA_RANGES",
    "FREQUENCIES",
    "ProposalsEvaluator",
    "figure_names",
    "ground_truth",
    "mask_ar",
    "per_object_recall",
    "proposals",
]
