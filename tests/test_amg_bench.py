"""Speed: sambench's generator against SamAutomaticMaskGenerator, side by side (``-m bench``).

The full comparison with a report is ``benchmarks/bench_amg.py``; this case checks, on one
small image, that the outputs are identical and that ours is faster at equal output.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from segment_anything import SamAutomaticMaskGenerator  # noqa: E402

from sambench.amg import AmgParams, AutomaticMaskGenerator  # noqa: E402
from sambench.models.sam import SegmentAnything  # noqa: E402
from tests.test_amg import assert_same, blob_sam  # noqa: E402
from tests.test_sam_adapter import micro_sam, smooth_image  # noqa: E402

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("build", [micro_sam, blob_sam], ids=["micro", "blob"])
def test_faster_than_official_at_equal_output(build: Any) -> None:
    module = build()
    image = smooth_image(240, 320, seed=9)
    knobs = {"points_per_side": 16, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    official = SamAutomaticMaskGenerator(module, output_mode="coco_rle", **knobs)
    ours = AutomaticMaskGenerator(
        SegmentAnything.from_module(module, device="cpu"), AmgParams(rle_device="cpu", **knobs)
    )
    official.generate(image[:64, :64])
    ours.generate(image[:64, :64])
    t_official, t_ours = [], []
    for _ in range(3):
        start = time.perf_counter()
        theirs = official.generate(image)
        t_official.append(time.perf_counter() - start)
        start = time.perf_counter()
        mine = ours.generate(image)
        t_ours.append(time.perf_counter() - start)
        assert_same(theirs, mine)
    speedup = statistics.median(t_official) / statistics.median(t_ours)
    print(f"official {statistics.median(t_official):.3f} s, ours {statistics.median(t_ours):.3f} s")
    assert speedup > 1.1, f"speed-up only {speedup:.2f}x"
