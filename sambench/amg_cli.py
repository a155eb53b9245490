"""``sambench amg``: automatic masks for images, one COCO-RLE JSON per image.

Like segment-anything's ``scripts/amg.py`` with ``--convert-to-rle``, for any model with
points and logits::

    sambench amg photo.jpg more/ --model sam-vit-h --checkpoint sam_vit_h_4b8939.pth \\
        --points-per-side 32 --out masks/

writes ``masks/photo.json`` (a list of records: ``segmentation`` as COCO RLE, ``area``,
``bbox``, ``predicted_iou``, ``point_coords``, ``stability_score``, ``crop_box``, exactly the
official generator's fields) for every image (a folder stands for the images in it), and
``masks/amg.json``: the settings, the model's description (checkpoint SHA-256) and timings.
Every knob defaults to ``SamAutomaticMaskGenerator``'s value (``--preset sam2``:
``SAM2AutomaticMaskGenerator``'s).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from sambench.errors import SambenchError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

_KNOBS: tuple[tuple[str, type, str], ...] = (
    ("points_per_side", int, "points per side of the grid on the whole image (32)"),
    ("points_per_batch", int, "points per model call (64; speed and memory only)"),
    ("pred_iou_thresh", float, "keep masks with predicted IoU > this (0.88; SAM 2: 0.8; 0: off)"),
    ("stability_score_thresh", float, "keep masks with stability >= this (0.95; 0: off)"),
    ("stability_score_offset", float, "logit offset of the stability score (1.0)"),
    ("mask_threshold", float, "logit threshold of a mask (0.0)"),
    ("box_nms_thresh", float, "box NMS IoU threshold within a crop (0.7)"),
    ("crop_n_layers", int, "layers of crops beyond the whole image (0)"),
    ("crop_nms_thresh", float, "box NMS IoU threshold across crops (0.7)"),
    ("crop_overlap_ratio", float, "overlap of neighbouring crops (512/1500)"),
    ("crop_n_points_downscale_factor", int, "points per side shrink by this per layer (1)"),
    ("min_mask_region_area", int, "remove holes and islands below this area (0: off)"),
    ("rle_device", str, "where masks are run-length encoded: auto, cpu, cuda (auto)"),
)


def add_amg_command(commands: Any) -> None:
    """Register ``sambench amg`` on the command line's subparsers."""
    from sambench.amg.generator import SAM_DEFAULTS

    amg = commands.add_parser(
        "amg",
        help="automatic masks for images (one COCO-RLE JSON per image)",
        description="Generate masks for everything in images with any model that takes "
        "points and returns logits; defaults are SamAutomaticMaskGenerator's.",
    )
    amg.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="image files or folders")
    amg.add_argument("--model", required=True, help="model name (sambench list models)")
    amg.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint")
    amg.add_argument("--model-config", default=None, metavar="CFG", help="model config (sam2)")
    amg.add_argument("--device", default=None, help="auto (default), cuda, cuda:N, mps or cpu")
    amg.add_argument("--dtype", default=None, choices=("float32", "bfloat16"), help="precision")
    amg.add_argument("--out", type=Path, required=True, help="output folder")
    amg.add_argument(
        "--preset",
        choices=("sam", "sam2"),
        default="sam",
        help="defaults of SamAutomaticMaskGenerator (sam) or SAM2AutomaticMaskGenerator (sam2)",
    )
    for name, kind, text in _KNOBS:
        amg.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=kind,
            default=None,
            help=f"{text}; default {getattr(SAM_DEFAULTS, name)!r} (--preset sam)",
        )
    amg.add_argument(
        "--single-output",
        action="store_true",
        help="one single-output mask per point instead of the three multimask masks",
    )
    amg.set_defaults(handler=_cmd_amg)


def image_paths(inputs: list[Path]) -> list[Path]:
    """The image files named, folders expanded to their images (sorted)."""
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise SambenchError(f"image {path} does not exist")
    if not found:
        raise SambenchError("no images found in " + ", ".join(str(p) for p in inputs))
    stems = [p.stem for p in found]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise SambenchError(f"several images are named {clash[0]!r}; outputs would collide")
    return found


def _cmd_amg(args: argparse.Namespace) -> int:
    from sambench.amg.generator import SAM2_DEFAULTS, SAM_DEFAULTS, AutomaticMaskGenerator
    from sambench.data.coco import load_rgb
    from sambench.models import build_model
    from sambench.provenance import environment, sambench_build
    from sambench.records import write_json_atomic

    paths = image_paths(list(args.images))
    params = SAM2_DEFAULTS if args.preset == "sam2" else SAM_DEFAULTS
    overrides = {
        name: getattr(args, name) for name, _, _ in _KNOBS if getattr(args, name) is not None
    }
    if args.single_output:
        overrides["multimask_output"] = False
    try:
        params = replace(params, **overrides)
    except ValueError as error:
        raise SambenchError(f"sambench amg: {error}") from None
    options: dict[str, Any] = {}
    if args.checkpoint is not None:
        if not args.checkpoint.exists():
            raise SambenchError(f"checkpoint {args.checkpoint} does not exist")
        options["checkpoint"] = args.checkpoint
    for option in ("model_config", "device", "dtype"):
        if getattr(args, option) is not None:
            options[option] = getattr(args, option)
    try:
        model = build_model(args.model, **options)
    except TypeError as error:
        given = ", ".join(sorted(options)) or "no options"
        raise SambenchError(f"model {args.model!r} does not accept {given} ({error})") from None
    generator = AutomaticMaskGenerator(model, params)
    args.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    for path in paths:
        image = load_rgb(path)
        started = time.perf_counter()
        records = generator.generate(image)
        timings[path.name] = round(time.perf_counter() - started, 4)
        counts[path.name] = len(records)
        write_json_atomic(args.out / f"{path.stem}.json", [r.to_json() for r in records])
        print(f"{path}: {len(records)} masks in {timings[path.name]:.2f} s")
    write_json_atomic(
        args.out / "amg.json",
        {
            "sambench": sambench_build(),
            "model": model.describe(),
            "params": {f.name: params.to_json()[f.name] for f in fields(params)},
            "rle_device": generator.rle_device,
            "images": [str(p) for p in paths],
            "masks": counts,
            "seconds": timings,
            "environment": environment(),
        },
    )
    return 0


__all__ = ["add_amg_command", "image_paths"]
