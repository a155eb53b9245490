"""Seeded, reproducible subsampling of datasets by image, as the SAM paper did.

The SAM paper (App. D.1) subsampled every dataset with more than 15k masks "for efficient
evaluation": images were drawn at random until they held about 10k masks. It released no list
of the images it drew, so sambench defines its own rule and makes it exactly reproducible:

1. ``masks_per_image`` counts each image's evaluation targets as the dataset's *native
   annotations list them* (non-crowd objects; no mask is decoded), so the count is cheap and
   identical on every machine. Images with no target are never candidates.
2. If the candidates hold at most ``threshold`` masks in total, every image is kept.
3. Otherwise the candidate ids are put in a seeded order, the ascending order of
   ``SHA-256("<seed>:<image id>")`` (a seeded permutation of the sorted ids that depends on
   nothing but the seed and the id: no random-number library, no version drift, and adding
   or removing other images never reorders these), and images are taken in that order until
   the masks taken reach ``budget`` (the image that reaches it is included, so the total is
   ``budget`` plus less than one image's masks).

The same seed and the same annotations therefore give the same image list on every machine
and every sambench version. The chosen list is recorded in each run manifest
(:meth:`Selection.describe`) and can be frozen into a manifest file
(:func:`write_frozen`, ``sambench datasets subsample NAME --freeze``) that a card names in
``subsample.frozen``; a frozen list, when the file exists, overrides the rule.

>>> ids = [f"img{i}" for i in range(6)]
>>> subsample(ids, [5, 5, 5, 5, 5, 5], seed=0, budget=12, threshold=20)
['img2', 'img1', 'img0']
>>> subsample(ids, [5, 5, 5, 5, 5, 5], seed=0, budget=12, threshold=20) == subsample(
...     list(reversed(ids)), [5] * 6, seed=0, budget=12, threshold=20)
True
>>> subsample(ids, [5, 5, 5, 5, 5, 5], seed=1, budget=12, threshold=20)
['img3', 'img1', 'img0']
>>> subsample(ids, [1, 1, 1, 1, 1, 1], seed=0, budget=2, threshold=15)  # under the threshold
['img0', 'img1', 'img2', 'img3', 'img4', 'img5']
>>> seeded_order(["b", "a", "c"], seed=0)
['a', 'c', 'b']
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sambench.errors import ConfigError, DataError
from sambench.resources import data_folder

DEFAULT_THRESHOLD = 15_000
"""Datasets with more masks than this are subsampled (SAM App. D.1)."""

DEFAULT_BUDGET = 10_000
"""Images are drawn until they hold this many masks (SAM App. D.1: "about 10k")."""

FROZEN_FORMAT = 1
"""Version of the frozen-manifest file format written by :func:`write_frozen`."""


@dataclass(frozen=True)
class SubsampleRule:
    """A card's ``subsample`` field.

    Attributes:
        threshold: Subsample only when the dataset holds more masks than this (15000).
        budget: Take images until they hold at least this many masks (10000).
        seed: Seed of the image order (0).
        frozen: A frozen manifest (written by :func:`write_frozen`); when the file exists
            its image list is used instead of the rule. ``None``: no frozen list.
    """

    threshold: int = DEFAULT_THRESHOLD
    budget: int = DEFAULT_BUDGET
    seed: int = 0
    frozen: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form; a frozen list shipped with sambench is named ``datasets/...``
        (machine-independent), any other by its path."""
        return {
            "threshold": self.threshold,
            "budget": self.budget,
            "seed": self.seed,
            "frozen": None if self.frozen is None else _display(self.frozen),
        }


def _display(path: Path) -> str:
    try:
        cards = data_folder("datasets").resolve()
        return f"datasets/{path.resolve().relative_to(cards).as_posix()}"
    except (FileNotFoundError, ValueError):
        return str(path)


def seed_key(seed: int, image_id: str) -> str:
    """The sort key of ``image_id`` in the seeded order: ``SHA-256("<seed>:<image id>")``."""
    return hashlib.sha256(f"{seed}:{image_id}".encode()).hexdigest()


def seeded_order(image_ids: Sequence[str], seed: int) -> list[str]:
    """``image_ids`` (unique) in the seeded order of the module docstring."""
    return sorted(image_ids, key=lambda image_id: (seed_key(seed, image_id), image_id))


