"""The COCO loader on real COCO val2017 annotations, on hand-made files, and the dataset cards."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sambench import masks
from sambench.data import DATASETS, open_dataset
from sambench.data import coco as coco_module
from sambench.data.cards import CardDatasetFactory, DatasetCard, builtin_cards, load_card
from sambench.data.coco import CocoDataset
from sambench.errors import ConfigError, DataError
from tests.conftest import shared_data_root as find_shared_data

COCO_JSON = "annotations/instances_val2017.json"


@pytest.fixture(scope="module")
def shared_data_root() -> Path:
    """``$SAMBENCH_SHARED_DATA`` or ``../shared/data`` (see conftest); skips when absent."""
    root = find_shared_data()
    if root is None or not (root / "coco" / COCO_JSON).is_file():
        pytest.skip(f"real COCO sample not found (looked in {root or '../shared/data'})")
    return root


@pytest.fixture(scope="module")
def coco_json(shared_data_root: Path) -> dict[str, Any]:
    with (shared_data_root / "coco" / COCO_JSON).open() as handle:
        data: dict[str, Any] = json.load(handle)
    return data


@pytest.fixture(scope="module")
def coco(shared_data_root: Path) -> CocoDataset:
    return CocoDataset("coco", shared_data_root / "coco", "val2017", COCO_JSON)


# -- real COCO ----------------------------------------------------------------------------------


def test_counts_match_the_json(coco: CocoDataset, coco_json: dict[str, Any]) -> None:
    samples = list(coco.samples())
    objects = [obj for sample in samples for obj in sample.objects]
    non_crowd_images = {a["image_id"] for a in coco_json["annotations"] if not a["iscrowd"]}
    assert len(samples) == len(non_crowd_images) == 80
    assert len(objects) == len(coco_json["annotations"]) == 815
    assert sum(obj.iscrowd for obj in objects) == 11
    assert len({obj.object_id for obj in objects}) == 815


def test_order_ids_boxes_and_categories(coco: CocoDataset, coco_json: dict[str, Any]) -> None:
    samples = list(coco.samples())
    image_ids = [int(sample.image_id) for sample in samples]
    assert image_ids == sorted(image_ids)
    by_id = {a["id"]: a for a in coco_json["annotations"]}
    categories = {c["id"]: c["name"] for c in coco_json["categories"]}
    images = {i["id"]: i for i in coco_json["images"]}
    for sample in samples:
        entry = images[int(sample.image_id)]
        assert (sample.height, sample.width) == (entry["height"], entry["width"])
        assert sample.file_name == f"val2017/{entry['file_name']}"
        assert sample.dataset == "coco"
        ids = [int(obj.object_id) for obj in sample.objects]
        assert ids == sorted(ids)
        for obj in sample.objects:
            ann = by_id[int(obj.object_id)]
            assert ann["image_id"] == int(sample.image_id)
            assert obj.box == pytest.approx(tuple(ann["bbox"]))
            assert obj.category_id == ann["category_id"]
            assert obj.category == categories[ann["category_id"]]
            assert obj.mask["size"] == [sample.height, sample.width]
            assert obj.area == masks.area(obj.mask) > 0


def test_polygon_area_is_close_to_coco_area(coco: CocoDataset, coco_json: dict[str, Any]) -> None:
    by_id = {a["id"]: a for a in coco_json["annotations"]}
    ratios = []
    for sample in coco.samples():
        for obj in sample.objects:
            ann = by_id[int(obj.object_id)]
            if isinstance(ann["segmentation"], list) and ann["area"] >= 1000:
                ratios.append(obj.area / ann["area"])
                # the mask's box agrees with COCO's (polygon) box to a few pixels
                assert np.allclose(masks.bbox(obj.mask), ann["bbox"], atol=4.0)
    assert len(ratios) > 300
    assert all(abs(ratio - 1) < 0.05 for ratio in ratios)
    assert float(np.median(ratios)) == pytest.approx(1.0, abs=0.005)


def test_crowd_annotations_are_flagged_and_exact(
    coco: CocoDataset, coco_json: dict[str, Any]
) -> None:
    crowd = {a["id"]: a for a in coco_json["annotations"] if a["iscrowd"]}
    found = {
        int(obj.object_id): obj
        for sample in coco.samples()
        for obj in sample.objects
        if obj.iscrowd
    }
    assert set(found) == set(crowd)
    for ann_id, obj in found.items():
        counts = crowd[ann_id]["segmentation"]["counts"]
        assert isinstance(counts, list)  # uncompressed RLE
        # the area is the mask's pixel count (odd runs); COCO's crowd `area` field is often
        # larger (it was not computed from the RLE), which is why loaders must not use it
        assert obj.area == sum(counts[1::2])
        assert obj.box == pytest.approx(tuple(crowd[ann_id]["bbox"]))


def test_load_image(coco: CocoDataset) -> None:
    sample = next(iter(coco.samples()))
    image = sample.load_image()
    assert image.dtype == np.uint8
    assert image.shape == (sample.height, sample.width, 3)


def test_json_is_read_once_and_lazily(
    shared_data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = coco_module._read_index

    def counting(path: Path) -> Any:
        calls.append(path)
        return original(path)

    monkeypatch.setattr(coco_module, "_read_index", counting)
    dataset = CocoDataset("coco", shared_data_root / "coco", "val2017", COCO_JSON)
    assert calls == []
    assert len(list(dataset.samples())) == len(list(dataset.samples()))
    assert len(calls) == 1


def test_registered_coco_dataset(shared_data_root: Path) -> None:
    dataset = open_dataset("coco", shared_data_root)
    assert isinstance(dataset, CocoDataset)
    assert dataset.root == shared_data_root / "coco"
    assert sum(1 for _ in dataset.samples()) == 80
    described = dataset.describe()
    assert list(described["annotation_sha256"]) == [COCO_JSON]


# -- hand-made files ----------------------------------------------------------------------------


def write_dataset(
    root: Path,
    annotations: list[dict[str, Any]],
    images: list[dict[str, Any]] | None = None,
    image_mode: str = "RGB",
) -> CocoDataset:
    """A tiny COCO dataset: 20x30 images ``images/<id>.png``, categories 1 'thing'."""
    images = images or [{"id": 7, "file_name": "7.png", "height": 20, "width": 30}]
    (root / "images").mkdir(parents=True, exist_ok=True)
    for entry in images:
        size = (entry["width"], entry["height"])
        Image.new(image_mode, size).save(root / "images" / entry["file_name"])
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "thing"}],
    }
    (root / "ann.json").write_text(json.dumps(data))
    return CocoDataset("tiny", root, "images", "ann.json")


def square(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def annotation(ann_id: int, segmentation: Any, **extra: Any) -> dict[str, Any]:
    return {"id": ann_id, "image_id": 7, "category_id": 1, "segmentation": segmentation,
            "bbox": [0, 0, 1, 1], "iscrowd": 0, **extra}  # fmt: skip


def test_all_segmentation_forms(tmp_path: Path) -> None:
    dense = np.zeros((20, 30), dtype=bool)
    dense[2:6, 3:9] = True
    compressed = masks.encode(dense)
    counts = [int(c) for c in np.diff(np.flatnonzero(np.diff(np.r_[2, dense.flatten("F"), 2])))]
    dataset = write_dataset(
        tmp_path,
        [
            annotation(30, {"size": [20, 30], "counts": counts}, iscrowd=1),
            annotation(4, dict(compressed), attributes={"occluded": True, "group": "A"}),
            annotation(12, square(10, 10, 20, 15)),
            annotation(5, [[1, 1, 2, 2]]),  # degenerate polygon (< 3 points): dropped
            annotation(6, [0, 0, 0, 0, 0, 0]),  # flat, zero-area polygon: dropped
        ],
    )
    (sample,) = dataset.samples()
    assert [obj.object_id for obj in sample.objects] == ["4", "12", "30"]
    rle_obj, polygon_obj, crowd_obj = sample.objects
    np.testing.assert_array_equal(rle_obj.dense_mask(), dense)
    assert rle_obj.attributes == {"occluded": True, "group": "A"}
    assert rle_obj.area == 24 and rle_obj.category == "thing"
    assert polygon_obj.area == masks.area(masks.from_polygons(square(10, 10, 20, 15), 20, 30))
    np.testing.assert_array_equal(crowd_obj.dense_mask(), dense)
    assert crowd_obj.iscrowd and not rle_obj.iscrowd
    # compressed counts given as bytes are accepted too
    as_bytes = {"size": [20, 30], "counts": compressed["counts"].encode("ascii")}
    assert coco_module._segmentation_to_rle(as_bytes, 20, 30, "here") == compressed


def test_crowd_only_images_are_skipped_and_grayscale_becomes_rgb(tmp_path: Path) -> None:
    images = [
        {"id": 2, "file_name": "2.png", "height": 20, "width": 30},
        {"id": 10, "file_name": "10.png", "height": 20, "width": 30},
        {"id": 7, "file_name": "7.png", "height": 20, "width": 30},
    ]
    anns = [
        annotation(1, square(1, 1, 9, 9)) | {"image_id": 10},
        annotation(2, square(1, 1, 9, 9), iscrowd=1) | {"image_id": 2},
        annotation(3, square(1, 1, 9, 9)),
    ]
    dataset = write_dataset(tmp_path, anns, images, image_mode="L")
    samples = list(dataset.samples())
    assert [sample.image_id for sample in samples] == ["7", "10"]  # numeric order, 2 skipped
    image = samples[0].load_image()
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8


def test_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(DataError, match=r"broken\.json.*invalid JSON"):
        list(CocoDataset("x", tmp_path, "images", "broken.json").samples())


def test_missing_top_level_key(tmp_path: Path) -> None:
    (tmp_path / "ann.json").write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(DataError, match=r"ann\.json.*'annotations'"):
        list(CocoDataset("x", tmp_path, "images", "ann.json").samples())


def test_missing_annotation_key_names_the_annotation(tmp_path: Path) -> None:
    broken = annotation(99, square(1, 1, 5, 5))
    del broken["segmentation"]
    dataset = write_dataset(tmp_path, [broken])
    message = r"ann\.json: annotation id 99 is missing required key 'segmentation'"
    with pytest.raises(DataError, match=message):
        list(dataset.samples())


def test_missing_image_file_is_reported_on_load(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path, [annotation(1, square(1, 1, 5, 5))])
    (tmp_path / "images" / "7.png").unlink()
    (sample,) = dataset.samples()  # iterating never opens images
    with pytest.raises(DataError, match=r"images/7\.png.*not found"):
        sample.load_image()


def test_image_size_mismatch(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path, [annotation(1, square(1, 1, 5, 5))])
    Image.new("RGB", (31, 20)).save(tmp_path / "images" / "7.png")
    (sample,) = dataset.samples()
    with pytest.raises(DataError, match=r"7\.png.*31x20.*30x20"):
        sample.load_image()


def test_bad_references_and_rle_sizes(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "a", [annotation(1, square(1, 1, 5, 5)) | {"image_id": 8}])
    with pytest.raises(DataError, match=r"annotation 1 refers to unknown image 8"):
        list(dataset.samples())
    wrong_size = {"size": [21, 30], "counts": [630]}
    dataset = write_dataset(tmp_path / "b", [annotation(2, wrong_size)])
    with pytest.raises(DataError, match=r"ann\.json: annotation 2: RLE size"):
        list(dataset.samples())
    dataset = write_dataset(tmp_path / "c", [annotation(3, {"size": [20, 30], "counts": [5, 5]})])
    with pytest.raises(DataError, match=r"annotation 3: uncompressed RLE counts"):
        list(dataset.samples())


def test_missing_folder_and_file(tmp_path: Path) -> None:
    dataset = CocoDataset("x", tmp_path / "nowhere", "images", "ann.json", download_hint="Get it.")
    with pytest.raises(DataError, match=r"nowhere not found\. Get it\."):
        list(dataset.samples())
    with pytest.raises(DataError, match=r"annotation file .*ann\.json not found"):
        list(CocoDataset("x", tmp_path, "images", "ann.json").samples())


# -- dataset cards ------------------------------------------------------------------------------


def test_builtin_cards_are_registered() -> None:
    cards = {card.name: card for card in builtin_cards()}
    assert {"coco", "synthetic"} <= set(cards)
    for name, card in cards.items():
        factory = DATASETS.get(name)
        assert isinstance(factory, CardDatasetFactory) and factory.card == card
        assert json.loads(json.dumps(card.as_dict()))["name"] == name
    coco = cards["coco"]
    assert coco.split == "val2017" and coco.format == "coco"
    assert dict(coco.layout) == {"images": "val2017", "annotations": COCO_JSON}
    assert coco.citation is not None and "Common Objects in Context" in coco.citation
    assert "CC BY 4.0" in coco.license and coco.paper_counts is None


def test_missing_dataset_names_path_and_download_hint(tmp_path: Path) -> None:
    dataset = open_dataset("coco", tmp_path)  # opening never fails
    with pytest.raises(DataError) as error:
        next(dataset.samples())
    assert str(tmp_path / "coco") in str(error.value)
    assert "cocodataset.org" in str(error.value)


CARD = """\
name: demo
title: Demo
abbreviation: DM
format: coco
source: [https://example.org/]
license: CC0
citation: "@misc{demo, title={Demo}}"
split: val
layout: {images: img, annotations: ann.json}
paper_counts: {images: 3, masks: 5}
conversion: one mask per annotation
download: copy it
"""


def test_load_card(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(CARD)
    card = load_card(path)
    assert isinstance(card, DatasetCard)
    assert card.paper_counts is not None and card.paper_counts.masks == 5
    assert card.source == ("https://example.org/",)
    dataset = card.open(tmp_path)
    assert isinstance(dataset, CocoDataset)
    assert dataset.annotation_files() == [tmp_path / "demo" / "ann.json"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("split: val\n", ""), r"missing required field 'split'"),
        (lambda text: text + "colour: red\n", r"unknown field\(s\) colour"),
        (lambda text: text.replace("name: demo", "name: other"), r"field 'name' is 'other'"),
        (lambda text: text.replace("format: coco", "format: nope"), r"field 'format'"),
        (lambda text: text.replace("https://example.org/", "example"), r"field 'source'"),
        (lambda text: text.replace("masks: 5", "masks: many"), r"'paper_counts.masks'"),
        (lambda text: text.replace("ann.json}", "../ann.json}"), r"'layout.annotations'"),
        (lambda text: text.replace('"@misc', '"misc'), r"field 'citation'"),
        (lambda text: text + "bad: [unclosed\n", r"invalid YAML"),
    ],
)
def test_card_errors_name_file_and_field(tmp_path: Path, edit: Any, message: str) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(edit(CARD))
    with pytest.raises(ConfigError, match=message) as error:
        load_card(path)
    assert "demo.yaml" in str(error.value)


def test_card_missing_layout_role(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(CARD.replace("images: img, ", ""))
    with pytest.raises(ConfigError, match=r"demo\.yaml: field 'layout\.images' is required"):
        load_card(path).open(tmp_path)


def test_datasets_cards_and_samples_pickle(tmp_path: Path) -> None:
    factory = DATASETS.get("coco")
    assert isinstance(factory, CardDatasetFactory)
    assert pickle.loads(pickle.dumps(factory)).card == factory.card
    dataset = write_dataset(tmp_path, [annotation(1, square(1, 1, 5, 5))])
    (sample,) = dataset.samples()
    copy = pickle.loads(pickle.dumps(dataset))
    assert [s.key for s in copy.samples()] == [sample.key]
    assert pickle.loads(pickle.dumps(sample)).load_image().shape == (20, 30, 3)
