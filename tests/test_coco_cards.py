"""The COCO-style SA-23 cards: their layouts open the COCO loader on native-format files.

No sample of these datasets is in ../shared/data, so each test writes a small dataset in the
card's documented layout (COCO JSON + image folder) under a temporary data root and opens it
through the card, as ``sambench run --dataset NAME`` would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cards import builtin_cards
from sambench.data.coco import CocoDataset, MultiCocoDataset

SQUARE = [[2, 2, 8, 2, 8, 8, 2, 8]]


def write_coco(json_path: Path, image_dir: Path, ids: list[int], file_prefix: str = "") -> None:
    image_dir.mkdir(parents=True, exist_ok=True)
    images = []
    for image_id in ids:
        Image.new("RGB", (12, 10), (image_id, 0, 0)).save(image_dir / f"{image_id}.png")
        images.append({"id": image_id, "file_name": f"{file_prefix}{image_id}.png",
                       "height": 10, "width": 12})  # fmt: skip
    annotations = [
        {"id": image_id * 10, "image_id": image_id, "category_id": 1, "segmentation": SQUARE,
         "bbox": [2, 2, 6, 6], "iscrowd": 0}
        for image_id in ids
    ]  # fmt: skip
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"images": images, "annotations": annotations,
                                     "categories": [{"id": 1, "name": "log"}]}))  # fmt: skip


def card(name: str) -> Any:
    return next(c for c in builtin_cards() if c.name == name)


@pytest.mark.parametrize("name", ["timberseg", "zerowaste-f", "ndispark", "pidray", "trashcan"])
def test_single_file_cards_open_their_layout(tmp_path: Path, name: str) -> None:
    layout = card(name).layout
    root = tmp_path / name
    prefix = "some/dir/" if name == "timberseg" else ""  # TimberSeg: file_name with a prefix
    write_coco(root / layout["annotations"], root / layout["images"], [3, 1], prefix)
    dataset = open_dataset(name, tmp_path)
    assert isinstance(dataset, CocoDataset)
    samples = list(dataset.samples())
    assert [s.image_id for s in samples] == ["1", "3"]
    assert samples[1].load_image()[0, 0, 0] == 3
    assert samples[0].objects[0].area == 36
    assert dataset.verify().images == 2
    assert dataset.describe()["subsample"]["source"] == "all"


def test_plittersdorf_reads_three_files_with_namespaced_ids(tmp_path: Path) -> None:
    layout = card("plittersdorf").layout
    root = tmp_path / "plittersdorf"
    images = root / layout["images"]
    write_coco(root / layout["annotations.train"], images, [1, 2])
    write_coco(root / layout["annotations.val"], images, [1])  # the same id in another file
    write_coco(root / layout["annotations.test"], images, [5])
    dataset = open_dataset("plittersdorf", tmp_path)
    assert isinstance(dataset, MultiCocoDataset)
    samples = list(dataset.samples())
    assert [s.image_id for s in samples] == ["test/5", "train/1", "train/2", "val/1"]
    assert [o.object_id for s in samples for o in s.objects] == [
        "test/50", "train/10", "train/20", "val/10"
    ]  # fmt: skip
    assert samples[3].objects[0].attributes == {"part": "val"}
    np.testing.assert_array_equal(samples[1].load_image(), samples[3].load_image())
    report = dataset.verify()
    assert (report.images, report.masks) == (4, 4)
    assert sorted(dataset.describe()["annotation_sha256"]) == sorted(
        card("plittersdorf").annotation_sha256
    )
