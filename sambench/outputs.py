"""What a model returns for one prompt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ModelOutput:
    """Candidate masks for one prompt.

    Attributes:
        masks: ``(K, height, width)`` boolean masks at the original image size; K = 3
            for multimask output, 1 for single output.
        iou_predictions: ``(K,)`` the model's predicted IoU (confidence) per mask.
        low_res_logits: ``(K, h, w)`` unthresholded logits that can be fed back as
            :attr:`sambench.prompts.Prompt.mask_logits`, or ``None`` if the model has
            no mask input.
        logits: ``(K, height, width)`` float32 unthresholded logits at the original image
            size (``masks == logits > threshold``, SAM's threshold being 0), or ``None``.
            Filled only when :meth:`~sambench.models.base.PromptableModel.predict` is called
            with ``return_logits=True`` by a model with the ``logits`` capability.
    """

    masks: npt.NDArray[np.bool_]
    iou_predictions: npt.NDArray[np.float32]
    low_res_logits: npt.NDArray[np.float32] | None = None
    logits: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        if self.masks.ndim != 3:
            raise ValueError(f"masks must be (K, H, W), got shape {self.masks.shape}")
        if self.iou_predictions.shape != (self.masks.shape[0],):
            raise ValueError(
                f"iou_predictions shape {self.iou_predictions.shape} does not match "
                f"{self.masks.shape[0]} masks"
            )
        if self.logits is not None and self.logits.shape != self.masks.shape:
            raise ValueError(
                f"logits shape {self.logits.shape} does not match masks {self.masks.shape}"
            )

    @property
    def most_confident(self) -> int:
        """Index of the mask with the highest predicted IoU (first on ties)."""
        return int(np.argmax(self.iou_predictions))
