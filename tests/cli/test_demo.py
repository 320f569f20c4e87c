"""``tribeops demo``: the two campaigns' scorecards tell the push / pull story on their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("scale", ["0.1", "0.5"])  # the smallest scale tells it too
def test_demo_tells_the_story(tmp_path: Path, scale: str) -> None:
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"}
    env.pop("TRIBEOPS_REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "tribeops.cli.main", "demo", "--scale", scale], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].islower():
            rows[parts[0]] = [None if p == "None" else float(p) for p in parts[1:]]
    push, pull = 0, 1
    assert rows["megaphone_index"][push] > rows["megaphone_index"][pull]
    for metric in ("pull_index", "conversation_rate", "community_care_share"):
        assert rows[metric][pull] > rows[metric][push], metric
    assert "curl -H 'Authorization: Bearer tro_" in result.stdout and "/v1/scorecards/compare?" in result.stdout
