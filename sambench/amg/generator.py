"""A model-agnostic automatic mask generator: SAM's ``SamAutomaticMaskGenerator`` over the
model protocol.

Any :class:`~sambench.models.base.PromptableModel` with the ``points`` and ``logits``
capabilities (and ``multimask`` for multimask output) can generate masks "for everything":

1. **Crops** (:func:`~sambench.amg.grids.generate_crop_boxes`): the whole image, then
   ``crop_n_layers`` layers of ``2^i × 2^i`` overlapping crops. Each crop is embedded once.
2. **Point grid**: ``points_per_side²`` single positive clicks at the cell centres of the crop
   (layer ``i`` has ``points_per_side / crop_n_points_downscale_factor^i`` per side), sent to
   ``model.predict(..., return_logits=True)`` ``points_per_batch`` at a time.
3. **Filters**, per batch and in the official order: predicted IoU ``> pred_iou_thresh``;
   stability score ``>= stability_score_thresh`` (IoU of the masks thresholded at logit
   ``mask_threshold ± stability_score_offset``); the mask is ``logits > mask_threshold``; masks
   whose box lies within ``crop_edge_atol`` pixels of a crop side that is not an image side are
   dropped; each mask is encoded as COCO RLE in the image frame (on the GPU when there is one).
4. **Box NMS** within each crop (score: predicted IoU, threshold ``box_nms_thresh``), then
   across crops (score ``1 / crop area``: smaller crops win, threshold ``crop_nms_thresh``).
5. **Clean-up** when ``min_mask_region_area > 0``: holes, then islands smaller than that are
   removed from every mask; box NMS runs again (threshold ``max(box_nms_thresh,
   crop_nms_thresh)``) preferring unchanged masks.

With the same model, image and settings the result equals ``SamAutomaticMaskGenerator(...,
output_mode="coco_rle").generate(image)`` record for record (``tests/test_amg.py`` checks it on
a random-weight SAM, with crops and clean-up). Where it differs in cost: the official code
run-length encodes every mask in a Python loop over a torch tensor; here pycocotools (CPU) or
one vectorised torch pass (GPU) does it. See ``reports/amg-benchmark.md``.

Defaults are the official ``SamAutomaticMaskGenerator``'s (sam-protocol §10);
:data:`SAM2_DEFAULTS` are ``SAM2AutomaticMaskGenerator``'s (``pred_iou_thresh = 0.8``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from sambench.amg.grids import build_all_layer_point_grids, generate_crop_boxes
from sambench.amg.ops import (
    box_nms,
    encode_masks,
    mask_boxes,
    near_crop_edge,
    remove_small_regions,
    resolve_rle_device,
    stability_scores,
)
from sambench.errors import SambenchError
from sambench.masks import RLE, area, decode, encode
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.prompts import Click, Prompt
from sambench.samples import Image

FloatArray = npt.NDArray[np.float64]


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"field {name!r} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class AmgParams:
    """Every knob of the automatic mask generator, with ``SamAutomaticMaskGenerator``'s defaults.

    Attributes:
        points_per_side: Points per side of the grid on the whole image (32). ``None`` when
            ``point_grids`` is given.
        points_per_batch: Points sent to the model in one ``predict`` call (64). Only speed and
            memory depend on it (the decoder's rows are independent).
        pred_iou_thresh: Keep masks whose predicted IoU is ``>`` this (0.88; SAM 2: 0.8);
            0 turns the filter off.
        stability_score_thresh: Keep masks whose stability score is ``>=`` this (0.95); 0 turns
            the filter off.
        stability_score_offset: The logit offset δ of the stability score (1.0): IoU of the
            masks at ``mask_threshold + δ`` and ``mask_threshold − δ``.
        mask_threshold: Logit threshold of a mask (0.0, SAM's and SAM 2's ``mask_threshold``).
        box_nms_thresh: IoU threshold of the box NMS within a crop (0.7).
        crop_n_layers: Layers of crops beyond the whole image (0); layer ``i`` has
            ``(2^i)²`` crops.
        crop_nms_thresh: IoU threshold of the box NMS across crops (0.7).
        crop_overlap_ratio: Overlap of neighbouring crops as a fraction of the image's short
            side, scaled by ``2 / crops per side`` (512 / 1500).
        crop_n_points_downscale_factor: Layer ``i`` gets ``points_per_side / factor^i`` points
            per side (1).
        point_grids: Explicit grids, one ``(N, 2)`` array of ``[0, 1]``-normalised ``(x, y)``
            per layer, instead of ``points_per_side`` (None).
        min_mask_region_area: Remove holes and islands smaller than this many pixels, then
            re-run NMS (0: off; SA-1B used 100).
        multimask_output: Three masks per point (True, as SAM's generator); False: the
            single-output mask (one per point; the paper's "single output" proposals).
        crop_edge_atol: Distance in pixels under which a box "touches" a crop side (20.0, fixed
            in the official code).
        rle_device: Where masks are run-length encoded: ``"auto"`` (CUDA when torch sees a
            GPU, else pycocotools on the CPU), ``"cpu"``, or a torch device such as ``"cuda:1"``.
            The RLE is the same either way.
        nms_backend: ``"auto"`` (torchvision's ``batched_nms`` when torchvision is importable,
            as the official code), ``"torchvision"`` or ``"numpy"`` (a port of its CPU kernel,
            for torch-free models).
    """

    points_per_side: int | None = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    point_grids: tuple[FloatArray, ...] | None = field(default=None, compare=False)
    min_mask_region_area: int = 0
    multimask_output: bool = True
    crop_edge_atol: float = 20.0
    rle_device: str = "auto"
    nms_backend: str = "auto"

    def __post_init__(self) -> None:
        if (self.points_per_side is None) == (self.point_grids is None):
            raise ValueError("exactly one of points_per_side and point_grids must be given")
        if self.point_grids is not None:
            grids = tuple(np.asarray(g, dtype=np.float64) for g in self.point_grids)
            if any(g.ndim != 2 or g.shape[1] != 2 for g in grids):
                raise ValueError("point_grids must be (N, 2) arrays of normalised (x, y)")
            if len(grids) != self.crop_n_layers + 1:
                raise ValueError(
                    f"point_grids has {len(grids)} grids, crop_n_layers needs "
                    f"{self.crop_n_layers + 1}"
                )
            object.__setattr__(self, "point_grids", grids)
        for name in ("points_per_batch", "crop_n_points_downscale_factor"):
            _positive_int(name, getattr(self, name))
        if self.points_per_side is not None:
            _positive_int("points_per_side", self.points_per_side)
        for name in ("crop_n_layers", "min_mask_region_area"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"field {name!r} must be an integer >= 0, got {value!r}")
        for name in (
            "pred_iou_thresh",
            "stability_score_thresh",
            "stability_score_offset",
            "mask_threshold",
            "box_nms_thresh",
            "crop_nms_thresh",
            "crop_overlap_ratio",
            "crop_edge_atol",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"field {name!r} must be a number, got {value!r}")
        if not isinstance(self.multimask_output, bool):
            raise ValueError("field 'multimask_output' must be true or false")
        if self.nms_backend not in ("auto", "torchvision", "numpy"):
            raise ValueError(
                f"field 'nms_backend' must be auto, torchvision or numpy, got {self.nms_backend!r}"
            )

    def grids(self) -> list[FloatArray]:
        """The normalised point grid of each crop layer."""
        if self.point_grids is not None:
            return list(self.point_grids)
        assert self.points_per_side is not None
        return build_all_layer_point_grids(
            self.points_per_side, self.crop_n_layers, self.crop_n_points_downscale_factor
        )

    def to_json(self) -> dict[str, Any]:
        """The knobs as JSON (grids as nested lists)."""
        row = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if self.point_grids is not None:
            row["point_grids"] = [g.tolist() for g in self.point_grids]
        return row


SAM_DEFAULTS = AmgParams()
"""``SamAutomaticMaskGenerator``'s defaults (segment-anything, sam-protocol §10)."""

SAM2_DEFAULTS = replace(SAM_DEFAULTS, pred_iou_thresh=0.8)
"""``SAM2AutomaticMaskGenerator``'s defaults (its ``use_m2m`` refinement is not provided)."""


@dataclass(frozen=True)
class MaskRecord:
    """One generated mask, with the fields of ``SamAutomaticMaskGenerator``'s records.

    Attributes:
        segmentation: The mask as COCO RLE at the image's size.
        area: Foreground pixels.
        bbox: ``[x, y, w, h]`` as the official generator gives it: ``w = x1 − x0`` of the
            inclusive pixel box (one less than COCO's ``bbox`` of the same mask).
        predicted_iou: The model's predicted IoU.
        point_coords: ``[[x, y]]``, the grid point that produced the mask (image pixels).
        stability_score: The stability score.
        crop_box: ``[x, y, w, h]`` of the crop the mask came from.
    """

    segmentation: RLE
    area: int
    bbox: list[int]
    predicted_iou: float
    point_coords: list[list[float]]
    stability_score: float
    crop_box: list[int]

    def to_json(self) -> dict[str, Any]:
        return {
            "segmentation": dict(self.segmentation),
            "area": self.area,
            "bbox": list(self.bbox),
            "predicted_iou": self.predicted_iou,
            "point_coords": [list(p) for p in self.point_coords],
            "stability_score": self.stability_score,
            "crop_box": list(self.crop_box),
        }


@dataclass
class _Candidates:
    """Masks in flight, as parallel arrays (the official ``MaskData``)."""

    rles: list[RLE] = field(default_factory=list)
    boxes: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    iou: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    stability: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    points: FloatArray = field(default_factory=lambda: np.zeros((0, 2), np.float64))
    crop_boxes: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 4), np.int64))

    def __len__(self) -> int:
        return len(self.rles)

    def take(self, keep: npt.NDArray[Any]) -> None:
        """Keep the rows ``keep`` (indices, in that order, or a boolean mask)."""
        index = np.flatnonzero(keep) if keep.dtype == bool else keep
        self.rles = [self.rles[int(i)] for i in index]
        self.boxes = self.boxes[index]
        self.iou = self.iou[index]
        self.stability = self.stability[index]
        self.points = self.points[index]
        self.crop_boxes = self.crop_boxes[index]

    def extend(self, other: _Candidates) -> None:
        self.rles = self.rles + other.rles
        self.boxes = np.concatenate([self.boxes, other.boxes])
        self.iou = np.concatenate([self.iou, other.iou])
        self.stability = np.concatenate([self.stability, other.stability])
        self.points = np.concatenate([self.points, other.points])
        self.crop_boxes = np.concatenate([self.crop_boxes, other.crop_boxes])


