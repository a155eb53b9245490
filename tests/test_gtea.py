"""GTEA hands through its card (format UNVERIFIED: binary ``Masks/*.png``), one object per
connected component."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cards import builtin_cards

LAYOUT = next(c for c in builtin_cards() if c.name == "gtea").layout


def test_one_object_per_hand(tmp_path: Path) -> None:
    root = tmp_path / "gtea"
    (root / LAYOUT["images"]).mkdir(parents=True)
    (root / LAYOUT["labels"]).mkdir(parents=True)
    hands = np.zeros((10, 12), dtype=np.uint8)
    hands[5:10, 0:4] = 1  # 0/1 masks work as 0/255 ones
    hands[6:10, 7:12] = 1
    hands[7, 4] = 1  # touches the left hand diagonally-free: same component (4-adjacent)
    Image.new("RGB", (12, 10)).save(root / LAYOUT["images"] / "s1_0001.jpg")
    Image.fromarray(hands).save(root / LAYOUT["labels"] / "s1_0001.png")
    dataset = open_dataset("gtea", tmp_path)
    (sample,) = dataset.samples()
    assert [(o.object_id, o.area) for o in sample.objects] == [("s1_0001/0", 21), ("s1_0001/1", 20)]
    assert dataset.mask_counts() == {"s1_0001": 2}
