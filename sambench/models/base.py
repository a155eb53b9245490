"""The model protocol: embed an image once, then answer many prompt batches against it.

A model adapter subclasses :class:`PromptableModel`. The runner and the tasks only
see this interface, so any promptable segmenter (SAM, SAM 2, a classical baseline,
a third-party plugin) is evaluated by the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sambench.errors import SambenchError
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt, needs
from sambench.samples import Image


@dataclass(frozen=True)
class ModelCapabilities:
    """What kinds of prompt a model accepts.

    Attributes:
        points: Positive and negative clicks.
        boxes: A box per prompt.
        mask_input: Low-resolution logits of an earlier prediction as a prompt.
        text: Free-text prompts.
        multimask: Can return several candidate masks (SAM returns 3) per prompt.
        logits: Can return full-resolution unthresholded logits
            (:attr:`~sambench.outputs.ModelOutput.logits`, with ``masks == logits > threshold``)
            when :meth:`PromptableModel.predict` is called with ``return_logits=True``; the
            automatic mask generator's stability score needs them.
        edges: An edge detector rather than (or besides) a promptable segmenter: it
            implements :meth:`PromptableModel.edge_map` (the edge-detection task uses it).
    """

    points: bool = False
    boxes: bool = False
    mask_input: bool = False
    text: bool = False
    multimask: bool = False
    logits: bool = False
    edges: bool = False

    def to_json(self) -> dict[str, bool]:
        return asdict(self)


@dataclass
class ImageEmbedding:
    """A model's encoding of one image, opaque to everything but that model.

    Attributes:
        height: Original image height in pixels.
        width: Original image width in pixels.
        features: Model-specific content (tensors, superpixel maps, ...).
    """

    height: int
    width: int
    features: Any


class PromptableModel(ABC):
    """A promptable segmenter.

    Subclasses set :attr:`name` and :attr:`capabilities` and implement :meth:`embed`
    and :meth:`predict`. Construction takes keyword options only (for example
    ``checkpoint``, ``device``), so the command line can build any model by name.
    """

    name: str = "unnamed"
    capabilities: ModelCapabilities = ModelCapabilities()

    @abstractmethod
    def embed(self, image: Image) -> ImageEmbedding:
        """Encode an RGB ``(H, W, 3)`` uint8 image once; the result serves many prompts."""

    @abstractmethod
    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        """Answer a batch of prompts against one image embedding.

        Args:
            embedding: The result of :meth:`embed` for the image.
            prompts: One prompt per object; a model should process them in as few
                calls as its architecture allows.
            multimask_output: Return several candidate masks per prompt (3 for SAM)
                instead of the single-output mask.
            return_logits: Also fill :attr:`ModelOutput.logits`, the ``(K, H, W)`` float32
                unthresholded logits at the original image size (only for a model with the
                ``logits`` capability; never filled by default, they are large).

        Returns:
            One :class:`ModelOutput` per prompt, in order.
        """

    def edge_map(self, embedding: ImageEmbedding) -> npt.NDArray[np.float32]:
        """The image's ``(H, W)`` float32 edge strength in ``[0, 1]`` (models with ``edges``).

        Edge detectors (Sobel, Canny, HED, ...) compute it in :meth:`embed` or here; a
        promptable segmenter leaves this unimplemented and the edge task prompts it instead.
        """
        raise SambenchError(f"model {self.name!r} is not an edge detector (no edges capability)")

    def describe(self) -> dict[str, Any]:
        """Provenance for the run manifest: checkpoint path and SHA-256, device, dtype, knobs."""
        return {"name": self.name, "capabilities": self.capabilities.to_json()}

    # ------------------------------------------------------------ embedding cache
    #
    # Optional hooks for :mod:`sambench.embedding_cache`. A model that overrides all three
    # has its embeddings stored on disk and reused by every later run and task on the same
    # image; one that keeps the defaults is simply never cached.

    def cache_identity(self) -> str | None:
        """What an embedding of this model depends on besides the image, or ``None``.

        Two model instances with the same identity must produce the same embedding for the
        same image: include the weights hash (not the path), the preprocessing version and
        anything else that changes the encoder's output (input size, precision). ``None``
        (the default) means the model's embeddings are not cacheable.
        """
        return None

    def embedding_tensors(self, embedding: ImageEmbedding) -> dict[str, npt.NDArray[Any]]:
        """The arrays :meth:`embedding_from_tensors` needs to rebuild ``embedding``.

        Names must be valid safetensors keys; floating arrays may be stored in float16 when
        the cache is asked to, so a model must accept them back in either precision.
        """
        raise NotImplementedError(f"model {self.name!r} does not support the embedding cache")

    def embedding_from_tensors(
        self, tensors: Mapping[str, npt.NDArray[Any]], height: int, width: int
    ) -> ImageEmbedding:
        """Rebuild an embedding of a ``height`` × ``width`` image from stored arrays.

        Raises:
            ValueError: the arrays do not fit this model (missing names, wrong shapes); the
                cache then discards the entry and recomputes it.
        """
        raise NotImplementedError(f"model {self.name!r} does not support the embedding cache")

    def check_prompts(
        self, prompts: Sequence[Prompt], multimask_output: bool, return_logits: bool = False
    ) -> None:
        """Raise a :class:`SambenchError` if the call uses a capability the model lacks."""
        caps = self.capabilities.to_json()
        missing = sorted(kind for kind in needs(prompts) if not caps[kind])
        if multimask_output and not self.capabilities.multimask:
            missing.append("multimask")
        if missing:
            raise SambenchError(
                f"model {self.name!r} does not support {', '.join(missing)} prompts"
            )
        if return_logits and not self.capabilities.logits:
            raise SambenchError(
                f"model {self.name!r} cannot return full-resolution logits "
                "(it lacks the logits capability)"
            )
