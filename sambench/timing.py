"""Wall-clock split of a run into stages (embed, prompt, metric, io).

>>> timer = StageTimer()
>>> with timer.stage("embed"):
...     pass
>>> sorted(timer.totals()) == ["embed"]
True
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("embed", "prompt", "metric", "io")
"""The stages a run reports: image encoding, prompt decoding, metric computation, disk I/O."""


class StageTimer:
    """Accumulates seconds per named stage."""

    def __init__(self) -> None:
        self._totals: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block and add it to stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._totals[name] = self._totals.get(name, 0.0) + time.perf_counter() - start

    def merge(self, other: StageTimer) -> None:
        """Add another timer's totals to this one's."""
        for name, seconds in other.totals().items():
            self._totals[name] = self._totals.get(name, 0.0) + seconds

    def totals(self) -> dict[str, float]:
        """Seconds per stage so far."""
        return dict(self._totals)
