"""The SAM paper's zero-shot edge pipeline (§7.2, App. D.2) for any promptable model.

1. Prompt a ``grid × grid`` regular grid of foreground points (16 × 16, at the centres of the
   grid cells as SAM's automatic mask generator places them; coordinates rounded to whole
   pixels, since clicks are pixel positions) with multimask output: 768 masks for SAM.
2. No predicted-IoU or stability filtering.
3. Remove redundant masks with greedy box NMS (IoU ``nms_iou``; the paper gives no value,
   SAM's automatic mask generator uses 0.7), masks ordered by predicted IoU, as the
   generator orders them. Empty masks are dropped.
4. Sobel filter (3 × 3) on each kept mask's unthresholded probability map
   (``sigmoid(logits)`` at full resolution), gradient magnitude.
5. Keep only the responses on the mask's outer boundary pixels (``"outer"``: pixels outside
   the mask 8-adjacent to it; ``"inner"``: mask pixels 8-adjacent to the outside; ``"both"``).
6. Pixel-wise maximum over masks, linear normalisation to ``[0, 1]``.
7. Edge NMS (the Structured Edge toolbox's, :func:`~.nms.edge_nms`) to thin the edges.

Each mask's boundary response is kept as a sparse list while the prompts are decoded in
chunks, so the full-resolution logits of 768 masks never sit in memory at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sambench.edges.nms import edge_nms
from sambench.errors import SambenchError
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.prompts import Click, Prompt

EdgeMap = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SamEdgeSettings:
    """Knobs of the pipeline (see the module docs; defaults are the paper's or SAM's AMG's)."""

    grid: int = 16
    nms_iou: float = 0.7
    boundary: Literal["outer", "inner", "both"] = "outer"
    edge_nms: bool = True
    prompt_batch: int = 64


def grid_points(height: int, width: int, side: int) -> list[tuple[int, int]]:
    """``side × side`` points at the cell centres (``build_point_grid``), rounded to pixels.

    >>> grid_points(100, 200, 2)
    [(50, 25), (150, 25), (50, 75), (150, 75)]
    """
    offset = 1.0 / (2 * side)
    axis = np.linspace(offset, 1 - offset, side)
    points = []
    for fy in axis:
        for fx in axis:
            x = min(int(np.floor(fx * width)), width - 1)
            y = min(int(np.floor(fy * height)), height - 1)
            points.append((x, y))
    return points


def mask_box(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` inclusive bounds of a mask (SAM's ``batched_mask_to_box``)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def box_nms(
    boxes: npt.NDArray[np.float64], scores: npt.NDArray[np.float64], iou: float
) -> list[int]:
    """Greedy NMS (torchvision's ``nms``: areas ``(x1 - x0) × (y1 - y0)``), highest score first.

    >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], float)
    >>> box_nms(b, np.array([0.9, 0.8, 0.7]), 0.7)
    [0, 2]
    """
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        kept.append(int(i))
        x0 = np.maximum(boxes[i, 0], boxes[:, 0])
        y0 = np.maximum(boxes[i, 1], boxes[:, 1])
        x1 = np.minimum(boxes[i, 2], boxes[:, 2])
        y1 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = areas[i] + areas - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        suppressed |= overlap > iou
    return kept


def boundary_response(
    logits: npt.NDArray[np.float32], which: str
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Flat indices and Sobel magnitudes of ``sigmoid(logits)`` on the mask's boundary."""
    import cv2

    probability = (1.0 / (1.0 + np.exp(-logits.astype(np.float32)))).astype(np.float32)
    gx = cv2.Sobel(probability, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(probability, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    mask = (logits > 0).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    if which == "outer":
        ring = (cv2.dilate(mask, kernel) > 0) & (mask == 0)
    elif which == "inner":
        ring = (mask > 0) & (cv2.erode(mask, kernel, borderType=cv2.BORDER_REPLICATE) == 0)
    else:
        ring = (cv2.dilate(mask, kernel) > 0) & (
            cv2.erode(mask, kernel, borderType=cv2.BORDER_REPLICATE) == 0
        )
    index = np.flatnonzero(ring)
    return index, magnitude.reshape(-1)[index].astype(np.float32)


def sam_edge_map(
    model: PromptableModel, embedding: ImageEmbedding, settings: SamEdgeSettings
) -> tuple[EdgeMap, dict[str, Any]]:
    """The pipeline's edge map in ``[0, 1]`` and facts about it (masks, kept after NMS).

    Raises:
        SambenchError: the model lacks points, multimask output or full-resolution logits.
    """
    caps = model.capabilities
    missing = [n for n in ("points", "multimask", "logits") if not getattr(caps, n)]
    if missing:
        raise SambenchError(
            f"model {model.name!r} cannot run the SAM edge pipeline: lacks {', '.join(missing)}"
        )
    height, width = embedding.height, embedding.width
    points = grid_points(height, width, settings.grid)
    boxes: list[tuple[int, int, int, int]] = []
    scores: list[float] = []
    responses: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]] = []
    total = 0
    for start in range(0, len(points), settings.prompt_batch):
        chunk = points[start : start + settings.prompt_batch]
        prompts = [Prompt(clicks=(Click(x=x, y=y, positive=True),)) for x, y in chunk]
        outputs = model.predict(embedding, prompts, multimask_output=True, return_logits=True)
        for output in outputs:
            if output.logits is None:
                raise SambenchError(f"model {model.name!r} returned no logits")
            for k in range(output.logits.shape[0]):
                total += 1
                box = mask_box(output.logits[k] > 0)
                if box is None:
                    continue
                boxes.append(box)
                scores.append(float(output.iou_predictions[k]))
                responses.append(boundary_response(output.logits[k], settings.boundary))
    edges = np.zeros(height * width, dtype=np.float32)
    kept: list[int] = []
    if boxes:
        kept = box_nms(np.asarray(boxes, float), np.asarray(scores, float), settings.nms_iou)
        for i in kept:
            index, values = responses[i]
            edges[index] = np.maximum(edges[index], values)  # indices unique per mask
    edge_map = edges.reshape(height, width)
    low, high = float(edge_map.min()), float(edge_map.max())
    if high > low:
        edge_map = (edge_map - low) / (high - low)
    if settings.edge_nms:
        edge_map = np.clip(edge_nms(edge_map), 0.0, 1.0)
    info = {"masks": total, "nonempty": len(boxes), "kept_after_nms": len(kept)}
    return edge_map.astype(np.float32), info


__all__ = ["SamEdgeSettings", "box_nms", "grid_points", "mask_box", "sam_edge_map"]
