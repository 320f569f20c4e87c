"""The CLI as a newcomer uses it: keys, migrations, first run of serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TRIBEOPS = [sys.executable, "-m", "tribeops.cli.main"]


def _run(args: list[str], db: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    return subprocess.run(TRIBEOPS + args, env=env, capture_output=True, text=True, timeout=120, **kwargs)


def test_keys_create_prints_only_the_key_and_it_works(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    result = _run(["keys", "create", "--workspace", "a", "--scope", "admin"], db)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("tro_") and len(result.stdout.splitlines()) == 1
    other = _run(["keys", "create", "--workspace", "a", "--scope", "read", "--scope", "ingest"], db).stdout.strip()
    assert other != key


def test_keys_create_refuses_unknown_scopes(tmp_path: Path) -> None:
    result = _run(["keys", "create", "--workspace", "a", "--scope", "root"], tmp_path / "t.db")
    assert result.returncode == 2 and "root" in result.stderr


def test_db_upgrade_is_repeatable(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert _run(["db", "upgrade"], db).returncode == 0
    assert _run(["db", "upgrade"], db).returncode == 0
    assert db.exists()


def test_db_backup_copies_a_consistent_database_and_never_overwrites(tmp_path: Path) -> None:
    import sqlite3

    db, copy = tmp_path / "t.db", tmp_path / "backup.db"
    assert _run(["keys", "create", "--workspace", "a", "--scope", "admin"], db).returncode == 0
    # A write still in the log (as while serving), not yet in the database file.
    live = sqlite3.connect(db)
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute("UPDATE workspaces SET name = 'renamed'")
    live.commit()
    result = _run(["db", "backup", str(copy)], db)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(copy) as backup:
        assert backup.execute("SELECT name FROM workspaces").fetchall() == [("renamed",)]
        assert backup.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)
    live.close()
    again = _run(["db", "backup", str(copy)], db)
    assert again.returncode == 1 and "already exists" in again.stderr
    missing = _run(["db", "backup", str(tmp_path / "other.db")], tmp_path / "nothere.db")
    assert missing.returncode == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "nothere.db").exists() and not (tmp_path / "other.db").exists()
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/test"}
    elsewhere = subprocess.run(TRIBEOPS + ["db", "backup", str(tmp_path / "pg.db")], env=env, capture_output=True,
                               text=True, timeout=120)
    assert elsewhere.returncode == 1 and "pg_dump" in elsewhere.stderr


def test_bad_settings_are_named(tmp_path: Path) -> None:
    env = {**os.environ, "TRIBEOPS_MAX_BODY_BYTES": "lots"}
    result = subprocess.run(TRIBEOPS + ["db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "TRIBEOPS_MAX_BODY_BYTES" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_creates_the_default_workspace_once_and_prints_its_key(tmp_path: Path) -> None:
    db, port = tmp_path / "serve.db", _free_port()
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    proc = subprocess.Popen(TRIBEOPS + ["serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        key = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip().startswith("tro_"):
                key = line.strip()
                break
        assert key, "serve printed no key on first start"
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        created = httpx.post(f"http://127.0.0.1:{port}/v1/brands", json={"name": "Acme"}, headers=headers)
        assert created.status_code == 201
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    second = _run(["keys", "create", "--workspace", "default", "--scope", "read"], db)
    assert second.returncode == 0
    again = subprocess.Popen(TRIBEOPS + ["serve", "--port", str(_free_port())], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    time.sleep(3)
    again.terminate()
    out, _ = again.communicate(timeout=30)
    assert "tro_" not in out


def test_the_server_process_freezes_start_up_objects_and_collects_young_ones_in_larger_rounds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from tribeops.cli import app, process

    before = gc.get_threshold()
    monkeypatch.setenv("TRIBEOPS_DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    try:
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        app.create_app()
        assert gc.get_threshold() == (process.YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 1000  # modules, the app, the plugins
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
