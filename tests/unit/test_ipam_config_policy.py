"""ipamd configuration parsing and the pure warm-pool functions: acceptance cases 1–12 of the ipamd spec."""

from __future__ import annotations

import pytest

from vpccni.ipam.config import IpamConfig, checkpoint_path, effective_max_eni
from vpccni.ipam.datastore import Stats
from vpccni.ipam.policy import pool_too_low, target_state


@pytest.mark.parametrize(("raw", "value"), [(None, 1), ("abc", 1), ("-1", 1), ("0", 0), ("3", 3)])
def test_warm_eni_target(raw: str | None, value: int) -> None:
    env = {} if raw is None else {"WARM_ENI_TARGET": raw}
    assert IpamConfig.from_env(env).warm_eni_target == value


def test_ip_targets_and_fallback_warnings() -> None:
    assert IpamConfig.from_env({"WARM_IP_TARGET": "5"}).warm_ip_target == 5
    bad = IpamConfig.from_env({"WARM_IP_TARGET": "non-integer-string"})
    assert bad.warm_ip_target == 0 and any("WARM_IP_TARGET" in w for w in bad.warnings)
    for raw, value in (("10", 10), ("0", 0), ("-5", 0), ("invalid", 0)):
        assert IpamConfig.from_env({"MINIMUM_IP_TARGET": raw}).minimum_ip_target == value
    assert IpamConfig.from_env({"WARM_PREFIX_TARGET": "5"}).warm_prefix_target == 5
    assert IpamConfig.from_env({"WARM_PREFIX_TARGET": "x"}).warm_prefix_target == 0
    assert IpamConfig.from_env({"ENABLE_PREFIX_DELEGATION": "T"}).enable_prefix_delegation is True
    assert IpamConfig.from_env({"ENABLE_PREFIX_DELEGATION": "yes"}).enable_prefix_delegation is False
    with pytest.raises(ValueError, match="NETWORK_POLICY_ENFORCING_MODE"):
        IpamConfig.from_env({"NETWORK_POLICY_ENFORCING_MODE": "loose"})


@pytest.mark.parametrize(("raw", "value"), [("2", 2), ("10", 4), ("0", 4), ("-1", 4), (None, 4), ("x", 4)])
def test_max_eni(raw: str | None, value: int) -> None:
    env = {} if raw is None else {"MAX_ENI": raw}
    assert effective_max_eni(IpamConfig.from_env(env), 4) == value


def test_defined_and_checkpoint_path() -> None:
    assert not IpamConfig().defined
    assert IpamConfig(warm_ip_target=5).defined and IpamConfig(minimum_ip_target=10).defined
    assert checkpoint_path(IpamConfig()) == "/var/run/aws-node/ipam.json"
    assert checkpoint_path(IpamConfig(), 1) == "/var/run/aws-node/ipam-nic-1.json"
    assert checkpoint_path(IpamConfig(backing_store="/tmp/x.json")) == "/tmp/x.json"


def test_additional_tags_filtered() -> None:
    cfg = IpamConfig.from_env({"ADDITIONAL_ENI_TAGS": '{"bla.k8s.amazonaws.com":"bla","tagKey1":"tagVal1"}'})
    assert dict(cfg.additional_eni_tags) == {"tagKey1": "tagVal1"}
    assert dict(IpamConfig.from_env({"ADDITIONAL_ENI_TAGS": "xxxx"}).additional_eni_tags) == {}


def s(total: int, assigned: int, free_prefixes: int = 0, total_prefixes: int = 0) -> Stats:
    return Stats(total, assigned, 0, total_prefixes, free_prefixes)


@pytest.mark.parametrize(
    ("cfg", "m", "stats", "max_pods", "low"),
    [
        (IpamConfig(warm_eni_target=1), 14, s(0, 0), 500, True),
        (IpamConfig(warm_eni_target=0), 14, s(0, 0), 500, True),
        (IpamConfig(warm_eni_target=0, warm_ip_target=3), 14, s(0, 0), 500, True),
        (IpamConfig(warm_eni_target=1, warm_ip_target=1), 3, s(3, 0), 500, False),
        (IpamConfig(warm_eni_target=1), 3, s(3, 1), 500, True),
        (IpamConfig(warm_eni_target=0), 3, s(3, 1), 500, False),
        (IpamConfig(warm_eni_target=1), 3, s(3, 3), 500, True),
        (IpamConfig(warm_eni_target=0), 3, s(3, 3), 500, True),
        (IpamConfig(warm_ip_target=5), 3, s(3, 3), 3, False),
    ],
)
def test_pool_low_sip(cfg: IpamConfig, m: int, stats: Stats, max_pods: int, low: bool) -> None:
    assert pool_too_low(stats, cfg, False, m, max_pods) is low


@pytest.mark.parametrize(
    ("wpt", "stats", "max_pods", "low"),
    [
        (1, s(0, 0), 500, True),
        (0, s(0, 0), 500, True),
        (1, s(16, 0, 1, 1), 500, False),
        (1, s(16, 1, 0, 1), 500, True),
        (0, s(16, 1, 0, 1), 500, False),
        (1, s(16, 3, 0, 1), 500, True),
        (0, s(16, 3, 0, 1), 500, False),
        (1, s(16, 3, 0, 1), 4, False),
    ],
)
def test_pool_low_pd(wpt: int, stats: Stats, max_pods: int, low: bool) -> None:
    cfg = IpamConfig(warm_eni_target=1, warm_prefix_target=wpt, enable_prefix_delegation=True)
    assert pool_too_low(stats, cfg, True, 16 * 9, max_pods) is low


def test_target_state() -> None:
    cfg = IpamConfig(warm_ip_target=5)
    assert (target_state(s(0, 0), cfg, False).short, target_state(s(0, 0), cfg, False).over) == (5, 0)
    assert target_state(s(2, 0), cfg, False).short == 3
    assert (target_state(s(5, 0), cfg, False).short, target_state(s(5, 0), cfg, False).over) == (0, 0)
    assert not target_state(s(0, 0), IpamConfig(), False).enabled
    pd = target_state(s(0, 0), cfg, True)
    assert (pd.short, pd.over) == (1, 0)
    assert (target_state(s(32, 0, 2, 2), cfg, True).short, target_state(s(32, 0, 2, 2), cfg, True).over) == (0, 1)
    assert target_state(s(16, 0, 1, 1), cfg, True).over == 0
