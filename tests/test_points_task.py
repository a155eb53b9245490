"""The point-prompt task drives a model through the click protocol and records every figure.

The model here is a test double: it knows the ground truth and answers with the object's
rectangle minus some top rows, so every IoU is known exactly ((rows - cut) / rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from sambench.clicker import first_click
from sambench.errors import ConfigError, SambenchError
from sambench.masks import decode, encode
from sambench.metrics.base import MetricValue
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt
from sambench.samples import Image, ImageSample, ObjectAnnotation
from sambench.tasks import TASKS, TaskConfig, build_task
from sambench.tasks.points import PointsTask
from sambench.timing import StageTimer

HEIGHT, WIDTH, ROWS = 64, 96, 20

# (top rows removed, predicted IoU) per candidate mask, given the number of clicks so far
Schedule = Callable[[int, bool], list[tuple[int, float]]]


def perfect(n_clicks: int, multimask: bool) -> list[tuple[int, float]]:
    return [(0, 0.9), (0, 0.8), (0, 0.7)] if multimask else [(0, 0.9)]


def stuck(n_clicks: int, multimask: bool) -> list[tuple[int, float]]:
    """Never better than IoU 0.5, whatever the clicks."""
    return [(10, 0.9), (12, 0.8), (14, 0.7)] if multimask else [(10, 0.9)]


def confident_but_wrong(n_clicks: int, multimask: bool) -> list[tuple[int, float]]:
    """At click 1 the most confident mask (index 1, IoU 0.5) is not the best (index 2, 0.9)."""
    if multimask:
        return [(6, 0.2), (10, 0.95), (2, 0.5)]
    return [(max(4 - n_clicks, 0), 0.9)]  # 0.9 at click 2, 0.95 at 3, 1.0 from click 4


def reaches_95_at_click_2(n_clicks: int, multimask: bool) -> list[tuple[int, float]]:
    cut = 4 if n_clicks == 1 else 1  # IoU 0.8, then 0.95
    return [(cut, 0.9), (cut + 1, 0.8), (cut + 2, 0.7)] if multimask else [(cut, 0.9)]


@dataclass
class Call:
    n_prompts: int
    multimask: bool
    prompts: Sequence[Prompt]


class FakeModel(PromptableModel):
    """Knows each object's rectangle; finds the object from the first click of a prompt."""

    name = "fake"

    def __init__(
        self,
        rectangles: Sequence[tuple[int, int, int, int]],
        schedule: Schedule,
        capabilities: ModelCapabilities | None = None,
    ) -> None:
        self.rectangles = rectangles
        self.schedule = schedule
        self.capabilities = capabilities or ModelCapabilities(points=True, multimask=True)
        self.calls: list[Call] = []

    def embed(self, image: Image) -> ImageEmbedding:
        return ImageEmbedding(height=image.shape[0], width=image.shape[1], features=None)

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        self.calls.append(Call(len(prompts), multimask_output, list(prompts)))
        outputs = []
        for prompt in prompts:
            first = prompt.clicks[0]
            y0, x0, y1, x1 = next(
                r for r in self.rectangles if r[0] <= first.y < r[2] and r[1] <= first.x < r[3]
            )
            masks, scores = [], []
            for cut, score in self.schedule(len(prompt.clicks), multimask_output):
                mask = np.zeros((embedding.height, embedding.width), bool)
                mask[y0 + cut : y1, x0:x1] = True
                masks.append(mask)
                scores.append(score)
            logits = np.full((len(masks), 8, 8), float(len(prompt.clicks)), np.float32)
            outputs.append(ModelOutput(np.stack(masks), np.array(scores, np.float32), logits))
        return outputs


RECTANGLES = [(2, 3, 2 + ROWS, 33), (30, 40, 30 + ROWS, 90), (40, 2, 40 + ROWS, 30)]


def make_sample(
    rectangles: Sequence[tuple[int, int, int, int]] = RECTANGLES, crowd: int | None = None
) -> ImageSample:
    objects = []
    for index, (y0, x0, y1, x1) in enumerate(rectangles):
        mask = np.zeros((HEIGHT, WIDTH), bool)
        mask[y0:y1, x0:x1] = True
        objects.append(
            ObjectAnnotation(
                object_id=str(100 + index),
                mask=encode(mask),
                box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
                area=int(mask.sum()),
                category="thing",
                iscrowd=index == crowd,
                attributes={"index": index},
            )
        )
    return ImageSample(
        dataset="toy",
        image_id="7",
        file_name="7.png",
        height=HEIGHT,
        width=WIDTH,
        objects=tuple(objects),
        load_image=lambda: np.zeros((HEIGHT, WIDTH, 3), np.uint8),
    )


