"""The segment_anything adapters equal the official SamPredictor, prompt by prompt.

Every test runs on a random-weight "micro" SAM built from the official modules (256² input,
4.8 M parameters, tens of milliseconds per image on CPU); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from segment_anything import SamPredictor  # noqa: E402

from sambench.errors import SambenchError  # noqa: E402
from sambench.models import MODELS, build_model  # noqa: E402
from sambench.models.sam import SegmentAnything, build_micro_sam  # noqa: E402
from sambench.prompts import Click, Prompt  # noqa: E402
from tests.sam_family_helpers import (  # noqa: E402
    assert_logits_equal,
    assert_outputs_equal,
    predictor_kwargs,
    smooth_image,
)

ATOL = 1e-5
LOW_RES = 64
"""Side of the micro model's low-resolution logits (4 × its 16² embedding; 256 for SAM)."""


def micro_sam(seed: int = 0) -> Any:
    """The random-weight micro SAM (env-notes §7)."""
    return build_micro_sam(seed)


@pytest.fixture(scope="module")
def sam() -> Any:
    return micro_sam()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return smooth_image()


@pytest.fixture(scope="module")
def predictor(sam: Any, image: np.ndarray) -> Any:
    official = SamPredictor(sam)
    official.set_image(image)
    return official


@pytest.fixture(scope="module")
def adapter(sam: Any) -> SegmentAnything:
    return SegmentAnything.from_module(sam, device="cpu")


def official(predictor: Any, prompt: Prompt, multimask: bool) -> tuple[np.ndarray, ...]:
    """``SamPredictor.predict`` on one prompt, fields mapped as its docstring says."""
    kwargs = predictor_kwargs(prompt, LOW_RES)
    masks, scores, logits = predictor.predict(multimask_output=multimask, **kwargs)
    return masks, scores, logits


def assert_equal_to_official(
    adapter: SegmentAnything, predictor: Any, image: np.ndarray, prompts: list[Prompt]
) -> None:
    embedding = adapter.embed(image)
    for multimask in (True, False):
        outputs = adapter.predict(embedding, prompts, multimask_output=multimask)
        assert len(outputs) == len(prompts)
        assert_outputs_equal(
            outputs,
            prompts,
            lambda prompt: official(predictor, prompt, multimask),  # noqa: B023
            (3 if multimask else 1, *image.shape[:2]),
            ATOL,
            low_res=LOW_RES,
        )


ONE_POINT = Prompt(clicks=(Click(150, 100, True),))
POINTS = Prompt(clicks=(Click(150, 100, True), Click(40, 30, False), Click(260, 170, True)))
BOX = Prompt(box=(30.0, 20.0, 220.0, 180.0))
BOX_POINTS = Prompt(clicks=(Click(100, 90, True), Click(200, 60, False)), box=(30, 20, 220, 180))


@pytest.mark.parametrize(
    "prompt", [ONE_POINT, POINTS, BOX, BOX_POINTS], ids=["point", "points", "box", "box+points"]
)
def test_single_prompt_equals_sam_predictor(
    adapter: SegmentAnything, predictor: Any, image: np.ndarray, prompt: Prompt
) -> None:
    assert_equal_to_official(adapter, predictor, image, [prompt])


def test_embedding_equals_sam_predictor(
    adapter: SegmentAnything, predictor: Any, image: np.ndarray
) -> None:
    embedding = adapter.embed(image)
    assert torch.equal(embedding.features.image_embeddings, predictor.get_image_embedding())
    assert embedding.features.input_size == predictor.input_size
    assert (embedding.height, embedding.width) == predictor.original_size


