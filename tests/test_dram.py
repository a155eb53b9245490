"""DRAM through its card, on native-format files written here: paintings
``DRAM_processed/test/<artist>/<name>.jpg`` and VOC class-index labels (palette PNG, 255 =
ignore) under ``DRAM_processed/labels/``: one object per class present, or per component."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cards import builtin_cards, load_card
from sambench.data.dram import DramDataset
from sambench.errors import ConfigError

CARD = next(c for c in builtin_cards() if c.name == "dram")


def voc_label() -> np.ndarray:
    label = np.zeros((10, 10), dtype=np.uint8)
    label[1:4, 1:4] = 15  # a person ...
    label[6:9, 6:9] = 15  # ... and another: one "person" object by class
    label[4, :] = 255  # void boundary
    label[6:9, 0:3] = 13  # a horse
    return label


def write(root: Path, folder: str, name: str) -> None:
    image_dir = root / CARD.layout["images"] / folder
    label_dir = root / CARD.layout["labels"] / folder
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (10, 10), (200, 180, 150)).save(image_dir / f"{name}.jpg")
    label = Image.fromarray(voc_label(), mode="P")
    label.putpalette([(i * 37) % 256 for i in range(768)])
    label.save(label_dir / f"{name}.png")


def test_one_object_per_class(tmp_path: Path) -> None:
    root = tmp_path / "dram"
    write(root, "monet", "painting1")
    write(root, "renoir", "painting1")  # the same name in another artist folder
    (root / CARD.layout["images"] / "renoir" / "unlabelled.jpg").write_bytes(
        (root / CARD.layout["images"] / "renoir" / "painting1.jpg").read_bytes()
    )
    dataset = open_dataset("dram", tmp_path)
    assert isinstance(dataset, DramDataset)
    samples = list(dataset.samples())
    assert [s.image_id for s in samples] == ["monet/painting1", "renoir/painting1"]
    objects = samples[0].objects
    assert [(o.object_id, o.category, o.category_id, o.area) for o in objects] == [
        ("monet/painting1/13", "horse", 13, 9), ("monet/painting1/15", "person", 15, 18)
    ]  # fmt: skip
    np.testing.assert_array_equal(objects[1].dense_mask(), voc_label() == 15)


def test_per_component_option(tmp_path: Path) -> None:
    write(tmp_path / "dram", "monet", "painting1")
    cards = tmp_path / "cards"
    cards.mkdir()
    text = CARD.path.read_text().replace("  per: class", "  per: component")  # type: ignore[union-attr]
    (cards / "dram.yaml").write_text(text)
    card = load_card(cards / "dram.yaml")
    (sample,) = card.open(tmp_path).samples()
    assert [(o.object_id, o.area) for o in sample.objects] == [
        ("monet/painting1/13/0", 9), ("monet/painting1/15/0", 9), ("monet/painting1/15/1", 9)
    ]  # fmt: skip
    (cards / "dram.yaml").write_text(text.replace("per: component", "per: instance"))
    with pytest.raises(ConfigError, match=r"'options\.per' must be class or component"):
        load_card(cards / "dram.yaml").open(tmp_path)
    shutil.rmtree(cards)
