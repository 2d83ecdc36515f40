"""One typed registry for tasks and model adapters, filled by decorators and by entry points.

A third-party package adds a task or an adapter by exposing it in the entry-point group
`janus_eval.tasks` or `janus_eval.models` (the entry point names a module or a class; importing
it runs its `@register_task` / `@register_model` decorators).
"""

from __future__ import annotations

import importlib
import logging
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

from janus_eval.api import ModelAdapter, Task
from janus_eval.errors import UserError

log = logging.getLogger(__name__)

T = TypeVar("T")

BUILTIN_TASK_MODULES = ("janus_eval.tasks",)
BUILTIN_MODEL_MODULES = ("janus_eval.model_adapters",)


class Registry(Generic[T]):
    """Name -> class, with aliases, built-in modules imported and entry points loaded on first use."""

    def __init__(self, kind: str, entry_point_group: str, builtin_modules: tuple[str, ...]) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtin_modules = builtin_modules
        self._items: dict[str, type[T]] = {}
        self._aliases: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, cls: type[T], aliases: tuple[str, ...] = ()) -> None:
        for key in (name, *aliases):
            owner = self._items.get(key) or self._items.get(self._aliases.get(key, ""))
            if owner is not None and owner is not cls:
                raise ValueError(f"{self.kind} name {key!r} is already registered by {owner.__module__}")
        self._items[name] = cls
        for alias in aliases:
            self._aliases[alias] = name

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules:
            importlib.import_module(module)
        for entry_point in metadata.entry_points(group=self.entry_point_group):
            try:
                entry_point.load()
            except Exception as exc:  # a broken plug-in must not take the harness down
                log.warning("could not load %s plug-in %r: %s", self.kind, entry_point.name, exc)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def aliases(self) -> dict[str, str]:
        self._load()
        return dict(sorted(self._aliases.items()))

    def resolve(self, name: str) -> tuple[str, type[T]]:
        """(canonical name, class); UserError listing the valid names if unknown."""
        self._load()
        canonical = self._aliases.get(name, name)
        if canonical not in self._items:
            valid = ", ".join(sorted([*self._items, *self._aliases]))
            raise UserError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}")
        return canonical, self._items[canonical]

    def get(self, name: str) -> type[T]:
        return self.resolve(name)[1]

    def __iter__(self) -> Iterator[tuple[str, type[T]]]:
        self._load()
        return iter(sorted(self._items.items()))


TASKS: Registry[Task] = Registry("task", "janus_eval.tasks", BUILTIN_TASK_MODULES)
MODELS: Registry[ModelAdapter] = Registry("model", "janus_eval.models", BUILTIN_MODEL_MODULES)


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: registers a Task subclass under its `name`."""
    TASKS.register(cls.name, cls)
    return cls


def register_model(*aliases: str) -> Callable[[type[ModelAdapter]], type[ModelAdapter]]:
    """Class decorator: registers a ModelAdapter under its `name` and the given aliases."""

    def decorate(cls: type[ModelAdapter]) -> type[ModelAdapter]:
        MODELS.register(cls.name, cls, tuple(aliases))
        return cls

    return decorate
