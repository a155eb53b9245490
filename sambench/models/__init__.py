"""Model registry. Plugins add models through the ``sambench.models`` entry point group."""

from __future__ import annotations

from typing import Any

from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.registry import Registry

MODELS: Registry[PromptableModel] = Registry(
    "model",
    entry_point_group="sambench.models",
    # The SAM-family adapters import torch only when a model is built, so listing works
    # on an install without the [sam], [sam2] or [hf] extras.
    builtin_modules=(
        "sambench.models.classical",
        "sambench.models.sam",
        "sambench.models.sam2_image",
        "sambench.models.hf",
        # edge detectors (edges capability) for the edge-detection task
        "sambench.edges.baselines",
        "sambench.edges.hed",
    ),
)


def build_model(name: str, **options: Any) -> PromptableModel:
    """Instantiate the model registered as ``name`` with keyword ``options``."""
    return MODELS.get(name)(**options)


__all__ = ["MODELS", "ImageEmbedding", "ModelCapabilities", "PromptableModel", "build_model"]
