"""Built-ins: found by module, registered into DEFAULT_REGISTRY once, strict parameters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hookhub.actions import DEFAULT_REGISTRY, ActionError, ActionRegistry, register_builtins
from hookhub.actions.builtins import builtin_modules

BUILTINS = ["broadcast", "create_ticket", "http_request", "notification", "ping", "publish_event"]


def test_every_module_is_one_action() -> None:
    assert builtin_modules() == BUILTINS
    assert register_builtins(ActionRegistry()) == BUILTINS


def test_importing_services_is_enough_and_registers_each_once() -> None:
    # A fresh interpreter: nothing but hookhub.services imported, no import cycle on the way.
    code = (
        "import hookhub.services\n"
        "from hookhub.actions import DEFAULT_REGISTRY\n"
        "print(','.join(sorted(DEFAULT_REGISTRY.registered())))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert shown.stdout.strip() == ",".join(BUILTINS)
    assert set(BUILTINS) <= set(DEFAULT_REGISTRY.registered())


def test_registering_the_built_ins_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_builtins(DEFAULT_REGISTRY)
    registry = ActionRegistry()
    register_builtins(registry)
    with pytest.raises(ValueError, match="already registered"):
        register_builtins(registry)


@pytest.mark.parametrize("name", BUILTINS)
def test_unknown_parameters_are_refused(name: str) -> None:
    with pytest.raises(ActionError) as refused:
        DEFAULT_REGISTRY.validate(name, {"surprise": 1})
    paths = {item["path"]: item["message"] for item in refused.value.errors or []}
    assert paths["surprise"] == "Extra inputs are not permitted"
