"""The mask codec round-trips every COCO segmentation form and agrees with dense arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sambench import masks


def random_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    mask = rng.random((height, width)) < rng.uniform(0.05, 0.95)
    return mask


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 80), (481, 321)])
def test_encode_decode_round_trip(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(5):
        mask = random_mask(rng, *shape)
        rle = masks.encode(mask)
        assert rle["size"] == list(shape)
        assert json.loads(json.dumps(rle)) == rle  # JSON-safe
        np.testing.assert_array_equal(masks.decode(rle), mask)
        assert masks.area(rle) == int(mask.sum())


def test_encode_accepts_views_and_other_dtypes() -> None:
    base = np.zeros((20, 30), dtype=np.uint8)
    base[3:9, 4:25] = 255
    view = base.T  # a non-contiguous view
    np.testing.assert_array_equal(masks.decode(masks.encode(view)), view > 0)
    np.testing.assert_array_equal(masks.decode(masks.encode(base.astype(np.float32))), base > 0)


def test_empty_and_full_masks() -> None:
    empty = masks.encode(np.zeros((5, 6), bool))
    full = masks.encode(np.ones((5, 6), bool))
    assert masks.area(empty) == 0 and masks.area(full) == 30
    assert masks.iou(empty, empty) == 1.0
    assert masks.iou(empty, full) == 0.0
    assert masks.bbox(full) == [0.0, 0.0, 6.0, 5.0]


def test_iou_matches_dense_arithmetic() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = random_mask(rng, 40, 50), random_mask(rng, 40, 50)
        expected = (a & b).sum() / (a | b).sum()
        assert masks.iou(masks.encode(a), masks.encode(b)) == pytest.approx(expected, abs=1e-12)


def test_polygons_rasterise_to_the_expected_area() -> None:
    square = [[10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]]
    rle = masks.from_polygons(square, 50, 60)
    assert rle["size"] == [50, 60]
    assert abs(masks.area(rle) - 400) <= 45  # COCO rasterisation includes boundary pixels
    x, y, w, h = masks.bbox(rle)
    assert (x, y) == (10.0, 10.0) and 20 <= w <= 21 and 20 <= h <= 21


def test_uncompressed_rle_converts() -> None:
    mask = np.zeros((4, 3), bool)
    mask[1:3, 1] = True  # column-major runs: 5 off, 2 on, 5 off
    rle = masks.from_uncompressed([5, 2, 5], 4, 3)
    np.testing.assert_array_equal(masks.decode(rle), mask)


def test_encode_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match="2-D"):
        masks.encode(np.zeros((2, 3, 4), bool))
