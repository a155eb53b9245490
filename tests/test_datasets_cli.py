"""Dataset cards, ``sambench.data.checks`` and the ``sambench datasets`` command, on the real
samples in ../shared/data and on made copies."""

from __future__ import annotations

import json
import pickle
import shutil
import time
from pathlib import Path

import pytest

from sambench.cli import main
from sambench.data import DATA_ROOT_ENV
from sambench.data.cards import DatasetCard, builtin_cards, load_card
from sambench.data.checks import FOUND, MALFORMED, MISMATCH, MISSING, NOT_RECORDED, VERIFIED, check
from sambench.data.checksums import file_digest
from sambench.data.subsample import read_frozen
from sambench.errors import ConfigError
from tests.conftest import run_cli, shared_data_root

COCO_JSON = "annotations/instances_val2017.json"

# SAM paper Table 7 (sam-protocol.md §1): the cards of the datasets this issue covers
TABLE_7 = {
    "bbbc038": ("BBBC038v1", 227, 10506),
    "timberseg": ("TimberSeg", 220, 2487),
    "lvis": ("LVIS", 945, 9642),
    "zerowaste-f": ("ZeroWaste-f", 2947, 6155),
    "ade20k": ("ADE20K", 302, 10128),
    "ndispark": ("NDISPark", 111, 2577),
    "plittersdorf": ("Plittersdorf", 187, 546),
    "pidray": ("PIDRay", 3733, 8892),
    "trashcan": ("TrashCan", 5936, 9540),
}


@pytest.fixture(scope="module")
def shared() -> Path:
    root = shared_data_root()
    if root is None or not (root / "coco" / COCO_JSON).is_file():
        pytest.skip("real sample data (../shared/data) not available")
    return root


# -- cards ------------------------------------------------------------------------------------


def test_cards_cover_the_issue_and_match_table_7() -> None:
    by_name = {card.name: card for card in builtin_cards()}
    assert set(TABLE_7) | {"coco", "lvis-v1", "bsds500", "synthetic"} <= set(by_name)
    for name, (abbreviation, images, masks) in TABLE_7.items():
        card = by_name[name]
        assert card.abbreviation == abbreviation
        assert card.paper_counts is not None
        assert (card.paper_counts.images, card.paper_counts.masks) == (images, masks)
        assert card.subsample is not None
        assert (card.subsample.threshold, card.subsample.budget) == (15000, 10000)
    for card in by_name.values():
        assert card.annotation_sha256, card.name  # every card lists its annotation labels
        assert card.citation is None or card.citation.startswith("@")
        assert card.source or card.format == "synthetic"


def test_card_checksum_labels_are_the_loaders_labels(tmp_path: Path) -> None:
    for card in builtin_cards():
        if card.format == "synthetic":
            continue  # opening it generates data
        dataset = card.open(tmp_path)
        assert sorted(dataset.annotation_labels()) == sorted(card.annotation_sha256), card.name
        # no official checksum is recorded: none was computed on an official download
        assert set(card.annotation_sha256.values()) == {None}, card.name


def test_cards_pickle_with_the_new_fields() -> None:
    for card in builtin_cards():
        assert pickle.loads(pickle.dumps(card)) == card
        assert json.loads(json.dumps(card.as_dict()))["subsample"] == (
            None if card.subsample is None else card.subsample.as_dict()
        )


CARD = """\
name: demo
title: Demo
abbreviation: DM
format: coco
source: [https://example.org/]
license: CC0
citation: null
split: val2017
layout: {images: val2017, annotations: annotations/instances_val2017.json}
paper_counts: null
conversion: one mask per annotation
download: copy it
"""


