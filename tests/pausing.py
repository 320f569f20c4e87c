"""Holding one step of a concurrent scenario while the rest of it runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


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
