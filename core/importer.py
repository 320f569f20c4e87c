"""Bulk import of an NDJSON file through the ingest path, in constant memory.

The file is read line by line and sent in batches through the same ingest that
``POST /v1/events`` uses, so a re-run after an interruption only counts duplicates. Rejected
lines are written, with their line number and errors, to a file beside the input.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from .errors import FieldError
from .ingest import ingest_batch, notify_ingested
from .runtime import Runtime
from .services.context import Caller


class ImportSummary(msgspec.Struct, kw_only=True):
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_file: str | None = None


@dataclass(frozen=True)
class Line:
    number: int
    size: int
    value: Any
    """The decoded JSON, or ``_Malformed``."""
    has_nul: bool
    """A NUL can only arrive escaped, so a line without ``\\u0000`` needs no NUL check."""


def _batches(stream: IO[bytes], size: int) -> Iterator[list[Line]]:
    """The file's non-blank lines, decoded, in batches of ``size``."""
    batch: list[Line] = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = msgspec.json.decode(line)
        except msgspec.DecodeError:
            value = _Malformed
        batch.append(Line(number, len(line), value, b"\\u0000" in line))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_encoder = msgspec.json.Encoder()


class _Malformed:
    """Marks a line that is not JSON."""


# Batches sent at a time. SQLite has one writer: one batch is checked and enriched while the one
# before it is written. PostgreSQL stores batches side by side: a few more keep it busy.
IN_FLIGHT = {"sqlite": 2, "postgresql": 4}


ANALYZE_AFTER = 10_000  # events accepted by an import, after which the database's statistics are refreshed


async def import_file(runtime: Runtime, caller: Caller, path: Path, batch_size: int = 500,
                      progress: Callable[[int], None] = lambda n: None) -> ImportSummary:
    """Ingest every line of ``path``; ``progress`` is told how many bytes each batch consumed.

    Batches are sent with ``IN_FLIGHT`` at a time (memory stays bounded) and their results
    are taken in file order, so the rejected file lists lines in order.
    """
    in_flight = IN_FLIGHT.get(runtime.db.dialect, 2)
    summary = ImportSummary()
    rejected_path = path.with_name(path.name + ".rejected.ndjson")
    out: list[IO[bytes]] = []
    pending: deque[tuple[list[Line], asyncio.Task[Any]]] = deque()

    async def send(batch: list[Line]) -> Any:
        good = [line.value for line in batch if line.value is not _Malformed]
        result = await ingest_batch(runtime.db, runtime.registry, caller, good, any(line.has_nul for line in batch))
        await notify_ingested(runtime.pm, runtime.registry, caller.workspace_id, result)
        return result

    def record(batch: list[Line], result: Any) -> None:
        good = [line.number for line in batch if line.value is not _Malformed]
        bad = [(line.number, None, [FieldError("", "Not a JSON value.")]) for line in batch
               if line.value is _Malformed]
        bad += [(good[r.index], r.id, r.errors) for r in result.result.rejected]
        summary.lines += len(batch)
        summary.accepted += result.result.accepted
        summary.duplicates += result.result.duplicates
        summary.rejected += len(bad)
        if bad:
            if not out:
                out.append(rejected_path.open("wb"))
            for line, event_id, errors in sorted(bad, key=lambda b: b[0]):
                out[0].write(_encoder.encode({"line": line, "id": event_id, "errors": errors}) + b"\n")
        progress(sum(line.size for line in batch))

    try:
        with path.open("rb") as stream:
            for batch in _batches(stream, batch_size):
                pending.append((batch, asyncio.create_task(send(batch))))
                if len(pending) >= in_flight:
                    done, task = pending.popleft()
                    record(done, await task)
            while pending:
                done, task = pending.popleft()
                record(done, await task)
    finally:
        for _, task in pending:
            task.cancel()
        for handle in out:
            handle.close()
    summary.rejected_file = str(rejected_path) if summary.rejected else None
    if summary.accepted >= ANALYZE_AFTER:
        await runtime.db.bulk_loaded("events")
    return summary
