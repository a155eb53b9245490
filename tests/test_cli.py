"""The command line end to end: the embedded default, resume after SIGKILL, shards, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO, run_cli


def metrics_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


def record_keys(run_dir: Path) -> list[tuple[str, str]]:
    keys = []
    for shard in sorted((run_dir / "records").glob("shard-*.jsonl")):
        keys += [
            (r["dataset"], r["image_id"]) for r in map(json.loads, shard.read_text().splitlines())
        ]
    return keys


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """``sambench run`` with no arguments, in an empty working directory."""
    cwd = tmp_path_factory.mktemp("fresh")
    start = time.perf_counter()
    result = run_cli("run", cwd=cwd)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    (run_dir,) = list((cwd / "runs").iterdir())
    assert f"run directory: runs/{run_dir.name}" in result.stdout
    return run_dir, elapsed


def test_embedded_default_writes_a_complete_run_directory(default_run: tuple[Path, float]) -> None:
    run_dir, elapsed = default_run
    assert elapsed < 60, (
        f"the embedded default must finish in under a minute (took {elapsed:.1f} s)"
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["samples_done"] == manifest["samples"] > 0
    assert manifest["task"]["adapter"] == "points"
    assert manifest["model"]["name"] == "classical"
    assert manifest["datasets"][0]["name"] == "synthetic"
    assert len(manifest["task_config_sha256"]) == 64
    assert set(manifest["timings"]) >= {"embed", "prompt", "metric", "io", "wall"}
    assert manifest["environment"]["libraries"]["numpy"] == np.__version__
    assert manifest["sambench"]["version"]
    names = {(m["scope"], m["name"]) for m in metrics_of(run_dir)["metrics"]}
    assert {("synthetic", "mIoU@1"), ("suite", "mIoU@1"), ("synthetic", "NoC@90")} <= names
    for metric in metrics_of(run_dir)["metrics"]:
        assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
    report = (run_dir / "report.md").read_text()
    assert "mIoU@1" in report and "Provenance" in report
    assert "![curves](curves.png)" in report
    assert (run_dir / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert len(record_keys(run_dir)) == manifest["samples"]


def test_score_recomputes_the_same_metrics_from_records(
    default_run: tuple[Path, float], tmp_path: Path
) -> None:
    run_dir, _ = default_run
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)
    (copy / "metrics.json").unlink()
    result = run_cli("score", str(copy))
    assert result.returncode == 0, result.stderr
    assert metrics_of(copy) == metrics_of(run_dir)


def test_killed_and_resumed_run_matches_the_uninterrupted_one(
    default_run: tuple[Path, float], tmp_path: Path
) -> None:
    run_dir, elapsed = default_run
    total = len(record_keys(run_dir))
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = np.random.default_rng(int(time.time()))
    for attempt in range(4):  # retry if the kill landed after the run had already finished
        if out.exists():
            subprocess.run(["rm", "-r", str(out)], check=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "sambench.cli", "run", "--out", str(out), "--no-progress"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 0.8) * elapsed / (attempt + 1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if process.returncode == -signal.SIGKILL and len(record_keys(out)) < total:
            break
    else:
        pytest.fail("could not kill the run before it finished")
    partial = (out / "manifest.json").exists() and json.loads((out / "manifest.json").read_text())
    assert not partial or partial["status"] != "complete"

    resumed = run_cli("run", "--resume", "--out", str(out), "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    keys = record_keys(out)
    assert len(keys) == len(set(keys)) == total, "duplicate or missing records after resume"
    assert sorted(keys) == sorted(record_keys(run_dir))
    assert metrics_of(out) == metrics_of(run_dir)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_two_shard_workers_merge_into_the_single_process_result(
    default_run: tuple[Path, float], tmp_path: Path
) -> None:
    run_dir, _ = default_run
    out = tmp_path / "sharded"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sambench.cli",
                "run",
                "--out",
                str(out),
                "--shard",
                f"{i}/2",
                "--no-progress",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    assert len(list((out / "records").glob("shard-*.jsonl"))) == 2
    scored = run_cli("score", str(out))
    assert scored.returncode == 0, scored.stderr
    assert sorted(record_keys(out)) == sorted(record_keys(run_dir))
    assert metrics_of(out)["metrics"] == metrics_of(run_dir)["metrics"]


def test_report_compares_runs(default_run: tuple[Path, float], tmp_path: Path) -> None:
    run_dir, _ = default_run
    result = run_cli(
        "report",
        str(run_dir),
        str(run_dir),
        "--out",
        str(tmp_path / "cmp.md"),
        "--delta-plot",
        str(tmp_path / "delta.png"),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "delta.png").read_bytes().startswith(b"\x89PNG")
    text = (tmp_path / "cmp.md").read_text()
    assert "## suite" in text and text.count("| classical |") >= 2


def test_single_run_report_prints_the_run_report(default_run: tuple[Path, float]) -> None:
    run_dir, _ = default_run
    result = run_cli("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (run_dir / "report.md").read_text().strip()


def test_delta_plot_needs_a_shared_figure(default_run: tuple[Path, float], tmp_path: Path) -> None:
    run_dir, _ = default_run
    line = one_line_error(
        run_cli(
            "report",
            str(run_dir),
            str(run_dir),
            "--delta-plot",
            str(tmp_path / "d.png"),
            "--delta-metric",
            "AP",
        )
    )
    assert "no dataset with figure 'AP'" in line


def test_existing_run_needs_resume(default_run: tuple[Path, float]) -> None:
    run_dir, _ = default_run
    result = run_cli("run", "--out", str(run_dir))
    assert result.returncode == 2
    assert "already holds a run; pass --resume" in result.stderr


def test_resume_with_other_settings_is_refused(default_run: tuple[Path, float]) -> None:
    run_dir, _ = default_run
    result = run_cli("run", "--resume", "--out", str(run_dir), "--seed", "5")
    assert result.returncode == 2
    assert "cannot resume, 'seed' differs" in result.stderr


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unknown_model_is_named(tmp_path: Path) -> None:
    line = one_line_error(run_cli("run", "--model", "nope", "--out", str(tmp_path / "r")))
    assert "unknown model 'nope'" in line and "classical" in line


def test_unknown_task_is_named(tmp_path: Path) -> None:
    line = one_line_error(run_cli("run", "--task", "nope", "--out", str(tmp_path / "r")))
    assert "unknown task 'nope'" in line and "points" in line


def test_malformed_task_config_names_file_and_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("adapter: points\nparams:\n  max_click: 3\n")
    line = one_line_error(run_cli("run", "--task", str(config), "--out", str(tmp_path / "r")))
    assert str(config) in line and "unknown field 'max_click'" in line

    config.write_text("adapter: points\nparams:\n  max_clicks: many\n")
    line = one_line_error(run_cli("run", "--task", str(config), "--out", str(tmp_path / "r")))
    assert str(config) in line and "'max_clicks' must be int" in line

    config.write_text("adapter: points\nparams: [1, 2\n")
    line = one_line_error(run_cli("run", "--task", str(config), "--out", str(tmp_path / "r")))
    assert str(config) in line and "not valid YAML" in line


def test_missing_data_root_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-root"
    line = one_line_error(
        run_cli(
            "run", "--dataset", "coco", "--data-root", str(missing), "--out", str(tmp_path / "r")
        )
    )
    assert str(missing) in line


def test_bad_limit_and_shard_are_refused(tmp_path: Path) -> None:
    line = one_line_error(run_cli("run", "--limit", "0", "--out", str(tmp_path / "r")))
    assert "--limit must be at least 1" in line
    line = one_line_error(run_cli("run", "--shard", "3/2", "--out", str(tmp_path / "r")))
    assert "--shard 3/2" in line


def test_list_shows_builtins() -> None:
    for kind, name in (("models", "classical"), ("tasks", "points"), ("datasets", "synthetic")):
        result = run_cli("list", kind)
        assert result.returncode == 0, result.stderr
        assert name in result.stdout
