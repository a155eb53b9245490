"""The ``sambench datasets`` command: list, describe, check, subsample and prepare datasets.

::

    sambench datasets list [--data-root R]
    sambench datasets info NAME [--data-root R]
    sambench datasets check NAME | --all | --suite S [--data-root R] [--deep]
    sambench datasets subsample NAME [--data-root R] [--seed S] [--freeze [PATH]]
    sambench datasets prepare NAME [--data-root R] [--cache-dir C]

``--data-root`` defaults to ``$SAMBENCH_DATA_ROOT``, else ``./data``; it holds one folder per
dataset, named as its card. ``check`` exits with status 2 and one line on stderr naming the
first missing or bad file (for ``--all``: when a dataset that is present fails; absent
datasets are listed as missing but are not errors). ``check --suite sa23`` prints one table
row per dataset of the suite, present, missing (with the page to download it from) or wrong,
and exits with status 2 only when one is wrong.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sambench.errors import SambenchError


def add_datasets_command(commands: Any) -> None:
    """Register ``datasets`` and its sub-commands on the CLI's sub-parser collection."""
    parser = commands.add_parser(
        "datasets",
        help="list, describe, check, subsample and prepare datasets",
        description="Find, verify, subsample and prepare the datasets named by the cards.",
    )
    actions = parser.add_subparsers(dest="datasets_command", required=True)

    def with_root(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--data-root",
            type=Path,
            default=None,
            help="folder with one subfolder per dataset (default: $SAMBENCH_DATA_ROOT or ./data)",
        )
        return sub

    listing = with_root(actions.add_parser("list", help="every dataset card with its status"))
    listing.set_defaults(handler=_cmd_list)

    info = with_root(actions.add_parser("info", help="a dataset's card and download steps"))
    info.add_argument("name")
    info.set_defaults(handler=_cmd_info)

    check = with_root(actions.add_parser("check", help="verify layout, annotations, checksums"))
    target = check.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?", default=None)
    target.add_argument("--all", action="store_true", help="check every dataset card")
    target.add_argument(
        "--suite",
        default=None,
        metavar="S",
        help="check the datasets of a suite (e.g. sa23): a table of present, missing, wrong",
    )
    check.add_argument("--deep", action="store_true", help="also convert every image's annotations")
    check.set_defaults(handler=_cmd_check)

    sub = with_root(actions.add_parser("subsample", help="show or freeze the seeded subsample"))
    sub.add_argument("name")
    sub.add_argument("--seed", type=int, default=None, help="override the card's seed")
    sub.add_argument(
        "--freeze",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="write the chosen image list as a frozen manifest (default: the card's path)",
    )
    sub.set_defaults(handler=_cmd_subsample)

    prep = with_root(actions.add_parser("prepare", help="convert to a fast Arrow cache"))
    prep.add_argument("name")
    prep.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache root, one folder per dataset "
        "(default: $SAMBENCH_DATA_CACHE or <data-root>/.sambench-cache)",
    )
    prep.set_defaults(handler=_cmd_prepare)


def _root(args: argparse.Namespace) -> Path:
    from sambench.data import default_data_root

    root: Path = args.data_root or default_data_root()
    return root


def _card(name: str) -> Any:
    from sambench.data import DATASETS
    from sambench.data.cards import CardDatasetFactory

    factory = DATASETS.get(name)
    if not isinstance(factory, CardDatasetFactory):
        raise SambenchError(f"dataset {name!r} comes from a plugin and has no card")
    return factory.card


def _cards() -> list[Any]:
    from sambench.data.cards import builtin_cards

    return builtin_cards()


