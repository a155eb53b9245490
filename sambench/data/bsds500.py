"""Loader for BSDS500 (the Berkeley Segmentation Data Set, ``BSR_bsds500.tgz`` layout).

``BSR/BSDS500/data/images/<split>/<id>.jpg`` with ``BSR/BSDS500/data/groundTruth/<split>/
<id>.mat``: a MATLAB v5 file whose variable ``groundTruth`` is a 1×K cell array, one cell per
human annotator (4 to 9 of them), each a struct with ``Segmentation`` (an H×W label map, one
label per region, 1..N) and ``Boundaries`` (an H×W logical map of that annotator's region
boundaries). Read with :func:`scipy.io.loadmat`.

Per-object masks: **every region of every selected annotator is one object** (``mask =
Segmentation == label``), with attributes ``annotator`` (1-based) and ``segment`` (the
label); object id ``<image id>/<annotator>/<label>``. BSDS500 privileges no annotator (its
boundary benchmark matches a prediction against all of them), so neither do we; a task
that wants one annotator filters on the ``annotator`` attribute, or a card restricts
``options.annotators``. Regions are not split into connected components; a label 0
(unlabelled, absent from the official files) would be skipped.

For the edge-detection task each sample's :attr:`ImageSample.metadata` carries the
ground-truth file: ``groundtruth_mat`` (absolute path), ``groundtruth_file`` (relative to
the dataset folder) and ``annotators`` (K); :func:`load_boundaries` reads the per-annotator
boundary maps from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sambench import masks
from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.coco import ImageFile
from sambench.errors import DataError, MissingFileError
from sambench.masks import BoolMask
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack

LabelMap = npt.NDArray[np.integer[Any]]


def natural_key(image_id: str) -> tuple[int, int, str]:
    """Sort key: all-digit ids by number first, then the others as strings."""
    return (0, int(image_id), "") if image_id.isdigit() else (1, 0, image_id)


def load_groundtruth(path: Path) -> list[tuple[LabelMap, BoolMask]]:
    """The ``(Segmentation, Boundaries)`` pair of each annotator of a BSDS500 ``.mat`` file.

    Raises:
        DataError: The file is missing, not a MATLAB v5 file, or not shaped like BSDS500
            ground truth (the message names the file and what is wrong).
    """
    import scipy.io
    from scipy.io.matlab import MatReadError

    if not path.is_file():
        raise MissingFileError(f"BSDS500 ground-truth file {path} not found")
    try:
        data = scipy.io.loadmat(str(path))
    except (OSError, ValueError, TypeError, NotImplementedError, MatReadError) as error:
        raise DataError(f"{path}: cannot read MATLAB file: {error}") from error
    cells = data.get("groundTruth")
    if not isinstance(cells, np.ndarray) or cells.dtype != object or cells.size == 0:
        raise DataError(f"{path}: no 'groundTruth' cell array")
    pairs: list[tuple[LabelMap, BoolMask]] = []
    shape: tuple[int, ...] | None = None
    for k, cell in enumerate(cells.reshape(-1), start=1):
        names = getattr(getattr(cell, "dtype", None), "names", None) or ()
        if "Segmentation" not in names or "Boundaries" not in names:
            raise DataError(f"{path}: annotator {k} lacks 'Segmentation' / 'Boundaries'")
        segmentation = np.asarray(cell["Segmentation"].reshape(-1)[0])
        boundaries = np.asarray(cell["Boundaries"].reshape(-1)[0])
        if segmentation.ndim != 2 or not np.issubdtype(segmentation.dtype, np.integer):
            raise DataError(f"{path}: annotator {k}: 'Segmentation' is not a 2-D label map")
        if boundaries.shape != segmentation.shape:
            raise DataError(
                f"{path}: annotator {k}: 'Boundaries' and 'Segmentation' differ in size"
            )
        if shape is not None and segmentation.shape != shape:
            raise DataError(f"{path}: annotator {k}'s maps differ in size from annotator 1's")
        shape = segmentation.shape
        pairs.append((segmentation, boundaries.astype(bool)))
    return pairs


def load_boundaries(path: Path | str) -> list[BoolMask]:
    """Each annotator's boundary map (H×W bool) from a BSDS500 ground-truth ``.mat`` file
    (``ImageSample.metadata["groundtruth_mat"]``)."""
    return [boundaries for _, boundaries in load_groundtruth(Path(path))]


class Bsds500Dataset(IndexedDataset):
    """BSDS500 images of one split with their per-annotator segmentations.

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/bsds500``).
        images_dir: Image folder of the split, relative to ``root``
            (``BSR/BSDS500/data/images/test``).
        groundtruth_dir: Its ground-truth folder (``BSR/BSDS500/data/groundTruth/test``).
        annotators: 1-based annotators whose regions become objects; ``None``: all.
            Annotators an image does not have are skipped.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "bsds500"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        groundtruth_dir: str,
        *,
        annotators: Sequence[int] | None = None,
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.images_dir = images_dir
        self.groundtruth_dir = groundtruth_dir
        self.annotators = None if annotators is None else tuple(sorted(set(annotators)))
        self._ids: list[str] | None = None

    def annotation_labels(self) -> list[str]:
        return [f"{self.groundtruth_dir}/*.mat"]

    def loader_options(self) -> dict[str, Any]:
        return {
            "images": self.images_dir,
            "groundtruth": self.groundtruth_dir,
            "annotators": None if self.annotators is None else list(self.annotators),
        }

    def _image_ids(self) -> list[str]:
        with self._lock:
            if self._ids is None:
                self.require_root()
                folder = self.root / self.images_dir
                if not folder.is_dir():
                    raise self.missing("image folder", folder)
                gt_folder = self.root / self.groundtruth_dir
                if not gt_folder.is_dir():
                    raise self.missing("ground-truth folder", gt_folder)
                ids = [p.stem for p in folder.iterdir() if p.suffix.lower() == ".jpg"]
                self._ids = sorted(ids, key=natural_key)
            return self._ids

    def index(self) -> list[IndexEntry]:
        """Every image of the split; mask counts need the ``.mat`` files, so ``None``."""
        return [IndexEntry(image_id, None) for image_id in self._image_ids()]

    def verify(self) -> VerifyReport:
        """Every image has its ``.mat`` file and every ``.mat`` file its image."""
        ids = self._image_ids()
        gt_folder = self.root / self.groundtruth_dir
        for image_id in ids:
            if not (gt_folder / f"{image_id}.mat").is_file():
                raise MissingFileError(
                    f"dataset {self.name!r}: ground-truth file {gt_folder / image_id}.mat "
                    f"(for image {self.root / self.images_dir / image_id}.jpg) not found"
                )
        known = set(ids)
        for mat in sorted(gt_folder.glob("*.mat")):
            if mat.stem not in known:
                raise DataError(
                    f"dataset {self.name!r}: ground-truth file {mat} has no image "
                    f"{self.root / self.images_dir / mat.stem}.jpg"
                )
        if not ids:
            raise DataError(
                f"dataset {self.name!r}: no .jpg image in {self.root / self.images_dir}"
            )
        return VerifyReport(
            images=len(ids),
            masks=None,
            checked=f"{len(ids)} images paired with ground-truth .mat files",
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        mat = self.root / self.groundtruth_dir / f"{image_id}.mat"
        pairs = load_groundtruth(mat)
        height, width = pairs[0][0].shape
        objects: list[ObjectAnnotation] = []
        for annotator, (segmentation, _) in enumerate(pairs, start=1):
            if self.annotators is not None and annotator not in self.annotators:
                continue
            for label in np.unique(segmentation):
                if label == 0:
                    continue
                rle = masks.encode(segmentation == label)
                box = masks.bbox(rle)
                objects.append(
                    ObjectAnnotation(
                        object_id=f"{image_id}/{annotator}/{int(label)}",
                        mask=rle,
                        box=(box[0], box[1], box[2], box[3]),
                        area=masks.area(rle),
                        attributes={"annotator": annotator, "segment": int(label)},
                    )
                )
        if not objects:
            return None
        image = self.root / self.images_dir / f"{image_id}.jpg"
        return ImageSample(
            dataset=self.name,
            image_id=image_id,
            file_name=f"{self.images_dir}/{image_id}.jpg",
            height=int(height),
            width=int(width),
            objects=tuple(objects),
            load_image=ImageFile(image, int(height), int(width)),
            metadata={
                "groundtruth_file": f"{self.groundtruth_dir}/{image_id}.mat",
                "groundtruth_mat": str(mat),
                "annotators": len(pairs),
            },
        )

    def portable_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in metadata.items() if k != "groundtruth_mat"}

    def restore_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {**metadata, "groundtruth_mat": str(self.root / metadata["groundtruth_file"])}


__all__ = ["Bsds500Dataset", "load_boundaries", "load_groundtruth", "natural_key"]
