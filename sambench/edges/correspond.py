"""Exact pixel correspondence between a predicted and a ground-truth boundary map.

This is the BSDS benchmark's ``correspondPixels`` (``match.cc`` of the Berkeley code, also
inside pyEdgeEval), solved exactly and faster:

* Two boundary pixels may match when they are at most ``max_dist × diagonal`` apart
  (``max_dist = 0.0075``: 4.3 pixels on a 481×321 image).
* The benchmark solves a minimum-cost perfect assignment in which a real match costs its
  distance (×100, rounded) and every pixel left unmatched costs ``ceil(100 × 100 × maxDist)``
  (the outlier weight). That is a **maximum-weight bipartite matching** with weight
  ``outlier_weight − round(100 × distance)`` on every pair within reach: matching more pixels
  comes first, shorter distances second.
* The benchmark reaches it with Goldberg's CSA on a graph whose outlier connections are
  random (6 per node, from a global random state), so its result can depend on the calls
  before it by a pixel here and there; which of several equally good matchings it returns
  is arbitrary. Here the same objective is solved exactly, with every outlier connection
  present, by :class:`~sambench.edges.assignment.DynamicAssignment`; ties between equally
  good matchings are broken by a fixed pseudo-random perturbation (:data:`TIE_SEED`) that
  cannot change the optimum.

:class:`BoundaryMatcher` builds the graph of pixel pairs within reach once per (image,
annotator) for every pixel a prediction can switch on; matching the thresholded maps of
one image then only switches pixels on and off, and the optimum is repaired incrementally
(tests check it against a from-scratch solve with scipy's LAPJVsp on real images).

>>> import numpy as np
>>> gt = np.zeros((20, 20), dtype=bool); gt[10, 2:18] = True
>>> pred = np.zeros((20, 20), dtype=bool); pred[12, 5:15] = True; pred[0, 0] = True
>>> matched_pred, matched_gt = correspond_pixels(pred, gt, max_dist=0.1)
>>> int(matched_pred.sum()), int(matched_gt.sum())
(10, 10)
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

BoolMask = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

MULTIPLIER = 100
"""Distances are compared in hundredths of a pixel, rounded (``match.cc``)."""

OUTLIER_COST = 100.0
"""Cost of leaving a pixel unmatched, in units of the matching radius (``correspondPixels``)."""


def match_radius(height: int, width: int, max_dist: float) -> float:
    """Matching radius in pixels: ``max_dist`` times the image diagonal."""
    return max_dist * math.sqrt(height * height + width * width)


def outlier_weight(radius: float) -> int:
    """Integer cost of an unmatched pixel: ``ceil(100 × OUTLIER_COST × radius)``."""
    return math.ceil(OUTLIER_COST * radius * MULTIPLIER)


@lru_cache(maxsize=32)
def disk_offsets(radius: float) -> tuple[IntArray, IntArray, IntArray]:
    """``(dy, dx, cost)`` of every offset with ``dx² + dy² <= radius²``; cost = round(100 d)."""
    r = math.ceil(radius)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    dy = dy.ravel()
    dx = dx.ravel()
    inside = dx * dx + dy * dy <= radius * radius
    dy = dy[inside].astype(np.intp)
    dx = dx[inside].astype(np.intp)
    # rint as in match.cc (round half to even on exact halves; distances never are)
    cost = np.rint(np.sqrt(dx * dx + dy * dy) * MULTIPLIER).astype(np.intp)
    return dy, dx, cost


class BoundaryMatcher:
    """Matches many predicted boundary maps of one image against one annotator's boundaries.

    The pairs within reach are computed once for every pixel a prediction may switch on;
    successive predictions (the thresholded maps of one image) only switch pixels on and
    off in one :class:`~sambench.edges.assignment.DynamicAssignment`, which repairs its
    optimum incrementally.

    Args:
        groundtruth: ``(H, W)`` boundary map of one annotator (nonzero: boundary).
        candidates: ``(H, W)`` pixels any later prediction may switch on (e.g. the edge map
            at its lowest threshold); ``None``: every pixel.
        max_dist: Matching radius as a fraction of the image diagonal.
    """

    def __init__(
        self,
        groundtruth: npt.ArrayLike,
        candidates: npt.ArrayLike | None = None,
        max_dist: float = 0.0075,
    ) -> None:
        gt = np.asarray(groundtruth) != 0
        if gt.ndim != 2:
            raise ValueError(f"ground truth must be a 2-D map, got shape {gt.shape}")
        height, width = gt.shape
        self.shape = (height, width)
        self.radius = match_radius(height, width, max_dist)
        self.outlier_weight = outlier_weight(self.radius)
        self.boundary_pixels = int(gt.sum())
        gy, gx = np.nonzero(gt)
        dy, dx, cost = disk_offsets(self.radius)
        # every (gt pixel, offset) pair that lands inside the image on a candidate pixel
        py = gy[:, None] + dy[None, :]
        px = gx[:, None] + dx[None, :]
        inside = (py >= 0) & (py < height) & (px >= 0) & (px < width)
        gt_index = np.broadcast_to(np.arange(gy.size)[:, None], py.shape)[inside]
        flat = (py * width + px)[inside]
        costs = np.broadcast_to(cost[None, :], py.shape)[inside]
        self._candidates: BoolMask | None = None
        if candidates is not None:
            self._candidates = np.asarray(candidates) != 0
            if self._candidates.size != height * width:
                raise ValueError("candidates and ground truth differ in size")
            keep = self._candidates.reshape(-1)[flat]
            flat, gt_index, costs = flat[keep], gt_index[keep], costs[keep]
        order = np.argsort(flat, kind="stable")
        flat = flat[order]
        # left nodes: the candidate pixels within reach of the ground truth, in raster order
        starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]]) if flat.size else flat
        self._pixels = flat[starts].astype(np.intp)
        from sambench.edges.assignment import DynamicAssignment  # numba: imported when used

        scale, jitter = _tie_breaking(
            costs.size, min(starts.size, self.boundary_pixels), self.outlier_weight
        )
        self._assignment = DynamicAssignment(
            np.r_[starts, flat.size], gt_index[order], costs[order] * scale + jitter,
            self.outlier_weight * scale, n_right=self.boundary_pixels,
        )  # fmt: skip

    def match(self, prediction: npt.ArrayLike) -> tuple[IntArray, int]:
        """Flat indices of the matched predicted pixels, and the number of matched GT pixels.

        Raises:
            ValueError: ``prediction`` has another size, or switches on a pixel outside
                the ``candidates`` given at construction.
        """
        pixels, _ = self.match_pairs(prediction)
        return pixels, int(pixels.size)

    def match_pairs(self, prediction: npt.ArrayLike) -> tuple[IntArray, IntArray]:
        """The optimal matching for ``prediction``: flat indices of the matched predicted
        pixels and the indices (in raster order) of their ground-truth pixels, pairwise."""
        pred = np.asarray(prediction) != 0
        if pred.shape != self.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from {self.shape}")
        if self._candidates is not None and (pred & ~self._candidates).any():
            raise ValueError("prediction switches on pixels outside the matcher's candidates")
        wanted = pred.reshape(-1)[self._pixels]
        changed = np.flatnonzero(wanted != self._assignment.active)
        self._assignment.set_active(changed, wanted[changed])
        left, right = self._assignment.matches()
        return self._pixels[left], right.astype(np.intp)


TIE_SEED = 20_151_217
"""Seed of the tie-breaking perturbation (results are deterministic)."""


def _tie_breaking(edges: int, matches: int, outlier: int) -> tuple[int, IntArray]:
    """``(scale, jitter)``: costs become ``cost × scale + jitter`` with a fixed pseudo-random
    ``jitter`` in ``[0, J)`` per edge and ``scale = J × (matches + 1)``, so the jitter of a
    whole matching never outweighs one unit of real cost: the optimum is unchanged, and which
    of several equally good matchings it is becomes as unbiased as the benchmark's randomised
    outlier graph (a fixed rule would pick the same pixels for every annotator and lower the
    precision). ``J`` (at most 1024) keeps every potential far inside int64."""
    bound = 1 << 60
    levels = bound // ((2 * matches + 2) * (matches + 1) * max(outlier, 1))
    levels = int(min(1024, max(1, levels)))
    jitter = np.random.default_rng(TIE_SEED).integers(0, levels, size=edges, dtype=np.int64)
    return levels * (matches + 1), jitter


def correspond_pixels(
    prediction: npt.ArrayLike, groundtruth: npt.ArrayLike, max_dist: float = 0.0075
) -> tuple[BoolMask, BoolMask]:
    """Which predicted and which ground-truth boundary pixels are matched (``correspondPixels``).

    Returns:
        ``(matched_prediction, matched_groundtruth)``, boolean maps of the input size.
    """
    pred = np.asarray(prediction) != 0
    gt = np.asarray(groundtruth) != 0
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    matcher = BoundaryMatcher(gt, pred, max_dist)
    pixels, right = matcher.match_pairs(pred)
    matched_pred = np.zeros(pred.size, dtype=bool)
    matched_pred[pixels] = True
    matched_gt = np.zeros(gt.size, dtype=bool)
    matched_gt[np.flatnonzero(gt)[right]] = True
    return matched_pred.reshape(pred.shape), matched_gt.reshape(gt.shape)


__all__ = [
    "MULTIPLIER",
    "OUTLIER_COST",
    "TIE_SEED",
    "BoundaryMatcher",
    "correspond_pixels",
    "disk_offsets",
    "match_radius",
    "outlier_weight",
]
