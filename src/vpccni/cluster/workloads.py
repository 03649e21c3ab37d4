"""Workload kinds beyond Deployments: periodic job bursts, Poisson arrivals and rolling restarts.

Each job and arrival stream draws from its own `random.Random`, seeded from (scenario seed, kind, name),
so adding a workload never shifts the random draws of anything else, and a scenario without workloads
draws exactly what it drew before they existed. Pod lifetimes count from Running: a pod that waits for an
address keeps its work. Rolling restarts follow the Deployment controller's RollingUpdate arithmetic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vpccni.cluster.clocks import EventQueue
from vpccni.cluster.model import Phase, Pod
from vpccni.cluster.scenario import ArrivalSpec, JobSpec, RolloutSpec, Scenario, cpu_cores, memory_bytes


class WorkloadHost(Protocol):
    """What the workloads use of the simulation: its scenario, seed, clock and events, and two controls."""

    scenario: Scenario
    seed: int
    events: EventQueue

    def now(self) -> float: ...

    def create_batch_pod(self, template: PodTemplate, lifetime: float) -> Pod: ...

    def restart_deployment(self, name: str, rollout: RolloutSpec) -> None: ...


def workload_rng(seed: int, kind: str, name: str) -> random.Random:
    """A generator of its own per workload (string seeds hash with SHA-512: the same on every run)."""
    return random.Random(f"{seed}/{kind}/{name}")


@dataclass
class PodTemplate:
    """What a job or arrival stream's pods look like; also recreates a pod evicted by a drain."""

    owner: str
    namespace: str
    cpu: float
    memory: float
    serial: int = 0

    def next_name(self) -> str:
        self.serial += 1
        return f"{self.owner}-{self.serial:05d}"


def _template(spec: JobSpec | ArrivalSpec) -> PodTemplate:
    return PodTemplate(spec.name, spec.namespace, cpu_cores(spec.requests.cpu), memory_bytes(spec.requests.memory))


class JobBursts:
    """`pods` pods at start, start + every, … up to `end` (default: the run's end)."""

    def __init__(self, sim: WorkloadHost, spec: JobSpec) -> None:
        self.sim, self.spec = sim, spec
        self.template = _template(spec)
        self.rng = workload_rng(sim.seed, "job", spec.name)
        self.end = spec.end if spec.end is not None else sim.scenario.duration
        self.bursts = 0

    def start(self) -> None:
        if self.spec.start <= self.end:
            self.sim.events.at(self.spec.start, self._burst)

    def _burst(self) -> None:
        self.bursts += 1
        for _ in range(self.spec.pods):
            self.sim.create_batch_pod(self.template, self.spec.lifetime.draw(self.rng))
        following = self.spec.start + self.bursts * self.spec.every  # no drift from adding floats
        if following <= self.end:
            self.sim.events.at(following, self._burst)


class PoissonArrivals:
    """One pod per arrival, exponential gaps at `rate_per_minute`, from start until `end` (default: run's end)."""

    def __init__(self, sim: WorkloadHost, spec: ArrivalSpec) -> None:
        self.sim, self.spec = sim, spec
        self.template = _template(spec)
        self.rng = workload_rng(sim.seed, "arrival", spec.name)
        self.end = spec.end if spec.end is not None else sim.scenario.duration

    def start(self) -> None:
        self._schedule_after(self.spec.start)

    def _schedule_after(self, t: float) -> None:
        following = t + self.rng.expovariate(self.spec.rate_per_minute / 60.0)
        if following <= self.end:
            self.sim.events.at(following, self._arrive)

    def _arrive(self) -> None:
        self.sim.create_batch_pod(self.template, self.spec.lifetime.draw(self.rng))
        self._schedule_after(self.sim.now())


class RolloutSchedule:
    """`kubectl rollout restart` of one deployment at start, start + every, … up to `end`."""

    def __init__(self, sim: WorkloadHost, spec: RolloutSpec) -> None:
        self.sim, self.spec = sim, spec
        self.end = spec.end if spec.end is not None else sim.scenario.duration
        self.restarts = 0

    def start(self) -> None:
        if self.spec.start <= self.end:
            self.sim.events.at(self.spec.start, self._restart)

    def _restart(self) -> None:
        self.restarts += 1
        self.sim.restart_deployment(self.spec.deployment, self.spec)
        if self.spec.every is None:
            return
        following = self.spec.start + self.restarts * self.spec.every
        if following <= self.end:
            self.sim.events.at(following, self._restart)


_RANK = {Phase.UNSCHEDULABLE: 0, Phase.WAITING_FOR_IP: 1, Phase.RUNNING: 2}


def deletion_order(pods: Sequence[Pod]) -> list[Pod]:
    """Which pods a ReplicaSet removes first: unscheduled, then waiting, then running; newest first."""
    return sorted(pods, key=lambda p: (_RANK[p.phase], -p.created, p.name))


@dataclass(frozen=True)
class RollingStep:
    create: int  # new-revision pods to create
    delete: list[Pod]  # pods to delete (old ones, or new ones beyond the replica count)


def rolling_update_step(replicas: int, surge: int, unavailable: int, new: list[Pod], old: list[Pod]) -> RollingStep:
    """One sync of a Deployment's RollingUpdate (the controller's reconcileNewReplicaSet, then OldReplicaSets).

    Scale up the new pods to at most replicas + surge in all; scale down old pods while at least
    replicas − unavailable stay available (Running): first old pods that are not available, then
    available ones. Kubernetes does the two halves in separate syncs; run back to back they act the same.
    """
    running = sum(1 for p in new if p.phase is Phase.RUNNING) + sum(1 for p in old if p.phase is Phase.RUNNING)
    if len(new) > replicas:
        return RollingStep(0, deletion_order(new)[: len(new) - replicas])
    total = len(new) + len(old)
    create = max(0, min(replicas + surge - total, replicas - len(new)))
    total += create
    min_available = replicas - unavailable
    new_unavailable = len(new) + create - sum(1 for p in new if p.phase is Phase.RUNNING)
    max_scaled_down = total - min_available - new_unavailable
    if max_scaled_down <= 0:
        return RollingStep(create, [])
    unhealthy = deletion_order([p for p in old if p.phase is not Phase.RUNNING])[:max_scaled_down]
    healthy = deletion_order([p for p in old if p.phase is Phase.RUNNING])
    return RollingStep(create, unhealthy + healthy[: max(0, running - min_available)])
