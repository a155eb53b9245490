"""The transformers adapters (hf-sam, hf-sam-hq, hf-sam2) equal the documented HF usage.

Random-weight tiny configs are built from transformers' config classes and saved with
``save_pretrained`` to a temporary folder, which the registered names load offline; the
reference is the documented path (processor with images and prompts → ``model(**inputs)`` →
``processor.post_process_masks``), one prompt at a time. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sambench.errors import SambenchError  # noqa: E402
from sambench.models import MODELS, build_model  # noqa: E402
from sambench.models.hf import FAMILIES, HuggingFaceSam  # noqa: E402
from sambench.prompts import Click, Prompt  # noqa: E402
from tests.sam_family_helpers import (  # noqa: E402
    assert_logits_equal,
    assert_outputs_equal,
    smooth_image,
)

ATOL = 1e-5
SAM_VISION = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "global_attn_indexes": [1],
    "mlp_dim": 128,
    "image_size": 256,
    "window_size": 4,
}
SAM_PROMPT = {"image_size": 256, "image_embedding_size": 16}


def tiny(family: str, seed: int = 0) -> tuple[Any, Any]:
    """A random-weight model and its processor for ``family`` (tiny input, few layers)."""
    torch.manual_seed(seed)
    if family == "hf-sam2":
        size = 128
        backbone = transformers.Sam2HieraDetConfig(
            blocks_per_stage=[1, 1, 2, 1], global_attention_blocks=[3], image_size=[size, size]
        )
        vision = transformers.Sam2VisionConfig(
            backbone_config=backbone,
            backbone_feature_sizes=[[size // 4] * 2, [size // 8] * 2, [size // 16] * 2],
        )
        config = transformers.Sam2Config(
            vision_config=vision, prompt_encoder_config={"image_size": size}
        )
        model = transformers.Sam2Model(config).eval()
        processor = transformers.Sam2Processor(
            image_processor=transformers.Sam2ImageProcessor(size={"height": size, "width": size})
        )
        return model, processor
    image_processor = transformers.SamImageProcessor(
        size={"longest_edge": 256}, pad_size={"height": 256, "width": 256}
    )
    if family == "hf-sam-hq":
        config = transformers.SamHQConfig(
            vision_config=SAM_VISION,
            prompt_encoder_config=SAM_PROMPT,
            mask_decoder_config={"vit_dim": SAM_VISION["hidden_size"]},
        )
        model = transformers.SamHQModel(config).eval()
        return model, transformers.SamHQProcessor(image_processor=image_processor)
    config = transformers.SamConfig(vision_config=SAM_VISION, prompt_encoder_config=SAM_PROMPT)
    return transformers.SamModel(config).eval(), transformers.SamProcessor(
        image_processor=image_processor
    )


@pytest.fixture(scope="module", params=[f.name for f in FAMILIES])
def family(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def folder(family: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved as a local transformers folder."""
    model, processor = tiny(family)
    path = tmp_path_factory.mktemp(family)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def reference(family: str, folder: Path) -> tuple[Any, Any]:
    """The same model and processor loaded by transformers itself, offline."""
    spec = next(f for f in FAMILIES if f.name == family)
    model = getattr(transformers, spec.model_class).from_pretrained(folder, local_files_only=True)
    processor = getattr(transformers, spec.processor_class).from_pretrained(
        folder, local_files_only=True
    )
    return model.eval(), processor


@pytest.fixture(scope="module")
def adapter(family: str, folder: Path) -> HuggingFaceSam:
    model = build_model(family, checkpoint=folder, device="cpu")
    assert isinstance(model, HuggingFaceSam)
    return model


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return smooth_image(120, 160)


