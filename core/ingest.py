"""Batch ingestion of KPI events: every valid item stored once, every bad one explained.

Each item is checked on its own; a bad neighbour never costs a valid event. Dedupe is
the database's: ``INSERT ... ON CONFLICT DO NOTHING`` on (workspace, id), so concurrent
identical batches store each event once. Plugins' enrichers run on every new event,
isolated; what they raise is recorded on the event, never returned as an error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import operator
import re
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import bulk
from .aggregate import gate, mark_pending, pending_statement
from .errors import FieldError, ValidationFailed
from .members import Sightings, current, members_gate, record_statement, resolve, sightings, sightings_rows
from .db import Database
from .membership import TribeRule, join, join_accounts_statements, load_rules, matches
from .plugins import Registry
from .safety import PluginFailure, call, notify
from .schemas.events import EventBatch, EventIn
from .services.context import Caller, utcnow
from .similarity import has_text, similarity
from .validation import collect_errors, nul_errors

MAX_BATCH = 1000
YIELD_EVERY = 50  # events enriched between two turns of the event loop
COPYABLE = frozenset({"post", "share", "mention"})  # kinds that can repeat a kit message
FUTURE_LIMIT = timedelta(days=1)
# Nothing any network sends is older: a date before it is a client's mistake (a zero date, a
# timestamp in the wrong unit) that would stretch every default scorecard period back to it.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
DISCLOSURE = re.compile(
    r"(?<!\w)#(ad|ads|adv|advertising|advertisement|sponsored|sponsor|sponsorizzato|sponsorizzata|"
    r"pubblicita|pubblicità|paidpartnership|partnership|collab|gifted)(?!\w)",
    re.IGNORECASE,
)


class Rejection(msgspec.Struct, kw_only=True):
    """A batch item that was not stored: its position, its id if it had one, and why."""

    index: Annotated[int, Meta(ge=0, le=MAX_BATCH)]
    id: Annotated[str, Meta(max_length=200)] | None
    errors: Annotated[list[FieldError], Meta(max_length=200)]


class IngestResult(msgspec.Struct, kw_only=True):
    """``accepted``: newly stored; ``duplicates``: ids already known; ``rejected``: the rest, explained."""

    accepted: Annotated[int, Meta(ge=0)]
    duplicates: Annotated[int, Meta(ge=0)]
    rejected: Annotated[list[Rejection], Meta(max_length=MAX_BATCH)]


@dataclass
class Batch:
    """What one transaction stored: the result plus what the notification needs."""

    result: IngestResult
    new_ids: list[str] = field(default_factory=list)
    brand_ids: list[str] = field(default_factory=list)


def normalise_handle(handle: str | None) -> str:
    return (handle or "").strip().lstrip("@").lower()


@dataclass
class Prepared:
    """A batch checked and enriched, ready to store: the CPU-bound half of ingestion.

    Everything that does not depend on what is stored is worked out here, outside the write
    transaction: the events' column values (already in the driver's types, all but
    ``member_id``) and the actors' latest profile facts.
    """

    rejected: list[Rejection]
    events: list[EventIn]
    values: list[tuple[Any, ...]]  # per event, EVENT_COLUMNS but the last (member_id); PostgreSQL
    sightings: Sightings
    now: datetime
    joins: list[tuple[str, tuple[str, str]]]  # (tribe, account) the tribes' rules let in
    valid: int
    members: dict[tuple[str, str], str] | None = None  # (network, actor id) -> member, when resolved ahead
    # SQLite: the events' values and the sightings as VALUES lists and their parameters
    encoded: tuple[tuple[str, tuple[Any, ...]], tuple[str, tuple[Any, ...]]] | None = None


async def prepare(conn: AsyncConnection, registry: Registry, caller: Caller, items: Sequence[Any],
                  check_nul: bool = True) -> Prepared:
    """Validate, resolve references, decide origin and paid, run the enrichers. Reads only.

    ``check_nul=False`` skips looking for NUL characters (which PostgreSQL cannot store) when
    the caller knows there are none, e.g. the raw body had no ``\\u0000`` escape.
    """
    checked = _check(items, check_nul)
    context = await _context(conn, caller.workspace_id, checked)
    return await _complete(registry, caller, checked, context, conn.dialect.name)


@dataclass
class _Checked:
    """A batch's items checked one by one: the valid ones (with their index) and the rejected."""

    now: datetime
    valid: list[tuple[int, EventIn]]
    rejected: list[Rejection]


