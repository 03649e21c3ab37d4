"""Scenario files: YAML validated by pydantic, with errors that name the file and the field's path.

A scenario describes the VPC and its subnets, node groups (auto scaling groups with ipamd settings),
DaemonSets, Deployments, workloads (periodic jobs, Poisson arrivals, rolling restarts), the cluster
autoscaler, timed actions, and optionally several runs that differ only in settings (e.g. default warm
pool versus a tuned one), plus the outcomes it expects.
"""

from __future__ import annotations

import ipaddress
import math
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from vpccni import catalog
from vpccni.cloud.sim import parse_subnet_cidr
from vpccni.cluster.overrides import OverrideError, apply_overrides


class ScenarioError(Exception):
    """A scenario that cannot run; the message names the file and the field."""


_QUANTITY = re.compile(r"^([0-9]*\.?[0-9]+)([a-zA-Z]*)$")
_MEMORY_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def cpu_cores(value: str | float | int) -> float:
    """Kubernetes CPU quantity → cores ("250m" → 0.25, "2" → 2)."""
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in ("", "m"):
        raise ValueError(f"{value!r} is not a CPU quantity (e.g. 250m or 2)")
    number = float(match.group(1))
    return number / 1000 if match.group(2) == "m" else number


def memory_bytes(value: str | float | int) -> float:
    """Kubernetes memory quantity → bytes ("128Mi" → 134217728)."""
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in _MEMORY_UNITS:
        raise ValueError(f"{value!r} is not a memory quantity (e.g. 128Mi or 1Gi)")
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def env_strings(value: Any) -> Any:
    """ipamd variables are strings, as in a DaemonSet's env: YAML's `5` and `true` become "5" and "true"."""
    if isinstance(value, dict):
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Cpu = Annotated[str | float, Field(description="CPU request, e.g. 250m")]
Memory = Annotated[str | float, Field(description="memory request, e.g. 128Mi")]


class Requests(Strict):
    cpu: Cpu = "100m"
    memory: Memory = "128Mi"

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str | float) -> str | float:
        cpu_cores(value)
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | float) -> str | float:
        memory_bytes(value)
        return value


class SubnetSpec(Strict):
    name: str
    cidr: str
    az: str = "us-west-2a"
    used_by_others: int = Field(0, ge=0, description="addresses already taken by other tenants")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(parse_subnet_cidr(value))


class NodeGroupSpec(Strict):
    name: str
    instance_type: str
    min: int = Field(0, ge=0)
    max: int = Field(ge=0)
    desired: int | None = Field(None, ge=0, description="initial size; default min")
    subnets: list[str] = Field(min_length=1)
    launch_delay: float = Field(30.0, ge=0, description="RunInstances → instance running")
    boot_delay: float = Field(60.0, ge=0, description="running → kubelet and ipamd start")
    max_pods: int | None = Field(None, ge=1, description="kubelet --max-pods; default from the catalog")
    ipamd: dict[str, str] = Field(default_factory=dict, description="ipamd environment variables")

    @field_validator("instance_type")
    @classmethod
    def _type(cls, value: str) -> str:
        try:
            catalog.get(value)
        except catalog.UnknownInstanceType as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("ipamd", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        return env_strings(value)

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroupSpec:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.desired is not None and not self.min <= self.desired <= self.max:
            raise ValueError(f"desired {self.desired} is outside min..max ({self.min}..{self.max})")
        return self


class DaemonSetSpec(Strict):
    name: str
    namespace: str = "kube-system"
    host_network: bool = True
    requests: Requests = Requests(cpu="25m", memory="32Mi")


class DeploymentSpec(Strict):
    name: str
    namespace: str = "default"
    replicas: int = Field(ge=0)
    requests: Requests = Requests()
    host_network: bool = False
    at: float = Field(0.0, ge=0, description="virtual second the deployment is created")


class Lifetime(Strict):
    """How long a job or arrival pod works once Running: uniform `min`..`max`, or exponential with `mean`."""

    min: float | None = Field(None, ge=0)
    max: float | None = Field(None, ge=0)
    mean: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> Lifetime:
        uniform = self.min is not None or self.max is not None
        if uniform and self.mean is not None:
            raise ValueError("give either min and max (uniform) or mean (exponential), not both")
        if not uniform and self.mean is None:
            raise ValueError("give min and max (uniform) or mean (exponential)")
        if uniform and (self.min is None or self.max is None):
            raise ValueError("a uniform lifetime needs both min and max")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"max {self.max} is below min {self.min}")
        return self

    def draw(self, rng: random.Random) -> float:
        if self.mean is not None:
            return rng.expovariate(1.0 / self.mean)
        assert self.min is not None and self.max is not None
        return rng.uniform(self.min, self.max)


