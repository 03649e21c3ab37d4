"""The advisor's parts: the generated grid, variants, the front (hypothesis), the dry-point search, the
CIDR arithmetic, the apply snippets and a two-group sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.advise.conftest import run_advice
from vpccni.advise import pareto
from vpccni.advise.apply import SingleSetting, snippets
from vpccni.advise.forecast import prefix_length_for, search_dry_points
from vpccni.advise.objectives import Evaluation
from vpccni.advise.space import Candidate, generated_candidates
from vpccni.advise.variants import scaled, with_settings
from vpccni.advise.wording import comparison, dry_sentence, lift
from vpccni.cluster.scenario import NodeGroupSpec, Scenario

TWO_GROUPS = """
name: two-groups
seed: 3
duration: 900
subnets:
  - {name: private-a, cidr: 10.0.0.0/25, used_by_others: 30}
  - {name: private-b, cidr: 10.0.1.0/25, used_by_others: 30}
node_groups:
  - {name: web, instance_type: t3.large, min: 2, max: 2, subnets: [private-a]}
  - {name: batch, instance_type: m5.large, min: 1, max: 1, subnets: [private-b], ipamd: {AWS_VPC_ENI_MTU: "1500"}}
daemonsets:
  - {name: aws-node, requests: {cpu: 25m, memory: 32Mi}}
deployments:
  - {name: web, replicas: 6, at: 60, requests: {cpu: 50m, memory: 64Mi}}
jobs:
  - {name: batch, start: 120, every: 300, pods: 6, lifetime: {min: 100, max: 200}, requests: {cpu: 50m, memory: 64Mi}}
autoscaler: {enabled: false}
"""
TWO_SPACE = """
node_groups:
  web:
    candidates:
      - {WARM_IP_TARGET: 2, MINIMUM_IP_TARGET: 8}
      - {WARM_ENI_TARGET: 0}
  batch:
    candidates:
      - {WARM_IP_TARGET: 1, MINIMUM_IP_TARGET: 10}
      - {ENABLE_PREFIX_DELEGATION: true, WARM_PREFIX_TARGET: 1}