def _check(items: Sequence[Any], check_nul: bool) -> _Checked:
    checked = _Checked(utcnow(), [], [])
    for index, raw in enumerate(items):
        if isinstance(raw, EventIn):  # decoded as one already (see :func:`decoded`)
            checked.valid.append((index, raw))
            continue
        try:  # the common case, valid, costs one msgspec conversion; only bad items are walked
            event = msgspec.convert(raw, EventIn, strict=False)
            errors = nul_errors(raw) if check_nul else []
            if not errors:
                checked.valid.append((index, event))
                continue
        except msgspec.ValidationError:
            errors = collect_errors(raw, EventIn) or [FieldError("", "Not a valid event.")]
        checked.rejected.append(Rejection(index=index, id=_raw_id(raw), errors=errors))
    return checked


async def _context(conn: AsyncConnection, ws: str, checked: _Checked
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, list[TribeRule]]]:
    """What the batch's items refer to (brands, campaigns, tribes) and the tribes' rules."""
    refs = await _references(conn, ws, [e for _, e in checked.valid])
    rules = await load_rules(conn, ws, refs["brands"]) if refs["brands"] else {}
    return refs, rules


async def _complete(registry: Registry, caller: Caller, checked: _Checked,
                    context: tuple[dict[str, dict[str, Any]], dict[str, list[TribeRule]]], dialect: str) -> Prepared:
    """Check what needs the references, then derive and enrich each new event. No database."""
    refs, rules = context
    now, rejected = checked.now, checked.rejected
    kinds = registry.kinds()
    accepted: list[EventIn] = []
    for index, event in checked.valid:
        errors = _semantic_errors(event, refs, kinds, now)
        if errors:
            rejected.append(Rejection(index=index, id=event.id, errors=errors))
        else:
            accepted.append(event)
    rejected.sort(key=lambda r: r.index)
    unique: dict[str, EventIn] = {}
    for event in sorted(accepted, key=lambda e: e.id):  # one insert order everywhere: no deadlocks
        unique.setdefault(event.id, event)
    events = list(unique.values())
    rows = []
    enrichers, active = _enrichers(registry), registry.active_kinds()
    for i, event in enumerate(events):
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            # Let the batch being written go on between its statements: it holds the write lock,
            # and would otherwise wait for this whole batch's enrichment (milliseconds).
            await asyncio.sleep(0)
        row = _row(event, caller.workspace_id, _origin(event, refs["brands"][event.brand_id]), now, active)
        kit = refs["kits"].get(event.campaign_id) if event.campaign_id else None
        if kit and has_text(event.text) and event.kind in COPYABLE:
            row["kit_similarity"] = round(similarity(event.text, kit), 4)
        row["enrichment"], row["enrichment_errors"] = await _enrich(enrichers, row, event)
        rows.append(_own_values(row))
    seen = sightings([(e.network, e.actor) for e in events])
    joins = [(tribe, (e.network, e.actor.id)) for e in events for tribe in matches(rules, e)] if rules else []
    if dialect == "sqlite":
        encoded = (bulk.sqlite_values(rows), sightings_rows(seen)) if events else None
        return Prepared(rejected, events, [], seen, now, joins, len(accepted), encoded=encoded)
    return Prepared(rejected, events, bulk.encode(dialect, rows), seen, now, joins, len(accepted))


async def store(conn: AsyncConnection, caller: Caller, prepared: Prepared) -> Batch:
    """Write a prepared batch: members, tribe membership, events. The short, write-locked half.
    On SQLite in one trip to the driver's thread (see :func:`_written`)."""
    if conn.dialect.name == "sqlite":
        return (await bulk.in_driver(conn, lambda run: written_all(run, [(caller, prepared)])))[0]
    return _batch(prepared, *await _store(conn, caller.workspace_id, prepared))


