"""Incremental aggregation: rollups and member-days kept by deltas, all in the database.

What an event means for the metrics splits in two. Its *own* facts (kind, origin, value,
message, thanks, kit copy, activity...) follow from the event row alone and never change.
Its *links* (answered by the brand and how fast, a reply to another member, a question
answered first by the community, an answer to someone else's question) depend on its
parent and its children, so they change as the conversation grows. Links are kept in
``event_facts``, one row per event and tribe that has any, and only those: likes,
impressions and other vanity volume cost no fact rows at all.

For a brand, a run takes the events added since its watermark. The events whose links can
change are those new events, their parents (a reply answers them) and their children
(whose parent just arrived), so the result never depends on arrival order. The run
subtracts those events' stored links from the rollups, recomputes them, and adds back the
new links plus the own facts of the new events: the cost follows what is new, not the
history. A rebuild computes everything with set-based joins and one GROUP BY per table.
A run first fixes its horizon in a short transaction that closes the brand's gate (see
:func:`gate`), which ingest holds open while it inserts: once it has it, every event at or
below the newest ``seq`` is committed. The run itself writes in one transaction (a killed run
leaves nothing half-done) that excludes other runs for the brand but not ingest: on PostgreSQL a
long rebuild never stalls the brand's incoming events. SQLite has one writer: there a rebuild
first works its rows out in a read transaction (on two connections, two cores), beside ingest and
other runs, then writes them in one that excludes both, working them out again if a run settled
the brand in between (see :func:`_rebuild_staged`).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import bulk
from .db import SQLITE_CACHE_KIB, WAL_BACKSTOP_PAGES, Database, advisory_locks, try_advisory_lock
from .errors import NotFound
from .processes import process_alive
from .services.context import utcnow
from .similarity import MEGAPHONE, has_text, similarity
from .tables import FACT_FLAGS, KIT_COPIES, MEMBER_SUMS, ROLLUP_SUMS, member_days, rollups

ROLLUP_KEY = tuple(c.name for c in rollups.primary_key.columns)  # in the keys' order, as declared
MEMBER_KEY = tuple(c.name for c in member_days.primary_key.columns)
# The tables a run adds facts to: their keys and their sums.
AGGREGATES = {"rollups": (ROLLUP_KEY, ROLLUP_SUMS), "member_days": (MEMBER_KEY, MEMBER_SUMS)}
log = logging.getLogger("tribeops.aggregate")

ONE_RUN = 7301  # advisory lock class: one run per brand at a time
GATE = 7302  # advisory lock class of the ingest gate


@dataclass(frozen=True)
class Dialect:
    day: str
    minutes: str
    thanks: str
    positive: str
    lock: str
    temp: tuple[str, ...]
    # How the first answer to each question is found: looked up question by question (SQLite),
    # or from a summary of every answer of the brand's questions, hash-joined (PostgreSQL).
    answer_lookup: bool


SQLITE = Dialect(
    day="substr(e.occurred_at, 1, 10)",
    minutes="(julianday({a}) - julianday({b})) * 1440.0",
    thanks="coalesce(json_extract({t}.enrichment, '$.thanks'), 0) = 1",
    positive="json_extract({t}.enrichment, '$.sentiment_label') = 'positive'",
    lock="",
    temp=("CREATE TEMP TABLE IF NOT EXISTS agg_affected (seq INTEGER PRIMARY KEY)",
          "CREATE TEMP TABLE IF NOT EXISTS agg_facts AS SELECT * FROM event_facts WHERE 0 = 1",
          "CREATE INDEX IF NOT EXISTS temp.agg_facts_key ON agg_facts (seq, tribe)"),
    answer_lookup=True,
)
# An event's day (UTC) as a date: a rebuild groups by it and formats each group's once, where
# formatting every event's (``to_char``) took a third of the time of grouping the rollups.
POSTGRES_DATE = "(e.occurred_at AT TIME ZONE 'UTC')::date"
POSTGRES = Dialect(
    day=f"to_char({POSTGRES_DATE}, 'YYYY-MM-DD')",
    minutes="EXTRACT(EPOCH FROM ({a} - {b})) / 60.0",
    thanks="({t}.enrichment ->> 'thanks') = 'true'",
    positive="({t}.enrichment ->> 'sentiment_label') = 'positive'",
    lock=" FOR UPDATE",
    temp=("CREATE TEMP TABLE IF NOT EXISTS agg_affected (seq BIGINT PRIMARY KEY) ON COMMIT DELETE ROWS",
          "CREATE TEMP TABLE IF NOT EXISTS agg_facts ON COMMIT DELETE ROWS AS SELECT * FROM event_facts WITH NO DATA"),
    answer_lookup=False,
)


def dialect_of(conn: AsyncConnection) -> Dialect:
    return POSTGRES if conn.dialect.name == "postgresql" else SQLITE

MESSAGE = "('reply', 'comment', 'mention', 'question')"
REPLY = "('reply', 'comment', 'answer')"
LINKS = ("answered", "m2m_reply", "q_answered", "q_community", "answer_other_q")
# Only member messages, replies and answers can have links.
LINKABLE = "e.origin = 'member' AND e.kind IN ('reply', 'comment', 'mention', 'question', 'answer')"
FACT_COLUMNS = ("seq", "tribe", "workspace_id", "brand_id", "campaign", "network", "day", "kind", "origin",
                "member_id", *FACT_FLAGS, "value", "response_minutes")
# The tables a rebuild replaces the brand's rows of: their keys, then their columns but the
# workspace, in the order of the rows worked out for them (after the key and the workspace).
REPLACED = {"event_facts": (("seq", "tribe"), FACT_COLUMNS[3:]), **AGGREGATES}


def _own_parts(d: Dialect) -> dict[str, tuple[str | None, str | None]]:
    """The facts an event carries by itself, each as two conditions over ``{t}`` (the event's
    alias), None when there is none: one on its kind and origin only, one on the rest of it.

    A fact with no second condition is the same for every event of a kind and origin: where
    those are grouped on, it is the group's count, not worked out event by event.
    """
    member = "{t}.origin = 'member'"
    amplifies = member + " AND {t}.kind IN ('post', 'share', 'mention')"
    return {
        "n": (None, None),
        "paid": (None, "{t}.paid"),
        "message": (f"{member} AND {{t}}.kind IN {MESSAGE}", None),
        "thread_start": ("{t}.kind IN ('post', 'question', 'mention')", "{t}.in_reply_to IS NULL"),
        "m_reply": (f"{member} AND {{t}}.kind IN {REPLY}", None),
        "thanks": (member, d.thanks),
        "positive_amp": (amplifies, f"NOT {{t}}.paid AND {d.positive}"),
        "mega_text": (amplifies, "{t}.kit_similarity IS NOT NULL"),
        "mega_copy": (amplifies, f"{{t}}.kit_similarity >= {MEGAPHONE}"),
        "active": (member, "{t}.active"),  # its kind's, decided when stored (see ``events.active``)
    }


def _own(d: Dialect) -> dict[str, str]:
    """The facts an event carries by itself, as SQL over ``e``."""
    out = {}
    for name, parts in _own_parts(d).items():
        conditions = " AND ".join(part.format(t="e") for part in parts if part)
        out[name] = f"CASE WHEN {conditions} THEN 1 ELSE 0 END" if conditions else "1"
    return out


def _links(d: Dialect) -> dict[str, str]:
    """The facts an event owes to its thread, as SQL over ``e`` and the summaries of its
    children (``c``: first brand reply; ``a``: first answer, unless looked up, see
    :data:`FIRST_ANSWER_BY_OTHER`) and of its parent (``p``)."""
    member = "e.origin = 'member'"
    if d.answer_lookup:
        any_answer, first_by_other = ANY_ANSWER, "e.first_by_other = 1"
    else:
        first = "a.first_answer"
        any_answer = f"{first} IS NOT NULL"
        first_by_other = f"{first} LIKE 'member:%' AND {first} <> 'member:' || e.member_id"
    answered = f"{member} AND e.kind IN {MESSAGE} AND c.brand_at IS NOT NULL"
    minutes = d.minutes.format(a="c.brand_at", b="e.occurred_at")
    # "Some member event with that post_id is by another member": its lowest or highest member differs.
    other = "(p.{lo} <> e.member_id OR p.{hi} <> e.member_id)"
    return {
        "answered": f"CASE WHEN {answered} THEN 1 ELSE 0 END",
        "m2m_reply": f"CASE WHEN {member} AND e.kind IN {REPLY} AND {other.format(lo='m_lo', hi='m_hi')} "
                     "THEN 1 ELSE 0 END",
        "q_answered": f"CASE WHEN {member} AND e.kind = 'question' AND {any_answer} THEN 1 ELSE 0 END",
        "q_community": f"CASE WHEN {member} AND e.kind = 'question' AND {first_by_other} THEN 1 ELSE 0 END",
        "answer_other_q": f"CASE WHEN {member} AND NOT e.paid AND e.kind IN {REPLY} "
                          f"AND {other.format(lo='q_lo', hi='q_hi')} THEN 1 ELSE 0 END",
        "response_minutes": f"CASE WHEN {answered} THEN CASE WHEN {minutes} > 0 THEN {minutes} ELSE 0 END END",
    }


# Whether a member's question's first answer (the earliest reply, comment or answer to its post
# id) came from another member: 1, else 0; null when none came. SQLite looks it up question by
# question through the replies index, for the questions at hand only (1M events, when it gave
# who answered: the links in 3.2 s, against 4.3 with the summary of every answer); PostgreSQL
# runs that subquery an order of magnitude slower than it hash-joins the summary.
# ``brand_id || ''`` keeps the planner on the replies index.
#
# SQLite copies a subquery's column into each place that reads it, and runs it at each. Hence
# one lookup, giving just the fact, read once; whether any answer came is a probe of the same
# index (:data:`ANY_ANSWER`), which stops at the first, where this one gathers and sorts them
# all; and a rebuild keeps a question's row on that probe alone (see :func:`_linked`). 1M
# events: the links took 0.4 s less of the CPU, against the lookup of who answered read six
# times.
_ANSWERS = (f"FROM events x WHERE x.workspace_id = e.workspace_id AND x.in_reply_to = e.post_id "
            f"AND x.brand_id || '' = e.brand_id AND x.kind IN {REPLY}")
FIRST_ANSWER_BY_OTHER = (
    "CASE WHEN e.origin = 'member' AND e.kind = 'question' AND e.post_id IS NOT NULL THEN ("
    f"SELECT x.origin = 'member' AND x.member_id <> e.member_id {_ANSWERS} "
    "ORDER BY x.occurred_at, x.seq LIMIT 1) END")
ANY_ANSWER = f"EXISTS (SELECT 1 {_ANSWERS})"


def _thread_joins(d: Dialect, first_brand: str, first_answer: str, parent: str, brand_index: bool) -> str:
    """Summaries of the threads around ``e``, each joined once: the first brand reply to an
    event (``c``), the first answer to it (``a``, unless looked up) and the members behind its
    parent (``p``). Each argument narrows which post ids get summarised (a condition on ``x``
    that also leaves out null ids: an ``IS NOT NULL`` next to an ``IN`` list would lead SQLite
    to walk the whole index).

    A rebuild reads the brand through its index (``brand_index``); an incremental run
    narrows by post id, and ``brand_id || ''`` keeps the planners on the thread indexes.
    """
    brand = "x.workspace_id = :w AND x.brand_id " + ("= :b" if brand_index else "|| '' = :b")
    c = (f"SELECT x.in_reply_to AS pid, MIN(x.occurred_at) AS brand_at FROM events x WHERE {brand} "
         f"AND x.origin = 'brand'{first_brand} GROUP BY x.in_reply_to")
    p = ("SELECT x.post_id AS pid, MIN(x.member_id) AS m_lo, MAX(x.member_id) AS m_hi, "
         "MIN(CASE WHEN x.kind = 'question' THEN x.member_id END) AS q_lo, "
         "MAX(CASE WHEN x.kind = 'question' THEN x.member_id END) AS q_hi "
         f"FROM events x WHERE {brand} AND x.origin = 'member'{parent} GROUP BY x.post_id")
    joins = f" LEFT JOIN ({c}) c ON c.pid = e.post_id LEFT JOIN ({p}) p ON p.pid = e.in_reply_to"
    if d.answer_lookup:
        return joins
    # The window picks one row per post id; the GROUP BY around it (a no-op) lets a planner
    # index the result for the join instead of scanning it once per event.
    a = ("SELECT pid, MIN(first_answer) AS first_answer FROM ("
         "SELECT x.in_reply_to AS pid, x.origin || ':' || x.member_id AS first_answer, "
         "ROW_NUMBER() OVER (PARTITION BY x.in_reply_to ORDER BY x.occurred_at, x.seq) AS rn "
         f"FROM events x WHERE {brand} AND x.kind IN {REPLY}{first_answer}) w WHERE rn = 1 GROUP BY pid")
    return f"{joins} LEFT JOIN ({a}) a ON a.pid = e.post_id"


def _around(selection: str) -> tuple[str, str, str, bool]:
    """Thread narrowings for the events in ``selection`` (a condition on ``s``)."""
    ids = "SELECT s.{col} FROM events s WHERE " + selection + " AND s.{col} IS NOT NULL"
    children = f" AND x.in_reply_to IN ({ids.format(col='post_id')})"
    return children, children, f" AND x.post_id IN ({ids.format(col='in_reply_to')})", False


# A whole brand: answers are only looked up for questions, parents only for replies.
WHOLE_BRAND = (" AND x.in_reply_to IS NOT NULL",
               " AND x.in_reply_to IN (SELECT q.post_id FROM events q WHERE q.workspace_id = :w AND q.brand_id = :b "
               "AND q.origin = 'member' AND q.kind = 'question' AND q.post_id IS NOT NULL)",
               " AND x.post_id IN (SELECT r.in_reply_to FROM events r WHERE r.workspace_id = :w AND r.brand_id = :b "
               f"AND r.origin = 'member' AND r.kind IN {REPLY} AND r.in_reply_to IS NOT NULL)",
               True)


# Whether a member's tribe membership ``tm`` counts for the event ``{e}`` (sent without a
# tribe_id): set by hand, or given by the tribe's rules before the event came in.
COUNTED_MEMBERSHIP = "(tm.source = 'manual' OR (tm.source = 'rule' AND tm.created_at <= {e}.ingested_at))"


def _facts(d: Dialect, selection: str, tribes: bool, links: tuple[str, str, str, bool] | None = None,
           columns: tuple[str, ...] = FACT_COLUMNS) -> str:
    """Facts of the events matching ``selection`` (a condition on ``e``), one row per tribe
    they count for, as ``columns`` (of ``FACT_COLUMNS``). ``links`` is None for own facts
    only (links 0), else the narrowings given to :func:`_thread_joins`."""
    unlinked = {**{name: "0" for name in LINKS}, "response_minutes": "CAST(NULL AS FLOAT)"}
    linked = _links(d) if links is not None else unlinked
    exprs = {"campaign": "coalesce(e.campaign_id, '')", "day": d.day, **_own(d), **linked}
    # The fan-out below needs these whatever is asked.
    wanted = dict.fromkeys(("seq", "workspace_id", "brand_id", "member_id", "tribe_id", "ingested_at",
                            *(c for c in columns if c != "tribe")))
    source = f"events e WHERE {selection}"
    if links is not None and d.answer_lookup:
        source = f"(SELECT e.*, {FIRST_ANSWER_BY_OTHER} AS first_by_other FROM {source}) e{_thread_joins(d, *links)}"
    elif links is not None:
        source = f"events e{_thread_joins(d, *links)} WHERE {selection}"
    base = f"SELECT {', '.join(f'{exprs[c]} AS {c}' if c in exprs else f'e.{c}' for c in wanted)} FROM {source}"
    out = ", ".join("{tribe} AS tribe" if c == "tribe" else f"b.{c}" for c in columns)
    if not tribes:
        return f"SELECT {out.format(tribe=chr(39) + '*' + chr(39))} FROM ({base}) b"
    # One row per tribe the event counts for: "*" always, then its own tribe or its member's
    # tribes: those set by hand, and those the rules had given them when the event came in.
    # Every run and every rebuild thus attributes an event alike, whenever it recomputes it.
    # Three selects over ``b`` rather than a join back to it (which SQLite nests).
    return f"""
        WITH b AS ({base})
        SELECT {out.format(tribe="'*'")} FROM b
        UNION ALL
        SELECT {out.format(tribe="b.tribe_id")} FROM b JOIN tribes tr ON tr.id = b.tribe_id AND tr.brand_id = b.brand_id
        UNION ALL
        SELECT {out.format(tribe="tm.tribe_id")} FROM b
            JOIN tribe_members tm ON tm.workspace_id = b.workspace_id AND tm.member_id = b.member_id
                AND {COUNTED_MEMBERSHIP.format(e="b")}
            JOIN tribes tr ON tr.id = tm.tribe_id AND tr.brand_id = b.brand_id
            WHERE b.tribe_id IS NULL"""


def _group_order(table: str) -> tuple[str, ...]:
    """The order to group ``table``'s key in, for the sorts SQLite groups by: the brand, the
    same in every row of a run, last (else every comparison walks through it first). Rollups
    are few: sorting by day first (events come roughly in time order) is the cheap GROUP BY.
    Member-days are many: grouped in key order, they go into their index in order."""
    key = [c for c in AGGREGATES[table][0] if c != "brand_id"]
    return (*(sorted(key, key=lambda c: c != "day") if table == "rollups" else key), "brand_id")


def _columns(table: str) -> tuple[str, ...]:
    """The columns of ``table`` (of :data:`REPLACED`) in the order of every source here: the
    key, the workspace, the rest."""
    key, names = REPLACED[table]
    return (*key, "workspace_id", *names)


def _insert(table: str) -> str:
    return f"INSERT INTO {table} ({', '.join(_columns(table))})"


def _sum_by_key(table: str, sums: dict[str, str], source: str) -> str:
    """``sums`` (name -> SQL over ``source``'s columns) per key of ``table``, after the key and
    the workspace."""
    key = AGGREGATES[table][0]
    return (f"SELECT {', '.join(key)}, MIN(workspace_id) AS workspace_id, "
            + ", ".join(f"SUM({sql}) AS {name}" for name, sql in sums.items())
            + f" FROM {source} GROUP BY {', '.join(_group_order(table))}")


def _add(table: str, sums: dict[str, str], source: str) -> str:
    """Add the grouped ``sums`` (SQL over ``source``'s columns; a sum left out adds 0) to ``table``.

    Each grouped row costs one primary-key probe (an UPDATE ... FROM may walk the whole
    target table instead); subtracting is adding negated sums.
    """
    key, names = AGGREGATES[table]
    grouped = _sum_by_key(table, {s: sums.get(s, "0") for s in names}, source)
    updates = ", ".join(f"{s} = {table}.{s} + excluded.{s}" for s in names if s in sums)
    return (f"{_insert(table)} SELECT * FROM ({grouped}) g WHERE true "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


async def _exec(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> Any:
    return await conn.execute(sa.text(sql), params)


async def _planner(conn: AsyncConnection, value: str, methods: tuple[str, ...]) -> None:
    for method in methods:
        await conn.exec_driver_sql(f"SET LOCAL enable_{method} = {value}")


@dataclass(frozen=True)
class Horizon:
    """Where a run stops: the brand's newest committed ``seq``, and its ``agg_state`` counters
    then: ``touches`` (ingest and what calls for a rebuild bump it; a run that sees it moved
    leaves work pending) and ``restates`` (what calls for a rebuild only: a rebuild that sees it
    moved leaves the rebuild due)."""

    seq: int
    touches: int
    restates: int


async def gate(conn: AsyncConnection, brand_ids: Iterable[str], shared: bool) -> None:
    """The brands' gate between ingest and what must see its batches whole (PostgreSQL only).

    Ingest holds it shared for its whole transaction, so batches of one brand are stored side by
    side. A run's horizon, a merge and a tribe edit take it exclusively: each waits for the
    batches in flight, whose events have taken their ``seq`` but may not have committed yet,
    and holds new ones back until it commits. Always taken first in a transaction, brands in
    sorted order. SQLite has one writer at a time: nothing to do there.
    """
    await advisory_locks(conn, GATE, brand_ids, shared)


async def horizon(db: Database, ws: str, brand_id: str) -> Horizon:
    """Close the brand's gate (waiting for in-flight ingest), then read its counters and newest event."""
    async with db.transaction() as conn:
        await gate(conn, [brand_id], shared=False)
        await _exec(conn, "INSERT INTO agg_state (workspace_id, brand_id, watermark, pending) VALUES (:w, :b, 0, 1) "
                          "ON CONFLICT (brand_id) DO NOTHING", {"w": ws, "b": brand_id})
        row = (await _exec(conn, f"SELECT touches, restates FROM agg_state WHERE brand_id = :b"
                                 f"{dialect_of(conn).lock}", {"b": brand_id})).one()
        newest = (await _exec(conn, "SELECT MAX(seq) AS m FROM events WHERE brand_id = :b", {"b": brand_id})).one().m
        return Horizon(int(newest or 0), int(row.touches), int(row.restates))


async def run(db: Database, kind: str, ws: str, brand_id: str) -> dict[str, Any]:
    """Run ``scorecards.aggregate`` (incremental) or ``scorecards.rebuild`` for a brand (a
    :class:`~tribeops.core.errors.NotFound` if the brand was deleted since the job was queued)."""
    async with db.reading() as conn:
        if (await _exec(conn, "SELECT 1 FROM brands WHERE id = :b AND workspace_id = :w",
                        {"b": brand_id, "w": ws})).first() is None:
            raise NotFound("brand", brand_id)
    # In short transactions of their own: the run itself then holds no event row, which a
    # resent batch or a merge would wait for while holding what the run needs last. A rebuild
    # measures every campaign event again; an incremental run only after a kit message changed,
    # restating what changed (see :func:`refresh_similarities`).
    measured = await refresh_similarities(db, ws, brand_id, restate=kind != "scorecards.rebuild")
    until = await horizon(db, ws, brand_id)
    if kind == "scorecards.rebuild" and db.dialect == "sqlite":
        result = await _rebuild_staged(db, ws, brand_id, until)
    else:
        async with db.transaction() as conn:
            await advisory_locks(conn, ONE_RUN, [brand_id], shared=False)  # one run per brand at a time
            work = rebuild if kind == "scorecards.rebuild" else aggregate
            result = await work(conn, ws, brand_id, until)
    return {**result, **(measured or {})}


async def _watermark(conn: AsyncConnection, brand_id: str) -> int:
    return (await _settled(conn, brand_id))[0]


async def _settled(conn: AsyncConnection, brand_id: str, *more: str) -> tuple[Any, ...]:
    """The brand's watermark and when a run or rebuild last settled it, then its ``more`` columns
    of ``agg_state``."""
    row = (await _exec(conn, f"SELECT {', '.join(('watermark', 'fresh_as_of', *more))} FROM agg_state "
                             "WHERE brand_id = :b", {"b": brand_id})).first()
    if row is None:  # taken away with its brand, deleted during the run
        raise NotFound("brand", brand_id)
    return (int(row[0]), *row[1:])


# What a brand has besides its own rows (tribes, campaigns and connections go with it by cascade).
BRAND_DATA = ("event_facts", *AGGREGATES, "events", "agg_state")


async def forget_brand(conn: AsyncConnection, brand_id: str) -> None:
    """Delete a brand's events, aggregates and state, after its run under way (PostgreSQL: its
    lock), so that none of what that run writes is left behind."""
    await advisory_locks(conn, ONE_RUN, [brand_id], shared=False)
    for table in BRAND_DATA:
        await _exec(conn, f"DELETE FROM {table} WHERE brand_id = :b", {"b": brand_id})


async def forget_deleted_brands(conn: AsyncConnection) -> list[str]:
    """Delete what is left of brands deleted meanwhile: a batch checked just before its brand
    was deleted, and stored just after, leaves events and a pending state behind. Found through
    the state (one row per brand); returns the brands."""
    gone = [r[0] for r in await _exec(conn, "SELECT s.brand_id FROM agg_state s WHERE NOT EXISTS "
                                            "(SELECT 1 FROM brands b WHERE b.id = s.brand_id)", {})]
    for brand_id in gone:
        await forget_brand(conn, brand_id)
    return gone


async def _settle(conn: AsyncConnection, brand_id: str, until: Horizon, rebuilt: bool) -> None:
    """Move the watermark to the horizon. Unless the row was touched since the horizon (events,
    a merge...) or a kit message changed since the similarities were measured, nothing is left
    pending; a rebuild also clears the rebuild flag."""
    rebuild = "CASE WHEN restates = :r THEN 0 ELSE rebuild END" if rebuilt else "rebuild"
    await _exec(conn, f"UPDATE agg_state SET watermark = CASE WHEN watermark > :hi THEN watermark ELSE :hi END, "
                      f"rebuild = {rebuild}, "
                      f"pending = CASE WHEN touches = :t AND kit_changes = 0 THEN {rebuild} ELSE 1 END, "
                      "fresh_as_of = :now WHERE brand_id = :b",
                {"b": brand_id, "hi": until.seq, "t": until.touches, "r": until.restates, "now": utcnow()})


async def _has_rows(conn: AsyncConnection, table: str, brand_id: str) -> bool:
    """Whether ``table`` has any row of the brand."""
    return (await _exec(conn, f"SELECT 1 AS x FROM {table} WHERE brand_id = :b LIMIT 1", {"b": brand_id})).first() \
        is not None


async def _has_tribes(conn: AsyncConnection, brand_id: str) -> bool:
    return await _has_rows(conn, "tribes", brand_id)


def _links_of(table: str, sign: str = "") -> dict[str, str]:
    """The sums of ``table`` that links feed, as ``sign``-ed columns of a facts source."""
    return {s: f"{sign}{s}" for s in AGGREGATES[table][1] if s in LINKS}


def _stored_links(table: str, selection: str, facts: str = "event_facts") -> str:
    """The facts in ``facts`` matching ``selection`` that feed some link sum of ``table``, as a source."""
    feeding = " OR ".join(f"{s} > 0" for s in _links_of(table))
    return f"(SELECT * FROM {facts} WHERE {selection} AND ({feeding})) f"


# The events a run or a restatement recomputes (see :func:`aggregate` and :func:`restating`).
IN_AFFECTED = "seq IN (SELECT seq FROM agg_affected)"


async def _index_driven(conn: AsyncConnection, on: bool) -> None:
    """PostgreSQL: plan for a few rows per event at hand, all through indexes, or (``on`` False)
    back to the defaults. A run or a restatement touches a few rows per event; PostgreSQL would
    rather hash-join a whole-table scan for the children of thousands of new posts."""
    if conn.dialect.name != "postgresql":
        return
    await _planner(conn, "off" if on else "DEFAULT", ("seqscan", "hashjoin", "mergejoin"))
    # Costs inflated by those switches would make every statement worth compiling: it never is.
    await conn.exec_driver_sql(f"SET LOCAL jit = {'off' if on else 'DEFAULT'}")


async def _affected_ready(conn: AsyncConnection, d: Dialect) -> None:
    """The temporary tables of a run, empty, and the planner set for a few rows per event."""
    await _index_driven(conn, True)
    for ddl in d.temp:
        await conn.exec_driver_sql(ddl)
    await conn.exec_driver_sql("DELETE FROM agg_affected")


async def _affected_known(conn: AsyncConnection) -> int:
    """How many events ``agg_affected`` holds; on PostgreSQL the planner told, for the small
    summaries that hash-join best from here on."""
    affected = int((await _exec(conn, "SELECT COUNT(*) AS n FROM agg_affected", {})).one().n)
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("ANALYZE agg_affected")
        await _planner(conn, "on", ("hashjoin",))
    return affected


async def _take_out_links(conn: AsyncConnection, p: dict[str, Any]) -> None:
    """The links the affected events had so far leave the sums; then their rows go."""
    for table in AGGREGATES:
        await _exec(conn, _add(table, _links_of(table, "-"), _stored_links(table, IN_AFFECTED)), p)
    await _exec(conn, f"DELETE FROM event_facts WHERE {IN_AFFECTED}", p)


async def _count_affected(conn: AsyncConnection, d: Dialect, p: dict[str, Any], own: str, links: bool = True,
                          sign: str = "", only: tuple[str, ...] | None = None) -> None:
    """Add the affected events' facts as they are now to the rollups and member-days (``sign``
    "-": take them out): the own facts of those matching ``own`` (a condition on ``seq``), and
    with ``links`` every link, worked out now and stored in ``event_facts``; with ``only``,
    just those sums (the facts are left in ``agg_facts``)."""
    await conn.exec_driver_sql("DELETE FROM agg_facts")
    narrowed = _around("s." + IN_AFFECTED) if links else None
    await _exec(conn, f"INSERT INTO agg_facts ({', '.join(FACT_COLUMNS)}) "
                      f"{_facts(d, 'e.' + IN_AFFECTED, await _has_tribes(conn, p['b']), narrowed)}", p)
    if links:
        any_link = " OR ".join(f"{name} > 0" for name in LINKS)
        await _exec(conn, f"INSERT INTO event_facts ({', '.join(FACT_COLUMNS)}) "
                          f"SELECT {', '.join(FACT_COLUMNS)} FROM agg_facts WHERE {any_link}", p)
    for table, (_, names) in AGGREGATES.items():
        sums = {s: sign + s if s in LINKS else f"{sign}CASE WHEN {own} THEN {s} ELSE 0 END"
                for s in names if (links or s not in LINKS) and (only is None or s in only)}
        if not sums:
            continue
        source = "agg_facts"
        if table == "member_days":  # facts that add nothing to member-days (likes...) are left out
            source = (f"(SELECT * FROM agg_facts WHERE {'answer_other_q > 0 OR ' if links else ''}"
                      f"({own} AND (active > 0 OR positive_amp > 0))) f")
        await _exec(conn, _add(table, sums, source), p)


async def aggregate(conn: AsyncConnection, ws: str, brand_id: str, until: Horizon) -> dict[str, Any]:
    """Bring the brand's links and rollups up to the horizon, incrementally."""
    d = dialect_of(conn)
    watermark = await _watermark(conn, brand_id)
    p = {"w": ws, "b": brand_id, "lo": watermark, "hi": until.seq}
    affected = 0
    if until.seq > watermark:
        await _affected_ready(conn, d)
        new = "SELECT {col} FROM events WHERE brand_id = :b AND seq > :lo AND seq <= :hi AND {col} IS NOT NULL"
        await _exec(conn, f"""
            INSERT INTO agg_affected (seq)
            SELECT seq FROM events WHERE brand_id = :b AND seq > :lo AND seq <= :hi
            UNION SELECT e.seq FROM events e WHERE e.workspace_id = :w AND e.brand_id || '' = :b
                AND e.post_id IN ({new.format(col="in_reply_to")})
            UNION SELECT e.seq FROM events e WHERE e.workspace_id = :w AND e.brand_id || '' = :b
                AND e.in_reply_to IN ({new.format(col="post_id")})""", p)
        affected = await _affected_known(conn)
        await _take_out_links(conn, p)
        # Back in: every recomputed link, and the own facts of the new events only.
        await _count_affected(conn, d, p, "seq > :lo AND seq <= :hi")
    await _settle(conn, brand_id, until, rebuilt=False)
    return {"brand_id": brand_id, "from_seq": watermark, "to_seq": max(watermark, until.seq),
            "events_recomputed": int(affected)}


# How many events a restatement recomputes in the transaction that changes them; beyond that,
# the brand is left to a rebuild in the background (see :func:`restating`).
RESTATE_LIMIT = 10_000


@asynccontextmanager
async def restating(conn: AsyncConnection, ws: str, brand_ids: Iterable[str], events: str,
                    params: dict[str, Any], facts: tuple[str, ...] | None = None) -> AsyncIterator[list[str]]:
    """Restate the brands' past ``events`` (a condition on ``e``, with ``params``, that an index
    serves; ``:w`` is the workspace, and each brand's events are taken) around what the body
    changes: who did them (a merge), the tribes they count for (a tribe edit), how
    close they are to their campaign's kit message (see :func:`refresh_similarities`).

    Before the body, their facts leave the sums as they were counted; after it, they come back
    as they are now, in the same transaction: the scorecards never show the change half done,
    and the work follows the events changed, not the brand's history.

    Only these events need it. A link compares an event's member with those of its thread (its
    parent's, its first answer's): when two members become one, or a member changes tribes,
    the links of a third member's events, compared with either, stay what they were.

    The brand is left to a rebuild instead (as before, flagged for the scheduler) when a run
    or a rebuild of it is under way on PostgreSQL, when a rebuild is already due, or when more
    than :data:`RESTATE_LIMIT` events are concerned: holding the brand's gate, and so its
    ingest, that long is worse than a rebuild that does not. Also, but for a kit measure, when
    nothing of the brand is counted yet: its first run counts everything anyway, and a SQLite
    rebuild working its rows out meanwhile, from the events as they were, then stays due.

    What is counted is the events up to the watermark (own facts) and the links stored for
    any event; those after it are counted by the next run, as they are then. The body is given
    the brands left to a rebuild.

    With ``facts``, the body changes only those own facts of the events (their kit measure):
    their links and other facts stay, and only those sums and stored facts are restated.
    """
    brand_ids = sorted(set(brand_ids))
    await gate(conn, brand_ids, shared=False)  # batches in flight first, as merges and tribe edits need
    d = dialect_of(conn)
    restated, left = [], []
    for brand_id in brand_ids:
        state = (await _exec(conn, "SELECT watermark, rebuild FROM agg_state WHERE brand_id = :b",
                             {"b": brand_id})).first()
        if state is not None and state.rebuild:
            left.append(brand_id)
        elif not await try_advisory_lock(conn, ONE_RUN, brand_id):
            left.append(brand_id)  # a run is under way: it may count some events as they were
        elif state is not None and state.watermark > 0:
            p = {**params, "w": ws, "b": brand_id, "hi": int(state.watermark)}
            if await _take_out(conn, d, p, events, facts):
                restated.append(p)
            else:
                left.append(brand_id)
        elif state is not None and facts is None:
            # Nothing counted yet, but a SQLite rebuild may be working its rows out from the
            # events as they were: it leaves the rebuild due, and the next run counts them as
            # they are then.
            left.append(brand_id)
        # Else nothing is counted yet: the next run counts the events as they are then.
    if left:
        await mark_pending(conn, ws, left, rebuild=True)
    yield left
    for p in restated:
        await _affected_ready(conn, d)
        await _exec(conn, "INSERT INTO agg_affected (seq) SELECT seq FROM agg_restated WHERE brand_id = :b", p)
        await _affected_known(conn)
        if facts is None:
            await _count_affected(conn, d, p, "seq <= :hi")
        else:
            await _count_affected(conn, d, p, "seq <= :hi", links=False, only=facts)
            assigned = ", ".join(facts)
            await _exec(conn, f"UPDATE event_facts SET ({assigned}) = (SELECT {assigned} FROM agg_facts f "
                              f"WHERE f.seq = event_facts.seq AND f.tribe = event_facts.tribe) WHERE {IN_AFFECTED}", p)
        # A SQLite rebuild that worked its rows out before this sees the brand settled since.
        await _exec(conn, "UPDATE agg_state SET fresh_as_of = :now WHERE brand_id = :b", {**p, "now": utcnow()})
    if restated:
        await _exec(conn, "DELETE FROM agg_restated", {})
        await _index_driven(conn, False)


async def _take_out(conn: AsyncConnection, d: Dialect, p: dict[str, Any], events: str,
                    facts: tuple[str, ...] | None = None) -> bool:
    """The first half of :func:`restating` for one brand: the events concerned leave the sums,
    their own facts as they are now (only ``facts``, if given), their links as stored (none
    with ``facts``), and are kept in ``agg_restated``. False, with nothing done, if they are
    too many."""
    # Found through the index that ``events`` uses, not the workspace's or the brand's: with no
    # statistics, SQLite would walk the workspace's index for a list of ``seq`` (2.2 s in a kit
    # change's 4.0 on 1M events).
    scope = f"({events}) AND e.workspace_id || '' = :w AND e.brand_id || '' = :b"
    await _affected_ready(conn, d)
    await _exec(conn, f"INSERT INTO agg_affected (seq) SELECT e.seq FROM events e WHERE {scope} LIMIT :limit",
                {**p, "limit": RESTATE_LIMIT + 1})
    if await _affected_known(conn) > RESTATE_LIMIT:
        await _index_driven(conn, False)
        return False
    if facts is None:
        await _take_out_links(conn, p)
    await _count_affected(conn, d, p, "seq <= :hi", links=False, sign="-", only=facts)
    await conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS agg_restated (brand_id VARCHAR(32), seq BIGINT, "
                               "PRIMARY KEY (brand_id, seq))")
    await _exec(conn, "INSERT INTO agg_restated (brand_id, seq) SELECT :b, seq FROM agg_affected", p)
    await _index_driven(conn, False)
    return True


@dataclass(frozen=True)
class Staged:
    """What a SQLite rebuild staged on its connection (see :func:`_stage`): its rows up to
    ``seq``, the tables that had no rows of the brand then (their rows go in whole), and the
    schema its rollups and member-days were gathered in (see :func:`_gathered_into`)."""

    seq: int
    whole: frozenset[str]
    schema: str = "temp"


async def rebuild(conn: AsyncConnection, ws: str, brand_id: str, until: Horizon,
                  staged: Staged | None = None) -> dict[str, Any]:
    """Recompute everything of the brand from its events (kit similarities included).

    Links first (set-based, over the events that can have any), then each table from the
    events' own facts and the links just worked out: on PostgreSQL in one GROUP BY over both,
    on SQLite gathered by key (see :func:`_gathered`).

    The new rows are worked out aside and only the difference with the stored ones is
    written, so rebuilding a brand whose figures barely moved (after a merge or a tribe edit
    left to a rebuild) writes little. On PostgreSQL, deleting and inserting the same rows in one
    transaction would also leave dead index entries that every new row's unique check must
    visit. On SQLite the rows and the difference are worked out into temporary tables (see
    :func:`_stage`); ``staged`` says what this connection's temporary tables already hold, up
    to date (see :func:`_rebuild_staged`).
    """
    # A run whose horizon came after this one's may have had the brand first: it counted events
    # up to the watermark it left, all committed and visible now. The rebuild counts them too,
    # else the watermark would claim events that the rebuilt figures lack.
    until = replace(until, seq=max(until.seq, await _watermark(conn, brand_id)))
    if conn.dialect.name == "postgresql":
        await _rebuild_postgres(conn, ws, brand_id, until.seq)
    else:
        if staged is None or staged.seq != until.seq:
            staged = await _stage(conn, ws, brand_id, until.seq, staged.schema if staged else "temp")
        await _write_staged(conn, staged)
    await _settle(conn, brand_id, until, rebuilt=True)
    return {"brand_id": brand_id, "from_seq": 0, "to_seq": until.seq}


async def _rebuild_staged(db: Database, ws: str, brand_id: str, until: Horizon) -> dict[str, Any]:
    """A SQLite rebuild that works its rows out without the one writer, and takes it to write them.

    On one connection, whose temporary tables carry the rows over: the rows are worked out in
    a read transaction, which ingest does not wait for, then written in a write transaction.
    Measured on 1M events: batches sent during a 10.7 s rebuild waited at most 2.1 s, where
    they used to wait for the whole rebuild; with only what changed written (see
    :func:`_stage_changes`), 0.01 s when little did. If another run or rebuild of the
    brand settled in between (counting newer events, or after a kit change), or a merge or a
    tribe edit restated some of its events (see :func:`restating`), the staged rows may be out
    of date: the write transaction works them out again, holding the writer, as every SQLite
    rebuild used to. A merge or a tribe edit left to a rebuild leaves the rebuild due, as it
    does when it comes just after a rebuild.

    The connection is held while waiting for this process's turn to write, unlike
    :meth:`Database.transaction`, which waits first: the pool allows more connections than
    jobs run at once in a process (one in-process runner, a few per arq worker).

    A database in a file is read on two connections at once while the rows are worked out
    (see :class:`Aside`). When a thread of the process copies the log back into the database
    file (see :class:`~tribeops.core.db.WalCheckpointer`: the service and the worker run one),
    the write transaction leaves that copy to it, where its commit would otherwise make it,
    holding the writer: on 1M events, a first rebuild writes 125 MB, and its commit took 0.72 s
    against 0.23 s.
    """
    aside = None
    async with db.engine.connect() as conn:
        try:
            if db.sqlite_file:
                aside = Aside(db, _scratch_file(db.sqlite_file))
                await _attach(conn, aside.path)
            await conn.execution_options(readonly=True)
            async with conn.begin():
                before = await _settled(conn, brand_id)
                staged = await _stage(conn, ws, brand_id, max(until.seq, before[0]), SCRATCH if aside else "temp",
                                      aside)
            await conn.execution_options(readonly=False)
            if db.checkpointing:
                await bulk.execute(conn, "PRAGMA wal_autocheckpoint = 0")
            async with db.write_turn(), conn.begin():
                current = await _settled(conn, brand_id) == before
                # Out of date: worked out again (by this connection alone, holding the writer).
                return await rebuild(conn, ws, brand_id, until, staged if current else replace(staged, seq=-1))
        finally:
            await _unstage(conn, aside)


# The schema a SQLite rebuild's scratch database is attached as (see :class:`Aside`).
SCRATCH = "agg_scratch"


@dataclass(frozen=True)
class Aside:
    """SQLite: a rebuild's scratch database, a file of its own (``path``) that the rebuild's
    connection and a second one of ``db`` both attach, where temporary tables are one
    connection's only. While the rebuild's connection works the links out, the second one
    gathers the rollups' and member-days' own facts into the scratch database, each in its
    driver thread: a rebuild reads on two cores. Measured on 1M events: the links take 2.0 s and
    those own facts 2.1 s one after the other, 2.7 s side by side (each runs about a fifth
    slower beside the other); a first rebuild, 5.8 s on one connection, takes 3.6-3.7 s.

    The second connection reads a snapshot of its own. It works only if that snapshot shows the
    brand as the rebuild's does (same watermark, last settled at the same time, no rebuild
    called for since: see :func:`_as_seen`); else the rebuild's connection gathers them itself.
    """

    db: Database
    path: str


def _scratch_file(database: str) -> str:
    """A new, empty file for a rebuild's scratch database (an empty file is an empty database)
    beside the ``database`` file: on the disk provisioned for it, where SQLite can write (its
    log lives there too), rather than a temporary directory that may be memory. Named after
    this process, so that those left by a process killed mid-rebuild are removed here."""
    folder, name = os.path.split(os.path.abspath(database))
    prefix = f"{name}-rebuild-"
    for left in glob.glob(os.path.join(glob.escape(folder), glob.escape(prefix) + "*")):
        pid = os.path.basename(left)[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with suppress(OSError):
                os.remove(left)
    fd, path = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=".sqlite", dir=folder)
    os.close(fd)
    return path


async def _attach(conn: AsyncConnection, path: str) -> None:
    """Attach the scratch database at ``path`` to ``conn``, outside any transaction (SQLite
    attaches and detaches only there: straight on the driver, see :func:`bulk.in_driver`). It
    is rows worked out again if lost: no journal, no sync."""
    pragmas = ("journal_mode = OFF", "synchronous = OFF", f"cache_size = -{SQLITE_CACHE_KIB}")
    await bulk.in_driver(conn, lambda run: [run(f"ATTACH DATABASE ? AS {SCRATCH}", (path,)),
                                            *(run(f"PRAGMA {SCRATCH}.{pragma}") for pragma in pragmas)])


async def _detach(conn: AsyncConnection) -> None:
    """Detach the scratch database from ``conn``; if that fails, drop ``conn`` from the pool
    rather than give it back attached. A connection already dropped (an error or a cancel
    during a statement) is left as it is."""
    if conn.invalidated:
        return
    try:
        await bulk.execute(conn, f"DETACH DATABASE {SCRATCH}")
    except Exception:  # noqa: BLE001 - housekeeping: the rebuild's own outcome stands either way
        log.warning("could not detach a rebuild's scratch database; dropping the connection", exc_info=True)
        await conn.invalidate()


async def _as_seen(conn: AsyncConnection, brand_id: str) -> tuple[Any, ...]:
    """How this snapshot shows the brand, for a rebuild's second connection to compare: settled
    alike, and no rebuild called for since."""
    return await _settled(conn, brand_id, "restates")


async def _gather_aside(aside: Aside, p: dict[str, Any], tribes: bool, seen: tuple[Any, ...]) -> bool:
    """Gather the rollups' and member-days' own facts into the scratch database on a second
    connection (see :class:`Aside`); whether it did. It did not if its snapshot showed the brand
    otherwise than ``seen``, nor if it failed: the rebuild's connection then gathers them.
    Cancelled, it stops the statement under way."""
    try:
        async with aside.db.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            try:
                await _attach(conn, aside.path)
                await conn.execution_options(readonly=True)
                async with conn.begin():
                    if await _as_seen(conn, p["b"]) != seen:
                        return False
                    for table in AGGREGATES:
                        for statement in _gathered(SQLITE, table, SCOPE, tribes, SCRATCH)[0]:
                            await _exec(conn, statement, p)
            except asyncio.CancelledError:
                with suppress(Exception):
                    await driver.interrupt()
                raise
            finally:
                await _detach(conn)
        return True
    except Exception:  # noqa: BLE001 - the rebuild's connection does this work itself
        log.warning("a rebuild's second connection failed; its first gathers the rows itself", exc_info=True)
        return False


async def _unstage(conn: AsyncConnection, aside: Aside | None) -> None:
    """Empty the staged rows (SQLite), so that an idle connection of the pool does not keep a
    brand's worth of them, and drop the scratch database. A connection that cannot is
    dropped, its temporary tables with it; either way the rebuild's own outcome stands."""
    try:
        if conn.invalidated:  # dropped already (an error or a cancel during a statement)
            return
        await bulk.execute(conn, f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}")  # as every connection has it
        await conn.execution_options(readonly=True)
        async with conn.begin():
            made = {row[0] for row in await conn.exec_driver_sql("SELECT name FROM sqlite_temp_master")}
            for temp in made.intersection(STAGED):
                await conn.exec_driver_sql(f"DELETE FROM {temp}")
        if aside is not None:
            await _detach(conn)
    except Exception:  # noqa: BLE001 - the rebuild has committed or failed by now; this is housekeeping
        log.warning("could not empty a rebuild's staged rows; dropping the connection", exc_info=True)
        await conn.invalidate()
    finally:
        if aside is not None:
            with suppress(FileNotFoundError):
                os.remove(aside.path)


async def _rebuild_postgres(conn: AsyncConnection, ws: str, brand_id: str, hi: int) -> None:
    # The sorts and hashes of a whole brand stay in memory rather than spill to disk.
    await conn.exec_driver_sql("SET LOCAL work_mem = '128MB'")
    # Every join here is between whole sets of the brand: hash joins. The thread summaries'
    # sizes are guessed far too low (a hundred rows for tens of thousands): left to choose,
    # a nested loop over them ran for more than ten minutes where hash joins take seconds.
    # A merge join would sort the keys' texts.
    await _planner(conn, "off", ("nestloop", "mergejoin"))
    p = {"w": ws, "b": brand_id, "hi": hi}
    tribes = await _has_tribes(conn, brand_id)
    await _replace(conn, "event_facts", _linked(POSTGRES, tribes), p)
    for table in AGGREGATES:
        await _replace(conn, table, _rebuilt(POSTGRES, table, SCOPE, tribes), p)


# The events a rebuild reads (with ``:hi`` its horizon).
SCOPE = "e.brand_id = :b AND e.workspace_id = :w AND e.seq <= :hi"


def _linked(d: Dialect, tribes: bool) -> str:
    """The facts of the brand's events that have any link, as ``FACT_COLUMNS``. A question
    answered by the community is answered: ``q_answered`` alone tells (see
    :data:`FIRST_ANSWER_BY_OTHER`)."""
    any_link = " OR ".join(f"f.{name} > 0" for name in LINKS if name != "q_community")
    return f"SELECT * FROM ({_facts(d, f'{SCOPE} AND {LINKABLE}', tribes, WHOLE_BRAND)}) f WHERE {any_link}"


async def _stage(conn: AsyncConnection, ws: str, brand_id: str, hi: int, schema: str = "temp",
                 aside: Aside | None = None) -> Staged:
    """SQLite: work out the brand's rebuilt rows into this connection's temporary tables and
    ``schema`` (no write to the database itself): the facts with links into ``agg_facts``, then
    rollups and member-days gathered by key from the events and those facts (see
    :func:`_gathered`), then how they differ from the stored rows (see :func:`_stage_changes`).
    With ``aside`` (``schema`` its scratch database), their own facts are gathered on a second
    connection while this one works the links out."""
    for ddl in SQLITE.temp:
        await conn.exec_driver_sql(ddl)
    await conn.exec_driver_sql("DELETE FROM agg_facts")
    p = {"w": ws, "b": brand_id, "hi": hi}
    tribes = await _has_tribes(conn, brand_id)
    links = f"INSERT INTO agg_facts ({', '.join(FACT_COLUMNS)}) {_linked(SQLITE, tribes)}"
    gathered_aside = False
    if aside is None:
        await _exec(conn, links, p)
    else:
        # This connection reads nothing of the scratch database until the second one is done
        # with it: a reader there would hold up that one's commit.
        beside = asyncio.create_task(_gather_aside(aside, p, tribes, await _as_seen(conn, brand_id)))
        try:
            await _exec(conn, links, p)
        except BaseException:
            beside.cancel()  # it stops its statement, detaches and goes
            await asyncio.wait([beside])
            raise
        gathered_aside = await beside
    for table in AGGREGATES:
        own, add_links = _gathered(SQLITE, table, SCOPE, tribes, schema)
        for statement in ([] if gathered_aside else own) + [add_links]:
            await _exec(conn, statement, p)
    return Staged(hi, await _stage_changes(conn, brand_id, schema), schema)


# The tables a rebuild writes.
WRITTEN = ("event_facts", *AGGREGATES)


def _target(table: str, schema: str) -> tuple[tuple[str, ...], tuple[str, ...], str, str]:
    """SQLite: a table a rebuild writes: its key, its columns, the SELECT of its staged rows
    (as those columns), and the table that holds them by key (rollups and member-days: in
    ``schema``, see :func:`_gathered_into`)."""
    key, columns = REPLACED[table][0], _columns(table)
    if table == "event_facts":
        return key, columns, f"SELECT {', '.join(columns)} FROM agg_facts", "agg_facts"
    summed, counted, links, _ = _gathered_sums(SQLITE, table, "")
    gathered = _gathered_into(table, schema)
    return key, columns, _with_counts(SQLITE, table, counted, [*summed, *links], gathered), gathered


async def _stage_changes(conn: AsyncConnection, brand_id: str, schema: str) -> frozenset[str]:
    """SQLite: for each table a rebuild writes, the keys of the brand's stored rows that the
    staged ones lack (``agg_stale_...``) and the staged rows that are new or differ
    (``agg_new_...``). Returns the tables that hold no row of the brand: their staged rows go
    in whole, with nothing to compare.

    Worked out while reading, so that the write transaction only writes what changed. Measured
    on 1M events rebuilt again after 30k more had been counted by runs: another brand's batches
    waited at most 0.01 s during the rebuild, against 2.1 s when every row was deleted and
    written again; the rebuild took as long (10.6 s), comparing instead of rewriting."""
    whole = set()
    for table in WRITTEN:
        key, columns, rows, by_key = _target(table, schema)
        stale, new = f"agg_stale_{table}", f"agg_new_{table}"
        await conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {stale} AS SELECT {', '.join(key)} FROM {table} "
                                   "WHERE 0 = 1")
        await conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {new} AS SELECT {', '.join(columns)} "
                                   f"FROM {table} WHERE 0 = 1")
        for temp in (stale, new):
            await conn.exec_driver_sql(f"DELETE FROM {temp}")
        if not await _has_rows(conn, table, brand_id):
            whole.add(table)
            continue
        same_key = " AND ".join(f"s.{c} = t.{c}" for c in key)
        await _exec(conn, f"INSERT INTO {stale} ({', '.join(key)}) SELECT {', '.join(f't.{c}' for c in key)} "
                          f"FROM {table} t WHERE t.brand_id = :b AND NOT EXISTS (SELECT 1 FROM {by_key} s "
                          f"WHERE {same_key})", {"b": brand_id})
        same_row = " AND ".join(f"t.{c} = s.{c}" if c in key else f"t.{c} IS s.{c}" for c in columns)
        await conn.exec_driver_sql(f"INSERT INTO {new} ({', '.join(columns)}) SELECT {', '.join(columns)} "
                                   f"FROM ({rows}) s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same_row})")
    return frozenset(whole)