def test_mask_input_from_previous_logits_equals_sam_predictor(
    adapter: SegmentAnything, predictor: Any, image: np.ndarray
) -> None:
    embedding = adapter.embed(image)
    first = adapter.predict(embedding, [ONE_POINT], multimask_output=True)[0]
    assert first.low_res_logits is not None
    previous = first.low_res_logits[first.most_confident]
    follow_ups = [
        Prompt(clicks=(*ONE_POINT.clicks, Click(60, 150, False)), mask_logits=previous),
        Prompt(mask_logits=previous[None]),  # (1, h, w) works as well
        Prompt(box=BOX.box, mask_logits=previous),
    ]
    assert_equal_to_official(adapter, predictor, image, follow_ups)


def test_mixed_batch_equals_one_call_per_prompt(
    adapter: SegmentAnything, predictor: Any, image: np.ndarray
) -> None:
    embedding = adapter.embed(image)
    logits = adapter.predict(embedding, [ONE_POINT], multimask_output=False)[0].low_res_logits
    assert logits is not None
    batch = [
        ONE_POINT,
        BOX,
        POINTS,
        Prompt(clicks=(Click(20, 180, True),)),
        BOX_POINTS,
        Prompt(clicks=(Click(280, 10, True), Click(5, 5, False))),
        Prompt(clicks=(Click(120, 120, True),), mask_logits=logits[0]),
        Prompt(box=(0, 0, 299, 199)),
        Prompt(clicks=(Click(150, 100, True), Click(151, 101, True)), box=(100, 50, 200, 150)),
    ]
    assert_equal_to_official(adapter, predictor, image, batch)


def test_prompts_with_equal_token_counts_share_one_decoder_call(
    sam: Any, image: np.ndarray
) -> None:
    calls: list[int] = []
    hook = sam.mask_decoder.register_forward_hook(
        lambda module, args, kwargs, out: calls.append(kwargs["sparse_prompt_embeddings"].shape[0]),
        with_kwargs=True,
    )
    try:
        model = SegmentAnything.from_module(sam, device="cpu")
        embedding = model.embed(image)
        # tokens: 1 point + pad = 2, box = 2, 2 points + pad = 3, 1 point + box = 3
        two_points = Prompt(clicks=POINTS.clicks[:2])
        point_box = Prompt(clicks=ONE_POINT.clicks, box=BOX.box)
        prompts = [ONE_POINT, BOX, two_points, point_box] * 3
        together = model.predict(embedding, prompts, multimask_output=True)
        assert sorted(calls) == [6, 6]
        calls.clear()
        small = SegmentAnything.from_module(sam, device="cpu", max_batch=4)
        apart = small.predict(embedding, prompts, multimask_output=True)
        assert sorted(calls) == [2, 2, 4, 4]
    finally:
        hook.remove()
    for a, b in zip(together, apart, strict=True):
        np.testing.assert_array_equal(a.masks, b.masks)
        np.testing.assert_allclose(a.iou_predictions, b.iou_predictions, atol=ATOL)


def test_empty_prompt_batch_and_empty_prompts(
    adapter: SegmentAnything, predictor: Any, image: np.ndarray
) -> None:
    embedding = adapter.embed(image)
    assert adapter.predict(embedding, [], multimask_output=True) == []
    outputs = adapter.predict(embedding, [Prompt(), Prompt()], multimask_output=True)
    masks, scores, _ = predictor.predict(multimask_output=True)
    for out in outputs:
        np.testing.assert_array_equal(out.masks, masks)
        np.testing.assert_allclose(out.iou_predictions, scores, atol=ATOL)


def test_rejects_text_prompts_and_bad_mask_inputs(
    adapter: SegmentAnything, image: np.ndarray
) -> None:
    embedding = adapter.embed(image)
    with pytest.raises(SambenchError, match="text"):
        adapter.predict(embedding, [Prompt(text="a cat")], multimask_output=False)
    with pytest.raises(SambenchError, match="mask prompt"):
        wrong = Prompt(mask_logits=np.zeros((256, 256), np.float32))
        adapter.predict(embedding, [wrong], multimask_output=False)
    with pytest.raises(SambenchError, match="RGB uint8"):
        adapter.embed(image[:, :, 0])


