"""The csv connector on recorded exports: a social inbox's CSV and a forum's NDJSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tribeops.core.connectors import PageResult, PayloadError, StreamContext
from tribeops.core.errors import ValidationFailed
from tribeops.plugins.csv import CsvConnector
from tribeops.testing.conformance import assert_connector_conforms

PAYLOADS = Path(__file__).parent / "payloads"
INBOX = (PAYLOADS / "inbox-export.csv").read_bytes()
FORUM = (PAYLOADS / "forum-export.ndjson").read_bytes()
INBOX_CONFIG: dict[str, Any] = {
    "columns": {"id": "Message ID", "network": "Network", "kind": "Type", "occurred_at": "Created",
                "actor_id": "Author ID", "actor_name": "Author", "actor_handle": "Author Handle", "text": "Message",
                "in_reply_to": "In Reply To", "conversation_id": "Post", "post_id": "Message ID"},
    "attrs": {"likes": "Likes", "language": "Language"},
    "timestamp_format": "%Y-%m-%d %H:%M:%S", "timezone": "Europe/Rome", "id_prefix": "inbox:",
}
FORUM_CONFIG: dict[str, Any] = {
    "format": "ndjson",
    "columns": {"id": "id", "occurred_at": "created_at", "actor_id": "user.id", "actor_handle": "user.username",
                "actor_name": "user.name", "text": "raw", "in_reply_to": "reply_to_post_id",
                "conversation_id": "topic_id", "post_id": "id"},
    "constants": {"kind": "comment", "network": "forum"},
    "attrs": {"likes": "like_count", "tags": "tags"},
    "id_prefix": "forum:",
}


def parse(config: dict[str, Any], payload: bytes) -> PageResult:
    parsed = CsvConnector.parse_config(config)
    context = StreamContext(workspace_id="wks_test", brand_id="brd_01JD0000000000000000000000", network="csv",
                            config=parsed, brand_handles={"instagram": "aurora.roasters"})
    return CsvConnector(parsed).stream("rows").parse(payload, context)


def test_a_csv_export_maps_columns_to_events() -> None:
    page = parse(INBOX_CONFIG, INBOX)
    assert len(page.events) == 6 and page.rejected == []
    reply = next(e for e in page.events if e.id == "inbox:18023456789012403")
    assert (reply.network, reply.kind, reply.actor.handle) == ("instagram", "reply", "aurora.roasters")
    assert reply.in_reply_to == "18023456789012402" and reply.conversation_id == "18023456789012345"
    assert reply.occurred_at.isoformat() == "2025-03-20T16:10:45+01:00"  # local time in the declared zone
    assert reply.attrs == {"likes": "6", "language": "en"}
    multiline = next(e for e in page.events if e.id == "inbox:18023456789012404")
    assert multiline.text == "Buonissimo in V60, ma in espresso viene un po' acido: consigli?\nHo una Gaggia Classic."
    assert page.cursor == "2025-03-21T08:15:00.000000Z"


def test_an_ndjson_export_maps_nested_keys_and_constants() -> None:
    page = parse(FORUM_CONFIG, FORUM)
    assert [e.id for e in page.events] == ["forum:88117", "forum:88121", "forum:88126", "forum:88130"]
    first = page.events[0]
    assert (first.network, first.kind, first.actor.id, first.actor.handle) == ("forum", "comment", "12",
                                                                              "aurora_giulia")
    assert first.in_reply_to is None and page.events[3].in_reply_to == "88126"
    assert first.attrs == {"likes": 9, "tags": '["espresso", "brewing"]'}
    assert page.cursor == "2025-04-03T07:41:29.250000Z"


def test_bad_rows_are_reported_and_the_good_rows_kept() -> None:
    bad = (b"18023456789012406,instagram,comment,yesterday,1784,Ann,ann,hi,,,0,en\n"
           b"18023456789012407,instagram,Not A Kind!,2025-03-22 10:00:00,1785,Bo,bo,hey,,,0,en\n"
           b"18023456789012401,instagram,comment,2025-03-22 10:00:00,1786,Cy,cy,dup,,,0,en\n"
           b"18023456789012408,instagram,comment\n"
           b"18023456789012409,instagram,Like,2025-03-22 11:00:00,1787,Di,di,,,,0,en\n")
    page = parse(INBOX_CONFIG, INBOX + bad)
    assert len(page.events) == 7 and page.events[-1].kind == "like"  # kinds are lower-cased
    rows = dict(page.rejected)
    assert sorted(rows) == [8, 9, 10, 11]  # spreadsheet rows: the header is 1, a two-line message is one row
    assert "does not match %Y-%m-%d %H:%M:%S" in rows[8]
    assert "$.kind" in rows[9]
    assert "repeats an earlier row" in rows[10]
    assert "3 cells but the header has 12" in rows[11]


def test_bad_ndjson_lines_are_reported_and_the_good_lines_kept() -> None:
    lines = FORUM + b'{"id": 1, "created_at": "2025-04-04T10:00:00Z", "user": {}}\n[1, 2]\n{broken\n'
    page = parse(FORUM_CONFIG, lines)
    assert len(page.events) == 4
    assert [n for n, _ in page.rejected] == [5, 6, 7]
    assert "$.actor.id" in page.rejected[0][1] and page.rejected[1][1] == "not a JSON object"


@pytest.mark.parametrize(("config", "payload", "message"), [
    (INBOX_CONFIG, b"", "empty"),
    (INBOX_CONFIG, b"Id,When\n1,2025-01-01T00:00:00Z\n", "lacks mapped column"),
    (INBOX_CONFIG, b"\xff\xfe\x00garbage", "not utf-8-sig"),
    (FORUM_CONFIG, b"id,created_at\n1,2\n", "not NDJSON"),
])
def test_a_payload_that_is_not_such_a_file_is_refused(config: dict[str, Any], payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(config, payload)


def test_config_needs_the_essential_columns_and_a_real_time_zone() -> None:
    with pytest.raises(ValidationFailed):
        CsvConnector.parse_config({"columns": {"id": "id"}})
    with pytest.raises(ValidationFailed):
        CsvConnector.parse_config({**INBOX_CONFIG, "timezone": "Mars/Olympus"})
    with pytest.raises(ValidationFailed) as refused:
        CsvConnector.parse_config({**INBOX_CONFIG, "columns": {"likes": "Likes"}, "delimiter": ";;"})
    assert {"/columns/likes", "/delimiter"} <= {e.pointer for e in refused.value.errors}
    epoch = CsvConnector.parse_config({**FORUM_CONFIG, "timestamp_format": "unix_ms"})
    assert epoch.timestamp_format == "unix_ms"


def test_epoch_and_strptime_timestamps() -> None:
    page = parse({**FORUM_CONFIG, "timestamp_format": "unix"},
                 b'{"id": 7, "created_at": 1743600000, "user": {"id": 1}}\n')
    assert page.events[0].occurred_at.isoformat() == "2025-04-02T13:20:00+00:00"


@pytest.mark.parametrize(("config", "payload"), [(INBOX_CONFIG, INBOX), (FORUM_CONFIG, FORUM)])
def test_csv_conforms(config: dict[str, Any], payload: bytes) -> None:
    half = payload.splitlines(keepends=True)
    header, cut = (half[:1], 4) if config is INBOX_CONFIG else ([], 2)
    pages = [b"".join(half[:cut]), b"".join(header + half[cut:])]
    assert_connector_conforms(CsvConnector, config, pages, brand_handles={"instagram": "aurora.roasters"})


def test_the_configuration_schema_names_the_fields_a_column_may_fill() -> None:
    import msgspec

    from tribeops.plugins.csv import CsvConfig

    properties = msgspec.json.schema(CsvConfig)["$defs"]["CsvConfig"]["properties"]
    for name in ("columns", "constants"):
        assert {"id", "occurred_at", "actor_id", "in_reply_to"} <= set(properties[name]["propertyNames"]["enum"])


def test_connectors_parse_says_which_rows_it_rejected(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    export = tmp_path / "t.csv"
    export.write_text("id,when,who\n1,2026-03-02T08:00:00Z,anna\n2,notadate,bob\n3,2026-03-02T09:00:00Z,carla\n")
    config = {"columns": {"id": "id", "occurred_at": "when", "actor_id": "who"}, "constants": {"kind": "comment"}}
    result = subprocess.run([sys.executable, "-m", "tribeops.cli.main", "connectors", "parse", "csv", str(export),
                             "--config", json.dumps(config)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["1", "3"]
    assert "rejected 3: " in result.stderr and "notadate" in result.stderr
    assert "2 events, 0 profiles, 1 rejected" in result.stderr