class _Window(Strict):
    start: float = Field(0.0, ge=0, description="virtual second of the first burst, arrival or restart")
    end: float | None = Field(None, ge=0, description="nothing starts after this second; default the run's end")

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class JobSpec(_Window):
    """Periodic bursts of short pods (batch Jobs, CronJobs)."""

    name: str
    namespace: str = "default"
    every: float = Field(gt=0, description="seconds between bursts")
    pods: int = Field(ge=1, description="pods per burst")
    lifetime: Lifetime
    requests: Requests = Requests()


class ArrivalSpec(_Window):
    """Poisson arrivals of pods with their own lifetimes (request-driven workers)."""

    name: str
    namespace: str = "default"
    rate_per_minute: float = Field(gt=0)
    lifetime: Lifetime
    requests: Requests = Requests()


_PERCENT = re.compile(r"^([0-9]+)%$")


def _int_or_percent(value: int | str, what: str, cap_percent: bool) -> int | str:
    if isinstance(value, bool) or (isinstance(value, int) and value < 0):
        raise ValueError(f"{what} must be a non-negative integer or a percentage such as 25%")
    if isinstance(value, str):
        match = _PERCENT.match(value.strip())
        if not match:
            raise ValueError(f"{what} {value!r} is neither an integer nor a percentage such as 25%")
        if cap_percent and int(match.group(1)) > 100:
            raise ValueError(f"{what} {value!r} is above 100%")
        return value.strip()
    return value


