"""Reading a dataset's JSON annotation file, with errors that name the file and the problem."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sambench.errors import DataError


def read_annotation_json(path: Path, encodings: Sequence[str] = ("utf-8",)) -> Any:
    """The parsed content of a JSON annotation file.

    Args:
        path: The file.
        encodings: Text encodings to try, in order (ADE20K's files are not all UTF-8).

    Raises:
        DataError: ``<path>: cannot read annotation file: <why>`` when the file cannot be
            read or decoded, ``<path>: invalid JSON at line L column C: <why>`` when it does
            not parse.

    >>> import tempfile
    >>> broken = Path(tempfile.mkdtemp()) / "broken.json"
    >>> _ = broken.write_text('{"images": [}')
    >>> read_annotation_json(broken)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sambench.errors.DataError: .../broken.json: invalid JSON at line 1 column 13: Expecting value
    """
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read annotation file: {error}") from error
    problem: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError as error:
            problem = error
    else:
        raise DataError(f"{path}: cannot read annotation file: {problem}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from error


__all__ = ["read_annotation_json"]
