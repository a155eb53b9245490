"""The BSDS edge evaluator: thinning, exact matching, summary formulas, agreement with
pyEdgeEval on real BSDS500 test images, and the ``sambench eval edges`` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sambench.data.bsds500 import load_boundaries
from sambench.edges.assignment import DynamicAssignment
from sambench.edges.baselines import sobel_edges
from sambench.edges.correspond import (
    BoundaryMatcher,
    correspond_pixels,
    disk_offsets,
    match_radius,
    outlier_weight,
)
from sambench.edges.evaluation import (
    ImageCounts,
    average_precision,
    default_thresholds,
    evaluate_folder,
    evaluate_image,
    load_edge_map,
    recall_at_half_precision,
    save_edge_map,
    summarize,
)
from sambench.edges.nms import edge_nms, thin
from tests.conftest import run_cli, shared_data_root

DATA = "bsds500/BSR/BSDS500/data"
IMAGES = ("100007", "100039")


@pytest.fixture(scope="module")
def bsds() -> Path:
    root = shared_data_root()
    if root is None or not (root / DATA).is_dir():
        pytest.skip("real BSDS500 sample not available")
    return root / DATA


@pytest.fixture(scope="module")
def sobel_maps(bsds: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sobel + edge NMS maps (8-bit PNG, as pyEdgeEval reads) and the ground truth of a few
    real test images, laid out for both tools."""
    import cv2

    folder = tmp_path_factory.mktemp("edges")
    (folder / "pred" / "test").mkdir(parents=True)
    (folder / "dataset" / "groundTruth" / "test").mkdir(parents=True)
    for image_id in IMAGES:
        rgb = cv2.cvtColor(cv2.imread(str(bsds / "images/test" / f"{image_id}.jpg")), 4)
        save_edge_map(folder / "pred" / "test" / f"{image_id}.png", sobel_edges(rgb), bits=8)
        shutil.copy(
            bsds / "groundTruth/test" / f"{image_id}.mat",
            folder / "dataset" / "groundTruth" / "test" / f"{image_id}.mat",
        )
    return folder


# ------------------------------------------------------------------------------ thinning


def test_thin_equals_scikit_image_bwmorph(bsds: Path) -> None:
    from skimage.morphology import thin as sk_thin

    rng = np.random.default_rng(0)
    blobs = rng.random((60, 80)) > 0.55
    assert np.array_equal(thin(blobs), sk_thin(blobs))
    edges = load_boundaries(bsds / "groundTruth/test/100007.mat")[0]
    thick = edges | np.roll(edges, 1, axis=0) | np.roll(edges, 1, axis=1)
    assert np.array_equal(thin(thick), sk_thin(thick))


def test_thin_subiteration_rule_equals_pyedgeeval() -> None:
    pytest.importorskip("prettytable")
    pyedgeeval = pytest.importorskip("pyEdgeEval.preprocess")
    rng = np.random.default_rng(1)
    for _ in range(5):
        blobs = rng.random((50, 70)) > 0.5
        assert np.array_equal(thin(blobs, stop="subiteration"), pyedgeeval.binary_thin(blobs))


# ------------------------------------------------------------------------------ matching


def test_dynamic_assignment_stays_optimal_under_switches() -> None:
    """After every batch of switches the matching is a maximum-weight matching of the active
    left nodes (checked against scipy's dense solver), with one partner per node."""
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(2)
    for _ in range(60):
        n_left, n_right = (int(n) for n in rng.integers(1, 25, size=2))
        reach = rng.random((n_left, n_right)) < rng.uniform(0.05, 0.5)
        cost = rng.integers(0, 40, size=(n_left, n_right))
        outlier = int(rng.choice([45, 100, 5000]))
        rows, cols = np.nonzero(reach)
        indptr = np.r_[0, np.cumsum(reach.sum(axis=1))]
        assignment = DynamicAssignment(indptr, cols, cost[rows, cols], outlier, n_right)
        for _ in range(6):
            nodes = rng.choice(n_left, size=int(rng.integers(1, n_left + 1)), replace=False)
            assignment.set_active(nodes, rng.random(nodes.size) < 0.6)
            on = np.asarray(assignment.active)
            left, right = assignment.matches()
            assert on[left].all() and reach[left, right].all()
            assert np.unique(right).size == right.size
            weight = np.where(reach & on[:, None], outlier - cost, 0)
            best_rows, best_cols = linear_sum_assignment(weight, maximize=True)
            got = int((outlier - cost[left, right]).sum())
            assert got == weight[best_rows, best_cols].sum()
            assert assignment.total_cost() == -got


