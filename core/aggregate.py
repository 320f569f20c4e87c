"""Incremental aggregation: facts per event, rollups kept by deltas, all in the database.

For a brand, a run takes the events added since its watermark. The events whose facts can
change are those new events, their parents (a reply answers them) and their children (whose
parent just arrived), so the result never depends on arrival order. For those, the run
subtracts the old facts from the rollups, recomputes the facts, and adds them back: the
cost follows what is new, not the history. The whole run is one transaction holding the
brand's ``agg_state`` row, so a killed run leaves nothing half-done and two runs for one
brand never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .services.context import utcnow
from .tables import FACT_FLAGS, MEMBER_SUMS, ROLLUP_SUMS
from .similarity import similarity

ROLLUP_KEY = ("brand_id", "campaign", "tribe", "network", "day", "kind", "origin")
MEMBER_KEY = ("brand_id", "campaign", "tribe", "network", "day", "member_id")


@dataclass(frozen=True)
class Dialect:
    day: str
    minutes: str
    thanks: str
    positive: str
    lock: str
    temp: str


SQLITE = Dialect(
    day="substr(e.occurred_at, 1, 10)",
    minutes="(julianday({a}) - julianday({b})) * 1440.0",
    thanks="coalesce(json_extract(e.enrichment, '$.thanks'), 0) = 1",
    positive="json_extract(e.enrichment, '$.sentiment_label') = 'positive'",
    lock="",
    temp="CREATE TEMP TABLE IF NOT EXISTS agg_affected (seq INTEGER PRIMARY KEY)",
)
POSTGRES = Dialect(
    day="to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    minutes="EXTRACT(EPOCH FROM ({a} - {b})) / 60.0",
    thanks="(e.enrichment ->> 'thanks') = 'true'",
    positive="(e.enrichment ->> 'sentiment_label') = 'positive'",
    lock=" FOR UPDATE",
    temp="CREATE TEMP TABLE IF NOT EXISTS agg_affected (seq BIGINT PRIMARY KEY) ON COMMIT DELETE ROWS",
)


def dialect_of(conn: AsyncConnection) -> Dialect:
    return POSTGRES if conn.dialect.name == "postgresql" else SQLITE


def _facts_select(d: Dialect, selection: str) -> str:
    """Facts of the events matching ``selection`` (a condition on ``e``), one row per tribe they count for."""
    member = "e.origin = 'member'"
    # ``brand_id || ''`` keeps the planners on the thread indexes (post_id, in_reply_to): without
    # statistics SQLite would rather walk the brand's index, once per event: quadratic.
    same_brand = "{alias}.brand_id || '' = e.brand_id"
    first_brand_reply = ("(SELECT MIN(c.occurred_at) FROM events c WHERE c.workspace_id = e.workspace_id "
                         f"AND {same_brand.format(alias='c')} AND c.in_reply_to = e.post_id AND c.origin = 'brand')")
    parent_is = ("EXISTS (SELECT 1 FROM events p WHERE p.workspace_id = e.workspace_id AND "
                 + same_brand.format(alias="p")
                 + " AND p.post_id = e.in_reply_to AND p.origin = 'member' AND p.member_id <> e.member_id{extra})")
    first_answer_by_member = (
        "(SELECT CASE WHEN c.origin = 'member' AND c.member_id <> e.member_id THEN 1 ELSE 0 END FROM events c "
        "WHERE c.workspace_id = e.workspace_id AND " + same_brand.format(alias="c") + " AND c.in_reply_to = e.post_id "
        "AND c.kind IN ('reply', 'comment', 'answer') ORDER BY c.occurred_at, c.seq LIMIT 1)")
    base = f"""
        SELECT e.seq, e.workspace_id, e.brand_id, coalesce(e.campaign_id, '') AS campaign, e.network,
               {d.day} AS day, e.kind, e.origin, e.member_id, e.tribe_id, e.value,
               CASE WHEN e.paid THEN 1 ELSE 0 END AS paid,
               CASE WHEN {member} AND e.kind IN ('reply', 'comment', 'mention', 'question') THEN 1 ELSE 0 END
                   AS message,
               CASE WHEN {member} AND e.kind IN ('reply', 'comment', 'mention', 'question') AND e.post_id IS NOT NULL
                   THEN {first_brand_reply} END AS first_reply_at,
               e.occurred_at,
               CASE WHEN e.kind IN ('post', 'question', 'mention') AND e.in_reply_to IS NULL THEN 1 ELSE 0 END
                   AS thread_start,
               CASE WHEN {member} AND e.kind IN ('reply', 'comment', 'answer') THEN 1 ELSE 0 END AS m_reply,
               CASE WHEN {member} AND e.kind IN ('reply', 'comment', 'answer') AND e.in_reply_to IS NOT NULL
                   AND {parent_is.format(extra="")} THEN 1 ELSE 0 END AS m2m_reply,
               CASE WHEN {member} AND e.kind = 'question' AND e.post_id IS NOT NULL
                   THEN {first_answer_by_member} END AS first_answer_member,
               CASE WHEN {member} AND {d.thanks} THEN 1 ELSE 0 END AS thanks,
               CASE WHEN {member} AND NOT e.paid AND e.kind IN ('mention', 'post', 'share') AND {d.positive}
                   THEN 1 ELSE 0 END AS positive_amp,
               CASE WHEN {member} AND NOT e.paid AND e.kind IN ('reply', 'comment', 'answer')
                   AND e.in_reply_to IS NOT NULL AND {parent_is.format(extra=" AND p.kind = 'question'")}
                   THEN 1 ELSE 0 END AS answer_other_q,
               CASE WHEN {member} AND e.kind IN ('post', 'share', 'mention') AND e.kit_similarity IS NOT NULL
                   THEN 1 ELSE 0 END AS mega_text,
               CASE WHEN {member} AND e.kind IN ('post', 'share', 'mention') AND e.kit_similarity >= 0.8
                   THEN 1 ELSE 0 END AS mega_copy,
               CASE WHEN {member} AND e.kind IN ('reply', 'comment', 'share', 'mention', 'post', 'question',
                   'answer', 'vote') THEN 1 ELSE 0 END AS active
        FROM events e WHERE {selection}"""
    minutes = d.minutes.format(a="b.first_reply_at", b="b.occurred_at")
    columns = f"""b.seq, {{tribe}}, b.workspace_id, b.brand_id, b.campaign, b.network, b.day, b.kind, b.origin,
               b.member_id, 1, b.paid, b.message,
               CASE WHEN b.first_reply_at IS NOT NULL THEN 1 ELSE 0 END, b.thread_start, b.m_reply, b.m2m_reply,
               CASE WHEN b.first_answer_member IS NOT NULL THEN 1 ELSE 0 END, coalesce(b.first_answer_member, 0),
               b.thanks, b.positive_amp, b.answer_other_q, b.mega_text, b.mega_copy, b.active, b.value,
               CASE WHEN b.first_reply_at IS NOT NULL THEN
                   CASE WHEN {minutes} > 0 THEN {minutes} ELSE 0 END END"""
    # One row per tribe the event counts for: "*" always, then its own tribe or its member's
    # tribes. Three selects over ``b`` rather than a join back to it (which SQLite nests).
    return f"""
        WITH b AS ({base})
        SELECT {columns.format(tribe="'*'")} FROM b
        UNION ALL
        SELECT {columns.format(tribe="b.tribe_id")} FROM b
            JOIN tribes tr ON tr.id = b.tribe_id AND tr.brand_id = b.brand_id
        UNION ALL
        SELECT {columns.format(tribe="tm.tribe_id")} FROM b
            JOIN tribe_members tm ON tm.workspace_id = b.workspace_id AND tm.member_id = b.member_id
                AND tm.source <> 'excluded'
            JOIN tribes tr ON tr.id = tm.tribe_id AND tr.brand_id = b.brand_id
            WHERE b.tribe_id IS NULL"""


FACT_COLUMNS = ("seq", "tribe", "workspace_id", "brand_id", "campaign", "network", "day", "kind", "origin",
                "member_id", *FACT_FLAGS, "value", "response_minutes")


def _apply(table: str, key: tuple[str, ...], sums: tuple[str, ...], sign: str, selection: str) -> str:
    """Add (``+``) or subtract (``-``) the facts matching ``selection`` to ``table``'s rows.

    Facts whose sums are all zero change nothing; member-days skip them (likes, impressions...),
    which spares most of that GROUP BY.
    """
    if table == "member_days":
        selection = f"({selection}) AND ({' OR '.join(f'{s} > 0' for s in sums)})"
    # Subtracting is adding negated sums through the same upsert: each grouped row then costs one
    # primary-key probe (an UPDATE ... FROM may walk the whole target table instead).
    negate = "-" if sign == "-" else ""
    fact_sums = ", ".join(f"{negate}SUM({s}) AS {s}" for s in sums)
    grouped = (f"SELECT {', '.join(key)}, MIN(workspace_id) AS workspace_id, {fact_sums} FROM event_facts "
               f"WHERE {selection} GROUP BY {', '.join(key)}")
    updates = ", ".join(f"{s} = {table}.{s} + excluded.{s}" for s in sums)
    return (f"INSERT INTO {table} ({', '.join(key)}, workspace_id, {', '.join(sums)}) SELECT * FROM ({grouped}) g "
            f"WHERE true ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


async def _exec(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> Any:
    return await conn.execute(sa.text(sql), params)


async def _lock_state(conn: AsyncConnection, ws: str, brand_id: str) -> int:
    d = dialect_of(conn)
    await _exec(conn, "INSERT INTO agg_state (workspace_id, brand_id, watermark, pending) VALUES (:w, :b, 0, 1) "
                      "ON CONFLICT (brand_id) DO NOTHING", {"w": ws, "b": brand_id})
    row = (await _exec(conn, f"SELECT watermark FROM agg_state WHERE brand_id = :b{d.lock}", {"b": brand_id})).one()
    return int(row.watermark)


async def aggregate(conn: AsyncConnection, ws: str, brand_id: str) -> dict[str, Any]:
    """Bring the brand's facts and rollups up to its newest event, incrementally."""
    d = dialect_of(conn)
    watermark = await _lock_state(conn, ws, brand_id)
    newest = (await _exec(conn, "SELECT MAX(seq) AS m FROM events WHERE brand_id = :b", {"b": brand_id})).one().m
    p = {"w": ws, "b": brand_id, "lo": watermark, "hi": newest or 0}
    affected = 0
    if newest is not None and newest > watermark:
        if conn.dialect.name == "postgresql":
            # An incremental run touches a few rows per new event, all through indexes; PostgreSQL
            # would rather hash-join a whole-table scan for the children of thousands of new posts.
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        await conn.exec_driver_sql(d.temp)
        await conn.exec_driver_sql("DELETE FROM agg_affected")
        new = "SELECT {col} FROM events WHERE brand_id = :b AND seq > :lo AND seq <= :hi AND {col} IS NOT NULL"
        await _exec(conn, f"""
            INSERT INTO agg_affected (seq)
            SELECT seq FROM events WHERE brand_id = :b AND seq > :lo AND seq <= :hi
            UNION SELECT e.seq FROM events e WHERE e.workspace_id = :w AND e.brand_id || '' = :b
                AND e.post_id IN ({new.format(col="in_reply_to")})
            UNION SELECT e.seq FROM events e WHERE e.workspace_id = :w AND e.brand_id || '' = :b
                AND e.in_reply_to IN ({new.format(col="post_id")})""", p)
        affected = (await _exec(conn, "SELECT COUNT(*) AS n FROM agg_affected", {})).one().n
        in_affected = "seq IN (SELECT seq FROM agg_affected)"
        for table, key, sums in (("rollups", ROLLUP_KEY, ROLLUP_SUMS), ("member_days", MEMBER_KEY, MEMBER_SUMS)):
            await _exec(conn, _apply(table, key, sums, "-", in_affected), p)
        await _exec(conn, f"DELETE FROM event_facts WHERE {in_affected}", p)
        await _exec(conn, f"INSERT INTO event_facts ({', '.join(FACT_COLUMNS)}) "
                          f"{_facts_select(d, 'e.' + in_affected)}", p)
        for table, key, sums in (("rollups", ROLLUP_KEY, ROLLUP_SUMS), ("member_days", MEMBER_KEY, MEMBER_SUMS)):
            await _exec(conn, _apply(table, key, sums, "+", in_affected), p)
    await _exec(conn, "UPDATE agg_state SET watermark = :hi, pending = 0, fresh_as_of = :now WHERE brand_id = :b",
                {**p, "hi": max(watermark, newest or 0), "now": utcnow()})
    return {"brand_id": brand_id, "from_seq": watermark, "to_seq": max(watermark, newest or 0),
            "events_recomputed": int(affected)}


