"""The sam2 adapter equals the official SAM2ImagePredictor, prompt by prompt.

A random-weight SAM 2.1 "tiny" config, shrunk for speed (128² input, a 5-block Hiera trunk),
built from the sam2 package's own config with Hydra overrides; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2.build_sam")

from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402

from sambench.errors import SambenchError  # noqa: E402
from sambench.models import MODELS, build_model  # noqa: E402
from sambench.models.sam2_image import Sam2Image, build_sam2_model  # noqa: E402
from sambench.prompts import Click, Prompt  # noqa: E402
from tests.sam_family_helpers import (  # noqa: E402
    assert_logits_equal,
    assert_outputs_equal,
    predictor_kwargs,
    smooth_image,
)

ATOL = 1e-5
CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
SIZE = 128
SMALL = (
    f"++model.image_size={SIZE}",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
)
LOW_RES = SIZE // 4

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


def tiny_sam2(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return build_sam2_model(CONFIG, overrides=SMALL)


@pytest.fixture(scope="module")
def model() -> Any:
    return tiny_sam2()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return smooth_image(120, 160)


@pytest.fixture(scope="module")
def predictor(model: Any, image: np.ndarray) -> Any:
    official = SAM2ImagePredictor(model)
    # the predictor hard-codes the feature sizes of a 1024² input
    official._bb_feat_sizes = [(SIZE // 4,) * 2, (SIZE // 8,) * 2, (SIZE // 16,) * 2]
    official.set_image(image)
    return official


@pytest.fixture(scope="module")
def adapter(model: Any) -> Sam2Image:
    return Sam2Image.from_module(model, model_config=CONFIG, device="cpu")


@pytest.fixture(scope="module")
def embedding(adapter: Sam2Image, image: np.ndarray) -> Any:
    return adapter.embed(image)


def official(predictor: Any, prompt: Prompt, multimask: bool) -> tuple[np.ndarray, ...]:
    kwargs = predictor_kwargs(prompt, LOW_RES)
    masks, scores, logits = predictor.predict(multimask_output=multimask, **kwargs)
    return masks, scores, logits


def assert_equal_to_official(
    adapter: Sam2Image, predictor: Any, image: np.ndarray, prompts: list[Prompt], embedding: Any
) -> None:
    for multimask in (True, False):
        outputs = adapter.predict(embedding, prompts, multimask_output=multimask)
        assert_outputs_equal(
            outputs,
            prompts,
            lambda prompt: official(predictor, prompt, multimask),  # noqa: B023
            (3 if multimask else 1, *image.shape[:2]),
            ATOL,
            low_res=LOW_RES,
        )


def test_embedding_equals_predictor(predictor: Any, embedding: Any) -> None:
    features = embedding.features
    assert torch.equal(features.image_embed, predictor._features["image_embed"])
    for ours, theirs in zip(
        features.high_res_feats, predictor._features["high_res_feats"], strict=True
    ):
        assert torch.equal(ours, theirs)


def test_prompts_one_by_one_and_batched_equal_predictor(
    adapter: Sam2Image, predictor: Any, image: np.ndarray, embedding: Any
) -> None:
    """Point, points with negatives, box, box + points; then all of them in one batch."""
    prompts = [
        Prompt(clicks=(Click(80, 60, True),)),
        Prompt(clicks=(Click(80, 60, True), Click(20, 15, False), Click(140, 100, True))),
        Prompt(box=(15.0, 10.0, 120.0, 100.0)),
        Prompt(clicks=(Click(60, 50, True),), box=(15, 10, 120, 100)),
        Prompt(clicks=(Click(5, 110, True), Click(150, 5, False), Click(100, 100, True))),
        Prompt(clicks=(Click(30, 30, True),)),
    ]
    for prompt in prompts[:4]:
        assert_equal_to_official(adapter, predictor, image, [prompt], embedding)
    assert_equal_to_official(adapter, predictor, image, prompts, embedding)


def test_mask_input_equals_predictor(
    adapter: Sam2Image, predictor: Any, image: np.ndarray, embedding: Any
) -> None:
    first = adapter.predict(embedding, [Prompt(clicks=(Click(80, 60, True),))], True)[0]
    assert first.low_res_logits is not None
    assert np.abs(first.low_res_logits).max() <= 32.0  # clamped like the predictor's
    previous = first.low_res_logits[first.most_confident]
    follow_ups = [
        Prompt(clicks=(Click(80, 60, True), Click(10, 100, False)), mask_logits=previous),
        Prompt(clicks=(Click(80, 60, True), Click(100, 20, True)), box=None),
        Prompt(box=(15, 10, 120, 100), mask_logits=previous),
    ]
    assert_equal_to_official(adapter, predictor, image, follow_ups, embedding)


def test_cache_tensors_round_trip_and_identity(
    adapter: Sam2Image, image: np.ndarray, embedding: Any
) -> None:
    tensors = adapter.embedding_tensors(embedding)
    assert set(tensors) == {"image_embed", "high_res_feats_0", "high_res_feats_1"}
    rebuilt = adapter.embedding_from_tensors(tensors, *image.shape[:2])
    prompt = [Prompt(clicks=(Click(80, 60, True),))]
    a = adapter.predict(embedding, prompt, True)[0]
    b = adapter.predict(rebuilt, prompt, True)[0]
    np.testing.assert_array_equal(a.masks, b.masks)
    with pytest.raises(ValueError, match="shape"):
        adapter.embedding_from_tensors(
            {**tensors, "image_embed": tensors["image_embed"][:, :, :4]}, *image.shape[:2]
        )
    with pytest.raises(ValueError, match="expected"):
        adapter.embedding_from_tensors({"image_embed": tensors["image_embed"]}, 120, 160)
    assert f"size={SIZE}" in adapter.cache_identity()
    assert "config=configs/sam2.1/sam2.1_hiera_t.yaml" in adapter.cache_identity()


def test_registered_model_builds_from_a_checkpoint(
    tmp_path: Path, image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``sam2`` name: weights_only checkpoint ({"model": state dict}), config by name."""
    import sambench.models.sam2_image as adapter_module

    assert "sam2" in MODELS.names()
    weights = tiny_sam2(seed=4)
    path = tmp_path / "sam2_tiny.pt"
    torch.save({"model": weights.state_dict()}, path)
    real_build = adapter_module.build_sam2_model
    monkeypatch.setattr(
        adapter_module, "build_sam2_model", lambda config: real_build(config, overrides=SMALL)
    )
    model = build_model("sam2", checkpoint=path, model_config=CONFIG, device="cpu")
    described = model.describe()
    assert described["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert described["model_config"] == CONFIG and described["image_size"] == SIZE
    assert described["dynamic_multimask_via_stability"] is True
    reference = SAM2ImagePredictor(weights)
    reference._bb_feat_sizes = [(SIZE // 4,) * 2, (SIZE // 8,) * 2, (SIZE // 16,) * 2]
    reference.set_image(image)
    assert isinstance(model, Sam2Image)
    prompts = [Prompt(clicks=(Click(80, 60, True),))]
    assert_equal_to_official(model, reference, image, prompts, model.embed(image))
    with pytest.raises(SambenchError, match="model-config"):
        build_model("sam2", checkpoint=path, device="cpu")
    with pytest.raises(SambenchError, match="needs --checkpoint"):
        build_model("sam2", device="cpu")


def test_unknown_config_is_a_one_line_error() -> None:
    with pytest.raises(SambenchError, match="could not be built"):
        build_sam2_model("configs/sam2.1/no_such_model.yaml")


def test_official_checkpoint_names_imply_their_config() -> None:
    from sambench.models.sam2_image import config_for_checkpoint

    assert (
        config_for_checkpoint(Path("/w/sam2.1_hiera_large.pt"))
        == "configs/sam2.1/sam2.1_hiera_l.yaml"
    )
    assert config_for_checkpoint(Path("sam2_hiera_tiny.pt")) == "configs/sam2/sam2_hiera_t.yaml"
    assert config_for_checkpoint(Path("my_finetune.pt")) is None


def test_sam2_0_config_equals_predictor(image: np.ndarray) -> None:
    """SAM 2.0 configs (configs/sam2/...) work the same way as SAM 2.1's."""
    config = "configs/sam2/sam2_hiera_t.yaml"
    torch.manual_seed(7)
    model = build_sam2_model(config, overrides=SMALL)
    reference = SAM2ImagePredictor(model)
    reference._bb_feat_sizes = [(SIZE // 4,) * 2, (SIZE // 8,) * 2, (SIZE // 16,) * 2]
    reference.set_image(image)
    adapter = Sam2Image.from_module(model, model_config=config, device="cpu")
    prompts = [Prompt(clicks=(Click(80, 60, True),)), Prompt(box=(15, 10, 120, 100))]
    assert_equal_to_official(adapter, reference, image, prompts, adapter.embed(image))


def test_logits_equal_predictor_return_logits(
    adapter: Sam2Image, predictor: Any, image: np.ndarray, embedding: Any
) -> None:
    """``return_logits=True``: the upscaled logits ``SAM2ImagePredictor`` returns as masks."""
    assert adapter.capabilities.logits
    prompts = [
        Prompt(clicks=(Click(80, 60, True),)),
        Prompt(clicks=(Click(80, 60, True), Click(20, 15, False), Click(140, 100, True))),
        Prompt(box=(15.0, 10.0, 120.0, 100.0)),
        Prompt(clicks=(Click(60, 50, True),), box=(15, 10, 120, 100)),
    ]
    for multimask in (True, False):
        assert all(o.logits is None for o in adapter.predict(embedding, prompts, multimask))
        outputs = adapter.predict(embedding, prompts, multimask, return_logits=True)
        for prompt, out in zip(prompts, outputs, strict=True):
            logits, scores, _ = predictor.predict(
                multimask_output=multimask, return_logits=True, **predictor_kwargs(prompt, LOW_RES)
            )
            assert_logits_equal(out, logits, (3 if multimask else 1, *image.shape[:2]), ATOL)
            np.testing.assert_allclose(out.iou_predictions, scores, rtol=0, atol=ATOL)
