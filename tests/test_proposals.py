"""Proposals task and its metric: class-agnostic mask AR@1000 (SAM Table 4).

The metric is cross-checked against a direct pycocotools ``COCOeval`` (``useCats = 0``,
``maxDets = [1000]``) on an LVIS-format file built from the real COCO sample
(``tests/test_lvis.py``'s conversion, which spreads the categories over the frequency groups),
with proposals made from the ground truth (shifted and eroded copies of the objects, random
rectangles, and more than 1,000 proposals in one image so the cap matters). The task runs end
to end through ``sambench run --task proposals-lvis`` with a random-weight SAM.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sambench.data import open_dataset
from sambench.errors import ConfigError
from sambench.masks import area, bbox, decode, encode
from sambench.metrics.proposals import (
    ProposalsEvaluator,
    figure_names,
    ground_truth,
    mask_ar,
    per_object_recall,
    proposals,
)
from sambench.seeding import rng_for
from sambench.tasks import build_task, resolve_task_config
from sambench.tasks.proposals import ProposalsTask, render_table4
from tests.conftest import shared_data_root
from tests.test_lvis import COCO_JSON, lvis_from_coco

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def lvis_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = shared_data_root()
    if shared is None or not (shared / "coco" / COCO_JSON).is_file():
        pytest.skip("real COCO sample not available")
    root = tmp_path_factory.mktemp("lvis-data")
    (root / "coco").symlink_to(shared / "coco", target_is_directory=True)
    (root / "lvis-v1").mkdir()
    coco = json.loads((shared / "coco" / COCO_JSON).read_text())
    (root / "lvis-v1" / "lvis_v1_val.json").write_text(json.dumps(lvis_from_coco(coco, "v1")))
    return root


def fake_proposals(sample: Any) -> list[dict[str, Any]]:
    """Shifted / eroded copies of the objects and random rectangles, with seeded scores."""
    rng = rng_for(0, "fake-proposals", sample.image_id)
    height, width = sample.height, sample.width
    out: list[dict[str, Any]] = []
    for index, obj in enumerate(sample.objects):
        mask = obj.dense_mask()
        shift = int(rng.integers(0, 6)) if index % 3 else 0
        moved = np.roll(mask, (shift, -shift), axis=(0, 1))
        out.append(moved)
        if index % 2:
            eroded = mask.copy()
            eroded[:: 1 + index % 4] = False
            out.append(eroded)
    extra = 1100 if sample.image_id == str(min(int(s) for s in ALL_IDS)) else 30
    for _ in range(extra):
        x0, y0 = int(rng.integers(0, width - 2)), int(rng.integers(0, height - 2))
        x1, y1 = int(rng.integers(x0 + 1, width)), int(rng.integers(y0 + 1, height))
        box = np.zeros((height, width), bool)
        box[y0:y1, x0:x1] = True
        out.append(box)
    scores = rng.random(len(out))
    return [
        {"mask": encode(m), "score": float(s), "bbox": bbox(encode(m))}
        for m, s in zip(out, scores, strict=True)
    ]


ALL_IDS: list[str] = []


@pytest.fixture(scope="module")
def records(lvis_root: Path) -> list[dict[str, Any]]:
    dataset = open_dataset("lvis-v1", lvis_root)
    samples = list(dataset.samples())[:12]
    ALL_IDS[:] = [s.image_id for s in samples]
    rows = []
    for sample in samples:
        rows.append(
            {
                "dataset": "lvis-v1",
                "image_id": sample.image_id,
                "height": sample.height,
                "width": sample.width,
                "proposals": fake_proposals(sample),
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
            }
        )
    return rows


def pycocotools_ar(
    gt: dict[str, Any], results: list[dict[str, Any]], image_ids: list[int]
) -> list[float]:
    """AR@1000 (all, small, medium, large) by pycocotools' COCOeval, read as _summarize does."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO()
        api.dataset = copy.deepcopy(gt)
        api.createIndex()
        dets = api.loadRes(copy.deepcopy(results))
        evaluation = COCOeval(api, dets, "segm")
        evaluation.params.imgIds = image_ids
        evaluation.params.useCats = 0
        evaluation.params.maxDets = [1000]
        evaluation.evaluate()
        evaluation.accumulate()
    recall = evaluation.eval["recall"]
    values = []
    for a in range(4):
        s = recall[:, :, a, 0]
        values.append(float(np.mean(s[s > -1])) if (s > -1).any() else -1.0)
    return values


