"""First-run set-up and key issuing, shared by the CLI commands."""

from __future__ import annotations

from .db import Database
from .schemas.keys import ApiKeyCreate
from .services.workspaces import ApiKeyService, count_workspaces, ensure_workspace


async def first_run(db: Database, workspace: str = "default") -> str | None:
    """On an empty database create ``workspace`` and return one admin key; otherwise None."""
    async with db.transaction() as conn:
        if await count_workspaces(conn):
            return None
        caller = await ensure_workspace(conn, workspace)
        key = await ApiKeyService(conn, caller).create(ApiKeyCreate(name="first admin key", scopes=["admin"]))
        return key.secret


async def issue_key(db: Database, workspace: str, scopes: list[str], name: str) -> str:
    """A new key of ``workspace`` (created if needed) with ``scopes``; returns the secret."""
    async with db.transaction() as conn:
        caller = await ensure_workspace(conn, workspace)
        key = await ApiKeyService(conn, caller).create(ApiKeyCreate(name=name, scopes=scopes))  # type: ignore[arg-type]
        return key.secret
