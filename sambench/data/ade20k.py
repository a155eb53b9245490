"""Loader for ADE20K, full-format release ``ADE20K_2021_17_01`` (objects and parts).

``ADE20K_2021_17_01/images/ADE/<split>/<scene path>/`` holds, per image ``<name>``
(``ADE_val_00000001``): ``<name>.jpg``; ``<name>.json``, whose ``annotation.object[]`` lists
every annotated object **and part** (``id``, ``name`` (WordNet name), ``name_ndx`` (class
index), ``raw_name``, ``parts: {part_level, ispartof, hasparts}``, ``crop``, ``occluded``,
``attributes``, ``depth_ordering_rank``, ``polygon`` and ``instance_mask``); and
``<name>/instance_NNN_<name>.png``, one 8-bit mask per entry, **255 = the visible pixels,
128 = the pixels hidden by occluders (the amodal extension), 0 = elsewhere**. (The visible
pixels are exactly the instance's region in ``<name>_seg.png`` / ``<name>_parts_<k>.png``,
the toolkit's class/instance maps; the tests check this on real files.)

Per-object masks: **every entry of the JSON, whole objects (part level 0) and parts (level
1) and parts of parts (level 2, ...), is one object**, its mask the visible pixels
(``== 255``), object id ``<name>/<id>``, category ``name`` with category id ``name_ndx``, and
attributes ``part_level``, ``name``, ``raw_name``, ``parent`` (the object id of the whole it
is part of, or ``None``), ``occluded`` (``True``/``False``/``None`` when not annotated),
``cropped`` (the object crosses the image border), ``ade_attributes`` (the annotators' free
attributes) and ``depth_ordering_rank``. Skipped: the amodal (128) pixels, which the SAM
paper's visible-mask protocol never uses; entries whose visible mask is empty (fully
occluded); with ``max_part_level`` set, deeper parts. The subsampling mask count of an
image is its number of entries (no PNG decoded).

The JSON files are UTF-8; a file that is not is read as Latin-1 (some annotation tools
wrote that), rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image as PILImage

from sambench import masks
from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.coco import ImageFile
from sambench.data.jsonfile import read_annotation_json
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack

VISIBLE = 255
"""Instance-mask value of visible pixels (128 marks occluded, amodal pixels)."""


@dataclass(frozen=True)
class _Entry:
    object_id: int
    name: str
    raw_name: str
    name_ndx: int | None
    part_level: int
    parent: int | None
    cropped: bool
    occluded: bool | None
    ade_attributes: tuple[str, ...]
    depth_rank: int | None
    instance_mask: str


@dataclass(frozen=True)
class _Image:
    image_id: str
    json_path: Path
    image_file: str
    height: int
    width: int
    entries: tuple[_Entry, ...]


def _read_json(path: Path) -> dict[str, Any]:
    data = read_annotation_json(path, encodings=("utf-8", "latin-1"))
    if not isinstance(data, dict) or not isinstance(data.get("annotation"), dict):
        raise DataError(f"{path}: expected an object with an 'annotation' object")
    annotation: dict[str, Any] = data["annotation"]
    return annotation


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _occluded(value: object) -> bool | None:
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return value.strip().lower() == "yes"
    return None


def _parse_entry(obj: object, path: Path, position: int) -> _Entry:
    if not isinstance(obj, dict):
        raise DataError(f"{path}: object #{position} is not an object")
    label = f"object id {obj['id']!r}" if "id" in obj else f"object #{position}"
    for key in ("id", "name", "parts", "instance_mask"):
        if key not in obj:
            raise DataError(f"{path}: {label} is missing required key {key!r}")
    object_id = _int_or_none(obj["id"])
    if object_id is None:
        raise DataError(f"{path}: {label} has an invalid id {obj['id']!r}")
    parts = obj["parts"]
    if not isinstance(parts, dict) or _int_or_none(parts.get("part_level")) is None:
        raise DataError(f"{path}: {label}: 'parts.part_level' must be an integer")
    if not isinstance(obj["instance_mask"], str) or not obj["instance_mask"]:
        raise DataError(f"{path}: {label}: 'instance_mask' must be a relative path")
    attributes = obj.get("attributes")
    if isinstance(attributes, str):
        listed: tuple[str, ...] = (attributes,) if attributes.strip() else ()
    elif isinstance(attributes, list):
        listed = tuple(str(a) for a in attributes)
    else:
        listed = ()
    return _Entry(
        object_id=object_id,
        name=str(obj["name"]),
        raw_name=str(obj.get("raw_name", obj["name"])),
        name_ndx=_int_or_none(obj.get("name_ndx")),
        part_level=int(parts["part_level"]),
        parent=_int_or_none(parts.get("ispartof")),
        cropped=_int_or_none(obj.get("crop")) == 1,
        occluded=_occluded(obj.get("occluded")),
        ade_attributes=listed,
        depth_rank=_int_or_none(obj.get("depth_ordering_rank")),
        instance_mask=obj["instance_mask"],
    )


def read_image_json(path: Path) -> _Image:
    """Parse one ``<name>.json`` of the full-format release.

    Raises:
        DataError: Naming the file and the first malformed field.
    """
    annotation = _read_json(path)
    imsize = annotation.get("imsize")
    if (
        not isinstance(imsize, list)
        or len(imsize) < 2
        or not all(_int_or_none(v) is not None and int(v) > 0 for v in imsize[:2])
    ):
        raise DataError(f"{path}: 'annotation.imsize' must be [height, width, ...]")
    objects = annotation.get("object")
    if not isinstance(objects, list):
        raise DataError(f"{path}: 'annotation.object' must be a list")
    filename = annotation.get("filename")
    if not isinstance(filename, str) or not filename:
        raise DataError(f"{path}: 'annotation.filename' must name the image file")
    entries = tuple(_parse_entry(obj, path, i) for i, obj in enumerate(objects))
    seen: set[int] = set()
    for entry in entries:
        if entry.object_id in seen:
            raise DataError(f"{path}: duplicate object id {entry.object_id}")
        seen.add(entry.object_id)
    return _Image(
        image_id=path.stem,
        json_path=path,
        image_file=filename,
        height=int(imsize[0]),
        width=int(imsize[1]),
        entries=tuple(sorted(entries, key=lambda e: e.object_id)),
    )


class Ade20kDataset(IndexedDataset):
    """ADE20K full-format images of one split, objects and parts (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/ade20k``).
        images_dir: The split folder, relative to ``root``
            (``ADE20K_2021_17_01/images/ADE/validation``); images are found at any depth.
        max_part_level: Keep entries up to this part level (0: whole objects only);
            ``None``: all levels.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "ade20k"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        *,
        max_part_level: int | None = None,
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.images_dir = images_dir
        self.max_part_level = max_part_level
        self._images: dict[str, _Image] | None = None

    def annotation_labels(self) -> list[str]:
        return [f"{self.images_dir}/**/*.json", f"{self.images_dir}/**/instance_*.png"]

    def loader_options(self) -> dict[str, Any]:
        return {"images": self.images_dir, "max_part_level": self.max_part_level}

    def _kept(self, image: _Image) -> list[_Entry]:
        if self.max_part_level is None:
            return list(image.entries)
        return [e for e in image.entries if e.part_level <= self.max_part_level]

    def _load_images(self) -> dict[str, _Image]:
        with self._lock:
            if self._images is None:
                self.require_root()
                split = self.root / self.images_dir
                if not split.is_dir():
                    raise self.missing("image folder", split)
                images: dict[str, _Image] = {}
                for path in sorted(split.rglob("*.json")):
                    image = read_image_json(path)
                    if image.image_id in images:
                        raise DataError(
                            f"{path}: image {image.image_id} also annotated in "
                            f"{images[image.image_id].json_path}"
                        )
                    images[image.image_id] = image
                self._images = dict(sorted(images.items()))
            return self._images

    def index(self) -> list[IndexEntry]:
        """Images (sorted by name) with at least one kept entry, with the entry count."""
        entries = []
        for image_id, image in self._load_images().items():
            count = len(self._kept(image))
            if count:
                entries.append(IndexEntry(image_id, count))
        return entries

    def verify(self) -> VerifyReport:
        """Every JSON parses, and its image and instance masks exist."""
        entries = self.index()
        images = self._load_images()
        for item in entries:
            image = images[item.image_id]
            folder = image.json_path.parent
            if not (folder / image.image_file).is_file():
                raise MissingFileError(
                    f"dataset {self.name!r}: image file {folder / image.image_file} "
                    f"(of {image.json_path}) not found"
                )
            for entry in self._kept(image):
                if not (folder / entry.instance_mask).is_file():
                    raise MissingFileError(
                        f"dataset {self.name!r}: instance mask {folder / entry.instance_mask} "
                        f"(object {entry.object_id} of {image.json_path}) not found"
                    )
        if not entries:
            raise DataError(
                f"dataset {self.name!r}: no annotated image in {self.root / self.images_dir}"
            )
        return VerifyReport.of_index(
            entries, f"{len(entries)} image JSONs with their images and instance masks"
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        images = self._load_images()
        if image_id not in images:
            raise DataError(f"dataset {self.name!r}: no image {image_id!r}")
        image = images[image_id]
        folder = image.json_path.parent
        objects = []
        for entry in self._kept(image):
            path = folder / entry.instance_mask
            if not path.is_file():
                raise MissingFileError(
                    f"instance mask {path} (object {entry.object_id} of {image.json_path}) "
                    "not found"
                )
            try:
                with PILImage.open(path) as handle:
                    pixels = np.asarray(handle)
            except (OSError, ValueError) as error:
                raise DataError(f"cannot read instance mask {path}: {error}") from error
            if pixels.ndim == 3:
                pixels = pixels[..., 0]
            if pixels.shape != (image.height, image.width):
                raise DataError(
                    f"instance mask {path} is {pixels.shape[1]}x{pixels.shape[0]} but "
                    f"{image.json_path} says {image.width}x{image.height} (width x height)"
                )
            rle = masks.encode(pixels == VISIBLE)
            area = masks.area(rle)
            if area == 0:
                continue
            box = masks.bbox(rle)
            objects.append(
                ObjectAnnotation(
                    object_id=f"{image_id}/{entry.object_id}",
                    mask=rle,
                    box=(box[0], box[1], box[2], box[3]),
                    area=area,
                    category=entry.name,
                    category_id=entry.name_ndx,
                    attributes={
                        "part_level": entry.part_level,
                        "name": entry.name,
                        "raw_name": entry.raw_name,
                        "parent": None if entry.parent is None else f"{image_id}/{entry.parent}",
                        "occluded": entry.occluded,
                        "cropped": entry.cropped,
                        "ade_attributes": list(entry.ade_attributes),
                        "depth_ordering_rank": entry.depth_rank,
                    },
                )
            )
        if not objects:
            return None
        image_path = folder / image.image_file
        return ImageSample(
            dataset=self.name,
            image_id=image_id,
            file_name=image_path.relative_to(self.root).as_posix(),
            height=image.height,
            width=image.width,
            objects=tuple(objects),
            load_image=ImageFile(image_path, image.height, image.width),
            metadata={"annotation_file": image.json_path.relative_to(self.root).as_posix()},
        )


__all__ = ["VISIBLE", "Ade20kDataset", "read_image_json"]
