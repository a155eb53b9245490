"""Loader for datasets with **one label image per image** (format ``instance-png``).

A card names, per part, an image folder and a label folder (``layout.images`` /
``layout.labels``, or ``layout.images.<part>`` / ``layout.labels.<part>`` for several parts read
as one dataset with ids ``<part>/<key>``). An image is a file under the image folder (at any
depth with ``recursive``) whose name ends with ``image_suffix``; its *key* is its path relative
to the folder without that suffix, and its label image is ``<labels>/<key><label_suffix>``.
Images without a label file have no ground truth and are skipped (the test splits of several
datasets); a folder with images but no label at all is an error naming both folders.

Label images are read without losing bits (16-bit PNGs stay 16-bit, palette PNGs give their
indices, RGB labels are packed as ``R * 65536 + G * 256 + B``). Then, by ``encoding``:

- ``instance``: one object per distinct value that is neither ``background`` (default ``[0]``)
  nor ``ignore``; object id ``<image id>/<value>``; with ``categories`` (value → name, for
  semantic maps where each class value is one object) the category is the class name and the
  category id the value; the value is kept as the attribute ``label_value``;
- ``binary``: one object, the pixels whose value exceeds ``threshold`` (default 0; the first
  channel of an RGB label); object id ``<image id>``.

With ``split: components`` each such mask is split into its 8-connected components (object
ids gain ``/<k>``, k from 0 in raster order of the components' first pixels), and components
smaller than ``min_area`` pixels are dropped. Empty masks are always dropped; there is no
crowd flag. The label image must have its image's size.

The subsampling mask count of an image is 1 for unsplit ``binary`` labels (the one mask the
file holds; an empty one is dropped when loaded); otherwise it needs the label image decoded,
which :meth:`LabelMapDataset.mask_counts` does without encoding any mask.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.convert import (
    check_same_size,
    components,
    image_file_sample,
    image_size,
    label_values,
    object_from_mask,
    read_label_image,
    relative,
)
from sambench.errors import DataError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack

ENCODINGS = ("instance", "binary")
SPLITS = ("none", "components")


@dataclass(frozen=True)
class LabelMapRule:
    """How a label image becomes objects (see the module docstring).

    Attributes:
        encoding: ``instance`` or ``binary``.
        background: Values that are not objects (``instance``).
        ignore: Further values that are not objects (void / "don't care").
        categories: Value → class name for semantic maps (empty: class-agnostic).
        threshold: Foreground is ``value > threshold`` (``binary``).
        split: ``none`` or ``components``.
        min_area: With ``components``, smaller components are dropped.
    """

    encoding: str = "instance"
    background: tuple[int, ...] = (0,)
    ignore: tuple[int, ...] = ()
    categories: Mapping[int, str] | None = None
    threshold: int = 0
    split: str = "none"
    min_area: int = 0

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, not {self.encoding!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {self.split!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (part of the prepared-cache key)."""
        return {
            "encoding": self.encoding,
            "background": list(self.background),
            "ignore": list(self.ignore),
            "categories": None
            if self.categories is None
            else {str(k): v for k, v in sorted(self.categories.items())},
            "threshold": self.threshold,
            "split": self.split,
            "min_area": self.min_area,
        }

    def masks(self, label: npt.NDArray[Any]) -> list[tuple[str, int | None, npt.NDArray[np.bool_]]]:
        """``(id suffix, label value or None, mask)`` per object, in a fixed order."""
        found: list[tuple[str, int | None, npt.NDArray[np.bool_]]] = []
        if self.encoding == "binary":
            plane = label[..., 0] if label.ndim == 3 else label
            found.append(("", None, plane.astype(np.int64) > self.threshold))
        else:
            values = label_values(label)
            skip = set(self.background) | set(self.ignore)
            for value in np.unique(values).tolist():
                if value in skip:
                    continue
                found.append((f"/{value}", int(value), values == value))
        if self.split == "none":
            return [item for item in found if item[2].any()]
        pieces = []
        for suffix, value, mask in found:
            kept = [part for part in components(mask) if int(part.sum()) >= max(self.min_area, 1)]
            pieces += [(f"{suffix}/{k}", value, part) for k, part in enumerate(kept)]
        return pieces

    def count(self, label: npt.NDArray[Any]) -> int:
        """How many objects :meth:`masks` gives (computed the same way, nothing encoded)."""
        return len(self.masks(label))


@dataclass(frozen=True)
class _Image:
    image_id: str
    part: str
    image: Path
    label: Path