def test_dynamic_assignment_rejects_bad_graphs() -> None:
    with pytest.raises(ValueError, match="outlier"):
        DynamicAssignment([0, 1], [0], [7], outlier=7)
    with pytest.raises(ValueError, match="row pointer"):
        DynamicAssignment([0, 2], [0], [1], outlier=7)
    assignment = DynamicAssignment([0, 1], [0], [1], outlier=7)
    with pytest.raises(ValueError, match="out of range"):
        assignment.set_active([3], [True])


def _matching_from_scratch(pred: np.ndarray, gt: np.ndarray, max_dist: float) -> tuple[int, int]:
    """(matched pixels, total weight) of a maximum-weight matching solved from scratch with
    scipy's LAPJVsp on the sparse graph of pixel pairs within reach."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    radius = match_radius(*gt.shape, max_dist)
    dy, dx, cost = disk_offsets(radius)
    py, px = np.nonzero(pred)
    gy, gx = np.nonzero(gt)
    gt_index = np.full(gt.shape, -1)
    gt_index[gy, gx] = np.arange(gy.size)
    qy, qx = py[:, None] + dy, px[:, None] + dx
    inside = (qy >= 0) & (qy < gt.shape[0]) & (qx >= 0) & (qx < gt.shape[1])
    cy, cx = qy.clip(0, gt.shape[0] - 1), qx.clip(0, gt.shape[1] - 1)
    target = np.where(inside, gt_index[cy, cx], -1)
    left, k = np.nonzero(target >= 0)
    right = target[left, k]
    weight = outlier_weight(radius) - cost[k]
    n_left = py.size
    graph = sp.csr_matrix(  # every left node also gets a private "unmatched" column
        (np.r_[weight + 1.0, np.ones(n_left)], (np.r_[left, np.arange(n_left)],
                                                 np.r_[right, gy.size + np.arange(n_left)])),
        shape=(n_left, gy.size + n_left),
    )  # fmt: skip
    rows, cols = min_weight_full_bipartite_matching(graph, maximize=True)
    real = cols < gy.size
    return int(real.sum()), int(graph[rows[real], cols[real]].sum() - real.sum())


def test_incremental_matching_equals_solving_each_threshold_from_scratch(bsds: Path) -> None:
    """One real image and annotator, thresholds visited as the evaluator does: the matched
    count and the total weight equal an independent from-scratch optimum every time."""
    import cv2

    rgb = cv2.cvtColor(cv2.imread(str(bsds / "images/test/100039.jpg")), cv2.COLOR_BGR2RGB)
    edges = sobel_edges(rgb)
    gt = load_boundaries(bsds / "groundTruth/test/100039.mat")[1]
    levels = default_thresholds(99)[::-1][::7]
    matcher = BoundaryMatcher(gt, edges >= levels[-1])
    radius = match_radius(*gt.shape, 0.0075)
    gy, gx = np.nonzero(gt)
    for level in levels:
        pred = thin(edges >= level)
        pixels, gt_index = matcher.match_pairs(pred)
        y, x = np.divmod(pixels, gt.shape[1])
        distance = np.rint(100 * np.hypot(y - gy[gt_index], x - gx[gt_index])).astype(int)
        assert distance.max(initial=0) <= 100 * radius
        weight = int((outlier_weight(radius) - distance).sum())
        assert (pixels.size, weight) == _matching_from_scratch(pred, gt, 0.0075), level


def test_correspond_pixels_radius_and_outliers() -> None:
    gt = np.zeros((100, 100), dtype=bool)
    gt[50, 10:90] = True
    pred = np.zeros_like(gt)
    pred[53, 20:40] = True  # 3 px away: out of reach of 0.0075 × 141.4 = 1.06 px
    matched_pred, matched_gt = correspond_pixels(pred, gt, max_dist=0.0075)
    assert not matched_pred.any() and not matched_gt.any()
    matched_pred, matched_gt = correspond_pixels(pred, gt, max_dist=0.03)  # 4.2 px
    assert matched_pred.sum() == 20 and matched_gt.sum() == 20
    assert outlier_weight(4.5) == 45000


def test_matcher_repeats_and_checks_candidates() -> None:
    gt = np.zeros((40, 40), dtype=bool)
    gt[20, 5:35] = True
    pred = np.zeros_like(gt)
    pred[21, 5:35] = True
    matcher = BoundaryMatcher(gt, pred, max_dist=0.05)
    first = matcher.match(pred)
    again = matcher.match(pred)
    assert first[1] == again[1] == 30 and np.array_equal(np.sort(first[0]), np.sort(again[0]))
    outside = pred.copy()
    outside[0, 0] = True
    with pytest.raises(ValueError, match="outside"):
        matcher.match(outside)


# ------------------------------------------------------------------------------ summary


def test_summary_formulas_equal_pyedgeeval_on_the_same_counts() -> None:
    """ODS / OIS / AP(=pyEdgeEval's AUC) from identical counts (pyEdgeEval's calculate_metrics)."""
    pytest.importorskip("prettytable")
    metrics = pytest.importorskip("pyEdgeEval.common.binary_label.calculate_metrics")
    rng = np.random.default_rng(3)
    thresholds = default_thresholds(20)
    rows = []
    for i in range(4):
        sum_r = np.full(20, 5000)
        cnt_r = np.sort(rng.integers(100, 5000, 20))[::-1]
        sum_p = np.sort(rng.integers(200, 9000, 20))[::-1]
        cnt_p = (sum_p * np.linspace(0.3, 0.95, 20)).astype(int)
        rows.append(ImageCounts(str(i), thresholds, cnt_r, sum_r, cnt_p, sum_p))
    ours = summarize(rows)

    def eval_single(row: ImageCounts) -> tuple[object, ...]:
        return row.cnt_r, row.sum_r, row.cnt_p, row.sum_p

    samples = [{"name": r.image_id, "row": r} for r in rows]
    _, _, ref = metrics.calculate_metrics(
        lambda s: eval_single(s["row"]), thresholds.tolist(), samples, nproc=1
    )
    assert ours.ods == pytest.approx(ref["ODS_f1"], abs=2e-4)  # 100 vs 101 interpolation steps
    assert ours.ois == pytest.approx(ref["OIS_f1"], abs=1e-12)
    assert ours.ap == pytest.approx(ref["AUC"], abs=1e-3)


def test_ap_and_r50_toolbox_conventions() -> None:
    recall = np.array([0.9, 0.8, 0.6, 0.4, 0.2])
    precision = np.array([0.3, 0.45, 0.6, 0.75, 0.9])
    # trapezoid-free toolbox AP: interpolated precision at recall 0.20 .. 0.90, / 100
    grid = np.arange(20, 91) / 100
    expected = np.interp(grid, recall[::-1], precision[::-1]).sum() / 100
    assert average_precision(recall, precision) == pytest.approx(expected)
    # precision 0.5 lies between recall 0.8 (0.45) and 0.6 (0.6): recall 0.8 - 0.2 / 3
    assert recall_at_half_precision(recall, precision) == pytest.approx(0.8 - 0.2 / 3)
    assert np.isnan(recall_at_half_precision(recall, precision * 0.4))


# ----------------------------------------------------------------- agreement with pyEdgeEval


def _reference(folder: Path, ids: tuple[str, ...], thresholds: int) -> dict[str, float]:
    import logging

    from pyEdgeEval.evaluators.bsds import BSDS500Evaluator

    logging.getLogger("pyEdgeEval").setLevel(logging.ERROR)
    evaluator = BSDS500Evaluator(str(folder / "dataset"), str(folder / "pred"), split="test")
    evaluator.set_sample_names([f"test/{i}" for i in ids])
    evaluator.set_eval_params(scale=1.0, apply_thinning=True, apply_nms=False, max_dist=0.0075)
    result = evaluator.evaluate(thresholds=thresholds, nproc=1, save_dir=None)
    return {"ODS": result["ODS_f1"], "OIS": result["OIS_f1"], "AP": result["AUC"]}


def test_agrees_with_pyedgeeval_on_real_images(sobel_maps: Path) -> None:
    """Two real BSDS500 test images, 5 thresholds: ODS, OIS, AP within ±0.002."""
    pytest.importorskip("prettytable")
    pytest.importorskip("pyEdgeEval")
    ref = _reference(sobel_maps, IMAGES, 5)
    ours, counts = evaluate_folder(
        sobel_maps / "pred" / "test", sobel_maps / "dataset" / "groundTruth" / "test", 5, workers=1
    )
    assert [c.image_id for c in counts] == list(IMAGES)
    for name in ("ODS", "OIS", "AP"):
        assert ours.figures()[name] == pytest.approx(ref[name], abs=0.002), name


@pytest.mark.slow
def test_agrees_with_pyedgeeval_on_more_images_all_thresholds(
    bsds: Path, tmp_path: Path
) -> None:
    """Six real test images, 99 thresholds (several minutes with pyEdgeEval)."""
    import cv2

    pytest.importorskip("prettytable")
    pytest.importorskip("pyEdgeEval")
    ids = ("100007", "100039", "100099", "10081", "101027", "102062")
    (tmp_path / "pred" / "test").mkdir(parents=True)
    (tmp_path / "dataset" / "groundTruth" / "test").mkdir(parents=True)
    for image_id in ids:
        rgb = cv2.cvtColor(cv2.imread(str(bsds / "images/test" / f"{image_id}.jpg")), 4)
        save_edge_map(tmp_path / "pred" / "test" / f"{image_id}.png", sobel_edges(rgb), bits=8)
        shutil.copy(bsds / "groundTruth/test" / f"{image_id}.mat",
                    tmp_path / "dataset" / "groundTruth" / "test")
    ref = _reference(tmp_path, ids, 99)
    ours, _ = evaluate_folder(
        tmp_path / "pred" / "test", tmp_path / "dataset" / "groundTruth" / "test", 99
    )
    for name in ("ODS", "OIS", "AP"):
        assert ours.figures()[name] == pytest.approx(ref[name], abs=0.002), name


# ------------------------------------------------------------------------------ files, CLI


def test_png_round_trip_and_edge_nms(tmp_path: Path) -> None:
    values = np.linspace(0, 1, 12 * 10).reshape(12, 10)
    save_edge_map(tmp_path / "e16.png", values)
    save_edge_map(tmp_path / "e8.png", values, bits=8)
    assert np.abs(load_edge_map(tmp_path / "e16.png") - values).max() <= 0.5 / 65535 + 1e-12
    assert np.abs(load_edge_map(tmp_path / "e8.png") - values).max() <= 0.5 / 255 + 1e-12
    ridge = np.zeros((30, 30))
    ridge[:, 14] = 1.0
    ridge[:, 13] = ridge[:, 15] = 0.6
    kept = edge_nms(ridge)
    assert (kept[10:20, 14] > 0).all() and not kept[10:20, [12, 16]].any()


def test_evaluate_image_checks_sizes() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        evaluate_image(np.zeros((5, 5)), [np.zeros((5, 6), dtype=bool)], 3)


def test_cli_eval_edges_writes_json(sobel_maps: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = run_cli(
        "eval", "edges",
        "--pred", str(sobel_maps / "pred" / "test"),
        "--gt", str(sobel_maps / "dataset" / "groundTruth" / "test"),
        "--thresholds", "5", "--workers", "2", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    assert set(payload) >= {"ODS", "OIS", "AP", "R50", "per_threshold", "per_image", "counts"}
    assert len(payload["per_threshold"]) == 5 and len(payload["per_image"]) == 2
    direct, _ = evaluate_folder(
        sobel_maps / "pred" / "test", sobel_maps / "dataset" / "groundTruth" / "test", 5, workers=1
    )
    assert payload["ODS"] == pytest.approx(direct.ods)


def test_cli_eval_edges_names_a_missing_map(sobel_maps: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred"
    pred.mkdir()
    done = run_cli(
        "eval", "edges", "--pred", str(pred),
        "--gt", str(sobel_maps / "dataset" / "groundTruth" / "test"),
    )  # fmt: skip
    assert done.returncode == 2 and "100007.png" in done.stderr
