"""Cursor pagination, newest first. Cursors are signed with the workspace's own secret,
so a cursor copied into another workspace is refused rather than silently reused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import FieldError, ValidationFailed
from .schemas.common import Page

T = TypeVar("T")


def encode_cursor(secret: str, last_id: str) -> str:
    tag = hmac.new(secret.encode(), last_id.encode(), hashlib.sha256).hexdigest()[:24]
    return base64.urlsafe_b64encode(f"{last_id}.{tag}".encode()).decode().rstrip("=")


def decode_cursor(secret: str, cursor: str, parameter: str = "starting_after") -> str:
    """The last id the cursor points after; ``ValidationFailed`` if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        last_id, tag = raw.rsplit(".", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        last_id, tag = "", ""
    expected = hmac.new(secret.encode(), last_id.encode(), hashlib.sha256).hexdigest()[:24]
    if not last_id or not hmac.compare_digest(tag, expected):
        raise ValidationFailed(
            [FieldError(f"/{parameter}", "Not a cursor of this workspace; use a next_cursor from a list.", "query")]
        )
    return last_id


async def paginate(
    conn: AsyncConnection,
    query: sa.Select[Any],
    id_column: sa.ColumnElement[str],
    *,
    secret: str,
    limit: int,
    starting_after: str | None,
    to_item: Callable[[sa.Row[Any]], T],
    numeric: bool = False,
) -> Page[T]:
    """Run ``query`` for one page after ``starting_after`` (newest first by ``id_column``)."""
    if starting_after:
        last = decode_cursor(secret, starting_after)
        query = query.where(id_column < (int(last) if numeric else last))
    rows: Sequence[sa.Row[Any]] = (await conn.execute(query.order_by(id_column.desc()).limit(limit + 1))).all()
    has_more = len(rows) > limit
    items = [to_item(row) for row in rows[:limit]]
    next_cursor = encode_cursor(secret, str(rows[limit - 1]._mapping[id_column.key])) if has_more else None
    return Page(data=items, has_more=has_more, next_cursor=next_cursor)
