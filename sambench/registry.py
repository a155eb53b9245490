"""Plain, discoverable registries for models, tasks and datasets.

Built-in entries register with a decorator; third-party packages add entries
through ``importlib.metadata`` entry points, without importing sambench's
internals::

    # in the plugin's pyproject.toml
    [project.entry-points."sambench.models"]
    mobile-sam = "my_plugin.models:MobileSam"

The entry point's object is registered under the entry point's name. Entry
points are read once, on first lookup, so a registry costs nothing to import.

>>> colours: Registry[str] = Registry("colours", entry_point_group=None)
>>> @colours.register("red")
... def make_red() -> str:
...     return "#f00"
>>> colours.names()
['red']
>>> colours.get("red")()
'#f00'
>>> colours.get("blue")
Traceback (most recent call last):
...
sambench.errors.SambenchError: unknown colours 'blue' (known: red)
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from sambench.errors import SambenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → factory mapping, filled by decorators and entry points.

    Args:
        kind: What the registry holds, used in messages ("model", "task", ...).
        entry_point_group: The ``importlib.metadata`` group scanned for plugins,
            or ``None`` for no plugins.
        builtin_modules: Modules of sambench that register built-in entries when
            imported; imported on first lookup.
    """

    def __init__(
        self, kind: str, entry_point_group: str | None, builtin_modules: tuple[str, ...] = ()
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.builtin_modules = builtin_modules
        self._entries: dict[str, Callable[..., T]] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering a factory (a class or a function) under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            self._add(name, factory, origin="sambench")
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; a :class:`SambenchError` names the known ones."""
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise SambenchError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load_plugins()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """Where an entry comes from: ``"sambench"`` or the plugin's distribution name."""
        self._load_plugins()
        return self._origins[name]

    def _add(self, name: str, factory: Callable[..., T], origin: str) -> None:
        if name in self._entries and self._entries[name] is not factory:
            raise SambenchError(
                f"{self.kind} {name!r} is registered twice ({self._origins[name]} and {origin})"
            )
        self._entries[name] = factory
        self._origins[name] = origin

    def add(self, name: str, factory: Callable[..., T]) -> None:
        """Register ``factory`` under ``name`` without a decorator (e.g. one per config file)."""
        self._add(name, factory, origin="sambench")

    def _load_plugins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin_modules:
            import_module(module)
        if self.entry_point_group is None:
            return
        for entry in entry_points(group=self.entry_point_group):
            try:
                factory = entry.load()
            except Exception as error:  # a broken plugin must not hide the others
                raise SambenchError(
                    f"plugin {self.kind} {entry.name!r} ({entry.value}) failed to load: {error}"
                ) from error
            origin = entry.dist.name if entry.dist is not None else entry.value
            self._add(entry.name, factory, origin=origin)
