"""A third-party package adds a model, a dataset and a task adapter through entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

PLUGIN = REPO / "examples" / "sambench-plugin-example"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, really installed (built and unpacked with its dist-info)."""
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert any(p.name.startswith("sambench_plugin_example-") for p in target.glob("*.dist-info"))
    return target


@pytest.mark.parametrize(
    ("kind", "name"),
    [("models", "box-as-mask"), ("datasets", "example-coco"), ("tasks", "box-prompts")],
)
def test_plugin_entries_are_listed(plugin_path: Path, kind: str, name: str) -> None:
    without = run_cli("list", kind)
    assert without.returncode == 0, without.stderr
    assert name not in without.stdout
    listed = run_cli("list", kind, env={"PYTHONPATH": str(plugin_path)})
    assert listed.returncode == 0, listed.stderr
    lines = dict(line.split("\t", 1) for line in listed.stdout.splitlines())
    assert name in lines
    assert "sambench-plugin-example" in lines[name] or "sambench_plugin_example" in lines[name]


def test_plugin_model_dataset_and_task_run_end_to_end(plugin_path: Path, tmp_path: Path) -> None:
    from sambench.data.synthetic import generate_synthetic

    generate_synthetic(tmp_path / "data" / "example-coco", num_images=3)
    out = tmp_path / "run"
    result = run_cli(
        "run",
        "--task",
        "box-prompts",
        "--model",
        "box-as-mask",
        "--dataset",
        "example-coco",
        "--data-root",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--no-progress",
        env={"PYTHONPATH": str(plugin_path)},
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert [m["name"] for m in metrics] == ["mIoU"]
    assert 0.0 < metrics[0]["value"] < 1.0  # a filled box is never a perfect mask of these shapes
    assert json.loads((out / "manifest.json").read_text())["model"]["name"] == "box-as-mask"
