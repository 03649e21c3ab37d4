"""The adaptive warm pool's pure decisions (ipam/adaptive.py), with exact numbers."""

from __future__ import annotations

import math

from vpccni.ipam import adaptive
from vpccni.ipam.adaptive import Observations, PoolView, decide
from vpccni.ipam.config import IpamConfig


def view(now: float = 1000.0, total: int = 10, assigned: int = 5, **kw: int) -> PoolView:
    base = dict(cooling=0, room_on_enis=20, eni_size=14, unit=1, max_pods=58, minimum_total=0, warm_floor=0)
    base.update(kw)
    return PoolView(now=now, total=total, assigned=assigned, **base)


def test_unknown_policy_falls_back_to_reference_with_a_warning() -> None:
    cfg = IpamConfig.from_env({"WARM_POOL_POLICY": "smart"})
    assert cfg.warm_pool_policy == "reference" and not cfg.adaptive
    assert any("WARM_POOL_POLICY='smart'" in w for w in cfg.warnings)
    assert IpamConfig.from_env({"WARM_POOL_POLICY": "adaptive"}).adaptive
    assert IpamConfig.from_env({}).warm_pool_policy == "reference"


def test_primed_node_expects_half_an_eni() -> None:
    obs = Observations()
    obs.prime(14, 0.0)
    d = decide(view(now=0.0, total=0, assigned=0), obs)
    # low = ceil(7); the batch is half of it, and at least a third of an ENI (4) → fill 11; an empty pool grows to it
    assert (d.low, d.fill, d.grow, d.release) == (7, 11, 11, 0)


def test_the_prior_decays_with_the_half_life() -> None:
    obs = Observations()
    obs.prime(14, 0.0)
    d = decide(view(now=adaptive.PEAK_HALF_LIFE, total=11, assigned=0), obs)
    assert (d.low, d.fill) == (4, 8)  # 7 halves to 3.5 → 4, batch a third of an ENI


def test_a_burst_sets_the_low_watermark() -> None:
    obs = Observations()
    for _ in range(9):
        obs.arrival(100.0, refill=5.5)
    d = decide(view(now=101.0, total=9, assigned=9), obs)
    # 9 / 600 s is no rate to speak of: the burst sets low, the batch is half of it
    assert (d.low, d.fill, d.grow) == (9, 14, 14) and "peak" in d.reason


def test_poisson_rate_bound() -> None:
    obs = Observations()
    for i in range(60):  # one arrival every 10 s for 10 minutes: 0.1/s
        obs.arrival(i * 10.0 + 5, refill=5.5)
    obs.bursts.clear()  # leave only the rate
    d = decide(view(now=600.0, total=10, assigned=9), obs)
    lam = 0.1 * adaptive.refill_seconds(obs, False)
    assert d.low == math.ceil(lam + 3 * math.sqrt(lam))
    assert d.fill == d.low + math.ceil(0.1 * adaptive.BATCH_HORIZON)


def test_periodic_bursts_are_anticipated() -> None:
    obs = Observations()
    for start in (0.0, 900.0, 1800.0):
        for k in range(10):
            obs.arrival(start + k, refill=5.5)
    assert adaptive.next_burst(obs, 2000.0) == (2700.0, 10)
    quiet = decide(view(now=2000.0, total=4, assigned=0), obs)
    assert quiet.low < 11
    due = decide(view(now=2690.0, total=4, assigned=0), obs)
    assert due.low == 11 and "periodic burst" in due.reason


def test_irregular_bursts_make_no_schedule() -> None:
    obs = Observations()
    for start in (0.0, 500.0, 1800.0):
        for k in range(5):
            obs.arrival(start + k, refill=5.5)
    assert adaptive.next_burst(obs, 2000.0) is None


def test_surplus_is_released_only_after_the_hold() -> None:
    obs = Observations()
    first = decide(view(now=1000.0, total=30, assigned=2), obs)
    assert first.release == 0
    adaptive.note_surplus(obs, first, view(now=1000.0, total=30, assigned=2))
    assert obs.surplus_since == 1000.0
    early = decide(view(now=1000.0 + adaptive.SURPLUS_HOLD - 1, total=30, assigned=2), obs)
    assert early.release == 0
    held = decide(view(now=1000.0 + adaptive.SURPLUS_HOLD, total=30, assigned=2), obs)
    assert held.release == 28 - held.fill


def test_no_release_soon_after_growth() -> None:
    obs = Observations(surplus_since=0.0, last_growth=900.0)
    d = decide(view(now=1000.0, total=30, assigned=2), obs)
    assert d.release == 0


def test_minimum_ip_target_is_a_floor() -> None:
    obs = Observations(surplus_since=0.0)
    grow = decide(view(total=4, assigned=0, minimum_total=10, eni_size=4), obs)
    assert grow.grow == 6
    kept = decide(view(total=12, assigned=0, minimum_total=10, eni_size=4), obs)
    assert (kept.fill, kept.release) == (2, 2)  # the surplus above fill is 10, but only 2 above the minimum


