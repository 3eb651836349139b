"""Actions: named, validated operations that automations (and later connectors) run.

Importing this package registers the built-ins (:mod:`hookhub.actions.builtins`) into
:data:`DEFAULT_REGISTRY`, once: a module runs once per process, and a second
``register_builtins`` on the same registry would fail on the names it finds taken.
Plugins are loaded by :mod:`hookhub.actions.plugins`.
"""

from hookhub.actions.builtins import register_builtins
from hookhub.actions.registry import (
    DEFAULT_REGISTRY,
    Action,
    ActionCall,
    ActionContext,
    ActionError,
    ActionFailed,
    ActionRegistry,
    json_problem,
    register,
    registered,
)

register_builtins(DEFAULT_REGISTRY)

__all__ = [
    "DEFAULT_REGISTRY",
    "Action",
    "ActionCall",
    "ActionContext",
    "ActionError",
    "ActionFailed",
    "ActionRegistry",
    "json_problem",
    "register",
    "register_builtins",
    "registered",
]
