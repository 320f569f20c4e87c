"""The relational schema. Every row carries its workspace; every query filters on it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored as UTC on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _ws() -> sa.Column[str]:
    return sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False)


def _stamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("cursor_secret", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _ws(),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("scopes", JSON, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Index(None, "workspace_id", "id"),
)

brands = sa.Table(
    "brands",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _ws(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("identity", JSON, nullable=False),
    sa.Column("handles", JSON, nullable=False),
    *_stamps(),
    sa.Index(None, "workspace_id", "id"),
)

tribes = sa.Table(
    "tribes",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _ws(),
    sa.Column("brand_id", sa.String(32), sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("strategy", JSON, nullable=False),
    sa.Column("rules", JSON, nullable=False),
    *_stamps(),
    sa.Index(None, "workspace_id", "id"),
    sa.Index(None, "workspace_id", "brand_id", "id"),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _ws(),
    sa.Column("brand_id", sa.String(32), sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("brief", JSON, nullable=False),
    sa.Column("kit_message", sa.Text(), nullable=True),
    sa.Column("hashtags", JSON, nullable=False),
    sa.Column("keywords", JSON, nullable=False),
    sa.Column("networks", JSON, nullable=False),
    sa.Column("targets", JSON, nullable=False),
    sa.Column("starts_at", UTCDateTime(), nullable=True),
    sa.Column("ends_at", UTCDateTime(), nullable=True),
    *_stamps(),
    sa.Index(None, "workspace_id", "id"),
    sa.Index(None, "workspace_id", "brand_id", "id"),
)

# The tribes a campaign speaks to (its brief's ``to_whom``), kept as rows so campaigns filter by tribe.
campaign_tribes = sa.Table(
    "campaign_tribes",
    metadata,
    _ws(),
    sa.Column("campaign_id", sa.String(32), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tribe_id", sa.String(32), sa.ForeignKey("tribes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Index(None, "workspace_id", "tribe_id"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    _ws(),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=False),
    sa.Column("body", sa.LargeBinary(), nullable=False),
    sa.Column("location", sa.String(500), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "key"),
    sa.Index(None, "created_at"),
)

# A person across networks. Identities (network + account id) point at a member; merging
# two members moves the identities of one onto the other.
members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _ws(),
    sa.Column("merged_into", sa.String(32), nullable=True),
    *_stamps(),
    sa.Index(None, "workspace_id", "id"),
)

member_identities = sa.Table(
    "member_identities",
    metadata,
    _ws(),
    sa.Column("network", sa.String(32), nullable=False),
    sa.Column("external_id", sa.String(200), nullable=False),
    sa.Column("member_id", sa.String(32), nullable=False),
    sa.Column("handle", sa.String(100), nullable=True),
    sa.Column("profile", JSON, nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "network", "external_id"),
    sa.Index(None, "workspace_id", "member_id"),
)

# KPI events. ``seq`` orders events by arrival (the aggregation watermark); (workspace, id)
# is the client's dedupe key, forever.
events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("id", sa.String(200), nullable=False),
    sa.Column("brand_id", sa.String(32), nullable=False),
    sa.Column("campaign_id", sa.String(32), nullable=True),
    sa.Column("tribe_id", sa.String(32), nullable=True),
    sa.Column("network", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("origin", sa.String(8), nullable=False),
    sa.Column("paid", sa.Boolean(), nullable=False),
    # Whether its kind counts as taking part (the built-in ones, and a plugin's registered
    # ``active``), decided when it is stored, like ``paid`` and ``origin``.
    sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("member_id", sa.String(32), nullable=False),
    sa.Column("actor_id", sa.String(200), nullable=False),
    sa.Column("actor_handle", sa.String(100), nullable=True),
    sa.Column("conversation_id", sa.String(200), nullable=True),
    sa.Column("post_id", sa.String(200), nullable=True),
    sa.Column("in_reply_to", sa.String(200), nullable=True),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("text", sa.Text(), nullable=True),
    sa.Column("attrs", JSON, nullable=False),
    sa.Column("enrichment", JSON, nullable=False),
    sa.Column("enrichment_errors", JSON, nullable=True),
    sa.Column("kit_similarity", sa.Float(), nullable=True),
    sa.Column("ingested_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("workspace_id", "id"),
    sa.Index(None, "workspace_id", "brand_id", "occurred_at"),
    sa.Index(None, "workspace_id", "post_id"),
)

# A brand's account on a network, with each stream's checkpointed cursor in ``state``.
connections = sa.Table(
    "connections",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _ws(),
    sa.Column("brand_id", sa.String(32), sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    sa.Column("network", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("config", JSON, nullable=False),
    sa.Column("state", JSON, nullable=False),
    # Minutes between automatic syncs; null: only when asked for (see jobs.schedule_syncs).
    sa.Column("sync_every_minutes", sa.Integer(), nullable=True),
    *_stamps(),
    sa.Index(None, "workspace_id", "id"),
)

# Who belongs to which tribe. ``source``: ``rule`` (matched at ingest), ``manual`` (added
# through the API) or ``excluded`` (removed through the API: rules will not add them back).
# An event counts for its member's manual tribes, and for the rule tribes they had joined by
# the time the event came in (``created_at`` <= the event's ``ingested_at``).
tribe_members = sa.Table(
    "tribe_members",
    metadata,
    _ws(),
    sa.Column("tribe_id", sa.String(32), sa.ForeignKey("tribes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("member_id", sa.String(32), nullable=False),
    sa.Column("source", sa.String(10), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tribe_id", "member_id"),
    sa.Index(None, "workspace_id", "member_id"),
)

sa.Index("ix_events_workspace_id_member_id", events.c.workspace_id, events.c.member_id)
sa.Index("ix_events_brand_id_seq", events.c.brand_id, events.c.seq)
sa.Index("ix_events_workspace_id_in_reply_to", events.c.workspace_id, events.c.in_reply_to)
# A brand's campaign events that can copy a kit message, in ``seq`` order: what a rebuild
# measures against the kit messages (see ``aggregate.refresh_similarities``), read without
# walking the rest of the brand.
KIT_COPIES = "campaign_id IS NOT NULL AND kind IN ('post', 'share', 'mention')"
sa.Index("ix_events_kit_copies", events.c.brand_id, events.c.seq,
         sqlite_where=sa.text(KIT_COPIES), postgresql_where=sa.text(KIT_COPIES))

# Aggregation state per brand. Ingest locks the row (``pending``) before it inserts events,
# and aggregation locks it while it reads up to the newest ``seq``: no event can commit
# below a watermark that was already passed.
agg_state = sa.Table(
    "agg_state",
    metadata,
    _ws(),
    sa.Column("brand_id", sa.String(32), primary_key=True),
    sa.Column("watermark", sa.BigInteger(), nullable=False),
    sa.Column("pending", sa.Integer(), nullable=False),
    sa.Column("fresh_as_of", UTCDateTime(), nullable=True),
    sa.Column("touched_at", UTCDateTime(), nullable=True),
    # Past events changed in a way left to a rebuild (a merge or tribe edit too large to
    # restate at once, see aggregate.restating): the next run is a rebuild.
    sa.Column("rebuild", sa.Integer(), nullable=False, server_default="0"),
    # Bumped by every ingest and by what calls for a rebuild: a run that sees it moved leaves work pending.
    sa.Column("touches", sa.BigInteger(), nullable=False, server_default="0"),
    # Bumped by what calls for a rebuild only: a rebuild that sees it moved leaves the rebuild due.
    sa.Column("restates", sa.BigInteger(), nullable=False, server_default="0"),
    # Bumped by every new kit message of the brand's campaigns; the next run measures the past
    # posts, shares and mentions against them (see aggregate.refresh_similarities) and takes
    # off what it saw: more left means a kit changed meanwhile.
    sa.Column("kit_changes", sa.BigInteger(), nullable=False, server_default="0"),
)

FACT_FLAGS = ("n", "paid", "message", "answered", "thread_start", "m_reply", "m2m_reply", "q_answered",
              "q_community", "thanks", "positive_amp", "answer_other_q", "mega_text", "mega_copy", "active")
MEMBER_SUMS = ("active", "positive_amp", "answer_other_q")

# What an event with conversation links (answered, replies between members, answered
# questions) means for the metrics, once per tribe it counts for (tribe "*" = counted once,
# whatever the tribes). Recomputed when the event, a parent or a child arrives; events
# without links have no row (their facts go straight into the rollups).
event_facts = sa.Table(
    "event_facts",
    metadata,
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("tribe", sa.String(32), nullable=False),
    sa.Column("workspace_id", sa.String(32), nullable=False),
    sa.Column("brand_id", sa.String(32), nullable=False),
    sa.Column("campaign", sa.String(32), nullable=False),
    sa.Column("network", sa.String(32), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("origin", sa.String(8), nullable=False),
    sa.Column("member_id", sa.String(32), nullable=False),
    *[sa.Column(name, sa.Integer(), nullable=False) for name in FACT_FLAGS],
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("response_minutes", sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint("seq", "tribe"),
    sa.Index(None, "brand_id", "tribe", "day"),
)

ROLLUP_SUMS = ("n", "value", "message", "answered", "thread_start", "m_reply", "m2m_reply", "q_answered",
               "q_community", "thanks", "mega_text", "mega_copy", "active")

# Sums per (brand, campaign, tribe, network, day, kind, origin), kept by deltas of the facts.
# Keyed brand, tribe and day first: a scorecard reads a scope's period as one range.
rollups = sa.Table(
    "rollups",
    metadata,
    sa.Column("brand_id", sa.String(32), nullable=False),
    sa.Column("campaign", sa.String(32), nullable=False),
    sa.Column("tribe", sa.String(32), nullable=False),
    sa.Column("network", sa.String(32), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("origin", sa.String(8), nullable=False),
    sa.Column("workspace_id", sa.String(32), nullable=False),
    *[sa.Column(name, sa.Float() if name == "value" else sa.BigInteger(), nullable=False) for name in ROLLUP_SUMS],
    sa.PrimaryKeyConstraint("brand_id", "tribe", "day", "campaign", "network", "kind", "origin"),
)

# Member activity per (brand, campaign, tribe, network, day, member), kept and keyed the same way.
# On SQLite its rows are stored in the key's order, in the key's own tree (no rowid): about as
# many rows as the active events, written and read once rather than in a table and its key.
member_days = sa.Table(
    "member_days",
    metadata,
    sa.Column("brand_id", sa.String(32), nullable=False),
    sa.Column("campaign", sa.String(32), nullable=False),
    sa.Column("tribe", sa.String(32), nullable=False),
    sa.Column("network", sa.String(32), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("member_id", sa.String(32), nullable=False),
    sa.Column("workspace_id", sa.String(32), nullable=False),
    *[sa.Column(name, sa.BigInteger(), nullable=False) for name in MEMBER_SUMS],
    sa.PrimaryKeyConstraint("brand_id", "tribe", "day", "campaign", "network", "member_id"),
    sqlite_with_rowid=False,
)

# Jobs live in the database (Redis only carries wake-ups), so none is lost with a worker.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _ws(),
    sa.Column("kind", sa.String(64), nullable=False),
    # What the job's runs take turns on (one running at a time): its brand for the scorecard
    # jobs, its connection for a sync, which need not wait for the brand's aggregations.
    sa.Column("subject", sa.String(32), nullable=True),
    sa.Column("brand_id", sa.String(32), nullable=True),
    sa.Column("params", JSON, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
    # The process running it, as "host:pid:started" (see jobs.this_process): one that is gone
    # from this host, or whose pid another process has since, is known at once, without waiting
    # for its heartbeat to go stale.
    sa.Column("owner", sa.String(300), nullable=True),
    sa.Column("result", JSON, nullable=True),
    sa.Column("errors", JSON, nullable=True),
    sa.Index(None, "workspace_id", "id"),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "subject", "status"),
    sa.Index(None, "brand_id", "status"),
    # The sweep forgets finished jobs by when they finished, at each tick: through this, it
    # reads only those old enough, not every job kept.
    sa.Index(None, "status", "finished_at"),
)