class LabelMapDataset(IndexedDataset):
    """Images with one label image each (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder.
        parts: ``part -> (image folder, label folder)`` relative to ``root``; a single part
            named ``""`` gives ids without a part prefix.
        rule: How a label image becomes objects.
        image_suffix: Images are the files whose name ends with it (e.g. ``_rgb.png``).
        label_suffix: The label of key ``k`` is ``k + label_suffix``.
        recursive: Search the image folders at any depth (keys keep sub-folders).
        include: Glob patterns on the key (``fnmatch``); only matching images are used
            (empty: all).
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "instance-png"

    def __init__(
        self,
        name: str,
        root: Path,
        parts: Mapping[str, tuple[str, str]],
        rule: LabelMapRule,
        *,
        image_suffix: str = ".png",
        label_suffix: str = ".png",
        recursive: bool = False,
        include: Sequence[str] = (),
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        if not parts:
            raise ValueError("LabelMapDataset needs at least one part")
        self.parts = dict(parts)
        self.rule = rule
        self.image_suffix = image_suffix
        self.label_suffix = label_suffix
        self.recursive = recursive
        self.include = tuple(include)
        self._images: dict[str, _Image] | None = None

    # -- identity -------------------------------------------------------------------------------

    def annotation_labels(self) -> list[str]:
        depth = "**/" if self.recursive else ""
        return [
            f"{labels}/{depth}*{self.label_suffix}" for _, labels in sorted(self.parts.values())
        ]

    def annotation_files(self) -> list[Path]:
        return [image.label for image in self._scan().values()]

    def loader_options(self) -> dict[str, Any]:
        return {
            "parts": {part: list(dirs) for part, dirs in sorted(self.parts.items())},
            "rule": self.rule.as_dict(),
            "image_suffix": self.image_suffix,
            "label_suffix": self.label_suffix,
            "recursive": self.recursive,
            "include": list(self.include),
        }

    # -- index ----------------------------------------------------------------------------------

    def _scan(self) -> dict[str, _Image]:
        with self._lock:
            if self._images is None:
                self.require_root()
                found: dict[str, _Image] = {}
                for part, (images_dir, labels_dir) in sorted(self.parts.items()):
                    found.update(self._scan_part(part, images_dir, labels_dir))
                self._images = found
            return self._images

    def _scan_part(self, part: str, images_dir: str, labels_dir: str) -> dict[str, _Image]:
        folder = self.root / images_dir
        labels = self.root / labels_dir
        if not folder.is_dir():
            raise self.missing("image folder", folder)
        if not labels.is_dir():
            raise self.missing("label folder", labels)
        walker = folder.rglob("*") if self.recursive else folder.iterdir()
        candidates = sorted(
            (p for p in walker if p.name.endswith(self.image_suffix) and p.is_file()),
            key=lambda p: p.relative_to(folder).as_posix(),
        )
        found: dict[str, _Image] = {}
        for path in candidates:
            key = path.relative_to(folder).as_posix()[: -len(self.image_suffix)]
            if not key or (
                self.include and not any(fnmatch.fnmatchcase(key, g) for g in self.include)
            ):
                continue
            label = labels / f"{key}{self.label_suffix}"
            if not label.is_file():
                continue
            image_id = f"{part}/{key}" if part else key
            found[image_id] = _Image(image_id, part, path, label)
        if candidates and not found and not self.include:
            raise DataError(
                f"dataset {self.name!r}: no image in {folder} (names ending with "
                f"{self.image_suffix!r}) has a label <key>{self.label_suffix} in {labels}"
            )
        return found

    def index(self) -> list[IndexEntry]:
        """Images with a label file, in part then key order (counts: see module docstring)."""
        per_image = 1 if self.rule.encoding == "binary" and self.rule.split == "none" else None
        return [IndexEntry(image_id, per_image) for image_id in self._scan()]

    def mask_counts(self) -> dict[str, int]:
        """Objects per image; label images are decoded, but no mask is encoded."""
        counts: dict[str, int] = {}
        for entry in self.index_entries():
            if entry.masks is not None:
                counts[entry.image_id] = entry.masks
                continue
            image = self._scan()[entry.image_id]
            counts[entry.image_id] = self.rule.count(read_label_image(image.label))
        return counts

    def verify(self) -> VerifyReport:
        images = self._scan()
        if not images:
            folders = ", ".join(str(self.root / d) for d, _ in self.parts.values())
            only = f", keys matching {', '.join(self.include)}" if self.include else ""
            raise DataError(
                f"dataset {self.name!r}: no image with a label file under {folders} "
                f"(expected <key>{self.image_suffix} with <key>{self.label_suffix}{only})"
            )
        entries = self.index()
        counts = [entry.masks for entry in entries]
        masks = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
        return VerifyReport(
            images=len(images),
            masks=masks,
            checked=f"{len(images)} images, each with its label image",
        )

    # -- conversion -----------------------------------------------------------------------------

    def load_sample(self, image_id: str) -> ImageSample | None:
        entry = self._scan().get(image_id)
        if entry is None:
            raise DataError(f"dataset {self.name!r}: no image {image_id!r}")
        height, width = image_size(entry.image)
        label = read_label_image(entry.label)
        check_same_size(label, height, width, entry.label, entry.image)
        metadata = {"label_file": relative(entry.label, self.root)}
        if entry.part:
            metadata["part"] = entry.part
        objects = self.objects(image_id, label)
        return image_file_sample(self, image_id, entry.image, height, width, objects, metadata)

    def objects(self, image_id: str, label: npt.NDArray[Any]) -> list[ObjectAnnotation]:
        """The objects of one label image (the rule of the module docstring)."""
        categories = self.rule.categories
        objects = []
        for suffix, value, mask in self.rule.masks(label):
            attributes: dict[str, Any] = {} if value is None else {"label_value": value}
            obj = object_from_mask(
                f"{image_id}{suffix}",
                mask,
                category=None if categories is None or value is None else categories.get(value),
                category_id=None if categories is None else value,
                attributes=attributes,
            )
            if obj is not None:
                objects.append(obj)
        return objects


__all__ = ["ENCODINGS", "SPLITS", "LabelMapDataset", "LabelMapRule"]
