"""The records store and COCO-file building blocks shared by the mask AP and AR evaluators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sambench.errors import RecordsError
from sambench.metrics.base import MetricValue
from sambench.metrics.coco_records import (
    CocoGroundTruth,
    CocoRecordsEvaluator,
    coco_results,
    malformed_record,
)

MASK = {"size": [4, 4], "counts": "04L4"}


class MaskEvaluator(CocoRecordsEvaluator):
    """The smallest COCO-scored evaluator: records list their ``masks``, no figures."""

    record_kind = "toy"
    list_fields = ("ground_truth", "masks")

    def coco_files(self, dataset: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        built = CocoGroundTruth()
        results: list[dict[str, Any]] = []
        for record in self.dataset_records(dataset):
            with malformed_record(record, "toy record"):
                image = built.add_image(record)
                for obj in record["ground_truth"]:
                    built.add_annotation(obj, image["id"])
                    built.add_category(obj, obj.get("frequency"))
                results += coco_results(record, "masks")
        return built.as_dict(), results

    def evaluate(self) -> list[MetricValue]:
        return []


def toy_record(dataset: str, image_id: str, **fields: Any) -> dict[str, Any]:
    """A record with one object and one predicted mask; ``fields`` replace its own."""
    obj = {"object_id": "a", "category_id": 3, "bbox": [0, 0, 2, 2], "area": 4, "mask": MASK}
    mask = {"category_id": 3, "score": 0.5, "bbox": [0, 0, 2, 2], "mask": MASK}
    record = {"dataset": dataset, "image_id": image_id, "height": 4, "width": 4}
    return {**record, "ground_truth": [obj], "masks": [mask], **fields}


def test_store_keeps_records_by_dataset_in_image_id_order() -> None:
    evaluator = MaskEvaluator()
    for dataset, image_id in (("lvis", "10"), ("coco", "7"), ("lvis", "x"), ("lvis", "9")):
        evaluator.process(toy_record(dataset, image_id))
    assert evaluator.datasets() == ["coco", "lvis"]
    assert [r["image_id"] for r in evaluator.dataset_records("lvis")] == ["9", "10", "x"]
    with pytest.raises(RecordsError, match=r"record \('lvis', '9'\) was processed twice"):
        evaluator.process(toy_record("lvis", "9"))
    evaluator.reset()
    assert evaluator.datasets() == []


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"dataset": "d", "ground_truth": [], "masks": []}, "toy record lacks field 'image_id'"),
        (toy_record("d", "1", masks=None), r"record \('d', '1'\): field 'masks' must be a list"),
        (toy_record("d", "1", ground_truth={}), "field 'ground_truth' must be a list"),
    ],
)
def test_store_refuses_records_without_list_fields(record: Mapping[str, Any], message: str) -> None:
    with pytest.raises(RecordsError, match=message):
        MaskEvaluator().process(record)


def test_coco_files_of_the_records() -> None:
    evaluator = MaskEvaluator()
    evaluator.process(toy_record("d", "2"))
    named = {"object_id": "b", "category_id": 3, "category": "cat", "bbox": [1, 1, 1, 1]}
    second = {**named, "area": 1, "iscrowd": True, "mask": MASK, "frequency": "r"}
    evaluator.process(toy_record("d", "1", ground_truth=[second]))
    gt, results = evaluator.coco_files("d")
    assert gt["images"] == [{"id": 1, "height": 4, "width": 4}, {"id": 2, "height": 4, "width": 4}]
    assert [(a["id"], a["object_id"], a["image_id"], a["iscrowd"]) for a in gt["annotations"]] == [
        (1, "b", 1, 1),
        (2, "a", 2, 0),
    ]
    # the first object of a category names it
    assert gt["categories"] == [{"id": 3, "name": "cat", "frequency": "r"}]
    assert results[0] == {
        "image_id": 1,
        "category_id": 3,
        "segmentation": MASK,
        "score": 0.5,
        "bbox": [0.0, 0.0, 2.0, 2.0],
    }
    assert [r["category_id"] for r in coco_results(toy_record("d", "1"), "masks", 1)] == [1]


def test_malformed_records_name_the_record() -> None:
    broken = toy_record("d", "5", masks=[{"score": 0.5}])
    expected = r"record \('d', '5'\): malformed mask \(KeyError\('category_id'\)\)"
    with pytest.raises(RecordsError, match=expected), malformed_record(broken, "mask"):
        coco_results(broken, "masks")
    with pytest.raises(RecordsError, match="integer image ids, got 'x5'"):
        coco_results(toy_record("d", "x5"), "masks")
