"""The action registry: names mapped to a handler and the pydantic model of its parameters.

Contract:

- :meth:`ActionRegistry.register` takes ``(name, handler, params_model)``; a name registered
  twice is a ``ValueError`` (two plugins must not silently shadow each other).
- :meth:`ActionRegistry.run` validates the parameters with the action's model before the
  handler sees them (:class:`ActionError`, with ``errors`` as ``[{path, message}]``), runs the
  handler, and returns its JSON result. A handler signals a failure it can explain with
  :class:`ActionFailed`; its message is shown to the user, so it must hold no secret.
- Handlers take ``(params, context, call)``: the validated model, the shared
  :class:`ActionContext` (services an action may use) and the :class:`ActionCall` (who runs it,
  for which request or execution).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from hookhub.errors import HookhubError, InvalidInputError

if TYPE_CHECKING:
    import httpx2

    from hookhub.clock import Clock
    from hookhub.config import Settings
    from hookhub.outbound.ssrf import UrlGuard
    from hookhub.realtime.service import RealtimeService
    from hookhub.services.events import EventPublisher
    from hookhub.store.repositories import AuditRepository
    from hookhub.tickets.service import TicketService

JsonValue = Any


class ActionError(InvalidInputError):
    """The action is unknown or its parameters do not fit its model (nothing ran)."""


class ActionFailed(HookhubError):
    """The action ran and failed; the message is safe to show."""

    status_code = 502


@dataclass(frozen=True)
class ActionContext:
    """The services an action may use; built once by ``Services``."""

    settings: Settings
    clock: Clock
    publisher: EventPublisher
    realtime: RealtimeService
    http_client: httpx2.AsyncClient
    url_guard: UrlGuard
    audit: AuditRepository
    tickets: TicketService


@dataclass(frozen=True)
class ActionCall:
    """Who runs an action, and on whose behalf: for the audit log and the events it causes."""

    actor: str
    request_id: str | None = None
    execution_id: str | None = None


Handler = Callable[[Any, ActionContext, ActionCall], Awaitable[JsonValue]]


@dataclass(frozen=True)
class Action:
    name: str
    handler: Handler
    params_model: type[BaseModel]


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, name: str, handler: Handler, params_model: type[BaseModel]) -> None:
        if name in self._actions:
            raise ValueError(f"action {name!r} is already registered")
        self._actions[name] = Action(name, handler, params_model)

    def registered(self) -> dict[str, Action]:
        """Every registered action by name (a copy)."""
        return dict(self._actions)

    def get(self, name: str) -> Action:
        action = self._actions.get(name)
        if action is None:
            raise ActionError(f"unknown action {name!r}")
        return action

    def validate(self, name: str, params: Mapping[str, Any]) -> BaseModel:
        """The parameters as the action's model; :class:`ActionError` names each problem."""
        action = self.get(name)
        try:
            return action.params_model.model_validate(dict(params))
        except ValidationError as exc:
            errors = [
                {
                    "path": ".".join(str(part) for part in error["loc"]),
                    "message": error["msg"],
                }
                for error in exc.errors(include_input=False, include_url=False)
            ]
            raise ActionError(f"invalid parameters for action {name!r}", errors=errors) from None

    async def run(
        self,
        name: str,
        params: Mapping[str, Any],
        context: ActionContext,
        call: ActionCall,
    ) -> JsonValue:
        model = self.validate(name, params)
        return await self._actions[name].handler(model, context, call)


#: The registry built-ins and plugins register into.
DEFAULT_REGISTRY = ActionRegistry()
register = DEFAULT_REGISTRY.register
registered = DEFAULT_REGISTRY.registered
