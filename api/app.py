"""The application factory: settings and database are built here, at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.di import Provide

from tribeops.core.db import Database
from tribeops.core.settings import Settings

from . import openapi
from .auth import authorize, provide_caller, provide_state
from .controllers.brands import BrandController
from .controllers.campaigns import CampaignController
from .controllers.health import healthz, readyz
from .controllers.keys import ApiKeyController
from .controllers.tribes import TribeController
from .problems import EXCEPTION_HANDLERS
from .request import TribeopsRequest
from .state import AppState


def create_app(settings: Settings | None = None) -> Litestar:
    """A tribeops API app. ``settings`` default to the environment, read now."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = Database.from_settings(settings)
        app.state.tribeops = AppState(settings, db)
        try:
            yield
        finally:
            await db.dispose()

    v1 = Router(
        path="/v1",
        route_handlers=[BrandController, TribeController, CampaignController, ApiKeyController],
        guards=[authorize],
        dependencies={"caller": Provide(provide_caller)},
    )
    app = Litestar(
        route_handlers=[healthz, readyz, v1],
        dependencies={"runtime": Provide(provide_state)},
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=TribeopsRequest,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi.config(),
        debug=False,
        logging_config=None,
    )
    app.state.openapi_document = openapi.document(app)
    return app
