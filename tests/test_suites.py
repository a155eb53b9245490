"""Suites run over the datasets the user has and report the missing ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sambench.errors import ConfigError, SambenchError
from sambench.suites import load_suite, suite_names
from tests.conftest import run_cli


def test_sa23_lists_the_papers_23_datasets_and_counts() -> None:
    suite = load_suite("sa23")
    assert "sa23" in suite_names()
    assert suite.task == "points"
    assert len(suite.datasets) == 23
    assert sum(e.images or 0 for e in suite.datasets) == 40188  # SAM Table 7 totals
    assert sum(e.masks or 0 for e in suite.datasets) == 172653


def test_a_suite_run_skips_and_reports_missing_datasets(tmp_path: Path) -> None:
    suite = tmp_path / "mine.yaml"
    suite.write_text(
        "name: mine\ntask: points\ndatasets:\n"
        "  - {name: synthetic}\n  - {name: coco}\n  - {name: no-such-dataset}\n"
    )
    out = tmp_path / "run"
    result = run_cli(
        "run", "--suite", str(suite), "--data-root", str(tmp_path / "data"), "--limit", "2",
        "--out", str(out), "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"] == "mine"
    assert [d["name"] for d in manifest["datasets"]] == ["synthetic"]
    absent = {d["name"]: d["reason"] for d in manifest["missing_datasets"]}
    assert set(absent) == {"coco", "no-such-dataset"}
    assert "not found" in absent["coco"]
    assert "Not evaluated (2 missing)" in (out / "report.md").read_text()


def test_without_a_suite_a_missing_dataset_fails(tmp_path: Path) -> None:
    result = run_cli(
        "run", "--dataset", "coco", "--data-root", str(tmp_path), "--out", str(tmp_path / "r")
    )
    assert result.returncode == 2
    assert "coco" in result.stderr


def test_suite_and_dataset_exclude_each_other(tmp_path: Path) -> None:
    result = run_cli("run", "--suite", "sa23", "--dataset", "coco", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "--suite and --dataset exclude each other" in result.stderr


def test_malformed_suites_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: points\ndatasets:\n  - {name: a, size: 3}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: datasets entry 1: unknown field 'size'"):
        load_suite(str(bad))
    bad.write_text("name: x\ndatasets: [{name: a}]\n")
    with pytest.raises(ConfigError, match="missing field 'task'"):
        load_suite(str(bad))
    with pytest.raises(SambenchError, match="unknown suite 'nope'"):
        load_suite("nope")
