"""Hypersim through its card, on native-format files written here (needs h5py): per-scene
``scene_<cam>_geometry_hdf5/frame.<i>.semantic_instance.hdf5`` (int16, -1 = none), the
NYU40 ``semantic.hdf5`` and the tonemapped preview JPG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.hypersim import HypersimDataset
from sambench.errors import DataError, MissingFileError

h5py = pytest.importorskip("h5py")


def write_frame(root: Path, scene: str, camera: str, frame: str, instances: np.ndarray,
                semantic: np.ndarray | None) -> None:  # fmt: skip
    geometry = root / scene / "images" / f"scene_{camera}_geometry_hdf5"
    preview = root / scene / "images" / f"scene_{camera}_final_preview"
    geometry.mkdir(parents=True, exist_ok=True)
    preview.mkdir(parents=True, exist_ok=True)
    with h5py.File(geometry / f"frame.{frame}.semantic_instance.hdf5", "w") as handle:
        handle.create_dataset("dataset", data=instances.astype(np.int16), compression="gzip")
    if semantic is not None:
        with h5py.File(geometry / f"frame.{frame}.semantic.hdf5", "w") as handle:
            handle.create_dataset("dataset", data=semantic.astype(np.int16))
    height, width = instances.shape
    Image.new("RGB", (width, height), (120, 110, 100)).save(preview / f"frame.{frame}.tonemap.jpg")


def test_instances_and_nyu40_classes(tmp_path: Path) -> None:
    instances = np.full((6, 8), -1, dtype=np.int16)
    instances[0:2, :] = 0  # a wall: an instance too
    instances[3:6, 1:4] = 12
    instances[3:5, 5:8] = 40
    semantic = np.zeros((6, 8), dtype=np.int16)
    semantic[0:2, :] = 1  # wall
    semantic[3:6, 1:4] = 5  # chair
    semantic[3, 1] = 7  # a stray table pixel: the majority wins
    root = tmp_path / "hypersim"
    write_frame(root, "ai_001_001", "cam_00", "0000", instances, semantic)
    write_frame(root, "ai_001_001", "cam_00", "0001", np.full((6, 8), -1), None)  # no instance
    write_frame(root, "ai_001_002", "cam_01", "0003", instances, None)
    dataset = open_dataset("hypersim", tmp_path)
    assert isinstance(dataset, HypersimDataset)
    assert [e.image_id for e in dataset.index()] == [
        "ai_001_001/cam_00/0000", "ai_001_001/cam_00/0001", "ai_001_002/cam_01/0003"
    ]  # fmt: skip
    assert dataset.mask_counts() == {
        "ai_001_001/cam_00/0000": 3, "ai_001_001/cam_00/0001": 0, "ai_001_002/cam_01/0003": 3
    }  # fmt: skip
    first, second = dataset.samples()
    assert [(o.object_id.rsplit("/", 1)[1], o.category, o.area) for o in first.objects] == [
        ("0", "wall", 16), ("12", "chair", 9), ("40", None, 6)
    ]  # fmt: skip
    assert all(o.category is None for o in second.objects)  # no semantic.hdf5
    assert first.file_name == "ai_001_001/images/scene_cam_00_final_preview/frame.0000.tonemap.jpg"
    assert dataset.verify().images == 3


def test_errors_name_paths(tmp_path: Path) -> None:
    root = tmp_path / "hypersim"
    root.mkdir()
    with pytest.raises(DataError, match=r"no ai_\*/images/scene_\*_geometry_hdf5/"):
        open_dataset("hypersim", tmp_path).index()
    write_frame(root, "ai_001_001", "cam_00", "0000", np.zeros((4, 4)), None)
    preview = root / "ai_001_001/images/scene_cam_00_final_preview/frame.0000.tonemap.jpg"
    preview.unlink()
    with pytest.raises(MissingFileError, match=r"tonemapped image .*frame\.0000\.tonemap\.jpg"):
        open_dataset("hypersim", tmp_path).verify()
    geometry = (
        root / "ai_001_001/images/scene_cam_00_geometry_hdf5/frame.0000.semantic_instance.hdf5"
    )
    with h5py.File(geometry, "w") as handle:
        handle.create_dataset("other", data=np.zeros((4, 4)))
    with pytest.raises(DataError, match=r"no HDF5 dataset named 'dataset' \(found: other\)"):
        open_dataset("hypersim", tmp_path).mask_counts()
