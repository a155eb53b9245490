"""A classical, weight-free promptable segmenter: superpixels, a merge tree and random walks.

The baseline answers the same prompts as SAM with textbook image processing only (scikit-image,
SciPy, OpenCV), so every report has a zero-shot row that needs no checkpoint and no accelerator.
Everything is deterministic: no global random state is read (GrabCut's k-means is run from a
fixed OpenCV seed).

Embedding (:meth:`ClassicalSegmenter.embed`)
    The image (downscaled to ``max_side``) is over-segmented into SLIC superpixels in Lab
    colour: the *fine* scale. Their region adjacency graph carries, per adjacent pair, the
    shared boundary length and the Lab distance (CIE76 ΔE) of their mean colours; its
    conductances give the random walker's graph Laplacian. Greedy merging of adjacent
    regions by colour (a heap of size-discounted mean-colour distances) builds a merge tree
    whose nodes are the coarser scales: every node is a connected region and the union of
    its children. A region that becomes enclosed by another one is merged into it at once,
    so a part inside an object (a panel in a gadget) joins the object before the object
    joins the background. Every node gets a *stability*: the ΔE of the boundary along which
    it later merges into its parent (contrast to its surroundings) minus the ΔE of the
    weakest merge that completed it (its interior inhomogeneity).

One positive click: three granularities
    The three most stable nodes on the tree path from the clicked superpixel to the root,
    small to large (fine, medium, coarse), each refined to pixels. The confidence of a node
    is ``1 - exp(-stability / stability_scale)``, discounted 10% per step from fine to
    coarse (:data:`_GRANULARITY_PRIOR`). The finest answer also takes in the pixels
    colour-connected to the click (:func:`_colour_component`), which catches thin wires
    that superpixels cut through.

Several clicks, negative clicks
    A random walker on the superpixel graph (the combinatorial Dirichlet problem, one sparse
    solve) with positive clicks as foreground seeds and negative clicks as background seeds.
    Background prior: with no negative click nothing would ever be background, so every
    superpixel is weakly tied to the background (``background_prior``, more so on the image
    border, ``border_prior``). The tree adds a soft pull (``tree_prior``) towards its own
    explanation of the clicks: the smallest nearly-most-stable node holding every positive
    and no negative click. The three answers threshold the foreground probability at 0.75,
    0.5 and 0.25; the confidence is how decided the walker is over the answer and its rim
    (area-weighted mean ``|2p - 1|``). A click whose pixel colour matches no superpixel
    around it (a sliver in a mixed superpixel, a thin structure) pins no superpixel and acts
    on pixels only.

Box (and box with clicks)
    GrabCut initialised with the box (and the clicks) on a crop around it; the best-fitting
    tree node (bounding box IoU); and the random walker with every superpixel outside the box
    as background seed, pulled towards GrabCut's answer. Confidence: how well the answer's
    bounding box fills the prompt box, times its agreement with GrabCut.

Pixel refinement
    Region answers are decided per superpixel, then refined per pixel: pixels of superpixels
    on the answer's boundary go to the side (inside or outside) whose nearest candidate
    colour (the superpixel's own mean and its neighbours' means) is nearer to their own.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve
from skimage.segmentation import slic

from sambench.errors import SambenchError
from sambench.models import MODELS
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Click, Prompt
from sambench.samples import Image

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Box = tuple[float, float, float, float]

_SEED_WEIGHT = 1e6
"""Diagonal weight that pins a seed superpixel's random-walker value (a hard constraint)."""

_FALLBACK_COMPACTNESS = 200.0
"""SLIC compactness (Lab units) used when the configured one collapses the segmentation."""

_MAX_NEIGHBOURS = 8
"""Neighbours per superpixel kept for click resolution and pixel refinement."""

_GRABCUT_SIDE = 200
"""Longest side of the crop GrabCut works on; larger crops are downscaled for speed."""

_GRABCUT_MARGIN = 0.25
"""Margin around the box in the crop GrabCut works on, as a fraction of the box's longer
side (at least 8 pixels): the background colour model is learnt from it."""

_BOX_PRIOR = 1.0
"""Pull of the random walker towards GrabCut's answer for a box prompt (in the units of
:attr:`ClassicalSegmenter.background_prior`)."""

_GRABCUT_SEED = 0
"""OpenCV's RNG seed, reset before each GrabCut call (its GMM k-means draws from it)."""

_GRANULARITY_PRIOR = (1.0, 0.9, 0.8)
"""Weights of the fine, medium and coarse answers' confidences for one click: between
equally stable regions the finer one is preferred (a coarser region is likelier to leak)."""

_FLOOD_LEVELS = (4.0, 6.0, 9.0, 13.0, 18.0, 25.0)
"""ΔE tolerances tried, in order, when growing a click's colour component."""

_FLOOD_GROWTH = 3.0
"""Growth of a colour component from one tolerance to the next that counts as a leak."""

_UNSURE = 0.1
"""Confidence of the answers to clicks that pin no foreground superpixel (only negative
clicks, or positive ones on slivers): whatever the pixel refinement finds."""

_LEVELS = (0.75, 0.5, 0.25)
"""Foreground-probability thresholds of the three random-walker answers, small to large."""


@dataclass(frozen=True)
class _Graph:
    """Region adjacency graph of the fine superpixels.

    Attributes:
        src: ``(E,)`` first superpixel of each adjacent pair (``src < dst``).
        dst: ``(E,)`` second superpixel of each pair.
        length: ``(E,)`` shared boundary length in pixel pairs.
        distance: ``(E,)`` Lab distance (ΔE) between the two superpixels' mean colours.
        neighbours: ``(N, D)`` each superpixel's neighbours (at most :data:`_MAX_NEIGHBOURS`,
            longest shared boundary first), padded with ``-1``.
        candidates: ``(N, 1 + D)`` each superpixel followed by its neighbours, padding
            replaced by the superpixel itself (see :func:`_candidates`).
        laplacian: ``(N, N)`` graph Laplacian of the random-walker conductances.
    """

    src: IntArray
    dst: IntArray
    length: FloatArray
    distance: FloatArray
    neighbours: IntArray
    candidates: IntArray
    laplacian: sparse.csr_matrix