"""


def _group(instance_type: str, ipamd: dict[str, str] | None = None) -> NodeGroupSpec:
    return NodeGroupSpec(name="g", instance_type=instance_type, max=3, subnets=["a"], ipamd=ipamd or {})


def test_generated_grid_scales_with_pods_per_node() -> None:
    labels = [c.label for c in generated_candidates(_group("t3.large"), pods_per_node=8)]
    assert labels[:2] == ["default", "WARM_ENI_TARGET=0"]
    # WARM_IP_TARGET {1, 2, ceil(8/8), ceil(8/4)} × MINIMUM_IP_TARGET {0, ceil(8/2), ceil(8·3/4), 8}
    assert labels[2:10] == [
        "WARM_IP_TARGET=1",
        "MINIMUM_IP_TARGET=4, WARM_IP_TARGET=1",
        "MINIMUM_IP_TARGET=6, WARM_IP_TARGET=1",
        "MINIMUM_IP_TARGET=8, WARM_IP_TARGET=1",
        "WARM_IP_TARGET=2",
        "MINIMUM_IP_TARGET=4, WARM_IP_TARGET=2",
        "MINIMUM_IP_TARGET=6, WARM_IP_TARGET=2",
        "MINIMUM_IP_TARGET=8, WARM_IP_TARGET=2",
    ]
    assert labels[10:] == [  # t3 is Nitro: prefix delegation, then the adaptive policy
        "ENABLE_PREFIX_DELEGATION=true, WARM_PREFIX_TARGET=1",
        "ENABLE_PREFIX_DELEGATION=true, WARM_IP_TARGET=2",
        "ENABLE_PREFIX_DELEGATION=true, MINIMUM_IP_TARGET=8, WARM_IP_TARGET=2",
        "WARM_POOL_POLICY=adaptive",
    ]


def test_generated_grid_has_no_prefix_delegation_on_xen_and_keeps_todays_settings() -> None:
    group = _group("m4.large", {"WARM_IP_TARGET": "7", "AWS_VPC_ENI_MTU": "1500"})
    candidates = generated_candidates(group, pods_per_node=40)
    labels = [c.label for c in candidates]
    assert not any("PREFIX" in label for label in labels)
    assert labels[2] == "WARM_IP_TARGET=7"  # what the group runs today, beside the reference default
    assert "MINIMUM_IP_TARGET=40, WARM_IP_TARGET=10" in labels  # ceil(40/4)
    assert all("AWS_VPC_ENI_MTU" not in label for label in labels)


def test_variants_replace_only_the_warm_pool_and_scale_every_workload() -> None:
    scenario = Scenario.model_validate(yaml.safe_load(TWO_GROUPS))
    document = with_settings(scenario, {"batch": Candidate.of({"WARM_IP_TARGET": "1"})})
    assert [g["ipamd"] for g in document["node_groups"]] == [{}, {"AWS_VPC_ENI_MTU": "1500", "WARM_IP_TARGET": "1"}]
    document["actions"] = [{"at": 300.0, "scale": {"deployment": "web", "replicas": 9}}]
    document["arrivals"] = [{"name": "w", "rate_per_minute": 2.0, "lifetime": {"mean": 60.0}}]
    bigger = scaled(document, 1.5)
    assert bigger["deployments"][0]["replicas"] == 9  # 6 × 1.5
    assert bigger["actions"][0]["scale"]["replicas"] == 14  # 13.5 rounds half up
    assert bigger["jobs"][0]["pods"] == 9
    assert bigger["arrivals"][0]["rate_per_minute"] == 3.0
    assert scaled(document, 0.01)["jobs"][0]["pods"] == 1  # a burst keeps at least one pod
    assert document["deployments"][0]["replicas"] == 6  # the original is untouched


def _evaluation(objectives: tuple[float, float, float], feasible: bool) -> Evaluation:
    return Evaluation(objectives, () if feasible else ("exhaustion_errors",), {})


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)).map(
                lambda t: (float(t[0]), float(t[1]), float(t[2]))
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_front_is_exactly_the_non_dominated_feasible_set(points: list[tuple[tuple[float, float, float], bool]]) -> None:
    scored = [(Candidate.of({"WARM_IP_TARGET": str(i)}), _evaluation(o, f)) for i, (o, f) in enumerate(points)]
    front = pareto.front(scored)
    feasible = [s for s in scored if s[1].feasible]
    assert all(s[1].feasible for s in front)
    for _, a in front:
        assert not any(pareto.dominates(b.objectives, a.objectives) for _, b in feasible)
    for s in feasible:
        if s not in front:
            assert any(pareto.dominates(f[1].objectives, s[1].objectives) for f in front)
    pick = pareto.recommend(scored)
    if feasible:
        assert pick in front  # the recommendation is never dominated
        assert pick is not None and pick[1].objectives[0] == min(e.objectives[0] for _, e in feasible)
    else:
        assert pick is None and pareto.binding_constraint(scored) == "exhaustion_errors"


def test_dry_point_search_brackets_the_multiple() -> None:
    """A fake cluster that runs dry from 2.3× (2,300 of 1,000 replicas): ladder, then two 4-way splits."""
    document: dict[str, Any] = {"deployments": [{"replicas": 1000}], "actions": [], "jobs": [], "arrivals": []}
    asked: list[list[float]] = []

    def batch(requests: Any) -> list[dict[str, Any]]:
        asked.append([doc["deployments"][0]["replicas"] / 1000 for doc, _ in requests])
        return [
            {
                "exhausted_subnets": {"a": 1} if doc["deployments"][0]["replicas"] >= 2300 else {},
                "summary": {"pods_pending_unschedulable": 1 if doc["deployments"][0]["replicas"] >= 5000 else 0},
            }
            for doc, _ in requests
        ]

    today = [{"exhausted_subnets": {}, "summary": {"pods_pending_unschedulable": 0}}]
    points = search_dry_points({"rec": document}, {"rec": today}, ["a"], [1], batch)
    point = points["rec"]["a"]
    assert asked == [
        [1.25, 1.5, 2.0],
        [3.0, 5.0, 8.0],
        [2.25, 2.5, 2.75],
        [2.313, 2.375, 2.438],  # 2.3125 × 1000 replicas round half up to 2313
    ]
    assert point.multiple == 2.31 and point.nodes_full_at == 5.0
    assert dry_sentence("a", point) == "a runs dry at 2.31× today's pods"


def test_dry_point_search_refines_a_bracket_found_on_the_first_rung() -> None:
    document: dict[str, Any] = {"deployments": [{"replicas": 1000}], "actions": [], "jobs": [], "arrivals": []}
    asked: list[list[float]] = []

    def batch(requests: Any) -> list[dict[str, Any]]:
        asked.append([doc["deployments"][0]["replicas"] / 1000 for doc, _ in requests])
        dry = [doc["deployments"][0]["replicas"] >= 1100 for doc, _ in requests]
        return [{"exhausted_subnets": {"a": 1} if d else {}, "summary": {"pods_pending_unschedulable": 0}} for d in dry]

    today = [{"exhausted_subnets": {}, "summary": {"pods_pending_unschedulable": 0}}]
    point = search_dry_points({"rec": document}, {"rec": today}, ["a"], [1], batch)["rec"]["a"]
    assert asked == [[1.25, 1.5, 2.0], [1.063, 1.125, 1.188], [1.078, 1.094, 1.109]]  # no upper rung: dry below it
    assert point.multiple == 1.11  # 1.0938 × 1000 → 1094 pods: not yet; 1.1094 → 1109: dry


def test_dry_point_search_stops_climbing_when_the_node_groups_are_full() -> None:
    document: dict[str, Any] = {"deployments": [{"replicas": 100}], "actions": [], "jobs": [], "arrivals": []}
    asked: list[list[float]] = []

    def batch(requests: Any) -> list[dict[str, Any]]:
        asked.append([doc["deployments"][0]["replicas"] / 100 for doc, _ in requests])
        full = [doc["deployments"][0]["replicas"] >= 150 for doc, _ in requests]
        return [{"exhausted_subnets": {}, "summary": {"pods_pending_unschedulable": int(f)}} for f in full]

    today = [{"exhausted_subnets": {}, "summary": {"pods_pending_unschedulable": 0}}]
    point = search_dry_points({"rec": document}, {"rec": today}, ["a"], [1], batch)["rec"]["a"]
    assert asked == [[1.25, 1.5, 2.0]]
    assert point.multiple is None and point.nodes_full_at == 1.5
    assert dry_sentence("a", point) == (
        "a does not run dry up to 2× today's pods (from 1.5× the node groups are full first)"
    )


def test_prefix_length_for_addresses() -> None:
    usable = {1: 28, 11: 28, 12: 27, 27: 27, 28: 26, 59: 26, 60: 25, 76: 25, 251: 24, 252: 23, 65531: 16}
    assert {n: prefix_length_for(n) for n in usable} == usable


def test_comparison_in_words() -> None:
    assert (
        comparison((50.0, 1.2, 100.0), (11.0, 0.9, 60.0))
        == "idle addresses −78 %, p99 wait 1.2 s → 0.9 s, EC2 calls −40 %"
    )
    assert comparison((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)) == "idle addresses ±0 %, p99 wait 0.0 s → 0.0 s, EC2 calls ±0 %"


def test_lifting_a_binding_constraint_in_words() -> None:
    assert lift("exhaustion_errors", 5.0, 23, nitro=True) == (
        "the subnet runs out of addresses; lift it with a larger subnet (/23 or bigger), or prefix delegation "
        "(addresses in /28 blocks, so fewer ENIs and secondary IPs), or custom networking with pods in a "
        "secondary CIDR such as 100.64.0.0/16"
    )
    assert "prefix delegation" not in lift("pods_never_got_ip", 5.0, 23, nitro=False)
    assert lift("ip_wait_seconds.p99", 2.0, None, nitro=True).startswith("pods wait more than 2 s for an address")


def test_snippets_give_one_daemonset_per_differing_group() -> None:
    tuned = Candidate.of({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "8"})
    prefix = Candidate.of({"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"})
    picks = {"web": tuned, "api": tuned, "batch": prefix}
    out = snippets(picks, SingleSetting(tuned, "idle addresses +12 %, p99 wait 1.0 s → 1.0 s, EC2 calls +5 %"))
    kubectl = out["kubectl"]
    assert "aws-node serves web, api; batch get their own copy" in kubectl
    assert '"operator":"NotIn","values":["batch"]' in kubectl
    assert '.spec.template.spec.nodeSelector["eks.amazonaws.com/nodegroup"] = "batch"' in kubectl
    assert (
        "kubectl set env daemonset -n kube-system aws-node-batch ENABLE_PREFIX_DELEGATION=true WARM_PREFIX_TARGET=1 "
        "WARM_ENI_TARGET- WARM_IP_TARGET- MINIMUM_IP_TARGET- WARM_POOL_POLICY-"
    ) in kubectl
    assert "raise the nodes' kubelet max-pods" in kubectl
    assert (
        "# or one DaemonSet for every group with MINIMUM_IP_TARGET=8, WARM_IP_TARGET=2 (idle addresses +12 %" in kubectl
    )
    patches = list(yaml.safe_load_all(out["daemonset_patch"]))
    assert patches[1]["spec"]["template"]["spec"]["nodeSelector"] == {"eks.amazonaws.com/nodegroup": "batch"}
    helm = list(yaml.safe_load_all(out["helm_values"]))
    assert helm[0]["env"]["WARM_IP_TARGET"] == "2" and helm[0]["env"]["WARM_PREFIX_TARGET"] is None
    assert helm[1]["fullnameOverride"] == "aws-node-batch"
    addon = json.loads(out["eks_addon"])
    assert addon["env"] == {"MINIMUM_IP_TARGET": "8", "WARM_IP_TARGET": "2"}
    terms = addon["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["batch"]


def test_adaptive_is_left_out_of_the_eks_addon_schema() -> None:
    out = snippets({"g": Candidate.of({"WARM_POOL_POLICY": "adaptive"})})
    assert json.loads(out["eks_addon"]) == {"env": {}}
    assert "WARM_POOL_POLICY: vpccni's own setting" in out["kubectl"]


def test_two_groups_one_setting_for_all_when_it_is_as_good(tmp_path: Path) -> None:
    scenario, space = tmp_path / "two.yaml", tmp_path / "space.yaml"
    scenario.write_text(TWO_GROUPS)
    space.write_text(TWO_SPACE)
    advice = run_advice(scenario, space)
    assert [c.label for c, _ in advice.groups["web"].scored] == [
        "default",
        "MINIMUM_IP_TARGET=8, WARM_IP_TARGET=2",
        "WARM_ENI_TARGET=0",
    ]
    assert advice.groups["web"].pick[0].label == "MINIMUM_IP_TARGET=8, WARM_IP_TARGET=2"
    assert advice.groups["batch"].pick[0].label == "MINIMUM_IP_TARGET=10, WARM_IP_TARGET=1"
    # the web pick on both groups beats the two picks together: one DaemonSet, no per-group copies
    assert advice.unified and advice.single is None
    out = advice.to_json()
    assert out["node_groups"]["web"]["recommended"]["settings"] == {"MINIMUM_IP_TARGET": "8", "WARM_IP_TARGET": "2"}
    assert out["node_groups"]["batch"]["recommended"]["settings"] == {"MINIMUM_IP_TARGET": "8", "WARM_IP_TARGET": "2"}
    assert "aws-node-" not in out["apply"]["kubectl"]
    batch = dict(advice.groups["batch"].scored)
    prefix = Candidate.of({"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"})
    assert batch[prefix].violations == ("exhaustion_errors", "pods_never_got_ip")  # /28 blocks: the /25 is fragmented
    assert out["forecast"]["private-b"]["capacity"] == 123