def short(n: int) -> dict[str, Any]:
    """Params for an ``n``-click run (both budgets ``n``, report click 1 only)."""
    return {"max_clicks": n, "noc_max_clicks": n, "report_clicks": [1]}


def run(
    schedule: Schedule, seed: int = 0, sample: ImageSample | None = None, **params: Any
) -> tuple[dict[str, Any], FakeModel, StageTimer]:
    sample = sample or make_sample()
    model = FakeModel(RECTANGLES, schedule, params.pop("capabilities", None))
    task = build_task(TaskConfig(name="t", adapter="points", params=params))
    timer = StageTimer()
    record = task.run_sample(model, model.embed(sample.load_image()), sample, seed, timer)
    return record, model, timer


def figures(records: Sequence[dict[str, Any]], **params: Any) -> dict[tuple[str, str], MetricValue]:
    task = build_task(TaskConfig(name="t", adapter="points", params=params))
    evaluator = task.evaluator(seed=0)
    for record in records:
        evaluator.process(record)
    return {(m.name, m.scope): m for m in evaluator.evaluate()}


# --- records ----------------------------------------------------------------------------------


def test_registered_and_requires_points_and_multimask() -> None:
    assert TASKS.get("points") is PointsTask
    assert PointsTask.required_capabilities == {"points", "multimask"}


def test_record_has_every_field_and_is_json() -> None:
    record, _, timer = run(confident_but_wrong)
    assert json.loads(json.dumps(record)) == record
    assert {k: record[k] for k in ("dataset", "image_id", "height", "width")} == {
        "dataset": "toy",
        "image_id": "7",
        "height": HEIGHT,
        "width": WIDTH,
    }
    assert [o["object_id"] for o in record["objects"]] == ["100", "101", "102"]
    obj = record["objects"][0]
    assert (
        obj["area"] == ROWS * 30
        and obj["category"] == "thing"
        and obj["attributes"] == {"index": 0}
    )
    step = obj["steps"][0]
    assert set(step) == {
        "step",
        "click",
        "iou_predictions",
        "chosen",
        "mask",
        "iou",
        "candidate_ious",
    }
    assert step["step"] == 1 and set(step["click"]) == {"x", "y", "positive"}
    assert step["iou_predictions"] == pytest.approx([0.2, 0.95, 0.5])
    assert step["candidate_ious"] == pytest.approx([14 / 20, 10 / 20, 18 / 20])
    assert step["iou"] == step["candidate_ious"][step["chosen"]]
    chosen_mask = decode(step["mask"])
    y0, x0, y1, x1 = RECTANGLES[0]
    assert chosen_mask[y0 + 10 : y1, x0:x1].all() and chosen_mask.sum() == 10 * 30
    assert {"prompt", "metric"} <= set(timer.totals())


def test_click_one_is_the_centre_click() -> None:
    record, _, _ = run(stuck)
    sample = make_sample()
    for obj, annotation in zip(record["objects"], sample.objects, strict=True):
        expected = first_click(annotation.dense_mask())
        assert obj["steps"][0]["click"] == expected.to_json()
        assert expected.positive


def test_later_clicks_correct_the_chosen_mask() -> None:
    record, model, _ = run(stuck, **short(3))
    # the stuck model always misses the top 10 rows: every later click is positive there
    for obj, (y0, _, _, _) in zip(record["objects"], RECTANGLES, strict=True):
        for step in obj["steps"][1:]:
            assert step["click"]["positive"] and y0 <= step["click"]["y"] < y0 + 10
    # each prompt carries all clicks so far
    assert [len(call.prompts[0].clicks) for call in model.calls] == [1, 2, 3]


def test_most_confident_selection_and_oracle() -> None:
    record, _, _ = run(confident_but_wrong)
    for obj in record["objects"]:
        step = obj["steps"][0]
        assert step["chosen"] == 1  # highest predicted IoU, though not the best mask
        assert step["iou"] == pytest.approx(0.5)
    f = figures([record])
    assert f["mIoU@1", "toy"].value == pytest.approx(0.5)
    assert f["oracle_mIoU@1", "toy"].value == pytest.approx(0.9)


def test_oracle_selection_picks_the_best_mask() -> None:
    record, _, _ = run(confident_but_wrong, multimask_selection="oracle")
    for obj in record["objects"]:
        step = obj["steps"][0]
        assert step["chosen"] == 2
        assert step["iou"] == max(step["candidate_ious"]) == pytest.approx(0.9)
    f = figures([record])
    assert f["mIoU@1", "toy"].value == f["oracle_mIoU@1", "toy"].value


