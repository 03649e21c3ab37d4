"""The adaptive warm pool (`WARM_POOL_POLICY=adaptive`): vpccni's own policy, beside the reference's.

Why: the reference sizes the pool with static numbers (a whole spare ENI by default, or a guessed
WARM_IP_TARGET), which either hoards a shared subnet or makes pods wait and EC2 throttle. This policy
sizes the pool from what the node itself observes:

- demand over the time a refill really takes: the busiest `refill`-long window of a burst seen at least
  twice (decaying, so a burst that stops recurring is forgotten; a one-off burst is served, through the
  pods waiting for an address, but not held for afterwards) and the Poisson bound of the recent arrival
  rate, where `refill` = the pool loop's period + the observed EC2 latency (an assign on an attached
  ENI, or create + attach + metadata when no ENI has room);
- periodic bursts it has seen (job schedules, several interleaved; three beats at one period, within
  2 %, of similar size): each burst is brought in shortly before it is due instead of being held
  through the gaps, and a gap shorter than GAP_WORTH_RELEASING is held rather than paid for twice;
- hysteresis: growth goes to a fill level above the low watermark (half an ENI at least: fewer, larger
  EC2 calls, on the ENI that takes it in one call), a surplus is released only beyond a band, after it
  has persisted for a hold time, never within SURPLUS_HOLD of a growth, and from one ENI per call; the
  hold doubles when a release is regretted (an unscheduled growth within REGRET_WINDOW) and halves when
  one sticks, so the node learns whether releasing pays; an ENI is freed only after holding nothing for
  twice the hold. In prefix mode every growth brings a /28, so the fill is the low watermark itself;
- the subnet: as its free count (DescribeSubnets, at most once per `SUBNET_CHECK_INTERVAL`, and only
  before acting) nears exhaustion the targets shrink and a surplus is released at once, so a shared
  subnet is shared.

MINIMUM_IP_TARGET stays a floor on the addresses held, WARM_IP_TARGET (when set) a floor on the low
watermark; max pods and the ENI/address limits are the engine's, as for the reference policy. Every
function here is pure or a small bounded record fed by the engine on its injected clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from vpccni.ipam.timing import POOL_CYCLE

CYCLE = POOL_CYCLE  # a shortfall is seen at the next pool cycle at worst
PRIOR_ASSIGN_LATENCY = 0.5  # seconds, until an AssignPrivateIpAddresses on an attached ENI is observed
PRIOR_ENI_LATENCY = 3.0  # seconds, until a create + attach + metadata wait is observed
LATENCY_WEIGHT = 0.3  # exponential moving average weight of a new latency observation
RATE_WINDOW = 600.0  # arrivals counted for the sustained rate
PEAK_HALF_LIFE = 600.0  # a burst's weight in the low watermark halves every 10 minutes
BATCH_HORIZON = 120.0  # a growth also covers this much sustained demand (fewer calls); at least half an ENI
SURPLUS_HOLD = 300.0  # a surplus must last this long, and no growth this recently, before release
MAX_HOLD = 7200.0  # ... and at most this long once releases keep being regretted
REGRET_WINDOW = 3600.0  # a growth this soon after a release (no burst due) means the release was a mistake
GAP_WORTH_RELEASING = 1200.0  # between scheduled bursts, a surplus goes only when the next is further away
ENI_IDLE_HOLD = 900.0  # an ENI holding nothing this long may be freed
BURST_GAP = 30.0  # arrivals closer than this belong to one burst
BURST_MIN = 3  # arrivals making a burst
PERIOD_TOLERANCE = 0.02  # burst intervals within 2 % (or BURST_GAP) of each other make a schedule (cron is exact)
MIN_PERIOD = 120.0  # shorter intervals are one workload's waves, not a schedule
MISSED_BEATS = 2  # a schedule with this many beats missed in a row has ended
SUBNET_CHECK_INTERVAL = 120.0  # at most one DescribeSubnets per node per 2 minutes
SUBNET_PRESSURE = 0.2  # below this free fraction of the subnet, targets shrink proportionally
SUBNET_FLOOR_FACTOR = 0.25  # ... down to this fraction of themselves
SUBNET_CRITICAL = 0.05  # below this free fraction a surplus is released without waiting
MAX_ENIS_PER_CYCLE = 3  # ENIs one cycle may create for a large shortfall


@dataclass
class Burst:
    start: float
    last: float
    size: int
    window_max: int = 1  # most arrivals in one refill-long window during the burst


@dataclass(frozen=True)
class Schedule:
    period: float
    last_start: float
    size: int


@dataclass
class Observations:
    """What the engine has seen on this node; bounded, so a long-running daemon stays flat."""

    arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    prior: float = 0.0  # what a node expects before it has seen a burst, decaying from `prior_at`
    prior_at: float = 0.0
    bursts: deque[Burst] = field(default_factory=lambda: deque(maxlen=16))
    schedules: list[Schedule] | None = None  # derived from `bursts`; None until recomputed
    assign_latency: float = PRIOR_ASSIGN_LATENCY
    eni_latency: float = PRIOR_ENI_LATENCY
    subnet_free: int | None = None
    subnet_capacity: int | None = None
    subnet_checked_at: float | None = None
    surplus_since: float | None = None
    hold: float = SURPLUS_HOLD  # how long a surplus must last before release, learnt from regretted releases
    last_release: float | None = None
    regretted: bool = False  # the last release was followed by an unscheduled growth
    last_growth: float | None = None
    empty_since: dict[str, float] = field(default_factory=dict)

    def prime(self, eni_size: int, now: float) -> None:
        """Before any pod is seen: expect half an ENI's worth, at most half a /28 (a new node's pods come at once)."""
        self.prior, self.prior_at = min(eni_size, 16) / 2, now

    def arrival(self, now: float, refill: float) -> None:
        """A pod asked for an address (served or not): demand, whatever the pool held."""
        self.arrivals.append(now)
        while self.arrivals and self.arrivals[0] < now - max(RATE_WINDOW, refill):
            self.arrivals.popleft()
        in_window = 0
        for t in reversed(self.arrivals):
            if t <= now - refill:
                break
            in_window += 1
        burst = self.bursts[-1] if self.bursts else None
        if burst is not None and now - burst.last <= BURST_GAP:
            burst.last, burst.size = now, burst.size + 1
            burst.window_max = max(burst.window_max, in_window)
        else:
            self.bursts.append(Burst(now, now, 1, in_window))
        self.schedules = None

    def grew(self, now: float, anticipated: bool) -> None:
        """A growth: soon after a release and not for a scheduled burst, that release is regretted."""
        recent = self.last_release is not None and now - self.last_release < REGRET_WINDOW
        if recent and not anticipated and not self.regretted:
            self.hold = min(self.hold * 2, MAX_HOLD)
            self.regretted = True
        self.last_growth = now

    def released(self, now: float) -> None:
        """A release: the previous one stuck (no regret), so surpluses may go sooner again."""
        if self.last_release is not None and not self.regretted:
            self.hold = max(self.hold / 2, SURPLUS_HOLD)
        self.last_release, self.regretted, self.surplus_since = now, False, None

    def latency(self, kind: str, seconds: float) -> None:
        if kind == "assign":
            self.assign_latency += LATENCY_WEIGHT * (seconds - self.assign_latency)
        else:
            self.eni_latency += LATENCY_WEIGHT * (seconds - self.eni_latency)

    def subnet(self, free: int, capacity: int, now: float) -> None:
        self.subnet_free, self.subnet_capacity, self.subnet_checked_at = free, capacity, now

    def subnet_check_due(self, now: float) -> bool:
        """Read the subnet every SUBNET_CHECK_INTERVAL, four times as often once it is under pressure."""
        if self.subnet_checked_at is None:
            return True
        interval = SUBNET_CHECK_INTERVAL / 4 if subnet_pressure(self) < 1.0 else SUBNET_CHECK_INTERVAL
        return now - self.subnet_checked_at >= interval


def eni_idle_hold(obs: Observations) -> float:
    """How long an ENI must hold nothing before it is freed: longer when releases have been regretted."""
    return max(ENI_IDLE_HOLD, 2 * obs.hold)


def decay(value: float, elapsed: float) -> float:
    return value * 0.5 ** (max(elapsed, 0.0) / PEAK_HALF_LIFE)


@dataclass(frozen=True)
class PoolView:
    """The node's pool as the decision sees it; addresses throughout (prefix mode converts)."""

    now: float
    total: int  # addresses held for pods
    assigned: int
    cooling: int  # free but in their cooldown: not usable yet
    room_on_enis: int  # addresses the attached ENIs can still take without a new ENI
    eni_size: int  # addresses one ENI holds for pods (M)
    unit: int  # addresses one CIDR brings: 1, or 16 for a /28 prefix
    max_pods: int
    minimum_total: int  # MINIMUM_IP_TARGET
    warm_floor: int  # WARM_IP_TARGET
    waiting: int = 0  # pods refused an address lately and retrying: demand to serve now

    @property
    def usable(self) -> int:
        return self.total - self.assigned - self.cooling


