"""Prompts a promptable segmenter answers: clicks, boxes, previous mask logits, text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Click:
    """One click in image pixel coordinates (column ``x``, row ``y``).

    Simulated clicks (:mod:`sambench.clicker`) fall on whole pixels and keep ``int``
    coordinates; grid points of the automatic mask generator are sub-pixel ``float`` s.
    Models receive both as floats (:meth:`Prompt.point_coords`).

    >>> Click.from_json(Click(x=3, y=4, positive=True).to_json())
    Click(x=3, y=4, positive=True)
    >>> Click.from_json({"x": 12.5, "y": 0.25, "positive": True}).x
    12.5
    """

    x: float
    y: float
    positive: bool

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "positive": self.positive}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Click:
        return cls(
            x=_coordinate(row["x"]), y=_coordinate(row["y"]), positive=bool(row["positive"])
        )


def _coordinate(value: Any) -> float:
    """A JSON coordinate: whole numbers stay ``int`` (pixel clicks), others ``float``."""
    number = float(value)
    return int(number) if number.is_integer() else number


@dataclass(frozen=True)
class Prompt:
    """A prompt for one object; any combination of fields a model's capabilities allow.

    Attributes:
        clicks: Points with labels (positive = foreground), in click order.
        box: Box ``[x0, y0, x1, y1]`` in image pixels (note: corners, not COCO width/height).
        mask_logits: Low-resolution logits of an earlier prediction, as returned in
            :attr:`sambench.outputs.ModelOutput.low_res_logits`, fed back as a mask prompt.
        text: A free-text description of the object.
    """

    clicks: tuple[Click, ...] = ()
    box: tuple[float, float, float, float] | None = None
    mask_logits: FloatArray | None = None
    text: str | None = None

    def point_coords(self) -> FloatArray:
        """Clicks as an ``(N, 2)`` float array of ``(x, y)``."""
        return np.array([[c.x, c.y] for c in self.clicks], dtype=np.float32).reshape(-1, 2)

    def point_labels(self) -> npt.NDArray[np.int64]:
        """Click labels as an ``(N,)`` array: 1 positive, 0 negative."""
        return np.array([1 if c.positive else 0 for c in self.clicks], dtype=np.int64)

    def to_json(self) -> dict[str, Any]:
        """JSON description for records (mask logits are noted, not stored)."""
        row: dict[str, Any] = {"clicks": [c.to_json() for c in self.clicks]}
        if self.box is not None:
            row["box"] = [float(v) for v in self.box]
        if self.mask_logits is not None:
            row["mask_input"] = True
        if self.text is not None:
            row["text"] = self.text
        return row


def needs(prompts: Sequence[Prompt]) -> set[str]:
    """Capability names (see :class:`sambench.models.base.ModelCapabilities`) a batch uses."""
    used: set[str] = set()
    for prompt in prompts:
        if prompt.clicks:
            used.add("points")
        if prompt.box is not None:
            used.add("boxes")
        if prompt.mask_logits is not None:
            used.add("mask_input")
        if prompt.text is not None:
            used.add("text")
    return used
