"""Detector boxes for instance segmentation: reading a detections file, and a jittered stand-in.

A detections file is a detector's output in the COCO results format, the form in which the
ViTDet-H boxes of SAM Table 5 (and every detector evaluated with the COCO API) are
distributed: a JSON list with one entry per box::

    [{"image_id": 139, "category_id": 64, "bbox": [236.98, 142.51, 24.7, 69.5],
      "score": 0.998}, ...]

``bbox`` is ``[x, y, width, height]`` in image pixels; ``category_id`` is the dataset's
category id (COCO's for COCO, LVIS's for LVIS); ``score`` is the detector's confidence.
Other keys (a detector's own ``segmentation``, ``id``) are ignored. :func:`load_detections`
checks every entry and names the file and the first entry at fault.

:func:`jitter_detections` writes a **testing aid**, not a detector: boxes made from the
ground truth with noise, dropped objects and false boxes, so the ``instances`` task can be
exercised end to end without a detector (``sambench detections jitter``). Its AP says nothing
about any detector; never report it as a Table 5 number.

>>> gt = {"images": [{"id": 1, "height": 100, "width": 200}],
...       "categories": [{"id": 3, "name": "car"}],
...       "annotations": [{"id": 7, "image_id": 1, "category_id": 3,
...                        "bbox": [10.0, 20.0, 50.0, 40.0], "iscrowd": 0}]}
>>> exact = jitter_detections(gt, JitterOptions(box_noise=0.0, drop=0.0, false_boxes=0.0,
...                                                min_score=1.0))
>>> exact[0]["bbox"], exact[0]["category_id"], exact[0]["score"]
([10.0, 20.0, 50.0, 40.0], 3, 1.0)
>>> jitter_detections(gt, JitterOptions(seed=1)) == jitter_detections(gt, JitterOptions(seed=1))
True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sambench.errors import SambenchError
from sambench.seeding import rng_for


class DetectionsError(SambenchError):
    """A detections file is missing or malformed (the message names the file and entry)."""


@dataclass(frozen=True)
class Detection:
    """One detector box.

    Attributes:
        index: Position of the entry in the detections file (0-based), for provenance.
        image_id: The image it belongs to, as a string (sambench's image ids are strings).
        category_id: The detector's category (the dataset's category id).
        bbox: ``(x, y, width, height)`` in image pixels (COCO convention).
        score: The detector's confidence.
    """

    index: int
    image_id: str
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float

    @property
    def corners(self) -> tuple[float, float, float, float]:
        """The box as ``(x0, y0, x1, y1)``, the form of :attr:`sambench.prompts.Prompt.box`."""
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)


@dataclass(frozen=True)
class Detections:
    """A validated detections file.

    Attributes:
        path: The file.
        sha256: SHA-256 of its bytes (recorded with every result made from it).
        by_image: ``image_id -> detections`` in file order.
        count: Number of entries.
    """

    path: Path
    sha256: str
    by_image: Mapping[str, tuple[Detection, ...]]
    count: int

    def for_image(self, image_id: str) -> tuple[Detection, ...]:
        """The image's detections in file order (none if the detector found nothing)."""
        return self.by_image.get(image_id, ())


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError as error:
        raise DetectionsError(f"detections file {path} not found") from error
    except OSError as error:
        raise DetectionsError(f"{path}: cannot read detections file ({error})") from error
    return digest.hexdigest()


