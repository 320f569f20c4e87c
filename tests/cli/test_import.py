"""``tribeops events import``: the whole file through ingestion, rejected lines set aside."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tribeops.core.db import Database
from tribeops.core.migrate import upgrade
from tribeops.core.schemas.brands import BrandCreate
from tribeops.core.services.brands import BrandService
from tribeops.core.services.workspaces import ensure_workspace
from tribeops.core.settings import Settings
from tribeops.testing.events import EventBuilder


def _brand(url: str) -> str:
    async def run() -> str:
        db = Database.from_settings(Settings(database_url=url))
        async with db.transaction() as conn:
            caller = await ensure_workspace(conn, "agency")
            brand = await BrandService(conn, caller).create(BrandCreate(name="Acme"))
        await db.dispose()
        return brand.id

    return asyncio.run(run())


def test_import_counts_rejects_and_is_safe_to_rerun(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'i.db'}"
    upgrade(url)
    ev = EventBuilder(_brand(url))
    lines = [json.dumps(ev.like()) for _ in range(1200)]
    lines[10] = "{not json"
    lines[20] = json.dumps({**ev.like(), "kind": "teleport"})
    lines.append(lines[0])
    source = tmp_path / "events.ndjson"
    source.write_text("\n".join(lines) + "\n\n")
    command = [sys.executable, "-m", "tribeops.cli.main", "events", "import", str(source), "--workspace", "agency"]
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": url}
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "1201 lines: 1198 accepted, 1 duplicates, 2 rejected" in first.stderr
    rejected = [json.loads(line) for line in (tmp_path / "events.ndjson.rejected.ndjson").read_text().splitlines()]
    assert [(r["line"], r["errors"][0]["pointer"]) for r in rejected] == [(11, ""), (21, "/kind")]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert "0 accepted, 1199 duplicates, 2 rejected" in again.stderr


def test_a_large_import_refreshes_the_statistics_of_postgresql(tmp_path: Path, database_url: str,
                                                               monkeypatch: Any) -> None:
    from tribeops.core import importer
    from tribeops.core.runtime import Runtime

    monkeypatch.setattr(importer, "ANALYZE_AFTER", 3)  # 10,000 in earnest

    async def run() -> tuple[Any, Any, int]:
        runtime = Runtime.create(Settings(database_url=database_url))
        try:
            async with runtime.db.transaction() as conn:
                caller = await ensure_workspace(conn, f"import-{tmp_path.name}")
                brand = await BrandService(conn, caller).create(BrandCreate(name="Acme"))
            source = tmp_path / "events.ndjson"
            ev = EventBuilder(brand.id)
            source.write_text("\n".join(json.dumps(ev.like()) for _ in range(3)) + "\n")

            async def analysed() -> Any:
                async with runtime.db.reading() as conn:
                    return (await conn.exec_driver_sql(
                        "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'events'")).scalar()

            before = await analysed()
            summary = await importer.import_file(runtime, caller, source)
            return before, await analysed(), summary.accepted
        finally:
            await runtime.close()

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite plans its queries without statistics: nothing to refresh")
    before, after, accepted = asyncio.run(run())
    assert accepted == 3 and after is not None and (before is None or after > before)