@dataclass(frozen=True)
class _Tree:
    """Merge tree over the fine superpixels; leaves are the superpixels ``0..N-1``.

    Node ``k >= N`` is the union of two earlier nodes; the leaves under a node are
    ``order[start[k]:stop[k]]``.

    Attributes:
        parent: ``(M,)`` parent node, ``-1`` for the root.
        start: ``(M,)`` first index of the node's leaves in ``order``.
        stop: ``(M,)`` one past the last index of its leaves in ``order``.
        order: ``(N,)`` leaves in depth-first order.
        area: ``(M,)`` node area in pixels (working resolution).
        bbox: ``(M, 4)`` node bounding box ``x0, y0, x1, y1`` in pixels (working resolution,
            exclusive ends).
        stability: ``(M,)`` ΔE of the boundary along which the node merges into its parent
            minus the ΔE of the weakest merge that completed it (0 for the root).
    """

    parent: IntArray
    start: IntArray
    stop: IntArray
    order: IntArray
    area: FloatArray
    bbox: FloatArray
    stability: FloatArray

    def leaves(self, node: int) -> IntArray:
        """The superpixels under ``node``."""
        return self.order[self.start[node] : self.stop[node]]

    def mask(self, node: int, count: int) -> BoolArray:
        """Boolean mask over the ``count`` superpixels of the leaves under ``node``."""
        mask = np.zeros(count, dtype=bool)
        mask[self.leaves(node)] = True
        return mask

    def counts(self, leaf_mask: BoolArray) -> IntArray:
        """``(M,)`` how many leaves in ``leaf_mask`` each node holds."""
        running = np.concatenate([[0], np.cumsum(leaf_mask[self.order])])
        counts: IntArray = running[self.stop] - running[self.start]
        return counts

    def path(self, leaf: int) -> IntArray:
        """The nodes from ``leaf`` up to the root."""
        path = [leaf]
        while self.parent[path[-1]] >= 0:
            path.append(int(self.parent[path[-1]]))
        return np.array(path, dtype=np.int64)


@dataclass(frozen=True)
class _Features:
    """Everything :meth:`ClassicalSegmenter.predict` needs about one image.

    Attributes:
        labels: ``(h, w)`` superpixel of every pixel at working resolution.
        rgb: ``(h, w, 3)`` the image at working resolution.
        pixels: ``(h * w, 3)`` Lab colour of every pixel at working resolution.
        scale: Working resolution over original resolution (``<= 1``).
        area: ``(N,)`` superpixel areas in pixels.
        lab: ``(N, 3)`` mean Lab colour of every superpixel.
        gaps: ``(h * w, 1 + D)`` squared ΔE from every pixel to the mean colours of its
            superpixel and of that superpixel's neighbours (``inf`` for padding), in the
            order of :func:`_candidates`; the pixel refinement compares them.
        border: ``(N,)`` whether a superpixel touches the image border.
        graph: The region adjacency graph.
        tree: The merge tree.
    """

    labels: IntArray
    rgb: Image
    pixels: npt.NDArray[np.float32]
    gaps: npt.NDArray[np.float32]
    scale: float
    area: FloatArray
    lab: FloatArray
    border: BoolArray
    graph: _Graph
    tree: _Tree

    @property
    def count(self) -> int:
        """The number of superpixels."""
        return int(self.area.shape[0])


@dataclass(frozen=True)
class _Click:
    """A click at working resolution.

    Attributes:
        index: The clicked pixel's index in the flattened working-resolution image.
        colour: The clicked pixel's Lab colour.
        positive: Whether the click is positive.
        leaf: The superpixel whose mean colour is nearest to the clicked pixel's, among
            the superpixel under the click and its neighbours.
        distance: ΔE from the clicked pixel to that nearest mean colour.
        ring: The superpixel under the click and its neighbours.
        pinned: Whether the click pins ``leaf`` in the random walker (``distance`` is
            within the click tolerance); other clicks act on pixels only.
    """

    index: int
    colour: npt.NDArray[np.float32]
    positive: bool
    leaf: int
    distance: float
    ring: IntArray
    pinned: bool


@dataclass(frozen=True)
class _Query:
    """A prompt at working resolution.

    Attributes:
        clicks: The clicks, in order.
        positive: Superpixels pinned by positive clicks, in click order.
        foreground: ``(N,)`` superpixels pinned to the foreground.
        background: ``(N,)`` superpixels pinned to the background.
        box: The box, or ``None``.
        grown: ``(h * w,)`` pixels colour-connected to the unpinned positive clicks (see
            :func:`_colour_component`), or ``None`` if there are none.
    """

    clicks: list[_Click]
    positive: list[int]
    foreground: BoolArray
    background: BoolArray
    box: Box | None
    grown: BoolArray | None


