"""The automatic mask generator equals segment_anything's SamAutomaticMaskGenerator.

Two random-weight models built from the official modules (env-notes §7), fast on a CPU:

* the "micro" SAM (``build_micro_sam``): its masks are speckled, image-sized blobs whose
  logits stay within ±0.1, so the thresholds are lowered (a stability offset of 0.05) and
  NMS is opened up to keep many masks;
* a "blob" SAM: the micro SAM with its mask decoder replaced by a tiny deterministic module
  that draws textured discs around the prompt point (radius by mask token, ragged edges
  and holes from the image embedding). Its masks are local, so masks survive the crop-edge
  filter, NMS has work to do and the clean-up changes masks — the code paths the speckled
  micro masks never reach.

Each case runs the official generator (``output_mode="coco_rle"``) and ours on the same
module and image and compares every record: the same number of masks in the same order,
identical RLE strings, boxes, areas, points and crop boxes, scores to 1e-6.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from segment_anything import SamAutomaticMaskGenerator  # noqa: E402
from segment_anything.modeling import PromptEncoder  # noqa: E402
from segment_anything.utils import amg as official_amg  # noqa: E402

from sambench.amg import AmgParams, AutomaticMaskGenerator, MaskRecord  # noqa: E402
from sambench.amg.grids import build_point_grid, generate_crop_boxes  # noqa: E402
from sambench.amg.ops import (  # noqa: E402
    box_nms,
    encode_masks,
    encode_masks_torch,
    mask_boxes,
    near_crop_edge,
    remove_small_regions,
    stability_scores,
)
from sambench.errors import SambenchError  # noqa: E402
from sambench.masks import encode  # noqa: E402
from sambench.models.sam import SegmentAnything  # noqa: E402
from tests.test_amg_protocol import PointsOnly  # noqa: E402
from tests.test_sam_adapter import micro_sam, smooth_image  # noqa: E402


class PointPassingPromptEncoder(PromptEncoder):
    """SAM's prompt encoder that also writes the normalised point into token 0's first two
    channels (computed as the official encoder computes its positional encoding input)."""

    def _embed_points(self, points: Any, labels: Any, pad: bool) -> Any:
        embedding = super()._embed_points(points, labels, pad)
        coords = (points + 0.5).clone()
        coords[:, :, 0] = coords[:, :, 0] / self.input_image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / self.input_image_size[0]
        embedding[:, 0, :2] = coords[:, 0, :].to(torch.float)
        return embedding


class BlobDecoder(torch.nn.Module):
    """Textured discs around the prompt point: mask token k has radius RADII[k] (in the
    padded input frame); the image embedding adds ragged edges, holes and islands."""

    RADII = (0.2, 0.09, 0.045, 0.14)  # single-output token 0, then the three multimask ones

    def forward(
        self,
        image_embeddings: Any,
        image_pe: Any,
        sparse_prompt_embeddings: Any,
        dense_prompt_embeddings: Any,
        multimask_output: bool,
    ) -> tuple[Any, Any]:
        side = 4 * image_embeddings.shape[-1]
        texture = torch.nn.functional.interpolate(
            image_embeddings[:, :1], (side, side), mode="bilinear", align_corners=False
        )[0, 0]
        texture = (texture - texture.mean()) / (texture.std() + 1e-6)
        centres = (torch.arange(side, dtype=torch.float) + 0.5) / side
        px = sparse_prompt_embeddings[:, 0, 0][:, None, None]
        py = sparse_prompt_embeddings[:, 0, 1][:, None, None]
        dist = torch.sqrt((centres[None, None, :] - px) ** 2 + (centres[None, :, None] - py) ** 2)
        tokens = [1, 2, 3] if multimask_output else [0]
        masks = torch.stack([2000.0 * (self.RADII[k] - dist) + 60 * texture for k in tokens], 1)
        at_point = texture[
            (py[:, 0, 0] * side).long().clamp(0, side - 1),
            (px[:, 0, 0] * side).long().clamp(0, side - 1),
        ]
        iou = torch.stack([0.8 + 0.04 * k + 0.1 * at_point for k in tokens], 1)
        return masks, iou


def blob_sam() -> Any:
    sam = micro_sam(seed=3)
    sam.prompt_encoder.__class__ = PointPassingPromptEncoder
    sam.mask_decoder = BlobDecoder()
    return sam.eval()


@pytest.fixture(scope="module")
def sam() -> Any:
    return micro_sam()


@pytest.fixture(scope="module")
def blobs() -> Any:
    return blob_sam()


def official_records(sam: Any, image: np.ndarray, **knobs: Any) -> list[dict[str, Any]]:
    generator = SamAutomaticMaskGenerator(sam, output_mode="coco_rle", **knobs)
    records: list[dict[str, Any]] = generator.generate(image)
    return records


def ours(sam: Any, image: np.ndarray, **knobs: Any) -> list[MaskRecord]:
    model = SegmentAnything.from_module(sam, device="cpu")
    return AutomaticMaskGenerator(model, AmgParams(rle_device="cpu", **knobs)).generate(image)


def assert_same(official: list[dict[str, Any]], mine: list[MaskRecord]) -> None:
    assert len(mine) == len(official)
    for theirs, record in zip(official, mine, strict=True):
        assert record.segmentation == theirs["segmentation"]
        assert record.bbox == theirs["bbox"]
        assert record.area == theirs["area"]
        assert record.point_coords == theirs["point_coords"]
        assert record.crop_box == theirs["crop_box"]
        assert record.predicted_iou == pytest.approx(theirs["predicted_iou"], abs=1e-6)
        assert record.stability_score == pytest.approx(
            theirs["stability_score"], abs=1e-6, nan_ok=True
        )


# ----------------------------------------------------------------- whole generator


def test_random_micro_sam_without_crops(sam: Any) -> None:
    image = smooth_image(120, 180)
    knobs = {
        "points_per_side": 6,
        "pred_iou_thresh": 0.005,  # about half the random predicted IoUs pass
        "stability_score_offset": 0.05,  # random logits stay within ±0.1
        "stability_score_thresh": 0.1,
        "box_nms_thresh": 1.0,  # every speckled mask has the image's box
    }
    official = official_records(sam, image, **knobs)
    assert 15 < len(official) < 108  # both filters removed some, many are left
    assert_same(official, ours(sam, image, **knobs))


def test_random_micro_sam_with_crops_and_clean_up(sam: Any) -> None:
    image = smooth_image(100, 222)  # the crops' scales are not powers of two
    knobs = {
        "points_per_side": 2,
        "pred_iou_thresh": 0.0,
        "stability_score_thresh": 0.0,
        "box_nms_thresh": 1.0,
        "crop_n_layers": 1,
        "crop_nms_thresh": 1.0,
        "min_mask_region_area": 30,
    }
    official = official_records(sam, image, **knobs)
    assert len(official) > 10
    assert_same(official, ours(sam, image, **knobs))


def test_blob_sam_with_crops_nms_and_clean_up(blobs: Any) -> None:
    image = smooth_image(192, 256, seed=4)
    knobs = {
        "points_per_side": 8,
        "pred_iou_thresh": 0.72,
        "stability_score_thresh": 0.6,
        "crop_n_layers": 1,
        "crop_n_points_downscale_factor": 2,
        "min_mask_region_area": 40,
    }
    official = official_records(blobs, image, **knobs)
    crops = {tuple(r["crop_box"]) for r in official}
    assert len(official) > 15 and len(crops) > 2  # masks from the whole image and crops
    assert_same(official, ours(blobs, image, **knobs))


def test_blob_sam_default_filters_and_torch_free_nms(blobs: Any) -> None:
    """The official defaults (0.88 / 0.95 filters, NMS 0.7); NumPy NMS gives the same."""
    image = smooth_image(200, 260, seed=5)
    official = official_records(blobs, image, points_per_side=8)
    assert official
    assert_same(official, ours(blobs, image, points_per_side=8))
    assert_same(official, ours(blobs, image, points_per_side=8, nms_backend="numpy"))


def test_single_output_and_embedding_reuse(blobs: Any) -> None:
    model = SegmentAnything.from_module(blobs, device="cpu")
    image = smooth_image(120, 160, seed=6)
    params = AmgParams(points_per_side=4, multimask_output=False, pred_iou_thresh=0.0,
                       stability_score_thresh=0.0, box_nms_thresh=1.0)  # fmt: skip
    generator = AutomaticMaskGenerator(model, params)
    records = generator.generate(image)
    assert len(records) == 16  # one mask per point
    again = generator.generate(image, embedding=model.embed(image))
    assert [r.to_json() for r in again] == [r.to_json() for r in records]


def test_refuses_models_without_points_or_logits() -> None:
    with pytest.raises(SambenchError, match=r"'points-only' cannot generate .* lacks logits"):
        AutomaticMaskGenerator(PointsOnly())
    with pytest.raises(ValueError, match="points_per_side and point_grids"):
        AmgParams(points_per_side=None)
    with pytest.raises(ValueError, match="point_grids has 1 grids"):
        AmgParams(points_per_side=None, point_grids=(build_point_grid(4),), crop_n_layers=1)


def test_explicit_point_grids_equal_official(blobs: Any) -> None:
    image = smooth_image(128, 192, seed=7)
    grid = np.array([[0.2, 0.3], [0.5, 0.5], [0.8, 0.6]])
    knobs = {"points_per_side": None, "point_grids": [grid], "pred_iou_thresh": 0.0,
             "stability_score_thresh": 0.0, "box_nms_thresh": 1.0}  # fmt: skip
    official = official_records(blobs, image, **knobs)
    assert len(official) == 9
    assert_same(official, ours(blobs, image, **{**knobs, "point_grids": (grid,)}))


# --------------------------------------------------------------------- pieces


@pytest.mark.parametrize("size", [(200, 300), (333, 150), (64, 64)])
@pytest.mark.parametrize("layers", [0, 1, 2])
def test_grids_and_crops_equal_official(size: tuple[int, int], layers: int) -> None:
    assert generate_crop_boxes(size, layers, 512 / 1500) == official_amg.generate_crop_boxes(
        size, layers, 512 / 1500
    )
    for n in (1, 7, 32):
        np.testing.assert_array_equal(build_point_grid(n), official_amg.build_point_grid(n))


def test_array_ops_equal_official() -> None:
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(12, 30, 40)) * 2).astype(np.float32)
    logits[3] = -5.0  # empty even at the lower threshold: nan
    official = official_amg.calculate_stability_score(torch.from_numpy(logits), 0.0, 1.0)
    np.testing.assert_array_equal(stability_scores(logits, 0.0, 1.0), official.numpy())
    masks = logits > 1.5
    masks[4] = False
    masks[5] = False
    masks[5, 7, 9] = True
    boxes = mask_boxes(masks)
    np.testing.assert_array_equal(
        boxes, official_amg.batched_mask_to_box(torch.from_numpy(masks)).numpy()
    )
    crop, image = [10, 5, 50, 35], [0, 0, 60, 40]
    np.testing.assert_array_equal(
        near_crop_edge(boxes, crop, image),
        official_amg.is_box_near_crop_edge(torch.from_numpy(boxes), crop, image).numpy(),
    )
    for mode in ("holes", "islands"):
        mask, changed = remove_small_regions(masks[0], 3, mode)  # type: ignore[arg-type]
        theirs, their_changed = official_amg.remove_small_regions(masks[0], 3, mode)
        np.testing.assert_array_equal(mask, theirs)
        assert changed == their_changed
    rles = encode_masks(masks)
    assert rles == [encode(m) for m in masks] == encode_masks_torch(masks, "cpu")
    uncompressed = official_amg.mask_to_rle_pytorch(torch.from_numpy(masks))
    assert [official_amg.coco_encode_rle(r) for r in uncompressed] == rles


def test_numpy_nms_equals_torchvision() -> None:
    rng = np.random.default_rng(1)
    for trial in range(20):
        n = int(rng.integers(1, 60))
        corners = rng.integers(0, 50, size=(n, 2, 2)).astype(np.float32)
        boxes = np.concatenate([corners.min(1), corners.max(1) + rng.integers(0, 3, (n, 2))], 1)
        scores = (
            rng.choice([0.0, 0.5, 1.0], n).astype(np.float32)
            if trial % 2
            else rng.random(n, dtype=np.float32)
        )  # ties on odd trials, as the clean-up's 0 / 1 scores
        for threshold in (0.3, 0.7, 1.0):
            np.testing.assert_array_equal(
                box_nms(boxes, scores, threshold, backend="numpy"),
                box_nms(boxes, scores, threshold, backend="torchvision"),
            )


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_runs_on_sam2_adapter() -> None:
    """Model-agnostic: the SAM 2 adapter (points, multimask, logits) generates masks too."""
    pytest.importorskip("sam2.build_sam")
    from sambench.models.sam2_image import Sam2Image
    from tests.test_sam2_adapter import CONFIG, tiny_sam2

    model = Sam2Image.from_module(tiny_sam2(), model_config=CONFIG, device="cpu")
    image = smooth_image(96, 128, seed=8)
    params = AmgParams(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                       stability_score_offset=0.05, box_nms_thresh=1.0)  # fmt: skip
    records = AutomaticMaskGenerator(model, params).generate(image)
    assert len(records) == 48
    assert all(r.segmentation["size"] == [96, 128] for r in records)
