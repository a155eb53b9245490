"""The dataset protocol: a named, checksummed, lazily-read sequence of image samples."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sambench.provenance import sha256_file
from sambench.samples import ImageSample


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

    def describe(self) -> dict[str, Any]:
        """Provenance for the run manifest: name, root and SHA-256 of each annotation file."""
        return {
            "name": self.name,
            "root": str(self.root),
            "annotation_sha256": {
                str(path.relative_to(self.root)): sha256_file(path)
                for path in self.annotation_files()
            },
        }
