"""PPDLS (CVPPP leaf segmentation) through its card, on native-format files written here:
``<subset>/plantNNN_rgb.png`` beside ``plantNNN_label.png`` (palette or RGB-coloured leaves)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cards import builtin_cards
from sambench.data.instance_png import LabelMapDataset
from sambench.errors import DataError, MissingFileError

LAYOUT = next(c for c in builtin_cards() if c.name == "ppdls").layout


def leaves() -> np.ndarray:
    label = np.zeros((12, 16), dtype=np.uint8)
    label[1:5, 1:6] = 1
    label[6:10, 2:7] = 2
    label[2:8, 9:14] = 3
    label[10:12, 14:16] = 3  # leaf 3 in two pieces: still one object
    return label


def write_plant(folder: Path, stem: str, label: Image.Image) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), (0, 120, 0)).save(folder / f"{stem}_rgb.png")
    label.save(folder / f"{stem}_label.png")
    Image.fromarray((np.asarray(label) > 0).astype(np.uint8) * 255).save(folder / f"{stem}_fg.png")


def palette(label: np.ndarray) -> Image.Image:
    image = Image.fromarray(label, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    return image


def test_cvppp_layout_through_the_card(tmp_path: Path) -> None:
    root = tmp_path / "ppdls"
    label = leaves()
    write_plant(root / LAYOUT["images.A1"], "plant001", palette(label))
    colours = np.zeros((*label.shape, 3), dtype=np.uint8)  # an RGB-coloured label release
    for value, colour in ((1, (200, 10, 10)), (2, (10, 200, 10)), (3, (10, 10, 200))):
        colours[label == value] = colour
    write_plant(root / LAYOUT["images.A2"], "plant007", Image.fromarray(colours))
    write_plant(root / LAYOUT["images.A3"], "plant003", palette(label))
    dataset = open_dataset("ppdls", tmp_path)
    assert isinstance(dataset, LabelMapDataset)
    assert [e.image_id for e in dataset.index()] == ["A1/plant001", "A2/plant007", "A3/plant003"]
    samples = list(dataset.samples())
    first, second, _ = samples
    assert [o.object_id for o in first.objects] == [
        "A1/plant001/1",
        "A1/plant001/2",
        "A1/plant001/3",
    ]
    for obj, value in zip(first.objects, (1, 2, 3), strict=True):
        np.testing.assert_array_equal(obj.dense_mask(), label == value)
        assert obj.attributes == {"label_value": value} and obj.category is None
    assert first.objects[2].area == 30 + 4  # the two pieces of leaf 3
    # the RGB release gives the same leaves (one per colour)
    assert sorted(o.area for o in second.objects) == sorted(o.area for o in first.objects)
    assert first.file_name == f"{LAYOUT['images.A1']}/plant001_rgb.png"
    assert dataset.mask_counts() == {"A1/plant001": 3, "A2/plant007": 3, "A3/plant003": 3}
    report = dataset.verify()
    assert (report.images, report.masks) == (3, None)
    assert sorted(dataset.describe()["annotation_sha256"]) == sorted(
        f"{LAYOUT[k]}/*_label.png" for k in ("images.A1", "images.A2", "images.A3")
    )


def test_errors_name_paths(tmp_path: Path) -> None:
    root = tmp_path / "ppdls"
    with pytest.raises(MissingFileError, match=r"dataset folder .*ppdls not found"):
        list(open_dataset("ppdls", tmp_path).samples())
    folder = root / LAYOUT["images.A1"]
    write_plant(folder, "plant001", palette(leaves()))
    with pytest.raises(MissingFileError, match=r"image folder .*A2 not found"):
        open_dataset("ppdls", tmp_path).index()
    for part in ("A2", "A3"):
        (root / LAYOUT[f"images.{part}"]).mkdir(parents=True)
    Image.new("L", (5, 5), 1).save(folder / "plant001_label.png")  # wrong size
    with pytest.raises(DataError, match=r"plant001_label\.png is 5x5 but its image .* is 16x12"):
        list(open_dataset("ppdls", tmp_path).samples())
    (folder / "plant001_label.png").unlink()
    with pytest.raises(DataError, match=r"has a label <key>_label\.png"):
        open_dataset("ppdls", tmp_path).index()