@dataclass(frozen=True)
class Decision:
    low: int  # grow when fewer usable free addresses than this
    fill: int  # a growth brings the usable free addresses up to this
    grow: int  # addresses to add now
    release: int  # addresses to give back now
    reason: str
    scheduled: bool = False  # a periodic burst schedule is known
    anticipating: bool = False  # the targets include a scheduled burst about to start


def refill_seconds(obs: Observations, needs_eni: bool) -> float:
    """How long a shortfall takes to be refilled: the cycle it waits for plus the EC2 work."""
    return CYCLE + (obs.eni_latency if needs_eni else obs.assign_latency)


def burst_lead(obs: Observations, needs_eni: bool) -> float:
    """How early a scheduled burst's addresses are brought in: one refill plus two cycles of slack."""
    return refill_seconds(obs, needs_eni) + 2 * CYCLE


def schedules(obs: Observations, now: float) -> list[Schedule]:
    """Periodic bursts seen at least three times at one period (several job schedules may interleave)."""
    if obs.schedules is None:
        done = [b for b in obs.bursts if b.size >= BURST_MIN]
        found: list[Schedule] = []
        for i in range(len(done) - 1, 1, -1):
            newest = done[i]
            if any(abs(newest.start - s.last_start) < 1e-9 or _on_beat(newest.start, s) for s in found):
                continue  # already the tail of a schedule found from a later burst
            for j in range(i - 1, 0, -1):
                period = newest.start - done[j].start
                if period < MIN_PERIOD:
                    continue
                earlier = [b for b in done[:j] if abs(done[j].start - b.start - period) <= _tolerance(period)]
                sizes = (newest.size, done[j].size, earlier[-1].size) if earlier else ()
                if sizes and max(sizes) <= 2 * min(sizes):  # the same job again, not coincident waves
                    size = max(sizes)
                    found.append(Schedule(period, newest.start, size))
                    break
        obs.schedules = found
    return [s for s in obs.schedules if now - s.last_start <= (MISSED_BEATS + 0.5) * s.period]


