"""``sambench bench``: the timing split and the cache speed-up, measured on the micro SAM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sambench.bench import run_benchmark
from tests.conftest import run_cli

pytest.importorskip("torch")
pytest.importorskip("segment_anything")


def test_bench_command_reports_split_and_cache(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    result = run_cli("bench", "--images", "1", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "outside the model / inside the model" in text
    assert "'hit': 1" in text  # the warm pass read the embedding from the cache
    assert "sambench bench --images 1" in text


def test_gpu_encoder_script_runs_on_cpu(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    out = tmp_path / "encoders.md"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "gpu_encoder_throughput.py"),
            "--variants",
            "micro",
            "--device",
            "cpu",
            "--batch",
            "1",
            "--iterations",
            "1",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=REPO,
    )
    assert "| micro (256²) |" in out.read_text()


@pytest.mark.bench
def test_overhead_around_the_model_is_at_most_ten_percent(tmp_path: Path) -> None:
    """Issue 4's target: with the micro SAM on CPU, click sampling, IoU, mask encoding and
    record writing cost at most 10% of model time."""
    result = run_benchmark(tmp_path, model_options={"device": "cpu"}, images=6)
    print(f"overhead {result.overhead_ratio:.1%}, cache speed-up {result.cache_speedup:.1f}x")
    assert result.cache == {"hit": result.images}
    assert result.overhead_ratio <= 0.10


@pytest.mark.bench
def test_cached_embedding_read(benchmark: Any, tmp_path: Path) -> None:
    """Time of an embedding read from the cache (compare: the cold pass of the bench command)."""
    import numpy as np

    from sambench.embedding_cache import EmbeddingCache
    from sambench.models import build_model

    model = build_model("sam-micro-random", device="cpu")
    cache = EmbeddingCache(tmp_path / "cache", max_bytes=10**9)
    image = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    cache.embed(model, image)  # fill
    benchmark(cache.embed, model, image)
