"""DOORS DS1 through its card, on native-format files written here: ``DS/img/<name>.png`` and
the binary ``DS/mask/<name>.png`` (255 = boulder), names with spaces as in the release."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cards import builtin_cards
from sambench.data.instance_png import LabelMapDataset

LAYOUT = next(c for c in builtin_cards() if c.name == "doors").layout


def test_one_boulder_per_image(tmp_path: Path) -> None:
    root = tmp_path / "doors"
    images, masks = root / LAYOUT["images"], root / LAYOUT["labels"]
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    boulder = np.zeros((8, 8), dtype=np.uint8)
    boulder[2:6, 3:7] = 255
    boulder[0, 0] = 128  # anti-aliasing grey: not 255, not the boulder
    names = ["Te1 2022-08-02 11.16.00 0001", "T 2022-08-02 11.14.22 0002", "V empty 0003"]
    for name in names:
        Image.new("RGB", (8, 8), (90, 90, 90)).save(images / f"{name}.png")
    Image.fromarray(np.stack([boulder] * 3, axis=-1)).save(masks / f"{names[0]}.png")  # RGB
    Image.fromarray(boulder).save(masks / f"{names[1]}.png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(masks / f"{names[2]}.png")
    dataset = open_dataset("doors", tmp_path)
    assert isinstance(dataset, LabelMapDataset)
    entries = dataset.index()
    assert [(e.image_id, e.masks) for e in entries] == [(n, 1) for n in sorted(names)]
    samples = list(dataset.samples())
    assert [s.image_id for s in samples] == sorted(names[:2])  # the empty mask is skipped
    for sample in samples:
        (obj,) = sample.objects
        assert obj.object_id == sample.image_id and obj.area == 16
        np.testing.assert_array_equal(obj.dense_mask(), boulder == 255)
    assert dataset.verify().masks == 3  # counted from the listing, no PNG decoded
    assert dataset.describe()["subsample"]["source"] == "all"
