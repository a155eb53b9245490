"""Suites: named lists of datasets evaluated together and macro-averaged (``tasks/suites/``).

A suite file names a default task and its datasets, with the counts the source paper
used::

    name: sa23
    task: points
    datasets:
      - {name: ppdls, abbreviation: PPDLS, images: 182, masks: 2347}

``sambench run --suite sa23`` runs every listed dataset present under ``--data-root`` and
records the missing ones in the manifest and report instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from sambench.errors import ConfigError, SambenchError
from sambench.resources import data_folder


@dataclass(frozen=True)
class SuiteEntry:
    """One dataset of a suite, with the source paper's sample counts (``None`` if unknown)."""

    name: str
    abbreviation: str
    images: int | None = None
    masks: int | None = None


@dataclass(frozen=True)
class Suite:
    """A named list of datasets and the task they are evaluated with."""

    name: str
    task: str
    datasets: tuple[SuiteEntry, ...]
    description: str = ""
    reference: str = ""


def suite_names() -> list[str]:
    """Names of the shipped suites."""
    return sorted(path.stem for path in (data_folder("tasks") / "suites").glob("*.yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A shipped suite by name or a suite YAML file by path; errors name the file and field."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = data_folder("tasks") / "suites" / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(suite_names()) or "none"
            raise SambenchError(f"unknown suite {name_or_path!r} (known: {known})")
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read suite ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), list):
        raise ConfigError(f"{path}: a suite needs a 'datasets' list")
    entries = []
    for position, item in enumerate(raw["datasets"], start=1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{path}: datasets entry {position} needs a 'name'")
        unknown = set(item) - {"name", "abbreviation", "images", "masks"}
        if unknown:
            raise ConfigError(
                f"{path}: datasets entry {position}: unknown field {sorted(unknown)[0]!r}"
            )
        entries.append(
            SuiteEntry(
                name=item["name"],
                abbreviation=str(item.get("abbreviation", item["name"])),
                images=item.get("images"),
                masks=item.get("masks"),
            )
        )
    if not isinstance(raw.get("task"), str):
        raise ConfigError(f"{path}: missing field 'task'")
    return Suite(
        name=str(raw.get("name", path.stem)),
        task=raw["task"],
        datasets=tuple(entries),
        description=str(raw.get("description", "")),
        reference=str(raw.get("reference", "")),
    )
