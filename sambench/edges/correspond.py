"""Exact pixel correspondence between a predicted and a ground-truth boundary map.

This is the BSDS benchmark's ``correspondPixels`` (``match.cc`` of the Berkeley code, also
inside pyEdgeEval), solved exactly and faster:

* Two boundary pixels may match when they are at most ``max_dist × diagonal`` apart
  (``max_dist = 0.0075``: 4.3 pixels on a 481×321 image).
* The benchmark solves a minimum-cost perfect assignment in which a real match costs its
  distance (×100, rounded) and a pixel left unmatched goes to an outlier node costing
  ``ceil(100 × 100 × maxDist)``. That is a **maximum-weight bipartite matching** with weight
  ``outlier_weight − round(100 × distance)`` on every pair within reach: matching more pixels
  comes first, shorter distances second.
* The benchmark reaches it with Goldberg's CSA on a graph whose outlier connections are
  random (6 per node, from a global random state), so its result can depend on the calls
  before it by a pixel here and there; which of several equally good matchings it returns
  is arbitrary. Here the same objective is solved exactly on the sparse graph of pixel pairs
  within reach (:func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`, LAPJVsp),
  with one private "unmatched" node per pixel of the smaller side.

:class:`BoundaryMatcher` precomputes the pairs once per (image, annotator) for every pixel a
prediction can switch on, so matching the 99 thresholded maps of one image only selects
edges.

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

BATCH_EDGES = 2000
"""Components are solved together until their edges reach this count: the solver is
superlinear in problem size, but each call has a fixed cost."""

_TIE_SEED = 20_151_217
"""Seed of the tie-breaking perturbation (results are deterministic)."""

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
        if candidates is not None:
            cand = np.asarray(candidates).reshape(-1) != 0
            if cand.size != height * width:
                raise ValueError("candidates and ground truth differ in size")
            keep = cand[flat]
            flat, gt_index, costs = flat[keep], gt_index[keep], costs[keep]
        order = np.argsort(flat, kind="stable")
        self._pixel = flat[order].astype(np.intp)
        self._gt = gt_index[order].astype(np.intp)
        self._weight = (self.outlier_weight - costs[order]).astype(np.float64)
        self._candidates = None if candidates is None else np.asarray(candidates) != 0
        self._cache: dict[bytes, tuple[IntArray, int]] = {}

    def match(self, prediction: npt.ArrayLike) -> tuple[IntArray, int]:
        """Flat indices of the matched predicted pixels, and the number of matched GT pixels.

        Raises:
            ValueError: ``prediction`` has another size, or switches on a pixel outside
                the ``candidates`` given at construction.
        """
        pred = np.asarray(prediction) != 0
        if pred.shape != self.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from {self.shape}")
        if self._candidates is not None and (pred & ~self._candidates).any():
            raise ValueError("prediction switches on pixels outside the matcher's candidates")
        on = pred.reshape(-1)[self._pixel]
        pixel = self._pixel[on]
        gt = self._gt[on]
        weight = self._weight[on]
        if pixel.size == 0:
            return np.zeros(0, dtype=np.intp), 0
        return self._solve_components(pixel, gt, weight)

    def _solve_components(
        self, pixel: IntArray, gt: IntArray, weight: npt.NDArray[np.float64]
    ) -> tuple[IntArray, int]:
        """Solve each connected component of the pair graph on its own.

        The optimum decomposes over components, and the solver is superlinear in problem
        size, so this is much faster than one call. Components with a single pixel on one
        side are decided directly; the others are solved once per distinct set of predicted
        pixels and remembered, since most components recur unchanged from one threshold to
        the next.
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        starts = np.flatnonzero(np.r_[True, pixel[1:] != pixel[:-1]])  # pixel is sorted
        left = np.cumsum(np.r_[False, pixel[1:] != pixel[:-1]])
        present = np.zeros(self.boundary_pixels, dtype=bool)
        present[gt] = True
        right = (np.cumsum(present) - 1)[gt]  # compact GT labels without sorting
        a, b = starts.size, int(present.sum())
        graph = coo_matrix(
            (np.ones(left.size, dtype=np.int8), (left, a + right)), shape=(a + b, a + b)
        )
        _, labels = connected_components(graph, directed=False)
        component = labels[left]
        left_count = np.bincount(labels[:a], minlength=labels.max() + 1)
        right_count = np.bincount(labels[a:], minlength=labels.max() + 1)
        trivial = (left_count[component] == 1) | (right_count[component] == 1)
        matched: list[IntArray] = []
        matches = 0
        if trivial.any():
            # one match per such component: its best pair (ties: the first pixel)
            order = np.lexsort((-weight[trivial], component[trivial]))
            comp_sorted = component[trivial][order]
            first = np.r_[True, comp_sorted[1:] != comp_sorted[:-1]]
            matched.append(pixel[trivial][order][first])
            matches += int(first.sum())
        rest = np.flatnonzero(~trivial)
        if rest.size:
            order = rest[np.argsort(component[rest], kind="stable")]
            bounds = np.flatnonzero(np.diff(component[order])) + 1
            pending: list[tuple[bytes, IntArray]] = []
            pending_size = 0
            for edges in np.split(order, bounds):
                pixels = pixel[edges]  # sorted: edges keep the pixel order
                key = pixels[np.r_[True, pixels[1:] != pixels[:-1]]].tobytes()
                found = self._cache.get(key)
                if found is not None:
                    matched.append(found[0])
                    matches += found[1]
                    continue
                pending.append((key, edges))
                pending_size += edges.size
                if pending_size >= BATCH_EDGES:
                    matches += self._solve_batch(pending, pixel, gt, weight, matched)
                    pending, pending_size = [], 0
            if pending:
                matches += self._solve_batch(pending, pixel, gt, weight, matched)
        return (np.concatenate(matched) if matched else np.zeros(0, dtype=np.intp)), matches

    def _solve_batch(
        self,
        pending: list[tuple[bytes, IntArray]],
        pixel: IntArray,
        gt: IntArray,
        weight: npt.NDArray[np.float64],
        matched: list[IntArray],
    ) -> int:
        """Solve a few components in one call (they stay independent); cache each result."""
        edges = np.concatenate([e for _, e in pending])
        left, _ = max_weight_matching(pixel[edges], gt[edges], weight[edges])
        left.sort()
        matched.append(left)
        for key, _part in pending:
            pixels = np.frombuffer(key, dtype=np.intp)
            mine = left[np.isin(left, pixels, assume_unique=True)] if len(pending) > 1 else left
            self._cache[key] = (mine, int(mine.size))
        return int(left.size)


