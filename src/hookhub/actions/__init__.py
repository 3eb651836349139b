"""Actions: named, validated operations that automations (and later connectors) run."""

from hookhub.actions.registry import (
    DEFAULT_REGISTRY,
    Action,
    ActionCall,
    ActionContext,
    ActionError,
    ActionFailed,
    ActionRegistry,
    register,
    registered,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "Action",
    "ActionCall",
    "ActionContext",
    "ActionError",
    "ActionFailed",
    "ActionRegistry",
    "register",
    "registered",
]
