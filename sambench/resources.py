"""Locating the data folders (``tasks/``, ``datasets/``, ``results/``) shipped with sambench.

In an installed wheel they live in ``sambench/_data/``; in a source checkout they are
the repository's top-level folders.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_folder(name: str) -> Path:
    """The shipped data folder ``name`` (``"tasks"``, ``"datasets"`` or ``"results"``)."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sambench data folder {name!r} not found next to {_PACKAGE_DIR}")
