"""The one runner: every task, dataset and model goes through :func:`execute`.

For each image of each dataset, the runner loads the image, has the model embed it
once, hands model, embedding and sample to the task adapter, and appends the
adapter's record to this worker's shard. Finished samples are skipped on resume;
samples are split between workers by a hash of their key, so shards written by
several workers merge into the same run a single process would produce.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sambench.data import DATASETS, open_dataset
from sambench.embedding_cache import EmbeddingCache, open_cache
from sambench.errors import MissingFileError, SambenchError
from sambench.metrics.base import MetricValue
from sambench.models import PromptableModel, build_model
from sambench.provenance import environment, sambench_build, utc_now
from sambench.records import ShardWriter, finished_keys, shard_path, write_json_atomic
from sambench.samples import ImageSample
from sambench.scoring import MANIFEST, read_json_object, score_run
from sambench.seeding import derive_seed
from sambench.tasks import TaskConfig, build_task
from sambench.timing import StageTimer

SESSIONS_DIR = "sessions"


@dataclass(frozen=True)
class RunOptions:
    """Everything that defines a run.

    Attributes:
        task: The task config (resolved against the adapter's defaults by the runner).
        datasets: Dataset names; empty means the task config's default datasets.
        model: Registered model name.
        model_options: Keyword options for the model factory (e.g. ``checkpoint``).
        data_root: Folder holding one subfolder per dataset.
        out_dir: The run directory.
        seed: Run seed; every random choice derives from it and a record key.
        limit: Evaluate at most this many images per dataset (the first in loader order).
        shard_index: This worker's shard, ``0 <= shard_index < num_shards``.
        num_shards: Number of workers sharing the run directory.
        progress: Show a progress bar with ETA on standard error.
        suite: The suite the datasets come from (``tasks/suites/<suite>.yaml``), or ``None``.
            A suite run skips the datasets that are not registered or not present under
            ``data_root``, and records them in the manifest, instead of failing.
        cache_dir: Embedding cache folder shared by runs and tasks (see
            :mod:`sambench.embedding_cache`), or ``None`` for no cache. Only models with a
            :meth:`~sambench.models.base.PromptableModel.cache_identity` use it.
        cache_max_bytes: Size limit of the cache folder (least recently used entries are
            evicted); ``None`` for unlimited.
        cache_fp16: Store cached embeddings in float16 (half the disk; a rounding of the
            embedding, used for hits and misses alike).
    """

    task: TaskConfig
    model: str
    data_root: Path
    out_dir: Path
    datasets: tuple[str, ...] = ()
    model_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    limit: int | None = None
    shard_index: int = 0
    num_shards: int = 1
    progress: bool = True
    suite: str | None = None
    cache_dir: Path | None = None
    cache_max_bytes: int | None = None
    cache_fp16: bool = False


def execute(options: RunOptions, resume: bool = False) -> list[MetricValue]:
    """Run (or resume) a benchmark and write the run directory; returns the metrics.

    Raises:
        SambenchError: bad usage or input (unknown names, missing data, a run
            directory that already holds another run, a model lacking a capability).
            Records written before the error stay on disk; ``resume=True`` continues.
    """
    if not 0 <= options.shard_index < options.num_shards:
        raise SambenchError(f"shard {options.shard_index} is outside 0..{options.num_shards - 1}")
    if options.limit is not None and options.limit < 1:
        raise SambenchError(f"--limit must be at least 1, got {options.limit}")
    task = build_task(options.task)
    resolved = replace(options.task, params=asdict(task.params))
    dataset_names = options.datasets or resolved.datasets
    if not dataset_names:
        raise SambenchError(f"task {resolved.name!r} names no default datasets: pass --dataset")
    model = _build_model(options.model, options.model_options)
    cache = open_cache(options.cache_dir, model, options.cache_max_bytes, options.cache_fp16)
    task.check_model(model, resolved.name)
    samples, described, absent = _load_datasets(dataset_names, options)
    mine = [s for s in samples if _shard_of(s, options.num_shards) == options.shard_index]

    manifest = {
        "run_format": 1,
        "identity": _identity(options, resolved, dataset_names, described),
        "sambench": sambench_build(),
        "command": sys.argv,
        "task": resolved.to_json(),
        "task_config_sha256": resolved.digest(),
        "datasets": described,
        "suite": options.suite,
        "missing_datasets": absent,
        "data_root": str(options.data_root),
        "model": model.describe(),
        "embedding_cache": cache.describe() if cache is not None else None,
        "seed": options.seed,
        "limit": options.limit,
        "shards": options.num_shards,
        "environment": environment(),
        "samples": len(samples),
        "started_at": utc_now(),
        "finished_at": None,
        "status": "running",
    }
    _prepare_run_dir(options.out_dir, manifest, resume)
    records_dir = options.out_dir / "records"
    done = finished_keys(records_dir)
    todo = [s for s in mine if s.key not in done]
    timer = StageTimer()
    started = time.perf_counter()
    manifest_path = options.out_dir / MANIFEST
    try:
        with ShardWriter(
            shard_path(records_dir, options.shard_index, options.num_shards)
        ) as writer:
            bar = tqdm(
                total=len(mine),
                initial=len(mine) - len(todo),
                unit="img",
                desc=resolved.name,
                disable=None if options.progress else True,
                dynamic_ncols=True,
                file=sys.stderr,
            )
            with bar:
                for sample in todo:
                    row = _run_sample(task, model, sample, options.seed, timer, cache)
                    with timer.stage("io"):
                        writer.append(row)
                    bar.update(1)
    except SambenchError as error:
        _record_session(options, manifest_path, manifest, timer, started, len(todo), str(error))
        raise
    _record_session(options, manifest_path, manifest, timer, started, len(todo), None)
    return score_run(options.out_dir)


def _run_sample(
    task: Any,
    model: PromptableModel,
    sample: ImageSample,
    seed: int,
    timer: StageTimer,
    cache: EmbeddingCache | None = None,
) -> dict[str, Any]:
    sample_timer = StageTimer()
    with sample_timer.stage("io"):
        image = sample.load_image()
    cached: str | None = None
    with sample_timer.stage("embed"):
        if cache is None:
            embedding = model.embed(image)
        else:
            embedding, cached = cache.embed(model, image)
    row: dict[str, Any] = task.run_sample(model, embedding, sample, seed, sample_timer)
    row["timing"] = {k: round(v, 6) for k, v in sample_timer.totals().items()}
    if cached is not None:  # hit / miss / recomputed; under timing, outside result comparisons
        row["timing"]["embed_cache"] = cached
    timer.merge(sample_timer)
    return row


def _build_model(name: str, options: Mapping[str, Any]) -> PromptableModel:
    try:
        return build_model(name, **options)
    except TypeError as error:
        given = ", ".join(sorted(options)) or "no options"
        raise SambenchError(f"model {name!r} does not accept {given} ({error})") from error


def _load_datasets(
    names: tuple[str, ...], options: RunOptions
) -> tuple[list[ImageSample], list[dict[str, Any]], list[dict[str, str]]]:
    """The selected samples and manifest descriptions of the named datasets.

    In a suite run, a dataset that is not registered or whose files are missing is listed
    as absent (name and reason) instead of failing; malformed files still fail.
    """
    samples: list[ImageSample] = []
    described: list[dict[str, Any]] = []
    absent: list[dict[str, str]] = []
    for name in names:
        if options.suite is not None and name not in DATASETS.names():
            absent.append({"name": name, "reason": "no dataset card or plugin registered"})
            continue
        dataset = open_dataset(name, options.data_root)
        try:
            selected = list(itertools.islice(dataset.samples(), options.limit))
            described.append(dataset.describe())
        except MissingFileError as error:
            if options.suite is None:
                raise
            absent.append({"name": name, "reason": str(error)})
            continue
        samples += selected
    if not described:
        raise SambenchError(
            f"none of the datasets {', '.join(names)} is present under {options.data_root}"
        )
    return samples, described, absent


def _shard_of(sample: ImageSample, num_shards: int) -> int:
    """The worker a sample belongs to: a hash of its key, independent of order."""
    return derive_seed(0, *sample.key) % num_shards


def _identity(
    options: RunOptions,
    task: TaskConfig,
    dataset_names: tuple[str, ...],
    described: list[dict[str, Any]],
) -> dict[str, Any]:
    """What must not change when a run is resumed or extended by another worker."""
    return {
        "task_config_sha256": task.digest(),
        "datasets": list(dataset_names),
        "annotation_sha256": [d["annotation_sha256"] for d in described],
        "model": options.model,
        "model_options": {k: str(v) for k, v in sorted(options.model_options.items())},
        "seed": options.seed,
        "limit": options.limit,
        "shards": options.num_shards,
    }


def _prepare_run_dir(out_dir: Path, manifest: dict[str, Any], resume: bool) -> None:
    manifest_path = out_dir / MANIFEST
    if manifest_path.exists():
        previous = read_json_object(manifest_path)
        if not resume and previous.get("shards", 1) == 1:
            raise SambenchError(
                f"{out_dir} already holds a run; pass --resume to continue it "
                "or choose another --out"
            )
        for key, value in manifest["identity"].items():
            if previous.get("identity", {}).get(key) != value:
                raise SambenchError(
                    f"{manifest_path}: cannot resume, '{key}' differs "
                    f"(run has {previous.get('identity', {}).get(key)!r}, now {value!r})"
                )
        manifest["started_at"] = previous.get("started_at", manifest["started_at"])
    elif resume and (out_dir / "records").is_dir():
        raise SambenchError(f"{out_dir} has records but no {MANIFEST}; cannot resume it")
    write_json_atomic(manifest_path, manifest)


def _record_session(
    options: RunOptions,
    manifest_path: Path,
    manifest: dict[str, Any],
    timer: StageTimer,
    started: float,
    processed: int,
    error: str | None,
) -> None:
    """Save this process's timing split and update the manifest's totals and status."""
    ended = utc_now()
    session = {
        "shard": options.shard_index,
        "finished_at": ended,
        "samples_processed": processed,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "timings": {k: round(v, 3) for k, v in timer.totals().items()},
        "error": error,
    }
    sessions_dir = options.out_dir / SESSIONS_DIR
    name = f"shard-{options.shard_index:03d}-{ended.replace(':', '')}-{time.time_ns()}.json"
    write_json_atomic(sessions_dir / name, session)
    totals: dict[str, float] = {}
    wall = 0.0
    for path in sorted(sessions_dir.glob("*.json")):
        past = read_json_object(path)
        wall += float(past.get("wall_seconds", 0.0))
        for stage, seconds in past.get("timings", {}).items():
            totals[stage] = round(totals.get(stage, 0.0) + float(seconds), 3)
    records_done = len(finished_keys(options.out_dir / "records"))
    manifest.update(
        timings={**totals, "wall": round(wall, 3)},
        finished_at=ended if error is None else None,
        status="failed"
        if error
        else ("complete" if records_done >= manifest["samples"] else "partial"),
        error=error,
        samples_done=records_done,
    )
    write_json_atomic(manifest_path, manifest)
