"""The simulator at scale (issue #14): bounded memory, the same answers from the fast paths, progress and stop.

The answers themselves are pinned in test_full_summaries.py; here each fast path is checked against the
plain computation it replaces, and memory against simulated time.
"""

from __future__ import annotations

import ast
import gc
import io
import ipaddress
import json
import math
import random
import signal
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpccni.cloud.clock import VIRTUAL_EPOCH, RealClock, VirtualClock, utc_iso
from vpccni.cloud.records import dotted_quad
from vpccni.cluster import ClusterSimulation, run_scenario
from vpccni.cluster.churn import churn_scenario
from vpccni.cluster.clocks import EventQueue, LocalClock
from vpccni.cluster.efficiency import Durations, IdleAddresses, quantile, thin_steps
from vpccni.cluster.model import Capacity, Node, Phase, Pod
from vpccni.cluster.progress import RunProgress, StopRequest
from vpccni.cluster.rounding import round_decimal
from vpccni.cluster.scenario import Scenario
from vpccni.cluster.scheduler import PendingPods, Scheduler
from vpccni.ipam.datastore import Datastore, DatastoreError, IpamKey, PodMetadata, parse_cidr

SRC = Path(__file__).parents[2] / "src"


def churn(nodes: int, hours: float, **overrides: Any) -> Scenario:
    return Scenario.model_validate({**churn_scenario(nodes, hours), **overrides})


def without_work_counters(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("events", "node_steps")}


# --- memory ------------------------------------------------------------------------------------------
def _memory_held_after(nodes: int, hours: float) -> int:
    """Bytes the finished simulation holds, the scenario document (which grows with its hours) left out."""
    scenario = churn(nodes, hours, sample_interval=600, max_series_points=8)
    gc.collect()
    tracemalloc.start()
    try:
        sim = ClusterSimulation(scenario, trail="none")
        sim.run()
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    kept = snapshot.filter_traces([tracemalloc.Filter(False, "*pydantic*"), tracemalloc.Filter(False, "*/scenario.py")])
    del sim
    return sum(stat.size for stat in kept.statistics("filename"))


def test_memory_per_node_does_not_grow_with_simulated_time() -> None:
    nodes = 6
    one_hour, eight_hours = _memory_held_after(nodes, 1), _memory_held_after(nodes, 8)
    # The simulator as it was held every EC2 event, latency and pod start: ~480 kB more per node after 8 h
    # of this churn. Now 7 more hours leave each node's state (engine, datastore, cloud side) as it was.
    assert (eight_hours - one_hour) / nodes < 4096


# --- the fast paths give the plain answers -------------------------------------------------------------
@given(st.integers(0, 2**32 - 1), st.sampled_from([32, 28, 24, 16, 0]), st.booleans())
def test_parse_cidr_is_ipaddress(value: int, prefixlen: int, aligned: bool) -> None:
    if aligned:
        value &= ~((1 << (32 - prefixlen)) - 1) & 0xFFFFFFFF
    text = f"{ipaddress.IPv4Address(value)}/{prefixlen}"
    assert _parsed(text) == _by_ipaddress(text)


@pytest.mark.parametrize(
    "text", ["010.0.0.1/32", "10.0.0.1", "1.2.3.4/032", "1.2.3.4/33", "256.0.0.1/32", " 1.2.3.4/32"]
)
def test_parse_cidr_unusual_forms_go_through_ipaddress(text: str) -> None:
    assert _parsed(text) == _by_ipaddress(text)


@given(st.lists(st.tuples(st.sampled_from([0.0, 1.5, 2.0, 2.0000000001, 7.25]), st.booleans()), max_size=80))
def test_event_queue_runs_by_time_then_scheduling_order(steps: list[tuple[float, bool]]) -> None:
    """Pushes (ties included) interleaved with pops: each pop is the earliest pending, first scheduled first."""
    queue, pending, seq, popped = EventQueue(), [], 0, 0
    for when, pop in steps:
        if pop:
            got = queue.pop()
            want = min(pending, default=None)
            assert (got and (got[0], got[1]())) == (want and (want[0], want[2]))
            if want:
                pending.remove(want)
                popped += 1
        else:
            seq += 1
            queue.at(when, lambda seq=seq: seq)  # type: ignore[misc]
            pending.append((when, seq, seq))
        assert len(queue) == len(pending)
    assert queue.processed == popped


