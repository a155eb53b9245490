"""The instances task: detector boxes as batched box prompts, the refinement pass, mask AP.

A tiny box model (the box rectangle as the mask, shrunk per candidate) makes the prompt
flow checkable exactly and fast; the classical model and the random-weight micro SAM run
the task end to end on the real COCO sample with jittered detections.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sambench.cli import main
from sambench.data import open_dataset
from sambench.detections import JitterOptions, jitter_detections, write_detections
from sambench.errors import ConfigError, SambenchError
from sambench.masks import decode
from sambench.metrics.coco_ap import COCO_FIGURES, LVIS_FIGURES
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.samples import Image, ImageSample
from sambench.tasks import build_task, resolve_task_config
from sambench.tasks.base import TaskConfig
from sambench.tasks.instances import InstancesTask, render_table5
from sambench.timing import StageTimer
from tests.conftest import run_cli, shared_data_root
from tests.test_coco_ap import pycocotools_stats

COCO_JSON = "annotations/instances_val2017.json"


class BoxModel(PromptableModel):
    """Masks are the prompt box's rectangle; candidate k is shrunk by 2k pixels.

    Predicted IoUs favour candidate 1. A prompt with mask logits (the refinement pass) gets
    the rectangle shrunk by 1 pixel and predicted IoU 0.99. Every call is logged.
    """

    name = "box-model"
    capabilities = ModelCapabilities(boxes=True, mask_input=True, multimask=True)

    def __init__(self, mask_input: bool = True) -> None:
        self.calls: list[tuple[list[Prompt], bool]] = []
        if not mask_input:
            self.capabilities = ModelCapabilities(boxes=True, multimask=True)

    def embed(self, image: Image) -> ImageEmbedding:
        return ImageEmbedding(height=image.shape[0], width=image.shape[1], features=None)

    def predict(
        self, embedding: ImageEmbedding, prompts: Sequence[Prompt], multimask_output: bool
    ) -> list[ModelOutput]:
        self.check_prompts(prompts, multimask_output)
        self.calls.append((list(prompts), multimask_output))
        outputs = []
        for prompt in prompts:
            assert prompt.box is not None
            shrinks = [1] if prompt.mask_logits is not None else [0, 2, 4]
            if not multimask_output:
                shrinks = shrinks[:1]
            masks = np.stack([self._rect(embedding, prompt.box, s) for s in shrinks])
            scores = [0.99] if prompt.mask_logits is not None else [0.5, 0.9, 0.7]
            logits = np.where(masks[:, ::4, ::4], 10.0, -10.0).astype(np.float32)
            outputs.append(
                ModelOutput(
                    masks=masks,
                    iou_predictions=np.asarray(scores[: len(shrinks)], dtype=np.float32),
                    low_res_logits=logits,
                )
            )
        return outputs

    @staticmethod
    def _rect(
        embedding: ImageEmbedding, box: tuple[float, float, float, float], shrink: int
    ) -> np.ndarray:
        mask = np.zeros((embedding.height, embedding.width), dtype=bool)
        x0, y0, x1, y1 = (round(v) for v in box)
        mask[
            y0 + shrink : max(y1 - shrink, y0 + shrink + 1),
            x0 + shrink : max(x1 - shrink, x0 + shrink + 1),
        ] = True
        return mask


@pytest.fixture(scope="module")
def coco_root() -> Path:
    root = shared_data_root()
    if root is None or not (root / "coco" / COCO_JSON).is_file():
        pytest.skip("real COCO sample not available")
    return root


@pytest.fixture(scope="module")
def detections_file(coco_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    gt = json.loads((coco_root / "coco" / COCO_JSON).read_text())
    path = tmp_path_factory.mktemp("detections") / "jittered.json"
    write_detections(path, jitter_detections(gt, JitterOptions(seed=0)))
    return path


@pytest.fixture(scope="module")
def samples(coco_root: Path) -> list[ImageSample]:
    return list(open_dataset("coco", coco_root).samples())[:3]


def run_task(task: InstancesTask, model: PromptableModel, sample: ImageSample) -> dict[str, Any]:
    return task.run_sample(model, model.embed(sample.load_image()), sample, 0, StageTimer())


def test_every_box_is_one_batched_prompt_and_refined(
    detections_file: Path, samples: list[ImageSample]
) -> None:
    task = InstancesTask(InstancesTask.Params(detections=str(detections_file), multimask=True))
    model = BoxModel()
    sample = samples[0]
    record = run_task(task, model, sample)
    boxes = task.detections().for_image(sample.image_id)
    assert len(boxes) > 1 and len(record["predictions"]) == len(boxes)
    (first, first_multi), (second, second_multi) = model.calls  # two batched calls
    assert first_multi and not second_multi and len(first) == len(second) == len(boxes)
    by_score = sorted(boxes, key=lambda d: (-d.score, d.index))
    for detection, prompt, refined, row in zip(
        by_score, first, second, record["predictions"], strict=True
    ):
        assert prompt.box == refined.box == detection.corners and prompt.mask_logits is None
        assert refined.mask_logits is not None and refined.mask_logits.shape[0] == 1
        # The most confident first-pass mask (candidate 1: shrunk by 2 px) is fed back.
        expected = BoxModel._rect(model.embed(sample.load_image()), detection.corners, 2)
        assert np.array_equal(refined.mask_logits[0] > 0, expected[::4, ::4])
        assert row["category_id"] == detection.category_id and row["score"] == detection.score
        assert row["detection"] == detection.index and row["chosen"] == 1
        assert row["iou_predictions"] == pytest.approx([0.5, 0.9, 0.7])
        assert row["refined_iou_predictions"] == pytest.approx([0.99])
        final = BoxModel._rect(model.embed(sample.load_image()), detection.corners, 1)
        assert np.array_equal(decode(row["mask"]), final)
    assert record["detections_sha256"] == task.detections().sha256
    assert [o["object_id"] for o in record["ground_truth"]] == [o.object_id for o in sample.objects]


def test_single_pass_and_selection_knobs(detections_file: Path, samples: list[ImageSample]) -> None:
    model = BoxModel(mask_input=False)
    params = InstancesTask.Params(
        detections=str(detections_file), refine=False, min_score=0.3, max_detections=2
    )
    task = InstancesTask(params)
    record = run_task(task, model, samples[1])
    ((prompts, multimask),) = model.calls
    assert not multimask  # single output by default
    kept = [d for d in task.detections().for_image(samples[1].image_id) if d.score >= 0.3]
    assert len(prompts) == len(record["predictions"]) == min(2, len(kept))
    assert "refined_chosen" not in record["predictions"][0]
    with pytest.raises(SambenchError, match=r"refine: true .*'mask_input'.*refine=false"):
        InstancesTask(InstancesTask.Params(detections=str(detections_file))).check_model(model, "t")


def test_detections_hash_is_part_of_the_config(detections_file: Path, tmp_path: Path) -> None:
    config = TaskConfig(
        name="instances", adapter="instances", params={"detections": str(detections_file)}
    )
    task = build_task(config)
    digest = task.params.detections_sha256
    assert digest is not None and len(digest) == 64
    changed = tmp_path / "changed.json"
    shutil.copy(detections_file, changed)
    build_task(
        TaskConfig(
            name="i",
            adapter="instances",
            params={"detections": str(changed), "detections_sha256": digest},
        )
    )
    changed.write_text("[]\n")
    with pytest.raises(ConfigError, match="detections file changed"):
        build_task(
            TaskConfig(
                name="i",
                adapter="instances",
                params={"detections": str(changed), "detections_sha256": digest},
            )
        )
    with pytest.raises(ConfigError, match="evaluation"):
        build_task(TaskConfig(name="i", adapter="instances", params={"evaluation": "voc"}))
    for name in ("instances", "instances-lvis"):  # shipped configs parse; no file needed
        assert build_task(resolve_task_config(name)).params.refine is True


def test_run_without_detections_names_the_flag(samples: list[ImageSample]) -> None:
    with pytest.raises(SambenchError, match="--detections FILE"):
        run_task(InstancesTask(), BoxModel(), samples[0])


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``sambench ARGS`` in this process: exit status, stdout, stderr."""
    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_run_classical_and_rescoring(
    coco_root: Path, detections_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's "done when": AP on the COCO sample, equal to pycocotools on the saved files."""
    out = tmp_path / "run"
    dets = tmp_path / "dets.json"
    shutil.copy(detections_file, dets)
    args = [
        "run",
        "--task",
        "instances",
        "--dataset",
        "coco",
        "--detections",
        str(dets),
        "--model",
        "classical",
        "--data-root",
        str(coco_root),
        "--limit",
        "3",
        "--no-progress",
        "--cache-max-gb",
        "0",
    ]
    status, _, err = cli(capsys, *args, "--param", "refine=false", "--out", str(out))
    assert status == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    params = manifest["task"]["params"]
    assert params["detections"] == str(dets) and params["refine"] is False
    assert (
        params["detections_sha256"]
        == InstancesTask(InstancesTask.Params(detections=str(dets))).detections().sha256
    )
    metrics = {
        m["name"]: m
        for m in json.loads((out / "metrics.json").read_text())["metrics"]
        if m["scope"] == "coco"
    }
    assert set(metrics) == set(COCO_FIGURES) and metrics["AP"]["n"] == 3
    assert 0.0 < metrics["AP"]["value"] <= 1.0
    gt = out / "ground-truth-coco.json"
    results = json.loads((out / "predictions-coco.json").read_text())
    image_ids = [image["id"] for image in json.loads(gt.read_text())["images"]]
    assert len(image_ids) == 3
    reference = pycocotools_stats(gt, results, image_ids)
    assert [metrics[n]["value"] for n in COCO_FIGURES] == pytest.approx(reference, abs=1e-12)
    official = pycocotools_stats(coco_root / "coco" / COCO_JSON, results, image_ids)
    assert metrics["AP"]["value"] == pytest.approx(official[0], abs=1e-12)
    table = (out / "table5.md").read_text()
    assert "| SAM (zero-shot) | 46.5 |" in table and "**sambench: classical** (refine off" in table
    assert "EfficientViT-SAM-XL1" in table
    # Re-scoring needs neither the model nor the detections file.
    dets.unlink()
    before = (out / "metrics.json").read_text()
    (out / "metrics.json").unlink()
    assert run_cli("score", str(out)).returncode == 0  # a fresh process
    assert json.loads((out / "metrics.json").read_text()) == json.loads(before)
    status, text, _ = cli(capsys, "detections", "table5", str(out))
    assert status == 0 and "sambench: classical" in text


def test_resume_with_a_changed_detections_file_is_refused(
    coco_root: Path, detections_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dets = tmp_path / "dets.json"
    shutil.copy(detections_file, dets)
    out = tmp_path / "run"
    args = [
        "run",
        "--task",
        "instances",
        "--dataset",
        "coco",
        "--detections",
        str(dets),
        "--model",
        "classical",
        "--param",
        "refine=false",
        "--param",
        "max_detections=1",
        "--data-root",
        str(coco_root),
        "--limit",
        "1",
        "--no-progress",
        "--cache-max-gb",
        "0",
    ]
    assert cli(capsys, *args, "--out", str(out))[0] == 0
    dets.write_text(dets.read_text().replace('"score":0.', '"score":0.0'))
    status, _, err = cli(capsys, "run", "--resume", "--out", str(out), "--no-progress")
    assert status == 2 and "detections file changed" in err
    status, _, err = cli(capsys, *args, "--out", str(tmp_path / "bad"), "--param", "refine")
    assert status == 2 and "KEY=VALUE" in err
    refused = cli(
        capsys,
        *args[:9],
        "--data-root",
        str(coco_root),
        "--limit",
        "1",
        "--no-progress",
        "--out",
        str(tmp_path / "refused"),
        "--cache-max-gb",
        "0",
    )
    assert refused[0] == 2 and "refine=false" in refused[2]  # classical has no mask input


def test_micro_sam_runs_both_refinement_modes(
    detections_file: Path, samples: list[ImageSample]
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("segment_anything")
    from sambench.models.sam import SegmentAnything
    from tests.test_sam_adapter import micro_sam

    model = SegmentAnything.from_module(micro_sam(), device="cpu")
    sample = samples[0]
    embedding = model.embed(sample.load_image())
    records = {}
    for refine in (False, True):
        task = InstancesTask(
            InstancesTask.Params(detections=str(detections_file), refine=refine, max_detections=4)
        )
        records[refine] = task.run_sample(model, embedding, sample, 0, StageTimer())
        evaluator = task.evaluator(0)
        evaluator.process(records[refine])
        figures = {m.name: m for m in evaluator.evaluate() if m.scope == "coco"}
        assert set(figures) == set(COCO_FIGURES) and figures["AP"].value >= 0.0
    plain, refined = records[False]["predictions"], records[True]["predictions"]
    assert len(plain) == len(refined) == 4
    first_pass = [v for p in plain for v in p["iou_predictions"]]
    assert first_pass == pytest.approx(
        [v for p in refined for v in p["iou_predictions"]], abs=1e-5
    )  # the same first pass
    assert all(len(p["refined_iou_predictions"]) == 1 for p in refined)
    assert [p["mask"] for p in plain] != [p["mask"] for p in refined]


def test_lvis_config_reports_frequency_groups(
    coco_root: Path, detections_file: Path, tmp_path: Path
) -> None:
    from tests.test_lvis import lvis_from_coco

    (tmp_path / "coco").symlink_to(coco_root / "coco", target_is_directory=True)
    (tmp_path / "lvis-v1").mkdir()
    coco = json.loads((coco_root / "coco" / COCO_JSON).read_text())
    (tmp_path / "lvis-v1" / "lvis_v1_val.json").write_text(json.dumps(lvis_from_coco(coco, "v1")))
    config = resolve_task_config("instances-lvis")
    task = build_task(
        TaskConfig(
            name=config.name,
            adapter=config.adapter,
            params={**config.params, "detections": str(detections_file)},
        )
    )
    assert isinstance(task, InstancesTask)
    evaluator = task.evaluator(0)
    model = BoxModel()
    for sample in list(open_dataset("lvis-v1", tmp_path).samples())[:4]:
        evaluator.process(run_task(task, model, sample))
    figures = {m.name: m for m in evaluator.evaluate() if m.scope == "lvis-v1"}
    assert set(figures) == set(LVIS_FIGURES) and figures["AP"].value > 0.0
    table = render_table5(
        [
            (
                "lvis-run",
                {"task": {"params": {"refine": True}}, "model": {"name": "box-model"}},
                evaluator.evaluate(),
            )
        ]
    )
    row = next(line for line in table.splitlines() if "sambench: box-model" in line)
    assert row.split("|")[2].strip() == "–"  # no COCO figures
    assert row.split("|")[6].strip() == f"{figures['AP'].value * 100:.1f}"


def _micro_sam_factory(**options: Any) -> PromptableModel:
    from sambench.models.sam import SegmentAnything
    from tests.test_sam_adapter import micro_sam

    return SegmentAnything.from_module(micro_sam(), name="micro-sam-test", device="cpu")


def test_cli_micro_sam_with_and_without_refinement(
    coco_root: Path, detections_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both refinement modes through the command line, on a model with mask input."""
    pytest.importorskip("torch")
    pytest.importorskip("segment_anything")
    from sambench.models import MODELS

    if "micro-sam-test" not in MODELS.names():
        MODELS.add("micro-sam-test", _micro_sam_factory)
    records = {}
    for refine in ("true", "false"):
        out = tmp_path / f"refine-{refine}"
        status, _, err = cli(
            capsys,
            *("run", "--task", "instances", "--dataset", "coco", "--model", "micro-sam-test"),
            *("--detections", str(detections_file), "--param", f"refine={refine}"),
            *("--param", "max_detections=3", "--data-root", str(coco_root), "--limit", "2"),
            *("--out", str(out), "--no-progress", "--cache-max-gb", "0"),
        )
        assert status == 0, err
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["task"]["params"]["refine"] is (refine == "true")
        names = {m["name"] for m in json.loads((out / "metrics.json").read_text())["metrics"]}
        assert names == set(COCO_FIGURES)
        (shard,) = (out / "records").glob("*.jsonl")
        records[refine] = [json.loads(line) for line in shard.read_text().splitlines()]
    refined = [p for r in records["true"] for p in r["predictions"]]
    plain = [p for r in records["false"] for p in r["predictions"]]
    assert len(refined) == len(plain) > 0
    assert all("refined_chosen" in p for p in refined)
    assert not any("refined_chosen" in p for p in plain)
