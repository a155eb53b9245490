"""Attach per-object attributes from a CSV file to any dataset (fairness breakdowns).

Some attribute annotations live outside a dataset's own files: the SAM paper's perceived
skin-tone labels, for example, come from a proprietary dataset. A user who has such a table can
join it to any dataset's objects, through a card's ``attributes`` field or in code
(:func:`with_attributes`). Each entry of the card field is one CSV join::

    attributes:
      - file: skin_tone.csv          # CSV with a header row, relative to the dataset folder
        object_column: object_id     # matched to ObjectAnnotation.object_id, and/or
        image_column: image_id       # matched to ImageSample.image_id
        columns:                     # CSV column -> attribute name (a list keeps the names)
          fitzpatrick: perceived_skin_tone
        types: {perceived_skin_tone: int}   # optional: str (default), int, float, bool

Keys (at least one column): with ``object_column`` alone a row belongs to the object whose
``object_id`` equals the cell; with ``image_column`` alone it belongs to **every** object of
that image; with both, to the object of that image whose id is the cell, either the full
``object_id`` or its part after ``"<image id>/"`` (so a table can number objects per image as
the loaders do, e.g. ``<image id>/<label value>``). Cells are matched as strings, exactly.

Values: the listed columns become :attr:`ObjectAnnotation.attributes` (an existing attribute of
the same name is replaced); an empty cell sets nothing; ``types`` converts values (an
unconvertible cell is an error naming the file and line). Objects without a row are left as
they are; rows matching no object are ignored (a table may cover several splits). Two rows
with the same key are an error naming both lines. The CSV files join the dataset's
annotation checksums and its prepared-cache key, so a changed table is never served stale.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sambench.data.base import Dataset, IndexedDataset, IndexEntry, VerifyReport
from sambench.errors import ConfigError, DataError, MissingFileError
from sambench.samples import ImageSample, ObjectAnnotation

TYPES = ("str", "int", "float", "bool")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


@dataclass(frozen=True)
class AttributeTable:
    """One CSV join (see the module docstring).

    Attributes:
        file: The CSV path, relative to the dataset folder.
        columns: CSV column -> attribute name.
        object_column: Column matched to object ids, or ``None``.
        image_column: Column matched to image ids, or ``None``.
        types: Attribute name -> ``str``, ``int``, ``float`` or ``bool``.
    """

    file: str
    columns: Mapping[str, str]
    object_column: str | None = None
    image_column: str | None = None
    types: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.object_column is None and self.image_column is None:
            raise ValueError("an attribute table needs object_column and/or image_column")
        if not self.columns:
            raise ValueError("an attribute table needs at least one column to attach")
        bad = sorted(t for t in self.types.values() if t not in TYPES)
        if bad:
            raise ValueError(f"attribute types must be one of {TYPES}, not {bad[0]!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (manifests and the prepared-cache key)."""
        return {
            "file": self.file,
            "object_column": self.object_column,
            "image_column": self.image_column,
            "columns": dict(self.columns),
            "types": dict(self.types),
        }


