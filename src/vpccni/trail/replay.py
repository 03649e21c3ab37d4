"""Turn an analysed trail into a cluster scenario (YAML) that reproduces it under `vpccni simulate`.

Writes text only: the scenario format is `vpccni.cluster.scenario`'s, but this module does not import the
simulator. Every value carries a comment saying whether the trail showed it (observed), a flag gave it, or
the warm-pool rules implied it (inferred; see `inference`).
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import yaml

from vpccni import catalog
from vpccni.trail.analysis import Analysis
from vpccni.trail.inference import Settings, infer_settings, instance_demand, simplify, total_demand
from vpccni.trail.normalise import iso
from vpccni.trail.timeline import InstanceRecord, Timeline

BOOT_DELAY = 60.0  # the scenario default: running → kubelet and ipamd start
WAVE_SECONDS = 60.0  # instances whose ipamd started within a minute form one node group
TAIL_SECONDS = 300.0  # simulated after the last event, so late effects show
MERGE_SECONDS = 15.0
MAX_SCALE_ACTIONS = 200
POD_CPU, POD_MEMORY = "10m", "16Mi"  # small, so that only addresses limit where pods go
RESERVED_PER_SUBNET = 5  # AWS keeps 5 addresses of every subnet


class ReplayError(ValueError):
    """The trail lacks something the scenario needs; the message names the flag that can supply it."""


@dataclass
class ReplayOptions:
    instance_type: str | None = None
    subnet_cidrs: dict[str, str] = field(default_factory=dict)  # subnet id → CIDR
    default_cidr: str | None = None  # for the one subnet the trail shows no CIDR for
    name: str | None = None


@dataclass
class _Group:
    name: str
    instance_type: str
    type_note: str
    subnet: str
    ready_at: float
    instances: list[InstanceRecord]
    settings: Settings


def parse_subnet_cidr_flags(values: list[str]) -> tuple[dict[str, str], str | None]:
    """`--subnet-cidr 10.0.0.0/24` (the one subnet without a CIDR) or `--subnet-cidr subnet-abc=10.0.0.0/24`."""
    mapping: dict[str, str] = {}
    default = None
    for value in values:
        subnet, _, cidr = value.rpartition("=")
        _check_cidr(cidr, f"--subnet-cidr {value!r}")
        if subnet:
            mapping[subnet] = cidr
        elif default is not None:
            raise ReplayError("--subnet-cidr: give one bare CIDR at most; name the others as SUBNET=CIDR")
        else:
            default = cidr
    return mapping, default


def _check_cidr(cidr: str, where: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        raise ReplayError(f"{where}: not an IPv4 CIDR (e.g. 10.0.0.0/24)") from None
    if not 16 <= network.prefixlen <= 28:
        raise ReplayError(f"{where}: a VPC subnet is /16 to /28")
    return network


def replay_scenario(analysis: Analysis, options: ReplayOptions, source: str = "the trail") -> str:
    """The scenario YAML for an analysed trail; raises ReplayError naming the missing flag."""
    timeline = analysis.timeline
    if timeline.start is None or timeline.end is None:
        raise ReplayError(f"{source}: no EC2 events to replay")
    start = timeline.start
    nodes = [i for i in timeline.instances.values() if i.first_cni_call is not None or i.ops]
    if not nodes:
        raise ReplayError(f"{source}: no instance's CNI made EC2 calls: nothing to replay")
    churners = {f.subject for f in analysis.findings if f.kind == "eni-churn"}
    groups = _groups(nodes, timeline, options, start, churners)
    subnets = _subnets(groups, timeline, options)
    demand_points = total_demand(
        [instance_demand(i, g.settings, _eni_size(g.instance_type)) for g in groups for i in g.instances]
    )
    demand = simplify([(max(0.0, t - start), d) for t, d in demand_points], MERGE_SECONDS, MAX_SCALE_ACTIONS)
    duration = math.ceil(timeline.end - start + TAIL_SECONDS)
    name = options.name or "replayed-trail"
    lines = [
        f"# Replayed by `vpccni trail replay` from {source}:",
        f"# {len(analysis.events)} EC2 events from {iso(start)} to {iso(timeline.end)}, "
        f"{len(nodes)} instance{'s' if len(nodes) != 1 else ''} whose CNI called EC2.",
        "# Time 0 is the first event. 'observed' values come from the trail's requests and responses, 'flag'",
        "# values from the command line, 'inferred' ones from the warm-pool rules (pods are never in CloudTrail:",
        "# the demand below is the fewest pods consistent with every allocation and release the nodes made).",
        f"name: {_s(name)}",
        f"description: {_s(f'CloudTrail replay of {source}')}",
        "seed: 1",
        f"duration: {duration}  # inferred: the trail's span plus {TAIL_SECONDS:.0f} s",
        f"vpc_cidr: {_s(_vpc_cidr([s['cidr'] for s in subnets]))}  # inferred: covers the subnets",
        "subnets:",
    ]
    for subnet in subnets:
        lines += [
            f"  - name: {_s(subnet['name'])}",
            f"    cidr: {_s(subnet['cidr'])}  # {subnet['cidr_note']}",
            f"    used_by_others: {subnet['others']}  # {subnet['others_note']}",
        ]
    lines.append("node_groups:")
    for group in groups:
        ids = ", ".join(i.instance_id for i in group.instances)
        launch = max(0.0, group.ready_at - BOOT_DELAY)
        boot = group.ready_at - launch
        lines += [
            f"  - name: {_s(group.name)}  # observed: {ids}",
            f"    instance_type: {_s(group.instance_type)}  # {group.type_note}",
            f"    min: {len(group.instances)}  # observed: instances whose CNI called EC2",
            f"    max: {len(group.instances)}",
            f"    subnets: [{_s(group.subnet)}]  # observed",
            f"    launch_delay: {launch:.0f}  # observed: ipamd's first call at {group.ready_at:.0f} s",
            f"    boot_delay: {boot:.0f}",
        ]
        if group.settings.env:
            lines.append(f"    ipamd:  # inferred: {group.settings.reason}")
            lines += [f"      {key}: {_s(value)}" for key, value in group.settings.env.items()]
        else:
            lines.append(f"    ipamd: {{}}  # {group.settings.reason}")
    if len(demand) > 1 and demand[0][1] == 0:
        demand = demand[1:]  # the deployment appears with the first pods
    first_at, first_pods = demand[0] if demand else (0.0, 0)
    lines += [
        "deployments:",
        "  - name: replayed-pods",
        f"    replicas: {first_pods}  # inferred: pods implied by the nodes' calls (see the header)",
        f"    at: {first_at:.0f}",
        f"    requests: {{cpu: {POD_CPU}, memory: {POD_MEMORY}}}  # small: only addresses limit placement",
        "autoscaler:",
        "  enabled: false  # the node counts are replayed as observed",
    ]
    scales = demand[1:]
    if scales:
        lines.append("actions:  # inferred: the pod demand curve")
        lines += [
            f"  - {{at: {when:.0f}, scale: {{deployment: replayed-pods, replicas: {pods}}}}}" for when, pods in scales
        ]
    return "\n".join(lines) + "\n"


def _s(value: Any) -> str:
    """One YAML scalar, quoted when it needs to be."""
    return yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip().removesuffix("...").strip()


def _eni_size(instance_type: str) -> int:
    return catalog.get(instance_type).ipv4_per_eni - 1


def _groups(
    nodes: list[InstanceRecord], timeline: Timeline, options: ReplayOptions, start: float, churners: set[str]
) -> list[_Group]:
    typed: dict[tuple[str, str], list[InstanceRecord]] = defaultdict(list)
    notes: dict[str, str] = {}
    for instance in sorted(nodes, key=lambda i: (i.first_cni_call or i.first_seen or 0.0, i.instance_id)):
        if instance.instance_type:
            kind = instance.instance_type
            notes[kind] = f"observed ({instance.type_source})"
        elif options.instance_type:
            kind = options.instance_type
            notes.setdefault(kind, "flag: --instance-type (no RunInstances or DescribeInstances response)")
        else:
            raise ReplayError(
                f"{instance.instance_id}: the trail shows no instance type (no RunInstances or DescribeInstances "
                "response); give --instance-type"
            )
        try:
            catalog.get(kind)
        except catalog.UnknownInstanceType as exc:
            flag = "" if instance.instance_type else "--instance-type: "
            raise ReplayError(f"{flag}{exc}") from None
        subnet = instance.subnet_id or _eni_subnet(instance, timeline) or "subnet-unknown"
        typed[(kind, subnet)].append(instance)
    groups: list[_Group] = []
    for (kind, subnet), members in typed.items():
        settings = infer_settings(members, _eni_size(kind), churn=any(m.instance_id in churners for m in members))
        waves: list[list[InstanceRecord]] = []
        for instance in members:
            ready = _ready(instance, start)
            if waves and ready - _ready(waves[-1][0], start) < WAVE_SECONDS:
                waves[-1].append(instance)
            else:
                waves.append([instance])
        for wave in waves:
            name = f"{kind.replace('.', '-')}-{len(groups) + 1}"
            groups.append(_Group(name, kind, notes[kind], subnet, _ready(wave[0], start), wave, settings))
    return groups


def _ready(instance: InstanceRecord, start: float) -> float:
    return max(0.0, (instance.first_cni_call or instance.first_seen or start) - start)


def _eni_subnet(instance: InstanceRecord, timeline: Timeline) -> str | None:
    for eni in timeline.enis.values():
        if eni.owner == instance.instance_id and eni.subnet_id:
            return eni.subnet_id
    return None


def _subnets(groups: list[_Group], timeline: Timeline, options: ReplayOptions) -> list[dict[str, Any]]:
    names = sorted({g.subnet for g in groups})
    lacking = [n for n in names if n not in options.subnet_cidrs and not _observed_cidr(timeline, n)]
    if len(lacking) > 1 and options.default_cidr is not None:
        raise ReplayError(
            f"--subnet-cidr: {len(lacking)} subnets have no CIDR in the trail ({', '.join(lacking)}); "
            "give each as --subnet-cidr SUBNET=CIDR"
        )
    out = []
    for name in names:
        record = timeline.subnets.get(name)
        if name in options.subnet_cidrs:
            cidr, note = options.subnet_cidrs[name], "flag: --subnet-cidr"
        elif record is not None and record.cidr:
            cidr, note = record.cidr, f"observed ({record.cidr_source})"
        elif options.default_cidr is not None:
            cidr, note = options.default_cidr, "flag: --subnet-cidr (the trail shows no CIDR)"
        else:
            raise ReplayError(
                f"{name}: the trail shows no CIDR for this subnet (no DescribeSubnets or CreateSubnet response); "
                "give --subnet-cidr"
            )
        network = _check_cidr(cidr, f"subnet {name} CIDR {cidr}")
        capacity = network.num_addresses - RESERVED_PER_SUBNET
        nodes = sum(len(g.instances) for g in groups if g.subnet == name)
        others, others_note = _others(record, capacity)
        ceiling = max(0, capacity - 2 * nodes)  # every node still needs its primary address and one for pods
        if others > ceiling:
            others, others_note = ceiling, others_note + f", capped at {ceiling} so the nodes can start"
        out.append(
            {"name": name, "cidr": str(network), "cidr_note": note, "others": others, "others_note": others_note}
        )
    return out


def _observed_cidr(timeline: Timeline, name: str) -> bool:
    record = timeline.subnets.get(name)
    return record is not None and record.cidr is not None


def _others(record: Any, capacity: int) -> tuple[int, str]:
    if record is not None and record.available:
        when, free, held = record.available[0]
        others = max(0, capacity - free - held)
        return others, (
            f"observed: DescribeSubnets showed {free} free at {iso(when)} while the trail's ENIs held {held}"
        )
    if record is not None and record.first_exhaustion is not None and record.held_at_first_exhaustion is not None:
        asked = record.first_failed_request or 1
        others = max(0, capacity - record.held_at_first_exhaustion - (asked - 1))
        return others, (
            f"inferred: {capacity} usable − {record.held_at_first_exhaustion} held by the trail's ENIs when it ran "
            f"dry − {asked - 1} (a call for {asked} failed, so fewer were free)"
        )
    return 0, "inferred: no exhaustion and no DescribeSubnets response, so no sign of other tenants"


def _vpc_cidr(cidrs: list[str]) -> str:
    networks = [ipaddress.IPv4Network(c) for c in cidrs]
    vpc = networks[0].supernet(new_prefix=min(16, networks[0].prefixlen))
    while not all(n.subnet_of(vpc) for n in networks) and vpc.prefixlen > 8:
        vpc = vpc.supernet()
    return str(vpc)


def default_name(paths: list[str]) -> str:
    """A scenario name from the first input's file name (stdin: "replayed-trail")."""
    first = paths[0] if paths else "-"
    if first == "-":
        return "replayed-trail"
    base = os.path.basename(os.path.normpath(first))
    for suffix in (".gz", ".jsonl", ".json", ".ndjson"):
        base = base.removesuffix(suffix)
    return f"replay-{base}" if base else "replayed-trail"
