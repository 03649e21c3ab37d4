"""The cluster simulation: one simulated VPC, node groups, pods, the autoscaler, on virtual time.

Every node runs the real engine (`NodeIpam`) behind the real AddNetwork/DelNetwork semantics
(`CniBackend`), on the reference's 5 s pool loop (`stepping.py`: turns known to do nothing are not run;
`skip_idle=False` runs them all, with the same results). This module wires the pieces together: node
groups and instances, pods and their controllers, timed actions, sampling and the run's summary.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, Literal, TextIO

from mypy_extensions import mypyc_attr

from vpccni import __version__, catalog
from vpccni.cloud.errors import Ec2Error
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2
from vpccni.cluster.autoscaler import Autoscaler
from vpccni.cluster.clocks import ActingClock, EventQueue, LocalClock, Timeline
from vpccni.cluster.efficiency import Durations, IdleAddresses, IpWaits
from vpccni.cluster.model import Capacity, DaemonSetPods, Deployment, Group, Launched, Node, Phase, Pod, Shape
from vpccni.cluster.node_metrics import API_ERRORS, CALLS
from vpccni.cluster.progress import RunProgress, StopRequest
from vpccni.cluster.scenario import (
    Action,
    DaemonSetSpec,
    RolloutSpec,
    Scenario,
    ScenarioError,
    cpu_cores,
    memory_bytes,
)
from vpccni.cluster.scheduler import PendingPods, Scheduler
from vpccni.cluster.stepping import NodeStepper
from vpccni.cluster.workloads import (
    JobBursts,
    PodTemplate,
    PoissonArrivals,
    RolloutSchedule,
    rolling_update_step,
)
from vpccni.ipam.backend import AddRequest, CniBackend, DelRequest
from vpccni.ipam.checkpoint import CheckpointStore, LazyCheckpoint
from vpccni.ipam.config import IpamConfig, default_max_pods, effective_settings, pod_address_capacity
from vpccni.ipam.node import INSUFFICIENT_CIDR_BACKOFF, IpamInitError, NodeIpam
from vpccni.metrics_helper.simulated import ClusterSeries

SANDBOX_DELAY: Final = 1.0  # bound → kubelet's first sandbox attempt
RETRY_BASE, RETRY_JITTER = 10.0, 5.0  # kubelet's sandbox back-off: 10 s plus up to 50 %
INIT_RETRY: Final = 10.0
NETWORK: Final = "aws-cni"
# ipamd's mutating EC2 actions (the prefix variants are the same actions with prefix parameters). In the
# cluster simulation only ipamd calls them: the autoscaler calls Run/TerminateInstances, and control-plane
# ENIs are addresses taken at start, not calls.
MUTATING_ACTIONS = (
    "CreateNetworkInterface",
    "AttachNetworkInterface",
    "DetachNetworkInterface",
    "DeleteNetworkInterface",
    "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses",
)


log = logging.getLogger("vpccni.cluster")
PROGRESS_EVERY: Final = 4096  # events between two progress reports (and stop checks)
# progress reports between two `_collect_young` (2**21 events): a run leaves next to no cyclic garbage (none found in
# a virtual day of 1,000 nodes), so a collection is a scan for nothing; every 4,096 events it cost 5 % of the run,
# every 2**18 still 3 % of a 1,000-node run's wall time (its young objects are cold by then)
COLLECT_EVERY_REPORTS: Final = 512


_gc_lock = threading.Lock()
_gc_runs = 0  # simulations running in this process (threads of a Dask worker run several at once)
_gc_was_enabled = True


@contextmanager
def _collections_deferred() -> Iterator[None]:
    """No automatic cyclic garbage collection during a run, only `_collect_young` between events.

    A run's objects are long-lived and its young ones mostly die by reference counting, yet the collector's
    automatic full collections would rescan the whole cluster, more often as it grows (7 % of a 1,000-node
    run). The collector is the process's: the first of concurrent runs turns it off, the last one restores it
    and unfreezes what `_collect_young` froze."""
    global _gc_runs, _gc_was_enabled
    with _gc_lock:
        if _gc_runs == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
            gc.freeze()
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.unfreeze()
                if _gc_was_enabled:
                    gc.enable()


def _collect_young() -> None:
    """Collect the cycles the last stretch of events left, then freeze the survivors out of later collections:
    each object is scanned about once, whatever the cluster's size. (Frozen objects that die later are freed
    by reference counting; a frozen cycle waits for the first collection after the run.)"""
    gc.collect()
    gc.freeze()


# Where a run's CloudTrail log goes: kept in memory (`cloud.trail.events()`), not kept (only the counts the
# summary needs), or streamed to an open text file as JSON lines.
TrailTarget = Literal["memory", "none"] | TextIO


@mypyc_attr(allow_interpreted_subclasses=True)  # tests record what it does by overriding its steps
class ClusterSimulation:
    def __init__(
        self,
        scenario: Scenario,
        seed: int | None = None,
        skip_idle: bool = True,
        progress: Callable[[RunProgress], None] | None = None,
        trail: TrailTarget = "memory",
        stop: StopRequest | None = None,
        on_sample: Callable[[ClusterSimulation], None] | None = None,
    ) -> None:
        """`on_sample` is called at every sample tick (e.g. the advisor's pods-per-node reading)."""
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.progress = progress
        self.on_sample = on_sample
        self.stop = stop
        self.stopped_early = False
        self.world = Timeline()
        self.acting = ActingClock(self.world)
        self.rng = random.Random(self.seed)
        # a log streamed to a file has every call, read-only ones too, as CloudTrail records them; one kept
        # in memory has only the changes (it would grow with every describe)
        streamed = not isinstance(trail, str)
        self.cloud = SimCloud(
            self.acting,
            random.Random(self.seed + 1),
            SimConfig(record_read_only=streamed, throttle_scale=self.scenario.ec2_api_limits),
        )
        if trail == "none":
            self.cloud.trail.discard()
        elif not isinstance(trail, str):
            self.cloud.trail.stream_to(trail, self.world.now)
        self.events = EventQueue()
        self.asg_clock = LocalClock()
        self.asg = SimEc2(self.cloud, None, f"vpccni/{__version__} autoscaling")
        self.subnet_ids: dict[str, str] = {}
        self.subnet_sizes: dict[str, int] = {}
        self.groups: dict[str, Group] = {}
        self.deployments: dict[str, Deployment] = {}
        self.daemonset_specs = [self._daemonset(d) for d in scenario.daemonsets]
        self.pods: dict[str, Pod] = {}
        self.pending = PendingPods()  # Unschedulable, in creation order
        self.removed_nodes: list[Node] = []
        self.node_serial = 0
        self.scheduler = Scheduler()
        self.stepper = NodeStepper(self.events, self.world, self.acting, self._note_idle, self._note_subnets, skip_idle)
        self.autoscaler = Autoscaler(self, scenario.autoscaler, random.Random(self.seed + 2))
        self.scheduler_queued = False
        self.start_times = Durations()  # creation → Running, workload pods
        self.samples: list[dict[str, Any]] = []
        self.sample_ticks = 0
        self.sample_stride = 1  # doubled each time the samples are thinned to max_series_points
        self.subnet_free_min: dict[str, int] = {}
        self.asg_calls: Counter[str] = Counter()
        self.asg_errors: Counter[str] = Counter()
        self.nodes_max = 0
        self.idle = IdleAddresses(max_points=scenario.max_series_points)
        self.ip_waits = IpWaits()
        self.cluster_metrics = ClusterSeries()  # the CNI metrics helper's figures, sampled with the time series
        self.pods_created = 0  # not counting DaemonSet pods
        self.pods_deleted = 0
        self.pods_completed = 0  # job and arrival pods that finished their work
        self.batch_owners: dict[str, PodTemplate] = {}
        self.control_plane_addresses: dict[str, list[int]] = {}
        self._build()

    # --- setup -----------------------------------------------------------------------------------
    @staticmethod
    def _daemonset(spec: DaemonSetSpec) -> DaemonSetPods:
        return DaemonSetPods(
            spec.name,
            spec.namespace,
            cpu_cores(spec.requests.cpu),
            memory_bytes(spec.requests.memory),
            spec.host_network,
        )

    def _build(self) -> None:
        scenario = self.scenario
        with self.acting.acting(self.asg_clock):
            vpc = self.asg.create_vpc(scenario.vpc_cidr)
            for subnet in scenario.subnets:
                created = self.asg.create_subnet(vpc.vpc_id, subnet.cidr, subnet.az)
                self.subnet_ids[subnet.name] = created.subnet_id
                self.subnet_sizes[subnet.name] = ipaddress.IPv4Network(subnet.cidr).num_addresses - 5
                wanted = subnet.used_by_others
                if wanted and self.cloud.use_by_others(created.subnet_id, wanted) < wanted:
                    raise ScenarioError(f"subnets.{subnet.name}.used_by_others: more than the subnet holds")
        self._take_control_plane_addresses()
        for spec in scenario.node_groups:
            try:
                config = IpamConfig.from_env(spec.ipamd)
            except ValueError as exc:
                raise ScenarioError(f"node_groups.{spec.name}.ipamd: {exc}") from None
            self.groups[spec.name] = Group(spec, catalog.get(spec.instance_type), config)
        for group in self.groups.values():
            initial = group.spec.desired if group.spec.desired is not None else group.spec.min
            self.scale_group(group, initial)
        for deployment in scenario.deployments:
            self.deployments[deployment.name] = Deployment(
                deployment.name,
                deployment.namespace,
                cpu_cores(deployment.requests.cpu),
                memory_bytes(deployment.requests.memory),
                deployment.host_network,
            )
            self.events.at(deployment.at, partial(self.scale_deployment, deployment.name, deployment.replicas))
        for action in scenario.actions:
            self.events.at(action.at, partial(self._act, action))
        for job in scenario.jobs:
            bursts = JobBursts(self, job)
            self.batch_owners[job.name] = bursts.template
            bursts.start()
        for arrival in scenario.arrivals:
            stream = PoissonArrivals(self, arrival)
            self.batch_owners[arrival.name] = stream.template
            stream.start()
        for rollout in scenario.rollouts:
            RolloutSchedule(self, rollout).start()
        if scenario.autoscaler.enabled:
            self.events.at(scenario.autoscaler.scan_interval, self._autoscaler_tick)
        self.events.at(0.0, self._sample_tick)
        self._note_subnets()

    def _take_control_plane_addresses(self) -> None:
        """EKS's cross-account control-plane ENIs: one address each in a cluster subnet, never ipamd's to manage.

        They live in AWS's account, so the cluster sees them only as addresses in use in its subnets.
        """
        for name, count in self.scenario.control_plane_enis.items():
            with self.cloud.lock:
                taken = self.cloud.subnet_pool(self.subnet_ids[name]).take_addresses(count) if count else []
            if taken is None:
                raise ScenarioError(f"control_plane_enis.{name}: more than the subnet holds")
            self.control_plane_addresses[name] = taken

    # --- node groups -----------------------------------------------------------------------------
    def scale_group(self, group: Group, desired: int) -> Launched:
        """Set a group's desired size: launch instances now, or (shrinking) leave it to remove_node."""
        desired = max(group.spec.min, min(group.spec.max, desired))
        launched, error = 0, None
        while len(group.nodes) < desired:
            error = self._launch(group)
            if error is not None:
                break
            launched += 1
        return Launched(launched, error)

    def _launch(self, group: Group) -> str | None:
        """Launch one instance in the group's least-used subnet that accepts it; the last refusal's code if none."""
        spec = group.spec
        subnet_names = sorted(spec.subnets, key=lambda s: (sum(1 for n in group.nodes if n.subnet == s), s))
        now = self.world.now()
        error = "no subnet"
        for subnet in subnet_names:
            self.asg_calls["RunInstances"] += 1
            try:
                with self.acting.acting(self.asg_clock):
                    (instance,) = self.asg.run_instances(spec.instance_type, self.subnet_ids[subnet])
            except Ec2Error as exc:
                self.asg_errors[exc.code] += 1
                error = exc.code
                continue
            self.node_serial += 1
            limits = group.limits
            max_pods = spec.max_pods or default_max_pods(limits, group.config)
            addresses = pod_address_capacity(limits, group.config)
            ip_aware = self.scenario.autoscaler.ip_aware  # then the scheduler counts pod addresses too
            capacity = Capacity(
                max_pods,
                float(limits.vcpus or 2),
                float((limits.memory_mib or 4096) * 1024 * 1024),
                min(addresses, max_pods) if ip_aware else None,
            )
            node = Node(
                name=f"{spec.name}-{self.node_serial:04d}",
                group=spec.name,
                instance_type=spec.instance_type,
                instance_id=instance.instance_id,
                subnet=subnet,
                capacity=capacity,
                address_capacity=addresses,
                created=now,
                clock=LocalClock(now),
            )
            group.nodes.append(node)
            group.launched += 1
            self.nodes_max = max(self.nodes_max, sum(len(g.nodes) for g in self.groups.values()))
            self.events.at(now + spec.launch_delay + spec.boot_delay, partial(self._boot, node))
            self._note_subnets()
            return None
        return error

    def address_limit_for(self, group: Group) -> int:
        """ip_aware: pod addresses a node of this group can hold (never above its max-pods)."""
        spec = group.spec
        max_pods = spec.max_pods or default_max_pods(group.limits, group.config)
        return min(pod_address_capacity(group.limits, group.config), max_pods)

    def group_subnets_can_supply(self, group: Group) -> bool:
        """ip_aware: whether a new node could get its primary address and a first address in some subnet."""
        return any(self._subnet_free(name) >= 2 for name in group.spec.subnets)

    def _subnet_free(self, name: str) -> int:
        return self.cloud.subnet_pool(self.subnet_ids[name]).free_count

    def _start_engine(self, node: Node, config: IpamConfig, ec2: SimEc2, checkpoint: CheckpointStore | None) -> None:
        """aws-node starting on the node: a new engine (from `checkpoint` after a restart) behind the CNI backend."""
        node.ipam = NodeIpam(
            ec2,
            node.instance_id,
            config,
            node.clock,
            random.Random(self.rng.getrandbits(32)),
            max_pods=node.max_pods,
            checkpoint_store=checkpoint,
            metrics=node.metrics,
        )
        node.ipam.ds.checkpoint = LazyCheckpoint()  # rendered only if the engine restarts
        node.backend = CniBackend(node.ipam, __version__)

    def _boot(self, node: Node) -> None:
        if node.tainted:
            return
        api = SimEc2(self.cloud, node.instance_id, f"vpccni/{__version__} ipamd")
        self._start_engine(node, self.groups[node.group].config, api, None)
        self._init(node)

    def _init(self, node: Node) -> None:
        if node.tainted:
            return  # given up (not Ready in time) and terminated while ipamd was retrying its init
        assert node.ipam is not None
        with self.stepper.engine(node):
            try:
                node.ipam.init()
                ok = True
            except (IpamInitError, Ec2Error) as exc:  # retried, as aws-node's restart would
                log.info("%s: ipamd init failed (%s); retried in %.0f s", node.name, exc, INIT_RETRY)
                ok = False
            done = node.clock.now()
        self._note_idle(node)
        if not ok:
            self.events.at(done + INIT_RETRY, lambda: self._init(node))
            return
        self.events.at(done, lambda: self._ready(node))

    def _ready(self, node: Node) -> None:
        if node.tainted:
            return
        node.ready = True
        self.autoscaler.node_ready(node)
        for ds in self.daemonset_specs:
            pod = self._new_pod(
                f"{ds.name}-{node.name}", ds.name, ds.namespace, ds.cpu, ds.memory, ds.host_network, daemonset=True
            )
            self._bind(pod, node)
        self.scheduler.update(node)
        self.stepper.start(node)
        self._queue_scheduler()

    def remove_node(self, node: Node) -> None:
        """Drain (pods deleted and recreated by their controllers) and terminate the instance."""
        node.tainted = True
        self.scheduler.forget(node)
        for pod in list(node.pods.values()):
            self._delete_pod(pod, recreate=not pod.daemonset)
        group = self.groups[node.group]
        group.nodes.remove(node)
        self.removed_nodes.append(node)
        self._note_idle(node)
        node.ready = False
        self.stepper.stop(node)
        self.asg_calls["TerminateInstances"] += 1
        with self.acting.acting(self.asg_clock):
            try:
                self.asg.terminate_instances([node.instance_id])
            except Ec2Error as exc:
                self.asg_errors[exc.code] += 1
        node.ipam = node.backend = None  # the instance is gone: only its counters stay, for the summary
        self._note_subnets()
        self._queue_scheduler()

    def now(self) -> float:
        return self.world.now()

    @property
    def node_steps(self) -> int:
        """Pool-cycle events handled so far (work done, not an outcome)."""
        return self.stepper.steps

    def all_nodes(self) -> list[Node]:
        return [n for g in self.groups.values() for n in g.nodes]

    def _note_idle(self, node: Node) -> None:
        """Tell the idle-address integral what this node holds unassigned now (0 once it is being removed)."""
        ipam = node.ipam
        idle = 0 if ipam is None or node.tainted else ipam.ds.total - ipam.ds.assigned
        self.idle.update(node.name, idle, self.world.now())

    # --- pods ------------------------------------------------------------------------------------
    def _new_pod(
        self, name: str, owner: str, namespace: str, cpu: float, memory: float, host: bool, daemonset: bool = False
    ) -> Pod:
        pod = Pod(name, owner, namespace, cpu, memory, host, daemonset, self.world.now())
        self.pods[name] = pod
        if not daemonset:
            self.pods_created += 1
        return pod

    def create_batch_pod(self, template: PodTemplate, lifetime: float) -> Pod:
        """A job or arrival pod: Pending now, deleted `lifetime` seconds after it starts Running."""
        pod = self._new_pod(
            template.next_name(), template.owner, template.namespace, template.cpu, template.memory, False
        )
        pod.lifetime = lifetime
        self.pending.add(pod)
        self._queue_scheduler()
        return pod

    def _finish(self, pod: Pod) -> None:
        if pod.deleted:
            return
        self.pods_completed += 1
        self._delete_pod(pod, recreate=False)

    def pending_pods(self) -> list[Pod]:
        """Pods the scheduler tried and could not place (what the autoscaler reacts to)."""
        return [p for p in self.pending.pods() if p.unschedulable]

    def scale_deployment(self, name: str, replicas: int) -> None:
        deployment = self.deployments[name]
        deployment.replicas = replicas
        if deployment.rollout is not None and self._roll(deployment):
            return
        live = [p for p in deployment.pods if not p.deleted]
        for _ in range(replicas - len(live)):
            self._new_deployment_pod(deployment)
        if len(live) > replicas:
            rank = {Phase.UNSCHEDULABLE: 0, Phase.WAITING_FOR_IP: 1, Phase.RUNNING: 2}
            doomed = sorted(live, key=lambda p: (rank[p.phase], -p.created, p.name))[: len(live) - replicas]
            for pod in doomed:
                self._delete_pod(pod, recreate=False)
        deployment.pods = [p for p in deployment.pods if not p.deleted]
        self._queue_scheduler()

    def _new_deployment_pod(self, deployment: Deployment) -> Pod:
        deployment.serial += 1
        serial = str(deployment.serial)  # zero-padded to 5 digits, as f"{serial:05d}" (whose format call is generic)
        pod = self._new_pod(
            f"{deployment.name}-{'0' * (5 - len(serial))}{serial}",
            deployment.name,
            deployment.namespace,
            deployment.cpu,
            deployment.memory,
            deployment.host_network,
        )
        pod.revision = deployment.revision
        deployment.pods.append(pod)
        self.pending.add(pod)
        return pod

    def restart_deployment(self, name: str, rollout: RolloutSpec) -> None:
        """`kubectl rollout restart`: a new pod template revision, rolled out with `rollout`'s surge settings."""
        deployment = self.deployments[name]
        deployment.revision += 1
        deployment.rollout = rollout
        self.scale_deployment(name, deployment.replicas)

    def _roll(self, deployment: Deployment) -> bool:
        """Sync a RollingUpdate until it settles; False once no old pod is left (the rollout is complete)."""
        rollout = deployment.rollout
        assert rollout is not None
        surge, unavailable = rollout.resolve(deployment.replicas)
        while True:
            live = [p for p in deployment.pods if not p.deleted]
            new = [p for p in live if p.revision == deployment.revision]
            old = [p for p in live if p.revision != deployment.revision]
            if not old:
                deployment.rollout = None
                return False
            step = rolling_update_step(deployment.replicas, surge, unavailable, new, old)
            if not step.create and not step.delete:
                break
            for _ in range(step.create):
                self._new_deployment_pod(deployment)
            for pod in step.delete:
                self._delete_pod(pod, recreate=False)
            deployment.pods = [p for p in deployment.pods if not p.deleted]
        self._queue_scheduler()
        return True

    def _queue_rollout_sync(self, deployment: Deployment) -> None:
        if not deployment.sync_queued:
            deployment.sync_queued = True
            self.events.at(self.world.now(), partial(self._sync_rollout, deployment))

    def _sync_rollout(self, deployment: Deployment) -> None:
        deployment.sync_queued = False
        if deployment.rollout is not None:
            self.scale_deployment(deployment.name, deployment.replicas)

    def _delete_pod(self, pod: Pod, recreate: bool) -> None:
        pod.deleted = True
        self.pending.remove(pod)
        self.pods.pop(pod.name, None)
        if not pod.daemonset:
            self.pods_deleted += 1
        if pod.measured_for_ip_wait and pod.bound_at is not None and pod.started is None:
            self.ip_waits.deleted_without_address += 1
        node = pod.node
        if node is not None:
            if pod.phase is Phase.RUNNING and not pod.host_network and node.backend is not None:
                with self.stepper.engine(node):
                    node.backend.del_network(DelRequest(__version__, pod.container_id, "eth0", NETWORK))
                self._note_idle(node)
                self.stepper.wake(node)
            node.unbind(pod)
            self.scheduler.update(node)
        if recreate and pod.owner in self.deployments:
            deployment = self.deployments[pod.owner]
            deployment.pods = [p for p in deployment.pods if p is not pod]
            self.scale_deployment(deployment.name, deployment.replicas)
        elif recreate and pod.owner in self.batch_owners and pod.lifetime is not None:
            self.create_batch_pod(self.batch_owners[pod.owner], pod.lifetime)  # evicted: its controller starts it anew

    def _queue_scheduler(self) -> None:
        if not self.scheduler_queued:
            self.scheduler_queued = True
            self.events.at(self.world.now(), self._schedule_pending)

    def _schedule_pending(self) -> None:
        """One scheduling pass over the pending pods, in order.

        A pod no node took leaves its fit shape refused for the rest of the pass: binding only fills nodes, so
        no later pod of that shape fits either (without this, a cluster of full nodes and many pending pods
        costs every pending pod a walk over every node, each pass).
        """
        self.scheduler_queued = False
        refused: set[Shape] = set()
        pending = self.pending
        for pod in pending.pods():
            shape = pod.fit_shape
            node = None if shape in refused else self.scheduler.place(pod)
            if node is None:
                pending.refused(pod)
                if shape not in refused:
                    refused.add(shape)
                    if pending.settled(refused):
                        break  # the pods left would all be refused again (200,000 pending at 5,000 nodes' start)
                continue
            pending.remove(pod)
            self._bind(pod, node)  # files the node with the scheduler again (place took it out)

    def _bind(self, pod: Pod, node: Node) -> None:
        node.bind(pod)
        pod.bound_at = self.world.now()
        self.scheduler.update(node)
        if pod.host_network:
            self._running(pod)
            return
        pod.phase = Phase.WAITING_FOR_IP
        self.events.at(self.world.now() + SANDBOX_DELAY, lambda: self._sandbox(pod))

    def _running(self, pod: Pod) -> None:
        pod.phase = Phase.RUNNING
        pod.started = self.world.now()
        if not pod.daemonset:
            self.start_times.record(pod.started - pod.created)
        if pod.measured_for_ip_wait and pod.bound_at is not None:
            self.ip_waits.record(pod.started - pod.bound_at)
        if pod.lifetime is not None:
            self.events.at(pod.started + pod.lifetime, partial(self._finish, pod))
        deployment = self.deployments.get(pod.owner)
        if deployment is not None and deployment.rollout is not None and not pod.daemonset:
            self._queue_rollout_sync(deployment)

    def _sandbox(self, pod: Pod) -> None:
        node = pod.node
        if pod.deleted or node is None or pod.phase is not Phase.WAITING_FOR_IP or node.backend is None:
            return
        pod.sandbox_attempts += 1
        request = AddRequest(
            __version__, pod.container_id, "eth0", NETWORK, pod_name=pod.name, pod_namespace=pod.namespace
        )
        with self.stepper.engine(node):
            reply = node.backend.add_network(request)
            if not reply.success:  # the runtime tears the failed sandbox down: a DEL for an unknown pod
                node.backend.del_network(DelRequest(__version__, pod.container_id, "eth0", NETWORK, "SetupNSFailed"))
        self._note_idle(node)
        if reply.success:
            self._running(pod)
            self.stepper.wake(node)
            return
        self.stepper.wake(node)
        if self.scenario.autoscaler.ip_aware and self._cannot_get_more(node):
            node.unbind(pod)  # returned to Pending, as a descheduler would: now the autoscaler sees it
            self.scheduler.update(node)
            pod.phase = Phase.UNSCHEDULABLE
            self.pending.add(pod)
            self._queue_scheduler()
            return
        self.events.at(self.world.now() + RETRY_BASE + self.rng.random() * RETRY_JITTER, lambda: self._sandbox(pod))

    def _cannot_get_more(self, node: Node) -> bool:
        ipam = node.ipam
        if ipam is None:
            return False
        if ipam.ds.total >= min(node.address_capacity, ipam.max_pods):
            return True
        now = node.clock.now()
        return ipam.last_insufficient is not None and now - ipam.last_insufficient <= INSUFFICIENT_CIDR_BACKOFF

    # --- actions ---------------------------------------------------------------------------------
    def _act(self, action: Action) -> None:
        if action.scale:
            self.scale_deployment(action.scale.deployment, action.scale.replicas)
        elif action.set_ipamd:
            self._set_ipamd(action.set_ipamd.group, action.set_ipamd.env)
        elif action.autoscaler_outage:
            self.autoscaler.cloud_outage(self.world.now() + action.autoscaler_outage.duration)
        elif action.subnet_usage:
            usage = action.subnet_usage
            subnet_id = self.subnet_ids[usage.subnet]
            if usage.add:
                self.cloud.use_by_others(subnet_id, usage.add)
            if usage.release:
                self.cloud.release_by_others(subnet_id, usage.release)
            self._note_subnets()
            for node in self.all_nodes():
                self.stepper.wake(node)
        elif action.ec2_faults:
            faults = action.ec2_faults
            if faults.clear:
                self.cloud.clear_faults()
            for name, seconds in faults.latency.items():
                self.cloud.add_latency(name, seconds)
            for name, code, count in faults.failures():
                self.cloud.fail_next(name, code, count)

    def _set_ipamd(self, group_name: str | None, env: dict[str, str]) -> None:
        """A rolling restart of aws-node with new settings: each engine re-inits from its checkpoint."""
        for group in self.groups.values():
            if group_name not in (None, group.spec.name):
                continue
            group.config = IpamConfig.from_env({**group.spec.ipamd, **env})
            for node in group.nodes:
                if not node.ready or node.ipam is None:
                    continue
                old = node.ipam
                saved = old.ds.checkpoint
                store = saved.store() if isinstance(saved, LazyCheckpoint) else old.checkpoint_store
                assert isinstance(old.ec2, SimEc2)
                self._start_engine(node, group.config, old.ec2, store)
                assert node.ipam is not None
                with self.stepper.engine(node):
                    node.ipam.init()
                self._note_idle(node)
                node.unsynced = True
                self.stepper.wake(node)

    # --- autoscaler and sampling -------------------------------------------------------------------
    def _autoscaler_tick(self) -> None:
        self.autoscaler.iterate()
        self.events.at(self.world.now() + self.scenario.autoscaler.scan_interval, self._autoscaler_tick)

    def _note_subnets(self) -> None:
        for name in self.subnet_ids:
            free = self._subnet_free(name)
            if free < self.subnet_free_min.get(name, 1 << 30):
                self.subnet_free_min[name] = free

    def _sample_tick(self) -> None:
        if self.sample_ticks % self.sample_stride == 0:
            sample = self.snapshot()
            engines = {n.name: n.ipam for n in self.all_nodes() if n.ipam is not None}
            sample["cluster_metrics"] = self.cluster_metrics.sample(engines)
            self.samples.append(sample)
            if len(self.samples) > self.scenario.max_series_points:
                self.samples = self.samples[::2]  # every other sample: twice the interval from here on
                self.sample_stride *= 2
        self.sample_ticks += 1
        if self.on_sample is not None:
            self.on_sample(self)
        next_at = self.world.now() + self.scenario.sample_interval
        if next_at <= self.scenario.duration:
            self.events.at(next_at, self._sample_tick)

    def snapshot(self) -> dict[str, Any]:
        nodes = self.all_nodes()
        # counted by member, named once per sample: an enum's `.value` runs interpreted code, once per pod here
        unseen = 0  # "pending": created, not yet seen by the scheduler
        phases: dict[Phase, int] = dict.fromkeys(Phase, 0)
        for p in self.pods.values():
            if p.daemonset:
                continue
            if p.phase is Phase.UNSCHEDULABLE and not p.unschedulable:
                unseen += 1
            else:
                phases[p.phase] += 1
        calls = sum(self.asg_calls.values())
        errors = sum(self.asg_errors.values())
        for node in (*nodes, *self.removed_nodes):  # totals per node: a node's counts by action are whole numbers
            calls += int(node.metrics.calls_total)
            errors += int(node.metrics.total(API_ERRORS))
        return {
            "t": self.world.now(),
            "nodes": len(nodes),
            "nodes_ready": sum(1 for n in nodes if n.ready),
            # "pending": created, not yet seen by the scheduler; "unschedulable": it tried and found no node
            "pods": {"pending": unseen, **{phase.value: count for phase, count in phases.items()}},
            "subnet_free": {name: self._subnet_free(name) for name in self.subnet_ids},
            "idle_ips": {n.name: n.ipam.ds.total - n.ipam.ds.assigned for n in nodes if n.ipam is not None},
            "ec2_calls": calls,
            "ec2_errors": errors,
        }

    # --- running ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run to the scenario's end (or a stop request) and summarise.

        Progress is reported, and a stop request honoured, every PROGRESS_EVERY events: between two
        events, so a stopped run's state and summary are consistent, just shorter.
        """
        end = self.scenario.duration
        events, world = self.events, self.world
        started = time.perf_counter()
        countdown = PROGRESS_EVERY
        reports = 0
        with _collections_deferred():
            while True:
                popped = events.pop_until(end)
                if popped is None:
                    break
                world.advance_to(popped[0])
                popped[1]()
                countdown -= 1
                if countdown == 0:
                    countdown = PROGRESS_EVERY
                    reports += 1
                    if reports % COLLECT_EVERY_REPORTS == 0:
                        _collect_young()
                    self._report_progress(started)
                    if self.stop is not None and self.stop.requested:
                        self.stopped_early = True
                        break
        if not self.stopped_early:
            world.advance_to(end)
        self._report_progress(started)
        self.cloud.trail.close_stream()
        summary = self.summary()
        if self.stopped_early:
            summary["stopped_early"] = True
        return summary

    def _report_progress(self, started: float) -> None:
        if self.progress is not None:
            wall = time.perf_counter() - started
            run = self.scenario
            self.progress(RunProgress(run.name, self.world.now(), run.duration, self.events.processed, wall))

    def _ec2_calls(self) -> Counter[str]:
        calls: Counter[str] = Counter(self.asg_calls)
        for node in (*self.all_nodes(), *self.removed_nodes):
            for action, count in node.metrics.by_label(CALLS, "fn").items():
                calls[action] += int(count)
        return calls

    def _errors(self) -> Counter[str]:
        errors: Counter[str] = Counter(self.asg_errors)
        for node in (*self.all_nodes(), *self.removed_nodes):
            for code, count in node.metrics.by_label(API_ERRORS, "error").items():
                errors[code] += int(count)
        return errors

    def efficiency(self) -> dict[str, Any]:
        """The whole run's efficiency figures (see `vpccni.cluster.efficiency` for how each is measured).

        `pods_never_got_ip` counts workload pods (not host-network, not DaemonSet) that were bound to a node
        and never got an address: those still waiting at the end, those returned to Pending (ip_aware) and
        not yet placed again, and those deleted or drained before getting one.
        """
        now = self.world.now()
        never = sum(
            1 for p in self.pods.values() if p.measured_for_ip_wait and p.bound_at is not None and p.started is None
        )
        trail = self.cloud.trail
        return {
            "pods_created": self.pods_created,
            "pods_deleted": self.pods_deleted,
            "idle_ips_mean": round(self.idle.mean(now), 3),
            "idle_ips_max": self.idle.maximum(),
            "ip_wait_seconds": self.ip_waits.summary(),
            "pods_never_got_ip": never + self.ip_waits.deleted_without_address,
            "ec2_mutating_calls": trail.count(MUTATING_ACTIONS),
            "throttled_calls": trail.count(error="RequestLimitExceeded"),
            "subnet_used_max": {
                name: pool.usable - pool.min_free
                for name, pool in sorted((n, self.cloud.subnet_pool(i)) for n, i in self.subnet_ids.items())
            },
            "autoscaler_backoffs": sum(1 for e in self.autoscaler.log.events if e["event"] == "backoff"),
        }

    def node_details(self) -> list[dict[str, Any]]:
        """Each node's final state, for `simulate --json --detail nodes`."""
        return [
            {
                "name": n.name,
                "group": n.group,
                "instance_type": n.instance_type,
                "instance_id": n.instance_id,
                "ready": n.ready,
                "pods": len(n.pods),
                "enis": len(n.ipam.ds.enis) if n.ipam else 0,
                "total_ips": n.ipam.ds.total if n.ipam else 0,
                "assigned_ips": n.ipam.ds.assigned if n.ipam else 0,
            }
            for n in self.all_nodes()
        ]

    def binding_limits(self) -> list[dict[str, str]]:
        """What held pods back at the end of the run, in words: a subnet, max-pods, the type's addresses,
        or the autoscaler's node limits (empty when every pod runs)."""
        out: list[dict[str, str]] = []
        waiting = [p for p in self.pods.values() if p.phase is Phase.WAITING_FOR_IP and p.node is not None]
        now = self.world.now()
        refused = {  # nodes the subnet refused addresses or an ENI lately
            p.node.name
            for p in waiting
            if p.node is not None
            and p.node.ipam is not None
            and p.node.ipam.last_insufficient is not None
            and now - p.node.ipam.last_insufficient <= 3 * INSUFFICIENT_CIDR_BACKOFF
        }
        exhausted = sorted({p.node.subnet for p in waiting if p.node is not None and p.node.name in refused})
        for name in exhausted:
            out.append(
                _limit_words(
                    "subnet",
                    f"subnet {name} ({self._subnet_free(name)} free) cannot give its nodes the addresses or ENIs "
                    "they ask for: their pods wait",
                )
            )
        for node in sorted({p.node for p in waiting if p.node is not None}, key=lambda n: n.name):
            if node.ipam is None or node.subnet in exhausted:
                continue
            if node.ipam.ds.total >= node.address_capacity and node.address_capacity < node.max_pods:
                out.append(
                    _limit_words(
                        "instance-addresses",
                        f"{node.name}: the {node.instance_type}'s {node.address_capacity} pod addresses are all held",
                    )
                )
        stuck = [
            p
            for p in waiting
            if p.node is not None
            and p.node.ipam is not None
            and p.node.subnet not in exhausted
            and p.node.ipam.ds.total < min(p.node.address_capacity, p.node.max_pods)
        ]
        if stuck and not any(limit["kind"] == "subnet" for limit in out):
            out.append(
                _limit_words(
                    "settings",
                    f"{len(stuck)} pods wait for an address on nodes with room for more: "
                    "the warm-pool settings do not grow the pool for them",
                )
            )
        pending = [p for p in self.pending.pods() if p.unschedulable]
        if pending:
            spec = self.scenario.autoscaler
            total = sum(len(g.nodes) for g in self.groups.values())
            if not spec.enabled:
                out.append(_limit_words("scheduling", f"{len(pending)} pods fit no node and no autoscaler adds one"))
            elif all(len(g.nodes) >= g.spec.max for g in self.groups.values()) or (
                spec.max_nodes_total and total >= spec.max_nodes_total
            ):
                out.append(
                    _limit_words("max-nodes", f"{len(pending)} pods fit no node: the autoscaler is at max nodes")
                )
            else:
                out.append(_limit_words("scheduling", f"{len(pending)} pods fit no node yet"))
        return out

    def summary(self) -> dict[str, Any]:
        nodes = self.all_nodes()
        ready = [n for n in nodes if n.ipam is not None]
        pods = [p for p in self.pods.values() if not p.daemonset]
        enis = sum(len(n.ipam.ds.enis) for n in ready if n.ipam)
        prefixes = sum(n.ipam.ds.allocated_prefix for n in ready if n.ipam)
        total = sum(n.ipam.ds.total for n in ready if n.ipam)
        assigned = sum(n.ipam.ds.assigned for n in ready if n.ipam)
        secondary = sum(
            1 for n in ready if n.ipam for e in n.ipam.ds.enis.values() for c in e.cidrs.values() if not c.is_prefix
        )
        starts = self.start_times
        autoscaler = self.autoscaler.log
        return {
            "name": self.scenario.name,
            "nodes_final": len(nodes),
            "nodes_max": self.nodes_max,
            "pods_running": sum(1 for p in pods if p.phase is Phase.RUNNING),
            "pods_pending_unschedulable": sum(1 for p in pods if p.phase is Phase.UNSCHEDULABLE),
            "pods_waiting_for_ip": sum(1 for p in pods if p.phase is Phase.WAITING_FOR_IP),
            "enis": enis,
            "secondary_ips": secondary,
            "prefixes": prefixes,
            "assigned_ips": assigned,
            "idle_ips": total - assigned,
            "subnet_free_min": dict(sorted(self.subnet_free_min.items())),
            "ec2_calls": dict(sorted(self._ec2_calls().items())),
            "errors": dict(sorted(self._errors().items())),
            "autoscaler": {
                "scale_ups": autoscaler.scale_ups,
                "scale_downs": autoscaler.scale_downs,
                "errors": autoscaler.errors,
            },
            "pod_start_seconds": {
                "p50": starts.quantile(0.5),
                "p99": starts.quantile(0.99),
                "max": starts.maximum(),
            },
            "pods_never_started": self.pods_created - starts.n,
            **self.efficiency(),
            "settings": {g.spec.name: effective_settings(g.config, g.spec.ipamd) for g in self.groups.values()},
            "warnings": [
                f"node_groups.{g.spec.name}.ipamd: {w}" for g in self.groups.values() for w in g.config.warnings
            ],
            "binding_limits": self.binding_limits(),
            "virtual_seconds": self.world.now(),
            "events": self.events.processed,
            "node_steps": self.node_steps,
        }


def _limit_words(kind: str, detail: str) -> dict[str, str]:
    return {"kind": kind, "message": detail}
