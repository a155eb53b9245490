"""SAM 2 / SAM 2.1 image segmentation on the official ``sam2`` package (optional extra).

The module is named ``sam2_image`` so that it never shadows the ``sam2`` package itself.
The adapter reproduces :class:`sam2.sam2_image_predictor.SAM2ImagePredictor` (``set_image``
then ``predict``) and batches prompts as the SAM adapter does:

* **Model**: built from a config of the ``sam2`` package (``configs/sam2.1/sam2.1_hiera_l.yaml``
  and friends, or a YAML file path) with ``build_sam2``'s defaults — including its
  post-processing overrides: in single-output mode the decoder falls back to the best
  multimask output when token 0 is unstable (``dynamic_multimask_via_stability``), as in the
  official image predictor. Weights come from the official checkpoint (``{"model": ...}``),
  read with ``torch.load(..., weights_only=True)`` and loaded strictly.
* **Preprocessing** is ``SAM2Transforms``: the image is resized to a square of the model's
  input size (1024; no aspect-ratio padding, unlike SAM) and normalised with ImageNet mean /
  std. The embedding keeps the three feature levels the predictor keeps: the 64² image
  embedding and the two high-resolution maps the mask decoder uses.
* **Prompts** are mapped as ``SAM2ImagePredictor.predict`` maps them: coordinates normalised by
  the image width / height and scaled to the input size; a box becomes two corner points
  with labels 2 and 3 placed before the clicks; a mask prompt is the previous prediction's
  ``(1, 256, 256)`` low-resolution logits. Prompts with the same number of points (box
  corners included) share one mask-decoder call.
* **Outputs**: three masks for ``multimask_output=True``; one otherwise. Masks are upscaled
  to the original size (bilinear) and thresholded at 0; the low-resolution logits are
  returned clamped to [-32, 32], as the predictor returns them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
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

PREPROCESSING_VERSION = "sam2-1"
"""Version of the image preprocessing (SAM2Transforms: square resize, ImageNet mean / std);
part of the embedding-cache key."""

LOW_RES_CLAMP = 32.0
"""The predictor clamps returned low-resolution logits to ±this value."""


@dataclass(frozen=True)
class Sam2Features:
    """What :meth:`Sam2Image.embed` keeps of an image (the predictor's ``_features``).

    Attributes:
        image_embed: ``(1, 256, 64, 64)`` image embedding (no-memory embedding added).
        high_res_feats: The ``(1, 32, 256, 256)`` and ``(1, 64, 128, 128)`` feature maps.
    """

    image_embed: torch.Tensor
    high_res_feats: tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class _Encoded:
    """One prompt as ``SAM2ImagePredictor._prep_prompts`` / ``_predict`` prepare it."""

    coords: torch.Tensor | None  # (T, 2): box corners first, then clicks
    labels: torch.Tensor | None  # (T,)
    mask: npt.NDArray[np.float32] | None

    @property
    def points(self) -> int:
        return 0 if self.coords is None else int(self.coords.shape[0])


def config_for_checkpoint(checkpoint: Path) -> str | None:
    """The packaged config of an official checkpoint file name (``sam2.1_hiera_large.pt``)."""
    from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES

    by_file = {name: config for config, name in HF_MODEL_ID_TO_FILENAMES.values()}
    return by_file.get(checkpoint.name)


@MODELS.register("sam2")
class Sam2Image(SamFamilyAdapter[_Encoded]):
    """SAM 2 / 2.1 image predictor from the official ``sam2`` package, registered as ``sam2``.

    Arguments:
      checkpoint (str or Path): The official checkpoint (``sam2.1_hiera_large.pt`` ...), read
        with ``weights_only=True`` and loaded strictly; its SHA-256 is recorded. Required.
      model_config (str): The model config: a config name of the ``sam2`` package, e.g.
        ``configs/sam2.1/sam2.1_hiera_l.yaml`` (``configs/sam2/...`` for SAM 2.0), or the
        path of a YAML file in the same format. Default: inferred from an official
        checkpoint file name.
      device (str): ``"auto"`` (CUDA, else Apple MPS, else CPU) or a torch device name.
      dtype (str): ``"float32"`` (default) or ``"bfloat16"`` autocast (as SAM 2's own demos
        run on GPUs). Part of the embedding-cache key.
      max_batch (int): Most prompts per mask-decoder call; results do not depend on it.
    """

    name = "sam2"

    def __init__(
        self,
        *,
        checkpoint: str | Path | None = None,
        model_config: str | None = None,
        device: str | None = "auto",
        dtype: str = "float32",
        max_batch: int = 64,
    ) -> None:
        require_torch("sam2")
        _require_sam2()
        if checkpoint is None:
            raise SambenchError(
                "model 'sam2' needs --checkpoint (e.g. sam2.1_hiera_large.pt) and "
                "--model-config; sambench never downloads weights"
            )
        path = Path(checkpoint)
        if model_config is None:
            model_config = config_for_checkpoint(path)
            if model_config is None:
                raise SambenchError(
                    f"model 'sam2' needs --model-config for {path.name} "
                    "(e.g. configs/sam2.1/sam2.1_hiera_l.yaml)"
                )
        state = load_checkpoint(path, key="model")
        model = build_sam2_model(model_config)
        load_weights(model, state, path)
        del state
        settings = AdapterSettings.create(
            "sam2", device=device, dtype=dtype, max_batch=max_batch, checkpoint=path
        )
        self._configure(model, settings, model_config=model_config)

    @classmethod
    def from_module(
        cls,
        model: Any,
        *,
        name: str = "sam2-custom",
        model_config: str | None = None,
        device: str | None = "auto",
        dtype: str = "float32",
        max_batch: int = 64,
        checkpoint: str | Path | None = None,
        weights_sha256: str | None = None,
    ) -> Sam2Image:
        """Wrap an already-built ``SAM2Base`` module (random weights in tests, a fine-tune).

        Args:
            model: The module, e.g. from ``sam2.build_sam.build_sam2(config, None)``; any
                input size (``model.image_size``).
            name: The name recorded in the manifest.
            model_config: The config it was built from, for provenance and the cache key.
            device: As for the constructor.
            dtype: As for the constructor.
            max_batch: As for the constructor.
            checkpoint: The file the weights were loaded from, if any: recorded in the
                manifest with its SHA-256 (which then identifies the weights).
            weights_sha256: Identity of the weights; by default a SHA-256 over the state dict.
        """
        require_torch("sam2")
        _require_sam2()
        self = cls.__new__(cls)
        settings = AdapterSettings.create(
            name,
            device=device,
            dtype=dtype,
            max_batch=max_batch,
            checkpoint=checkpoint,
            weights_sha256=weights_sha256,
        )
        self._configure(model, settings, model_config=model_config)
        return self

    def _configure(
        self, model: Any, settings: AdapterSettings, *, model_config: str | None
    ) -> None:
        """The shared configuration, then the config name and the predictor's transforms.

        Args:
            model: The ``SAM2Base`` module.
            settings: What every SAM-family adapter is configured with.
            model_config: The config the module was built from, if known.
        """
        from sam2.utils.transforms import SAM2Transforms

        self._configure_common(model, settings)
        self.model_config = model_config
        self.image_size = int(model.image_size)
        self.mask_threshold = 0.0
        self.transforms = SAM2Transforms(
            resolution=self.image_size,
            mask_threshold=self.mask_threshold,
            max_hole_area=0.0,
            max_sprinkle_area=0.0,
        )
        size = self.image_size
        self.feature_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16,) * 2]

    # ------------------------------------------------------------------ embedding

    def embed(self, image: Image) -> ImageEmbedding:
        """Encode an RGB uint8 image exactly as ``SAM2ImagePredictor.set_image`` does."""
        check_image(image)
        tensor = self.transforms(image)[None, ...].to(self.device)
        with precision(self.device, self.dtype):
            backbone_out = self.model.forward_image(tensor)
            _, vision_feats, _, _ = self.model._prepare_backbone_features(backbone_out)
            if self.model.directly_add_no_mem_embed:
                vision_feats[-1] = vision_feats[-1] + self.model.no_mem_embed
            feats = [
                feat.permute(1, 2, 0).reshape(1, -1, *size).float()
                for feat, size in zip(vision_feats[::-1], self.feature_sizes[::-1], strict=True)
            ][::-1]
        return ImageEmbedding(
            height=int(image.shape[0]),
            width=int(image.shape[1]),
            features=Sam2Features(image_embed=feats[-1], high_res_feats=tuple(feats[:-1])),
        )

    # ----------------------------------------------------------------- prediction

    def _batch_key(self, item: _Encoded) -> Hashable:
        """Prompts with the same number of points (box corners included) share a call."""
        return item.points

    def _encode(self, prompt: Prompt, original: tuple[int, int]) -> _Encoded:
        import torch

        coords = labels = None
        parts: list[tuple[torch.Tensor, torch.Tensor]] = []
        if prompt.box is not None:
            box = torch.as_tensor(prompt.box, dtype=torch.float, device=self.device)
            corners = self.transforms.transform_boxes(box, normalize=True, orig_hw=original)
            parts.append((corners.reshape(2, 2), torch.tensor([2, 3], dtype=torch.int)))
        if prompt.clicks:
            points = torch.as_tensor(prompt.point_coords(), dtype=torch.float, device=self.device)
            points = self.transforms.transform_coords(points, normalize=True, orig_hw=original)
            parts.append((points, torch.as_tensor(prompt.point_labels(), dtype=torch.int)))
        if parts:
            coords = torch.cat([c for c, _ in parts])
            labels = torch.cat([lab for _, lab in parts]).to(self.device)
        mask = None
        if prompt.mask_logits is not None:
            side = int(self.model.sam_prompt_encoder.mask_input_size[0])
            mask = mask_input(prompt.mask_logits, side)
        return _Encoded(coords=coords, labels=labels, mask=mask)

    def _decode(
        self,
        features: Sam2Features,
        original: tuple[int, int],
        items: list[_Encoded],
        multimask_output: bool,
        return_logits: bool,
    ) -> list[ModelOutput]:
        """One mask-decoder call (post-processing: ``SAM2Transforms.postprocess_masks``,
        threshold 0; low-resolution logits clamped as the predictor returns them)."""
        import torch

        sparse, dense, order = self._prompt_embeddings_by(
            items, lambda item: item.mask is not None, self._prompt_embeddings
        )
        low_res, iou, _, _ = self.model.sam_mask_decoder(
            image_embeddings=features.image_embed,
            image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=len(order) > 1,
            high_res_features=list(features.high_res_feats),
        )
        low_res = low_res.float()
        return assemble_outputs(
            order,
            iou.float().cpu().numpy(),
            torch.clamp(low_res, -LOW_RES_CLAMP, LOW_RES_CLAMP).cpu().numpy(),
            lambda rows: self.transforms.postprocess_masks(low_res[rows], original),
            self.mask_threshold,
            return_logits,
        )

    def _prompt_embeddings(self, items: list[_Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt encoder on prompts of one structure (points as corners + clicks)."""
        import torch

        points = None
        if items[0].coords is not None:
            points = (
                torch.stack([i.coords for i in items if i.coords is not None]),
                torch.stack([i.labels for i in items if i.labels is not None]),
            )
        masks = None
        if items[0].mask is not None:
            masks = torch.as_tensor(
                np.stack([i.mask for i in items if i.mask is not None]),
                dtype=torch.float,
                device=self.device,
            )
        sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=masks)
        return sparse, dense

    # ------------------------------------------------------------ embedding cache

    def cache_identity(self) -> str:
        """Weights hash, config, preprocessing version, input size and precision."""
        return (
            f"sam2|weights={self.weights_sha256}|config={self.model_config}"
            f"|pre={PREPROCESSING_VERSION}|size={self.image_size}|dtype={self.dtype}"
        )

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        decoder = self.model.sam_mask_decoder
        (h0, w0), (h1, w1), (h2, w2) = self.feature_sizes
        channels = int(self.model.hidden_dim)
        shapes: dict[str, tuple[int, ...]] = {"image_embed": (1, channels, h2, w2)}
        if getattr(decoder, "use_high_res_features", False):
            shapes["high_res_feats_0"] = (1, int(decoder.conv_s0.out_channels), h0, w0)
            shapes["high_res_feats_1"] = (1, int(decoder.conv_s1.out_channels), h1, w1)
        return shapes

    def embedding_tensors(self, embedding: ImageEmbedding) -> dict[str, npt.NDArray[Any]]:
        features: Sam2Features = embedding.features
        tensors = {"image_embed": self._to_array(features.image_embed)}
        for level, feat in enumerate(features.high_res_feats):
            tensors[f"high_res_feats_{level}"] = self._to_array(feat)
        return tensors

    def embedding_from_tensors(
        self, tensors: Mapping[str, npt.NDArray[Any]], height: int, width: int
    ) -> ImageEmbedding:
        check_tensor_shapes(tensors, self._expected_shapes())
        as_torch = {name: self._to_tensor(array) for name, array in tensors.items()}
        levels = sorted(n for n in as_torch if n.startswith("high_res_feats_"))
        return ImageEmbedding(
            height=height,
            width=width,
            features=Sam2Features(
                image_embed=as_torch["image_embed"],
                high_res_feats=tuple(as_torch[n] for n in levels),
            ),
        )

    # ------------------------------------------------------------------ provenance

    def describe(self) -> dict[str, Any]:
        decoder = self.model.sam_mask_decoder
        return {
            **super().describe(),
            "family": "sam2",
            "model_config": self.model_config,
            **self._weights_provenance(),
            "image_size": self.image_size,
            "preprocessing": PREPROCESSING_VERSION,
            "dynamic_multimask_via_stability": bool(decoder.dynamic_multimask_via_stability),
            **self._runtime_provenance(mask_threshold=self.mask_threshold),
        }


