"""Dataset cards: one YAML file per built-in dataset in the shipped ``datasets/`` folder.

A card says what a dataset is (title, source, license, citation, split, the SAM paper's
counts), where its files are (``layout``, relative to ``<data-root>/<name>``), how its
native annotations become per-object masks (``conversion``) and how to get it
(``download``). Its ``format`` names a loader in :data:`FORMATS`.

Importing this module registers one :data:`sambench.data.DATASETS` entry per card, so
``open_dataset("coco", data_root)`` opens ``data_root / "coco"`` with the COCO loader.
Opening never fails for a missing folder: the dataset's ``samples()`` raises a
:class:`~sambench.errors.DataError` naming the missing path and the card's download text.

Card fields (``*`` = required)::

    name*          str   the registry name; must equal the file name without .yaml, and the
                         dataset's folder under --data-root (R/coco, R/lvis, ...)
    title*         str   full name of the dataset
    abbreviation*  str   short name used in tables (the SAM paper's Table 7 abbreviation)
    format*        str   loader, a FORMATS name (coco, lvis, bsds500, bbbc038, ade20k,
                         instance-png, dram, cityscapes-panoptic, via, woodscape, visor,
                         ytvis, hypersim, miap, synthetic)
    source*        list  official URLs (may be empty for generated data)
    license*       str   license / terms of use, annotations and images
    citation*      str   BibTeX entry, or null when there is nothing to cite
    split*         str   the split evaluated (the one the SAM paper used, e.g. "val2017")
    layout*        map   role -> path relative to the dataset root, as in the official
                         download; every path must exist (``sambench datasets check``).
                         Roles per format:
                           coco      images, annotations; or, for several JSON files
                                     read as one dataset (ids become "<part>/<id>"),
                                     annotations.<part> with images.<part> or a shared
                                     images
                           lvis      annotations
                           bsds500   images, groundtruth (the split's folders)
                           bbbc038   images (the stage folder, e.g. stage1_train)
                           ade20k    images (the split folder of the full release)
                           instance-png  images and labels (label folder; default: the
                                     image folder), or images.<part> / labels.<part>
                                     for several parts read as one dataset
                           dram      images (DRAM_processed/test), labels
                           cityscapes-panoptic  images (leftImg8bit/<split>),
                                     gt (gtFine/<split>)
                           via       images.<part>, annotations.<part> (VIA JSON)
                           woodscape images (rgb_images), annotations
                                     (instance_annotations)
                           visor     annotations (one JSON per video), frames
                           ytvis     images (frame folder), annotations (JSON)
                           hypersim  scenes (the folder of ai_VVV_NNN scenes)
                           miap      boxes (MIAP CSV), masks_csv (Open Images CSV),
                                     masks (mask PNG folder), images
                           synthetic images, annotations
    paper_counts*  map   {images: int, masks: int} the SAM paper used (Table 7), or null
    conversion*    str   how native annotations become per-object masks, which ids are
                         skipped (background, void, crowd) and why
    download*      str   how to obtain the files (shown when they are missing, and by
                         ``sambench datasets info``)
    annotation_sha256
                   map   label -> official SHA-256 (64 hex digits) or null; a label is a
                         file path or a glob pattern relative to the dataset root (see
                         sambench.data.checksums: a pattern's checksum is that of the
                         sorted sha256sum listing of its files). The labels must be the
                         loader's annotation labels; null means "no official checksum
                         recorded" (only checksums computed on an official download may be
                         recorded). Default: none.
    subsample      map   null, or {threshold, budget, seed, frozen}: subsample by image when
                         the dataset holds more than threshold (15000) masks, to about
                         budget (10000), in the seeded order of seed (0); frozen is an
                         optional frozen manifest (relative to the card's folder) that
                         overrides the rule when the file exists. See
                         sambench.data.subsample. Default: null (every image).
    options        map   format-specific loader options (default: none):
                           coco      image_file_name: as-is | basename
                           lvis      images_folder: the COCO image folder of v0.5
                                     file_name entries (default val2017); coco_folder:
                                     the sibling dataset folder searched for COCO images
                                     after the LVIS folder (default coco; null: none)
                           bsds500   annotators: all | [1-based indices] (default all)
                           ade20k    max_part_level: null (all) | 0, 1, ... (default null)
                           instance-png  encoding: instance | binary; background,
                                     ignore: lists of values (default [0], []);
                                     categories: {value: name}; threshold (binary,
                                     default 0); split: none | components;
                                     min_area; image_suffix, label_suffix (default
                                     .png); recursive (false); include: key globs
                           dram      per: class | component (default class)
                           woodscape skip_tags (default [void])
                           visor     annotation_size: [height, width] (default
                                     [1080, 1920])
                           ytvis     frames: {stride, offset, per_video}
                                     (sambench.data.video; default all annotated)
                           miap      variant: person | clothing; labels (Open
                                     Images label ids); margin (0.01);
                                     include_groups (false)
                           synthetic num_images, seed
    attributes     list  CSV joins attaching per-object attributes, for any format (see
                         sambench.data.attributes): [{file, object_column and/or
                         image_column, columns, types}]; each file is also an annotation
                         checksum label. Default: none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import yaml

from sambench.data import DATASETS
from sambench.data.ade20k import Ade20kDataset
from sambench.data.attributes import AttributeTable, parse_tables, with_attributes
from sambench.data.base import Dataset, LoaderKeywords
from sambench.data.bbbc038 import Bbbc038Dataset
from sambench.data.bsds500 import Bsds500Dataset
from sambench.data.cityscapes import CityscapesPanopticDataset
from sambench.data.coco import CocoDataset, MultiCocoDataset
from sambench.data.dram import PER, DramDataset
from sambench.data.hypersim import HypersimDataset
from sambench.data.instance_png import ENCODINGS, SPLITS, LabelMapDataset, LabelMapRule
from sambench.data.lvis import LvisDataset
from sambench.data.miap import VARIANTS, MiapDataset
from sambench.data.ndd20 import Ndd20Dataset
from sambench.data.prepare import default_cache_root
from sambench.data.subsample import SubsampleRule, parse_rule
from sambench.data.synthetic import generate_synthetic
from sambench.data.video import parse_frame_choice
from sambench.data.visor import VisorDataset
from sambench.data.woodscape import WoodScapeDataset
from sambench.data.ytvis import YtvisDataset
from sambench.errors import ConfigError
from sambench.registry import Registry
from sambench.resources import data_folder

FORMATS: Registry[Dataset] = Registry("dataset format", entry_point_group=None)
"""Loader per card ``format``: ``factory(card, data_root) -> Dataset``."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_TEXT_FIELDS = (
    "name",
    "title",
    "abbreviation",
    "format",
    "license",
    "split",
    "conversion",
    "download",
)
_REQUIRED = (*_TEXT_FIELDS, "source", "citation", "layout", "paper_counts")
_OPTIONAL = ("annotation_sha256", "subsample", "options", "attributes")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PaperCounts:
    """Images and masks the SAM paper evaluated on (Table 7)."""

    images: int
    masks: int