def documented(
    reference: tuple[Any, Any], image: np.ndarray, prompt: Prompt, multimask: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The HF docs' usage for one prompt: masks, scores, low-res logits, full-size logits."""
    model, processor = reference
    kwargs: dict[str, Any] = {}
    if prompt.clicks:
        kwargs["input_points"] = [[[[c.x, c.y] for c in prompt.clicks]]]
        kwargs["input_labels"] = [[[1 if c.positive else 0 for c in prompt.clicks]]]
    if prompt.box is not None:
        kwargs["input_boxes"] = [[list(prompt.box)]]
    inputs = processor(images=image, return_tensors="pt", **kwargs)
    extra = {}
    if prompt.mask_logits is not None:
        extra["input_masks"] = torch.as_tensor(prompt.mask_logits)[None, None]
    sizes = {k: inputs.pop(k) for k in ("original_sizes", "reshaped_input_sizes") if k in inputs}
    with torch.no_grad():
        out = model(**inputs, **extra, multimask_output=multimask)
    post = [out.pred_masks, sizes["original_sizes"]]
    if "reshaped_input_sizes" in sizes:
        post.append(sizes["reshaped_input_sizes"])
    masks = processor.post_process_masks(*post)[0][0]
    full = processor.post_process_masks(*post, binarize=False)[0][0]
    low = out.pred_masks[0, 0].numpy()
    return masks.numpy(), out.iou_scores[0, 0].numpy(), low, full.numpy()


def prompts_for(image: np.ndarray) -> list[Prompt]:
    return [
        Prompt(clicks=(Click(80, 60, True),)),
        Prompt(clicks=(Click(80, 60, True), Click(20, 15, False), Click(140, 100, True))),
        Prompt(box=(15.0, 10.0, 120.0, 100.0)),
        Prompt(clicks=(Click(60, 50, True),), box=(15, 10, 120, 100)),
        Prompt(clicks=(Click(30, 90, True),)),
    ]


def test_equals_documented_usage_one_by_one_and_batched(
    adapter: HuggingFaceSam, reference: tuple[Any, Any], image: np.ndarray
) -> None:
    embedding = adapter.embed(image)
    prompts = prompts_for(image)
    for multimask in (True, False):
        outputs = adapter.predict(embedding, prompts, multimask_output=multimask)
        assert_outputs_equal(
            outputs,
            prompts,
            lambda prompt: documented(reference, image, prompt, multimask),  # noqa: B023
            (3 if multimask else 1, 120, 160),
            ATOL,
        )


def test_mask_input_and_determinism(
    adapter: HuggingFaceSam, reference: tuple[Any, Any], image: np.ndarray
) -> None:
    embedding = adapter.embed(image)
    first = adapter.predict(embedding, [Prompt(clicks=(Click(80, 60, True),))], True)[0]
    assert first.low_res_logits is not None
    previous = first.low_res_logits[first.most_confident]
    prompt = Prompt(clicks=(Click(80, 60, True), Click(10, 100, False)), mask_logits=previous)
    out = adapter.predict(embedding, [prompt, prompt], multimask_output=False)
    masks, scores, logits, full = documented(reference, image, prompt, False)
    for o in out:
        # a batch of two differs from the reference's batch of one by float rounding (~1e-7);
        # a pixel whose logit is that close to the threshold may flip, no other may
        clear = np.abs(full) > 1e-4
        np.testing.assert_array_equal(o.masks[clear], masks[clear])
        assert (o.masks != masks).sum() <= 2
        np.testing.assert_allclose(o.iou_predictions, scores, rtol=0, atol=ATOL)
        assert o.low_res_logits is not None
        np.testing.assert_allclose(o.low_res_logits, logits, rtol=0, atol=ATOL)
    # deterministic: the same call on a fresh embedding gives bit-identical results
    again = adapter.predict(adapter.embed(image), [prompt, prompt], multimask_output=False)
    for a, b in zip(again, out, strict=True):
        np.testing.assert_array_equal(a.masks, b.masks)
        np.testing.assert_array_equal(a.iou_predictions, b.iou_predictions)
        np.testing.assert_array_equal(a.low_res_logits, b.low_res_logits)


def test_cache_round_trip_without_the_encoder(
    adapter: HuggingFaceSam, image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedding = adapter.embed(image)
    tensors = adapter.embedding_tensors(embedding)

    def no_encoder(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a cache hit must not run the image encoder")

    monkeypatch.setattr(adapter.model, "get_image_embeddings", no_encoder)
    rebuilt = adapter.embedding_from_tensors(tensors, 120, 160)
    prompt = [Prompt(clicks=(Click(80, 60, True),))]
    a = adapter.predict(embedding, prompt, True)[0]
    b = adapter.predict(rebuilt, prompt, True)[0]
    np.testing.assert_array_equal(a.masks, b.masks)
    name = next(k for k in tensors if k.startswith("image_embeddings"))
    with pytest.raises(ValueError, match="shape"):
        adapter.embedding_from_tensors({**tensors, name: tensors[name][:, :8]}, 120, 160)
    identity = adapter.cache_identity()
    assert adapter.weights_sha256 in identity and transformers.__version__ in identity


def test_describe_records_the_folder_hash(adapter: HuggingFaceSam, folder: Path) -> None:
    described = adapter.describe()
    assert described["checkpoint"] == str(folder)
    assert described["checkpoint_sha256"] == adapter.weights_sha256
    weights = folder / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digest not in described["checkpoint_sha256"]  # a hash over all files, not one
    assert described["transformers"] == transformers.__version__
    assert described["device"] == "cpu" and described["dtype"] == "float32"


def test_registered_names_and_errors(tmp_path: Path) -> None:
    assert {"hf-sam", "hf-sam-hq", "hf-sam2"} <= set(MODELS.names())
    with pytest.raises(SambenchError, match="needs --checkpoint DIR"):
        build_model("hf-sam", device="cpu")
    with pytest.raises(SambenchError, match="not a model folder"):
        build_model("hf-sam", checkpoint=tmp_path / "missing", device="cpu")
    with pytest.raises(SambenchError, match="not a SamModel folder"):
        build_model("hf-sam", checkpoint=tmp_path, device="cpu")


def test_bfloat16_on_cpu_runs(image: np.ndarray) -> None:
    model, processor = tiny("hf-sam")
    adapter = HuggingFaceSam.from_module(model, processor, device="cpu", dtype="bfloat16")
    out = adapter.predict(adapter.embed(image), [Prompt(box=(10, 10, 100, 100))], False)[0]
    assert out.masks.shape == (1, 120, 160) and out.iou_predictions.dtype == np.float32
    assert adapter.describe()["autocast"] == "bfloat16"


def test_logits_equal_documented_post_processing_without_binarize(
    adapter: HuggingFaceSam, reference: tuple[Any, Any], image: np.ndarray
) -> None:
    """``return_logits=True``: ``post_process_masks(binarize=False)`` of the documented path."""
    assert adapter.capabilities.logits
    embedding = adapter.embed(image)
    prompts = prompts_for(image)
    for multimask in (True, False):
        assert all(o.logits is None for o in adapter.predict(embedding, prompts, multimask))
        outputs = adapter.predict(embedding, prompts, multimask, return_logits=True)
        for prompt, out in zip(prompts, outputs, strict=True):
            masks, _, _, full = documented(reference, image, prompt, multimask)
            assert_logits_equal(out, full, (3 if multimask else 1, 120, 160), ATOL)
            np.testing.assert_array_equal(out.masks, masks)
