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

import numpy as np
import numpy.typing as npt

from sambench.edges.nms import edge_nms

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
        grey = cv2.GaussianBlur(grey, (0, 0), sigma)
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


def felzenszwalb_edges(
    image: Image,
    scales: Sequence[float] = (50, 100, 200, 400, 800, 1600),
    sigma: float = 0.8,
    min_size: int = 20,
) -> EdgeMap:
    """Fraction of FH segmentations (one per ``scale``) in which the pixel is on a boundary."""
    from skimage.segmentation import felzenszwalb, find_boundaries

    rgb = image if image.ndim == 3 else np.stack([image] * 3, axis=-1)
    votes = np.zeros(rgb.shape[:2], dtype=np.float32)
    for scale in scales:
        labels = felzenszwalb(rgb, scale=float(scale), sigma=sigma, min_size=min_size)
        votes += find_boundaries(labels, mode="inner").astype(np.float32)
    return (votes / max(len(scales), 1)).astype(np.float32)


__all__ = ["canny_edges", "felzenszwalb_edges", "sobel_edges"]
