"""COCO / LVIS mask AP through faster-coco-eval equals pycocotools' and the LVIS API's.

The predictions are the real COCO sample's ground-truth masks, shifted by a few pixels, with
some dropped, some relabelled and some false ones, scored at random (seeded), so every AP
figure is strictly between 0 and 1. They go through the instance task's record format, so
the records → ground truth / results conversion is what is checked.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sambench.data import open_dataset
from sambench.errors import RecordsError
from sambench.masks import decode, encode
from sambench.metrics.coco_ap import (
    COCO_FIGURES,
    LVIS_FIGURES,
    CocoApEvaluator,
    ground_truth,
    mask_ap,
    predictions,
)
from sambench.samples import ImageSample
from tests.conftest import shared_data_root

COCO_JSON = "annotations/instances_val2017.json"
PYCOCO_KEYS = dict(zip(COCO_FIGURES, range(6), strict=True))


def fake_records(samples: list[ImageSample], seed: int = 0) -> list[dict[str, Any]]:
    """Instance-task records whose predictions are perturbed ground-truth masks."""
    rng = np.random.default_rng(seed)
    categories = sorted({o.category_id for s in samples for o in s.objects if o.category_id})
    records = []
    for sample in samples:
        rows = []
        for obj in sample.objects:
            if obj.iscrowd or rng.random() < 0.1:
                continue
            mask = np.roll(decode(obj.mask), tuple(rng.integers(-4, 5, size=2)), axis=(0, 1))
            category = obj.category_id
            if rng.random() < 0.1:
                category = int(rng.choice(categories))
            rows.append((category, mask, float(rng.random())))
        for _ in range(int(rng.integers(0, 3))):
            mask = np.zeros((sample.height, sample.width), dtype=bool)
            y, x = int(rng.integers(0, sample.height - 20)), int(rng.integers(0, sample.width - 20))
            mask[y : y + 20 + int(rng.integers(0, 80)), x : x + 20 + int(rng.integers(0, 80))] = 1
            rows.append((int(rng.choice(categories)), mask, float(rng.random()) * 0.5))
        records.append(
            {
                "dataset": sample.dataset,
                "image_id": sample.image_id,
                "height": sample.height,
                "width": sample.width,
                "predictions": [
                    {"category_id": c, "score": s, "bbox": [0.0, 0.0, 1.0, 1.0], "mask": encode(m)}
                    for c, m, s in rows
                ],
                "ground_truth": [
                    {
                        "object_id": o.object_id,
                        "category_id": o.category_id,
                        "category": o.category,
                        "frequency": o.attributes.get("frequency"),
                        "bbox": list(o.box),
                        "area": o.area,
                        "iscrowd": o.iscrowd,
                        "mask": o.mask,
                    }
                    for o in sample.objects
                ],
                **(
                    {"image": {k: sample.metadata[k] for k in sample.metadata}}
                    if sample.metadata
                    else {}
                ),
            }
        )
    return records


@pytest.fixture(scope="module")
def coco_records() -> list[dict[str, Any]]:
    root = shared_data_root()
    if root is None or not (root / "coco" / COCO_JSON).is_file():
        pytest.skip("real COCO sample not available")
    return fake_records(list(open_dataset("coco", root).samples()))


def pycocotools_stats(gt: Any, results: list[dict[str, Any]], image_ids: list[int]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, Path):
            api = COCO(str(gt))
        else:
            api = COCO()
            api.dataset = json.loads(json.dumps(gt))
            api.createIndex()
        evaluation = COCOeval(api, api.loadRes(json.loads(json.dumps(results))), "segm")
        evaluation.params.imgIds = image_ids
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(v) for v in evaluation.stats[:6]]


def test_coco_ap_equals_pycocotools(coco_records: list[dict[str, Any]]) -> None:
    gt, results = ground_truth(coco_records), predictions(coco_records)
    ours = mask_ap(gt, results)
    theirs = pycocotools_stats(gt, results, [image["id"] for image in gt["images"]])
    assert all(0.05 < ours[name] < 0.95 for name in COCO_FIGURES), ours
    for name, index in PYCOCO_KEYS.items():
        assert ours[name] == pytest.approx(theirs[index], abs=1e-12), name


def test_coco_ap_on_a_subset_and_the_official_file(coco_records: list[dict[str, Any]]) -> None:
    """Only the run's images count; against the official file AP/AP50/AP75 agree exactly.

    APs/APm/APl may differ there: the official ``area`` field is the polygon area, ours the
    mask's pixel count (see sambench.metrics.coco_ap).
    """
    subset = coco_records[:30]
    gt, results = ground_truth(subset), predictions(subset)
    image_ids = [image["id"] for image in gt["images"]]
    ours = mask_ap(gt, results)
    assert [ours[n] for n in COCO_FIGURES] == pytest.approx(
        pycocotools_stats(gt, results, image_ids), abs=1e-12
    )
    root = shared_data_root()
    assert root is not None
    official = pycocotools_stats(root / "coco" / COCO_JSON, results, image_ids)
    assert [ours[n] for n in ("AP", "AP50", "AP75")] == pytest.approx(official[:3], abs=1e-12)
    assert [ours[n] for n in ("APs", "APm", "APl")] == pytest.approx(official[3:], abs=0.02)


def test_evaluator_figures_saved_files_and_suite(
    coco_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    evaluator = CocoApEvaluator(seed=0)
    for record in reversed(coco_records):  # order does not matter
        evaluator.process(record)
    figures = {(m.name, m.scope): m for m in evaluator.evaluate()}
    direct = mask_ap(ground_truth(coco_records), predictions(coco_records))
    for name in COCO_FIGURES:
        figure = figures[name, "coco"]
        assert figure.value == direct[name] == figures[name, "suite"].value
        assert figure.n == len(coco_records) and np.isnan(figure.ci_low)
        assert figure.extra["ci"].startswith("not computed")
    gt, results = evaluator.coco_files("coco")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    rescored = pycocotools_stats(
        tmp_path / "gt.json",
        json.loads((tmp_path / "dt.json").read_text()),
        [image["id"] for image in gt["images"]],
    )
    assert rescored == pytest.approx([direct[n] for n in COCO_FIGURES], abs=1e-12)
    with pytest.raises(RecordsError, match="processed twice"):
        evaluator.process(coco_records[0])


def test_bootstrap_over_images_is_seeded(coco_records: list[dict[str, Any]]) -> None:
    def run(seed: int) -> dict[str, Any]:
        evaluator = CocoApEvaluator(bootstrap=8, seed=seed)
        for record in coco_records[:12]:
            evaluator.process(record)
        return {m.name: m for m in evaluator.evaluate() if m.scope == "coco"}

    first, again, other = run(0), run(0), run(1)
    ap = first["AP"]
    assert (ap.ci_low, ap.ci_high) == (again["AP"].ci_low, again["AP"].ci_high)
    assert (ap.ci_low, ap.ci_high) != (other["AP"].ci_low, other["AP"].ci_high)
    assert ap.ci_low <= ap.ci_high and "8 replicates" in ap.extra["ci"]


def test_no_predictions_and_undefined_ranges() -> None:
    full = np.zeros((40, 50), dtype=bool)
    full[5:15, 5:15] = True  # 100 px: a small object; no medium or large one
    record = {
        "dataset": "toy",
        "image_id": "1",
        "height": 40,
        "width": 50,
        "predictions": [],
        "ground_truth": [
            {
                "object_id": "9",
                "category_id": 1,
                "category": "a",
                "bbox": [5, 5, 10, 10],
                "area": 100,
                "iscrowd": False,
                "mask": encode(full),
            }
        ],
    }
    evaluator = CocoApEvaluator()
    evaluator.process(record)
    figures = {m.name: m for m in evaluator.evaluate() if m.scope == "toy"}
    assert figures["AP"].value == 0.0 and figures["APs"].value == 0.0
    assert np.isnan(figures["APl"].value) and "undefined" in figures["APl"].extra
    hit = {
        **record,
        "predictions": [
            {"category_id": 1, "score": 0.9, "bbox": [5, 5, 10, 10], "mask": encode(full)}
        ],
    }
    evaluator.reset()
    evaluator.process(hit)
    assert {m.name: m.value for m in evaluator.evaluate()}["AP"] == pytest.approx(1.0)
    with pytest.raises(RecordsError, match="integer image ids"):
        ground_truth([{**record, "image_id": "a/1"}])
    with pytest.raises(RecordsError, match="LVIS frequency"):
        ground_truth([record], style="lvis")


# ----------------------------------------------------------------------------- LVIS


@pytest.fixture(scope="module")
def lvis_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = shared_data_root()
    if root is None or not (root / "coco" / COCO_JSON).is_file():
        pytest.skip("real COCO sample not available")
    from tests.test_lvis import lvis_from_coco

    data_root = tmp_path_factory.mktemp("lvis-root")
    (data_root / "coco").symlink_to(root / "coco", target_is_directory=True)
    (data_root / "lvis-v1").mkdir()
    coco = json.loads((root / "coco" / COCO_JSON).read_text())
    lvis = lvis_from_coco(coco, "v1")
    # Negative categories the detector does predict, so the LVIS rules matter.
    for position, image in enumerate(lvis["images"]):
        image["neg_category_ids"] = [1 + position % 7, 44]
        image["not_exhaustive_category_ids"] = [62] if position % 3 else []
    (data_root / "lvis-v1" / "lvis_v1_val.json").write_text(json.dumps(lvis))
    return fake_records(list(open_dataset("lvis-v1", data_root).samples()), seed=3)


@pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")
def test_lvis_style_equals_the_lvis_api(lvis_records: list[dict[str, Any]], tmp_path: Path) -> None:
    pytest.importorskip("lvis")
    from lvis import LVIS, LVISEval, LVISResults

    gt, results = ground_truth(lvis_records, "lvis"), predictions(lvis_records, "lvis")
    ours = mask_ap(gt, results, "lvis")
    assert all(-1 < ours[name] < 1 for name in LVIS_FIGURES)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    api = LVIS(str(tmp_path / "gt.json"))
    evaluation = LVISEval(api, LVISResults(api, json.loads(json.dumps(results))), "segm")
    original = getattr(np, "float", None)
    np.float = float  # type: ignore[attr-defined]  # lvis 0.5.3 on numpy >= 1.24 (env-notes §4)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation.run()
    finally:
        if original is None:
            del np.float  # type: ignore[attr-defined]
    theirs = evaluation.get_results()
    for name in LVIS_FIGURES:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-12), name


def test_lvis_evaluator_reports_frequency_groups(lvis_records: list[dict[str, Any]]) -> None:
    evaluator = CocoApEvaluator(style="lvis")
    for record in lvis_records:
        evaluator.process(record)
    figures = {m.name: m for m in evaluator.evaluate() if m.scope == "lvis-v1"}
    assert set(figures) == set(LVIS_FIGURES)
    assert figures["AP"].extra["max_dets"] == 300