def written_all(run: bulk.Run, batches: Sequence[tuple[Caller, Prepared]]) -> list[Batch]:
    """SQLite, in the driver's thread: :func:`store` for each batch, in one transaction, the
    batches of one workspace that follow each other written together (see :func:`_written`)."""
    out = []
    for ws, same in itertools.groupby(batches, key=lambda batch: batch[0].workspace_id):
        prepared = [p for _, p in same]
        out.extend(_batch(p, *stored) for p, stored in zip(prepared, _written(run, ws, prepared)))
    return out


def _batch(prepared: Prepared, new_ids: list[str], new_brands: list[str]) -> Batch:
    result = IngestResult(accepted=len(new_ids), duplicates=prepared.valid - len(new_ids), rejected=prepared.rejected)
    return Batch(result, new_ids, new_brands)


async def ingest(conn: AsyncConnection, registry: Registry, caller: Caller, items: Sequence[Any]) -> Batch:
    """Store ``items`` (decoded JSON) in the caller's workspace, inside ``conn``'s transaction."""
    return await store(conn, caller, await prepare(conn, registry, caller, items))


async def ingest_batch(db: Database, registry: Registry, caller: Caller, items: Sequence[Any],
                       check_nul: bool = True) -> Batch:
    """Like :func:`ingest`, but checks and enriches outside the write transaction, which then only
    writes: on SQLite, where writers take turns, the next batch's Python work overlaps this one's I/O.

    A write PostgreSQL undid (a deadlock with a merge, a serialization failure) is run again, up
    to ``WRITE_ATTEMPTS`` times in all: dedupe on event ids makes that safe."""
    checked = _check(items, check_nul)
    async with db.reading() as conn:  # the lookups alone: no read stays open while the enrichers run
        context = await _context(conn, caller.workspace_id, checked)
    prepared = await _complete(registry, caller, checked, context, db.dialect)
    attempt = 1
    while True:
        try:
            if db.dialect == "sqlite":
                return await _write_together(db, caller, prepared)
            return await _write(db, caller, prepared)
        except DBAPIError as exc:
            if attempt >= WRITE_ATTEMPTS or getattr(exc.orig, "sqlstate", None) not in RETRYABLE:
                raise
            attempt += 1


WRITE_ATTEMPTS = 3
RETRYABLE = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure: safe to run again


async def _write(db: Database, caller: Caller, prepared: Prepared) -> Batch:
    if prepared.events and db.dialect == "postgresql":
        # Members first, in a short transaction of their own: batches that meet the same new or
        # changed accounts then wait on each other for that alone, not for each other's whole
        # batch. (SQLite has one writer anyway: there it is all one transaction.)
        async with db.transaction() as conn:
            prepared.members = await resolve(conn, caller.workspace_id, prepared.sightings, prepared.now)
    async with db.transaction() as conn:
        return await store(conn, caller, prepared)


@dataclass
class _Waiting:
    caller: Caller
    prepared: Prepared
    done: asyncio.Future[Batch]


@dataclass
class _Writer:
    """SQLite: the batches waiting for the one writer, and the task writing them, if any."""

    waiting: collections.deque[_Waiting] = field(default_factory=collections.deque)
    task: asyncio.Task[None] | None = None


_WRITERS: weakref.WeakKeyDictionary[Database, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Writer]] = \
    weakref.WeakKeyDictionary()
GROUP_MAX = 8  # batches stored in one transaction at most
TURN_SECONDS = 0.25  # how long one turn at the write lock goes on taking the batches that keep coming


