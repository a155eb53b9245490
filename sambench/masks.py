"""The one mask codec: binary masks as COCO run-length encodings (pycocotools).

Every mask that leaves a model, a loader or a task is stored as an :class:`RLE`:
``{"size": [height, width], "counts": "<compressed string>"}``, exactly the COCO
results format, so records and prediction files can be re-scored by any COCO tool.

>>> import numpy as np
>>> m = np.zeros((4, 5), dtype=bool); m[1:3, 1:4] = True
>>> rle = encode(m)
>>> rle["size"], area(rle), bbox(rle)
([4, 5], 6, [1.0, 1.0, 3.0, 2.0])
>>> bool((decode(rle) == m).all())
True
>>> iou(rle, encode(np.ones((4, 5), dtype=bool)))
0.3
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import cv2
import numpy as np
import numpy.typing as npt
from pycocotools import mask as mask_utils

BoolMask = npt.NDArray[np.bool_]


class RLE(TypedDict):
    """A COCO compressed run-length encoding with JSON-safe ``counts``."""

    size: list[int]
    counts: str


_LARGE_MASK = 1 << 18
"""Masks with at least this many pixels are reordered to column-major by OpenCV."""


def encode(mask: npt.NDArray[np.generic]) -> RLE:
    """Encode one 2-D mask (any dtype; non-zero is foreground) as a JSON-safe RLE.

    COCO RLE runs down columns, so a row-major mask is first laid out column-major; for
    large masks OpenCV's transpose does that several times faster than NumPy's copy (the
    RLE is identical).

    >>> m = np.zeros((600, 500), dtype=bool); m[100:300, 50:70] = True
    >>> encode(m) == encode(np.asfortranarray(m))
    True
    """
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    as_bytes = mask.astype(np.uint8, copy=False)
    if as_bytes.size >= _LARGE_MASK and not as_bytes.flags.f_contiguous:
        as_bytes = np.asarray(cv2.transpose(np.ascontiguousarray(as_bytes)), dtype=np.uint8).T
    raw = mask_utils.encode(np.asfortranarray(as_bytes))
    return {
        "size": [int(raw["size"][0]), int(raw["size"][1])],
        "counts": raw["counts"].decode("ascii"),
    }


def decode(rle: RLE) -> BoolMask:
    """Decode an RLE to a boolean ``(height, width)`` array."""
    decoded: BoolMask = mask_utils.decode(_to_coco(rle)).astype(bool)
    return decoded


def area(rle: RLE) -> int:
    """Number of foreground pixels."""
    return int(mask_utils.area(_to_coco(rle)))


def bbox(rle: RLE) -> list[float]:
    """Tight box ``[x, y, width, height]`` in COCO convention (all zeros when empty)."""
    return [float(v) for v in mask_utils.toBbox(_to_coco(rle))]


def iou(a: RLE, b: RLE) -> float:
    """Intersection over union of two masks; 1.0 when both are empty."""
    if area(a) == 0 and area(b) == 0:
        return 1.0
    return float(mask_utils.iou([_to_coco(a)], [_to_coco(b)], [0])[0, 0])


def from_polygons(polygons: Sequence[Sequence[float]], height: int, width: int) -> RLE:
    """Rasterise COCO polygons (``[[x1, y1, x2, y2, ...], ...]``) into one RLE."""
    parts = mask_utils.frPyObjects([list(p) for p in polygons], height, width)
    merged = mask_utils.merge(parts)
    return {"size": [height, width], "counts": merged["counts"].decode("ascii")}


def from_uncompressed(counts: Sequence[int], height: int, width: int) -> RLE:
    """Convert a COCO uncompressed RLE (``counts`` as a list of run lengths)."""
    compressed = mask_utils.frPyObjects(
        {"size": [height, width], "counts": list(counts)}, height, width
    )
    return {"size": [height, width], "counts": compressed["counts"].decode("ascii")}


def _to_coco(rle: RLE) -> dict[str, object]:
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
