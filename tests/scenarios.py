"""Running async scenarios against a runtime, and holding one step of them while the rest runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tribeops.core.runtime import Runtime
from tribeops.core.schemas.brands import BrandCreate
from tribeops.core.services.brands import BrandService
from tribeops.core.services.workspaces import ensure_workspace
from tribeops.core.settings import Settings


def run_scenario(database_url: str, scenario: Callable[[Runtime], Awaitable[None]]) -> None:
    """``scenario(runtime)`` on a runtime of ``database_url``, closed afterwards whatever happens."""
    async def main() -> None:
        runtime = Runtime.create(Settings(database_url=database_url))
        try:
            await scenario(runtime)
        finally:
            await runtime.close()

    asyncio.run(main())


async def workspace_with_brand(runtime: Runtime) -> tuple[Any, str]:
    """A new workspace's admin caller, and its brand Acme (@acme on x)."""
    async with runtime.db.transaction() as conn:
        caller = await ensure_workspace(conn, f"scenario-{uuid.uuid4().hex[:8]}")
        brand = (await BrandService(conn, caller).create(BrandCreate(name="Acme", handles={"x": "acme"}))).id
    return caller, brand


def pause_first_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
                     about: str) -> tuple[asyncio.Event, asyncio.Event]:
    """The first call of ``owner.name`` (a coroutine function) about ``about`` (a brand or
    workspace id, passed as an argument or in a list argument) sets ``reached`` and then waits
    for ``go_on``; later calls, and calls about anything else (jobs of another test's runtime
    may still be running), go straight through. Returns (reached, go_on)."""
    reached, go_on = asyncio.Event(), asyncio.Event()
    original = getattr(owner, name)

    async def paused(*args: Any, **kwargs: Any) -> Any:
        if not reached.is_set() and any(arg == about or (isinstance(arg, list) and about in arg) for arg in args):
            reached.set()
            await go_on.wait()
        return await original(*args, **kwargs)

    monkeypatch.setattr(owner, name, paused)
    return reached, go_on
