"""A CloudTrail-format log of every simulated EC2 call (ec2 spec §9)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from vpccni.cloud.clock import utc_iso


def items(values: Iterable[Any]) -> dict[str, Any]:
    """An EC2 query list: {"items": [...]} or {} when empty."""
    listed = list(values)
    return {"items": listed} if listed else {}


def tag_set(tags: Mapping[str, str]) -> dict[str, Any]:
    return items({"key": k, "value": v} for k, v in tags.items())


def filter_set(filters: Mapping[str, Iterable[str]] | None) -> dict[str, Any]:
    return items(
        {"name": name, "valueSet": items({"value": v} for v in values)} for name, values in (filters or {}).items()
    )


class CloudTrail:
    """Collects events in call order; `write` emits {"Records": [...]} sorted by event time.

    `attempts` counts every attempt by (action, error code or ""), read-only ones included even when they
    are not recorded: the figures a CloudTrail query would give, without keeping the events.
    A long-running server sets `sink` to stream each event out as it happens and may turn `retain` off,
    so its memory does not grow with every call it serves.
    A long simulation need not hold its log: `discard()` keeps only the counts, `stream_to()` writes the
    events to a JSON-lines file as soon as no later call can come before them (see `flush_before`).
    """

    STREAM_BATCH = 2048  # buffered events that trigger a flush while streaming

    def __init__(self, account_id: str, region: str, record_read_only: bool = True, *, epoch: float) -> None:
        self.account_id = account_id
        self.epoch = epoch  # of the clock that times the calls
        self.region = region
        self.record_read_only = record_read_only
        self.sink: Callable[[dict[str, Any]], None] | None = None
        self.retain = True
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # a plain dict, not a Counter: counted on every simulated call, and compiled code indexes a dict natively
        self.attempts: dict[tuple[str, str], int] = {}
        self.keep = True
        self._stream: TextIO | None = None
        self._watermark: Callable[[], float] | None = None

    def wants(self, read_only: bool) -> bool:
        """Whether a call's event is kept (the caller may skip building it when not)."""
        return self.keep and (self.record_read_only or not read_only)

    def attempted(self, action: str, code: str) -> None:
        """Count an attempt whose event is not kept."""
        key = (action, code)
        with self._lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1

    def discard(self) -> None:
        """Keep the attempt counts only, no events (a run whose log nobody asked for)."""
        with self._lock:
            self.keep = False
            self._events.clear()

    def stream_to(self, out: TextIO, watermark: Callable[[], float]) -> None:
        """Write events to `out` as JSON lines instead of holding them.

        `watermark()` must be a time no later event can precede (the simulation's world clock: every
        caller's timeline starts at it), so events before it can be written in their final order.
        """
        with self._lock:
            self._stream = out
            self._watermark = watermark

    def flush_before(self, when: float) -> None:
        """Stream out the buffered events earlier than `when`, by event time (ties in call order)."""
        with self._lock:
            self._flush(lambda t: t < when)

    def close_stream(self) -> None:
        """Write every buffered event; the stream stays open (its owner closes it)."""
        with self._lock:
            self._flush(lambda t: True)
            self._stream = None

    def _flush(self, due: Callable[[float], bool]) -> None:
        stream = self._stream
        if stream is None:
            return
        ready = [e for e in self._events if due(e["_simTime"])]
        if not ready:
            return
        self._events = [e for e in self._events if not due(e["_simTime"])]
        ready.sort(key=lambda e: e["_simTime"])
        for event in ready:
            stream.write(json.dumps({k: v for k, v in event.items() if k != "_simTime"}) + "\n")

    def record(
        self,
        *,
        when: float,
        action: str,
        read_only: bool,
        request: dict[str, Any],
        response: dict[str, Any] | None,
        error: tuple[str, str, int] | None,
        role: str,
        session: str,
        source_ip: str,
        user_agent: str,
        request_id: str,
        event_id: str,
        access_key_id: str = "",
    ) -> None:
        key = (action, error[0] if error else "")
        with self._lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1
        if not self.wants(read_only):
            return
        identity = {
            "type": "AssumedRole",
            "principalId": f"AROA{self.account_id}:{session}",
            "arn": f"arn:aws:sts::{self.account_id}:assumed-role/{role}/{session}",
            "accountId": self.account_id,
        }
        if access_key_id:
            identity["accessKeyId"] = access_key_id
        event: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": utc_iso(when, self.epoch),
            "eventSource": "ec2.amazonaws.com",
            "eventName": action,
            "awsRegion": self.region,
            "sourceIPAddress": source_ip,
            "userAgent": user_agent,
            "requestParameters": request,
            "responseElements": None,
            "requestID": request_id,
            "eventID": event_id,
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account_id,
            "eventCategory": "Management",
            "_simTime": when,
        }
        if error is not None:
            code, message, status = error
            event["errorCode"] = f"{'Server' if status >= 500 and code not in _CLIENT_5XX else 'Client'}.{code}"
            event["errorMessage"] = message
        elif not read_only:
            event["responseElements"] = {"requestId": request_id, **(response or {"_return": True})}
        with self._lock:
            if self.retain:
                self._events.append(event)
            if self.sink is not None:
                self.sink({k: v for k, v in event.items() if k != "_simTime"})
            if self._stream is not None and self._watermark is not None and len(self._events) >= self.STREAM_BATCH:
                mark = self._watermark()
                self._flush(lambda t: t < mark)

    def count(self, actions: Iterable[str] | None = None, error: str | None = None) -> int:
        """Attempts of `actions` (default: every action) that failed with `error` (default: any outcome)."""
        wanted = None if actions is None else set(actions)
        with self._lock:
            return sum(
                n
                for (action, code), n in self.attempts.items()
                if (wanted is None or action in wanted) and (error is None or code == error)
            )

    def events(self) -> list[dict[str, Any]]:
        """The recorded events, ordered by event time (stable for equal times)."""
        with self._lock:
            ordered = sorted(self._events, key=lambda e: e["_simTime"])
        return [{k: v for k, v in e.items() if k != "_simTime"} for e in ordered]

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"Records": self.events()}, indent=1) + "\n")

    def write_jsonl(self, path: str | Path) -> None:
        with open(path, "w") as out:
            for event in self.events():
                out.write(json.dumps(event) + "\n")


_CLIENT_5XX: Final = frozenset({"RequestLimitExceeded"})


def new_uuid(rng_bits: int) -> str:
    return str(uuid.UUID(int=rng_bits, version=4))
