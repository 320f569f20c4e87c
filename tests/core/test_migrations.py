"""The migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tribeops.core.db import create_engine
from tribeops.core.tables import metadata


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
