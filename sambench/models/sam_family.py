"""What the SAM-family adapters share: :class:`SamFamilyAdapter`.

The adapters of :mod:`sambench.models.sam` (``segment_anything``),
:mod:`sambench.models.sam2_image` (``sam2``) and :mod:`sambench.models.hf` (transformers)
differ in how an image is encoded and how one batch of prompts is decoded; everything around
that lives here once:

* configuration (:class:`AdapterSettings`: name, device, precision, ``max_batch``,
  checkpoint and weights identity) and the provenance fields every one of them records in
  :meth:`describe`;
* :meth:`SamFamilyAdapter.predict`: prompts prepared one by one (``_encode``), grouped by
  ``_batch_key`` (prompts with equal keys can share one decoder call), sent through
  ``_decode`` at most ``max_batch`` at a time, and the outputs put back in prompt order;
* helpers for ``_decode``: the prompt encoder run per structure and concatenated
  (:meth:`~SamFamilyAdapter._prompt_embeddings_by`), and the assembly of
  :class:`ModelOutput` from low-resolution logits, IoU predictions and an upscaling function
  (:func:`assemble_outputs`, at most :data:`POSTPROCESS_CHUNK` prompts upscaled at once);
* the conversions the embedding-cache hooks use (tensors to float32 arrays and back, shape
  checks).

torch is imported when a function runs, never at import time.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from sambench.errors import SambenchError
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.models.torch_utils import (
    canonical_dtype,
    environment_device,
    precision,
    select_device,
    sha256_file,
    state_dict_sha256,
)
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.samples import Image

if TYPE_CHECKING:
    import torch

POSTPROCESS_CHUNK = 8
"""Prompts whose masks are upscaled to the original size at once (bounds peak memory)."""

E = TypeVar("E")
"""A prompt as an adapter's ``_encode`` prepares it for its decoder."""


@dataclass(frozen=True)
class AdapterSettings:
    """The settings every SAM-family adapter is configured with, as requested.

    An adapter's constructor and ``from_module`` build one with :meth:`create` and hand it
    to :meth:`SamFamilyAdapter._configure_common`, which checks and resolves it.

    Attributes:
        name: The name recorded in the manifest.
        device: ``"auto"`` (CUDA, else Apple MPS, else CPU), a torch device name such as
            ``"cuda:1"``, or ``None`` (as ``"auto"``).
        dtype: ``"float32"`` or ``"bfloat16"`` (autocast), as ``canonical_dtype`` accepts it.
        max_batch: Most prompts per decoder call (at least 1).
        checkpoint: The file or folder the weights were loaded from, or ``None``.
        weights_sha256: Identity of the weights, or ``None``: then a SHA-256 over the
            module's state dict, computed when first needed.
    """

    name: str
    device: str | None
    dtype: str
    max_batch: int
    checkpoint: Path | None
    weights_sha256: str | None

    @classmethod
    def create(
        cls,
        name: str,
        *,
        device: str | None,
        dtype: str,
        max_batch: int,
        checkpoint: str | Path | None = None,
        weights_sha256: str | None = None,
    ) -> AdapterSettings:
        """Settings with the checkpoint as a path and the weights identified.

        Args:
            name: The name recorded in the manifest.
            device: The requested device (see :attr:`device`).
            dtype: The requested precision (see :attr:`dtype`).
            max_batch: Most prompts per decoder call.
            checkpoint: The file or folder the weights were loaded from, if any.
            weights_sha256: Identity of the weights. By default the SHA-256 of the
                ``checkpoint`` file, or ``None`` without one (state-dict hash when needed).
        """
        path = Path(checkpoint) if checkpoint is not None else None
        if weights_sha256 is None and path is not None:
            weights_sha256 = sha256_file(path)
        return cls(name, device, dtype, max_batch, path, weights_sha256)


