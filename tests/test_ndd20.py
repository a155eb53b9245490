"""NDD20 through its card, on native-format VIA project JSONs written here (ABOVE and BELOW,
the same file name in both, regions as a list and as an older index-keyed object)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.ndd20 import Ndd20Dataset
from sambench.errors import DataError


def polygon(xs: list[int], ys: list[int], **attributes: str) -> dict[str, object]:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
        "region_attributes": attributes,
    }


def write(root: Path) -> None:
    for part in ("ABOVE", "BELOW"):
        (root / "NDD20" / part).mkdir(parents=True)
        Image.new("RGB", (20, 12)).save(root / "NDD20" / part / "0001.jpg")
    a = polygon([2, 10, 10, 2], [2, 2, 8, 8], species="BND", id="17")
    b = polygon([6, 14, 14, 6], [4, 4, 10, 10], species="WBD", id="3")  # overlaps a
    above = {
        "0001.jpg52311": {"filename": "0001.jpg", "size": 52311, "regions": [a, b],
                          "file_attributes": {}},
        "0002.jpg40000": {"filename": "0002.jpg", "size": 40000, "regions": [],
                          "file_attributes": {}},
    }  # fmt: skip
    below = {"0001.jpg999": {"filename": "0001.jpg", "size": 999, "regions": {"0": a}}}
    (root / "NDD20" / "ABOVE_LABELS.json").write_text(json.dumps(above))
    (root / "NDD20" / "BELOW_LABELS.json").write_text(json.dumps({"_via_img_metadata": below}))


def test_via_regions(tmp_path: Path) -> None:
    write(tmp_path / "ndd20")
    dataset = open_dataset("ndd20", tmp_path)
    assert isinstance(dataset, Ndd20Dataset)
    assert [(e.image_id, e.masks) for e in dataset.index()] == [
        ("above/0001.jpg", 2), ("below/0001.jpg", 1)
    ]  # fmt: skip
    above, below = dataset.samples()
    first, second = above.objects
    assert first.attributes == {"species": "BND", "id": "17"}
    overlap = first.dense_mask() & second.dense_mask()
    assert overlap.any()  # each region rasterised on its own: both keep the overlap
    assert first.object_id == "above/0001.jpg/0" and below.objects[0].area == first.area
    assert dataset.verify().masks == 3
    assert sorted(dataset.describe()["annotation_sha256"]) == [
        "NDD20/ABOVE_LABELS.json", "NDD20/BELOW_LABELS.json"
    ]  # fmt: skip
    np.testing.assert_array_equal(above.load_image().shape, (12, 20, 3))


def test_unsupported_shape_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "ndd20")
    path = tmp_path / "ndd20" / "NDD20" / "ABOVE_LABELS.json"
    data = json.loads(path.read_text())
    data["0001.jpg52311"]["regions"][0]["shape_attributes"] = {"name": "point", "cx": 1, "cy": 1}
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"ABOVE_LABELS\.json: 0001\.jpg region 0: region shape "
                                        r"'point' is not supported"):  # fmt: skip
        list(open_dataset("ndd20", tmp_path).samples())
    path.write_text(json.dumps({"x": {"regions": []}}))
    with pytest.raises(DataError, match=r"ABOVE_LABELS\.json: entry 'x' needs a 'filename'"):
        open_dataset("ndd20", tmp_path).index()