def test_perfect_model() -> None:
    record, model, _ = run(perfect)
    assert len(model.calls) == 1  # no error left after click 1: nothing more to click
    for obj in record["objects"]:
        assert len(obj["steps"]) == 1 and obj["stopped"] == "no_error"
    f = figures([record])
    for k in range(1, 10):
        assert f[f"mIoU@{k}", "toy"].value == 1.0
        assert f[f"mIoU@{k}", "suite"].value == 1.0
    for name in ("NoC@85", "NoC@90"):
        assert f[name, "toy"].value == 1.0 and f[name, "toy"].extra["failures"] == 0
        assert f[name, "suite"].value == 1.0 and f[name, "suite"].extra["failures"] == 0
    assert f["mIoU@1", "toy"].n == 3


def test_model_that_never_improves_fails_noc() -> None:
    record, model, _ = run(stuck)
    assert len(model.calls) == 20 and all(len(o["steps"]) == 20 for o in record["objects"])
    f = figures([record])
    for name in ("NoC@85", "NoC@90"):
        assert f[name, "toy"].value == 20.0
        assert f[name, "toy"].extra == {"failures": 3, "max_clicks": 20}
        assert f[name, "suite"].extra["failures"] == 3
    assert f["mIoU@9", "toy"].value == pytest.approx(0.5)


def test_early_stop_changes_no_figure() -> None:
    stopped, model_a, _ = run(reaches_95_at_click_2)
    full, model_b, _ = run(reaches_95_at_click_2, early_stop=False)
    assert len(model_a.calls) == 9 and len(model_b.calls) == 20
    assert all(o["stopped"] == "early_stop" for o in stopped["objects"])
    fa, fb = figures([stopped]), figures([full])
    assert {k: v.value for k, v in fa.items()} == {k: v.value for k, v in fb.items()}
    assert fa["NoC@90", "toy"].value == 2.0 and fa["NoC@85", "toy"].value == 2.0
    assert fa["mIoU@1", "toy"].value == pytest.approx(0.8)


def test_multimask_flag_per_click() -> None:
    _, model, _ = run(stuck, **short(4))
    assert [c.multimask for c in model.calls] == [True, False, False, False]
    assert all(c.n_prompts == 3 for c in model.calls)  # all objects of a step in one batch
    record, model, _ = run(stuck, **short(4), multimask_every_click=True)
    assert [c.multimask for c in model.calls] == [True, True, True, True]
    assert all(len(s["candidate_ious"]) == 3 for o in record["objects"] for s in o["steps"])


def test_stopped_objects_leave_the_batch() -> None:
    """The first object is segmented perfectly at click 1; the others keep being clicked."""
    sample = make_sample()
    model = FakeModel(RECTANGLES, stuck)

    def predict_perfect_for_first(
        embedding: ImageEmbedding, prompts: Sequence[Prompt], multimask_output: bool
    ) -> list[ModelOutput]:
        outputs = FakeModel.predict(model, embedding, prompts, multimask_output)
        fixed = []
        for prompt, output in zip(prompts, outputs, strict=True):
            y0, x0, y1, x1 = RECTANGLES[0]
            if y0 <= prompt.clicks[0].y < y1 and x0 <= prompt.clicks[0].x < x1:
                masks = np.zeros_like(output.masks)
                masks[:, y0:y1, x0:x1] = True
                output = replace(output, masks=masks)
            fixed.append(output)
        return fixed

    model.predict = predict_perfect_for_first  # type: ignore[method-assign]
    task = build_task(TaskConfig(name="t", adapter="points", params=short(3)))
    task.run_sample(model, model.embed(sample.load_image()), sample, 0, StageTimer())
    assert [c.n_prompts for c in model.calls] == [3, 2, 2]


def test_crowd_and_small_objects_are_skipped() -> None:
    sample = make_sample(crowd=1)
    record, _, _ = run(perfect, sample=sample)
    assert [o["object_id"] for o in record["objects"]] == ["100", "102"]
    assert record["skipped"] == [{"object_id": "101", "reason": "crowd"}]
    record, _, _ = run(perfect, sample=sample, skip_crowd=False, min_area=ROWS * 30 + 1)
    assert [o["object_id"] for o in record["objects"]] == ["101"]
    assert [s["reason"] for s in record["skipped"]] == ["min_area", "min_area"]


# --- random mode ------------------------------------------------------------------------------