def subsample(
    image_ids: Sequence[str],
    masks_per_image: Sequence[int],
    *,
    seed: int,
    budget: int = DEFAULT_BUDGET,
    threshold: int = DEFAULT_THRESHOLD,
) -> list[str]:
    """The image ids the rule keeps, in the order they were drawn.

    Args:
        image_ids: Unique image ids (any order: the result depends only on the set).
        masks_per_image: Masks of each image, aligned with ``image_ids``.
        seed: Seed of the order.
        budget: Stop once the taken images hold at least this many masks.
        threshold: Keep every image (sorted) when the total is at most this.

    Raises:
        ValueError: Lengths differ, an id repeats, a count is negative, or a knob is < 1.
    """
    if len(image_ids) != len(masks_per_image):
        raise ValueError("image_ids and masks_per_image differ in length")
    if len(set(image_ids)) != len(image_ids):
        raise ValueError("image ids must be unique")
    if any(count < 0 for count in masks_per_image):
        raise ValueError("mask counts must be non-negative")
    if budget < 1 or threshold < 1:
        raise ValueError("budget and threshold must be positive")
    counts = {
        image_id: count for image_id, count in zip(image_ids, masks_per_image, strict=True) if count
    }
    if sum(counts.values()) <= threshold:
        return sorted(counts)
    chosen: list[str] = []
    taken = 0
    for image_id in seeded_order(list(counts), seed):
        if taken >= budget:
            break
        chosen.append(image_id)
        taken += counts[image_id]
    return chosen


def ids_digest(image_ids: Sequence[str]) -> str:
    """SHA-256 of the ids, one per line, sorted (identifies an image list compactly)."""
    return hashlib.sha256("".join(f"{i}\n" for i in sorted(image_ids)).encode()).hexdigest()


@dataclass(frozen=True)
class Selection:
    """The images a dataset evaluates after subsampling.

    Attributes:
        image_ids: Chosen ids in the dataset's own order.
        masks: Masks the chosen images hold (native annotation counts).
        total_images: Candidate images before subsampling.
        total_masks: Their masks.
        source: ``"all"`` (at most the threshold: nothing dropped), ``"rule"`` or ``"frozen"``.
        rule: The rule that applied.
    """

    image_ids: tuple[str, ...]
    masks: int
    total_images: int
    total_masks: int
    source: str
    rule: SubsampleRule

    @property
    def subsampled(self) -> bool:
        """Whether images were dropped."""
        return len(self.image_ids) < self.total_images

    def describe(self) -> dict[str, Any]:
        """What the run manifest records: the rule, the counts and the chosen ids.

        The id list is included only when images were dropped (otherwise it is every
        image), always with its :func:`ids_digest`.
        """
        described: dict[str, Any] = {
            "rule": self.rule.as_dict(),
            "source": self.source,
            "images": len(self.image_ids),
            "masks": self.masks,
            "total_images": self.total_images,
            "total_masks": self.total_masks,
            "image_ids_sha256": ids_digest(self.image_ids),
        }
        if self.subsampled:
            described["image_ids"] = list(self.image_ids)
        return described


def select(
    rule: SubsampleRule,
    dataset: str,
    ordered_ids: Sequence[str],
    counts: Mapping[str, int],
) -> Selection:
    """Apply ``rule`` (or its frozen manifest, when the file exists) to a dataset's index.

    Args:
        rule: The card's rule.
        dataset: The dataset name (frozen manifests must name the same dataset).
        ordered_ids: Every image id, in the dataset's order.
        counts: Masks per image id (images with 0 are not candidates).

    Raises:
        DataError: A frozen manifest is unreadable, names another dataset, or lists an
            image the dataset does not have (the copy differs from the frozen one).
    """
    candidates = [image_id for image_id in ordered_ids if counts.get(image_id, 0) > 0]
    total = sum(counts[image_id] for image_id in candidates)
    if rule.frozen is not None and rule.frozen.is_file():
        frozen = read_frozen(rule.frozen, dataset)
        known = set(candidates)
        missing = [image_id for image_id in frozen if image_id not in known]
        if missing:
            raise DataError(
                f"{rule.frozen}: frozen image {missing[0]!r} (and {len(missing) - 1} more) is "
                f"not in this copy of dataset {dataset!r}"
            )
        chosen_set = set(frozen)
        source = "frozen"
    else:
        chosen = subsample(
            candidates,
            [counts[image_id] for image_id in candidates],
            seed=rule.seed,
            budget=rule.budget,
            threshold=rule.threshold,
        )
        chosen_set = set(chosen)
        source = "rule" if len(chosen) < len(candidates) else "all"
    ordered = tuple(image_id for image_id in candidates if image_id in chosen_set)
    return Selection(
        image_ids=ordered,
        masks=sum(counts[image_id] for image_id in ordered),
        total_images=len(candidates),
        total_masks=total,
        source=source,
        rule=rule,
    )


