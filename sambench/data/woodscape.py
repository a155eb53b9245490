"""Loader for WoodScape instance annotations (fisheye driving, one JSON per image).

Layout (the official release): ``rgb_images/<name>.png`` (``<name>`` like ``00001_FV``) and
``instance_annotations/<name>.json``. A JSON holds one entry keyed by the image name::

    {"00001_FV.png": {"image_width": 1280, "image_height": 966, "image_channels": 3,
                      "annotation": [{"tags": ["car"], "segmentation": [[x, y], ...],
                                      "z_order": 1, "group_id": 7, ...}, ...]}}

Per-object masks: **one object per annotation element**, its polygon of ``[x, y]`` points
filled with pycocotools on its own (overlaps keep full masks; ``z_order`` only matters when
painting one shared map, which sambench never does). Elements that share a non-null
``group_id`` are parts of one object, as the official parser treats them: their polygons are
merged into one mask (object id ``<name>/group-<group_id>``); other elements have object id
``<name>/<position>``. The category is the element's first tag; elements without a tag or a
polygon, and elements whose tag is in the card option ``skip_tags`` (default ``[void]``), are
not objects. Empty masks are dropped; there is no crowd flag. The image size is the JSON's
``image_height`` / ``image_width`` (checked against the image file when it is read). The
subsampling mask count of an image is its number of objects as listed (no mask decoded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.convert import (
    image_file_sample,
    object_from_rle,
    point_list_to_flat,
    polygons_rle,
)
from sambench.data.jsonfile import read_annotation_json
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack


@dataclass(frozen=True)
class _Object:
    object_id: str
    category: str
    polygons: tuple[tuple[float, ...], ...]
    attributes: dict[str, Any]


@dataclass(frozen=True)
class _Image:
    height: int
    width: int
    objects: tuple[_Object, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_woodscape_json(path: Path, name: str, skip_tags: Sequence[str]) -> _Image:
    """Parse one ``instance_annotations/<name>.json`` (see the module docstring).

    Raises:
        DataError: Naming the file and the first malformed field.
    """
    data = read_annotation_json(path)
    if not isinstance(data, dict) or len(data) != 1:
        raise DataError(
            f"{path}: expected one entry keyed by the image name, e.g. {{'{name}.png': "
            "{image_width, image_height, annotation: [...]}}"
        )
    entry = next(iter(data.values()))
    if not isinstance(entry, dict):
        raise DataError(f"{path}: the image entry must be an object")
    height, width = entry.get("image_height"), entry.get("image_width")
    if not (isinstance(height, int) and isinstance(width, int)) or min(height, width) <= 0:
        raise DataError(f"{path}: 'image_height' and 'image_width' must be positive integers")
    elements = entry.get("annotation")
    if not isinstance(elements, list):
        raise DataError(f"{path}: 'annotation' must be a list of elements")
    singles: list[_Object] = []
    groups: dict[str, list[tuple[str, list[float], dict[str, Any]]]] = {}
    for position, element in enumerate(elements):
        where = f"{path}: annotation element {position}"
        if not isinstance(element, dict):
            raise DataError(f"{where} is not an object")
        tags = element.get("tags")
        if not isinstance(tags, list) or not tags or not isinstance(tags[0], str):
            continue
        if tags[0] in skip_tags or not element.get("segmentation"):
            continue
        flat = point_list_to_flat(element["segmentation"], where)
        attributes = {"tags": [str(t) for t in tags]}
        if "z_order" in element:
            attributes["z_order"] = element["z_order"]
        group = element.get("group_id")
        if group is not None:
            groups.setdefault(str(group), []).append((tags[0], flat, attributes))
        else:
            singles.append(_Object(f"{name}/{position}", tags[0], (tuple(flat),), attributes))
    for group, members in groups.items():
        singles.append(
            _Object(
                f"{name}/group-{group}",
                members[0][0],
                tuple(tuple(flat) for _, flat, _ in members),
                {"group_id": group, "tags": members[0][2]["tags"], "members": len(members)},
            )
        )
    return _Image(height, width, tuple(singles))


class WoodScapeDataset(IndexedDataset):
    """WoodScape fisheye images with per-image instance JSONs (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/woodscape``).
        images_dir: ``rgb_images``.
        annotations_dir: ``instance_annotations``.
        skip_tags: Tags whose elements are not objects.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "woodscape"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        annotations_dir: str,
        *,
        skip_tags: Sequence[str] = ("void",),
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.images_dir = images_dir
        self.annotations_dir = annotations_dir
        self.skip_tags = tuple(skip_tags)
        self._parsed: dict[str, _Image] = {}
        self._names: list[str] | None = None

    def annotation_labels(self) -> list[str]:
        return [f"{self.annotations_dir}/*.json"]

    def annotation_files(self) -> list[Path]:
        return [self._json(name) for name in self._scan()]

    def loader_options(self) -> dict[str, Any]:
        return {
            "images": self.images_dir,
            "annotations": self.annotations_dir,
            "skip_tags": list(self.skip_tags),
        }

    def _json(self, name: str) -> Path:
        return self.root / self.annotations_dir / f"{name}.json"

    def _image(self, name: str) -> Path:
        return self.root / self.images_dir / f"{name}.png"

    def _scan(self) -> list[str]:
        with self._lock:
            if self._names is None:
                self.require_root()
                folder = self.root / self.annotations_dir
                if not folder.is_dir():
                    raise self.missing("annotation folder", folder)
                self._names = sorted(p.stem for p in folder.glob("*.json"))
                if not self._names:
                    raise DataError(f"dataset {self.name!r}: no <name>.json file in {folder}")
            return self._names

    def _read(self, name: str) -> _Image:
        with self._lock:
            if name not in self._parsed:
                self._parsed[name] = read_woodscape_json(self._json(name), name, self.skip_tags)
            return self._parsed[name]

    def index(self) -> list[IndexEntry]:
        entries = []
        for name in self._scan():
            count = len(self._read(name).objects)
            if count:
                entries.append(IndexEntry(name, count))
        return entries

    def verify(self) -> VerifyReport:
        entries = self.index()
        for entry in entries:
            if not self._image(entry.image_id).is_file():
                raise MissingFileError(
                    f"dataset {self.name!r}: image file {self._image(entry.image_id)} (for "
                    f"{self._json(entry.image_id)}) not found"
                )
        return VerifyReport.of_index(
            entries, f"{len(entries)} annotation JSONs, each with its rgb image"
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        if image_id not in self._scan():
            raise DataError(f"dataset {self.name!r}: no image {image_id!r}")
        parsed = self._read(image_id)
        objects: list[ObjectAnnotation] = []
        for item in parsed.objects:
            rle = polygons_rle(item.polygons, parsed.height, parsed.width)
            obj = (
                None
                if rle is None
                else object_from_rle(
                    item.object_id, rle, category=item.category, attributes=item.attributes
                )
            )
            if obj is not None:
                objects.append(obj)
        return image_file_sample(
            self,
            image_id,
            self._image(image_id),
            parsed.height,
            parsed.width,
            objects,
            {"camera": image_id.rsplit("_", 1)[-1]},
        )


__all__ = ["WoodScapeDataset", "read_woodscape_json"]
