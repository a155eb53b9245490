"""STREETS through its card (format UNVERIFIED: the documented ``images/*.jpg`` +
``labels/*.png`` instance maps), and the errors a different layout gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.errors import DataError, MissingFileError


def test_vehicle_instance_maps(tmp_path: Path) -> None:
    root = tmp_path / "streets"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    label = np.zeros((10, 14), dtype=np.uint8)
    label[1:4, 1:5] = 7
    label[5:9, 6:12] = 9
    Image.new("RGB", (14, 10)).save(root / "images" / "cam12_0001.jpg")
    Image.fromarray(label).save(root / "labels" / "cam12_0001.png")
    Image.new("RGB", (14, 10)).save(root / "images" / "cam12_0002.jpg")  # no label: skipped
    samples = list(open_dataset("streets", tmp_path).samples())
    assert [s.image_id for s in samples] == ["cam12_0001"]
    assert [(o.object_id, o.area) for o in samples[0].objects] == [
        ("cam12_0001/7", 12), ("cam12_0001/9", 24)
    ]  # fmt: skip
    assert samples[0].load_image().shape == (10, 14, 3)


def test_unexpected_layout_names_paths(tmp_path: Path) -> None:
    root = tmp_path / "streets"
    (root / "images").mkdir(parents=True)
    with pytest.raises(MissingFileError, match=r"label folder .*streets/labels not found"):
        list(open_dataset("streets", tmp_path).samples())
    (root / "labels").mkdir()
    Image.new("RGB", (4, 4)).save(root / "images" / "a.jpg")
    Image.new("L", (4, 4)).save(root / "labels" / "a_mask.png")  # another naming scheme
    with pytest.raises(DataError, match=r"no image in .*images \(names ending with '\.jpg'\) "
                                        r"has a label <key>\.png in .*labels"):  # fmt: skip
        open_dataset("streets", tmp_path).verify()
