"""sambench's clicker gives the clicks of RITM's rule on random shapes and real COCO masks.

The reference below restates RITM's evaluation clicker (``isegm/inference/clicker.py``,
``Clicker._get_next_click`` and ``_add_click``) in a few lines, on the whole image:

* false negatives ``gt & ~pred`` and false positives ``~gt & pred``, each padded by one
  zero pixel, distance-transformed, unpadded and multiplied by the not-clicked map (one
  pixel per earlier click);
* ``is_positive = fn_max > fp_max`` (strict, so a tie is a negative click);
* the click is the first pixel of ``np.where(dt == max)`` (row-major order);
* the first click is the same rule with an empty prediction.

RITM itself uses ``cv2.distanceTransform(..., cv2.DIST_L2, 0)`` (float32); the reference
uses scipy's exact transform, so ties between equal true distances are broken by position
only. :func:`test_ritm_literal_cv2_differs_only_at_exact_ties` checks the float32 variant.
One deliberate difference: with nothing left to click RITM returns a negative click at the
first pixel of an all-zero map; sambench returns ``None``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from sambench import clicker, masks
from sambench.clicker import first_click, next_click
from sambench.prompts import Click

Mask = np.ndarray
DistanceTransform = Callable[[np.ndarray], np.ndarray]


def scipy_dt(padded: np.ndarray) -> np.ndarray:
    return np.asarray(ndimage.distance_transform_edt(padded), dtype=np.float64)


def ritm_cv2_dt(padded: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.distanceTransform(padded.astype(np.uint8), cv2.DIST_L2, 0))


def reference_click(
    gt: Mask, pred: Mask, not_clicked: Mask, dt: DistanceTransform = scipy_dt
) -> Click | None:
    """RITM's next-click rule, restated (see the module docstring)."""
    fn = np.pad(gt & ~pred, 1)
    fp = np.pad(~gt & pred, 1)
    fn_dt = dt(fn)[1:-1, 1:-1] * not_clicked
    fp_dt = dt(fp)[1:-1, 1:-1] * not_clicked
    fn_max, fp_max = fn_dt.max(), fp_dt.max()
    if fn_max == 0 and fp_max == 0:
        return None  # RITM: a negative click at the first pixel; sambench: None
    is_positive = bool(fn_max > fp_max)
    ys, xs = np.where(fn_dt == fn_max) if is_positive else np.where(fp_dt == fp_max)
    return Click(x=int(xs[0]), y=int(ys[0]), positive=is_positive)


def exact_squared_distance(region: Mask, y: int, x: int) -> int:
    return round(float(scipy_dt(np.pad(region, 1))[y + 1, x + 1] ** 2))


# --- masks and simulated predictions -------------------------------------------------------


