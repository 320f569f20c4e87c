"""Tribe membership from each tribe's rules, computed at ingest.

A member joins a tribe when an event of theirs shows one of the tribe's handles (theirs),
uses one of its hashtags, or has one of its keywords in the text or in their bio. Members
removed from a tribe through the API are marked ``excluded`` so rules do not add them back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from . import bulk
from . import tables as t
from .db import insert_for
from .schemas.events import EventIn

HASHTAG = re.compile(r"#(\w+)", re.UNICODE)


def _handle(value: str | None) -> str:
    return (value or "").strip().lstrip("@").lower()


@dataclass(frozen=True)
class TribeRule:
    tribe_id: str
    handles: frozenset[str]
    hashtags: frozenset[str]
    keywords: re.Pattern[str] | None

    @classmethod
    def from_row(cls, tribe_id: str, rules: dict[str, Any]) -> TribeRule:
        words = [w.strip().lower() for w in rules.get("keywords", []) if w.strip()]
        pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)") if words else None
        return cls(tribe_id, frozenset(_handle(h) for h in rules.get("handles", [])),
                   frozenset(h.lstrip("#").lower() for h in rules.get("hashtags", [])), pattern)

    def matches(self, handle: str, tags: set[str], text: str, bio: str) -> bool:
        if handle and handle in self.handles or tags & self.hashtags:
            return True
        return self.keywords is not None and bool(self.keywords.search(text) or self.keywords.search(bio))


async def load_rules(conn: AsyncConnection, ws: str, brand_ids: Iterable[str]) -> dict[str, list[TribeRule]]:
    """The membership rules of the brands' tribes, brand → rules (tribes without rules left out)."""
    rules: dict[str, list[TribeRule]] = {}
    for tribe_id, brand_id, raw in await bulk.select_in(
            conn, "SELECT id, brand_id, CAST(rules AS TEXT) FROM tribes WHERE workspace_id = {} AND brand_id IN {}",
            (ws,), sorted(set(brand_ids))):
        rule = TribeRule.from_row(tribe_id, bulk.json_value(raw) or {})
        if rule.handles or rule.hashtags or rule.keywords:
            rules.setdefault(brand_id, []).append(rule)
    return rules


def matches(rules: dict[str, list[TribeRule]], event: EventIn) -> list[str]:
    """The tribes whose rules ``event`` satisfies."""
    brand_rules = rules.get(event.brand_id)
    if not brand_rules:
        return []
    text = (event.text or "").lower()
    tags = {tag.lower() for tag in HASHTAG.findall(text)}
    handle, bio = _handle(event.actor.handle), (event.actor.bio or "").lower()
    return [rule.tribe_id for rule in brand_rules if rule.matches(handle, tags, text, bio)]


async def join(conn: AsyncConnection, ws: str, pairs: set[tuple[str, str]], now: datetime,
               source: str = "rule") -> None:
    """Add (tribe, member) pairs; existing rows, exclusions included, are left as they are."""
    if pairs:
        rows = [{"workspace_id": ws, "tribe_id": tid, "member_id": mid, "source": source, "created_at": now}
                for tid, mid in sorted(pairs)]
        await conn.execute(insert_for(conn, t.tribe_members).on_conflict_do_nothing(), rows)


def join_accounts_statements(ws: str, pairs: Iterable[tuple[str, tuple[str, str]]], now: datetime
                             ) -> list[tuple[str, tuple[Any, ...]]]:
    """SQLite: :func:`join` for (tribe, (network, account id)) pairs whose identities are stored,
    each account standing for its member, as statements and their parameters."""
    rows = sorted({(tribe, *account) for tribe, account in pairs})
    per = (bulk.MAX_PARAMS - 2) // 3
    out = []
    for start in range(0, len(rows), per):
        values, params = bulk.sqlite_values(rows[start:start + per])
        out.append((f"INSERT INTO tribe_members (workspace_id, tribe_id, member_id, source, created_at) "
                    f"SELECT ?1, v.column1, i.member_id, 'rule', ?2 FROM (VALUES {values}) v JOIN member_identities i "
                    "ON i.workspace_id = ?1 AND i.network = v.column2 AND i.external_id = v.column3 "
                    "WHERE true ON CONFLICT DO NOTHING", (ws, bulk.sqlite_time(now), *params)))
    return out