def test_growth_never_passes_max_pods() -> None:
    obs = Observations()
    obs.prime(14, 1000.0)
    d = decide(view(total=56, assigned=56, max_pods=58), obs)
    assert d.grow == 2


def test_subnet_pressure_shrinks_targets_and_releases_at_once() -> None:
    obs = Observations()
    obs.prime(14, 1000.0)
    roomy = decide(view(total=0, assigned=0), obs)
    obs.subnet(free=25, capacity=251, now=1000.0)  # 10 % free: targets halved
    tight = decide(view(total=0, assigned=0), obs)
    assert (roomy.low, roomy.fill) == (7, 11) and (tight.low, tight.fill) == (4, 6)
    obs.subnet(free=5, capacity=251, now=1000.0)  # 2 %: critical, no hold
    critical = decide(view(total=12, assigned=0), obs)
    assert critical.release == 12 - critical.fill


def test_timers_cover_the_hold_and_the_schedule() -> None:
    obs = Observations(surplus_since=100.0, last_growth=50.0)
    times = adaptive.timers(obs, 200.0)
    assert min(times) == 50.0 + adaptive.SURPLUS_HOLD + 1e-6  # the growth's calm ends first
    assert 100.0 + adaptive.SURPLUS_HOLD + 1e-6 in times


def test_timers_know_when_the_decaying_peak_lowers_the_target() -> None:
    obs = Observations(prior=8.0, prior_at=0.0)
    (when,) = [t for t in adaptive.timers(obs, 10.0)]
    assert math.isclose(when, adaptive.PEAK_HALF_LIFE * math.log2(8 / 7), abs_tol=1e-5)
    assert math.ceil(adaptive.decay(8.0, when) - 1e-9) == 7


def test_a_surplus_inside_the_band_is_kept() -> None:
    obs = Observations(surplus_since=0.0)
    d = decide(view(total=20, assigned=0), obs)  # fill 5 (1 + a third of an ENI); 15 above it, band 4
    assert d.release == 15
    kept = decide(view(total=8, assigned=0), obs)  # 3 above fill: inside the band
    assert kept.release == 0


def test_interleaved_schedules_are_both_found() -> None:
    obs = Observations()
    etl = [600.0 + 900 * k for k in range(11)]  # 600 .. 9600, every 15 minutes
    reports = [1800.0, 5400.0, 9000.0]  # hourly, interleaved
    for start, size in sorted([(t, 10) for t in etl] + [(t, 20) for t in reports]):
        for k in range(size):
            obs.arrival(start + k * 0.1, refill=5.5)
    found = {(s.period, s.size) for s in adaptive.schedules(obs, 9700.0)}
    assert {(900.0, 10), (3600.0, 20)} <= found
    assert adaptive.next_burst(obs, 9700.0) == (10500.0, 10)
    # no etl burst since 9600: after its missed beats it has ended, and only the hourly one is due
    assert adaptive.next_burst(obs, 13000.0) == (16200.0, 20)


def test_waves_of_other_sizes_make_no_schedule() -> None:
    obs = Observations()
    for start, size in ((0.0, 3), (900.0, 12), (1800.0, 4)):
        for k in range(size):
            obs.arrival(start + k * 0.1, refill=5.5)
    assert adaptive.schedules(obs, 2000.0) == []


def test_the_hold_learns_from_regretted_releases() -> None:
    obs = Observations()
    obs.released(1000.0)
    obs.grew(1500.0, anticipated=False)  # regretted: hold doubles
    assert obs.hold == 2 * adaptive.SURPLUS_HOLD
    obs.released(5000.0)  # the previous release was regretted: no halving
    assert obs.hold == 2 * adaptive.SURPLUS_HOLD
    obs.grew(5100.0, anticipated=True)  # a scheduled burst is no regret
    obs.released(9000.0)  # the release at 5000 stuck: halve
    assert obs.hold == adaptive.SURPLUS_HOLD
    assert adaptive.eni_idle_hold(obs) == adaptive.ENI_IDLE_HOLD


def test_a_one_off_burst_is_served_not_held() -> None:
    obs = Observations()
    obs.prime(14, 0.0)
    for _ in range(20):
        obs.arrival(100.0, refill=5.5)
    serving = decide(view(now=101.0, total=11, assigned=11, waiting=9), obs)
    assert serving.low == 7 and serving.grow == serving.fill + 9  # the waiting pods, and the usual fill
    for _ in range(20):
        obs.arrival(160.0, refill=5.5)  # the same burst again: now it is what the node expects
    # the smaller of the two, decayed: 20 · 0.5^(61 / 600) = 18.6
    assert decide(view(now=161.0, total=31, assigned=31), obs).low == 19
