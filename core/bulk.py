"""Multi-row statements straight to the driver, for the ingest hot path.

SQLAlchemy's per-row type processing and statement compilation cost more than the
database's own work on a 500-event batch, and on SQLite each statement is a hop to the
driver's thread. Here one ``INSERT ... VALUES (...), (...) ... RETURNING`` carries a whole
batch in one round trip, with values already in the driver's own types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import chain
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

_json = msgspec.json.Encoder()
MAX_PARAMS = 30_000  # under SQLite's 32766 and PostgreSQL's 32767 bound parameters
IN_CHUNK = 5000  # values per IN list


def sqlite_time(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DateTime storage format (UTC), so ORM-level reads parse it back."""
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat(" ", "microseconds")[:26]


def encode_json(value: Any) -> str:
    """``value`` as JSON text, in one call (for SQLite's ``json_each``)."""
    return _json.encode(value).decode()


def _json_text(value: Any) -> str | None:
    return None if value is None else _json.encode(value).decode()


def _sqlite_times(column: Sequence[datetime | None]) -> list[str | None]:
    out: list[str | None] = []
    last: datetime | None = None
    text = None
    for value in column:
        if value is not last:  # a batch's rows share one ingested_at, seen_at...: formatted once
            last, text = value, sqlite_time(value)
        out.append(text)
    return out


def _json_texts(column: Sequence[Any]) -> list[str | None]:
    return [_json_text(v) for v in column]


def _sqlite_bools(column: Sequence[bool | None]) -> list[int | None]:
    return [None if v is None else int(v) for v in column]


def _adapter(dialect: str, column: Sequence[Any]) -> Callable[[Sequence[Any]], list[Any]] | None:
    """How one column's values must be converted for the driver, judged by its first value.

    On SQLite, booleans go as 0 and 1: the sqlite3 module binds an int directly, but looks a
    bool (like None) up in its adapter registry first, ten times the cost.
    """
    sample = next((v for v in column if v is not None), None)
    if isinstance(sample, datetime):
        return _sqlite_times if dialect == "sqlite" else None
    if isinstance(sample, (dict, list)):
        return _json_texts
    if isinstance(sample, bool) and dialect == "sqlite":
        return _sqlite_bools
    return None  # str, numbers, None


