"""Action plugins: modules that register actions, named by a dotted path or an entry point.

A plugin is a module with a ``register(registry)`` function, or that function itself::

    # mypkg/actions.py
    from pydantic import BaseModel, ConfigDict

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str

    async def shout(params, context, call):
        return {"text": params.text.upper()}

    def register(registry):
        registry.register("shout", shout, Params)

It is loaded from ``HOOKHUB_ACTION_PLUGINS`` (``mypkg.actions``, ``mypkg.actions.register`` or
``mypkg.actions:register``), or from an installed package's entry point in the group
``hookhub.actions`` (``[project.entry-points."hookhub.actions"] shout = "mypkg.actions"``).
A module without ``register`` may register into ``DEFAULT_REGISTRY`` as it is imported.

Loading the same plugin into the same registry again does nothing. Every failure (no such
module, no ``register``, an import that raises, a name already taken) is a
:class:`~hookhub.errors.ConfigError` that names the plugin, raised at start-up.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import structlog

from hookhub.actions.registry import DEFAULT_REGISTRY, ActionRegistry
from hookhub.config import PLUGIN_PATH_PATTERN
from hookhub.errors import ConfigError

if TYPE_CHECKING:
    from hookhub.config import Settings

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "hookhub.actions"
REGISTER_FUNCTION = "register"


def load_plugin(path: str, registry: ActionRegistry = DEFAULT_REGISTRY) -> list[str]:
    """Load the plugin at ``path`` into ``registry``; the names of the actions it added."""
    if path in registry.plugins:
        return []
    if not re.fullmatch(PLUGIN_PATH_PATTERN, path):
        raise ConfigError(
            f"action plugin {path!r}: not a dotted path "
            "(package.module, package.module.function or package.module:function)"
        )
    before = set(registry.registered())
    target = _resolve(path)
    _apply(repr(path), target, registry)
    added = sorted(set(registry.registered()) - before)
    if not added and (isinstance(target, ModuleType) and _register_function(target) is None):
        raise ConfigError(
            f"action plugin {path!r}: registered no action; "
            f"give the module a {REGISTER_FUNCTION}(registry) function"
        )
    registry.plugins[path] = added
    log.info("actions.plugin_loaded", plugin=path, actions=added)
    return added


def load_entry_points(
    registry: ActionRegistry = DEFAULT_REGISTRY, *, group: str = ENTRY_POINT_GROUP
) -> dict[str, list[str]]:
    """Load every entry point of ``group`` into ``registry``, once per registry.

    Returns the actions each entry point added, by entry point name.
    """
    # Recorded in ``registry.plugins`` like a plugin: scanning every installed package's
    # metadata again for each ``Services`` built would cost more than the loading itself.
    key = f"entry points: {group}"
    if key in registry.plugins:
        return {}
    loaded: dict[str, list[str]] = {}
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        loaded[entry.name] = _load_entry_point(entry, registry)
    registry.plugins[key] = sorted(name for names in loaded.values() for name in names)
    return loaded


def load_configured(settings: Settings, registry: ActionRegistry = DEFAULT_REGISTRY) -> None:
    """The start-up step: entry points (unless turned off), then ``HOOKHUB_ACTION_PLUGINS``."""
    if settings.action_entry_points:
        load_entry_points(registry)
    for path in settings.action_plugins:
        load_plugin(path, registry)


def _load_entry_point(entry: EntryPoint, registry: ActionRegistry) -> list[str]:
    label = f"entry point {entry.name!r} ({entry.value})"
    if label in registry.plugins:
        return []
    before = set(registry.registered())
    try:
        target = entry.load()
    except Exception as exc:
        raise ConfigError(f"action plugin {label}: cannot be loaded: {_describe(exc)}") from exc
    _apply(label, target, registry)
    added = sorted(set(registry.registered()) - before)
    registry.plugins[label] = added
    log.info("actions.plugin_loaded", plugin=label, actions=added)
    return added


def _resolve(path: str) -> Any:
    """The module or the function ``path`` names."""
    module_name, colon, attribute = path.partition(":")
    if colon:
        return _attribute(path, _import(path, module_name), attribute)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only "this very module does not exist" means the last part may be a function; a
        # module missing inside the plugin is the plugin's own error.
        if exc.name != module_name or "." not in module_name:
            raise ConfigError(f"action plugin {path!r}: cannot import: {_describe(exc)}") from exc
    except Exception as exc:
        raise ConfigError(f"action plugin {path!r}: cannot import: {_describe(exc)}") from exc
    parent, _, attribute = module_name.rpartition(".")
    return _attribute(path, _import(path, parent), attribute)


def _import(path: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"action plugin {path!r}: cannot import: {_describe(exc)}") from exc


def _attribute(path: str, module: ModuleType, attribute: str) -> Any:
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"action plugin {path!r}: module {module.__name__!r} has no {attribute!r}"
        ) from None


def _register_function(module: ModuleType) -> Callable[[ActionRegistry], Any] | None:
    function = getattr(module, REGISTER_FUNCTION, None)
    # ``from hookhub.actions import register`` puts DEFAULT_REGISTRY.register in the module:
    # that is how the module registered itself, not a plugin entry to call.
    if not callable(function) or isinstance(getattr(function, "__self__", None), ActionRegistry):
        return None
    return function  # type: ignore[no-any-return]


def _apply(label: str, target: Any, registry: ActionRegistry) -> None:
    """Call the plugin's register function (the target, or the module's) with ``registry``."""
    function = _register_function(target) if isinstance(target, ModuleType) else target
    if function is None:
        return  # a module that registered itself on import
    if not callable(function):
        raise ConfigError(f"action plugin {label}: {target!r} is neither a module nor callable")
    try:
        function(registry)
    except ValueError as exc:  # a name taken already, from ActionRegistry.register
        raise ConfigError(f"action plugin {label}: {exc}") from exc
    except Exception as exc:
        raise ConfigError(f"action plugin {label}: register failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
