"""``tribeops plugins new NAME``: a plugin package whose tests pass as soon as it is installed.

The package is a working example rather than an empty shell (one metric, one enricher, and
tests that exercise both through a real app), because a plugin author learns the contract
fastest by changing something that already runs. Templates are kept here as strings so
the command needs no package data.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
MAX_NAME = 40
"""Names become metric names (``<name>_question_rate``), which tribeops caps at 64 characters."""

PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "tribeops-__NAME__"
version = "0.1.0"
description = "A tribeops plugin: one relationship metric and one enricher."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["tribeops>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# How tribeops finds the plugin: the entry point's name is the plugin's name.
[project.entry-points.tribeops]
__NAME__ = "tribeops___IDENT__"

[tool.setuptools]
packages = ["tribeops___IDENT__"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

PACKAGE = '''"""tribeops-__NAME__: a tribeops plugin with one metric and one enricher.

tribeops finds this module through the ``tribeops`` entry point in pyproject.toml and calls
the ``@hookimpl`` functions below once at start-up. Import only from
``tribeops.core.plugin_api``: it is the part of tribeops that stays stable for plugins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tribeops.core.plugin_api import Enricher, Metric, MetricContext, MetricResult, Register, hookimpl, require_api

require_api("1.2")  # an older tribeops stops with a clear message instead of failing later

__version__ = "0.1.0"

QUESTION_FIELD = "__IDENT___question"
METRIC_NAME = "__IDENT___question_rate"

# {events}: the scorecard's scope (brand, and campaign, tribe, network when given) and period.
_CONVERSATION = """
    FROM {events} e
    WHERE e.origin = 'member' AND e.kind IN ('comment', 'reply', 'mention')"""
TOTAL_SQL = "SELECT COUNT(*)" + _CONVERSATION
QUESTIONS_SQL = TOTAL_SQL + " AND CAST(e.enrichment ->> '__IDENT___question' AS TEXT) IN ('true', '1')"