def check_model(model: PromptableModel, multimask_output: bool = True) -> None:
    """Raise a :class:`SambenchError` unless the model can run the generator."""
    caps = model.capabilities
    needed = ["points", "logits"] + (["multimask"] if multimask_output else [])
    missing = [name for name in needed if not getattr(caps, name)]
    if missing:
        raise SambenchError(
            f"model {model.name!r} cannot generate masks automatically: lacks "
            f"{', '.join(missing)} (the generator needs point prompts and full-resolution "
            "logits for the stability score)"
        )


class AutomaticMaskGenerator:
    """Masks for everything in an image from a grid of point prompts (see the module docs).

    Args:
        model: A model with the ``points`` and ``logits`` capabilities (and ``multimask`` when
            ``params.multimask_output``).
        params: The knobs; the official defaults when omitted.
    """

    def __init__(self, model: PromptableModel, params: AmgParams | None = None) -> None:
        self.model = model
        self.params = params if params is not None else AmgParams()
        check_model(model, self.params.multimask_output)
        self._grids = self.params.grids()
        self.rle_device = resolve_rle_device(self.params.rle_device)

    def generate(
        self, image: Image | None, embedding: ImageEmbedding | None = None
    ) -> list[MaskRecord]:
        """The masks of an RGB ``(H, W, 3)`` uint8 image.

        Args:
            image: The image. May be ``None`` when ``embedding`` is given and there are no
                crop layers (the pixels are then not needed).
            embedding: The model's embedding of the whole image, if already computed (it then
                serves the whole-image crop; other crops are embedded here).
        """
        data = self.generate_candidates(image, embedding)
        return self.records(data)

    # ------------------------------------------------------------------ internals

    def generate_candidates(
        self, image: Image | None, embedding: ImageEmbedding | None = None
    ) -> _Candidates:
        """The masks before conversion to records (:meth:`generate` without :meth:`records`)."""
        p = self.params
        if image is not None:
            height, width = int(image.shape[0]), int(image.shape[1])
        elif embedding is not None and p.crop_n_layers == 0:
            height, width = embedding.height, embedding.width
        else:
            raise SambenchError("the generator needs the image (or, without crops, its embedding)")
        crop_boxes, layers = generate_crop_boxes(
            (height, width), p.crop_n_layers, p.crop_overlap_ratio
        )
        data = _Candidates()
        for crop_box, layer in zip(crop_boxes, layers, strict=True):
            whole = crop_box == [0, 0, width, height]
            data.extend(
                self._process_crop(
                    image, (height, width), crop_box, layer, embedding if whole else None
                )
            )
        if len(crop_boxes) > 1 and len(data):
            widths = (data.crop_boxes[:, 2] - data.crop_boxes[:, 0]).astype(np.float32)
            heights = (data.crop_boxes[:, 3] - data.crop_boxes[:, 1]).astype(np.float32)
            scores = np.float32(1) / (widths * heights)
            data.take(box_nms(data.boxes, scores, p.crop_nms_thresh, self._nms()))
        if p.min_mask_region_area > 0 and len(data):
            self._clean_up(data)
        return data

    def _nms(self) -> Any:
        return self.params.nms_backend

    def _process_crop(
        self,
        image: Image | None,
        image_size: tuple[int, int],
        crop_box: list[int],
        layer: int,
        embedding: ImageEmbedding | None,
    ) -> _Candidates:
        p = self.params
        x0, y0, x1, y1 = crop_box
        if embedding is None:
            assert image is not None
            embedding = self.model.embed(image[y0:y1, x0:x1, :])
        crop_h, crop_w = y1 - y0, x1 - x0
        points = self._grids[layer] * np.array([crop_w, crop_h])[None, :]
        data = _Candidates()
        for start in range(0, points.shape[0], p.points_per_batch):
            data.extend(
                self._process_batch(
                    embedding,
                    points[start : start + p.points_per_batch],
                    crop_box,
                    image_size,
                )
            )
        keep = box_nms(data.boxes, data.iou, p.box_nms_thresh, self._nms())
        data.take(keep)
        offset = np.array([x0, y0, x0, y0], np.int64)
        data.boxes = data.boxes + offset
        data.points = data.points + np.array([x0, y0], np.float64)
        data.crop_boxes = np.tile(np.asarray(crop_box, np.int64), (len(data), 1))
        return data

    def _process_batch(
        self,
        embedding: ImageEmbedding,
        points: FloatArray,
        crop_box: list[int],
        image_size: tuple[int, int],
    ) -> _Candidates:
        p = self.params
        prompts = [Prompt(clicks=(Click(float(x), float(y), True),)) for x, y in points]
        outputs = self.model.predict(
            embedding, prompts, multimask_output=p.multimask_output, return_logits=True
        )
        if len(outputs) != len(prompts):
            raise SambenchError(
                f"model {self.model.name!r} returned {len(outputs)} outputs for "
                f"{len(prompts)} prompts"
            )
        logit_maps = []
        for out in outputs:
            if out.logits is None:
                raise SambenchError(
                    f"model {self.model.name!r} returned no logits for return_logits=True"
                )
            logit_maps.append(out.logits)
        per_point = logit_maps[0].shape[0]
        iou = np.concatenate([o.iou_predictions for o in outputs]).astype(np.float32)
        repeated = np.repeat(points, per_point, axis=0)
        keep = np.arange(iou.shape[0])
        if p.pred_iou_thresh > 0.0:
            keep = keep[iou[keep] > p.pred_iou_thresh]
        if keep.size == 0:
            return _Candidates()
        if keep.size == iou.shape[0]:
            logits = np.concatenate(logit_maps)
        else:
            logits = np.stack([logit_maps[i // per_point][i % per_point] for i in keep])
        stability = stability_scores(logits, p.mask_threshold, p.stability_score_offset)
        if p.stability_score_thresh > 0.0:
            passed = stability >= p.stability_score_thresh
            keep, logits, stability = keep[passed], logits[passed], stability[passed]
        masks = logits > p.mask_threshold
        del logits
        boxes = mask_boxes(masks)
        height, width = image_size
        edge = near_crop_edge(boxes, crop_box, [0, 0, width, height], p.crop_edge_atol)
        if edge.any():
            inside = ~edge
            keep, masks, stability = keep[inside], masks[inside], stability[inside]
            boxes = boxes[inside]
        x0, y0, x1, y1 = crop_box
        if [x0, y0, x1, y1] != [0, 0, width, height]:
            full = np.zeros((masks.shape[0], height, width), bool)
            full[:, y0:y1, x0:x1] = masks
            masks = full
        return _Candidates(
            rles=encode_masks(masks, self.rle_device),
            boxes=boxes,
            iou=iou[keep],
            stability=stability.astype(np.float32),
            points=repeated[keep].astype(np.float64),
            crop_boxes=np.zeros((keep.size, 4), np.int64),
        )

    def _clean_up(self, data: _Candidates) -> None:
        """Remove small holes and islands, then NMS preferring unchanged masks (official)."""
        p = self.params
        new_masks = []
        scores = []
        boxes = np.zeros((len(data), 4), np.int64)
        for index, rle in enumerate(data.rles):
            mask = decode(rle)
            mask, changed_holes = remove_small_regions(mask, p.min_mask_region_area, "holes")
            mask, changed_islands = remove_small_regions(mask, p.min_mask_region_area, "islands")
            changed = changed_holes or changed_islands
            scores.append(0.0 if changed else 1.0)
            new_masks.append(mask if changed else None)
            boxes[index] = mask_boxes(mask[None])[0]
        keep = box_nms(
            boxes,
            np.asarray(scores, np.float32),
            max(p.box_nms_thresh, p.crop_nms_thresh),
            self._nms(),
        )
        for index in keep:
            changed_mask = new_masks[int(index)]
            if changed_mask is not None:
                data.rles[int(index)] = encode(changed_mask)
                data.boxes[int(index)] = boxes[int(index)]
        data.take(keep)

    @staticmethod
    def records(data: _Candidates) -> list[MaskRecord]:
        out = []
        for i, rle in enumerate(data.rles):
            x0, y0, x1, y1 = (int(v) for v in data.boxes[i])
            cx0, cy0, cx1, cy1 = (int(v) for v in data.crop_boxes[i])
            out.append(
                MaskRecord(
                    segmentation=rle,
                    area=area(rle),
                    bbox=[x0, y0, x1 - x0, y1 - y0],
                    predicted_iou=float(data.iou[i]),
                    point_coords=[[float(v) for v in data.points[i]]],
                    stability_score=float(data.stability[i]),
                    crop_box=[cx0, cy0, cx1 - cx0, cy1 - cy0],
                )
            )
        return out


def generate_masks(
    model: PromptableModel, image: Image, params: AmgParams | None = None
) -> list[MaskRecord]:
    """``AutomaticMaskGenerator(model, params).generate(image)``."""
    return AutomaticMaskGenerator(model, params).generate(image)


__all__ = [
    "SAM2_DEFAULTS",
    "SAM_DEFAULTS",
    "AmgParams",
    "AutomaticMaskGenerator",
    "MaskRecord",
    "check_model",
    "generate_masks",
]
