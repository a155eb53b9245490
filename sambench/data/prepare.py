"""Prepared caches: a dataset converted once to a normalized Arrow dataset (Hugging Face
``datasets``), so repeated runs skip decoding native annotations.

``sambench datasets prepare NAME`` (:func:`prepare`) converts every image of a dataset with
its loader and writes, under the dataset's cache folder (``--cache-dir C`` →
``C/<name>``; default ``$SAMBENCH_DATA_CACHE/<name>``, else
``<data-root>/.sambench-cache/<name>``):

- ``arrow/``: the Arrow dataset (``datasets.Dataset.save_to_disk``), one row per image:
  ``image_id``, ``file_name``, ``image_path`` (relative to the dataset folder), ``height``,
  ``width``, ``metadata`` (JSON text) and ``objects``, a list of ``{object_id, counts`` (the
  mask's COCO compressed RLE counts at the image size), ``box`` ``[x, y, w, h]``, ``area``,
  ``category``, ``category_id``, ``iscrowd``, ``attributes`` (JSON text)``}``;
- ``sambench-prepared.json``: the cache key and the full image index (ids and native mask
  counts, so subsampling from the cache chooses exactly what it chooses from native files).

The key is the dataset name, the loader (card ``format``), its conversion version and
options, and the SHA-256 of every annotation file. A loader given a cache folder
(:class:`~sambench.data.base.IndexedDataset`) reads from the cache only when the key equals
the current one, so a changed annotation file, loader or option falls back to the native
files (and a new ``prepare`` replaces the stale cache). Images are never copied: rows point
at the native image files. ``datasets`` (with ``pyarrow``) is an optional dependency:
``pip install 'sambench[prepare]'``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sambench import __version__
from sambench.data.base import IndexEntry
from sambench.data.coco import ImageFile
from sambench.errors import DataError, SambenchError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from sambench.data.base import IndexedDataset

CACHE_FORMAT = 1
"""Version of the cache layout; part of the key."""

MARKER = "sambench-prepared.json"
"""The key file inside a cache folder."""

ARROW_DIR = "arrow"
"""The Arrow dataset folder inside a cache folder."""

CACHE_DIR_ENV = "SAMBENCH_DATA_CACHE"
"""Environment variable holding the default cache root (one sub-folder per dataset)."""

_CHUNK = 512  # images per in-memory Arrow chunk while writing


def default_cache_root(data_root: Path) -> Path:
    """``$SAMBENCH_DATA_CACHE`` if set, else ``<data-root>/.sambench-cache``."""
    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value) if value else Path(data_root) / ".sambench-cache"


def cache_key(dataset: IndexedDataset) -> dict[str, Any]:
    """What a cache must have been made from to be used for ``dataset``.

    Raises:
        DataError: An annotation file is missing or unreadable.
    """
    return {
        "cache_format": CACHE_FORMAT,
        "dataset": dataset.name,
        "format": dataset.format_name,
        "conversion_version": dataset.conversion_version,
        "options": json.loads(json.dumps(dataset.loader_options(), sort_keys=True)),
        "annotation_sha256": dataset.annotation_sha256(),
    }


def _features() -> Any:
    datasets = _import_datasets()
    return datasets.Features(
        {
            "image_id": datasets.Value("string"),
            "file_name": datasets.Value("string"),
            "image_path": datasets.Value("string"),
            "height": datasets.Value("int32"),
            "width": datasets.Value("int32"),
            "metadata": datasets.Value("string"),
            "objects": [
                {
                    "object_id": datasets.Value("string"),
                    "counts": datasets.Value("string"),
                    "box": [datasets.Value("float64")],
                    "area": datasets.Value("int64"),
                    "category": datasets.Value("string"),
                    "category_id": datasets.Value("int64"),
                    "iscrowd": datasets.Value("bool"),
                    "attributes": datasets.Value("string"),
                }
            ],
        }
    )


def _import_datasets() -> Any:
    """Hugging Face ``datasets`` (imported by name: the repository's top-level ``datasets/``
    card folder would otherwise shadow it for static checkers)."""
    message = (
        "preparing or reading a dataset cache needs Hugging Face 'datasets': "
        "pip install 'sambench[prepare]'"
    )
    try:
        module = importlib.import_module("datasets")
    except ImportError:
        raise SambenchError(message) from None
    if not hasattr(module, "load_from_disk"):  # a folder named datasets/, not the library
        raise SambenchError(message)
    return module


@dataclass(frozen=True)
class PrepareReport:
    """What :func:`prepare` wrote.

    Attributes:
        path: The cache folder.
        images: Rows (images with at least one target).
        objects: Objects in them.
        seconds: Wall time of the conversion.
    """

    path: Path
    images: int
    objects: int
    seconds: float


def _row(dataset: IndexedDataset, sample: ImageSample) -> dict[str, Any]:
    loader = sample.load_image
    if not isinstance(loader, ImageFile):
        raise SambenchError(f"dataset {dataset.name!r}: its samples do not name an image file")
    return {
        "image_id": sample.image_id,
        "file_name": sample.file_name,
        "image_path": Path(os.path.relpath(loader.path, dataset.root)).as_posix(),
        "height": sample.height,
        "width": sample.width,
        "metadata": json.dumps(dataset.portable_metadata(sample.metadata), sort_keys=True),
        "objects": [
            {
                "object_id": obj.object_id,
                "counts": obj.mask["counts"],
                "box": list(obj.box),
                "area": obj.area,
                "category": obj.category,
                "category_id": obj.category_id,
                "iscrowd": obj.iscrowd,
                "attributes": json.dumps(dict(obj.attributes), sort_keys=True),
            }
            for obj in sample.objects
        ],
    }


def prepare(dataset: IndexedDataset, cache_dir: Path) -> PrepareReport:
    """Convert every image of ``dataset`` into a cache at ``cache_dir`` (replacing any).

    Raises:
        SambenchError: ``datasets`` is not installed.
        DataError: A native file is missing or malformed.
    """
    hf = _import_datasets()
    hf.disable_progress_bars()
    started = time.perf_counter()
    key = cache_key(dataset)
    features = _features()
    index: list[list[Any]] = []
    chunks: list[Any] = []
    rows: list[dict[str, Any]] = []
    objects = 0
    images = 0
    for entry in dataset.index():
        sample = dataset.load_sample(entry.image_id)
        masks = entry.masks
        if masks is None:
            masks = 0 if sample is None else sum(not obj.iscrowd for obj in sample.objects)
        index.append([entry.image_id, masks])
        if sample is None:
            continue
        rows.append(_row(dataset, sample))
        images += 1
        objects += len(sample.objects)
        if len(rows) >= _CHUNK:
            chunks.append(hf.Dataset.from_list(rows, features=features))
            rows = []
    if rows or not chunks:
        chunks.append(hf.Dataset.from_list(rows, features=features))
    table = chunks[0] if len(chunks) == 1 else hf.concatenate_datasets(chunks)

    cache_dir = Path(cache_dir)
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.tmp-", dir=cache_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would hide the cache from other users
    try:
        table.save_to_disk(str(staging / ARROW_DIR))
        marker = {
            "sambench_prepared": CACHE_FORMAT,
            "key": key,
            "images": images,
            "objects": objects,
            "sambench_version": __version__,
            "index": index,
        }
        (staging / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        old = None
        if cache_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.old-", dir=cache_dir.parent))
            os.replace(cache_dir, old / "cache")
        os.replace(staging, cache_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PrepareReport(cache_dir, images, objects, time.perf_counter() - started)


def read_marker(cache_dir: Path) -> dict[str, Any] | None:
    """The cache's key file, or ``None`` when absent or unreadable."""
    try:
        data = json.loads((Path(cache_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


class PreparedCache:
    """A valid prepared cache of one dataset (see :func:`open_prepared`).

    Attributes:
        path: The cache folder.
        index: The dataset's index as recorded when the cache was made.
    """

    def __init__(self, path: Path, index: Sequence[IndexEntry]) -> None:
        self.path = path
        self.index = tuple(index)
        self._table: Any = None

    def _open(self) -> Any:
        if self._table is None:
            hf = _import_datasets()
            try:
                self._table = hf.load_from_disk(str(self.path / ARROW_DIR))
            except (OSError, ValueError) as error:
                raise DataError(f"{self.path}: cannot read prepared cache: {error}") from error
        return self._table

    def samples(
        self, dataset: IndexedDataset, chosen: frozenset[str] | None
    ) -> Iterator[ImageSample]:
        """The cached images (only ``chosen`` ids, when given), in index order."""
        table = self._open()
        if chosen is not None:
            rows = [i for i, image_id in enumerate(table["image_id"]) if image_id in chosen]
            table = table.select(rows)
        for row in table:
            yield _sample(dataset, row)


def _sample(dataset: IndexedDataset, row: Mapping[str, Any]) -> ImageSample:
    height, width = int(row["height"]), int(row["width"])
    objects = tuple(
        ObjectAnnotation(
            object_id=obj["object_id"],
            mask={"size": [height, width], "counts": obj["counts"]},
            box=(
                float(obj["box"][0]),
                float(obj["box"][1]),
                float(obj["box"][2]),
                float(obj["box"][3]),
            ),
            area=int(obj["area"]),
            category=obj["category"],
            category_id=obj["category_id"],
            iscrowd=bool(obj["iscrowd"]),
            attributes=json.loads(obj["attributes"]),
        )
        for obj in row["objects"]
    )
    return ImageSample(
        dataset=dataset.name,
        image_id=row["image_id"],
        file_name=row["file_name"],
        height=height,
        width=width,
        objects=objects,
        load_image=ImageFile(
            Path(os.path.normpath(dataset.root / row["image_path"])), height, width
        ),
        metadata=dataset.restore_metadata(json.loads(row["metadata"])),
    )


def open_prepared(dataset: IndexedDataset, cache_dir: Path) -> PreparedCache | None:
    """The cache at ``cache_dir`` if it exists and its key equals ``dataset``'s; else ``None``.

    Never raises for a missing, stale or foreign cache (the loader then reads the native
    files); ``datasets`` is imported only once a matching key is found.
    """
    marker = read_marker(cache_dir)
    if marker is None or marker.get("sambench_prepared") != CACHE_FORMAT:
        return None
    try:
        key = cache_key(dataset)
    except DataError:
        return None
    if marker.get("key") != key or not (Path(cache_dir) / ARROW_DIR).is_dir():
        return None
    try:
        _import_datasets()
    except SambenchError:
        return None
    raw_index = marker.get("index")
    if not isinstance(raw_index, list):
        return None
    index = [IndexEntry(str(image_id), int(masks)) for image_id, masks in raw_index]
    return PreparedCache(Path(cache_dir), index)


__all__ = [
    "ARROW_DIR",
    "CACHE_DIR_ENV",
    "CACHE_FORMAT",
    "MARKER",
    "PrepareReport",
    "PreparedCache",
    "cache_key",
    "default_cache_root",
    "open_prepared",
    "prepare",
    "read_marker",
]
