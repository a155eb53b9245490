"""The BSDS boundary benchmark: ODS, OIS, AP and R50 of soft edge maps.

Semantics are those of the BSDS500 benchmark as extended by the Structured Edge toolbox
(``edgesEvalImg`` / ``edgesEvalDir``, "identical to boundaryBench" plus R50), which produced
the published numbers of HED, EDETR and the SAM paper's Table 3:

1. **Thresholds**: ``K`` (99) evenly spaced, ``t_k = k / (K + 1)``; a pixel is on at ``t`` when
   its value is ``>= t``.
2. **Thinning** of each thresholded map (``bwmorph(·, 'thin', Inf)``, :func:`~.nms.thin`).
3. **Matching** to each annotator's boundaries in turn within ``0.0075 ×`` the image diagonal
   (:mod:`~.correspond`, the benchmark's ``correspondPixels``).
4. **Accumulation over annotators**: recall counts the matched ground-truth pixels of every
   annotator over all of them (``cntR / sumR``); precision counts a predicted pixel as right
   when it matches *any* annotator (``cntP / sumP``).
5. **ODS**: F of the counts summed over images, at the best threshold, linearly interpolated
   between neighbouring thresholds (100 steps). **OIS**: counts of each image at its own best
   threshold, summed. **AP**: precision interpolated at recall 0, 0.01, …, 1 over the recall
   range reached, summed and divided by 100 (the toolbox's convention). **R50**: recall
   interpolated at precision 0.5 (or at the lowest precision reached, if above 0.5; NaN when
   precision never reaches 0.5).

pyEdgeEval calls the toolbox's AP "AUC" (its own "AP" is another average) and has no R50.

Each image's result is its four count vectors (:class:`ImageCounts`), enough to recompute
every figure later without the edge maps.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sambench.edges.correspond import BoundaryMatcher
from sambench.edges.nms import thin as thin_map
from sambench.errors import DataError, SambenchError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EPS = float(np.finfo(np.float64).eps)
"""MATLAB's ``eps``: the floor of thresholds and denominators."""


def default_thresholds(count: int = 99) -> FloatArray:
    """``count`` thresholds ``k / (count + 1)``, ``k = 1..count`` (the benchmark's default).

    >>> default_thresholds(3).tolist()
    [0.25, 0.5, 0.75]
    """
    if count < 1:
        raise ValueError(f"the number of thresholds must be at least 1, got {count}")
    return np.linspace(1.0 / (count + 1), 1.0 - 1.0 / (count + 1), count)


def as_thresholds(thresholds: int | Sequence[float] | FloatArray) -> FloatArray:
    """An int ``K`` means :func:`default_thresholds` ``(K)``; a sequence is used as given."""
    if isinstance(thresholds, (int, np.integer)) and not isinstance(thresholds, bool):
        return default_thresholds(int(thresholds))
    array = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if array.size == 0 or not np.all(np.diff(array) > 0):
        raise ValueError("thresholds must be a non-empty increasing sequence")
    return array


@dataclass(frozen=True)
class ImageCounts:
    """One image's benchmark counts at every threshold.

    Attributes:
        image_id: The image.
        thresholds: ``(K,)`` the thresholds.
        cnt_r: Matched ground-truth pixels, summed over annotators.
        sum_r: Ground-truth boundary pixels, summed over annotators.
        cnt_p: Predicted (thinned) pixels matched to at least one annotator.
        sum_p: Predicted (thinned) pixels.
    """

    image_id: str
    thresholds: FloatArray
    cnt_r: IntArray
    sum_r: IntArray
    cnt_p: IntArray
    sum_p: IntArray

    def to_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "thresholds": [float(t) for t in self.thresholds],
            "cnt_r": self.cnt_r.tolist(),
            "sum_r": self.sum_r.tolist(),
            "cnt_p": self.cnt_p.tolist(),
            "sum_p": self.sum_p.tolist(),
        }

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> ImageCounts:
        arrays = {
            k: np.asarray(row[k], dtype=np.int64) for k in ("cnt_r", "sum_r", "cnt_p", "sum_p")
        }
        thresholds = np.asarray(row["thresholds"], dtype=np.float64)
        if any(a.shape != thresholds.shape for a in arrays.values()):
            raise ValueError("count vectors and thresholds differ in length")
        return cls(image_id=str(row["image_id"]), thresholds=thresholds, **arrays)