def _flatten(dialect: str, rows: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    """All rows' values in one tuple, converting column by column only where a column needs it."""
    return tuple(chain.from_iterable(zip(*_columns(dialect, rows))))


def sqlite_values(rows: Sequence[Sequence[Any]], cols: int | None = None) -> tuple[str, tuple[Any, ...]]:
    """A multi-row ``VALUES`` list for SQLite and its parameters. A column that is NULL in every
    row is written as the literal NULL: the sqlite3 module binds each None parameter only after
    looking it up in its adapter registry, and a batch's optional columns are often all empty."""
    cols = len(rows[0]) if cols is None else cols
    columns = _columns("sqlite", rows)
    empty = tuple(i for i, column in enumerate(columns) if column.count(None) == len(column))
    if empty:
        columns = [column for i, column in enumerate(columns) if i not in empty]
    return _marks("sqlite", len(rows), cols, empty), tuple(chain.from_iterable(zip(*columns)))


@lru_cache(maxsize=256)
def _marks(dialect: str, rows: int, cols: int, nulls: tuple[int, ...] = ()) -> str:
    if dialect == "sqlite":
        one = "(" + ", ".join("NULL" if i in nulls else "?" for i in range(cols)) + ")"
        return ", ".join([one] * rows)
    return ", ".join("(" + ", ".join(f"${r * cols + c + 1}" for c in range(cols)) + ")" for r in range(rows))


@lru_cache(maxsize=None)
def _pg_rows(table: str, columns: tuple[str, ...]) -> str:
    """``SELECT`` list turning each element of a JSON array of row arrays into typed columns."""
    from sqlalchemy.dialects import postgresql

    from .tables import metadata

    dialect = postgresql.dialect()
    table_columns = metadata.tables[table].c
    out = []
    for i, column in enumerate(columns):
        typ = table_columns[column].type.compile(dialect=dialect)
        if typ in ("JSON", "JSONB"):  # the element as is; a JSON null is SQL NULL
            out.append(f"NULLIF(r->{i}, 'null')" + ("::json" if typ == "JSON" else ""))
        elif typ.startswith("VARCHAR") or typ == "TEXT":
            # Left as text: an explicit cast to VARCHAR(n) would cut a value that is too long,
            # where storing it into the column refuses it.
            out.append(f"(r->>{i})")
        else:
            out.append(f"(r->>{i})::{typ}")
    return ", ".join(out)


def _columns(dialect: str, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows' values column by column, converted for the driver where a column needs it."""
    columns = [list(column) for column in zip(*rows)]
    for i, column in enumerate(columns):
        convert = _adapter(dialect, column)
        if convert is not None:
            columns[i] = convert(column)
    return columns


def encode(dialect: str, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """``rows`` with their values in the driver's own types already (on SQLite, times and JSON
    as text; PostgreSQL takes rows as they are), so that :func:`insert`, run later inside a
    write transaction, only passes them on."""
    if dialect != "sqlite" or not rows:
        return [tuple(row) for row in rows]
    return list(zip(*_columns(dialect, rows)))


async def execute(conn: AsyncConnection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run one statement with parameters in the driver's own style and types; its rows, if any.

    On SQLite the statement goes straight to the driver's connection (see :func:`in_driver`):
    one trip to the driver's thread, which runs it and fetches every row there. Through
    SQLAlchemy it takes three or four (cursor, execute, fetch, close), and under load each one
    waits its turn for the interpreter.
    """
    if conn.dialect.name == "sqlite":
        return await in_driver(conn, lambda run: run(sql, params))
    result = await conn.exec_driver_sql(sql, tuple(params))
    return list(result.fetchall()) if result.returns_rows else []


# Runs one statement in the driver's thread: its rows, if any.
Run = Callable[[str, Sequence[Any]], list[Any]]
T = TypeVar("T")


async def in_driver(conn: AsyncConnection, work: Callable[[Run], T]) -> T:
    """SQLite: call ``work(run)`` in the driver's own thread, in the transaction SQLAlchemy
    began, and return what it returns; ``run(sql, params)`` runs a statement there.

    Statements that follow each other (the next one's parameters may come from the last one's
    rows) thus cost one trip to the driver's thread, not one each, and none of them waits for
    the event loop in between: on a busy server it runs other requests' Python meanwhile, and
    every trip back to it waits its turn.
    """
    driver = (await conn.get_raw_connection()).driver_connection  # an aiosqlite connection

    def trip() -> T:
        sqlite = driver._conn  # the sqlite3 connection, used here in the one thread that owns it

        def run(sql: str, params: Sequence[Any] = ()) -> list[Any]:
            return sqlite.execute(sql, params).fetchall()

        return work(run)

    # aiosqlite's own queue of work for its thread (``_execute``): what its execute methods use.
    return cast(T, await driver._execute(trip))


async def insert(conn: AsyncConnection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 conflict: Sequence[str] = (), returning: Sequence[str] = ()) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (skipping conflicts on ``conflict`` when given) and return ``returning`` of new rows.

    On PostgreSQL the whole batch travels as one JSON array of rows, encoded in one call and
    taken apart by the server: the statement's text is the same whatever the number of rows,
    so it is parsed and planned once per connection, and no value is encoded one by one in
    Python. On SQLite, multi-row VALUES in chunks.
    """
    if not rows:
        return []
    dialect = conn.dialect.name
    tail = ""
    if conflict:
        tail += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if returning:
        tail += f" RETURNING {', '.join(returning)}"
    names = ", ".join(columns)
    if dialect != "sqlite":
        select = _pg_rows(table, tuple(columns))
        result = await conn.exec_driver_sql(
            f"INSERT INTO {table} ({names}) SELECT {select} FROM jsonb_array_elements($1::jsonb) AS r{tail}",
            (_json.encode(rows).decode(),))
        return [tuple(r) for r in result.fetchall()] if returning else []
    out: list[tuple[Any, ...]] = []
    per = max(1, MAX_PARAMS // len(columns))
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        values, params = sqlite_values(chunk, len(columns))
        out += await execute(conn, f"INSERT INTO {table} ({names}) VALUES {values}{tail}", params)
    return out


async def upsert(conn: AsyncConnection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 key: Sequence[str], update: Sequence[str], add: Sequence[str] = ()) -> None:
    """Insert ``rows``; on a ``key`` conflict set the ``update`` columns to the new values and
    add the new values to the ``add`` columns."""
    if rows:
        await execute(conn, *upsert_statement(conn.dialect.name, table, columns, rows, key, update, add))


def upsert_statement(dialect: str, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                     key: Sequence[str], update: Sequence[str], add: Sequence[str] = ()) -> tuple[str, tuple[Any, ...]]:
    """The statement of :func:`upsert` and its parameters (``rows`` not empty)."""
    sets = ", ".join([f"{c} = excluded.{c}" for c in update] + [f"{c} = {table}.{c} + excluded.{c}" for c in add])
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_marks(dialect, len(rows), len(columns))} "
           f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}")
    return sql, _flatten(dialect, rows)


async def update(conn: AsyncConnection, table: str, columns: Sequence[str], key: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """Set ``columns`` of the rows found by ``key``: each row holds the new values, then the key's.

    One prepared statement run for every row by the driver's executemany.
    """
    if not rows:
        return
    dialect = conn.dialect.name
    names = [*columns, *key]
    holes = ["?"] * len(names) if dialect == "sqlite" else [f"${i + 1}" for i in range(len(names))]
    sets = ", ".join(f"{c} = {h}" for c, h in zip(columns, holes))
    where = " AND ".join(f"{c} = {h}" for c, h in zip(key, holes[len(columns):]))
    await conn.exec_driver_sql(f"UPDATE {table} SET {sets} WHERE {where}", list(zip(*_columns(dialect, rows))))


def json_value(value: Any) -> Any:
    """A JSON column read through the driver: text on SQLite (and asyncpg's text codec), else as is."""
    return msgspec.json.decode(value) if isinstance(value, (str, bytes)) else value


async def select_in(conn: AsyncConnection, sql: str, fixed: Sequence[Any], values: Sequence[Any],
                    chunk: int = IN_CHUNK) -> list[tuple[Any, ...]]:
    """Run ``sql`` whose ``{}`` holes take ``fixed`` parameters and, last, an ``IN`` list of ``values``.

    A literal list, not an array parameter: on PostgreSQL ``= ANY($1)`` was planned as a filter
    beside the primary key, not inside it, while the table's statistics were stale.
    """
    dialect = conn.dialect.name
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(values), chunk):
        part = values[start:start + chunk]
        if dialect == "sqlite":
            holes = ["?"] * len(fixed) + ["(" + ", ".join("?" * len(part)) + ")"]
        else:
            n = len(fixed)
            holes = [f"${i + 1}" for i in range(n)] + ["(" + ", ".join(f"${n + i + 1}" for i in range(len(part))) + ")"]
        out += [tuple(r) for r in await execute(conn, sql.format(*holes), (*fixed, *part))]
    return out
