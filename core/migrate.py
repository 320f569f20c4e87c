"""Apply the Alembic migrations programmatically (``tribeops db upgrade``, ``tribeops serve``)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Safe to call on an up-to-date database."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(url), revision)
        return
    # Alembic's env runs its own event loop; from inside a running loop, give it a thread.
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(errors, url, revision))
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _capture(errors: list[BaseException], url: str, revision: str) -> None:
    try:
        command.upgrade(alembic_config(url), revision)
    except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
        errors.append(exc)
