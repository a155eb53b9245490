"""Loader for LVIS v0.5 and v1 annotations (``lvis_v*_{train,val}.json``) on COCO 2017 images.

LVIS JSON is COCO-like and is read here directly (the ``lvis`` package is not needed):

- ``images[]`` have ``id``, ``height``, ``width``, ``coco_url`` and, in v0.5, ``file_name``
  (COCO 2014-style, ``COCO_val2014_000000397133.jpg``); per image
  ``not_exhaustive_category_ids`` and ``neg_category_ids`` become
  :attr:`ImageSample.metadata` (what LVIS evaluation needs);
- ``annotations[]`` are polygons, with no ``iscrowd`` (every object is a target); each
  object's attributes carry its category's ``frequency`` (``r``/``c``/``f``);
- masks are converted exactly as by the COCO loader (:mod:`sambench.data.coco`).

Image files are COCO 2017 images. An image's ``<split folder>/<file>`` is:

- v0.5 (``file_name`` present): the card's ``layout.images`` folder (``val2017`` for
  v0.5 val, whose images are all COCO val2017) and the last 16 characters of ``file_name``
  when it has the 2014 ``COCO_`` prefix (``000000397133.jpg``), else ``file_name``;
- v1 (no ``file_name``): the last two parts of ``coco_url``
  (``http://images.cocodataset.org/train2017/000000391895.jpg`` → ``train2017/
  000000391895.jpg``): LVIS v1 val draws on both COCO train2017 and val2017 images.

The file is looked up first under the LVIS folder (``<data-root>/lvis/val2017/...``), then
under the sibling COCO folder (``<data-root>/coco/val2017/...``, the card option
``coco_folder``), so one COCO download serves both datasets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sambench.data.base import LoaderKeywords, VerifyReport
from sambench.data.coco import CocoDataset, CocoDialect, _ImageEntry, _Index, read_index
from sambench.errors import DataError, MissingFileError

if TYPE_CHECKING:
    from typing import Unpack

_COCO_2014_PREFIX = "COCO_"


def _lvis_file(image: Mapping[str, Any], path: Path, label: str) -> str:
    """``"<folder>/<file>"`` for v1 (from ``coco_url``), ``"./<file>"`` for v0.5."""
    file_name = image.get("file_name")
    if isinstance(file_name, str) and file_name:
        name = PurePosixPath(file_name).name
        if name.startswith(_COCO_2014_PREFIX):
            name = name[-16:]
        return f"./{name}"
    url = image.get("coco_url")
    if isinstance(url, str):
        parts = [part for part in url.split("/") if part]
        if len(parts) >= 2:
            return f"{parts[-2]}/{parts[-1]}"
    raise DataError(f"{path}: image {label} has neither 'file_name' nor a usable 'coco_url'")


def _lvis_metadata(image: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: sorted(int(v) for v in image.get(key) or [])
        for key in ("not_exhaustive_category_ids", "neg_category_ids")
    }


LVIS = CocoDialect(
    image_file=_lvis_file,
    image_metadata=_lvis_metadata,
    category_attributes=("frequency",),
)
"""The LVIS flavour of COCO JSON."""


class LvisDataset(CocoDataset):
    """LVIS v0.5 or v1 annotations over COCO 2017 images (see the module docstring).

    Args:
        name: Dataset name.
        root: The LVIS folder (``<data-root>/lvis``).
        images_dir: The image folder of v0.5 entries (``"val2017"``); v1 entries name theirs.
        annotation_file: The LVIS JSON, relative to ``root``.
        coco_root: The COCO folder searched after ``root`` (``<data-root>/coco``), or ``None``.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.coco.CocoDataset`.
    """

    format_name = "lvis"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        annotation_file: str,
        *,
        coco_root: Path | None = None,
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, images_dir, annotation_file, **common)
        self.coco_root = None if coco_root is None else Path(coco_root)

    def loader_options(self) -> dict[str, Any]:
        return {"images": self.images_dir, "annotations": self.annotation_file}

    def __repr__(self) -> str:
        return f"LvisDataset(name={self.name!r}, root={str(self.root)!r})"

    def _read(self, path: Path) -> _Index:
        return read_index(path, LVIS)

    def image_candidates(self, entry: _ImageEntry) -> list[Path]:
        """Where the image may be, in lookup order."""
        folder, _, name = entry.file_name.partition("/")
        if folder == ".":
            folder = self.images_dir
        roots = [self.root] if self.coco_root is None else [self.root, self.coco_root]
        return [root / folder / name for root in roots]

    def image_path(self, entry: _ImageEntry) -> Path:
        """The first candidate that exists (else the first, for the error message)."""
        candidates = self.image_candidates(entry)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        return candidates[0]

    def verify(self) -> VerifyReport:
        """As COCO's, looking for each image under the LVIS and the COCO folder."""
        index = self._load_index()
        for item in self.index():
            entry = index.by_id[item.image_id]
            candidates = self.image_candidates(entry)
            if not any(path.is_file() for path in candidates):
                raise MissingFileError(
                    f"dataset {self.name!r}: image {item.image_id} (listed in "
                    f"{self.annotation_path}) not found at "
                    + " nor ".join(str(path) for path in candidates)
                )
        return super().verify()


__all__ = ["LVIS", "LvisDataset"]
