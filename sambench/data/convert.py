"""Helpers shared by the label-map, polygon and video loaders: reading label images without
losing bits, turning a binary mask or polygons into an :class:`ObjectAnnotation`, reading
image sizes from headers, lazily reading images stored inside ZIP archives, and making the
:class:`ImageSample` of an image file.

Every mask goes through :mod:`sambench.masks` (the one codec).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from sambench import masks
from sambench.data.base import Dataset
from sambench.data.coco import ImageFile
from sambench.errors import DataError, MissingFileError
from sambench.masks import RLE
from sambench.samples import Image, ImageSample, ObjectAnnotation

LabelArray = npt.NDArray[np.int64]


def object_from_rle(
    object_id: str,
    rle: RLE,
    *,
    category: str | None = None,
    category_id: int | None = None,
    iscrowd: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> ObjectAnnotation | None:
    """An object with the mask's tight box and pixel area, or ``None`` when it is empty."""
    area = masks.area(rle)
    if area == 0:
        return None
    box = masks.bbox(rle)
    return ObjectAnnotation(
        object_id=object_id,
        mask=rle,
        box=(box[0], box[1], box[2], box[3]),
        area=area,
        category=category,
        category_id=category_id,
        iscrowd=iscrowd,
        attributes=dict(attributes or {}),
    )


