"""The BSDS500 loader on the real BSR layout (../shared/data/bsds500) and on written .mat files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from sambench.data import open_dataset
from sambench.data.bsds500 import Bsds500Dataset, load_boundaries, load_groundtruth
from sambench.errors import DataError, MissingFileError
from tests.conftest import shared_data_root

DATA = "BSR/BSDS500/data"


@pytest.fixture(scope="module")
def bsds_root() -> Path:
    root = shared_data_root()
    if root is None or not (root / "bsds500" / DATA).is_dir():
        pytest.skip("real BSDS500 sample not available")
    return root / "bsds500"


@pytest.fixture(scope="module")
def test_split(bsds_root: Path) -> Bsds500Dataset:
    return Bsds500Dataset("bsds500", bsds_root, f"{DATA}/images/test", f"{DATA}/groundTruth/test")


def test_index_and_verify_real(test_split: Bsds500Dataset) -> None:
    ids = [entry.image_id for entry in test_split.index()]
    assert len(ids) == 200 and ids == sorted(ids, key=int)
    report = test_split.verify()
    assert report.images == 200 and report.masks is None
    val = Bsds500Dataset(
        "bsds500", test_split.root, f"{DATA}/images/val", f"{DATA}/groundTruth/val"
    )
    assert val.verify().images == 100


def test_every_segment_of_every_annotator_real(test_split: Bsds500Dataset) -> None:
    sample = test_split.load_sample("100007")
    assert sample is not None
    pairs = load_groundtruth(test_split.root / DATA / "groundTruth/test/100007.mat")
    assert len(pairs) == sample.metadata["annotators"] == 5
    assert (sample.height, sample.width) == pairs[0][0].shape == (321, 481)
    expected = sum(len(np.unique(segmentation)) for segmentation, _ in pairs)
    assert len(sample.objects) == expected == 52
    for annotator, (segmentation, _) in enumerate(pairs, start=1):
        mine = [o for o in sample.objects if o.attributes["annotator"] == annotator]
        # one annotator's regions partition the image
        assert sum(o.area for o in mine) == segmentation.size
        for obj in mine[:3]:
            label = obj.attributes["segment"]
            assert obj.object_id == f"100007/{annotator}/{label}"
            np.testing.assert_array_equal(obj.dense_mask(), segmentation == label)
            assert obj.category is None and not obj.iscrowd
    image = sample.load_image()
    assert image.shape == (321, 481, 3) and image.dtype == np.uint8


def test_boundaries_through_metadata_real(test_split: Bsds500Dataset) -> None:
    sample = test_split.load_sample("100039")
    assert sample is not None
    path = Path(sample.metadata["groundtruth_mat"])
    assert path.is_file() and sample.metadata["groundtruth_file"] == (
        f"{DATA}/groundTruth/test/100039.mat"
    )
    boundaries = load_boundaries(path)
    assert len(boundaries) == sample.metadata["annotators"]
    for boundary in boundaries:
        assert boundary.dtype == bool and boundary.shape == (sample.height, sample.width)
        assert 0 < boundary.sum() < boundary.size // 4


def test_annotator_selection_and_card(bsds_root: Path) -> None:
    first = Bsds500Dataset(
        "bsds500", bsds_root, f"{DATA}/images/test", f"{DATA}/groundTruth/test", annotators=[1]
    )
    sample = first.load_sample("100007")
    assert sample is not None and {o.attributes["annotator"] for o in sample.objects} == {1}
    assert len(sample.objects) == 5
    dataset = open_dataset("bsds500", bsds_root.parent)
    assert isinstance(dataset, Bsds500Dataset) and dataset.subsample is None
    assert list(dataset.describe()["annotation_sha256"]) == [f"{DATA}/groundTruth/test/*.mat"]


# -- written .mat files -------------------------------------------------------------------------


def _write_split(root: Path, masks_by_image: dict[str, list[np.ndarray]]) -> Bsds500Dataset:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "gt").mkdir(parents=True, exist_ok=True)
    from PIL import Image

    for image_id, segmentations in masks_by_image.items():
        height, width = segmentations[0].shape
        Image.new("RGB", (width, height)).save(root / "images" / f"{image_id}.jpg")
        cells = np.empty((1, len(segmentations)), dtype=object)
        for k, segmentation in enumerate(segmentations):
            edges = np.zeros_like(segmentation, dtype=np.uint8)
            edges[:, 1:] |= (segmentation[:, 1:] != segmentation[:, :-1]).astype(np.uint8)
            cells[0, k] = {"Segmentation": segmentation.astype(np.uint16), "Boundaries": edges}
        scipy.io.savemat(root / "gt" / f"{image_id}.mat", {"groundTruth": cells})
    return Bsds500Dataset("tiny", root, "images", "gt")


def test_native_fixture_round_trip(tmp_path: Path) -> None:
    a = np.ones((6, 8), dtype=np.uint16)
    a[:, 4:] = 2
    b = np.ones((6, 8), dtype=np.uint16)
    b[3:, :] = 3
    dataset = _write_split(tmp_path, {"12": [a, b], "3": [a]})
    assert [entry.image_id for entry in dataset.index()] == ["3", "12"]
    samples = list(dataset.samples())
    assert [s.image_id for s in samples] == ["3", "12"]
    objects = samples[1].objects
    assert [o.object_id for o in objects] == ["12/1/1", "12/1/2", "12/2/1", "12/2/3"]
    np.testing.assert_array_equal(objects[3].dense_mask(), b == 3)
    assert objects[3].box == (0.0, 3.0, 8.0, 3.0)
    assert [len(x) for x in load_boundaries(tmp_path / "gt" / "12.mat")] == [6, 6]


def test_malformed_and_missing_files(tmp_path: Path) -> None:
    a = np.ones((4, 4), dtype=np.uint16)
    dataset = _write_split(tmp_path, {"1": [a], "2": [a]})
    (tmp_path / "gt" / "1.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match=r"gt/1\.mat: cannot read MATLAB file"):
        dataset.load_sample("1")
    scipy.io.savemat(tmp_path / "gt" / "1.mat", {"other": np.zeros(3)})
    with pytest.raises(DataError, match=r"gt/1\.mat: no 'groundTruth' cell array"):
        dataset.load_sample("1")
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = {"Segmentation": a, "Boundaries": np.zeros((3, 4), dtype=np.uint8)}
    scipy.io.savemat(tmp_path / "gt" / "1.mat", {"groundTruth": cells})
    with pytest.raises(DataError, match=r"annotator 1: 'Boundaries' and 'Segmentation' differ"):
        dataset.load_sample("1")
    (tmp_path / "gt" / "2.mat").unlink()
    with pytest.raises(MissingFileError, match=r"ground-truth file .*gt/2\.mat .* not found"):
        dataset.verify()
    shutil.rmtree(tmp_path / "images")
    fresh = Bsds500Dataset("tiny", tmp_path, "images", "gt", download_hint="Get BSR.")
    with pytest.raises(MissingFileError, match=r"image folder .*images not found\. Get BSR\."):
        fresh.index()
