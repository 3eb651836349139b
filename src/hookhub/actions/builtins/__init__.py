"""The actions hookhub ships, one module each.

Every module in this package is a plugin like any other (see :mod:`hookhub.actions.plugins`):
it defines its parameters model (``extra="forbid"``), an async handler, and a
``register(registry)`` function. :func:`register_builtins` finds the modules itself, so adding
an action (a chat platform's, say) is adding one module here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from hookhub.actions.registry import ActionRegistry


def builtin_modules() -> list[str]:
    """The names of the modules of this package, sorted."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.ispkg)


def register_builtins(registry: ActionRegistry) -> list[str]:
    """Register every built-in action into ``registry``; the names registered, sorted.

    ``hookhub.actions`` calls it once for ``DEFAULT_REGISTRY`` as it is imported. A second
    call on the same registry raises ``ValueError`` (the names are taken), so no built-in is
    ever registered twice.
    """
    before = set(registry.registered())
    for name in builtin_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(registry)
    return sorted(set(registry.registered()) - before)
