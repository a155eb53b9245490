"""A content-addressed, on-disk cache of image embeddings, shared by every run and task.

The image encoder is by far the most expensive step of a SAM-family model (a ViT-H image
costs ~450 GFLOP; the prompt decoder a few), and every task of the benchmark embeds the
same images again. The cache stores each embedding once, so a second task, a resumed run or
a re-run with other prompts pays no encoder cost.

* **Key**: SHA-256 of (cache format, the model's
  :meth:`~sambench.models.base.PromptableModel.cache_identity` — weights hash, preprocessing
  version, input size, precision —, the SHA-256 of the decoded image's pixels and shape, the
  storage precision). Paths and file names never enter the key: the same pixels under
  another name hit; other weights at the same path miss.
* **Format**: one ``<key>.safetensors`` file per image under ``<root>/<key[:2]>/``, holding the
  model's tensors (:meth:`~sambench.models.base.PromptableModel.embedding_tensors`) and, as
  safetensors metadata, the key's parts, the image size and a BLAKE2b checksum of the tensor
  payload. Optional float16 storage halves the size; fp16 entries are a separate key, and
  with fp16 the freshly computed embedding is rounded the same way before use, so a hit and
  a miss give identical results.
* **Safety**: an entry is used only if it parses, every metadata field matches what is
  expected, the checksum matches and the model accepts the tensors' shapes. Anything else —
  a truncated or corrupt file, other weights, another preprocessing version, another image
  size — is counted as ``recomputed``: the embedding is computed afresh and the entry
  overwritten. Writes go to a temporary file in the same folder, are fsynced, then renamed
  over the entry, so readers never see a partial file and concurrent workers can share one
  cache folder.
* **Size limit**: after a write, if the folder holds more than ``max_bytes``, the least
  recently used entries (a hit refreshes an entry's modification time) are deleted until it
  fits.

>>> cache = EmbeddingCache(Path("cache"), max_bytes=10**9, fp16=True)  # nothing on disk yet
>>> cache.describe()["fp16"], cache.describe()["max_bytes"]
(True, 1000000000)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sambench.errors import SambenchError
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.samples import Image

CACHE_FORMAT = "sambench-embedding-cache-1"
"""Version of the entry layout; part of every key, so a format change never reads old files."""

DEFAULT_MAX_GB = 20.0
"""Default size limit of the command line's cache, in GB (10^9 bytes)."""

CacheStatus = Literal["hit", "miss", "recomputed", "off"]
"""What :meth:`EmbeddingCache.embed` did: reused an entry, wrote a new one, replaced an
unusable one, or bypassed the cache (a model that is not cacheable)."""

_STALE_TEMP_SECONDS = 3600.0


