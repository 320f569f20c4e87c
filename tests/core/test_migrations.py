"""The migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tribeops.core.db import create_engine
from tribeops.core.migrate import upgrade
from tribeops.core.tables import member_days, metadata


def _diff(url: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": False}),
                                              metadata))
        await engine.dispose()
        return list(diff)

    return asyncio.run(run())


def test_migrated_database_matches_the_tables(database_url: str) -> None:
    assert _diff(database_url) == []


def test_primary_keys_have_the_declared_column_order(database_url: str) -> None:
    """Compared apart: autogenerate does not see a key's column order, which decides what a
    range read of a scorecard's period can use (rollups and member-days)."""
    import sqlalchemy as sa

    async def run() -> dict[str, list[str]]:
        engine = create_engine(database_url)
        async with engine.connect() as conn:
            keys = await conn.run_sync(lambda sync: {
                name: sa.inspect(sync).get_pk_constraint(name)["constrained_columns"] for name in metadata.tables})
        await engine.dispose()
        return keys

    declared = {name: [c.name for c in table.primary_key.columns] for name, table in metadata.tables.items()}
    assert asyncio.run(run()) == declared
    assert declared["member_days"][:3] == ["brand_id", "tribe", "day"]


def test_an_undeclared_change_is_detected(database_url: str) -> None:
    import sqlalchemy as sa

    extra = sa.Table("not_migrated", metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        assert any(d[0] == "add_table" for d in _diff(database_url))
    finally:
        metadata.remove(extra)


@pytest.mark.parametrize("name", ["TRIBEOPS_KEY_CACHE_SECONDS"])
def test_settings_from_env(name: str) -> None:
    from tribeops.core.settings import Settings

    assert Settings.from_env({name: "2.5"}).key_cache_seconds == 2.5
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: "soon"})


@pytest.mark.parametrize(("name", "raw", "problem"), [
    ("TRIBEOPS_JOB_STALE_SECONDS", "0", "must be greater than 0"),
    ("TRIBEOPS_JOB_STALE_SECONDS", "-30", "must be greater than 0"),
    ("TRIBEOPS_JOB_STALE_SECONDS", "nan", "is not a finite number"),
    ("TRIBEOPS_MAX_BODY_BYTES", "0", "must be greater than 0"),
    ("TRIBEOPS_KEY_CACHE_SECONDS", "-1", "must be at least 0"),
    ("TRIBEOPS_IN_PROCESS_JOBS", "0", "must be greater than 0"),
])
def test_settings_refuse_numbers_out_of_range_naming_the_variable(name: str, raw: str, problem: str) -> None:
    from tribeops.core.settings import Settings

    with pytest.raises(ValueError, match=f"{name}: '{raw}' {problem}"):
        Settings.from_env({name: raw})
    assert Settings.from_env({"TRIBEOPS_KEY_CACHE_SECONDS": "0"}).key_cache_seconds == 0
    assert Settings.from_env({"TRIBEOPS_IN_PROCESS_JOBS": "3"}).in_process_jobs == 3


def test_sqlite_identities_bring_their_members_and_the_downgrade_takes_that_back(tmp_path: Any) -> None:
    import sqlite3

    from alembic import command

    from tribeops.core.migrate import alembic_config, upgrade

    path = tmp_path / "t.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)

    def identity(external_id: str, member_id: str) -> list[Any]:
        with sqlite3.connect(path) as conn:
            conn.execute("INSERT INTO member_identities (workspace_id, network, external_id, member_id, handle, "
                         "profile, first_seen_at, last_seen_at) VALUES ('wsp_1', 'x', ?, ?, NULL, '{}', "
                         "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')", (external_id, member_id))
            return conn.execute("SELECT id, workspace_id, merged_into, created_at FROM members ORDER BY id").fetchall()

    new = ("mbr_1", "wsp_1", None, "2026-01-01 00:00:00.000000")
    assert identity("1", "mbr_1") == [new]
    assert identity("2", "mbr_1") == [new]  # a second identity of a member adds no member
    command.downgrade(alembic_config(url), "0006")
    assert identity("3", "mbr_3") == [new]
    upgrade(url)
    assert identity("4", "mbr_4") == [new, ("mbr_4", "wsp_1", None, "2026-01-01 00:00:00.000000")]


def test_member_days_have_no_rowid_on_sqlite_and_keep_their_rows_both_ways(tmp_path: Path) -> None:
    """Declared on the table (``sqlite_with_rowid``), which autogenerate does not compare: the
    rows live in their key's tree, with no table and key index beside each other. Migration
    0011 rewrites the table with its rows, and its downgrade gives the rowid back."""
    from alembic import command

    from tribeops.core.migrate import alembic_config

    url, path = f"sqlite+aiosqlite:///{tmp_path / 'tribeops.db'}", tmp_path / "tribeops.db"
    row = ("brd_1", "", "*", "x", "2026-03-02", "mbr_1", "wsp_1", 1, 0, 2)

    def made() -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
        with sqlite3.connect(path) as conn:
            return (conn.execute("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'member_days'").fetchall(),
                    conn.execute("SELECT brand_id, campaign, tribe, network, day, member_id, workspace_id, active, "
                                 "positive_amp, answer_other_q FROM member_days").fetchall())

    upgrade(url, "0010")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO member_days (brand_id, campaign, tribe, network, day, member_id, workspace_id, "
                     "active, positive_amp, answer_other_q) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    upgrade(url)
    (kind, sql), = made()[0]  # the table alone: no index of its key beside it
    assert kind == "table" and sql.rstrip().endswith("WITHOUT ROWID") and made()[1] == [row]
    assert member_days.dialect_options["sqlite"]["with_rowid"] is False  # as declared
    command.downgrade(alembic_config(url), "0010")
    schema, rows = made()
    table = next(sql for kind, sql in schema if kind == "table")
    assert sorted(kind for kind, _ in schema) == ["index", "table"] and "WITHOUT ROWID" not in table
    assert rows == [row]
