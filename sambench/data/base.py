"""The dataset protocol: a named, checksummed, lazily-read sequence of image samples.

:class:`Dataset` is the protocol every dataset (built-in or plugin) implements.
:class:`IndexedDataset` is the base of sambench's own loaders: a loader supplies a cheap
:meth:`~IndexedDataset.index` (image ids and per-image mask counts read from the native
annotations, no mask decoded) and :meth:`~IndexedDataset.load_sample` (one image's objects);
the base adds, uniformly for every loader,

- seeded subsampling (:mod:`sambench.data.subsample`), applied before any mask is decoded;
- reading from a prepared Arrow cache (:mod:`sambench.data.prepare`) when one is present and
  was made from annotations with the same checksums, falling back to the native files;
- the run-manifest description: annotation checksums, the subsample and the cache used.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from sambench.data.checksums import expand, label_digest
from sambench.data.subsample import Selection, SubsampleRule, select
from sambench.errors import MissingFileError
from sambench.samples import ImageSample

if TYPE_CHECKING:
    from sambench.data.prepare import PreparedCache


class Dataset(ABC):
    """A dataset on disk in its native format.

    Attributes:
        name: The dataset's name (its card's name).
        root: The dataset's folder (``<data-root>/<name>`` for built-in datasets).
    """

    name: str
    root: Path

    @abstractmethod
    def samples(self) -> Iterator[ImageSample]:
        """Every evaluated image, in a deterministic order, images decoded lazily."""

    @abstractmethod
    def annotation_files(self) -> list[Path]:
        """The annotation files whose checksums identify this copy of the dataset."""

    def annotation_labels(self) -> list[str]:
        """The labels annotation checksums are recorded under (see
        :mod:`sambench.data.checksums`): by default each annotation file's path relative to
        :attr:`root`; loaders with many annotation files return glob patterns."""
        return [path.relative_to(self.root).as_posix() for path in self.annotation_files()]

    def annotation_sha256(self) -> dict[str, str]:
        """``label -> SHA-256`` for every :meth:`annotation_labels` entry (computed once).

        Raises:
            DataError: An annotation file is missing or unreadable.
        """
        cached: dict[str, str] | None = self.__dict__.get("_annotation_sha256")
        if cached is None:
            cached = {label: label_digest(self.root, label) for label in self.annotation_labels()}
            self.__dict__["_annotation_sha256"] = cached
        return dict(cached)

    def describe(self) -> dict[str, Any]:
        """Provenance for the run manifest: name, root and SHA-256 of each annotation file."""
        return {
            "name": self.name,
            "root": str(self.root),
            "annotation_sha256": self.annotation_sha256(),
        }


@dataclass(frozen=True)
class IndexEntry:
    """One image of a dataset's index.

    Attributes:
        image_id: The image id (as :attr:`ImageSample.image_id`).
        masks: Evaluation targets (non-crowd objects) the native annotations list for the
            image, counted without decoding any mask; ``None`` when that needs decoding
            (the count is then taken from the loaded sample when subsampling needs it).
    """

    image_id: str
    masks: int | None


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`IndexedDataset.verify` found.

    Attributes:
        images: Images with at least one listed object.
        masks: Objects listed for them (``None``: not counted without decoding).
        checked: What was checked, for the ``check`` command's report.
    """

    images: int
    masks: int | None
    checked: str

    @classmethod
    def of_index(cls, entries: Sequence[IndexEntry], checked: str) -> VerifyReport:
        """The report of a verified index: its images and the sum of their mask counts.

        Args:
            entries: The index entries that passed the checks (an uncounted entry adds 0).
            checked: What was checked, for the ``check`` command's report.
        """
        return cls(
            images=len(entries),
            masks=sum(entry.masks or 0 for entry in entries),
            checked=checked,
        )


class LoaderKeywords(TypedDict, total=False):
    """The keyword arguments every :class:`IndexedDataset` loader takes (see its Args).

    Loaders accept them as ``**common: Unpack[LoaderKeywords]`` and pass them on to
    :class:`IndexedDataset`, so each keeps one explicit signature for its own arguments.
    """

    subsample: SubsampleRule | None
    cache_dir: Path | None
    download_hint: str | None


