"""The task-adapter protocol and declarative task configs.

A task config (YAML in ``tasks/``) names an adapter, its default datasets and every
protocol knob::

    name: points
    adapter: points
    description: Single- and multi-click point prompts (SAM paper §7.1).
    datasets: [synthetic]
    params:
      max_clicks: 9

The adapter (a :class:`Task` subclass registered in :data:`sambench.tasks.TASKS`)
prompts the model for every object of one image and returns that image's record.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from sambench.errors import ConfigError, SambenchError
from sambench.metrics.base import Evaluator, MetricValue
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.samples import ImageSample
from sambench.timing import StageTimer


@dataclass(frozen=True)
class TaskConfig:
    """A resolved task configuration.

    Attributes:
        name: The config's name (its file stem for shipped configs).
        adapter: Name of the :class:`Task` adapter in the task registry.
        description: One line on what the task measures.
        datasets: Datasets run when the command line names none.
        params: Adapter knobs; every knob not given takes the adapter's documented default,
            and the resolved values are recorded in the run manifest.
        source: The file the config came from.
    """

    name: str
    adapter: str
    description: str = ""
    datasets: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<built-in>"

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["datasets"] = list(self.datasets)
        row["params"] = dict(self.params)
        return row

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the resolved config (``source`` excluded)."""
        row = self.to_json()
        del row["source"]
        return hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()


def load_task_config(path: Path) -> TaskConfig:
    """Read a task config YAML, naming the file and field of any problem."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read task config ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(error)})") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a task config must be a mapping")
    known = {"name", "adapter", "description", "datasets", "params"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{path}: unknown field {key!r} (known: {', '.join(sorted(known))})")
    for key, kind in (("name", str), ("adapter", str), ("description", str)):
        if key in raw and not isinstance(raw[key], kind):
            raise ConfigError(f"{path}: field {key!r} must be a string")
    if "adapter" not in raw:
        raise ConfigError(f"{path}: missing field 'adapter'")
    datasets = raw.get("datasets", [])
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise ConfigError(f"{path}: field 'datasets' must be a list of dataset names")
    params = raw.get("params", {}) or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: field 'params' must be a mapping")
    return TaskConfig(
        name=raw.get("name", path.stem),
        adapter=raw["adapter"],
        description=raw.get("description", ""),
        datasets=tuple(datasets),
        params=params,
        source=str(path),
    )


class Task(ABC):
    """A task adapter: turns one image's objects into prompts, model calls and a record.

    Subclasses define ``Params`` (a frozen dataclass whose field docs are the reference
    for every knob), :attr:`required_capabilities`, :meth:`run_sample` and
    :meth:`evaluator`. A record is a JSON-serialisable mapping with at least
    ``dataset`` and ``image_id``; everything needed to recompute the metrics
    without the model must be in it.
    """

    required_capabilities: ClassVar[frozenset[str]] = frozenset()
    """Capability names (fields of :class:`ModelCapabilities`) the model must have."""

    def knob_capabilities(self) -> dict[str, str]:
        """Capabilities the chosen knobs need beyond :attr:`required_capabilities`, each
        mapped to the boolean knob that asks for it (``{"mask_input": "refine"}``)."""
        return {}

    def check_model(self, model: PromptableModel, task_name: str) -> None:
        """Refuse, before a run starts, a model that lacks a capability the task or one of its
        chosen knobs needs.

        Args:
            model: The model the run would use.
            task_name: The task config's name, for the message.

        Raises:
            SambenchError: Naming the missing capabilities, or the knob and how to turn it
                off.
        """
        has = model.capabilities.to_json()
        missing = sorted(c for c in self.required_capabilities if not has[c])
        if missing:
            raise SambenchError(
                f"model {model.name!r} cannot run task {task_name!r}: lacks {', '.join(missing)}"
            )
        for capability, knob in sorted(self.knob_capabilities().items()):
            if not has[capability]:
                raise SambenchError(
                    f"{knob}: true needs a model with the {capability!r} capability; "
                    f"{model.name!r} has none: set --param {knob}=false"
                )

    def __init__(self, params: Any) -> None:
        self.params = params

    @abstractmethod
    def run_sample(
        self,
        model: PromptableModel,
        embedding: ImageEmbedding,
        sample: ImageSample,
        seed: int,
        timer: StageTimer,
    ) -> dict[str, Any]:
        """Prompt ``model`` for the objects of ``sample`` and return the image's record.

        Random choices must be seeded with :func:`sambench.seeding.rng_for` from ``seed``
        and the record key, never from shared state. Model calls are timed under the
        ``"prompt"`` stage of ``timer`` and metric computation under ``"metric"``.
        """

    @abstractmethod
    def evaluator(self, seed: int) -> Evaluator:
        """A fresh evaluator for this task's records (``seed`` seeds its bootstrap)."""

    def figures(self, metrics: Sequence[MetricValue], out_dir: Path) -> list[Path]:
        """Draw the task's figures (PNG) from its metrics into ``out_dir``; none by default."""
        return []


def _yaml_problem(error: yaml.YAMLError) -> str:
    """A one-line description of a YAML syntax error with its position."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(error).split())