def test_cache_tensors_round_trip(adapter: SegmentAnything, image: np.ndarray) -> None:
    embedding = adapter.embed(image)
    tensors = adapter.embedding_tensors(embedding)
    assert tensors["image_embeddings"].shape == (1, 256, 16, 16)
    rebuilt = adapter.embedding_from_tensors(tensors, *image.shape[:2])
    a = adapter.predict(embedding, [POINTS], multimask_output=True)[0]
    b = adapter.predict(rebuilt, [POINTS], multimask_output=True)[0]
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.iou_predictions, b.iou_predictions)
    with pytest.raises(ValueError, match="input size"):
        adapter.embedding_from_tensors(tensors, 100, 100)
    with pytest.raises(ValueError, match="shape"):
        adapter.embedding_from_tensors(
            {**tensors, "image_embeddings": tensors["image_embeddings"][:, :128]}, *image.shape[:2]
        )
    identity = adapter.cache_identity()
    assert adapter.weights_sha256 in identity and "dtype=float32" in identity
    other = SegmentAnything.from_module(micro_sam(seed=1), device="cpu")
    assert other.cache_identity() != identity


def test_bfloat16_autocast_runs_and_is_recorded(sam: Any, image: np.ndarray) -> None:
    model = SegmentAnything.from_module(sam, device="cpu", dtype="bf16")
    embedding = model.embed(image)
    assert embedding.features.image_embeddings.dtype == torch.float32
    out = model.predict(embedding, [ONE_POINT, BOX], multimask_output=True)
    assert out[0].iou_predictions.dtype == np.float32 and out[0].masks.shape == (3, 200, 300)
    described = model.describe()
    assert described["dtype"] == "bfloat16" and described["autocast"] == "bfloat16"
    assert "dtype=bfloat16" in model.cache_identity()


