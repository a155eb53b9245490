"""A small, deterministic synthetic dataset in the real COCO instances format.

It exercises every path of the COCO loader (polygons, compressed RLE, uncompressed crowd
RLE) and the situations that make promptable segmentation hard, with exact ground truth:

- **textured backgrounds**: smoothed noise, stripes and a gradient, different per image;
- **nested parts**: a rounded *gadget* (``level: whole``) holds a coloured *panel*
  (``part``) that may hold a small *button* (``subpart``), each its own annotation with
  ``parent_id``, so a click on the button is genuinely ambiguous;
- **occlusions**: shapes drawn later hide earlier ones; an occluded object's mask is its
  visible part (possibly several pieces) and it has ``occluded: true``;
- **thin structures**: curved wires and straight poles 2–4 px wide (``thin: true``);
- **crowd regions**: on some images a cluster of pebbles with ``iscrowd: 1``, stored as an
  uncompressed RLE as COCO does.

Every object has ``attributes``: ``level`` (whole/part/subpart), ``parent_id`` (annotation
id or null), ``shape``, ``colour``, ``occluded``, ``thin`` and ``group`` (``A``/``B``, a
stand-in for a fairness attribute). Every annotation has at least :data:`MIN_AREA` pixels.

Layout written by :func:`generate_synthetic`::

    root/images/000001.png ...           # RGB, WIDTH x HEIGHT
    root/annotations/instances.json      # COCO instances (image ids 1..N)
    root/generator.json                  # stamp: generator version and parameters

Determinism: all randomness comes from integer draws of a seeded NumPy ``Generator``
(image ``i`` uses the seed sequence ``(seed, i)``, so image ``i`` does not depend on
``num_images``), pixels are computed with integer or basic IEEE arithmetic, and PNGs are
written by a tiny encoder with *stored* (uncompressed) deflate blocks, so the files do
not depend on the zlib build. Two runs with the same parameters give byte-identical
folders (for the same NumPy and pycocotools versions).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sambench import masks
from sambench.errors import DataError
from sambench.masks import BoolMask

GENERATOR_VERSION = 1
"""Bumped whenever the output changes; a stale copy is then regenerated."""

WIDTH = 320
HEIGHT = 240
MIN_AREA = 30
"""Smallest visible area (pixels) of any annotation."""

MIN_VISIBLE_FRACTION = 0.3
"""Placements that would hide more than 70% of an earlier object are rejected."""

IMAGES_DIR = "images"
ANNOTATION_FILE = "annotations/instances.json"
STAMP_FILE = "generator.json"

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (214, 48, 49),
    "orange": (240, 140, 30),
    "yellow": (245, 215, 40),
    "green": (46, 160, 67),
    "teal": (0, 150, 150),
    "blue": (40, 90, 220),
    "purple": (140, 60, 190),
    "pink": (240, 120, 190),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
}
"""Object colours by name (the ``colour`` attribute)."""

CATEGORIES: tuple[tuple[int, str, str], ...] = (
    (1, "gadget", "composite"),
    (2, "panel", "composite"),
    (3, "button", "composite"),
    (4, "triangle", "shape"),
    (5, "star", "shape"),
    (6, "hexagon", "shape"),
    (7, "disc", "shape"),
    (8, "wire", "thin"),
    (9, "pole", "thin"),
    (10, "pebbles", "crowd"),
)
"""``(id, name, supercategory)`` of every category."""

_CATEGORY_IDS = {name: category_id for category_id, name, _ in CATEGORIES}
_COLOURS = tuple(PALETTE)

IntArray = npt.NDArray[np.int64]


@dataclass
class _Object:
    """One annotation before occlusion: its full extent and how it is described."""

    category: str
    level: str
    shape: str
    colour: str
    full: BoolMask
    polygon: list[float] | None = None  # set when ``full`` is exactly this polygon's raster
    thin: bool = False
    iscrowd: bool = False
    children: list[_Object] = field(default_factory=list)

    def walk(self) -> Iterator[tuple[_Object, _Object | None]]:
        """This object and its descendants, parents first, with their parent."""
        yield self, None
        for child in self.children:
            for obj, parent in child.walk():
                yield obj, parent if parent is not None else self


# -- public API -------------------------------------------------------------------------------


def generate_synthetic(root: Path, num_images: int = 12, seed: int = 0) -> Path:
    """Write the synthetic COCO dataset into ``root`` (if not already there) and return ``root``.

    Args:
        root: Target folder (created; its parent must be writable).
        num_images: Number of images (ids ``1..num_images``); about 5–9 objects each.
        seed: Seed of the generator; image ``i`` depends only on ``(seed, i)``.

    The call is idempotent: when ``root/generator.json`` records the same generator
    version and parameters, nothing is written. Otherwise the dataset is generated into a
    temporary sibling folder and renamed into place, so a reader never sees a partial
    copy. A stale copy written by this generator is replaced; a non-empty ``root`` that
    this generator did not write is never touched.

    Raises:
        ValueError: ``num_images`` < 1 or ``seed`` < 0.
        DataError: ``root`` holds foreign files, or cannot be written.
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images must be a positive integer, got {num_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    root = Path(root)
    stamp = _stamp(num_images, seed)
    if is_up_to_date(root, num_images, seed):
        return root
    if root.exists() and not _replaceable(root):
        raise DataError(
            f"{root} exists and was not written by the synthetic generator "
            f"(no {STAMP_FILE}); refusing to overwrite it"
        )
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    except OSError as error:
        raise DataError(f"cannot create {root}: {error}") from error
    try:
        _write_dataset(staging, num_images, seed, stamp)
        _move_into_place(staging, root, num_images, seed)
    except OSError as error:
        raise DataError(f"cannot write the synthetic dataset to {root}: {error}") from error
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root


def is_up_to_date(root: Path, num_images: int = 12, seed: int = 0) -> bool:
    """Whether ``root`` holds a complete copy from this generator version with these parameters."""
    try:
        recorded = json.loads((Path(root) / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == _stamp(num_images, seed) and (Path(root) / ANNOTATION_FILE).is_file())


def render_image(index: int, seed: int = 0) -> tuple[npt.NDArray[np.uint8], list[dict[str, Any]]]:
    """Render image ``index`` (1-based): the RGB pixels and its annotations.

    The annotations are COCO dicts without ``id`` / ``image_id``; ``attributes.parent_id``
    holds the *position* of the parent in the returned list (or ``None``) until
    :func:`generate_synthetic` renumbers it into an annotation id.
    """
    rng = np.random.default_rng((seed, index))
    image = _background(rng)
    items = _place_items(rng)
    label = np.full((HEIGHT, WIDTH), -1, dtype=np.int64)
    for position, item in enumerate(items):
        for obj, _ in item.walk():
            image[obj.full] = PALETTE[obj.colour]
        label[_union(item)] = position
    grain = rng.integers(-6, 7, size=(HEIGHT, WIDTH, 1))
    image = np.clip(image + grain, 0, 255).astype(np.uint8)

    annotations: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        group = "A" if rng.integers(0, 2) == 0 else "B"
        order: dict[int, int] = {}
        for obj, parent in item.walk():
            order[id(obj)] = len(annotations)
            visible = obj.full & (label == position)
            annotations.append(_annotation(obj, visible, group, parent, order))
    return image, annotations


# -- scene construction -------------------------------------------------------------------------

_gy, _gx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.int64)


def _background(rng: np.random.Generator) -> IntArray:
    """A textured background: two-colour smoothed noise, stripes and a gradient."""
    low = rng.integers(40, 216, size=3)
    high = rng.integers(40, 216, size=3)
    grid = rng.integers(0, 256, size=(int(rng.integers(3, 8)), int(rng.integers(4, 10))))
    smooth = _upsample(grid)
    image = low + (high - low) * smooth[..., None] // 255

    dx, dy = (int(v) for v in rng.integers(-3, 4, size=2))
    if dx == 0 and dy == 0:
        dx = 1
    period = int(rng.integers(8, 29))
    amplitude = int(rng.integers(8, 33))
    phase = (_gx * dx + _gy * dy) % period
    stripes = np.abs(2 * phase - period) * amplitude // period - amplitude // 2
    channels = rng.integers(0, 2, size=3) * 2 - 1  # stripes brighten some channels, darken others
    gx, gy = (int(v) for v in rng.integers(-40, 41, size=2))
    gradient = _gx * gx // WIDTH + _gy * gy // HEIGHT
    result: IntArray = image + stripes[..., None] * channels + gradient[..., None]
    return result


def _upsample(grid: IntArray) -> IntArray:
    """Bilinear upsampling of a small integer grid to the image size, in integer arithmetic."""
    gh, gw = grid.shape
    ys = np.arange(HEIGHT) * (gh - 1)
    y0, fy = ys // (HEIGHT - 1), ys % (HEIGHT - 1)
    y1 = np.minimum(y0 + 1, gh - 1)
    rows = grid[y0] * (HEIGHT - 1 - fy)[:, None] + grid[y1] * fy[:, None]  # scaled by H-1
    xs = np.arange(WIDTH) * (gw - 1)
    x0, fx = xs // (WIDTH - 1), xs % (WIDTH - 1)
    x1 = np.minimum(x0 + 1, gw - 1)
    both = rows[:, x0] * (WIDTH - 1 - fx) + rows[:, x1] * fx
    result: IntArray = both // ((HEIGHT - 1) * (WIDTH - 1))
    return result


def _place_items(rng: np.random.Generator) -> list[_Object]:
    """Choose and place the top-level items of one image, rejecting heavy occlusions."""
    n_composite = int(rng.integers(1, 3))
    n_thin = 1 + int(rng.integers(0, 4) == 0)
    target = int(rng.integers(5, 10))
    n_simple = max(0, target - 3 * n_composite - n_thin)
    kinds = ["composite"] * n_composite + ["thin"] * n_thin + ["simple"] * n_simple
    plan = [kinds[i] for i in rng.permutation(len(kinds))]
    if rng.integers(0, 3) == 0:
        plan.insert(0, "crowd")

    items: list[_Object] = []
    label = np.full((HEIGHT, WIDTH), -1, dtype=np.int64)
    count = 0

    def try_place(kind: str, attempts: int) -> None:
        nonlocal count
        for _ in range(attempts):
            candidate = _MAKERS[kind](rng)
            size = sum(1 for obj, _ in candidate.walk() if not obj.iscrowd)
            if count + size > 9:
                continue
            if _accept(candidate, items, label):
                label[_union(candidate)] = len(items)
                items.append(candidate)
                count += size
                return

    for kind in plan:
        try_place(kind, attempts=8)
    for _ in range(10):
        if count >= 5:
            break
        try_place("simple", attempts=8)
    return items


def _accept(candidate: _Object, items: list[_Object], label: IntArray) -> bool:
    """Whether every earlier object keeps enough visible area once ``candidate`` is on top."""
    new_label = label.copy()
    new_label[_union(candidate)] = len(items)
    for position, item in enumerate(items):
        for obj, _ in item.walk():
            full = int(obj.full.sum())
            visible = int((obj.full & (new_label == position)).sum())
            if visible < max(MIN_AREA, MIN_VISIBLE_FRACTION * full):
                return False
    return True


def _union(item: _Object) -> BoolMask:
    union = item.full.copy()
    for obj, _ in item.walk():
        union |= obj.full
    return union


def _pick_colour(rng: np.random.Generator, avoid: str | None = None) -> str:
    while True:
        colour = _COLOURS[int(rng.integers(0, len(_COLOURS)))]
        if colour != avoid:
            return colour


def _make_composite(rng: np.random.Generator) -> _Object:
    """A gadget (ellipse or rounded rectangle) holding a panel, usually holding a button."""
    half_w = int(rng.integers(35, 61))
    half_h = int(rng.integers(25, 46))
    cx = int(rng.integers(half_w + 2, WIDTH - half_w - 2))
    cy = int(rng.integers(half_h + 2, HEIGHT - half_h - 2))
    body_colour = _pick_colour(rng)
    if rng.integers(0, 2) == 0:
        body = _Object("gadget", "whole", "ellipse", body_colour, _ellipse(cx, cy, half_w, half_h))
    else:
        radius = int(rng.integers(6, min(half_w, half_h) * 2 // 3 + 1))
        full = _rounded_rect(cx - half_w, cy - half_h, cx + half_w, cy + half_h, radius)
        body = _Object("gadget", "whole", "rounded_rect", body_colour, full)

    # the panel's corners stay within 65% of the body's half extents: inside either body shape
    pw = half_w * int(rng.integers(35, 56)) // 100
    ph = half_h * int(rng.integers(35, 56)) // 100
    px = cx + int(rng.integers(-(half_w // 10), half_w // 10 + 1))
    py = cy + int(rng.integers(-(half_h // 10), half_h // 10 + 1))
    panel_colour = _pick_colour(rng, avoid=body_colour)
    if rng.integers(0, 2) == 0:
        corners = (px - pw, py - ph, px + pw, py - ph, px + pw, py + ph, px - pw, py + ph)
        polygon = [float(v) for v in corners]
        panel = _polygon_object("panel", "part", "rectangle", panel_colour, polygon, body.full)
    else:
        full = _ellipse(px, py, pw, ph) & body.full
        panel = _Object("panel", "part", "ellipse", panel_colour, full)
    body.children.append(panel)

    if rng.integers(0, 4) > 0:
        radius = int(rng.integers(4, 8))
        slack_x = max(0, pw // 2 - radius)
        slack_y = max(0, ph // 2 - radius)
        bx = px + int(rng.integers(-slack_x, slack_x + 1))
        by = py + int(rng.integers(-slack_y, slack_y + 1))
        full = _ellipse(bx, by, radius, radius) & panel.full
        colour = _pick_colour(rng, avoid=panel_colour)
        if full.sum() >= MIN_AREA:
            panel.children.append(_Object("button", "subpart", "disc", colour, full))
    return body


def _make_simple(rng: np.random.Generator) -> _Object:
    """A triangle, star, hexagon (polygons) or disc (an ellipse)."""
    kind = ("triangle", "star", "hexagon", "disc")[int(rng.integers(0, 4))]
    radius = int(rng.integers(16, 41))
    cx = int(rng.integers(radius, WIDTH - radius))
    cy = int(rng.integers(radius, HEIGHT - radius))
    colour = _pick_colour(rng)
    if kind == "disc":
        ry = radius * int(rng.integers(50, 101)) // 100
        return _Object("disc", "whole", "ellipse", colour, _ellipse(cx, cy, radius, ry))
    rotation = math.radians(int(rng.integers(0, 360)))
    if kind == "star":
        radii = [radius if k % 2 == 0 else radius * 0.45 for k in range(10)]
    else:
        radii = [float(radius)] * (3 if kind == "triangle" else 6)
    polygon: list[float] = []
    for k, r in enumerate(radii):
        angle = rotation + 2 * math.pi * k / len(radii)
        polygon += [round(cx + r * math.cos(angle), 1), round(cy + r * math.sin(angle), 1)]
    return _polygon_object(kind, "whole", kind, colour, polygon, None)


def _make_thin(rng: np.random.Generator) -> _Object:
    """A curved wire (quadratic Bézier) or a straight pole, 2–4 px wide."""
    width = int(rng.integers(2, 5))
    colour = _pick_colour(rng)
    while True:
        x0, x2 = (int(v) for v in rng.integers(0, WIDTH, size=2))
        y0, y2 = (int(v) for v in rng.integers(0, HEIGHT, size=2))
        if (x2 - x0) ** 2 + (y2 - y0) ** 2 >= 120**2:
            break
    if rng.integers(0, 2) == 0:
        x1, y1 = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        steps = 24
        points = []
        for k in range(steps + 1):
            t = k / steps
            a, b, c = (1 - t) * (1 - t), 2 * (1 - t) * t, t * t
            points.append((a * x0 + b * x1 + c * x2, a * y0 + b * y1 + c * y2))
        return _Object("wire", "whole", "wire", colour, _polyline(points, width), thin=True)
    full = _polyline([(float(x0), float(y0)), (float(x2), float(y2))], width)
    return _Object("pole", "whole", "pole", colour, full, thin=True)


def _make_crowd(rng: np.random.Generator) -> _Object:
    """A cluster of small pebbles annotated as one crowd region."""
    cx = int(rng.integers(40, WIDTH - 40))
    cy = int(rng.integers(40, HEIGHT - 40))
    full = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for _ in range(int(rng.integers(8, 15))):
        radius = int(rng.integers(2, 4))
        full |= _ellipse(
            cx + int(rng.integers(-30, 31)), cy + int(rng.integers(-30, 31)), radius, radius
        )
    return _Object("pebbles", "whole", "pebbles", _pick_colour(rng), full, iscrowd=True)


_MAKERS = {
    "composite": _make_composite,
    "simple": _make_simple,
    "thin": _make_thin,
    "crowd": _make_crowd,
}


# -- rasterisation ------------------------------------------------------------------------------


def _ellipse(cx: int, cy: int, rx: int, ry: int) -> BoolMask:
    """Pixels inside the axis-aligned ellipse (exact integer test)."""
    inside: BoolMask = ((_gx - cx) * ry) ** 2 + ((_gy - cy) * rx) ** 2 <= (rx * ry) ** 2
    return inside


def _rounded_rect(x0: int, y0: int, x1: int, y1: int, radius: int) -> BoolMask:
    """Pixels inside the rectangle ``[x0, x1] x [y0, y1]`` with corners of ``radius``."""
    nx = np.clip(_gx, x0 + radius, x1 - radius)
    ny = np.clip(_gy, y0 + radius, y1 - radius)
    inside: BoolMask = (
        (_gx >= x0)
        & (_gx <= x1)
        & (_gy >= y0)
        & (_gy <= y1)
        & ((_gx - nx) ** 2 + (_gy - ny) ** 2 <= radius**2)
    )
    return inside


def _polyline(points: list[tuple[float, float]], width: int) -> BoolMask:
    """Pixels whose centre lies within ``width / 2`` of the polyline."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    half = width / 2
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        left = max(0, math.floor(min(ax, bx) - half) - 1)
        right = min(WIDTH, math.ceil(max(ax, bx) + half) + 2)
        top = max(0, math.floor(min(ay, by) - half) - 1)
        bottom = min(HEIGHT, math.ceil(max(ay, by) + half) + 2)
        if left >= right or top >= bottom:
            continue
        px = _gx[top:bottom, left:right].astype(np.float64)
        py = _gy[top:bottom, left:right].astype(np.float64)
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        if length2 > 0:
            t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
        else:
            t = np.zeros_like(px)
        ex = px - ax - t * dx
        ey = py - ay - t * dy
        mask[top:bottom, left:right] |= ex * ex + ey * ey <= half * half
    return mask


def _polygon_object(
    category: str, level: str, shape: str, colour: str, polygon: list[float], clip: BoolMask | None
) -> _Object:
    """An object rasterised from a polygon by the mask codec (as the loader will)."""
    full = masks.decode(masks.from_polygons([polygon], HEIGHT, WIDTH))
    if clip is not None and bool((full & ~clip).any()):
        return _Object(category, level, shape, colour, full & clip)  # clipped: not a polygon
    return _Object(category, level, shape, colour, full, polygon=polygon)


# -- annotations and files ----------------------------------------------------------------------


def _annotation(
    obj: _Object,
    visible: BoolMask,
    group: str,
    parent: _Object | None,
    order: dict[int, int],
) -> dict[str, Any]:
    occluded = bool((obj.full & ~visible).any())
    segmentation: Any
    if obj.iscrowd:
        segmentation = {"size": [HEIGHT, WIDTH], "counts": _uncompressed_counts(visible)}
    elif obj.polygon is not None and not occluded:
        segmentation = [obj.polygon]
    else:
        segmentation = dict(masks.encode(visible))
    rle = masks.encode(visible)
    return {
        "category_id": _CATEGORY_IDS[obj.category],
        "segmentation": segmentation,
        "area": masks.area(rle),
        "bbox": masks.bbox(rle),
        "iscrowd": int(obj.iscrowd),
        "attributes": {
            "level": obj.level,
            "parent_id": None if parent is None else order[id(parent)],
            "shape": obj.shape,
            "colour": obj.colour,
            "occluded": occluded,
            "thin": obj.thin,
            "group": group,
        },
    }


def _uncompressed_counts(mask: BoolMask) -> list[int]:
    """COCO uncompressed RLE counts (column-major runs, starting with background)."""
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return [int(run) for run in runs]


def _stamp(num_images: int, seed: int) -> dict[str, Any]:
    return {
        "generator": "sambench.data.synthetic",
        "version": GENERATOR_VERSION,
        "num_images": num_images,
        "seed": seed,
        "width": WIDTH,
        "height": HEIGHT,
    }


def _write_dataset(folder: Path, num_images: int, seed: int, stamp: dict[str, Any]) -> None:
    (folder / IMAGES_DIR).mkdir(parents=True)
    (folder / ANNOTATION_FILE).parent.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(1, num_images + 1):
        pixels, objects = render_image(index, seed)
        file_name = f"{index:06d}.png"
        (folder / IMAGES_DIR / file_name).write_bytes(png_bytes(pixels))
        images.append({"id": index, "file_name": file_name, "height": HEIGHT, "width": WIDTH})
        base = len(annotations) + 1
        for position, ann in enumerate(objects):
            parent = ann["attributes"]["parent_id"]
            ann["attributes"]["parent_id"] = None if parent is None else base + parent
            annotations.append({"id": base + position, "image_id": index, **ann})
    coco = {
        "info": {
            "description": "sambench synthetic dataset",
            "version": f"{GENERATOR_VERSION}",
            "contributor": "sambench.data.synthetic",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": category_id, "name": name, "supercategory": supercategory}
            for category_id, name, supercategory in CATEGORIES
        ],
    }
    (folder / ANNOTATION_FILE).write_text(
        json.dumps(coco, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    (folder / STAMP_FILE).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")


def _replaceable(root: Path) -> bool:
    """A folder this generator may replace: empty, or stamped by the generator."""
    if not root.is_dir():
        return False
    return (root / STAMP_FILE).is_file() or not any(root.iterdir())


def _move_into_place(staging: Path, root: Path, num_images: int, seed: int) -> None:
    old: Path | None = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / "data")
    try:
        os.rename(staging, root)
    except OSError:
        if not is_up_to_date(root, num_images, seed):  # else: a concurrent run won the race
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def png_bytes(image: npt.NDArray[np.uint8]) -> bytes:
    """Encode an RGB ``(height, width, 3)`` uint8 image as a PNG with stored deflate blocks.

    The bytes depend only on the pixels (no compressor, hence no zlib-version
    dependence); any PNG reader decodes them.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # filter byte 0 on every row
    rows[:, 1:] = image.reshape(height, 3 * width)
    raw = rows.tobytes()
    stream = bytearray(b"\x78\x01")
    block = 65535
    for start in range(0, len(raw), block):
        chunk = raw[start : start + block]
        final = 1 if start + block >= len(raw) else 0
        stream += bytes([final]) + struct.pack("<HH", len(chunk), 0xFFFF ^ len(chunk)) + chunk
    stream += struct.pack(">I", zlib.adler32(raw))

    def png_chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", bytes(stream))
        + png_chunk(b"IEND", b"")
    )


__all__ = [
    "ANNOTATION_FILE",
    "CATEGORIES",
    "GENERATOR_VERSION",
    "HEIGHT",
    "IMAGES_DIR",
    "MIN_AREA",
    "PALETTE",
    "STAMP_FILE",
    "WIDTH",
    "generate_synthetic",
    "is_up_to_date",
    "png_bytes",
    "render_image",
]
