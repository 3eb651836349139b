"""Managing incoming endpoints: CRUD, the config file's endpoints, request history and replay.

Endpoints come from two places. Those created through the API (``managed_by: api``) are
changed and deleted there. Those in the config file (``[[endpoints]]``, ``managed_by: config``)
are written into the store at start-up, matched by slug, and the API refuses to change or delete
them (409): the file is their one source of truth, so a restart never undoes an API edit
silently. An endpoint that leaves the file is deactivated and handed to the API
(``managed_by: api``), keeping its request history until an admin deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from hookhub.clock import Clock
from hookhub.config import Settings
from hookhub.errors import ConflictError, InvalidInputError, NotFoundError
from hookhub.inbound.models import (
    EndpointConfig,
    EndpointCreate,
    EndpointOut,
    EndpointRecord,
    EndpointUpdate,
    EndpointWithSecret,
    ManagedBy,
    ReplayResult,
    RequestOut,
    Verdict,
)
from hookhub.inbound.ratelimit import RateLimiter
from hookhub.inbound.receiver import EndpointTrigger, Receiver
from hookhub.metrics import Metrics
from hookhub.paging import Page
from hookhub.signing import generate_secret
from hookhub.store.engine import Database
from hookhub.store.inbound import EndpointRepository, RequestRepository
from hookhub.store.writes import HotWrites

log = structlog.get_logger(__name__)

ENDPOINT_NOT_FOUND = "Endpoint not found"
REQUEST_NOT_FOUND = "Request not found"
CONFIG_DEFINED = "this endpoint is defined in the config file; change it there"
#: Expired dedupe keys are deleted this often (they are ignored once expired anyway).
PRUNE_INTERVAL_S = 300.0


def _columns(body: EndpointCreate) -> dict[str, Any]:
    """An endpoint's API shape as table columns (verification and dedupe flattened)."""
    fields = body.model_dump(exclude={"verification", "dedupe"})
    verification = body.verification
    return {
        **fields,
        "scheme": verification.scheme,
        "secret": verification.secret,
        "bearer_token": verification.bearer_token,
        "replay_protection": verification.replay_protection,
        "tolerance_s": verification.tolerance_s,
        "dedupe_enabled": body.dedupe.enabled,
        "dedupe_window_s": body.dedupe.window_s,
        "dedupe_id_path": body.dedupe.id_path,
    }


def _changed_columns(body: EndpointUpdate, current: EndpointRecord) -> dict[str, Any]:
    """The columns a PATCH changes; nested objects change only the fields they name."""
    changes = body.model_dump(exclude_unset=True, exclude={"verification", "dedupe"})
    for required in ("name", "slug", "methods", "content_types", "is_active"):
        if required in changes and changes[required] is None:
            raise InvalidInputError(f"{required} cannot be null")
    if body.verification is not None:
        given = body.verification.model_dump(exclude_unset=True)
        scheme = given.get("scheme", current.scheme)
        if scheme is None:
            given.update(secret=None, bearer_token=None)
        elif scheme != current.scheme and not given.get("secret"):
            raise InvalidInputError("a new scheme needs its secret in the same request")
        elif "secret" in given and given["secret"] is None:
            raise InvalidInputError("secret cannot be null while a scheme is set")
        if scheme == "bearer" and (given.get("bearer_token") or current.bearer_token):
            given["bearer_token"] = None  # the bearer scheme's token is its secret
        changes.update(given)
    if body.dedupe is not None:
        dedupe = body.dedupe.model_dump(exclude_unset=True)
        changes.update({f"dedupe_{name}": value for name, value in dedupe.items()})
    return changes


