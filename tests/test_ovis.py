"""OVIS (YouTube-VIS JSON) through its card: native-format files written here, and real video
frames and masks (DAVIS 2016 ``dog`` and ``blackswan`` from ../shared/data) laid out as OVIS
frames with their masks as per-frame RLE, to check frame choice and conversion on real data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench import masks
from sambench.data import open_dataset
from sambench.data.cards import builtin_cards, load_card
from sambench.data.subsample import SubsampleRule
from sambench.data.video import FrameChoice, parse_frame_choice
from sambench.data.ytvis import YtvisDataset
from sambench.errors import ConfigError, DataError
from tests.conftest import shared_data_root

CARD = next(c for c in builtin_cards() if c.name == "ovis")


def square(h: int, w: int, y: int, x: int, size: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[y : y + size, x : x + size] = True
    return mask


def uncompressed(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F").astype(np.uint8)
    runs, value, count = [], 0, 0
    for pixel in flat:
        if pixel == value:
            count += 1
        else:
            runs.append(count)
            value, count = pixel, 1
    runs.append(count)
    return runs


def write_made(root: Path) -> None:
    h, w = 12, 16
    (root / "train" / "v1").mkdir(parents=True)
    (root / "train" / "v2").mkdir(parents=True)
    for video, count in (("v1", 3), ("v2", 2)):
        for t in range(count):
            Image.new("RGB", (w, h), (t * 40, 0, 0)).save(
                root / "train" / video / f"img_{t:07d}.jpg"
            )
    a0 = masks.encode(square(h, w, 1, 1, 4))
    data = {
        "videos": [
            {"id": 1, "file_names": [f"v1/img_{t:07d}.jpg" for t in range(3)], "width": w,
             "height": h, "length": 3},
            {"id": 2, "file_names": [f"v2/img_{t:07d}.jpg" for t in range(2)], "width": w,
             "height": h, "length": 2},
        ],
        "annotations": [
            {"id": 10, "video_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentations": [a0, None, [[8, 2, 14, 2, 14, 8, 8, 8]]]},
            {"id": 11, "video_id": 1, "category_id": 2, "iscrowd": 0,
             "segmentations": [{"size": [h, w], "counts": uncompressed(square(h, w, 6, 6, 3))},
                               None, None]},
            {"id": 12, "video_id": 1, "category_id": 2, "iscrowd": 1,
             "segmentations": [{"size": [h, w], "counts": uncompressed(square(h, w, 9, 0, 2))},
                               None, None]},
            {"id": 13, "video_id": 2, "category_id": 1, "iscrowd": 1,
             "segmentations": [None, a0]},
        ],
        "categories": [{"id": 1, "name": "Person"}, {"id": 2, "name": "Dog"}],
    }  # fmt: skip
    (root / "annotations_train.json").write_text(json.dumps(data))


def test_frames_of_youtube_vis_json(tmp_path: Path) -> None:
    write_made(tmp_path / "ovis")
    dataset = open_dataset("ovis", tmp_path)
    assert isinstance(dataset, YtvisDataset)
    # frame 1/1 has no mask; video 2 has only a crowd instance: no candidate
    assert [(e.image_id, e.masks) for e in dataset.index()] == [("1/0", 2), ("1/2", 1)]
    first, last = dataset.samples()
    assert [o.object_id for o in first.objects] == ["1/0/10", "1/0/11", "1/0/12"]
    person, dog, crowd = first.objects
    assert (person.category, dog.category, crowd.iscrowd) == ("Person", "Dog", True)
    np.testing.assert_array_equal(dog.dense_mask(), square(12, 16, 6, 6, 3))
    assert person.attributes == {"track_id": 10, "video_id": 1}
    assert last.objects[0].area == 36 and last.file_name == "train/v1/img_0000002.jpg"
    assert last.metadata == {"video_id": 1, "frame_index": 2}
    assert dataset.verify().masks == 3


def test_frame_choice_option(tmp_path: Path) -> None:
    write_made(tmp_path / "ovis")
    cards = tmp_path / "cards"
    cards.mkdir()
    text = CARD.path.read_text()  # type: ignore[union-attr]
    (cards / "ovis.yaml").write_text(text.replace("  frames: null", "  frames: {stride: 2}"))
    dataset = load_card(cards / "ovis.yaml").open(tmp_path)
    assert [e.image_id for e in dataset.index()] == ["1/0"]  # annotated frames 0, 2 -> 0
    (cards / "ovis.yaml").write_text(text.replace("  frames: null", "  frames: {stride: 0}"))
    with pytest.raises(ConfigError, match=r"'options\.frames\.stride' must be an integer >= 1"):
        load_card(cards / "ovis.yaml").open(tmp_path)
    with pytest.raises(ConfigError, match=r"unknown field\(s\) options\.frames\.every"):
        parse_frame_choice({"every": 2}, "card")
    shutil.rmtree(cards)


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    write_made(tmp_path / "ovis")
    path = tmp_path / "ovis" / "annotations_train.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["segmentations"] = [None]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"annotation 10: 'segmentations' must list one entry per "
                                        r"frame \(3 for video 1\)"):  # fmt: skip
        open_dataset("ovis", tmp_path).index()
    del data["annotations"]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"no 'annotations' list"):
        open_dataset("ovis", tmp_path).index()


@pytest.fixture
def davis_as_ovis(tmp_path: Path) -> Path:
    shared = shared_data_root()
    davis = None if shared is None else shared / "davis2016"
    if davis is None or not (davis / "Annotations" / "480p" / "dog").is_dir():
        pytest.skip("real DAVIS 2016 sample not available")
    root = tmp_path / "ovis"
    videos, annotations = [], []
    for video_id, sequence in enumerate(("blackswan", "dog"), start=1):
        frames = sorted((davis / "JPEGImages" / "480p" / sequence).glob("*.jpg"))
        (root / "train" / sequence).mkdir(parents=True)
        segmentations: list[object] = []
        for frame in frames:
            shutil.copy(frame, root / "train" / sequence / frame.name)
            label = np.asarray(Image.open(davis / "Annotations" / "480p" / sequence /
                                          f"{frame.stem}.png"))  # fmt: skip
            mask = (label[..., 0] if label.ndim == 3 else label) > 0
            segmentations.append(masks.encode(mask) if mask.any() else None)
        height, width = np.asarray(Image.open(frames[0])).shape[:2]
        videos.append(
            {
                "id": video_id,
                "file_names": [f"{sequence}/{f.name}" for f in frames],
                "height": int(height),
                "width": int(width),
                "length": len(frames),
            }
        )
        annotations.append({"id": video_id * 100, "video_id": video_id, "category_id": 1,
                            "iscrowd": 0, "segmentations": segmentations})  # fmt: skip
    (root / "annotations_train.json").write_text(json.dumps(
        {"videos": videos, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}
    ))  # fmt: skip
    return tmp_path


def test_real_davis_frames_as_ovis(davis_as_ovis: Path) -> None:
    davis = shared_data_root() / "davis2016"  # type: ignore[operator]
    dataset = open_dataset("ovis", davis_as_ovis)
    entries = dataset.index()
    assert len(entries) == len(list((davis / "JPEGImages" / "480p").glob("*/*.jpg")))
    sample = dataset.load_sample("2/7")
    assert sample is not None and sample.file_name == "train/dog/00007.jpg"
    expected = np.asarray(Image.open(davis / "Annotations" / "480p" / "dog" / "00007.png")) > 0
    np.testing.assert_array_equal(sample.objects[0].dense_mask(), expected)
    image = sample.load_image()
    np.testing.assert_array_equal(image, np.asarray(Image.open(davis / "JPEGImages" / "480p" /
                                                               "dog" / "00007.jpg")))  # fmt: skip
    # frames are drawn deterministically: the seeded rule, then per-video thinning
    assert isinstance(dataset, YtvisDataset)
    dataset.subsample = SubsampleRule(threshold=10, budget=12, seed=3)
    chosen = dataset.selection()
    assert chosen is not None and len(chosen.image_ids) == 12
    again = open_dataset("ovis", davis_as_ovis)
    assert isinstance(again, YtvisDataset)
    again.subsample = SubsampleRule(threshold=10, budget=12, seed=3)
    assert again.selection() == chosen
    thinned = YtvisDataset("ovis", dataset.root, "train", "annotations_train.json",
                           frames=FrameChoice(per_video=4))  # fmt: skip
    picked = [e.image_id for e in thinned.index()]
    assert len(picked) == 8 and picked[:4] == ["1/6", "1/18", "1/31", "1/43"]  # blackswan: 50