def parse_tables(value: object, where: str) -> tuple[AttributeTable, ...]:
    """A card's ``attributes`` field: ``null`` or a list of joins.

    Raises:
        ConfigError: Wrong shape or values; the message names ``where`` and the field.
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}: field 'attributes' must be a list of CSV joins")
    tables = []
    known = ("file", "object_column", "image_column", "columns", "types")
    for position, item in enumerate(value):
        label = f"attributes[{position}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: field {label!r} must be a mapping")
        unknown = sorted(str(k) for k in item if k not in known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown field(s) {label}.{', '.join(unknown)} "
                f"(known: {', '.join(known)})"
            )
        file = item.get("file")
        if (
            not isinstance(file, str)
            or not file.strip()
            or file.startswith("/")
            or ".." in Path(file).parts
        ):
            raise ConfigError(
                f"{where}: field '{label}.file' must be a relative path, got {file!r}"
            )
        columns = item.get("columns")
        if isinstance(columns, list) and all(isinstance(c, str) for c in columns):
            columns = {c: c for c in columns}
        if (
            not isinstance(columns, dict)
            or not columns
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items())
        ):
            raise ConfigError(
                f"{where}: field '{label}.columns' must be a non-empty list of column names or "
                "a mapping column -> attribute name"
            )
        keys = {}
        for key in ("object_column", "image_column"):
            column = item.get(key)
            if column is not None and (not isinstance(column, str) or not column):
                raise ConfigError(f"{where}: field '{label}.{key}' must be a column name")
            keys[key] = column
        types = item.get("types") or {}
        if not isinstance(types, dict):
            raise ConfigError(f"{where}: field '{label}.types' must be a mapping")
        try:
            tables.append(AttributeTable(file=file, columns=columns, types=types, **keys))
        except ValueError as error:
            raise ConfigError(f"{where}: field {label!r}: {error}") from error
    return tuple(tables)


def _convert(value: str, kind: str, where: str) -> Any:
    if kind == "str":
        return value
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise DataError(f"{where}: {value!r} is not a valid {kind}") from None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise DataError(f"{where}: {value!r} is not a valid bool (1/0, true/false, yes/no)")


@dataclass(frozen=True)
class LoadedTable:
    """A table read from disk: ``(image key, object key) -> attributes``; ``None`` in a key
    position means "any"."""

    table: AttributeTable
    path: Path
    rows: Mapping[tuple[str | None, str | None], Mapping[str, Any]]

    def for_object(self, image_id: str, obj: ObjectAnnotation) -> Mapping[str, Any] | None:
        """The attributes this table gives ``obj`` of image ``image_id`` (``None``: no row)."""
        table = self.table
        if table.object_column is None:
            return self.rows.get((image_id, None))
        if table.image_column is None:
            return self.rows.get((None, obj.object_id))
        found = self.rows.get((image_id, obj.object_id))
        prefix = f"{image_id}/"
        if found is None and obj.object_id.startswith(prefix):
            found = self.rows.get((image_id, obj.object_id[len(prefix) :]))
        return found


def read_table(root: Path, table: AttributeTable) -> LoadedTable:
    """Read one table's CSV under ``root``.

    Raises:
        MissingFileError: The CSV does not exist.
        DataError: It is unreadable, lacks a named column, repeats a key or has a bad value.
    """
    path = root / table.file
    if not path.is_file():
        raise MissingFileError(f"attribute table {path} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read attribute table: {error}") from error
    reader = csv.DictReader(text.splitlines())
    header = list(reader.fieldnames or [])
    needed = [c for c in (table.image_column, table.object_column) if c] + list(table.columns)
    missing = [column for column in needed if column not in header]
    if missing:
        raise DataError(
            f"{path}: attribute table lacks column(s) {', '.join(missing)} (found: "
            f"{', '.join(header) or 'no header'})"
        )
    rows: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    lines: dict[tuple[str | None, str | None], int] = {}
    for line, row in enumerate(reader, start=2):
        key = (
            None if table.image_column is None else (row[table.image_column] or "").strip(),
            None if table.object_column is None else (row[table.object_column] or "").strip(),
        )
        if key in rows:
            raise DataError(
                f"{path}:{line}: key {'/'.join(k for k in key if k is not None)!r} repeats "
                f"line {lines[key]}"
            )
        values = {}
        for column, name in table.columns.items():
            cell = row.get(column)
            if cell is None or cell.strip() == "":
                continue
            values[name] = _convert(
                cell.strip(), table.types.get(name, "str"), f"{path}:{line} column {column}"
            )
        rows[key] = values
        lines[key] = line
    return LoadedTable(table, path, rows)


def attach(sample: ImageSample, tables: Sequence[LoadedTable]) -> ImageSample:
    """``sample`` with every table's attributes joined onto its objects."""
    objects = []
    changed = False
    for obj in sample.objects:
        extra: dict[str, Any] = {}
        for table in tables:
            found = table.for_object(sample.image_id, obj)
            if found:
                extra.update(found)
        if extra:
            changed = True
            obj = replace(obj, attributes={**obj.attributes, **extra})
        objects.append(obj)
    return replace(sample, objects=tuple(objects)) if changed else sample


