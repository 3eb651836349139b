"""Plugins written to a temporary folder on ``sys.path``: dotted paths, entry points, errors."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hookhub.actions import DEFAULT_REGISTRY, ActionRegistry, register_builtins
from hookhub.actions.plugins import load_configured, load_entry_points, load_plugin
from hookhub.app import create_app
from hookhub.config import Settings, load_settings
from hookhub.errors import ConfigError
from tests.actions.support import audit_rows, run

SHOUT = """
from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


async def shout(params, context, call):
    return {{"text": params.text.upper(), "by": call.actor}}


def {function}(registry):
    registry.register("{action}", shout, Params)
"""

WriteModule = Callable[..., str]


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """``write_module(source)``: a module of a fresh name in a folder on ``sys.path``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str, *, name: str | None = None) -> str:
        module = name or f"hh_plugin_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        written.append(module)
        return module

    yield write
    for module in written:
        sys.modules.pop(module, None)


def shout_source(action: str = "shout", function: str = "register") -> str:
    return SHOUT.format(action=action, function=function)


async def test_a_plugin_module_registers_an_action_that_runs(
    write_module: WriteModule, make_services: Any
) -> None:
    services = await make_services()
    registry = ActionRegistry()
    module = write_module(shout_source())
    assert load_plugin(module, registry) == ["shout"]
    assert await run(services, "shout", {"text": "hi"}, registry=registry) == {
        "text": "HI",
        "by": "automation:test",
    }
    [row] = await audit_rows(services)
    assert (row.target, row.details["ok"]) == ("shout", True)


@pytest.mark.parametrize("form", ["{module}:setup", "{module}.setup"])
def test_a_function_named_by_the_path(write_module: WriteModule, form: str) -> None:
    module = write_module(shout_source(function="setup"))
    registry = ActionRegistry()
    assert load_plugin(form.format(module=module), registry) == ["shout"]


def test_loading_a_plugin_again_does_nothing(write_module: WriteModule) -> None:
    module = write_module(shout_source())
    registry = ActionRegistry()
    assert load_plugin(module, registry) == ["shout"]
    assert load_plugin(module, registry) == []
    assert registry.plugins == {module: ["shout"]}


def test_a_module_may_register_into_the_default_registry_as_it_is_imported(
    write_module: WriteModule,
) -> None:
    action = f"hh_self_{uuid.uuid4().hex[:8]}"
    module = write_module(
        f"""
        from pydantic import BaseModel, ConfigDict

        from hookhub.actions import register


        class Params(BaseModel):
            model_config = ConfigDict(extra="forbid")


        async def handler(params, context, call):
            return {{}}


        register("{action}", handler, Params)
        """
    )
    # The imported ``register`` (DEFAULT_REGISTRY's own) is not mistaken for a plugin hook.
    assert load_plugin(module) == [action]
    assert action in DEFAULT_REGISTRY.registered()


@pytest.mark.parametrize(
    ("source", "path", "message"),
    [
        (None, "hh_no_such_plugin_module", "cannot import: ModuleNotFoundError"),
        (None, "hh_no_such_pkg.module:register", "No module named 'hh_no_such_pkg'"),
        ("x = 1\n", "{module}.missing", "module '{module}' has no 'missing'"),
        ("x = 1\n", "{module}:missing", "module '{module}' has no 'missing'"),
        ("x = 1\n", "{module}:x", "is neither a module nor callable"),
        ("raise RuntimeError('boom')\n", "{module}", "cannot import: RuntimeError: boom"),
        (
            "import hh_dependency_not_installed\n",
            "{module}",
            "No module named 'hh_dependency_not_installed'",
        ),
        ("x = 1\n", "{module}", "registered no action; give the module a register(registry)"),
        (
            "def register(registry):\n    raise KeyError('oops')\n",
            "{module}",
            "register failed: KeyError",
        ),
        (shout_source(action="ping"), "{module}", "action 'ping' is already registered"),
        (None, "not a path!", "not a dotted path"),
        (None, "a..b", "not a dotted path"),
    ],
)
def test_a_bad_plugin_is_a_config_error_naming_it(
    write_module: WriteModule, source: str | None, path: str, message: str
) -> None:
    module = write_module(source) if source is not None else ""
    registry = ActionRegistry()
    register_builtins(registry)
    path = path.format(module=module)
    with pytest.raises(ConfigError) as refused:
        load_plugin(path, registry)
    assert refused.value.message.startswith(f"action plugin {path!r}: ")
    assert message.format(module=module) in refused.value.message
    assert path not in registry.plugins