def default_cache_dir() -> Path:
    """``$SAMBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/sambench/embeddings``, else
    ``~/.cache/sambench/embeddings``."""
    explicit = os.environ.get("SAMBENCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sambench" / "embeddings"


def image_sha256(image: Image) -> str:
    """SHA-256 of an image's decoded pixels, dtype and shape (its content address)."""
    pixels = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{pixels.dtype.str}{pixels.shape}".encode())
    digest.update(pixels.reshape(-1).view(np.uint8).data)
    return digest.hexdigest()


@dataclass
class CacheStats:
    """Counts of what the cache did in this process.

    Attributes:
        hits: Embeddings read from disk (encoder skipped).
        misses: Embeddings computed and stored because no entry existed.
        recomputed: Entries that existed but were unusable (corrupt, other weights, other
            preprocessing, wrong shapes); computed afresh and overwritten.
        evicted: Entries deleted to respect the size limit.
        write_errors: Entries that could not be written (the run continues uncached).
    """

    hits: int = 0
    misses: int = 0
    recomputed: int = 0
    evicted: int = 0
    write_errors: int = 0


class EmbeddingCache:
    """The embedding cache in folder ``root`` (created on the first write).

    Args:
        root: The cache folder; share it between runs, tasks and workers.
        max_bytes: Size limit of the folder's entries; least recently used entries are
            deleted after a write that exceeds it. ``None``: unlimited.
        fp16: Store floating-point tensors as float16 (half the disk, a rounding of the
            embedding; fp16 and full-precision entries never mix).
    """

    def __init__(self, root: Path, *, max_bytes: int | None = None, fp16: bool = False) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise SambenchError(f"cache size limit must be positive, got {max_bytes} bytes")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.fp16 = bool(fp16)
        self.stats = CacheStats()
        self._total: int | None = None

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest (per-image hits and misses go in the records)."""
        return {
            "dir": str(self.root),
            "max_bytes": self.max_bytes,
            "fp16": self.fp16,
            "format": CACHE_FORMAT,
        }

    # ------------------------------------------------------------------ use

    def embed(self, model: PromptableModel, image: Image) -> tuple[ImageEmbedding, CacheStatus]:
        """``model.embed(image)``, from the cache when a valid entry exists.

        Returns:
            The embedding and what happened (:data:`CacheStatus`).
        """
        identity = model.cache_identity()
        if identity is None:
            return model.embed(image), "off"
        height, width = int(image.shape[0]), int(image.shape[1])
        expected = self._metadata(identity, image_sha256(image), height, width)
        path = self.path_for(expected)
        status: CacheStatus = "miss"
        if path.exists():
            embedding = self._read(model, path, expected)
            if embedding is not None:
                self.stats.hits += 1
                return embedding, "hit"
            status = "recomputed"
        embedding = model.embed(image)
        tensors = self._storable(model.embedding_tensors(embedding))
        if self.fp16:  # use exactly what a later hit will read
            embedding = model.embedding_from_tensors(tensors, height, width)
        self._write(path, tensors, expected)
        if status == "miss":
            self.stats.misses += 1
        else:
            self.stats.recomputed += 1
        return embedding, status

    def path_for(self, metadata: dict[str, str]) -> Path:
        """The entry file for a key (see :meth:`_metadata`)."""
        key = hashlib.sha256(
            "\0".join(
                metadata[k] for k in ("format", "identity", "image_sha256", "storage")
            ).encode()
        ).hexdigest()
        return self.root / key[:2] / f"{key}.safetensors"

    def _metadata(self, identity: str, image_hash: str, height: int, width: int) -> dict[str, str]:
        return {
            "format": CACHE_FORMAT,
            "identity": identity,
            "image_sha256": image_hash,
            "height": str(height),
            "width": str(width),
            "storage": "float16" if self.fp16 else "native",
        }

    def _storable(self, tensors: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        out = {}
        for name, array in tensors.items():
            array = np.ascontiguousarray(array)
            if self.fp16 and np.issubdtype(array.dtype, np.floating):
                array = array.astype(np.float16)
            out[name] = array
        return out

    # ------------------------------------------------------------------ disk

    def _read(
        self, model: PromptableModel, path: Path, expected: dict[str, str]
    ) -> ImageEmbedding | None:
        """The entry's embedding, or ``None`` if the entry is unusable for any reason."""
        from safetensors.numpy import load

        try:
            data = path.read_bytes()
            header_len = int.from_bytes(data[:8], "little")
            header = json.loads(data[8 : 8 + header_len])
            metadata = header.get("__metadata__", {})
            tensors = load(data)
        except Exception:  # a truncated or garbled file fails in many ways
            return None
        if any(metadata.get(k) != v for k, v in expected.items()):
            return None
        if metadata.get("checksum") != _checksum(tensors):
            return None
        try:
            embedding = model.embedding_from_tensors(
                tensors, int(expected["height"]), int(expected["width"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        try:
            now = time.time_ns()
            os.utime(path, ns=(now, now))  # least-recently-used order
        except OSError:
            pass
        return embedding

    def _write(
        self, path: Path, tensors: dict[str, npt.NDArray[Any]], metadata: dict[str, str]
    ) -> None:
        from safetensors.numpy import save

        payload = save(tensors, metadata={**metadata, "checksum": _checksum(tensors)})
        temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            old = path.stat().st_size if path.exists() else 0
            with open(temp, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except OSError as error:
            temp.unlink(missing_ok=True)
            self.stats.write_errors += 1
            warnings.warn(f"embedding cache: could not write {path}: {error}", stacklevel=3)
            return
        if self.max_bytes is not None:
            if self._total is None:
                self._total = self.size_bytes()
            else:
                self._total += len(payload) - old
            if self._total > self.max_bytes:
                self._evict()

    def entries(self) -> list[tuple[Path, int, int]]:
        """Every entry as ``(path, size in bytes, last use in ns)``, least recent first."""
        found: list[tuple[Path, int, int]] = []
        if not self.root.is_dir():
            return found
        now = time.time()
        for sub in self.root.iterdir():
            if not sub.is_dir():
                continue
            for path in sub.iterdir():
                try:
                    stat = path.stat()
                except OSError:
                    continue
                if path.name.startswith("."):
                    if path.name.endswith(".tmp") and now - stat.st_mtime > _STALE_TEMP_SECONDS:
                        path.unlink(missing_ok=True)  # left by a killed writer
                    continue
                if path.suffix == ".safetensors":
                    found.append((path, stat.st_size, stat.st_mtime_ns))
        found.sort(key=lambda e: (e[2], e[0].name))
        return found

    def size_bytes(self) -> int:
        """Total size of the entries on disk."""
        return sum(size for _, size, _ in self.entries())

    def _evict(self) -> None:
        assert self.max_bytes is not None
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= self.max_bytes:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            total -= size
            self.stats.evicted += 1
        self._total = total


def _checksum(tensors: dict[str, npt.NDArray[Any]]) -> str:
    """BLAKE2b over every tensor's name, dtype, shape and bytes (detects silent corruption)."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\n".encode())
        digest.update(array.reshape(-1).view(np.uint8).data)
    return digest.hexdigest()


def open_cache(
    root: Path | None, model: PromptableModel, max_bytes: int | None = None, fp16: bool = False
) -> EmbeddingCache | None:
    """The cache for ``model`` in ``root``, or ``None`` when caching is off, the model is not
    cacheable (nothing is created on disk for such a model) or safetensors is missing."""
    if root is None or model.cache_identity() is None:
        return None
    if importlib.util.find_spec("safetensors") is None:
        warnings.warn(
            "embedding cache off: it needs safetensors (pip install 'sambench[sam]')",
            stacklevel=2,
        )
        return None
    return EmbeddingCache(root, max_bytes=max_bytes, fp16=fp16)
