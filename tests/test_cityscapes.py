"""Cityscapes val as panoptic segments, through its card, on native-format files written here:
``gtFine/val/<city>/*_gtFine_instanceIds.png`` (16-bit) and ``leftImg8bit/val/<city>/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cityscapes import BY_ID, CityscapesPanopticDataset
from sambench.errors import DataError, MissingFileError

IMAGE_ID = "frankfurt_000000_000294"


def instance_ids() -> np.ndarray:
    ids = np.zeros((16, 20), dtype=np.uint16)  # 0 unlabeled (void)
    ids[0:2, :] = 23  # sky
    ids[12:16, 0:8] = 7  # road ...
    ids[12:16, 12:20] = 7  # ... in two pieces: one segment
    ids[4:8, 1:5] = 26001  # car 1
    ids[4:8, 6:10] = 26002  # car 2
    ids[9:11, 1:6] = 26  # a group of cars: crowd
    ids[4:10, 12:14] = 24000  # person instance 0
    ids[4:8, 15:19] = 29001  # caravan: ignoreInEval
    ids[15, 10] = 1  # ego vehicle: void
    return ids


def write(root: Path, city: str = "frankfurt", image_id: str = IMAGE_ID) -> None:
    gt = root / "gtFine" / "val" / city
    images = root / "leftImg8bit" / "val" / city
    gt.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    Image.fromarray(instance_ids()).save(gt / f"{image_id}_gtFine_instanceIds.png")
    Image.fromarray(np.zeros((16, 20), dtype=np.uint8)).save(gt / f"{image_id}_gtFine_labelIds.png")
    Image.new("RGB", (20, 16), (50, 60, 70)).save(images / f"{image_id}_leftImg8bit.png")


def test_panoptic_segments(tmp_path: Path) -> None:
    write(tmp_path / "cityscapes")
    dataset = open_dataset("cityscapes", tmp_path)
    assert isinstance(dataset, CityscapesPanopticDataset)
    (sample,) = dataset.samples()
    assert sample.image_id == IMAGE_ID and sample.metadata == {"city": "frankfurt"}
    found = {o.object_id.split("/")[1]: o for o in sample.objects}
    assert sorted(found, key=int) == ["7", "23", "26", "24000", "26001", "26002"]
    ids = instance_ids()
    for segment, obj in found.items():
        np.testing.assert_array_equal(obj.dense_mask(), ids == int(segment))
    assert found["7"].area == 64 and found["7"].category == "road"  # two pieces, one segment
    assert found["26"].iscrowd and found["26"].category == "car"
    assert not any(o.iscrowd for k, o in found.items() if k != "26")
    assert (found["24000"].category, found["24000"].category_id) == ("person", 24)
    assert found["24000"].attributes == {"isthing": True}
    assert found["23"].attributes == {"isthing": False}
    assert dataset.mask_counts() == {IMAGE_ID: 5}  # the crowd segment is not a target
    assert dataset.verify().images == 1


def test_label_table_matches_the_official_eval_classes() -> None:
    evaluated = sorted(label.id for label in BY_ID.values() if not label.ignore_in_eval)
    assert evaluated == [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
    things = sorted(label.name for label in BY_ID.values() if label.has_instances)
    assert things == ["bicycle", "bus", "car", "caravan", "motorcycle", "person", "rider",
                      "trailer", "train", "truck"]  # fmt: skip


def test_errors_name_paths(tmp_path: Path) -> None:
    root = tmp_path / "cityscapes"
    (root / "gtFine" / "val").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no <city>/\*_gtFine_instanceIds\.png file in .*val"):
        open_dataset("cityscapes", tmp_path).index()
    write(root)
    (root / "leftImg8bit" / "val" / "frankfurt" / f"{IMAGE_ID}_leftImg8bit.png").unlink()
    with pytest.raises(MissingFileError, match=r"image of frankfurt_000000_000294 .* not found"):
        open_dataset("cityscapes", tmp_path).verify()
    write(root)
    bad = root / "gtFine" / "val" / "frankfurt" / f"{IMAGE_ID}_gtFine_instanceIds.png"
    Image.fromarray(np.full((16, 20), 99, dtype=np.uint16)).save(bad)
    dataset = open_dataset("cityscapes", tmp_path)
    with pytest.raises(DataError, match=r"value 99 names no Cityscapes label id"):
        dataset.load_sample(IMAGE_ID)
