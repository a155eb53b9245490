"""Loader for Hypersim (Apple ml-hypersim): photorealistic synthetic indoor scenes, HDF5 labels.

Layout (the official per-scene ZIPs unpacked side by side, as ``download.py`` leaves them)::

    <scene>/images/scene_<camera>_final_preview/frame.<IIII>.tonemap.jpg      (the image)
    <scene>/images/scene_<camera>_geometry_hdf5/frame.<IIII>.semantic_instance.hdf5
    <scene>/images/scene_<camera>_geometry_hdf5/frame.<IIII>.semantic.hdf5    (optional)

with ``<scene>`` like ``ai_001_001`` and ``<camera>`` like ``cam_00``. Each HDF5 file holds one
dataset named ``dataset``: ``semantic_instance`` an int16 ``H x W`` map of instance ids (-1 = no
instance), ``semantic`` the NYU40 class of every pixel (-1 / 0 = none). The SAM paper's split
("Evermotion Archinteriors volumes 1-55 except 20, 25, 40, 49") is the whole public release, so
every frame with an instance map and a tonemapped image is a candidate; frames removed from
the release are simply absent. The dataset's seeded subsample picks among them.

Per-object masks: **one object per instance id >= 0** of ``semantic_instance`` (walls, floors
and ceilings are instances too, and are kept), object id ``<image id>/<instance id>``, image id
``<scene>/<camera>/<IIII>``. With ``semantic.hdf5`` present, the category id is the NYU40 class
covering most of the instance's pixels and the category its NYU40 name
(:data:`NYU40`); without it objects are class-agnostic. Empty masks are dropped; no crowd.
The image is the tonemapped preview JPG (the HDR ``color.hdf5`` is not 8-bit). The
subsampling mask count needs each instance map decoded (:meth:`mask_counts`, nothing encoded).

Reading HDF5 needs ``h5py`` (``pip install h5py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.convert import image_file_sample, image_size, object_from_mask
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack

NYU40 = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor mat", "clothes", "ceiling", "books", "refridgerator", "television", "paper", "towel",
    "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
)  # fmt: skip
"""NYU40 class names, class id = position + 1 (the labels Hypersim's ``semantic`` maps use)."""

_INSTANCE = re.compile(r"^frame\.(\d+)\.semantic_instance\.hdf5$")
_GEOMETRY = re.compile(r"^scene_(.+)_geometry_hdf5$")


def read_hdf5(path: Path) -> npt.NDArray[Any]:
    """The ``dataset`` array of a Hypersim HDF5 file.

    Raises:
        MissingFileError: The file does not exist.
        DataError: ``h5py`` is missing, or the file has no 2-D ``dataset``.
    """
    if not path.is_file():
        raise MissingFileError(f"HDF5 file {path} not found")
    try:
        import h5py
    except ImportError:
        raise DataError(f"reading {path} needs h5py: pip install h5py") from None
    try:
        with h5py.File(path, "r") as handle:
            if "dataset" not in handle:
                raise DataError(
                    f"{path}: no HDF5 dataset named 'dataset' (found: {', '.join(handle)})"
                )
            array = np.asarray(handle["dataset"][()])
    except DataError:
        raise
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read HDF5 file {path}: {error}") from error
    if array.ndim != 2:
        raise DataError(f"{path}: expected a 2-D map, got shape {array.shape}")
    return array


@dataclass(frozen=True)
class _Frame:
    image_id: str
    instance: Path
    semantic: Path
    image: Path


class HypersimDataset(IndexedDataset):
    """Hypersim frames with instance maps (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/hypersim``).
        scenes_dir: The folder holding the ``ai_VVV_NNN`` scene folders, relative to ``root``.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "hypersim"

    def __init__(
        self,
        name: str,
        root: Path,
        scenes_dir: str = ".",
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.scenes_dir = scenes_dir
        self._frames: dict[str, _Frame] | None = None

    def _prefix(self) -> str:
        return "" if self.scenes_dir in ("", ".") else f"{self.scenes_dir.rstrip('/')}/"

    def annotation_labels(self) -> list[str]:
        return [f"{self._prefix()}ai_*/images/*_geometry_hdf5/frame.*.semantic_instance.hdf5"]

    def annotation_files(self) -> list[Path]:
        return [frame.instance for frame in self._scan().values()]

    def loader_options(self) -> dict[str, Any]:
        return {"scenes": self.scenes_dir}

    def _scan(self) -> dict[str, _Frame]:
        with self._lock:
            if self._frames is None:
                self.require_root()
                base = self.root / self.scenes_dir
                if not base.is_dir():
                    raise self.missing("scene folder", base)
                frames: dict[str, _Frame] = {}
                for scene in sorted(p for p in base.glob("ai_*") if p.is_dir()):
                    for geometry in sorted((scene / "images").glob("scene_*_geometry_hdf5")):
                        matched = _GEOMETRY.match(geometry.name)
                        if matched is None:
                            continue
                        camera = matched.group(1)
                        preview = scene / "images" / f"scene_{camera}_final_preview"
                        for path in sorted(geometry.glob("frame.*.semantic_instance.hdf5")):
                            number = _INSTANCE.match(path.name)
                            if number is None:
                                continue
                            frame = number.group(1)
                            image_id = f"{scene.name}/{camera}/{frame}"
                            frames[image_id] = _Frame(
                                image_id,
                                path,
                                geometry / f"frame.{frame}.semantic.hdf5",
                                preview / f"frame.{frame}.tonemap.jpg",
                            )
                if not frames:
                    raise DataError(
                        f"dataset {self.name!r}: no ai_*/images/scene_*_geometry_hdf5/"
                        f"frame.*.semantic_instance.hdf5 file under {base} (expected the "
                        "Hypersim per-scene folders)"
                    )
                self._frames = frames
            return self._frames

    def index(self) -> list[IndexEntry]:
        return [IndexEntry(image_id, None) for image_id in self._scan()]

    def mask_counts(self) -> dict[str, int]:
        """Instances per frame (maps decoded, nothing encoded)."""
        counts = {}
        for entry in self.index_entries():
            values = read_hdf5(self._scan()[entry.image_id].instance)
            ids = np.unique(values)
            counts[entry.image_id] = int((ids >= 0).sum())
        return counts

    def verify(self) -> VerifyReport:
        frames = self._scan()
        for frame in frames.values():
            if not frame.image.is_file():
                raise MissingFileError(
                    f"dataset {self.name!r}: tonemapped image {frame.image} (for "
                    f"{frame.instance}) not found"
                )
        return VerifyReport(
            images=len(frames),
            masks=None,
            checked=f"{len(frames)} instance maps, each with its tonemap.jpg",
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        frame = self._scan().get(image_id)
        if frame is None:
            raise DataError(f"dataset {self.name!r}: no frame {image_id!r}")
        height, width = image_size(frame.image)
        instances = read_hdf5(frame.instance).astype(np.int64)
        if instances.shape != (height, width):
            raise DataError(
                f"{frame.instance} is {instances.shape[1]}x{instances.shape[0]} but its image "
                f"{frame.image} is {width}x{height} (width x height)"
            )
        semantic = read_hdf5(frame.semantic).astype(np.int64) if frame.semantic.is_file() else None
        objects: list[ObjectAnnotation] = []
        for value in np.unique(instances).tolist():
            if value < 0:
                continue
            mask = instances == value
            category_id = None
            if semantic is not None:
                classes, counts = np.unique(semantic[mask], return_counts=True)
                best = int(classes[int(np.argmax(counts))])
                category_id = best if best > 0 else None
            obj = object_from_mask(
                f"{image_id}/{value}",
                mask,
                category=None
                if category_id is None or category_id > len(NYU40)
                else NYU40[category_id - 1],
                category_id=category_id,
            )
            if obj is not None:
                objects.append(obj)
        return image_file_sample(
            self,
            image_id,
            frame.image,
            height,
            width,
            objects,
            {"scene": image_id.split("/", 1)[0]},
        )


__all__ = ["NYU40", "HypersimDataset", "read_hdf5"]
