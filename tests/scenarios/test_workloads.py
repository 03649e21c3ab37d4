"""Job bursts, Poisson arrivals and rolling restarts: exact outcomes on small clusters, and their validation."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vpccni.cli import app
from vpccni.cluster import ClusterSimulation, ScenarioError, load_scenario
from vpccni.cluster.model import Phase, Pod
from vpccni.cluster.scenario import Lifetime, RolloutSpec, Scenario
from vpccni.cluster.workloads import PodTemplate, rolling_update_step

BASE: dict[str, Any] = {
    "name": "small",
    "seed": 7,
    "duration": 1800,
    "subnets": [{"name": "private-a", "cidr": "10.0.0.0/24"}],
    "node_groups": [
        {
            "name": "workers",
            "instance_type": "m5.large",
            "min": 1,
            "max": 1,
            "subnets": ["private-a"],
            "ipamd": {"WARM_ENI_TARGET": "0", "WARM_IP_TARGET": "2"},
        }
    ],
    "daemonsets": [{"name": "aws-node"}, {"name": "kube-proxy"}],
    "autoscaler": {"enabled": False},
}
JOBS = [{"name": "batch", "start": 120, "every": 600, "end": 1320, "pods": 5, "lifetime": {"min": 100, "max": 200}}]
ARRIVALS = [{"name": "workers", "end": 1200, "rate_per_minute": 1, "lifetime": {"mean": 300}}]


class Recording(ClusterSimulation):
    """Records every job/arrival pod created (name, time, lifetime) and every finish (name, started, time)."""

    def __init__(self, scenario: Scenario) -> None:
        self.created: list[tuple[str, float, float]] = []
        self.finished: list[tuple[str, float, float]] = []
        super().__init__(scenario)

    def create_batch_pod(self, template: PodTemplate, lifetime: float) -> Pod:
        pod = super().create_batch_pod(template, lifetime)
        self.created.append((pod.name, self.world.now(), lifetime))
        return pod

    def _finish(self, pod: Pod) -> None:
        assert pod.started is not None
        self.finished.append((pod.name, pod.started, self.world.now()))
        super()._finish(pod)


def _scenario(**extra: Any) -> Scenario:
    return Scenario.model_validate({**BASE, **extra})


def test_job_bursts_exact_outcome() -> None:
    sim = Recording(_scenario(jobs=JOBS))
    summary = sim.run()
    assert [t for _, t, _ in sim.created] == [120.0] * 5 + [720.0] * 5 + [1320.0] * 5
    assert sim.pods_completed == 15
    assert {k: summary[k] for k in ("pods_created", "pods_deleted", "pods_running", "assigned_ips", "idle_ips")} == {
        "pods_created": 15,
        "pods_deleted": 15,
        "pods_running": 0,
        "assigned_ips": 0,
        "idle_ips": 2,
    }
    # WARM_IP_TARGET=2: two pods of each burst find a warm address, the others wait for an assign
    assert sorted(round(w, 3) for w in sim.ip_waits.waits) == [
        *[1.0] * 6,
        *[11.241, 11.43, 11.471, 12.073, 12.974, 13.914, 15.106, 15.549, 15.739],
    ]
    assert summary["ip_wait_seconds"] == {"p50": 11.43, "p90": 15.549, "p99": 15.739, "max": 15.739}
    assert summary["pods_never_got_ip"] == 0
    assert summary["idle_ips_mean"] == 1.99
    assert summary["idle_ips_max"] == 5
    assert summary["ec2_mutating_calls"] == 21
    assert summary["subnet_used_max"] == {"private-a": 8}


def test_a_pods_lifetime_counts_from_running_not_from_creation() -> None:
    sim = Recording(_scenario(jobs=JOBS))
    sim.run()
    lifetimes = {name: lifetime for name, _, lifetime in sim.created}
    assert len(sim.finished) == 15
    for name, started, ended in sim.finished:
        assert ended == pytest.approx(started + lifetimes[name], abs=1e-9)
    created_at = {name: t for name, t, _ in sim.created}
    waited = [name for name, started, _ in sim.finished if started - created_at[name] > 10]
    assert len(waited) == 9  # those kept their whole lifetime after waiting for an address
    assert all(100 <= lifetime <= 200 for lifetime in lifetimes.values())


def test_poisson_arrivals_exact_outcome() -> None:
    sim = Recording(_scenario(arrivals=ARRIVALS))
    summary = sim.run()
    assert len(sim.created) == 18
    assert all(0 < t <= 1200 for _, t, _ in sim.created)
    assert sim.pods_completed == 17
    assert (summary["pods_created"], summary["pods_deleted"], summary["pods_running"]) == (18, 17, 1)
    assert summary["ip_wait_seconds"] == {"p50": 1.0, "p90": 1.0, "p99": 1.0, "max": 1.0}
    assert (summary["idle_ips_mean"], summary["idle_ips_max"], summary["ec2_mutating_calls"]) == (1.919, 3, 30)


def test_each_workload_draws_from_its_own_generator() -> None:
    """Adding an arrival stream leaves the job's lifetimes and the arrivals' times exactly as they were alone."""
    jobs_alone, arrivals_alone = Recording(_scenario(jobs=JOBS)), Recording(_scenario(arrivals=ARRIVALS))
    both = Recording(_scenario(jobs=JOBS, arrivals=ARRIVALS))
    for sim in (jobs_alone, arrivals_alone, both):
        sim.run()
    created = {name: (t, lifetime) for name, t, lifetime in both.created}
    for name, t, lifetime in (*jobs_alone.created, *arrivals_alone.created):
        assert created[name] == (t, lifetime)
    assert len(both.created) == len(jobs_alone.created) + len(arrivals_alone.created)


def test_same_seed_same_result_and_the_seed_matters() -> None:
    scenario = _scenario(jobs=JOBS, arrivals=ARRIVALS)
    first, again = ClusterSimulation(scenario).run(), ClusterSimulation(scenario).run()
    assert first == again
    other = ClusterSimulation(scenario, seed=8).run()
    assert other["pods_created"] != first["pods_created"] or other["idle_ips_mean"] != first["idle_ips_mean"]


def _rollout_run(max_surge: int | str, max_unavailable: int | str) -> tuple[ClusterSimulation, list[tuple[int, int]]]:
    """Runs a two-node cluster whose 4-replica deployment is restarted at 600 s and 1200 s; after every
    event from 600 s on, records (live pods of the deployment, Running ones)."""
    scenario = _scenario(
        node_groups=[{**BASE["node_groups"][0], "min": 2, "max": 2, "ipamd": {}}],
        deployments=[{"name": "web", "replicas": 4}],
        rollouts=[
            {
                "deployment": "web",
                "start": 600,
                "every": 600,
                "end": 1200,
                "max_surge": max_surge,
                "max_unavailable": max_unavailable,
            }
        ],
    )
    sim = ClusterSimulation(scenario)
    seen: list[tuple[int, int]] = []
    while (when := sim.events.peek_time()) is not None and when <= scenario.duration:
        popped = sim.events.pop()
        assert popped is not None
        sim.world.advance_to(popped[0])
        popped[1]()
        if popped[0] >= 600:
            pods = [p for p in sim.deployments["web"].pods if not p.deleted]
            seen.append((len(pods), sum(1 for p in pods if p.phase is Phase.RUNNING)))
    sim.world.advance_to(scenario.duration)
    return sim, seen


def test_rolling_restart_with_surge_and_no_unavailability() -> None:
    sim, seen = _rollout_run(1, 0)
    summary = sim.summary()
    assert (summary["pods_created"], summary["pods_deleted"], summary["pods_running"]) == (12, 8, 4)
    assert {p.revision for p in sim.deployments["web"].pods} == {2}
    assert sim.deployments["web"].rollout is None  # complete
    assert max(live for live, _ in seen) == 5  # replicas + maxSurge
    assert min(running for _, running in seen) == 4  # replicas − maxUnavailable
    assert summary["ip_wait_seconds"]["max"] == 1.0  # the default warm pool has addresses ready


def test_rolling_restart_with_default_quarters() -> None:
    sim, seen = _rollout_run("25%", "25%")
    summary = sim.summary()
    assert (summary["pods_created"], summary["pods_deleted"]) == (12, 8)
    assert max(live for live, _ in seen) == 5  # 25 % of 4 rounds up to 1
    assert min(running for _, running in seen) == 3  # 25 % of 4 rounds down to 1


def test_rollout_resolves_like_kubernetes() -> None:
    spec = RolloutSpec(deployment="web", max_surge="25%", max_unavailable="25%")
    assert spec.resolve(10) == (3, 2)
    assert spec.resolve(1) == (1, 0)
    assert RolloutSpec(deployment="web", max_surge=0, max_unavailable="10%").resolve(5) == (0, 1)  # never both 0
    assert RolloutSpec(deployment="web", max_surge=2, max_unavailable=0).resolve(3) == (2, 0)


def _pod(name: str, revision: int, running: bool) -> Pod:
    pod = Pod(name, "web", "default", 0.1, 1.0, False, False, 0.0)
    pod.revision = revision
    pod.phase = Phase.RUNNING if running else Phase.UNSCHEDULABLE
    return pod


@settings(max_examples=200, deadline=None)
@given(
    replicas=st.integers(1, 12),
    surge=st.integers(0, 4),
    unavailable=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_rolling_update_steps_respect_surge_and_availability(
    replicas: int, surge: int, unavailable: int, seed: int
) -> None:
    if surge == 0 and unavailable == 0:
        unavailable = 1
    unavailable = min(unavailable, replicas)
    rng = random.Random(seed)
    pods = [_pod(f"old-{i}", 0, True) for i in range(replicas)]
    serial = 0
    for _ in range(10 * replicas + 20):
        while True:
            new = [p for p in pods if p.revision == 1]
            old = [p for p in pods if p.revision == 0]
            step = rolling_update_step(replicas, surge, unavailable, new, old)
            if not step.create and not step.delete:
                break
            pods = [p for p in pods if p not in step.delete]
            for _ in range(step.create):
                serial += 1
                pods.append(_pod(f"new-{serial}", 1, False))
            assert len(pods) <= replicas + surge
            assert sum(1 for p in pods if p.phase is Phase.RUNNING) >= replicas - unavailable
        waiting = [p for p in pods if p.phase is not Phase.RUNNING]
        if not waiting:
            break
        rng.choice(waiting).phase = Phase.RUNNING  # one new pod gets its address
    assert len(pods) == replicas
    assert all(p.revision == 1 and p.phase is Phase.RUNNING for p in pods)


@given(low=st.floats(0, 1e4), span=st.floats(0, 1e4), seed=st.integers(0, 2**16))
def test_uniform_lifetimes_stay_in_range(low: float, span: float, seed: int) -> None:
    drawn = Lifetime(min=low, max=low + span).draw(random.Random(seed))
    assert low <= drawn <= low + span


def test_control_plane_enis_take_subnet_addresses() -> None:
    plain = ClusterSimulation(_scenario()).run()
    with_eks = ClusterSimulation(_scenario(control_plane_enis={"private-a": 4})).run()
    assert with_eks["subnet_used_max"]["private-a"] == plain["subnet_used_max"]["private-a"] + 4
    assert with_eks["subnet_free_min"]["private-a"] == plain["subnet_free_min"]["private-a"] - 4
    assert with_eks["ec2_mutating_calls"] == plain["ec2_mutating_calls"]  # not ipamd's ENIs


def test_control_plane_enis_beyond_the_subnet_are_refused() -> None:
    small = {**BASE, "subnets": [{"name": "private-a", "cidr": "10.0.0.0/28"}]}
    with pytest.raises(ScenarioError, match="control_plane_enis.private-a: more than the subnet holds"):
        ClusterSimulation(Scenario.model_validate({**small, "control_plane_enis": {"private-a": 12}}))


BAD_WORKLOADS = [
    ("rollouts: [{deployment: api}]", "rollouts.0.deployment: unknown deployment: 'api'"),
    ("jobs: [{name: b, every: 60, pods: 1, lifetime: {min: 5}}]", "jobs.0.lifetime: Value error, a uniform lifetime"),
    ("jobs: [{name: b, every: 60, pods: 1, lifetime: {min: 5, max: 9, mean: 6}}]", "not both"),
    ("jobs: [{name: b, every: 60, pods: -2, lifetime: {mean: 5}}]", "jobs.0.pods: Input should be greater than"),
    ("jobs: [{name: b, every: 60, pods: 1, start: 90, end: 30, lifetime: {mean: 5}}]", "end 30.0 is before start 90"),
    ("jobs: [{name: web, every: 60, pods: 1, lifetime: {mean: 5}}]", "jobs.0.name: name already used"),
    ("arrivals: [{name: a, rate_per_minute: -1, lifetime: {mean: 5}}]", "arrivals.0.rate_per_minute"),
    ("arrivals: [{name: a, rate_per_minute: 1, lifetime: {mean: 0}}]", "arrivals.0.lifetime.mean"),
    ("rollouts: [{deployment: web, max_surge: 0, max_unavailable: 0}]", "may not both be 0"),
    ("rollouts: [{deployment: web, max_surge: lots}]", "rollouts.0.max_surge: Value error"),
    ("rollouts: [{deployment: web, max_unavailable: '150%'}]", "above 100%"),
    ("rollouts: [{deployment: web, max_surge: -1}]", "non-negative"),
    ("control_plane_enis: {nowhere: 2}", "control_plane_enis.nowhere: unknown subnet"),
]


@pytest.mark.parametrize(("text", "message"), BAD_WORKLOADS, ids=[m for _, m in BAD_WORKLOADS])
def test_bad_workloads_exit_2_naming_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\nduration: 100\nsubnets: [{name: a, cidr: 10.0.0.0/24}]\n"
        "node_groups: [{name: g, instance_type: m5.large, max: 1, subnets: [a]}]\n"
        f"deployments: [{{name: web, replicas: 1}}]\n{text}\n"
    )
    with pytest.raises(ScenarioError) as failed:
        load_scenario(path)
    assert str(path) in str(failed.value) and message in str(failed.value)
    result = CliRunner().invoke(app, ["simulate", str(path)])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output


def test_ec2_fault_actions_slow_and_fail_calls_then_clear() -> None:
    """A scenario's `ec2_faults` action: the next calls of an action fail with the code, another one is slower;
    a later action clears them (the cluster counterpart of `ipamd --sim-fail/--sim-latency`)."""
    from vpccni.cluster import ClusterSimulation, load_scenario
    from vpccni.cluster.scenario import Scenario

    base = load_scenario(Path(__file__).parents[2] / "scenarios" / "two-nodes-100-pods.yaml")
    data = base.model_dump()
    data["actions"] = [
        {"at": 200, "ec2_faults": {"fail": {"CreateNetworkInterface": "RequestLimitExceeded:3"}}},
        *data["actions"],
        {"at": 600, "ec2_faults": {"clear": True}},
    ]
    data["expect"] = {}
    faulted = ClusterSimulation(Scenario.model_validate(data)).run()
    plain = ClusterSimulation(base).run()
    assert plain["throttled_calls"] == 0 and plain["errors"] == {}
    # the client's standard retries absorb the three throttles: counted as CloudTrail would, never seen by ipamd
    assert faulted["throttled_calls"] == 3 and faulted["errors"] == {}
    assert faulted["pods_running"] == plain["pods_running"] == 102
    bad = {**data, "actions": [{"at": 1, "ec2_faults": {"fail": {"CreateNetworkInterface": "Code:0"}}}]}
    with pytest.raises(ValueError, match="CODE:COUNT"):
        Scenario.model_validate(bad)