@MODELS.register("classical")
class ClassicalSegmenter(PromptableModel):
    """Weight-free promptable segmentation from superpixels, a merge tree and random walks.

    Arguments:
      superpixels (int): The approximate number of SLIC superpixels (the fine scale) at
        working resolution. More superpixels follow small and thin structures better and
        cost time in :meth:`embed` and :meth:`predict`.
      compactness (float): SLIC compactness in Lab units; lower values let superpixels
        follow colour edges more closely, higher values make them more regular.
      smoothing (float): Standard deviation in pixels of the Gaussian that SLIC smooths the
        image with first; it keeps strong texture and noise from fragmenting superpixels
        (0: no smoothing). Colours everywhere else are the unsmoothed ones.
      max_side (int): Images whose longer side exceeds this many pixels are downscaled to
        it before any processing; masks are returned at the original size.
      beta (float): Random-walker edge sharpness. The conductance between two adjacent
        superpixels is their shared boundary length times ``exp(-beta * (dE / 100)^2)``,
        with dE the Lab distance of their mean colours.
      background_prior (float): Strength of every superpixel's weak pull to the background
        in the random walker, per unit of superpixel area relative to the mean superpixel
        area. It stands in for negative clicks when a prompt has none.
      border_prior (float): Extra background pull of superpixels that touch the image
        border (objects rarely fill the frame), in the same units as ``background_prior``.
      tree_prior (float): Strength of the pull of the random walker towards the tree region
        that explains the clicks (in the same units as ``background_prior``); 0 ignores the
        merge tree for multi-click prompts.
      merge_size (float): Area in pixels below which a region's merge cost is discounted
        (ΔE times ``sqrt(a / (a + merge_size))``, ``a`` the harmonic mean area of the two
        regions), so that specks of texture merge first.
      min_area (float): Smallest tree region, as a fraction of the image, offered as one of
        the three answers to a single click (besides the clicked superpixel itself).
      max_area (float): Largest tree region, as a fraction of the image, offered as an
        answer (larger ones are background).
      stability_scale (float): Stability (in ΔE) at which a tree region's confidence is
        ``1 - 1/e``.
      click_tolerance (float): Largest ΔE between a clicked pixel and the mean colour of
        its superpixel (or of a neighbour) for the click to pin that whole superpixel in
        the random walker; a click farther from every superpixel colour (a sliver of an
        object inside a mixed superpixel, a thin structure) only labels the pixels around
        it that are nearer to its colour.
      box_iterations (int): GrabCut iterations for a box prompt (GrabCut runs on the box
        and a margin around it, at most :data:`_GRABCUT_SIDE` pixels on a side).
    """

    name = "classical"
    capabilities = ModelCapabilities(
        points=True, boxes=True, mask_input=False, text=False, multimask=True
    )

    def __init__(
        self,
        *,
        superpixels: int = 1000,
        compactness: float = 20.0,
        smoothing: float = 0.0,
        max_side: int = 400,
        beta: float = 200.0,
        background_prior: float = 0.02,
        border_prior: float = 0.5,
        tree_prior: float = 0.05,
        merge_size: float = 150.0,
        min_area: float = 0.0005,
        max_area: float = 0.6,
        stability_scale: float = 25.0,
        click_tolerance: float = 12.0,
        box_iterations: int = 2,
    ) -> None:
        self.superpixels = int(superpixels)
        self.compactness = float(compactness)
        self.smoothing = float(smoothing)
        self.max_side = int(max_side)
        self.beta = float(beta)
        self.background_prior = float(background_prior)
        self.border_prior = float(border_prior)
        self.tree_prior = float(tree_prior)
        self.merge_size = float(merge_size)
        self.min_area = float(min_area)
        self.max_area = float(max_area)
        self.stability_scale = float(stability_scale)
        self.click_tolerance = float(click_tolerance)
        self.box_iterations = int(box_iterations)
        self._check_knobs()

    def _check_knobs(self) -> None:
        """Raise a :class:`SambenchError` naming the first knob out of its range."""
        ranges = {
            "superpixels": (self.superpixels, 1.0),
            "compactness": (self.compactness, 1e-6),
            "smoothing": (self.smoothing, 0.0),
            "max_side": (self.max_side, 8.0),
            "beta": (self.beta, 0.0),
            "background_prior": (self.background_prior, 0.0),
            "border_prior": (self.border_prior, 0.0),
            "tree_prior": (self.tree_prior, 0.0),
            "merge_size": (self.merge_size, 0.0),
            "min_area": (self.min_area, 0.0),
            "stability_scale": (self.stability_scale, 1e-6),
            "click_tolerance": (self.click_tolerance, 0.0),
            "box_iterations": (self.box_iterations, 1.0),
        }
        for knob, (value, lowest) in ranges.items():
            if not value >= lowest:
                raise SambenchError(
                    f"classical model: {knob} must be at least {lowest}, not {value}"
                )
        if not self.min_area <= self.max_area <= 1.0:
            raise SambenchError(
                f"classical model: need min_area <= max_area <= 1, not {self.min_area} and "
                f"{self.max_area}"
            )

    def describe(self) -> dict[str, Any]:
        params = {
            "superpixels": self.superpixels,
            "compactness": self.compactness,
            "smoothing": self.smoothing,
            "max_side": self.max_side,
            "beta": self.beta,
            "background_prior": self.background_prior,
            "border_prior": self.border_prior,
            "tree_prior": self.tree_prior,
            "merge_size": self.merge_size,
            "min_area": self.min_area,
            "max_area": self.max_area,
            "stability_scale": self.stability_scale,
            "click_tolerance": self.click_tolerance,
            "box_iterations": self.box_iterations,
        }
        return {**super().describe(), "params": params}

    # ----------------------------------------------------------------------- embedding

    def embed(self, image: Image) -> ImageEmbedding:
        small, scale = _downscale(image, self.max_side)
        lab = _to_lab(small)
        labels = _superpixels(lab, self.superpixels, self.compactness, self.smoothing)
        area, mean_lab = _region_means(labels, lab)
        graph = _adjacency(labels, mean_lab, self.beta)
        border = _border_regions(labels, area.shape[0])
        builder = _TreeBuilder(graph, area, mean_lab, _region_boxes(labels), border)
        features = _Features(
            labels=labels,
            rgb=small,
            pixels=lab.reshape(-1, 3),
            gaps=_colour_gaps(labels, lab, mean_lab, graph.neighbours),
            scale=scale,
            area=area,
            lab=mean_lab,
            border=border,
            graph=graph,
            tree=builder.build(self.merge_size),
        )
        return ImageEmbedding(
            height=int(image.shape[0]), width=int(image.shape[1]), features=features
        )

    # ---------------------------------------------------------------------- prediction

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        self.check_prompts(prompts, multimask_output, return_logits)
        features: _Features = embedding.features
        outputs = []
        for prompt in prompts:
            query = _resolve(features, prompt, self.click_tolerance, self.max_area)
            masks, scores = self._answer(features, query, multimask_output)
            outputs.append(
                ModelOutput(
                    masks=_to_original(masks, embedding.height, embedding.width),
                    iou_predictions=np.clip(scores, 0.0, 1.0).astype(np.float32),
                )
            )
        return outputs

    def _answer(
        self, features: _Features, query: _Query, multimask: bool
    ) -> tuple[BoolArray, FloatArray]:
        """Pixel masks ``(K, h, w)`` at working resolution (small to large) and confidences."""
        clicks = query.clicks
        if query.box is not None:
            masks, scores = self._box_answers(features, query)
        elif len(clicks) == 1 and clicks[0].positive:
            masks, scores = self._click_answers(features, query)
        else:
            if query.positive:
                regions, scores = self._walker_answers(features, query)
            else:  # no superpixel is surely foreground: only pixel-level evidence remains
                regions = np.zeros((3, features.count), dtype=bool)
                scores = np.full(3, _UNSURE)
            if not multimask:
                best = int(np.argmax(scores))
                regions, scores = regions[best : best + 1], scores[best : best + 1]
            masks = np.stack([_refine(features, region, query) for region in regions])
        if multimask or masks.shape[0] == 1:
            return masks, scores
        best = int(np.argmax(scores))
        return masks[best : best + 1], scores[best : best + 1]

    def _box_answers(self, features: _Features, query: _Query) -> tuple[BoolArray, FloatArray]:
        """The best-fitting tree region, GrabCut, and GrabCut smoothed by the random walker.

        GrabCut runs on the box and a margin around it. The random walker pins the
        superpixels outside the box to the background and is pulled towards GrabCut's
        share of every superpixel (towards the best-fitting tree region if GrabCut cannot
        run). GrabCut's confidence is how well its mask fills the box (the IoU of the mask's
        bounding box with the prompt box, which is drawn tight around its object); the two
        others are scored the same, times their agreement (IoU) with GrabCut, the most
        reliable of the three. Answers are ordered small to large.
        """
        assert query.box is not None
        background = query.background | (~_touches_box(features, query.box) & ~query.foreground)
        fitted = self._box_region(features, query.box, background)
        cut = _grab_cut(features, query, self.box_iterations)
        share = fitted.astype(np.float64) if cut is None else _superpixel_share(features, cut)
        probability = self._walk(features, query.foreground, background, share, _BOX_PRIOR)
        masks = [_refine(features, fitted, query), _refine(features, probability >= 0.5, query)]
        masks.append(masks[1] if cut is None else cut)
        stacked = np.stack(masks)
        fill = np.array([_box_iou(_mask_box(mask), query.box)[0] for mask in stacked])
        agreement = np.array([_mask_iou(mask, stacked[2]) for mask in stacked])
        order = np.argsort(stacked.sum(axis=(1, 2)), kind="stable")
        return stacked[order], (fill * agreement)[order]

    def _click_answers(self, features: _Features, query: _Query) -> tuple[BoolArray, FloatArray]:
        """Pixel masks for one positive click: the tree's three answers, refined.

        The finest answer also takes in the click's colour component (a thin wire that the
        superpixels cut through, a flat-coloured part that they straddle); the answers are
        then reordered small to large.
        """
        click = query.clicks[0]
        regions, scores = self._tree_answers(features, click)
        masks = np.stack([_refine(features, region, query) for region in regions])
        grown = query.grown
        if grown is None:
            grown = _colour_component(features, click, self.max_area)
        masks[0] |= grown.reshape(masks.shape[1:])
        order = np.argsort(masks.sum(axis=(1, 2)), kind="stable")
        return masks[order], scores[order]

    def _tree_answers(self, features: _Features, click: _Click) -> tuple[BoolArray, FloatArray]:
        """The three most stable tree regions containing the click, small to large.

        Confidences are discounted by :data:`_GRANULARITY_PRIOR` from fine to coarse. A
        click whose colour matches no superpixel around it (a thin or tiny structure inside
        mixed superpixels) gets the empty region as its smallest answer, which the pixel
        refinement turns into the click's colour component.
        """
        tree = features.tree
        path = tree.path(click.leaf)
        fraction = tree.area[path] / features.area.sum()
        usable = (fraction >= self.min_area) & (fraction <= self.max_area)
        usable[0] = True  # the clicked superpixel itself is always an answer
        chosen = _top_three(tree.stability[path], usable)
        regions = np.stack([tree.mask(int(node), features.count) for node in path[chosen]])
        scores = 1.0 - np.exp(-tree.stability[path[chosen]] / self.stability_scale)
        scores *= np.array(_GRANULARITY_PRIOR)
        if not click.pinned:
            regions[0] = False
            scores[0] = 1.0 - math.exp(-click.distance / self.stability_scale)
        return regions, scores

    def _walker_answers(self, features: _Features, query: _Query) -> tuple[BoolArray, FloatArray]:
        """Random-walker answers for several clicks: three thresholds, small to large.

        Each answer's confidence is how decided the walker is over it and its rim.
        """
        prior = self._click_region(features, query).astype(np.float64)
        probability = self._walk(
            features, query.foreground, query.background, prior, self.tree_prior
        )
        regions = np.stack([probability >= level for level in _LEVELS])
        scores = np.array([_certainty(features, probability, region) for region in regions])
        return regions, scores

    def _walk(
        self,
        features: _Features,
        foreground: BoolArray,
        background: BoolArray,
        prior: FloatArray,
        strength: float,
    ) -> FloatArray:
        """Foreground probability per superpixel, pulled towards ``prior`` (in [0, 1]).

        Besides the pull of the prior, every superpixel is weakly pulled to the background
        (more so on the image border), in proportion to its area.
        """
        relative = features.area / features.area.mean()
        weak = self.background_prior + self.border_prior * features.border
        return _random_walk(
            features.graph.laplacian,
            foreground,
            background,
            fg_prior=strength * relative * prior,
            bg_prior=relative * (weak + strength * (1.0 - prior)),
        )

    def _click_region(self, features: _Features, query: _Query) -> BoolArray:
        """The tree's explanation of the clicks: positives inside, negatives outside.

        Among the nodes containing every pinned positive click and no pinned negative one,
        those whose boundary passes through the most unpinned clicks' surroundings (such a
        click corrects the boundary of its object), and of these the smallest one at least
        half as stable as the most stable one. Failing that, the union of such a node for
        each positive click.
        """
        tree = features.tree
        chain = self._clean_chain(features, _common_path(tree, query.positive), query.background)
        if chain.size:
            best = self._settle(tree, self._straddling(features, chain, query))
            return tree.mask(best, features.count)
        region = np.zeros(features.count, dtype=bool)
        for leaf in query.positive:
            chain = self._clean_chain(features, tree.path(leaf), query.background)
            region |= tree.mask(self._settle(tree, chain) if chain.size else leaf, features.count)
        return region

    def _straddling(self, features: _Features, chain: IntArray, query: _Query) -> IntArray:
        """The nodes of ``chain`` whose boundary runs through most unpinned clicks' rings."""
        loose = [click for click in query.clicks if not click.pinned]
        if not loose:
            return chain
        votes = np.zeros(chain.size, dtype=np.int64)
        for click in loose:
            ring = np.zeros(features.count, dtype=bool)
            ring[click.ring] = True
            inside = features.tree.counts(ring)[chain]
            votes += (inside > 0) & (inside < click.ring.size)
        chosen: IntArray = chain[votes == votes.max()]
        return chosen

    def _box_region(self, features: _Features, box: Box, background: BoolArray) -> BoolArray:
        """The most stable tree node among those whose bounding box best matches ``box``."""
        tree = features.tree
        fit = np.where(tree.counts(background) == 0, _box_iou(tree.bbox, box), 0.0)
        near = np.flatnonzero(fit >= 0.9 * fit.max())
        best = int(near[np.argmax(tree.stability[near])])
        return tree.mask(best, features.count)

    def _clean_chain(self, features: _Features, path: IntArray, background: BoolArray) -> IntArray:
        """The nodes of ``path`` (small to large) below any negative seed and not too large."""
        tree = features.tree
        clean = np.cumprod(tree.counts(background)[path] == 0).astype(bool)
        small = tree.area[path] <= self.max_area * features.area.sum()
        if path.size:
            small[0] = True
        chain: IntArray = path[clean & small]
        return chain

    @staticmethod
    def _settle(tree: _Tree, chain: IntArray) -> int:
        """The smallest node of ``chain`` at least half as stable as its most stable node."""
        stability = tree.stability[chain]
        return int(chain[int(np.argmax(stability >= 0.5 * stability.max()))])


