"""The array operations of the automatic mask generator, equal to ``segment_anything``'s.

Each function reproduces the official one's result (``segment_anything.utils.amg`` and
``SamAutomaticMaskGenerator``) on NumPy arrays, so the generator works for any model of
the protocol and needs torch only where torch is already there:

* :func:`stability_scores` — ``calculate_stability_score``: the IoU of the masks thresholded at
  ``mask_threshold + offset`` and ``mask_threshold − offset`` (the first lies inside the
  second), in float32; ``nan`` for a mask that is empty even at the lower threshold.
* :func:`mask_boxes` — ``batched_mask_to_box``: ``[x0, y0, x1, y1]`` with **inclusive** right
  and bottom pixel indices (a one-pixel mask has ``x1 == x0``), ``[0, 0, 0, 0]`` when empty.
* :func:`near_crop_edge` — ``is_box_near_crop_edge``: a box within ``atol`` pixels of a crop
  side that is not also an image side.
* :func:`box_nms` — ``torchvision.ops.batched_nms`` with one category (what the official code
  calls) when torchvision is importable; otherwise a NumPy port of torchvision's CPU kernel
  (scores sorted descending, stable; a box is dropped when its float32 IoU with a kept box
  is ``> threshold`` compared in double precision; areas ``(x1 − x0)(y1 − y0)``).
* :func:`remove_small_regions` — the official hole / island clean-up (OpenCV, 8-connectivity).
* :func:`encode_masks` — COCO RLE of many masks through :mod:`sambench.masks` (the one
  codec): pycocotools on the CPU, or run lengths found on a GPU by torch
  (:func:`encode_masks_torch`) and compressed by :func:`sambench.masks.from_uncompressed`;
  both give the same strings.

>>> m = np.zeros((2, 4, 5), bool); m[0, 1:3, 2:5] = True
>>> mask_boxes(m).tolist()
[[2, 1, 4, 2], [0, 0, 0, 0]]
>>> logits = np.where(m, 3.0, -3.0).astype(np.float32); logits[0, 1, 2] = 0.5
>>> stability_scores(logits[:1], 0.0, 1.0).tolist()
[0.8333333134651184]
>>> box_nms(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32),
...         np.array([0.5, 0.9, 0.7], np.float32), 0.5, backend="numpy").tolist()
[1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sambench.masks import RLE, encode, from_uncompressed

BoolArray = npt.NDArray[np.bool_]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
NmsBackend = Literal["auto", "torchvision", "numpy"]


def stability_scores(logits: Float32Array, mask_threshold: float, offset: float) -> Float32Array:
    """Stability score of each ``(N, H, W)`` logit map (SAM §4: IoU of the ±offset masks)."""
    if logits.shape[0] == 0:
        return np.zeros(0, np.float32)
    high = np.count_nonzero(logits > mask_threshold + offset, axis=(1, 2))
    low = np.count_nonzero(logits > mask_threshold - offset, axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        scores: Float32Array = high.astype(np.float32) / low.astype(np.float32)
    return scores


def mask_boxes(masks: BoolArray) -> IntArray:
    """``(N, 4)`` boxes ``[x0, y0, x1, y1]`` (inclusive ends) of ``(N, H, W)`` masks."""
    n, height, width = masks.shape
    boxes = np.zeros((n, 4), np.int64)
    if n == 0 or height == 0 or width == 0:
        return boxes
    rows: BoolArray = np.any(masks, axis=2)
    cols: BoolArray = np.any(masks, axis=1)
    filled: BoolArray = np.any(rows, axis=1)
    boxes[:, 0] = cols.argmax(axis=1)
    boxes[:, 1] = rows.argmax(axis=1)
    boxes[:, 2] = width - 1 - cols[:, ::-1].argmax(axis=1)
    boxes[:, 3] = height - 1 - rows[:, ::-1].argmax(axis=1)
    boxes[~filled] = 0
    return boxes


def near_crop_edge(
    boxes: IntArray, crop_box: Sequence[int], image_box: Sequence[int], atol: float = 20.0
) -> BoolArray:
    """Boxes (in the crop's frame) within ``atol`` of a crop side that is not an image side."""
    if boxes.shape[0] == 0:
        return np.zeros(0, bool)
    x0, y0 = crop_box[0], crop_box[1]
    full = (boxes + np.array([x0, y0, x0, y0], np.int64)).astype(np.float32)
    crop = np.asarray(crop_box, np.float32)[None]
    image = np.asarray(image_box, np.float32)[None]
    at_crop = np.abs(full - crop) <= atol
    at_image = np.abs(full - image) <= atol
    near: BoolArray = np.any(at_crop & ~at_image, axis=1)
    return near


def torchvision_available() -> bool:
    """Whether ``torchvision.ops.batched_nms`` can be imported."""
    try:
        import torchvision.ops  # noqa: F401
    except ImportError:
        return False
    return True


def box_nms(
    boxes: npt.NDArray[Any],
    scores: npt.NDArray[Any],
    threshold: float,
    backend: NmsBackend = "auto",
) -> IntArray:
    """Indices of the boxes kept by greedy NMS, highest score first.

    Args:
        boxes: ``(N, 4)`` ``[x0, y0, x1, y1]``, compared in float32.
        scores: ``(N,)`` float32 scores.
        threshold: A box whose IoU with a kept, higher-scoring box is above this is dropped.
        backend: ``"torchvision"`` (``batched_nms`` with one category, as the official
            generator calls it), ``"numpy"`` (the port) or ``"auto"`` (torchvision if present).
    """
    if boxes.shape[0] == 0:
        return np.zeros(0, np.int64)
    if backend == "auto":
        backend = "torchvision" if torchvision_available() else "numpy"
    if backend == "torchvision":
        import torch
        from torchvision.ops import batched_nms

        keep = batched_nms(
            torch.as_tensor(boxes).float(),
            torch.as_tensor(scores),
            torch.zeros(boxes.shape[0]),
            iou_threshold=threshold,
        )
        kept: IntArray = keep.cpu().numpy().astype(np.int64)
        return kept
    return _nms_numpy(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), threshold)


