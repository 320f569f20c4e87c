"""Settings read from the environment (prefix ``TRIBEOPS_``), built at start-up, never at import."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import msgspec

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tribeops.db"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Runtime configuration of one tribeops process."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    max_body_bytes: int = 5 * 1024 * 1024
    idempotency_ttl_hours: int = 24
    key_cache_seconds: float = 5.0
    debug: bool = False
    database_echo: bool = False
    job_stale_seconds: float = 30.0
    """A running job whose worker has not heartbeated for this long is queued again (jobs
    heartbeat every 5 s, or three times within this delay when it is shorter than 15 s)."""
    in_process_jobs: int = 2
    """How many jobs the API process runs at once when it runs them itself (no Redis), each of
    another brand."""
    load_plugins: str | None = None
    """Comma list of third-party plugins to load; empty for none; unset for all installed."""
    disable_plugins: str | None = None
    """Comma list of plugins (built-in or not) to skip."""

    # The numbers that must be above 0 (those left out must not be below it).
    POSITIVE = frozenset({"max_body_bytes", "idempotency_ttl_hours", "job_stale_seconds", "in_process_jobs"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``TRIBEOPS_*`` variables; a bad value raises ``ValueError`` naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            name = f"TRIBEOPS_{field.name.upper()}"
            raw = env.get(name)
            # An empty TRIBEOPS_LOAD_PLUGINS means "no third-party plugins", not "unset".
            if raw is None or (raw == "" and field.name != "load_plugins"):
                continue
            values[field.name] = value = _parse(name, raw, field.type)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                _check(name, raw, value, positive=field.name in cls.POSITIVE)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str, type_: object) -> object:
    try:
        if type_ is bool:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if type_ is int:
            return int(raw)
        if type_ is float:
            return float(raw)
    except ValueError:
        raise ValueError(f"{name}: cannot read {raw!r} as {getattr(type_, '__name__', type_)}") from None
    return raw


def _check(name: str, raw: str, value: float, positive: bool) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name}: {raw!r} is not a finite number")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name}: {raw!r} must be {'greater than' if positive else 'at least'} 0")
