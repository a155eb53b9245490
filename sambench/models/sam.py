"""Segment Anything (SAM ViT-B / ViT-L / ViT-H) on the official ``segment_anything`` package.

The adapter reproduces :class:`segment_anything.SamPredictor` exactly and adds what a
benchmark needs on top: many prompts per decoder call, an embedding that can be cached,
device and precision choice, and provenance.

* **Preprocessing** is the predictor's own code: :class:`ResizeLongestSide` (longest side to
  the encoder's input size, 1024 for the released models, PIL bilinear), then
  :meth:`Sam.preprocess` (pixel mean / std normalisation, zero padding to a square).
* **Prompts** are mapped as :meth:`SamPredictor.predict` maps them: click coordinates and box
  corners scaled by ``ResizeLongestSide.apply_coords`` / ``apply_boxes``, labels 1 / 0, a
  previous prediction's low-resolution logits ``(1, 256, 256)`` as the mask input.
* **Batching**: all prompts of one :meth:`predict` call that give the decoder the same number
  of sparse tokens (points, the padding point SAM adds when there is no box, box corners) run
  through the prompt encoder by structure and through the mask decoder together, at most
  ``max_batch`` prompts at a time; each row of the batch is independent, so the result equals
  one call per prompt.
* **Outputs** as in the paper: ``multimask_output=True`` returns the three multimask tokens'
  masks (whole, part, subpart), ``False`` the single-output token 0, the one the paper uses
  whenever a prompt is unambiguous (more than one point, a box). Masks are post-processed
  back to the original image size with :meth:`Sam.postprocess_masks` and thresholded at
  ``Sam.mask_threshold`` (0.0); the low-resolution logits of the returned masks come back for
  use as the next mask prompt.

``segment_anything`` and torch are imported when a model is built, never at import time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sambench.errors import SambenchError
from sambench.models import MODELS
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.models.torch_utils import (
    canonical_dtype,
    environment_device,
    load_checkpoint,
    load_weights,
    precision,
    require_torch,
    select_device,
    sha256_file,
    state_dict_sha256,
)
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.samples import Image

if TYPE_CHECKING:
    import torch

VARIANTS = ("vit_b", "vit_l", "vit_h")
"""The released SAM image encoders, as named in ``segment_anything.sam_model_registry``."""

PREPROCESSING_VERSION = "segment_anything-1"
"""Version of the image preprocessing (ResizeLongestSide with PIL bilinear resampling,
``Sam.preprocess`` normalisation and padding); part of the embedding-cache key. Change it
whenever the pixels that reach the encoder could change."""

POSTPROCESS_CHUNK = 8
"""Prompts whose masks are upscaled to the original size at once (bounds peak memory)."""


@dataclass(frozen=True)
class SamFeatures:
    """What :meth:`SegmentAnything.embed` keeps of an image.

    Attributes:
        image_embeddings: ``(1, 256, 64, 64)`` float32 encoder output, on the model's device.
        input_size: ``(h, w)`` of the resized image before padding (for post-processing).
    """

    image_embeddings: torch.Tensor
    input_size: tuple[int, int]


@dataclass(frozen=True)
class _Encoded:
    """One prompt in the model's input frame, as ``SamPredictor.predict`` prepares it."""

    coords: npt.NDArray[np.float64] | None
    labels: npt.NDArray[np.int64] | None
    box: npt.NDArray[np.float64] | None
    mask: npt.NDArray[np.float32] | None

    @property
    def tokens(self) -> int:
        """Sparse tokens the prompt encoder produces (SAM pads points when there is no box)."""
        points = 0 if self.coords is None else self.coords.shape[0] + (self.box is None)
        return points + (2 if self.box is not None else 0)

    @property
    def structure(self) -> tuple[int, bool, bool]:
        """Prompts with equal structure share one prompt-encoder call."""
        points = 0 if self.coords is None else int(self.coords.shape[0])
        return points, self.box is not None, self.mask is not None