def _tolerance(period: float) -> float:
    return max(PERIOD_TOLERANCE * period, BURST_GAP)


def _on_beat(start: float, schedule: Schedule) -> bool:
    beats = (schedule.last_start - start) / schedule.period
    return beats > 0.5 and abs(beats - round(beats)) * schedule.period <= _tolerance(schedule.period)


def next_burst(obs: Observations, now: float) -> tuple[float, int] | None:
    """(start, size) of the next scheduled burst (a burst in progress counts until BURST_GAP after it began)."""
    best: tuple[float, int] | None = None
    for schedule in schedules(obs, now):
        start = schedule.last_start + schedule.period
        while start < now - BURST_GAP:  # a missed beat: the schedule goes on
            start += schedule.period
        if best is None or start < best[0]:
            best = (start, schedule.size)
    return best


def _burst_levels(obs: Observations) -> list[tuple[float, float]]:
    """(window count, when) of the prior and of every remembered burst, largest decayed first; they all
    decay at one rate, so this order never changes as time passes."""
    levels = [(obs.prior, obs.prior_at)] if obs.prior else []
    levels += [(float(b.window_max), b.last) for b in obs.bursts]
    return sorted(levels, key=lambda level: math.log2(level[0]) + level[1] / PEAK_HALF_LIFE, reverse=True)


def _recurring_level(obs: Observations) -> tuple[float, float] | None:
    """The burst size seen at least twice (the second largest): one burst alone, such as a one-off
    scale-up, is served through `waiting` and not held for afterwards."""
    levels = _burst_levels(obs)
    if not levels:
        return None
    return levels[1] if len(levels) > 1 else levels[0]


def expected_burst(obs: Observations, now: float) -> float:
    level = _recurring_level(obs)
    return decay(level[0], now - level[1]) if level else 0.0


