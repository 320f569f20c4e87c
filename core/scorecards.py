"""Building scorecards: every registered metric over a scope and period, with targets."""

from __future__ import annotations

import math
import numbers
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables as t
from .aggregate import COUNTED_MEMBERSHIP
from .errors import FieldError, NotFound, ValidationFailed
from .extensions import FAMILIES, MetricResult
from .plugins import Registry
from .safety import PluginFailure, call
from .schemas.events import Origin
from .schemas.scorecards import Granularity, MetricValue, Period, Scope, Scorecard, SeriesPoint
from .services.context import Caller

METRIC_TIMEOUT = 60.0

_SUMS = ", ".join(f"SUM({column})" for column in t.ROLLUP_SUMS)
ORIGINS = typing.get_args(Origin)
# What ``{events}`` gives a metric of each event (see :attr:`ScopeContext.events_sql`).
EVENT_COLUMNS = ("id", "network", "kind", "origin", "paid", "member_id", "campaign_id", "tribe_id", "post_id",
                 "in_reply_to", "conversation_id", "occurred_at", "value", "text", "enrichment")


@dataclass
class ScopeContext:
    """The :class:`~tribeops.core.extensions.MetricContext` metrics compute in."""

    conn: AsyncConnection
    workspace_id: str
    brand_id: str
    campaign_id: str | None
    tribe_id: str | None
    network: str | None
    period_from: datetime
    period_to: datetime
    campaign_ends_at: datetime | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    _sums: dict[tuple[str, str], list[float]] | None = None  # (kind, origin): the rollup sums
    _savepoint: Any = None  # the running metric's, begun with its first query

    @property
    def params(self) -> dict[str, Any]:
        return {"workspace_id": self.workspace_id, "brand_id": self.brand_id, "campaign_id": self.campaign_id or "",
                "tribe_id": self.tribe_id or "*", "network": self.network or "",
                "from_day": self.period_from.date().isoformat(), "to_day": self.period_to.date().isoformat(),
                "period_from": self.period_from, "period_to": self.period_to}

    @property
    def scope_sql(self) -> str:
        parts = ["brand_id = :brand_id", "tribe = :tribe_id"]
        if self.campaign_id:
            parts.append("campaign = :campaign_id")
        if self.network:
            parts.append("network = :network")
        return " AND ".join(parts)

    async def scalar(self, sql: str, **params: Any) -> Any:
        return (await self._execute(sql, params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._execute(sql, params)]

    async def _execute(self, sql: str, params: dict[str, Any]) -> sa.CursorResult[Any]:
        own = self.params
        clash = sorted(name for name, value in params.items() if name in own and own[name] != value)
        if clash:  # {where} and {scope} read them: another value would change the scope unseen
            raise ValueError(f"query parameters {', '.join(':' + n for n in clash)} are the scope's own "
                             f"({', '.join(':' + n for n in own)}); give yours other names")
        if self._savepoint is None:  # one whose SQL fails leaves the other metrics a usable connection
            self._savepoint = await self.conn.begin_nested()
        where = f"{self.scope_sql} AND day >= :from_day AND day < :to_day"
        sql = sql.replace("{where}", where).replace("{scope}", self.scope_sql).replace("{events}", self.events_sql)
        statement = sa.text(sql)
        typed = [sa.bindparam(name, type_=t.UTCDateTime()) for name in ("period_from", "period_to")
                 if f":{name}" in sql]  # stored as the events' column stores them, on every database
        return await self.conn.execute(statement.bindparams(*typed) if typed else statement, {**own, **params})

    @property
    def events_sql(self) -> str:
        """``{events}``: the scope's events of the period, as a table of :data:`EVENT_COLUMNS`.
        An event is of a tribe when sent with its ``tribe_id``, or, sent without, when its member
        is of the tribe: added by hand, or matched by its rules before the event came in (as
        the aggregates count it)."""
        where = ["e.workspace_id = :workspace_id", "e.brand_id = :brand_id", "e.occurred_at >= :period_from",
                 "e.occurred_at < :period_to"]
        if self.campaign_id:
            where.append("e.campaign_id = :campaign_id")
        if self.network:
            where.append("e.network = :network")
        if self.tribe_id:
            where.append("(e.tribe_id = :tribe_id OR (e.tribe_id IS NULL AND EXISTS (SELECT 1 FROM tribe_members tm "
                         "WHERE tm.workspace_id = e.workspace_id AND tm.member_id = e.member_id "
                         f"AND tm.tribe_id = :tribe_id AND {COUNTED_MEMBERSHIP.format(e='e')})))")
        columns = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        return f"(SELECT {columns} FROM events e WHERE {' AND '.join(where)})"

    async def rollup(self, column: str, kinds: tuple[str, ...] = (), origin: str | None = None) -> float:
        if column not in t.ROLLUP_SUMS:
            raise ValueError(f"rollups have no column {column!r}")
        if isinstance(kinds, str):  # ("like") is a string: each of its letters would be a kind
            raise TypeError(f"kinds is a tuple of kinds, not the string {kinds!r}: write ({kinds!r},)")
        if origin not in (None, *ORIGINS):
            raise ValueError(f"origin is one of {', '.join(ORIGINS)} (or None for both), not {origin!r}")
        if self._sums is None:  # every rollup the metrics ask for, from one grouped read of the period
            found = await self._execute(f"SELECT kind, origin, {_SUMS} FROM rollups WHERE {{where}} "
                                        "GROUP BY kind, origin", {})
            self._sums = {(row[0], row[1]): [float(v or 0) for v in row[2:]] for row in found}
        at = t.ROLLUP_SUMS.index(column)
        return math.fsum(values[at] for (kind, side), values in self._sums.items()
                         if (not kinds or kind in kinds) and (not origin or side == origin))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def buckets(start: date, end: date, granularity: Granularity) -> list[tuple[date, date]]:
    """[start, end) cut into days, ISO weeks or calendar months (the first and last may be partial)."""
    if granularity == "total":
        return [(start, end)]
    out, cursor = [], start
    while cursor < end:
        if granularity == "day":
            nxt = cursor + timedelta(days=1)
        elif granularity == "week":
            nxt = cursor + timedelta(days=7 - cursor.weekday())
        else:
            nxt = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((cursor, min(nxt, end)))
        cursor = nxt
    return out


def _met(value: float | None, comparison: str, target: float) -> bool | None:
    if value is None:
        return None
    return {"gte": value >= target, "gt": value > target, "lte": value <= target, "lt": value < target,
            "eq": abs(value - target) < 1e-9}[comparison]


async def _metrics(ctx: ScopeContext, registry: Registry, targets: dict[str, tuple[str, float]],
                   failures: dict[str, list[str]], skip: dict[str, str], timeout: float) -> list[MetricValue]:
    """Every metric over ``ctx``'s scope and period. A metric that fails is null, its failure
    added to ``failures`` (brief → the periods it failed over); one that timed out is in
    ``skip`` from then on (name → brief), and null without being called again (a series would
    wait for it at each of its buckets), its failure counted over each period it skips.

    Metrics only read: each runs in a savepoint rolled back after it, with the connection
    read-only (see :func:`_read_only`), so that a plugin's statement that writes fails, and is
    reported, instead of changing the data from a GET.
    """
    values = []
    ordered = sorted(registry.metrics.items(), key=lambda kv: FAMILIES.index(kv[1].item.family))  # stable
    period = f"{ctx.period_from.date().isoformat()} to {ctx.period_to.date().isoformat()}"
    for name, registered in ordered:
        metric = registered.item
        result: Any = MetricResult(None)
        if name in skip:
            failures.setdefault(skip[name], []).append(period)
        else:
            ctx._savepoint = None
            what = f"metric {name!r}"
            result = await call(registered.plugin, what, metric.compute, ctx, timeout=timeout)
            if ctx._savepoint is not None:
                await ctx._savepoint.rollback()
            if not isinstance(result, PluginFailure):
                result = _checked(registered.plugin, what, result)
            if isinstance(result, PluginFailure):
                brief = result.brief()
                failures.setdefault(brief, []).append(period)
                registry.remember_error(registered.plugin, brief)  # GET /v1/plugins shows it
                if result.timed_out:
                    skip[name] = brief
                result = MetricResult(None)
        comparison, target = targets.get(name, (None, None))
        values.append(MetricValue(
            name=name, family=metric.family, value=result.value, unit=metric.unit, numerator=result.numerator,
            denominator=result.denominator, target=target, comparison=comparison,  # type: ignore[arg-type]
            met=_met(result.value, comparison, target) if comparison and target is not None else None))
    return values


def _checked(plugin: str, what: str, result: Any) -> MetricResult | PluginFailure:
    """``result`` as a :class:`MetricResult` of floats (a database's Decimal or int read as one),
    or the failure of a metric (``what``) that returned anything else, or a value that is not
    finite."""
    if not isinstance(result, MetricResult):
        return PluginFailure(plugin, what, TypeError(f"returned {type(result).__name__}, not a MetricResult"))
    parts = []
    for field_name in ("value", "numerator", "denominator"):
        part = getattr(result, field_name)
        if part is not None:
            if isinstance(part, bool) or not isinstance(part, (numbers.Real, Decimal)):
                return PluginFailure(plugin, what, TypeError(f"returned a {field_name} of type "
                                                             f"{type(part).__name__}, not a number"))
            part = float(part)
            if not math.isfinite(part):
                return PluginFailure(plugin, what, ValueError(f"returned a {field_name} that is not finite: {part}"))
        parts.append(part)
    return MetricResult(*parts)


def _failures(failures: dict[str, list[str]], periods: int) -> list[str]:
    """The metrics' failures for the scorecard's ``errors``: each once, with the periods it
    happened over when not all the ``periods`` computed (the whole one, then each of the series')."""
    out = []
    for brief, where in sorted(failures.items()):
        if len(where) < periods:
            brief += f" (over {where[0]}" + (f" and {len(where) - 1} more)" if len(where) > 1 else ")")
        out.append(brief)
    return out


MAX_ERRORS = 100  # as the contract caps a scorecard's errors


async def build(conn: AsyncConnection, registry: Registry, caller: Caller, scope: Scope, start: date | None,
                end: date | None, granularity: Granularity, timeout: float | None = None,
                skip: dict[str, str] | None = None) -> Scorecard:
    """The scorecard of ``scope`` over [start, end) (bounds left out: see :func:`period`), each
    metric given ``timeout`` seconds (:data:`METRIC_TIMEOUT` unless said). ``skip`` carries the
    metrics that timed out from one scorecard to the next (see :func:`_metrics`, and
    :func:`compare`)."""
    ws = caller.workspace_id
    timeout = METRIC_TIMEOUT if timeout is None else timeout
    if conn.dialect.name == "postgresql":  # the database stops a runaway metric query, not a task cancel
        await conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000) // 2}")
        # Grouping a period's member-days by member hashes in memory instead of sorting on disk
        # (raised to 32MB for this read, never lowered).
        await conn.exec_driver_sql("SELECT set_config('work_mem', '32MB', true) "
                                   "WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('32MB')")
    await _require(conn, ws, t.brands, scope.brand_id, "brand", "/brand_id")
    campaign = None
    if scope.campaign_id:
        campaign = await _require(conn, ws, t.campaigns, scope.campaign_id, "campaign", "/campaign_id",
                                  brand_id=scope.brand_id)
    if scope.tribe_id:
        await _require(conn, ws, t.tribes, scope.tribe_id, "tribe", "/tribe_id", brand_id=scope.brand_id)
    start, end = await period(conn, scope, campaign, start, end, granularity)
    targets = {tg["metric"]: (tg["comparison"], tg["value"]) for tg in (campaign.targets if campaign else [])}
    failures: dict[str, list[str]] = {}
    skip = {} if skip is None else skip
    memo: dict[str, Any] = {}

    def context(a: date, b: date) -> ScopeContext:
        return ScopeContext(conn, ws, scope.brand_id, scope.campaign_id, scope.tribe_id, scope.network,
                            _day_start(a), _day_start(b), campaign.ends_at if campaign else None, memo)

    async with _read_only(conn):
        metrics = await _metrics(context(start, end), registry, targets, failures, skip, timeout)
        series = None
        if granularity != "total":
            series = [SeriesPoint(period=Period(start=a, end=b),
                                  metrics=await _metrics(context(a, b), registry, {}, failures, skip, timeout))
                      for a, b in buckets(start, end, granularity)]
    errors = _failures(failures, 1 + len(series or [])) + [
        f"The campaign's target on {name!r} is not shown: no metric of that name is registered "
        "(its plugin may have been removed)." for name in targets if name not in registry.metrics]
    state = (await conn.execute(sa.select(t.agg_state.c.fresh_as_of, t.agg_state.c.pending).where(
        t.agg_state.c.brand_id == scope.brand_id))).first()
    return Scorecard(scope=scope, period=Period(start=start, end=end), granularity=granularity, metrics=metrics,
                     series=series, fresh_as_of=state.fresh_as_of if state else None,
                     pending=bool(state.pending) if state else False, errors=errors[:MAX_ERRORS])


