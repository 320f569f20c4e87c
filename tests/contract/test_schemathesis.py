"""Property-based contract tests: the app against its own served OpenAPI document.

Every schemathesis check runs, on valid and invalid data, in the examples, coverage and
fuzzing phases per operation, then in the stateful phase that follows the documented
links (create → get / update / delete / revoke). Runs are bounded and derandomized so CI
sees the same requests every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from tribeops.api.app import create_app
from tribeops.core.settings import Settings

# The contract does not depend on the backend; SQLite keeps the run short.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SEED = 20260301
MAX_EXAMPLES = 40
STATEFUL_EXAMPLES = 30
STATEFUL_STEPS = 10


def config(key: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "generation": {
            "mode": "all",  # positive and negative data
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {
            "stateful": {"max-steps": STATEFUL_STEPS, "generation": {"max-examples": STATEFUL_EXAMPLES}},
        },
        # The key goes through the document's own security scheme, so schemathesis knows it is
        # the credential and `ignored_auth` can replay requests without it or with a bad one.
        "auth": {"openapi": {"bearerAuth": {"bearer": key}}},
    })


@pytest.fixture(scope="module")
def api_schema(database_url: str, new_key: Callable[..., str]) -> Iterator[Any]:
    app = create_app(Settings(database_url=database_url, key_cache_seconds=0))
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=config(new_key()))
    try:
        yield schema
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture(autouse=True)
def _legacy_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32 names each operation's subtest by rewriting `node._nodeid`, an attribute
    # pytest 9.2 no longer has (it keeps `node._id`); seed it so the lazy schema can run.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_operations(case: schemathesis.Case) -> None:
    r = case.call(); 
    if r.status_code == 422 and "printable" in r.text: print("IDEMP", repr(case.headers), case.meta.generation.mode if case.meta else None, case.meta.phase if case.meta else None)


def test_stateful(api_schema: Any) -> None:
    machine = api_schema.as_state_machine()
    machine.run(settings=api_schema.config.get_hypothesis_settings(phase="stateful"))