def evaluate_image(
    edges: npt.ArrayLike,
    boundaries: Sequence[npt.ArrayLike],
    thresholds: int | Sequence[float] | FloatArray = 99,
    max_dist: float = 0.0075,
    thin: bool = True,
    image_id: str = "",
) -> ImageCounts:
    """The benchmark counts of one soft edge map against its annotators' boundary maps.

    Args:
        edges: ``(H, W)`` edge strength in ``[0, 1]`` (a PNG's values / 255).
        boundaries: One ``(H, W)`` boundary map per annotator.
        thresholds: Number of thresholds, or the thresholds.
        max_dist: Matching radius as a fraction of the image diagonal.
        thin: Thin every thresholded map first (the benchmark does).
        image_id: Recorded in the result.
    """
    edge_map = np.asarray(edges, dtype=np.float64)
    if edge_map.ndim != 2:
        raise ValueError(f"edge map must be 2-D, got shape {edge_map.shape}")
    gts = [np.asarray(b) != 0 for b in boundaries]
    for gt in gts:
        if gt.shape != edge_map.shape:
            raise ValueError(
                f"image {image_id!r}: boundary map {gt.shape} and edge map {edge_map.shape} "
                "differ in size"
            )
    levels = as_thresholds(thresholds)
    candidates = edge_map >= max(EPS, float(levels[0]))
    matchers = [BoundaryMatcher(gt, candidates, max_dist) for gt in gts]
    total_gt = sum(m.boundary_pixels for m in matchers)
    count = levels.size
    cnt_r = np.zeros(count, dtype=np.int64)
    cnt_p = np.zeros(count, dtype=np.int64)
    sum_p = np.zeros(count, dtype=np.int64)
    previous: npt.NDArray[np.bool_] | None = None
    # highest threshold first: each lower one mostly switches pixels on, the cheaper update
    # of the incremental matching (switch-offs come only from thinning)
    for k in range(count - 1, -1, -1):
        binary = edge_map >= max(EPS, float(levels[k]))
        if previous is not None and np.array_equal(binary, previous):
            cnt_r[k], cnt_p[k], sum_p[k] = cnt_r[k + 1], cnt_p[k + 1], sum_p[k + 1]
            continue
        previous = binary
        predicted = thin_map(binary) if thin else binary
        matched = np.zeros(predicted.size, dtype=bool)
        for matcher in matchers:
            pixels, gt_matched = matcher.match(predicted)
            matched[pixels] = True
            cnt_r[k] += gt_matched
        cnt_p[k] = int(matched.sum())
        sum_p[k] = int(predicted.sum())
    return ImageCounts(
        image_id=image_id,
        thresholds=levels,
        cnt_r=cnt_r,
        sum_r=np.full(count, total_gt, dtype=np.int64),
        cnt_p=cnt_p,
        sum_p=sum_p,
    )


# -------------------------------------------------------------------------- summary


