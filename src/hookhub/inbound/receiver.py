"""``/hooks/{slug}``: one incoming request from the socket to the automations, in a fixed order.

1. the endpoint (unknown or inactive: 404, nothing stored), 2. the method (405),
3. the rate limit per client IP (429), 4. the body, read up to the endpoint's limit (413),
5. verification over the raw bytes (401), before anything parses them, 6. the media type (415),
7. JSON (400), 8. the schema (400 ``Invalid payload``), 9. the automations' executions
prepared, 10. dedupe, the request and its executions stored in one transaction (a repeat
answers 200 ``duplicate``, and stores and runs nothing), 11. the executions launched.

Every request that names an endpoint is stored in its history with the verdict, whatever
step refused it; the precise reason goes there and to the log, never to the caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from prometheus_client import Counter

from hookhub.clock import Clock, isoformat_z
from hookhub.config import Settings
from hookhub.errors import HookhubError
from hookhub.events import new_id
from hookhub.inbound import headers as header_rules
from hookhub.inbound import payload
from hookhub.inbound.models import EndpointRecord, Verdict
from hookhub.inbound.ratelimit import RateLimiter
from hookhub.inbound.verification import VerificationError, VerifyOptions, verify
from hookhub.metrics import Metrics
from hookhub.store.inbound import EndpointRepository, NewRequest, Recorded
from hookhub.store.writes import HotWrites

if TYPE_CHECKING:
    from hookhub.automations.executor import PlannedRuns

log = structlog.get_logger(__name__)

NOT_FOUND = "Webhook not found"
ACCEPTED = "Webhook processed successfully"
METHOD_NOT_ALLOWED = "Method not allowed"
TOO_MANY_REQUESTS = "Too many requests"
#: A changed endpoint is seen by other processes within this long (this one sees it at once).
ENDPOINT_CACHE_TTL_S = 1.0
ENDPOINT_CACHE_SIZE = 1024
#: Bodyless methods may come without a body; the others need one the endpoint accepts.
BODYLESS_METHODS = frozenset({"GET", "DELETE"})
MAX_REASON_CHARS = 500
#: What a request whose automations could not be started is answered (an unexpected error).
INTERNAL_ERROR_STATUS = 500
#: Stands in for the client when the server gives no peer address (tests, UNIX sockets).
UNKNOWN_CLIENT = "unknown"


class EndpointTrigger(Protocol):
    """What the receiver hands accepted requests to (``AutomationServices``)."""

    async def plan_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> PlannedRuns: ...

    def launch(self, planned: PlannedRuns) -> None: ...

    async def trigger_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> str | None: ...


@dataclass(frozen=True)
class Incoming:
    slug: str
    method: str
    #: As received, names in any case; a repeated header keeps its last value.
    headers: list[tuple[str, str]]
    query: dict[str, str]
    peer: str | None
    declared_length: int | None
    body: AsyncIterator[bytes]


@dataclass(frozen=True)
class Answer:
    status: int
    message: str
    success: bool = False
    errors: list[dict[str, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"success": self.success, "message": self.message}
        if self.errors is not None:
            shown["errors"] = self.errors
        return {**shown, **self.extra}


@dataclass
class _Cached:
    endpoint: EndpointRecord
    validator: payload.SchemaValidator | None
    loaded_s: float


class _Refused(Exception):
    def __init__(self, answer: Answer, verdict: Verdict, reason: str) -> None:
        self.answer = answer
        self.verdict = verdict
        self.reason = reason


class Receiver:
    def __init__(
        self,
        endpoints: EndpointRepository,
        writes: HotWrites,
        limiter: RateLimiter,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._endpoints = endpoints
        self._limiter = limiter
        self._settings = settings
        self._clock = clock
        self._proxies = header_rules.networks(settings.inbound_trusted_proxies)
        self._cache: dict[str, _Cached] = {}
        self._loading: dict[str, asyncio.Future[_Cached | None]] = {}
        self._writes = writes
        self._counted = Counter(
            "hookhub_inbound_requests",
            "Incoming webhook requests, by endpoint slug and verdict",
            ["endpoint", "verdict"],
            registry=metrics.registry,
        )

    def forget(self) -> None:
        """Drop cached endpoints: called when one changes in this process."""
        self._cache.clear()

    async def _endpoint(self, slug: str) -> _Cached | None:
        cached = self._cache.get(slug)
        if cached is not None and time.monotonic() - cached.loaded_s < ENDPOINT_CACHE_TTL_S:
            return cached
        # One load per slug at a time: under load, every request arriving as the entry expires
        # would otherwise query the store for it, each one slowing the next.
        loading = self._loading.get(slug)
        if loading is None:
            loading = asyncio.ensure_future(self._load(slug))
            self._loading[slug] = loading
            loading.add_done_callback(lambda _done: self._loading.pop(slug, None))
        return await asyncio.shield(loading)

    async def _load(self, slug: str) -> _Cached | None:
        record = await self._endpoints.by_slug(slug)
        if record is None:
            self._cache.pop(slug, None)
            return None
        validator = payload.compile_schema(record.json_schema) if record.json_schema else None
        if len(self._cache) >= ENDPOINT_CACHE_SIZE:
            self._cache.clear()
        loaded = _Cached(record, validator, time.monotonic())
        self._cache[slug] = loaded
        return loaded

    async def receive(self, incoming: Incoming, automations: EndpointTrigger) -> Answer:
        now = self._clock()
        cached = await self._endpoint(incoming.slug)
        if cached is None or not cached.endpoint.is_active:
            return Answer(404, NOT_FOUND)
        endpoint = cached.endpoint
        client = header_rules.client_ip(
            incoming.peer, _last(incoming.headers, header_rules.FORWARDED_FOR), self._proxies
        )
        row: dict[str, Any] = {
            "id": new_id(now),
            "endpoint_id": endpoint.id,
            "received_at": now,
            "method": incoming.method,
            "client_ip": client,
            "headers": header_rules.masked(incoming.headers),
            "query": incoming.query,
            "body": None,
            "body_bytes": incoming.declared_length or 0,
            "body_truncated": False,
            "delivery_id": None,
            "execution_id": None,
            "trigger": None,
            "reason": None,
        }
        try:
            trigger, dedupe_window_s = await self._check(incoming, cached, client, row, now)
        except _Refused as refused:
            return await self._refuse(endpoint, row, refused)
        row.update(status_code=200, verdict=Verdict.ACCEPTED, trigger=trigger)
        recorded, planned = await self._store(automations, endpoint, row, dedupe_window_s)
        self._counted.labels(endpoint.slug, recorded.verdict).inc()
        answer = {"receivedAt": isoformat_z(now)}
        if recorded.verdict is Verdict.DUPLICATE:
            log.info("inbound.duplicate", endpoint=endpoint.slug, delivery_id=row["delivery_id"])
            extra = {"executionId": recorded.original_execution_id, **answer, "duplicate": True}
            return Answer(200, ACCEPTED, success=True, extra=extra)
        automations.launch(planned)
        extra = {"executionId": planned.execution_id, **answer}
        return Answer(200, ACCEPTED, success=True, extra=extra)

    async def _check(
        self,
        incoming: Incoming,
        cached: _Cached,
        client: str | None,
        row: dict[str, Any],
        now: datetime,
    ) -> tuple[dict[str, Any], float | None]:
        """Steps 2 to 8; the trigger and the dedupe window, or :class:`_Refused`."""
        endpoint = cached.endpoint
        if incoming.method not in endpoint.methods:
            allow = {"Allow": ", ".join(endpoint.methods)}
            raise _Refused(
                Answer(405, METHOD_NOT_ALLOWED, headers=allow),
                Verdict.METHOD_NOT_ALLOWED,
                f"method {incoming.method} not allowed",
            )
        if endpoint.rate_limit is not None:
            decision = await self._limiter.check(
                endpoint.id, client or UNKNOWN_CLIENT, endpoint.rate_limit
            )
            if not decision.allowed:
                retry = {"Retry-After": str(decision.retry_after_s)}
                raise _Refused(
                    Answer(429, TOO_MANY_REQUESTS, headers=retry),
                    Verdict.RATE_LIMITED,
                    f"over {endpoint.rate_limit} for {client}",
                )
        body = await self._read(incoming, endpoint, row)
        headers = {name.lower(): value for name, value in incoming.headers}
        _verify(endpoint, headers, body, now)
        parsed = _parse(incoming.method, headers, body, endpoint, cached.validator)
        if endpoint.dedupe_enabled:
            try:
                row["delivery_id"] = header_rules.delivery_id(
                    endpoint.scheme, headers, parsed, endpoint.dedupe_id_path
                )
            except ValueError:  # the path was checked when saved; a bad one only skips dedupe
                row["delivery_id"] = None
        trigger = {
            "body": parsed,
            "query": incoming.query,
            "headers": row["headers"],
            "method": incoming.method,
            "endpoint": {"id": endpoint.id, "slug": endpoint.slug, "name": endpoint.name},
            "request_id": row["id"],
            "received_at": isoformat_z(now),
        }
        return trigger, endpoint.dedupe_window_s if endpoint.dedupe_enabled else None

    async def _read(
        self, incoming: Incoming, endpoint: EndpointRecord, row: dict[str, Any]
    ) -> bytes:
        """The whole body, or :class:`_Refused` (413) as soon as it passes the endpoint's limit."""
        limit = min(
            endpoint.max_body_bytes or self._settings.max_body_bytes, self._settings.max_body_bytes
        )
        too_large = _Refused(
            Answer(413, f"Request body exceeds {limit} bytes"),
            Verdict.TOO_LARGE,
            f"body over {limit} bytes",
        )
        if incoming.declared_length is not None and incoming.declared_length > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in incoming.body:
            size += len(chunk)
            row["body_bytes"] = size
            if size > limit:
                raise too_large
            chunks.append(chunk)
        body = b"".join(chunks)
        cap = self._settings.inbound_history_body_bytes
        row["body"] = payload.without_nul(body[:cap].decode("utf-8", "replace")) if body else None
        row["body_truncated"] = len(body) > cap
        return body

    async def _refuse(
        self, endpoint: EndpointRecord, row: dict[str, Any], refused: _Refused
    ) -> Answer:
        reason = refused.reason[:MAX_REASON_CHARS]
        row.update(status_code=refused.answer.status, verdict=refused.verdict, reason=reason)
        await self._writes.record(NewRequest(row))
        self._counted.labels(endpoint.slug, refused.verdict).inc()
        log.info(
            "inbound.refused",
            endpoint=endpoint.slug,
            verdict=refused.verdict.value,
            reason=reason,
            status=refused.answer.status,
            inbound_request_id=row["id"],
        )
        return refused.answer

    async def _store(
        self,
        automations: EndpointTrigger,
        endpoint: EndpointRecord,
        row: dict[str, Any],
        dedupe_window_s: float | None,
    ) -> tuple[Recorded, PlannedRuns]:
        """Store the accepted request with the executions it starts, in one transaction.

        When they cannot be prepared or stored, the request is stored alone, with the reason
        and without claiming its delivery id (so the sender's retry runs it instead of being
        answered "duplicate"), and the error is raised.
        """
        try:
            planned = await automations.plan_endpoint(
                endpoint_id=endpoint.id, trigger=row["trigger"], request_id=row["id"]
            )
        except Exception as exc:
            await self._not_started(endpoint, row, exc)
            raise
        row["execution_id"] = planned.execution_id
        try:
            recorded = await self._writes.record(NewRequest(row, dedupe_window_s, planned.rows))
        except HookhubError:
            raise  # the store is away, or the claim contended: nothing was stored
        except Exception as exc:
            if not planned.rows:
                raise
            # An execution row was refused (its automation deleted by another process since
            # this one cached it): the request is still kept in the history.
            await self._not_started(endpoint, row, exc)
            raise
        return recorded, planned

    async def _not_started(
        self, endpoint: EndpointRecord, row: dict[str, Any], exc: Exception
    ) -> None:
        log.error(
            "inbound.trigger_failed",
            endpoint=endpoint.slug,
            inbound_request_id=row["id"],
            exc_info=exc,
        )
        reason = f"starting the automations failed: {type(exc).__name__}"
        status = exc.status_code if isinstance(exc, HookhubError) else INTERNAL_ERROR_STATUS
        row.update(execution_id=None, status_code=status, reason=reason)
        await self._writes.record(NewRequest(row))