def demo_card(tmp_path: Path, extra: str = "") -> DatasetCard:
    path = tmp_path / "cards" / "demo.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(CARD + extra)
    return load_card(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("annotation_sha256: {ann.json: abc}\n", r"value of 'ann.json' must be 64 .* got 'abc'"),
        ("annotation_sha256: {../ann.json: null}\n", r"key '../ann.json' must be a relative"),
        ("annotation_sha256: [a]\n", r"field 'annotation_sha256' must be a mapping"),
        ("subsample: {budget: 0}\n", r"'subsample.budget' must be an integer >= 1"),
        ("subsample: 5\n", r"field 'subsample' must be null or a mapping"),
    ],
)
def test_card_field_errors(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        demo_card(tmp_path, extra)


# -- checks -----------------------------------------------------------------------------------


def test_check_distinguishes_mismatch_from_not_recorded(shared: Path, tmp_path: Path) -> None:
    (tmp_path / "demo").symlink_to(shared / "coco", target_is_directory=True)
    actual = file_digest(shared / "coco", COCO_JSON)
    plain = check(demo_card(tmp_path), tmp_path)
    assert plain.status == FOUND  # a card without the field: the loader's labels, unrecorded
    assert [(c.label, c.status) for c in plain.checksums] == [(COCO_JSON, NOT_RECORDED)]
    unrecorded = check(demo_card(tmp_path, f"annotation_sha256: {{{COCO_JSON}: null}}\n"), tmp_path)
    assert unrecorded.status == FOUND
    assert [(c.actual, c.status) for c in unrecorded.checksums] == [(actual, NOT_RECORDED)]
    good = check(demo_card(tmp_path, f"annotation_sha256: {{{COCO_JSON}: '{actual}'}}\n"), tmp_path)
    assert good.status == FOUND and good.checksums[0].status == VERIFIED
    wrong = "0" * 64
    bad = check(demo_card(tmp_path, f"annotation_sha256: {{{COCO_JSON}: '{wrong}'}}\n"), tmp_path)
    assert bad.status == MISMATCH and not bad.ok
    assert f"{COCO_JSON} has SHA-256 {actual}, the card records {wrong}" in bad.message
    with pytest.raises(ConfigError, match=r"'other\.json', which is not an annotation label"):
        check(demo_card(tmp_path, "annotation_sha256: {other.json: null}\n"), tmp_path)


def test_check_names_the_first_missing_or_bad_file(shared: Path, tmp_path: Path) -> None:
    root = tmp_path / "demo"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    data = json.loads((shared / "coco" / COCO_JSON).read_text())
    first = sorted(data["images"], key=lambda i: i["id"])[0]["file_name"]
    for image in data["images"]:
        if image["file_name"] != first:
            (root / "val2017" / image["file_name"]).symlink_to(
                shared / "coco" / "val2017" / image["file_name"]
            )
    (root / COCO_JSON).write_text(json.dumps(data))
    card = demo_card(tmp_path)
    missing = check(card, tmp_path)
    assert missing.status == MISSING and f"val2017/{first}" in missing.message
    (root / COCO_JSON).write_text('{"images": [')
    broken = check(card, tmp_path)
    assert broken.status == MALFORMED and "instances_val2017.json: invalid JSON" in broken.message
    shutil.rmtree(root / "val2017")
    gone = check(card, tmp_path)
    assert gone.status == MISSING
    assert gone.message == f"{root / 'val2017'} not found ({root} holds: annotations)"


# -- the command ------------------------------------------------------------------------------


def test_check_all_on_shared_data(shared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["datasets", "check", "--all", "--data-root", str(shared)]) == 0
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    assert "coco: found: verified 80 images, 804 masks" in out
    assert "bbbc038: found: verified 40 images, 1669 masks" in out
    assert "bsds500: found: verified 200 images" in out
    assert "no official checksum recorded" in out and "checksum mismatch" not in out
    assert "lvis: missing:" in out and "holds: training" in out  # ade20k's absent split
    assert elapsed < 10, f"check --all took {elapsed:.1f} s"


def test_list_and_info(shared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list", "--data-root", str(shared)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert rows["coco"].endswith("found") and rows["bsds500"].endswith("found")
    assert rows["lvis"].endswith("missing: lvis")
    assert rows["ade20k"].endswith("missing: ade20k/ADE20K_2021_17_01/images/ADE/validation")
    assert main(["datasets", "info", "ade20k", "--data-root", str(shared)]) == 0
    info = capsys.readouterr().out
    for text in ("302 images, 10128 masks", "request_data", "@article{zhou2019semantic",
                 "above 15000 masks", "no official checksum recorded", "Terms of Use"):  # fmt: skip
        assert text in info


def test_data_root_from_the_environment(
    shared: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ROOT_ENV, str(shared))
    assert main(["datasets", "check", "coco", "--deep"]) == 0
    out = capsys.readouterr().out
    assert "coco: found: verified 80 images, 804 masks: every image converted" in out


def test_failing_check_is_one_line_and_exit_2(shared: Path) -> None:
    result = run_cli("datasets", "check", "lvis", "--data-root", str(shared))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"sambench: error: dataset 'lvis' missing: {shared / 'lvis'} not found"
    ]


def test_subsample_and_freeze(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frozen = tmp_path / "bbbc038.json"
    args = ["datasets", "subsample", "bbbc038", "--data-root", str(shared)]
    assert main(args) == 0
    assert "bbbc038: 40 of 40 images, 1669 of 1669 masks (all;" in capsys.readouterr().out
    assert main([*args, "--freeze", str(frozen)]) == 0
    out = capsys.readouterr().out
    assert f"frozen: {frozen}" in out
    assert len(read_frozen(frozen, "bbbc038")) == 40
    data = json.loads(frozen.read_text())
    assert list(data["annotation_sha256"]) == ["stage1_train/*/masks/*.png"]
    assert main(["datasets", "subsample", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
