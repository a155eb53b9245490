"""``sambench amg``: one COCO-RLE JSON per image, equal to the generator called directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from sambench.amg import AmgParams, AutomaticMaskGenerator
from sambench.cli import main
from sambench.masks import decode
from sambench.models import build_model
from tests.test_sam_adapter import smooth_image


def test_amg_command_writes_one_json_per_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    first, second = smooth_image(90, 120, seed=1), smooth_image(100, 80, seed=2)
    PILImage.fromarray(first).save(folder / "a.png")
    PILImage.fromarray(second).save(tmp_path / "b.png")
    knobs = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh",
             "0", "--box-nms-thresh", "1.0"]  # fmt: skip
    code = main(["amg", str(folder), str(tmp_path / "b.png"), "--model", "sam-micro-random",
                 "--device", "cpu", *knobs, "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    model = build_model("sam-micro-random", device="cpu")
    params = AmgParams(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                       box_nms_thresh=1.0)  # fmt: skip
    generator = AutomaticMaskGenerator(model, params)
    for name, image in (("a", first), ("b", second)):
        written = json.loads((tmp_path / "out" / f"{name}.json").read_text())
        expected = [r.to_json() for r in generator.generate(image)]
        assert written == json.loads(json.dumps(expected)) and len(written) == 48
        assert decode(written[0]["segmentation"]).shape == image.shape[:2]
        assert set(written[0]) == {"segmentation", "area", "bbox", "predicted_iou",
                                   "point_coords", "stability_score", "crop_box"}  # fmt: skip
    settings = json.loads((tmp_path / "out" / "amg.json").read_text())
    assert settings["params"]["points_per_side"] == 4
    assert settings["params"]["pred_iou_thresh"] == 0.0
    assert settings["params"]["crop_nms_thresh"] == 0.7  # official default where not given
    assert settings["model"]["name"] == "sam-micro-random" and settings["masks"]["a.png"] == 48
    assert np.isfinite(settings["seconds"]["b.png"])


def test_amg_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["amg", str(tmp_path / "missing.png"), "--model", "sam-micro-random",
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "does not exist" in capsys.readouterr().err
    PILImage.fromarray(smooth_image(40, 40)).save(tmp_path / "x.png")
    assert main(["amg", str(tmp_path / "x.png"), "--model", "classical",
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "lacks logits" in capsys.readouterr().err
    assert main(["amg", str(tmp_path / "x.png"), "--model", "sam-micro-random", "--device",
                 "cpu", "--points-per-side", "0", "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "points_per_side" in capsys.readouterr().err
