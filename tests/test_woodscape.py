"""WoodScape through its card, on native-format per-image instance JSONs written here
(grouped elements merged, void skipped, overlapping polygons kept whole)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.woodscape import WoodScapeDataset
from sambench.errors import DataError

SQUARE = [[2, 2], [8, 2], [8, 8], [2, 8]]


def write(root: Path, annotation: list[dict[str, object]], name: str = "00001_FV") -> None:
    (root / "rgb_images").mkdir(parents=True, exist_ok=True)
    (root / "instance_annotations").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 16)).save(root / "rgb_images" / f"{name}.png")
    data = {f"{name}.png": {"image_width": 20, "image_height": 16, "image_channels": 3,
                            "annotation": annotation}}  # fmt: skip
    (root / "instance_annotations" / f"{name}.json").write_text(json.dumps(data))


def test_elements_groups_and_skipped_tags(tmp_path: Path) -> None:
    annotation = [
        {"tags": ["car"], "segmentation": SQUARE, "z_order": 2},
        {"tags": ["person"], "segmentation": [[5, 5], [12, 5], [12, 12], [5, 12]], "z_order": 1},
        {"tags": ["bicycle"], "segmentation": [[14, 2], [18, 2], [18, 6]], "group_id": 7},
        {"tags": ["bicycle"], "segmentation": [[14, 8], [18, 8], [18, 12]], "group_id": 7},
        {"tags": ["void"], "segmentation": SQUARE},
        {"tags": [], "segmentation": SQUARE},
    ]
    write(tmp_path / "woodscape", annotation)
    dataset = open_dataset("woodscape", tmp_path)
    assert isinstance(dataset, WoodScapeDataset)
    assert [(e.image_id, e.masks) for e in dataset.index()] == [("00001_FV", 3)]
    (sample,) = dataset.samples()
    objects = {o.object_id: o for o in sample.objects}
    assert sorted(objects) == ["00001_FV/0", "00001_FV/1", "00001_FV/group-7"]
    car, person, bicycle = (objects[k] for k in sorted(objects))
    assert (car.category, car.area) == ("car", 36) and person.area == 49  # overlap kept
    assert bicycle.attributes["members"] == 2 and bicycle.category == "bicycle"
    assert sample.metadata == {"camera": "FV"} and (sample.height, sample.width) == (16, 20)


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "woodscape", [])
    path = tmp_path / "woodscape" / "instance_annotations" / "00001_FV.json"
    path.write_text(json.dumps({"a": {}, "b": {}}))
    with pytest.raises(DataError, match=r"00001_FV\.json: expected one entry keyed by the image"):
        open_dataset("woodscape", tmp_path).index()
    path.write_text(json.dumps({"a.png": {"image_width": 4, "image_height": 4, "annotation": [
        {"tags": ["car"], "segmentation": [[1, 2, 3]]}]}}))  # fmt: skip
    with pytest.raises(DataError, match=r"annotation element 0: a polygon point must be \[x, y\]"):
        open_dataset("woodscape", tmp_path).index()
