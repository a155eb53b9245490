"""VISOR through its card, on native-format files written here: one sparse-annotation JSON per
video and the video's frames in a ZIP (or unpacked), polygons in 1920x1080 coordinates."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.cards import builtin_cards
from sambench.data.convert import ZipImage
from sambench.data.visor import VisorDataset
from sambench.errors import MissingFileError

LAYOUT = next(c for c in builtin_cards() if c.name == "visor").layout
FRAME = "P01_107_frame_0000000140.jpg"


def jpeg(width: int, height: int, value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (value, value, value)).save(buffer, "JPEG")
    return buffer.getvalue()


def write(root: Path, frame_size: tuple[int, int] = (192, 108)) -> None:
    annotations = root / LAYOUT["annotations"]
    frames = root / LAYOUT["frames"] / "P01"
    annotations.mkdir(parents=True)
    frames.mkdir(parents=True)
    hand = [[[192, 108], [960, 108], [960, 540], [192, 540]]]  # 1920x1080 coordinates
    cup = [[[1000, 500], [1500, 500], [1500, 900]], [], [[10, 10], [20, 20]]]  # + degenerate
    video = {"video_annotations": [
        {"image": {"image_path": f"P01_107/{FRAME}", "name": FRAME, "subsequence": "P01_107_seq",
                   "video": "P01_107"},
         "annotations": [
             {"id": "a1", "name": "left hand", "class_id": 300, "exhaustive": 1,
              "in_contact_object": "a2", "on_which_hand": None, "segments": hand},
             {"id": "a2", "name": "cup", "class_id": 12, "exhaustive": 1, "segments": cup},
             {"id": "a3", "name": "knife", "class_id": 4, "segments": [[]]},
         ]},
        {"image": {"name": "P01_107_frame_0000000200.jpg", "video": "P01_107"},
         "annotations": []},
    ]}  # fmt: skip
    (annotations / "P01_107.json").write_text(json.dumps(video))
    with zipfile.ZipFile(frames / "P01_107.zip", "w") as archive:
        archive.writestr(f"P01_107/{FRAME}", jpeg(*frame_size, 90))


def test_sparse_frames_from_zip(tmp_path: Path) -> None:
    write(tmp_path / "visor")
    dataset = open_dataset("visor", tmp_path)
    assert isinstance(dataset, VisorDataset)
    assert [(e.image_id, e.masks) for e in dataset.index()] == [
        ("P01_107/P01_107_frame_0000000140", 2)
    ]  # fmt: skip
    (sample,) = dataset.samples()
    assert (sample.height, sample.width) == (108, 192)  # polygons scaled from 1920x1080
    hand, cup = sample.objects
    assert cup.category == "cup" and cup.area > 0  # its empty and 2-point polygons skipped
    assert (hand.object_id, hand.category, hand.category_id) == (
        "P01_107/P01_107_frame_0000000140/a1", "left hand", 300
    )  # fmt: skip
    assert hand.attributes == {"exhaustive": 1, "in_contact_object": "a2", "on_which_hand": None}
    assert hand.box == (19.0, 11.0, 77.0, 43.0)  # the 1920x1080 polygon at 1/10 scale
    assert isinstance(sample.load_image, ZipImage)
    assert sample.load_image().shape == (108, 192, 3)
    assert sample.file_name.endswith(f"P01_107.zip/P01_107/{FRAME}")
    assert dataset.verify().masks == 2


def test_unpacked_frames_and_missing_archive(tmp_path: Path) -> None:
    root = tmp_path / "visor"
    write(root, frame_size=(1920, 1080))
    zipped = root / LAYOUT["frames"] / "P01" / "P01_107.zip"
    with zipfile.ZipFile(zipped) as archive:
        data = archive.read(f"P01_107/{FRAME}")
    zipped.unlink()
    with pytest.raises(MissingFileError, match=r"frames of video P01_107 not found: expected "):
        open_dataset("visor", tmp_path).verify()
    folder = root / LAYOUT["frames"] / "P01" / "P01_107"
    folder.mkdir()
    (folder / FRAME).write_bytes(data)
    (sample,) = open_dataset("visor", tmp_path).samples()
    assert sample.objects[0].box == (192.0, 108.0, 768.0, 432.0)  # not scaled
    np.testing.assert_array_equal(sample.load_image().shape, (1080, 1920, 3))
