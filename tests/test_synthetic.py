"""The synthetic COCO generator: deterministic, idempotent, atomic, and hard in the right ways."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from sambench.data import open_dataset
from sambench.data.coco import CocoDataset
from sambench.data.synthetic import (
    ANNOTATION_FILE,
    HEIGHT,
    IMAGES_DIR,
    MIN_AREA,
    STAMP_FILE,
    WIDTH,
    generate_synthetic,
    is_up_to_date,
    png_bytes,
)
from sambench.errors import DataError
from sambench.samples import ImageSample, ObjectAnnotation


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    start = time.perf_counter()
    generate_synthetic(root)
    assert time.perf_counter() - start < 2.0
    return root


@pytest.fixture(scope="module")
def samples(generated: Path) -> list[ImageSample]:
    return list(CocoDataset("synthetic", generated, IMAGES_DIR, ANNOTATION_FILE).samples())


@pytest.fixture(scope="module")
def coco_json(generated: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((generated / ANNOTATION_FILE).read_text())
    return data


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_byte_identical_across_runs(generated: Path, tmp_path: Path) -> None:
    again = generate_synthetic(tmp_path / "again")
    first, second = tree(generated), tree(again)
    assert sorted(first) == sorted(second)
    assert len([name for name in first if name.startswith(f"{IMAGES_DIR}/")]) == 12
    assert first == second
    assert not [p for p in tmp_path.iterdir() if p.name != "again"]  # no staging left behind


def test_other_parameters_give_other_data(generated: Path, tmp_path: Path) -> None:
    other = generate_synthetic(tmp_path / "other", num_images=3, seed=1)
    assert len(list((other / IMAGES_DIR).iterdir())) == 3
    assert tree(other)[f"{IMAGES_DIR}/000001.png"] != tree(generated)[f"{IMAGES_DIR}/000001.png"]
    # image i depends on (seed, i) only
    prefix = generate_synthetic(tmp_path / "prefix", num_images=2)
    assert tree(prefix)[f"{IMAGES_DIR}/000002.png"] == tree(generated)[f"{IMAGES_DIR}/000002.png"]


def test_idempotent_and_regenerates_stale_copies(tmp_path: Path) -> None:
    root = tmp_path / "syn"
    generate_synthetic(root, num_images=2)
    stamp = root / STAMP_FILE
    before = (stamp.stat().st_ino, stamp.stat().st_mtime_ns)
    assert generate_synthetic(root, num_images=2) == root
    assert (stamp.stat().st_ino, stamp.stat().st_mtime_ns) == before  # nothing rewritten
    assert is_up_to_date(root, num_images=2) and not is_up_to_date(root, num_images=3)
    generate_synthetic(root, num_images=3)  # different parameters: replaced atomically
    assert len(list((root / IMAGES_DIR).iterdir())) == 3
    assert json.loads(stamp.read_text())["num_images"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]


def test_never_overwrites_foreign_folders(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="refusing to overwrite"):
        generate_synthetic(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="num_images"):
        generate_synthetic(tmp_path / "x", num_images=0)


def test_png_writer_round_trips() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    decoded = np.array(Image.open(io.BytesIO(png_bytes(pixels))))
    np.testing.assert_array_equal(decoded, pixels)


def test_loads_through_the_coco_loader(samples: list[ImageSample]) -> None:
    assert [sample.image_id for sample in samples] == [str(i) for i in range(1, 13)]
    for sample in samples:
        assert (sample.height, sample.width) == (HEIGHT, WIDTH)
        image = sample.load_image()
        assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
        non_crowd = [obj for obj in sample.objects if not obj.iscrowd]
        assert 5 <= len(non_crowd) <= 9
        for obj in sample.objects:
            assert obj.area >= MIN_AREA
            assert set(obj.attributes) == {
                "level", "parent_id", "shape", "colour", "occluded", "thin", "group"
            }  # fmt: skip
            assert obj.attributes["group"] in ("A", "B")


def test_textured_backgrounds_differ(samples: list[ImageSample]) -> None:
    backgrounds = []
    for sample in samples:
        image = sample.load_image().astype(np.int64)
        covered = np.zeros((HEIGHT, WIDTH), dtype=bool)
        for obj in sample.objects:
            covered |= obj.dense_mask()
        background = image[~covered]
        assert background.std(axis=0).min() > 4  # textured, not flat
        backgrounds.append(background.mean(axis=0))
    assert len({tuple(np.round(mean)) for mean in backgrounds}) == len(samples)


def by_id(sample: ImageSample) -> dict[int, ObjectAnnotation]:
    return {int(obj.object_id): obj for obj in sample.objects}


def test_nested_parts(samples: list[ImageSample]) -> None:
    subparts = 0
    for sample in samples:
        objects = by_id(sample)
        for obj in sample.objects:
            level, parent_id = obj.attributes["level"], obj.attributes["parent_id"]
            if level == "whole":
                assert parent_id is None
                continue
            parent = objects[parent_id]
            assert parent.attributes["level"] == {"part": "whole", "subpart": "part"}[level]
            # visible masks nest exactly: occluders of the child also hide the parent there
            assert not (obj.dense_mask() & ~parent.dense_mask()).any()
            if level == "subpart":
                subparts += 1
                whole = objects[parent.attributes["parent_id"]]
                assert not (obj.dense_mask() & ~whole.dense_mask()).any()
    assert subparts >= 5


def test_occlusions(samples: list[ImageSample]) -> None:
    occluded = [obj for s in samples for obj in s.objects if obj.attributes["occluded"]]
    assert len(occluded) >= 5
    pieces = [ndimage.label(obj.dense_mask())[1] for obj in occluded if not obj.iscrowd]
    assert max(pieces) >= 2  # some occluded object is cut into several pieces
    for sample in samples:  # distinct top-level objects never claim the same pixel
        wholes = [obj for obj in sample.objects if obj.attributes["level"] == "whole"]
        total = sum(obj.area for obj in wholes)
        union = np.zeros((HEIGHT, WIDTH), dtype=bool)
        for obj in wholes:
            union |= obj.dense_mask()
        assert int(union.sum()) == total


def test_thin_structures(samples: list[ImageSample]) -> None:
    thin = [obj for s in samples for obj in s.objects if obj.attributes["thin"]]
    assert len(thin) >= len(samples)
    for obj in thin:
        mask = np.pad(obj.dense_mask(), 1)
        assert ndimage.distance_transform_edt(mask).max() <= 2.5  # at most ~4 px wide
        assert max(obj.box[2], obj.box[3]) >= 40  # long


def test_both_coco_segmentation_paths(coco_json: dict[str, Any]) -> None:
    kinds = set()
    for ann in coco_json["annotations"]:
        segmentation = ann["segmentation"]
        if isinstance(segmentation, list):
            kinds.add("polygon")
        elif isinstance(segmentation["counts"], str):
            kinds.add("rle")
        else:
            kinds.add("uncompressed")
            assert ann["iscrowd"] == 1
    assert kinds == {"polygon", "rle", "uncompressed"}
    assert [image["id"] for image in coco_json["images"]] == list(range(1, 13))


def test_registered_synthetic_dataset(tmp_path: Path, generated: Path) -> None:
    dataset = open_dataset("synthetic", tmp_path)
    assert dataset.root == tmp_path / "synthetic"
    assert tree(tmp_path / "synthetic") == tree(generated)
    assert sum(1 for _ in dataset.samples()) == 12
