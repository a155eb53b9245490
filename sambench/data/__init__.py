"""Dataset registry. Plugins add datasets through the ``sambench.datasets`` entry point group.

A dataset factory is called as ``factory(data_root)`` and returns a
:class:`sambench.data.base.Dataset`; built-in datasets are defined by the cards in
``datasets/`` (one YAML file per dataset).
"""

from __future__ import annotations

import os
from pathlib import Path

from sambench.data.base import Dataset
from sambench.registry import Registry

DATASETS: Registry[Dataset] = Registry(
    "dataset", entry_point_group="sambench.datasets", builtin_modules=("sambench.data.cards",)
)

DATA_ROOT_ENV = "SAMBENCH_DATA_ROOT"
"""Environment variable holding the default ``--data-root``."""


def default_data_root() -> Path:
    """``$SAMBENCH_DATA_ROOT`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def open_dataset(name: str, data_root: Path) -> Dataset:
    """Open the dataset registered as ``name`` under ``data_root``."""
    return DATASETS.get(name)(data_root)


__all__ = ["DATASETS", "DATA_ROOT_ENV", "Dataset", "default_data_root", "open_dataset"]