@dataclass(frozen=True)
class DatasetCard:
    """A dataset card, as read by :func:`load_card`. See the module docstring for the fields.

    Attributes:
        path: The card file (for messages); ``None`` for a card built in code.
    """

    name: str
    title: str
    abbreviation: str
    format: str
    source: tuple[str, ...]
    license: str
    citation: str | None
    split: str
    layout: Mapping[str, str]
    paper_counts: PaperCounts | None
    conversion: str
    download: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    annotation_sha256: Mapping[str, str | None] = field(
        default_factory=lambda: MappingProxyType({})
    )
    subsample: SubsampleRule | None = None
    attributes: tuple[AttributeTable, ...] = ()
    path: Path | None = field(default=None, compare=False)

    def dataset_root(self, data_root: Path) -> Path:
        """The dataset's folder: ``data_root / name``."""
        return Path(data_root) / self.name

    def layout_path(self, role: str) -> str:
        """The ``layout`` entry ``role`` (a path relative to the dataset root).

        Raises:
            ConfigError: The card has no such entry (the message names the card file).
        """
        try:
            return self.layout[role]
        except KeyError:
            raise ConfigError(
                f"{self._where()}: field 'layout.{role}' is required by format {self.format!r}"
            ) from None

    def open(self, data_root: Path) -> Dataset:
        """The dataset under ``data_root``, opened with the loader of the card's format (and
        its ``attributes`` tables joined, if any)."""
        return with_attributes(FORMATS.get(self.format)(self, Path(data_root)), self.attributes)

    def as_dict(self) -> dict[str, Any]:
        """The card as plain JSON-safe data (for manifests and listings)."""
        return {
            "name": self.name,
            "title": self.title,
            "abbreviation": self.abbreviation,
            "format": self.format,
            "source": list(self.source),
            "license": self.license,
            "citation": self.citation,
            "split": self.split,
            "layout": dict(self.layout),
            "paper_counts": None
            if self.paper_counts is None
            else {"images": self.paper_counts.images, "masks": self.paper_counts.masks},
            "conversion": self.conversion,
            "download": self.download,
            "annotation_sha256": dict(self.annotation_sha256),
            "subsample": None if self.subsample is None else self.subsample.as_dict(),
            "options": dict(self.options),
            "attributes": [table.as_dict() for table in self.attributes],
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType fields do not pickle: rebuild from plain data
        return (_card_from_dict, (self.as_dict(), self.path, self.subsample))

    def _where(self) -> str:
        return str(self.path) if self.path is not None else f"dataset card {self.name!r}"


def _card_from_dict(
    data: dict[str, Any], path: Path | None, subsample: SubsampleRule | None = None
) -> DatasetCard:
    counts = data["paper_counts"]
    where = str(path) if path is not None else f"dataset card {data['name']!r}"
    if subsample is None:
        subsample = parse_rule(data["subsample"], where, None)
    return DatasetCard(
        **{
            **data,
            "source": tuple(data["source"]),
            "layout": MappingProxyType(dict(data["layout"])),
            "paper_counts": None if counts is None else PaperCounts(**counts),
            "options": MappingProxyType(dict(data["options"])),
            "annotation_sha256": MappingProxyType(dict(data["annotation_sha256"])),
            "subsample": subsample,
            "attributes": tuple(
                AttributeTable(
                    file=t["file"],
                    columns=t["columns"],
                    object_column=t["object_column"],
                    image_column=t["image_column"],
                    types=t["types"],
                )
                for t in data.get("attributes") or ()
            ),
        },
        path=path,
    )


def load_card(path: Path) -> DatasetCard:
    """Read and validate one dataset card.

    Raises:
        ConfigError: The file is unreadable or not YAML, a required field is missing, a
            field is unknown or has the wrong type; the message names the file and field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read dataset card: {error}") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a dataset card must be a YAML mapping of fields")
    unknown = sorted(str(key) for key in data if key not in (*_REQUIRED, *_OPTIONAL))
    if unknown:
        known = ", ".join((*_REQUIRED, *_OPTIONAL))
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)} (known: {known})")
    for key in _REQUIRED:
        if key not in data:
            raise ConfigError(f"{path}: missing required field {key!r}")

    def fail(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{path}: field {key!r} must be {expected}, got {data_at(key)!r}")

    def data_at(key: str) -> object:
        value: object = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    text_values: dict[str, str] = {}
    for key in _TEXT_FIELDS:
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise fail(key, "a non-empty string")
        text_values[key] = value.strip()
    name = text_values["name"]
    if not _NAME.match(name):
        raise fail("name", "lower-case letters, digits, '.', '_' or '-'")
    if name != path.stem:
        raise ConfigError(f"{path}: field 'name' is {name!r} but the file is named {path.name}")
    if text_values["format"] not in FORMATS.names():
        raise fail("format", f"one of {', '.join(FORMATS.names())}")

    source = data["source"]
    if not isinstance(source, list) or not all(
        isinstance(url, str) and url.startswith(("https://", "http://")) for url in source
    ):
        raise fail("source", "a list of http(s) URLs")

    citation = data["citation"]
    if citation is not None and (
        not isinstance(citation, str) or not citation.strip().startswith("@")
    ):
        raise fail("citation", "a BibTeX entry (starting with '@') or null")

    layout = data["layout"]
    if not isinstance(layout, dict) or not layout:
        raise fail("layout", "a non-empty mapping of role: relative path")
    for role, relative in layout.items():
        if not isinstance(role, str) or not isinstance(relative, str) or not relative.strip():
            raise fail(f"layout.{role}", "a relative path")
        if not _relative_inside(relative):
            raise fail(f"layout.{role}", "a relative path inside the dataset folder (no '..')")

    counts = data["paper_counts"]
    paper_counts: PaperCounts | None = None
    if counts is not None:
        if not isinstance(counts, dict) or sorted(counts) != ["images", "masks"]:
            raise fail("paper_counts", "null or a mapping {images: int, masks: int}")
        for key in ("images", "masks"):
            value = counts[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise fail(f"paper_counts.{key}", "a non-negative integer")
        paper_counts = PaperCounts(images=counts["images"], masks=counts["masks"])

    options = data.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
        raise fail("options", "a mapping of option names to values")

    checksums = data.get("annotation_sha256") or {}
    if not isinstance(checksums, dict):
        raise fail("annotation_sha256", "a mapping of annotation path -> SHA-256 or null")
    for label, digest in checksums.items():
        if not isinstance(label, str) or not _relative_inside(label):
            raise ConfigError(
                f"{path}: field 'annotation_sha256' key {label!r} must be a relative path "
                "or glob pattern inside the dataset folder"
            )
        if digest is not None and (not isinstance(digest, str) or not _SHA256.match(digest)):
            raise ConfigError(
                f"{path}: field 'annotation_sha256' value of {label!r} must be 64 lower-case hex "
                f"digits (quoted) or null, got {digest!r}"
            )

    subsample = parse_rule(data.get("subsample"), str(path), path.parent)
    attributes = parse_tables(data.get("attributes"), str(path))

    return DatasetCard(
        name=name,
        title=text_values["title"],
        abbreviation=text_values["abbreviation"],
        format=text_values["format"],
        source=tuple(source),
        license=text_values["license"],
        citation=None if citation is None else citation.strip() + "\n",
        split=text_values["split"],
        layout=MappingProxyType({str(k): str(v).strip() for k, v in layout.items()}),
        paper_counts=paper_counts,
        conversion=text_values["conversion"],
        download=text_values["download"],
        options=MappingProxyType(dict(options)),
        annotation_sha256=MappingProxyType({str(k): v for k, v in checksums.items()}),
        subsample=subsample,
        attributes=attributes,
        path=path,
    )


def _relative_inside(relative: str) -> bool:
    pure = PurePosixPath(relative)
    return (
        bool(relative.strip())
        and not pure.is_absolute()
        and ".." not in pure.parts
        and ("\\" not in relative)
    )


# -- formats ------------------------------------------------------------------------------------


def _download_hint(card: DatasetCard) -> str:
    return f"To get dataset {card.name!r}: {card.download}"


def _reject_options(card: DatasetCard, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(card.options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{card._where()}: format {card.format!r} has no option(s) {', '.join(unknown)}"
            f" (known: {', '.join(allowed) or 'none'})"
        )


class _LoaderArguments(LoaderKeywords):
    """What every :class:`~sambench.data.base.IndexedDataset` loader takes from its card."""

    name: str
    root: Path


def _common(card: DatasetCard, data_root: Path) -> _LoaderArguments:
    """The arguments every loader takes: the card's name, its dataset folder under
    ``data_root``, and the :class:`~sambench.data.base.LoaderKeywords` (download text,
    subsample rule, prepared-cache folder)."""
    return {
        "name": card.name,
        "root": card.dataset_root(data_root),
        "download_hint": _download_hint(card),
        "subsample": card.subsample,
        "cache_dir": default_cache_root(Path(data_root)) / card.name,
    }


def _option(card: DatasetCard, key: str, default: Any, check: Any, expected: str) -> Any:
    value = card.options.get(key, default)
    if not check(value):
        raise ConfigError(
            f"{card._where()}: field 'options.{key}' must be {expected}, got {value!r}"
        )
    return value


@FORMATS.register("coco")
def open_coco(card: DatasetCard, data_root: Path) -> Dataset:
    """COCO instances JSON (``layout.annotations``) with an image folder (``layout.images``);
    or several JSON files (``layout.annotations.<part>``, ``layout.images.<part>`` or a shared
    ``layout.images``) read as one dataset with ids ``<part>/<id>``.

    Options: ``image_file_name`` (``as-is`` or ``basename``, default ``as-is``).
    """
    _reject_options(card, ("image_file_name",))
    image_file_name = _option(
        card, "image_file_name", "as-is", lambda v: v in ("as-is", "basename"), "as-is or basename"
    )
    parts = sorted(
        role[len("annotations.") :] for role in card.layout if role.startswith("annotations.")
    )
    if not parts:
        return CocoDataset(
            images_dir=card.layout_path("images"),
            annotation_file=card.layout_path("annotations"),
            image_file_name=image_file_name,
            **_common(card, data_root),
        )
    layout = {
        part: (
            card.layout.get(f"images.{part}") or card.layout_path("images"),
            card.layout_path(f"annotations.{part}"),
        )
        for part in parts
    }
    return MultiCocoDataset(
        parts=layout,
        image_file_name=image_file_name,
        **_common(card, data_root),
    )


@FORMATS.register("lvis")
def open_lvis(card: DatasetCard, data_root: Path) -> Dataset:
    """LVIS JSON (``layout.annotations``) over COCO 2017 images (see :mod:`sambench.data.lvis`).

    Options: ``images_folder`` (the COCO image folder of v0.5 ``file_name`` entries, default
    ``val2017``) and ``coco_folder`` (the sibling dataset folder searched for images after
    the LVIS folder; default ``coco``; ``null``: none).
    """
    _reject_options(card, ("images_folder", "coco_folder"))
    images_folder = _option(
        card,
        "images_folder",
        "val2017",
        lambda v: isinstance(v, str) and _relative_inside(v),
        "a folder name such as val2017",
    )
    coco_folder = _option(
        card,
        "coco_folder",
        "coco",
        lambda v: v is None or (isinstance(v, str) and _NAME.match(v) is not None),
        "a dataset folder name or null",
    )
    return LvisDataset(
        images_dir=images_folder,
        annotation_file=card.layout_path("annotations"),
        coco_root=None if coco_folder is None else Path(data_root) / coco_folder,
        **_common(card, data_root),
    )


def _annotators(value: object) -> bool:
    if value == "all":
        return True
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    )


@FORMATS.register("bsds500")
def open_bsds500(card: DatasetCard, data_root: Path) -> Dataset:
    """BSDS500 images (``layout.images``) and ``.mat`` ground truth (``layout.groundtruth``).

    Options: ``annotators`` (``all`` or a list of 1-based annotator indices; default all).
    """
    _reject_options(card, ("annotators",))
    annotators = _option(
        card, "annotators", "all", _annotators, "'all' or a list of 1-based annotator indices"
    )
    return Bsds500Dataset(
        images_dir=card.layout_path("images"),
        groundtruth_dir=card.layout_path("groundtruth"),
        annotators=None if annotators == "all" else annotators,
        **_common(card, data_root),
    )


@FORMATS.register("bbbc038")
def open_bbbc038(card: DatasetCard, data_root: Path) -> Dataset:
    """BBBC038v1: ``layout.images`` holds one folder per image with ``images/`` and ``masks/``."""
    _reject_options(card, ())
    return Bbbc038Dataset(images_dir=card.layout_path("images"), **_common(card, data_root))


@FORMATS.register("ade20k")
def open_ade20k(card: DatasetCard, data_root: Path) -> Dataset:
    """ADE20K full release: ``layout.images`` is the split folder (per-image JSON + masks).

    Options: ``max_part_level`` (``null`` for all levels, or an integer >= 0).
    """
    _reject_options(card, ("max_part_level",))
    level = _option(
        card,
        "max_part_level",
        None,
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        "null or an integer >= 0",
    )
    return Ade20kDataset(
        images_dir=card.layout_path("images"),
        max_part_level=level,
        **_common(card, data_root),
    )


def _int_list(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def _non_negative_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parts(card: DatasetCard, first: str, second: str) -> dict[str, tuple[str, str]]:
    """``part -> (layout.<first>[.part], layout.<second>[.part])``; a part named ``""`` when
    the card has plain ``<first>`` / ``<second>`` roles. ``<second>`` defaults to ``<first>``
    when absent."""
    names = sorted(role[len(first) + 1 :] for role in card.layout if role.startswith(f"{first}."))
    if not names:
        images = card.layout_path(first)
        return {"": (images, card.layout.get(second, images))}
    return {
        part: (
            card.layout_path(f"{first}.{part}"),
            card.layout.get(f"{second}.{part}") or card.layout.get(second)
            or card.layout_path(f"{first}.{part}"),
        )
        for part in names
    }  # fmt: skip


@FORMATS.register("instance-png")
def open_instance_png(card: DatasetCard, data_root: Path) -> Dataset:
    """One label image per image (:mod:`sambench.data.instance_png`): ``layout.images`` and
    ``layout.labels`` (or ``.<part>`` roles). Options: see the module docstring above."""
    _reject_options(
        card,
        ("encoding", "background", "ignore", "categories", "threshold", "split", "min_area",
         "image_suffix", "label_suffix", "recursive", "include"),
    )  # fmt: skip
    categories = _option(
        card,
        "categories",
        None,
        lambda v: (
            v is None
            or (
                isinstance(v, dict)
                and all(isinstance(k, int) and isinstance(n, str) for k, n in v.items())
            )
        ),
        "null or a mapping of integer label values to class names",
    )
    rule = LabelMapRule(
        encoding=_option(card, "encoding", "instance", lambda v: v in ENCODINGS,
                         " or ".join(ENCODINGS)),
        background=tuple(_option(card, "background", [0], _int_list, "a list of integers")),
        ignore=tuple(_option(card, "ignore", [], _int_list, "a list of integers")),
        categories=categories,
        threshold=_option(card, "threshold", 0, _non_negative_int, "an integer >= 0"),
        split=_option(card, "split", "none", lambda v: v in SPLITS, " or ".join(SPLITS)),
        min_area=_option(card, "min_area", 0, _non_negative_int, "an integer >= 0"),
    )  # fmt: skip
    suffix = (lambda v: isinstance(v, str) and bool(v), "a non-empty file-name ending")
    return LabelMapDataset(
        parts=_parts(card, "images", "labels"),
        rule=rule,
        image_suffix=_option(card, "image_suffix", ".png", *suffix),
        label_suffix=_option(card, "label_suffix", ".png", *suffix),
        recursive=_option(card, "recursive", False, lambda v: isinstance(v, bool), "true/false"),
        include=_option(
            card,
            "include",
            [],
            lambda v: isinstance(v, list) and all(isinstance(g, str) for g in v),
            "a list of glob patterns",
        ),
        **_common(card, data_root),
    )


@FORMATS.register("dram")
def open_dram(card: DatasetCard, data_root: Path) -> Dataset:
    """DRAM test paintings with VOC class-index labels (:mod:`sambench.data.dram`).

    Options: ``per`` (``class`` or ``component``, default ``class``).
    """
    _reject_options(card, ("per",))
    return DramDataset(
        images_dir=card.layout_path("images"),
        labels_dir=card.layout_path("labels"),
        per=_option(card, "per", "class", lambda v: v in PER, " or ".join(PER)),
        **_common(card, data_root),
    )


@FORMATS.register("cityscapes-panoptic")
def open_cityscapes(card: DatasetCard, data_root: Path) -> Dataset:
    """Cityscapes instance-id maps as panoptic segments (:mod:`sambench.data.cityscapes`)."""
    _reject_options(card, ())
    return CityscapesPanopticDataset(
        images_dir=card.layout_path("images"),
        gt_dir=card.layout_path("gt"),
        **_common(card, data_root),
    )


@FORMATS.register("via")
def open_via(card: DatasetCard, data_root: Path) -> Dataset:
    """VGG Image Annotator JSON (:mod:`sambench.data.ndd20`): ``images.<part>`` and
    ``annotations.<part>`` (or plain ``images`` / ``annotations``)."""
    _reject_options(card, ())
    parts = _parts(card, "images", "annotations")
    for part, (images, via_json) in parts.items():
        if images == via_json:
            role = f"annotations.{part}" if part else "annotations"
            raise ConfigError(f"{card._where()}: field 'layout.{role}' is required by format 'via'")
    return Ndd20Dataset(parts=parts, **_common(card, data_root))


@FORMATS.register("woodscape")
def open_woodscape(card: DatasetCard, data_root: Path) -> Dataset:
    """WoodScape per-image instance JSONs (:mod:`sambench.data.woodscape`).

    Options: ``skip_tags`` (default ``[void]``).
    """
    _reject_options(card, ("skip_tags",))
    return WoodScapeDataset(
        images_dir=card.layout_path("images"),
        annotations_dir=card.layout_path("annotations"),
        skip_tags=_option(
            card,
            "skip_tags",
            ["void"],
            lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
            "a list of tags",
        ),
        **_common(card, data_root),
    )


@FORMATS.register("visor")
def open_visor(card: DatasetCard, data_root: Path) -> Dataset:
    """VISOR sparse annotations (:mod:`sambench.data.visor`).

    Options: ``annotation_size`` (``[height, width]`` of the polygon coordinates).
    """
    _reject_options(card, ("annotation_size",))
    return VisorDataset(
        annotations_dir=card.layout_path("annotations"),
        frames_dir=card.layout_path("frames"),
        annotation_size=_option(
            card,
            "annotation_size",
            [1080, 1920],
            lambda v: _int_list(v) and len(v) == 2 and min(v) > 0,
            "[height, width]",
        ),
        **_common(card, data_root),
    )


@FORMATS.register("ytvis")
def open_ytvis(card: DatasetCard, data_root: Path) -> Dataset:
    """YouTube-VIS-format video JSON (:mod:`sambench.data.ytvis`).

    Options: ``frames`` (``{stride, offset, per_video}``, :mod:`sambench.data.video`).
    """
    _reject_options(card, ("frames",))
    return YtvisDataset(
        images_dir=card.layout_path("images"),
        annotation_file=card.layout_path("annotations"),
        frames=parse_frame_choice(card.options.get("frames"), card._where()),
        **_common(card, data_root),
    )


@FORMATS.register("hypersim")
def open_hypersim(card: DatasetCard, data_root: Path) -> Dataset:
    """Hypersim scenes with HDF5 instance maps (:mod:`sambench.data.hypersim`)."""
    _reject_options(card, ())
    return HypersimDataset(scenes_dir=card.layout_path("scenes"), **_common(card, data_root))


@FORMATS.register("miap")
def open_miap(card: DatasetCard, data_root: Path) -> Dataset:
    """Open Images masks matched to MIAP boxes (:mod:`sambench.data.miap`).

    Options: ``variant`` (``person`` or ``clothing``), ``labels`` (Open Images label ids),
    ``margin`` (0.01), ``include_groups`` (false).
    """
    _reject_options(card, ("variant", "labels", "margin", "include_groups"))
    labels = _option(
        card,
        "labels",
        None,
        lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
        "null or a list of Open Images label ids",
    )
    return MiapDataset(
        boxes_csv=card.layout_path("boxes"),
        masks_csv=card.layout_path("masks_csv"),
        masks_dir=card.layout_path("masks"),
        images_dir=card.layout_path("images"),
        variant=_option(card, "variant", "person", lambda v: v in VARIANTS, " or ".join(VARIANTS)),
        labels=labels,
        margin=_option(
            card,
            "margin",
            0.01,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1,
            "a number in [0, 1)",
        ),
        include_groups=_option(
            card, "include_groups", False, lambda v: isinstance(v, bool), "true/false"
        ),
        **_common(card, data_root),
    )


@FORMATS.register("synthetic")
def open_synthetic(card: DatasetCard, data_root: Path) -> Dataset:
    """Generate the synthetic dataset if needed, then open it as COCO.

    Options: ``num_images`` (default 12) and ``seed`` (default 0) of
    :func:`~sambench.data.synthetic.generate_synthetic`.
    """
    _reject_options(card, ("num_images", "seed"))
    params: dict[str, int] = {}
    for key, default, minimum in (("num_images", 12, 1), ("seed", 0, 0)):
        value = card.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(
                f"{card._where()}: field 'options.{key}' must be an integer >= {minimum}, "
                f"got {value!r}"
            )
        params[key] = value
    root = card.dataset_root(data_root)
    generate_synthetic(root, num_images=params["num_images"], seed=params["seed"])
    return CocoDataset(
        card.name,
        root,
        card.layout_path("images"),
        card.layout_path("annotations"),
        download_hint=_download_hint(card),
    )


# -- registration -------------------------------------------------------------------------------


class CardDatasetFactory:
    """The :data:`~sambench.data.DATASETS` entry of a card: ``factory(data_root) -> Dataset``.

    Attributes:
        card: The card, for listings (``DATASETS.get("coco").card.title``).
    """

    def __init__(self, card: DatasetCard) -> None:
        self.card = card

    def __call__(self, data_root: Path) -> Dataset:
        """Open the card's dataset under ``data_root`` (its folder is ``data_root / name``)."""
        return self.card.open(data_root)

    def __repr__(self) -> str:
        return f"CardDatasetFactory({self.card.name!r})"


def builtin_cards() -> list[DatasetCard]:
    """Every card shipped in the ``datasets/`` data folder, sorted by file name."""
    folder = data_folder("datasets")
    return [load_card(path) for path in sorted(folder.glob("*.yaml"))]


def _register_builtin_cards() -> None:
    for card in builtin_cards():
        DATASETS.add(card.name, CardDatasetFactory(card))


_register_builtin_cards()

__all__ = [
    "FORMATS",
    "CardDatasetFactory",
    "DatasetCard",
    "PaperCounts",
    "builtin_cards",
    "load_card",
]
