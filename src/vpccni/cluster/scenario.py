"""Scenario files: YAML validated by pydantic, with errors that name the file and the field's path.

A scenario describes the VPC and its subnets, node groups (auto scaling groups with ipamd settings),
DaemonSets, Deployments, the cluster autoscaler, timed actions, and optionally several runs that differ
only in settings (e.g. default warm pool versus a tuned one), plus the outcomes it expects.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vpccni import catalog
from vpccni.cloud.sim import parse_subnet_cidr


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
        if isinstance(value, dict):
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value

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


class AutoscalerSpec(Strict):
    enabled: bool = True
    scan_interval: float = Field(10.0, gt=0)
    expander: Literal["least-waste", "random", "most-pods", "least-nodes"] = "least-waste"
    balance_similar_node_groups: bool = False
    max_nodes_total: int = Field(0, ge=0)
    max_node_provision_time: float = 900.0
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


class OutageAction(Strict):
    duration: float = Field(gt=0)


class SubnetUsageAction(Strict):
    subnet: str
    add: int = Field(0, ge=0)
    release: int = Field(0, ge=0)


class Action(Strict):
    at: float = Field(ge=0)
    scale: ScaleAction | None = None
    set_ipamd: IpamdAction | None = None
    autoscaler_outage: OutageAction | None = None
    subnet_usage: SubnetUsageAction | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        chosen = [n for n in ("scale", "set_ipamd", "autoscaler_outage", "subnet_usage") if getattr(self, n)]
        if len(chosen) != 1:
            raise ValueError("an action has exactly one of scale, set_ipamd, autoscaler_outage, subnet_usage")
        return self


class RunSpec(Strict):
    """One run of the scenario; its settings override the base ones."""

    name: str
    ipamd: dict[str, str] = Field(default_factory=dict, description="ipamd variables for every group")
    autoscaler: dict[str, Any] = Field(default_factory=dict, description="autoscaler fields to override")
    expect: dict[str, Any] = Field(default_factory=dict, description="expected summary values")


class Scenario(Strict):
    name: str
    description: str = ""
    seed: int = 1
    duration: float = Field(gt=0, description="virtual seconds to simulate")
    sample_interval: float = Field(30.0, gt=0, description="seconds between time-series samples")
    vpc_cidr: str = "10.0.0.0/16"
    subnets: list[SubnetSpec] = Field(min_length=1)
    node_groups: list[NodeGroupSpec] = Field(min_length=1)
    daemonsets: list[DaemonSetSpec] = Field(default_factory=list)
    deployments: list[DeploymentSpec] = Field(default_factory=list)
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
        return self

    def run_specs(self) -> list[RunSpec]:
        return self.runs or [RunSpec(name=self.name, expect=self.expect)]

    def for_run(self, run: RunSpec) -> Scenario:
        """This scenario with one run's overrides applied."""
        groups = [g.model_copy(update={"ipamd": {**g.ipamd, **run.ipamd}}) for g in self.node_groups]
        autoscaler = AutoscalerSpec.model_validate({**self.autoscaler.model_dump(), **run.autoscaler})
        return self.model_copy(update={"node_groups": groups, "autoscaler": autoscaler, "name": run.name})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every problem becomes a ScenarioError naming file and field."""
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
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            lines.append(f"{path}: {where}: {error['msg']}")
        raise ScenarioError("\n".join(lines)) from None
