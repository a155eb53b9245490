"""Finding and verifying datasets on disk: what ``sambench datasets list`` and ``check`` report.

A dataset is checked in three steps, stopping at the first failure:

1. **layout**: the dataset folder ``<data-root>/<name>`` and every ``layout`` path of its
   card exist (else status ``missing``, naming the first missing path);
2. **annotations**: the loader reads its annotation index and checks that every file it
   references exists (:meth:`~sambench.data.base.IndexedDataset.verify`; no mask is decoded)
   (else status ``malformed``, naming the first missing or bad file); with ``deep``, every
   image is also converted and every image file's header read;
3. **checksums**: the SHA-256 of each annotation label of the card is computed and compared
   with the card's official value: ``verified`` when equal, ``checksum mismatch`` when not
   (the status of the dataset), ``no official checksum recorded`` when the card has none
   (only checksums computed on an official download are recorded, so copies such as test
   samples are never reported as official).

A dataset that passes is ``found``.

:func:`check_suite` checks every dataset of a suite (``sambench datasets check --suite sa23``)
and sorts them into ``present``, ``missing`` (with the page to download it from) and
``wrong`` (present but malformed or not the official copy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image as PILImage

from sambench.data.base import IndexedDataset, VerifyReport
from sambench.data.cards import DatasetCard
from sambench.data.checksums import is_pattern, label_digest
from sambench.data.coco import ImageFile
from sambench.errors import ConfigError, DataError, MissingFileError, SambenchError
from sambench.suites import Suite, SuiteEntry

FOUND = "found"
MISSING = "missing"
MALFORMED = "malformed"
MISMATCH = "checksum mismatch"

VERIFIED = "verified"
NOT_RECORDED = "no official checksum recorded"


@dataclass(frozen=True)
class ChecksumResult:
    """One annotation label's checksum.

    Attributes:
        label: File path or glob pattern relative to the dataset folder.
        actual: The computed SHA-256.
        expected: The card's official SHA-256, or ``None`` when none is recorded.
    """

    label: str
    actual: str
    expected: str | None

    @property
    def status(self) -> str:
        """``verified``, ``checksum mismatch`` or ``no official checksum recorded``."""
        if self.expected is None:
            return NOT_RECORDED
        return VERIFIED if self.actual == self.expected else MISMATCH


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking one dataset.

    Attributes:
        name: The dataset (card) name.
        status: ``found``, ``missing``, ``malformed`` or ``checksum mismatch``.
        message: One line: the first missing or bad file, or a summary when found.
        report: What the loader verified (``None`` unless the annotations were read).
        checksums: Per-label checksums (empty unless computed).
        subsample: A one-line summary of the subsample, when the card has a rule.
        seconds: Wall time of the check.
    """

    name: str
    status: str
    message: str
    report: VerifyReport | None = None
    checksums: tuple[ChecksumResult, ...] = field(default_factory=tuple)
    subsample: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the dataset was found and nothing failed."""
        return self.status == FOUND


def missing_path(card: DatasetCard, data_root: Path) -> Path | None:
    """The dataset folder or the first ``layout`` path that does not exist, else ``None``."""
    root = card.dataset_root(data_root)
    if not root.is_dir():
        return root
    for relative in card.layout.values():
        if not is_pattern(relative) and not (root / relative).exists():
            return root / relative
    return None


def _checksums(card: DatasetCard, root: Path, labels: list[str]) -> tuple[ChecksumResult, ...]:
    return tuple(
        ChecksumResult(label, label_digest(root, label), card.annotation_sha256.get(label))
        for label in labels
    )


def _labels(card: DatasetCard, dataset: object) -> list[str]:
    labels = dataset.annotation_labels() if isinstance(dataset, IndexedDataset) else []
    if isinstance(dataset, IndexedDataset) and card.annotation_sha256:
        extra = sorted(set(card.annotation_sha256) - set(labels))
        if extra:
            raise ConfigError(
                f"{card._where()}: field 'annotation_sha256' lists {extra[0]!r}, which is not "
                f"an annotation label of format {card.format!r} (labels: {', '.join(labels)})"
            )
    return labels


def quick_status(card: DatasetCard, data_root: Path) -> CheckResult:
    """Fast status for listings: layout present, and recorded official checksums compared.

    Annotations are not parsed, and checksums are computed only for labels with an official
    value (so a listing costs a few ``stat`` calls per dataset unless checksums are recorded).
    """
    started = time.perf_counter()
    missing = missing_path(card, data_root)
    if missing is not None:
        return CheckResult(
            card.name, MISSING, _not_found(card, data_root, missing), seconds=_since(started)
        )
    root = card.dataset_root(data_root)
    recorded = [label for label, sha in card.annotation_sha256.items() if sha is not None]
    try:
        sums = _checksums(card, root, recorded)
    except DataError as error:
        return CheckResult(card.name, MISSING, str(error), seconds=_since(started))
    bad = [c for c in sums if c.status == MISMATCH]
    if bad:
        return CheckResult(
            card.name, MISMATCH, _mismatch(bad[0]), checksums=sums, seconds=_since(started)
        )
    note = "checksums verified" if sums else NOT_RECORDED
    return CheckResult(card.name, FOUND, note, checksums=sums, seconds=_since(started))


def check(card: DatasetCard, data_root: Path, *, deep: bool = False) -> CheckResult:
    """Check one dataset: layout, annotations (``deep``: every image converted) and checksums.

    Never raises for problems of the data (they become the result's status); raises
    :class:`~sambench.errors.ConfigError` for a card inconsistent with its loader.
    """
    started = time.perf_counter()
    missing = missing_path(card, data_root)
    if missing is not None:
        return CheckResult(
            card.name, MISSING, _not_found(card, data_root, missing), seconds=_since(started)
        )
    dataset = card.open(data_root)
    labels = _labels(card, dataset)
    if not isinstance(dataset, IndexedDataset):
        sums = _checksums(card, card.dataset_root(data_root), labels)
        return CheckResult(card.name, FOUND, "layout present", checksums=sums)
    try:
        report = dataset.verify()
        if deep:
            report = _deep(dataset)
        summary = _subsample_summary(dataset)
    except DataError as error:
        status = MISSING if isinstance(error, MissingFileError) else MALFORMED
        return CheckResult(card.name, status, str(error), seconds=_since(started))
    try:
        sums = _checksums(card, dataset.root, labels)
    except DataError as error:
        return CheckResult(card.name, MISSING, str(error), report, seconds=_since(started))
    bad = [c for c in sums if c.status == MISMATCH]
    if bad:
        return CheckResult(
            card.name, MISMATCH, _mismatch(bad[0]), report, sums, summary, _since(started)
        )
    masks = "masks not counted (use --deep)" if report.masks is None else f"{report.masks} masks"
    message = f"verified {report.images} images, {masks}: {report.checked}"
    return CheckResult(card.name, FOUND, message, report, sums, summary, _since(started))


def _deep(dataset: IndexedDataset) -> VerifyReport:
    images = 0
    masks = 0
    for sample in dataset.all_samples():
        images += 1
        masks += sum(not obj.iscrowd for obj in sample.objects)
        loader = sample.load_image
        if isinstance(loader, ImageFile):
            try:
                with PILImage.open(loader.path) as handle:
                    size = handle.size
            except (OSError, ValueError) as error:
                raise DataError(f"cannot read image {loader.path}: {error}") from error
            if size != (sample.width, sample.height):
                raise DataError(
                    f"image {loader.path} is {size[0]}x{size[1]} but its annotations say "
                    f"{sample.width}x{sample.height} (width x height)"
                )
    return VerifyReport(images, masks, "every image converted and every image header read")


def _subsample_summary(dataset: IndexedDataset) -> str | None:
    selection = dataset.selection()
    if selection is None:
        return None
    rule = selection.rule
    if selection.source == "all":
        return (
            f"all {selection.total_images} images kept ({selection.total_masks} masks <= "
            f"threshold {rule.threshold})"
        )
    origin = f"frozen list {rule.frozen}" if selection.source == "frozen" else f"seed {rule.seed}"
    return (
        f"{len(selection.image_ids)} of {selection.total_images} images, {selection.masks} of "
        f"{selection.total_masks} masks ({origin}, budget {rule.budget})"
    )


def _not_found(card: DatasetCard, data_root: Path, path: Path) -> str:
    """``<path> not found``, naming what its existing parent holds instead (a wrong split)."""
    message = f"{path} not found"
    if card.format == "synthetic":
        return message + " (generated on first use)"
    parent = path.parent
    if path != card.dataset_root(data_root) and parent.is_dir():
        beside = sorted(entry.name for entry in parent.iterdir() if not entry.name.startswith("."))
        if beside:
            shown = ", ".join(beside[:5]) + (", ..." if len(beside) > 5 else "")
            message += f" ({parent} holds: {shown})"
    return message


def _mismatch(result: ChecksumResult) -> str:
    return (
        f"{result.label} has SHA-256 {result.actual}, the card records {result.expected} "
        "(a different or modified copy)"
    )


def _since(started: float) -> float:
    return time.perf_counter() - started


PRESENT = "present"
WRONG = "wrong"


@dataclass(frozen=True)
class SuiteRow:
    """One dataset of a suite as :func:`check_suite` found it.

    Attributes:
        name: The card name the suite lists.
        abbreviation: The suite's abbreviation (the paper's).
        state: ``present``, ``missing`` or ``wrong``.
        paper_images: Images the paper used (``None``: unknown).
        paper_masks: Masks the paper used.
        detail: One line: what was verified, what is missing, or what is wrong.
        download: Where to get it (the card's first source), for missing datasets.
        result: The full check (``None`` when the name has no card).
    """

    name: str
    abbreviation: str
    state: str
    paper_images: int | None
    paper_masks: int | None
    detail: str
    download: str | None = None
    result: CheckResult | None = None


def check_suite(suite: Suite, data_root: Path, *, deep: bool = False) -> list[SuiteRow]:
    """Check every dataset of ``suite`` under ``data_root`` (never raises for data problems).

    A dataset without a registered card is ``missing`` too (its row says so).
    """
    from sambench.data import DATASETS
    from sambench.data.cards import CardDatasetFactory

    rows = []
    for entry in suite.datasets:

        def row(
            state: str,
            detail: str,
            download: str | None = None,
            result: CheckResult | None = None,
            entry: SuiteEntry = entry,
        ) -> SuiteRow:
            return SuiteRow(
                entry.name, entry.abbreviation, state, entry.images, entry.masks, detail,
                download, result,
            )  # fmt: skip

        factory = DATASETS.get(entry.name) if entry.name in DATASETS.names() else None
        if factory is None:
            rows.append(row(MISSING, "no dataset card or plugin registered"))
            continue
        if not isinstance(factory, CardDatasetFactory):
            rows.append(row(PRESENT, "plugin dataset: registered, not checked"))
            continue
        card = factory.card
        try:
            result = check(card, data_root, deep=deep)
        except SambenchError as error:
            rows.append(row(WRONG, str(error)))
            continue
        if result.status == FOUND:
            rows.append(row(PRESENT, result.message, result=result))
        elif result.status == MISSING:
            source = card.source[0] if card.source else None
            rows.append(row(MISSING, result.message, source, result))
        else:
            rows.append(row(WRONG, f"{result.status}: {result.message}", result=result))
    return rows


__all__ = [
    "FOUND",
    "MALFORMED",
    "MISMATCH",
    "MISSING",
    "NOT_RECORDED",
    "PRESENT",
    "VERIFIED",
    "WRONG",
    "CheckResult",
    "ChecksumResult",
    "SuiteRow",
    "check",
    "check_suite",
    "missing_path",
    "quick_status",
]
