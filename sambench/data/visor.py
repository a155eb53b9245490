"""Loader for EPIC-KITCHENS VISOR sparse ground truth (egocentric video frames).

Layout (``GroundTruth-SparseAnnotations``): one JSON per video
``annotations/<split>/<video>.json`` (``P01_107.json``) and the annotated frames in one ZIP per
video ``rgb_frames/<split>/<participant>/<video>.zip`` (JPGs named
``P01_107_frame_0000000140.jpg``); a ZIP already unpacked into a folder
``rgb_frames/<split>/<participant>/<video>/`` is read too. A JSON is::

    {"video_annotations": [
        {"image": {"image_path": ..., "name": "P01_107_frame_0000000140.jpg",
                   "subsequence": ..., "video": "P01_107"},
         "annotations": [{"id": ..., "name": "left hand", "class_id": 300,
                          "exhaustive": 1, "in_contact_object": ..., "on_which_hand": ...,
                          "segments": [[[x, y], [x, y], ...], ...]}, ...]}, ...]}

Every annotated frame is an image (video frames: VISOR annotates sparse key frames, so no
further frame choice is needed; the dataset subsample draws among them). Image id
``<video>/<frame name without .jpg>``.

Per-object masks: **one object per entry of** ``annotations`` (hands and gloves included), the
union of its ``segments`` polygons filled with pycocotools; polygons with fewer than 3 points
(the release has empty ones) are skipped, objects left empty are dropped. Polygons are in
``annotation_size`` coordinates (1920x1080 for VISOR); a frame stored at another size gets its
polygons scaled to it. Object id ``<image id>/<annotation id>``, category ``name``, category id
``class_id``, attributes ``exhaustive``, ``in_contact_object``, ``on_which_hand`` when present.
The subsampling mask count of an image is its number of entries with a polygon of at least 3
points (no mask decoded).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.coco import ImageFile
from sambench.data.convert import (
    ZipImage,
    image_size,
    object_from_rle,
    point_list_to_flat,
    polygons_rle,
    relative,
)
from sambench.data.jsonfile import read_annotation_json
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack

_ATTRIBUTES = ("exhaustive", "in_contact_object", "on_which_hand")


@dataclass(frozen=True)
class _Object:
    object_id: str
    category: str | None
    category_id: int | None
    polygons: tuple[tuple[float, ...], ...]
    attributes: dict[str, Any]


@dataclass(frozen=True)
class _Frame:
    image_id: str
    video: str
    name: str
    json_path: Path
    objects: tuple[_Object, ...]


def read_visor_json(path: Path) -> list[_Frame]:
    """The annotated frames of one video JSON.

    Raises:
        DataError: Naming the file and the first malformed entry.
    """
    data = read_annotation_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("video_annotations"), list):
        raise DataError(f"{path}: expected an object with a 'video_annotations' list")
    frames = []
    for position, item in enumerate(data["video_annotations"]):
        where = f"{path}: video_annotations[{position}]"
        image = item.get("image") if isinstance(item, dict) else None
        if not isinstance(image, dict) or not isinstance(image.get("name"), str):
            raise DataError(f"{where}: needs an 'image' object with a frame 'name'")
        name = image["name"]
        video = str(image.get("video") or path.stem)
        image_id = f"{video}/{name.rsplit('.', 1)[0]}"
        annotations = item.get("annotations", [])
        if not isinstance(annotations, list):
            raise DataError(f"{where}: 'annotations' must be a list")
        objects = []
        for k, ann in enumerate(annotations):
            if not isinstance(ann, dict):
                raise DataError(f"{where}: annotation {k} is not an object")
            segments = ann.get("segments", [])
            if not isinstance(segments, list):
                raise DataError(f"{where}: annotation {k}: 'segments' must be a list of polygons")
            polygons = tuple(
                tuple(flat)
                for flat in (point_list_to_flat(s, f"{where} annotation {k}") for s in segments)
                if len(flat) >= 6
            )
            if not polygons:
                continue
            class_id = ann.get("class_id")
            objects.append(
                _Object(
                    object_id=f"{image_id}/{ann.get('id', k)}",
                    category=None if ann.get("name") is None else str(ann["name"]),
                    category_id=class_id
                    if isinstance(class_id, int) and not isinstance(class_id, bool)
                    else None,
                    polygons=polygons,
                    attributes={key: ann[key] for key in _ATTRIBUTES if key in ann},
                )
            )
        frames.append(_Frame(image_id, video, name, path, tuple(objects)))
    return frames


class VisorDataset(IndexedDataset):
    """VISOR sparse annotations of one split (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/visor``).
        annotations_dir: ``GroundTruth-SparseAnnotations/annotations/<split>``.
        frames_dir: ``GroundTruth-SparseAnnotations/rgb_frames/<split>``.
        annotation_size: ``(height, width)`` of the polygon coordinates.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "visor"

    def __init__(
        self,
        name: str,
        root: Path,
        annotations_dir: str,
        frames_dir: str,
        *,
        annotation_size: Sequence[int] = (1080, 1920),
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.annotations_dir = annotations_dir
        self.frames_dir = frames_dir
        self.annotation_size = (int(annotation_size[0]), int(annotation_size[1]))
        self._frames: dict[str, _Frame] | None = None
        self._members: dict[Path, dict[str, str]] = {}

    def annotation_labels(self) -> list[str]:
        return [f"{self.annotations_dir}/*.json"]

    def annotation_files(self) -> list[Path]:
        return sorted({frame.json_path for frame in self._load().values()})

    def loader_options(self) -> dict[str, Any]:
        return {
            "annotations": self.annotations_dir,
            "frames": self.frames_dir,
            "annotation_size": list(self.annotation_size),
        }

    def _load(self) -> dict[str, _Frame]:
        with self._lock:
            if self._frames is None:
                self.require_root()
                folder = self.root / self.annotations_dir
                if not folder.is_dir():
                    raise self.missing("annotation folder", folder)
                files = sorted(folder.glob("*.json"))
                if not files:
                    raise DataError(
                        f"dataset {self.name!r}: no <video>.json file in {folder} (expected "
                        "VISOR sparse annotations, one JSON per video)"
                    )
                frames: dict[str, _Frame] = {}
                for path in files:
                    for frame in read_visor_json(path):
                        if frame.image_id in frames:
                            raise DataError(f"{path}: frame {frame.name!r} listed twice")
                        frames[frame.image_id] = frame
                self._frames = frames
            return self._frames

    def index(self) -> list[IndexEntry]:
        return [
            IndexEntry(frame.image_id, len(frame.objects))
            for frame in self._load().values()
            if frame.objects
        ]

    def _loader(self, frame: _Frame) -> tuple[ImageFile | ZipImage, tuple[int, int]]:
        participant = frame.video.split("_", 1)[0]
        base = self.root / self.frames_dir / participant
        unpacked = base / frame.video / frame.name
        if unpacked.is_file():
            height, width = image_size(unpacked)
            return ImageFile(unpacked, height, width), (height, width)
        archive = base / f"{frame.video}.zip"
        if not archive.is_file():
            raise MissingFileError(
                f"dataset {self.name!r}: frame {frame.name} of {frame.json_path.name}: neither "
                f"{archive} nor {unpacked} found"
            )
        with self._lock:
            members = self._members.get(archive)
            if members is None:
                try:
                    with zipfile.ZipFile(archive) as handle:
                        names = handle.namelist()
                except (OSError, zipfile.BadZipFile) as error:
                    raise DataError(f"cannot read frame archive {archive}: {error}") from error
                members = {name.rsplit("/", 1)[-1]: name for name in names}
                self._members[archive] = members
        member = members.get(frame.name)
        if member is None:
            raise MissingFileError(
                f"dataset {self.name!r}: frame {frame.name} not found in {archive}"
            )
        loader = ZipImage(archive, member)
        return loader, loader.size()

    def verify(self) -> VerifyReport:
        entries = self.index()
        frames = self._load()
        videos: set[str] = set()
        for entry in entries:
            frame = frames[entry.image_id]
            if frame.video in videos:
                continue
            videos.add(frame.video)
            participant = frame.video.split("_", 1)[0]
            base = self.root / self.frames_dir / participant
            if not (base / f"{frame.video}.zip").is_file() and not (base / frame.video).is_dir():
                raise MissingFileError(
                    f"dataset {self.name!r}: frames of video {frame.video} not found: expected "
                    f"{base / (frame.video + '.zip')} or the folder {base / frame.video}"
                )
        return VerifyReport.of_index(
            entries, f"{len(videos)} video JSONs, each with its frame archive"
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        frame = self._load().get(image_id)
        if frame is None:
            raise DataError(f"dataset {self.name!r}: no frame {image_id!r}")
        if not frame.objects:
            return None
        loader, (height, width) = self._loader(frame)
        sy = height / self.annotation_size[0]
        sx = width / self.annotation_size[1]
        objects: list[ObjectAnnotation] = []
        for item in frame.objects:
            polygons = [
                [v * (sx if i % 2 == 0 else sy) for i, v in enumerate(polygon)]
                for polygon in item.polygons
            ]
            rle = polygons_rle(polygons, height, width)
            obj = (
                None
                if rle is None
                else object_from_rle(
                    item.object_id,
                    rle,
                    category=item.category,
                    category_id=item.category_id,
                    attributes=item.attributes,
                )
            )
            if obj is not None:
                objects.append(obj)
        if not objects:
            return None
        if isinstance(loader, ZipImage):
            file_name = f"{relative(loader.archive, self.root)}/{loader.member}"
        else:
            file_name = relative(loader.path, self.root)
        return ImageSample(
            dataset=self.name,
            image_id=image_id,
            file_name=file_name,
            height=height,
            width=width,
            objects=tuple(objects),
            load_image=loader,
            metadata={"video": frame.video, "frame": frame.name},
        )


__all__ = ["VisorDataset", "read_visor_json"]
