"""Loader for DRAM (Diverse Realism in Art Movements), the SAM paper's one **semantic** dataset.

Layout (``DRAM_processed.zip`` → ``DRAM_processed.rar`` unpacked): test paintings
``DRAM_processed/test/<artist or movement>/<name>.jpg`` and their labels at the same relative
path under ``DRAM_processed/labels/`` with ``.png``. A label is a single-channel PASCAL VOC
class-index PNG: 0 background, 1-20 the VOC classes (:data:`VOC_CLASSES`), 255 "ignore"
(boundaries / unlabelled). Names repeat across artist folders, so image ids keep the folder:
``<folder>/<name>``. Paintings without a label file are not evaluated.

Conversion to per-object masks (the paper gives none; sambench's choice, card option
``per``):

- ``per: class`` (default): **one object per VOC class present** (values 1-20), its mask every
  pixel of that class; 0 and 255 are never objects. Object id ``<image id>/<class value>``,
  category the VOC class name, category id the value.
- ``per: component``: one object per 8-connected component of each class (ids
  ``<image id>/<value>/<k>``).

Why ``class`` is the default: a semantic map does not separate instances, so the only
per-object masks it defines without guessing are its class regions; and the paper's counts fit
them. SAM Table 7 lists 718 images with 1179 masks, **1.64 masks per image**. DRAM paintings
show few classes each (mostly a person, an animal, a boat), so one mask per class present gives
that ratio, whereas connected components (which split every occluded person, every herd and
every fragment cut by a 255 border) give several times more. ``component`` is there for
studies that want instance-like masks; it is not the paper's count.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sambench.data.base import LoaderKeywords
from sambench.data.instance_png import LabelMapDataset, LabelMapRule

if TYPE_CHECKING:
    from typing import Unpack

VOC_CLASSES: dict[int, str] = {
    1: "aeroplane",
    2: "bicycle",
    3: "bird",
    4: "boat",
    5: "bottle",
    6: "bus",
    7: "car",
    8: "cat",
    9: "chair",
    10: "cow",
    11: "diningtable",
    12: "dog",
    13: "horse",
    14: "motorbike",
    15: "person",
    16: "pottedplant",
    17: "sheep",
    18: "sofa",
    19: "train",
    20: "tvmonitor",
}
"""PASCAL VOC class indices (DRAM uses the VOC label encoding; 12 of them occur)."""

PER = ("class", "component")


class DramDataset(LabelMapDataset):
    """DRAM test paintings with VOC class-index labels (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/dram``).
        images_dir: The test folder (``DRAM_processed/test``).
        labels_dir: The label folder (``DRAM_processed/labels``).
        per: ``class`` (one object per class present) or ``component``.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "dram"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        labels_dir: str,
        *,
        per: str = "class",
        **common: Unpack[LoaderKeywords],
    ) -> None:
        if per not in PER:
            raise ValueError(f"per must be one of {PER}, not {per!r}")
        rule = LabelMapRule(
            encoding="instance",
            background=(0,),
            ignore=(255,),
            categories=VOC_CLASSES,
            split="components" if per == "component" else "none",
        )
        super().__init__(
            name,
            root,
            {"": (images_dir, labels_dir)},
            rule,
            image_suffix=".jpg",
            label_suffix=".png",
            recursive=True,
            **common,
        )
        self.per = per

    def loader_options(self) -> dict[str, Any]:
        return {**super().loader_options(), "per": self.per}


__all__ = ["PER", "VOC_CLASSES", "DramDataset"]
