"""The app as ``tribeops serve`` runs it: the API, waking arq workers when Redis is configured."""

from __future__ import annotations

from litestar import Litestar

from tribeops.api.app import create_app as create_api
from tribeops.core.settings import Settings
from tribeops.workers.queue import ArqQueue

from .process import tune_gc


def create_app() -> Litestar:
    settings = Settings.from_env()
    queue = ArqQueue(settings.redis_url) if settings.redis_url else None
    app = create_api(settings, queue=queue)
    tune_gc()
    return app