class InboundService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        writes: HotWrites,
    ) -> None:
        self._endpoints = EndpointRepository(db)
        self._requests = RequestRepository(db)
        self._settings = settings
        self._clock = clock
        self.limiter = RateLimiter(settings.redis_url, key_prefix=settings.redis_key_prefix)
        self.receiver = Receiver(self._endpoints, writes, self.limiter, settings, clock, metrics)
        self._pruner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Write the config file's endpoints into the store, then prune dedupe keys now and then."""
        await self.sync_config(self._settings.endpoints)
        self._pruner = asyncio.create_task(self._prune_now_and_then(), name="hookhub-inbound-prune")

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None
        await self.limiter.close()

    async def _prune_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL_S)
            try:
                await self._requests.prune(now=self._clock())
            except Exception:
                log.exception("inbound.prune_failed")

    async def sync_config(self, configured: list[EndpointConfig]) -> None:
        """Create or update the configured endpoints; release the ones no longer configured."""
        now = self._clock()
        wanted = {endpoint.slug: endpoint for endpoint in configured}
        for slug, defined in wanted.items():
            columns = {**_columns(defined), "managed_by": ManagedBy.CONFIG}
            existing = await self._endpoints.by_slug(slug)
            if existing is None:
                try:
                    await self._endpoints.create(
                        fields=_columns(defined), managed_by=ManagedBy.CONFIG, now=now
                    )
                    continue
                except ConflictError:  # another process created it meanwhile
                    existing = await self._endpoints.by_slug(slug)
                    if existing is None:
                        raise
            if existing.managed_by is ManagedBy.API:
                log.warning("inbound.endpoint_taken_over_by_config", slug=slug)
            await self._endpoints.update(existing.id, columns, now=now)
        stale = await self._endpoints.list(managed_by=ManagedBy.CONFIG)
        for endpoint in stale.items:
            if endpoint.slug not in wanted:
                await self._endpoints.update(
                    endpoint.id, {"is_active": False, "managed_by": ManagedBy.API}, now=now
                )
                log.info("inbound.endpoint_released_from_config", slug=endpoint.slug)
        self.receiver.forget()

    async def _require(self, endpoint_id: str) -> EndpointRecord:
        found = await self._endpoints.get(endpoint_id)
        if found is None:
            raise NotFoundError(ENDPOINT_NOT_FOUND)
        return found

    async def _require_api(self, endpoint_id: str) -> EndpointRecord:
        found = await self._require(endpoint_id)
        if found.managed_by is ManagedBy.CONFIG:
            raise ConflictError(CONFIG_DEFINED)
        return found

    async def create(self, body: EndpointCreate) -> EndpointWithSecret:
        """Store an endpoint; its secret (given, or generated for a scheme) is shown this once."""
        if body.verification.scheme is not None and body.verification.secret is None:
            body = body.model_copy(
                update={
                    "verification": body.verification.model_copy(
                        update={"secret": generate_secret()}
                    )
                }
            )
        created = await self._endpoints.create(
            fields=_columns(body), managed_by=ManagedBy.API, now=self._clock()
        )
        self.receiver.forget()
        return EndpointWithSecret(**created.public().model_dump(), secret=created.secret)

    async def get(self, endpoint_id: str) -> EndpointOut:
        return (await self._require(endpoint_id)).public()

    async def list(self, *, is_active: bool | None, limit: int, offset: int) -> Page[EndpointOut]:
        page = await self._endpoints.list(is_active=is_active, limit=limit, offset=offset)
        return Page(
            items=[e.public() for e in page.items], total=page.total, limit=limit, offset=offset
        )

    async def update(self, endpoint_id: str, body: EndpointUpdate) -> EndpointOut:
        current = await self._require_api(endpoint_id)
        changes = _changed_columns(body, current)
        merged = {**_columns_of(current), **changes}
        # Checked as a whole, so a PATCH cannot leave a combination a POST would refuse.
        try:
            EndpointCreate.model_validate(_api_shape(merged))
        except ValueError as exc:
            raise InvalidInputError(f"the endpoint would be invalid: {exc}") from None
        updated = await self._endpoints.update(endpoint_id, changes, now=self._clock())
        if updated is None:
            raise NotFoundError(ENDPOINT_NOT_FOUND)
        self.receiver.forget()
        return updated.public()

    async def delete(self, endpoint_id: str) -> None:
        await self._require_api(endpoint_id)
        if not await self._endpoints.delete(endpoint_id):
            raise NotFoundError(ENDPOINT_NOT_FOUND)
        self.receiver.forget()

    async def requests(
        self, endpoint_id: str, *, verdict: Verdict | None, limit: int, offset: int
    ) -> Page[RequestOut]:
        await self._require(endpoint_id)
        return await self._requests.list(endpoint_id, verdict=verdict, limit=limit, offset=offset)

    async def request(self, endpoint_id: str, request_id: str) -> RequestOut:
        await self._require(endpoint_id)
        found = await self._requests.get(endpoint_id, request_id)
        if found is None:
            raise NotFoundError(REQUEST_NOT_FOUND)
        return found[0]

    async def replay(
        self, endpoint_id: str, request_id: str, automations: EndpointTrigger
    ) -> ReplayResult:
        """Give the automations an accepted request's trigger again; the new execution's id."""
        endpoint = await self._require(endpoint_id)
        found = await self._requests.get(endpoint_id, request_id)
        if found is None:
            raise NotFoundError(REQUEST_NOT_FOUND)
        request, trigger = found
        if request.verdict is not Verdict.ACCEPTED or trigger is None:
            raise ConflictError(
                f"only accepted requests can be replayed; this one is {request.verdict.value}"
            )
        if not endpoint.is_active:
            raise ConflictError("the endpoint is inactive")
        execution_id = await automations.trigger_endpoint(
            endpoint_id=endpoint_id, trigger=trigger, request_id=request_id
        )
        log.info("inbound.replayed", endpoint=endpoint.slug, inbound_request_id=request_id)
        return ReplayResult(request_id=request_id, execution_id=execution_id)


def _columns_of(record: EndpointRecord) -> dict[str, Any]:
    return record.model_dump(exclude={"id", "managed_by", "created_at", "updated_at"})


def _api_shape(columns: dict[str, Any]) -> dict[str, Any]:
    """Table columns back in the API's nested shape, for validation."""
    flat = dict(columns)
    verification = {
        name: flat.pop(column)
        for name, column in (
            ("scheme", "scheme"),
            ("secret", "secret"),
            ("bearer_token", "bearer_token"),
            ("replay_protection", "replay_protection"),
            ("tolerance_s", "tolerance_s"),
        )
    }
    dedupe = {name: flat.pop(f"dedupe_{name}") for name in ("enabled", "window_s", "id_path")}
    return {**flat, "verification": verification, "dedupe": dedupe}
