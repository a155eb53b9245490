"""Speed of the BSDS edge evaluator against pyEdgeEval (``nox -s bench``; marked ``bench``).

One real BSDS500 test image, Sobel + edge NMS map, 99 thresholds, one process each; both are
timed in the same session so the speed-up is measured on the same machine and load.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from sambench.data.bsds500 import load_boundaries
from sambench.edges.baselines import sobel_edges
from sambench.edges.evaluation import evaluate_image, rpf
from tests.conftest import shared_data_root

pytestmark = pytest.mark.bench

IMAGE = "100007"


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, list[np.ndarray]]:
    import cv2

    root = shared_data_root()
    data = None if root is None else root / "bsds500/BSR/BSDS500/data"
    if data is None or not data.is_dir():
        pytest.skip("real BSDS500 sample not available")
    rgb = cv2.cvtColor(cv2.imread(str(data / "images/test" / f"{IMAGE}.jpg")), cv2.COLOR_BGR2RGB)
    edges = np.rint(sobel_edges(rgb) * 255) / 255.0  # as read back from an 8-bit PNG
    return edges, load_boundaries(Path(data / "groundTruth/test" / f"{IMAGE}.mat"))


def test_bench_sambench_evaluate_image(benchmark, case) -> None:  # type: ignore[no-untyped-def]
    edges, gts = case
    counts = benchmark.pedantic(evaluate_image, args=(edges, gts, 99), rounds=1, iterations=1)
    assert counts.cnt_r.shape == (99,)


def test_bench_pyedgeeval_and_speed_up(benchmark, case) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("prettytable")
    evaluate = pytest.importorskip(
        "pyEdgeEval.common.binary_label.evaluate_boundaries"
    ).evaluate_boundaries_threshold_multiple_gts
    edges, gts = case
    thresholds = np.linspace(1 / 100, 99 / 100, 99)
    started = time.perf_counter()
    ours = evaluate_image(edges, gts, 99)
    ours_seconds = time.perf_counter() - started
    ref = benchmark.pedantic(
        evaluate, args=(thresholds, edges, [g.astype(np.uint8) for g in gts]), rounds=1,
        iterations=1,
    )  # fmt: skip
    ref_seconds = benchmark.stats.stats.mean
    benchmark.extra_info["sambench_seconds"] = ours_seconds
    benchmark.extra_info["speed_up"] = ref_seconds / ours_seconds
    _, _, f_ours = rpf(ours.cnt_r, ours.sum_r, ours.cnt_p, ours.sum_p)
    _, _, f_ref = rpf(*ref)
    assert np.abs(f_ours - f_ref).max() < 0.01
    # over 100x on a quiet machine with two processes (reports/edges-benchmark.md); the
    # product target is 20x, which one image on one process must clear too
    assert ref_seconds / ours_seconds >= 20
