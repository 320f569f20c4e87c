"""Calling plugin code without letting it break tribeops: errors and timeouts become records."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

import pluggy

log = logging.getLogger("tribeops.plugins")
_PLAIN = frozenset({dict, list, str, int, float, bool})


class PluginFailure(Exception):
    """What a plugin call left behind instead of a result; ``str()`` names the plugin."""

    def __init__(self, plugin: str, what: str, error: BaseException, timeout: float | None = None) -> None:
        """``timeout``: the seconds it had, when it timed out."""
        self.plugin, self.what, self.error, self.timeout = plugin, what, error, timeout
        super().__init__(f"{plugin}: {what} " + (self._timed_out() if self.timed_out else
                                                 f"raised {type(error).__name__}: {error}"))

    def _timed_out(self) -> str:
        return "timed out" + (f" after {self.timeout:g} s" if self.timeout is not None else "")

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, TimeoutError)

    def brief(self, limit: int = 300) -> str:
        """The failure for a client to read: the plugin, what failed, the error's type and the
        first line of its message, at most ``limit`` characters of it. A database error gives
        the driver's own message, not the statement and the values bound to it (the log has
        those)."""
        if self.timed_out:
            return f"{self.plugin}: {self.what} {self._timed_out()}"
        error = getattr(self.error, "orig", None) or self.error  # a database error: the driver's
        first = next(iter(str(error).strip().splitlines()), "")
        first = first if len(first) <= limit else first[:limit - 1] + "…"
        return f"{self.plugin}: {self.what} raised {type(error).__name__}" + (f": {first}" if first else "")


async def call(plugin: str, what: str, function: Callable[..., Any], *args: Any, timeout: float = 5.0,
               **kwargs: Any) -> Any:
    """Run ``function`` (sync or async); any exception or timeout comes back as a ``PluginFailure``.

    The failure is logged with the plugin's name and returned, never raised, so the caller
    decides where to record it (an event's enrichment errors, a job's result).
    """
    try:
        result = function(*args, **kwargs)
        if result is None or type(result) in _PLAIN:  # the common, synchronous case: no awaitable check
            return result
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, timeout)
        return result
    except Exception as exc:  # noqa: BLE001 - isolation is the point
        failure = PluginFailure(plugin, what, exc, timeout)
        log.warning("%s", failure)
        return failure


async def notify(pm: pluggy.PluginManager, hook_name: str, timeout: float = 5.0, **kwargs: Any) -> list[PluginFailure]:
    """Call every implementation of a notification hook, each isolated; returns the failures."""
    failures = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        args = {name: kwargs[name] for name in impl.argnames}
        result = await call(impl.plugin_name, hook_name, impl.function, timeout=timeout, **args)
        if isinstance(result, PluginFailure):
            failures.append(result)
    return failures
