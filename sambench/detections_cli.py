"""The ``sambench detections`` command: detections files for the ``instances`` task.

::

    sambench detections jitter (--annotations GT.json | --dataset D [--data-root R]) --out FILE
                               [--seed S] [--box-noise F] [--drop P] [--false-boxes N]
                               [--relabel P] [--min-score F]
    sambench detections check FILE [--annotations GT.json]
    sambench detections table5 RUN_DIR [RUN_DIR ...] [--out FILE]

``jitter`` writes a deterministic COCO results file made from ground-truth boxes (see
:func:`sambench.detections.jitter_detections`): a **testing aid** that lets the instance
segmentation task run without a detector, never a detector's numbers. ``check`` validates a
detections file (and, given the ground truth, counts entries whose image or category it does
not know). ``table5`` renders SAM Table 5 with the rows of one or more ``instances`` runs
(for example a COCO and an LVIS run) and the follow-up leaderboard.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sambench.errors import SambenchError


def add_detections_command(commands: Any) -> None:
    """Register ``detections`` and its sub-commands on the CLI's sub-parser collection."""
    parser = commands.add_parser(
        "detections",
        help="detections files for the instances task: jitter (test file), check, table5",
        description="Detector-box files (COCO results format) for instance segmentation.",
    )
    actions = parser.add_subparsers(dest="detections_command", required=True)

    jitter = actions.add_parser(
        "jitter",
        help="TESTING AID: a deterministic detections file made from ground-truth boxes",
        description="Write detector-like boxes made from the ground truth (box noise, scores, "
        "dropped objects, false boxes), so the instances task runs without a detector. A "
        "testing aid: its AP says nothing about any detector.",
    )
    source = jitter.add_mutually_exclusive_group(required=True)
    source.add_argument("--annotations", type=Path, help="COCO-format ground-truth JSON")
    source.add_argument("--dataset", help="a COCO-format dataset by name (its annotation file)")
    jitter.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="with --dataset: folder with one subfolder per dataset "
        "(default: $SAMBENCH_DATA_ROOT or ./data)",
    )
    jitter.add_argument("--out", type=Path, required=True, help="the detections file to write")
    jitter.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    jitter.add_argument(
        "--box-noise",
        type=float,
        default=0.1,
        help="std of each side's shift, relative to the box size (default 0.1)",
    )
    jitter.add_argument(
        "--drop", type=float, default=0.1, help="probability an object is missed (default 0.1)"
    )
    jitter.add_argument(
        "--false-boxes",
        type=float,
        default=1.0,
        help="mean number of false boxes per image (default 1)",
    )
    jitter.add_argument(
        "--relabel", type=float, default=0.0, help="probability of a wrong category (default 0)"
    )
    jitter.add_argument(
        "--min-score",
        type=float,
        default=0.5,
        help="true boxes score IoU x uniform(min-score, 1); false ones below it (default 0.5)",
    )
    jitter.set_defaults(handler=_cmd_jitter)

    check = actions.add_parser("check", help="validate a detections file")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--annotations", type=Path, default=None, help="ground truth to check ids against"
    )
    check.set_defaults(handler=_cmd_check)

    table = actions.add_parser(
        "table5", help="SAM Table 5 with the rows of instances runs and the leaderboard"
    )
    table.add_argument("run_dirs", type=Path, nargs="+")
    table.add_argument("--out", type=Path, default=None, help="write the Markdown here")
    table.set_defaults(handler=_cmd_table5)


def _read_gt(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise SambenchError(f"annotation file {path} not found") from error
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SambenchError(f"{path}: unreadable annotation JSON ({error})") from error
    if not isinstance(loaded, dict) or not isinstance(loaded.get("images"), list):
        raise SambenchError(f"{path}: not a COCO-format annotation file (no 'images' list)")
    return loaded


def _annotation_path(args: argparse.Namespace) -> Path:
    if args.annotations is not None:
        return Path(args.annotations)
    from sambench.data import default_data_root, open_dataset

    dataset = open_dataset(args.dataset, args.data_root or default_data_root())
    path = getattr(dataset, "annotation_path", None)
    if not isinstance(path, Path):
        raise SambenchError(
            f"dataset {args.dataset!r} has no single COCO annotation file; pass --annotations"
        )
    if not path.is_file():
        raise SambenchError(f"dataset {args.dataset!r}: annotation file {path} not found")
    return path


def _cmd_jitter(args: argparse.Namespace) -> int:
    from sambench.detections import JitterOptions, jitter_detections, write_detections

    path = _annotation_path(args)
    try:
        options = JitterOptions(
            seed=args.seed,
            box_noise=args.box_noise,
            drop=args.drop,
            false_boxes=args.false_boxes,
            relabel=args.relabel,
            min_score=args.min_score,
        )
    except ValueError as error:
        raise SambenchError(f"detections jitter: {error}") from error
    try:
        detections = jitter_detections(_read_gt(path), options)
    except (KeyError, TypeError, ValueError) as error:
        raise SambenchError(f"{path}: malformed annotation entry ({error!r})") from error
    write_detections(args.out, detections)
    knobs = ", ".join(f"{k}={v}" for k, v in options.to_json().items())
    print(
        f"wrote {len(detections)} jittered boxes from {path} to {args.out} ({knobs}).\n"
        "TESTING AID: boxes made from the ground truth, not a detector's; "
        "never report their AP as a Table 5 number."
    )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from sambench.detections import load_detections

    detections = load_detections(args.file)
    entries = [d for ds in detections.by_image.values() for d in ds]
    scores = [d.score for d in entries]
    categories = {d.category_id for d in entries}
    print(f"{args.file}: {detections.count} boxes, {len(detections.by_image)} images, "
          f"{len(categories)} categories, sha256 {detections.sha256}")  # fmt: skip
    if scores:
        print(f"scores {min(scores):.4g} .. {max(scores):.4g}")
    if args.annotations is not None:
        gt = _read_gt(args.annotations)
        images = {str(image["id"]) for image in gt["images"]}
        known = {int(c["id"]) for c in gt.get("categories") or []}
        unknown_images = sum(1 for d in entries if d.image_id not in images)
        unknown_categories = sum(1 for d in entries if known and d.category_id not in known)
        covered = len(images & set(detections.by_image))
        print(
            f"against {args.annotations}: {covered}/{len(images)} images have boxes; "
            f"{unknown_images} boxes on unknown images, "
            f"{unknown_categories} with unknown categories"
        )
    return 0


def _cmd_table5(args: argparse.Namespace) -> int:
    from sambench.records import write_text_atomic
    from sambench.scoring import MANIFEST, load_metrics, read_json_object
    from sambench.tasks.instances import render_table5

    runs = []
    for run_dir in args.run_dirs:
        manifest = read_json_object(run_dir / MANIFEST)
        adapter = manifest.get("task", {}).get("adapter")
        if adapter != "instances":
            raise SambenchError(f"{run_dir}: a run of task adapter {adapter!r}, not 'instances'")
        runs.append((str(run_dir), manifest, load_metrics(run_dir)))
    text = render_table5(runs)
    if args.out is not None:
        write_text_atomic(args.out, text)
    print(text)
    return 0


__all__ = ["add_detections_command"]
