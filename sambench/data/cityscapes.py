"""Loader for Cityscapes fine annotations as **panoptic** segments (the SAM paper's mask type).

Reads the official ``gtFine_trainvaltest.zip`` / ``leftImg8bit_trainvaltest.zip`` layout:
``gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png`` (16-bit) and the image
``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png``. Image id
``<city>_<seq>_<frame>`` (the panoptic ``image_id``).

The segments are exactly those of the official converter
``cityscapesscripts/preparation/createPanopticImgs.py`` (the panoptic ground truth), computed
from the instance-id map directly, so the generated panoptic files are not needed:

- a pixel value ``v >= 1000`` is instance ``v % 1000`` of class ``v // 1000``; a value
  ``v < 1000`` is the whole region of class ``v`` (a stuff class, or a *group* of a thing
  class that annotators could not separate);
- **void**: classes with ``ignoreInEval`` (:data:`LABELS`: unlabeled, ego vehicle,
  rectification border, out of roi, static, dynamic, ground, parking, rail track, guard rail,
  bridge, tunnel, polegroup, caravan, trailer; license plate has id -1 and never occurs) make
  no segment;
- **crowd**: a thing class (``hasInstances``: person, rider, car, truck, bus, train,
  motorcycle, bicycle) with ``v < 1000`` is a crowd segment: kept, flagged ``iscrowd`` and not
  an evaluation target, as panoptic evaluation treats it;
- **one mask per segment**: every remaining distinct value is one object, a stuff class (road,
  sidewalk, building, wall, fence, pole, traffic light, traffic sign, vegetation, terrain,
  sky) being **one** segment even when its region is several disconnected pieces (as in the
  panoptic format; nothing is split into components).

Object id ``<image id>/<segment id>`` (the panoptic segment id = the instance-map value),
category the label name, category id the Cityscapes label id, attributes ``isthing``. The
subsampling mask count of an image needs the map decoded (:meth:`mask_counts` decodes it
without encoding masks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.convert import (
    check_same_size,
    image_file_sample,
    image_size,
    object_from_mask,
    read_label_image,
)
from sambench.errors import DataError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack


@dataclass(frozen=True)
class CityscapesLabel:
    """One row of ``cityscapesscripts/helpers/labels.py``."""

    name: str
    id: int
    has_instances: bool
    ignore_in_eval: bool


LABELS: tuple[CityscapesLabel, ...] = tuple(
    CityscapesLabel(name, label_id, things, ignored)
    for name, label_id, things, ignored in (
        ("unlabeled", 0, False, True),
        ("ego vehicle", 1, False, True),
        ("rectification border", 2, False, True),
        ("out of roi", 3, False, True),
        ("static", 4, False, True),
        ("dynamic", 5, False, True),
        ("ground", 6, False, True),
        ("road", 7, False, False),
        ("sidewalk", 8, False, False),
        ("parking", 9, False, True),
        ("rail track", 10, False, True),
        ("building", 11, False, False),
        ("wall", 12, False, False),
        ("fence", 13, False, False),
        ("guard rail", 14, False, True),
        ("bridge", 15, False, True),
        ("tunnel", 16, False, True),
        ("pole", 17, False, False),
        ("polegroup", 18, False, True),
        ("traffic light", 19, False, False),
        ("traffic sign", 20, False, False),
        ("vegetation", 21, False, False),
        ("terrain", 22, False, False),
        ("sky", 23, False, False),
        ("person", 24, True, False),
        ("rider", 25, True, False),
        ("car", 26, True, False),
        ("truck", 27, True, False),
        ("bus", 28, True, False),
        ("caravan", 29, True, True),
        ("trailer", 30, True, True),
        ("train", 31, True, False),
        ("motorcycle", 32, True, False),
        ("bicycle", 33, True, False),
        ("license plate", -1, False, True),
    )
)
"""The Cityscapes label table (name, id, hasInstances, ignoreInEval) of cityscapesScripts."""

BY_ID = {label.id: label for label in LABELS}

SUFFIX = "_gtFine_instanceIds.png"
IMAGE_SUFFIX = "_leftImg8bit.png"


@dataclass(frozen=True)
class Segment:
    """One panoptic segment of an instance-id map."""

    segment_id: int
    label: CityscapesLabel
    iscrowd: bool


def segments(values: npt.NDArray[Any], where: Path) -> list[tuple[Segment, npt.NDArray[np.bool_]]]:
    """The panoptic segments of an instance-id map, as ``createPanopticImgs.py`` makes them.

    Raises:
        DataError: A value names no Cityscapes label (``where`` is the file).
    """
    if values.ndim != 2:
        raise DataError(f"{where}: expected a single-channel 16-bit instance-id map")
    found = []
    for value in np.unique(values).tolist():
        segment_id = int(value)
        label_id = segment_id if segment_id < 1000 else segment_id // 1000
        label = BY_ID.get(label_id)
        if label is None:
            raise DataError(
                f"{where}: value {segment_id} names no Cityscapes label id ({label_id}); "
                "expected label ids below 1000 or label_id * 1000 + instance"
            )
        if label.ignore_in_eval:
            continue
        crowd = segment_id < 1000 and label.has_instances
        found.append((Segment(segment_id, label, crowd), values == value))
    return found


class CityscapesPanopticDataset(IndexedDataset):
    """Cityscapes fine annotations of one split as panoptic segments (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/cityscapes``).
        images_dir: ``leftImg8bit/<split>``.
        gt_dir: ``gtFine/<split>``.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "cityscapes-panoptic"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        gt_dir: str,
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.images_dir = images_dir
        self.gt_dir = gt_dir
        self._maps: dict[str, Path] | None = None

    def annotation_labels(self) -> list[str]:
        return [f"{self.gt_dir}/*/*{SUFFIX}"]

    def annotation_files(self) -> list[Path]:
        return list(self._scan().values())

    def loader_options(self) -> dict[str, Any]:
        return {"images": self.images_dir, "gt": self.gt_dir}

    def _scan(self) -> dict[str, Path]:
        with self._lock:
            if self._maps is None:
                self.require_root()
                folder = self.root / self.gt_dir
                if not folder.is_dir():
                    raise self.missing("ground-truth folder", folder)
                maps = sorted(folder.glob(f"*/*{SUFFIX}"), key=lambda p: p.name)
                if not maps:
                    raise DataError(
                        f"dataset {self.name!r}: no <city>/*{SUFFIX} file in {folder} "
                        "(expected the gtFine layout of gtFine_trainvaltest.zip)"
                    )
                self._maps = {path.name[: -len(SUFFIX)]: path for path in maps}
            return self._maps

    def _image_path(self, image_id: str) -> Path:
        city = self._scan()[image_id].parent.name
        return self.root / self.images_dir / city / f"{image_id}{IMAGE_SUFFIX}"

    def index(self) -> list[IndexEntry]:
        return [IndexEntry(image_id, None) for image_id in self._scan()]

    def mask_counts(self) -> dict[str, int]:
        """Non-crowd segments per image (maps decoded, no mask encoded)."""
        counts = {}
        for entry in self.index_entries():
            path = self._scan()[entry.image_id]
            counts[entry.image_id] = sum(
                not segment.iscrowd for segment, _ in segments(read_label_image(path), path)
            )
        return counts

    def verify(self) -> VerifyReport:
        maps = self._scan()
        for image_id in maps:
            image = self._image_path(image_id)
            if not image.is_file():
                raise self.missing(f"image of {image_id}", image)
        return VerifyReport(
            images=len(maps),
            masks=None,
            checked=f"{len(maps)} instance-id maps, each with its leftImg8bit image",
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        path = self._scan().get(image_id)
        if path is None:
            raise DataError(f"dataset {self.name!r}: no image {image_id!r}")
        image = self._image_path(image_id)
        height, width = image_size(image)
        values = read_label_image(path)
        check_same_size(values, height, width, path, image)
        objects: list[ObjectAnnotation] = []
        for segment, mask in segments(values, path):
            obj = object_from_mask(
                f"{image_id}/{segment.segment_id}",
                mask,
                category=segment.label.name,
                category_id=segment.label.id,
                iscrowd=segment.iscrowd,
                attributes={"isthing": segment.label.has_instances},
            )
            if obj is not None:
                objects.append(obj)
        return image_file_sample(
            self, image_id, image, height, width, objects, {"city": path.parent.name}
        )


__all__ = ["BY_ID", "LABELS", "CityscapesLabel", "CityscapesPanopticDataset", "segments"]