# ------------------------------------------------------------------------- embedding helpers


def _to_lab(rgb: Image) -> npt.NDArray[np.float32]:
    """CIE Lab (L in [0, 100]) of an RGB uint8 image, in single precision."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return np.asarray(lab, dtype=np.float32)


def _downscale(image: Image, max_side: int) -> tuple[Image, float]:
    """The RGB image resized so that its longer side is at most ``max_side``, and the factor."""
    rgb = np.ascontiguousarray(image[..., :3])
    longest = max(rgb.shape[0], rgb.shape[1])
    if longest <= max_side:
        return rgb, 1.0
    scale = max_side / longest
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8), scale


def _superpixels(
    lab: npt.NDArray[np.float32], count: int, compactness: float, sigma: float
) -> IntArray:
    """SLIC superpixels of a Lab image, labelled ``0..N-1`` without gaps.

    On noise or strong texture with a low compactness, SLIC's connectivity pass can collapse
    most of the image into a few segments; below a quarter of the requested count the
    segmentation is redone with :data:`_FALLBACK_COMPACTNESS` (nearly a grid).
    """
    labels = _slic(lab, count, compactness, sigma)
    if labels.max() + 1 < min(count, lab.shape[0] * lab.shape[1]) // 4:
        labels = _slic(lab, count, max(compactness, _FALLBACK_COMPACTNESS), sigma)
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(labels.shape).astype(np.int64)


def _slic(lab: npt.NDArray[np.float32], count: int, compactness: float, sigma: float) -> IntArray:
    """skimage's SLIC on a Lab image, with the compactness in Lab units."""
    # slic rescales its input to [0, 1]; rescale the compactness to keep it in Lab units
    spread = max(float(lab.max() - lab.min()), 1e-6)
    labels = slic(
        lab,
        n_segments=count,
        compactness=compactness / spread,
        sigma=sigma,
        convert2lab=False,
        start_label=0,
        channel_axis=-1,
    )
    return np.asarray(labels, dtype=np.int64)


