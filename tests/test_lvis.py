"""The LVIS loader on LVIS-format files (v0.5 and v1) written from the real COCO val2017 sample.

No LVIS annotation file is in ../shared/data, so the fixtures convert the real COCO sample's
non-crowd annotations into the native LVIS layouts (v1: ``coco_url``, no ``file_name``; v0.5:
COCO 2014-style ``file_name``), with LVIS's per-image and per-category keys, and the images
are found through the sibling ``coco`` folder as the cards document.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sambench.data import open_dataset
from sambench.data.coco import CocoDataset
from sambench.data.lvis import LvisDataset
from sambench.errors import DataError, MissingFileError
from tests.conftest import shared_data_root

COCO_JSON = "annotations/instances_val2017.json"
FREQUENCIES = ("f", "c", "r")


@pytest.fixture(scope="module")
def coco_json() -> dict[str, Any]:
    root = shared_data_root()
    if root is None or not (root / "coco" / COCO_JSON).is_file():
        pytest.skip("real COCO sample not available")
    data: dict[str, Any] = json.loads((root / "coco" / COCO_JSON).read_text())
    return data


def lvis_from_coco(coco: dict[str, Any], version: str) -> dict[str, Any]:
    """An LVIS-format annotation file with the COCO sample's non-crowd annotations."""
    images = []
    for image in coco["images"]:
        entry = {
            "id": image["id"],
            "height": image["height"],
            "width": image["width"],
            "coco_url": f"http://images.cocodataset.org/val2017/{image['file_name']}",
            "neg_category_ids": [90, 3],
            "not_exhaustive_category_ids": [1],
        }
        if version == "v0.5":
            entry["file_name"] = f"COCO_val2014_{image['file_name']}"
        images.append(entry)
    annotations = [
        {k: ann[k] for k in ("id", "image_id", "category_id", "segmentation", "area", "bbox")}
        for ann in coco["annotations"]
        if not ann["iscrowd"]
    ]
    categories = [
        {**cat, "synset": f"{cat['name']}.n.01", "frequency": FREQUENCIES[i % 3], "synonyms": []}
        for i, cat in enumerate(coco["categories"])
    ]
    return {"info": {}, "licenses": [], "images": images, "annotations": annotations,
            "categories": categories}  # fmt: skip


@pytest.fixture
def data_root(tmp_path: Path, coco_json: dict[str, Any]) -> Path:
    shared = shared_data_root()
    assert shared is not None
    (tmp_path / "coco").symlink_to(shared / "coco", target_is_directory=True)
    (tmp_path / "lvis-v1").mkdir()
    (tmp_path / "lvis-v1" / "lvis_v1_val.json").write_text(
        json.dumps(lvis_from_coco(coco_json, "v1"))
    )
    (tmp_path / "lvis").mkdir()
    (tmp_path / "lvis" / "lvis_v0.5_val.json").write_text(
        json.dumps(lvis_from_coco(coco_json, "v0.5"))
    )
    return tmp_path


def test_v1_equals_the_coco_conversion(data_root: Path, coco_json: dict[str, Any]) -> None:
    lvis = open_dataset("lvis-v1", data_root)
    assert isinstance(lvis, LvisDataset)
    coco = CocoDataset("coco", data_root / "coco", "val2017", COCO_JSON)
    expected = {s.image_id: s for s in coco.samples()}
    samples = list(lvis.samples())
    assert len(samples) == 80 and sum(len(s.objects) for s in samples) == 804
    categories = {c["id"]: i for i, c in enumerate(coco_json["categories"])}
    for sample in samples:
        native = expected[sample.image_id]
        assert sample.file_name == f"../coco/val2017/{Path(native.file_name).name}"
        assert sample.metadata == {"neg_category_ids": [3, 90], "not_exhaustive_category_ids": [1]}
        non_crowd = [o for o in native.objects if not o.iscrowd]
        assert [o.object_id for o in sample.objects] == [o.object_id for o in non_crowd]
        for mine, theirs in zip(sample.objects, non_crowd, strict=True):
            assert mine.mask == theirs.mask and mine.box == theirs.box
            assert mine.category == theirs.category
            frequency = FREQUENCIES[categories[mine.category_id] % 3]
            assert mine.attributes == {"frequency": frequency}
    image = samples[0].load_image()
    assert image.shape == (samples[0].height, samples[0].width, 3)
    report = lvis.verify()
    assert (report.images, report.masks) == (80, 804)


def test_v05_file_names_and_subsample(data_root: Path) -> None:
    lvis = open_dataset("lvis", data_root)
    assert isinstance(lvis, LvisDataset) and lvis.subsample is not None
    first = next(iter(lvis.samples()))
    assert first.file_name.startswith("../coco/val2017/0000")  # the 2014 prefix is dropped
    assert first.load_image().ndim == 3
    described = lvis.describe()
    assert described["subsample"]["source"] == "all"  # 804 masks: below the 15k threshold
    assert list(described["annotation_sha256"]) == ["lvis_v0.5_val.json"]


def test_image_lookup_order_and_missing_images(data_root: Path, coco_json: dict[str, Any]) -> None:
    data = lvis_from_coco(coco_json, "v1")
    moved = data["images"][0]
    name = Path(moved["coco_url"]).name
    moved["coco_url"] = f"http://images.cocodataset.org/train2017/{name}"
    (data_root / "lvis-v1" / "train2017").mkdir()
    shutil.copy(data_root / "coco" / "val2017" / name, data_root / "lvis-v1" / "train2017")
    (data_root / "lvis-v1" / "lvis_v1_val.json").write_text(json.dumps(data))
    lvis = open_dataset("lvis-v1", data_root)
    assert isinstance(lvis, LvisDataset)
    sample = lvis.load_sample(str(moved["id"]))
    assert sample is not None and sample.file_name == f"train2017/{name}"
    assert np.asarray(sample.load_image()).shape[:2] == (sample.height, sample.width)
    (data_root / "lvis-v1" / "train2017" / name).unlink()
    fresh = open_dataset("lvis-v1", data_root)
    with pytest.raises(MissingFileError, match=r"lvis-v1/train2017/.* nor .*coco/train2017/"):
        fresh.verify()


def test_no_coco_folder_and_bad_image_entry(tmp_path: Path) -> None:
    (tmp_path / "lvis.json").write_text(
        json.dumps({"images": [{"id": 1, "height": 2, "width": 2}], "annotations": []})
    )
    dataset = LvisDataset("x", tmp_path, "val2017", "lvis.json")
    with pytest.raises(DataError, match=r"lvis\.json: image id 1 has neither 'file_name' nor"):
        dataset.index()
