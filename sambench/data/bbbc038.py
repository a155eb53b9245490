"""Loader for BBBC038v1 (Kaggle Data Science Bowl 2018 nuclei), ``stage1_train`` layout.

``stage1_train/<image id>/images/<image id>.png`` is the image (RGBA PNG; the alpha channel is
dropped, grayscale images are stored as identical channels) and
``stage1_train/<image id>/masks/<mask id>.png`` one binary PNG (0 / 255) per nucleus.

Per-object masks: **one object per mask PNG** (foreground = pixel value > 0), object id
``<image id>/<mask id>``, class-agnostic (no category). Masks must have the image's size;
empty masks are dropped; overlaps (none by design) are kept as they are. An image folder
without ``masks/`` (the test stages) has no target and is skipped. The mask count used
for subsampling is the number of mask files (no PNG decoded).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image as PILImage

from sambench import masks
from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.coco import ImageFile
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack


class Bbbc038Dataset(IndexedDataset):
    """BBBC038v1 nuclei: one folder per image with one PNG per nucleus.

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/bbbc038``).
        images_dir: The stage folder, relative to ``root`` (``stage1_train``).
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "bbbc038"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.images_dir = images_dir
        self._index: list[IndexEntry] | None = None

    def annotation_labels(self) -> list[str]:
        return [f"{self.images_dir}/*/masks/*.png"]

    def loader_options(self) -> dict[str, Any]:
        return {"images": self.images_dir}

    def _folder(self, image_id: str) -> Path:
        return self.root / self.images_dir / image_id

    def index(self) -> list[IndexEntry]:
        """Image folders holding at least one mask file, sorted by id, with mask-file counts."""
        with self._lock:
            if self._index is None:
                self.require_root()
                stage = self.root / self.images_dir
                if not stage.is_dir():
                    raise self.missing("image folder", stage)
                entries = []
                for folder in sorted(stage.iterdir(), key=lambda p: p.name):
                    if not folder.is_dir():
                        continue
                    mask_dir = folder / "masks"
                    count = (
                        sum(1 for p in mask_dir.iterdir() if p.suffix.lower() == ".png")
                        if mask_dir.is_dir()
                        else 0
                    )
                    if count:
                        entries.append(IndexEntry(folder.name, count))
                self._index = entries
            return self._index

    def verify(self) -> VerifyReport:
        """Every image folder with masks has its ``images/<id>.png``."""
        entries = self.index()
        for entry in entries:
            image = self._folder(entry.image_id) / "images" / f"{entry.image_id}.png"
            if not image.is_file():
                raise MissingFileError(f"dataset {self.name!r}: image file {image} not found")
        if not entries:
            raise DataError(
                f"dataset {self.name!r}: no image folder with masks in "
                f"{self.root / self.images_dir}"
            )
        return VerifyReport.of_index(
            entries, f"{len(entries)} image folders with images/<id>.png and masks/*.png"
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        folder = self._folder(image_id)
        image = folder / "images" / f"{image_id}.png"
        if not image.is_file():
            raise MissingFileError(f"dataset {self.name!r}: image file {image} not found")
        try:
            with PILImage.open(image) as handle:
                width, height = handle.size
        except (OSError, ValueError) as error:
            raise DataError(f"cannot read image {image}: {error}") from error
        objects = []
        mask_files = sorted(
            (p for p in (folder / "masks").iterdir() if p.suffix.lower() == ".png"),
            key=lambda p: p.name,
        )
        for path in mask_files:
            try:
                with PILImage.open(path) as handle:
                    pixels = np.asarray(handle)
            except (OSError, ValueError) as error:
                raise DataError(f"cannot read mask {path}: {error}") from error
            if pixels.ndim == 3:
                pixels = pixels[..., 0]  # an RGB(A)-saved binary mask: channels are equal
            if pixels.shape != (height, width):
                raise DataError(
                    f"mask {path} is {pixels.shape[1]}x{pixels.shape[0]} but its image is "
                    f"{width}x{height} (width x height)"
                )
            rle = masks.encode(pixels > 0)
            area = masks.area(rle)
            if area == 0:
                continue
            box = masks.bbox(rle)
            objects.append(
                ObjectAnnotation(
                    object_id=f"{image_id}/{path.stem}",
                    mask=rle,
                    box=(box[0], box[1], box[2], box[3]),
                    area=area,
                )
            )
        if not objects:
            return None
        return ImageSample(
            dataset=self.name,
            image_id=image_id,
            file_name=f"{self.images_dir}/{image_id}/images/{image_id}.png",
            height=height,
            width=width,
            objects=tuple(objects),
            load_image=ImageFile(image, height, width),
        )


__all__ = ["Bbbc038Dataset"]
