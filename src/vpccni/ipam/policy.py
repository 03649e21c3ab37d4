"""The warm-pool policy as pure functions: stats + config + limits → what to do (ipamd spec §3).

Each function names the section it implements. `m` is the addresses one ENI can hold for pods
(SIP: L_ip − 1; PD: 16·P) and `p` the prefix slots per ENI in PD mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from vpccni.ipam.config import IpamConfig
from vpccni.ipam.datastore import Stats

PREFIX_SIZE: Final = 16


def ceil16(value: int) -> int:
    return math.ceil(value / PREFIX_SIZE)


@dataclass(frozen=True)
class Target:
    short: int  # addresses (SIP) or prefixes (PD) wanted
    over: int  # addresses (SIP) or prefixes (PD) to release
    enabled: bool  # WARM_IP_TARGET / MINIMUM_IP_TARGET defined


def target_state(stats: Stats, cfg: IpamConfig, prefix_mode: bool) -> Target:
    """§3.2."""
    if not cfg.defined:
        return Target(0, 0, False)
    warm, minimum = cfg.warm_ip_target, cfg.minimum_ip_target
    short = max(warm - stats.avail, minimum - stats.total, 0)
    over = max(min(max(stats.avail - warm, 0), stats.total - minimum), 0)
    if prefix_mode:
        need_warm = ceil16(stats.assigned + warm)
        need_min = ceil16(minimum)
        over_p = max(min(stats.free_prefixes, stats.total_prefixes - need_warm, stats.total_prefixes - need_min), 0)
        return Target(ceil16(short), over_p, True)
    return Target(short, over, True)


def pool_too_low(stats: Stats, cfg: IpamConfig, prefix_mode: bool, m: int, max_pods: int) -> bool:
    """§3.3."""
    if stats.total >= max_pods:
        return False
    if cfg.defined:
        return target_state(stats, cfg, prefix_mode).short > 0
    target, unit = (cfg.warm_prefix_target, PREFIX_SIZE) if prefix_mode else (cfg.warm_eni_target, m)
    return stats.avail < unit * target or (target == 0 and stats.avail == 0)


def pool_too_high(stats: Stats, cfg: IpamConfig, prefix_mode: bool) -> bool:
    """§3.4: maxPods is not considered; WARM_ENI mode never returns single addresses."""
    if cfg.defined:
        return target_state(stats, cfg, prefix_mode).over > 0
    if prefix_mode:
        return stats.free_prefixes > cfg.warm_prefix_target
    return False


def should_try_free_eni(stats: Stats, cfg: IpamConfig, prefix_mode: bool, m: int, idle_eni_exists: bool) -> bool:
    """§3.5 (with the stats from before the cycle's increase or decrease, quirk Q13)."""
    if cfg.defined:
        return True
    t = (cfg.warm_prefix_target if prefix_mode else cfg.warm_eni_target) + 1
    if stats.avail >= t * m:
        return True
    return prefix_mode and idle_eni_exists


def release_count(stats: Stats, cfg: IpamConfig, prefix_mode: bool) -> int:
    """§3.8 step 1: CIDRs to release in a decrease."""
    if cfg.defined:
        return target_state(stats, cfg, prefix_mode).over
    if prefix_mode:
        return max(stats.free_prefixes - cfg.warm_prefix_target, 0)
    return 0


def addresses_wanted(stats: Stats, cfg: IpamConfig, m: int) -> int:
    """§3.7 SIP: how many /32s to ask for on an existing ENI (before capping at its room)."""
    return target_state(stats, cfg, False).short if cfg.defined else m


def prefixes_wanted(stats: Stats, cfg: IpamConfig) -> int:
    """§3.7 PD: never below 1."""
    if cfg.defined:
        return max(1, target_state(stats, cfg, True).short)
    return max(1, cfg.warm_prefix_target - stats.free_prefixes)


def new_eni_size(stats: Stats, cfg: IpamConfig, prefix_mode: bool, m: int, p: int, ip_limit: int) -> int:
    """§3.7 "Size of a new ENI": prefixes (PD) or addresses (SIP), capped at L_ip − 1."""
    if prefix_mode:
        size = min(prefixes_wanted(stats, cfg), p)
    elif cfg.defined:
        size = min(target_state(stats, cfg, False).short, m)
    else:
        size = m
    return min(size, ip_limit - 1)
