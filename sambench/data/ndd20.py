"""Loader for NDD20 (Northumberland Dolphin Dataset 2020): VGG Image Annotator (VIA) JSON.

Layout (``NDD20.zip``): ``NDD20/ABOVE/*.jpg`` with ``NDD20/ABOVE_LABELS.json`` and
``NDD20/BELOW/*.jpg`` with ``NDD20/BELOW_LABELS.json`` (card roles ``images.<part>`` and
``annotations.<part>``, parts ``above`` and ``below``). File names repeat across the two
folders, so image ids are ``<part>/<file name>``.

A VIA project JSON maps ``<file name><file size>`` to ``{filename, size, regions,
file_attributes}`` (a VIA 2 project file nests this under ``_via_img_metadata``). ``regions``
is a list (a dict keyed by index in older exports, read in key order) of ``{shape_attributes,
region_attributes}``.

Per-object masks: **one object per region**, its polygon (``shape_attributes.name ==
"polygon"``, vertices ``all_points_x`` / ``all_points_y``) filled with pycocotools; each region
is rasterised on its own, so overlapping dolphins keep their full masks. ``rect`` and
``ellipse`` regions (none in NDD20) are filled too; any other shape is an error naming the
file. Polygons with fewer than 3 vertices and empty masks are dropped. Object id
``<image id>/<region index>``, class-agnostic; the region attributes (``species``, ``id``,
``out of focus``, ...) become object attributes. Images without regions are skipped. The
subsampling mask count of an image is its number of regions (no mask decoded).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.convert import image_file_sample, image_size, object_from_rle, polygons_rle
from sambench.data.jsonfile import read_annotation_json
from sambench.errors import DataError, MissingFileError
from sambench.masks import RLE
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack


@dataclass(frozen=True)
class _Region:
    shape: Mapping[str, Any]
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class _Image:
    image_id: str
    part: str
    path: Path
    json_path: Path
    regions: tuple[_Region, ...]


def _number_list(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )


def read_via(path: Path) -> list[tuple[str, list[_Region]]]:
    """``(file name, regions)`` per entry of a VIA project JSON, in file order.

    Raises:
        DataError: Naming the file and the first malformed entry.
    """
    data = read_annotation_json(path)
    if isinstance(data, dict) and isinstance(data.get("_via_img_metadata"), dict):
        data = data["_via_img_metadata"]
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a VIA project (an object keyed by file name + size)")
    entries = []
    for key, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise DataError(f"{path}: entry {key!r} needs a 'filename' (VIA project format)")
        raw = entry.get("regions", [])
        if isinstance(raw, dict):
            raw = [raw[k] for k in sorted(raw, key=lambda k: (len(str(k)), str(k)))]
        if not isinstance(raw, list):
            raise DataError(f"{path}: entry {key!r}: 'regions' must be a list or an object")
        regions = []
        for position, region in enumerate(raw):
            shape = region.get("shape_attributes") if isinstance(region, dict) else None
            if not isinstance(shape, dict):
                raise DataError(
                    f"{path}: entry {key!r} region {position} has no 'shape_attributes' object"
                )
            attributes = region.get("region_attributes") or {}
            if not isinstance(attributes, dict):
                attributes = {}
            regions.append(_Region(shape, attributes))
        entries.append((entry["filename"], regions))
    return entries


def region_rle(shape: Mapping[str, Any], height: int, width: int, where: str) -> RLE | None:
    """A VIA region's mask (polygon, rect or ellipse), or ``None`` when degenerate."""
    name = shape.get("name")
    if name in ("polygon", "polyline"):
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if not (isinstance(xs, list) and isinstance(ys, list)) or len(xs) != len(ys):
            raise DataError(f"{where}: all_points_x / all_points_y must be equal-length lists")
        if not (_number_list(xs) and _number_list(ys)):
            raise DataError(f"{where}: all_points_x / all_points_y must hold numbers")
        flat = [float(v) for pair in zip(xs, ys, strict=True) for v in pair]
        return polygons_rle([flat], height, width)
    if name == "rect":
        x, y, w, h = (float(shape.get(k, 0)) for k in ("x", "y", "width", "height"))
        return polygons_rle([[x, y, x + w, y, x + w, y + h, x, y + h]], height, width)
    if name == "ellipse":
        cx, cy = float(shape.get("cx", 0)), float(shape.get("cy", 0))
        rx, ry = float(shape.get("rx", 0)), float(shape.get("ry", 0))
        theta = float(shape.get("theta", 0.0))
        angles = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        px = cx + rx * np.cos(angles) * math.cos(theta) - ry * np.sin(angles) * math.sin(theta)
        py = cy + rx * np.cos(angles) * math.sin(theta) + ry * np.sin(angles) * math.cos(theta)
        flat = [float(v) for pair in zip(px, py, strict=True) for v in pair]
        return polygons_rle([flat], height, width)
    raise DataError(
        f"{where}: region shape {name!r} is not supported (expected polygon, rect or ellipse)"
    )


