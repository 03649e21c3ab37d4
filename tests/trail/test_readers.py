"""Every input shape, detected from its content, gives the same analysis; bad input is one clear error."""

from __future__ import annotations

import gzip
import io
import json
import sys
import tracemalloc
from pathlib import Path

import pytest

from tests.trail.builders import ACCOUNT, Trail, exhaustion_trail
from vpccni.trail import ReadStats, TrailReadError, analyse
from vpccni.trail.readers import iter_records

EXPECTED_INSTANCES = [
    ("i-0aaa000000000001a", 3, 27, 2, 27),
    ("i-0bbb000000000002b", 2, 18, 1, 18),
]


def _summary(paths: list[str]) -> tuple[int, int, list[tuple[str, int, int, int, int]], dict[str, object]]:
    data = analyse(paths).to_json()
    rows = [
        (r["instance_id"], r["enis_end"], r["ips_held_end"], r["enis_created"], r["ips_assigned"])
        for r in data["instances"]
    ]
    return data["events"], data["ec2_events"], rows, data["by_action"]["CreateNetworkInterface"]


@pytest.fixture
def trail() -> Trail:
    built = exhaustion_trail()
    built.other_service(5)
    built.other_service(900)
    return built


def test_records_file_plain_gzip_and_pretty(tmp_path: Path, trail: Trail) -> None:
    for path in (
        trail.write_records(tmp_path / "a.json"),
        trail.write_records(tmp_path / "b.json.gz", gz=True),
        trail.write_records(tmp_path / "c.json", indent=2),
        trail.write_records(tmp_path / "no-extension", gz=True),  # detected by content, not name
    ):
        events, ec2, rows, creates = _summary([str(path)])
        assert (events, ec2) == (16, 14)
        assert rows == EXPECTED_INSTANCES
        assert creates == {"ok": 3, "errors": {"InsufficientFreeAddressesInSubnet": 4}}


def test_s3_directory_tree_skips_digests(tmp_path: Path, trail: Trail) -> None:
    root = trail.write_s3_tree(tmp_path / "bucket", per_file=4)
    stats = ReadStats()
    records = list(iter_records([str(root)], stats))
    assert stats.files == 4  # 16 records, 4 per file; the digest directory is not read
    assert len(records) == 16
    assert _summary([str(root)])[2] == EXPECTED_INSTANCES
    assert all(ACCOUNT in str(p) for p in root.rglob("*.json.gz"))


def test_lookup_events_output(tmp_path: Path, trail: Trail) -> None:
    path = trail.write_lookup(tmp_path / "lookup.json")
    events, ec2, rows, creates = _summary([str(path)])
    assert (events, ec2, rows) == (16, 14, EXPECTED_INSTANCES)
    # NextToken first is the same document
    data = json.loads(path.read_text())
    path.write_text(json.dumps({"NextToken": data["NextToken"], "Events": data["Events"]}))
    assert _summary([str(path)])[2] == EXPECTED_INSTANCES


def test_json_lines_and_stdin(tmp_path: Path, trail: Trail, monkeypatch: pytest.MonkeyPatch) -> None:
    path = trail.write_lines(tmp_path / "trail.jsonl")
    assert _summary([str(path)])[2] == EXPECTED_INSTANCES
    fake_stdin = io.TextIOWrapper(io.BytesIO(gzip.compress(path.read_bytes())))
    monkeypatch.setattr(sys, "stdin", fake_stdin)
    assert _summary(["-"])[2] == EXPECTED_INSTANCES


def test_files_split_and_out_of_order_are_sorted(tmp_path: Path, trail: Trail) -> None:
    shuffled = Trail()
    shuffled.records = list(reversed(trail.records))
    first, second = Trail(), Trail()
    first.records, second.records = shuffled.records[::2], shuffled.records[1::2]
    paths = [str(first.write_lines(tmp_path / "1.jsonl")), str(second.write_records(tmp_path / "2.json"))]
    assert _summary(paths)[2] == EXPECTED_INSTANCES


def test_athena_export_lower_case_keys_and_string_parameters(tmp_path: Path, trail: Trail) -> None:
    lines = []
    for record in trail.records:
        row = {k.lower(): v for k, v in record.items()}
        row["eventtime"] = record["eventTime"].replace("T", " ").replace("Z", ".000")
        row["requestparameters"] = json.dumps(record["requestParameters"])
        row["responseelements"] = json.dumps(record["responseElements"]) if record["responseElements"] else None
        lines.append(json.dumps(row))
    path = tmp_path / "athena.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert _summary([str(path)])[2] == EXPECTED_INSTANCES


def test_truncated_last_json_line_is_reported_and_the_rest_analysed(tmp_path: Path, trail: Trail) -> None:
    path = trail.write_lines(tmp_path / "cut.jsonl")
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # the last record loses its end (and its newline)
    analysis = analyse([str(path)])
    data = analysis.to_json()
    assert data["events"] == 15
    assert data["unparsed"] == 1
    assert data["warnings"] == [f"{path}:16: truncated last record skipped"]
    assert [r["ips_held_end"] for r in data["instances"]] == [27, 18]


def test_missing_request_parameters_counts_as_unparsed(tmp_path: Path) -> None:
    trail = exhaustion_trail()
    trail.records[1]["requestParameters"] = None  # the first AssignPrivateIpAddresses
    del trail.records[2]["requestParameters"]  # the first CreateNetworkInterface
    data = analyse([str(trail.write_lines(tmp_path / "t.jsonl"))]).to_json()
    assert data["unparsed"] == 2
    assert data["ec2_events"] == 14
    assert data["instances"][0]["ips_held_end"] == 9  # lost the primary's 9 and ENI 2's 9


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"name": "not a trail", "items": [1, 2]}', "not CloudTrail: a record without eventName/eventTime"),
        (b'{"Records": [1, 2]}', "not CloudTrail: Records entry 0 is not an object"),
        (b'{"Records": [{"foo": 1}]}', "not CloudTrail: a record without eventName/eventTime"),
        (b"eventTime,eventName\n2025-01-01,RunInstances\n", "not CloudTrail: expected JSON"),
        (b'{"Records": [{"eventTime": "2025-01-01T00:00:00Z", "eventName": "X"}, ', "not valid JSON (truncated?)"),
        (b'{"Items": []}', "not CloudTrail: a record without eventName/eventTime (keys: Items)"),
        (b"", "empty, expected CloudTrail JSON"),
    ],
)
def test_not_cloudtrail_is_one_line_naming_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    with pytest.raises(TrailReadError) as caught:
        analyse([str(path)])
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    data = gzip.compress(json.dumps({"Records": exhaustion_trail().records}).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TrailReadError, match=r"cut\.json\.gz: truncated or corrupt gzip data"):
        analyse([str(path)])


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(TrailReadError, match="no such file or directory"):
        analyse([str(tmp_path / "absent.json")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrailReadError, match="a directory with no CloudTrail files"):
        analyse([str(tmp_path / "empty")])


def test_a_large_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    """About 9 MB of records (mostly other services) read with far less memory than the file's size."""
    trail = exhaustion_trail()
    padding = "x" * 400
    for index in range(20_000):
        record = trail.other_service(1000 + index)
        record["requestParameters"]["key"] = padding
    path = trail.write_records(tmp_path / "big.json")
    size = path.stat().st_size
    assert size > 8_000_000
    tracemalloc.start()
    try:
        data = analyse([str(path)]).to_json()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data["non_ec2_skipped"] == 20_000 and data["ec2_events"] == 14
    assert peak < size / 4
