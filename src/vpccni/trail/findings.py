"""Diagnoses read off the reconstructed timeline: each names what happened, the evidence, and what to change.

The rules and their thresholds:
- subnet-exhaustion: any call failing for want of free addresses (or /28 blocks) in a subnet.
- api-throttling: any throttled call; critical from 50 throttles or a fifth of an action's calls.
- eni-churn: an instance whose CNI created and deleted `CHURN_MIN` ENIs or more, each within
  `CHURN_LIFETIME` seconds (the WARM_ENI_TARGET=0 oscillation attaches an ENI when the pool is empty and
  frees it once idle, about a minute later; a scale-in that frees ENIs after a long life is not churn).
- ip-churn: an instance whose addresses went up and down: `IP_CHURN_UNASSIGNS` unassign calls or more and
  `IP_CHURN_REVERSALS` changes of direction between assigning and unassigning (WARM_IP_TARGET too low).
- leaked-eni: an ENI a CNI created that was never attached, or was detached, and not deleted `LEAK_GRACE`
  seconds later (by the end of the trail).
- warm-pool-hoarding: when a subnet ran dry, an instance holding addresses taken in whole-ENI allocations
  (at least one ENI beyond its first), which a whole-ENI warm pool keeps partly idle.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from vpccni import catalog
from vpccni.trail.normalise import Ec2Event, iso
from vpccni.trail.timeline import InstanceRecord, Timeline

CHURN_MIN = 3
CHURN_LIFETIME = 600.0
IP_CHURN_UNASSIGNS = 3
IP_CHURN_REVERSALS = 4
LEAK_GRACE = 300.0
EVIDENCE_MAX = 200
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
REPLAY_HINT = "Replay it with `vpccni trail replay TRAIL -o scenario.yaml` and run `vpccni advise scenario.yaml`."


@dataclass
class Finding:
    kind: str
    severity: str
    subject: str
    message: str
    evidence: list[str]
    advice: str
    at: float | None = None  # when it began, for the report's timeline
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "evidence": self.evidence,
            "advice": self.advice,
            "at": iso(self.at) if self.at is not None else None,
        }


def find_all(timeline: Timeline, events: list[Ec2Event]) -> list[Finding]:
    found = [
        *subnet_exhaustion(timeline, events),
        *api_throttling(events),
        *eni_churn(timeline),
        *ip_churn(timeline),
        *leaked_enis(timeline),
        *warm_pool_hoarding(timeline),
    ]
    return sorted(found, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.kind, f.subject))


def whole_eni_size(instance: InstanceRecord) -> int | None:
    """Secondary addresses of one full ENI of the instance's type (from the catalog), else the largest grab."""
    if instance.instance_type:
        try:
            return catalog.get(instance.instance_type).ipv4_per_eni - 1
        except catalog.UnknownInstanceType:
            pass  # a type newer than the catalog: fall back to what the trail shows
    sizes = [op.addresses for op in instance.ops if op.ok and op.kind in ("create", "assign")]
    largest = max(sizes, default=0)
    return largest if largest >= 8 else None


def subnet_exhaustion(timeline: Timeline, events: list[Ec2Event]) -> list[Finding]:
    out = []
    failing: dict[str, list[Ec2Event]] = defaultdict(list)
    subnet_of_event = {eid: s.subnet_id for s in timeline.subnets.values() for eid in s.exhaustion_events}
    for event in events:
        if event.event_id in subnet_of_event:
            failing[subnet_of_event[event.event_id]].append(event)
    for subnet_id, subnet in sorted(timeline.subnets.items()):
        if not subnet.exhaustion_errors or subnet.first_exhaustion is None:
            continue
        calls = failing.get(subnet_id, [])
        actions = Counter(e.name for e in calls)
        callers = sorted({e.caller_instance for e in calls if e.caller_instance})
        last = max((e.time for e in calls), default=subnet.first_exhaustion)
        parts = [
            f"{subnet_id} ran out of free addresses: {subnet.exhaustion_errors} calls failed from "
            f"{iso(subnet.first_exhaustion)} to {iso(last)} ("
            + ", ".join(f"{name} {n}" for name, n in sorted(actions.items()))
            + ")"
        ]
        if subnet.first_failed_request:
            parts.append(f"the first asked for {subnet.first_failed_request} addresses")
        if subnet.held_at_first_exhaustion is not None:
            parts.append(f"the ENIs in this trail held {subnet.held_at_first_exhaustion} of its addresses then")
        if callers:
            parts.append("instances refused: " + ", ".join(callers))
        out.append(
            Finding(
                kind="subnet-exhaustion",
                severity="critical",
                subject=subnet_id,
                message="; ".join(parts),
                evidence=subnet.exhaustion_events[:EVIDENCE_MAX],
                advice=(
                    "Look at WARM_ENI_TARGET, WARM_IP_TARGET and MINIMUM_IP_TARGET (a whole spare ENI per node "
                    "drains a shared subnet), ENABLE_PREFIX_DELEGATION (needs free /28 blocks), and the subnet's "
                    "size (a larger subnet or custom networking for pods). " + REPLAY_HINT
                ),
                at=subnet.first_exhaustion,
                details={"instances": callers, "first_failed_request": subnet.first_failed_request},
            )
        )
    return out