async def _write_together(db: Database, caller: Caller, prepared: Prepared) -> Batch:
    """Store a batch on SQLite together with the batches waiting beside it.

    SQLite has one writer, so batches queue anyway: here in one queue, which one task writes
    out (:func:`_drain`). Stored together, batches share the begin, the commit and the pages
    they both write, which is most of a batch's cost beside its own rows. Each is stored
    exactly as on its own (a later batch sees the ids and members an earlier one stored).
    """
    loop = asyncio.get_running_loop()
    writer = _WRITERS.setdefault(db, weakref.WeakKeyDictionary()).setdefault(loop, _Writer())
    me = _Waiting(caller, prepared, loop.create_future())
    writer.waiting.append(me)
    if writer.task is None:
        writer.task = asyncio.create_task(_drain(db, writer))
    try:
        return await me.done
    finally:
        if not me.done.done():  # cancelled while waiting: taken out, unless being written already
            with contextlib.suppress(ValueError):
                writer.waiting.remove(me)


async def _drain(db: Database, writer: _Writer) -> None:
    """Write the waiting batches out, a turn at the write lock after another while any wait.

    A turn runs in the driver's thread (:func:`_write_waiting`), begins and commits its
    transactions there, and goes on with the batches that came meanwhile: no step of it waits
    for the event loop, busy with the next batches' Python (each such wait is a few ms per
    step under load). Each turn lasts ``TURN_SECONDS`` at most, then leaves the lock to any
    other writer waiting for it.
    """
    loop = asyncio.get_running_loop()
    try:
        while writer.waiting:
            async with db.writing() as conn:
                await bulk.in_driver(conn, lambda run: _write_waiting(run, writer, loop))
    except Exception as exc:  # no turn could be had (the database is gone...): the waiting batches fail
        _fail_waiting(writer, exc)
    except BaseException:  # cancelled (the server stops)
        _fail_waiting(writer, RuntimeError("The writer stopped."))
        raise
    finally:
        writer.task = None


def _fail_waiting(writer: _Writer, exc: BaseException) -> None:
    while writer.waiting:
        _deliver(writer.waiting.popleft().done, exc)


def _write_waiting(run: bulk.Run, writer: _Writer, loop: asyncio.AbstractEventLoop) -> None:
    """In the driver's thread: store waiting batches, up to ``GROUP_MAX`` per transaction, for
    a turn. A group whose transaction fails is stored again batch by batch, so that only the
    batch at fault fails. Each result goes to its batch as soon as its transaction commits."""
    ends = time.monotonic() + TURN_SECONDS
    while time.monotonic() < ends:
        group: list[_Waiting] = []
        with contextlib.suppress(IndexError):  # the queue ran out
            while len(group) < GROUP_MAX:
                group.append(writer.waiting.popleft())
        if not group:
            return
        outcomes: list[Batch | Exception] = []
        try:
            outcomes = list(_transaction(run, group))
        except Exception as exc:
            outcomes = [exc] if len(group) == 1 else [_alone(run, w) for w in group]
        finally:  # whatever happened, every batch taken hears of it
            for w, outcome in itertools.zip_longest(group, outcomes):
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(_deliver, w.done, outcome or RuntimeError("The write was interrupted."))


def _alone(run: bulk.Run, waiting: _Waiting) -> Batch | Exception:
    """A batch of a group that failed, stored again in a transaction of its own: its result, or its own fault."""
    try:
        return _transaction(run, [waiting])[0]
    except Exception as exc:
        return exc


