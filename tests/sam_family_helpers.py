"""Helpers shared by the SAM-family adapter tests (segment_anything, sam2, transformers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sambench.outputs import ModelOutput
from sambench.prompts import Prompt


def smooth_image(height: int = 200, width: int = 300, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (random-weight masks are speckled enough without noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 20 + 1, width // 20 + 1, 3)).astype(np.float32)
    rows = np.linspace(0, small.shape[0] - 1, height)
    cols = np.linspace(0, small.shape[1] - 1, width)
    image = np.empty((height, width, 3), np.float32)
    for c in range(3):
        across = np.stack([np.interp(cols, np.arange(small.shape[1]), r) for r in small[:, :, c]])
        image[:, :, c] = np.stack(
            [np.interp(rows, np.arange(small.shape[0]), col) for col in across.T], axis=1
        )
    return image.round().astype(np.uint8)


def predictor_kwargs(prompt: Prompt, low_res: int) -> dict[str, Any]:
    """A prompt as the keyword arguments of ``SamPredictor`` / ``SAM2ImagePredictor.predict``
    (a mask prompt as ``(1, low_res, low_res)`` logits)."""
    kwargs: dict[str, Any] = {}
    if prompt.clicks:
        kwargs["point_coords"] = prompt.point_coords()
        kwargs["point_labels"] = prompt.point_labels()
    if prompt.box is not None:
        kwargs["box"] = np.asarray(prompt.box)
    if prompt.mask_logits is not None:
        kwargs["mask_input"] = prompt.mask_logits.reshape(1, low_res, low_res)
    return kwargs


def assert_outputs_equal(
    outputs: Sequence[ModelOutput],
    prompts: Sequence[Prompt],
    reference: Callable[[Prompt], tuple[np.ndarray, ...]],
    shape: tuple[int, int, int],
    atol: float,
    low_res: int | None = None,
) -> None:
    """Each output equals ``reference(prompt)``'s masks, scores and low-res logits.

    Args:
        shape: ``(K, H, W)`` of the masks.
        low_res: Side of the low-resolution logits, checked when given.
    """
    for prompt, out in zip(prompts, outputs, strict=True):
        masks, scores, logits = reference(prompt)[:3]
        assert out.masks.shape == shape and out.masks.dtype == bool
        assert out.low_res_logits is not None
        if low_res is not None:
            assert out.low_res_logits.shape == (shape[0], low_res, low_res)
        np.testing.assert_array_equal(out.masks, masks.astype(bool))
        np.testing.assert_allclose(out.iou_predictions, scores, rtol=0, atol=atol)
        np.testing.assert_allclose(out.low_res_logits, logits, rtol=0, atol=atol)


def assert_logits_equal(
    out: ModelOutput, logits: np.ndarray, shape: tuple[int, int, int], atol: float
) -> None:
    """``out.logits`` are float32 ``shape`` logits equal to ``logits``; masks are them > 0."""
    assert out.logits is not None and out.logits.dtype == np.float32
    assert out.logits.shape == shape
    np.testing.assert_allclose(out.logits, logits, rtol=0, atol=atol)
    np.testing.assert_array_equal(out.masks, out.logits > 0.0)
