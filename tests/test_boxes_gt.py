"""The boxes-gt task: ground-truth boxes as prompts, mIoU overall and by object size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sambench import masks
from sambench.cli import main
from sambench.data import open_dataset
from sambench.errors import ConfigError, SambenchError
from sambench.models.base import ModelCapabilities
from sambench.samples import ImageSample
from sambench.tasks import build_task, resolve_task_config
from sambench.tasks.base import TaskConfig
from sambench.tasks.boxes_gt import BoxesGtTask, BoxMiouEvaluator, area_class
from sambench.timing import StageTimer
from tests.conftest import shared_data_root
from tests.test_instances import BoxModel


@pytest.fixture(scope="module")
def samples() -> list[ImageSample]:
    root = shared_data_root()
    if root is None or not (root / "coco").is_dir():
        pytest.skip("real COCO sample not available")
    found = list(open_dataset("coco", root).samples())
    with_crowd = next(s for s in found if any(o.iscrowd for o in s.objects))
    return [found[0], with_crowd]


def test_gt_boxes_one_batch_and_exact_ious(samples: list[ImageSample]) -> None:
    task = BoxesGtTask()
    model = BoxModel()
    for sample in samples:
        model.calls.clear()
        record = task.run_sample(model, model.embed(sample.load_image()), sample, 0, StageTimer())
        targets = [o for o in sample.objects if not o.iscrowd]
        ((prompts, multimask),) = model.calls
        assert multimask and len(prompts) == len(targets) == len(record["objects"])
        assert [s["reason"] for s in record["skipped"]] == ["crowd"] * (
            len(sample.objects) - len(targets)
        )
        for obj, prompt, row in zip(targets, prompts, record["objects"], strict=True):
            x, y, w, h = obj.box
            assert prompt.box == (x, y, x + w, y + h) == tuple(row["box"])
            assert row["chosen"] == 1  # the highest predicted IoU
            gt, mask = obj.dense_mask(), masks.decode(row["mask"])
            expected = np.count_nonzero(gt & mask) / np.count_nonzero(gt | mask)
            assert row["iou"] == pytest.approx(expected, abs=1e-12)
            assert row["iou"] == row["candidate_ious"][1]
            assert row["area_class"] == area_class(obj.area)


def test_knobs(samples: list[ImageSample]) -> None:
    sample = samples[0]
    model = BoxModel()
    params = BoxesGtTask.Params(multimask=False, box_source="mask")
    record = BoxesGtTask(params).run_sample(
        model, model.embed(sample.load_image()), sample, 0, StageTimer()
    )
    ((prompts, multimask),) = model.calls
    assert not multimask and all(row["chosen"] == 0 for row in record["objects"])
    x, y, w, h = masks.bbox(sample.objects[0].mask)
    assert prompts[0].box == (x, y, x + w, y + h)
    single = BoxModel()
    single.capabilities = ModelCapabilities(boxes=True)
    with pytest.raises(SambenchError, match="multimask=false"):
        BoxesGtTask().check_model(single, "t")
    BoxesGtTask(params).check_model(single, "t")  # multimask: false needs no multimask output
    with pytest.raises(ConfigError, match="area_thresholds"):
        build_task(TaskConfig("b", "boxes-gt", params={"area_thresholds": [9216, 1024]}))
    shipped = build_task(resolve_task_config("boxes-gt")).params
    assert shipped == BoxesGtTask.Params()


def test_evaluator_by_area_and_suite() -> None:
    rows = [
        {"iou": 0.9, "area_class": "large"},
        {"iou": 0.5, "area_class": "small"},
        {"iou": 0.7, "area_class": "small"},
    ]
    evaluator = BoxMiouEvaluator(seed=0)
    evaluator.process({"dataset": "a", "image_id": "1", "objects": rows})
    evaluator.process({"dataset": "b", "image_id": "1", "objects": rows[:1]})
    figures = {(m.name, m.scope): m for m in evaluator.evaluate()}
    assert figures["mIoU", "a"].value == pytest.approx(0.7)
    assert figures["mIoU_small", "a"].value == pytest.approx(0.6)
    assert figures["mIoU_small", "a"].n == 2 and figures["mIoU_medium", "a"].n == 0
    assert figures["mIoU", "suite"].value == pytest.approx((0.7 + 0.9) / 2)
    low, high = figures["mIoU", "a"].ci_low, figures["mIoU", "a"].ci_high
    assert 0.5 <= low <= 0.7 <= high <= 0.9


def test_cli_run_with_classical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = shared_data_root()
    if root is None or not (root / "coco").is_dir():
        pytest.skip("real COCO sample not available")
    out = tmp_path / "run"
    status = main(
        [
            "run",
            "--task",
            "boxes-gt",
            "--dataset",
            "coco",
            "--model",
            "classical",
            "--data-root",
            str(root),
            "--limit",
            "2",
            "--out",
            str(out),
            "--no-progress",
            "--cache-max-gb",
            "0",
        ]
    )
    assert status == 0, capsys.readouterr().err
    metrics = {
        (m["name"], m["scope"]): m
        for m in json.loads((out / "metrics.json").read_text())["metrics"]
    }
    assert 0.0 < metrics["mIoU", "coco"]["value"] < 1.0
    sizes = sum(metrics[f"mIoU_{s}", "coco"]["n"] for s in ("small", "medium", "large"))
    assert sizes == metrics["mIoU", "coco"]["n"]
    table = (out / "gt-box-miou.md").read_text()
    assert "| SAM-ViT-H | coco | 77.4 | 72.3 | 80.4 | 81.8 |" in table
    assert f"| **sambench** | coco | {metrics['mIoU', 'coco']['value'] * 100:.1f} |" in table