class SamFamilyAdapter(PromptableModel, Generic[E]):
    """Base of the SAM-family adapters: configuration, provenance and batched prediction.

    A subclass builds or receives its module, calls :meth:`_configure_common` with its
    :class:`AdapterSettings`, and implements :meth:`embed`, :meth:`_encode` (one prompt in the
    model's frame), :meth:`_batch_key` (prompts with equal keys share one decoder call) and
    :meth:`_decode` (one decoder call on such prompts, outputs in the order given).
    """

    capabilities = ModelCapabilities(
        points=True, boxes=True, mask_input=True, text=False, multimask=True, logits=True
    )

    device: torch.device
    dtype: str
    max_batch: int
    checkpoint: Path | None
    model: Any
    _weights_sha256: str | None

    def _configure_common(self, model: Any, settings: AdapterSettings) -> None:
        """Check ``max_batch``, choose device and precision, move ``model`` there in eval mode.

        Args:
            model: The adapter's torch module.
            settings: Name, device, precision, ``max_batch`` and weights identity.
        """
        if int(settings.max_batch) < 1:
            raise SambenchError(f"max_batch must be at least 1, got {settings.max_batch}")
        self.name = settings.name
        self.device = select_device(settings.device)
        self.dtype = canonical_dtype(settings.dtype)
        self.max_batch = int(settings.max_batch)
        self.checkpoint = settings.checkpoint
        self._weights_sha256 = settings.weights_sha256
        self.model = model.to(self.device).eval()

    @property
    def weights_sha256(self) -> str:
        """SHA-256 of the checkpoint (file or folder), or of the state dict of a wrapped module."""
        if self._weights_sha256 is None:
            self._weights_sha256 = state_dict_sha256(self.model)
        return self._weights_sha256

    # ------------------------------------------------------------------ provenance

    def _weights_provenance(self) -> dict[str, Any]:
        """Checkpoint path and hash, weights hash and parameter count for :meth:`describe`."""
        return {
            "checkpoint": str(self.checkpoint) if self.checkpoint is not None else None,
            "checkpoint_sha256": self.weights_sha256 if self.checkpoint is not None else None,
            "weights_sha256": self.weights_sha256,
            "parameters": sum(int(p.numel()) for p in self.model.parameters()),
        }

    def _runtime_provenance(self, **extra: Any) -> dict[str, Any]:
        """Precision, ``extra`` fields, ``max_batch`` and the device for :meth:`describe`."""
        return {
            "dtype": self.dtype,
            "autocast": self.dtype if self.dtype != "float32" else None,
            **extra,
            "max_batch": self.max_batch,
            **environment_device(self.device),
        }

    # ----------------------------------------------------------------- prediction

    @abstractmethod
    def _encode(self, prompt: Prompt, original: tuple[int, int]) -> E:
        """One prompt in the model's input frame, for an image of ``original`` ``(h, w)``."""

    @abstractmethod
    def _batch_key(self, item: E) -> Hashable:
        """Prompts with equal keys can go through the decoder in one call."""

    @abstractmethod
    def _decode(
        self,
        features: Any,
        original: tuple[int, int],
        items: list[E],
        multimask_output: bool,
        return_logits: bool,
    ) -> list[ModelOutput]:
        """One decoder call on prompts of equal :meth:`_batch_key`; outputs in their order."""

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        """Masks for every prompt; see the adapter's module docstring for the mapping.

        Prompts that share a decoder call are decoded together, at most ``max_batch`` at a
        time; each is an independent row, so the result equals one call per prompt. With
        ``return_logits`` each output also carries the upscaled logits the masks are
        thresholded from.
        """
        self.check_prompts(prompts, multimask_output, return_logits)
        original = (embedding.height, embedding.width)
        encoded = [self._encode(prompt, original) for prompt in prompts]
        outputs: list[ModelOutput | None] = [None] * len(prompts)
        with precision(self.device, self.dtype):
            indices_all = list(range(len(prompts)))
            for indices in _groups(indices_all, lambda i: self._batch_key(encoded[i])):
                for start in range(0, len(indices), self.max_batch):
                    chunk = indices[start : start + self.max_batch]
                    results = self._decode(
                        embedding.features,
                        original,
                        [encoded[i] for i in chunk],
                        multimask_output,
                        return_logits,
                    )
                    for index, result in zip(chunk, results, strict=True):
                        outputs[index] = result
        return [out for out in outputs if out is not None]

    @staticmethod
    def _prompt_embeddings_by(
        items: Sequence[E],
        structure: Callable[[E], Hashable],
        encode: Callable[[list[E]], tuple[torch.Tensor, torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """The prompt encoder once per ``structure`` among ``items``, results concatenated.

        Returns the sparse and dense embeddings and, for each of their rows, the position in
        ``items`` of the prompt it belongs to.
        """
        import torch

        sparse: list[torch.Tensor] = []
        dense: list[torch.Tensor] = []
        order: list[int] = []
        for members in _groups(list(range(len(items))), lambda i: structure(items[i])):
            s, d = encode([items[i] for i in members])
            if s.shape[0] != len(members):  # nothing but an empty prompt: batch size 1
                s = s.expand(len(members), -1, -1)
                d = d.expand(len(members), -1, -1, -1)
            sparse.append(s)
            dense.append(d)
            order.extend(members)
        return torch.cat(sparse), torch.cat(dense), order

    # ------------------------------------------------------------ embedding cache

    @staticmethod
    def _to_array(tensor: torch.Tensor) -> npt.NDArray[Any]:
        """An embedding tensor as a float32 array for the cache."""
        array: npt.NDArray[Any] = tensor.detach().float().cpu().numpy()
        return array

    def _to_tensor(self, array: npt.NDArray[Any]) -> torch.Tensor:
        """A cached array (float16 or float32) as a float32 tensor on the model's device."""
        import torch

        return torch.as_tensor(np.asarray(array, dtype=np.float32), device=self.device)


def check_tensor_shapes(
    tensors: Mapping[str, npt.NDArray[Any]],
    expected: Mapping[str, tuple[int, ...]],
    ignore: tuple[str, ...] = (),
) -> None:
    """Raise ``ValueError`` unless ``tensors`` (but ``ignore``) has exactly ``expected``'s
    names and shapes."""
    names = {k for k in tensors if k not in ignore}
    if names != set(expected):
        raise ValueError(f"tensors {sorted(names)}, expected {sorted(expected)}")
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f"{name} shape {tensors[name].shape}, expected {shape}")


def assemble_outputs(
    order: Sequence[int],
    iou: npt.NDArray[Any],
    low_res_logits: npt.NDArray[Any],
    upscale: Callable[[slice], torch.Tensor],
    threshold: float,
    return_logits: bool,
) -> list[ModelOutput]:
    """:class:`ModelOutput` per decoder row, put in prompt order.

    Args:
        order: For each row, the position of its prompt in the returned list.
        iou: ``(rows, K)`` IoU predictions.
        low_res_logits: ``(rows, K, h, w)`` low-resolution logits as returned to the user.
        upscale: The rows of a slice as ``(n, K, H, W)`` logits at the original size; called
            for at most :data:`POSTPROCESS_CHUNK` rows at a time.
        threshold: Masks are the upscaled logits above it.
        return_logits: Also fill :attr:`ModelOutput.logits` with the upscaled logits.
    """
    outputs: list[ModelOutput | None] = [None] * len(order)
    for start in range(0, len(order), POSTPROCESS_CHUNK):
        rows = slice(start, start + POSTPROCESS_CHUNK)
        upscaled = upscale(rows)
        masks = (upscaled > threshold).cpu().numpy()
        full = upscaled.float().cpu().numpy() if return_logits else None
        for offset, index in enumerate(order[rows]):
            row = start + offset
            outputs[index] = ModelOutput(
                masks=masks[offset],
                iou_predictions=iou[row].astype(np.float32),
                low_res_logits=low_res_logits[row].astype(np.float32),
                logits=None if full is None else full[offset],
            )
    return [out for out in outputs if out is not None]


def check_image(image: Image) -> None:
    """Raise a :class:`SambenchError` unless ``image`` is an RGB uint8 ``(H, W, 3)`` array."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SambenchError(
            f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {tuple(image.shape)}"
        )


def mask_input(logits: npt.NDArray[np.float32], side: int) -> npt.NDArray[np.float32]:
    """A prompt's mask logits as the ``(1, side, side)`` mask input SAM expects."""
    mask = np.asarray(logits, dtype=np.float32)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.shape != (1, side, side):
        raise SambenchError(
            f"mask prompt must be ({side}, {side}) or (1, {side}, {side}) low-resolution "
            f"logits, got shape {tuple(np.shape(logits))}"
        )
    return mask


def _groups(indices: list[int], key: Callable[[int], Hashable]) -> Iterator[list[int]]:
    """Indices grouped by ``key(index)``, groups in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for index in indices:
        groups.setdefault(key(index), []).append(index)
    yield from groups.values()