def build_sam2_model(model_config: str, overrides: Sequence[str] = ()) -> Any:
    """A random-weight SAM 2 model from a packaged config name or a YAML file, on the CPU.

    Uses ``sam2.build_sam.build_sam2`` (with its default post-processing overrides) for
    packaged configs; a YAML file is read with OmegaConf and gets the same overrides.

    Args:
        model_config: ``configs/sam2.1/sam2.1_hiera_l.yaml`` or a file path.
        overrides: Extra Hydra overrides (``++model.image_size=512``), e.g. for small tests.
    """
    from sam2.build_sam import build_sam2

    if Path(model_config).is_file():
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        config = OmegaConf.load(model_config)
        dotlist = [o.lstrip("+") for o in (*_POSTPROCESSING, *overrides)]
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(dotlist))
        OmegaConf.resolve(config)
        return instantiate(config.model, _recursive_=True).eval()
    try:
        return build_sam2(
            model_config, ckpt_path=None, device="cpu", hydra_overrides_extra=list(overrides)
        )
    except Exception as error:  # hydra reports a missing config in several ways
        raise SambenchError(
            f"sam2 model config {model_config!r} could not be built ({error}); use a config "
            "of the sam2 package, e.g. configs/sam2.1/sam2.1_hiera_l.yaml, or a YAML path"
        ) from error


_POSTPROCESSING = (
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
)
"""``build_sam2``'s default overrides (``apply_postprocessing=True``), applied to YAML files."""


def _require_sam2() -> None:
    try:
        import sam2.build_sam  # noqa: F401
    except ImportError as error:
        raise SambenchError(
            f"model 'sam2' needs the sam2 package: SAM2_BUILD_CUDA=0 pip install "
            f"'sambench[sam2]' ({error})"
        ) from error