def test_device_selection(sam: Any) -> None:
    assert SegmentAnything.from_module(sam, device="cpu").device.type == "cpu"
    auto = SegmentAnything.from_module(sam, device="auto").device.type
    assert auto == "cuda" if torch.cuda.is_available() else auto in ("mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SambenchError, match="CUDA is not available"):
            SegmentAnything.from_module(sam, device="cuda")
    with pytest.raises(SambenchError, match="unknown device"):
        SegmentAnything.from_module(sam, device="tpu-ish")
    with pytest.raises(SambenchError, match="unknown dtype"):
        SegmentAnything.from_module(sam, device="cpu", dtype="int8")
    SegmentAnything.from_module(sam, device="cpu")  # leave the shared module on the CPU


# ------------------------------------------------------------------ checkpoints


@pytest.fixture
def micro_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``sam_model_registry['vit_b']`` build the micro model (ViT-B itself is 94 M
    parameters and ~22 s per image on CPU), so the checkpoint path runs for real."""
    import segment_anything

    monkeypatch.setitem(
        segment_anything.sam_model_registry, "vit_b", lambda checkpoint=None: micro_sam(seed=5)
    )


def test_registered_names_build_from_a_checkpoint(
    micro_registry: None, tmp_path: Path, image: np.ndarray
) -> None:
    assert {"sam-vit-b", "sam-vit-l", "sam-vit-h"} <= set(MODELS.names())
    weights = micro_sam(seed=3)
    path = tmp_path / "sam_micro.pth"
    torch.save(weights.state_dict(), path)
    model = build_model("sam-vit-b", checkpoint=path, device="cpu")
    described = model.describe()
    assert described["name"] == "sam-vit-b" and described["variant"] == "vit_b"
    assert described["checkpoint"] == str(path)
    assert described["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert described["device"] == "cpu" and described["dtype"] == "float32"
    assert described["capabilities"]["mask_input"] and described["capabilities"]["multimask"]
    # the checkpoint's weights, not the registry's random ones, are the ones used
    reference = SamPredictor(weights)
    reference.set_image(image)
    assert isinstance(model, SegmentAnything)
    assert_equal_to_official(model, reference, image, [ONE_POINT, BOX])


def test_checkpoint_errors(micro_registry: None, tmp_path: Path) -> None:
    with pytest.raises(SambenchError, match="needs --checkpoint"):
        build_model("sam-vit-b", device="cpu")
    with pytest.raises(SambenchError, match="does not exist"):
        build_model("sam-vit-b", checkpoint=tmp_path / "missing.pth", device="cpu")
    partial_state = dict(micro_sam().state_dict())
    partial_state.pop("mask_decoder.iou_token.weight")
    torch.save(partial_state, tmp_path / "partial.pth")
    with pytest.raises(SambenchError, match="does not fit"):
        build_model("sam-vit-b", checkpoint=tmp_path / "partial.pth", device="cpu")
    # weights_only=True: a checkpoint that needs arbitrary unpickling is refused
    torch.save({"model": Path("not/a/tensor")}, tmp_path / "pickled.pth")
    with pytest.raises(SambenchError, match="could not be read"):
        build_model("sam-vit-b", checkpoint=tmp_path / "pickled.pth", device="cpu")


@pytest.mark.slow
def test_real_vit_b_architecture_from_checkpoint(tmp_path: Path) -> None:
    """The full ViT-B layout (random weights) loads and runs (~30 s on 2 CPU cores)."""
    from segment_anything import sam_model_registry

    path = tmp_path / "sam_vit_b_random.pth"
    torch.save(sam_model_registry["vit_b"](checkpoint=None).state_dict(), path)
    model = build_model("sam-vit-b", checkpoint=path, device="cpu")
    embedding = model.embed(smooth_image(240, 320))
    out = model.predict(embedding, [ONE_POINT], multimask_output=True)[0]
    assert out.masks.shape == (3, 240, 320) and out.low_res_logits is not None
    assert out.low_res_logits.shape == (3, 256, 256)


def test_from_module_records_the_checkpoint_it_came_from(tmp_path: Path) -> None:
    """A plugin that builds its own SAM-compatible module (MobileSAM, say) and wraps it."""
    sam = micro_sam(seed=2)
    path = tmp_path / "plugin_weights.pt"
    torch.save(sam.state_dict(), path)
    model = SegmentAnything.from_module(sam, name="mobile-sam", device="cpu", checkpoint=path)
    described = model.describe()
    assert described["name"] == "mobile-sam" and described["checkpoint"] == str(path)
    assert described["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert described["checkpoint_sha256"] in model.cache_identity()


# ------------------------------------------------------------ full-resolution logits


def test_logits_equal_sam_predictor_return_logits(
    adapter: SegmentAnything, predictor: Any, image: np.ndarray
) -> None:
    """``return_logits=True``: the upscaled logits ``SamPredictor`` returns as its masks."""
    assert adapter.capabilities.logits
    embedding = adapter.embed(image)
    prompts = [ONE_POINT, POINTS, BOX, BOX_POINTS, Prompt(clicks=(Click(20, 180, True),))]
    for multimask in (True, False):
        default = adapter.predict(embedding, prompts, multimask_output=multimask)
        assert all(out.logits is None for out in default)  # never filled unless asked
        outputs = adapter.predict(embedding, prompts, multimask, return_logits=True)
        for prompt, out, plain in zip(prompts, outputs, default, strict=True):
            logits, scores, _ = predictor.predict(
                multimask_output=multimask, return_logits=True, **predictor_kwargs(prompt, LOW_RES)
            )
            assert_logits_equal(out, logits, (3 if multimask else 1, *image.shape[:2]), ATOL)
            np.testing.assert_array_equal(out.masks, plain.masks)
            np.testing.assert_allclose(out.iou_predictions, scores, rtol=0, atol=ATOL)