def rpf(
    cnt_r: npt.ArrayLike, sum_r: npt.ArrayLike, cnt_p: npt.ArrayLike, sum_p: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Recall, precision and F from counts (the toolbox's ``computeRPF``)."""
    r = np.asarray(cnt_r, dtype=np.float64) / np.maximum(EPS, np.asarray(sum_r, dtype=np.float64))
    p = np.asarray(cnt_p, dtype=np.float64) / np.maximum(EPS, np.asarray(sum_p, dtype=np.float64))
    f = 2.0 * p * r / np.maximum(EPS, p + r)
    return r, p, f


def best_interpolated(
    thresholds: FloatArray, recall: FloatArray, precision: FloatArray
) -> tuple[float, float, float, float]:
    """``(threshold, recall, precision, F)`` at the best F, interpolating between thresholds
    in 100 steps (the toolbox's ``findBestRPF``)."""
    if thresholds.size == 1:
        p, r = float(precision[0]), float(recall[0])
        return float(thresholds[0]), r, p, 2 * p * r / max(EPS, p + r)
    a = np.linspace(0.0, 1.0, 100)
    b = 1.0 - a
    rj = recall[1:, None] * a + recall[:-1, None] * b
    pj = precision[1:, None] * a + precision[:-1, None] * b
    tj = thresholds[1:, None] * a + thresholds[:-1, None] * b
    fj = 2.0 * pj * rj / np.maximum(EPS, pj + rj)
    # first maximum in (segment, step) order, as the toolbox's loop with a strict '>'
    index = int(np.argmax(fj))
    j, k = divmod(index, a.size)
    return float(tj[j, k]), float(rj[j, k]), float(pj[j, k]), float(fj[j, k])


def average_precision(recall: FloatArray, precision: FloatArray) -> float:
    """The toolbox's AP: precision interpolated at recall 0:0.01:1 inside the recall range
    reached, summed, divided by 100 (the first threshold of each distinct recall counts)."""
    r_unique, first = np.unique(recall, return_index=True)
    if r_unique.size < 2:
        return 0.0
    p_unique = precision[first]
    grid = np.linspace(0.0, 1.0, 101)
    inside = (grid >= r_unique[0]) & (grid <= r_unique[-1])
    return float(np.interp(grid[inside], r_unique, p_unique).sum() / 100.0)


def recall_at_half_precision(recall: FloatArray, precision: FloatArray) -> float:
    """R50: recall interpolated at precision 0.5, or at the lowest precision when that is
    higher; NaN when precision never reaches 0.5 (the toolbox's ``R50``)."""
    r_unique, first = np.unique(recall, return_index=True)
    # the toolbox keeps the first threshold of each recall, in decreasing recall order
    r_desc = r_unique[::-1]
    p_desc = precision[first][::-1]
    p_unique, p_first = np.unique(p_desc, return_index=True)
    r_of_p = r_desc[p_first]
    if r_unique.size < 2 or p_unique.size < 2:
        target = max(float(p_unique[0]), 0.5)
        return float(r_of_p[0]) if target == p_unique[0] else math.nan
    target = max(float(p_unique[0]), 0.5)
    if target > p_unique[-1]:
        return math.nan
    return float(np.interp(target, p_unique, r_of_p))


@dataclass(frozen=True)
class EdgeScores:
    """The benchmark's figures for a set of images, with the tables behind them.

    Attributes:
        ods, ods_threshold, ods_recall, ods_precision: Optimal dataset scale.
        ois, ois_recall, ois_precision: Optimal image scale.
        ap: Average precision (toolbox convention).
        r50: Recall at 50% precision.
        thresholds: ``(K,)`` thresholds.
        recall, precision, f: ``(K,)`` dataset curves.
        images: Per image: ``image_id``, best ``threshold``, ``recall``, ``precision``, ``f``.
    """

    ods: float
    ods_threshold: float
    ods_recall: float
    ods_precision: float
    ois: float
    ois_recall: float
    ois_precision: float
    ap: float
    r50: float
    thresholds: FloatArray
    recall: FloatArray
    precision: FloatArray
    f: FloatArray
    images: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """``{"ODS", "OIS", "AP", "R50"}``."""
        return {"ODS": self.ods, "OIS": self.ois, "AP": self.ap, "R50": self.r50}

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: _json_float(v) for k, v in self.figures().items()},
            "ODS_threshold": self.ods_threshold,
            "ODS_recall": self.ods_recall,
            "ODS_precision": self.ods_precision,
            "OIS_recall": self.ois_recall,
            "OIS_precision": self.ois_precision,
            "images_evaluated": len(self.images),
            "per_threshold": [
                {"threshold": float(t), "recall": float(r), "precision": float(p), "f": float(f)}
                for t, r, p, f in zip(
                    self.thresholds, self.recall, self.precision, self.f, strict=True
                )
            ],
            "per_image": self.images,
        }


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def summarize(images: Iterable[ImageCounts]) -> EdgeScores:
    """ODS, OIS, AP and R50 of a set of images (the toolbox's ``edgesEvalDir``).

    Raises:
        ValueError: no image, or images evaluated at different thresholds.
    """
    rows = list(images)
    if not rows:
        raise ValueError("no image to summarize")
    thresholds = rows[0].thresholds
    for row in rows:
        if not np.array_equal(row.thresholds, thresholds):
            raise ValueError(f"image {row.image_id!r} was evaluated at other thresholds")
    cnt_r = sum((r.cnt_r for r in rows), np.zeros(thresholds.size, dtype=np.int64))
    sum_r = sum((r.sum_r for r in rows), np.zeros(thresholds.size, dtype=np.int64))
    cnt_p = sum((r.cnt_p for r in rows), np.zeros(thresholds.size, dtype=np.int64))
    sum_p = sum((r.sum_p for r in rows), np.zeros(thresholds.size, dtype=np.int64))
    ois_counts = np.zeros(4, dtype=np.int64)
    per_image: list[dict[str, Any]] = []
    for row in rows:
        r1, p1, f1 = rpf(row.cnt_r, row.sum_r, row.cnt_p, row.sum_p)
        t_best, r_best, p_best, f_best = best_interpolated(thresholds, r1, p1)
        # an image without ground-truth boundaries counts at its last threshold
        k = thresholds.size - 1 if row.sum_r[0] == 0 else int(np.argmax(f1))
        ois_counts += [row.cnt_r[k], row.sum_r[k], row.cnt_p[k], row.sum_p[k]]
        per_image.append(
            {
                "image_id": row.image_id,
                "threshold": t_best,
                "recall": r_best,
                "precision": p_best,
                "f": f_best,
            }
        )
    recall, precision, f = rpf(cnt_r, sum_r, cnt_p, sum_p)
    ods_t, ods_r, ods_p, ods_f = best_interpolated(thresholds, recall, precision)
    ois_r, ois_p, ois_f = (float(v) for v in rpf(*ois_counts))
    return EdgeScores(
        ods=ods_f,
        ods_threshold=ods_t,
        ods_recall=ods_r,
        ods_precision=ods_p,
        ois=ois_f,
        ois_recall=ois_r,
        ois_precision=ois_p,
        ap=average_precision(recall, precision),
        r50=recall_at_half_precision(recall, precision),
        thresholds=thresholds,
        recall=recall,
        precision=precision,
        f=f,
        images=per_image,
    )


