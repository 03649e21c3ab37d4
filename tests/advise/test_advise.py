"""`vpccni advise` end to end on small scenarios: the pinned answer, the front, the constraints, determinism
across worker counts, the cache, bad input and the report."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.advise.conftest import run_advice
from tests.headless import CHROMIUM, SKIP_REASON, rendered_dom
from vpccni.advise import Advice
from vpccni.advise.objectives import violations
from vpccni.advise.pareto import dominates
from vpccni.cli import app
from vpccni.cluster import ClusterSimulation, load_scenario
from vpccni.cluster.scenario import RunSpec


def test_recommendation_is_pinned(small_advice: Advice) -> None:
    out = small_advice.to_json()
    assert list(out) == ["node_groups", "forecast", "apply", "runs", "cached"]
    group = out["node_groups"]["workers"]
    assert list(group) == ["recommended", "default", "pareto", "feasible", "binding_constraint"]
    assert group["recommended"]["settings"] == {"MINIMUM_IP_TARGET": "8", "WARM_IP_TARGET": "2"}
    metrics = group["recommended"]["metrics"]
    assert (metrics["idle_ips_mean"], metrics["ip_wait_seconds"]["p99"], metrics["ec2_mutating_calls"]) == (
        5.74,
        1.0,
        4.0,
    )
    assert metrics["errors"] == {} and metrics["subnet_used_max"] == {"private-a": 38}
    default = group["default"]["metrics"]
    assert (default["idle_ips_mean"], default["ec2_mutating_calls"]) == (19.683, 10.0)
    assert default["errors"] == {"InsufficientFreeAddressesInSubnet": 6.0}  # the default exhausts the /26
    assert [p["settings"] for p in group["pareto"]] == [
        {"MINIMUM_IP_TARGET": "8", "WARM_IP_TARGET": "2"},
        {"MINIMUM_IP_TARGET": "10", "WARM_IP_TARGET": "1"},
    ]
    assert group["feasible"] is True and group["binding_constraint"] is None
    assert out["forecast"] == {
        "private-a": {
            "capacity": 59,
            "peak_used_default": 52,
            "peak_used_recommended": 38,
            "runs_dry_at_multiple": 2.25,
            "prefix_length_for_growth": 25,  # 2 × 38 = 76 addresses: a /25 holds 123, a /26 only 59
        }
    }
    assert small_advice.comparison() == "idle addresses −71 %, p99 wait 1.0 s → 1.0 s, EC2 calls −60 %"
    assert out["apply"]["kubectl"] == (
        "kubectl set env daemonset -n kube-system aws-node MINIMUM_IP_TARGET=8 WARM_IP_TARGET=2 "
        "WARM_ENI_TARGET- WARM_PREFIX_TARGET- ENABLE_PREFIX_DELEGATION- WARM_POOL_POLICY-"
    )
    assert json.loads(out["apply"]["eks_addon"]) == {"env": {"MINIMUM_IP_TARGET": "8", "WARM_IP_TARGET": "2"}}
    # 1 default + 5 candidates + 12 forecast runs (the joint pick is the group's own run: not repeated)
    assert (out["runs"], out["cached"]) == (18, 0)


def test_front_is_feasible_and_non_dominated(small_advice: Advice) -> None:
    group = small_advice.groups["workers"]
    front = group.front
    assert front and all(e.feasible for _, e in front)
    for _, a in front:
        assert not any(dominates(b.objectives, a.objectives) for _, b in front)
    front_labels = {c.label for c, _ in front}
    for candidate, evaluation in group.scored:  # every other feasible candidate is beaten by one on the front
        if evaluation.feasible and candidate.label not in front_labels:
            assert any(dominates(f.objectives, evaluation.objectives) for _, f in front)


def test_nothing_feasible_names_the_binding_constraint(
    small_advice: Advice, small_files: tuple[Path, Path], small_cache: Path
) -> None:
    """Every pod waits at least the 1 s sandbox delay: a 0.5 s limit binds for every candidate."""
    advice = run_advice(*small_files, cache=small_cache, max_wait=0.5)
    out = advice.to_json()["node_groups"]["workers"]
    assert out["feasible"] is False and out["binding_constraint"] == "ip_wait_seconds.p99"
    assert out["pareto"] == []
    # the closest candidate: one broken constraint, the shortest wait, then the fewest idle addresses
    assert out["recommended"]["settings"] == {"MINIMUM_IP_TARGET": "8", "WARM_IP_TARGET": "2"}
    # max-wait is no simulation input: every run, forecast included, comes from the first advice's cache
    assert (advice.runs, advice.cached) == (0, 18)


def test_recommended_settings_meet_every_constraint_when_simulated_again(small_files: tuple[Path, Path]) -> None:
    advice = run_advice(*small_files, seeds=2)
    scenario = load_scenario(small_files[0])
    settings = advice.picks["workers"].env
    variant = scenario.for_run(RunSpec(name="recommended", ipamd=settings))
    for seed in advice.seeds:
        summary = ClusterSimulation(variant, seed=seed).run()
        assert violations(summary, max_wait=5.0) == []
        assert summary["pods_running"] == 16 and summary["pods_never_got_ip"] == 0
        assert summary["errors"] == {}


def test_one_and_two_workers_give_identical_json(small_files: tuple[Path, Path]) -> None:
    one = run_advice(*small_files, workers=1, seeds=2).to_json()
    two = run_advice(*small_files, workers=2, seeds=2).to_json()
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


def test_existing_scheduler_runs_the_same_sweep(small_files: tuple[Path, Path], small_advice: Advice) -> None:
    from distributed import LocalCluster

    from vpccni.advise import AdviseOptions, RunCache, SweepRunner, advise, load_space

    scenario = load_scenario(small_files[0])
    space = load_space(small_files[1], scenario.node_groups)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, SweepRunner(RunCache(None), scheduler=cluster.scheduler_address) as runner:
        advice = advise(scenario, AdviseOptions(seeds=1, space=space), runner)
    assert advice.to_json() == small_advice.to_json()


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["advise", *args])
    return result.exit_code, result.output


def test_second_run_simulates_nothing_and_worker_processes_agree(
    small_files: tuple[Path, Path], tmp_path: Path
) -> None:
    scenario, space = small_files
    common = [str(scenario), "--space", str(space), "--seeds", "1", "--cache-dir", str(tmp_path / "cache"), "--json"]
    report = tmp_path / "advise.html"
    code, first = _cli(*common, "--workers", "2", "--report", str(report))
    assert code == 0, first
    code, second = _cli(*common, "--workers", "1")
    assert code == 0, second
    a, b = json.loads(first), json.loads(second)
    assert (a["runs"], a["cached"]) == (18, 0)
    assert (b["runs"], b["cached"]) == (0, 18)
    for key in ("node_groups", "forecast", "apply"):
        assert a[key] == b[key]
    assert report.read_text().count('<img class="figure"') == 2
    code, text = _cli(*common[:-1], "--workers", "1")  # the people's version, from the cache
    assert code == 0, text
    flat = " ".join(text.split())
    assert "0 runs simulated, 18 from the cache" in flat
    assert "recommended workers: MINIMUM_IP_TARGET=8, WARM_IP_TARGET=2" in flat
    assert "versus the default: idle addresses −71 %, p99 wait 1.0 s → 1.0 s, EC2 calls −60 %" in flat
    assert "private-a runs dry at 2.25× today's pods with the recommended settings" in flat
    # a wider space simulates only what is new: one more candidate, plus nothing else
    wider = tmp_path / "wider.yaml"
    wider.write_text(space.read_text() + "  - {WARM_IP_TARGET: 3, MINIMUM_IP_TARGET: 6}\n")
    code, third = _cli(*common[:2], str(wider), *common[3:], "--workers", "1")
    assert code == 0, third
    c = json.loads(third)
    assert c["runs"] >= 1 and c["cached"] >= 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty search space"),
        ("candidates: []\n", "empty search space"),
        ("grid: {WARM_IP_TARGET: []}\n", "grid.WARM_IP_TARGET: empty list"),
        (
            "candidates:\n  - {WARM_PREFIX_TARGET: 1}\n",
            "candidates[0]: WARM_PREFIX_TARGET without ENABLE_PREFIX_DELEGATION",
        ),
        ("candidates:\n  - {MAX_ENI: 2}\n", "candidates[0]: MAX_ENI is not a warm-pool setting"),
        ("candidates:\n  - {WARM_IP_TARGET: -1}\n", "candidates[0]: WARM_IP_TARGET=-1 is not a non-negative integer"),
        ("node_groups: {gpu: {candidates: [{WARM_IP_TARGET: 1}]}}\n", "node_groups.gpu: unknown node group"),
        ("colour: blue\n", "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_space_exits_2_naming_it(small_files: tuple[Path, Path], tmp_path: Path, text: str, message: str) -> None:
    space = tmp_path / "bad-space.yaml"
    space.write_text(text)
    code, output = _cli(str(small_files[0]), "--space", str(space), "--no-cache")
    assert code == 2
    assert "bad-space.yaml" in output and message in output
    assert "Traceback" not in output


def test_prefix_delegation_on_a_xen_type_is_contradictory(tmp_path: Path) -> None:
    scenario = tmp_path / "xen.yaml"
    scenario.write_text(
        "name: xen\nduration: 60\nsubnets: [{name: a, cidr: 10.0.0.0/24}]\n"
        "node_groups: [{name: old, instance_type: m4.large, min: 1, max: 1, subnets: [a]}]\n"
    )
    space = tmp_path / "space.yaml"
    space.write_text("candidates:\n  - {ENABLE_PREFIX_DELEGATION: true}\n")
    code, output = _cli(str(scenario), "--space", str(space), "--no-cache")
    assert code == 2
    assert "m4.large is not a Nitro type" in output


def test_scenario_the_simulator_rejects_gives_its_own_one_line_error(tmp_path: Path) -> None:
    scenario = tmp_path / "full.yaml"
    scenario.write_text(
        "name: full\nduration: 60\nsubnets: [{name: a, cidr: 10.0.0.0/28, used_by_others: 20}]\n"
        "node_groups: [{name: w, instance_type: t3.large, min: 1, max: 1, subnets: [a]}]\n"
    )
    code, output = _cli(str(scenario), "--no-cache")
    simulate = CliRunner().invoke(app, ["simulate", str(scenario)])
    assert code == 2 and simulate.exit_code == 2
    assert output.strip() == simulate.output.strip()
    assert "subnets.a.used_by_others: more than the subnet holds" in output
    assert len(output.strip().splitlines()) == 1


def test_bad_flags_exit_2() -> None:
    for args, message in (
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--max-wait", "0"], "--max-wait must be a positive number"),
        (["--growth", "0.5"], "--growth must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
    ):
        code, output = _cli("scenarios/shared-subnet-exhaustion.yaml", *args)
        assert code == 2 and message in output


def test_cache_dir_that_is_a_file_exits_2(small_files: tuple[Path, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    code, output = _cli(str(small_files[0]), "--cache-dir", str(blocker))
    assert code == 2 and f"--cache-dir {blocker}: is not a directory" in " ".join(output.split())


def test_unreachable_scheduler_fails_cleanly_and_writes_nothing(small_files: tuple[Path, Path], tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = tmp_path / "report.html"
    scenario, space = small_files
    code, output = _cli(
        str(scenario), "--space", str(space), "--scheduler", f"tcp://127.0.0.1:{port}", "--report", str(report)
    )
    assert code == 1
    assert f"--scheduler tcp://127.0.0.1:{port}: cannot reach the Dask scheduler" in output
    assert "Traceback" not in output
    assert not report.exists() and list(tmp_path.iterdir()) == []


def _report(advice: Advice, tmp_path: Path) -> Path:
    from vpccni.advise.report import render_report

    report = tmp_path / "advise.html"
    report.write_text(render_report(advice), encoding="utf-8")
    return report


def test_report_is_self_contained(small_advice: Advice, tmp_path: Path) -> None:
    text = _report(small_advice, tmp_path).read_text()
    figures = re.findall(r'<img class="figure" alt="([^"]+)" src="data:image/png;base64,', text)
    assert figures == ["Pareto scatter for workers", "subnet addresses in use, default vs recommended"]
    assert "http://" not in text and "https://" not in text
    assert "runs dry at 2.25× today&#x27;s pods" in text
    assert "kubectl set env daemonset -n kube-system aws-node MINIMUM_IP_TARGET=8" in text
    assert "EKS add-on configuration_values" in text and "Helm values" in text


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_report_renders_in_headless_chromium(small_advice: Advice, tmp_path: Path) -> None:
    report = _report(small_advice, tmp_path)
    dom = rendered_dom(report, tmp_path)
    assert 'data-figures-loaded="2/2"' in dom
