"""The committed OpenAPI document is the app's, and it is complete enough to generate clients from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.settings import Settings

from .bounds import unbounded

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "openapi" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc: dict[str, Any] = create_app(Settings()).state.openapi_document
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in METHODS]


def test_committed_document_has_not_drifted(document: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == document, "openapi/openapi.json is out of date; regenerate it with: tribeops openapi export"


def test_export_check_fails_on_drift_and_names_the_fix(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    command = [sys.executable, "-m", "tribeops.cli.main", "openapi", "export", "--check", "--output", str(stale)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1 and "tribeops openapi export" in result.stderr
    subprocess.run(command[:-3] + ["--output", str(stale)], check=True, capture_output=True)
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0


def test_the_app_serves_the_same_document(client: TestClient[Any], document: dict[str, Any]) -> None:
    served = client.get("/schema/openapi.json")
    assert served.status_code == 200 and served.json() == document
    assert client.get("/schema").status_code == 200


def test_every_operation_is_documented(document: dict[str, Any]) -> None:
    ids = set()
    for path, method, op in _operations(document):
        where = f"{method.upper()} {path}"
        assert op.get("operationId") and op["operationId"] not in ids, where
        ids.add(op["operationId"])
        assert op.get("summary") and op.get("tags"), where
        if path.endswith("/webhook"):  # called by networks, authenticated by their signatures
            assert op["security"] == [{}], where
        elif path.startswith("/v1/"):
            assert op.get("security", document.get("security")) == [{"bearerAuth": []}], where
            # Every operation refuses a query parameter it does not have (422); a body also
            # gets 413 when too large and 415 when not JSON.
            for code in ("400", "401", "403", "422", "503", *(("413", "415") if "requestBody" in op else ())):
                problem = op["responses"][code]["content"]["application/problem+json"]
                assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}, where
        if "requestBody" in op:
            media = op["requestBody"]["content"]["application/json"]
            assert media.get("examples"), f"{where} has no request example"


def test_what_is_always_sent_is_required_and_replays_are_declared(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("Brand", "Page_Brand_", "Scorecard", "Job", "MetricValue", "Catalogue_MetricEntry_"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    # Sent only when set: left optional.
    assert "errors" not in schemas["Problem"]["required"] and "in" not in schemas["FieldError"].get("required", [])
    assert "events_recomputed" not in schemas["JobResult"]["required"]
    # A request body's fields with defaults stay optional.
    assert "identity" not in schemas["BrandCreate"].get("required", [])
    for path, method, op in _operations(document):
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])):
            answer = next(r for code, r in op["responses"].items() if code.startswith("2"))
            assert answer["headers"]["Idempotent-Replayed"]["schema"] == {"type": "string", "enum": ["true"]}, path
            assert answer["headers"]["Location"]["required"] is True, path
    assert "Retry-After" in document["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["200"]["headers"]


def test_every_string_and_array_is_bounded(document: dict[str, Any]) -> None:
    assert unbounded(document) == []


def test_request_bodies_refuse_unknown_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("BrandCreate", "BrandUpdate", "TribeCreate", "CampaignCreate", "CampaignUpdate", "ApiKeyCreate",
                 "Brief", "Target", "BrandIdentity"):
        assert schemas[name]["additionalProperties"] is False, name


def test_creates_link_to_get_update_and_delete(document: dict[str, Any]) -> None:
    links = document["paths"]["/v1/brands"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {"getBrand", "updateBrand", "deleteBrand"}
    assert links["GetBrand"]["parameters"] == {"brand_id": "$response.body#/id"}
    for path in ("/v1/tribes", "/v1/campaigns", "/v1/api-keys"):
        assert len(document["paths"][path]["post"]["responses"]["201"]["links"]) >= 2


def test_bounds_checker_finds_unbounded_strings() -> None:
    doc = {"components": {"schemas": {"X": {"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": "array", "items": {"type": "string", "maxLength": 3}}}}}}}
    assert unbounded(doc) == ["#/components/schemas/X/properties/a", "#/components/schemas/X/properties/b"]
