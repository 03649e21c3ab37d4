"""From trail files to the analysis: read, keep EC2, filter, sort by eventTime, fold, find, summarise.

Only EC2 events are kept, each reduced to an `Ec2Event`, so memory follows the EC2 calls in the window
asked for, not the size of the input (most of a real trail is other services).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vpccni.trail.findings import Finding, find_all
from vpccni.trail.normalise import Ec2Event, Unparsed, canonical, is_ec2, iso, to_event
from vpccni.trail.readers import ReadStats, iter_records
from vpccni.trail.timeline import Timeline


@dataclass
class Window:
    """Which events to analyse: a userAgent substring (case-insensitive) and a time range (Unix seconds)."""

    agent: str | None = None
    since: float | None = None
    until: float | None = None

    def admits(self, event: Ec2Event) -> bool:
        if self.agent and self.agent.lower() not in event.user_agent.lower() and self.agent.lower() != event.agent:
            return False
        if self.since is not None and event.time < self.since:
            return False
        return self.until is None or event.time <= self.until


@dataclass
class Analysis:
    stats: ReadStats
    events: list[Ec2Event]
    timeline: Timeline
    findings: list[Finding]
    non_ec2: int = 0
    filtered_out: int = 0
    unparsed: int = 0
    by_action: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, int] = field(default_factory=dict)
    throttling: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The `vpccni trail analyze --json` document (keys as in issue #15, plus reading diagnostics)."""
        timeline = self.timeline
        return {
            "events": self.stats.records,
            "ec2_events": len(self.events),
            "non_ec2_skipped": self.non_ec2,
            "filtered_out": self.filtered_out,
            "unparsed": self.unparsed,
            "files": self.stats.files,
            "warnings": list(self.stats.warnings),
            "time_range": {
                "start": iso(timeline.start) if timeline.start is not None else None,
                "end": iso(timeline.end) if timeline.end is not None else None,
            },
            "agents": self.agents,
            "by_action": self.by_action,
            "instances": instance_rows(timeline),
            "subnets": subnet_rows(timeline),
            "throttling": self.throttling,
            "findings": [f.to_json() for f in self.findings],
        }


def instance_rows(timeline: Timeline) -> list[dict[str, Any]]:
    rows = []
    for instance_id in sorted(timeline.instances):
        instance = timeline.instances[instance_id]
        enis, ips, prefixes = timeline.held(instance)
        rows.append(
            {
                "instance_id": instance_id,
                "instance_type": instance.instance_type,
                "enis_end": enis,
                "ips_held_end": ips,
                "prefixes_held_end": prefixes,
                "enis_created": instance.enis_created,
                "enis_deleted": instance.enis_deleted,
                "ips_assigned": instance.ips_assigned,
                "ips_unassigned": instance.ips_unassigned,
                "prefixes_assigned": instance.prefixes_assigned,
                "prefixes_unassigned": instance.prefixes_unassigned,
                "first_seen": iso(instance.first_seen) if instance.first_seen is not None else None,
                "last_seen": iso(instance.last_seen) if instance.last_seen is not None else None,
            }
        )
    return rows


def subnet_rows(timeline: Timeline) -> list[dict[str, Any]]:
    rows = []
    for subnet_id in sorted(timeline.subnets):
        subnet = timeline.subnets[subnet_id]
        rows.append(
            {
                "subnet_id": subnet_id,
                "cidr": subnet.cidr,
                "enis_created": subnet.enis_created,
                "exhaustion_errors": subnet.exhaustion_errors,
                "first_exhaustion": iso(subnet.first_exhaustion) if subnet.first_exhaustion is not None else None,
            }
        )
    return rows


def load_events(
    paths: list[str],
    window: Window | None = None,
    on_file: Callable[[str], None] | None = None,
) -> tuple[list[Ec2Event], ReadStats, dict[str, int]]:
    """EC2 events of every input inside the window, sorted by eventTime (ties keep input order)."""
    window = window or Window()
    stats = ReadStats()
    counts = {"non_ec2": 0, "filtered_out": 0, "unparsed": 0}
    events: list[Ec2Event] = []
    for order, raw in enumerate(iter_records(paths, stats, on_file)):
        record = canonical(raw)
        if not is_ec2(record):
            counts["non_ec2"] += 1
            continue
        try:
            event = to_event(record, order)
        except Unparsed:
            counts["unparsed"] += 1
            continue
        if not window.admits(event):
            counts["filtered_out"] += 1
            continue
        events.append(event)
    events.sort(key=lambda e: (e.time, e.order))
    return events, stats, counts


def analyse_events(
    events: list[Ec2Event], stats: ReadStats | None = None, counts: dict[str, int] | None = None
) -> Analysis:
    stats = stats or ReadStats(records=len(events))
    counts = counts or {}
    timeline = Timeline()
    by_action: dict[str, dict[str, Any]] = defaultdict(lambda: {"ok": 0, "errors": Counter()})
    agents: Counter[str] = Counter()
    throttling: Counter[str] = Counter()
    for event in events:
        timeline.apply(event)
        agents[event.agent] += 1
        entry = by_action[event.name]
        if event.ok:
            entry["ok"] += 1
        else:
            entry["errors"][event.error_code] += 1
            if event.throttled:
                throttling[event.name] += 1
    timeline.finish()
    analysis = Analysis(
        stats=stats,
        events=events,
        timeline=timeline,
        findings=find_all(timeline, events),
        non_ec2=counts.get("non_ec2", 0),
        filtered_out=counts.get("filtered_out", 0),
        unparsed=counts.get("unparsed", 0) + stats.unparsed + timeline.unparsed,
        by_action={
            name: {"ok": entry["ok"], "errors": dict(sorted(entry["errors"].items()))}
            for name, entry in sorted(by_action.items())
        },
        agents=dict(sorted(agents.items())),
        throttling=dict(sorted(throttling.items())),
    )
    return analysis


def analyse(paths: list[str], window: Window | None = None, on_file: Callable[[str], None] | None = None) -> Analysis:
    """Read, filter, sort and analyse trail inputs; raises TrailReadError for input that is not CloudTrail."""
    events, stats, counts = load_events(paths, window, on_file)
    return analyse_events(events, stats, counts)
