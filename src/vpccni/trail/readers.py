"""Stream CloudTrail records out of every shape users have, one record at a time.

Shapes, detected from the content (never the file name): log files as delivered to S3 (`{"Records": [...]}`,
plain or gzipped), `aws cloudtrail lookup-events` output (`{"Events": [{"CloudTrailEvent": "<JSON>"}]}`),
a JSON array of records, and JSON lines (one record per line: vpccni's `--trail`, CloudTrail Lake and Athena
exports). Directories are walked (an `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/` tree), `-` is standard
input. Documents are parsed incrementally with ijson, so a large file or tree is never held in memory.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import ijson

HEAD_BYTES = 64 * 1024
_FIRST_KEY = re.compile(rb'^\{\s*"((?:[^"\\]|\\.)*)"')
_TRAIL_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz")
_SKIPPED_DIRS = ("CloudTrail-Digest", "CloudTrail-Insight")


Source = IO[bytes] | gzip.GzipFile


class TrailReadError(Exception):
    """An input that is not CloudTrail or cannot be read; the message names the file and the problem."""


@dataclass
class ReadStats:
    """What reading found besides records: files read, records seen, problems that did not stop it."""

    files: int = 0
    records: int = 0
    warnings: list[str] = field(default_factory=list)
    unparsed: int = 0  # records that are not usable events (a lookup-events entry without CloudTrailEvent...)


class _Prefixed(io.RawIOBase):
    """A raw stream that first replays bytes already read (the detection head), then reads on."""

    def __init__(self, head: bytes, rest: Source) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def expand(paths: list[str]) -> list[str]:
    """Files to read, in order: directories walked recursively (sorted), digests and non-trail files skipped."""
    out: list[str] = []
    for path in paths:
        if path == "-":
            out.append(path)
            continue
        if os.path.isdir(path):
            found: list[str] = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
                found.extend(
                    os.path.join(root, f) for f in files if f.endswith(_TRAIL_SUFFIXES) and not f.startswith(".")
                )
            if not found:
                raise TrailReadError(f"{path}: a directory with no CloudTrail files (.json, .json.gz, .jsonl)")
            out.extend(sorted(found))
        elif os.path.exists(path):
            out.append(path)
        else:
            raise TrailReadError(f"{path}: no such file or directory")
    return out


def iter_records(
    paths: list[str], stats: ReadStats, on_file: Callable[[str], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Every CloudTrail record of every input, in input order."""
    for path in expand(paths):
        stats.files += 1
        if on_file is not None:
            on_file(path)
        yield from _records_of(path, stats)


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by _records_of
    except OSError as exc:
        raise TrailReadError(f"{path}: cannot read: {exc.strerror}") from None


def _records_of(path: str, stats: ReadStats) -> Iterator[dict[str, Any]]:
    name = "standard input" if path == "-" else path
    raw = _open(path)
    try:
        magic = raw.read(2)
        stream: Source = io.BufferedReader(_Prefixed(magic, raw))
        if magic == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        try:
            yield from _parse(name, stream, stats)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise TrailReadError(f"{name}: truncated or corrupt gzip data ({exc})") from None
        except OSError as exc:
            raise TrailReadError(f"{name}: cannot read: {exc}") from None
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _parse(name: str, stream: Source, stats: ReadStats) -> Iterator[dict[str, Any]]:
    head = stream.read(HEAD_BYTES)
    body = io.BufferedReader(_Prefixed(head, stream), buffer_size=HEAD_BYTES)
    start = head.lstrip()
    if not start:
        raise TrailReadError(f"{name}: empty, expected CloudTrail JSON")
    if start[:1] == b"[":
        yield from _document(name, body, stats, "item")
        return
    if start[:1] != b"{":
        raise TrailReadError(
            f"{name}: not CloudTrail: expected JSON (a CloudTrail log file, lookup-events output or JSON lines),"
            f" found {start[:20]!r}"
        )
    key = _FIRST_KEY.match(start)
    if key and key.group(1) in (b"Records", b"Events", b"NextToken"):
        yield from _document(name, body, stats, None)
        return
    if start.split(b"\n", 1)[0].strip() == b"{":
        # "{" alone on the first line: pretty-printed records one after another, not one per line.
        yield from _document(name, body, stats, "")
        return
    yield from _json_lines(name, body, stats)


