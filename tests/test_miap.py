"""MIAP + Open Images through the miap and miap-clothing cards, on native-format files written
here: the MIAP boxes CSV, the Open Images segmentation CSV, mask PNGs at their own resolution
and the images; person masks matched within 1% of a MIAP box, clothing inside one, the
perceived gender / age presentation attached to every object."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sambench.data import open_dataset
from sambench.data.miap import MiapDataset, match_box
from sambench.errors import DataError

MIAP_HEADER = ("ImageID,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,"
               "IsGroupOf,IsDepictionOf,IsInsideOf,GenderPresentation,AgePresentation")  # fmt: skip
MASK_HEADER = "MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks"
IMAGE = "0a1b2c3d4e5f6789"


def mask_png(folder: Path, name: str, box: tuple[float, float, float, float]) -> None:
    """A binary mask at 50x40 (not the image's 100x80), filling ``box`` (normalised)."""
    pixels = np.zeros((40, 50), dtype=np.uint8)
    x0, x1, y0, y1 = box
    pixels[round(y0 * 40) : round(y1 * 40), round(x0 * 50) : round(x1 * 50)] = 255
    Image.fromarray(pixels).save(folder / name)


def write(root: Path) -> None:
    (root / "test-masks").mkdir(parents=True)
    (root / "test").mkdir()
    Image.new("RGB", (100, 80), (10, 20, 30)).save(root / "test" / f"{IMAGE}.jpg")
    people = [
        # a feminine adult: its Open Images "Woman" mask is 0.5% off on one side: a match
        f"{IMAGE},/m/01g317,1,0.10,0.50,0.10,0.90,0,0,0,0,0,Predominantly Feminine,Middle",
        # a masculine child: its mask is 2% off: no match
        f"{IMAGE},/m/01g317,1,0.60,0.90,0.20,0.60,1,0,0,0,0,Predominantly Masculine,Young",
        # a group box: never matched
        f"{IMAGE},/m/01g317,1,0.00,1.00,0.00,1.00,0,0,1,0,0,Unknown,Unknown",
    ]
    (root / "open_images_extended_miap_boxes_test.csv").write_text(
        "\n".join([MIAP_HEADER, *people]) + "\n"
    )
    rows = [
        ("m03bt1vf", "/m/03bt1vf", "aaaa0001", (0.102, 0.50, 0.10, 0.90)),  # woman: matches 1
        ("m01g317", "/m/01g317", "aaaa0002", (0.606, 0.90, 0.20, 0.60)),  # 2% off: no match
        ("m01n4qj", "/m/01n4qj", "aaaa0003", (0.20, 0.40, 0.30, 0.60)),  # shirt inside person 1
        ("m09j5n", "/m/09j5n", "aaaa0004", (0.70, 0.80, 0.50, 0.603)),  # footwear, person 2
        ("m0k4j", "/m/0k4j", "aaaa0005", (0.20, 0.40, 0.30, 0.60)),  # a car: neither variant
    ]
    lines = [MASK_HEADER]
    for label, mid, box_id, box in rows:
        name = f"{IMAGE}_{label}_{box_id}.png"
        mask_png(root / "test-masks", name, box)
        lines.append(f"{name},{IMAGE},{mid},{box_id},{box[0]},{box[1]},{box[2]},{box[3]},0.9,"
                     "0.3 0.5 1;0.2 0.4 0")  # fmt: skip
    (root / "test-annotations-object-segmentation.csv").write_text("\n".join(lines) + "\n")


def test_person_masks_matched_to_miap_boxes(tmp_path: Path) -> None:
    write(tmp_path / "miap")
    dataset = open_dataset("miap", tmp_path)
    assert isinstance(dataset, MiapDataset)
    assert [(e.image_id, e.masks) for e in dataset.index()] == [(IMAGE, 1)]
    (sample,) = dataset.samples()
    (person,) = sample.objects
    assert person.object_id == f"{IMAGE}/m03bt1vf_aaaa0001" and person.category == "Woman"
    assert person.attributes["perceived_gender_presentation"] == "Predominantly Feminine"
    assert person.attributes["perceived_age_presentation"] == "Middle"
    assert person.attributes["miap_box"] == [0.10, 0.50, 0.10, 0.90]
    assert person.attributes["is_group_of"] == 0
    assert person.dense_mask().shape == (80, 100)  # resized to the image
    assert person.box == (10.0, 8.0, 40.0, 64.0)
    assert dataset.verify().masks == 1


def test_clothing_inside_person_boxes(tmp_path: Path) -> None:
    write(tmp_path / "miap")
    (tmp_path / "miap-clothing").symlink_to(tmp_path / "miap", target_is_directory=True)
    (sample,) = open_dataset("miap-clothing", tmp_path).samples()
    shirt, shoe = sample.objects
    assert (shirt.category, shoe.category) == ("Shirt", "Footwear")
    assert shirt.attributes["perceived_gender_presentation"] == "Predominantly Feminine"
    assert shoe.attributes["perceived_age_presentation"] == "Young"  # within the 1% margin
    assert shirt.attributes["containing_person_boxes"] == 1  # the group box is not used


def test_the_margin_is_relative_to_the_miap_box_sides() -> None:
    wide = (0.0, 1.0, 0.40, 0.50)  # 1.0 wide, 0.1 high: 0.01 in x, 0.001 in y
    assert match_box((0.009, 1.0, 0.40, 0.50), wide) is not None
    assert match_box((0.0, 1.0, 0.402, 0.50), wide) is None


def test_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "miap")
    boxes = tmp_path / "miap" / "open_images_extended_miap_boxes_test.csv"
    boxes.write_text(MIAP_HEADER.replace("AgePresentation", "Age") + "\n")
    with pytest.raises(DataError, match=r"boxes_test\.csv: MIAP boxes CSV lacks column\(s\) "
                                        r"AgePresentation"):  # fmt: skip
        open_dataset("miap", tmp_path).index()
    boxes.write_text(MIAP_HEADER + f"\n{IMAGE},/m/01g317,1,x,0.5,0.1,0.9,0,0,0,0,0,a,b\n")
    with pytest.raises(DataError, match=r"boxes_test\.csv:2: column XMin must be a number"):
        open_dataset("miap", tmp_path).index()