class Ndd20Dataset(IndexedDataset):
    """NDD20 above- and below-water images with VIA polygon annotations (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/ndd20``).
        parts: ``part -> (image folder, VIA JSON)`` relative to ``root``.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "via"

    def __init__(
        self,
        name: str,
        root: Path,
        parts: Mapping[str, tuple[str, str]],
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.parts = dict(parts)
        self._images: dict[str, _Image] | None = None

    def annotation_files(self) -> list[Path]:
        return [self.root / annotations for _, (_, annotations) in sorted(self.parts.items())]

    def loader_options(self) -> dict[str, Any]:
        return {part: list(paths) for part, paths in sorted(self.parts.items())}

    def _load(self) -> dict[str, _Image]:
        with self._lock:
            if self._images is None:
                self.require_root()
                images: dict[str, _Image] = {}
                for part, (images_dir, annotations) in sorted(self.parts.items()):
                    json_path = self.root / annotations
                    if not json_path.is_file():
                        raise self.missing("annotation file", json_path)
                    for filename, regions in read_via(json_path):
                        if not regions:
                            continue
                        image_id = f"{part}/{filename}"
                        if image_id in images:
                            raise DataError(f"{json_path}: image {filename!r} listed twice")
                        images[image_id] = _Image(
                            image_id,
                            part,
                            self.root / images_dir / filename,
                            json_path,
                            tuple(regions),
                        )
                self._images = dict(sorted(images.items()))
            return self._images

    def index(self) -> list[IndexEntry]:
        return [IndexEntry(i.image_id, len(i.regions)) for i in self._load().values()]

    def verify(self) -> VerifyReport:
        images = self._load()
        for image in images.values():
            if not image.path.is_file():
                raise MissingFileError(
                    f"dataset {self.name!r}: image file {image.path} (listed in "
                    f"{image.json_path}) not found"
                )
        return VerifyReport(
            images=len(images),
            masks=sum(len(i.regions) for i in images.values()),
            checked=f"VIA JSON, {len(images)} image files present",
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        image = self._load().get(image_id)
        if image is None:
            raise DataError(f"dataset {self.name!r}: no image {image_id!r}")
        height, width = image_size(image.path)
        objects: list[ObjectAnnotation] = []
        for position, region in enumerate(image.regions):
            where = f"{image.json_path}: {image.path.name} region {position}"
            rle = region_rle(region.shape, height, width, where)
            obj = (
                None
                if rle is None
                else object_from_rle(
                    f"{image_id}/{position}", rle, attributes=dict(region.attributes)
                )
            )
            if obj is not None:
                objects.append(obj)
        return image_file_sample(
            self, image_id, image.path, height, width, objects, {"part": image.part}
        )


__all__ = ["Ndd20Dataset", "read_via", "region_rle"]