def api_throttling(events: list[Ec2Event]) -> list[Finding]:
    calls: Counter[str] = Counter(e.name for e in events)
    throttled: dict[str, list[Ec2Event]] = defaultdict(list)
    for event in events:
        if event.throttled:
            throttled[event.name].append(event)
    out = []
    for action, hits in sorted(throttled.items()):
        share = len(hits) / calls[action]
        per_minute = Counter(int(e.time // 60) for e in hits)
        minute, peak = max(per_minute.items(), key=lambda kv: (kv[1], -kv[0]))
        agents = Counter(e.agent for e in hits)
        out.append(
            Finding(
                kind="api-throttling",
                severity="critical" if len(hits) >= 50 or share >= 0.2 else "warning",
                subject=action,
                message=(
                    f"{action} was throttled {len(hits)} times ({share:.0%} of its {calls[action]} calls), "
                    f"at most {peak} in the minute from {iso(minute * 60)}; callers: "
                    + ", ".join(f"{a} {n}" for a, n in agents.most_common())
                ),
                evidence=[e.event_id for e in hits][:EVIDENCE_MAX],
                advice=(
                    "EC2 throttles per account and region, so every node and tool shares the budget. Look at "
                    "WARM_IP_TARGET and MINIMUM_IP_TARGET (small targets cost calls per pod), WARM_ENI_TARGET=0 "
                    "(an ENI attached and freed over and over), how many nodes start at once, and other tools "
                    "calling EC2 in the account. " + REPLAY_HINT
                ),
                at=min(e.time for e in hits),
            )
        )
    return out


def eni_churn(timeline: Timeline) -> list[Finding]:
    cycles: dict[str, list[Any]] = defaultdict(list)
    for eni in timeline.enis.values():
        if eni.created_at is None or eni.deleted_at is None or not eni.owner:
            continue
        if eni.deleted_at - eni.created_at <= CHURN_LIFETIME:
            cycles[eni.owner].append(eni)
    out = []
    for instance_id, enis in sorted(cycles.items()):
        if len(enis) < CHURN_MIN:
            continue
        enis.sort(key=lambda e: e.created_at)
        lifetimes = [e.deleted_at - e.created_at for e in enis]
        evidence = [eid for e in enis for eid in (e.create_event, e.delete_event) if eid]
        out.append(
            Finding(
                kind="eni-churn",
                severity="warning",
                subject=instance_id,
                message=(
                    f"{instance_id} created and deleted {len(enis)} ENIs between {iso(enis[0].created_at)} and "
                    f"{iso(enis[-1].deleted_at)} (median lifetime {statistics.median(lifetimes):.0f} s)"
                ),
                evidence=evidence[:EVIDENCE_MAX],
                advice=(
                    "This is the WARM_ENI_TARGET=0 oscillation: with no WARM_IP_TARGET or MINIMUM_IP_TARGET, "
                    "ipamd attaches an ENI when no address is free and frees it once it has stayed idle. Set "
                    "WARM_IP_TARGET and MINIMUM_IP_TARGET, or WARM_ENI_TARGET=1. " + REPLAY_HINT
                ),
                at=enis[0].created_at,
            )
        )
    return out


def ip_churn(timeline: Timeline) -> list[Finding]:
    out = []
    for instance_id, instance in sorted(timeline.instances.items()):
        moves = [op for op in instance.ops if op.ok and op.kind in ("assign", "unassign") and op.addresses]
        unassigns = [op for op in moves if op.kind == "unassign"]
        reversals = sum(1 for a, b in zip(moves, moves[1:], strict=False) if a.kind != b.kind)
        if len(unassigns) < IP_CHURN_UNASSIGNS or reversals < IP_CHURN_REVERSALS:
            continue
        assigned = sum(op.addresses for op in moves if op.kind == "assign")
        out.append(
            Finding(
                kind="ip-churn",
                severity="warning",
                subject=instance_id,
                message=(
                    f"{instance_id} assigned {assigned} and unassigned {sum(op.addresses for op in unassigns)} "
                    f"addresses in {len(moves)} calls from {iso(moves[0].time)} to {iso(moves[-1].time)}, "
                    f"changing direction {reversals} times"
                ),
                evidence=[op.event_id for op in moves][:EVIDENCE_MAX],
                advice=(
                    "Addresses handed back and asked for again: WARM_IP_TARGET is small for this node's pod "
                    "churn. Raise WARM_IP_TARGET, or set MINIMUM_IP_TARGET to the node's usual pod count so "
                    "the pool stops shrinking between bursts. " + REPLAY_HINT
                ),
                at=moves[0].time,
            )
        )
    return out


def leaked_enis(timeline: Timeline) -> list[Finding]:
    end = timeline.end or 0.0
    out = []
    for eni_id, eni in sorted(timeline.enis.items()):
        if not eni.cni or eni.created_at is None or eni.deleted_at is not None or eni.instance_id is not None:
            continue
        if eni.attached_at is None and eni.detached_at is None:
            since, how = eni.created_at, "was never attached"
            evidence = [eni.create_event]
        elif eni.detached_at is not None:
            since, how = eni.detached_at, f"was detached at {iso(eni.detached_at)}"
            evidence = [eni.create_event, eni.detach_event]
        else:
            continue
        if end - since < LEAK_GRACE:
            continue
        out.append(
            Finding(
                kind="leaked-eni",
                severity="warning",
                subject=eni_id,
                message=(
                    f"{eni_id} ({eni.subnet_id or 'subnet unknown'}) was created by {eni.created_by} for "
                    f"{eni.owner or 'an unknown instance'} at {iso(eni.created_at)}, {how} and never deleted: it "
                    f"keeps {eni.subnet_addresses} addresses of its subnet"
                ),
                evidence=[e for e in evidence if e],
                advice=(
                    "ipamd deletes an ENI it could not attach and sweeps leaked ENIs carrying its "
                    "node.k8s.amazonaws.com/instance_id tag; look at the node's aws-node logs (DeleteNetworkInterface "
                    "permissions, throttling) and at DeleteOnTermination, then delete it with "
                    f"`aws ec2 delete-network-interface --network-interface-id {eni_id}`. " + REPLAY_HINT
                ),
                at=since,
            )
        )
    return out


def warm_pool_hoarding(timeline: Timeline) -> list[Finding]:
    out = []
    for subnet_id, subnet in sorted(timeline.subnets.items()):
        if subnet.first_exhaustion is None:
            continue
        when = subnet.first_exhaustion
        for instance_id, (enis, held, _prefixes) in sorted(subnet.instances_at_first_exhaustion.items()):
            instance = timeline.instances[instance_id]
            size = whole_eni_size(instance)
            if not size:
                continue
            whole = [op for op in instance.ops if op.ok and op.time <= when and op.kind in ("create", "assign")]
            whole = [op for op in whole if op.addresses >= size]
            if len(whole) < 2 or held < 2 * size:
                continue
            idle = min(held, 2 * size - 1)
            out.append(
                Finding(
                    kind="warm-pool-hoarding",
                    severity="warning",
                    subject=instance_id,
                    message=(
                        f"{instance_id} held {held} addresses on {enis} ENIs when {subnet_id} ran dry at "
                        f"{iso(when)}, taken in {len(whole)} whole-ENI allocations of {size}: a whole-ENI warm "
                        f"pool keeps up to {idle} of them idle while other nodes' calls failed"
                        + (
                            f" (the first failing call asked for {subnet.first_failed_request})"
                            if subnet.first_failed_request
                            else ""
                        )
                    ),
                    evidence=[op.event_id for op in whole][:EVIDENCE_MAX],
                    advice=(
                        "WARM_ENI_TARGET=1 (the default) keeps a whole spare ENI on every node. On a shared or "
                        "small subnet set WARM_ENI_TARGET=0 with WARM_IP_TARGET (a few addresses) and "
                        "MINIMUM_IP_TARGET (the node's usual pod count), or use ENABLE_PREFIX_DELEGATION with "
                        "WARM_PREFIX_TARGET=1. " + REPLAY_HINT
                    ),
                    at=when,
                    details={"subnet": subnet_id, "held": held, "whole_eni_size": size},
                )
            )
    return out
