"""Admin authentication and API token management."""

from __future__ import annotations

import hmac

from hookhub.audit import AuditAction
from hookhub.clock import Clock
from hookhub.errors import AuthError, NotFoundError
from hookhub.store.repositories import AuditRepository, TokenRepository
from hookhub.tokens import (
    ApiTokenInfo,
    NewApiToken,
    Principal,
    generate_token,
    hash_token,
    shown_prefix,
)

ADMIN_PRINCIPAL = "admin"
#: The message for every authentication failure: it never says which part was wrong.
AUTH_FAILED = "Missing or invalid admin token"


class TokenService:
    def __init__(
        self,
        tokens: TokenRepository,
        audit: AuditRepository,
        clock: Clock,
        admin_token: str | None,
    ) -> None:
        self._tokens = tokens
        self._audit = audit
        self._clock = clock
        self._admin_token = admin_token.encode() if admin_token else None

    async def authenticate(self, presented: str | None) -> Principal:
        """The principal for a presented bearer token, or :class:`AuthError`."""
        if not presented:
            raise AuthError(AUTH_FAILED)
        if self._admin_token is not None and hmac.compare_digest(
            presented.encode(), self._admin_token
        ):
            return Principal(name=ADMIN_PRINCIPAL)
        # Looked up by SHA-256: equal hashes only come from equal tokens, and the lookup
        # reveals nothing timing-wise about any stored token's value.
        found = await self._tokens.find_active(hash_token(presented), now=self._clock())
        if found is None:
            raise AuthError(AUTH_FAILED)
        return Principal(name=f"token:{found.name}", token_id=found.id)

    async def create(self, name: str, *, actor: str, request_id: str | None = None) -> NewApiToken:
        token = generate_token()
        now = self._clock()
        info = await self._tokens.add(
            name=name, token_hash=hash_token(token), prefix=shown_prefix(token), now=now
        )
        await self._audit.add(
            actor=actor,
            action=AuditAction.TOKEN_CREATED,
            target=info.id,
            request_id=request_id,
            details={"name": name, "prefix": info.prefix},
            now=now,
        )
        return NewApiToken(**info.model_dump(), token=token)

    async def list(self, *, include_revoked: bool = False) -> list[ApiTokenInfo]:
        return await self._tokens.list(include_revoked=include_revoked)

    async def revoke(
        self, token_id: str, *, actor: str, request_id: str | None = None
    ) -> ApiTokenInfo:
        now = self._clock()
        info = await self._tokens.revoke(token_id, now=now)
        if info is None:
            raise NotFoundError(f"no token with id {token_id!r}")
        await self._audit.add(
            actor=actor,
            action=AuditAction.TOKEN_REVOKED,
            target=token_id,
            request_id=request_id,
            details={"name": info.name, "prefix": info.prefix},
            now=now,
        )
        return info
