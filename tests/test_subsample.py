"""Seeded subsampling: the pure rule, frozen manifests, and subsampled datasets (real and made)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sambench.data.bbbc038 import Bbbc038Dataset
from sambench.data.coco import CocoDataset
from sambench.data.subsample import (
    SubsampleRule,
    ids_digest,
    parse_rule,
    read_frozen,
    seeded_order,
    select,
    subsample,
    write_frozen,
)
from sambench.errors import ConfigError, DataError
from tests.conftest import shared_data_root

IDS = [f"{i:04d}" for i in range(200)]
COUNTS = [(i * 7) % 23 + 1 for i in range(200)]  # 1..23 masks per image, 2400 in all


def test_same_seed_same_list_regardless_of_input_order() -> None:
    first = subsample(IDS, COUNTS, seed=3, budget=500, threshold=1000)
    again = subsample(IDS, COUNTS, seed=3, budget=500, threshold=1000)
    shuffled = list(zip(IDS, COUNTS, strict=True))[::-1]
    reordered = subsample(
        [i for i, _ in shuffled], [c for _, c in shuffled], seed=3, budget=500, threshold=1000
    )
    assert first == again == reordered
    assert subsample(IDS, COUNTS, seed=4, budget=500, threshold=1000) != first


def test_budget_is_reached_by_the_last_image_only() -> None:
    counts = dict(zip(IDS, COUNTS, strict=True))
    chosen = subsample(IDS, COUNTS, seed=0, budget=500, threshold=1000)
    taken = sum(counts[i] for i in chosen)
    assert taken >= 500
    assert taken - counts[chosen[-1]] < 500
    assert chosen == seeded_order(IDS, 0)[: len(chosen)]  # a prefix of the seeded order


def test_at_or_below_threshold_keeps_every_image() -> None:
    assert subsample(IDS, COUNTS, seed=0, budget=10, threshold=sum(COUNTS)) == sorted(IDS)
    assert subsample(["b", "a", "c"], [1, 0, 1], seed=0, budget=1, threshold=5) == ["b", "c"]


def test_pinned_draw() -> None:
    """The rule is defined by SHA-256 alone: these ids must never change across versions.

    The same order comes from the shell: ``for i in $(seq -f %04g 0 199); do printf
    "%s %s\\n" "$(printf 0:$i | sha256sum | cut -c1-64)" $i; done | LC_ALL=C sort``.
    """
    chosen = subsample(IDS, COUNTS, seed=0, budget=100, threshold=1000)
    assert chosen == ["0175", "0127", "0023", "0040", "0041", "0025", "0146", "0078", "0044",
                      "0038"]  # fmt: skip


def test_order_is_stable_when_images_are_added() -> None:
    order = seeded_order(IDS, 5)
    extended = seeded_order([*IDS, "new-a", "new-b"], 5)
    assert [i for i in extended if i in set(IDS)] == order


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="unique"):
        subsample(["a", "a"], [1, 1], seed=0)
    with pytest.raises(ValueError, match="length"):
        subsample(["a"], [1, 2], seed=0)
    with pytest.raises(ValueError, match="non-negative"):
        subsample(["a"], [-1], seed=0)


def test_select_and_frozen_manifest(tmp_path: Path) -> None:
    counts = dict(zip(IDS, COUNTS, strict=True))
    rule = SubsampleRule(threshold=1000, budget=300, seed=1, frozen=tmp_path / "frozen.json")
    drawn = select(rule, "demo", IDS, counts)
    assert drawn.source == "rule" and drawn.subsampled
    assert list(drawn.image_ids) == sorted(drawn.image_ids)  # the dataset's own order
    described = drawn.describe()
    assert described["image_ids"] == list(drawn.image_ids)
    assert described["image_ids_sha256"] == ids_digest(drawn.image_ids)
    assert described["masks"] == sum(counts[i] for i in drawn.image_ids) >= 300

    write_frozen(rule.frozen, "demo", drawn, {"ann.json": "0" * 64})  # type: ignore[arg-type]
    data = json.loads((tmp_path / "frozen.json").read_text())
    assert data["dataset"] == "demo" and data["rule"] == {"threshold": 1000, "budget": 300,
                                                          "seed": 1}  # fmt: skip
    # the frozen list overrides the rule (a different seed draws the same images)
    frozen = select(replace(rule, seed=99), "demo", IDS, counts)
    assert frozen.source == "frozen" and frozen.image_ids == drawn.image_ids
    # a copy without one of the frozen images is refused, naming it
    with pytest.raises(DataError, match=r"frozen\.json: frozen image '\d+'.*not in this copy"):
        select(rule, "demo", [i for i in IDS if i != drawn.image_ids[0]], counts)
    with pytest.raises(DataError, match="frozen for dataset 'demo', not 'other'"):
        read_frozen(tmp_path / "frozen.json", "other")
    data["image_ids"] = data["image_ids"][1:]
    (tmp_path / "frozen.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="does not match the listed image ids"):
        read_frozen(tmp_path / "frozen.json", "demo")


def test_parse_rule() -> None:
    assert parse_rule(None, "card", None) is None
    rule = parse_rule({"seed": 2, "frozen": "frozen/x.json"}, "card", Path("/cards"))
    assert rule == SubsampleRule(15000, 10000, 2, Path("/cards/frozen/x.json"))
    with pytest.raises(ConfigError, match=r"card: field 'subsample.budget' must be an integer"):
        parse_rule({"budget": "many"}, "card", None)
    with pytest.raises(ConfigError, match=r"unknown field\(s\) subsample.size"):
        parse_rule({"size": 3}, "card", None)


# -- subsampled datasets ------------------------------------------------------------------------


def _coco_fixture(root: Path, images: int, per_image: int) -> None:
    (root / "images").mkdir(parents=True)
    anns: list[dict[str, Any]] = []
    for image_id in range(1, images + 1):
        for k in range(per_image):
            x = 2 + 3 * k
            polygon = [x, 2, x + 2, 2, x + 2, 8, x, 8]
            anns.append(
                {"id": len(anns) + 1, "image_id": image_id, "category_id": 1,
                 "segmentation": [polygon], "iscrowd": 0}
            )  # fmt: skip
    data = {
        "images": [
            {"id": i, "file_name": f"{i}.png", "height": 10, "width": 40}
            for i in range(1, images + 1)
        ],
        "annotations": anns,
        "categories": [{"id": 1, "name": "bar"}],
    }
    (root / "ann.json").write_text(json.dumps(data))


def test_subsampled_coco_dataset_is_reproducible(tmp_path: Path) -> None:
    _coco_fixture(tmp_path, images=30, per_image=4)  # 120 masks
    rule = SubsampleRule(threshold=100, budget=50, seed=0)

    def open_() -> CocoDataset:
        return CocoDataset("demo", tmp_path, "images", "ann.json", subsample=rule)

    first = [s.image_id for s in open_().samples()]
    assert first == [s.image_id for s in open_().samples()]
    assert len(first) == 13  # 13 images x 4 masks = 52 >= 50
    assert first == sorted(first, key=int)  # evaluated in the dataset's order
    described = open_().describe()["subsample"]
    assert described["image_ids"] == first and described["total_masks"] == 120
    other = CocoDataset("demo", tmp_path, "images", "ann.json", subsample=replace(rule, seed=1))
    assert [s.image_id for s in other.samples()] != first
    # without a rule nothing is recorded and every image is evaluated
    plain = CocoDataset("demo", tmp_path, "images", "ann.json")
    assert "subsample" not in plain.describe() and len(list(plain.samples())) == 30


def test_subsample_real_bbbc038() -> None:
    root = shared_data_root()
    if root is None or not (root / "bbbc038" / "stage1_train").is_dir():
        pytest.skip("real BBBC038v1 sample not available")
    rule = SubsampleRule(threshold=1000, budget=500, seed=0)
    dataset = Bbbc038Dataset("bbbc038", root / "bbbc038", "stage1_train", subsample=rule)
    selection = dataset.selection()
    assert selection is not None and selection.total_masks == 1669
    again = Bbbc038Dataset("bbbc038", root / "bbbc038", "stage1_train", subsample=rule)
    assert again.selection() == selection
    assert 500 <= selection.masks < 500 + max(dataset.mask_counts().values())
    assert len(selection.image_ids) < 40