# ------------------------------------------------------------------- files and folders


def load_edge_map(path: Path) -> FloatArray:
    """A grayscale PNG edge map as float64 in ``[0, 1]`` (8-bit / 255, 16-bit / 65535)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{path}: not a readable image")
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 4:
            image = image[:, :, :3]
        if not (image == image[:, :, :1]).all():
            raise DataError(f"{path}: an edge map must be grayscale, got {channels} channels")
        image = image[:, :, 0]
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float64) / 65535.0
    raise DataError(f"{path}: expected an 8- or 16-bit PNG, got {image.dtype}")


def save_edge_map(path: Path, edges: npt.ArrayLike, bits: int = 16) -> None:
    """Write an edge map in ``[0, 1]`` as an 8- or 16-bit grayscale PNG (rounded)."""
    import cv2

    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    scale = 255.0 if bits == 8 else 65535.0
    dtype = np.uint8 if bits == 8 else np.uint16
    values = np.clip(np.asarray(edges, dtype=np.float64), 0.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.rint(values * scale).astype(dtype)):
        raise SambenchError(f"{path}: cannot write PNG")


def _evaluate_files(job: tuple[str, str, str, FloatArray, float, bool]) -> ImageCounts:
    from sambench.data.bsds500 import load_boundaries

    image_id, pred, gt, thresholds, max_dist, thin = job
    return evaluate_image(
        load_edge_map(Path(pred)),
        load_boundaries(Path(gt)),
        thresholds,
        max_dist,
        thin,
        image_id=image_id,
    )


def evaluate_files(
    pairs: Sequence[tuple[str, Path, Path]],
    thresholds: int | Sequence[float] | FloatArray = 99,
    max_dist: float = 0.0075,
    thin: bool = True,
    workers: int | None = None,
) -> list[ImageCounts]:
    """Evaluate ``(image_id, edge PNG, groundTruth .mat)`` triples, in parallel processes.

    ``workers``: processes (``None``: the CPUs available to this process; 1: in-process).
    """
    levels = as_thresholds(thresholds)
    jobs = [(i, str(p), str(g), levels, max_dist, thin) for i, p, g in pairs]
    count = workers if workers is not None else _available_cpus()
    if count <= 1 or len(jobs) <= 1:
        return [_evaluate_files(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=min(count, len(jobs))) as pool:
        return list(pool.map(_evaluate_files, jobs, chunksize=1))


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def pair_folders(pred_dir: Path, gt_dir: Path) -> list[tuple[str, Path, Path]]:
    """``(image_id, PNG, .mat)`` for every ``<id>.mat`` in ``gt_dir``; each needs ``<id>.png``.

    Raises:
        SambenchError: a folder is missing, holds no ``.mat`` file, or an edge map is missing.
    """
    from sambench.data.bsds500 import natural_key

    for folder, what in ((pred_dir, "--pred"), (gt_dir, "--gt")):
        if not folder.is_dir():
            raise SambenchError(f"{what} folder {folder} does not exist")
    mats = sorted(gt_dir.glob("*.mat"), key=lambda p: natural_key(p.stem))
    if not mats:
        raise SambenchError(f"--gt folder {gt_dir} holds no .mat ground-truth file")
    pairs = []
    for mat in mats:
        png = pred_dir / f"{mat.stem}.png"
        if not png.is_file():
            raise SambenchError(f"edge map {png} (for ground truth {mat}) not found")
        pairs.append((mat.stem, png, mat))
    return pairs


def evaluate_folder(
    pred_dir: Path,
    gt_dir: Path,
    thresholds: int | Sequence[float] | FloatArray = 99,
    max_dist: float = 0.0075,
    thin: bool = True,
    workers: int | None = None,
) -> tuple[EdgeScores, list[ImageCounts]]:
    """Evaluate a folder of PNG edge maps named by image id against BSDS ``.mat`` files."""
    counts = evaluate_files(pair_folders(pred_dir, gt_dir), thresholds, max_dist, thin, workers)
    return summarize(counts), counts


def write_results(
    path: Path, scores: EdgeScores, counts: Sequence[ImageCounts], settings: Mapping[str, Any]
) -> None:
    """The JSON of ``sambench eval edges --out``: figures, tables, counts and settings."""
    payload = {
        **scores.to_json(),
        "settings": dict(settings),
        "counts": [c.to_json() for c in counts],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")


__all__ = [
    "EPS",
    "EdgeScores",
    "ImageCounts",
    "as_thresholds",
    "average_precision",
    "best_interpolated",
    "default_thresholds",
    "evaluate_files",
    "evaluate_folder",
    "evaluate_image",
    "load_edge_map",
    "pair_folders",
    "recall_at_half_precision",
    "rpf",
    "save_edge_map",
    "summarize",
    "write_results",
]
