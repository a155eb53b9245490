"""Per-object attributes from a CSV, for any dataset: the card field ``attributes`` and
:func:`sambench.data.attributes.with_attributes` (a skin-tone-like table joined onto COCO)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sambench.data.attributes import AttributedDataset, AttributeTable, with_attributes
from sambench.data.cards import load_card
from sambench.data.coco import CocoDataset
from sambench.errors import ConfigError, DataError, MissingFileError

CARD = """\
name: demo
title: Demo
abbreviation: DM
format: coco
source: [https://example.org/]
license: CC0
citation: null
split: val
layout: {images: images, annotations: instances.json}
paper_counts: null
conversion: one mask per annotation
download: copy it
annotation_sha256: {instances.json: null, skin.csv: null}
subsample: {threshold: 15000, budget: 10000, seed: 0}
attributes:
  - file: skin.csv
    object_column: annotation
    columns: {fitzpatrick: perceived_skin_tone, note: note}
    types: {perceived_skin_tone: int}
"""


def write_coco(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    for image_id in (1, 2):
        Image.new("RGB", (10, 10)).save(root / "images" / f"{image_id}.png")
        images.append({"id": image_id, "file_name": f"{image_id}.png", "height": 10, "width": 10})
        for k in range(2):
            annotations.append(
                {"id": image_id * 10 + k, "image_id": image_id, "category_id": 1,
                 "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]], "iscrowd": 0}
            )  # fmt: skip
    (root / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "p"}]}
    ))  # fmt: skip


def test_card_attributes_join_by_object_id(tmp_path: Path) -> None:
    write_coco(tmp_path / "demo")
    (tmp_path / "demo" / "skin.csv").write_text(
        "annotation,fitzpatrick,note\n10,3,x\n21,6,\n99,1,not in this split\n"
    )
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "demo.yaml").write_text(CARD)
    card = load_card(tmp_path / "cards" / "demo.yaml")
    dataset = card.open(tmp_path)
    assert isinstance(dataset, AttributedDataset) and isinstance(dataset.inner, CocoDataset)
    found = {o.object_id: dict(o.attributes) for s in dataset.samples() for o in s.objects}
    assert found == {
        "10": {"perceived_skin_tone": 3, "note": "x"}, "11": {},
        "20": {}, "21": {"perceived_skin_tone": 6},  # an empty cell sets nothing
    }  # fmt: skip
    described = dataset.describe()
    assert sorted(described["annotation_sha256"]) == ["instances.json", "skin.csv"]
    assert described["attributes"][0]["columns"] == {"fitzpatrick": "perceived_skin_tone",
                                                     "note": "note"}  # fmt: skip
    assert described["subsample"]["source"] == "all"
    assert "1 attribute table(s) read" in dataset.verify().checked
    assert dataset.loader_options()["options"] == dataset.inner.loader_options()


def test_image_keys_and_per_image_object_numbers(tmp_path: Path) -> None:
    write_coco(tmp_path / "demo")
    root = tmp_path / "demo"
    (root / "by_image.csv").write_text("image,group\n1,a\n2,b\n")
    (root / "pairs.csv").write_text("image,object,visible\n2,20,yes\n2,21,no\n")
    inner = CocoDataset("demo", root, "images", "instances.json")
    dataset = with_attributes(inner, [
        AttributeTable("by_image.csv", {"group": "group"}, image_column="image"),
        AttributeTable("pairs.csv", {"visible": "visible"}, object_column="object",
                       image_column="image", types={"visible": "bool"}),
    ])  # fmt: skip
    found = {o.object_id: dict(o.attributes) for s in dataset.samples() for o in s.objects}
    assert found["11"] == {"group": "a"}
    assert found["20"] == {"group": "b", "visible": True}
    assert found["21"] == {"group": "b", "visible": False}


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    write_coco(tmp_path / "demo")
    root = tmp_path / "demo"
    inner = CocoDataset("demo", root, "images", "instances.json")
    table = AttributeTable("skin.csv", {"fitzpatrick": "tone"}, object_column="annotation",
                           types={"tone": "int"})  # fmt: skip
    with pytest.raises(MissingFileError, match=r"attribute table .*skin\.csv not found"):
        list(with_attributes(inner, [table]).samples())
    (root / "skin.csv").write_text("annotation,fitz\n10,3\n")
    with pytest.raises(
        DataError, match=r"skin\.csv: attribute table lacks column\(s\) fitzpatrick"
    ):
        list(with_attributes(inner, [table]).samples())
    (root / "skin.csv").write_text("annotation,fitzpatrick\n10,3\n10,4\n")
    with pytest.raises(DataError, match=r"skin\.csv:3: key '10' repeats line 2"):
        list(with_attributes(inner, [table]).samples())
    (root / "skin.csv").write_text("annotation,fitzpatrick\n10,dark\n")
    with pytest.raises(DataError, match=r"skin\.csv:2 column fitzpatrick: 'dark' is not a valid"):
        list(with_attributes(inner, [table]).samples())
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "demo.yaml").write_text(
        CARD.replace("    object_column: annotation\n", "")
    )
    with pytest.raises(ConfigError, match=r"'attributes\[0\]': an attribute table needs"):
        load_card(tmp_path / "cards" / "demo.yaml")
