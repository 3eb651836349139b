"""Small real actions for automation tests, in a registry of their own, and a clock to drive.

- ``record`` keeps every call (its parameters and its :class:`ActionCall`) and returns them;
- ``fail`` fails the first ``times`` calls for its ``key``, then succeeds;
- ``slow`` waits for the :class:`asyncio.Event` named ``gate``, so a test proves who waits;
- ``advance`` moves the clock by ``ms``: executions with known durations;
- ``publish`` publishes an event, passing the call's request id on as built-in actions do;
- ``crash`` raises an error no action should (its message must not reach the history).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from hookhub.actions import ActionCall, ActionContext, ActionFailed, ActionRegistry


class ManualClock:
    """Stands still until a test (or the ``advance`` action, or a retry wait) moves it."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeSleep:
    """Retry waits: recorded, and the clock moved by as much, at once."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


class RecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    value: Any = None


class FailParams(BaseModel):
    key: str
    times: int


class SlowParams(BaseModel):
    gate: str


class AdvanceParams(BaseModel):
    ms: float


class PublishParams(BaseModel):
    type: str
    payload: dict[str, Any] = {}


class CountParams(BaseModel):
    count: int


@dataclass
class Toolbox:
    clock: ManualClock
    registry: ActionRegistry = field(default_factory=ActionRegistry)
    calls: list[tuple[str, dict[str, Any], ActionCall]] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    entered: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.registry.register("record", self._record, RecordParams)
        self.registry.register("fail", self._fail, FailParams)
        self.registry.register("slow", self._slow, SlowParams)
        # The same as "slow", declared safe to run again after a crash.
        self.registry.register("slow_repeatable", self._slow, SlowParams, repeatable=True)
        self.registry.register("advance", self._advance, AdvanceParams)
        self.registry.register("publish", self._publish, PublishParams)
        self.registry.register("crash", self._crash, CountParams)

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def recorded(self, action: str = "record") -> list[dict[str, Any]]:
        return [params for name, params, _call in self.calls if name == action]

    async def _record(self, params: RecordParams, _ctx: ActionContext, call: ActionCall) -> Any:
        self.calls.append(("record", params.model_dump(), call))
        return {"label": params.label, "value": params.value}

    async def _fail(self, params: FailParams, _ctx: ActionContext, call: ActionCall) -> Any:
        self.calls.append(("fail", params.model_dump(), call))
        self.failures[params.key] += 1
        attempt = self.failures[params.key]
        if attempt <= params.times:
            raise ActionFailed(f"failure {attempt} of {params.times}")
        return {"ok": True, "attempt": attempt}

    async def _slow(self, params: SlowParams, _ctx: ActionContext, call: ActionCall) -> Any:
        self.entered.append(params.gate)
        await self.gate(params.gate).wait()
        self.calls.append(("slow", params.model_dump(), call))
        return {"released": params.gate}

    async def _advance(self, params: AdvanceParams, _ctx: ActionContext, call: ActionCall) -> Any:
        self.clock.advance(params.ms / 1000)
        self.calls.append(("advance", params.model_dump(), call))
        return {"ms": params.ms}

    async def _publish(self, params: PublishParams, ctx: ActionContext, call: ActionCall) -> Any:
        event = await ctx.publisher.publish(
            type=params.type,
            payload=params.payload,
            source=call.actor,
            request_id=call.request_id,
        )
        self.calls.append(("publish", params.model_dump(), call))
        return {"event_id": event.id}

    async def _crash(self, params: CountParams, _ctx: ActionContext, call: ActionCall) -> Any:
        self.calls.append(("crash", params.model_dump(), call))
        raise RuntimeError("secret-internal-detail")