def flag_question(event: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the event's text asks something; events without text (likes, follows) ask nothing."""
    return {QUESTION_FIELD: "?" in (event.get("text") or "")}


async def question_rate(ctx: MetricContext) -> MetricResult:
    """Share of members' comments, replies and mentions that ask a question (None when there are none)."""
    total = await ctx.scalar(TOTAL_SQL)
    questions = await ctx.scalar(QUESTIONS_SQL)
    return MetricResult.ratio(float(questions or 0), float(total or 0))


@hookimpl
def register_metrics(register: Register[Metric]) -> None:
    register(Metric(
        name=METRIC_NAME,
        family="relationship",
        description="Share of members' comments, replies and mentions that ask the brand something.",
        formula="member comments, replies and mentions with a question / member comments, replies and mentions",
        unit="ratio",
        compute=question_rate,
    ))


@hookimpl
def register_enrichers(register: Register[Enricher]) -> None:
    register(Enricher(
        name="__IDENT___questions",
        description="Flags events whose text asks a question.",
        enrich=flag_question,
        fields={QUESTION_FIELD: "true when the text contains a question mark"},
        text_only=True,  # it reads only the text: not called for events without one
    ))
'''

TESTS = '''"""The plugin as tribeops runs it: installed, found through its entry point, never registered by hand.

The fixtures (tribeops_client, tribeops_headers, tribeops_settings, event_builder) come with
tribeops; each test gets an app on a fresh SQLite database.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from tribeops.core.db import Database
from tribeops.core.plugin_api import MetricResult
from tribeops.core.tables import events
from tribeops.testing.events import EventBuilder

from tribeops___IDENT__ import METRIC_NAME, QUESTION_FIELD, flag_question, question_rate

PLUGIN = "__NAME__"


class FakeContext:
    """Answers each ``scalar`` (or ``rows``) query from a list, recording it: a stand-in for tribeops' metric context."""

    brand_id = "brd_test"
    campaign_id = tribe_id = network = None
    period_from = datetime(2026, 3, 1, tzinfo=timezone.utc)
    period_to = datetime(2026, 4, 1, tzinfo=timezone.utc)

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.queries: list[tuple[str, dict[str, Any]]] = []
        self.memo: dict[str, Any] = {}

    async def scalar(self, sql: str, **params: Any) -> Any:
        self.queries.append((sql, params))
        return self.answers.pop(0)

    async def rows(self, sql: str, **params: Any) -> Any:
        return await self.scalar(sql, **params)  # the answer given is the list of rows


def _stored(settings: Any) -> dict[str, tuple[dict[str, Any], list[str] | None]]:
    """Each stored event's enrichment and enrichment errors, read from the test database."""
    async def read() -> dict[str, tuple[dict[str, Any], list[str] | None]]:
        db = Database.from_settings(settings)
        try:
            async with db.reading() as conn:
                rows = await conn.execute(sa.select(events.c.id, events.c.enrichment, events.c.enrichment_errors))
                return {row.id: (row.enrichment, row.enrichment_errors) for row in rows}
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    names = [ep.name for ep in importlib.metadata.entry_points(group="tribeops")]
    assert PLUGIN in names, "install the package first: pip install -e ."


def test_the_plugin_loads_and_registers_without_errors(tribeops_client: Any, tribeops_headers: dict[str, str]) -> None:
    response = tribeops_client.get("/v1/plugins", headers=tribeops_headers)
    assert response.status_code == 200, response.text
    plugin = {p["name"]: p for p in response.json()["data"]}[PLUGIN]
    assert plugin["errors"] == [] and plugin["builtin"] is False
    assert plugin["registered"] == {"enrichers": ["__IDENT___questions"], "metrics": [METRIC_NAME]}


def test_the_metric_is_in_the_catalogue_under_this_plugin(tribeops_client: Any,
                                                          tribeops_headers: dict[str, str]) -> None:
    response = tribeops_client.get("/v1/metrics", headers=tribeops_headers)
    metric = {m["name"]: m for m in response.json()["data"]}[METRIC_NAME]
    assert metric["plugin"] == PLUGIN and metric["family"] == "relationship" and metric["unit"] == "ratio"


def test_stored_events_carry_the_enrichers_field(tribeops_client: Any, tribeops_headers: dict[str, str],
                                                 tribeops_settings: Any, event_builder: EventBuilder) -> None:
    asking = event_builder.comment(actor="anna", text="Is the dark roast back in stock?")
    telling = event_builder.comment(actor="marco", text="Lovely roast")
    liking = event_builder.like(actor="sara")
    response = tribeops_client.post("/v1/events", json={"events": [asking, telling, liking]},
                                    headers=tribeops_headers)
    assert response.status_code == 200 and response.json()["accepted"] == 3, response.text
    stored = _stored(tribeops_settings)
    # A like has no text: the enricher (text_only) is not called for it, and adds nothing.
    assert [stored[e["id"]][0].get(QUESTION_FIELD) for e in (asking, telling, liking)] == [True, False, None]
    for _, errors in stored.values():
        assert not any(error.startswith(f"{PLUGIN}:") for error in errors or [])


def test_the_enricher_tolerates_events_without_text() -> None:
    assert flag_question({"kind": "follow"}) == {QUESTION_FIELD: False}
    assert flag_question({"kind": "comment", "text": None}) == {QUESTION_FIELD: False}


def test_the_metric_is_the_share_of_questions_in_the_conversation() -> None:
    context = FakeContext(8, 2)
    assert asyncio.run(question_rate(context)) == MetricResult(0.25, 2, 8)
    # The scorecard's scope and period come with {events}: nothing to pass.
    assert [("{events}" in sql, params) for sql, params in context.queries] == [(True, {})] * 2


def test_the_scorecard_shows_the_share_in_its_scope(tribeops_client: Any, tribeops_headers: dict[str, str],
                                                   tribeops_brand: dict[str, Any], tribeops_scorecard: Any) -> None:
    brand = tribeops_brand["id"]
    events_of = EventBuilder(brand, network="x", start=datetime(2026, 3, 2, tzinfo=timezone.utc))
    sent = [events_of.comment(actor="anna", text="Is the dark roast back?"),
            events_of.comment(actor="marco", text="Lovely roast"),
            events_of.comment(actor="sara", text="Any news?", network="instagram")]
    response = tribeops_client.post("/v1/events", json={"events": sent}, headers=tribeops_headers)
    assert response.status_code == 200 and response.json()["accepted"] == 3, response.text
    for scope, parts in (({}, (2, 3)), ({"network": "x"}, (1, 2))):
        card = tribeops_scorecard(brand, **{"from": "2026-03-01", "to": "2026-04-01"}, **scope)
        rate = {m["name"]: m for m in card["metrics"]}[METRIC_NAME]
        assert (rate["numerator"], rate["denominator"]) == parts and card["errors"] == []


def test_no_conversation_means_no_value_rather_than_zero() -> None:
    assert asyncio.run(question_rate(FakeContext(0, 0))).value is None
'''

README = '''# tribeops-__NAME__

A tribeops plugin: the metric `__IDENT___question_rate` (share of members'
comments, replies and mentions that ask a question) and the enricher `__IDENT___questions`, which
adds `__IDENT___question: true/false` to every event at ingest.

## Develop

```bash
python -m venv .venv && . .venv/bin/activate
pip install tribeops            # or: pip install -e /path/to/tribeops
pip install -e '.[test]'        # registers the `tribeops` entry point `__NAME__`
tribeops plugins list           # __NAME__ is listed with its metric and enricher
pytest                          # the fixtures come with tribeops
```

The code is in `tribeops___IDENT__/__init__.py`. Import only from `tribeops.core.plugin_api`;
`require_api("1.2")` stops an incompatible tribeops with a clear message. Rename the metric
and the enricher, change what they compute, and keep the tests in `tests/` in step.

## Test

`tests/test___IDENT__.py` uses the fixtures tribeops ships: `tribeops_client` (an app with every
installed plugin loaded, on a fresh SQLite database), `tribeops_headers` (an admin key),
`tribeops_brand` and `event_builder` (realistic events for that brand), and `tribeops_scorecard`
(a brand's scorecard, its aggregates rebuilt first: your metric as production computes it).
Metric `compute` functions are also tested with a fake context that answers their SQL queries.

## Run

Installed next to tribeops, the plugin loads with every API process and worker.
`TRIBEOPS_DISABLE_PLUGINS=__NAME__` skips it; `TRIBEOPS_LOAD_PLUGINS` lists the only
third-party plugins to load. A failing enricher never costs an event: the error is recorded
on the event and shown under the plugin in `GET /v1/plugins`.
'''


def check_name(name: str) -> str:
    """``name`` itself if it can name a plugin, its entry point and its package; else ``ValueError``."""
    if not NAME.match(name) or len(name) > MAX_NAME:
        raise ValueError(
            f"{name!r} cannot name a plugin: use {MAX_NAME} characters at most, lowercase letters and digits, "
            "separated by single hyphens or underscores, starting with a letter (e.g. 'thanks' or 'reply-time')")
    return name


def scaffold(name: str, directory: Path) -> Path:
    """Create ``directory/tribeops-<name>`` and return it; never overwrites an existing path."""
    ident = check_name(name).replace("-", "_")
    target = Path(directory) / f"tribeops-{name}"
    if target.exists():
        raise ValueError(f"{target} already exists; choose another NAME or --directory")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"tribeops_{ident}/__init__.py": PACKAGE,
        f"tests/test_{ident}.py": TESTS,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.mkdir()
    except FileExistsError:
        raise ValueError(f"{target} already exists; choose another NAME or --directory") from None
    try:
        for relative, template in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.replace("__NAME__", name).replace("__IDENT__", ident), encoding="utf-8")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # no half-written package left behind
        raise
    return target