def _region_means(labels: IntArray, lab: npt.NDArray[np.float32]) -> tuple[FloatArray, FloatArray]:
    """Area and mean Lab colour of every superpixel."""
    flat = labels.ravel()
    n = int(flat.max()) + 1
    area = np.bincount(flat, minlength=n).astype(np.float64)
    sums = [np.bincount(flat, weights=lab[..., c].ravel(), minlength=n) for c in range(3)]
    return area, np.stack(sums, axis=1) / area[:, None]


def _adjacency(labels: IntArray, mean_lab: FloatArray, beta: float) -> _Graph:
    """Adjacent superpixel pairs, their boundary lengths and colour distances, the Laplacian."""
    n = mean_lab.shape[0]
    first = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    second = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    cross = first != second
    low = np.minimum(first[cross], second[cross])
    high = np.maximum(first[cross], second[cross])
    keys, counts = np.unique(low * n + high, return_counts=True)
    src, dst = keys // n, keys % n
    length = counts.astype(np.float64)
    distance = np.linalg.norm(mean_lab[src] - mean_lab[dst], axis=1)
    conductance = length * np.exp(-beta * (distance / 100.0) ** 2)
    weights = sparse.coo_matrix((conductance, (src, dst)), shape=(n, n)).tocsr()
    weights = (weights + weights.T).tocsr()
    degree = np.asarray(weights.sum(axis=1)).ravel()
    neighbours = _neighbour_table(src, dst, length, n)
    return _Graph(
        src=src,
        dst=dst,
        length=length,
        distance=distance,
        neighbours=neighbours,
        candidates=_candidates(neighbours),
        laplacian=(sparse.diags(degree) - weights).tocsr(),
    )


def _candidates(neighbours: IntArray) -> IntArray:
    """Each superpixel followed by its neighbours, ``(N, 1 + D)``, padding replaced by itself."""
    own = np.arange(neighbours.shape[0])[:, None]
    return np.concatenate([own, np.where(neighbours >= 0, neighbours, own)], axis=1)


def _colour_gaps(
    labels: IntArray, lab: npt.NDArray[np.float32], mean_lab: FloatArray, neighbours: IntArray
) -> npt.NDArray[np.float32]:
    """Squared ΔE from every pixel to its superpixel's and its neighbours' mean colours."""
    owners = labels.ravel()
    pixels = lab.reshape(-1, 3)
    colours = mean_lab.astype(np.float32)
    candidates = _candidates(neighbours)
    gaps = np.empty((owners.size, candidates.shape[1]), dtype=np.float32)
    for slot in range(candidates.shape[1]):
        difference = pixels - colours[candidates[:, slot]][owners]
        gaps[:, slot] = np.einsum("ij,ij->i", difference, difference)
    padding = np.concatenate([np.zeros((owners.size, 1), dtype=bool), neighbours[owners] < 0], 1)
    gaps[padding] = np.inf
    return gaps


def _neighbour_table(src: IntArray, dst: IntArray, length: FloatArray, n: int) -> IntArray:
    """Each node's neighbours, longest shared boundary first, as rows of an ``(n, D)`` table
    padded with ``-1``; at most :data:`_MAX_NEIGHBOURS` per node."""
    a = np.concatenate([src, dst])
    b = np.concatenate([dst, src])
    order = np.lexsort((-np.concatenate([length, length]), a))
    a, b = a[order], b[order]
    slot = np.arange(a.size) - np.searchsorted(a, a, side="left")
    keep = slot < _MAX_NEIGHBOURS
    table = np.full((n, int(slot.max(initial=0)) + 1), -1, dtype=np.int64)
    table[a[keep], slot[keep]] = b[keep]
    return table[:, :_MAX_NEIGHBOURS]


def _region_boxes(labels: IntArray) -> FloatArray:
    """Bounding box ``x0, y0, x1, y1`` (exclusive ends) of every superpixel."""
    slices = ndimage.find_objects(labels + 1)
    return np.array(
        [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices if s is not None],
        dtype=np.float64,
    )


