"""An example sambench plugin, installed by sambench's tests and shown in the README.

It adds, through entry points only:

- model ``box-as-mask``: the filled prompt box as the mask (the trivial baseline of
  box-prompted segmentation);
- dataset ``example-coco``: any COCO-format folder ``<data-root>/example-coco``;
- task adapter ``box-prompts``: the ground-truth box of every object as the prompt,
  scored by mean IoU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sambench import masks
from sambench.data.coco import CocoDataset
from sambench.metrics.base import Evaluator, MetricValue, mean_with_ci
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.samples import Image, ImageSample
from sambench.tasks.base import Task
from sambench.timing import StageTimer


class BoxAsMask(PromptableModel):
    """Returns the prompt box, filled, as the predicted mask."""

    name = "box-as-mask"
    capabilities = ModelCapabilities(boxes=True)

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
        outputs = []
        for prompt in prompts:
            assert prompt.box is not None
            x0, y0, x1, y1 = (round(v) for v in prompt.box)
            mask = np.zeros((1, embedding.height, embedding.width), dtype=bool)
            mask[0, y0:y1, x0:x1] = True
            outputs.append(ModelOutput(masks=mask, iou_predictions=np.ones(1, np.float32)))
        return outputs


def example_coco(data_root: Path) -> CocoDataset:
    """A COCO-format dataset at ``<data_root>/example-coco``.

    Layout: ``images/`` and ``annotations/instances.json``.
    """
    root = data_root / "example-coco"
    return CocoDataset("example-coco", root, "images", "annotations/instances.json")


class BoxPromptsTask(Task):
    """Ground-truth box prompts, single output, mean IoU per dataset."""

    @dataclass(frozen=True)
    class Params:
        """No knobs."""

    required_capabilities = frozenset({"boxes"})

    def run_sample(
        self,
        model: PromptableModel,
        embedding: ImageEmbedding,
        sample: ImageSample,
        seed: int,
        timer: StageTimer,
    ) -> dict[str, Any]:
        objects = [o for o in sample.objects if not o.iscrowd]
        prompts = [
            Prompt(box=(o.box[0], o.box[1], o.box[0] + o.box[2], o.box[1] + o.box[3]))
            for o in objects
        ]
        with timer.stage("prompt"):
            outputs = model.predict(embedding, prompts, multimask_output=False)
        with timer.stage("metric"):
            ious = [
                masks.iou(masks.encode(out.masks[0]), o.mask)
                for o, out in zip(objects, outputs, strict=True)
            ]
        return {
            "dataset": sample.dataset,
            "image_id": sample.image_id,
            "objects": [
                {"object_id": o.object_id, "iou": i} for o, i in zip(objects, ious, strict=True)
            ],
        }

    def evaluator(self, seed: int) -> Evaluator:
        return MeanIoUEvaluator(seed)


class MeanIoUEvaluator(Evaluator):
    """mIoU over objects, per dataset."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.ious: dict[str, list[float]] = {}

    def reset(self) -> None:
        self.ious = {}

    def process(self, record: Mapping[str, Any]) -> None:
        self.ious.setdefault(record["dataset"], []).extend(o["iou"] for o in record["objects"])

    def evaluate(self) -> list[MetricValue]:
        return [mean_with_ci(v, "mIoU", name, self.seed) for name, v in sorted(self.ious.items())]