def _cmd_list(args: argparse.Namespace) -> int:
    from sambench.data.checks import missing_path, quick_status

    root = _root(args)
    rows: list[tuple[str, ...]] = [("name", "abbreviation", "format", "split", "status")]
    for card in _cards():
        result = quick_status(card, root)
        status = result.status
        missing = missing_path(card, root)
        if missing is not None:
            status = f"missing: {_relative(missing, root)}"
        rows.append((card.name, card.abbreviation, card.format, card.split, status))
    _print_table(rows)
    print(f"\ndata root: {root}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from sambench.data.checks import quick_status

    card = _card(args.name)
    root = _root(args)
    dataset_root = card.dataset_root(root)
    status = quick_status(card, root)
    lines = [
        f"{card.name}: {card.title}",
        f"  abbreviation  {card.abbreviation}",
        f"  format        {card.format}",
        f"  split         {card.split}",
    ]
    if card.paper_counts is not None:
        lines.append(
            f"  paper counts  {card.paper_counts.images} images, {card.paper_counts.masks} masks"
        )
    else:
        lines.append("  paper counts  none (not in the SAM paper's Table 7)")
    lines.append(f"  status        {status.status}: {status.message}")
    lines.append("  sources")
    lines += [f"    {url}" for url in card.source] or ["    (none: generated)"]
    lines.append("  license")
    lines += _wrap(card.license)
    lines.append(f"  layout (under {dataset_root})")
    lines += [f"    {role:<18} {path}" for role, path in card.layout.items()]
    lines.append("  annotation checksums (SHA-256)")
    for label, sha in card.annotation_sha256.items():
        lines.append(f"    {label}")
        lines.append(f"      {sha or 'no official checksum recorded'}")
    if not card.annotation_sha256:
        lines.append("    none listed")
    lines.append("  subsample")
    if card.subsample is None:
        lines.append("    none: every image is evaluated")
    else:
        rule = card.subsample
        lines.append(
            f"    above {rule.threshold} masks, by image to about {rule.budget} masks, seed "
            f"{rule.seed}"
        )
        if rule.frozen is not None:
            state = "present, overrides the rule" if rule.frozen.is_file() else "not written yet"
            lines.append(f"    frozen list {rule.frozen} ({state})")
    if card.options:
        lines.append("  options")
        lines += [f"    {key}: {value}" for key, value in card.options.items()]
    lines.append("  conversion")
    lines += _wrap(card.conversion)
    lines.append("  download")
    lines += _wrap(card.download)
    if card.citation:
        lines.append("  citation")
        lines += ["    " + line for line in card.citation.rstrip().splitlines()]
    print("\n".join(lines))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from sambench.data.checks import FOUND, MALFORMED, MISSING, check

    root = _root(args)
    if args.suite is not None:
        return _check_suite(args.suite, root, args.deep)
    cards = _cards() if args.all else [_card(args.name)]
    failures = []
    for card in cards:
        result = check(card, root, deep=args.deep)
        if not args.all and result.status in (MISSING, MALFORMED):
            raise SambenchError(f"dataset {card.name!r} {result.status}: {result.message}")
        print(f"{card.name}: {result.status}: {result.message} ({result.seconds:.2f} s)")
        if result.subsample:
            print(f"  subsample: {result.subsample}")
        for checksum in result.checksums:
            print(f"  {checksum.label}: sha256 {checksum.actual} ({checksum.status})")
        if result.status != FOUND and (not args.all or result.status != MISSING):
            failures.append(result)
    if failures:
        first = failures[0]
        print(f"sambench: error: dataset {first.name!r} {first.status}: {first.message}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0


def _check_suite(name: str, root: Path, deep: bool) -> int:
    from sambench.data.checks import MISSING, PRESENT, WRONG, check_suite
    from sambench.suites import load_suite

    suite = load_suite(name)
    rows = check_suite(suite, root, deep=deep)
    table: list[tuple[str, ...]] = [("dataset", "abbreviation", "paper", "state", "detail")]
    for row in rows:
        paper = (
            "?" if row.paper_images is None else f"{row.paper_images} img / {row.paper_masks} masks"
        )
        detail = row.detail
        if row.state == MISSING and row.download:
            detail = f"download: {row.download} ({row.detail})"
        table.append((row.name, row.abbreviation, paper, row.state, detail))
    _print_table(table)
    counts = {state: sum(r.state == state for r in rows) for state in (PRESENT, MISSING, WRONG)}
    print(
        f"\nsuite {suite.name}: {counts[PRESENT]} present, {counts[MISSING]} missing, "
        f"{counts[WRONG]} wrong of {len(rows)} (data root: {root})"
    )
    if counts[MISSING]:
        print(
            f"`sambench run --suite {suite.name}` evaluates the present ones and reports the rest"
        )
    wrong = [r for r in rows if r.state == WRONG]
    if wrong:
        print(f"sambench: error: dataset {wrong[0].name!r} is wrong: {wrong[0].detail}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0


def _cmd_subsample(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sambench.data.base import IndexedDataset
    from sambench.data.subsample import SubsampleRule, write_frozen

    card = _card(args.name)
    rule = card.subsample or SubsampleRule()
    if args.seed is not None:
        rule = replace(rule, seed=args.seed)
    if args.freeze is not None:
        rule = replace(rule, frozen=None)  # draw afresh from the rule, never from the old list
    dataset = card.open(_root(args))
    if not isinstance(dataset, IndexedDataset):
        raise SambenchError(f"dataset {card.name!r} cannot be subsampled")
    dataset.subsample = rule
    selection = dataset.selection()
    assert selection is not None
    print(
        f"{card.name}: {len(selection.image_ids)} of {selection.total_images} images, "
        f"{selection.masks} of {selection.total_masks} masks ({selection.source}; threshold "
        f"{rule.threshold}, budget {rule.budget}, seed {rule.seed})"
    )
    print(f"image list sha256: {selection.describe()['image_ids_sha256']}")
    if card.subsample is None:
        print("note: the card has no subsample rule; runs evaluate every image")
    if args.freeze is not None:
        target = Path(args.freeze) if args.freeze else (card.subsample and card.subsample.frozen)
        if not target:
            raise SambenchError(
                f"dataset {card.name!r}: the card names no frozen path; pass --freeze PATH"
            )
        write_frozen(Path(target), card.name, selection, dataset.annotation_sha256())
        print(f"frozen: {target}")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from sambench.data.base import IndexedDataset
    from sambench.data.prepare import default_cache_root, prepare

    card = _card(args.name)
    root = _root(args)
    dataset = card.open(root)
    if not isinstance(dataset, IndexedDataset):
        raise SambenchError(f"dataset {card.name!r} cannot be prepared")
    cache_root = args.cache_dir or default_cache_root(root)
    report = prepare(dataset, cache_root / card.name)
    print(
        f"{card.name}: prepared {report.images} images, {report.objects} objects in "
        f"{report.seconds:.1f} s -> {report.path}"
    )
    if cache_root != default_cache_root(root):
        print(f"runs read it when SAMBENCH_DATA_CACHE={cache_root} is set")
    return 0


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _wrap(text: str, width: int = 78) -> list[str]:
    return textwrap.wrap(
        text, width, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
    )


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


__all__ = ["add_datasets_command"]
