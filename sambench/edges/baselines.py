"""Classical edge detectors of the SAM paper's Table 3: Sobel, Canny, Felzenszwalb-Huttenlocher.

Each returns a soft ``(H, W)`` float32 map in ``[0, 1]`` so the benchmark's threshold sweep
traces its precision-recall curve:

* **Sobel**: gradient magnitude of the grey image (3×3 Sobel, after a Gaussian of ``sigma``),
  divided by its maximum, then the toolbox's edge NMS (:func:`~.nms.edge_nms`).
* **Canny**: the Canny detector's gradient magnitude (Gaussian ``sigma``) kept only at its
  non-maximum-suppression survivors, divided by the maximum; the sweep replaces Canny's
  (single, no hysteresis) threshold.
* **Felzenszwalb-Huttenlocher**: boundaries of FH graph segmentations at several scales
  (:func:`skimage.segmentation.felzenszwalb`); a pixel's strength is the fraction of scales at
  which it lies on a segment boundary, so boundaries that survive coarser segmentations are
  stronger.

The paper does not say how its classical rows were produced (they are quoted from earlier
work), so these are our recorded choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sambench.edges.nms import edge_nms
from sambench.errors import SambenchError
from sambench.models import MODELS
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt

Image = npt.NDArray[np.uint8]
EdgeMap = npt.NDArray[np.float32]


def _grey(image: Image) -> npt.NDArray[np.float32]:
    import cv2

    if image.ndim == 2:
        return image.astype(np.float32) / 255.0
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _normalise(values: npt.NDArray[np.floating]) -> EdgeMap:
    top = float(values.max()) if values.size else 0.0
    out = values / top if top > 0 else np.zeros_like(values)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def sobel_edges(image: Image, sigma: float = 1.0, nms: bool = True) -> EdgeMap:
    """Sobel gradient magnitude, normalised to ``[0, 1]``, optionally edge-NMS'd."""
    import cv2

    grey = _grey(image)
    if sigma > 0:
        grey = np.asarray(cv2.GaussianBlur(grey, (0, 0), sigma), dtype=np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = _normalise(np.hypot(gx, gy))
    if not nms:
        return magnitude
    return _normalise(edge_nms(magnitude))


def canny_edges(image: Image, sigma: float = 2.0) -> EdgeMap:
    """Canny's NMS'd gradient magnitude (Gaussian ``sigma``), normalised to ``[0, 1]``."""
    from scipy import ndimage

    grey = _grey(image).astype(np.float64)
    smoothed = ndimage.gaussian_filter(grey, sigma)
    gx = ndimage.sobel(smoothed, axis=1)
    gy = ndimage.sobel(smoothed, axis=0)
    magnitude = np.hypot(gx, gy)
    # Canny's NMS: keep local maxima along the gradient direction, quantised to 4 bins
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    padded = np.pad(magnitude, 1)
    h, w = magnitude.shape
    centre = padded[1:-1, 1:-1]

    def shifted(dy: int, dx: int) -> npt.NDArray[np.float64]:
        return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    keep = np.zeros_like(magnitude, dtype=bool)
    bins = (((angle + 22.5) // 45.0) % 4).astype(int)
    for index, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        here = bins == index
        local = (centre >= shifted(dy, dx)) & (centre >= shifted(-dy, -dx))
        keep |= here & local
    return _normalise(np.where(keep, magnitude, 0.0))


def label_boundaries(labels: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
    """Pixels with a 4-neighbour of another label (both sides of each region border).

    >>> label_boundaries(np.array([[1, 1, 2], [1, 1, 2]])).astype(int).tolist()
    [[0, 1, 1], [0, 1, 1]]
    """
    edge = np.zeros(labels.shape, dtype=bool)
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge


def felzenszwalb_edges(
    image: Image,
    scales: Sequence[float] = (50, 100, 200, 400, 800, 1600),
    sigma: float = 0.8,
    min_size: int = 20,
) -> EdgeMap:
    """Fraction of FH segmentations (one per ``scale``) in which the pixel is on a boundary."""
    from skimage.segmentation import felzenszwalb

    rgb = image if image.ndim == 3 else np.stack([image] * 3, axis=-1)
    votes = np.zeros(rgb.shape[:2], dtype=np.float32)
    for scale in scales:
        labels = np.asarray(felzenszwalb(rgb, scale=float(scale), sigma=sigma, min_size=min_size))
        votes += label_boundaries(labels).astype(np.float32)
    return (votes / max(len(scales), 1)).astype(np.float32)


__all__ = ["canny_edges", "felzenszwalb_edges", "label_boundaries", "sobel_edges"]


# ----------------------------------------------------------------- as runnable models


class EdgeDetector(PromptableModel):
    """A non-promptable edge detector run through the model registry.

    :meth:`embed` computes the edge map; :meth:`edge_map` returns it; prompts are refused.
    Subclasses implement :meth:`detect` and may take keyword knobs (recorded by
    :meth:`describe`).
    """

    capabilities = ModelCapabilities(edges=True)

    def __init__(self, **knobs: Any) -> None:
        self.knobs = knobs

    def detect(self, image: Image) -> EdgeMap:
        raise NotImplementedError

    def embed(self, image: Image) -> ImageEmbedding:
        edges = self.detect(image)
        return ImageEmbedding(height=int(image.shape[0]), width=int(image.shape[1]), features=edges)

    def edge_map(self, embedding: ImageEmbedding) -> EdgeMap:
        edges: EdgeMap = embedding.features
        return edges

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        raise SambenchError(f"model {self.name!r} is an edge detector: it takes no prompts")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "knobs": dict(self.knobs)}


@MODELS.register("sobel")
class SobelDetector(EdgeDetector):
    """:func:`sobel_edges` (Gaussian ``sigma`` 1, Sobel magnitude, toolbox edge NMS)."""

    name = "sobel"

    def __init__(self, sigma: float = 1.0, nms: bool = True) -> None:
        super().__init__(sigma=float(sigma), nms=bool(nms))

    def detect(self, image: Image) -> EdgeMap:
        return sobel_edges(image, sigma=self.knobs["sigma"], nms=self.knobs["nms"])


@MODELS.register("canny")
class CannyDetector(EdgeDetector):
    """:func:`canny_edges` (Gaussian ``sigma`` 2; the threshold sweep replaces Canny's)."""

    name = "canny"

    def __init__(self, sigma: float = 2.0) -> None:
        super().__init__(sigma=float(sigma))

    def detect(self, image: Image) -> EdgeMap:
        return canny_edges(image, sigma=self.knobs["sigma"])


@MODELS.register("felzenszwalb")
class FelzenszwalbDetector(EdgeDetector):
    """:func:`felzenszwalb_edges` (boundary frequency over FH scales 50 … 1600)."""

    name = "felzenszwalb"

    def __init__(
        self,
        scales: Sequence[float] = (50, 100, 200, 400, 800, 1600),
        sigma: float = 0.8,
        min_size: int = 20,
    ) -> None:
        super().__init__(scales=[float(s) for s in scales], sigma=float(sigma), min_size=min_size)

    def detect(self, image: Image) -> EdgeMap:
        return felzenszwalb_edges(
            image, self.knobs["scales"], sigma=self.knobs["sigma"], min_size=self.knobs["min_size"]
        )


__all__ += [
    "CannyDetector",
    "EdgeDetector",
    "FelzenszwalbDetector",
    "SobelDetector",
]