def max_weight_matching(
    left: IntArray, right: IntArray, weight: npt.NDArray[np.float64]
) -> tuple[IntArray, IntArray]:
    """Maximum-weight matching of a bipartite graph given by its edges (positive weights).

    Args:
        left: Left node label of each edge (any integers).
        right: Right node label of each edge.
        weight: Weight of each edge, > 0.

    Returns:
        The labels of the matched left nodes and of their partners, pairwise.

    >>> l = np.array([0, 0, 1]); r = np.array([5, 6, 5]); w = np.array([3.0, 1.0, 3.0])
    >>> a, b = max_weight_matching(l, r, w)
    >>> sorted(zip(a.tolist(), b.tolist()))
    [(0, 6), (1, 5)]
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    left_ids, li = np.unique(left, return_inverse=True)
    right_ids, ri = np.unique(right, return_inverse=True)
    swapped = right_ids.size < left_ids.size
    if swapped:  # the smaller side must be fully matched: it gets the private outliers
        left_ids, right_ids, li, ri = right_ids, left_ids, ri, li
    a = left_ids.size
    b = right_ids.size
    # Ties between equally good matchings are broken by a fixed pseudo-random perturbation
    # whose sum over any matching stays below one cost unit, so the optimum is unchanged and
    # the choice among optima is as unbiased as the benchmark's randomised outlier graph.
    jitter = _jitter(weight.size) * (0.5 / (a + 1))
    # every edge weight is shifted by +1 and each left node gets a private outlier of
    # weight 1: a full matching of the left side then maximises the real matching's weight
    rows = np.concatenate([li, np.arange(a)])
    cols = np.concatenate([ri, b + np.arange(a)])
    data = np.concatenate([weight + 1.0 + jitter, np.ones(a)])
    graph = sp.csr_matrix((data, (rows, cols)), shape=(a, a + b))
    row, col = min_weight_full_bipartite_matching(graph, maximize=True)
    real = col < b
    matched_left = left_ids[row[real]]
    matched_right = right_ids[col[real]]
    if swapped:
        matched_left, matched_right = matched_right, matched_left
    return matched_left.astype(np.intp), matched_right.astype(np.intp)


_JITTER = np.random.default_rng(_TIE_SEED).random(1 << 16)


def _jitter(size: int) -> npt.NDArray[np.float64]:
    """``size`` fixed pseudo-random values in ``[0, 1)`` (the tie-breaking perturbation)."""
    if size <= _JITTER.size:
        return _JITTER[:size]
    return np.resize(_JITTER, size)


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
    on = pred.reshape(-1)[matcher._pixel]
    matched_pred = np.zeros(pred.size, dtype=bool)
    matched_gt = np.zeros(int(gt.sum()), dtype=bool)
    if on.any():
        left, right = max_weight_matching(matcher._pixel[on], matcher._gt[on], matcher._weight[on])
        matched_pred[left] = True
        matched_gt[right] = True
    gt_map = np.zeros(gt.size, dtype=bool)
    gt_map[np.flatnonzero(gt)[matched_gt]] = True
    return matched_pred.reshape(pred.shape), gt_map.reshape(gt.shape)


__all__ = [
    "MULTIPLIER",
    "OUTLIER_COST",
    "BoundaryMatcher",
    "correspond_pixels",
    "disk_offsets",
    "match_radius",
    "max_weight_matching",
    "outlier_weight",
]
