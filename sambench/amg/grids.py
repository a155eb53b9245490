"""Point grids and crop boxes of the automatic mask generator.

The same arithmetic as ``segment_anything.utils.amg`` (``build_point_grid``,
``build_all_layer_point_grids``, ``generate_crop_boxes``), in NumPy only, so that the
generator places exactly the official points and crops.

>>> build_point_grid(2).tolist()
[[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]
>>> boxes, layers = generate_crop_boxes((100, 200), n_layers=1, overlap_ratio=512 / 1500)
>>> boxes
[[0, 0, 200, 100], [0, 0, 117, 67], [0, 33, 117, 100], [83, 0, 200, 67], [83, 33, 200, 100]]
>>> layers
[0, 1, 1, 1, 1]
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def build_point_grid(n_per_side: int) -> FloatArray:
    """``n × n`` points evenly spaced in ``[0, 1]²``, cell centres, row by row: ``(n², 2)`` (x, y).

    The coordinates are ``linspace(1 / 2n, 1 − 1 / 2n, n)`` on both axes (SAM's grid).
    """
    offset = 1 / (2 * n_per_side)
    one_side = np.linspace(offset, 1 - offset, n_per_side)
    xs = np.tile(one_side[None, :], (n_per_side, 1))
    ys = np.tile(one_side[:, None], (1, n_per_side))
    grid: FloatArray = np.stack([xs, ys], axis=-1).reshape(-1, 2)
    return grid


def build_all_layer_point_grids(
    n_per_side: int, n_layers: int, scale_per_layer: int
) -> list[FloatArray]:
    """One grid per crop layer: layer ``i`` has ``int(n_per_side / scale_per_layer**i)`` points
    per side."""
    return [build_point_grid(int(n_per_side / (scale_per_layer**i))) for i in range(n_layers + 1)]


def generate_crop_boxes(
    im_size: tuple[int, int], n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """Crop boxes ``[x0, y0, x1, y1]`` and their layer index: the whole image (layer 0), then
    layer ``i`` (1-based) as a ``2^i × 2^i`` grid of overlapping crops.

    The overlap of layer ``i`` is ``int(overlap_ratio × short side × 2 / 2^i)`` pixels.
    """
    im_h, im_w = im_size
    short_side = min(im_h, im_w)
    crop_boxes: list[list[int]] = [[0, 0, im_w, im_h]]
    layer_idxs: list[int] = [0]

    def crop_len(orig_len: int, n_crops: int, overlap: int) -> int:
        return math.ceil((overlap * (n_crops - 1) + orig_len) / n_crops)

    for i_layer in range(n_layers):
        n_crops_per_side = 2 ** (i_layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / n_crops_per_side))
        crop_w = crop_len(im_w, n_crops_per_side, overlap)
        crop_h = crop_len(im_h, n_crops_per_side, overlap)
        xs = [int((crop_w - overlap) * i) for i in range(n_crops_per_side)]
        ys = [int((crop_h - overlap) * i) for i in range(n_crops_per_side)]
        for x0, y0 in product(xs, ys):
            crop_boxes.append([x0, y0, min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)])
            layer_idxs.append(i_layer + 1)
    return crop_boxes, layer_idxs


__all__ = ["build_all_layer_point_grids", "build_point_grid", "generate_crop_boxes"]
