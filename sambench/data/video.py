"""Deterministic choice of video frames for image benchmarks.

The SAM paper evaluates video datasets (OVIS, and the frame-based VISOR, EgoHOS, GTEA,
NDISPark, STREETS) as sets of images and does not say which frames it took. Its counts imply
the rule: OVIS train, fully annotated at 5 fps, lists far more than 15k masks, so App. D.1's
subsampling applies; drawing images "at random until about 10k masks" from **all annotated
frames** gives about 10k masks over roughly 2k frames, which is what Table 7 reports for OVIS
(2,044 frames, 10,011 masks). sambench therefore makes every annotated frame a candidate image
(:class:`FrameChoice` with its defaults) and lets the dataset's seeded subsample
(:mod:`sambench.data.subsample`) pick among them; a frozen list pins the draw.

A card can thin the candidates first (option ``frames``), without any random number:

- ``stride: k`` keeps annotated frames ``offset, offset + k, offset + 2k, ...`` of each video
  (by position among the annotated frames), to avoid near-duplicate neighbours;
- ``per_video: n`` keeps ``n`` frames evenly spread over each video's annotated frames: the
  ones at positions ``floor((i + 0.5) * m / n)`` for ``i < n`` (``m`` annotated frames; all of
  them when ``m <= n``).

>>> FrameChoice().choose(list(range(6)))
[0, 1, 2, 3, 4, 5]
>>> FrameChoice(stride=2, offset=1).choose([0, 5, 10, 15, 20])
[5, 15]
>>> FrameChoice(per_video=2).choose(list(range(10)))
[2, 7]
>>> FrameChoice(per_video=4).choose([3, 4])
[3, 4]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sambench.errors import ConfigError


@dataclass(frozen=True)
class FrameChoice:
    """Which annotated frames of a video become images (module docstring).

    Attributes:
        stride: Keep every ``stride``-th annotated frame (1: all).
        offset: Position of the first kept frame with ``stride`` (0 <= offset < stride).
        per_video: Keep this many evenly spread frames per video (``None``: no limit);
            applied after ``stride``.
    """

    stride: int = 1
    offset: int = 0
    per_video: int | None = None

    def __post_init__(self) -> None:
        if self.stride < 1 or not 0 <= self.offset < self.stride:
            raise ValueError("stride must be >= 1 and 0 <= offset < stride")
        if self.per_video is not None and self.per_video < 1:
            raise ValueError("per_video must be >= 1 or None")

    def choose(self, annotated: Sequence[int]) -> list[int]:
        """The kept frame indices among ``annotated`` (sorted frame indices)."""
        kept = list(annotated)[self.offset :: self.stride]
        if self.per_video is not None and len(kept) > self.per_video:
            m, n = len(kept), self.per_video
            kept = [kept[((2 * i + 1) * m) // (2 * n)] for i in range(n)]
        return kept

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (recorded in loader options and so in prepared-cache keys)."""
        return {"stride": self.stride, "offset": self.offset, "per_video": self.per_video}


def parse_frame_choice(value: object, where: str) -> FrameChoice:
    """A card's ``options.frames``: ``null`` or ``{stride, offset, per_video}``.

    Raises:
        ConfigError: Wrong shape or values (``where`` names the card).
    """
    if value is None:
        return FrameChoice()
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: field 'options.frames' must be null or a mapping")
    unknown = sorted(set(value) - {"stride", "offset", "per_video"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) options.frames.{', '.join(unknown)} "
            "(known: stride, offset, per_video)"
        )
    numbers: dict[str, Any] = {}
    for key, default, minimum, nullable in (
        ("stride", 1, 1, False),
        ("offset", 0, 0, False),
        ("per_video", None, 1, True),
    ):
        number = value.get(key, default)
        if number is None and nullable:
            numbers[key] = None
            continue
        if isinstance(number, bool) or not isinstance(number, int) or number < minimum:
            raise ConfigError(
                f"{where}: field 'options.frames.{key}' must be an integer >= {minimum}"
                f"{' or null' if nullable else ''}, got {number!r}"
            )
        numbers[key] = number
    try:
        return FrameChoice(**numbers)
    except ValueError as error:
        raise ConfigError(f"{where}: field 'options.frames': {error}") from error


__all__ = ["FrameChoice", "parse_frame_choice"]