@given(st.integers(0, 2**32 - 1))
def test_dotted_quad_is_ipaddress(value: int) -> None:
    assert dotted_quad(value) == str(ipaddress.IPv4Address(value))


@settings(max_examples=600)
@given(
    st.sampled_from([3, 9, 0, 1, 6, 15, 16, -1]),
    st.floats(0, 1e10, allow_nan=False)
    | st.floats(0, 1)
    | st.integers(0, 10**9).map(lambda n: n / 1000 + 0.0005)  # half-millisecond ties, as near as floats get
    | st.integers(0, 10**9).map(lambda n: n / 1000)
    | st.integers(0, 2 * 10**9).map(lambda n: n / 2e9)  # half-units of the 9th digit (the scheduler's share)
    | st.integers(0, 10**7).map(lambda n: n * 0.0016015625)  # shares of whole pods: exact ties at 9 digits
    | st.integers(0, 2 * 10**9).map(lambda n: math.nextafter(n / 2e9, 1.0))  # a float either side of a tie
    | st.integers(1, 2 * 10**9).map(lambda n: math.nextafter(n / 2e9, 0.0))
    | st.sampled_from([-0.0001, -0.0, 0.0, float("nan"), float("inf"), 2e12, 0.0005, 0.0625, 2.675, 0.5]),
)
def test_round_decimal_is_round(digits: int, value: float) -> None:
    got, want = round_decimal(value, digits), round(value, digits)
    assert got == want or (math.isnan(got) and math.isnan(want))
    assert math.copysign(1.0, got) == math.copysign(1.0, want)


@settings(max_examples=400)
@given(st.text(alphabet="0123456789./ x\u0661", max_size=20) | st.from_regex(r"\d{1,4}(\.\d{1,4}){2,4}/\d{1,3}"))
def test_parse_cidr_of_any_text_is_ipaddress(text: str) -> None:
    """The one-pass reader of the plain form: whatever it is given, the answer or the error `ipaddress` gives."""
    assert _parsed(text) == _by_ipaddress(text)


def _parsed(text: str) -> tuple[object, ...]:
    try:
        return parse_cidr(text)
    except ValueError as exc:
        return ("error", str(exc))


def _by_ipaddress(text: str) -> tuple[object, ...]:
    try:
        net = ipaddress.IPv4Network(text)
    except ValueError as exc:
        return ("error", str(exc))
    return str(net), net.prefixlen, int(net.network_address)


operations = st.lists(
    st.tuples(st.sampled_from(["cidr", "prefix", "assign", "release", "del", "drop_eni", "mode"]), st.integers(0, 40)),
    max_size=60,
)


@settings(deadline=None)
@given(operations)
def test_datastore_cached_counts_equal_a_fresh_count(ops: list[tuple[str, int]]) -> None:
    ds = Datastore(False, 30.0)
    for device in range(3):
        ds.add_eni(f"eni-{device}", device, device == 0, 0.0, excluded=device == 2)
    keys: list[IpamKey] = []
    now = 0.0
    for op, n in ops:
        now += 7.0
        eni = f"eni-{n % 3}"
        try:
            if op == "cidr":
                ds.add_cidr(eni, f"10.0.{n % 8}.{n}/32")
            elif op == "prefix":
                ds.add_cidr(eni, f"10.1.{n % 8}.{16 * (n % 16)}/28")
            elif op == "assign":
                ds.assign(IpamKey("net", f"c{n}", "eth0"), PodMetadata(), now)
                keys.append(IpamKey("net", f"c{n}", "eth0"))
            elif op == "release" and keys:
                ds.release(keys.pop(n % len(keys)), now)
            elif op == "del":
                cidrs = list(ds.enis[eni].cidrs) if eni in ds.enis else []
                if cidrs:
                    ds.del_cidr(eni, cidrs[n % len(cidrs)], force=n % 2 == 0)
            elif op == "drop_eni" and eni in ds.enis and n % 5 == 0:
                ds.remove_eni(eni, force=True)
            elif op == "mode":
                ds.prefix_mode = not ds.prefix_mode
        except DatastoreError:
            pass
        assert all(e.assigned == sum(c.assigned for c in e.cidrs.values()) for e in ds.enis.values())
        cached = ds.stats(now)
        _, total, assigned, total_prefixes, free_prefixes = ds._count()
        assert (cached.total, cached.assigned, cached.total_prefixes, cached.free_prefixes) == (
            total,
            assigned,
            total_prefixes,
            free_prefixes,
        )


