"""Morphological thinning (MATLAB ``bwmorph(B, 'thin', Inf)``) and edge non-maximum suppression.

Thinning is the one the BSDS benchmark applies to every thresholded edge map before matching:
the two-subiteration parallel algorithm of Lam, Lee and Suen (1992), as in MATLAB's ``bwmorph``
(conditions G1, G2 and G3 / G3'), repeated until a whole iteration (both subiterations) changes
nothing. Only pixels whose 3×3 neighbourhood changed since they were last examined are looked
at again, which keeps it cheap on maps that are already thin.

Edge NMS is the Structured Edge toolbox's post-processing, applied to HED and most published
BSDS rows before evaluation (``edgesNmsMex`` with ``r = 1, s = 5, m = 1.01`` after a triangle
blur, orientation from second derivatives):

>>> import numpy as np
>>> b = np.zeros((7, 7), dtype=bool); b[2:5, 1:6] = True   # a 3-pixel-thick bar
>>> thin(b).sum(axis=0).tolist()              # one pixel wide, ends shortened (as MATLAB)
[0, 0, 1, 1, 1, 0, 0]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

BoolMask = npt.NDArray[np.bool_]
FloatMap = npt.NDArray[np.float64]


def _thinning_tables() -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Deletion tables of the two subiterations, indexed by the 8-neighbour code.

    Bit ``k - 1`` of the code is neighbour ``x_k``, counted counter-clockwise from the east
    (x1 = E, x2 = NE, x3 = N, x4 = NW, x5 = W, x6 = SW, x7 = S, x8 = SE; x9 = x1).
    """
    code = np.arange(256)
    x = [np.zeros(256, dtype=bool)] + [((code >> (k - 1)) & 1).astype(bool) for k in range(1, 9)]
    x.append(x[1])
    crossings = sum(((~x[2 * i - 1]) & (x[2 * i] | x[2 * i + 1])).astype(int) for i in range(1, 5))
    g1 = crossings == 1
    n1 = sum((x[2 * k - 1] | x[2 * k]).astype(int) for k in range(1, 5))
    n2 = sum((x[2 * k] | x[2 * k + 1]).astype(int) for k in range(1, 5))
    smaller = np.minimum(n1, n2)
    g2 = (smaller >= 2) & (smaller <= 3)
    g3 = ~((x[2] | x[3] | ~x[8]) & x[1])
    g3_prime = ~((x[6] | x[7] | ~x[4]) & x[5])
    return g1 & g2 & g3, g1 & g2 & g3_prime


_DELETE = _thinning_tables()
_WEIGHTS = (1 << np.arange(8)).astype(np.int32)


def thin(
    binary: npt.ArrayLike, stop: Literal["iteration", "subiteration"] = "iteration"
) -> BoolMask:
    """Thin a binary map to one-pixel-wide curves (``bwmorph(B, 'thin', Inf)``).

    Args:
        binary: ``(H, W)`` map; nonzero is on.
        stop: ``"iteration"`` (MATLAB, scikit-image): stop when a whole iteration changes
            nothing. ``"subiteration"``: stop as soon as one subiteration changes nothing
            (the Python port used by pyEdgeEval; it can leave a few more pixels).
    """
    image = np.asarray(binary)
    if image.ndim != 2:
        raise ValueError(f"thin expects a 2-D map, got shape {image.shape}")
    height, width = image.shape
    stride = width + 2
    padded = np.zeros((height + 2) * stride, dtype=np.uint8)
    padded.reshape(height + 2, stride)[1:-1, 1:-1] = image != 0
    offsets = np.array(
        [1, -stride + 1, -stride, -stride - 1, -1, stride - 1, stride, stride + 1], dtype=np.intp
    )
    on = np.flatnonzero(padded)
    dirty = [on, on]
    changed_in_iteration = False
    step = 0
    while True:
        which = step % 2
        candidates = dirty[which]
        candidates = candidates[padded[candidates] == 1]
        if candidates.size:
            codes = padded[candidates[:, None] + offsets].astype(np.int32) @ _WEIGHTS
            deleted = candidates[_DELETE[which][codes]]
        else:
            deleted = candidates
        dirty[which] = deleted  # examined pixels that stay need no second look
        if deleted.size:
            changed_in_iteration = True
            padded[deleted] = 0
            around = (deleted[:, None] + offsets).ravel()
            around = np.unique(around[padded[around] == 1])
            dirty[which] = around
            dirty[1 - which] = np.union1d(dirty[1 - which], around)
        elif stop == "subiteration":
            break
        if which == 1:
            if not changed_in_iteration:
                break
            changed_in_iteration = False
        step += 1
    return padded.reshape(height + 2, stride)[1:-1, 1:-1].astype(bool)


