"""What plugins register besides connectors: metrics, event kinds, enrichers, alert sinks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

Family = Literal["vanity", "relationship", "pushpull", "authenticity", "risk"]
FAMILIES: tuple[str, ...] = ("vanity", "relationship", "pushpull", "authenticity", "risk")
T = TypeVar("T")
Register = Callable[[T], None]
"""The ``register`` callback each ``register_*`` hook receives; call it once per thing."""


@dataclass(frozen=True)
class MetricResult:
    """A metric's value, with the parts it came from so a scorecard can explain itself.

    ``numerator`` and ``denominator`` are a rate's two parts (``value`` = numerator ÷
    denominator); an average or a median gives only its ``denominator``, how many values it is
    over; a count or a sum gives neither. A metric whose denominator is zero has
    ``value=None``, not 0.
    """

    value: float | None
    numerator: float | None = None
    denominator: float | None = None

    @classmethod
    def ratio(cls, numerator: float, denominator: float) -> MetricResult:
        return cls(numerator / denominator if denominator else None, numerator, denominator)


class MetricContext(Protocol):
    """What a metric's ``compute`` may ask: the scope, the period, and SQL over the aggregates.

    The aggregates are three tables, each with ``brand_id``, ``campaign`` ('' when none),
    ``tribe`` ('*' counts every event once; a tribe id counts the tribe's events),
    ``network`` and ``day`` ('YYYY-MM-DD', UTC):

    - ``rollups`` (also ``kind``, ``origin``): sums ``n`` (events), ``value``, ``message``,
      ``answered``, ``thread_start``, ``m_reply``, ``m2m_reply``, ``q_answered``,
      ``q_community``, ``thanks``, ``mega_text``, ``mega_copy``, ``active``;
    - ``member_days`` (also ``member_id``): ``active``, ``positive_amp``, ``answer_other_q``;
    - ``event_facts``: one row per event and tribe *with a conversation link* (``answered``,
      ``m2m_reply``, ``q_answered``, ``q_community`` or ``answer_other_q`` is 1), with all the
      flags, ``member_id``, ``kind``, ``origin``, ``paid`` and ``response_minutes``. Events
      without links (likes, impressions, unanswered posts...) have no row: count them in
      ``rollups``.

    ``rollups`` and ``member_days`` are keyed brand, tribe and day first (``event_facts`` has an
    index in that order): a condition on the scope and the period, as ``{where}`` is, reads
    the period's rows only, where one on ``{scope}`` alone reads the scope's whole history.

    Rows of ``rollups`` and ``member_days`` are kept by adding and taking out: one whose sums
    are all 0 may stay (a merged-away member's days, a link that went), so count members or
    days on a sum (``active > 0``), not on the row.

    In SQL given to :meth:`scalar` and :meth:`rows`, ``{where}`` is the scope and period condition and
    ``{scope}`` the scope alone; ``:from_day`` and ``:to_day`` bound the period [from, to).

    A scorecard computes each metric over its whole period first, then over each bucket of
    its series in order. ``memo`` is one dict shared by all those calls, of every metric (and
    by no other scorecard): a metric that needs a pass over the scope's history may keep there
    what the pass found, so that the series' buckets do not repeat it. Start its keys with the
    metric's name (``"returning_members.first_days"``), so that metrics never share one by
    chance.
    """

    brand_id: str
    campaign_id: str | None
    tribe_id: str | None
    network: str | None
    period_from: datetime
    period_to: datetime
    campaign_ends_at: datetime | None  # the campaign's end, when the scope is a campaign with one
    memo: dict[str, Any]

    async def scalar(self, sql: str, **params: Any) -> Any:
        """Run one read-only query (with ``{where}`` / ``{scope}`` filled in) and return its first value."""
        ...

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Like :meth:`scalar`, but every row the query returns."""
        ...

    async def rollup(self, column: str, kinds: tuple[str, ...] = (), origin: str | None = None) -> float:
        """The sum of a ``rollups`` column over the scope and period, for some kinds and an origin.

        The period's rollups are read once, grouped by kind and origin, for every metric that
        asks: prefer this to a query of your own on ``rollups``."""
        ...


@dataclass(frozen=True)
class Metric:
    """A scoring rule: what it measures, its formula in words, and how to compute it."""

    name: str
    family: Family
    description: str
    formula: str
    unit: str
    compute: Callable[[MetricContext], Awaitable[MetricResult] | MetricResult]
    version: str = "1"


@dataclass(frozen=True)
class EventKind:
    """A KPI event kind beyond the built-in ones. ``active``: counts as taking part."""

    name: str
    description: str
    active: bool = False


EnrichFunction = Callable[[Mapping[str, Any]], "Mapping[str, Any] | Awaitable[Mapping[str, Any]]"]


@dataclass(frozen=True)
class Enricher:
    """Adds derived fields to each event at ingest.

    ``enrich`` receives the event as a read-only mapping (the ``EventIn`` fields plus
    ``origin``) and returns the fields it adds, e.g. ``{"language": "it"}``. It may be
    async; async enrichers are cut off after ``timeout`` seconds. An enricher that raises
    or times out adds nothing, and the error is recorded on the event. With ``text_only``,
    it is called only for events whose ``text`` is not blank (likes, follows, impressions...
    skip it at no cost).
    """

    name: str
    description: str
    enrich: EnrichFunction
    fields: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 1.0
    text_only: bool = False


@dataclass(frozen=True)
class Alert:
    """Something a brand team should look at now."""

    kind: str
    severity: Literal["info", "warning", "critical"]
    workspace_id: str
    brand_id: str | None
    title: str
    detail: str
    created_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertSink:
    """Where alerts go (a webhook, a chat channel, a log). ``send`` may be async."""

    name: str
    description: str
    send: Callable[[Alert], Awaitable[None] | None]
    timeout: float = 5.0
