"""Loader for video instance segmentation in the YouTube-VIS JSON format (OVIS).

Layout (OVIS ``train.zip`` + ``annotations_train.json``): frames
``train/<video folder>/img_0000001.jpg`` and one JSON::

    {"videos": [{"id": 1, "file_names": ["<video folder>/img_0000001.jpg", ...],
                 "width": 1920, "height": 1080, "length": 36}, ...],
     "annotations": [{"id": 7, "video_id": 1, "category_id": 3, "iscrowd": 0,
                      "segmentations": [null, {"size": [h, w], "counts": ...}, ...],
                      "bboxes": [...], "areas": [...]}, ...],
     "categories": [{"id": 3, "name": "Dog"}, ...]}

``segmentations[t]`` is the instance's mask in frame ``t`` (``null`` when it is not visible
there): COCO RLE with string or uncompressed (list) counts, or COCO polygons.

Frames: a frame is *annotated* when some instance has a mask in it. The candidate images
are the annotated frames kept by the card's :class:`~sambench.data.video.FrameChoice` (default:
all of them; see :mod:`sambench.data.video` for why the paper's counts imply that), and the
dataset's seeded subsample picks among the candidates. Image id ``<video id>/<t>`` (``t`` the
0-based frame index), file ``<images>/<file_names[t]>``.

Per-object masks: **one object per instance visible in the frame** (``segmentations[t]`` not
null), converted as COCO segmentations are (:mod:`sambench.data.coco`); empty masks are
dropped; ``iscrowd`` instances are kept but flagged. Object id ``<video id>/<t>/<annotation
id>``, category from ``categories``, attributes ``track_id`` (the annotation id, the same
instance in every frame of its video) and ``video_id``. The subsampling mask count of a frame
is its number of visible non-crowd instances (no mask decoded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sambench.data.base import IndexedDataset, IndexEntry, LoaderKeywords, VerifyReport
from sambench.data.coco import _id_key, _segmentation_to_rle
from sambench.data.convert import image_file_sample, object_from_rle
from sambench.data.jsonfile import read_annotation_json
from sambench.data.video import FrameChoice
from sambench.errors import DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

if TYPE_CHECKING:
    from typing import Unpack


@dataclass(frozen=True)
class _Video:
    video_id: int | str
    file_names: tuple[str, ...]
    height: int
    width: int


@dataclass(frozen=True)
class _Track:
    ann_id: int | str
    category_id: int | None
    iscrowd: bool
    segmentations: tuple[Any, ...]


@dataclass(frozen=True)
class _Index:
    videos: dict[str, _Video]
    tracks: dict[str, tuple[_Track, ...]]
    categories: dict[int, str]
    frames: tuple[tuple[str, int], ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_ytvis(path: Path, choice: FrameChoice) -> _Index:
    """Parse a YouTube-VIS JSON and choose the candidate frames.

    Raises:
        DataError: Naming the file and the first malformed entry.
    """
    data = read_annotation_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DataError(f"{path}: expected an object with 'videos' (YouTube-VIS format)")
    if not isinstance(data.get("annotations"), list):
        raise DataError(
            f"{path}: no 'annotations' list (the valid/test files of OVIS have no masks)"
        )
    categories = {
        c["id"]: str(c.get("name", c["id"]))
        for c in data.get("categories") or []
        if isinstance(c, dict) and _is_int(c.get("id"))
    }
    videos: dict[str, _Video] = {}
    for position, video in enumerate(data["videos"]):
        if not isinstance(video, dict):
            raise DataError(f"{path}: video #{position} is not an object")
        for key in ("id", "file_names", "height", "width"):
            if key not in video:
                raise DataError(f"{path}: video #{position} is missing required key {key!r}")
        names = video["file_names"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"{path}: video {video['id']!r}: 'file_names' must be a list of paths")
        if not (_is_int(video["height"]) and _is_int(video["width"])):
            raise DataError(f"{path}: video {video['id']!r}: height/width must be integers")
        videos[str(video["id"])] = _Video(
            video["id"], tuple(names), int(video["height"]), int(video["width"])
        )
    tracks: dict[str, list[_Track]] = {}
    for position, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise DataError(f"{path}: annotation #{position} is not an object")
        for key in ("id", "video_id", "segmentations"):
            if key not in ann:
                raise DataError(f"{path}: annotation #{position} is missing required key {key!r}")
        video_key = str(ann["video_id"])
        if video_key not in videos:
            raise DataError(
                f"{path}: annotation {ann['id']!r} refers to unknown video {ann['video_id']!r}"
            )
        segs = ann["segmentations"]
        if not isinstance(segs, list) or len(segs) != len(videos[video_key].file_names):
            raise DataError(
                f"{path}: annotation {ann['id']!r}: 'segmentations' must list one entry per "
                f"frame ({len(videos[video_key].file_names)} for video {ann['video_id']!r})"
            )
        category = ann.get("category_id")
        tracks.setdefault(video_key, []).append(
            _Track(
                ann["id"],
                category if _is_int(category) else None,
                bool(ann.get("iscrowd", 0)),
                tuple(segs),
            )
        )
    frames: list[tuple[str, int]] = []
    for video_key, video in videos.items():
        listed = tracks.get(video_key, [])
        annotated = [
            t
            for t in range(len(video.file_names))
            if any(track.segmentations[t] for track in listed)
        ]
        frames += [(video_key, t) for t in choice.choose(annotated)]
    return _Index(
        videos=videos,
        tracks={k: tuple(sorted(v, key=lambda tr: _id_key(tr.ann_id))) for k, v in tracks.items()},
        categories=categories,
        frames=tuple(frames),
    )


class YtvisDataset(IndexedDataset):
    """Frames of a YouTube-VIS-format video dataset as images (module docstring).

    Args:
        name: Dataset name.
        root: Dataset folder (``<data-root>/ovis``).
        images_dir: The frame folder (``train``).
        annotation_file: The JSON (``annotations_train.json``).
        frames: Which annotated frames are candidate images.
        **common: ``download_hint``, ``subsample`` and ``cache_dir``, as
            :class:`~sambench.data.base.IndexedDataset`.
    """

    format_name = "ytvis"

    def __init__(
        self,
        name: str,
        root: Path,
        images_dir: str,
        annotation_file: str,
        *,
        frames: FrameChoice | None = None,
        **common: Unpack[LoaderKeywords],
    ) -> None:
        super().__init__(name, root, **common)
        self.images_dir = images_dir
        self.annotation_file = annotation_file
        self.frames = frames or FrameChoice()
        self._index: _Index | None = None

    def annotation_files(self) -> list[Path]:
        return [self.root / self.annotation_file]

    def loader_options(self) -> dict[str, Any]:
        return {
            "images": self.images_dir,
            "annotations": self.annotation_file,
            "frames": self.frames.as_dict(),
        }

    def _load(self) -> _Index:
        with self._lock:
            if self._index is None:
                self.require_root()
                path = self.root / self.annotation_file
                if not path.is_file():
                    raise self.missing("annotation file", path)
                self._index = read_ytvis(path, self.frames)
            return self._index

    def _visible(self, index: _Index, video_key: str, t: int) -> list[_Track]:
        return [track for track in index.tracks.get(video_key, ()) if track.segmentations[t]]

    def index(self) -> list[IndexEntry]:
        index = self._load()
        entries = []
        for video_key, t in index.frames:
            count = sum(not tr.iscrowd for tr in self._visible(index, video_key, t))
            if count:
                entries.append(IndexEntry(f"{video_key}/{t}", count))
        return entries

    def _path(self, video: _Video, t: int) -> Path:
        return self.root / self.images_dir / video.file_names[t]

    def verify(self) -> VerifyReport:
        entries = self.index()
        index = self._load()
        for entry in entries:
            video_key, t = entry.image_id.rsplit("/", 1)
            path = self._path(index.videos[video_key], int(t))
            if not path.is_file():
                raise MissingFileError(
                    f"dataset {self.name!r}: frame {path} (video {video_key}, frame {t}, listed "
                    f"in {self.root / self.annotation_file}) not found"
                )
        return VerifyReport.of_index(
            entries, f"annotation JSON, {len(entries)} candidate frames present"
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        index = self._load()
        video_key, _, frame = image_id.rpartition("/")
        video = index.videos.get(video_key)
        if video is None or not frame.isdigit() or int(frame) >= len(video.file_names):
            raise DataError(f"dataset {self.name!r}: no frame {image_id!r}")
        t = int(frame)
        json_path = self.root / self.annotation_file
        objects: list[ObjectAnnotation] = []
        for track in self._visible(index, video_key, t):
            where = f"{json_path}: annotation {track.ann_id!r} frame {t}"
            rle = _segmentation_to_rle(track.segmentations[t], video.height, video.width, where)
            obj = (
                None
                if rle is None
                else object_from_rle(
                    f"{image_id}/{track.ann_id}",
                    rle,
                    category=None
                    if track.category_id is None
                    else index.categories.get(track.category_id),
                    category_id=track.category_id,
                    iscrowd=track.iscrowd,
                    attributes={"track_id": track.ann_id, "video_id": video.video_id},
                )
            )
            if obj is not None:
                objects.append(obj)
        return image_file_sample(
            self,
            image_id,
            self._path(video, t),
            video.height,
            video.width,
            objects,
            {"video_id": video.video_id, "frame_index": t},
        )


__all__ = ["YtvisDataset", "read_ytvis"]
