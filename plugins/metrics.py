"""The built-in scoring rules: vanity beside relationship, push beside pull.

Registered through ``register_metrics`` exactly like a third-party plugin's. Scope is a
brand, optionally narrowed to a campaign, a tribe and a network; the period is [from, to)
in whole UTC days. A *message* is a member event of kind reply, comment, mention or
question; a *brand post* is a brand event of kind post. A rate whose denominator is zero
is null, not 0.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tribeops.core.plugin_api import Metric, MetricContext, MetricResult, hookimpl

Compute = Callable[[MetricContext], Awaitable[MetricResult]]
REPLIES = ("reply", "comment")


def _count(kinds: tuple[str, ...], origin: str | None = None, column: str = "n") -> Compute:
    async def compute(ctx: MetricContext) -> MetricResult:
        return MetricResult(await ctx.rollup(column, kinds, origin))
    return compute


def _rate(num: tuple[str, tuple[str, ...], str | None], den: tuple[str, tuple[str, ...], str | None]) -> Compute:
    async def compute(ctx: MetricContext) -> MetricResult:
        return MetricResult.ratio(await ctx.rollup(*num), await ctx.rollup(*den))
    return compute


BRAND_POSTS = ("n", ("post",), "brand")


async def followers_gained(ctx: MetricContext) -> MetricResult:
    # Accounts following the brand: the brand's own follows (of others) gain it no follower.
    follows = await ctx.rollup("n", ("follow",), origin="member")
    unfollows = await ctx.rollup("n", ("unfollow",), origin="member")
    return MetricResult(follows - unfollows)


async def median_response_minutes(ctx: MetricContext) -> MetricResult:
    answered = int(await ctx.scalar("SELECT COUNT(*) FROM event_facts WHERE {where} AND answered = 1") or 0)
    if not answered:
        return MetricResult(None, None, 0)
    middle = await ctx.rows("SELECT response_minutes FROM event_facts WHERE {where} AND answered = 1 "
                            "ORDER BY response_minutes LIMIT :n OFFSET :k", n=2 - answered % 2, k=(answered - 1) // 2)
    return MetricResult(round(sum(float(m) for m, in middle) / len(middle), 2), None, answered)


async def active_members(ctx: MetricContext) -> MetricResult:
    return MetricResult(float((await _members(ctx))[0]))


async def _members(ctx: MetricContext) -> tuple[int, int]:
    """The period's active members and ambassadors, from one grouped pass over its member-days
    (kept in the memo: ``active_members``, ``returning_members`` and ``ambassadors`` ask)."""
    key = f"active_members.members {ctx.period_from.isoformat()} {ctx.period_to.isoformat()}"
    if key not in ctx.memo:
        found = await ctx.rows(
            "SELECT COUNT(CASE WHEN a > 0 THEN 1 END), COUNT(CASE WHEN p >= 3 OR q >= 2 THEN 1 END) FROM "
            "(SELECT SUM(active) AS a, SUM(positive_amp) AS p, SUM(answer_other_q) AS q FROM member_days "
            "WHERE {where} GROUP BY member_id) m")
        ctx.memo[key] = (int(found[0][0] or 0), int(found[0][1] or 0))
    members: tuple[int, int] = ctx.memo[key]
    return members


async def returning_members(ctx: MetricContext) -> MetricResult:
    ctx.memo.setdefault(FIRST_DAYS_BOUND, ctx.period_to.date().isoformat())  # the whole period comes first
    active = await active_members(ctx)
    # Nobody active before the period (a scorecard of the whole history starts on the first
    # day): nothing to count. One row looked up, through the keys' brand, tribe and day order.
    if await ctx.scalar("SELECT 1 FROM member_days WHERE {scope} AND day < :from_day AND active > 0 LIMIT 1") is None:
        return MetricResult(0.0)
    # An active member is either returning or new: first active in the scope during the period.
    first = await _first_days(ctx)
    new = first.between(ctx.period_from.date().isoformat(), ctx.period_to.date().isoformat())
    return MetricResult(float((active.value or 0) - new))


class FirstDays:
    """How many members of a scope were first active on each day before ``bound``."""

    def __init__(self, bound: str, counts: list[tuple[str, int]]) -> None:
        self.bound, self.days, self.running = bound, [day for day, _ in counts], [0]
        for _, n in counts:  # running[i]: members first active before days[i]
            self.running.append(self.running[-1] + int(n))

    def between(self, from_day: str, to_day: str) -> int:
        """Members first active in [from_day, to_day), for to_day <= bound."""
        return self.running[bisect_left(self.days, to_day)] - self.running[bisect_left(self.days, from_day)]


FIRST_DAYS, FIRST_DAYS_BOUND = "returning_members.first_days", "returning_members.bound"
FIRST_DAYS_FAILED = "returning_members.failed"


async def _first_days(ctx: MetricContext) -> FirstDays:
    """One grouped pass over the scope's history up to the end of the scorecard's whole period,
    kept in its memo: every bucket of the series reads it. If the pass failed (it timed out),
    the buckets fail at once rather than each try it again."""
    if FIRST_DAYS_FAILED in ctx.memo:
        raise RuntimeError(f"the members' first active days could not be read: {ctx.memo[FIRST_DAYS_FAILED]}")
    bound = max(ctx.memo[FIRST_DAYS_BOUND], ctx.period_to.date().isoformat())
    kept = ctx.memo.get(FIRST_DAYS)
    if kept is None or kept.bound < bound:
        try:
            counts = await ctx.rows(
                "SELECT first_day, COUNT(*) FROM (SELECT MIN(day) AS first_day FROM member_days WHERE {scope} "
                "AND day < :bound AND active > 0 GROUP BY member_id) f GROUP BY first_day ORDER BY first_day",
                bound=bound)
        except BaseException as exc:  # a timeout cancels the task: CancelledError is not an Exception
            ctx.memo[FIRST_DAYS_FAILED] = type(exc).__name__
            raise
        kept = ctx.memo[FIRST_DAYS] = FirstDays(bound, counts)
    return kept


async def ambassadors(ctx: MetricContext) -> MetricResult:
    return MetricResult(float((await _members(ctx))[1]))


async def after_campaign_activity(ctx: MetricContext) -> MetricResult:
    ends = ctx.campaign_ends_at
    if not ctx.campaign_id or ends is None:
        return MetricResult(None)
    start = ends.date() if ends.time() == ends.time().min else ends.date() + timedelta(days=1)
    value = await ctx.scalar("SELECT SUM(active) FROM rollups WHERE {scope} AND day >= :a AND day < :b",
                             a=start.isoformat(), b=(start + timedelta(days=30)).isoformat())
    return MetricResult(float(value or 0))


def _m(name: str, family: Any, unit: str, description: str, formula: str, compute: Compute) -> Metric:
    return Metric(name=name, family=family, unit=unit, description=description, formula=formula, compute=compute)


METRICS = [
    _m("followers_gained", "vanity", "accounts", "New followers, net of those who left.",
       "count(member follow) - count(member unfollow)", followers_gained),
    _m("impressions", "vanity", "impressions", "How often content was shown.", "sum(value) of impression",
       _count(("impression",), column="value")),
    _m("views", "vanity", "views", "How often content was viewed.", "sum(value) of view",
       _count(("view",), column="value")),
    _m("likes", "vanity", "likes", "Likes, from anyone.", "count(like)", _count(("like",))),
    _m("applause_rate", "vanity", "likes per brand post", "Member likes for each brand post.",
       "count(member like) / count(brand post)", _rate(("n", ("like",), "member"), BRAND_POSTS)),
    _m("conversation_rate", "relationship", "replies per brand post",
       "Member replies and comments for each brand post.", "count(member reply, comment) / count(brand post)",
       _rate(("n", REPLIES, "member"), BRAND_POSTS)),
    _m("amplification_rate", "relationship", "shares per brand post", "Member shares for each brand post.",
       "count(member share) / count(brand post)", _rate(("n", ("share",), "member"), BRAND_POSTS)),
    _m("reply_back_rate", "relationship", "ratio", "Share of member messages the brand answered.",
       "messages with a brand event in reply / messages", _rate(("answered", (), None), ("message", (), None))),
    _m("median_response_minutes", "relationship", "minutes",
       "Median time from a member message to the brand's first reply, over answered messages.",
       "median(first brand reply time - message time)", median_response_minutes),
    _m("active_members", "relationship", "members", "Distinct members who took part.",
       "distinct members with a reply, comment, share, mention, post, question, answer or vote (or an event "
       "of a plugin's kind registered active)", active_members),
    _m("returning_members", "relationship", "members", "Active members who had also been active before the period.",
       "distinct active members also active before from", returning_members),
    _m("member_to_member_share", "relationship", "ratio", "Share of member replies that answer another member.",
       "member replies, comments, answers to another member's event / all member replies, comments, answers",
       _rate(("m2m_reply", (), None), ("m_reply", (), None))),
    _m("community_care_share", "relationship", "ratio",
       "Share of answered member questions whose first answer came from another member.",
       "questions first answered by another member / questions that got an answer",
       _rate(("q_community", (), None), ("q_answered", (), None))),
    _m("thanks", "relationship", "events", "Member events that thank.", "count(member event flagged thanks)",
       _count((), column="thanks")),
    _m("ambassadors", "relationship", "members",
       "Unpaid members with at least 3 positive mentions, posts or shares, or 2 answers to other members' questions.",
       "distinct unpaid members with positive amplification >= 3 or answers to others' questions >= 2", ambassadors),
    _m("ugc_posts", "relationship", "posts", "Posts members made.", "count(member post)",
       _count(("post",), "member")),
    _m("after_campaign_activity", "relationship", "events",
       "Member activity on the campaign in the 30 days after it ended (campaign scope only).",
       "count(member active events of the campaign on the 30 whole UTC days after its last: from the day after "
       "ends_at, or ends_at's own day when it ends at midnight; whatever the period)", after_campaign_activity),
    _m("pull_index", "pushpull", "ratio", "Share of threads that members started.",
       "threads started by members / all threads started (post, question or mention without in_reply_to)",
       _rate(("thread_start", (), "member"), ("thread_start", (), None))),
    _m("megaphone_index", "pushpull", "ratio", "Share of member texts that copy the campaign's kit message.",
       "member posts, shares, mentions with kit similarity >= 0.8 / those with text",
       _rate(("mega_copy", (), None), ("mega_text", (), None))),
]


@hookimpl
def register_metrics(register: Callable[[Metric], None]) -> None:
    for metric in METRICS:
        register(metric)