def write_distribution(folder: Path, group: str, entries: dict[str, str]) -> None:
    """An installed distribution's metadata, as pip leaves it, with entry points."""
    info = folder / f"hh_plugin_dist_{uuid.uuid4().hex[:8]}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {info.name.split('-')[0]}\nVersion: 1.0\n"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")


def test_entry_points_are_loaded_once_per_registry(
    write_module: WriteModule, tmp_path: Path
) -> None:
    group = f"hookhub.actions.test_{uuid.uuid4().hex[:8]}"
    shout = write_module(shout_source())
    other = write_module(shout_source(action="whisper", function="setup"))
    write_distribution(tmp_path, group, {"shout": shout, "whisper": f"{other}:setup"})
    registry = ActionRegistry()
    assert load_entry_points(registry, group=group) == {"shout": ["shout"], "whisper": ["whisper"]}
    assert load_entry_points(registry, group=group) == {}
    assert set(registry.registered()) == {"shout", "whisper"}


def test_a_broken_entry_point_is_a_config_error_naming_it(tmp_path: Path) -> None:
    group = f"hookhub.actions.test_{uuid.uuid4().hex[:8]}"
    write_distribution(tmp_path, group, {"broken": "hh_entry_point_target_missing"})
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ConfigError, match=r"entry point 'broken' .*cannot be loaded"):
            load_entry_points(ActionRegistry(), group=group)
    finally:
        sys.path.remove(str(tmp_path))


def test_load_configured_follows_the_settings(
    write_module: WriteModule, make_settings: Callable[..., Settings]
) -> None:
    first = write_module(shout_source())
    second = write_module(shout_source(action="whisper", function="setup"))
    settings = make_settings(action_plugins=[first, f"{second}:setup"], action_entry_points=False)
    registry = ActionRegistry()
    load_configured(settings, registry)
    assert set(registry.plugins) == {first, f"{second}:setup"}
    assert set(registry.registered()) == {"shout", "whisper"}


async def test_services_load_the_configured_plugins_into_the_default_registry(
    write_module: WriteModule, make_services: Any
) -> None:
    action = f"hh_shout_{uuid.uuid4().hex[:8]}"
    module = write_module(shout_source(action=action))
    services = await make_services(action_plugins=[module])
    assert await run(services, action, {"text": "x"}) == {"text": "X", "by": "automation:test"}


def test_a_bad_plugin_stops_the_start(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(action_plugins=["hh_no_such_plugin_module"])
    with pytest.raises(ConfigError, match="action plugin 'hh_no_such_plugin_module'"):
        create_app(settings)


def test_the_setting_takes_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_ACTION_PLUGINS", "mypkg.actions, other.mod:register")
    assert load_settings().action_plugins == ["mypkg.actions", "other.mod:register"]
    monkeypatch.setenv("HOOKHUB_ACTION_PLUGINS", "mypkg.actions,not a path")
    with pytest.raises(ConfigError, match="HOOKHUB_ACTION_PLUGINS: 'not a path' is not a dotted"):
        load_settings()


def test_the_setting_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hookhub.toml"
    config.write_text('action_plugins = ["mypkg.actions"]\naction_entry_points = false\n')
    monkeypatch.setenv("HOOKHUB_CONFIG", str(config))
    settings = load_settings()
    assert (settings.action_plugins, settings.action_entry_points) == (["mypkg.actions"], False)
