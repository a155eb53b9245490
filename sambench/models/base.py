"""The model protocol: embed an image once, then answer many prompt batches against it.

A model adapter subclasses :class:`PromptableModel`. The runner and the tasks only
see this interface, so any promptable segmenter (SAM, SAM 2, a classical baseline,
a third-party plugin) is evaluated by the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

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
    """

    points: bool = False
    boxes: bool = False
    mask_input: bool = False
    text: bool = False
    multimask: bool = False

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
        self, embedding: ImageEmbedding, prompts: Sequence[Prompt], multimask_output: bool
    ) -> list[ModelOutput]:
        """Answer a batch of prompts against one image embedding.

        Args:
            embedding: The result of :meth:`embed` for the image.
            prompts: One prompt per object; a model should process them in as few
                calls as its architecture allows.
            multimask_output: Return several candidate masks per prompt (3 for SAM)
                instead of the single-output mask.

        Returns:
            One :class:`ModelOutput` per prompt, in order.
        """

    def describe(self) -> dict[str, Any]:
        """Provenance for the run manifest: checkpoint path and SHA-256, device, dtype, knobs."""
        return {"name": self.name, "capabilities": self.capabilities.to_json()}

    def check_prompts(self, prompts: Sequence[Prompt], multimask_output: bool) -> None:
        """Raise a :class:`SambenchError` if the prompts use a capability the model lacks."""
        caps = self.capabilities.to_json()
        missing = sorted(kind for kind in needs(prompts) if not caps[kind])
        if multimask_output and not self.capabilities.multimask:
            missing.append("multimask")
        if missing:
            raise SambenchError(
                f"model {self.name!r} does not support {', '.join(missing)} prompts"
            )
