"""Workspaces (tenants) and their API keys: creation, hashed storage, authentication."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from types import SimpleNamespace
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import tables as t
from ..errors import NotFound
from ..ids import new_id
from ..pagination import paginate
from ..schemas.common import Page
from ..schemas.keys import ApiKey, ApiKeyCreate, ApiKeyCreated
from .context import Caller, Service, utcnow

KEY_PREFIX = "tro"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def ensure_workspace(conn: AsyncConnection, name: str) -> Caller:
    """The workspace called ``name``, created if it does not exist yet."""
    row = (await conn.execute(sa.select(t.workspaces).where(t.workspaces.c.name == name))).first()
    if row is None:
        row_values = {"id": new_id("workspace"), "name": name, "cursor_secret": secrets.token_hex(32),
                      "created_at": utcnow()}
        await conn.execute(sa.insert(t.workspaces).values(**row_values))
        return Caller(row_values["id"], row_values["cursor_secret"], scopes=("admin",))
    return Caller(row.id, row.cursor_secret, scopes=("admin",))


async def count_workspaces(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(t.workspaces))).scalar_one())


async def authenticate(conn: AsyncConnection, token: str) -> Caller | None:
    """The caller a bearer token belongs to, or None for an unknown, malformed or revoked key."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    query = (
        sa.select(t.api_keys.c.id, t.api_keys.c.secret_hash, t.api_keys.c.scopes, t.api_keys.c.revoked_at,
                  t.workspaces.c.id.label("ws"), t.workspaces.c.cursor_secret)
        .join(t.workspaces, t.workspaces.c.id == t.api_keys.c.workspace_id)
        .where(t.api_keys.c.prefix == parts[1])
    )
    row = (await conn.execute(query)).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
        return None
    return Caller(row.ws, row.cursor_secret, key_id=row.id, scopes=tuple(row.scopes))


def _to_key(row: Any) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, prefix=f"{KEY_PREFIX}_{row.prefix}", scopes=list(row.scopes),
                  created_at=row.created_at, revoked_at=row.revoked_at)


class ApiKeyService(Service):
    """Key management for a workspace's admins."""

    async def create(self, data: ApiKeyCreate) -> ApiKeyCreated:
        """Create a key; its secret is in the result and nowhere else."""
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        values = {"id": new_id("api_key"), "workspace_id": self.ws, "name": data.name, "prefix": prefix,
                  "secret_hash": _hash(secret), "scopes": sorted(set(data.scopes)), "created_at": utcnow(),
                  "revoked_at": None}
        await self.conn.execute(sa.insert(t.api_keys).values(**values))
        key = _to_key(SimpleNamespace(**values))
        return ApiKeyCreated(**msgspec.structs.asdict(key), secret=f"{KEY_PREFIX}_{prefix}_{secret}")

    async def list(self, limit: int, starting_after: str | None) -> Page[ApiKey]:
        query = sa.select(t.api_keys).where(t.api_keys.c.workspace_id == self.ws)
        return await paginate(self.conn, query, t.api_keys.c.id, secret=self.caller.cursor_secret, limit=limit,
                              starting_after=starting_after, to_item=_to_key)

    async def get(self, key_id: str) -> ApiKey:
        row = (await self.conn.execute(sa.select(t.api_keys).where(
            t.api_keys.c.workspace_id == self.ws, t.api_keys.c.id == key_id))).first()
        if row is None:
            raise NotFound("api_key", key_id)
        return _to_key(row)

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key at once; revoking twice keeps the first revocation time."""
        key = await self.get(key_id)
        if key.revoked_at is None:
            now = utcnow()
            await self.conn.execute(sa.update(t.api_keys).where(
                t.api_keys.c.workspace_id == self.ws, t.api_keys.c.id == key_id).values(revoked_at=now))
            key.revoked_at = now
        return key