def test_ar_equals_pycocotools_cocoeval(records: list[dict[str, Any]], lvis_root: Path) -> None:
    evaluator = ProposalsEvaluator(max_dets=1000, bootstrap=0)
    for record in records:
        evaluator.process(record)
    figures = {(m.name, m.scope): m.value for m in evaluator.evaluate()}
    gt, results = evaluator.coco_files("lvis-v1")
    assert max(sum(r["image_id"] == i["id"] for r in results) for i in gt["images"]) > 1000
    image_ids = [image["id"] for image in gt["images"]]
    reference = pycocotools_ar(gt, results, image_ids)
    ours = [figures[n, "lvis-v1"] for n in ("AR@1000", "AR@1000_s", "AR@1000_m", "AR@1000_l")]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    assert 0.2 < ours[0] < 0.9 and all(v >= 0 for v in ours)
    # the original LVIS-format file (polygons, its own areas): the overall and per-group AR
    # do not depend on the area definition, so they equal too
    native = json.loads((lvis_root / "lvis-v1" / "lvis_v1_val.json").read_text())
    native["images"] = [i for i in native["images"] if i["id"] in set(image_ids)]
    native["annotations"] = [  # LVIS has no crowd regions; pycocotools wants the field
        {**a, "iscrowd": 0} for a in native["annotations"] if a["image_id"] in set(image_ids)
    ]
    assert pycocotools_ar(native, results, image_ids)[0] == pytest.approx(ours[0], abs=1e-12)
    frequency = {c["id"]: c["frequency"] for c in native["categories"]}
    for group in ("f", "c", "r"):
        restricted = {
            **native,
            "annotations": [a for a in native["annotations"]
                            if frequency[a["category_id"]] == group],
        }  # fmt: skip
        expected = pycocotools_ar(restricted, results, image_ids)[0]
        assert figures[f"AR@1000_{group}", "lvis-v1"] == pytest.approx(expected, abs=1e-12)
    # the per-object values behind the interval average to AR
    assert per_object_recall(gt, results).mean() == pytest.approx(ours[0], abs=1e-12)


def test_bootstrap_interval_and_undefined_groups(records: list[dict[str, Any]]) -> None:
    evaluator = ProposalsEvaluator(max_dets=1000, bootstrap=200, seed=3)
    for record in records[:3]:
        evaluator.process(record)
    figures = {(m.name, m.scope): m for m in evaluator.evaluate()}
    overall = figures["AR@1000", "lvis-v1"]
    assert overall.ci_low <= overall.value <= overall.ci_high
    assert figures["AR@1000", "suite"].value == overall.value
    no_frequency = [
        {**r, "ground_truth": [{**o, "frequency": None} for o in r["ground_truth"]]}
        for r in records[:2]
    ]
    evaluator = ProposalsEvaluator(bootstrap=0)
    for record in no_frequency:
        evaluator.process(record)
    names = {m.name for m in evaluator.evaluate()}
    assert names == set(figure_names(1000, frequencies=False))
    small_only = ground_truth(records[:1])
    small_only["annotations"] = []
    assert mask_ar(small_only, proposals(records[:1]))["all"] == -1.0


# ------------------------------------------------------------------------- task


def test_configs_pin_the_paper_settings() -> None:
    multi = build_task(resolve_task_config("proposals-lvis")).params
    assert isinstance(multi, ProposalsTask.Params)
    assert (multi.points_per_side, multi.multimask, multi.box_nms_thresh) == (64, True, 0.9)
    assert (multi.pred_iou_thresh, multi.stability_score_thresh, multi.crop_n_layers) == (0, 0, 0)
    assert multi.ranking == "iou_stability_mean"
    assert (multi.max_proposals, multi.max_dets) == (1000, 1000)
    single = build_task(resolve_task_config("proposals-lvis-single")).params
    assert isinstance(single, ProposalsTask.Params)
    assert (single.points_per_side, single.multimask, single.box_nms_thresh) == (128, False, 0.95)
    assert single.ranking == "random"
    with pytest.raises(ValueError, match="ranking"):
        ProposalsTask.Params(ranking="area")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="points_per_side"):
        ProposalsTask.Params(points_per_side=0)


