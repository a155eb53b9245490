"""iShape through its card, on native-format files written here: six sub-datasets with
``val/image/*.jpg`` and **16-bit** ``val/instance_map/*.png`` (ids above 255 kept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cards import builtin_cards
from sambench.data.instance_png import LabelMapDataset

CARD = next(c for c in builtin_cards() if c.name == "ishape")
SUBSETS = ("antenna", "branch", "fence", "hanger", "log", "wire")


def test_sixteen_bit_instance_maps(tmp_path: Path) -> None:
    root = tmp_path / "ishape"
    for sub in SUBSETS:
        (root / CARD.layout[f"images.{sub}"]).mkdir(parents=True)
        (root / CARD.layout[f"labels.{sub}"]).mkdir(parents=True)
    wire = np.zeros((9, 9), dtype=np.uint16)
    wire[1, :] = 300  # a hollow, crossing wire: ids above 255 ...
    wire[:, 1] = 300
    wire[7, 2:8] = 256  # ... and 256, which an 8-bit read would turn into 0
    wire[8, 8] = 300  # a detached piece of instance 300: still one object
    Image.new("RGB", (9, 9)).save(root / CARD.layout["images.wire"] / "wire_0001.jpg")
    Image.fromarray(wire).save(root / CARD.layout["labels.wire"] / "wire_0001.png")
    assert Image.open(root / CARD.layout["labels.wire"] / "wire_0001.png").mode.startswith("I")
    dataset = open_dataset("ishape", tmp_path)
    assert isinstance(dataset, LabelMapDataset)
    (sample,) = dataset.samples()
    assert sample.image_id == "wire/wire_0001"
    assert [(o.object_id, o.area) for o in sample.objects] == [
        ("wire/wire_0001/256", 6), ("wire/wire_0001/300", 9 + 9 - 1 + 1)
    ]  # fmt: skip
    np.testing.assert_array_equal(sample.objects[1].dense_mask(), wire == 300)
    assert sample.metadata["part"] == "wire"
