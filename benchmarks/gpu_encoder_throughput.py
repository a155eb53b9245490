"""Images per second of SAM image encoders, fp32 against bf16 autocast, on one device.

A device check for a GPU machine (``performance.md`` §8 open item): random weights (speed does
not depend on them), batch of B images at 1024², warm-up then timed iterations, torch
synchronised. Prints a Markdown table and writes it to ``--out``.

    python benchmarks/gpu_encoder_throughput.py --variants vit_b vit_h --batch 8 \
        --out reports/gpu-encoder-throughput.md

On a CPU, ``--variants micro --device cpu`` checks that the script runs.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch


def build_encoder(variant: str) -> tuple[Any, int]:
    """The image encoder of a SAM variant (random weights) and its input side."""
    if variant == "micro":
        from sambench.models.sam import build_micro_sam

        sam = build_micro_sam(0)
    else:
        from segment_anything import sam_model_registry

        sam = sam_model_registry[variant](checkpoint=None)
    return sam.image_encoder.eval(), int(sam.image_encoder.img_size)


def images_per_second(
    encoder: Any, side: int, batch: int, dtype: torch.dtype, device: str, iterations: int
) -> float:
    """Measured throughput of ``encoder`` on random input under autocast to ``dtype``."""
    inputs = torch.randn(batch, 3, side, side, device=device)
    autocast = torch.autocast(
        device_type=device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32
    )
    with torch.inference_mode(), autocast:
        for _ in range(2):
            encoder(inputs)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iterations):
            encoder(inputs)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return batch * iterations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["vit_b", "vit_h"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device_name = (
        torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor()
    )
    lines = [
        f"# SAM image encoder throughput on {device_name}",
        "",
        f"`{' '.join(['python', *sys.argv])}`; torch {torch.__version__}, "
        f"batch {args.batch}, {args.iterations} timed iterations after 2 warm-up.",
        "",
        "| encoder | fp32 images/s | bf16 images/s | bf16 / fp32 |",
        "|---|---|---|---|",
    ]
    for variant in args.variants:
        encoder, side = build_encoder(variant)
        encoder = encoder.to(args.device)
        fp32 = images_per_second(
            encoder, side, args.batch, torch.float32, args.device, args.iterations
        )
        bf16 = images_per_second(
            encoder, side, args.batch, torch.bfloat16, args.device, args.iterations
        )
        lines.append(f"| {variant} ({side}²) | {fp32:.1f} | {bf16:.1f} | {bf16 / fp32:.2f} |")
        del encoder
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