def write_frozen(
    path: Path, dataset: str, selection: Selection, annotation_sha256: Mapping[str, str]
) -> None:
    """Write ``selection`` as a frozen manifest (JSON, atomically).

    The file records the dataset, the rule, the annotation checksums of the copy it was
    drawn from, the counts and the chosen image ids (sorted).
    """
    data = {
        "sambench_frozen_subsample": FROZEN_FORMAT,
        "dataset": dataset,
        "rule": {k: v for k, v in selection.rule.as_dict().items() if k != "frozen"},
        "annotation_sha256": dict(annotation_sha256),
        "images": len(selection.image_ids),
        "masks": selection.masks,
        "total_images": selection.total_images,
        "total_masks": selection.total_masks,
        "image_ids_sha256": ids_digest(selection.image_ids),
        "image_ids": sorted(selection.image_ids),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(json.dumps(data, indent=1) + "\n")
    os.replace(temporary, path)


def read_frozen(path: Path, dataset: str) -> list[str]:
    """The image ids of a frozen manifest written by :func:`write_frozen`.

    Raises:
        DataError: The file is unreadable, not a frozen manifest, names another dataset, or
            its ``image_ids_sha256`` does not match its ids.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: cannot read frozen subsample manifest: {error}") from error
    if not isinstance(data, dict) or data.get("sambench_frozen_subsample") != FROZEN_FORMAT:
        raise DataError(f"{path}: not a sambench frozen subsample manifest (format 1)")
    if data.get("dataset") != dataset:
        raise DataError(f"{path}: frozen for dataset {data.get('dataset')!r}, not {dataset!r}")
    ids = data.get("image_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise DataError(f"{path}: 'image_ids' must be a list of strings")
    if data.get("image_ids_sha256") != ids_digest(ids):
        raise DataError(f"{path}: 'image_ids_sha256' does not match the listed image ids")
    return ids


def parse_rule(value: object, where: str, base: Path | None) -> SubsampleRule | None:
    """A card's ``subsample`` value: ``null`` or ``{threshold, budget, seed, frozen}``.

    ``frozen`` is a path relative to the folder of the card (``base``).

    Raises:
        ConfigError: Wrong shape or values; the message names ``where`` and the field.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: field 'subsample' must be null or a mapping")
    known = ("threshold", "budget", "seed", "frozen")
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) subsample.{', subsample.'.join(unknown)} "
            f"(known: {', '.join(known)})"
        )
    numbers: dict[str, int] = {}
    for key, default, minimum in (
        ("threshold", DEFAULT_THRESHOLD, 1),
        ("budget", DEFAULT_BUDGET, 1),
        ("seed", 0, 0),
    ):
        number = value.get(key, default)
        if isinstance(number, bool) or not isinstance(number, int) or number < minimum:
            raise ConfigError(
                f"{where}: field 'subsample.{key}' must be an integer >= {minimum}, got {number!r}"
            )
        numbers[key] = number
    frozen = value.get("frozen")
    if frozen is not None and (not isinstance(frozen, str) or not frozen.strip()):
        raise ConfigError(f"{where}: field 'subsample.frozen' must be a relative path or null")
    frozen_path = None
    if frozen is not None:
        frozen_path = Path(frozen) if base is None else base / frozen
    return SubsampleRule(frozen=frozen_path, **numbers)


__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_THRESHOLD",
    "Selection",
    "SubsampleRule",
    "ids_digest",
    "parse_rule",
    "read_frozen",
    "seed_key",
    "seeded_order",
    "select",
    "subsample",
    "write_frozen",
]