def _scaled(value: int | str, replicas: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    fraction = int(value[:-1]) * replicas / 100
    return math.ceil(fraction - 1e-9) if round_up else math.floor(fraction + 1e-9)


class RolloutSpec(_Window):
    """Rolling restarts of a deployment (`kubectl rollout restart`), with RollingUpdate's surge arithmetic."""

    deployment: str
    every: float | None = Field(None, gt=0, description="seconds between restarts; default once")
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"

    @field_validator("max_surge")
    @classmethod
    def _surge(cls, value: int | str) -> int | str:
        return _int_or_percent(value, "max_surge", cap_percent=False)

    @field_validator("max_unavailable")
    @classmethod
    def _unavailable(cls, value: int | str) -> int | str:
        return _int_or_percent(value, "max_unavailable", cap_percent=True)

    @model_validator(mode="after")
    def _not_both_zero(self) -> RolloutSpec:
        if _scaled(self.max_surge, 100, True) == 0 and _scaled(self.max_unavailable, 100, False) == 0:
            raise ValueError("max_surge and max_unavailable may not both be 0")
        return self

    def resolve(self, replicas: int) -> tuple[int, int]:
        """(surge, unavailable) for `replicas`: surge rounds up, unavailable down; never both 0 (as Kubernetes)."""
        surge = _scaled(self.max_surge, replicas, round_up=True)
        unavailable = _scaled(self.max_unavailable, replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable


class AutoscalerSpec(Strict):
    enabled: bool = True
    scan_interval: float = Field(10.0, gt=0)
    expander: Literal["least-waste", "random", "most-pods", "least-nodes"] = "least-waste"
    balance_similar_node_groups: bool = False
    max_nodes_total: int = Field(0, ge=0)
    max_node_provision_time: float = Field(900.0, gt=0, description="a node not Ready by then is given up")
    initial_node_group_backoff_duration: float = Field(300.0, gt=0)
    max_node_group_backoff_duration: float = Field(1800.0, gt=0)
    node_group_backoff_reset_timeout: float = Field(10800.0, gt=0, description="back-off forgotten after this")
    scale_down_enabled: bool = True
    scale_down_utilization_threshold: float = Field(0.5, ge=0, le=1)
    scale_down_unneeded_time: float = 600.0
    scale_down_delay_after_add: float = 600.0
    scale_down_delay_after_delete: float = 0.0
    scale_down_delay_after_failure: float = 180.0
    max_empty_bulk_delete: int = 10
    template_pods: int = Field(110, ge=1, description="pods of a scale-from-zero template (AWS provider: 110)")
    cache_ttl: float = Field(60.0, ge=0, description="how long the node-group list is served from cache")
    ip_aware: bool = Field(False, description="vpccni: treat pod addresses as a resource (off = the real one)")


class ScaleAction(Strict):
    deployment: str
    replicas: int = Field(ge=0)


class IpamdAction(Strict):
    group: str | None = Field(None, description="one node group; default every group")
    env: dict[str, str]

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        return env_strings(value)


class OutageAction(Strict):
    duration: float = Field(gt=0)


class SubnetUsageAction(Strict):
    subnet: str
    add: int = Field(0, ge=0)
    release: int = Field(0, ge=0)


class Ec2FaultAction(Strict):
    """EC2 misbehaving from the action's time on, as `vpccni ipamd --sim-latency/--sim-fail` sets it for a daemon."""

    latency: dict[str, float] = Field(default_factory=dict, description="extra seconds per call, by EC2 action")
    fail: dict[str, str] = Field(
        default_factory=dict, description="ACTION: CODE[:COUNT], the next COUNT calls (default 1) fail with CODE"
    )
    clear: bool = Field(False, description="first forget every fault set before")

    @field_validator("latency")
    @classmethod
    def _latency(cls, value: dict[str, float]) -> dict[str, float]:
        for action, seconds in value.items():
            if seconds < 0:
                raise ValueError(f"{action}: a latency is not negative")
        return value

    @field_validator("fail")
    @classmethod
    def _fail(cls, value: dict[str, str]) -> dict[str, str]:
        for action, text in value.items():
            code, _, count = str(text).partition(":")
            if not code or (count and (not count.isdigit() or int(count) < 1)):
                raise ValueError(f"{action}: expected CODE or CODE:COUNT, e.g. RequestLimitExceeded:20")
        return value

    def failures(self) -> list[tuple[str, str, int]]:
        """(action, code, count) of each failure to inject."""
        out = []
        for action, text in self.fail.items():
            code, _, count = str(text).partition(":")
            out.append((action, code, int(count) if count else 1))
        return out


ACTION_KINDS = ("scale", "set_ipamd", "autoscaler_outage", "subnet_usage", "ec2_faults")


class Action(Strict):
    at: float = Field(ge=0)
    scale: ScaleAction | None = None
    set_ipamd: IpamdAction | None = None
    autoscaler_outage: OutageAction | None = None
    subnet_usage: SubnetUsageAction | None = None
    ec2_faults: Ec2FaultAction | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        chosen = [n for n in ACTION_KINDS if getattr(self, n)]
        if len(chosen) != 1:
            raise ValueError(f"an action has exactly one of {', '.join(ACTION_KINDS)}")
        return self


class RunSpec(Strict):
    """One run of the scenario; its settings override the base ones."""

    name: str
    ipamd: dict[str, str] = Field(default_factory=dict, description="ipamd variables for every group")
    autoscaler: dict[str, Any] = Field(default_factory=dict, description="autoscaler fields to override")
    expect: dict[str, Any] = Field(default_factory=dict, description="expected summary values")

    @field_validator("ipamd", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        return env_strings(value)


class Scenario(Strict):
    name: str
    description: str = ""
    seed: int = 1
    duration: float = Field(gt=0, description="virtual seconds to simulate")
    sample_interval: float = Field(30.0, gt=0, description="seconds between time-series samples")
    max_series_points: int = Field(
        2000, ge=8, description="points kept per time series; a longer run's series are thinned to fit"
    )
    vpc_cidr: str = "10.0.0.0/16"
    subnets: list[SubnetSpec] = Field(min_length=1)
    node_groups: list[NodeGroupSpec] = Field(min_length=1)
    daemonsets: list[DaemonSetSpec] = Field(default_factory=list)
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    jobs: list[JobSpec] = Field(default_factory=list)
    arrivals: list[ArrivalSpec] = Field(default_factory=list)
    rollouts: list[RolloutSpec] = Field(default_factory=list)
    ec2_api_limits: float = Field(
        1.0,
        gt=0,
        description="multiplies every EC2 API rate limit (each action's bucket size and refill rate): an account "
        "whose limits AWS raised",
    )
    control_plane_enis: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="EKS control-plane ENIs per subnet: one address each, taken at start"
    )
    autoscaler: AutoscalerSpec = Field(default_factory=lambda: AutoscalerSpec.model_validate({}))
    actions: list[Action] = Field(default_factory=list)
    runs: list[RunSpec] = Field(default_factory=list)
    expect: dict[str, Any] = Field(default_factory=dict, description="expected summary values (single run)")

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        subnets = {s.name for s in self.subnets}
        for group in self.node_groups:
            for name in group.subnets:
                if name not in subnets:
                    raise ValueError(f"node group {group.name!r} names unknown subnet {name!r}")
        deployments = {d.name for d in self.deployments}
        groups = {g.name for g in self.node_groups}
        for action in self.actions:
            if action.scale and action.scale.deployment not in deployments:
                raise ValueError(f"action at {action.at} scales unknown deployment {action.scale.deployment!r}")
            if action.set_ipamd and action.set_ipamd.group not in (None, *groups):
                raise ValueError(f"action at {action.at} names unknown node group {action.set_ipamd.group!r}")
            if action.subnet_usage and action.subnet_usage.subnet not in subnets:
                raise ValueError(f"action at {action.at} names unknown subnet {action.subnet_usage.subnet!r}")
        vpc = ipaddress.IPv4Network(self.vpc_cidr)
        for subnet in self.subnets:
            if not ipaddress.IPv4Network(subnet.cidr).subnet_of(vpc):
                raise ValueError(f"subnet {subnet.name!r} ({subnet.cidr}) is not inside vpc_cidr {self.vpc_cidr}")
        self._workload_references(subnets, deployments)
        return self

    def _workload_references(self, subnets: set[str], deployments: set[str]) -> None:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        for i, rollout in enumerate(self.rollouts):
            if rollout.deployment not in deployments:
                problems.append((("rollouts", i, "deployment"), "unknown deployment", rollout.deployment))
        for name in self.control_plane_enis:
            if name not in subnets:
                problems.append((("control_plane_enis", name), "unknown subnet", name))
        owners = {d.name for d in self.deployments} | {d.name for d in self.daemonsets}
        named = [("jobs", i, j.name) for i, j in enumerate(self.jobs)]
        named += [("arrivals", i, a.name) for i, a in enumerate(self.arrivals)]
        for kind, i, name in named:
            if name in owners:
                problems.append(((kind, i, "name"), "name already used by a deployment, daemonset or workload", name))
            owners.add(name)
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("reference", f"{message}: {value!r}"), loc=loc, input=value
                    )
                    for loc, message, value in problems
                ],
            )

    def run_specs(self) -> list[RunSpec]:
        return self.runs or [RunSpec(name=self.name, expect=self.expect)]

    def for_run(self, run: RunSpec) -> Scenario:
        """This scenario with one run's overrides applied."""
        groups = [g.model_copy(update={"ipamd": {**g.ipamd, **run.ipamd}}) for g in self.node_groups]
        autoscaler = AutoscalerSpec.model_validate({**self.autoscaler.model_dump(), **run.autoscaler})
        return self.model_copy(update={"node_groups": groups, "autoscaler": autoscaler, "name": run.name})


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read and validate a scenario file; every problem becomes a ScenarioError naming file and field.

    `overrides` are `--set PATH=VALUE` texts applied to the data first, so the same schema validates them."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping at the top level")
    try:
        apply_overrides(data, overrides)
    except OverrideError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            lines.append(f"{path}: {where}: {error['msg']}")
        raise ScenarioError("\n".join(lines)) from None