def _document(name: str, body: IO[bytes], stats: ReadStats, prefix: str | None) -> Iterator[dict[str, Any]]:
    """A single JSON document: {"Records": [...]}, {"Events": [...]} (lookup-events), or an array of records."""
    try:
        events = iter(ijson.parse(body, use_float=True, multiple_values=prefix == ""))
        if prefix is None:
            for path, kind, value in events:
                if path == "" and kind == "map_key" and value in ("Records", "Events"):
                    prefix = f"{value}.item"
                    break
                if path == "" and kind == "end_map":
                    break
            if prefix is None:
                raise TrailReadError(f"{name}: not CloudTrail: a JSON object without Records or Events")
        lookup = prefix == "Events.item"
        for index, item in enumerate(ijson.items(events, prefix, use_float=True)):
            if not isinstance(item, dict):
                where = f"{prefix.split('.')[0]} entry" if prefix else "value"
                raise TrailReadError(f"{name}: not CloudTrail: {where} {index} is not an object")
            record = _from_lookup(item, stats) if lookup else item
            if record is None:
                continue
            if index == 0 and not lookup:
                _check_record(name, record)
            stats.records += 1
            yield record
    except ijson.JSONError as exc:
        detail = (str(exc).strip().splitlines() or ["parse error"])[0]
        raise TrailReadError(f"{name}: not valid JSON (truncated?): {detail}") from None


def _from_lookup(item: dict[str, Any], stats: ReadStats) -> dict[str, Any] | None:
    """A lookup-events entry: the full record is the CloudTrailEvent JSON string."""
    text = item.get("CloudTrailEvent")
    if not isinstance(text, str):
        stats.records += 1
        stats.unparsed += 1
        return None
    try:
        record = json.loads(text)
    except ValueError:
        record = None  # counted as unparsed just below
    if not isinstance(record, dict):
        stats.records += 1
        stats.unparsed += 1
        return None
    return record


def _json_lines(name: str, body: IO[bytes], stats: ReadStats) -> Iterator[dict[str, Any]]:
    """One record per line; a broken line is reported and skipped (a truncated last line is the usual case)."""
    pending: str | None = None
    first = True
    for number, line in enumerate(body, start=1):
        if not line.strip():
            continue
        if pending is not None:
            stats.warnings.append(pending)
            stats.unparsed += 1
            pending = None
        try:
            record = json.loads(line)
        except ValueError:
            record = None  # reported below: an error on line 1, a warning after
        if not isinstance(record, dict):
            if first:
                raise TrailReadError(f"{name}: not CloudTrail: line 1 is not a JSON object")
            pending = f"{name}:{number}: malformed record skipped"
            if not line.endswith(b"\n"):
                pending = f"{name}:{number}: truncated last record skipped"
            continue
        if "CloudTrailEvent" in record and isinstance(record["CloudTrailEvent"], str):
            record = _from_lookup(record, stats) or {}
            if not record:
                continue
        if first:
            _check_record(name, record)
            first = False
        stats.records += 1
        yield record
    if pending is not None:
        stats.warnings.append(pending)
        stats.unparsed += 1


def _check_record(name: str, record: dict[str, Any]) -> None:
    keys = {k.lower() for k in record}
    if "eventname" not in keys or "eventtime" not in keys:
        shown = ", ".join(sorted(record)[:5]) or "none"
        raise TrailReadError(f"{name}: not CloudTrail: a record without eventName/eventTime (keys: {shown})")
