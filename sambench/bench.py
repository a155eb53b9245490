"""``sambench bench``: where a run's time goes, and what the embedding cache saves.

The benchmark runs the real point-prompt task (``tasks/points.yaml``) through the real
runner on the synthetic dataset twice, sharing an embedding cache:

1. **cold**: every image is encoded; the timing split shows model time (``embed`` +
   ``prompt``) against everything around the model (``metric``: click sampling, IoU, mask
   encoding; ``io``: image decoding and atomic record writing);
2. **warm**: the same images again; every embedding comes from the cache, so ``embed`` is
   the cache-read time.

The default model is ``sam-micro-random`` (random weights, ~10 ms per image on a CPU), which
makes the model as cheap as it gets and so shows the overhead at its largest; any registered
model can be measured instead (``--model sam-vit-h --checkpoint ...``).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sambench.records import load_records
from sambench.runner import RunOptions, execute
from sambench.tasks import resolve_task_config


@dataclass(frozen=True)
class BenchResult:
    """Figures of one benchmark.

    Attributes:
        model: The model measured.
        images: Images evaluated per pass.
        prompts: Model prompts answered per pass (one per object and click).
        cold: Seconds per stage of the cold pass (``embed``, ``prompt``, ``metric``, ``io``).
        warm: Seconds per stage of the warm pass.
        cache: Cache outcomes of the warm pass (``hit``/``miss``/``recomputed`` counts).
    """

    model: str
    images: int
    prompts: int
    cold: Mapping[str, float]
    warm: Mapping[str, float]
    cache: Mapping[str, int]

    @property
    def model_seconds(self) -> float:
        """Cold-pass time inside the model: encoder plus prompt decoder."""
        return self.cold.get("embed", 0.0) + self.cold.get("prompt", 0.0)

    @property
    def overhead_ratio(self) -> float:
        """Cold-pass time outside the model (``metric`` + ``io``) over time inside it."""
        outside = self.cold.get("metric", 0.0) + self.cold.get("io", 0.0)
        return outside / self.model_seconds if self.model_seconds else float("nan")

    @property
    def cache_speedup(self) -> float:
        """Cold ``embed`` time over warm ``embed`` time."""
        warm = self.warm.get("embed", 0.0)
        return self.cold.get("embed", 0.0) / warm if warm else float("inf")


def run_benchmark(
    work_dir: Path,
    model: str = "sam-micro-random",
    model_options: Mapping[str, Any] | None = None,
    images: int = 6,
    seed: int = 0,
) -> BenchResult:
    """Run the cold and warm passes under ``work_dir`` (data, cache, two run directories)."""
    task = resolve_task_config("points")
    passes: dict[str, dict[str, float]] = {}
    for name in ("cold", "warm"):
        out = work_dir / name
        execute(
            RunOptions(
                task=task,
                model=model,
                model_options=dict(model_options or {}),
                data_root=work_dir / "data",
                out_dir=out,
                datasets=("synthetic",),
                seed=seed,
                limit=images,
                progress=False,
                cache_dir=work_dir / "cache",
            )
        )
        manifest = json.loads((out / "manifest.json").read_text())
        passes[name] = {k: v for k, v in manifest["timings"].items() if k != "wall"}
    records = load_records(work_dir / "warm" / "records")
    cache: dict[str, int] = {}
    for record in records:
        outcome = str(record.get("timing", {}).get("embed_cache", "off"))
        cache[outcome] = cache.get(outcome, 0) + 1
    prompts = sum(len(o["steps"]) for r in records for o in r["objects"])
    return BenchResult(
        model=model,
        images=len(records),
        prompts=prompts,
        cold=passes["cold"],
        warm=passes["warm"],
        cache=cache,
    )


def render_markdown(result: BenchResult, command: str) -> str:
    """The benchmark as a Markdown report naming the command and the machine."""
    stages = ("embed", "prompt", "metric", "io")
    lines = [
        f"# sambench bench: {result.model}",
        "",
        f"Produced by `{command}` on {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"Python {platform.python_version()}. Point task (`tasks/points.yaml`) on "
        f"{result.images} synthetic images, {result.prompts} prompts.",
        "",
        "| pass | " + " | ".join(stages) + " |",
        "|---|" + "---|" * len(stages),
        *(
            f"| {name} | " + " | ".join(f"{timings.get(s, 0.0):.3f} s" for s in stages) + " |"
            for name, timings in (("cold", result.cold), ("warm (cached)", result.warm))
        ),
        "",
        f"- outside the model / inside the model (cold): **{result.overhead_ratio:.1%}**",
        f"- embed per image (cold): {result.cold.get('embed', 0.0) / result.images * 1e3:.1f} ms",
        f"- prompts per second (decoder): "
        f"{result.prompts / max(result.cold.get('prompt', 0.0), 1e-9):.0f}",
        f"- embedding cache speed-up (cold embed / warm embed): {result.cache_speedup:.1f}×; "
        f"warm-pass cache outcomes: {dict(sorted(result.cache.items()))}",
        "",
    ]
    return "\n".join(lines)
