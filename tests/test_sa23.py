"""The SA-23 suite over whatever subset a user has: every listed dataset has a card, ``datasets
check --suite sa23`` tables present / missing (with the download page) / wrong, and ``run
--suite sa23`` evaluates the present ones and reports the rest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from sambench.data.cards import builtin_cards
from sambench.data.checks import MISSING, PRESENT, WRONG, check_suite
from sambench.suites import load_suite
from tests.conftest import run_cli

SA23 = load_suite("sa23")


def test_every_sa23_dataset_has_a_card_with_the_papers_counts() -> None:
    cards = {card.name: card for card in builtin_cards()}
    for entry in SA23.datasets:
        card = cards[entry.name]
        assert card.abbreviation == entry.abbreviation, entry.name
        assert card.paper_counts is not None
        assert (card.paper_counts.images, card.paper_counts.masks) == (entry.images, entry.masks)
        assert card.source, entry.name


def write_doors(root: Path) -> None:
    images, masks = root / "doors/Segmentation/DS1/DS/img", root / "doors/Segmentation/DS1/DS/mask"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    rng = np.random.default_rng(0)
    boulder = np.zeros((32, 32), dtype=np.uint8)
    boulder[8:24, 10:22] = 255
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(images / "b 1.png")
    Image.fromarray(boulder).save(masks / "b 1.png")


def write_wrong_dram(root: Path) -> None:
    (root / "dram/DRAM_processed/test/monet").mkdir(parents=True)
    (root / "dram/DRAM_processed/labels/monet").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "dram/DRAM_processed/test/monet/a.jpg")
    Image.new("L", (8, 8)).save(root / "dram/DRAM_processed/labels/monet/b.png")  # no pair


def test_check_suite_table(tmp_path: Path) -> None:
    write_doors(tmp_path)
    write_wrong_dram(tmp_path)
    rows = {row.name: row for row in check_suite(SA23, tmp_path)}
    assert len(rows) == 23
    assert rows["doors"].state == PRESENT and "verified 1 images" in rows["doors"].detail
    assert rows["dram"].state == WRONG and "malformed" in rows["dram"].detail
    assert rows["ovis"].state == MISSING and rows["ovis"].download == "https://songbai.site/ovis/"
    assert sum(row.state == MISSING for row in rows.values()) == 21
    result = run_cli("datasets", "check", "--suite", "sa23", "--data-root", str(tmp_path))
    assert result.returncode == 2  # one dataset is wrong
    assert "suite sa23: 1 present, 21 missing, 1 wrong of 23" in result.stdout
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "download: https://cbs.ic.gatech.edu/fpv/" in lines["gtea"]
    assert "missing" in lines["gtea"] and "present" in lines["doors"]
    assert "dataset 'dram' is wrong" in result.stderr


def test_run_suite_over_the_subset_present(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_doors(data)
    out = tmp_path / "run"
    result = run_cli("run", "--suite", "sa23", "--data-root", str(data), "--limit", "1",
                     "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [d["name"] for d in manifest["datasets"]] == ["doors"]
    absent = {d["name"] for d in manifest["missing_datasets"]}
    assert absent == {e.name for e in SA23.datasets} - {"doors"}
    assert "Not evaluated (22 missing)" in (out / "report.md").read_text()
