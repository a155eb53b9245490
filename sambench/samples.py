"""Image samples and their ground-truth objects: what every dataset loader yields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sambench.masks import RLE, BoolMask, decode

Image = npt.NDArray[np.uint8]
"""An RGB image, ``(height, width, 3)`` uint8."""


@dataclass(frozen=True)
class ObjectAnnotation:
    """One ground-truth object of an image.

    Attributes:
        object_id: Identifier unique within the dataset (COCO annotation id).
        mask: Binary mask as a COCO RLE, at the image's full resolution.
        box: Tight box ``[x, y, width, height]`` (COCO convention).
        category: Category name, or ``None`` for class-agnostic datasets.
        category_id: Numeric category id as in the source annotations, if any.
        iscrowd: COCO crowd flag; crowd regions are not evaluation targets.
        area: Mask area in pixels.
        attributes: Free-form attributes (for example ``perceived_age``), used by
            fairness breakdowns; values must be JSON-serialisable.
    """

    object_id: str
    mask: RLE
    box: tuple[float, float, float, float]
    area: int
    category: str | None = None
    category_id: int | None = None
    iscrowd: bool = False
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def dense_mask(self) -> BoolMask:
        """The mask as a boolean ``(height, width)`` array."""
        return decode(self.mask)


@dataclass(frozen=True)
class ImageSample:
    """One image of a dataset and its objects.

    The pixels are loaded lazily through ``load_image`` so that iterating a dataset
    (to count, subsample or skip finished samples on resume) never decodes images.

    Attributes:
        dataset: Dataset name (the card name, e.g. ``"coco"``).
        image_id: Identifier unique within the dataset (COCO image id as a string).
        file_name: Image file path relative to the dataset root, for provenance.
        height: Image height in pixels.
        width: Image width in pixels.
        objects: Ground-truth objects, in the loader's deterministic order.
        load_image: Callable returning the RGB image.
        metadata: Dataset-specific extras a task may need beyond object masks (for
            example the path of a BSDS500 ground-truth ``.mat`` file with per-annotator
            boundaries); values must be JSON-serialisable.
    """

    dataset: str
    image_id: str
    file_name: str
    height: int
    width: int
    objects: tuple[ObjectAnnotation, ...]
    load_image: Callable[[], Image] = field(repr=False, compare=False)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """The sample's record key ``(dataset, image_id)``."""
        return (self.dataset, self.image_id)
