"""Helpers for scorecard tests: run a job through the API and wait for it, or for the scheduler."""

from __future__ import annotations

import time
from typing import Any

from litestar.testing import TestClient


def run_job(client: TestClient[Any], headers: dict[str, str], brand_id: str,
            kind: str = "scorecards.aggregate", timeout: float = 30.0) -> dict[str, Any]:
    response = client.post("/v1/jobs", json={"kind": kind, "params": {"brand_id": brand_id}}, headers=headers)
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(location, headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {location} did not finish in {timeout} s")


def values(card: dict[str, Any]) -> dict[str, Any]:
    return {m["name"]: m["value"] for m in card["metrics"]}


def settled(client: TestClient[Any], headers: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    """The scorecard once nothing is pending (the in-process scheduler runs the jobs)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        card: dict[str, Any] = client.get("/v1/scorecards", params=params, headers=headers).json()
        if not card["pending"] and card["fresh_as_of"]:
            return card
        time.sleep(0.2)
    raise AssertionError(f"the scorecard for {params} stayed pending")


def finished_jobs(client: TestClient[Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    """The workspace's jobs once none is queued or running: a scorecard stops being pending
    when its run settles, a moment before the job records its result."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        jobs: list[dict[str, Any]] = client.get("/v1/jobs", headers=headers).json()["data"]
        if all(j["status"] in ("succeeded", "failed") for j in jobs):
            return jobs
        time.sleep(0.05)
    raise AssertionError("jobs were still queued or running after 20 s")
