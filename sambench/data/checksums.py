"""Checksums of annotation files: single files, and file sets given by a glob pattern.

A dataset's annotation checksums are a mapping ``label -> SHA-256 hex``, where a label is a
path relative to the dataset folder:

- a plain path (``annotations/instances_val2017.json``): the SHA-256 of that file;
- a glob pattern (``BSR/BSDS500/data/groundTruth/test/*.mat``, ``**`` for any depth): the
  SHA-256 of the ``sha256sum``-style listing of the matching files sorted by relative path
  (code-point order), one line ``"<sha256 hex>  <relative path>\\n"`` per file. It can be
  recomputed with standard tools from the dataset folder, e.g.
  ``find BSR/BSDS500/data/groundTruth/test -name '*.mat' | LC_ALL=C sort | xargs sha256sum
  | sha256sum``.

Files are read in 1 MiB chunks, so large annotation files never load into memory.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "a.txt").write_text("a"); _ = (root / "b.txt").write_text("b")
>>> file_digest(root, "a.txt") == hashlib.sha256(b"a").hexdigest()
True
>>> listing = "".join(f"{hashlib.sha256(c).hexdigest()}  {n}\\n" for n, c in
...                   [("a.txt", b"a"), ("b.txt", b"b")])
>>> pattern_digest(root, "*.txt") == hashlib.sha256(listing.encode()).hexdigest()
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from sambench.errors import DataError, MissingFileError
from sambench.provenance import sha256_file

_GLOB_CHARS = frozenset("*?[")


def is_pattern(label: str) -> bool:
    """Whether a checksum label is a glob pattern rather than a single file."""
    return any(char in _GLOB_CHARS for char in label)


def expand(root: Path, label: str) -> list[Path]:
    """The files a label names under ``root``, sorted by relative path.

    A plain path gives itself (whether or not it exists); a pattern gives the existing
    regular files it matches.
    """
    if not is_pattern(label):
        return [root / label]
    if not root.is_dir():
        return []
    files = [path for path in root.glob(label) if path.is_file()]
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def file_digest(root: Path, label: str) -> str:
    """SHA-256 of the file ``root / label``.

    Raises:
        DataError: The file is missing or unreadable (the message names it).
    """
    path = root / label
    if not path.is_file():
        raise MissingFileError(f"annotation file {path} not found")
    try:
        return sha256_file(path)
    except OSError as error:
        raise DataError(f"cannot read annotation file {path}: {error}") from error


def listing_digest(root: Path, files: Iterable[Path]) -> str:
    """SHA-256 of the ``sha256sum``-style listing of ``files`` (paths relative to ``root``)."""
    lines = []
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        try:
            lines.append(f"{sha256_file(path)}  {path.relative_to(root).as_posix()}\n")
        except OSError as error:
            raise DataError(f"cannot read annotation file {path}: {error}") from error
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def pattern_digest(root: Path, pattern: str) -> str:
    """Digest of the files matching ``pattern`` under ``root`` (see the module docstring).

    Raises:
        DataError: No file matches (the message names the pattern and folder).
    """
    files = expand(root, pattern)
    if not files:
        raise MissingFileError(f"no annotation file matches {pattern!r} under {root}")
    return listing_digest(root, files)


def label_digest(root: Path, label: str) -> str:
    """The checksum of a label: :func:`file_digest` or :func:`pattern_digest`."""
    return pattern_digest(root, label) if is_pattern(label) else file_digest(root, label)


__all__ = [
    "expand",
    "file_digest",
    "is_pattern",
    "label_digest",
    "listing_digest",
    "pattern_digest",
]