@asynccontextmanager
async def _read_only(conn: AsyncConnection) -> AsyncIterator[None]:
    """The connection refuses to write while metrics run: on PostgreSQL the transaction turns
    read-only (for the rest of it: a scorecard's transaction only reads), on SQLite the
    connection does until they are done."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        yield
        return
    await conn.exec_driver_sql("PRAGMA query_only = ON")
    try:
        yield
    finally:
        await conn.exec_driver_sql("PRAGMA query_only = OFF")


MAX_BUCKETS = 400


MAX_DAYS = 3660  # ten years


def day_after(moment: datetime) -> date:
    """The first whole UTC day on or after ``moment``: an end at midnight is that day, another
    the next (a campaign ending 2026-03-10T00:00Z has 03-09 as its last day)."""
    moment = moment.astimezone(timezone.utc)
    return moment.date() if moment.time() == time() else moment.date() + timedelta(days=1)


async def period(conn: AsyncConnection, scope: Scope, campaign: Any, start: date | None, end: date | None,
                 granularity: Granularity = "total") -> tuple[date, date]:
    """[start, end): the bounds the client gave, each other one the campaign's, else the
    first or last day of the scope's data.

    Only a bound the client gave can be refused. A defaulted one never contradicts it: a
    campaign bound on its wrong side gives way to the data's, and where that is too, the
    period is the day next to the given bound. Nor does a defaulted bound make the period span
    more than ten years, or the series more than :data:`MAX_BUCKETS` points: the latest are
    kept (the first from a given ``from``), so one event dated years back leaves the scope's
    scorecard, and its daily series, answerable."""
    if start is not None and end is not None:
        if end <= start:
            raise ValidationFailed([FieldError("/to", "to must be after from.", "query")])
        if (end - start).days > MAX_DAYS:
            raise ValidationFailed([FieldError("/to", "A period may span at most ten years "
                                                      f"({MAX_DAYS} days).", "query")])
        if len(buckets(start, end, granularity)) > MAX_BUCKETS:
            raise ValidationFailed([FieldError("/granularity", f"A series may have at most {MAX_BUCKETS} points; "
                                               "use a coarser granularity or a shorter period.", "query")])
        return start, end
    keep_first = start is not None  # and no end given
    start, end = await _defaulted(conn, scope, campaign, start, end)
    return fitted(start, end, granularity, keep_first)


def fitted(start: date, end: date, granularity: Granularity, keep_first: bool) -> tuple[date, date]:
    """[start, end) cut to ten years and :data:`MAX_BUCKETS` points, keeping the first or the latest."""
    if (end - start).days > MAX_DAYS:
        if keep_first:
            end = start + timedelta(days=MAX_DAYS)
        else:
            start = end - timedelta(days=MAX_DAYS)
    cut = buckets(start, end, granularity)
    if len(cut) > MAX_BUCKETS:
        start, end = (start, cut[MAX_BUCKETS - 1][1]) if keep_first else (cut[-MAX_BUCKETS][0], end)
    return start, end


async def _defaulted(conn: AsyncConnection, scope: Scope, campaign: Any, start: date | None,
                     end: date | None) -> tuple[date, date]:
    """:func:`period`'s bounds, one or both left out, before they are cut to length."""
    given_start, given_end = start, end
    if start is None and campaign is not None and campaign.starts_at:
        starts = campaign.starts_at.astimezone(timezone.utc).date()
        start = starts if given_end is None or starts < given_end else None  # else: from the data
    if end is None and campaign is not None and campaign.ends_at:
        ends = day_after(campaign.ends_at)
        end = ends if given_start is None or ends > given_start else None
    if start is None or end is None:
        first, last = await _data_span(conn, scope)
        today = datetime.now(timezone.utc).date()
        start = start or first or today
        end = end or (last + timedelta(days=1) if last else today + timedelta(days=1))
    if end <= start:  # a campaign yet to start, say, or a given bound past the data
        if given_end is None:
            end = start + timedelta(days=1)
        else:
            start = end - timedelta(days=1)
    return start, end


