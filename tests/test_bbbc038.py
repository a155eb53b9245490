"""The BBBC038v1 loader on real stage1_train folders (../shared/data/bbbc038) and on made ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.bbbc038 import Bbbc038Dataset
from sambench.errors import DataError, MissingFileError
from tests.conftest import shared_data_root


@pytest.fixture(scope="module")
def bbbc() -> Bbbc038Dataset:
    root = shared_data_root()
    if root is None or not (root / "bbbc038" / "stage1_train").is_dir():
        pytest.skip("real BBBC038v1 sample not available")
    return Bbbc038Dataset("bbbc038", root / "bbbc038", "stage1_train")


def test_index_counts_mask_files_real(bbbc: Bbbc038Dataset) -> None:
    entries = bbbc.index()
    assert len(entries) == 40
    assert sum(entry.masks or 0 for entry in entries) == 1669
    stage = bbbc.root / "stage1_train"
    assert [e.image_id for e in entries] == sorted(p.name for p in stage.iterdir())
    report = bbbc.verify()
    assert (report.images, report.masks) == (40, 1669)


def test_one_object_per_mask_png_real(bbbc: Bbbc038Dataset) -> None:
    entry = min(bbbc.index(), key=lambda e: e.masks or 0)
    sample = bbbc.load_sample(entry.image_id)
    assert sample is not None and len(sample.objects) == entry.masks
    folder = bbbc.root / "stage1_train" / entry.image_id
    union = np.zeros((sample.height, sample.width), dtype=bool)
    for obj, path in zip(sample.objects, sorted((folder / "masks").glob("*.png")), strict=True):
        assert obj.object_id == f"{entry.image_id}/{path.stem}"
        np.testing.assert_array_equal(obj.dense_mask(), np.asarray(Image.open(path)) > 0)
        assert obj.category is None and obj.area > 0
        union |= obj.dense_mask()
    assert union.sum() == sum(obj.area for obj in sample.objects)  # nuclei do not overlap
    rgba = np.asarray(Image.open(folder / "images" / f"{entry.image_id}.png"))
    assert rgba.shape[2] == 4  # the official images are RGBA ...
    image = sample.load_image()  # ... and the alpha channel is dropped
    np.testing.assert_array_equal(image, rgba[..., :3])


def test_every_image_real(bbbc: Bbbc038Dataset) -> None:
    samples = list(bbbc.samples())
    assert len(samples) == 40
    assert sum(len(s.objects) for s in samples) == 1669
    assert {s.file_name.split("/")[-2] for s in samples} == {"images"}


def test_card(bbbc: Bbbc038Dataset) -> None:
    dataset = open_dataset("bbbc038", bbbc.root.parent)
    assert isinstance(dataset, Bbbc038Dataset)
    assert dataset.subsample is not None and dataset.subsample.budget == 10000
    described = dataset.describe()
    assert list(described["annotation_sha256"]) == ["stage1_train/*/masks/*.png"]
    assert described["subsample"]["source"] == "all"  # 1669 masks: below the threshold


# -- made folders -------------------------------------------------------------------------------


def _image(root: Path, image_id: str, masks: list[np.ndarray], size: tuple[int, int]) -> None:
    folder = root / "stage" / image_id
    (folder / "images").mkdir(parents=True)
    Image.new("RGBA", size, (10, 20, 30, 255)).save(folder / "images" / f"{image_id}.png")
    if masks:
        (folder / "masks").mkdir()
    for k, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "masks" / f"m{k}.png")


def test_made_folders(tmp_path: Path) -> None:
    nucleus = np.zeros((5, 6), dtype=bool)
    nucleus[1:3, 2:5] = True
    _image(tmp_path, "b", [nucleus, np.zeros((5, 6), dtype=bool)], (6, 5))  # one empty mask
    _image(tmp_path, "a", [nucleus], (6, 5))
    _image(tmp_path, "c", [], (6, 5))  # no masks/: not a target image
    dataset = Bbbc038Dataset("tiny", tmp_path, "stage")
    assert [(e.image_id, e.masks) for e in dataset.index()] == [("a", 1), ("b", 2)]
    samples = list(dataset.samples())
    assert [len(s.objects) for s in samples] == [1, 1]  # the empty mask is dropped
    assert samples[1].objects[0].box == (2.0, 1.0, 3.0, 2.0)
    np.testing.assert_array_equal(samples[0].load_image()[0, 0], [10, 20, 30])


def test_errors_name_the_file(tmp_path: Path) -> None:
    _image(tmp_path, "a", [np.ones((4, 4), dtype=bool)], (6, 5))
    dataset = Bbbc038Dataset("tiny", tmp_path, "stage")
    with pytest.raises(DataError, match=r"mask .*a/masks/m0\.png is 4x4 but its image is 6x5"):
        dataset.load_sample("a")
    (tmp_path / "stage" / "a" / "masks" / "m0.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"cannot read mask .*m0\.png"):
        dataset.load_sample("a")
    (tmp_path / "stage" / "a" / "images" / "a.png").unlink()
    with pytest.raises(MissingFileError, match=r"image file .*a/images/a\.png not found"):
        dataset.verify()
    with pytest.raises(MissingFileError, match=r"image folder .*nowhere not found"):
        Bbbc038Dataset("tiny", tmp_path, "nowhere").index()
