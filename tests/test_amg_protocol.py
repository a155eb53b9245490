"""The model-protocol pieces the automatic mask generator relies on: full-resolution logits.

``ModelCapabilities.logits`` declares that ``predict(..., return_logits=True)`` fills
``ModelOutput.logits``; ``check_prompts`` refuses the request, naming the model, otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sambench.errors import SambenchError
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Click, Prompt
from sambench.samples import Image


class PointsOnly(PromptableModel):
    name = "points-only"
    capabilities = ModelCapabilities(points=True, multimask=True)

    def embed(self, image: Image) -> ImageEmbedding:
        return ImageEmbedding(height=image.shape[0], width=image.shape[1], features=None)

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        self.check_prompts(prompts, multimask_output, return_logits)
        mask = np.ones((1, embedding.height, embedding.width), bool)
        return [ModelOutput(masks=mask, iou_predictions=np.ones(1, np.float32)) for _ in prompts]


def test_logits_capability_is_off_by_default_and_recorded() -> None:
    assert ModelCapabilities().logits is False
    assert ModelCapabilities(logits=True).to_json()["logits"] is True
    assert PointsOnly().describe()["capabilities"]["logits"] is False


def test_check_prompts_refuses_logits_without_the_capability() -> None:
    model = PointsOnly()
    embedding = model.embed(np.zeros((4, 5, 3), np.uint8))
    prompt = [Prompt(clicks=(Click(1, 1, True),))]
    assert model.predict(embedding, prompt, True)[0].logits is None
    with pytest.raises(SambenchError, match="'points-only' cannot return full-resolution logits"):
        model.predict(embedding, prompt, True, return_logits=True)


def test_model_output_checks_the_logits_shape() -> None:
    masks = np.zeros((3, 4, 5), bool)
    scores = np.zeros(3, np.float32)
    ok = ModelOutput(masks=masks, iou_predictions=scores, logits=np.zeros((3, 4, 5), np.float32))
    assert ok.logits is not None
    with pytest.raises(ValueError, match="logits shape"):
        ModelOutput(masks=masks, iou_predictions=scores, logits=np.zeros((1, 4, 5), np.float32))