def _transaction(run: bulk.Run, group: list[_Waiting]) -> list[Batch]:
    """The group's batches stored in one transaction, begun and committed here."""
    run("BEGIN IMMEDIATE")
    try:
        batches = written_all(run, [(w.caller, w.prepared) for w in group])
        run("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # a failed COMMIT may have ended the transaction already
            run("ROLLBACK")
        raise
    return batches


def _deliver(done: asyncio.Future[Batch], outcome: Batch | BaseException) -> None:
    """Settle a batch's future (in the event loop's thread), unless its caller gave up on it."""
    if done.done():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


async def notify_ingested(pm: Any, registry: Registry, workspace_id: str, batch: Batch) -> None:
    """Tell plugins about the new events (after commit); failures are recorded, not raised."""
    if not batch.new_ids:
        return
    for failure in await notify(pm, "events_ingested", workspace_id=workspace_id, brand_ids=batch.brand_ids,
                                event_ids=batch.new_ids):
        registry.record_error(failure.plugin, str(failure))


def decoded(body: bytes) -> list[EventIn] | None:
    """The events of a ``{"events": [...]}`` JSON body in one typed decode, when the envelope
    and every item are valid and no text holds NUL (the common case): about half the work of
    decoding to Python objects and converting item by item. None otherwise: the body then
    goes the item by item way (:func:`envelope`), which says what is wrong with each."""
    if b"\\u0000" in body:
        return None
    try:
        return _batch_decoder.decode(body).events
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


_batch_decoder = msgspec.json.Decoder(EventBatch, strict=False)


def envelope(raw: Any) -> list[Any]:
    """The items of a ``{"events": [...]}`` body; a malformed envelope stores nothing."""
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("", 'Expected an object: {"events": [...]}.')])
    errors = [FieldError(f"/{k}", "Unknown field; remove it (fields are checked strictly).") for k in raw
              if k != "events"]
    items = raw.get("events")
    if not isinstance(items, list):
        errors.append(FieldError("/events", "Required: an array of events."))
    elif not 1 <= len(items) <= MAX_BATCH:
        errors.append(FieldError("/events", f"Send 1 to {MAX_BATCH} events per batch, not {len(items)}."))
    if errors:
        raise ValidationFailed(errors)
    return list(items)


def _raw_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value[:200] if isinstance(value, str) else None


async def _references(conn: AsyncConnection, ws: str, events: list[EventIn]) -> dict[str, dict[str, Any]]:
    """The caller's brands (with handles), campaigns and tribes the batch names, in three queries."""
    brand_ids = sorted({e.brand_id for e in events})
    campaign_ids = sorted({e.campaign_id for e in events if e.campaign_id})
    tribe_ids = sorted({e.tribe_id for e in events if e.tribe_id})
    brands = {brand_id: {net: normalise_handle(h) for net, h in (bulk.json_value(handles) or {}).items()}
              for brand_id, handles in await bulk.select_in(
                  conn, "SELECT id, CAST(handles AS TEXT) FROM brands WHERE workspace_id = {} AND id IN {}",
                  (ws,), brand_ids)}
    rows = await bulk.select_in(conn, "SELECT id, brand_id, kit_message FROM campaigns "
                                      "WHERE workspace_id = {} AND id IN {}", (ws,), campaign_ids)
    tribes = await bulk.select_in(conn, "SELECT id, brand_id FROM tribes WHERE workspace_id = {} AND id IN {}",
                                  (ws,), tribe_ids)
    return {"brands": brands, "campaigns": {cid: brand for cid, brand, _ in rows},
            "tribes": dict(tribes), "kits": {cid: kit for cid, _, kit in rows}}


def _semantic_errors(event: EventIn, refs: dict[str, dict[str, Any]], kinds: set[str],
                     now: datetime) -> list[FieldError]:
    errors = []
    if event.brand_id not in refs["brands"]:
        errors.append(FieldError("/brand_id", f"No brand with id {event.brand_id!r} in this workspace."))
    for field_name, table in (("campaign_id", "campaigns"), ("tribe_id", "tribes")):
        value = getattr(event, field_name)
        if value and refs[table].get(value) != event.brand_id:
            errors.append(FieldError(f"/{field_name}", f"No {table[:-1]} {value!r} of brand {event.brand_id!r}."))
    if event.kind not in kinds:
        errors.append(FieldError("/kind", f"Unknown event kind {event.kind!r}; known: {', '.join(sorted(kinds))}."))
    if event.occurred_at > now + FUTURE_LIMIT:
        errors.append(FieldError("/occurred_at", "More than a day in the future."))
    elif event.occurred_at < EARLIEST:
        errors.append(FieldError("/occurred_at", "Before 2000-01-01: not a date any network gives."))
    return errors