# ------------------------------------------------------------------------ edge NMS


def conv_tri(image: FloatMap, radius: float) -> FloatMap:
    """The toolbox's ``convTri``: separable triangle blur with symmetric padding.

    ``radius <= 1`` uses the 3-tap ``[1, p, 1] / (2 + p)`` with ``p = 12 / r / (r + 2) - 2``.
    """
    from scipy.ndimage import correlate1d

    if radius <= 0:
        return image
    if radius <= 1:
        p = 12.0 / radius / (radius + 2.0) - 2.0
        kernel = np.array([1.0, p, 1.0]) / (2.0 + p)
    else:
        r = int(radius)
        kernel = np.concatenate([np.arange(1, r + 2), np.arange(r, 0, -1)]) / float((r + 1) ** 2)
    blurred = correlate1d(image, kernel, axis=0, mode="reflect")
    result: FloatMap = correlate1d(blurred, kernel, axis=1, mode="reflect")
    return result


def edge_orientation(edges: FloatMap) -> FloatMap:
    """Orientation in ``[0, π)`` from second derivatives of the blurred map (toolbox style)."""
    oy, ox = np.gradient(conv_tri(edges, 4))
    _, oxx = np.gradient(ox)
    oyy, oxy = np.gradient(oy)
    result: FloatMap = np.mod(np.arctan(oyy * np.sign(-oxy) / (oxx + 1e-5)), np.pi)
    return result


def _bilinear(image: FloatMap, x: FloatMap, y: FloatMap) -> FloatMap:
    """``image`` at real positions, clamped to ``[0, size - 1.001]`` like ``edgesNmsMex``."""
    height, width = image.shape
    x = np.clip(x, 0.0, width - 1.001)
    y = np.clip(y, 0.0, height - 1.001)
    x0 = x.astype(np.intp)
    y0 = y.astype(np.intp)
    dx = x - x0
    dy = y - y0
    return (
        image[y0, x0] * (1 - dx) * (1 - dy)
        + image[y0, x0 + 1] * dx * (1 - dy)
        + image[y0 + 1, x0] * (1 - dx) * dy
        + image[y0 + 1, x0 + 1] * dx * dy
    )


def edge_nms(
    edges: npt.ArrayLike,
    radius: int = 1,
    border: int = 5,
    multiplier: float = 1.01,
    blur: float = 1.0,
) -> FloatMap:
    """Structured Edge toolbox edge NMS of a soft edge map in ``[0, 1]``.

    The map is blurred with ``convTri(E, blur)``; a pixel is kept when ``multiplier`` × its
    value is at least the (bilinearly interpolated) value at every distance ``1..radius``
    along its normal on both sides; values within ``border`` pixels of the image edge are
    scaled down linearly (``edgesNmsMex(E, O, r, s, m)``).
    """
    image = np.asarray(edges, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"edge_nms expects a 2-D map, got shape {image.shape}")
    image = conv_tri(image, blur)
    orientation = edge_orientation(image)
    out = image.copy()
    ys, xs = np.nonzero(image)
    values = image[ys, xs] * multiplier
    keep = np.ones(ys.size, dtype=bool)
    cos_o = np.cos(orientation[ys, xs])
    sin_o = np.sin(orientation[ys, xs])
    for d in range(-radius, radius + 1):
        if d == 0:
            continue
        neighbour = _bilinear(image, xs + d * cos_o, ys + d * sin_o)
        keep &= ~(values < neighbour)
    out[ys[~keep], xs[~keep]] = 0.0
    height, width = out.shape
    s = min(border, width // 2, height // 2)
    for i in range(s):
        factor = i / s
        out[:, i] *= factor
        out[:, width - 1 - i] *= factor
    for i in range(s):
        factor = i / s
        out[i, :] *= factor
        out[height - 1 - i, :] *= factor
    return out


__all__ = ["conv_tri", "edge_nms", "edge_orientation", "thin"]
