"""Loader for datasets in the COCO instances format (``instances_*.json`` + an image folder).

One :class:`~sambench.samples.ObjectAnnotation` per COCO annotation:

- polygons (``[[x1, y1, x2, y2, ...], ...]``) are rasterised into one mask (the union);
  polygons with fewer than 3 points are skipped;
- compressed RLE (``counts`` a string, or bytes) is used as is;
- uncompressed RLE (``counts`` a list of run lengths, the usual form of ``iscrowd=1``) is
  compressed;
- the box is the annotation's ``bbox`` (the mask's tight box when the key is absent), the
  area is the **decoded mask's** pixel count (COCO's ``area`` field is the polygon area);
- crowd annotations are kept and flagged ``iscrowd=True`` (they are not evaluation targets);
- annotations whose mask is empty are dropped;
- an annotation's ``attributes`` dict, if any, becomes ``ObjectAnnotation.attributes``.

Images are yielded in image-id order (numeric ids compared as numbers), only those with at
least one non-crowd object; objects in annotation-id order. Every mask conversion goes
through :mod:`sambench.masks`.

For subsampling, an image's mask count is the number of its non-crowd annotations in the
JSON (no mask decoded). :class:`MultiCocoDataset` joins several COCO files (e.g. the
train/val/test files of one dataset) under namespaced ids ``<part>/<id>``. The LVIS loader
(:mod:`sambench.data.lvis`) reuses this one with its own :class:`CocoDialect`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image as PILImage

from sambench import masks
from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.jsonfile import read_annotation_json
from sambench.errors import DataError, MissingFileError
from sambench.masks import RLE
from sambench.samples import Image, ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack

_REQUIRED_ANNOTATION_KEYS = ("id", "image_id", "category_id", "segmentation")

_IdKey = tuple[int, int, str]


def _id_key(value: int | str) -> _IdKey:
    """Sort key putting numeric ids first, in numeric order, then string ids."""
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, value)


@dataclass(frozen=True)
class _ImageEntry:
    image_id: int | str
    file_name: str
    height: int
    width: int
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Index:
    images: tuple[_ImageEntry, ...]
    annotations: Mapping[int | str, tuple[Mapping[str, Any], ...]]
    categories: Mapping[int, str]
    by_id: Mapping[str, _ImageEntry] = field(default_factory=dict)
    category_attributes: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


def _plain_file_name(image: Mapping[str, Any], path: Path, label: str) -> str:
    if "file_name" not in image:
        raise DataError(f"{path}: image {label} is missing required key 'file_name'")
    return str(image["file_name"])


@dataclass(frozen=True)
class CocoDialect:
    """How a COCO-like JSON differs from COCO instances (the LVIS loader's hook).

    Attributes:
        image_file: ``(image dict, json path, label) -> file name`` relative to the image
            folder (COCO: the ``file_name`` key).
        image_metadata: ``image dict -> ImageSample.metadata`` (COCO: nothing).
        category_attributes: Category keys copied into each object's attributes
            (LVIS: ``frequency``).
    """

    image_file: Callable[[Mapping[str, Any], Path, str], str] = _plain_file_name
    image_metadata: Callable[[Mapping[str, Any]], dict[str, Any]] = lambda image: {}
    category_attributes: tuple[str, ...] = ()


COCO = CocoDialect()
"""COCO instances as written by the COCO API."""


class CocoDataset(IndexedDataset):
    """A dataset stored in the COCO instances format.

    The annotation JSON is read once, on the first call to :meth:`samples` (constructing
    the object touches no file). Images are decoded only when a sample's ``load_image``
    is called.

    Args:
        name: Dataset name, used as :attr:`ImageSample.dataset`.
        root: The dataset folder.
        images_dir: Image folder, relative to ``root`` (e.g. ``"val2017"``).
        annotation_file: Annotation JSON, relative to ``root``
            (e.g. ``"annotations/instances_val2017.json"``).
        image_file_name: ``"as-is"`` (default): ``file_name`` is the path under
            ``images_dir``; ``"basename"``: only its last component is (for exports whose
            ``file_name`` carries a foreign directory prefix).
        **common: ``download_hint`` (text appended to the error raised when the dataset
            folder or the annotation file is missing, e.g. a card's download instructions),
            ``subsample`` (see :mod:`sambench.data.subsample`) and ``cache_dir`` (see
            :mod:`sambench.data.prepare`), as :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "coco"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        annotation_file: str,
        *,
        image_file_name: str = "as-is",
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        if image_file_name not in ("as-is", "basename"):
            raise ValueError(
                f"image_file_name must be 'as-is' or 'basename', not {image_file_name!r}"
            )
        self.images_dir = images_dir
        self.annotation_file = annotation_file
        self.image_file_name = image_file_name
        self._index: _Index | None = None

    @property
    def annotation_path(self) -> Path:
        """Absolute path of the annotation JSON."""
        return self.root / self.annotation_file

    def annotation_files(self) -> list[Path]:
        """The annotation JSON (its checksum identifies this copy of the dataset)."""
        return [self.annotation_path]

    def loader_options(self) -> dict[str, Any]:
        return {
            "images": self.images_dir,
            "annotations": self.annotation_file,
            "image_file_name": self.image_file_name,
        }

    def __repr__(self) -> str:
        return f"CocoDataset(name={self.name!r}, root={str(self.root)!r})"

    # -- reading the JSON -------------------------------------------------------------------

    def _read(self, path: Path) -> _Index:
        return _read_index(path)

    def _load_index(self) -> _Index:
        with self._lock:
            if self._index is None:
                self.require_root()
                path = self.annotation_path
                if not path.is_file():
                    raise self.missing("annotation file", path)
                self._index = self._read(path)
            return self._index

    def index(self) -> list[IndexEntry]:
        """Images with at least one non-crowd annotation, with that annotation count."""
        index = self._load_index()
        entries = []
        for entry in index.images:
            count = sum(
                1 for ann in index.annotations.get(entry.image_id, ()) if not ann.get("iscrowd")
            )
            if count:
                entries.append(IndexEntry(str(entry.image_id), count))
        return entries

    def image_path(self, entry: _ImageEntry) -> Path:
        """Where the image file of an index entry is."""
        file_name = entry.file_name
        if self.image_file_name == "basename":
            file_name = PurePosixPath(file_name.replace("\\", "/")).name
        return self.root / self.images_dir / file_name

    def load_sample(self, image_id: str) -> ImageSample | None:
        index = self._load_index()
        entry = index.by_id.get(image_id)
        if entry is None:
            raise DataError(f"{self.annotation_path}: no image with id {image_id!r}")
        objects = self._objects(entry, index)
        if not any(not obj.iscrowd for obj in objects):
            return None
        path = self.image_path(entry)
        return ImageSample(
            dataset=self.name,
            image_id=image_id,
            file_name=_relative(path, self.root),
            height=entry.height,
            width=entry.width,
            objects=objects,
            load_image=ImageFile(path, entry.height, entry.width),
            metadata=dict(entry.metadata),
        )

    def verify(self) -> VerifyReport:
        """The JSON parses and is consistent, and every evaluated image file exists."""
        entries = self.index()
        index = self._load_index()
        for item in entries:
            path = self.image_path(index.by_id[item.image_id])
            if not path.is_file():
                raise MissingFileError(
                    f"dataset {self.name!r}: image file {path} (image {item.image_id}, listed "
                    f"in {self.annotation_path}) not found"
                )
        return VerifyReport.of_index(
            entries, f"annotation JSON, {len(entries)} image files present"
        )

    # -- converting annotations -------------------------------------------------------------

    def _objects(self, entry: _ImageEntry, index: _Index) -> tuple[ObjectAnnotation, ...]:
        objects = []
        for ann in index.annotations.get(entry.image_id, ()):
            obj = _convert(ann, entry, index, self.annotation_path)
            if obj is not None:
                objects.append(obj)
        return tuple(objects)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()


class MultiCocoDataset(IndexedDataset):
    """Several COCO files read as one dataset, ids namespaced ``<part>/<id>``.

    Images are yielded part by part (in the order given), each in image-id order.

    Args:
        name: Dataset name.
        root: Dataset folder.
        parts: ``part name -> (images_dir, annotation_file)``, both relative to ``root``.
        image_file_name: As :class:`CocoDataset`.
        **common: ``download_hint`` (also given to each part), ``subsample`` and
            ``cache_dir``, as :class:`CocoDataset`.
    """

    format_name = "coco"

    def __init__(
        self,
        name: str,
        root: Path,
        parts: Mapping[str, tuple[str, str]],
        *,
        image_file_name: str = "as-is",
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        if not parts:
            raise ValueError("MultiCocoDataset needs at least one part")
        self.parts = {
            part: CocoDataset(
                name,
                root,
                images_dir,
                annotation_file,
                image_file_name=image_file_name,
                download_hint=self.download_hint,
            )
            for part, (images_dir, annotation_file) in parts.items()
        }

    def annotation_files(self) -> list[Path]:
        return [path for part in self.parts.values() for path in part.annotation_files()]

    def loader_options(self) -> dict[str, Any]:
        return {name: part.loader_options() for name, part in self.parts.items()}

    def index(self) -> list[IndexEntry]:
        return [
            IndexEntry(f"{name}/{entry.image_id}", entry.masks)
            for name, part in self.parts.items()
            for entry in part.index()
        ]

    def load_sample(self, image_id: str) -> ImageSample | None:
        name, _, inner = image_id.partition("/")
        if name not in self.parts:
            raise DataError(f"dataset {self.name!r}: no part {name!r} (image id {image_id!r})")
        sample = self.parts[name].load_sample(inner)
        if sample is None:
            return None
        objects = tuple(
            ObjectAnnotation(
                object_id=f"{name}/{obj.object_id}",
                mask=obj.mask,
                box=obj.box,
                area=obj.area,
                category=obj.category,
                category_id=obj.category_id,
                iscrowd=obj.iscrowd,
                attributes={**obj.attributes, "part": name},
            )
            for obj in sample.objects
        )
        return ImageSample(
            dataset=self.name,
            image_id=image_id,
            file_name=sample.file_name,
            height=sample.height,
            width=sample.width,
            objects=objects,
            load_image=sample.load_image,
            metadata={**sample.metadata, "part": name},
        )

    def verify(self) -> VerifyReport:
        reports = [part.verify() for part in self.parts.values()]
        return VerifyReport(
            images=sum(r.images for r in reports),
            masks=sum(r.masks or 0 for r in reports),
            checked="; ".join(
                f"{name}: {r.checked}" for name, r in zip(self.parts, reports, strict=True)
            ),
        )


class ImageFile:
    """Reads one image file as RGB uint8 and checks its size (a picklable ``load_image``).

    Attributes:
        path: The image file.
        height: Expected height (``None``: not checked).
        width: Expected width.
    """

    def __init__(self, path: Path, height: int | None, width: int | None) -> None:
        self.path = path
        self.height = height
        self.width = width

    def __call__(self) -> Image:
        return load_rgb(self.path, self.height, self.width)

    def __repr__(self) -> str:
        return f"ImageFile({str(self.path)!r})"


_ImageLoader = ImageFile  # the former private name


def load_rgb(path: Path, height: int | None = None, width: int | None = None) -> Image:
    """Read an image file as an RGB ``(height, width, 3)`` uint8 array.

    Grayscale and palette images become 3 identical / looked-up channels, an alpha
    channel is dropped. EXIF orientation is **not** applied (annotations refer to the
    stored pixel grid).

    Raises:
        DataError: The file is missing or unreadable, or its size differs from the
            expected ``height`` / ``width`` (when given).
    """
    if not path.is_file():
        raise MissingFileError(f"image file {path} not found")
    try:
        with PILImage.open(path) as image:
            size = image.size
            if height is not None and width is not None and size != (width, height):
                raise DataError(
                    f"image {path} is {size[0]}x{size[1]} (width x height) but the "
                    f"annotations say {width}x{height}"
                )
            rgb = np.array(image.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}") from error
    return rgb


def _read_index(path: Path) -> _Index:
    return read_index(path, COCO)


def read_index(path: Path, dialect: CocoDialect) -> _Index:
    """Parse and check a COCO-like annotation JSON (see :class:`CocoDialect`).

    Raises:
        DataError: Naming the file and the first malformed entry.
    """
    data = read_annotation_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    for key in ("images", "annotations"):
        if key not in data:
            raise DataError(f"{path}: missing required key {key!r}")
        if not isinstance(data[key], list):
            raise DataError(f"{path}: {key!r} must be a list")

    categories: dict[int, str] = {}
    category_attributes: dict[int, dict[str, Any]] = {}
    for position, category in enumerate(data.get("categories") or []):
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise DataError(f"{path}: category #{position} needs 'id' and 'name'")
        categories[category["id"]] = str(category["name"])
        extra = {key: category[key] for key in dialect.category_attributes if key in category}
        if extra:
            category_attributes[category["id"]] = extra

    images: dict[int | str, _ImageEntry] = {}
    for position, image in enumerate(data["images"]):
        if not isinstance(image, dict):
            raise DataError(f"{path}: image #{position} is not an object")
        label = f"id {image['id']!r}" if "id" in image else f"#{position}"
        for key in ("id", "height", "width"):
            if key not in image:
                raise DataError(f"{path}: image {label} is missing required key {key!r}")
        image_id = _check_id(image["id"], path, f"image #{position}")
        file_name = dialect.image_file(image, path, label)
        height, width = image["height"], image["width"]
        if not (_is_int(height) and _is_int(width) and height > 0 and width > 0):
            raise DataError(f"{path}: image {image_id!r} has invalid height/width")
        if image_id in images:
            raise DataError(f"{path}: duplicate image id {image_id!r}")
        images[image_id] = _ImageEntry(
            image_id, file_name, height, width, dialect.image_metadata(image)
        )

    per_image: dict[int | str, list[Mapping[str, Any]]] = {}
    seen: set[int | str] = set()
    for position, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise DataError(f"{path}: annotation #{position} is not an object")
        for key in _REQUIRED_ANNOTATION_KEYS:
            if key not in ann:
                label = f"id {ann['id']!r}" if "id" in ann else f"#{position}"
                raise DataError(f"{path}: annotation {label} is missing required key {key!r}")
        ann_id = _check_id(ann["id"], path, f"annotation #{position}")
        if ann_id in seen:
            raise DataError(f"{path}: duplicate annotation id {ann_id!r}")
        seen.add(ann_id)
        image_id = ann["image_id"]
        if not (_is_int(image_id) or isinstance(image_id, str)) or image_id not in images:
            raise DataError(f"{path}: annotation {ann_id!r} refers to unknown image {image_id!r}")
        if not _is_int(ann["category_id"]):
            raise DataError(
                f"{path}: annotation {ann_id!r} has an invalid category_id "
                f"{ann['category_id']!r} (expected an int)"
            )
        if categories and ann["category_id"] not in categories:
            raise DataError(
                f"{path}: annotation {ann_id!r} has unknown category_id {ann['category_id']!r}"
            )
        per_image.setdefault(image_id, []).append(ann)

    ordered = tuple(sorted(images.values(), key=lambda entry: _id_key(entry.image_id)))
    by_id: dict[str, _ImageEntry] = {}
    for entry in ordered:
        if str(entry.image_id) in by_id:
            raise DataError(f"{path}: image ids {entry.image_id!r} collide as strings")
        by_id[str(entry.image_id)] = entry
    annotations = {
        image_id: tuple(sorted(anns, key=lambda ann: _id_key(ann["id"])))
        for image_id, anns in per_image.items()
    }
    return _Index(
        images=ordered,
        annotations=annotations,
        categories=categories,
        by_id=by_id,
        category_attributes=category_attributes,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_id(value: object, path: Path, label: str) -> int | str:
    if _is_int(value) or isinstance(value, str):
        return value  # type: ignore[return-value]
    raise DataError(f"{path}: {label} has an invalid id {value!r} (expected an int or string)")


def _convert(
    ann: Mapping[str, Any], image: _ImageEntry, index: _Index, path: Path
) -> ObjectAnnotation | None:
    """One annotation → :class:`ObjectAnnotation`, or ``None`` when its mask is empty."""
    ann_id = ann["id"]
    where = f"{path}: annotation {ann_id!r}"
    rle = _segmentation_to_rle(ann["segmentation"], image.height, image.width, where)
    if rle is None:
        return None
    area = masks.area(rle)
    if area == 0:
        return None
    box = ann.get("bbox")
    if box is None:
        box = masks.bbox(rle)
    if (
        not isinstance(box, list)
        or len(box) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
    ):
        raise DataError(f"{where}: 'bbox' must be a list of 4 numbers, got {box!r}")
    attributes = ann.get("attributes", {})
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise DataError(f"{where}: 'attributes' must be an object, got {attributes!r}")
    category_id = ann["category_id"]
    extra = index.category_attributes.get(category_id)
    if extra:
        attributes = {**extra, **attributes}
    return ObjectAnnotation(
        object_id=str(ann_id),
        mask=rle,
        box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        area=area,
        category=index.categories.get(category_id),
        category_id=category_id,
        iscrowd=bool(ann.get("iscrowd", 0)),
        attributes=dict(attributes),
    )


def _segmentation_to_rle(segmentation: object, height: int, width: int, where: str) -> RLE | None:
    """Convert a COCO ``segmentation`` (polygons or RLE) to a compressed RLE."""
    if isinstance(segmentation, list):
        return _polygons_to_rle(segmentation, height, width, where)
    if isinstance(segmentation, dict):
        if "size" not in segmentation or "counts" not in segmentation:
            raise DataError(f"{where}: RLE segmentation needs 'size' and 'counts'")
        size = segmentation["size"]
        if not isinstance(size, list) or size != [height, width]:
            raise DataError(
                f"{where}: RLE size {size!r} differs from the image size [{height}, {width}]"
            )
        counts = segmentation["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if isinstance(counts, str):
            return {"size": [height, width], "counts": counts}
        if isinstance(counts, list):
            if not all(_is_int(c) and c >= 0 for c in counts) or sum(counts) != height * width:
                raise DataError(
                    f"{where}: uncompressed RLE counts must be non-negative integers summing "
                    f"to height*width = {height * width}"
                )
            return masks.from_uncompressed(counts, height, width)
        raise DataError(f"{where}: RLE 'counts' must be a string or a list of integers")
    raise DataError(f"{where}: 'segmentation' must be a list of polygons or an RLE object")


def _polygons_to_rle(
    segmentation: Sequence[object], height: int, width: int, where: str
) -> RLE | None:
    if segmentation and all(_is_number(v) for v in segmentation):
        segmentation = [segmentation]  # a single flat polygon, as some exporters write
    polygons: list[list[float]] = []
    for polygon in segmentation:
        if not isinstance(polygon, list) or not all(_is_number(v) for v in polygon):
            raise DataError(f"{where}: a polygon must be a list of numbers [x1, y1, x2, y2, ...]")
        if len(polygon) % 2:
            raise DataError(f"{where}: a polygon has an odd number of coordinates")
        if len(polygon) >= 6 and all(np.isfinite(polygon)):
            polygons.append([float(v) for v in polygon])
    if not polygons:
        return None
    return masks.from_polygons(polygons, height, width)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = ["CocoDataset", "CocoDialect", "ImageFile", "MultiCocoDataset", "load_rgb", "read_index"]