async def _store(conn: AsyncConnection, ws: str, prepared: Prepared) -> tuple[list[str], list[str]]:
    """PostgreSQL: the ids of the events stored now, and their brands (sorted)."""
    if not prepared.events:
        return [], []
    now = prepared.now
    await members_gate(conn, ws, shared=True)
    await gate(conn, [e.brand_id for e in prepared.events], shared=True)
    if prepared.members is None:
        members = await resolve(conn, ws, prepared.sightings, now)
    else:  # resolved ahead, in a transaction of its own: a merge may have moved some since
        members = await current(conn, ws, prepared.members)
    await join(conn, ws, {(tribe, members[account]) for tribe, account in prepared.joins}, now)
    values = [(*own, members[(e.network, e.actor.id)]) for e, own in zip(prepared.events, prepared.values)]
    inserted = await bulk.insert(conn, "events", EVENT_COLUMNS, values, conflict=("workspace_id", "id"),
                                 returning=("id",))
    new_ids, new_brands = _new(prepared, {event_id for (event_id,) in inserted})
    if new_brands:  # a batch of duplicates leaves the scheduler alone
        await mark_pending(conn, ws, new_brands, now)
    return new_ids, new_brands


def _written(run: bulk.Run, ws: str, batches: list[Prepared]) -> list[tuple[list[str], list[str]]]:
    """SQLite, in the driver's thread: what :func:`_store` does for each batch, from the VALUES
    lists made ahead; per batch, the ids of the events it stored and their brands (sorted).

    The database writes members and events itself, each event taking its member from its
    identity, and tribe membership from each account's identity: the statements run one after
    the other without a trip back to the event loop, and little Python runs while the batches
    hold the one write lock (no gates: SQLite's writers take turns anyway). Each batch is
    written as on its own, after the one before; the ids stored and the brands' pending flags
    are read and written once for all of them (each statement costs a wait for the interpreter
    on a busy server).
    """
    todo = [p for p in batches if p.events and p.encoded is not None]
    if not todo:
        return [([], []) for _ in batches]
    [(last,)] = run(_LAST_SEQ)
    for prepared in todo:
        (event_rows, event_values), sighted = prepared.encoded  # type: ignore[misc]
        for statement in (record_statement(ws, sighted, prepared.now),
                          *join_accounts_statements(ws, prepared.joins, prepared.now)):
            run(*statement)
        run(_INSERT_EVENTS.format(event_rows), event_values)
    [(stored_json,)] = run(_STORED_SINCE, (last,))
    stored = set(msgspec.json.decode(stored_json))
    out = []
    for prepared in batches:
        new_ids, new_brands = _new(prepared, stored)
        stored.difference_update(new_ids)  # the same id in a later batch is a duplicate there
        out.append((new_ids, new_brands))
    brands = sorted({brand for _, new_brands in out for brand in new_brands})
    if brands:
        run(*pending_statement("sqlite", ws, brands, max(p.now for p in todo)))
    return out


def _new(prepared: Prepared, stored: set[str]) -> tuple[list[str], list[str]]:
    """The batch's events among the ``stored`` ids, in batch order, and their brands (sorted)."""
    new_ids = [e.id for e in prepared.events if e.id in stored]
    brand_of = {e.id: e.brand_id for e in prepared.events}
    return new_ids, sorted({brand_of[i] for i in new_ids})


def _origin(event: EventIn, handles: dict[str, str]) -> str:
    """``brand`` when the actor is the brand's own account on that network."""
    own = handles.get(event.network)
    return "brand" if own and normalise_handle(event.actor.handle or event.actor.id) == own else "member"


# member_id last: the one value known only once the batch is being stored.
EVENT_COLUMNS = ("workspace_id", "id", "brand_id", "campaign_id", "tribe_id", "network", "kind", "origin", "paid",
                 "active", "actor_id", "actor_handle", "conversation_id", "post_id", "in_reply_to", "occurred_at",
                 "value", "text", "attrs", "enrichment", "enrichment_errors", "kit_similarity", "ingested_at",
                 "member_id")
