"""SAM-family models of Hugging Face transformers, from a local folder, offline (optional extra).

Registered names and the transformers classes behind them:

=============  ==================  ==================  =====================================
name           model class         processor class     what it is
=============  ==================  ==================  =====================================
``hf-sam``     ``SamModel``        ``SamProcessor``    SAM ViT-B/L/H (``facebook/sam-vit-*``)
``hf-sam-hq``  ``SamHQModel``      ``SamHQProcessor``  HQ-SAM (``syscv-community/sam-hq-*``)
``hf-sam2``    ``Sam2Model``       ``Sam2Processor``   SAM 2 / 2.1 (``facebook/sam2*-hiera-*``)
=============  ==================  ==================  =====================================

``--checkpoint`` is a **local folder** as written by ``save_pretrained`` (or a downloaded hub
snapshot): ``config.json``, the weights (``model.safetensors``) and the processor config. It is
loaded with ``local_files_only=True``; nothing is ever fetched from the hub.

The adapter follows the documented transformers usage, so its numbers are those of the HF
port, not of the official code (the ports differ in small ways, e.g. transformers 5 resizes
with torchvision rather than PIL):

* ``embed``: ``processor(images=image)`` then ``model.get_image_embeddings(pixel_values)``.
* ``predict``: prompt coordinates are normalised by the processor's own routine (the one its
  ``__call__`` applies to ``input_points`` / ``input_boxes``), then ``model(image_embeddings=...,
  input_points, input_labels, input_boxes, input_masks, multimask_output)``, then
  ``processor.post_process_masks`` (upscaling to the original size, threshold 0). A mask prompt
  is the previous low-resolution logits as ``input_masks``. Each prompt is one row of the
  image batch (the embedding is repeated), so prompts of equal structure (number of points,
  box or not, mask or not) share one forward call and each still gets its own mask prompt.
* ``multimask_output=False`` returns what the port returns for it: SAM's and HQ-SAM's token 0,
  SAM 2's stability-checked single output.
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
    check_tensor_shapes,
    mask_input,
)
from sambench.models.torch_utils import precision, require_torch, sha256_directory
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.samples import Image

if TYPE_CHECKING:
    import torch

WEIGHT_FILES = ("*.safetensors", "*.bin", "config.json", "*processor_config.json")
"""Files of a model folder whose contents identify the weights and preprocessing."""


@dataclass(frozen=True)
class HFFamily:
    """One SAM-family class pair of transformers.

    Attributes:
        name: The registered model name.
        model_class: The transformers model class name.
        processor_class: The transformers processor class name.
        kind: ``"sam"`` (SamModel), ``"sam_hq"`` (also intermediate ViT features) or
            ``"sam2"`` (three feature levels; square resize).
    """

    name: str
    model_class: str
    processor_class: str
    kind: str


FAMILIES = (
    HFFamily("hf-sam", "SamModel", "SamProcessor", "sam"),
    HFFamily("hf-sam-hq", "SamHQModel", "SamHQProcessor", "sam_hq"),
    HFFamily("hf-sam2", "Sam2Model", "Sam2Processor", "sam2"),
)
"""The transformers classes sambench adapts (each tested with a random-weight tiny config)."""


@dataclass(frozen=True)
class HFFeatures:
    """What :meth:`HuggingFaceSam.embed` keeps of an image.

    Attributes:
        tensors: The outputs of ``get_image_embeddings`` by name (``image_embeddings``;
            HQ-SAM adds ``intermediate_embeddings_<i>``; SAM 2 has ``image_embeddings_<level>``).
        reshaped_size: The resized image's ``(h, w)`` before padding (SAM, HQ-SAM), or ``None``.
    """

    tensors: dict[str, torch.Tensor]
    reshaped_size: tuple[int, int] | None


class HuggingFaceSam(SamFamilyAdapter[Prompt]):
    """A transformers SAM-family model (see the module docstring for the names).

    Arguments:
      family (str): The registered name (``hf-sam``, ``hf-sam-hq``, ``hf-sam2``); fixed by it.
      checkpoint (str or Path): A local model folder (``save_pretrained`` layout). Required;
        loaded offline. The SHA-256 over its weight and config files is recorded.
      device (str): ``"auto"`` (CUDA, else Apple MPS, else CPU) or a torch device name.
      dtype (str): ``"float32"`` (default) or ``"bfloat16"`` autocast.
      max_batch (int): Most prompts per forward call; results do not depend on it.
    """

    def __init__(
        self,
        *,
        family: str = "hf-sam",
        checkpoint: str | Path | None = None,
        device: str | None = "auto",
        dtype: str = "float32",
        max_batch: int = 64,
    ) -> None:
        require_torch("hf")
        spec = _family(family)
        model_cls, processor_cls = _classes(spec)
        if checkpoint is None:
            raise SambenchError(
                f"model {spec.name!r} needs --checkpoint DIR: a local transformers model folder "
                "(config.json, model.safetensors, processor config); nothing is downloaded"
            )
        path = Path(checkpoint)
        if not path.is_dir():
            raise SambenchError(f"model {spec.name!r}: checkpoint {path} is not a model folder")
        try:
            model = model_cls.from_pretrained(path, local_files_only=True)
            processor = processor_cls.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, TypeError) as error:
            raise SambenchError(f"{path}: not a {spec.model_class} folder ({error})") from error
        settings = AdapterSettings.create(
            spec.name,
            device=device,
            dtype=dtype,
            max_batch=max_batch,
            checkpoint=path,
            weights_sha256=sha256_directory(path, WEIGHT_FILES),
        )
        self._configure(model, processor, settings, spec=spec)

    @classmethod
    def from_module(
        cls,
        model: Any,
        processor: Any,
        *,
        name: str | None = None,
        device: str | None = "auto",
        dtype: str = "float32",
        max_batch: int = 64,
        weights_sha256: str | None = None,
    ) -> HuggingFaceSam:
        """Wrap an already-built transformers model and its processor (tests, fine-tunes).

        Args:
            model: A ``SamModel``, ``SamHQModel`` or ``Sam2Model``.
            processor: Its processor (``SamProcessor``, ``SamHQProcessor``, ``Sam2Processor``).
            name: The name recorded in the manifest (default: the family's registered name).
            device: As for the constructor.
            dtype: As for the constructor.
            max_batch: As for the constructor.
            weights_sha256: Identity of the weights; by default a SHA-256 over the state dict.
        """
        require_torch("hf")
        kind = type(model).__name__
        matches = [f for f in FAMILIES if f.model_class == kind]
        if not matches:
            known = ", ".join(f.model_class for f in FAMILIES)
            raise SambenchError(f"unsupported transformers model {kind} (supported: {known})")
        self = cls.__new__(cls)
        settings = AdapterSettings.create(
            name or matches[0].name,
            device=device,
            dtype=dtype,
            max_batch=max_batch,
            weights_sha256=weights_sha256,
        )
        self._configure(model, processor, settings, spec=matches[0])
        return self

    def _configure(
        self, model: Any, processor: Any, settings: AdapterSettings, *, spec: HFFamily
    ) -> None:
        """The shared configuration, then the family and its processor.

        Args:
            model: The transformers model.
            processor: Its processor.
            settings: What every SAM-family adapter is configured with.
            spec: The family the model class belongs to.
        """
        self._configure_common(model, settings)
        self.spec = spec
        self.processor = processor

    # ------------------------------------------------------------------ embedding

    def embed(self, image: Image) -> ImageEmbedding:
        """``processor(images=image)``, then ``model.get_image_embeddings``."""
        check_image(image)
        inputs = self.processor(images=image, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device)
        reshaped: tuple[int, int] | None = None
        if "reshaped_input_sizes" in inputs:
            size = inputs["reshaped_input_sizes"][0]
            reshaped = (int(size[0]), int(size[1]))
        with precision(self.device, self.dtype):
            out = self.model.get_image_embeddings(pixel_values)
        tensors: dict[str, torch.Tensor] = {}
        if self.spec.kind == "sam":
            tensors["image_embeddings"] = out.float()
        elif self.spec.kind == "sam_hq":
            tensors["image_embeddings"] = out[0].float()
            for i, feat in enumerate(out[1]):
                tensors[f"intermediate_embeddings_{i}"] = feat.float()
        else:
            for i, feat in enumerate(out):
                tensors[f"image_embeddings_{i}"] = feat.float()
        return ImageEmbedding(
            height=int(image.shape[0]),
            width=int(image.shape[1]),
            features=HFFeatures(tensors=tensors, reshaped_size=reshaped),
        )

    def _embedding_inputs(self, features: HFFeatures, batch: int) -> dict[str, Any]:
        """The model's embedding keyword arguments, repeated over an image batch of ``batch``."""

        def rows(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.expand(batch, *tensor.shape[1:])

        t = features.tensors
        if self.spec.kind == "sam":
            return {"image_embeddings": rows(t["image_embeddings"])}
        if self.spec.kind == "sam_hq":
            levels = sorted((k for k in t if k.startswith("intermediate_")), key=_level)
            return {
                "image_embeddings": rows(t["image_embeddings"]),
                "intermediate_embeddings": [rows(t[k]) for k in levels],
            }
        return {"image_embeddings": [rows(t[k]) for k in sorted(t, key=_level)]}

    # ----------------------------------------------------------------- prediction

    def _encode(self, prompt: Prompt, original: tuple[int, int]) -> Prompt:
        """Prompts are mapped in :meth:`_decode`, a batch at a time."""
        return prompt

    def _batch_key(self, item: Prompt) -> Hashable:
        """Prompts of equal structure (points, box or not, mask or not) share a forward call."""
        return len(item.clicks), item.box is not None, item.mask_logits is not None

    def _normalize(
        self, coords: npt.NDArray[Any], original: tuple[int, int], box: bool
    ) -> torch.Tensor:
        """Coordinates in the model's frame, by the processor's own normalisation routine."""
        import torch

        processor = self.processor
        if self.spec.kind == "sam2":  # Sam2Processor: float32 tensors, square target
            tensor = torch.tensor(coords, dtype=torch.float32)
            out: torch.Tensor = processor._normalize_coordinates(
                processor.target_size, tensor, original, is_bounding_box=box
            )
            return out
        normalized = processor._normalize_coordinates(
            processor.target_size, np.asarray(coords), original, is_bounding_box=box
        )
        return torch.from_numpy(np.asarray(normalized))

    def _decode(
        self,
        features: HFFeatures,
        original: tuple[int, int],
        prompts: list[Prompt],
        multimask_output: bool,
        return_logits: bool,
    ) -> list[ModelOutput]:
        """One forward call; masks by ``post_process_masks(..., binarize=False)`` above 0."""
        import torch

        batch = len(prompts)
        first = prompts[0]
        kwargs = self._embedding_inputs(features, batch)
        if first.clicks:
            kwargs["input_points"] = torch.stack(
                [self._normalize(p.point_coords(), original, box=False) for p in prompts]
            )[:, None].to(self.device)
            kwargs["input_labels"] = torch.stack(
                [torch.from_numpy(p.point_labels()) for p in prompts]
            )[:, None].to(self.device)
        if first.box is not None:
            boxes = [np.asarray(p.box, dtype=np.float64)[None] for p in prompts]
            kwargs["input_boxes"] = torch.cat(
                [self._normalize(b, original, box=True) for b in boxes]
            )[:, None].to(self.device)
        if first.mask_logits is not None:
            side = 4 * self._embedding_side()
            masks = np.stack(
                [mask_input(p.mask_logits, side) for p in prompts if p.mask_logits is not None]
            )
            kwargs["input_masks"] = torch.as_tensor(masks, device=self.device)
        out = self.model(multimask_output=multimask_output, **kwargs)
        low_res = out.pred_masks.float()[:, 0]  # (B, K, h, w)

        def upscale(rows: slice) -> torch.Tensor:
            part = out.pred_masks[rows].float()
            sizes = [list(original)] * part.shape[0]
            # the processor's own upscaling, unthresholded; binarize=True is `> 0.0` of these
            if self.spec.kind == "sam2":
                upscaled = self.processor.post_process_masks(part, sizes, binarize=False)
            else:
                reshaped = [list(features.reshaped_size or original)] * part.shape[0]
                upscaled = self.processor.post_process_masks(part, sizes, reshaped, binarize=False)
            return torch.stack([logits_i[0].float() for logits_i in upscaled])

        return assemble_outputs(
            range(batch),
            out.iou_scores.float()[:, 0].cpu().numpy(),
            low_res.cpu().numpy(),
            upscale,
            0.0,
            return_logits,
        )

    # ------------------------------------------------------------ embedding cache

    def cache_identity(self) -> str:
        """Model class, weights hash, processor config, transformers version, precision."""
        import json

        import transformers

        config = self.processor.image_processor.to_dict()
        preprocessing = json.dumps(config, sort_keys=True, default=str)
        return (
            f"hf|{self.spec.model_class}|weights={self.weights_sha256}"
            f"|transformers={transformers.__version__}|pre={_short_hash(preprocessing)}"
            f"|dtype={self.dtype}"
        )

    def embedding_tensors(self, embedding: ImageEmbedding) -> dict[str, npt.NDArray[Any]]:
        features: HFFeatures = embedding.features
        tensors = {k: self._to_array(v) for k, v in features.tensors.items()}
        if features.reshaped_size is not None:
            tensors["reshaped_input_size"] = np.asarray(features.reshaped_size, dtype=np.int64)
        return tensors

    def embedding_from_tensors(
        self, tensors: Mapping[str, npt.NDArray[Any]], height: int, width: int
    ) -> ImageEmbedding:
        reference = self._reference_shapes()
        check_tensor_shapes(tensors, reference, ignore=("reshaped_input_size",))
        reshaped: tuple[int, int] | None = None
        if self.spec.kind != "sam2":
            if "reshaped_input_size" not in tensors:
                raise ValueError("missing reshaped_input_size")
            stored = [int(v) for v in tensors["reshaped_input_size"]]
            reshaped = (stored[0], stored[-1])
            target = int(self.processor.target_size)
            scale = target / max(height, width)
            expected = (int(height * scale + 0.5), int(width * scale + 0.5))
            if reshaped != expected:
                raise ValueError(f"reshaped size {reshaped}, expected {expected}")
        features = HFFeatures(
            tensors={k: self._to_tensor(tensors[k]) for k in reference},
            reshaped_size=reshaped,
        )
        return ImageEmbedding(height=height, width=width, features=features)

    def _embedding_side(self) -> int:
        """Side of the (square) image embedding the prompt encoder works on."""
        size = self.model.prompt_encoder.image_embedding_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    def _reference_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the embedding tensors, from the model's configuration (no encoder run)."""
        config = self.model.config
        if self.spec.kind == "sam2":
            decoder = self.model.mask_decoder
            sizes = config.vision_config.backbone_feature_sizes
            channels = [
                int(decoder.conv_s0.out_channels),
                int(decoder.conv_s1.out_channels),
                int(config.vision_config.fpn_hidden_size),
            ]
            return {
                f"image_embeddings_{i}": (1, c, int(h), int(w))
                for i, (c, (h, w)) in enumerate(zip(channels, sizes, strict=True))
            }
        side = self._embedding_side()
        vision = config.vision_config
        shapes: dict[str, tuple[int, ...]] = {
            "image_embeddings": (1, int(vision.output_channels), side, side)
        }
        if self.spec.kind == "sam_hq":
            patches = int(vision.image_size) // int(vision.patch_size)
            for i in range(len(vision.global_attn_indexes)):
                shapes[f"intermediate_embeddings_{i}"] = (1, patches, patches, vision.hidden_size)
        return shapes

    # ------------------------------------------------------------------ provenance

    def describe(self) -> dict[str, Any]:
        import transformers

        return {
            **super().describe(),
            "family": "transformers",
            "model_class": self.spec.model_class,
            "processor_class": type(self.processor).__name__,
            "transformers": transformers.__version__,
            **self._weights_provenance(),
            "image_processor": self.processor.image_processor.to_dict(),
            **self._runtime_provenance(),
        }


def _family(name: str) -> HFFamily:
    for spec in FAMILIES:
        if spec.name == name:
            return spec
    raise SambenchError(
        f"unknown transformers family {name!r} (known: {', '.join(f.name for f in FAMILIES)})"
    )


def _classes(spec: HFFamily) -> tuple[Any, Any]:
    try:
        import transformers
    except ImportError as error:
        raise SambenchError(
            f"model {spec.name!r} needs transformers: pip install 'sambench[hf]' ({error})"
        ) from error
    model_cls = getattr(transformers, spec.model_class, None)
    processor_cls = getattr(transformers, spec.processor_class, None)
    if model_cls is None or processor_cls is None:
        raise SambenchError(
            f"model {spec.name!r} needs transformers with {spec.model_class} "
            f"(installed: {transformers.__version__}); pip install -U 'sambench[hf]'"
        )
    return model_cls, processor_cls


def _level(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


for _spec in FAMILIES:
    MODELS.add(_spec.name, partial(HuggingFaceSam, family=_spec.name))

__all__ = ["FAMILIES", "HFFamily", "HFFeatures", "HuggingFaceSam"]