class AttributedDataset(IndexedDataset):
    """An :class:`IndexedDataset` whose objects get attributes from CSV tables.

    It takes over the inner loader's subsampling and prepared cache (the cache then stores the
    joined attributes, keyed by the tables' checksums too), and delegates everything else.

    Args:
        inner: The dataset's own loader.
        tables: The joins.
    """

    format_name = "attributes"

    def __init__(self, inner: IndexedDataset, tables: Sequence[AttributeTable]) -> None:
        super().__init__(
            inner.name,
            inner.root,
            subsample=inner.subsample,
            cache_dir=inner.cache_dir,
            download_hint=inner.download_hint,
        )
        inner.subsample = None
        inner.cache_dir = None
        self.inner = inner
        self.tables = tuple(tables)
        self._loaded: tuple[LoadedTable, ...] | None = None

    def __repr__(self) -> str:
        return f"AttributedDataset({self.inner!r}, {len(self.tables)} table(s))"

    def loaded_tables(self) -> tuple[LoadedTable, ...]:
        """The tables, read once."""
        with self._lock:
            if self._loaded is None:
                self._loaded = tuple(read_table(self.root, table) for table in self.tables)
            return self._loaded

    def annotation_labels(self) -> list[str]:
        return [*self.inner.annotation_labels(), *(table.file for table in self.tables)]

    def annotation_files(self) -> list[Path]:
        return [*self.inner.annotation_files(), *(self.root / t.file for t in self.tables)]

    def loader_options(self) -> dict[str, Any]:
        return {
            "format": self.inner.format_name,
            "conversion_version": self.inner.conversion_version,
            "options": self.inner.loader_options(),
            "attributes": [table.as_dict() for table in self.tables],
        }

    def index(self) -> Sequence[IndexEntry]:
        return self.inner.index()

    def mask_counts(self) -> dict[str, int]:
        if self.prepared() is not None:
            return super().mask_counts()
        return self.inner.mask_counts()

    def verify(self) -> VerifyReport:
        report = self.inner.verify()
        tables = self.loaded_tables()
        return VerifyReport(
            images=report.images,
            masks=report.masks,
            checked=f"{report.checked}; {len(tables)} attribute table(s) read",
        )

    def load_sample(self, image_id: str) -> ImageSample | None:
        sample = self.inner.load_sample(image_id)
        return None if sample is None else attach(sample, self.loaded_tables())

    def portable_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return self.inner.portable_metadata(metadata)

    def restore_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return self.inner.restore_metadata(metadata)

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["attributes"] = [table.as_dict() for table in self.tables]
        return described


class _PlainAttributed(Dataset):
    """The same join for a plugin dataset that is not an :class:`IndexedDataset`."""

    def __init__(self, inner: Dataset, tables: Sequence[AttributeTable]) -> None:
        self.inner = inner
        self.name = inner.name
        self.root = inner.root
        self.tables = tuple(tables)

    def samples(self) -> Iterator[ImageSample]:
        loaded = [read_table(self.root, table) for table in self.tables]
        for sample in self.inner.samples():
            yield attach(sample, loaded)

    def annotation_files(self) -> list[Path]:
        return [*self.inner.annotation_files(), *(self.root / t.file for t in self.tables)]

    def annotation_labels(self) -> list[str]:
        return [*self.inner.annotation_labels(), *(table.file for table in self.tables)]

    def describe(self) -> dict[str, Any]:
        described = {**self.inner.describe(), **super().describe()}
        described["attributes"] = [table.as_dict() for table in self.tables]
        return described


def with_attributes(dataset: Dataset, tables: Sequence[AttributeTable]) -> Dataset:
    """``dataset`` with the tables' attributes joined onto its objects (itself if none)."""
    if not tables:
        return dataset
    if isinstance(dataset, IndexedDataset):
        return AttributedDataset(dataset, tables)
    return _PlainAttributed(dataset, tables)


__all__ = [
    "TYPES",
    "AttributeTable",
    "AttributedDataset",
    "LoadedTable",
    "attach",
    "parse_tables",
    "read_table",
    "with_attributes",
]