def object_from_mask(
    object_id: str,
    mask: npt.NDArray[np.generic],
    *,
    category: str | None = None,
    category_id: int | None = None,
    iscrowd: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> ObjectAnnotation | None:
    """:func:`object_from_rle` of a dense 2-D mask (non-zero = foreground)."""
    return object_from_rle(
        object_id,
        masks.encode(mask),
        category=category,
        category_id=category_id,
        iscrowd=iscrowd,
        attributes=attributes,
    )


def polygons_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> RLE | None:
    """The union of flat polygons ``[x1, y1, x2, y2, ...]`` (those with < 3 points and
    non-finite ones skipped), or ``None`` when none is left."""
    kept = [
        [float(v) for v in polygon]
        for polygon in polygons
        if len(polygon) >= 6 and len(polygon) % 2 == 0 and bool(np.all(np.isfinite(polygon)))
    ]
    if not kept:
        return None
    return masks.from_polygons(kept, height, width)


def point_list_to_flat(points: object, where: str) -> list[float]:
    """``[[x, y], ...]`` → ``[x, y, ...]``.

    Raises:
        DataError: The value is not a list of pairs of numbers (``where`` names it).
    """
    if not isinstance(points, list):
        raise DataError(f"{where}: a polygon must be a list of [x, y] points, got {points!r}")
    flat: list[float] = []
    for point in points:
        if (
            not isinstance(point, list | tuple)
            or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            raise DataError(f"{where}: a polygon point must be [x, y], got {point!r}")
        flat += [float(point[0]), float(point[1])]
    return flat


def read_label_image(path: Path, what: str = "label map") -> npt.NDArray[Any]:
    """A label image's values: 16-bit PNGs keep 16 bits, palette PNGs give indices, RGB(A)
    gives ``(h, w, 3)`` (alpha dropped), anything else ``(h, w)``.

    Raises:
        MissingFileError: The file does not exist.
        DataError: It cannot be read.
    """
    if not path.is_file():
        raise MissingFileError(f"{what} {path} not found")
    try:
        with PILImage.open(path) as handle:
            mode = handle.mode
            if mode == "1":
                array = np.asarray(handle.convert("L"))
            elif mode in ("RGBA", "LA", "PA"):
                array = np.asarray(handle)[..., :-1]
                if array.shape[-1] == 1:
                    array = array[..., 0]
            elif mode in ("CMYK", "YCbCr", "HSV", "LAB"):
                array = np.asarray(handle.convert("RGB"))
            else:
                array = np.asarray(handle)  # L, P (indices), I;16 (uint16), I, F, RGB
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {what} {path}: {error}") from error
    return array


def label_values(array: npt.NDArray[Any]) -> LabelArray:
    """A label image as one integer per pixel: RGB colours are packed as
    ``R * 65536 + G * 256 + B`` (so black is 0)."""
    if array.ndim == 3:
        rgb = array[..., :3].astype(np.int64)
        packed: LabelArray = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        return packed
    return array.astype(np.int64, copy=False)


def components(mask: npt.NDArray[np.bool_]) -> list[npt.NDArray[np.bool_]]:
    """The 8-connected components of a binary mask, in raster order of their first pixel."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return [labels == k for k in range(1, int(count))]


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the image header (no pixel decoded).

    Raises:
        MissingFileError: The file does not exist.
        DataError: It cannot be read.
    """
    if not path.is_file():
        raise MissingFileError(f"image file {path} not found")
    try:
        with PILImage.open(path) as handle:
            width, height = handle.size
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}") from error
    return int(height), int(width)


def check_same_size(
    label: npt.NDArray[Any], height: int, width: int, label_path: Path, image_path: Path
) -> None:
    """Raise a :class:`DataError` naming both files when a label map's size differs."""
    if label.shape[:2] != (height, width):
        raise DataError(
            f"label map {label_path} is {label.shape[1]}x{label.shape[0]} but its image "
            f"{image_path} is {width}x{height} (width x height)"
        )


class ZipImage:
    """Reads one image stored in a ZIP archive as RGB uint8 (a picklable ``load_image``).

    Attributes:
        archive: The ZIP file.
        member: The member's name inside it.
    """

    def __init__(self, archive: Path, member: str) -> None:
        self.archive = archive
        self.member = member

    def read_bytes(self) -> bytes:
        """The member's raw bytes.

        Raises:
            MissingFileError: The archive or the member does not exist.
            DataError: The archive cannot be read.
        """
        if not self.archive.is_file():
            raise MissingFileError(f"frame archive {self.archive} not found")
        try:
            with zipfile.ZipFile(self.archive) as archive:
                try:
                    return archive.read(self.member)
                except KeyError:
                    raise MissingFileError(
                        f"frame {self.member} not found in {self.archive}"
                    ) from None
        except (OSError, zipfile.BadZipFile) as error:
            raise DataError(f"cannot read frame archive {self.archive}: {error}") from error

    def size(self) -> tuple[int, int]:
        """``(height, width)`` from the member's header."""
        try:
            with PILImage.open(BytesIO(self.read_bytes())) as handle:
                width, height = handle.size
        except (OSError, ValueError) as error:
            raise DataError(f"cannot read {self.member} in {self.archive}: {error}") from error
        return int(height), int(width)

    def __call__(self) -> Image:
        try:
            with PILImage.open(BytesIO(self.read_bytes())) as handle:
                return np.array(handle.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError) as error:
            raise DataError(f"cannot read {self.member} in {self.archive}: {error}") from error

    def __repr__(self) -> str:
        return f"ZipImage({str(self.archive)!r}, {self.member!r})"


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (the absolute path if outside)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def image_file_sample(
    dataset: Dataset,
    image_id: str,
    image: Path,
    height: int,
    width: int,
    objects: Sequence[ObjectAnnotation],
    metadata: Mapping[str, Any],
) -> ImageSample | None:
    """The sample of one image file, or ``None`` when none of its objects is an evaluation
    target (there is none, or every one is a crowd region).

    Args:
        dataset: The loader: its name, and its root that the sample's ``file_name`` is
            relative to (see :func:`relative`).
        image_id: The image id.
        image: The image file, read lazily and size-checked by
            :class:`~sambench.data.coco.ImageFile`.
        height: The image height in pixels.
        width: The image width in pixels.
        objects: The image's objects, in the loader's order.
        metadata: The sample's dataset-specific extras.
    """
    if not any(not obj.iscrowd for obj in objects):
        return None
    return ImageSample(
        dataset=dataset.name,
        image_id=image_id,
        file_name=relative(image, dataset.root),
        height=height,
        width=width,
        objects=tuple(objects),
        load_image=ImageFile(image, height, width),
        metadata=metadata,
    )


__all__ = [
    "LabelArray",
    "ZipImage",
    "check_same_size",
    "components",
    "image_file_sample",
    "image_size",
    "label_values",
    "object_from_mask",
    "object_from_rle",
    "point_list_to_flat",
    "polygons_rle",
    "read_label_image",
    "relative",
]