class IndexedDataset(Dataset):
    """Base of sambench's loaders: an index, one-image loading, subsampling and a cache.

    Subclasses set :attr:`format_name` and implement :meth:`index`, :meth:`load_sample` and
    :meth:`annotation_labels` or :meth:`annotation_files` (each defaults to the other); they
    may refine :meth:`verify`, :meth:`loader_options` and the metadata hooks.

    Args:
        name: Dataset name.
        root: Dataset folder.
        subsample: The card's subsampling rule, or ``None`` to evaluate every image.
        cache_dir: Where a prepared cache of this dataset lives (``sambench datasets
            prepare``); used when it exists and is valid. ``None``: never use a cache.
        download_hint: Text appended to "not found" errors (the card's download text).
    """

    format_name: ClassVar[str] = ""
    """The card ``format`` of this loader (part of the prepared-cache key)."""

    conversion_version: ClassVar[int] = 1
    """Bumped when the loader's conversion changes, invalidating prepared caches."""

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        subsample: SubsampleRule | None = None,
        cache_dir: Path | None = None,
        download_hint: str | None = None,
    ) -> None:
        self.name = name
        self.root = Path(root)
        self.subsample = subsample
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.download_hint = download_hint
        self._lock = threading.RLock()
        self._selection: Selection | None = None
        self._cache_checked = False
        self._cache: PreparedCache | None = None

    # -- what loaders implement -----------------------------------------------------------

    @abstractmethod
    def index(self) -> Sequence[IndexEntry]:
        """Every image the loader yields, in order, read from the native annotations only.

        Raises:
            DataError: The dataset folder or an annotation file is missing or malformed.
        """

    @abstractmethod
    def load_sample(self, image_id: str) -> ImageSample | None:
        """One image with its objects (masks decoded, pixels lazy); ``None`` when none of
        its objects is an evaluation target (e.g. every mask turned out empty).

        Raises:
            DataError: An annotation of the image cannot be read or converted.
        """

    def annotation_files(self) -> list[Path]:
        """The files each :meth:`annotation_labels` entry names (a pattern: the files it
        matches, see :func:`~sambench.data.checksums.expand`), in label order.

        Loaders override this or :meth:`annotation_labels`: each defaults to the other.
        """
        return [path for label in self.annotation_labels() for path in expand(self.root, label)]

    def verify(self) -> VerifyReport:
        """Check the layout and annotation index, and that every referenced file exists.

        Reads annotation indexes only (no mask is decoded), so it is fast.

        Raises:
            DataError: Naming the first missing or malformed file.
        """
        entries = self.index()
        counts = [entry.masks for entry in entries]
        masks = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
        return VerifyReport(images=len(entries), masks=masks, checked="annotation index")

    def loader_options(self) -> dict[str, Any]:
        """The options that change the conversion (part of the prepared-cache key)."""
        return {}

    def portable_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """``ImageSample.metadata`` as stored in a prepared cache (drop absolute paths)."""
        return dict(metadata)

    def restore_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`portable_metadata` for a sample read back from a cache."""
        return dict(metadata)

    # -- the uniform machinery --------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]  # picklable for worker processes
        state["_cache"] = None  # memory-mapped Arrow tables are reopened on demand
        state["_cache_checked"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, root={str(self.root)!r})"

    def missing(self, what: str, path: Path) -> MissingFileError:
        """A "not found" error naming the path and, if any, the download instructions."""
        message = f"dataset {self.name!r}: {what} {path} not found"
        if self.download_hint:
            message += f". {self.download_hint.strip()}"
        return MissingFileError(message)

    def require_root(self) -> None:
        """Raise :meth:`missing` when the dataset folder does not exist."""
        if not self.root.is_dir():
            raise self.missing("dataset folder", self.root)

    def prepared(self) -> PreparedCache | None:
        """The prepared cache, when :attr:`cache_dir` holds one made from these exact
        annotations with this loader version and options; else ``None``."""
        with self._lock:
            if not self._cache_checked:
                self._cache_checked = True
                if self.cache_dir is not None:
                    from sambench.data.prepare import open_prepared

                    self._cache = open_prepared(self, self.cache_dir)
            return self._cache

    def index_entries(self) -> Sequence[IndexEntry]:
        """The index, from the prepared cache when valid, else from :meth:`index`."""
        cache = self.prepared()
        return cache.index if cache is not None else self.index()

    def mask_counts(self) -> dict[str, int]:
        """Masks per image id (native counts; loaded and counted where the index has none)."""
        counts: dict[str, int] = {}
        for entry in self.index_entries():
            if entry.masks is None:
                sample = self.load_sample(entry.image_id)
                counts[entry.image_id] = (
                    0 if sample is None else sum(not obj.iscrowd for obj in sample.objects)
                )
            else:
                counts[entry.image_id] = entry.masks
        return counts

    def selection(self) -> Selection | None:
        """The subsample (computed once), or ``None`` when the dataset has no rule."""
        if self.subsample is None:
            return None
        with self._lock:
            if self._selection is None:
                entries = self.index_entries()
                counts = self.mask_counts()
                self._selection = select(
                    self.subsample, self.name, [entry.image_id for entry in entries], counts
                )
            return self._selection

    def samples(self) -> Iterator[ImageSample]:
        """The evaluated images (the subsample, if any), in index order.

        Read from the prepared cache when valid, else converted from the native files.

        Raises:
            DataError: A file is missing or malformed (raised while iterating).
        """
        selection = self.selection()
        chosen = None if selection is None else frozenset(selection.image_ids)
        cache = self.prepared()
        if cache is not None:
            yield from cache.samples(self, chosen)
            return
        for entry in self.index():
            if chosen is not None and entry.image_id not in chosen:
                continue
            sample = self.load_sample(entry.image_id)
            if sample is not None:
                yield sample

    def all_samples(self) -> Iterator[ImageSample]:
        """Every image converted from the native files (no subsample, no cache)."""
        for entry in self.index():
            sample = self.load_sample(entry.image_id)
            if sample is not None:
                yield sample

    def describe(self) -> dict[str, Any]:
        """The base description plus the subsample and the prepared cache used, if any."""
        described = super().describe()
        selection = self.selection()
        if selection is not None:
            described["subsample"] = selection.describe()
        cache = self.prepared()
        if cache is not None:
            described["prepared_cache"] = str(cache.path)
        return described


__all__ = [
    "Dataset",
    "IndexEntry",
    "IndexedDataset",
    "LoaderKeywords",
    "MissingFileError",
    "VerifyReport",
]