_own_values = operator.itemgetter(*EVENT_COLUMNS[:-1])  # a row's values but member_id, in column order
_ACCOUNT = (EVENT_COLUMNS.index("network"), EVENT_COLUMNS.index("actor_id"))
# SQLite: a batch's rows from a VALUES list of them but member_id, which comes from the identity.
_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT "
    + ", ".join(f"v.column{i + 1}" for i in range(len(EVENT_COLUMNS) - 1))
    + ", (SELECT i.member_id FROM member_identities i WHERE i.workspace_id = v.column1 "
    f"AND i.network = v.column{_ACCOUNT[0] + 1} AND i.external_id = v.column{_ACCOUNT[1] + 1}) "
    "FROM (VALUES {}) v WHERE true ON CONFLICT DO NOTHING")
# The events stored are those past the newest ``seq`` before them (a rowid: new rows
# take the next one up, and the batches hold SQLite's one write lock), read back as one JSON
# array: RETURNING hands each row over on its own, and each hand-over waits for the interpreter.
_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM events"
_STORED_SINCE = "SELECT json_group_array(id) FROM events WHERE seq > ?"


def _row(event: EventIn, ws: str, origin: str, now: datetime, active: frozenset[str]) -> dict[str, Any]:
    return {
        "workspace_id": ws, "id": event.id, "brand_id": event.brand_id, "campaign_id": event.campaign_id,
        "tribe_id": event.tribe_id, "network": event.network, "kind": event.kind, "origin": origin,
        "paid": bool(event.paid or (event.text and DISCLOSURE.search(event.text))), "active": event.kind in active,
        "actor_id": event.actor.id, "actor_handle": event.actor.handle, "conversation_id": event.conversation_id,
        "post_id": event.post_id, "in_reply_to": event.in_reply_to, "occurred_at": event.occurred_at,
        "value": event.value, "text": event.text, "attrs": event.attrs, "ingested_at": now, "kit_similarity": None,
    }


@dataclass(frozen=True)
class _Enricher:
    plugin: str
    label: str  # "enricher 'name'", for failure messages
    enrich: Any
    timeout: float


@dataclass(frozen=True)
class _Enrichers:
    """The registered enrichers, looked up once per batch rather than once per event: all of
    them for events with text, the others for events without."""

    with_text: list[_Enricher]
    without_text: list[_Enricher]


def _enrichers(registry: Registry) -> _Enrichers:
    every = [(r.item.text_only, _Enricher(r.plugin, f"enricher {name!r}", r.item.enrich, r.item.timeout))
             for name, r in registry.enrichers.items()]
    return _Enrichers([e for _, e in every], [e for text_only, e in every if not text_only])


async def _enrich(enrichers: _Enrichers, row: dict[str, Any], event: EventIn
                  ) -> tuple[dict[str, Any], list[str] | None]:
    text = event.text
    chosen = enrichers.with_text if text and not text.isspace() else enrichers.without_text
    if not chosen:
        return {}, None
    view = {**msgspec.to_builtins(event), "origin": row["origin"], "paid": row["paid"]}
    results: list[tuple[_Enricher, Mapping[str, Any]]] = []
    errors: list[str] = []
    for e in chosen:
        result = await call(e.plugin, e.label, e.enrich, view, timeout=e.timeout)
        if type(result) is dict or isinstance(result, Mapping):  # a plain dict spares the ABC check
            if result:
                results.append((e, result))
        elif isinstance(result, PluginFailure):
            errors.append(str(result))
        elif result is not None:
            errors.append(f"{e.plugin}: {e.label} returned {type(result).__name__}, not a mapping")
    added: dict[str, Any] = {}
    for _, result in results:
        added.update(result)
    try:  # JSON values all: converted in one call (later enrichers' keys win, as they were added last)
        return msgspec.to_builtins(added), errors or None
    except (TypeError, ValueError):
        pass
    added = {}  # something that is not JSON: the enricher that returned it is named, the others kept
    for e, result in results:
        try:
            added.update(msgspec.to_builtins(dict(result)))
        except (TypeError, ValueError) as exc:
            errors.append(f"{e.plugin}: {e.label} returned a value that is not JSON ({exc})")
    return added, errors or None
