"""Shared plumbing of the torch-based adapters: device and dtype choice, checkpoints, hashes.

Nothing here imports torch at module level, so ``sambench list models`` works on an
install without torch; the functions import it when called.

Device names follow torch (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``) plus ``"auto"``:
the first of CUDA, Apple MPS and CPU that is available. Precision is one of
:data:`DTYPES`: ``"float32"`` runs everything in full precision (the reference numbers),
``"bfloat16"`` runs the network under :func:`torch.autocast` with bfloat16 (faster on
GPUs with bf16 tensor cores; outputs are returned in float32). The choice is recorded in
each adapter's :meth:`~sambench.models.base.PromptableModel.describe`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sambench.errors import SambenchError

if TYPE_CHECKING:
    import torch

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16"}
"""Accepted precision names and the canonical name each stands for."""

_CHUNK = 1 << 22
_file_hashes: dict[tuple[str, int, int], str] = {}


def require_torch(extra: str) -> None:
    """Raise a :class:`SambenchError` naming the extra to install when torch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise SambenchError(
            f"this model needs PyTorch: pip install 'sambench[{extra}]' ({error})"
        ) from error


def select_device(device: str | None) -> torch.device:
    """The torch device for ``device``: a torch device name, or ``None`` / ``"auto"``.

    ``"auto"`` picks CUDA if available, else Apple MPS, else CPU. An explicit device that
    is not available here is a :class:`SambenchError` rather than a silent fallback, so a
    run never reports CPU numbers as GPU numbers.
    """
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise SambenchError(
            f"unknown device {device!r} (use auto, cuda, cuda:N, mps or cpu)"
        ) from error
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise SambenchError(f"device {device!r} requested but CUDA is not available")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise SambenchError(
                f"device {device!r} requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
    elif chosen.type == "mps" and not torch.backends.mps.is_available():
        raise SambenchError(f"device {device!r} requested but Apple MPS is not available")
    elif chosen.type not in ("cuda", "mps", "cpu"):
        raise SambenchError(f"unsupported device {device!r} (use auto, cuda, cuda:N, mps or cpu)")
    return chosen


def canonical_dtype(dtype: str) -> str:
    """The canonical precision name (``"float32"`` or ``"bfloat16"``) for ``dtype``."""
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise SambenchError(
            f"unknown dtype {dtype!r} (use one of: {', '.join(sorted(DTYPES))})"
        ) from None


@contextlib.contextmanager
def precision(device: torch.device, dtype: str) -> Iterator[None]:
    """Inference mode plus, for ``dtype == "bfloat16"``, bf16 autocast on ``device``."""
    import torch

    with torch.inference_mode():
        if canonical_dtype(dtype) == "float32":
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                yield


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, hex; remembered per (path, size, mtime) within the process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _file_hashes:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        _file_hashes[key] = digest.hexdigest()
    return _file_hashes[key]


def sha256_directory(path: Path, patterns: tuple[str, ...]) -> str:
    """One SHA-256 over the files of ``path`` matching ``patterns`` (names and contents)."""
    files = sorted({f for pattern in patterns for f in path.glob(pattern) if f.is_file()})
    if not files:
        raise SambenchError(f"{path} holds no files matching {', '.join(patterns)}")
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def state_dict_sha256(module: torch.nn.Module) -> str:
    """SHA-256 over a module's state dict: names, dtypes, shapes and values, in key order.

    Identifies weights that have no checkpoint file (a model built in memory), so that
    such a model can still use the embedding cache.
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}\0{value.dtype}\0{tuple(value.shape)}\n".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_checkpoint(path: Path | str, key: str | None = None) -> Mapping[str, Any]:
    """Read a ``.pth``/``.pt`` checkpoint's state dict safely (``weights_only=True``).

    Args:
        path: The checkpoint file.
        key: If the file holds a dict with the weights under this key (SAM 2 files keep
            them under ``"model"``), return that entry; a file that is a bare state dict
            is returned as is.

    Raises:
        SambenchError: the file is missing or is not a weights-only checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise SambenchError(f"checkpoint {path} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        raise SambenchError(f"checkpoint {path} could not be read: {error}") from error
    if not isinstance(loaded, Mapping):
        raise SambenchError(f"checkpoint {path} does not hold a state dict")
    if key is not None and key in loaded and isinstance(loaded[key], Mapping):
        loaded = loaded[key]
    state: Mapping[str, Any] = loaded
    return state


def load_weights(module: torch.nn.Module, state: Mapping[str, Any], source: Path | str) -> None:
    """Load ``state`` into ``module`` strictly; a mismatch names the checkpoint and keys."""
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0:3]
        raise SambenchError(
            f"checkpoint {source} does not fit this model: {' '.join(first)}"
        ) from error


def torch_threads() -> int:
    """Intra-op threads torch uses here (recorded for CPU timings)."""
    import torch

    return int(torch.get_num_threads())


def environment_device(device: torch.device) -> dict[str, Any]:
    """A description of ``device`` for the manifest (GPU name where there is one)."""
    import torch

    info: dict[str, Any] = {"device": str(device)}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        info["gpu"] = torch.cuda.get_device_name(index)
    elif device.type == "cpu":
        info["threads"] = torch_threads()
        info["cpu_count"] = os.cpu_count()
    return info