def run(root: Path, out: Path, *extra: str) -> int:
    from sambench.cli import main

    return main(["run", "--task", "proposals-lvis", "--model", "sam-micro-random", "--device",
                 "cpu", "--data-root", str(root), "--out", str(out), "--limit", "2",
                 "--no-progress", "--param", "points_per_side=4", *extra])  # fmt: skip


def test_run_proposals_lvis_end_to_end(lvis_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("segment_anything")
    out = tmp_path / "run"
    assert run(lvis_root, out, "--param", "max_proposals=40") == 0
    records = [json.loads(line) for f in sorted((out / "records").glob("*.jsonl"))
               for line in f.read_text().splitlines()]  # fmt: skip
    assert len(records) == 2
    for record in records:
        kept = record["proposals"]
        assert 0 < len(kept) <= 40 and record["masks_after_nms"] >= len(kept)
        scores = [p["score"] for p in kept]
        assert scores == sorted(scores, reverse=True)
        for p in kept:
            assert p["score"] == pytest.approx((p["predicted_iou"] + p["stability_score"]) / 2)
            assert decode(p["mask"]).shape == (record["height"], record["width"])
            assert area(p["mask"]) > 0
        assert record["ground_truth"] and record["ground_truth"][0]["frequency"] in ("f", "c", "r")
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    names = {m["name"] for m in metrics if m["scope"] == "lvis-v1"}
    assert names == set(figure_names(1000))
    results = json.loads((out / "proposals-lvis-v1.json").read_text())
    assert len(results) == sum(len(r["proposals"]) for r in records)
    assert {"image_id", "category_id", "segmentation", "score", "bbox"} <= set(results[0])
    gt = json.loads((out / "ground-truth-lvis-v1.json").read_text())
    by_area = mask_ar(gt, results)
    overall = next(m for m in metrics if m["name"] == "AR@1000" and m["scope"] == "lvis-v1")
    assert overall["value"] == pytest.approx(by_area["all"], abs=1e-12)
    table = (out / "table4.md").read_text()
    assert "| SAM | 59.3 | 45.5 | 81.6 | 86.9 | 59.1 | 63.9 | 65.8 |" in table
    assert "**sambench: sam-micro-random**" in table and "4² grid" in table
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"]["params"]["box_nms_thresh"] == 0.9
    # re-scoring from the records alone gives the same figures
    from sambench.scoring import score_run

    again = {(m.name, m.scope): m.value for m in score_run(out)}
    assert again["AR@1000", "lvis-v1"] == overall["value"]


def test_single_output_random_ranking_is_seeded(lvis_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("segment_anything")
    single = ["--task", "proposals-lvis-single", "--param", "max_proposals=10", "--limit", "1",
              "--param", "box_nms_thresh=1.0"]  # fmt: skip
    runs = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        assert run(lvis_root, tmp_path / name, *single, "--seed", seed) == 0
        line = next((tmp_path / name / "records").glob("*.jsonl")).read_text().splitlines()[0]
        runs[name] = json.loads(line)["proposals"]
    assert runs["a"] == runs["b"]
    assert [p["point"] for p in runs["a"]] != [p["point"] for p in runs["c"]]
    assert all(p["score"] > 0 for p in runs["a"])
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["task"]["params"]["multimask"] is False


def test_model_without_logits_is_refused(lvis_root: Path, tmp_path: Path) -> None:
    from sambench.cli import main

    code = main(["run", "--task", "proposals-lvis", "--model", "classical", "--data-root",
                 str(lvis_root), "--out", str(tmp_path / "x"), "--limit", "1",
                 "--no-progress"])  # fmt: skip
    assert code == 2


def test_render_table4_without_runs() -> None:
    text = render_table4([])
    assert "| ViTDet-H | 63.0 | 51.7 | 80.8 | 87.0 | 63.1 | 63.3 | 58.3 |" in text
    assert "| SAM – single out. | 54.9 | 42.8 | 76.7 | 74.4 | 54.7 | 59.8 | 62.0 |" in text
    with pytest.raises(ConfigError):
        build_task(
            resolve_task_config("proposals-lvis").__class__(
                name="x", adapter="proposals", params={"max_proposals": 0}
            )
        )
