"""Automatic mask generation for any promptable model with points and logits.

:class:`AutomaticMaskGenerator` reproduces ``segment_anything``'s
``SamAutomaticMaskGenerator`` over the model protocol (:mod:`sambench.amg.generator`); the
grid and crop arithmetic is in :mod:`sambench.amg.grids`, the array operations (stability
score, boxes, NMS, clean-up, RLE) in :mod:`sambench.amg.ops`. ``sambench amg`` is the
command line (:mod:`sambench.amg_cli`).
"""

from sambench.amg.generator import (
    SAM2_DEFAULTS,
    SAM_DEFAULTS,
    AmgParams,
    AutomaticMaskGenerator,
    MaskRecord,
    check_model,
    generate_masks,
)

__all__ = [
    "SAM2_DEFAULTS",
    "SAM_DEFAULTS",
    "AmgParams",
    "AutomaticMaskGenerator",
    "MaskRecord",
    "check_model",
    "generate_masks",
]
