"""Prepared Arrow caches (Hugging Face ``datasets``): written from the real COCO and BSDS500
samples, read back equal to the native conversion, keyed by the annotation checksums."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from sambench.cli import main
from sambench.data import coco as coco_module
from sambench.data import open_dataset
from sambench.data.base import IndexedDataset
from sambench.data.bsds500 import Bsds500Dataset
from sambench.data.coco import CocoDataset
from sambench.data.prepare import CACHE_DIR_ENV, MARKER, open_prepared, prepare
from sambench.data.subsample import SubsampleRule
from sambench.errors import SambenchError
from sambench.samples import ImageSample
from tests.conftest import shared_data_root
from tests.test_subsample import _coco_fixture

_hf = pytest.importorskip("datasets")
if not hasattr(_hf, "load_from_disk"):  # the repository's datasets/ card folder, not the library
    pytest.skip("Hugging Face datasets is not installed", allow_module_level=True)

COCO_JSON = "annotations/instances_val2017.json"


@pytest.fixture(scope="module")
def shared() -> Path:
    root = shared_data_root()
    if root is None or not (root / "coco" / COCO_JSON).is_file():
        pytest.skip("real COCO sample not available")
    return root


def same(a: list[ImageSample], b: list[ImageSample]) -> None:
    assert [s.image_id for s in a] == [s.image_id for s in b]
    for x, y in zip(a, b, strict=True):
        assert (x.file_name, x.height, x.width, x.dataset) == (
            y.file_name,
            y.height,
            y.width,
            y.dataset,
        )
        assert x.objects == y.objects and dict(x.metadata) == dict(y.metadata)


def test_coco_cache_equals_native_and_skips_the_json(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    native = CocoDataset("coco", shared / "coco", "val2017", COCO_JSON)
    report = prepare(native, tmp_path / "coco")
    assert (report.images, report.objects) == (80, 815)
    marker = json.loads((tmp_path / "coco" / MARKER).read_text())
    assert marker["key"]["annotation_sha256"] == native.annotation_sha256()

    def no_json(path: Path) -> Any:
        raise AssertionError("the native JSON was parsed although the cache is valid")

    cached = CocoDataset("coco", shared / "coco", "val2017", COCO_JSON, cache_dir=tmp_path / "coco")
    monkeypatch.setattr(coco_module, "_read_index", no_json)
    from_cache = list(cached.samples())
    monkeypatch.undo()
    same(from_cache, list(native.samples()))
    assert from_cache[0].load_image().shape == (from_cache[0].height, from_cache[0].width, 3)
    assert cached.describe()["prepared_cache"] == str(tmp_path / "coco")


def test_changed_annotations_fall_back_to_native(shared: Path, tmp_path: Path) -> None:
    root = tmp_path / "data" / "coco"
    (root / "annotations").mkdir(parents=True)
    shutil.copy(shared / "coco" / COCO_JSON, root / COCO_JSON)
    (root / "val2017").symlink_to(shared / "coco" / "val2017", target_is_directory=True)
    prepare(CocoDataset("coco", root, "val2017", COCO_JSON), tmp_path / "cache")
    with (root / COCO_JSON).open("a") as handle:
        handle.write("\n")  # same content, another checksum
    dataset = CocoDataset("coco", root, "val2017", COCO_JSON, cache_dir=tmp_path / "cache")
    assert dataset.prepared() is None
    assert len(list(dataset.samples())) == 80
    other_options = CocoDataset(
        "coco", root, "val2017", COCO_JSON, cache_dir=tmp_path / "cache", image_file_name="basename"
    )
    assert open_prepared(other_options, tmp_path / "cache") is None


def test_bsds_metadata_paths_are_restored(shared: Path, tmp_path: Path) -> None:
    if not (shared / "bsds500").is_dir():
        pytest.skip("real BSDS500 sample not available")
    source = shared / "bsds500" / "BSR/BSDS500/data"
    root = tmp_path / "bsds500"
    for image_id in ("100007", "100039"):
        for sub, ext in (("images/test", "jpg"), ("groundTruth/test", "mat")):
            (root / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(source / sub / f"{image_id}.{ext}", root / sub)
    native = Bsds500Dataset("bsds500", root, "images/test", "groundTruth/test")
    prepare(native, tmp_path / "cache")
    moved = tmp_path / "moved"
    shutil.move(root, moved)  # the cache stores no absolute path
    cached = Bsds500Dataset(
        "bsds500", moved, "images/test", "groundTruth/test", cache_dir=tmp_path / "cache"
    )
    assert cached.prepared() is not None
    samples = list(cached.samples())
    assert samples[0].metadata["groundtruth_mat"] == str(moved / "groundTruth/test/100007.mat")
    same(samples, list(Bsds500Dataset("bsds500", moved, "images/test", "groundTruth/test")
                      .samples()))  # fmt: skip


def test_subsample_from_cache_equals_native(tmp_path: Path) -> None:
    _coco_fixture(tmp_path / "data", images=30, per_image=4)
    from PIL import Image

    for image_id in range(1, 31):
        Image.new("RGB", (40, 10)).save(tmp_path / "data" / "images" / f"{image_id}.png")
    rule = SubsampleRule(threshold=100, budget=50, seed=7)

    def open_(cache: Path | None) -> IndexedDataset:
        return CocoDataset(
            "demo", tmp_path / "data", "images", "ann.json", subsample=rule, cache_dir=cache
        )

    prepare(open_(None), tmp_path / "cache")
    cached, native = open_(tmp_path / "cache"), open_(None)
    assert cached.prepared() is not None
    assert cached.selection() == native.selection()
    same(list(cached.samples()), list(native.samples()))


def test_cli_prepare_and_env(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    code = main(
        ["datasets", "prepare", "coco", "--data-root", str(shared), "--cache-dir", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "coco: prepared 80 images, 815 objects" in out and f"{CACHE_DIR_ENV}=" in out
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    dataset = open_dataset("coco", shared)
    assert isinstance(dataset, IndexedDataset) and dataset.prepared() is not None


def test_missing_library_is_a_clear_error(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(SambenchError, match=r"pip install 'sambench\[prepare\]'"):
        prepare(CocoDataset("coco", shared / "coco", "val2017", COCO_JSON), tmp_path / "c")
