"""Process-wide state of the API: the database and a short-lived cache of authenticated keys."""

from __future__ import annotations

import time

from litestar.di import NamedDependency

from tribeops.core.db import Database
from tribeops.core.jobs import JobQueue
from tribeops.core.plugins import Registry
from tribeops.core.runtime import Runtime as CoreRuntime
from tribeops.core.services.context import Caller
from tribeops.core.services.workspaces import authenticate
from tribeops.core.settings import Settings


class KeyCache:
    """Bearer token → caller, for ``ttl`` seconds, so a hot ingest path skips the key lookup.

    Revocation is immediate in the process that revokes and takes at most ``ttl`` elsewhere.
    """

    def __init__(self, db: Database, ttl: float) -> None:
        self.db, self.ttl = db, ttl
        self._entries: dict[str, tuple[float, Caller | None]] = {}

    async def resolve(self, token: str) -> Caller | None:
        now = time.monotonic()
        hit = self._entries.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.db.reading() as conn:
            caller = await authenticate(conn, token)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token] = (now + self.ttl, caller)
        return caller

    def forget_key(self, key_id: str) -> None:
        self._entries = {k: v for k, v in self._entries.items() if v[1] is None or v[1].key_id != key_id}


class AppState:
    """The core runtime plus what only the API needs."""

    def __init__(self, runtime: CoreRuntime, queue: JobQueue) -> None:
        self.core = runtime
        self.queue = queue
        self.keys = KeyCache(runtime.db, runtime.settings.key_cache_seconds)

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def registry(self) -> Registry:
        return self.core.registry


Runtime = NamedDependency[AppState]
"""Handler parameter ``runtime``: the process's :class:`AppState`."""