async def _data_span(conn: AsyncConnection, scope: Scope) -> tuple[date | None, date | None]:
    """The first and last day with any event in the scope (its rollups)."""
    r = t.rollups.c
    where = [r.brand_id == scope.brand_id, r.tribe == (scope.tribe_id or "*")]
    if scope.campaign_id:
        where.append(r.campaign == scope.campaign_id)
    if scope.network:
        where.append(r.network == scope.network)
    first, last = (await conn.execute(sa.select(sa.func.min(r.day), sa.func.max(r.day)).where(*where))).one()
    return (date.fromisoformat(first) if first else None, date.fromisoformat(last) if last else None)


async def _require(conn: AsyncConnection, ws: str, table: sa.Table, object_id: str, kind: str, pointer: str,
                   brand_id: str | None = None) -> Any:
    query = sa.select(table).where(table.c.workspace_id == ws, table.c.id == object_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(kind, object_id) if kind == "brand" else ValidationFailed(
            [FieldError(pointer, f"No {kind} {object_id!r} in this workspace.", "query")])
    if brand_id is not None and row.brand_id != brand_id:
        raise ValidationFailed([FieldError(pointer, f"{kind.capitalize()} {object_id!r} is not of brand {brand_id!r}.",
                                           "query")])
    return row


async def comparison_scopes(conn: AsyncConnection, caller: Caller, campaign_ids: list[str], tribe_ids: list[str],
                            brand_id: str | None, network: str | None = None) -> list[Scope]:
    """The scopes to compare: campaigns (each with its brand, which must be ``brand_id`` when
    given), or tribes of one brand; each on ``network`` when given."""
    ws = caller.workspace_id
    if brand_id:
        await _require(conn, ws, t.brands, brand_id, "brand", "/brand_id")
    if not campaign_ids and not brand_id:
        raise ValidationFailed([FieldError("/brand_id", "Comparing tribes needs their brand_id.", "query")])
    table, ids, kind = (t.campaigns, campaign_ids, "campaign") if campaign_ids else (t.tribes, tribe_ids, "tribe")
    rows = {r.id: r for r in await conn.execute(sa.select(table.c.id, table.c.brand_id).where(
        table.c.workspace_id == ws, table.c.id.in_(ids)))}
    wrong = [FieldError(f"/{kind}_id/{i}", f"No {kind} {oid!r} in this workspace.", "query")
             if oid not in rows else
             FieldError(f"/{kind}_id/{i}", f"{kind.capitalize()} {oid!r} is not of brand {brand_id!r}.", "query")
             for i, oid in enumerate(ids) if oid not in rows or brand_id and rows[oid].brand_id != brand_id]
    if wrong:
        raise ValidationFailed(wrong)
    if campaign_ids:
        return [Scope(brand_id=rows[cid].brand_id, campaign_id=cid, network=network) for cid in campaign_ids]
    return [Scope(brand_id=brand_id, tribe_id=tid, network=network) for tid in tribe_ids]


async def compare(conn: AsyncConnection, registry: Registry, caller: Caller, campaign_ids: list[str],
                  tribe_ids: list[str], brand_id: str | None, network: str | None, start: date | None,
                  end: date | None, granularity: Granularity) -> list[Scorecard]:
    """Scorecards side by side (see :func:`comparison_scopes`). Campaigns each keep their own
    period; tribes, of one brand, share one, so that their figures and series line up: the
    span of all their own periods, cut to length as one. A metric that timed out in one is not
    called again in the next: a comparison waits for it once, not once per scorecard."""
    scopes = await comparison_scopes(conn, caller, campaign_ids, tribe_ids, brand_id, network)
    if tribe_ids and (start is None or end is None):
        spans = [await period(conn, scope, None, start, end) for scope in scopes]
        start, end = fitted(min(a for a, _ in spans), max(b for _, b in spans), granularity,
                            keep_first=start is not None)
    skip: dict[str, str] = {}
    return [await build(conn, registry, caller, scope, start, end, granularity, skip=skip) for scope in scopes]
