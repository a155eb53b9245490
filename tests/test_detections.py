"""Detections files: validation errors name the file and entry; the jitter aid is deterministic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sambench.cli import main
from sambench.detections import (
    DetectionsError,
    JitterOptions,
    jitter_detections,
    load_detections,
    write_detections,
)
from tests.conftest import shared_data_root

GT: dict[str, Any] = {
    "images": [{"id": 2, "height": 100, "width": 200}, {"id": 1, "height": 50, "width": 60}],
    "categories": [{"id": 3, "name": "car"}, {"id": 5, "name": "dog"}],
    "annotations": [
        {"id": 7, "image_id": 1, "category_id": 3, "bbox": [10.0, 20.0, 30.0, 20.0], "iscrowd": 0},
        {"id": 8, "image_id": 2, "category_id": 5, "bbox": [50.0, 10.0, 40.0, 60.0], "iscrowd": 0},
        {"id": 9, "image_id": 2, "category_id": 3, "bbox": [0.0, 0.0, 200.0, 100.0], "iscrowd": 1},
    ],
}


def test_load_groups_by_image_and_hashes(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    entries = [
        {"image_id": 139, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5, "id": 4},
        {"image_id": "140", "category_id": 2, "bbox": [0.5, 0, 0, 1.5], "score": 1},
        {"image_id": 139, "category_id": 3, "bbox": [5, 6, 7, 8], "score": 0.25},
    ]
    path.write_text(json.dumps(entries))
    loaded = load_detections(path)
    assert loaded.count == 3 and loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    first, third = loaded.for_image("139")
    assert (first.index, third.index) == (0, 2) and first.corners == (1.0, 2.0, 4.0, 6.0)
    assert loaded.for_image("140")[0].bbox == (0.5, 0.0, 0.0, 1.5)
    assert loaded.for_image("999") == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "invalid JSON at line 1"),
        ('{"annotations": []}', "JSON list"),
        (
            '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}, 3]',
            "entry #1 is not an object",
        ),
        (
            '[{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1]}]',
            "entry #0 \\(image_id 5\\): missing key 'score'",
        ),
        (
            '[{"image_id": 5, "category_id": 1.0, "bbox": [0, 0, 1, 1], "score": 1}]',
            "'category_id' must be an integer",
        ),
        (
            '[{"image_id": 5, "category_id": true, "bbox": [0, 0, 1, 1], "score": 1}]',
            "'category_id' must be an integer",
        ),
        (
            '[{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1], "score": 1}]',
            "'bbox' must be 4 finite numbers",
        ),
        (
            '[{"image_id": 5, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 1}]',
            "negative width or height",
        ),
        (
            '[{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}]',
            "'score' must be a finite number",
        ),
        (
            '[{"image_id": null, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]',
            "'image_id' must be an integer or a string",
        ),
    ],
)
def test_errors_name_the_file_and_entry(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DetectionsError, match=message) as error:
        load_detections(path)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DetectionsError, match="not found"):
        load_detections(tmp_path / "none.json")


def test_jitter_is_deterministic_and_per_image() -> None:
    options = JitterOptions(seed=3, drop=0.3, false_boxes=2.0, relabel=0.5)
    out = jitter_detections(GT, options)
    assert out == jitter_detections(GT, options)
    assert out != jitter_detections(GT, JitterOptions(seed=4, drop=0.3, false_boxes=2.0))
    # An image's boxes do not depend on the other images.
    alone = {**GT, "images": [GT["images"][0]]}
    assert jitter_detections(alone, options) == [d for d in out if d["image_id"] == 2]
    # Image id order; every box inside its image; scores in [0, 1]; known categories.
    assert [d["image_id"] for d in out] == sorted(d["image_id"] for d in out)
    sizes = {image["id"]: (image["width"], image["height"]) for image in GT["images"]}
    for d in out:
        x, y, w, h = d["bbox"]
        width, height = sizes[d["image_id"]]
        assert x >= 0 and y >= 0 and w >= 1 and h >= 1
        assert x + w <= width + 0.01 and y + h <= height + 0.01
        assert 0 <= d["score"] <= 1 and d["category_id"] in (3, 5)


def test_jitter_knobs() -> None:
    exact = jitter_detections(
        GT, JitterOptions(box_noise=0.0, drop=0.0, false_boxes=0.0, min_score=1.0)
    )
    assert exact == [  # crowd regions never become boxes
        {"image_id": 1, "category_id": 3, "bbox": [10.0, 20.0, 30.0, 20.0], "score": 1.0},
        {"image_id": 2, "category_id": 5, "bbox": [50.0, 10.0, 40.0, 60.0], "score": 1.0},
    ]
    only_false = jitter_detections(GT, JitterOptions(drop=1.0, false_boxes=3.0, min_score=0.4))
    assert only_false and all(d["score"] <= 0.4 for d in only_false)
    relabelled = jitter_detections(
        GT, JitterOptions(box_noise=0.0, drop=0.0, false_boxes=0.0, relabel=1.0)
    )
    assert [d["category_id"] for d in relabelled] == [5, 3]
    with pytest.raises(ValueError, match="drop"):
        JitterOptions(drop=1.5)


def test_jitter_and_check_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(GT))
    out = tmp_path / "dets.json"
    assert (
        main(
            [
                "detections",
                "jitter",
                "--annotations",
                str(gt_path),
                "--out",
                str(out),
                "--seed",
                "3",
                "--false-boxes",
                "2",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "TESTING AID" in printed and "seed=3" in printed
    expected = jitter_detections(GT, JitterOptions(seed=3, false_boxes=2.0))
    assert json.loads(out.read_text()) == expected
    assert load_detections(out).count == len(expected)
    assert main(["detections", "check", str(out), "--annotations", str(gt_path)]) == 0
    report = capsys.readouterr().out
    assert f"{len(expected)} boxes" in report and "0 boxes on unknown images" in report
    bad = tmp_path / "bad.json"
    write_detections(bad, [{"image_id": 1, "category_id": 1, "bbox": [0, 0], "score": 1}])
    assert main(["detections", "check", str(bad)]) == 2
    assert "entry #0" in capsys.readouterr().err
    assert (
        main(
            [
                "detections",
                "jitter",
                "--annotations",
                str(gt_path),
                "--out",
                str(out),
                "--drop",
                "2",
            ]
        )
        == 2
    )


def test_jitter_from_a_dataset_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = shared_data_root()
    if root is None or not (root / "coco").is_dir():
        pytest.skip("real COCO sample not available")
    out = tmp_path / "coco.json"
    status = main(
        ["detections", "jitter", "--dataset", "coco", "--data-root", str(root), "--out", str(out)]
    )
    assert status == 0
    gt = json.loads((root / "coco" / "annotations" / "instances_val2017.json").read_text())
    assert json.loads(out.read_text()) == jitter_detections(gt, JitterOptions())
    assert len(load_detections(out).by_image) == len(gt["images"])
