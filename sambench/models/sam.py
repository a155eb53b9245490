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

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sambench.errors import SambenchError
from sambench.models import MODELS
from sambench.models.base import ImageEmbedding
from sambench.models.sam_family import (
    AdapterSettings,
    SamFamilyAdapter,
    assemble_outputs,
    check_image,
    mask_input,
)
from sambench.models.torch_utils import (
    load_checkpoint,
    load_weights,
    precision,
    require_torch,
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


class SegmentAnything(SamFamilyAdapter[_Encoded]):
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
        settings = AdapterSettings.create(
            name, device=device, dtype=dtype, max_batch=max_batch, checkpoint=path
        )
        self._configure(sam, settings, variant=variant)

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
        settings = AdapterSettings.create(
            name,
            device=device,
            dtype=dtype,
            max_batch=max_batch,
            checkpoint=checkpoint,
            weights_sha256=weights_sha256,
        )
        self._configure(sam, settings, variant=None)
        return self

    def _configure(self, sam: Any, settings: AdapterSettings, *, variant: str | None) -> None:
        """The shared configuration, then the encoder variant and the predictor's transform.

        Args:
            sam: The ``Sam`` module.
            settings: What every SAM-family adapter is configured with.
            variant: The registered image encoder (:data:`VARIANTS`), ``None`` for a module
                built elsewhere.
        """
        from segment_anything.utils.transforms import ResizeLongestSide

        self._configure_common(sam, settings)
        self.variant = variant
        self.image_size = int(sam.image_encoder.img_size)
        self.transform = ResizeLongestSide(self.image_size)

    # ------------------------------------------------------------------ embedding

    def embed(self, image: Image) -> ImageEmbedding:
        """Encode an RGB uint8 image exactly as ``SamPredictor.set_image`` does."""
        import torch

        check_image(image)
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

    def _batch_key(self, item: _Encoded) -> Hashable:
        """Prompts with equal sparse-token counts share one mask-decoder call."""
        return item.tokens

    def _encode(self, prompt: Prompt, original: tuple[int, int]) -> _Encoded:
        coords = labels = box = mask = None
        if prompt.clicks:
            coords = self.transform.apply_coords(prompt.point_coords(), original)
            labels = prompt.point_labels()
        if prompt.box is not None:
            box = self.transform.apply_boxes(np.asarray(prompt.box, dtype=np.float64), original)
        if prompt.mask_logits is not None:
            side = 4 * int(self.model.prompt_encoder.image_embedding_size[0])
            mask = mask_input(prompt.mask_logits, side)
        return _Encoded(coords=coords, labels=labels, box=box, mask=mask)

    def _decode(
        self,
        features: SamFeatures,
        original: tuple[int, int],
        items: list[_Encoded],
        multimask_output: bool,
        return_logits: bool,
    ) -> list[ModelOutput]:
        """Run one mask-decoder call for prompts with equal token counts (post-processing:
        ``Sam.postprocess_masks``, threshold ``Sam.mask_threshold``)."""
        sparse, dense, order = self._prompt_embeddings_by(
            items, lambda item: item.structure, self._prompt_embeddings
        )
        low_res, iou = self.model.mask_decoder(
            image_embeddings=features.image_embeddings,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )
        low_res = low_res.float()
        return assemble_outputs(
            order,
            iou.float().cpu().numpy(),
            low_res.cpu().numpy(),
            lambda rows: self.model.postprocess_masks(low_res[rows], features.input_size, original),
            self.model.mask_threshold,
            return_logits,
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
            "image_embeddings": self._to_array(features.image_embeddings),
            "input_size": np.asarray(features.input_size, dtype=np.int64),
        }

    def embedding_from_tensors(
        self, tensors: Mapping[str, npt.NDArray[Any]], height: int, width: int
    ) -> ImageEmbedding:
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
        features = self._to_tensor(stored)
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
            **self._weights_provenance(),
            "image_size": self.image_size,
            "preprocessing": PREPROCESSING_VERSION,
            **self._runtime_provenance(mask_threshold=float(self.model.mask_threshold)),
        }


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
