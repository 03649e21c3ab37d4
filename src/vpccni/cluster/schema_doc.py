"""The scenario format's reference: its JSON Schema (`vpccni simulate --schema`) and docs/scenarios.md.

Both come from the pydantic models, so they cannot drift from what `load_scenario` accepts: fields whose
model carries no description take theirs from `DESCRIPTIONS`, and a test checks that every field has one,
that `EXAMPLE` validates, and that docs/scenarios.md is what `markdown()` writes (`make docs` rewrites it).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from vpccni.cluster.scenario import Scenario

DESCRIPTIONS: dict[str, str] = {
    "Scenario.name": "the scenario's name, shown in summaries and reports",
    "Scenario.description": "free text about what the scenario models",
    "Scenario.seed": "seed of every random choice (ids, addresses, jitter, workloads); same seed, same result",
    "Scenario.vpc_cidr": "the VPC's CIDR; every subnet lies inside it",
    "Scenario.subnets": "the VPC's subnets, with other tenants' usage",
    "Scenario.node_groups": "auto scaling groups of nodes, each running ipamd",
    "Scenario.daemonsets": "pods on every node (aws-node, kube-proxy: host network, no pod address)",
    "Scenario.deployments": "deployments with replicas and requests",
    "Scenario.jobs": "periodic bursts of short pods (batch, CronJobs)",
    "Scenario.arrivals": "Poisson arrivals of pods with a lifetime (request-driven workers)",
    "Scenario.rollouts": "rolling restarts of deployments",
    "Scenario.autoscaler": "the cluster autoscaler",
    "Scenario.actions": "timed events: scale a deployment, change ipamd settings, cut the cloud API, subnet use",
    "Scenario.runs": "runs that differ only in settings, each compared in the summary and the report",
    "Action.at": "virtual second at which the action happens",
    "Action.scale": "set a deployment's replicas",
    "Action.set_ipamd": "change ipamd settings (a rolling restart of aws-node)",
    "Action.autoscaler_outage": "the autoscaler cannot reach the cloud API for a while",
    "Action.subnet_usage": "other tenants take or give back addresses in a subnet",
    "Action.ec2_faults": "EC2 slows down or fails calls from then on (latency, failures, clear)",
    "ArrivalSpec.name": "the workload's name (pods are NAME-00001, ...)",
    "ArrivalSpec.namespace": "the pods' namespace",
    "ArrivalSpec.rate_per_minute": "mean pods arriving per minute (Poisson)",
    "ArrivalSpec.lifetime": "how long each pod works once Running",
    "ArrivalSpec.requests": "each pod's CPU and memory requests",
    "AutoscalerSpec.enabled": "run the cluster autoscaler at all",
    "AutoscalerSpec.scan_interval": "seconds between the autoscaler's loops",
    "AutoscalerSpec.expander": "how a node group is chosen for a scale-up",
    "AutoscalerSpec.balance_similar_node_groups": "split scale-ups evenly over groups of the same type",
    "AutoscalerSpec.max_nodes_total": "cluster-wide node cap (0: none)",
    "AutoscalerSpec.initial_node_group_backoff_duration": "back-off of a group after its first failed scale-up",
    "AutoscalerSpec.max_node_group_backoff_duration": "longest back-off (doubling from the initial one)",
    "AutoscalerSpec.scale_down_enabled": "remove unneeded nodes",
    "AutoscalerSpec.scale_down_utilization_threshold": "a node below this requested fraction may be unneeded",
    "AutoscalerSpec.scale_down_unneeded_time": "seconds a node must stay unneeded before removal",
    "AutoscalerSpec.scale_down_delay_after_add": "no scale-down for this long after a scale-up",
    "AutoscalerSpec.scale_down_delay_after_delete": "no scale-down for this long after a deletion",
    "AutoscalerSpec.scale_down_delay_after_failure": "no scale-down for this long after a failed one",
    "AutoscalerSpec.max_empty_bulk_delete": "empty nodes deleted at once",
    "DaemonSetSpec.name": "the DaemonSet's name",
    "DaemonSetSpec.namespace": "its namespace",
    "DaemonSetSpec.host_network": "host-network pods take no pod address",
    "DaemonSetSpec.requests": "each pod's CPU and memory requests",
    "DeploymentSpec.name": "the deployment's name",
    "DeploymentSpec.namespace": "its namespace",
    "DeploymentSpec.replicas": "pods wanted",
    "DeploymentSpec.requests": "each pod's CPU and memory requests",
    "DeploymentSpec.host_network": "host-network pods take no pod address",
    "IpamdAction.env": "ipamd variables to set (WARM_IP_TARGET, ...)",
    "JobSpec.name": "the job's name (pods are NAME-00001, ...)",
    "JobSpec.namespace": "the pods' namespace",
    "JobSpec.lifetime": "how long each pod works once Running",
    "JobSpec.requests": "each pod's CPU and memory requests",
    "Lifetime.min": "uniform lifetime: shortest seconds (with max)",
    "Lifetime.max": "uniform lifetime: longest seconds (with min)",
    "Lifetime.mean": "exponential lifetime: mean seconds (alone)",
    "NodeGroupSpec.name": "the group's name (nodes are NAME-0001, ...)",
    "NodeGroupSpec.instance_type": "EC2 instance type, from the catalog",
    "NodeGroupSpec.min": "fewest nodes",
    "NodeGroupSpec.max": "most nodes",
    "NodeGroupSpec.subnets": "subnets the group launches into (names from subnets:)",
    "OutageAction.duration": "seconds the outage lasts",
    "RolloutSpec.deployment": "the deployment restarted",
    "RolloutSpec.max_surge": "pods above replicas during the rollout: a count or a percentage (rounded up)",
    "RolloutSpec.max_unavailable": "pods below replicas during the rollout: a count or a percentage (rounded down)",
    "RunSpec.name": "the run's name",
    "ScaleAction.deployment": "the deployment scaled",
    "ScaleAction.replicas": "its new replica count",
    "SubnetSpec.name": "the subnet's name, used by node groups and actions",
    "SubnetSpec.cidr": "its CIDR (a /28 or larger), inside vpc_cidr",
    "SubnetSpec.az": "its availability zone",
    "SubnetUsageAction.subnet": "the subnet",
    "SubnetUsageAction.add": "addresses other tenants take",
    "SubnetUsageAction.release": "addresses other tenants give back",
}

EXAMPLE = """\
name: example
description: a shared subnet, two node groups, a steady deployment, a CronJob and a rollout
seed: 1
duration: 7200
sample_interval: 60
vpc_cidr: 10.0.0.0/16
subnets:
  - {name: shared, cidr: 10.0.0.0/24, az: us-west-2a, used_by_others: 80}
  - {name: pods, cidr: 10.0.4.0/22, az: us-west-2a}