def random_blob(rng: np.random.Generator, height: int, width: int) -> Mask:
    """A union of filled ellipses and rectangles (rectangles make many exact ties)."""
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.4:
            w, h = int(rng.integers(1, width + 1)), int(rng.integers(1, height + 1))
            mask[
                max(cy - h // 2, 0) : cy + (h + 1) // 2, max(cx - w // 2, 0) : cx + (w + 1) // 2
            ] = 1
        else:
            axes = (
                int(rng.integers(1, max(width // 2, 2))),
                int(rng.integers(1, max(height // 2, 2))),
            )
            cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask.astype(bool)


def shifted(mask: Mask, dy: int, dx: int) -> Mask:
    out = np.zeros_like(mask)
    h, w = mask.shape
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def simulated_predictions(gt: Mask, rng: np.random.Generator) -> Iterator[tuple[str, Mask]]:
    h, w = gt.shape
    r = int(rng.integers(1, 6))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    u8 = gt.astype(np.uint8)
    yield "empty", np.zeros_like(gt)
    yield "dilated", cv2.dilate(u8, kernel).astype(bool)
    yield "eroded", cv2.erode(u8, kernel).astype(bool)
    yield "shifted", shifted(gt, int(rng.integers(-8, 9)), int(rng.integers(-8, 9)))
    yield "blob", random_blob(rng, h, w)
    yield "gt+blob", gt | random_blob(rng, h, w)
    yield "perfect", gt.copy()


def paint(pred: Mask, click: Click, radius: int) -> Mask:
    """A crude model's answer to a click: paint (or erase) a disk around it."""
    disk = np.zeros(pred.shape, np.uint8)
    cv2.circle(disk, (click.x, click.y), radius, 1, -1)
    touched = disk.astype(bool)
    return np.asarray(pred | touched if click.positive else pred & ~touched)


def compare_sequence(gt: Mask, start: Mask, n_clicks: int, radius: int) -> int:
    """Run sambench's clicker and the reference side by side; return the clicks compared.

    Click 1 is the first click (empty prediction); the prediction then becomes ``start``
    and each later click paints a disk of ``radius`` (0: the model ignores clicks, so the
    not-clicked map decides).
    """
    not_clicked = np.ones(gt.shape, bool)
    expected = reference_click(gt, np.zeros_like(gt), not_clicked)
    got: Click | None = first_click(gt)
    assert got == expected
    assert got is not None
    clicks = [got]
    not_clicked[got.y, got.x] = False
    pred = start
    compared = 1
    for _ in range(n_clicks - 1):
        expected = reference_click(gt, pred, not_clicked)
        got = next_click(gt, pred, clicks)
        compared += 1
        assert got == expected, (clicks, got, expected)
        if got is None:
            break
        clicks.append(got)
        not_clicked[got.y, got.x] = False
        if radius:
            pred = paint(pred, got, radius)
    return compared


def blob_cases(n: int, seed: int, max_side: int) -> Iterator[tuple[Mask, str, Mask]]:
    rng = np.random.default_rng(seed)
    produced = 0
    while produced < n:
        h, w = int(rng.integers(1, max_side)), int(rng.integers(1, max_side))
        gt = random_blob(rng, h, w)
        if not gt.any():
            continue
        produced += 1
        for name, pred in simulated_predictions(gt, rng):
            yield gt, name, pred


def coco_masks(shared_data: Path, every: int = 1) -> Iterator[tuple[int, Mask]]:
    path = shared_data / "coco" / "annotations" / "instances_val2017.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    data = json.loads(path.read_text())
    sizes = {image["id"]: (image["height"], image["width"]) for image in data["images"]}
    for index, ann in enumerate(sorted(data["annotations"], key=lambda a: a["id"])):
        if index % every:
            continue
        h, w = sizes[ann["image_id"]]
        seg = ann["segmentation"]
        if isinstance(seg, list):
            rle = masks.from_polygons(seg, h, w)
        elif isinstance(seg["counts"], list):
            rle = masks.from_uncompressed(seg["counts"], h, w)
        else:
            rle = {"size": [h, w], "counts": seg["counts"]}
        gt = masks.decode(rle)
        if gt.any():
            yield ann["id"], gt


# --- equality with the reference --------------------------------------------------------------


def test_first_click_matches_reference_on_random_blobs() -> None:
    rng = np.random.default_rng(11)
    for _ in range(400):
        gt = random_blob(rng, int(rng.integers(1, 120)), int(rng.integers(1, 120)))
        if gt.any():
            not_clicked = np.ones(gt.shape, bool)
            assert first_click(gt) == reference_click(gt, np.zeros_like(gt), not_clicked)


def test_click_sequences_match_reference_on_random_blobs() -> None:
    compared = 0
    rng = np.random.default_rng(5)
    for gt, _, pred in blob_cases(80, seed=3, max_side=120):
        compared += compare_sequence(gt, pred, n_clicks=5, radius=int(rng.integers(0, 6)))
    assert compared > 1500


def test_click_sequences_match_reference_on_coco(shared_data: Path) -> None:
    rng = np.random.default_rng(7)
    compared = 0
    for _, gt in coco_masks(shared_data, every=16):
        preds = dict(simulated_predictions(gt, rng))
        for name in ("eroded", "gt+blob"):
            compared += compare_sequence(
                gt, preds[name], n_clicks=3, radius=int(rng.integers(0, 8))
            )
    assert compared > 250


@pytest.mark.slow
def test_click_sequences_match_reference_on_all_coco_masks(shared_data: Path) -> None:
    rng = np.random.default_rng(8)
    compared = 0
    for _, gt in coco_masks(shared_data):
        for _, pred in simulated_predictions(gt, rng):
            compared += compare_sequence(gt, pred, n_clicks=5, radius=int(rng.integers(0, 8)))
    assert compared > 10_000


def test_scipy_fallback_for_large_distances_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clicker, "EXACT_FROM_FLOAT32_LIMIT", 0)
    rng = np.random.default_rng(2)
    for gt, _, pred in blob_cases(25, seed=9, max_side=100):
        compare_sequence(gt, pred, n_clicks=4, radius=int(rng.integers(0, 5)))


def test_ritm_literal_cv2_differs_only_at_exact_ties() -> None:
    """RITM's float32 transform agrees except where it splits pixels at equal true distance."""
    steps = differing = 0
    rng = np.random.default_rng(4)
    for gt, _, pred in blob_cases(120, seed=21, max_side=200):
        not_clicked = np.ones(gt.shape, bool)
        clicks: list[Click] = []
        current = np.zeros_like(gt)
        for _ in range(4):
            ours = next_click(gt, current, clicks)
            ritm = reference_click(gt, current, not_clicked, dt=ritm_cv2_dt)
            if ours is None:
                assert ritm is None
                break
            assert ritm is not None
            steps += 1
            if ours != ritm:
                differing += 1
                fn, fp = gt & ~current, ~gt & current
                ours_d = exact_squared_distance(fn if ours.positive else fp, ours.y, ours.x)
                ritm_d = exact_squared_distance(fn if ritm.positive else fp, ritm.y, ritm.x)
                assert ours_d == ritm_d, (ours, ritm)
            clicks.append(ours)
            not_clicked[ours.y, ours.x] = False
            current = pred if len(clicks) == 1 else paint(current, ours, int(rng.integers(0, 5)))
    assert steps > 1500
    assert differing < steps * 0.02


def test_opencv_mask5_approximation_moves_the_click() -> None:
    """Why the approximate 5x5 mask is not used: its argmax differs on many masks."""
    rng = np.random.default_rng(0)
    moved = 0
    for _ in range(100):
        gt = random_blob(rng, 150, 150)
        if not gt.any():
            continue
        padded = np.pad(gt, 1).astype(np.uint8)
        approx = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(approx)), gt.shape)
        moved += first_click(gt) != Click(x=int(x), y=int(y), positive=True)
    assert moved > 10


# --- semantics --------------------------------------------------------------------------------


def test_border_counts_as_boundary() -> None:
    gt = np.ones((5, 9), bool)
    assert first_click(gt) == Click(x=2, y=2, positive=True)  # ties on row 2: first column


def test_tie_between_regions_gives_a_negative_click() -> None:
    gt = np.zeros((3, 8), bool)
    gt[:, 0:3] = True
    pred = np.zeros((3, 8), bool)
    pred[:, 5:8] = True  # fn and fp are equal 3x3 squares
    assert next_click(gt, pred) == Click(x=6, y=1, positive=False)


def test_clicked_pixels_are_skipped_even_in_the_other_region() -> None:
    gt = np.zeros((1, 4), bool)
    gt[0, 0] = True
    pred = np.zeros((1, 4), bool)
    pred[0, 2] = True
    assert next_click(gt, pred, [Click(0, 0, True)]) == Click(x=2, y=0, positive=False)
    assert next_click(gt, pred, [Click(0, 0, True), Click(2, 0, False)]) is None


def test_perfect_prediction_gives_no_click_and_empty_gt_raises() -> None:
    gt = np.zeros((4, 4), bool)
    gt[1:3, 1:3] = True
    assert next_click(gt, gt) is None
    with pytest.raises(ValueError, match="empty"):
        first_click(np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="empty"):
        first_click(np.zeros((4, 4), bool), "random", np.random.default_rng(0))


def test_bad_arguments_raise() -> None:
    gt = np.ones((3, 3), bool)
    with pytest.raises(ValueError, match="rng"):
        first_click(gt, "random")
    with pytest.raises(ValueError, match="rng"):
        next_click(gt, ~gt, (), "random")
    with pytest.raises(ValueError, match="unknown click mode"):
        first_click(gt, "middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown click mode"):
        next_click(gt, ~gt, (), "middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ"):
        next_click(gt, np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="2-D"):
        first_click(np.ones((2, 3, 3), bool))


def test_non_bool_masks_are_accepted() -> None:
    gt = np.zeros((6, 6), np.uint8)
    gt[1:5, 1:5] = 255
    assert first_click(gt) == first_click(gt > 0)
    assert next_click(gt, np.zeros((6, 6), np.float32)) == first_click(gt > 0)


# --- random mode ------------------------------------------------------------------------------


def test_random_first_click_is_uniform_over_the_mask() -> None:
    gt = np.zeros((5, 5), bool)
    gt[1, 1] = gt[2, 3] = gt[4, 0] = gt[4, 4] = True
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, int], int] = {}
    for _ in range(4000):
        c = first_click(gt, "random", rng)
        assert c.positive and gt[c.y, c.x]
        counts[(c.y, c.x)] = counts.get((c.y, c.x), 0) + 1
    assert len(counts) == 4
    assert all(900 < n < 1100 for n in counts.values())


def test_random_next_click_stays_in_the_chosen_region_and_skips_clicked() -> None:
    rng = np.random.default_rng(1)
    for gt, _, pred in blob_cases(40, seed=13, max_side=60):
        centre = next_click(gt, pred, [])
        clicked = [centre] if centre is not None else []
        expected = next_click(gt, pred, clicked)
        got = next_click(gt, pred, clicked, "random", rng)
        if expected is None:
            assert got is None
            continue
        assert got is not None and got.positive == expected.positive
        region = gt & ~pred if got.positive else pred & ~gt
        assert region[got.y, got.x]
        assert all((c.x, c.y) != (got.x, got.y) for c in clicked)


def test_random_mode_is_reproducible_from_the_seed() -> None:
    gt = random_blob(np.random.default_rng(3), 80, 80)
    pred = shifted(gt, 4, -3)
    first = [next_click(gt, pred, (), "random", np.random.default_rng(42)) for _ in range(3)]
    assert first[0] == first[1] == first[2]


# --- speed ------------------------------------------------------------------------------------


@pytest.mark.bench
def test_clicker_speed_on_a_megapixel_mask() -> None:
    gt = np.zeros((1024, 1024), bool)
    cv2.circle(gt.view(np.uint8), (512, 512), 400, 1, -1)
    pred = shifted(gt, 20, 30)

    def best(fn: Callable[[], object], repeat: int = 10) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    ours = best(lambda: first_click(gt))
    ours_next = best(lambda: next_click(gt, pred, [Click(512, 512, True)]))
    ones = np.ones(gt.shape, bool)
    ref = best(lambda: reference_click(gt, np.zeros_like(gt), ones), repeat=3)
    ref_next = best(lambda: reference_click(gt, pred, ones), repeat=3)
    print(f"first click: sambench {ours * 1e3:.1f} ms, scipy reference {ref * 1e3:.1f} ms")
    print(f"next click: sambench {ours_next * 1e3:.1f} ms, scipy reference {ref_next * 1e3:.1f} ms")
    assert ours < ref
