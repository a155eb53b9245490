"""The ``sambench`` command line.

Exit status 0 on success, 2 on bad usage or bad input with a one-line message
naming the problem (missing data root, unknown model, malformed config: which
field, which file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sambench import __version__
from sambench.errors import SambenchError

DEFAULT_TASK = "points"
DEFAULT_MODEL = "classical"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sambench`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except SambenchError as error:
        print(f"sambench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "sambench: interrupted; finished samples are saved, rerun with --resume",
            file=sys.stderr,
        )
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sambench",
        description="Benchmark and zero-shot evaluation of promptable segmentation models.",
    )
    parser.add_argument("--version", action="version", version=f"sambench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run a task (no arguments: the embedded default, offline)",
        description="Run a task over datasets with a model and write a run directory.",
    )
    run.add_argument(
        "--task",
        default=None,
        help=f"task config name, YAML path or adapter name (default: {DEFAULT_TASK})",
    )
    run.add_argument(
        "--dataset",
        action="append",
        default=None,
        metavar="D",
        help="dataset name; repeat for several (default: the task's datasets)",
    )
    run.add_argument(
        "--suite",
        default=None,
        help="run a suite of datasets (e.g. sa23): its task unless --task is given, every "
        "dataset present under --data-root, the missing ones reported",
    )
    run.add_argument("--model", default=None, help=f"model name (default: {DEFAULT_MODEL})")
    run.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint file")
    run.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder with one subfolder per dataset (default: $SAMBENCH_DATA_ROOT or ./data)",
    )
    run.add_argument(
        "--out", type=Path, default=None, help="run directory (default: a fresh folder under runs/)"
    )
    run.add_argument(
        "--limit", type=int, default=None, metavar="N", help="evaluate at most N images per dataset"
    )
    run.add_argument("--seed", type=int, default=None, help="run seed (default 0)")
    run.add_argument(
        "--resume", action="store_true", help="continue the run in --out, skipping finished samples"
    )
    run.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="be worker I of N writing the same --out (0-based)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument(
        "--param",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="override a task-config param (VALUE read as YAML: 3, true, [1, 2]); repeatable",
    )
    run.add_argument(
        "--detections",
        type=Path,
        default=None,
        metavar="FILE",
        help="detector boxes (COCO results JSON) for the instances task: "
        "--param detections=FILE (the file's SHA-256 is recorded)",
    )
    torch_models = run.add_argument_group("SAM-family models (torch)")
    torch_models.add_argument(
        "--model-config",
        default=None,
        metavar="CFG",
        help="model config, e.g. configs/sam2.1/sam2.1_hiera_l.yaml for --model sam2",
    )
    torch_models.add_argument(
        "--device", default=None, help="auto (default), cuda, cuda:N, mps or cpu"
    )
    torch_models.add_argument(
        "--dtype",
        default=None,
        choices=("float32", "bfloat16"),
        help="precision: float32 (default) or bfloat16 autocast",
    )
    torch_models.add_argument(
        "--bf16", dest="dtype", action="store_const", const="bfloat16", help="--dtype bfloat16"
    )
    torch_models.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="embedding cache folder, shared by runs and tasks "
        "(default: $SAMBENCH_CACHE_DIR or ~/.cache/sambench/embeddings)",
    )
    torch_models.add_argument(
        "--cache-max-gb",
        type=float,
        default=None,
        metavar="GB",
        help="embedding cache size limit, least recently used evicted (default 20; 0: no cache)",
    )
    torch_models.add_argument(
        "--cache-fp16", action="store_true", help="store cached embeddings in float16"
    )
    run.set_defaults(handler=_cmd_run)

    listing = commands.add_parser("list", help="list registered tasks, datasets or models")
    listing.add_argument("kind", choices=("tasks", "datasets", "models"))
    listing.set_defaults(handler=_cmd_list)

    score = commands.add_parser("score", help="recompute a run's metrics from its records")
    score.add_argument("run_dir", type=Path)
    score.set_defaults(handler=_cmd_score)

    report = commands.add_parser("report", help="print a report of one run or compare several")
    report.add_argument("run_dirs", type=Path, nargs="+")
    report.add_argument("--out", type=Path, default=None, help="write the Markdown here")
    report.add_argument(
        "--delta-plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="with two runs: per-dataset differences (second − first) as a bar chart",
    )
    report.add_argument(
        "--delta-metric", default="mIoU@1", help="figure compared by --delta-plot (default mIoU@1)"
    )
    report.set_defaults(handler=_cmd_report)

    bench = commands.add_parser(
        "bench",
        help="time a run's stages and the embedding cache (see sambench.bench)",
        description="Run the point task twice (cold, then from the embedding cache) on "
        "synthetic images and report the timing split and the cache speed-up.",
    )
    bench.add_argument("--model", default="sam-micro-random", help="model to measure")
    bench.add_argument("--checkpoint", type=Path, default=None, help="model checkpoint file")
    bench.add_argument("--device", default=None, help="model device (default: auto)")
    bench.add_argument("--images", type=int, default=6, help="synthetic images per pass")
    bench.add_argument("--work-dir", type=Path, default=None, help="keep data and runs here")
    bench.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    bench.set_defaults(handler=_cmd_bench)

    from sambench.data.commands import add_datasets_command
    from sambench.detections_cli import add_detections_command

    add_datasets_command(commands)
    add_detections_command(commands)
    from sambench.edges.commands import add_eval_command, add_models_command

    add_eval_command(commands)
    add_models_command(commands)
    from sambench.amg_cli import add_amg_command

    add_amg_command(commands)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from sambench.data import default_data_root
    from sambench.runner import RunOptions, execute
    from sambench.scoring import MANIFEST, read_json_object, task_config_of
    from sambench.suites import load_suite
    from sambench.tasks import resolve_task_config

    previous: dict[str, Any] = {}
    if args.resume:
        if args.out is None:
            raise SambenchError("--resume needs --out RUN_DIR")
        if (args.out / MANIFEST).exists():
            previous = read_json_object(args.out / MANIFEST)
    identity = previous.get("identity", {})
    suite_name = args.suite or previous.get("suite")
    suite = load_suite(suite_name) if suite_name else None
    if args.suite and args.dataset:
        raise SambenchError("--suite and --dataset exclude each other")
    if args.task is not None:
        task = resolve_task_config(args.task)
    elif previous:
        task = task_config_of(previous, args.out)
    else:
        task = resolve_task_config(suite.task if suite else DEFAULT_TASK)
    task = _override_params(task, args.param or [], args.detections)
    model = args.model or identity.get("model") or DEFAULT_MODEL
    model_options: dict[str, Any] = {}
    if args.checkpoint is not None:
        if not args.checkpoint.exists():  # a file, or a folder for Hugging Face models
            raise SambenchError(f"checkpoint {args.checkpoint} does not exist")
        model_options["checkpoint"] = args.checkpoint
    elif "checkpoint" in identity.get("model_options", {}):
        model_options["checkpoint"] = Path(identity["model_options"]["checkpoint"])
    for option in ("model_config", "device", "dtype"):
        given = getattr(args, option)
        if given is not None:
            model_options[option] = given
        elif option in identity.get("model_options", {}):
            model_options[option] = identity["model_options"][option]
    cache_dir, cache_max_bytes, cache_fp16 = _cache_options(args, previous)
    data_root = args.data_root or (
        Path(previous["data_root"]) if "data_root" in previous else default_data_root()
    )
    shard_index, num_shards = (
        _parse_shard(args.shard) if args.shard else (0, identity.get("shards", 1))
    )
    seed = args.seed if args.seed is not None else identity.get("seed", 0)
    limit = args.limit if args.limit is not None else identity.get("limit")
    if args.dataset:
        datasets = tuple(args.dataset)
    elif suite is not None:
        datasets = tuple(entry.name for entry in suite.datasets)
    else:
        datasets = tuple(identity.get("datasets", ()))
    out = args.out or _fresh_run_dir(task.name, model)
    options = RunOptions(
        task=task,
        model=model,
        model_options=model_options,
        data_root=data_root,
        out_dir=out,
        datasets=datasets,
        seed=seed,
        limit=limit,
        shard_index=shard_index,
        num_shards=num_shards,
        progress=not args.no_progress,
        cache_dir=cache_dir,
        cache_max_bytes=cache_max_bytes,
        cache_fp16=cache_fp16,
        suite=suite.name if suite else None,
    )
    metrics = execute(options, resume=args.resume)
    from sambench.report import metrics_table

    print(metrics_table(metrics))
    print(f"\nrun directory: {out}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import shlex
    import tempfile

    from sambench.bench import render_markdown, run_benchmark
    from sambench.records import write_text_atomic

    options: dict[str, Any] = {}
    if args.checkpoint is not None:
        options["checkpoint"] = args.checkpoint
    if args.device is not None:
        options["device"] = args.device
    with tempfile.TemporaryDirectory(prefix="sambench-bench-") as scratch:
        work_dir = args.work_dir or Path(scratch)
        result = run_benchmark(work_dir, args.model, options, images=args.images)
    text = render_markdown(result, "sambench " + shlex.join(sys.argv[1:]))
    if args.out is not None:
        write_text_atomic(args.out, text)
    print(text)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    if args.kind == "models":
        from sambench.models import MODELS as registry

        for name in registry.names():
            print(f"{name}\t{registry.origin(name)}")
    elif args.kind == "datasets":
        from sambench.data import DATASETS

        for name in DATASETS.names():
            print(f"{name}\t{DATASETS.origin(name)}")
    else:
        from sambench.tasks import TASKS, task_config_names

        for name in task_config_names():
            print(f"{name}\tconfig")
        for name in TASKS.names():
            print(f"{name}\tadapter ({TASKS.origin(name)})")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from sambench.report import metrics_table
    from sambench.scoring import score_run

    print(metrics_table(score_run(args.run_dir)))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from sambench.records import write_text_atomic
    from sambench.report import render_comparison
    from sambench.scoring import MANIFEST, REPORT, load_metrics, read_json_object

    if len(args.run_dirs) == 1:
        report = args.run_dirs[0] / REPORT
        if not report.is_file():
            raise SambenchError(f"{report}: no report; run `sambench score {args.run_dirs[0]}`")
        text = report.read_text()
    else:
        runs = [(str(d), read_json_object(d / MANIFEST), load_metrics(d)) for d in args.run_dirs]
        text = render_comparison(runs)
        if args.delta_plot is not None:
            from sambench.plots import plot_deltas

            if len(runs) != 2:
                raise SambenchError("--delta-plot compares exactly two runs")
            try:
                plot_deltas(
                    runs[0][2],
                    runs[1][2],
                    args.delta_metric,
                    args.delta_plot,
                    labels=(runs[0][0], runs[1][0]),
                )
            except ValueError as error:
                raise SambenchError(str(error)) from error
    if args.out is not None:
        write_text_atomic(args.out, text)
    print(text)
    return 0


def _override_params(task: Any, pairs: Sequence[str], detections: Path | None) -> Any:
    """The task config with ``--param KEY=VALUE`` (YAML values) and ``--detections`` applied."""
    from dataclasses import replace

    import yaml

    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise SambenchError(f"--param must look like KEY=VALUE, got {pair!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise SambenchError(f"--param {key.strip()}: not a YAML value ({error})") from None
    if detections is not None:
        overrides["detections"] = str(detections)
    if not overrides:
        return task
    return replace(task, params={**task.params, **overrides}, source=f"{task.source} + --param")


def _cache_options(
    args: argparse.Namespace, previous: dict[str, Any]
) -> tuple[Path | None, int | None, bool]:
    """Embedding cache folder (``None``: off), size limit in bytes and fp16 storage."""
    from sambench.embedding_cache import DEFAULT_MAX_GB, default_cache_dir

    before = previous.get("embedding_cache") or {}
    max_gb = DEFAULT_MAX_GB if args.cache_max_gb is None else args.cache_max_gb
    if max_gb < 0:
        raise SambenchError(f"--cache-max-gb must be 0 (no cache) or positive, got {max_gb}")
    fp16 = bool(args.cache_fp16 or before.get("fp16", False))
    if max_gb == 0:
        return None, None, fp16
    return args.cache_dir or default_cache_dir(), int(max_gb * 1e9), fp16


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise SambenchError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise SambenchError(f"--shard {text}: need 0 <= I < N")
    return index, count


def _fresh_run_dir(task: str, model: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{task}-{model}-{stamp}"
    candidate, suffix = base, 1
    while candidate.exists():
        suffix += 1
        candidate = base.with_name(f"{base.name}-{suffix}")
    return candidate


if __name__ == "__main__":
    raise SystemExit(main())
