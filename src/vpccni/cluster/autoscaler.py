"""The Cluster Autoscaler (AWS provider) as cluster spec §2 describes it, on the simulation's clock.

Scale-up looks only at Unschedulable pods; pods bound to a node and waiting for an address are
invisible to it, as in the real one. `ip_aware` (vpccni's option) is handled by the simulation, which
then returns such pods to Pending so that they become visible here. A group whose scale-up failed is
backed off (`backoff.py`) instead of being asked again at every scan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from vpccni.cluster.backoff import NodeGroupBackoff
from vpccni.cluster.model import Capacity, DaemonSetPods, Group, Launched, Node, Phase, Pod
from vpccni.cluster.scenario import AutoscalerSpec


class AutoscaledCluster(Protocol):
    """What the autoscaler sees of the cluster and may do to it (the simulation provides it)."""

    groups: dict[str, Group]
    daemonset_specs: list[DaemonSetPods]

    def now(self) -> float: ...

    def all_nodes(self) -> list[Node]: ...

    def pending_pods(self) -> list[Pod]: ...

    def scale_group(self, group: Group, desired: int) -> Launched: ...

    def remove_node(self, node: Node) -> None: ...

    def address_limit_for(self, group: Group) -> int: ...

    def group_subnets_can_supply(self, group: Group) -> bool: ...


@dataclass
class Option:
    group: Group
    nodes: int
    pods: list[Pod]


@dataclass
class AutoscalerLog:
    scale_ups: int = 0
    scale_downs: int = 0
    errors: int = 0
    events: list[dict[str, object]] = field(default_factory=list)


class Autoscaler:
    def __init__(self, sim: AutoscaledCluster, spec: AutoscalerSpec, rng: random.Random) -> None:
        self.sim = sim
        self.spec = spec
        self.rng = rng
        self.log = AutoscalerLog()
        self.outage_until = -1.0
        self.last_refresh: float | None = None
        self.last_scale_up = -1e18
        self.last_delete = -1e18
        self.last_failure = -1e18
        self.backoff = NodeGroupBackoff(
            spec.initial_node_group_backoff_duration,
            spec.max_node_group_backoff_duration,
            spec.node_group_backoff_reset_timeout,
        )
        self.given_up: set[str] = set()  # nodes already counted as failed provisioning

    def note(self, kind: str, **details: object) -> None:
        self.log.events.append({"t": round(self.sim.now(), 3), "event": kind, **details})

    def cloud_outage(self, until: float) -> None:
        """The cloud provider API is unreachable until `until` (a timed action of the scenario)."""
        self.outage_until = until
        self.note("outage", until=until)

    # --- the loop (§2.1) -------------------------------------------------------------------------
    def iterate(self) -> None:
        now = self.sim.now()
        if now < self.outage_until and (self.last_refresh is None or now - self.last_refresh >= self.spec.cache_ttl):
            self.log.errors += 1
            self.note("error", message="failed to refresh node groups: cloud provider API unreachable")
            return
        if now >= self.outage_until:
            self.last_refresh = now
        self._give_up_slow_nodes(now)
        if self._scale_up(now):
            return
        if self.spec.scale_down_enabled:
            self._scale_down(now)

    def _give_up_slow_nodes(self, now: float) -> None:
        """Upcoming nodes not Ready within max-node-provision-time: the group is backed off and the node removed
        (unless that would take the group below its minimum size, where the real one leaves it too)."""
        limit = self.spec.max_node_provision_time
        for group in list(self.sim.groups.values()):
            late = [
                n
                for n in group.nodes
                if not n.ready and not n.tainted and n.name not in self.given_up and now - n.created >= limit
            ]
            for node in late:
                self.given_up.add(node.name)
                if len(group.nodes) > group.spec.min:
                    self.sim.remove_node(node)
                self._back_off(group, now, f"{node.name} not ready within {limit:g} s")

    def node_ready(self, node: Node) -> None:
        """A requested node registered and became Ready: its group's scale-up succeeded, its back-off ends."""
        self.backoff.succeed(node.group)

    def _back_off(self, group: Group, now: float, reason: str) -> None:
        seconds = self.backoff.fail(group.spec.name, now)
        self.note("backoff", group=group.spec.name, seconds=seconds, until=round(now + seconds, 3), reason=reason)

    # --- scale-up (§2.3) -------------------------------------------------------------------------
    def _candidates(self) -> list[Pod]:
        return [p for p in self.sim.pending_pods() if p.phase is Phase.UNSCHEDULABLE]

    def template(self, group: Group) -> Capacity:
        """An empty node of the group with its DaemonSet pods: a Ready node's figures, else the catalog's."""
        sim = self.sim
        existing = next((n for n in group.nodes if n.ready), None)
        daemons = sim.daemonset_specs
        address_limit = sim.address_limit_for(group) if self.spec.ip_aware else None
        if existing is not None:
            cpu, memory, pods = existing.cpu, existing.memory, existing.max_pods
        else:
            limits = group.limits
            cpu, memory, pods = limits.vcpus or 2, (limits.memory_mib or 4096) * 1024 * 1024, self.spec.template_pods
        return Capacity(
            pods,
            cpu,
            memory,
            address_limit,
            pods=len(daemons),
            cpu_used=sum(d.cpu for d in daemons),
            memory_used=sum(d.memory for d in daemons),
        )

    def _estimate(self, group: Group, pods: list[Pod], room: int) -> Option | None:
        t = self.template(group)
        order = sorted(pods, key=lambda p: -max(p.cpu / t.cpu, p.memory / t.memory))
        bins: list[Capacity] = []
        placed: list[Pod] = []
        for pod in order:
            target = next((b for b in bins if b.fits(pod)), None)
            if target is None:
                if len(bins) >= room:
                    continue
                target = t.copy()
                if not target.fits(pod):
                    continue
                bins.append(target)
            target.add(pod)
            placed.append(pod)
        if not placed:
            return None
        return Option(group, len(bins), placed)

    def _absorbed_by_upcoming(self, pods: list[Pod]) -> list[Pod]:
        """Pods that nodes already requested (launched, not yet Ready) will take: upcoming capacity (§2.1)."""
        left = list(pods)
        for group in self.sim.groups.values():
            upcoming = [n for n in group.nodes if not n.ready and not n.tainted]
            if not upcoming or not left:
                continue
            t = self.template(group)
            bins = [t.copy() for _ in upcoming]
            still = []
            for pod in left:
                target = next((b for b in bins if b.fits(pod)), None)
                if target is None:
                    still.append(pod)
                    continue
                target.add(pod)
            left = still
        return left

    def _scale_up(self, now: float) -> bool:
        pods = self._absorbed_by_upcoming(self._candidates())
        if not pods:
            return False
        sim = self.sim
        total_nodes = sum(len(g.nodes) for g in sim.groups.values())
        options = []
        for group in sim.groups.values():
            room = group.spec.max - len(group.nodes)
            if self.spec.max_nodes_total:
                room = min(room, self.spec.max_nodes_total - total_nodes)
            if room <= 0 or self.backoff.backed_off(group.spec.name, now):
                continue
            if self.spec.ip_aware and not sim.group_subnets_can_supply(group):
                continue
            option = self._estimate(group, pods, room)
            if option is not None:
                options.append(option)
        if not options:
            if self.spec.ip_aware and any(sim.group_subnets_can_supply(g) is False for g in sim.groups.values()):
                self.note("no-scale-up", reason="subnet exhausted: scaling cannot help", pending=len(pods))
            return False
        chosen = self._expand(options)
        added = 0
        for group, count in self._balanced(chosen):
            launched = sim.scale_group(group, len(group.nodes) + count)
            added += launched.nodes
            if launched.nodes:
                self.note("scale-up", group=group.spec.name, nodes=launched.nodes, pending=len(pods))
            if launched.error is None:
                continue  # the back-off ends when a node becomes Ready (node_ready)
            self.log.errors += 1  # the cloud refused the instances: the iteration fails, the group is backed off
            self._back_off(group, now, f"RunInstances failed: {launched.error}")
        if added:
            self.log.scale_ups += 1
            self.last_scale_up = now
        return True

    def _expand(self, options: list[Option]) -> Option:
        name = self.spec.expander
        if name == "random":
            return self.rng.choice(options)
        if name == "most-pods":
            best = max(len(o.pods) for o in options)
            survivors = [o for o in options if len(o.pods) == best]
        elif name == "least-nodes":
            best_nodes = min(o.nodes for o in options)
            survivors = [o for o in options if o.nodes == best_nodes]
        else:  # least-waste: (C·n − c)/(C·n) + (M·n − m)/(M·n), capacity not allocatable, DaemonSet pods excluded
            scores = []
            for option in options:
                limits = option.group.limits
                cpu = (limits.vcpus or 2) * option.nodes
                memory = (limits.memory_mib or 4096) * 1024 * 1024 * option.nodes
                used_cpu = sum(p.cpu for p in option.pods)
                used_memory = sum(p.memory for p in option.pods)
                scores.append((cpu - used_cpu) / cpu + (memory - used_memory) / memory)
            best_score = min(scores)
            survivors = [o for o, s in zip(options, scores, strict=True) if abs(s - best_score) < 1e-12]
        return survivors[0] if len(survivors) == 1 else self.rng.choice(survivors)

    def _balanced(self, option: Option) -> list[tuple[Group, int]]:
        if not self.spec.balance_similar_node_groups:
            return [(option.group, option.nodes)]
        similar = [
            g
            for g in self.sim.groups.values()
            if g.spec.instance_type == option.group.spec.instance_type and len(g.nodes) < g.spec.max
        ]
        plan = {g.spec.name: 0 for g in similar}
        for _ in range(option.nodes):
            target = min(similar, key=lambda g: (len(g.nodes) + plan[g.spec.name], g.spec.name))
            if len(target.nodes) + plan[target.spec.name] >= target.spec.max:
                break
            plan[target.spec.name] += 1
        return [(g, plan[g.spec.name]) for g in similar if plan[g.spec.name]]

    # --- scale-down (§2.5) -----------------------------------------------------------------------
    def _scale_down(self, now: float) -> None:
        spec = self.spec
        if now - self.last_scale_up < spec.scale_down_delay_after_add:
            return
        if now - self.last_delete < spec.scale_down_delay_after_delete:
            return
        if now - self.last_failure < spec.scale_down_delay_after_failure:
            return
        sim = self.sim
        ready = [n for n in sim.all_nodes() if n.ready and not n.tainted]
        unneeded = []
        for node in ready:
            group = sim.groups[node.group]
            if len(group.nodes) <= group.spec.min or node.utilization() >= spec.scale_down_utilization_threshold:
                node.unneeded_since = None
                continue
            if not self._pods_fit_elsewhere(node, ready):
                node.unneeded_since = None
                continue
            if node.unneeded_since is None:
                node.unneeded_since = now
            if now - node.unneeded_since >= spec.scale_down_unneeded_time:
                unneeded.append(node)
        if not unneeded:
            return
        unneeded.sort(key=lambda n: (n.utilization(), -n.created, n.name))
        empty = [n for n in unneeded if all(p.daemonset for p in n.pods.values())]
        chosen = empty[: spec.max_empty_bulk_delete] if empty else unneeded[:1]
        for node in chosen:
            group = sim.groups[node.group]
            if len(group.nodes) <= group.spec.min:
                continue
            if now < self.outage_until:
                self.log.errors += 1
                self.last_failure = now
                self.note("error", message=f"failed to delete {node.name}: cloud provider API unreachable")
                return
            sim.remove_node(node)
            self.log.scale_downs += 1
            self.last_delete = now
            self.note("scale-down", node=node.name, group=node.group, empty=node in empty)

    def _pods_fit_elsewhere(self, node: Node, ready: list[Node]) -> bool:
        """Whether every pod a drain would move fits on the other Ready nodes, first fit in node order.

        With ip_aware the other nodes' address budgets count too: a drain must not starve pods of addresses.
        """
        movable = [p for p in node.pods.values() if not p.daemonset]
        if not movable:
            return True
        others: dict[str, Capacity] = {}
        for pod in movable:
            for other in ready:
                if other is node:
                    continue
                room = others.get(other.name)
                if room is None:
                    room = others[other.name] = other.capacity.copy()
                if room.fits(pod):
                    room.add(pod)
                    break
            else:
                return False
        return True