async def rebuild(conn: AsyncConnection, ws: str, brand_id: str) -> dict[str, Any]:
    """Recompute everything of the brand from its events (kit similarities included)."""
    d = dialect_of(conn)
    await _lock_state(conn, ws, brand_id)
    await refresh_similarities(conn, ws, brand_id)
    for table in ("event_facts", "rollups", "member_days"):
        await _exec(conn, f"DELETE FROM {table} WHERE brand_id = :b", {"b": brand_id})
    newest = (await _exec(conn, "SELECT MAX(seq) AS m FROM events WHERE brand_id = :b", {"b": brand_id})).one().m or 0
    p = {"w": ws, "b": brand_id, "hi": newest}
    scope = "e.brand_id = :b AND e.workspace_id = :w AND e.seq <= :hi"
    await _exec(conn, f"INSERT INTO event_facts ({', '.join(FACT_COLUMNS)}) {_facts_select(d, scope)}", p)
    for table, key, sums in (("rollups", ROLLUP_KEY, ROLLUP_SUMS), ("member_days", MEMBER_KEY, MEMBER_SUMS)):
        await _exec(conn, _apply(table, key, sums, "+", "brand_id = :b"), p)
    await _exec(conn, "UPDATE agg_state SET watermark = :hi, pending = 0, fresh_as_of = :now WHERE brand_id = :b",
                {**p, "now": utcnow()})
    return {"brand_id": brand_id, "from_seq": 0, "to_seq": newest}


async def refresh_similarities(conn: AsyncConnection, ws: str, brand_id: str, chunk: int = 5000) -> int:
    """Recompute ``kit_similarity`` of the brand's campaign events (after a kit message changed)."""
    kits = {r.id: r.kit_message for r in await _exec(
        conn, "SELECT id, kit_message FROM campaigns WHERE workspace_id = :w AND brand_id = :b", {"w": ws, "b": brand_id})}
    changed, last = 0, 0
    while True:
        rows = (await _exec(conn, "SELECT seq, campaign_id, text, kit_similarity FROM events WHERE brand_id = :b "
                                  "AND seq > :last AND campaign_id IS NOT NULL AND kind IN ('post', 'share', 'mention') "
                                  "ORDER BY seq LIMIT :n", {"b": brand_id, "last": last, "n": chunk})).all()
        if not rows:
            return changed
        updates = []
        for r in rows:
            kit = kits.get(r.campaign_id)
            value = round(similarity(r.text, kit), 4) if kit and r.text else None
            if value != r.kit_similarity:
                updates.append({"s": r.seq, "v": value})
        if updates:
            await conn.execute(sa.text("UPDATE events SET kit_similarity = :v WHERE seq = :s"), updates)
            changed += len(updates)
        last = rows[-1].seq
