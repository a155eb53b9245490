"""What the COCO-scored evaluators share: their records store and COCO-file building blocks.

The instance (:mod:`sambench.metrics.coco_ap`) and proposal (:mod:`sambench.metrics.proposals`)
records carry, per image, the model's masks under a results field (``predictions`` or
``proposals``) and the image's ground truth as the loader read it, in the same format.
:class:`CocoRecordsEvaluator` keeps them, one per ``(dataset, image id)``;
:class:`CocoGroundTruth`, :func:`coco_results` and :func:`malformed_record` turn them into COCO
files; :func:`mean_over_datasets` averages a COCO API figure over datasets.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sambench.errors import RecordsError
from sambench.metrics.base import RecordsEvaluator, record_label


def numeric_id(value: object, what: str) -> int:
    """A COCO id as an integer (``"139"`` → 139); a :class:`RecordsError` otherwise.

    Args:
        value: The id as a record holds it (an integer or a string of digits).
        what: What the id names (``"image id"``), for the error message.

    >>> numeric_id("139", "image id")
    139
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise RecordsError(f"COCO evaluation needs integer {what}s, got {value!r}")


@contextmanager
def malformed_record(record: Mapping[str, Any], what: str) -> Iterator[None]:
    """Report a missing or mistyped field read inside the block as a :class:`RecordsError`.

    Args:
        record: The record being read; the error names it (:func:`record_label`).
        what: What is being read (``"proposal"``), for the message
            ``record ('coco', '139'): malformed proposal (KeyError('mask'))``.
    """
    label = record_label(record)
    try:
        yield
    except (KeyError, TypeError, ValueError) as error:
        raise RecordsError(f"{label}: malformed {what} ({error!r})") from error


@dataclass
class CocoGroundTruth:
    """A COCO-format ground-truth dict, put together image by image and object by object.

    Attributes:
        images: The image entries, in the order added.
        annotations: The annotations, ids numbered from 1 in the order added.
        categories: The category entries by id (the first one added of an id is kept).
    """

    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add_image(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Add a record's image (``id``, ``height``, ``width``) and return its entry.

        Args:
            record: A task record; its ``image_id`` must be numeric (:func:`numeric_id`).
        """
        image: dict[str, Any] = {
            "id": numeric_id(record["image_id"], "image id"),
            "height": int(record["height"]),
            "width": int(record["width"]),
        }
        self.images.append(image)
        return image

    def add_annotation(self, obj: Mapping[str, Any], image_id: int) -> None:
        """Add a ground-truth object as the next annotation (its own id kept as ``object_id``).

        Args:
            obj: An object of a record's ``ground_truth`` (``object_id``, ``category_id``,
                ``mask`` as COCO RLE, ``area``, ``bbox``, optional ``iscrowd``).
            image_id: The id of its image entry.
        """
        category_id = int(obj["category_id"])
        self.annotations.append(
            {
                "id": len(self.annotations) + 1,
                "object_id": str(obj["object_id"]),
                "image_id": image_id,
                "category_id": category_id,
                "segmentation": dict(obj["mask"]),
                "area": float(obj["area"]),
                "bbox": [float(v) for v in obj["bbox"]],
                "iscrowd": int(bool(obj.get("iscrowd", False))),
            }
        )

    def add_category(self, obj: Mapping[str, Any], frequency: str | None = None) -> None:
        """Add a ground-truth object's category unless one of its id is there already.

        Args:
            obj: An object of a record's ``ground_truth`` (``category_id``, optional
                ``category`` name; the id stands in for a missing name).
            frequency: The category's LVIS frequency group (``"r"``, ``"c"``, ``"f"``) to
                record with it; ``None``: none recorded.
        """
        category_id = int(obj["category_id"])
        category = {"id": category_id, "name": str(obj.get("category") or category_id)}
        if frequency is not None:
            category["frequency"] = frequency
        self.categories.setdefault(category_id, category)

    def as_dict(self) -> dict[str, Any]:
        """The COCO ground-truth dict (categories sorted by id)."""
        return {
            "info": {"description": "sambench ground truth (the loader's objects)"},
            "images": self.images,
            "annotations": self.annotations,
            "categories": [self.categories[k] for k in sorted(self.categories)],
        }


def coco_results(
    record: Mapping[str, Any], field: str, category_id: int | None = None
) -> list[dict[str, Any]]:
    """A record's predicted masks as COCO results entries (``segmentation`` as RLE).

    A missing or mistyped field raises the ``KeyError``, ``TypeError`` or ``ValueError``
    of reading it (wrap the call in :func:`malformed_record` to report the record).

    Args:
        record: A task record with a numeric ``image_id``.
        field: The record field listing the masks (``"predictions"``), each with ``mask``
            (COCO RLE), ``score``, ``bbox`` and, unless ``category_id`` is given,
            ``category_id``.
        category_id: The category every entry is scored as (class-agnostic proposals);
            ``None``: each mask's own ``category_id``.
    """
    image_id = numeric_id(record["image_id"], "image id")
    return [
        {
            "image_id": image_id,
            "category_id": int(row["category_id"]) if category_id is None else category_id,
            "segmentation": dict(row["mask"]),
            "score": float(row["score"]),
            "bbox": [float(v) for v in row["bbox"]],
        }
        for row in record[field]
    ]


def mean_over_datasets(
    values: Sequence[float], facts: Mapping[str, Any]
) -> tuple[float, dict[str, Any]]:
    """The unweighted mean of one COCO API figure over datasets, and the facts to report.

    Args:
        values: The figure of each dataset; a negative one (the COCO API's ``-1``) is
            undefined: there is no ground truth in its area range or frequency group.
        facts: What to report beside the figure (``MetricValue.extra``).

    Returns:
        The mean (``nan`` when there is no value or any is undefined) and a copy of
        ``facts``, with ``undefined`` saying why when a value is undefined.

    >>> mean_over_datasets([0.5, -1.0], {"images": 2})
    (nan, {'images': 2, 'undefined': 'no ground truth in this area range or frequency group'})
    """
    info: dict[str, Any] = dict(facts)
    defined = [v for v in values if v >= 0]
    if len(defined) < len(values):
        info["undefined"] = "no ground truth in this area range or frequency group"
    value = float(np.mean(defined)) if defined and len(defined) == len(values) else float("nan")
    return value, info


class CocoRecordsEvaluator(RecordsEvaluator):
    """A :class:`~sambench.metrics.base.RecordsEvaluator` whose records carry the image's
    ``ground_truth`` and the model's masks, scored through COCO files.

    Subclasses name their records (``record_kind``), require ``"ground_truth"`` and the field
    holding the model's masks in ``list_fields``, and build a dataset's COCO files in
    :meth:`coco_files`.
    """

    @abstractmethod
    def coco_files(self, dataset: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(ground truth, results)`` of a dataset in COCO format, as scored.

        Args:
            dataset: A name from :meth:`datasets`.
        """


__all__ = [
    "CocoGroundTruth",
    "CocoRecordsEvaluator",
    "coco_results",
    "malformed_record",
    "mean_over_datasets",
    "numeric_id",
]
