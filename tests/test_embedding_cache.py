"""The embedding cache: hits skip the encoder, bad entries are never used, LRU size limit.

Most tests use a numpy stand-in model that counts its encoder calls (no torch needed); the
last ones run the real runner with the random-weight micro SAM and two tasks.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("safetensors")

from sambench import embedding_cache
from sambench.embedding_cache import EmbeddingCache, image_sha256, open_cache
from sambench.models.base import ImageEmbedding, ModelCapabilities, PromptableModel
from sambench.outputs import ModelOutput
from sambench.prompts import Prompt


class CountingModel(PromptableModel):
    """Embeds an image as its grey levels (``(1, H, W)`` float32) and counts encoder calls."""

    name = "counting"
    capabilities = ModelCapabilities(boxes=True)

    def __init__(self, weights: str = "w1", preprocessing: str = "p1") -> None:
        self.weights = weights
        self.preprocessing = preprocessing
        self.calls = 0

    def embed(self, image: npt.NDArray[np.uint8]) -> ImageEmbedding:
        self.calls += 1
        grey = image.astype(np.float32).mean(axis=2)[None] / 255.0 + np.float32(1e-4)
        return ImageEmbedding(height=image.shape[0], width=image.shape[1], features=grey)

    def predict(
        self,
        embedding: ImageEmbedding,
        prompts: Sequence[Prompt],
        multimask_output: bool,
        return_logits: bool = False,
    ) -> list[ModelOutput]:
        mask = embedding.features > embedding.features.mean()
        return [ModelOutput(masks=mask, iou_predictions=np.ones(1, np.float32)) for _ in prompts]

    def cache_identity(self) -> str:
        return f"counting|weights={self.weights}|pre={self.preprocessing}"

    def embedding_tensors(self, embedding: ImageEmbedding) -> dict[str, npt.NDArray[Any]]:
        return {"grey": embedding.features}

    def embedding_from_tensors(
        self, tensors: Mapping[str, npt.NDArray[Any]], height: int, width: int
    ) -> ImageEmbedding:
        grey = tensors["grey"]
        if grey.shape != (1, height, width):
            raise ValueError(f"shape {grey.shape}")
        return ImageEmbedding(height=height, width=width, features=grey.astype(np.float32))


class Uncacheable(CountingModel):
    def cache_identity(self) -> None:  # type: ignore[override]
        return None


def picture(seed: int = 0, height: int = 48, width: int = 64) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def entry_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.safetensors"))


def read_metadata(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    metadata: dict[str, str] = json.loads(data[8 : 8 + size])["__metadata__"]
    return metadata


def test_hit_skips_the_encoder_and_equals_the_fresh_embedding(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    model = CountingModel()
    image = picture()
    fresh, status = cache.embed(model, image)
    assert status == "miss" and model.calls == 1
    again, status = cache.embed(model, image.copy())  # same pixels, another array
    assert status == "hit" and model.calls == 1
    np.testing.assert_array_equal(again.features, fresh.features)
    assert again.features.dtype == np.float32
    _, status = cache.embed(model, picture(seed=1))
    assert status == "miss" and model.calls == 2
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)
    [first, _] = sorted(entry_files(tmp_path / "cache"), key=lambda p: p.stat().st_mtime_ns)
    metadata = read_metadata(first)
    assert metadata["identity"] == model.cache_identity()
    assert metadata["image_sha256"] == image_sha256(image)
    assert (metadata["height"], metadata["width"]) == ("48", "64")
    assert metadata["format"] == embedding_cache.CACHE_FORMAT


def test_a_second_model_instance_with_the_same_identity_pays_no_encoder_cost(
    tmp_path: Path,
) -> None:
    images = [picture(seed) for seed in range(3)]
    first = CountingModel()
    for image in images:
        EmbeddingCache(tmp_path).embed(first, image)
    second = CountingModel()
    statuses = [EmbeddingCache(tmp_path).embed(second, image)[1] for image in images]
    assert statuses == ["hit"] * 3 and second.calls == 0


def test_key_covers_weights_preprocessing_and_precision(tmp_path: Path) -> None:
    image = picture()
    cache = EmbeddingCache(tmp_path)
    for model in (CountingModel(), CountingModel(weights="w2"), CountingModel(preprocessing="p2")):
        assert cache.embed(model, image)[1] == "miss"
    assert EmbeddingCache(tmp_path, fp16=True).embed(CountingModel(), image)[1] == "miss"
    assert len(entry_files(tmp_path)) == 4


def test_fp16_storage_halves_the_file_and_hit_equals_miss(tmp_path: Path) -> None:
    image = picture(height=96, width=128)
    full = EmbeddingCache(tmp_path / "full")
    half = EmbeddingCache(tmp_path / "half", fp16=True)
    model = CountingModel()
    exact, _ = full.embed(model, image)
    missed, status = half.embed(model, image)
    assert status == "miss"
    hit, status = half.embed(model, image)
    assert status == "hit" and model.calls == 2
    np.testing.assert_array_equal(missed.features, hit.features)  # miss uses the rounded copy
    assert hit.features.dtype == np.float32
    np.testing.assert_allclose(hit.features, exact.features, rtol=1e-3)
    assert not np.array_equal(hit.features, exact.features)
    size_full = entry_files(tmp_path / "full")[0].stat().st_size
    size_half = entry_files(tmp_path / "half")[0].stat().st_size
    assert size_half < 0.55 * size_full
    from safetensors import safe_open

    with safe_open(str(entry_files(tmp_path / "half")[0]), framework="np") as handle:
        assert handle.get_tensor("grey").dtype == np.float16


def test_size_limit_evicts_least_recently_used(tmp_path: Path) -> None:
    model = CountingModel()
    a, b, c = picture(1), picture(2), picture(3)
    probe = EmbeddingCache(tmp_path / "probe")
    probe.embed(model, a)
    entry = probe.size_bytes()
    cache = EmbeddingCache(tmp_path / "lru", max_bytes=int(2.5 * entry))
    for image in (a, b):
        cache.embed(model, image)
        time.sleep(0.01)
    assert cache.embed(model, a)[1] == "hit"  # a is now more recent than b
    time.sleep(0.01)
    cache.embed(model, c)
    assert cache.stats.evicted == 1
    assert len(entry_files(tmp_path / "lru")) == 2
    assert cache.size_bytes() <= cache.max_bytes  # type: ignore[operator]
    model.calls = 0
    assert cache.embed(model, a)[1] == "hit"
    assert cache.embed(model, c)[1] == "hit"
    assert cache.embed(model, b)[1] == "miss"  # b was evicted
    # a limit below one entry keeps nothing, and never fails
    tiny = EmbeddingCache(tmp_path / "tiny", max_bytes=10)
    assert tiny.embed(model, a)[1] == "miss" and entry_files(tmp_path / "tiny") == []


def corrupt(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped":  # a bit flip in the tensor payload
        data[-5] ^= 0x40
    elif how == "garbage":
        data = bytearray(b"not a safetensors file")
    elif how == "empty":
        data = bytearray()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "flipped", "garbage", "empty"])
def test_corrupt_entries_are_recomputed_and_overwritten(tmp_path: Path, how: str) -> None:
    model = CountingModel()
    image = picture()
    fresh, _ = EmbeddingCache(tmp_path).embed(model, image)
    [path] = entry_files(tmp_path)
    corrupt(path, how)
    cache = EmbeddingCache(tmp_path)
    again, status = cache.embed(model, image)
    assert status == "recomputed" and model.calls == 2 and cache.stats.recomputed == 1
    np.testing.assert_array_equal(again.features, fresh.features)
    assert cache.embed(model, image)[1] == "hit" and model.calls == 2  # overwritten, valid


def write_entry(
    path: Path, tensors: dict[str, npt.NDArray[Any]], metadata: dict[str, str]
) -> None:
    from safetensors.numpy import save

    metadata = {**metadata, "checksum": embedding_cache._checksum(tensors)}
    path.write_bytes(save(tensors, metadata=metadata))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("identity", "counting|weights=OTHER|pre=p1"),
        ("identity", "counting|weights=w1|pre=OTHER"),
        ("image_sha256", "0" * 64),
        ("height", "47"),
        ("storage", "float16"),
        ("format", "sambench-embedding-cache-0"),
    ],
)
def test_metadata_mismatch_is_recomputed_never_used(
    tmp_path: Path, field: str, value: str
) -> None:
    """An entry whose recorded weights hash, preprocessing version, image or size differs
    from what is asked for (a hash collision, a hand-copied file) is not used."""
    model = CountingModel()
    image = picture()
    EmbeddingCache(tmp_path).embed(model, image)
    [path] = entry_files(tmp_path)
    metadata = read_metadata(path)
    poisoned = {"grey": np.full((1, 48, 64), 7.0, np.float32)}  # valid shape, wrong values
    write_entry(path, poisoned, {**metadata, field: value})
    embedding, status = EmbeddingCache(tmp_path).embed(model, image)
    assert status == "recomputed" and model.calls == 2
    assert float(embedding.features.max()) <= 1.0 + 1e-3
    assert read_metadata(path)[field] == metadata[field]  # overwritten with the right entry


def test_shape_mismatch_is_recomputed(tmp_path: Path) -> None:
    model = CountingModel()
    image = picture()
    EmbeddingCache(tmp_path).embed(model, image)
    [path] = entry_files(tmp_path)
    write_entry(path, {"grey": np.zeros((1, 24, 32), np.float32)}, read_metadata(path))
    embedding, status = EmbeddingCache(tmp_path).embed(model, image)
    assert status == "recomputed" and embedding.features.shape == (1, 48, 64)


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = CountingModel()
    image = picture()
    cache = EmbeddingCache(tmp_path)
    real_replace = os.replace

    def interrupted(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(embedding_cache.os, "replace", interrupted)
    with pytest.warns(UserWarning, match="could not write"):
        embedding, status = cache.embed(model, image)
    assert status == "miss" and embedding.features.shape == (1, 48, 64)
    assert cache.stats.write_errors == 1
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # no entry, no temp file
    monkeypatch.setattr(embedding_cache.os, "replace", real_replace)
    # a writer killed mid-write leaves only a hidden temporary file, which is never read
    path = cache.path_for(cache._metadata(model.cache_identity(), image_sha256(image), 48, 64))
    partial = path.with_name(f".{path.name}.999.dead.tmp")
    partial.write_bytes(b"\0" * 100)
    assert cache.embed(model, image)[1] == "miss"
    assert cache.embed(model, image)[1] == "hit"
    old = time.time() - 2 * embedding_cache._STALE_TEMP_SECONDS
    os.utime(partial, (old, old))
    cache.entries()
    assert not partial.exists()  # stale temporary files are cleaned up


def test_uncacheable_models_bypass_the_cache(tmp_path: Path) -> None:
    model = Uncacheable()
    assert open_cache(tmp_path / "c", model) is None
    assert open_cache(None, CountingModel()) is None
    cache = EmbeddingCache(tmp_path / "c")
    assert cache.embed(model, picture())[1] == "off"
    assert cache.embed(model, picture())[1] == "off" and model.calls == 2
    assert not (tmp_path / "c").exists()
    with pytest.raises(Exception, match="positive"):
        EmbeddingCache(tmp_path, max_bytes=0)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAMBENCH_CACHE_DIR", str(tmp_path / "x"))
    assert embedding_cache.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SAMBENCH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedding_cache.default_cache_dir() == tmp_path / "xdg" / "sambench" / "embeddings"


# ---------------------------------------------------------------- through the runner


@dataclass(frozen=True)
class _NoParams:
    """No knobs."""


def _register_test_entries() -> None:
    """A box-prompt task and the micro SAM, registered once for the runner tests."""
    from sambench.metrics.base import Evaluator, MetricValue, mean_with_ci
    from sambench.models import MODELS
    from sambench.tasks import TASKS
    from sambench.tasks.base import Task

    if "test-cache-boxes" in TASKS.names():
        return

    class BoxTask(Task):
        Params = _NoParams

        def run_sample(self, model, embedding, sample, seed, timer):  # type: ignore[no-untyped-def]
            objects = [o for o in sample.objects if not o.iscrowd]
            prompts = [
                Prompt(box=(o.box[0], o.box[1], o.box[0] + o.box[2], o.box[1] + o.box[3]))
                for o in objects
            ]
            with timer.stage("prompt"):
                outputs = model.predict(embedding, prompts, multimask_output=False)
            return {
                "dataset": sample.dataset,
                "image_id": sample.image_id,
                "area": [int(out.masks[0].sum()) for out in outputs],
                "score": [round(float(out.iou_predictions[0]), 5) for out in outputs],
            }

        def evaluator(self, seed: int) -> Evaluator:
            return _AreaEvaluator(seed)

    class _AreaEvaluator(Evaluator):
        def __init__(self, seed: int) -> None:
            self.seed = seed
            self.values: list[float] = []

        def reset(self) -> None:
            self.values = []

        def process(self, record: Mapping[str, Any]) -> None:
            self.values.extend(record["area"])

        def evaluate(self) -> list[MetricValue]:
            return [mean_with_ci(self.values, "area", "all", self.seed)]

    TASKS.add("test-cache-boxes", BoxTask)
    MODELS.add("test-sam-micro", _micro_sam_factory)


ENCODER_CALLS: list[int] = []


def _micro_sam_factory(**options: Any) -> PromptableModel:
    from sambench.models.sam import SegmentAnything, build_micro_sam

    sam = build_micro_sam(seed=0)
    sam.image_encoder.register_forward_hook(lambda *args: ENCODER_CALLS.append(1))
    return SegmentAnything.from_module(sam, name="test-sam-micro", device="cpu", **options)


def run_task(
    tmp_path: Path, name: str, out: str, cache_dir: Path | None, **cache: Any
) -> dict[str, Any]:
    from sambench.runner import RunOptions, execute
    from sambench.tasks import TaskConfig

    options = RunOptions(
        task=TaskConfig(name=name, adapter="test-cache-boxes"),
        model="test-sam-micro",
        data_root=tmp_path / "data",
        out_dir=tmp_path / out,
        datasets=("synthetic",),
        limit=3,
        progress=False,
        cache_dir=cache_dir,
        **cache,
    )
    execute(options)
    rows = [
        json.loads(line)
        for shard in sorted((tmp_path / out / "records").glob("*.jsonl"))
        for line in shard.read_text().splitlines()
    ]
    manifest = json.loads((tmp_path / out / "manifest.json").read_text())
    return {"rows": sorted(rows, key=lambda r: r["image_id"]), "manifest": manifest}


def test_second_task_on_the_same_images_pays_no_encoder_cost(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("segment_anything")
    _register_test_entries()
    cache_dir = tmp_path / "cache"
    ENCODER_CALLS.clear()
    first = run_task(tmp_path, "task-a", "run-a", cache_dir)
    assert len(ENCODER_CALLS) == 3
    assert [r["timing"]["embed_cache"] for r in first["rows"]] == ["miss"] * 3
    assert first["manifest"]["embedding_cache"]["dir"] == str(cache_dir)
    ENCODER_CALLS.clear()
    second = run_task(tmp_path, "task-b", "run-b", cache_dir)
    assert ENCODER_CALLS == []
    assert [r["timing"]["embed_cache"] for r in second["rows"]] == ["hit"] * 3
    uncached = run_task(tmp_path, "task-c", "run-c", None)
    assert uncached["manifest"]["embedding_cache"] is None
    assert all("embed_cache" not in r["timing"] for r in uncached["rows"])
    for a, b, c in zip(first["rows"], second["rows"], uncached["rows"], strict=True):
        assert a["area"] == b["area"] == c["area"] and a["score"] == b["score"] == c["score"]


def test_fp16_cache_through_the_runner(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("segment_anything")
    _register_test_entries()
    cache_dir = tmp_path / "cache"
    first = run_task(tmp_path, "task-a", "run-a", cache_dir, cache_fp16=True)
    second = run_task(tmp_path, "task-b", "run-b", cache_dir, cache_fp16=True)
    assert first["manifest"]["embedding_cache"]["fp16"] is True
    assert [r["timing"]["embed_cache"] for r in second["rows"]] == ["hit"] * 3
    assert [r["area"] for r in first["rows"]] == [r["area"] for r in second["rows"]]
    sizes = [p.stat().st_size for p in entry_files(cache_dir)]
    assert len(sizes) == 3 and max(sizes) < 256 * 16 * 16 * 2 + 4096


# ------------------------------------------------------------------ command line


def parsed_run_options(monkeypatch: pytest.MonkeyPatch, *argv: str) -> Any:
    """The RunOptions ``sambench run ARGV`` would execute (the run itself is skipped)."""
    from sambench import cli, runner

    seen: list[Any] = []

    def fake_execute(options: Any, resume: bool = False) -> list[Any]:
        seen.append(options)
        return []

    monkeypatch.setattr(runner, "execute", fake_execute)
    assert cli.main(["run", "--no-progress", *argv]) == 0
    return seen[0]


def test_cli_cache_and_torch_flags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAMBENCH_CACHE_DIR", str(tmp_path / "default-cache"))
    checkpoint = tmp_path / "weights.pth"
    checkpoint.write_bytes(b"x")
    out = str(tmp_path / "r")
    options = parsed_run_options(
        monkeypatch, "--model", "sam2", "--checkpoint", str(checkpoint), "--out", out
    )
    assert options.cache_dir == tmp_path / "default-cache"
    assert options.cache_max_bytes == int(embedding_cache.DEFAULT_MAX_GB * 1e9)
    assert options.cache_fp16 is False
    assert dict(options.model_options) == {"checkpoint": checkpoint}
    options = parsed_run_options(
        monkeypatch,
        "--model", "sam2",
        "--checkpoint", str(checkpoint),
        "--model-config", "configs/sam2.1/sam2.1_hiera_t.yaml",
        "--device", "cpu",
        "--bf16",
        "--cache-dir", str(tmp_path / "c"),
        "--cache-max-gb", "0.5",
        "--cache-fp16",
        "--out", str(tmp_path / "r2"),
    )  # fmt: skip
    assert options.model_options == {
        "checkpoint": checkpoint,
        "model_config": "configs/sam2.1/sam2.1_hiera_t.yaml",
        "device": "cpu",
        "dtype": "bfloat16",
    }
    assert (options.cache_dir, options.cache_max_bytes, options.cache_fp16) == (
        tmp_path / "c",
        500_000_000,
        True,
    )
    off = parsed_run_options(monkeypatch, "--cache-max-gb", "0", "--out", str(tmp_path / "r3"))
    assert off.cache_dir is None
    from sambench import cli

    assert cli.main(["run", "--cache-max-gb", "-1", "--out", str(tmp_path / "r4")]) == 2
    assert "--cache-max-gb" in capsys.readouterr().err


def test_cli_lists_the_sam_family_without_building_them() -> None:
    from tests.conftest import run_cli

    listed = run_cli("list", "models")
    assert listed.returncode == 0, listed.stderr
    names = {line.split("\t")[0] for line in listed.stdout.splitlines()}
    assert {"sam-vit-b", "sam-vit-l", "sam-vit-h"} <= names


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.conftest import run_cli

    result = run_cli("run", "--model", "sam-vit-b", "--out", str(tmp_path / "r"), "--no-progress")
    assert result.returncode == 2
    assert "needs --checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_model_modules_import_and_list_without_torch(tmp_path: Path) -> None:
    """sambench list models works on an install without the model extras; building a SAM
    model there is a one-line error naming the extra."""
    import subprocess
    import sys

    from tests.conftest import REPO

    blocked = ("torch", "torchvision", "segment_anything", "sam2", "transformers", "safetensors")
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import sambench.models.sam, sambench.models.sam2_image, sambench.models.hf\n"
        "import sambench.embedding_cache, sambench.runner\n"
        "from sambench.cli import main\n"
        "code = main(['list', 'models'])\n"
        f"code += main(['run', '--model', 'sam-vit-b', '--out', {str(tmp_path / 'r')!r}])\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    names = {line.split("\t")[0] for line in result.stdout.splitlines()}
    assert {"sam-vit-h", "sam2", "hf-sam", "hf-sam2"} <= names
    assert "needs PyTorch: pip install 'sambench[sam]'" in result.stderr