@given(st.lists(st.floats(0, 3600, allow_nan=False), max_size=300), st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
def test_durations_give_the_exact_quantiles_to_the_millisecond(values: list[float], q: float) -> None:
    durations = Durations()
    for value in values:
        durations.record(value)
    ordered = sorted(values)
    assert durations.quantile(q) == round(quantile(ordered, q), 3)
    assert durations.maximum() == (round(ordered[-1], 3) if ordered else 0.0)
    assert list(durations.values()) == sorted(round(v, 3) for v in values)


def test_durations_merge_by_adding_counts() -> None:
    a, b = Durations(), Durations()
    for value in (1.0, 1.0, 2.5):
        a.record(value)
    for value in (1.0004, 7.25):
        b.record(value)
    a.merge(b)
    assert (a.n, a.quantile(0.5), a.maximum()) == (5, 1.0, 7.25)
    assert list(a.values()) == [1.0, 1.0, 1.0, 2.5, 7.25]


def test_thinning_a_step_series_keeps_its_peaks_and_its_end() -> None:
    points = [(0.0, 0), (1.0, 5), (2.0, 1), (3.0, 9), (4.0, 2), (5.0, 3)]
    assert thin_steps(points) == [(0.0, 5), (2.0, 9), (4.0, 2), (5.0, 3)]


def test_idle_timeline_is_bounded_and_the_integral_stays_exact() -> None:
    rng = random.Random(5)
    bounded, full = IdleAddresses(max_points=16), IdleAddresses(max_points=10**9)
    for step in range(1, 1001):
        node, value = f"n{step % 7}", rng.randrange(1, 40)
        for idle in (bounded, full):
            idle.update(node, value, float(step))
    assert len(bounded.timeline) <= 16
    assert len(full.timeline) > 900  # a point per change
    assert bounded.mean(2000.0) == full.mean(2000.0)
    assert bounded.maximum() == full.maximum() == max(v for _, v in full.timeline[:-1])
    assert max(v for _, v in bounded.timeline) == max(v for _, v in full.timeline)
    assert bounded.timeline[-1] == full.timeline[-1]


def test_samples_are_thinned_to_the_configured_points_without_changing_the_run() -> None:
    thinned = ClusterSimulation(churn(4, 2, sample_interval=60, max_series_points=8), trail="none")
    every = ClusterSimulation(churn(4, 2, sample_interval=60), trail="none")
    assert without_work_counters(thinned.run()) == without_work_counters(every.run())
    assert len(every.samples) == 121
    assert len(thinned.samples) <= 8
    times = [s["t"] for s in thinned.samples]
    assert times == [t for t in (s["t"] for s in every.samples) if t in times]  # a subset, evenly strided
    assert {round(b - a, 6) for a, b in zip(times, times[1:], strict=False)} == {960.0}


def test_skipping_known_no_op_cycles_gives_the_results_of_stepping_every_cycle() -> None:
    skipping = ClusterSimulation(churn(6, 3), skip_idle=True, trail="none")
    stepping = ClusterSimulation(churn(6, 3), skip_idle=False, trail="none")
    fast, slow = skipping.run(), stepping.run()
    assert without_work_counters(fast) == without_work_counters(slow)
    assert skipping.node_steps < stepping.node_steps / 2


# --- the CloudTrail log: kept, streamed or not kept ------------------------------------------------------
def test_a_streamed_trail_is_the_written_one_and_a_discarded_one_changes_nothing(monkeypatch: Any) -> None:
    kept = ClusterSimulation(churn(3, 1))
    summary = kept.run()
    written = io.StringIO()
    for event in kept.cloud.trail.events():
        written.write(json.dumps(event) + "\n")
    streamed = io.StringIO()
    streaming = ClusterSimulation(churn(3, 1), trail=streamed)
    monkeypatch.setattr(streaming.cloud.trail, "STREAM_BATCH", 16)  # flush often while the run goes on
    assert streaming.run() == summary
    lines = streamed.getvalue().splitlines(keepends=True)
    changes = [line for line in lines if json.loads(line)["readOnly"] is False]
    assert "".join(changes) == written.getvalue()  # the file also has the read-only calls, as CloudTrail does
    assert len(lines) > len(changes) == len(kept.cloud.trail.events()) > 4 * 16
    discarded = ClusterSimulation(churn(3, 1), trail="none")
    assert discarded.run() == summary
    assert discarded.cloud.trail.events() == []


# --- progress and stopping -------------------------------------------------------------------------------
def test_progress_reports_virtual_time_and_events_then_the_end() -> None:
    reports: list[RunProgress] = []
    (sim, summary), *_ = run_scenario(churn(20, 2), progress=reports.append, trail="none")
    assert len(reports) == summary["events"] // 4096 + 1
    assert [r.events for r in reports[:-1]] == [4096 * (i + 1) for i in range(len(reports) - 1)]
    assert reports[-1].virtual_seconds == reports[-1].duration == 7200.0
    assert reports[-1].events == summary["events"]
    assert all(a.virtual_seconds <= b.virtual_seconds for a, b in zip(reports, reports[1:], strict=False))
    assert all(r.run == "churn-20" and r.events_per_second > 0 for r in reports)


def test_a_stop_request_ends_the_run_between_events_with_a_consistent_summary() -> None:
    stop = StopRequest()

    def ask_to_stop(report: RunProgress) -> None:
        stop.request()

    (sim, summary), *_ = run_scenario(churn(20, 2), progress=ask_to_stop, stop=stop, trail="none")
    assert summary["stopped_early"] is True
    assert summary["events"] == 4096
    assert 0 < summary["virtual_seconds"] < 7200
    pods = [p for p in sim.pods.values() if not p.daemonset]
    assert summary["pods_running"] == sum(1 for p in pods if p.phase is Phase.RUNNING)
    assert summary["pods_running"] + summary["pods_waiting_for_ip"] + summary["pods_pending_unschedulable"] == len(pods)
    assert run_scenario(churn(20, 2), stop=stop) == []  # a run after the stop request does not start


def test_the_first_ctrl_c_asks_for_a_stop_the_second_interrupts() -> None:
    from vpccni.cli.simulate_cmds import _ctrl_c_stops

    stop = StopRequest()
    before = signal.getsignal(signal.SIGINT)
    with _ctrl_c_stops(stop):
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


# --- structure ---------------------------------------------------------------------------------------------
def test_capacity_is_the_one_fit_rule() -> None:
    pod = Pod("p", "d", "ns", cpu=0.5, memory=1e9, host_network=False, daemonset=False, created=0.0)
    host = Pod("h", "d", "ns", cpu=0.5, memory=1e9, host_network=True, daemonset=False, created=0.0)
    room = Capacity(max_pods=3, cpu=1.0, memory=4e9, address_limit=1)
    assert room.fits(pod)
    room.add(pod)
    assert not room.fits(pod)  # the one pod address is taken
    assert room.fits(host)  # host-network pods take none
    room.add(host)
    assert not room.fits(host)  # CPU is full: 0.5 + 0.5 = 1.0 (the tolerance admits exactly full, no more)
    assert (room.pods, room.cpu_used, room.addresses, room.utilization()) == (2, 1.0, 1, 1.0)
    copy = room.copy()
    copy.remove(host)
    assert (room.pods, copy.pods) == (2, 1)


def test_the_scheduler_heap_stays_about_one_entry_per_node() -> None:
    scheduler = Scheduler()
    nodes = [
        Node(f"n{i}", "g", "m5.large", f"i-{i}", "s", Capacity(29, 2.0, 8e9), 27, 0.0, LocalClock(), ready=True)
        for i in range(5)
    ]
    for _ in range(1000):
        for node in nodes:
            scheduler.update(node)
    assert len(scheduler._heap) <= 2 * len(nodes) + 64
    pod = Pod("p", "d", "ns", cpu=0.1, memory=1e8, host_network=False, daemonset=False, created=0.0)
    assert scheduler.place(pod) is nodes[0]  # all equally empty: the first by name
    nodes[0].bind(pod)
    scheduler.update(nodes[0])  # place took the chosen node out; binding files it again, fuller
    other = Pod("q", "d", "ns", cpu=0.1, memory=1e8, host_network=False, daemonset=False, created=0.0)
    assert scheduler.place(other) is nodes[1]
    nodes[1].bind(other)
    scheduler.update(nodes[1])
    assert len({entry[2] for entry in scheduler._heap if scheduler._version[entry[2]] == entry[3]}) == 5


def test_pending_pods_settle_a_pass_only_when_every_shape_is_refused() -> None:
    pending = PendingPods()

    def pod(name: str, cpu: float) -> Pod:
        return Pod(name, "d", "ns", cpu=cpu, memory=1e8, host_network=False, daemonset=False, created=0.0)

    small, twin, other = pod("a", 0.1), pod("b", 0.1), pod("c", 4.0)
    for p in (small, twin, other):
        pending.add(p)
    pending.add(small)  # already pending: stays where it is
    assert [p.name for p in pending.pods()] == ["a", "b", "c"]
    pending.refused(small)
    assert small.unschedulable and not twin.unschedulable
    assert not pending.settled({small.fit_shape})  # the 4-CPU shape may still fit somewhere
    assert not twin.unschedulable
    assert pending.settled({small.fit_shape, other.fit_shape})
    assert twin.unschedulable and other.unschedulable  # the pods never tried are marked as the pass would
    pending.remove(other)
    pending.remove(other)  # gone already: nothing happens
    assert len(pending) == 2 and pending.settled({small.fit_shape})


def test_a_dates_epoch_comes_from_the_clock_kind() -> None:
    assert VirtualClock().epoch == VIRTUAL_EPOCH and RealClock().epoch == 0.0
    assert utc_iso(5.0, VirtualClock.epoch) == "2026-01-01T00:00:05Z"
    assert utc_iso(5.0, RealClock.epoch) == "1970-01-01T00:00:05Z"  # a real reading is never shifted


@settings(max_examples=500)
@given(
    st.floats(0, 1e9, allow_nan=False)
    | st.integers(0, 10**9).map(lambda n: n + 0.9999995)  # microseconds rounding up into the next second
    | st.integers(0, 10**9).map(lambda n: math.nextafter(n + 0.9999995, 0.0))
    | st.integers(0, 10**9).map(lambda n: n + 0.0000005),
    st.sampled_from([VIRTUAL_EPOCH, 0.0]),
)
def test_utc_iso_shows_the_second_datetime_shows(seconds: float, epoch: float) -> None:
    want = datetime.fromtimestamp(seconds + epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert utc_iso(seconds, epoch) == want


def _name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, package: str) -> set[str]:
    module = _name(path)
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):  # imports for type checking only count too: a cycle is a cycle for readers
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {name for name in found if name.startswith(package) and name != module}


@pytest.mark.parametrize("package", ["vpccni.cluster", "vpccni.cli"])
def test_no_import_cycles(package: str) -> None:
    root = SRC / Path(*package.split("."))
    modules = {_name(path): path for path in root.glob("*.py")}
    graph = {name: {i for i in _imports(path, package) if i in modules} for name, path in modules.items()}
    for start in graph:  # a module reaching itself through its imports is a cycle
        seen, todo = set(), list(graph[start])
        while todo:
            current = todo.pop()
            assert current != start, f"{start} imports itself through {sorted(seen)}"
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