def decide(view: PoolView, obs: Observations) -> Decision:
    """The adaptive pool's decision for one cycle."""
    now = view.now
    needs_eni = view.room_on_enis <= 0
    refill = refill_seconds(obs, needs_eni)
    # over the whole window even on a young node: a single burst is the peak's business, not a rate
    rate = sum(1 for t in obs.arrivals if t > now - RATE_WINDOW) / RATE_WINDOW
    poisson = rate * refill
    schedule = next_burst(obs, now)
    # with a schedule, the bursts are brought in on time rather than held through the gaps as a peak
    peak = 0.0 if schedule is not None else expected_burst(obs, now)
    low_f = max(peak, poisson + 3 * math.sqrt(poisson), 1.0)
    reason = "recent peak" if peak and low_f == peak else "arrival rate"
    anticipating = False
    if schedule is not None:
        start, size = schedule
        lead = burst_lead(obs, needs_eni)
        if start - lead <= now <= start + BURST_GAP:
            arrived = sum(1 for t in obs.arrivals if t >= start - lead)  # the part of the burst already served
            if size + 1 - arrived > low_f:
                low_f = float(size + 1 - arrived)
                reason = f"periodic burst of {size} due at {start:.0f}"
                anticipating = True
    low = max(math.ceil(low_f - 1e-9), view.warm_floor, 1)
    if view.unit > 1:  # prefix mode: every growth brings a whole /28, which is batch enough
        batch = 0
    else:
        batch = max(math.ceil(rate * BATCH_HORIZON), math.ceil(low / 2))
        if schedule is None:  # slow, unscheduled growth: a good part of an ENI per call, and as wide a release band
            batch = max(batch, min(view.eni_size, 16) // 3)  # a third of an ENI (at most 5)
    fill = low + batch
    pressure = subnet_pressure(obs)
    if pressure < 1.0:
        low = max(math.ceil(low * pressure), view.warm_floor, 1)
        fill = max(math.ceil(fill * pressure), low)
        reason += f"; subnet {obs.subnet_free} free: targets x{pressure:.2f}"
    headroom = max(view.max_pods - view.total, 0)
    grow = 0
    if view.usable < low + view.waiting or view.total < view.minimum_total:
        grow = min(max(fill + view.waiting - view.usable, view.minimum_total - view.total), headroom)
    release = 0
    surplus = min(view.usable - fill, view.total - view.minimum_total)
    band = release_band(batch, schedule is not None, view.unit)
    if surplus >= band and grow == 0:  # hysteresis: a surplus smaller than the band is kept
        critical = subnet_fraction(obs) < SUBNET_CRITICAL
        held = obs.surplus_since is not None and now - obs.surplus_since >= obs.hold
        calm = obs.last_growth is None or now - obs.last_growth >= SURPLUS_HOLD
        gap = max(obs.hold, GAP_WORTH_RELEASING) + burst_lead(obs, needs_eni)
        burst_soon = schedule is not None and schedule[0] - now <= gap
        if critical or (held and calm and not burst_soon):
            release = surplus
    return Decision(low, fill, grow, release, reason, schedule is not None, anticipating)


def release_band(batch: int, scheduled: bool, unit: int) -> int:
    """How far above its fill level the pool may sit before a release: a whole growth step, so that a
    release is never followed by a growth of the same size; with a burst schedule the bursts are brought
    in on time, so any surplus held through a gap goes. In prefix mode only whole /28s can go."""
    return max(1 if scheduled else batch, unit)


def subnet_fraction(obs: Observations) -> float:
    """The subnet's free fraction as last read (1.0 before the first read)."""
    if obs.subnet_free is None or not obs.subnet_capacity:
        return 1.0
    return obs.subnet_free / obs.subnet_capacity


def subnet_pressure(obs: Observations) -> float:
    """1.0 with room in the subnet, shrinking linearly to SUBNET_FLOOR_FACTOR as it nears exhaustion."""
    fraction = subnet_fraction(obs)
    if fraction >= SUBNET_PRESSURE:
        return 1.0
    return max(fraction / SUBNET_PRESSURE, SUBNET_FLOOR_FACTOR)


def note_surplus(obs: Observations, decision: Decision, view: PoolView) -> None:
    """Track how long the pool has held more than its fill level (the hysteresis clock)."""
    band = release_band(decision.fill - decision.low, decision.scheduled, view.unit)
    if view.usable >= decision.fill + band and view.total - view.minimum_total >= band:
        if obs.surplus_since is None:
            obs.surplus_since = view.now
    else:
        obs.surplus_since = None


def timers(obs: Observations, now: float) -> list[float]:
    """Instants at which a cycle could decide differently with nothing else happening."""
    out = []
    if obs.surplus_since is not None:
        out.append(obs.surplus_since + obs.hold + 1e-6)
    if obs.last_growth is not None:
        out.append(obs.last_growth + SURPLUS_HOLD + 1e-6)
    out += [since + eni_idle_hold(obs) + 1e-6 for since in obs.empty_since.values()]
    schedule = next_burst(obs, now)
    if schedule is not None:  # the burst's lead window opens (either refill path), and the hold ends before it
        for needs_eni in (False, True):
            lead = burst_lead(obs, needs_eni)
            out += [schedule[0] - lead, schedule[0] - lead - SURPLUS_HOLD + 1e-6, schedule[0] + BURST_GAP + 1e-6]
    for known in schedules(obs, now):  # a schedule ends after its missed beats
        out.append(known.last_start + (MISSED_BEATS + 0.5) * known.period + 1e-6)
    level = _recurring_level(obs)
    if level is not None:
        step = math.ceil(decay(level[0], now - level[1]) - 1e-9) - 1  # the decaying level crosses this next
        if step >= 1:
            out.append(level[1] + PEAK_HALF_LIFE * math.log2(level[0] / step) + 1e-6)
    window = next((t for t in obs.arrivals if t > now - RATE_WINDOW), None)
    if window is not None:  # the rate falls when this arrival leaves the window
        out.append(window + RATE_WINDOW + 1e-6)
    return out
