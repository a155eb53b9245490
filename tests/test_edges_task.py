"""The edges-bsds500 task: edge detectors and the SAM edge pipeline through the runner, records
that re-score without the model, edge maps that other tools re-evaluate to the same figures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sambench.edges.sam_pipeline import SamEdgeSettings, grid_points, sam_edge_map
from sambench.errors import SambenchError
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.runner import RunOptions, execute
from sambench.samples import Image
from sambench.scoring import score_run
from sambench.tasks import resolve_task_config
from tests.conftest import run_cli, shared_data_root


class DiskSegmenter(PromptableModel):
    """Three nested disks around each click (radii 6, 12, 20) as multimask logits."""

    name = "disks"
    capabilities = ModelCapabilities(points=True, multimask=True, logits=True)

    def embed(self, image: Image) -> ImageEmbedding:
        return ImageEmbedding(height=image.shape[0], width=image.shape[1], features=None)

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        yy, xx = np.mgrid[: embedding.height, : embedding.width]
        outputs = []
        for prompt in prompts:
            click = prompt.clicks[0]
            distance = np.hypot(yy - click.y, xx - click.x)
            logits = np.stack([(r - distance) / 2.0 for r in (6.0, 12.0, 20.0)]).astype(np.float32)
            outputs.append(
                ModelOutput(
                    masks=logits > 0,
                    iou_predictions=np.array([0.9, 0.8, 0.7], np.float32),
                    logits=logits if return_logits else None,
                )
            )
        return outputs


def test_sam_pipeline_counts_masks_applies_nms_and_keeps_boundaries() -> None:
    model = DiskSegmenter()
    embedding = model.embed(np.zeros((64, 96, 3), np.uint8))
    edges, info = sam_edge_map(model, embedding, SamEdgeSettings(grid=16))
    assert info["masks"] == 768 and info["nonempty"] == 768
    assert info["kept_after_nms"] < 768
    assert edges.shape == (64, 96) and edges.dtype == np.float32
    assert 0.9 < float(edges.max()) <= 1.0 and float(edges.min()) == 0.0
    _, looser_info = sam_edge_map(model, embedding, SamEdgeSettings(grid=16, nms_iou=0.95))
    assert looser_info["kept_after_nms"] > info["kept_after_nms"]
    # no edge NMS: every response sits on some disk's outer ring
    raw, _ = sam_edge_map(model, embedding, SamEdgeSettings(grid=2, edge_nms=False))
    (cx, cy) = grid_points(64, 96, 2)[0]
    assert raw[cy, cx] == 0.0 and raw[cy, cx + 6] > 0.0 and raw[cy, cx + 5] == 0.0


def test_sam_pipeline_needs_logits() -> None:
    class NoLogits(DiskSegmenter):
        capabilities = ModelCapabilities(points=True, multimask=True)

    model = NoLogits()
    with pytest.raises(SambenchError, match="lacks logits"):
        sam_edge_map(model, model.embed(np.zeros((8, 8, 3), np.uint8)), SamEdgeSettings())


def test_grid_is_sams_point_grid() -> None:
    points = grid_points(321, 481, 16)
    assert len(points) == 256 and len(set(points)) == 256
    assert points[0] == (15, 10) and points[-1] == (465, 310)


@pytest.fixture(scope="module")
def data_root() -> Path:
    root = shared_data_root()
    if root is None or not (root / "bsds500" / "BSR").is_dir():
        pytest.skip("real BSDS500 sample not available")
    return root


def _options(data_root: Path, out: Path, model: str, **params: object) -> RunOptions:
    config = resolve_task_config("edges-bsds500")
    config = type(config)(**{**config.__dict__, "params": {**config.params, **params}})
    return RunOptions(
        task=config, model=model, data_root=data_root, out_dir=out, limit=1, progress=False
    )


def test_edge_detector_run_rescores_and_reevaluates_from_its_pngs(
    data_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    metrics = execute(_options(data_root, out, "sobel", thresholds=9))
    figures = {m.name: m for m in metrics}
    assert set(figures) == {"ODS", "OIS", "AP", "R50"}
    assert all(m.scope == "bsds500" and m.n == 1 for m in metrics)
    assert figures["ODS"].ci_low - 1e-9 <= figures["ODS"].value <= figures["ODS"].ci_high + 1e-9
    record = json.loads((out / "records" / "shard-000-of-001.jsonl").read_text().splitlines()[0])
    assert record["edge_map"] == {"source": "edge_map"}
    assert len(record["counts"]["cnt_r"]) == 9
    again = {m.name: m.value for m in score_run(out)}
    assert again == {m.name: m.value for m in metrics}
    png = out / "edges" / f"{record['image_id']}.png"
    assert png.is_file() and (out / "edges-pr.png").is_file()
    # the saved 16-bit map re-evaluates to the run's figures with the standalone evaluator
    gt = data_root / "bsds500/BSR/BSDS500/data/groundTruth/test"
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / f"{record['image_id']}.mat").write_bytes(
        (gt / f"{record['image_id']}.mat").read_bytes()
    )
    done = run_cli(
        "eval", "edges", "--pred", str(out / "edges"), "--gt", str(tmp_path / "gt"),
        "--thresholds", "9", "--out", str(tmp_path / "eval.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    standalone = json.loads((tmp_path / "eval.json").read_text())
    for name in ("ODS", "OIS", "AP"):
        assert standalone[name] == pytest.approx(figures[name].value, abs=1e-12)


def test_sam_pipeline_through_the_runner_with_micro_sam(data_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("segment_anything")
    out = tmp_path / "run"
    metrics = execute(_options(data_root, out, "sam-micro-random", thresholds=5, grid=3))
    assert {m.name for m in metrics} == {"ODS", "OIS", "AP", "R50"}
    record = json.loads((out / "records" / "shard-000-of-001.jsonl").read_text().splitlines()[0])
    assert record["edge_map"]["source"] == "sam_pipeline"
    assert record["edge_map"]["masks"] == 27


def test_edges_task_refuses_a_dataset_without_boundaries(tmp_path: Path) -> None:
    done = run_cli(
        "run", "--task", "edges-bsds500", "--dataset", "synthetic", "--model", "sobel",
        "--limit", "1", "--out", str(tmp_path / "run"), "--no-progress",
        "--data-root", str(tmp_path / "data"),
    )  # fmt: skip
    assert done.returncode == 2 and "groundtruth_mat" in done.stderr


def test_evaluator_refuses_records_at_other_thresholds() -> None:
    from sambench.errors import RecordsError
    from sambench.tasks.edges import EdgesEvaluator

    evaluator = EdgesEvaluator(thresholds=3)
    row = {"thresholds": [0.5], "cnt_r": [1], "sum_r": [2], "cnt_p": [1], "sum_p": [1]}
    with pytest.raises(RecordsError, match="other thresholds"):
        evaluator.process({"dataset": "bsds500", "image_id": "1", "counts": row})
    good = {
        "thresholds": [0.25, 0.5, 0.75],
        "cnt_r": [8, 5, 1], "sum_r": [10, 10, 10], "cnt_p": [8, 5, 1], "sum_p": [16, 6, 1],
    }  # fmt: skip
    evaluator.process({"dataset": "bsds500", "image_id": "1", "counts": good})
    figures = {m.name: m.value for m in evaluator.evaluate()}
    assert figures["OIS"] == pytest.approx(2 * 0.5 * (5 / 6) / (0.5 + 5 / 6))
