"""EgoHOS through its card, on native-format files written here: ``train/image/*.jpg`` and
semantic ``train/label/*.png`` (1-8 = hands and interacting objects), filtered to the Ego4D
and THU-READ images by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.errors import DataError


def test_hand_object_labels_and_source_filter(tmp_path: Path) -> None:
    root = tmp_path / "egohos"
    (root / "train" / "image").mkdir(parents=True)
    (root / "train" / "label").mkdir(parents=True)
    label = np.zeros((8, 8), dtype=np.uint8)
    label[0:3, 0:3] = 1  # left hand
    label[0:3, 5:8] = 2  # right hand
    label[4:8, 2:6] = 5  # object held by both hands
    for name in ("ego4d_abc_0001", "thu_read_0002", "epick_P01_0003"):
        Image.new("RGB", (8, 8)).save(root / "train" / "image" / f"{name}.jpg")
        Image.fromarray(label).save(root / "train" / "label" / f"{name}.png")
    dataset = open_dataset("egohos", tmp_path)
    samples = list(dataset.samples())
    assert [s.image_id for s in samples] == ["ego4d_abc_0001", "thu_read_0002"]
    assert [(o.category, o.category_id, o.area) for o in samples[0].objects] == [
        ("left hand", 1, 9), ("right hand", 2, 9), ("both hands 1st-order object", 5, 16)
    ]  # fmt: skip


def test_no_image_of_the_sources_names_the_patterns(tmp_path: Path) -> None:
    root = tmp_path / "egohos"
    (root / "train" / "image").mkdir(parents=True)
    (root / "train" / "label").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "train" / "image" / "epick_1.jpg")
    Image.new("L", (4, 4), 1).save(root / "train" / "label" / "epick_1.png")
    with pytest.raises(DataError, match=r"keys matching ego4d\*, thu\*"):
        open_dataset("egohos", tmp_path).verify()
