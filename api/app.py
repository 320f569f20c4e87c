"""The application factory: settings and database are built here, at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.routes import HTTPRoute

from tribeops.core.jobs import JobQueue
from tribeops.core.runner import InProcessRunner
from tribeops.core.runtime import Runtime
from tribeops.core.settings import Settings

from . import openapi
from .auth import authorize, provide_caller, provide_state
from .controllers.brands import BrandController
from .controllers.campaigns import CampaignController
from .controllers.connections import ConnectionController, WebhookController
from .controllers.events import EventController
from .controllers.health import healthz, readyz
from .controllers.jobs import JobController
from .controllers.keys import ApiKeyController
from .controllers.scorecards import ScorecardController
from .controllers.members import MemberController, TribeMemberController
from .controllers.plugins import PluginController
from .controllers.tribes import TribeController
from .problems import EXCEPTION_HANDLERS
from .request import TribeopsRequest, check_request
from .state import AppState


def create_app(settings: Settings | None = None, plugins: Sequence[Any] = (), queue: JobQueue | None = None,
               run_jobs: bool | None = None) -> Litestar:
    """A tribeops API app. ``settings`` default to the environment, read now; ``plugins`` are
    plugin objects registered beside the discovered ones (for tests and embedding).

    ``queue`` wakes the workers (arq on Redis, given by the ``tribeops`` command). Without
    one, jobs run in this process, so the embedded default needs no Redis and no worker;
    ``run_jobs=False`` turns that off (jobs then wait for a worker's sweep).
    """
    settings = settings or Settings.from_env()
    runtime = Runtime.create(settings, plugins=plugins)  # plugin clashes stop start-up here
    runner = InProcessRunner(runtime.db, runtime.check_metrics, stale=settings.job_stale_seconds,
                             at_once=settings.in_process_jobs, work=runtime.run_job) if queue is None else None
    run_here = runner is not None and (run_jobs if run_jobs is not None else True)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        if run_here and runner is not None:
            await runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            await runtime.close()

    v1 = Router(
        path="/v1",
        route_handlers=[BrandController, TribeController, TribeMemberController, CampaignController, EventController,
                        MemberController, ConnectionController,
                        WebhookController, JobController, ScorecardController, PluginController, ApiKeyController],
        guards=[authorize],
        dependencies={"caller": Provide(provide_caller)},
    )
    app = Litestar(
        route_handlers=[healthz, readyz, v1],
        dependencies={"runtime": Provide(provide_state)},
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=TribeopsRequest,
        before_request=check_request,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi.config(),
        debug=False,
        logging_config=None,
    )
    _complete_allow_headers(app)
    app.state.tribeops = AppState(runtime, queue or runner)  # type: ignore[arg-type]
    app.state.openapi_document = openapi.document(app)
    return app


def _complete_allow_headers(app: Litestar) -> None:
    """Make each automatic OPTIONS answer list every method of its path.

    Litestar 2 creates a path's OPTIONS handler along with the path's first handler and never
    updates it, so ``Allow`` names that one method only (litestar#4169, fixed in Litestar 3).
    The handler reads the methods of the route it closes over: point it at the finished route.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        fn = route.route_handler_map["OPTIONS"][0].fn
        if getattr(fn, "__name__", "") == "options_handler" and fn.__code__.co_freevars == ("self",):
            fn.__closure__[0].cell_contents = route  # type: ignore[index]