class SegmentAnything(PromptableModel):
    """SAM from the official ``segment_anything`` code, registered as ``sam-vit-b``,
    ``sam-vit-l`` and ``sam-vit-h``.

    Arguments:
      variant (str): The image encoder, one of :data:`VARIANTS` (``vit_b``, ``vit_l``,
        ``vit_h``); fixed by the registered name.
      checkpoint (str or Path): The official checkpoint file (for example
        ``sam_vit_h_4b8939.pth``), read with ``torch.load(..., weights_only=True)`` and
        loaded strictly; its SHA-256 is recorded in :meth:`describe`. Required: sambench
        never downloads weights. To evaluate a model built in memory use
        :meth:`from_module`.
      device (str): ``"auto"`` (CUDA, else Apple MPS, else CPU), or a torch device name
        such as ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``. An unavailable device is an
        error, never a silent fallback.
      dtype (str): ``"float32"`` (reference precision, default) or ``"bfloat16"``: the image
        encoder and mask decoder run under ``torch.autocast`` in bfloat16 (for GPUs with bf16
        support; allowed but slow on CPU). Embeddings are kept in float32 and outputs are
        returned in float32 either way. Part of the embedding-cache key.
      max_batch (int): Most prompts sent through the mask decoder in one call. Larger is
        faster on a GPU until memory runs out; results do not depend on it.
    """

    name = "sam"
    capabilities = ModelCapabilities(
        points=True, boxes=True, mask_input=True, text=False, multimask=True, logits=True
    )

    def __init__(
        self,
        *,
        variant: str = "vit_h",
        checkpoint: str | Path | None = None,
        device: str | None = "auto",
        dtype: str = "float32",
        max_batch: int = 64,
    ) -> None:
        require_torch("sam")
        if variant not in VARIANTS:
            raise SambenchError(f"unknown SAM variant {variant!r} (known: {', '.join(VARIANTS)})")
        name = f"sam-{variant.replace('_', '-')}"
        if checkpoint is None:
            raise SambenchError(
                f"model {name!r} needs --checkpoint (the official sam_{variant}_*.pth file); "
                "sambench never downloads weights"
            )
        from segment_anything import sam_model_registry

        path = Path(checkpoint)
        state = load_checkpoint(path)
        sam = sam_model_registry[variant](checkpoint=None)
        load_weights(sam, state, path)
        del state
        self._configure(
            sam,
            name=name,
            variant=variant,
            device=device,
            dtype=dtype,
            max_batch=max_batch,
            checkpoint=path,
            weights_sha256=sha256_file(path),
        )

    @classmethod
    def from_module(
        cls,
        sam: Any,
        *,
        name: str = "sam-custom",
        device: str | None = "auto",
        dtype: str = "float32",
        max_batch: int = 64,
        checkpoint: str | Path | None = None,
        weights_sha256: str | None = None,
    ) -> SegmentAnything:
        """Wrap an already-built :class:`segment_anything.modeling.Sam` module.

        Used for models built in memory: random weights in tests, a fine-tune that is not
        saved yet, a SAM-compatible encoder swapped in. The module is moved to ``device`` and
        put in eval mode.

        Args:
            sam: The ``Sam`` module (any image encoder size; the input size is read from
                ``sam.image_encoder.img_size``).
            name: The name recorded in the manifest.
            device: As for the constructor.
            dtype: As for the constructor.
            max_batch: As for the constructor.
            checkpoint: The file the weights were loaded from, if any: recorded in the
                manifest with its SHA-256 (which then identifies the weights).
            weights_sha256: Identity of the weights for provenance and the embedding cache;
                by default a SHA-256 over the module's state dict, computed when first needed.
        """
        require_torch("sam")
        self = cls.__new__(cls)
        self._configure(
            sam,
            name=name,
            variant=None,
            device=device,
            dtype=dtype,
            max_batch=max_batch,
            checkpoint=Path(checkpoint) if checkpoint is not None else None,
            weights_sha256=weights_sha256
            if weights_sha256 is not None or checkpoint is None
            else sha256_file(Path(checkpoint)),
        )
        return self

    def _configure(
        self,
        sam: Any,
        *,
        name: str,
        variant: str | None,
        device: str | None,
        dtype: str,
        max_batch: int,
        checkpoint: Path | None,
        weights_sha256: str | None,
    ) -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        if int(max_batch) < 1:
            raise SambenchError(f"max_batch must be at least 1, got {max_batch}")
        self.name = name
        self.variant = variant
        self.device = select_device(device)
        self.dtype = canonical_dtype(dtype)
        self.max_batch = int(max_batch)
        self.checkpoint = checkpoint
        self._weights_sha256 = weights_sha256
        self.model = sam.to(self.device).eval()
        self.image_size = int(sam.image_encoder.img_size)
        self.transform = ResizeLongestSide(self.image_size)

    @property
    def weights_sha256(self) -> str:
        """SHA-256 of the checkpoint file, or of the state dict for a wrapped module."""
        if self._weights_sha256 is None:
            self._weights_sha256 = state_dict_sha256(self.model)
        return self._weights_sha256

    # ------------------------------------------------------------------ embedding

    def embed(self, image: Image) -> ImageEmbedding:
        """Encode an RGB uint8 image exactly as ``SamPredictor.set_image`` does."""
        import torch

        _check_image(image)
        resized = self.transform.apply_image(image)
        tensor = torch.as_tensor(resized, device=self.device)
        tensor = tensor.permute(2, 0, 1).contiguous()[None, :, :, :]
        with precision(self.device, self.dtype):
            features = self.model.image_encoder(self.model.preprocess(tensor)).float()
        input_size = (int(tensor.shape[-2]), int(tensor.shape[-1]))
        return ImageEmbedding(
            height=int(image.shape[0]),
            width=int(image.shape[1]),
            features=SamFeatures(image_embeddings=features, input_size=input_size),
        )

    # ----------------------------------------------------------------- prediction

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        """Masks for every prompt; see the module docstring for batching and output modes.

        With ``return_logits`` each output also carries the upscaled logits the masks are
        thresholded from (``SamPredictor.predict(..., return_logits=True)``'s masks).
        """
        self.check_prompts(prompts, multimask_output, return_logits)
        features: SamFeatures = embedding.features
        original = (embedding.height, embedding.width)
        encoded = [self._encode(prompt, original) for prompt in prompts]
        by_tokens: dict[int, list[int]] = {}
        for index, item in enumerate(encoded):
            by_tokens.setdefault(item.tokens, []).append(index)
        outputs: list[ModelOutput | None] = [None] * len(prompts)
        with precision(self.device, self.dtype):
            for indices in by_tokens.values():
                for start in range(0, len(indices), self.max_batch):
                    chunk = indices[start : start + self.max_batch]
                    self._decode(
                        features,
                        original,
                        encoded,
                        chunk,
                        multimask_output,
                        outputs,
                        return_logits,
                    )
        return [out for out in outputs if out is not None]

    def _encode(self, prompt: Prompt, original: tuple[int, int]) -> _Encoded:
        coords = labels = box = mask = None
        if prompt.clicks:
            coords = self.transform.apply_coords(prompt.point_coords(), original)
            labels = prompt.point_labels()
        if prompt.box is not None:
            box = self.transform.apply_boxes(np.asarray(prompt.box, dtype=np.float64), original)
        if prompt.mask_logits is not None:
            side = 4 * int(self.model.prompt_encoder.image_embedding_size[0])
            mask = _mask_input(prompt.mask_logits, side)
        return _Encoded(coords=coords, labels=labels, box=box, mask=mask)

    def _decode(
        self,
        features: SamFeatures,
        original: tuple[int, int],
        encoded: list[_Encoded],
        chunk: list[int],
        multimask_output: bool,
        outputs: list[ModelOutput | None],
        return_logits: bool = False,
    ) -> None:
        """Run one mask-decoder call for prompts with equal token counts; fill ``outputs``."""
        import torch

        sparse: list[torch.Tensor] = []
        dense: list[torch.Tensor] = []
        order: list[int] = []
        for members in _groups(chunk, lambda i: encoded[i].structure):
            items = [encoded[i] for i in members]
            s, d = self._prompt_embeddings(items)
            if s.shape[0] != len(members):  # nothing but an empty prompt: batch size 1
                s = s.expand(len(members), -1, -1)
                d = d.expand(len(members), -1, -1, -1)
            sparse.append(s)
            dense.append(d)
            order.extend(members)
        low_res, iou = self.model.mask_decoder(
            image_embeddings=features.image_embeddings,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=torch.cat(sparse),
            dense_prompt_embeddings=torch.cat(dense),
            multimask_output=multimask_output,
        )
        low_res = low_res.float()
        iou_np = iou.float().cpu().numpy()
        logits_np = low_res.cpu().numpy()
        for start in range(0, len(order), POSTPROCESS_CHUNK):
            upscaled = self.model.postprocess_masks(
                low_res[start : start + POSTPROCESS_CHUNK], features.input_size, original
            )
            masks = (upscaled > self.model.mask_threshold).cpu().numpy()
            full = upscaled.float().cpu().numpy() if return_logits else None
            for offset, index in enumerate(order[start : start + POSTPROCESS_CHUNK]):
                row = start + offset
                outputs[index] = ModelOutput(
                    masks=masks[offset],
                    iou_predictions=iou_np[row].astype(np.float32),
                    low_res_logits=logits_np[row].astype(np.float32),
                    logits=None if full is None else full[offset],
                )

    def _prompt_embeddings(self, items: list[_Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt encoder on prompts of one structure, tensors as SamPredictor builds them."""
        import torch

        first = items[0]
        points = boxes = masks = None
        if first.coords is not None:
            coords = torch.as_tensor(
                np.stack([i.coords for i in items if i.coords is not None]),
                dtype=torch.float,
                device=self.device,
            )
            labels = torch.as_tensor(
                np.stack([i.labels for i in items if i.labels is not None]),
                dtype=torch.int,
                device=self.device,
            )
            points = (coords, labels)
        if first.box is not None:
            boxes = torch.as_tensor(
                np.concatenate([i.box for i in items if i.box is not None]),
                dtype=torch.float,
                device=self.device,
            )
        if first.mask is not None:
            masks = torch.as_tensor(
                np.stack([i.mask for i in items if i.mask is not None]),
                dtype=torch.float,
                device=self.device,
            )
        sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=masks)
        return sparse, dense

    # ------------------------------------------------------------ embedding cache

    def cache_identity(self) -> str:
        """Weights hash, preprocessing version, input size, normalisation and precision."""
        mean = ",".join(f"{v:g}" for v in self.model.pixel_mean.flatten().tolist())
        std = ",".join(f"{v:g}" for v in self.model.pixel_std.flatten().tolist())
        return (
            f"segment_anything|weights={self.weights_sha256}|pre={PREPROCESSING_VERSION}"
            f"|size={self.image_size}|mean={mean}|std={std}|dtype={self.dtype}"
        )

    def embedding_tensors(self, embedding: ImageEmbedding) -> dict[str, npt.NDArray[Any]]:
        features: SamFeatures = embedding.features
        return {
            "image_embeddings": features.image_embeddings.detach().float().cpu().numpy(),
            "input_size": np.asarray(features.input_size, dtype=np.int64),
        }

    def embedding_from_tensors(
        self, tensors: Mapping[str, npt.NDArray[Any]], height: int, width: int
    ) -> ImageEmbedding:
        import torch

        side = int(self.model.prompt_encoder.image_embedding_size[0])
        channels = int(self.model.prompt_encoder.embed_dim)
        expected = self.transform.get_preprocess_shape(height, width, self.image_size)
        try:
            stored = tensors["image_embeddings"]
            input_size = tuple(int(v) for v in tensors["input_size"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"missing or malformed tensor: {error}") from error
        shape = (1, channels, side, side)
        if stored.shape != shape:
            raise ValueError(f"embedding shape {stored.shape}, expected {shape}")
        if input_size != tuple(expected):
            raise ValueError(f"input size {input_size}, expected {expected}")
        features = torch.as_tensor(np.asarray(stored, dtype=np.float32), device=self.device)
        return ImageEmbedding(
            height=height,
            width=width,
            features=SamFeatures(image_embeddings=features, input_size=(expected[0], expected[1])),
        )

    # ------------------------------------------------------------------ provenance

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "family": "segment_anything",
            "variant": self.variant,
            "checkpoint": str(self.checkpoint) if self.checkpoint is not None else None,
            "checkpoint_sha256": self.weights_sha256 if self.checkpoint is not None else None,
            "weights_sha256": self.weights_sha256,
            "parameters": sum(int(p.numel()) for p in self.model.parameters()),
            "image_size": self.image_size,
            "preprocessing": PREPROCESSING_VERSION,
            "dtype": self.dtype,
            "autocast": self.dtype if self.dtype != "float32" else None,
            "mask_threshold": float(self.model.mask_threshold),
            "max_batch": self.max_batch,
            **environment_device(self.device),
        }


def _check_image(image: Image) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SambenchError(
            f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {tuple(image.shape)}"
        )


def _mask_input(logits: npt.NDArray[np.float32], side: int) -> npt.NDArray[np.float32]:
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


def _groups(indices: list[int], key: Any) -> Iterator[list[int]]:
    """Indices grouped by ``key(index)``, groups in order of first appearance."""
    groups: dict[Any, list[int]] = {}
    for index in indices:
        groups.setdefault(key(index), []).append(index)
    yield from groups.values()


for _variant in VARIANTS:
    MODELS.add(f"sam-{_variant.replace('_', '-')}", partial(SegmentAnything, variant=_variant))

__all__ = ["PREPROCESSING_VERSION", "VARIANTS", "SamFeatures", "SegmentAnything"]


def build_micro_sam(seed: int = 0) -> Any:
    """A 4.8 M-parameter random-weight SAM built from the official modules, at a 256² input.

    The full predictor and decoder code paths at about 10 ms per image on a CPU: for tests
    (equivalence with the official predictor on the same weights) and for speed benchmarks
    of everything around the model (``sambench bench``). Its masks are meaningless.

    Args:
        seed: ``torch.manual_seed`` applied before the weights are initialised.
    """
    require_torch("sam")
    from functools import partial

    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    torch.manual_seed(seed)
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=256,
            patch_size=16,
            embed_dim=64,
            depth=2,
            num_heads=2,
            mlp_ratio=4,
            out_chans=256,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=4,
            global_attn_indexes=(1,),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=256,
            image_embedding_size=(16, 16),
            input_image_size=(256, 256),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
    ).eval()


def micro_random_sam(
    *, seed: int = 0, device: str | None = "auto", dtype: str = "float32", max_batch: int = 64
) -> SegmentAnything:
    """Model ``sam-micro-random``: :func:`build_micro_sam` as a runnable model.

    Random weights: for smoke tests of a set-up and for speed benchmarks of everything
    around the model (``sambench bench``); its masks and scores are meaningless and never
    belong in a results table.

    Arguments:
      seed (int): Seed of the random weights.
      device, dtype, max_batch: As for :class:`SegmentAnything`.
    """
    return SegmentAnything.from_module(
        build_micro_sam(seed),
        name="sam-micro-random",
        device=device,
        dtype=dtype,
        max_batch=max_batch,
    )


MODELS.add("sam-micro-random", micro_random_sam)
