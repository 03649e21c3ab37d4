"""The sweep, start to finish: default runs, each group's candidates (others at the default), one joint
run of the picks, the single-setting alternative, then the subnet forecast.

Groups are searched one at a time with the other groups at the reference default, then the joint pick
is confirmed by one more run (per seed): the cost grows with the sum of the groups' spaces, not their
product. All runs of a stage are one batch, so the workers share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpccni import catalog
from vpccni.advise import pareto
from vpccni.advise.apply import SingleSetting, snippets
from vpccni.advise.forecast import DryPoint, prefix_length_for_growth, search_dry_points
from vpccni.advise.objectives import Evaluation, evaluate
from vpccni.advise.runner import RunRequest, SweepRunner
from vpccni.advise.space import DEFAULT, Candidate, generated_candidates
from vpccni.advise.variants import Document, advice_base, with_settings
from vpccni.advise.wording import comparison
from vpccni.cluster.scenario import Scenario
from vpccni.cluster.simulation import ClusterSimulation


@dataclass(frozen=True)
class AdviseOptions:
    seeds: int = 3
    max_wait: float = 5.0
    growth: float = 2.0
    space: Mapping[str, Sequence[Candidate]] | None = None  # None: the generated grid


@dataclass
class GroupAdvice:
    name: str
    instance_type: str
    pods_per_node: int
    scored: list[pareto.Scored]  # the reference default first
    pick: pareto.Scored  # the recommendation, or the closest candidate when none is feasible

    @property
    def front(self) -> list[pareto.Scored]:
        return pareto.front(self.scored)

    @property
    def any_feasible(self) -> bool:
        return any(e.feasible for _, e in self.scored)

    @property
    def supports_prefix_delegation(self) -> bool:
        return catalog.get(self.instance_type).supports_prefix_delegation


@dataclass
class SubnetForecast:
    name: str
    capacity: int
    peak_used_default: int
    peak_used_recommended: int
    dry_default: DryPoint
    dry_recommended: DryPoint
    prefix_length_for_growth: int

    @property
    def headroom_default(self) -> int:
        return self.capacity - self.peak_used_default

    @property
    def headroom_recommended(self) -> int:
        return self.capacity - self.peak_used_recommended


@dataclass
class Advice:
    scenario: str
    options: AdviseOptions
    groups: dict[str, GroupAdvice]
    default: Evaluation
    joint: Evaluation  # the recommended settings, all groups together (the confirming run)
    single: tuple[Candidate, Evaluation] | None  # one setting for every group, when the picks differ
    chosen: dict[str, Candidate]  # the recommended setting per group
    forecast: dict[str, SubnetForecast]
    apply: dict[str, str]
    series: dict[str, dict[str, Any]]  # "default" / "recommended": the first seed's time series
    runs: int = 0
    cached: int = 0
    seeds: list[int] = field(default_factory=list)
    unified: bool = False  # one setting for every group beat the groups' own picks together

    @property
    def picks(self) -> dict[str, Candidate]:
        return dict(self.chosen)

    @property
    def feasible(self) -> bool:
        return self.joint.feasible and all(g.any_feasible for g in self.groups.values())

    def binding_constraint(self, group: str) -> str | None:
        advice = self.groups[group]
        if not advice.any_feasible:
            return pareto.binding_constraint(advice.scored)
        return self.joint.violations[0] if self.joint.violations else None

    def comparison(self) -> str:
        return comparison(self.default.objectives, self.joint.objectives)

    def single_cost(self) -> str | None:
        """What one setting for every group costs against the per-group settings."""
        if self.single is None:
            return None
        return comparison(self.joint.objectives, self.single[1].objectives)

    def to_json(self) -> dict[str, Any]:
        groups = {}
        for name, advice in self.groups.items():
            groups[name] = {
                "recommended": {"settings": self.chosen[name].env, "metrics": self.joint.metrics},
                "default": {"metrics": self.default.metrics},
                "pareto": [{"settings": c.env, "metrics": e.metrics} for c, e in advice.front],
                "feasible": advice.any_feasible and self.joint.feasible,
                "binding_constraint": self.binding_constraint(name),
            }
        forecast = {
            name: {
                "capacity": f.capacity,
                "peak_used_default": f.peak_used_default,
                "peak_used_recommended": f.peak_used_recommended,
                "runs_dry_at_multiple": f.dry_recommended.multiple,
                "prefix_length_for_growth": f.prefix_length_for_growth,
            }
            for name, f in self.forecast.items()
        }
        return {
            "node_groups": groups,
            "forecast": forecast,
            "apply": self.apply,
            "runs": self.runs,
            "cached": self.cached,
        }


def check_buildable(scenario: Scenario) -> None:
    """Raise the simulator's own ScenarioError now, before any worker starts (e.g. others' usage larger
    than the subnet)."""
    ClusterSimulation(advice_base(scenario))


def advise(scenario: Scenario, options: AdviseOptions, runner: SweepRunner) -> Advice:
    """The whole sweep on `runner` (an entered SweepRunner); `runs`/`cached` count this call's runs."""
    simulated, cached = runner.simulated, runner.cached

    def batch(requests: Sequence[tuple[Document, int]]) -> list[dict[str, Any]]:
        return runner.run([RunRequest(d, s) for d, s in requests])

    base = advice_base(scenario)
    seeds = [scenario.seed + i for i in range(options.seeds)]
    groups = [g.name for g in base.node_groups]

    def runs(documents: Sequence[Document]) -> list[list[dict[str, Any]]]:
        records = batch([(d, s) for d in documents for s in seeds])
        return [records[i * len(seeds) : (i + 1) * len(seeds)] for i in range(len(documents))]

    default_doc = with_settings(base, {})
    (default_records,) = runs([default_doc])
    default_eval = evaluate(default_records, options.max_wait)

    spaces: dict[str, list[Candidate]] = {}
    for spec in base.node_groups:
        if options.space is not None:
            spaces[spec.name] = [DEFAULT, *(c for c in options.space[spec.name] if not c.is_default)]
        else:
            pods = max(int(r["pods_per_node"].get(spec.name, 0)) for r in default_records)
            spaces[spec.name] = generated_candidates(spec, pods)
    plan = [(g, c) for g in groups for c in spaces[g] if not c.is_default]
    stage = runs([with_settings(base, {g: c}) for g, c in plan])
    scored: dict[str, list[pareto.Scored]] = {g: [(DEFAULT, default_eval)] for g in groups}
    for (group, candidate), records in zip(plan, stage, strict=True):
        scored[group].append((candidate, evaluate(records, options.max_wait)))
    advice_groups = {}
    for spec in base.node_groups:
        pick = pareto.recommend(scored[spec.name]) or pareto.closest(scored[spec.name])
        pods = max(int(r["pods_per_node"].get(spec.name, 0)) for r in default_records)
        advice_groups[spec.name] = GroupAdvice(spec.name, spec.instance_type, pods, scored[spec.name], pick)
    picks = {g: advice_groups[g].pick[0] for g in groups}

    distinct = list(dict.fromkeys(picks.values()))
    singles = [c for c in distinct if _runs_everywhere(c, advice_groups.values())] if len(distinct) > 1 else []
    joint_doc = with_settings(base, picks)
    joint_records, *single_records = runs(
        [joint_doc, *(with_settings(base, dict.fromkeys(groups, c)) for c in singles)]
    )
    joint_eval = evaluate(joint_records, options.max_wait)
    single: tuple[Candidate, Evaluation] | None = None
    unified = False
    if singles:
        single_scored = [(c, evaluate(r, options.max_wait)) for c, r in zip(singles, single_records, strict=True)]
        single = pareto.recommend(single_scored) or pareto.closest(single_scored)
        if pareto.rank(single[1]) <= pareto.rank(joint_eval):  # as good with one DaemonSet: simpler wins
            records = single_records[singles.index(single[0])]
            picks = dict.fromkeys(groups, single[0])
            joint_doc, joint_records, joint_eval = with_settings(base, picks), records, single[1]
            single, unified = None, True

    subnets = [s.name for s in base.subnets]
    points = search_dry_points(
        {"default": default_doc, "recommended": joint_doc},
        {"default": default_records, "recommended": joint_records},
        subnets,
        seeds,
        batch,
    )
    forecast = {}
    for subnet in subnets:
        peak_default = max(int(r["summary"]["subnet_used_max"].get(subnet, 0)) for r in default_records)
        peak_recommended = max(int(r["summary"]["subnet_used_max"].get(subnet, 0)) for r in joint_records)
        forecast[subnet] = SubnetForecast(
            subnet,
            int(default_records[0]["subnet_capacity"][subnet]),
            peak_default,
            peak_recommended,
            points["default"][subnet],
            points["recommended"][subnet],
            prefix_length_for_growth(peak_recommended, options.growth),
        )
    single_setting = None
    if single is not None:
        single_setting = SingleSetting(single[0], comparison(joint_eval.objectives, single[1].objectives))
    return Advice(
        scenario=scenario.name,
        options=options,
        groups=advice_groups,
        default=default_eval,
        joint=joint_eval,
        single=single,
        chosen=picks,
        unified=unified,
        forecast=forecast,
        apply=snippets(picks, single_setting),
        series={"default": default_records[0]["series"], "recommended": joint_records[0]["series"]},
        runs=runner.simulated - simulated,
        cached=runner.cached - cached,
        seeds=seeds,
    )


def _runs_everywhere(candidate: Candidate, groups: Sequence[GroupAdvice] | Any) -> bool:
    """Prefix delegation is a candidate for one DaemonSet only if every group's type supports it."""
    if candidate.env.get("ENABLE_PREFIX_DELEGATION") != "true":
        return True
    return all(g.supports_prefix_delegation for g in groups)