def _last(headers: list[tuple[str, str]], name: str) -> str | None:
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def _verify(endpoint: EndpointRecord, headers: dict[str, str], body: bytes, now: datetime) -> None:
    """Run the endpoint's scheme, then its bearer token when it has one beside the scheme."""
    if endpoint.scheme is None:
        return
    options = VerifyOptions(
        tolerance_s=endpoint.tolerance_s, require_timestamp=endpoint.replay_protection
    )
    try:
        if endpoint.bearer_token is not None:
            verify("bearer", headers, body, endpoint.bearer_token, now, options)
        verify(endpoint.scheme, headers, body, endpoint.secret or "", now, options)
    except VerificationError as exc:
        raise _Refused(Answer(401, exc.message), Verdict.UNVERIFIED, exc.reason) from None


def _parse(
    method: str,
    headers: dict[str, str],
    body: bytes,
    endpoint: EndpointRecord,
    validator: payload.SchemaValidator | None,
) -> Any:
    """The body as JSON (``None`` for a bodyless request or a non-JSON type the endpoint takes)."""
    try:
        if not body and method in BODYLESS_METHODS:
            parsed: Any = None
            is_json = False
        else:
            media = payload.media_type(headers.get("content-type"))
            payload.check_media_type(media, endpoint.content_types)
            is_json = payload.is_json(media)
            parsed = payload.parse_json(body) if is_json else None
        if validator is not None:
            if not is_json:
                raise payload.PayloadError(
                    payload.INVALID_PAYLOAD,
                    errors=[{"path": payload.BODY, "message": "a JSON body is required"}],
                )
            payload.check_schema(validator, parsed)
    except payload.UnsupportedTypeError as exc:
        raise _Refused(_error(exc), Verdict.UNSUPPORTED_TYPE, _summary(exc)) from None
    except payload.PayloadError as exc:
        raise _Refused(_error(exc), Verdict.INVALID, _summary(exc)) from None
    return parsed


def _error(exc: HookhubError) -> Answer:
    return Answer(exc.status_code, exc.message, errors=exc.errors)


def _summary(exc: HookhubError) -> str:
    details = "; ".join(f"{item['path']}: {item['message']}" for item in exc.errors or [])
    return f"{exc.message}: {details}" if details else exc.message
