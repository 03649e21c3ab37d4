"""The advisor's sentences: a comparison with the default, what binds, how far a subnet is from dry."""

from __future__ import annotations

from vpccni.advise.forecast import DryPoint
from vpccni.advise.objectives import EXHAUSTION, NO_ADDRESS, THROTTLING, WAIT

CUSTOM_NETWORKING_CIDR = "100.64.0.0/16"
SHORT = {EXHAUSTION: "subnet exhausted", NO_ADDRESS: "pods without address", THROTTLING: "throttled", WAIT: "slow"}


def percent_change(before: float, after: float) -> str:
    if before == 0:
        return "±0 %" if after == 0 else f"{after:g} (was 0)"
    change = (after - before) / before * 100
    sign = "−" if change < 0 else "+"
    return f"{sign}{abs(change):.0f} %"


def comparison(default: tuple[float, float, float], chosen: tuple[float, float, float]) -> str:
    """ "idle addresses −78 %, p99 wait 1.2 s → 0.9 s, EC2 calls −40 %" (objectives: idle, p99, calls)."""
    return (
        f"idle addresses {percent_change(default[0], chosen[0])}, "
        f"p99 wait {default[1]:.1f} s → {chosen[1]:.1f} s, "
        f"EC2 calls {percent_change(default[2], chosen[2])}"
    )


def lift(constraint: str, max_wait: float, prefix_length: int | None, nitro: bool) -> str:
    """What would lift a binding constraint, in one sentence."""
    if constraint in (EXHAUSTION, NO_ADDRESS):
        larger = f"a larger subnet (/{prefix_length} or bigger)" if prefix_length is not None else "a larger subnet"
        options = [larger]
        if nitro:
            options.append("prefix delegation (addresses in /28 blocks, so fewer ENIs and secondary IPs)")
        options.append(f"custom networking with pods in a secondary CIDR such as {CUSTOM_NETWORKING_CIDR}")
        return "the subnet runs out of addresses; lift it with " + ", or ".join(options)
    if constraint == THROTTLING:
        return "EC2 throttles ipamd; lift it with fewer, larger refills (a higher WARM_IP_TARGET) or prefix delegation"
    if constraint == WAIT:
        return (
            f"pods wait more than {max_wait:g} s for an address; lift it with a larger warm pool "
            "(MINIMUM_IP_TARGET near the pods per node) or a longer --max-wait"
        )
    return constraint


def dry_sentence(subnet: str, point: DryPoint) -> str:
    multiple, full, top = point.multiple, point.nodes_full_at, point.tested_max
    if multiple is not None and multiple <= 1.0:
        return f"{subnet} already runs dry with today's pods"
    if multiple is not None:
        return f"{subnet} runs dry at {multiple:g}× today's pods"
    if full is not None:
        return f"{subnet} does not run dry up to {top:g}× today's pods (from {full:g}× the node groups are full first)"
    return f"{subnet} does not run dry up to {top:g}× today's pods"