def _border_regions(labels: IntArray, n: int) -> BoolArray:
    """Which superpixels touch the image border."""
    border = np.zeros(n, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        border[edge] = True
    return border


class _TreeBuilder:
    """Builds the merge tree of the fine superpixels.

    Adjacent regions merge in order of size-discounted mean-colour distance, so specks of
    texture go first and strong colour edges last. A region that becomes enclosed by a
    single other region, neither touching the image border, is merged into it at once: a
    part inside an object joins the object as soon as the object is whole, whatever their
    colour difference, so that nested objects appear as tree nodes.

    Along the way every node records its birth (the ΔE of the strongest boundary inside it)
    and death (the ΔE of the boundary along which it merges); see :meth:`_record_lifetime`.
    """

    def __init__(
        self,
        graph: _Graph,
        area: FloatArray,
        mean_lab: FloatArray,
        boxes: FloatArray,
        border: BoolArray,
    ) -> None:
        n = int(area.shape[0])
        self.leaf_count = n
        self.sums = [list(map(float, row)) for row in mean_lab * area[:, None]]
        self.sizes = list(map(float, area))
        self.bbox = [list(map(float, row)) for row in boxes]
        self.border = list(map(bool, border))
        self.parent = [-1] * n
        self.children: list[tuple[int, int]] = [(-1, -1)] * n
        self.alive = [True] * n
        self.birth = [0.0] * n
        self.death = [0.0] * n
        # neighbours[a][b] = [shared boundary length, length-weighted ΔE], shared with b
        self.neighbours: list[dict[int, list[float]]] = [{} for _ in range(n)]
        pairs = zip(graph.src.tolist(), graph.dst.tolist(), strict=True)
        for (a, b), length, distance in zip(
            pairs, graph.length.tolist(), graph.distance.tolist(), strict=True
        ):
            record = [length, length * distance]
            self.neighbours[a][b] = record
            self.neighbours[b][a] = record
        self.heap: list[tuple[float, int, int]] = []
        self.merge_size = 0.0

    def build(self, merge_size: float) -> _Tree:
        """Merge until one region is left and return the tree."""
        self.merge_size = merge_size
        self.heap = [
            (self._cost(a, b), a, b)
            for a in range(self.leaf_count)
            for b in self.neighbours[a]
            if a < b
        ]
        heapq.heapify(self.heap)
        while self.heap:
            _, a, b = heapq.heappop(self.heap)
            if self.alive[a] and self.alive[b]:
                self._absorb_enclosed(self._merge(a, b))
        roots = [k for k, alive in enumerate(self.alive) if alive]
        while len(roots) > 1:  # a disconnected graph: join the pieces at the top
            roots.append(self._merge(roots.pop(), roots.pop()))
        return self._finish()

    def _cost(self, a: int, b: int) -> float:
        """Mean-colour ΔE of two regions, discounted for small regions."""
        sa, sb = self.sums[a], self.sums[b]
        wa, wb = self.sizes[a], self.sizes[b]
        distance = math.sqrt(sum((sa[c] / wa - sb[c] / wb) ** 2 for c in range(3)))
        harmonic = wa * wb / (wa + wb)
        return distance * math.sqrt(harmonic / (harmonic + self.merge_size))

    def _merge(self, a: int, b: int, encloser: int | None = None) -> int:
        """Create the union of regions ``a`` and ``b`` and return its node id.

        ``encloser`` names the child that encloses the other, for an enclosure merge.
        """
        node = len(self.parent)
        self._record_lifetime(a, b, encloser)
        self.sums.append([self.sums[a][c] + self.sums[b][c] for c in range(3)])
        self.sizes.append(self.sizes[a] + self.sizes[b])
        ba, bb = self.bbox[a], self.bbox[b]
        self.bbox.append(
            [min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), max(ba[3], bb[3])]
        )
        self.border.append(self.border[a] or self.border[b])
        self.parent.append(-1)
        self.parent[a] = self.parent[b] = node
        self.children.append((a, b))
        self.alive.append(True)
        self.alive[a] = self.alive[b] = False
        merged = self._merged_boundaries(a, b)
        self.neighbours.append(merged)
        for other, record in merged.items():
            self.neighbours[other][node] = record
            heapq.heappush(self.heap, (self._cost(node, other), node, other))
        return node

    def _merged_boundaries(self, a: int, b: int) -> dict[int, list[float]]:
        """The boundaries of the union of ``a`` and ``b``, detached from ``a`` and ``b``."""
        merged: dict[int, list[float]] = {}
        for old in (a, b):
            for other, record in self.neighbours[old].items():
                if other in (a, b):
                    continue
                del self.neighbours[other][old]
                total = merged.setdefault(other, [0.0, 0.0])
                total[0] += record[0]
                total[1] += record[1]
            self.neighbours[old] = {}
        return merged

    def _record_lifetime(self, a: int, b: int, encloser: int | None) -> None:
        """Birth of the union of ``a`` and ``b``, and death of both, from their boundary.

        A region is born at the strongest boundary inside it (the ΔE of the weakest merge
        that completed it) and dies at the ΔE of the boundary along which it merges. An
        enclosure merge keeps the encloser's birth, and the encloser (an object with a
        hole) dies as it is born.
        """
        shared = self.neighbours[a].get(b)
        edge = shared[1] / shared[0] if shared is not None and shared[0] > 0 else 0.0
        self.death.append(0.0)
        if encloser is None:
            self.birth.append(max(self.birth[a], self.birth[b], edge))
            self.death[a] = self.death[b] = edge
            return
        enclosed = a if encloser == b else b
        self.birth.append(self.birth[encloser])
        self.death[enclosed] = edge
        self.death[encloser] = self.birth[encloser]

    def _absorb_enclosed(self, node: int) -> None:
        """Merge regions enclosed by ``node`` into it, or ``node`` into its encloser."""
        pending = [node]
        while pending:
            current = pending.pop()
            if not self.alive[current] or self.border[current]:
                continue
            around = self.neighbours[current]
            if len(around) == 1:
                (outer,) = around
                if not self.border[outer]:
                    pending.append(self._merge(current, outer, encloser=outer))
                    continue
            for inner in list(around):
                if len(self.neighbours[inner]) == 1 and not self.border[inner]:
                    pending.append(self._merge(inner, current, encloser=current))
                    break

    def _finish(self) -> _Tree:
        """Depth-first leaf order and the leaf range of every node."""
        total = len(self.parent)
        start = [0] * total
        stop = [0] * total
        order: list[int] = []
        stack = [(total - 1, False)]
        while stack:
            node, done = stack.pop()
            if done:
                stop[node] = len(order)
                continue
            start[node] = len(order)
            if node < self.leaf_count:
                order.append(node)
                stop[node] = len(order)
                continue
            left, right = self.children[node]
            stack.extend([(node, True), (right, False), (left, False)])
        return _Tree(
            parent=np.array(self.parent, dtype=np.int64),
            start=np.array(start, dtype=np.int64),
            stop=np.array(stop, dtype=np.int64),
            order=np.array(order, dtype=np.int64),
            area=np.array(self.sizes, dtype=np.float64),
            bbox=np.array(self.bbox, dtype=np.float64),
            stability=np.maximum(np.array(self.death) - np.array(self.birth), 0.0),
        )


