"""``/tokens`` and ``/audit``: API token management and the audit log (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Security
from pydantic import BaseModel, ConfigDict, Field

from hookhub.audit import AuditRecord
from hookhub.http.deps import AdminRoute, PrincipalDep, RequestIdDep, ServicesDep, bearer_scheme
from hookhub.http.errors import ADMIN_ERROR_RESPONSES
from hookhub.paging import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page
from hookhub.tokens import MAX_NAME_CHARS, ApiTokenInfo, NewApiToken

router = APIRouter(
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses=ADMIN_ERROR_RESPONSES,
)


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


@router.post(
    "/tokens",
    status_code=201,
    response_model=NewApiToken,
    tags=["tokens"],
    summary="Create an API token (shown once)",
)
async def create_token(
    body: CreateToken, services: ServicesDep, principal: PrincipalDep, request_id: RequestIdDep
) -> NewApiToken:
    return await services.tokens.create(body.name, actor=principal.name, request_id=request_id)


@router.get(
    "/tokens", response_model=list[ApiTokenInfo], tags=["tokens"], summary="List API tokens"
)
async def list_tokens(
    services: ServicesDep, include_revoked: Annotated[bool, Query()] = False
) -> list[ApiTokenInfo]:
    return await services.tokens.list(include_revoked=include_revoked)


@router.delete(
    "/tokens/{token_id}",
    response_model=ApiTokenInfo,
    tags=["tokens"],
    summary="Revoke an API token",
)
async def revoke_token(
    token_id: str, services: ServicesDep, principal: PrincipalDep, request_id: RequestIdDep
) -> ApiTokenInfo:
    return await services.tokens.revoke(token_id, actor=principal.name, request_id=request_id)


@router.get(
    "/audit",
    response_model=Page[AuditRecord],
    tags=["audit"],
    summary="The audit log, newest first",
)
async def list_audit(
    services: ServicesDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AuditRecord]:
    return await services.audit.list(action=action, limit=limit, offset=offset)
