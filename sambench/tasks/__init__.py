"""Task registry and task configs.

``TASKS`` maps adapter names to :class:`sambench.tasks.base.Task` classes; plugins add
adapters through the ``sambench.tasks`` entry point group. Task *configs* are YAML
files in the shipped ``tasks/`` folder; ``--task`` takes a config name or a path.
"""

from __future__ import annotations

from pathlib import Path

from sambench.config import parse_params
from sambench.errors import ConfigError, SambenchError
from sambench.registry import Registry
from sambench.resources import data_folder
from sambench.tasks.base import Task, TaskConfig, load_task_config

TASKS: Registry[Task] = Registry(
    "task adapter",
    entry_point_group="sambench.tasks",
    builtin_modules=(
        "sambench.tasks.points",
        "sambench.tasks.instances",
        "sambench.tasks.boxes_gt",
        "sambench.tasks.edges",
        "sambench.tasks.proposals",
    ),
)


def task_config_names() -> list[str]:
    """Names of the shipped task configs."""
    return sorted(path.stem for path in data_folder("tasks").glob("*.yaml"))


def resolve_task_config(name_or_path: str) -> TaskConfig:
    """A shipped config by name, a YAML file by path, or an adapter's defaults by adapter name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SambenchError(f"task config file {path} does not exist")
        return load_task_config(path)
    shipped = data_folder("tasks") / f"{name_or_path}.yaml"
    if shipped.is_file():
        return load_task_config(shipped)
    if name_or_path in TASKS.names():
        return TaskConfig(name=name_or_path, adapter=name_or_path)
    known = ", ".join(
        task_config_names() + [n for n in TASKS.names() if n not in task_config_names()]
    )
    raise SambenchError(f"unknown task {name_or_path!r} (known: {known})")


def build_task(config: TaskConfig) -> Task:
    """Instantiate the config's adapter with its params checked against the adapter's ``Params``."""
    try:
        adapter = TASKS.get(config.adapter)
    except SambenchError as error:
        raise ConfigError(f"{config.source}: field 'adapter': {error}") from error
    params_type = getattr(adapter, "Params", None)
    if params_type is None:
        raise ConfigError(f"task adapter {config.adapter!r} defines no Params dataclass")
    return adapter(parse_params(params_type, config.params, config.source))


__all__ = ["TASKS", "Task", "TaskConfig", "build_task", "resolve_task_config", "task_config_names"]