# ------------------------------------------------------------------------ prediction helpers


def _resolve(features: _Features, prompt: Prompt, tolerance: float, max_area: float) -> _Query:
    """A prompt at working resolution, its clicks resolved to seed superpixels.

    A click pins its nearest-colour superpixel (see :class:`_Click`) only if that colour
    is within ``tolerance`` ΔE of the clicked pixel's; other clicks (on slivers, thin
    structures, texture) act in the pixel refinement only, and an unpinned positive click
    adds its colour component (at most ``max_area`` of the image). A later click on the
    same superpixel overrides an earlier one.
    """
    foreground = np.zeros(features.count, dtype=bool)
    background = np.zeros(features.count, dtype=bool)
    clicks = [_locate(features, click, tolerance) for click in prompt.clicks]
    positive: list[int] = []
    for click in clicks:
        if not click.pinned:
            continue
        foreground[click.leaf] = click.positive
        background[click.leaf] = not click.positive
        if click.positive:
            positive.append(click.leaf)
    box = None if prompt.box is None else _scale_box(prompt.box, features.scale)
    grown = None
    for click in clicks:
        if click.positive and not click.pinned:
            component = _colour_component(features, click, max_area)
            grown = component if grown is None else grown | component
    return _Query(
        clicks=clicks,
        positive=[leaf for leaf in dict.fromkeys(positive) if foreground[leaf]],
        foreground=foreground,
        background=background,
        box=box,
        grown=grown,
    )


def _locate(features: _Features, click: Click, tolerance: float) -> _Click:
    """A click's pixel, colour and nearest-colour superpixel at working resolution."""
    height, width = features.labels.shape
    y = min(max(int(click.y * features.scale), 0), height - 1)
    x = min(max(int(click.x * features.scale), 0), width - 1)
    own = int(features.labels[y, x])
    around = features.graph.neighbours[own]
    ring = np.concatenate([[own], around[around >= 0]])
    colour = features.pixels[y * width + x]
    distance = np.linalg.norm(features.lab[ring] - colour, axis=1)
    nearest = int(np.argmin(distance))
    return _Click(
        index=y * width + x,
        colour=colour,
        positive=click.positive,
        leaf=int(ring[nearest]),
        distance=float(distance[nearest]),
        ring=ring,
        pinned=bool(distance[nearest] <= tolerance),
    )


def _colour_component(features: _Features, click: _Click, max_area: float) -> BoolArray:
    """Pixels 8-connected to the click within a ΔE tolerance of its colour, ``(h * w,)``.

    Tolerances :data:`_FLOOD_LEVELS` are tried in turn; the component of the last one
    before it leaks (grows :data:`_FLOOD_GROWTH`-fold in one step, or beyond ``max_area``
    of the image) is kept, so a thin wire is followed but not the background around it.
    """
    height, width = features.labels.shape
    distance = np.linalg.norm(features.pixels - click.colour, axis=1).reshape(height, width)
    best = np.zeros(height * width, dtype=bool)
    best[click.index] = True
    size = 1
    for level in _FLOOD_LEVELS:
        _, components = cv2.connectedComponents((distance <= level).astype(np.uint8), None, 8)
        flat = components.ravel()
        piece = flat == flat[click.index]
        grown = int(np.count_nonzero(piece))
        if (size > 1 and grown > _FLOOD_GROWTH * size) or grown > max_area * flat.size:
            break
        best, size = piece, grown
    return best


def _top_three(score: FloatArray, usable: BoolArray) -> IntArray:
    """The three best-scoring usable positions, in path order (small to large)."""
    ranked = [int(k) for k in np.argsort(-score, kind="stable") if usable[k]] or [0]
    while len(ranked) < 3:
        ranked.append(ranked[-1])
    return np.sort(np.array(ranked[:3], dtype=np.int64))


def _common_path(tree: _Tree, leaves: Sequence[int]) -> IntArray:
    """The path from the lowest common ancestor of ``leaves`` up to the root."""
    common = tree.path(leaves[0])
    for leaf in leaves[1:]:
        common = common[np.isin(common, tree.path(leaf))]
    return common


def _scale_box(box: Box, scale: float) -> Box:
    """A box in original pixels as a box in working-resolution pixels."""
    x0, y0, x1, y1 = (float(v) * scale for v in box)
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _touches_box(features: _Features, box: Box) -> BoolArray:
    """Superpixels whose bounding box overlaps ``box``."""
    x0, y0, x1, y1 = box
    leaves = features.tree.bbox[: features.count]
    return (leaves[:, 0] < x1) & (leaves[:, 2] > x0) & (leaves[:, 1] < y1) & (leaves[:, 3] > y0)


