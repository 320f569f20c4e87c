"""Multi-row statements straight to the driver, for the ingest hot path.

SQLAlchemy's per-row type processing and statement compilation cost more than the
database's own work on a 500-event batch, and on SQLite each statement is a hop to the
driver's thread. Here one ``INSERT ... VALUES (...), (...) ... RETURNING`` carries a whole
batch in one round trip, with values already in the driver's own types.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

_json = msgspec.json.Encoder()
MAX_PARAMS = 30_000  # under SQLite's 32766 and PostgreSQL's 32767 bound parameters


def adapt(dialect: str, value: Any) -> Any:
    """A Python value in the form the driver stores for tribeops' column types."""
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc)
        # SQLAlchemy's SQLite DateTime storage format, so ORM-level reads parse it back.
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else value
    if isinstance(value, (dict, list)):
        return _json.encode(value).decode()
    if isinstance(value, bool) and dialect == "sqlite":
        return int(value)
    return value


def _flatten(dialect: str, rows: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    """All rows' values in one tuple, adapting only the columns whose values need it."""
    needs = [any(isinstance(row[i], (datetime, dict, list, bool)) for row in rows) for i in range(len(rows[0]))]
    if not any(needs):
        return tuple(v for row in rows for v in row)
    return tuple(adapt(dialect, v) if needs[i] else v for row in rows for i, v in enumerate(row))


def _marks(dialect: str, rows: int, cols: int) -> str:
    if dialect == "sqlite":
        one = "(" + ", ".join("?" * cols) + ")"
        return ", ".join([one] * rows)
    return ", ".join("(" + ", ".join(f"${r * cols + c + 1}" for c in range(cols)) + ")" for r in range(rows))


async def insert(conn: AsyncConnection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 conflict: Sequence[str] = (), returning: Sequence[str] = ()) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (skipping conflicts on ``conflict`` when given) and return ``returning`` of new rows."""
    dialect = conn.dialect.name
    out: list[tuple[Any, ...]] = []
    per = max(1, MAX_PARAMS // len(columns))
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_marks(dialect, len(chunk), len(columns))}"
        if conflict:
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        params = _flatten(dialect, chunk)
        result = await conn.exec_driver_sql(sql, params)
        if returning:
            out += [tuple(r) for r in result.fetchall()]
    return out


async def upsert(conn: AsyncConnection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 key: Sequence[str], update: Sequence[str], add: Sequence[str] = ()) -> None:
    """Insert ``rows``; on a ``key`` conflict set the ``update`` columns to the new values and
    add the new values to the ``add`` columns."""
    if not rows:
        return
    dialect = conn.dialect.name
    sets = ", ".join([f"{c} = excluded.{c}" for c in update] + [f"{c} = {table}.{c} + excluded.{c}" for c in add])
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_marks(dialect, len(rows), len(columns))} "
           f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}")
    await conn.exec_driver_sql(sql, _flatten(dialect, rows))


def json_value(value: Any) -> Any:
    """A JSON column read through the driver: text on SQLite (and asyncpg's text codec), else as is."""
    return msgspec.json.decode(value) if isinstance(value, (str, bytes)) else value


async def select_in(conn: AsyncConnection, sql: str, fixed: Sequence[Any], values: Sequence[Any],
                    chunk: int = 5000) -> list[tuple[Any, ...]]:
    """Run ``sql`` whose ``{}`` holes take ``fixed`` parameters and, last, an ``IN`` list of ``values``."""
    dialect = conn.dialect.name
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(values), chunk):
        part = values[start:start + chunk]
        if dialect == "sqlite":
            holes = ["?"] * len(fixed) + ["(" + ", ".join("?" * len(part)) + ")"]
        else:
            n = len(fixed)
            holes = [f"${i + 1}" for i in range(n)] + ["(" + ", ".join(f"${n + i + 1}" for i in range(len(part))) + ")"]
        result = await conn.exec_driver_sql(sql.format(*holes), (*fixed, *part))
        out += [tuple(r) for r in result.fetchall()]
    return out