async def _write_staged(conn: AsyncConnection, staged: Staged) -> None:
    """SQLite: make the brand's facts, rollups and member-days the staged rows, writing only the
    difference (see :func:`_stage_changes`)."""
    for table in WRITTEN:
        key, columns, rows, _ = _target(table, staged.schema)
        names = ", ".join(columns)
        if table in staged.whole:
            await conn.exec_driver_sql(f"INSERT INTO {table} ({names}) {rows}")
            continue
        names_key = ", ".join(key)  # each found through the table's key (member-days have no rowid)
        await conn.exec_driver_sql(f"DELETE FROM {table} WHERE ({names_key}) IN (SELECT {names_key} "
                                   f"FROM agg_stale_{table})")
        await conn.exec_driver_sql(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM agg_new_{table} WHERE true ON CONFLICT "
            f"({', '.join(key)}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key))


async def _replace(conn: AsyncConnection, table: str, rows: str, params: dict[str, Any]) -> None:
    """Make the brand's rows of ``table`` (of :data:`REPLACED`) those of the query ``rows``
    (PostgreSQL), writing only the difference: one full join of the new rows with the stored
    ones finds those that changed, are missing or are stale (into a temporary table), then only
    they are updated, deleted or inserted, each found through the table's key. A brand with no
    rows yet has them inserted straight away.

    Measured on member-days with 100 of them changed and 100 missing: on 1M events (552k
    member-days) 2.5 s, on 10M (5.5M) 32 s; against 2.8-3.1 s and 52 s grouped by sorting and
    with the changes hash-joined to the whole table (read once more for the updates, once more
    for the deletes), and 6.3-8.1 s on 1M for deleting and inserting them all. A first rebuild,
    with nothing to compare, takes about the time of the insert alone.

    Runs with nested loops off (see :func:`_rebuild_postgres`), and leaves them so.
    """
    key, names = REPLACED[table]
    columns = _columns(table)
    insert = _insert(table)
    first = not await _has_rows(conn, table, params["b"])
    # How the new rows are grouped. Rollups are a few rows a day out of every event: by hashing,
    # in memory, where the planner expects a group per ten events and would sort them all (10M
    # events: 1.5 GB sorted on disk in 34 s, against 14 s hashed). Member-days are many: sorted,
    # they go into an empty brand's key in its order (10M events: 62 s against 82 s hashed);
    # compared with the stored rows, their order is of no use, and hashing takes half the time.
    hashed = table == "rollups" or (table == "member_days" and not first)
    await _planner(conn, "off" if hashed else "DEFAULT", ("sort",))
    if first:
        await _exec(conn, f"{insert} {rows}", params)  # nothing stored yet: every row is new
        return
    stored = f"(SELECT {', '.join(columns)} FROM {table} WHERE brand_id = :b)"
    same = " AND ".join(f"m.{c} = n.{c}" for c in key)
    differs = " OR ".join(f"m.{s} IS DISTINCT FROM n.{s}" for s in names)
    # A row of ``d``: the new row (all null if stale), then the stored key as ``o_...`` (null if missing).
    diff = ", ".join([f"n.{c}" for c in columns] + [f"m.{c} AS o_{c}" for c in key])
    d, new, old = f"agg_diff_{table}", f"d.{key[0]} IS NOT NULL", f"d.o_{key[0]} IS NOT NULL"
    await _exec(conn, f"""
        CREATE TEMP TABLE {d} ON COMMIT DROP AS WITH n AS ({rows})
        SELECT {diff} FROM n FULL JOIN {stored} m ON {same}
        WHERE n.{key[0]} IS NULL OR m.{key[0]} IS NULL OR {differs}""", params)
    await conn.exec_driver_sql(f"ANALYZE {d}")
    by_new = " AND ".join(f"t.{c} = d.{c}" for c in key)
    by_old = " AND ".join(f"t.{c} = d.o_{c}" for c in key)
    # The planner may now look each row up through the key (a nested loop), as it should for a few.
    await _planner(conn, "DEFAULT", ("nestloop",))
    await _exec(conn, f"UPDATE {table} t SET {', '.join(f'{s} = d.{s}' for s in names)} FROM {d} d "
                      f"WHERE t.brand_id = :b AND {new} AND {old} AND {by_new}", params)
    await _exec(conn, f"DELETE FROM {table} t USING {d} d WHERE t.brand_id = :b AND NOT {new} AND {by_old}",
                params)
    await _exec(conn, f"{insert} SELECT {', '.join(columns)} FROM {d} d WHERE NOT {old}", params)
    await _planner(conn, "off", ("nestloop",))


def _own_sums(d: Dialect, table: str, selection: str) -> tuple[list[str], list[str], str]:
    """How a rebuild sums ``table``'s own facts: the sums worked out event by event (``n``
    first), those that are the group's count (a fact fixed by kind and origin, where the key
    has both: rollups), and ``selection`` narrowed to the events that add anything (where every
    own sum of the table has a condition: member-days)."""
    key, names = AGGREGATES[table]
    parts = _own_parts(d)
    own = [s for s in names if s not in LINKS]
    by_kind = {"kind", "origin"} <= set(key)
    counted = [s for s in own if by_kind and s in parts and parts[s][1] is None and parts[s][0] is not None]
    summed = ["n", *(s for s in names if s not in counted and s != "n")]
    conditions = [" AND ".join(p.format(t="e") for p in parts[s] if p) if s in parts else "" for s in own]
    if all(conditions):
        selection += " AND (" + " OR ".join(f"({c})" for c in conditions) + ")"
    return summed, counted, selection


def _with_counts(d: Dialect, table: str, counted: list[str], summed: list[str], source: str,
                 day: str = "g.day") -> str:
    """``table``'s columns from ``source`` (``g``: the key, the workspace and the ``summed``
    sums): the counted sums made from its ``n``, the sums it lacks 0; the day as ``day``."""
    key, names = AGGREGATES[table]
    parts = _own_parts(d)
    sums = [f"CASE WHEN {parts[s][0].format(t='g')} THEN g.n ELSE 0 END AS {s}"  # type: ignore[union-attr]
            if s in counted else f"g.{s}" if s in summed else f"0 AS {s}" for s in names]
    keys = ", ".join(f"{day} AS day" if c == "day" else f"g.{c}" for c in key)
    return f"SELECT {keys}, g.workspace_id, {', '.join(sums)} FROM {source} g"


def _rebuilt(d: Dialect, table: str, selection: str, tribes: bool) -> str:
    """The rows of ``table`` for the events matching ``selection`` (PostgreSQL): their own facts
    and the links stored for them, summed per key in one GROUP BY (the heavy part of a rebuild).

    Only what differs event by event is summed row by row (see :func:`_own_sums`), and days
    are grouped as dates (see :data:`POSTGRES_DATE`).
    """
    key, names = AGGREGATES[table]
    summed, counted, selection = _own_sums(d, table, selection)
    dated = replace(d, day=POSTGRES_DATE)
    source = f"({_facts(dated, selection, tribes, columns=(*key, 'workspace_id', *summed))})"  # links 0
    # Own facts, then the stored links (own facts 0, n included).
    stored = ", ".join("CAST(day AS date)" if c == "day" else c for c in key)
    source = (f"(SELECT * FROM {source} o UNION ALL SELECT {stored}, workspace_id, "
              f"{', '.join(s if s in LINKS else '0' for s in summed)} FROM {_stored_links(table, 'brand_id = :b')})")
    return _with_counts(d, table, counted, [*summed, *LINKS],
                        f"({_sum_by_key(table, {s: s for s in summed}, f'{source} r')})",
                        day="to_char(g.day, 'YYYY-MM-DD')")


def _gathered(d: Dialect, table: str, selection: str, tribes: bool, schema: str = "temp") -> tuple[list[str], str]:
    """SQLite: the statements that gather ``table``'s rows for the events matching ``selection``
    into a table of ``schema`` (see :func:`_gathered_into`): those of their own facts, then the
    one that adds their links staged in ``agg_facts`` (:func:`_target` reads them out).

    SQLite groups by sorting every row; here each event is added into its key's row of a
    temporary table instead, found through that table's primary key, which holds one row per
    key: far fewer than events. Its order is :func:`_group_order`'s: rollups day first, so that
    events, which come roughly in time order, are added near each other; member-days in their
    table's key order, so that they go into its index in order when they are written (on 1M
    events: 0.76 s to write 552k of them, against 1.02 s gathered day first, for the same total
    time). The links are added the same way, and the rows go into ``table`` once, whole.
    Measured on 1M events: rollups 3.0 s against 4.5 for a GROUP BY, member-days 3.5 s against 5.7.
    """
    summed, _, links, selection = _gathered_sums(d, table, selection)
    order = _group_order(table)
    into = _gathered_into(table, schema)

    def add(sums: list[str], source: str) -> str:
        columns = ", ".join((*order, "workspace_id", *sums))
        return (f"INSERT INTO {into} ({columns}) SELECT {columns} FROM {source} WHERE true ON CONFLICT "
                f"({', '.join(order)}) DO UPDATE SET " + ", ".join(f"{s} = {s} + excluded.{s}" for s in sums))

    sums = ", ".join(f"{s} DEFAULT 0" for s in (*summed, *links))
    return [
        f"CREATE TABLE IF NOT EXISTS {into} ({', '.join(order)}, workspace_id, {sums}, "
        f"PRIMARY KEY ({', '.join(order)})) WITHOUT ROWID",
        f"DELETE FROM {into}",
        add(summed, f"({_facts(d, selection, tribes, columns=(*order, 'workspace_id', *summed))})"),
    ], add(links, _stored_links(table, "true", facts="agg_facts"))


def _gathered_sums(d: Dialect, table: str, selection: str) -> tuple[list[str], list[str], list[str], str]:
    """The own sums :func:`_gathered` adds up event by event, those that are the group's count,
    the link sums, and ``selection`` narrowed (all as :func:`_own_sums` has them)."""
    summed, counted, selection = _own_sums(d, table, selection)
    names = AGGREGATES[table][1]
    return ([s for s in summed if s not in LINKS and (s != "n" or s in names)], counted,
            [s for s in names if s in LINKS], selection)


def _gathered_into(table: str, schema: str = "temp") -> str:
    """Where a SQLite rebuild gathers ``table``'s rows: a temporary table, or one of its scratch
    database (see :class:`Aside`)."""
    return f"{schema}.agg_own_{table}"


# The temporary tables a SQLite rebuild stages its rows in.
STAGED = ("agg_facts", *(_gathered_into(table).removeprefix("temp.") for table in AGGREGATES),
          *(f"agg_{kind}_{table}" for table in WRITTEN for kind in ("stale", "new")))


async def mark_pending(conn: AsyncConnection, ws: str, brand_ids: list[str], now: datetime | None = None,
                       rebuild: bool = False, kit: bool = False) -> None:
    """Flag brands as having work for the scheduler: new events (ingest), with ``kit`` a new
    kit message (the next run measures past events against it, see
    :func:`refresh_similarities`), or with ``rebuild`` past events changed in a way that calls
    for a rebuild (a merge or a tribe edit that :func:`restating` leaves to one). Their
    scorecards say ``pending`` until it has run.

    Ingest calls it last, just before commit, inside the shared :func:`gate` it took first: the
    brand's ``agg_state`` row is then locked only for the commit, not for the whole batch.
    With ``rebuild`` it closes the brands' gates itself, first, as merges and tribe edits call
    it before touching members or events: the lock order is the workspace's members gate
    (ingest and merges, see :func:`~tribeops.core.members.members_gate`), brand gates,
    identities and events, then ``agg_state``, the same everywhere.
    """
    if rebuild:
        await gate(conn, brand_ids, shared=False)
    if brand_ids:
        await bulk.execute(conn, *pending_statement(conn.dialect.name, ws, brand_ids, now or utcnow(), rebuild, kit))


def pending_statement(dialect: str, ws: str, brand_ids: list[str], now: datetime, rebuild: bool = False,
                      kit: bool = False) -> tuple[str, tuple[Any, ...]]:
    """The write of :func:`mark_pending` (``brand_ids`` not empty) and its parameters."""
    flag = int(rebuild)
    rows = [(ws, brand_id, 0, 1, now, 1, flag, flag, int(kit)) for brand_id in sorted(set(brand_ids))]
    columns = ("workspace_id", "brand_id", "watermark", "pending", "touched_at", "touches", "rebuild", "restates",
               "kit_changes")
    return bulk.upsert_statement(dialect, "agg_state", columns, rows, key=("brand_id",),
                                 update=("pending", "touched_at", *(("rebuild",) if rebuild else ())),
                                 add=("touches", *(("restates",) if rebuild else ()),
                                      *(("kit_changes",) if kit else ())))


async def refresh_similarities(db: Database, ws: str, brand_id: str, chunk: int = 5000, restate: bool = False
                               ) -> dict[str, int] | None:
    """Measure the brand's campaign posts, shares and mentions against their kit messages as
    they are now (``kit_similarity``), a chunk at a time, read beside ingest, then only the
    values that changed written, in a transaction per chunk. Returns, for the job's result,
    how many changed and (with ``restate``) how many of those were recounted; None when there
    was nothing to do.

    A rebuild measures them all, then counts everything again. With ``restate`` (an
    incremental run) it only runs once a kit message has changed (``kit_changes``), and the
    events whose facts change with their measure (measured or not, a copy or not: see
    :func:`_own_parts`) are restated in their chunk's transaction (see :func:`restating`): a
    new kit message costs a pass over the brand's campaign events and a recount of the copies
    it makes or unmakes, not a rebuild. It first closes the brand's gate once, so that
    batches in flight, measured against the old message, are stored before it reads.

    Either way the kit changes seen at the start are taken off ``kit_changes``: one made
    meanwhile leaves the brand pending, for the next run to measure.
    """
    async with db.reading() as conn:
        state = (await _exec(conn, "SELECT kit_changes FROM agg_state WHERE brand_id = :b", {"b": brand_id})).first()
        seen = int(state.kit_changes) if state is not None else 0
        if restate and not seen:
            return None
        kits = {r.id: r.kit_message for r in await _exec(
            conn, "SELECT id, kit_message FROM campaigns WHERE workspace_id = :w AND brand_id = :b",
            {"w": ws, "b": brand_id})}
    if restate:
        async with db.transaction() as conn:  # batches measured against the old message are stored first
            await gate(conn, [brand_id], shared=False)
    changed, recounted, last, recounting = 0, 0, 0, restate  # until left to a rebuild
    while True:
        # Read beside ingest, through the index of the brand's kit copies (see ``KIT_COPIES``):
        # the pass reads those events only. It used to walk the whole brand (1M events without
        # a campaign: 0.35-0.41 s before every SQLite rebuild, to find none; on 10M, 3 s that a
        # SQLite batch waited for when it ran in a write transaction).
        async with db.reading() as conn:
            rows = await _campaign_events(conn, brand_id, last, chunk)
        if not rows:
            break
        updates, flips = [], []
        for r in rows:
            kit = kits.get(r.campaign_id)
            value = round(similarity(r.text, kit), 4) if kit and has_text(r.text) else None
            if value != r.kit_similarity:
                updates.append({"s": r.seq, "v": value})
                if r.origin == "member" and _counted_as(value) != _counted_as(r.kit_similarity):
                    flips.append(int(r.seq))
        if updates:
            update = sa.text("UPDATE events SET kit_similarity = :v WHERE seq = :s")
            async with db.transaction() as conn:
                if recounting and flips:
                    events = "e.seq IN (" + ", ".join(map(str, flips)) + ")"
                    async with restating(conn, ws, [brand_id], events, {}, facts=MEASURED) as left:
                        await conn.execute(update, updates)
                    recounting = not left  # a rebuild counts the rest again anyway
                    recounted += 0 if left else len(flips)
                else:
                    await conn.execute(update, updates)
            changed += len(updates)
        last = rows[-1].seq
    if seen:
        async with db.transaction() as conn:
            await _exec(conn, "UPDATE agg_state SET kit_changes = kit_changes - :k WHERE brand_id = :b",
                        {"b": brand_id, "k": seen})
    if not restate:  # a rebuild recounts every event anyway
        return {"kit_similarities_changed": changed}
    return {"kit_similarities_changed": changed, "kit_events_recounted": recounted}


# The facts that depend on a member event's kit measure (see :func:`_own_parts`).
MEASURED = ("mega_text", "mega_copy")


def _counted_as(kit_similarity: float | None) -> tuple[bool, bool]:
    """What a measure counts for (see :data:`MEASURED`)."""
    return kit_similarity is not None, kit_similarity is not None and kit_similarity >= MEGAPHONE


# The brand's next ``:n`` campaign events that can copy a kit message, after ``seq`` ``:after``:
# the index's condition word for word, as SQLite uses a partial index only for a query that says it.
CAMPAIGN_EVENTS = ("SELECT seq, origin, campaign_id, text, kit_similarity FROM events WHERE brand_id = :b "
                   f"AND seq > :after AND {KIT_COPIES} ORDER BY seq LIMIT :n")


async def _campaign_events(conn: AsyncConnection, brand_id: str, after: int, limit: int) -> list[Any]:
    return list((await _exec(conn, CAMPAIGN_EVENTS, {"b": brand_id, "after": after, "n": limit})).all())