def _nms_numpy(boxes: Float32Array, scores: Float32Array, threshold: float) -> IntArray:
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    areas = (x1 - x0) * (y1 - y0)
    suppressed = np.zeros(boxes.shape[0], bool)
    keep: list[int] = []
    thr = float(threshold)  # torchvision compares the float32 IoU with a double
    for position, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[position + 1 :]
        rest = rest[~suppressed[rest]]
        if rest.size == 0:
            continue
        w = np.maximum(np.float32(0), np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        h = np.maximum(np.float32(0), np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou.astype(np.float64) > thr]] = True
    return np.asarray(keep, np.int64)


def remove_small_regions(
    mask: BoolArray, area_thresh: float, mode: Literal["holes", "islands"]
) -> tuple[BoolArray, bool]:
    """Fill holes (``"holes"``) or drop islands (``"islands"``) smaller than ``area_thresh``.

    Returns the mask and whether it changed. If every island is small the largest is kept.
    """
    import cv2

    correct_holes = mode == "holes"
    working = (correct_holes ^ mask).astype(np.uint8)
    found: Any = cv2.connectedComponentsWithStats(working, connectivity=8)
    n_labels, regions, stats, _ = found
    sizes = stats[:, -1][1:]
    small = [i + 1 for i, s in enumerate(sizes) if s < area_thresh]
    if not small:
        return mask, False
    fill = [0, *small]
    if not correct_holes:
        fill = [i for i in range(n_labels) if i not in fill]
        if not fill:
            fill = [int(np.argmax(sizes)) + 1]
    result: BoolArray = np.isin(regions, fill)
    return result, True


def resolve_rle_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when torch sees a GPU, else ``"cpu"``; other names as given."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def encode_masks(masks: BoolArray, device: str = "cpu") -> list[RLE]:
    """COCO RLE of each ``(N, H, W)`` mask: pycocotools on ``"cpu"``, torch on a GPU device."""
    if device == "cpu" or masks.shape[0] == 0:
        return [encode(mask) for mask in masks]
    return encode_masks_torch(masks, device)


def encode_masks_torch(masks: BoolArray, device: str) -> list[RLE]:
    """Run lengths of all masks at once with torch on ``device`` (column-major, as COCO),
    compressed by :func:`sambench.masks.from_uncompressed`; equal to :func:`encode`."""
    import torch

    n, height, width = masks.shape
    flat = torch.as_tensor(masks, device=device).permute(0, 2, 1).reshape(n, -1)
    change = (flat[:, 1:] ^ flat[:, :-1]).nonzero()
    first = flat[:, 0].cpu().numpy()
    rows = change[:, 0].cpu().numpy()
    cols = change[:, 1].cpu().numpy()
    bounds = np.searchsorted(rows, np.arange(n + 1))
    total = height * width
    out: list[RLE] = []
    for i in range(n):
        edges = np.concatenate([[0], cols[bounds[i] : bounds[i + 1]] + 1, [total]])
        runs = np.diff(edges).tolist()
        counts = [0, *runs] if first[i] else runs
        out.append(from_uncompressed(counts, height, width))
    return out


__all__ = [
    "box_nms",
    "encode_masks",
    "encode_masks_torch",
    "mask_boxes",
    "near_crop_edge",
    "remove_small_regions",
    "resolve_rle_device",
    "stability_scores",
    "torchvision_available",
]
