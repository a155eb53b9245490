"""MIAP + Open Images: the people (and clothing) the SAM paper's fairness study segments.

MIAP ("More Inclusive Annotations for People") has **boxes only**, with perceived gender and
age presentation. The SAM paper (§6, App. C) took the Open Images **person masks** whose box lies
within a 1% margin of a MIAP box, "relative to box side lengths", and gave each the MIAP labels
(3.9k masks on the MIAP test set, Table 2); and, for Table 6, **all Open Images clothing masks
inside MIAP person boxes** (6.5k), labelled by the person they belong to.

Files (official downloads, laid out under ``<data-root>/<name>/`` as the card says):

- MIAP boxes ``open_images_extended_miap_boxes_<split>.csv``: ``ImageID, LabelName, Confidence,
  XMin, XMax, YMin, YMax, IsOccluded, IsTruncated, IsGroupOf, IsDepictionOf, IsInsideOf,
  GenderPresentation, AgePresentation`` (coordinates normalised to [0, 1]; every box is a
  Person ``/m/01g317``). Required: ``ImageID, LabelName, XMin, XMax, YMin, YMax,
  GenderPresentation, AgePresentation``; the flags are read when present, under either name
  (``IsDepiction``/``IsDepictionOf``, ``IsInside``/``IsInsideOf``).
- Open Images masks ``<split>-annotations-object-segmentation.csv``: ``MaskPath, ImageID,
  LabelName, BoxID, BoxXMin, BoxXMax, BoxYMin, BoxYMax, PredictedIoU, Clicks``, and the mask
  PNGs of the 16 ``<split>-masks-<0..f>.zip`` unpacked into one folder (binary PNGs **not** at
  image resolution: resized to the image with nearest-neighbour).
- Images ``<ImageID>.jpg`` in one folder (the Open Images downloader's layout).

Matching (``variant: person``, :func:`match_box`): a mask whose label is a person label
(default the Person subtree of the Open Images hierarchy, :data:`PERSON_LABELS`: Person,
Man, Woman, Boy, Girl — Open Images boxes a person under its most specific class) matches a
MIAP box of the same image when **all four sides are within 1%** (``margin``) of the MIAP
box's width (x sides) or height (y sides): ``|XMin - BoxXMin| <= 0.01 * (XMax - XMin)`` and
likewise for XMax, YMin, YMax. Several matching MIAP boxes: the one with the smallest sum of
the four side deviations, then the first in the CSV. MIAP group boxes (``IsGroupOf = 1``)
describe several people and are never matched (``include_groups``). Unmatched masks are
not objects.

Clothing (``variant: clothing``, :func:`inside_box`): a mask whose label is in
:data:`CLOTHING_LABELS` (the whole ``Clothing /m/09j2d`` subtree of
``bbox_labels_600_hierarchy.json``, accessories, footwear, hats, bags and helmets included)
belongs to a MIAP person box of the same image when its box lies inside that box widened by
the same 1% margin on each side; when several person boxes contain it, the smallest (by area),
then the first in the CSV. (The paper gives no rule for overlapping people; this is
sambench's choice.) The attribute ``containing_person_boxes`` records how many contained it.

Every object carries the matched MIAP box's labels as ``perceived_gender_presentation`` and
``perceived_age_presentation`` (the MIAP strings: ``Predominantly Feminine``, ``Predominantly
Masculine``, ``Unknown``; ``Young``, ``Middle``, ``Older``, ``Unknown``), plus ``label_name``,
``miap_box`` ``[XMin, XMax, YMin, YMax]``, ``mask_box`` and the MIAP flags present. Object id
``<ImageID>/<MaskPath without .png and ImageID>``; category the Open Images class name.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.convert import image_file_sample, image_size, object_from_mask, read_label_image
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack

PERSON = "/m/01g317"
"""Open Images ``Person``: the label of every MIAP box."""

PERSON_LABELS: dict[str, str] = {
    "/m/01g317": "Person",
    "/m/04yx4": "Man",
    "/m/03bt1vf": "Woman",
    "/m/01bl7v": "Boy",
    "/m/05r655": "Girl",
}
"""Person and its subcategories in ``bbox_labels_600_hierarchy.json``."""

CLOTHING_LABELS: dict[str, str] = {
    "/m/09j2d": "Clothing",
    "/m/01bfm9": "Shorts",
    "/m/01d40f": "Dress",
    "/m/01gkx_": "Swimwear",
    "/m/01gmv2": "Brassiere",
    "/m/01krhy": "Tiara",
    "/m/01n4qj": "Shirt",
    "/m/01xygc": "Coat",
    "/m/01xyhv": "Suit",
    "/m/02dl1y": "Hat",
    "/m/025rp__": "Cowboy hat",
    "/m/02fq_6": "Fedora",
    "/m/02jfl0": "Sombrero",
    "/m/02wbtzl": "Sun hat",
    "/m/02h19r": "Scarf",
    "/m/02wv6h6": "Skirt",
    "/m/01cmb2": "Miniskirt",
    "/m/032b3c": "Jacket",
    "/m/0463sg": "Fashion accessory",
    "/m/0174n1": "Glove",
    "/m/03grzl": "Baseball glove",
    "/m/0176mf": "Belt",
    "/m/017ftj": "Sunglasses",
    "/m/01llwg": "Necklace",
    "/m/01nq26": "Sock",
    "/m/01r546": "Earrings",
    "/m/01rkbr": "Tie",
    "/m/02_n6y": "Goggles",
    "/m/080hkjn": "Handbag",
    "/m/0gjkl": "Watch",
    "/m/0hnnb": "Umbrella",
    "/m/0jyfg": "Glasses",
    "/m/0nl46": "Crown",
    "/m/04tn4x": "Swim cap",
    "/m/07mhn": "Trousers",
    "/m/0fly7": "Jeans",
    "/m/09j5n": "Footwear",
    "/m/02p3w7d": "Roller skates",
    "/m/01b638": "Boot",
    "/m/06k2mb": "High heels",
    "/m/03nfch": "Sandal",
    "/m/0h8mhzd": "Sports uniform",
    "/m/0hf58v5": "Luggage and bags",
    "/m/01940j": "Backpack",
    "/m/01s55n": "Suitcase",
    "/m/0584n8": "Briefcase",
    "/m/0zvk5": "Helmet",
    "/m/03p3bw": "Bicycle helmet",
    "/m/07qxg_": "Football helmet",
}
"""The ``Clothing`` (``/m/09j2d``) subtree of the Open Images V4+ box hierarchy, with names."""

VARIANTS = ("person", "clothing")

MIAP_REQUIRED = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax",
                 "GenderPresentation", "AgePresentation")  # fmt: skip
MASK_REQUIRED = ("MaskPath", "ImageID", "LabelName", "BoxID",
                 "BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax")  # fmt: skip
_FLAGS = {
    "IsOccluded": "is_occluded",
    "IsTruncated": "is_truncated",
    "IsGroupOf": "is_group_of",
    "IsDepictionOf": "is_depiction",
    "IsDepiction": "is_depiction",
    "IsInsideOf": "is_inside",
    "IsInside": "is_inside",
}

Box = tuple[float, float, float, float]
"""``(xmin, xmax, ymin, ymax)``, normalised, the Open Images order."""


@dataclass(frozen=True)
class MiapBox:
    """One MIAP person box."""

    row: int
    box: Box
    gender: str
    age: str
    flags: Mapping[str, int]

    @property
    def is_group(self) -> bool:
        return bool(self.flags.get("is_group_of"))


@dataclass(frozen=True)
class OiMask:
    """One Open Images mask row."""

    row: int
    mask_path: str
    label: str
    box_id: str
    box: Box
    predicted_iou: float | None


def match_box(mask: Box, person: Box, margin: float = 0.01) -> float | None:
    """The summed side deviation when every side of ``mask`` is within ``margin`` times the
    person box's side length of the person box's side, else ``None``.

    >>> match_box((0.100, 0.500, 0.200, 0.600), (0.102, 0.498, 0.200, 0.603))
    0.007
    >>> match_box((0.100, 0.500, 0.200, 0.600), (0.110, 0.500, 0.200, 0.600)) is None
    True
    """
    width, height = person[1] - person[0], person[3] - person[2]
    limits = (margin * width, margin * width, margin * height, margin * height)
    deviations = [abs(a - b) for a, b in zip(mask, person, strict=True)]
    if all(d <= limit + 1e-12 for d, limit in zip(deviations, limits, strict=True)):
        return round(sum(deviations), 12)
    return None


def inside_box(mask: Box, person: Box, margin: float = 0.01) -> bool:
    """Whether ``mask`` lies inside ``person`` widened by ``margin`` of its sides.

    >>> inside_box((0.2, 0.3, 0.2, 0.3), (0.1, 0.5, 0.1, 0.9))
    True
    >>> inside_box((0.2, 0.6, 0.2, 0.3), (0.1, 0.5, 0.1, 0.9))
    False
    """
    width, height = person[1] - person[0], person[3] - person[2]
    eps = 1e-12
    return (
        mask[0] >= person[0] - margin * width - eps
        and mask[1] <= person[1] + margin * width + eps
        and mask[2] >= person[2] - margin * height - eps
        and mask[3] <= person[3] + margin * height + eps
    )


def _read_csv(
    path: Path, required: Sequence[str], what: str
) -> tuple[list[str], Iterable[tuple[int, dict[str, str]]]]:
    if not path.is_file():
        raise MissingFileError(f"{what} {path} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read {what}: {error}") from error
    reader = csv.DictReader(text.splitlines())
    header = list(reader.fieldnames or [])
    missing = [column for column in required if column not in header]
    if missing:
        raise DataError(
            f"{path}: {what} lacks column(s) {', '.join(missing)} (expected "
            f"{', '.join(required)}; found {', '.join(header) or 'no header'})"
        )
    return header, ((line, row) for line, row in enumerate(reader, start=2))


def _float(row: Mapping[str, str], key: str, path: Path, line: int) -> float:
    try:
        return float(row[key])
    except (TypeError, ValueError):
        raise DataError(f"{path}:{line}: column {key} must be a number, got {row[key]!r}") from None


def read_miap_boxes(path: Path) -> dict[str, list[MiapBox]]:
    """MIAP person boxes per image id, in CSV order.

    Raises:
        DataError: A required column is missing or a value is malformed (file and line).
    """
    header, rows = _read_csv(path, MIAP_REQUIRED, "MIAP boxes CSV")
    flags = [column for column in _FLAGS if column in header]
    boxes: dict[str, list[MiapBox]] = {}
    for line, row in rows:
        if row["LabelName"] != PERSON:
            continue
        box = tuple(_float(row, k, path, line) for k in ("XMin", "XMax", "YMin", "YMax"))
        values = {}
        for column in flags:
            raw = (row.get(column) or "").strip()
            if raw:
                try:
                    values[_FLAGS[column]] = int(float(raw))
                except ValueError:
                    raise DataError(
                        f"{path}:{line}: column {column} must be 0 or 1, got {raw!r}"
                    ) from None
        boxes.setdefault(row["ImageID"], []).append(
            MiapBox(line, box, row["GenderPresentation"], row["AgePresentation"], values)  # type: ignore[arg-type]
        )
    return boxes


def read_oi_masks(path: Path, labels: Iterable[str]) -> dict[str, list[OiMask]]:
    """Open Images mask rows with one of ``labels``, per image id, in CSV order.

    Raises:
        DataError: A required column is missing or a value is malformed (file and line).
    """
    wanted = set(labels)
    _, rows = _read_csv(path, MASK_REQUIRED, "Open Images segmentation CSV")
    found: dict[str, list[OiMask]] = {}
    for line, row in rows:
        if row["LabelName"] not in wanted:
            continue
        box = tuple(
            _float(row, k, path, line) for k in ("BoxXMin", "BoxXMax", "BoxYMin", "BoxYMax")
        )
        iou = row.get("PredictedIoU")
        found.setdefault(row["ImageID"], []).append(
            OiMask(
                line,
                row["MaskPath"],
                row["LabelName"],
                row["BoxID"],
                box,  # type: ignore[arg-type]
                None if not iou else _float(row, "PredictedIoU", path, line),
            )
        )
    return found


@dataclass(frozen=True)
class Match:
    """An Open Images mask with the MIAP box that labels it."""

    mask: OiMask
    person: MiapBox
    candidates: int


def match_image(
    variant: str,
    oi_masks: Sequence[OiMask],
    people: Sequence[MiapBox],
    margin: float = 0.01,
    include_groups: bool = False,
) -> list[Match]:
    """The matched masks of one image (module docstring), in mask CSV order."""
    people = [p for p in people if include_groups or not p.is_group]
    matches = []
    for mask in oi_masks:
        if variant == "person":
            scored = [
                (score, p.row, p)
                for p in people
                if (score := match_box(mask.box, p.box, margin)) is not None
            ]
        else:
            scored = [
                ((p.box[1] - p.box[0]) * (p.box[3] - p.box[2]), p.row, p)
                for p in people
                if inside_box(mask.box, p.box, margin)
            ]
        if scored:
            best = min(scored, key=lambda item: (item[0], item[1]))[2]
            matches.append(Match(mask, best, len(scored)))
    return matches


class MiapDataset(IndexedDataset):
    """Open Images masks labelled with MIAP perceived gender / age (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/miap``).
        boxes_csv: The MIAP boxes CSV.
        masks_csv: The Open Images segmentation CSV of the same split.
        masks_dir: The folder of unpacked mask PNGs.
        images_dir: The folder of ``<ImageID>.jpg`` images.
        variant: ``person`` (Table 2) or ``clothing`` (Table 6).
        labels: Open Images labels considered (default :data:`PERSON_LABELS` or
            :data:`CLOTHING_LABELS`).
        margin: The relative box margin (0.01).
        include_groups: Also match MIAP group boxes.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "miap"

    def __init__(
        self,
        name: str,
        root: Path,
        boxes_csv: str,
        masks_csv: str,
        masks_dir: str,
        images_dir: str,
        *,
        variant: str = "person",
        labels: Sequence[str] | None = None,
        margin: float = 0.01,
        include_groups: bool = False,
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
        self.boxes_csv = boxes_csv
        self.masks_csv = masks_csv
        self.masks_dir = masks_dir
        self.images_dir = images_dir
        self.variant = variant
        default = PERSON_LABELS if variant == "person" else CLOTHING_LABELS
        self.labels = tuple(labels) if labels is not None else tuple(default)
        self.margin = margin
        self.include_groups = include_groups
        self._matches: dict[str, list[Match]] | None = None

    def annotation_files(self) -> list[Path]:
        return [self.root / self.boxes_csv, self.root / self.masks_csv]

    def loader_options(self) -> dict[str, Any]:
        return {
            "boxes": self.boxes_csv,
            "masks_csv": self.masks_csv,
            "masks": self.masks_dir,
            "images": self.images_dir,
            "variant": self.variant,
            "labels": list(self.labels),
            "margin": self.margin,
            "include_groups": self.include_groups,
        }

    def _load(self) -> dict[str, list[Match]]:
        with self._lock:
            if self._matches is None:
                self.require_root()
                for relative_path, what in (
                    (self.boxes_csv, "MIAP boxes CSV"),
                    (self.masks_csv, "Open Images segmentation CSV"),
                ):
                    if not (self.root / relative_path).is_file():
                        raise self.missing(what, self.root / relative_path)
                people = read_miap_boxes(self.root / self.boxes_csv)
                oi_masks = read_oi_masks(self.root / self.masks_csv, self.labels)
                matches: dict[str, list[Match]] = {}
                for image_id in sorted(oi_masks):
                    found = match_image(
                        self.variant,
                        oi_masks[image_id],
                        people.get(image_id, ()),
                        self.margin,
                        self.include_groups,
                    )
                    if found:
                        matches[image_id] = found
                self._matches = matches
            return self._matches

    def index(self) -> list[IndexEntry]:
        return [IndexEntry(image_id, len(found)) for image_id, found in self._load().items()]

    def _image(self, image_id: str) -> Path:
        return self.root / self.images_dir / f"{image_id}.jpg"

    def verify(self) -> VerifyReport:
        matches = self._load()
        for image_id, found in matches.items():
            if not self._image(image_id).is_file():
                raise self.missing(f"image of {image_id}", self._image(image_id))
            for match in found:
                path = self.root / self.masks_dir / match.mask.mask_path
                if not path.is_file():
                    raise MissingFileError(
                        f"dataset {self.name!r}: mask {path} (row {match.mask.row} of "
                        f"{self.root / self.masks_csv}) not found"
                    )
        return VerifyReport(
            images=len(matches),
            masks=sum(len(found) for found in matches.values()),
            checked=f"CSVs matched ({self.variant}), {len(matches)} images and their masks present",
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        found = self._load().get(image_id)
        if found is None:
            raise DataError(f"dataset {self.name!r}: no image {image_id!r} with a matched mask")
        image = self._image(image_id)
        height, width = image_size(image)
        names = {**PERSON_LABELS, **CLOTHING_LABELS}
        objects: list[ObjectAnnotation] = []
        for match in found:
            path = self.root / self.masks_dir / match.mask.mask_path
            pixels = read_label_image(path, "mask")
            if pixels.ndim == 3:
                pixels = pixels[..., 0]
            binary = np.asarray((pixels > 0).astype(np.uint8))
            if binary.shape != (height, width):
                binary = np.asarray(
                    cv2.resize(binary, (width, height), interpolation=cv2.INTER_NEAREST),
                    dtype=np.uint8,
                )
            stem = match.mask.mask_path.rsplit(".", 1)[0]
            local = stem[len(image_id) + 1 :] if stem.startswith(f"{image_id}_") else stem
            attributes: dict[str, Any] = {
                "perceived_gender_presentation": match.person.gender,
                "perceived_age_presentation": match.person.age,
                "label_name": match.mask.label,
                "box_id": match.mask.box_id,
                "miap_box": list(match.person.box),
                "mask_box": list(match.mask.box),
                **match.person.flags,
            }
            if match.mask.predicted_iou is not None:
                attributes["predicted_iou"] = match.mask.predicted_iou
            if self.variant == "clothing":
                attributes["containing_person_boxes"] = match.candidates
            obj = object_from_mask(
                f"{image_id}/{local}",
                binary,
                category=names.get(match.mask.label, match.mask.label),
                attributes=attributes,
            )
            if obj is not None:
                objects.append(obj)
        return image_file_sample(
            self, image_id, image, height, width, objects, {"variant": self.variant}
        )


__all__ = [
    "CLOTHING_LABELS",
    "PERSON",
    "PERSON_LABELS",
    "VARIANTS",
    "Match",
    "MiapBox",
    "MiapDataset",
    "OiMask",
    "inside_box",
    "match_box",
    "match_image",
    "read_miap_boxes",
    "read_oi_masks",
]
