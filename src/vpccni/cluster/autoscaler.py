"""The Cluster Autoscaler (AWS provider) as cluster spec §2 describes it, on the simulation's clock.

Scale-up looks only at Unschedulable pods; pods bound to a node and waiting for an address are
invisible to it, as in the real one. `ip_aware` (vpccni's option) is handled by the simulation, which
then returns such pods to Pending so that they become visible here. A group whose scale-up failed is
backed off (`backoff.py`) instead of being asked again at every scan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vpccni.cluster.backoff import NodeGroupBackoff
from vpccni.cluster.model import Node, Phase, Pod
from vpccni.cluster.scenario import AutoscalerSpec

if TYPE_CHECKING:
    from vpccni.cluster.simulation import ClusterSimulation, Group


@dataclass
class Template:
    cpu: float
    memory: float
    pods: int
    daemon_pods: int
    daemon_cpu: float
    daemon_memory: float
    address_limit: int | None


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
    def __init__(self, sim: ClusterSimulation, spec: AutoscalerSpec, rng: random.Random) -> None:
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
        self.log.events.append({"t": round(self.sim.world.now(), 3), "event": kind, **details})

    # --- the loop (§2.1) -------------------------------------------------------------------------
    def iterate(self) -> None:
        now = self.sim.world.now()
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

    def template(self, group: Group) -> Template:
        sim = self.sim
        existing = next((n for n in group.nodes if n.ready), None)
        daemons = sim.daemonset_specs
        ds_cpu = sum(d.cpu for d in daemons)
        ds_memory = sum(d.memory for d in daemons)
        address_limit = sim.address_limit_for(group) if self.spec.ip_aware else None
        if existing is not None:
            return Template(
                existing.cpu, existing.memory, existing.max_pods, len(daemons), ds_cpu, ds_memory, address_limit
            )
        limits = group.limits
        return Template(
            limits.vcpus or 2,
            (limits.memory_mib or 4096) * 1024 * 1024,
            self.spec.template_pods,
            len(daemons),
            ds_cpu,
            ds_memory,
            address_limit,
        )

    def _estimate(self, group: Group, pods: list[Pod], room: int) -> Option | None:
        t = self.template(group)
        order = sorted(pods, key=lambda p: -max(p.cpu / t.cpu, p.memory / t.memory))
        bins: list[list[float]] = []  # [pods, cpu, memory, addresses]
        placed: list[Pod] = []
        for pod in order:
            target = None
            for b in bins:
                if self._fits_template(t, b, pod):
                    target = b
                    break
            if target is None:
                if len(bins) >= room:
                    continue
                target = [float(t.daemon_pods), t.daemon_cpu, t.daemon_memory, 0.0]
                if not self._fits_template(t, target, pod):
                    continue
                bins.append(target)
            target[0] += 1
            target[1] += pod.cpu
            target[2] += pod.memory
            target[3] += 0 if pod.host_network else 1
            placed.append(pod)
        if not placed:
            return None
        return Option(group, len(bins), placed)

    @staticmethod
    def _fits_template(t: Template, b: list[float], pod: Pod) -> bool:
        if b[0] + 1 > t.pods or b[1] + pod.cpu > t.cpu + 1e-9 or b[2] + pod.memory > t.memory + 1e-9:
            return False
        return t.address_limit is None or pod.host_network or b[3] + 1 <= t.address_limit

    def _absorbed_by_upcoming(self, pods: list[Pod]) -> list[Pod]:
        """Pods that nodes already requested (launched, not yet Ready) will take: upcoming capacity (§2.1)."""
        left = list(pods)
        for group in self.sim.groups.values():
            upcoming = [n for n in group.nodes if not n.ready and not n.tainted]
            if not upcoming or not left:
                continue
            t = self.template(group)
            bins = [[float(t.daemon_pods), t.daemon_cpu, t.daemon_memory, 0.0] for _ in upcoming]
            still = []
            for pod in left:
                target = next((b for b in bins if self._fits_template(t, b, pod)), None)
                if target is None:
                    still.append(pod)
                    continue
                target[0] += 1
                target[1] += pod.cpu
                target[2] += pod.memory
                target[3] += 0 if pod.host_network else 1
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
        movable = [p for p in node.pods.values() if not p.daemonset]
        if not movable:
            return True
        extra: dict[str, list[float]] = {}
        for pod in movable:
            placed = False
            for other in ready:
                if other is node:
                    continue
                e = extra.setdefault(other.name, [0.0, 0.0, 0.0])
                if len(other.pods) + e[0] + 1 > other.max_pods:
                    continue
                limit = self.sim.address_limit_of(other)  # ip_aware: a drain must not starve pods of addresses
                if limit is not None and not pod.host_network:
                    using = sum(1 for p in other.pods.values() if not p.host_network)
                    if using + e[0] + 1 > limit:
                        continue
                if (
                    other.cpu_requested + e[1] + pod.cpu > other.cpu
                    or other.memory_requested + e[2] + pod.memory > other.memory
                ):
                    continue
                e[0] += 1
                e[1] += pod.cpu
                e[2] += pod.memory
                placed = True
                break
            if not placed:
                return False
        return True