def _box_iou(boxes: FloatArray, box: Box) -> FloatArray:
    """IoU of every row of ``boxes`` with ``box``."""
    x0, y0, x1, y1 = box
    width = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
    height = np.clip(np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
    inter = width * height
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = areas + (x1 - x0) * (y1 - y0) - inter
    result: FloatArray = inter / np.maximum(union, 1e-9)
    return result


def _random_walk(
    laplacian: sparse.csr_matrix,
    foreground: BoolArray,
    background: BoolArray,
    fg_prior: FloatArray,
    bg_prior: FloatArray,
) -> FloatArray:
    """Foreground probability of every superpixel: the combinatorial Dirichlet problem.

    Seeds are pinned with a huge diagonal weight; priors are weak links to a virtual
    foreground (value 1) or background (value 0) node.
    """
    pinned = _SEED_WEIGHT * (foreground | background)
    system = (laplacian + sparse.diags(pinned + fg_prior + bg_prior)).tocsc()
    solution = spsolve(system, _SEED_WEIGHT * foreground + fg_prior)
    return np.clip(np.asarray(solution, dtype=np.float64), 0.0, 1.0)


def _certainty(features: _Features, probability: FloatArray, region: BoolArray) -> float:
    """How decided the walker is about a region: area-weighted mean ``|2p - 1|`` over the
    region and the superpixels around it."""
    if not region.any():
        return 0.0
    graph = features.graph
    rim = region.copy()
    crossing = region[graph.src] != region[graph.dst]
    rim[graph.src[crossing]] = True
    rim[graph.dst[crossing]] = True
    weights = features.area[rim]
    return float(np.sum(np.abs(2.0 * probability[rim] - 1.0) * weights) / np.sum(weights))


def _refine(features: _Features, region: BoolArray, query: _Query) -> BoolArray:
    """A superpixel region as a pixel mask ``(h, w)``, refined along its boundary.

    Each pixel of a superpixel on the region's boundary, or around an unpinned click, joins
    the side (inside or outside) with the nearer candidate colour: the mean colours of the
    superpixel and its neighbours on that side, and the colours of the unpinned clicks on
    that side whose superpixel or its neighbour it is in. Then the pixels colour-connected
    to unpinned positive clicks join, and every clicked pixel takes its click's label.
    """
    labels = features.labels
    flat = labels.ravel()
    mask = region[flat]
    graph = features.graph
    crossing = region[graph.src] != region[graph.dst]
    band = np.zeros(features.count, dtype=bool)
    band[graph.src[crossing]] = True
    band[graph.dst[crossing]] = True
    loose = [click for click in query.clicks if not click.pinned]
    for click in loose:
        band[click.ring] = True
    if band.any():
        pixels = np.flatnonzero(band[flat])
        owners = flat[pixels]
        inside, outside = _nearest_colours(features, pixels, owners, region)
        for click in loose:
            near = np.isin(owners, click.ring)
            gap = np.sum((features.pixels[pixels[near]] - click.colour) ** 2, axis=1)
            target = inside if click.positive else outside
            target[near] = np.minimum(target[near], gap)
        mask[pixels] = inside < outside
    if query.grown is not None:
        mask |= query.grown
    for click in query.clicks:
        mask[click.index] = click.positive
    mask = mask.reshape(labels.shape)
    if query.box is not None:
        mask &= _box_window(query.box, labels.shape)
    return mask


def _nearest_colours(
    features: _Features, pixels: IntArray, owners: IntArray, region: BoolArray
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Squared ΔE from each pixel to the nearest superpixel colour inside and outside."""
    gaps = features.gaps[pixels]
    side = region[features.graph.candidates][owners]
    inside = np.where(side, gaps, np.inf).min(axis=1)
    outside = np.where(side, np.inf, gaps).min(axis=1)
    return inside, outside


def _superpixel_share(features: _Features, mask: BoolArray) -> FloatArray:
    """The fraction of every superpixel's pixels inside ``mask``."""
    inside = np.bincount(features.labels.ravel(), weights=mask.ravel(), minlength=features.count)
    share: FloatArray = inside / features.area
    return share


def _mask_iou(a: BoolArray, b: BoolArray) -> float:
    """Intersection over union of two masks (1 when both are empty)."""
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _mask_box(mask: BoolArray) -> FloatArray:
    """The bounding box ``[[x0, y0, x1, y1]]`` (exclusive ends) of a mask; zeros if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return np.zeros((1, 4))
    return np.array([[cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]], dtype=np.float64)


def _grab_cut(features: _Features, query: _Query, iterations: int) -> BoolArray | None:
    """GrabCut initialised with the box (and clicks) on a crop around it.

    Returns ``None`` where GrabCut cannot run (no background around the box, a degenerate
    box). OpenCV's RNG is reseeded first, so the result depends on the input only.
    """
    assert query.box is not None
    height, width = features.labels.shape
    x0, y0, x1, y1 = (round(v) for v in query.box)
    x0, x1 = min(max(x0, 0), width), min(max(x1, 0), width)
    y0, y1 = min(max(y0, 0), height), min(max(y1, 0), height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    margin = max(8, int(max(x1 - x0, y1 - y0) * _GRABCUT_MARGIN))
    cx0, cy0 = max(x0 - margin, 0), max(y0 - margin, 0)
    cx1, cy1 = min(x1 + margin, width), min(y1 + margin, height)
    shrink = min(1.0, _GRABCUT_SIDE / max(cx1 - cx0, cy1 - cy0))
    size = (max(1, round((cx1 - cx0) * shrink)), max(1, round((cy1 - cy0) * shrink)))
    crop = np.asarray(
        cv2.resize(features.rgb[cy0:cy1, cx0:cx1], size, interpolation=cv2.INTER_AREA),
        dtype=np.uint8,
    )
    seeds = np.full((size[1], size[0]), cv2.GC_BGD, dtype=np.uint8)
    rx0, ry0 = int((x0 - cx0) * shrink), int((y0 - cy0) * shrink)
    rx1, ry1 = math.ceil((x1 - cx0) * shrink), math.ceil((y1 - cy0) * shrink)
    seeds[ry0:ry1, rx0:rx1] = cv2.GC_PR_FGD
    for click in query.clicks:
        cy, cx = divmod(click.index, width)
        point = (int((cx - cx0) * shrink), int((cy - cy0) * shrink))
        label = cv2.GC_FGD if click.positive else cv2.GC_BGD
        cv2.circle(seeds, point, 1, label, thickness=-1)
    if not (seeds == cv2.GC_BGD).any():
        return None
    background = np.zeros((1, 65), dtype=np.float64)
    foreground = np.zeros((1, 65), dtype=np.float64)
    cv2.setRNGSeed(_GRABCUT_SEED)
    try:
        cv2.grabCut(
            crop, seeds, (0, 0, 0, 0), background, foreground, iterations, cv2.GC_INIT_WITH_MASK
        )
    except cv2.error:
        return None
    chosen = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    full = cv2.resize(chosen, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros((height, width), dtype=bool)
    mask[cy0:cy1, cx0:cx1] = full.astype(bool)
    return mask & _box_window(query.box, (height, width))


def _box_window(box: Box, shape: tuple[int, ...]) -> BoolArray:
    """Pixels within ``box`` grown by one pixel on every side."""
    x0, y0, x1, y1 = box
    window = np.zeros(shape, dtype=bool)
    rows = slice(max(math.floor(y0) - 1, 0), max(math.ceil(y1) + 1, 0))
    cols = slice(max(math.floor(x0) - 1, 0), max(math.ceil(x1) + 1, 0))
    window[rows, cols] = True
    return window


def _to_original(masks: BoolArray, height: int, width: int) -> BoolArray:
    """Working-resolution masks ``(K, h, w)`` resized to ``(K, height, width)``."""
    if masks.shape[1:] == (height, width):
        return masks
    resized = [
        cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        for m in masks
    ]
    return np.stack(resized).astype(bool)
