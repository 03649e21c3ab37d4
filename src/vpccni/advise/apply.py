"""Ready-to-paste ways to apply the recommendation: kubectl, a DaemonSet patch, Helm values, EKS add-on.

A candidate describes the whole warm pool, so every warm-pool variable it does not set is removed
(back to the reference default) — otherwise a WARM_PREFIX_TARGET left over from earlier would make
the cluster differ from what was simulated. ipamd reads one setting per DaemonSet: when node groups
get different settings, the groups that differ from the most common setting get their own copy of
aws-node, pinned with a nodeSelector on the EKS node-group label, and aws-node keeps off them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from vpccni.advise.space import WARM_POOL_VARIABLES, Candidate

NAMESPACE = "kube-system"
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
OWN_VARIABLES = frozenset({"WARM_POOL_POLICY"})  # vpccni's own: the reference aws-node ignores them


@dataclass(frozen=True)
class SingleSetting:
    """The best one setting for every group, for users who keep one DaemonSet, and what it costs."""

    candidate: Candidate
    cost: str


def _quote(value: str) -> str:
    return value if value.replace("_", "").replace("-", "").replace(".", "").isalnum() else json.dumps(value)


def _set_env(daemonset: str, candidate: Candidate) -> str:
    env = candidate.env
    sets = [f"{k}={_quote(v)}" for k, v in sorted(env.items())]
    removes = [f"{k}-" for k in WARM_POOL_VARIABLES if k not in env]
    return f"kubectl set env daemonset -n {NAMESPACE} {daemonset} " + " ".join(sets + removes)


def _notes(candidates: Sequence[Candidate], groups_by_candidate: Mapping[Candidate, Sequence[str]]) -> list[str]:
    notes = []
    for candidate in candidates:
        env = candidate.env
        own = sorted(OWN_VARIABLES & env.keys())
        if own:
            notes.append(f"# {', '.join(own)}: vpccni's own setting; the reference aws-node ignores it")
        if env.get("ENABLE_PREFIX_DELEGATION") == "true":
            for group in groups_by_candidate.get(candidate, ()):
                notes.append(
                    f"# prefix delegation on {group}: raise the nodes' kubelet max-pods too "
                    "(vpccni max-pods TYPE --prefix-delegation) in the launch template"
                )
    return notes


def _env_list(candidate: Candidate) -> list[dict[str, str]]:
    env = candidate.env
    entries: list[dict[str, str]] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    entries += [{"name": k, "$patch": "delete"} for k in WARM_POOL_VARIABLES if k not in env]
    return entries


def _not_in(groups: Sequence[str]) -> dict[str, object]:
    term = {"matchExpressions": [{"key": NODEGROUP_LABEL, "operator": "NotIn", "values": list(groups)}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def _helm_env(candidate: Candidate) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in WARM_POOL_VARIABLES if k not in candidate.env}  # null unsets
    env.update(candidate.env)
    return dict(sorted(env.items()))


def _copy_command(group: str) -> str:
    name = f"aws-node-{group}"
    program = (
        f'.metadata.name = "{name}"'
        " | del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.generation,"
        " .metadata.annotations, .status)"
        f' | .spec.selector.matchLabels["k8s-app"] = "{name}"'
        f' | .spec.template.metadata.labels["k8s-app"] = "{name}"'
        " | del(.spec.template.spec.affinity)"
        f' | .spec.template.spec.nodeSelector["{NODEGROUP_LABEL}"] = "{group}"'
    )
    return f"kubectl get daemonset aws-node -n {NAMESPACE} -o json \\\n  | jq '{program}' \\\n  | kubectl apply -f -"


def snippets(picks: Mapping[str, Candidate], single: SingleSetting | None = None) -> dict[str, str]:
    """{kubectl, daemonset_patch, helm_values, eks_addon} for per-group picks (group → candidate)."""
    groups = list(picks)
    counts = Counter(picks[g] for g in groups)
    main = max(counts, key=lambda c: (counts[c], -min(groups.index(g) for g in groups if picks[g] == c)))
    own = [g for g in groups if picks[g] != main]
    by_candidate: dict[Candidate, list[str]] = {}
    for group in groups:
        by_candidate.setdefault(picks[group], []).append(group)
    notes = _notes(list(by_candidate), by_candidate)

    kubectl: list[str] = []
    patches: list[str] = []
    helm: list[str] = []
    main_patch: dict[str, object] = {"containers": [{"name": "aws-node", "env": _env_list(main)}]}
    addon: dict[str, object] = {"env": {k: v for k, v in sorted(main.env.items()) if k not in OWN_VARIABLES}}
    main_values: dict[str, object] = {"env": _helm_env(main)}
    if own:
        kubectl.append(
            "# node groups get different settings and ipamd reads one per DaemonSet: "
            f"aws-node serves {', '.join(g for g in groups if g not in own)}; "
            f"{', '.join(own)} get their own copy"
        )
        affinity = _not_in(own)
        main_patch["affinity"] = affinity
        addon["affinity"] = affinity
        main_values["affinity"] = affinity
        kubectl.append(
            f"kubectl patch daemonset aws-node -n {NAMESPACE} --type merge -p "
            + "'"
            + json.dumps({"spec": {"template": {"spec": {"affinity": affinity}}}}, separators=(",", ":"))
            + "'"
        )
    kubectl.append(_set_env("aws-node", main))
    patches.append(
        f"# aws-node: kubectl patch daemonset aws-node -n {NAMESPACE} --patch-file aws-node.yaml\n"
        + yaml.safe_dump({"spec": {"template": {"spec": main_patch}}}, sort_keys=False)
    )
    helm.append("# aws-node (the eks/aws-vpc-cni chart's values)\n" + yaml.safe_dump(main_values, sort_keys=False))
    for group in own:
        name = f"aws-node-{group}"
        kubectl.append(f"# {group}: a copy of aws-node that runs only on its nodes")
        kubectl.append(_copy_command(group))
        kubectl.append(_set_env(name, picks[group]))
        patch = {
            "nodeSelector": {NODEGROUP_LABEL: group},
            "containers": [{"name": "aws-node", "env": _env_list(picks[group])}],
        }
        patches.append(
            f"# {name} (the copy made by the kubectl commands): "
            f"kubectl patch daemonset {name} -n {NAMESPACE} --patch-file {name}.yaml\n"
            + yaml.safe_dump({"spec": {"template": {"spec": patch}}}, sort_keys=False)
        )
        values = {"fullnameOverride": name, "nodeSelector": {NODEGROUP_LABEL: group}, "env": _helm_env(picks[group])}
        helm.append(
            f"# {name}: a second release of the chart, e.g. helm install {name} eks/aws-vpc-cni -n {NAMESPACE} "
            f"-f {name}.yaml\n" + yaml.safe_dump(values, sort_keys=False)
        )
    if single is not None and own:
        kubectl.append(
            f"# or one DaemonSet for every group with {single.candidate.label} ({single.cost}):\n"
            f"# {_set_env('aws-node', single.candidate)}"
        )
    kubectl = notes + kubectl
    return {
        "kubectl": "\n".join(kubectl),
        "daemonset_patch": "---\n".join(patches),
        "helm_values": "---\n".join(helm),
        "eks_addon": json.dumps(addon, sort_keys=True),
    }
