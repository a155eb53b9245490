"""IBD through its card (format UNVERIFIED: ``val/*.png`` + ``val_labels/*.png`` roof
instance maps), on files written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sambench.data import open_dataset


def test_roof_instance_maps(tmp_path: Path) -> None:
    root = tmp_path / "ibd"
    (root / "val").mkdir(parents=True)
    (root / "val_labels").mkdir()
    roofs = np.zeros((6, 6, 3), dtype=np.uint8)  # an RGB-coloured instance map
    roofs[0:3, 0:3] = (255, 0, 0)
    roofs[3:6, 3:6] = (0, 0, 255)
    Image.new("RGB", (6, 6)).save(root / "val" / "tile_01.png")
    Image.fromarray(roofs).save(root / "val_labels" / "tile_01.png")
    (sample,) = open_dataset("ibd", tmp_path).samples()
    assert [o.area for o in sample.objects] == [9, 9]
    assert {o.attributes["label_value"] for o in sample.objects} == {255, 255 << 16}