def load_detections(path: Path) -> Detections:
    """Read and check a detections file in the COCO results format.

    Raises:
        DetectionsError: The file is missing, not JSON, not a list, or an entry lacks a key or
            has a malformed value; the message names the file and the entry (its position
            and image id).
    """
    path = Path(path)
    sha256 = file_sha256(path)
    try:
        raw = json.loads(path.read_bytes())
    except json.JSONDecodeError as error:
        raise DetectionsError(
            f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from error
    except UnicodeDecodeError as error:
        raise DetectionsError(f"{path}: not a JSON text file ({error.reason})") from error
    if not isinstance(raw, list):
        raise DetectionsError(
            f"{path}: a detections file is a JSON list of "
            '{"image_id", "category_id", "bbox", "score"} entries (COCO results format), '
            f"got a JSON {type(raw).__name__}"
        )
    by_image: dict[str, list[Detection]] = {}
    for index, entry in enumerate(raw):
        detection = _check_entry(entry, index, path)
        by_image.setdefault(detection.image_id, []).append(detection)
    return Detections(
        path=path,
        sha256=sha256,
        by_image={key: tuple(value) for key, value in by_image.items()},
        count=len(raw),
    )


def _check_entry(entry: object, index: int, path: Path) -> Detection:
    where = f"{path}: entry #{index}"
    if not isinstance(entry, dict):
        raise DetectionsError(f"{where} is not an object")
    if "image_id" in entry:
        where += f" (image_id {entry['image_id']!r})"
    for key in ("image_id", "category_id", "bbox", "score"):
        if key not in entry:
            raise DetectionsError(f"{where}: missing key {key!r}")
    image_id = entry["image_id"]
    if not (_is_int(image_id) or (isinstance(image_id, str) and image_id)):
        raise DetectionsError(f"{where}: 'image_id' must be an integer or a string")
    category_id = entry["category_id"]
    if not _is_int(category_id):
        raise DetectionsError(f"{where}: 'category_id' must be an integer, got {category_id!r}")
    bbox = entry["bbox"]
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(_is_number(v) and math.isfinite(v) for v in bbox)
    ):
        raise DetectionsError(
            f"{where}: 'bbox' must be 4 finite numbers [x, y, width, height], got {bbox!r}"
        )
    if bbox[2] < 0 or bbox[3] < 0:
        raise DetectionsError(f"{where}: 'bbox' has a negative width or height: {bbox!r}")
    score = entry["score"]
    if not (_is_number(score) and math.isfinite(score)):
        raise DetectionsError(f"{where}: 'score' must be a finite number, got {score!r}")
    return Detection(
        index=index,
        image_id=str(image_id),
        category_id=int(category_id),
        bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
        score=float(score),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------------------------------ jitter


@dataclass(frozen=True)
class JitterOptions:
    """How :func:`jitter_detections` degrades the ground truth into detector-like boxes.

    Attributes:
        seed: Seed; every image draws from its own generator seeded by ``(seed, image_id)``,
            so the file does not depend on image order or on which images are included.
        box_noise: Each box side moves by a normal offset with this standard deviation,
            relative to the box's width (left and right sides) or height (top and bottom).
        drop: Probability that an object gets no box (a missed detection).
        false_boxes: Mean number of false boxes per image (Poisson): a uniformly placed box
            with sides uniform in 5–50% of the image's sides and a uniformly drawn category.
        relabel: Probability that a kept box gets a uniformly drawn other category.
        min_score: Score floor of true boxes; a true box scores
            ``IoU(noisy box, GT box) * uniform(min_score, 1)``, so better boxes tend to rank
            first (as with a calibrated detector); a false box scores ``uniform(0, min_score)``.
    """

    seed: int = 0
    box_noise: float = 0.1
    drop: float = 0.1
    false_boxes: float = 1.0
    relabel: float = 0.0
    min_score: float = 0.5

    def __post_init__(self) -> None:
        for name in ("drop", "relabel", "min_score"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        for name in ("box_noise", "false_boxes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def jitter_detections(gt: Mapping[str, Any], options: JitterOptions) -> list[dict[str, Any]]:
    """Detector-like boxes from a COCO-format ground truth (a testing aid, see the module docs).

    For every image (in id order) and every non-crowd annotation (in id order): drop it with
    probability ``drop``; otherwise move each side of its ``bbox`` (see
    :class:`JitterOptions`), clip the box to the image, keep at least 1 pixel per side,
    relabel it with probability ``relabel`` and score it. Then add the image's false boxes.
    Coordinates are rounded to 0.01 pixel and scores to 1e-4, as detectors' JSON usually is.

    Returns:
        COCO results entries ``{"image_id", "category_id", "bbox", "score"}``.
    """
    categories = sorted(int(c["id"]) for c in gt.get("categories") or [])
    per_image: dict[Any, list[Mapping[str, Any]]] = {}
    for ann in gt.get("annotations") or []:
        if not ann.get("iscrowd", 0) and "bbox" in ann:
            per_image.setdefault(ann["image_id"], []).append(ann)
    images = sorted(gt.get("images") or [], key=lambda image: _order(image["id"]))
    out: list[dict[str, Any]] = []
    for image in images:
        height, width = float(image["height"]), float(image["width"])
        rng = rng_for(options.seed, "detections-jitter", image["id"])
        anns = sorted(per_image.get(image["id"], []), key=lambda ann: _order(ann["id"]))
        for ann in anns:
            # Draw every variate, used or not, so one object's fate never shifts another's.
            dropped = rng.random() < options.drop
            offsets = rng.normal(0.0, options.box_noise, size=4)
            relabelled = rng.random() < options.relabel
            new_category = int(rng.integers(len(categories))) if categories else 0
            quality = rng.uniform(options.min_score, 1.0)
            if dropped:
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            box = _clip(
                x + offsets[0] * w,
                y + offsets[1] * h,
                x + w + offsets[2] * w,
                y + h + offsets[3] * h,
                width,
                height,
            )
            category = int(ann["category_id"])
            if relabelled and len(categories) > 1:
                others = [c for c in categories if c != category]
                category = others[new_category % len(others)]
            score = _box_iou(box, (x, y, x + w, y + h)) * quality
            out.append(_entry(image["id"], category, box, score))
        for _ in range(int(rng.poisson(options.false_boxes)) if options.false_boxes else 0):
            bw = rng.uniform(0.05, 0.5) * width
            bh = rng.uniform(0.05, 0.5) * height
            x0 = rng.uniform(0.0, width - bw)
            y0 = rng.uniform(0.0, height - bh)
            category = categories[int(rng.integers(len(categories)))] if categories else 1
            score = rng.uniform(0.0, options.min_score)
            out.append(_entry(image["id"], category, (x0, y0, x0 + bw, y0 + bh), score))
    return out


def write_detections(path: Path, detections: Sequence[Mapping[str, Any]]) -> None:
    """Write entries as a COCO results JSON list (one entry per line, for diffs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join(json.dumps(dict(d), separators=(",", ":")) for d in detections)
    path.write_text(f"[\n{lines}\n]\n" if detections else "[]\n")


def _order(value: object) -> tuple[int, int, str]:
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, str(value))


def _clip(
    x0: float, y0: float, x1: float, y1: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """Order the corners, clip to the image and keep at least 1 pixel per side."""
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    x0 = min(max(x0, 0.0), width - 1.0)
    y0 = min(max(y0, 0.0), height - 1.0)
    x1 = min(max(x1, x0 + 1.0), width)
    y1 = min(max(y1, y0 + 1.0), height)
    return (x0, y0, x1, y1)


def _box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``(x0, y0, x1, y1)`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _entry(
    image_id: Any, category: int, box: tuple[float, float, float, float], score: float
) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {
        "image_id": image_id,
        "category_id": int(category),
        "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
        "score": round(float(np.clip(score, 0.0, 1.0)), 4),
    }


__all__ = [
    "Detection",
    "Detections",
    "DetectionsError",
    "JitterOptions",
    "file_sha256",
    "jitter_detections",
    "load_detections",
    "write_detections",
]