def clicks_by_object(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {o["object_id"]: [s["click"] for s in o["steps"]] for o in record["objects"]}


def test_random_mode_is_reproducible_and_order_independent() -> None:
    params = {"first_click": "random", "next_click": "random", **short(5)}
    a, _, _ = run(stuck, seed=3, **params)
    b, _, _ = run(stuck, seed=3, **params)
    assert a == b
    sample = make_sample()
    reversed_sample = replace(sample, objects=tuple(reversed(sample.objects)))
    c, _, _ = run(stuck, seed=3, sample=reversed_sample, **params)
    assert clicks_by_object(c) == clicks_by_object(a)
    d, _, _ = run(stuck, seed=4, **params)
    assert clicks_by_object(d) != clicks_by_object(a)
    centre, _, _ = run(stuck, seed=3, **short(5))
    assert clicks_by_object(centre) != clicks_by_object(a)
    # the centre mode ignores the seed
    other_seed, _, _ = run(stuck, seed=99, **short(5))
    assert other_seed == centre


def test_evaluation_does_not_depend_on_record_order() -> None:
    records = []
    for index, schedule in enumerate((stuck, confident_but_wrong, reaches_95_at_click_2)):
        record, _, _ = run(schedule)
        records.append({**record, "image_id": str(index), "dataset": "ab"[index % 2]})
    forward = figures(records)
    backward = figures(list(reversed(records)))
    assert forward == backward
    assert {scope for _, scope in forward} == {"a", "b", "suite"}
    suite = forward["mIoU@1", "suite"]
    assert suite.value == pytest.approx(
        (forward["mIoU@1", "a"].value + forward["mIoU@1", "b"].value) / 2
    )
    assert suite.extra["groups"] == 2
    assert forward["mIoU@4", "a"].extra == {"curve": True}
    assert forward["mIoU@5", "a"].extra == {}


# --- previous-logit feedback ------------------------------------------------------------------


def test_feed_previous_logits_passes_the_chosen_logits() -> None:
    caps = ModelCapabilities(points=True, multimask=True, mask_input=True)
    _, model, _ = run(stuck, capabilities=caps, feed_previous_logits=True, **short(3))
    assert all(p.mask_logits is None for p in model.calls[0].prompts)
    for step, call in enumerate(model.calls[1:], start=1):
        for prompt in call.prompts:
            assert prompt.mask_logits is not None and prompt.mask_logits.shape == (1, 8, 8)
            assert float(prompt.mask_logits[0, 0, 0]) == step  # the previous step's logits
    _, model, _ = run(stuck, capabilities=caps, **short(3))
    assert all(p.mask_logits is None for c in model.calls for p in c.prompts)


def test_feed_previous_logits_needs_mask_input() -> None:
    model = FakeModel(RECTANGLES, stuck, None)
    task = build_task(TaskConfig(name="t", adapter="points", params={"feed_previous_logits": True}))
    with pytest.raises(SambenchError, match=r"'mask_input'.*feed_previous_logits=false"):
        task.check_model(model, "t")
    build_task(TaskConfig(name="t", adapter="points", params={})).check_model(model, "t")


# --- params -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"first_click": "middle"}, "first_click"),
        ({"next_click": "edge"}, "next_click"),
        ({"multimask_selection": "largest"}, "multimask_selection"),
        ({"report_clicks": [1, 10]}, "report_clicks"),
        ({"report_clicks": [3, 1]}, "strictly increasing"),
        ({"report_clicks": []}, "report_clicks"),
        ({"max_clicks": 0}, "max_clicks"),
        ({"noc_max_clicks": 0}, "noc_max_clicks"),
        ({"noc_thresholds": [0.9, 1.5]}, "noc_thresholds"),
        ({"noc_thresholds": [0.9, 0.85]}, "strictly increasing"),
        ({"min_area": 0}, "min_area"),
        ({"early_stop": "yes"}, "early_stop"),
        ({"max_click": 5}, "unknown field"),
    ],
)
def test_bad_params_raise_config_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_task(TaskConfig(name="t", adapter="points", params=params, source="t.yaml"))


def test_params_defaults_and_direct_validation() -> None:
    p = PointsTask.Params()
    assert (p.first_click, p.next_click, p.max_clicks, p.report_clicks) == (
        "center",
        "center",
        9,
        (1, 2, 3, 5, 9),
    )
    assert (p.noc_thresholds, p.noc_max_clicks, p.total_clicks) == ((0.85, 0.90), 20, 20)
    assert PointsTask.Params(report_clicks=[1, 2]).report_clicks == (1, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="report_clicks"):
        PointsTask.Params(max_clicks=3)  # default report_clicks include 5 and 9


def test_shipped_configs_build() -> None:
    from sambench.tasks import resolve_task_config

    for name in ("points", "points-random"):
        config = resolve_task_config(name)
        task = build_task(config)
        assert isinstance(task, PointsTask)
        assert config.datasets == ("synthetic",)
    assert build_task(resolve_task_config("points")).params == PointsTask.Params()


def test_shipped_variant_configs_resolve_with_their_documented_choice() -> None:
    from sambench.tasks import build_task, resolve_task_config

    oracle = build_task(resolve_task_config("points-oracle"))
    assert oracle.params.multimask_selection == "oracle"
    random = build_task(resolve_task_config("points-random"))
    assert (random.params.first_click, random.params.next_click) == ("random", "random")