control_plane_enis: {shared: 2}
node_groups:
  - {name: general, instance_type: m5.large, min: 2, max: 5, subnets: [shared]}
  - name: compute
    instance_type: c5.xlarge
    min: 0
    max: 3
    subnets: [pods]
    ipamd: {ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "1"}
daemonsets:
  - {name: aws-node, requests: {cpu: 25m, memory: 32Mi}}
  - {name: kube-proxy, requests: {cpu: 100m, memory: 64Mi}}
deployments:
  - {name: web, replicas: 12, at: 60, requests: {cpu: 200m, memory: 256Mi}}
jobs:
  - {name: etl, start: 600, every: 900, pods: 20, lifetime: {min: 240, max: 360}}
arrivals:
  - {name: workers, start: 0, end: 7200, rate_per_minute: 2, lifetime: {mean: 600}}
rollouts:
  - {deployment: web, start: 1800, every: 3600, max_surge: "25%", max_unavailable: 0}
autoscaler: {scan_interval: 10, expander: least-waste, ip_aware: false}
actions:
  - {at: 3000, scale: {deployment: web, replicas: 20}}
  - {at: 4000, subnet_usage: {subnet: shared, add: 20}}
  - at: 5000
    ec2_faults: {latency: {CreateNetworkInterface: 3}, fail: {AssignPrivateIpAddresses: "RequestLimitExceeded:5"}}
runs:
  - name: default
  - name: tuned
    ipamd: {WARM_IP_TARGET: "2", MINIMUM_IP_TARGET: "10"}
    expect: {errors: {}}
"""


def scenario_schema() -> dict[str, Any]:
    """The scenario JSON Schema, with a description on every field."""
    schema = Scenario.model_json_schema()
    for model, definition in [("Scenario", schema), *schema.get("$defs", {}).items()]:
        for name, field in definition.get("properties", {}).items():
            if not field.get("description") and f"{model}.{name}" in DESCRIPTIONS:
                field["description"] = DESCRIPTIONS[f"{model}.{name}"]
    return schema


def fields_without_description() -> list[str]:
    schema = scenario_schema()
    return [
        f"{model}.{name}"
        for model, definition in [("Scenario", schema), *schema.get("$defs", {}).items()]
        for name, field in definition.get("properties", {}).items()
        if not field.get("description")
    ]


def _type(field: dict[str, Any]) -> str:
    if "$ref" in field:
        return field["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in field:
        return " or ".join(_type(option) for option in field["anyOf"])
    if field.get("type") == "array":
        return f"list of {_type(field.get('items', {}))}"
    if field.get("type") == "object":
        extra = field.get("additionalProperties")
        return f"map of {_type(extra)}" if isinstance(extra, dict) else "map"
    if "enum" in field:
        return " | ".join(str(v) for v in field["enum"])
    return str(field.get("type", "any"))


def _default(field: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" in field:
        return f"`{json.dumps(field['default'])}`"
    return ""


def markdown() -> str:
    """docs/scenarios.md: every model's fields (type, default, meaning) and a complete example."""
    schema = scenario_schema()
    lines = [
        "# Scenario files",
        "",
        "<!-- Generated from the pydantic models by `make docs` (vpccni.cluster.schema_doc); a test keeps it",
        "     in step with them. `vpccni simulate --schema` prints the same as JSON Schema. -->",
        "",
        "A scenario is a YAML file that `vpccni simulate` and `vpccni advise` read. Unknown fields are errors,",
        "reported as `FILE: path.to.field: message` with exit 2. `vpccni simulate FILE --set PATH=VALUE`",
        "overrides any field without editing the file (list items by `name`).",
        "",
        "## Example",
        "",
        "```yaml",
        EXAMPLE.rstrip(),
        "```",
        "",
    ]
    for model, definition in [("Scenario", schema), *sorted(schema.get("$defs", {}).items())]:
        lines += [f"## {model}", ""]
        if definition.get("description") and model != "Scenario":
            lines += [" ".join(definition["description"].split()), ""]
        lines += ["| field | type | default | meaning |", "|---|---|---|---|"]
        required = set(definition.get("required", []))
        for name, field in definition.get("properties", {}).items():
            meaning = " ".join(str(field.get("description", "")).split()).replace("|", "\\|")
            kind = _type(field).replace("|", "\\|")
            lines.append(f"| `{name}` | {kind} | {_default(field, name in required)} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE)
    assert isinstance(data, dict)
    return data
