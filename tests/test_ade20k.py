"""The ADE20K full-format loader on the real 2021_17_01 sample (../shared/data/ade20k) and on
made files.

The sample holds 3 images of the training split (the card's validation split is absent), so the
loader is opened on ``training`` here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.ade20k import Ade20kDataset
from sambench.data.checks import MISSING, check
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample
from tests.conftest import shared_data_root

RELEASE = "ADE20K_2021_17_01/images/ADE"
STREET = f"{RELEASE}/training/urban/street"


@pytest.fixture(scope="module")
def ade_root() -> Path:
    root = shared_data_root()
    if root is None or not (root / "ade20k" / STREET).is_dir():
        pytest.skip("real ADE20K sample not available")
    return root / "ade20k"


@pytest.fixture(scope="module")
def training(ade_root: Path) -> Ade20kDataset:
    return Ade20kDataset("ade20k", ade_root, f"{RELEASE}/training")


@pytest.fixture(scope="module")
def samples(training: Ade20kDataset) -> dict[str, ImageSample]:
    return {sample.image_id: sample for sample in training.samples()}


def test_index_and_verify_real(training: Ade20kDataset) -> None:
    entries = training.index()
    assert [(e.image_id, e.masks) for e in entries] == [
        ("ADE_train_00016869", 70),
        ("ADE_train_00016900", 37),
        ("ADE_train_00016964", 32),
    ]
    report = training.verify()
    assert (report.images, report.masks) == (3, 139)


def test_objects_and_parts_real(samples: dict[str, ImageSample]) -> None:
    assert [len(s.objects) for s in samples.values()] == [70, 37, 32]
    sample = samples["ADE_train_00016869"]
    assert (sample.height, sample.width) == (1536, 2048)
    by_id = {obj.object_id: obj for obj in sample.objects}
    car = by_id["ADE_train_00016869/4"]
    assert car.category == "car, auto, automobile, machine, motorcar" and car.category_id == 401
    assert car.attributes["part_level"] == 0 and car.attributes["parent"] is None
    wheel = by_id["ADE_train_00016869/54"]
    rim = by_id["ADE_train_00016869/55"]
    assert (wheel.attributes["part_level"], wheel.attributes["parent"]) == (
        1,
        "ADE_train_00016869/4",
    )
    assert (rim.attributes["part_level"], rim.attributes["parent"]) == (
        2,
        "ADE_train_00016869/54",
    )
    walking = by_id["ADE_train_00016869/53"]
    assert walking.attributes["ade_attributes"] == ["walking"]
    assert walking.attributes["occluded"] is False
    assert by_id["ADE_train_00016869/11"].attributes["cropped"] is True
    assert sample.metadata == {"annotation_file": f"{STREET}/ADE_train_00016869.json"}
    assert sample.file_name == f"{STREET}/ADE_train_00016869.jpg"


def test_visible_pixels_only_real(ade_root: Path, samples: dict[str, ImageSample]) -> None:
    """The amodal (128) pixels are not part of the mask: a heavily occluded tree."""
    tree = {o.object_id: o for o in samples["ADE_train_00016900"].objects}["ADE_train_00016900/28"]
    raw = np.asarray(
        Image.open(ade_root / STREET / "ADE_train_00016900/instance_028_ADE_train_00016900.png")
    )
    assert tree.area == int((raw == 255).sum()) == 225624
    assert int((raw == 128).sum()) == 614906
    np.testing.assert_array_equal(tree.dense_mask(), raw == 255)


def test_masks_equal_the_toolkit_instance_maps_real(
    ade_root: Path, samples: dict[str, ImageSample]
) -> None:
    """Each visible mask is exactly one instance (B channel) of _seg.png (objects) or
    _parts_1.png (parts), with the class (R/10*256+G) of its name_ndx."""
    sample = samples["ADE_train_00016900"]
    maps = {}
    for level, suffix in ((0, "seg"), (1, "parts_1")):
        rgb = np.asarray(Image.open(ade_root / STREET / f"ADE_train_00016900_{suffix}.png"))
        rgb = rgb.astype(np.int32)
        maps[level] = ((rgb[..., 0] // 10) * 256 + rgb[..., 1], rgb[..., 2])
    for obj in sample.objects:
        classes, instances = maps[obj.attributes["part_level"]]
        mask = obj.dense_mask()
        values = np.unique(instances[mask])
        assert len(values) == 1, obj.object_id
        np.testing.assert_array_equal(mask, instances == values[0])
        assert set(np.unique(classes[mask])) == {obj.category_id}


def test_max_part_level_and_card(ade_root: Path) -> None:
    wholes = Ade20kDataset("ade20k", ade_root, f"{RELEASE}/training", max_part_level=0)
    assert [e.masks for e in wholes.index()] == [51, 34, 24]
    dataset = open_dataset("ade20k", ade_root.parent)
    assert isinstance(dataset, Ade20kDataset)
    assert dataset.images_dir == f"{RELEASE}/validation"
    assert dataset.subsample is not None and dataset.subsample.frozen is not None
    from sambench.data.cards import builtin_cards

    card = next(c for c in builtin_cards() if c.name == "ade20k")
    result = check(card, ade_root.parent)
    assert result.status == MISSING
    assert "validation not found" in result.message and "holds: training" in result.message


# -- made files ---------------------------------------------------------------------------------


def _made(root: Path, objects: list[dict[str, Any]], masks: list[np.ndarray]) -> Ade20kDataset:
    scene = root / "split" / "scene"
    (scene / "ADE_x_1").mkdir(parents=True)
    Image.new("RGB", (5, 4)).save(scene / "ADE_x_1.jpg")
    for k, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8)).save(scene / "ADE_x_1" / f"instance_{k:03d}.png")
    annotation = {"annotation": {"filename": "ADE_x_1.jpg", "imsize": [4, 5, 3], "object": objects}}
    (scene / "ADE_x_1.json").write_text(json.dumps(annotation))
    return Ade20kDataset("tiny", root, "split")


def _object(k: int, level: int = 0, parent: Any = None) -> dict[str, Any]:
    return {"id": k, "name": f"thing{k}", "name_ndx": 7 + k, "raw_name": "t", "crop": "0",
            "occluded": "yes", "attributes": [], "instance_mask": f"ADE_x_1/instance_{k:03d}.png",
            "parts": {"part_level": level, "ispartof": [] if parent is None else parent,
                      "hasparts": []}}  # fmt: skip


def test_made_files(tmp_path: Path) -> None:
    visible = np.zeros((4, 5), dtype=np.uint8)
    visible[1:3, 1:4] = 255
    visible[0, 0] = 128  # an amodal pixel
    hidden = np.full((4, 5), 128, dtype=np.uint8)  # fully occluded: dropped
    dataset = _made(
        tmp_path, [_object(0), _object(1, 1, 0), _object(2)], [visible, visible, hidden]
    )
    (sample,) = dataset.samples()
    assert [o.object_id for o in sample.objects] == ["ADE_x_1/0", "ADE_x_1/1"]
    assert sample.objects[0].area == 6 and sample.objects[0].attributes["occluded"] is True
    assert sample.objects[1].attributes["parent"] == "ADE_x_1/0"
    assert dataset.index()[0].masks == 3  # counted from the JSON


def test_made_file_errors(tmp_path: Path) -> None:
    mask = np.full((4, 5), 255, dtype=np.uint8)
    dataset = _made(tmp_path, [_object(0)], [mask])
    scene = tmp_path / "split" / "scene"
    Image.fromarray(np.zeros((3, 5), dtype=np.uint8)).save(scene / "ADE_x_1/instance_000.png")
    with pytest.raises(DataError, match=r"instance_000\.png is 5x3 but .*ADE_x_1\.json says 5x4"):
        dataset.load_sample("ADE_x_1")
    (scene / "ADE_x_1/instance_000.png").unlink()
    with pytest.raises(MissingFileError, match=r"instance mask .*instance_000\.png \(object 0"):
        dataset.verify()
    (scene / "ADE_x_1.json").write_text('{"annotation": {"filename": "ADE_x_1.jpg"')
    with pytest.raises(DataError, match=r"ADE_x_1\.json: invalid JSON"):
        Ade20kDataset("tiny", tmp_path, "split").index()
    bad = {"annotation": {"filename": "ADE_x_1.jpg", "imsize": [4, 5], "object": [{"id": 0}]}}
    (scene / "ADE_x_1.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"ADE_x_1\.json: object id 0 is missing required key"):
        Ade20kDataset("tiny", tmp_path, "split").index()


def test_latin1_json_is_read(tmp_path: Path) -> None:
    mask = np.full((4, 5), 255, dtype=np.uint8)
    _made(tmp_path, [_object(0) | {"raw_name": "caf\u00e9"}], [mask])
    path = tmp_path / "split" / "scene" / "ADE_x_1.json"
    path.write_bytes(path.read_text().replace("\\u00e9", "\u00e9").encode("latin-1"))
    (sample,) = Ade20kDataset("tiny", tmp_path, "split").samples()
    assert sample.objects[0].attributes["raw_name"] == "caf\u00e9"
    shutil.rmtree(tmp_path / "split")
