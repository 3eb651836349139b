"""The action registry: names mapped to a handler and the pydantic model of its parameters.

Contract:

- :meth:`ActionRegistry.register` takes ``(name, handler, params_model)``; a name registered
  twice is a ``ValueError`` (two plugins must not silently shadow each other).
- :meth:`ActionRegistry.run` validates the parameters with the action's model before the
  handler sees them (:class:`ActionError`, with ``errors`` as ``[{path, message}]``), runs the
  handler, and returns its JSON result. A handler signals a failure it can explain with
  :class:`ActionFailed`; its message is shown to the user, so it must hold no secret. Any other
  ``HookhubError`` from a handler becomes an :class:`ActionFailed` with the same (safe) message;
  any other exception becomes one with a fixed message, its details in the log only. A result
  that is not JSON (see :func:`json_problem`) is refused with :class:`ActionFailed`.
- Every run, refused or not, is written to the audit log (``action.run``: who, which action,
  request and execution ids, ok, error, duration); never the parameters or the result, which
  may hold secrets (an ``Authorization`` header of ``http_request``).
- An action registered ``repeatable=True`` has no effect that running it again would repeat
  (``ping``, a log line): the runner does not store its step as ``running`` before each
  attempt, so one write fewer per run; after a crash such a step is simply run again.
- Handlers take ``(params, context, call)``: the validated model, the shared
  :class:`ActionContext` (services an action may use) and the :class:`ActionCall` (who runs it,
  for which request or execution).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ValidationError

from hookhub.audit import AuditAction
from hookhub.errors import HookhubError, InvalidInputError, StoreError

if TYPE_CHECKING:
    import httpx2

    from hookhub.audit import AuditWriter
    from hookhub.clock import Clock
    from hookhub.config import Settings
    from hookhub.outbound.ssrf import UrlGuard
    from hookhub.realtime.service import RealtimeService
    from hookhub.services.events import EventPublisher
    from hookhub.tickets.service import TicketService

log = structlog.get_logger(__name__)

JsonValue = Any

#: Nesting deeper than this is refused as a result: it is a cycle or a mistake, and the
#: execution history stores results as JSON documents.
MAX_RESULT_DEPTH = 64
#: The audit log's ``target`` column holds this many characters.
MAX_TARGET_CHARS = 255
#: Error messages are cut to this length in the audit log.
MAX_AUDIT_ERROR_CHARS = 500
#: Shown for a handler's unexpected exception; the exception itself goes to the log only,
#: since its text may hold a secret (a URL with credentials, a header).
UNEXPECTED_FAILURE = "action {name!r} failed unexpectedly (details in the log)"


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
    audit: AuditWriter
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
    #: Running it twice does nothing a single run would not (see the module's contract).
    repeatable: bool = False


def json_problem(value: Any, path: str = "result", depth: int = 0) -> str | None:
    """Why ``value`` is not JSON, naming where; ``None`` when it is.

    JSON here is what ``json.dumps`` writes without help and reads back the same: dicts with
    string keys, lists, strings, finite numbers, booleans and ``None``. Tuples, sets, datetimes
    and models are refused rather than converted, so what a handler returns is exactly what
    the history stores.
    """
    if depth > MAX_RESULT_DEPTH:
        return f"{path}: nested deeper than {MAX_RESULT_DEPTH} levels"
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path}: {value!r} is not a JSON number"
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = json_problem(item, f"{path}[{index}]", depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}: key {key!r} is not a string"
            problem = json_problem(item, f"{path}.{key}", depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{path}: a {type(value).__name__} is not JSON"


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}
        #: Plugins loaded into this registry (dotted paths and entry points) and the actions
        #: each added; loading one again is a no-op (see :mod:`hookhub.actions.plugins`).
        self.plugins: dict[str, list[str]] = {}

    def register(
        self,
        name: str,
        handler: Handler,
        params_model: type[BaseModel],
        *,
        repeatable: bool = False,
    ) -> None:
        if name in self._actions:
            raise ValueError(f"action {name!r} is already registered")
        self._actions[name] = Action(name, handler, params_model, repeatable)

    def registered(self) -> dict[str, Action]:
        """Every registered action by name (a copy)."""
        return dict(self._actions)

    def is_repeatable(self, name: str) -> bool:
        """Whether the action may run again after a crash; False for an unknown one."""
        action = self._actions.get(name)
        return action is not None and action.repeatable

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
        """Validate, run, check the result is JSON, and audit; see the module's contract.

        Raises :class:`ActionError` (nothing ran) or :class:`ActionFailed` (it ran and failed).
        A cancelled run is logged, not audited: the audit write would need the cancelled task.
        """
        started = time.perf_counter()
        try:
            model = self.validate(name, params)
            result = await self._call(self._actions[name], model, context, call)
        except (ActionError, ActionFailed) as exc:
            await self._audit(name, context, call, started, error=exc.message)
            raise
        except asyncio.CancelledError:
            log.info("action.cancelled", action=name, execution_id=call.execution_id)
            raise
        await self._audit(name, context, call, started, error=None)
        return result

    async def _call(
        self, action: Action, model: BaseModel, context: ActionContext, call: ActionCall
    ) -> JsonValue:
        try:
            result = await action.handler(model, context, call)
        except ActionFailed:
            raise
        except HookhubError as exc:
            # Messages of hookhub's own errors are safe by contract (errors.py).
            raise ActionFailed(exc.message, errors=exc.errors) from exc
        except Exception as exc:
            log.exception(
                "action.crashed",
                action=action.name,
                execution_id=call.execution_id,
                request_id=call.request_id,
            )
            raise ActionFailed(UNEXPECTED_FAILURE.format(name=action.name)) from exc
        problem = json_problem(result)
        if problem is not None:
            log.error("action.result_not_json", action=action.name, problem=problem)
            raise ActionFailed(f"action {action.name!r} returned a result that is not JSON")
        return result

    async def _audit(
        self,
        name: str,
        context: ActionContext,
        call: ActionCall,
        started: float,
        *,
        error: str | None,
    ) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        details: dict[str, Any] = {
            "execution_id": call.execution_id,
            "ok": error is None,
            "duration_ms": duration_ms,
        }
        if error is not None:
            details["error"] = error[:MAX_AUDIT_ERROR_CHARS]
        log.info(
            "action.run",
            action=name,
            actor=call.actor,
            execution_id=call.execution_id,
            ok=error is None,
            error=error,
            duration_ms=duration_ms,
        )
        try:
            await context.audit.add(
                actor=call.actor,
                action=AuditAction.ACTION_RUN,
                now=context.clock(),
                target=name[:MAX_TARGET_CHARS],
                request_id=call.request_id,
                details=details,
            )
        except StoreError:
            # The action has run (or was refused) already: failing it now would invite a
            # retry that repeats its effects. The log keeps the record instead.
            log.error("action.audit_failed", action=name, execution_id=call.execution_id)


#: The registry built-ins and plugins register into.
DEFAULT_REGISTRY = ActionRegistry()
register = DEFAULT_REGISTRY.register
registered = DEFAULT_REGISTRY.registered
