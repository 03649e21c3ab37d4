"""Each finding on a hand-built trail: exact subjects, evidence and numbers; normalisation rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trail.builders import CONSOLE_AGENT, Trail, exhaustion_trail, stamp
from vpccni.trail import Analysis, Window, analyse
from vpccni.trail.normalise import agent_family, iso, parse_time, requested_from_message, strip_code

SUBNET = "subnet-0a1b2c3d4e5f60718"
NODE = "i-0ccc000000000003c"


def _run(tmp_path: Path, trail: Trail, window: Window | None = None) -> Analysis:
    return analyse([str(trail.write_lines(tmp_path / "trail.jsonl"))], window)


def _kinds(analysis: Analysis) -> list[tuple[str, str, str]]:
    return [(f.kind, f.severity, f.subject) for f in analysis.findings]


def test_subnet_exhaustion_and_hoarding(tmp_path: Path) -> None:
    trail = exhaustion_trail()
    analysis = _run(tmp_path, trail)
    assert _kinds(analysis) == [
        ("subnet-exhaustion", "critical", SUBNET),
        ("warm-pool-hoarding", "warning", "i-0aaa000000000001a"),
        ("warm-pool-hoarding", "warning", "i-0bbb000000000002b"),
    ]
    exhaustion = analysis.findings[0]
    failing = [r["eventID"] for r in trail.records if r.get("errorCode")]
    assert exhaustion.evidence == failing and len(failing) == 4
    assert "4 calls failed from 2025-03-04T10:11:40Z to 2025-03-04T10:14:40Z" in exhaustion.message
    assert "the first asked for 10 addresses" in exhaustion.message
    assert "held 50 of its addresses" in exhaustion.message  # 2 primaries and 3 ENIs, 10 addresses each
    assert "vpccni advise" in exhaustion.advice and "WARM_ENI_TARGET" in exhaustion.advice
    hoarder = analysis.findings[1]
    assert hoarder.message.startswith("i-0aaa000000000001a held 27 addresses on 3 ENIs")
    assert "3 whole-ENI allocations of 9" in hoarder.message
    data = analysis.to_json()
    assert data["subnets"] == [
        {
            "subnet_id": SUBNET,
            "cidr": None,
            "enis_created": 3,
            "exhaustion_errors": 4,
            "first_exhaustion": "2025-03-04T10:11:40Z",
        }
    ]
    assert data["agents"] == {"amazon-vpc-cni-k8s": 12, "autoscaling": 2}
    assert set(data["findings"][0]) == {"kind", "severity", "subject", "message", "evidence", "advice", "at"}


def test_api_throttling(tmp_path: Path) -> None:
    trail = Trail()
    for second in range(12):
        trail.throttled(second * 5, NODE)
    for second in range(8):
        trail.record(100 + second, "DescribeNetworkInterfaces", {}, caller=NODE, read_only=True)
    trail.throttled(200, NODE, "AssignPrivateIpAddresses")
    for second in range(9):
        trail.record(300 + second, "AssignPrivateIpAddresses", {"networkInterfaceId": "eni-0x"}, {}, caller=NODE)
    analysis = _run(tmp_path, trail)
    assert analysis.to_json()["throttling"] == {"AssignPrivateIpAddresses": 1, "DescribeNetworkInterfaces": 12}
    assert _kinds(analysis) == [
        ("api-throttling", "critical", "DescribeNetworkInterfaces"),  # 12 of 20 calls
        ("api-throttling", "warning", "AssignPrivateIpAddresses"),  # 1 of 10
    ]
    describe = analysis.findings[0]
    assert "throttled 12 times (60% of its 20 calls), at most 12 in the minute from 2025-03-04T10:00:00Z" in (
        describe.message
    )
    assert len(describe.evidence) == 12
    assert analysis.to_json()["by_action"]["DescribeNetworkInterfaces"] == {
        "ok": 8,
        "errors": {"RequestLimitExceeded": 12},
    }


def _churn(trail: Trail, cycles: int) -> None:
    trail.run_instance(0, NODE, "m5.large", SUBNET, "eni-0prim0000000000c1")
    trail.assign(30, NODE, "eni-0prim0000000000c1", 9)
    for cycle in range(cycles):
        eni = f"eni-0churn{cycle:010d}"
        at = 100 + cycle * 65
        trail.create_eni(at, NODE, SUBNET, eni, 9)
        trail.attach(at + 1, NODE, eni, 1)
        trail.detach(at + 61, NODE, eni)
        trail.delete(at + 63, NODE, eni)


def test_eni_churn(tmp_path: Path) -> None:
    trail = Trail()
    _churn(trail, 4)
    analysis = _run(tmp_path, trail)
    assert _kinds(analysis) == [("eni-churn", "warning", NODE)]
    finding = analysis.findings[0]
    assert finding.message == (
        f"{NODE} created and deleted 4 ENIs between 2025-03-04T10:01:40Z and 2025-03-04T10:05:58Z "
        "(median lifetime 63 s)"
    )
    assert len(finding.evidence) == 8
    row = analysis.to_json()["instances"][0]
    assert (row["enis_end"], row["ips_held_end"], row["enis_created"], row["enis_deleted"]) == (1, 9, 4, 4)
    assert (row["ips_assigned"], row["ips_unassigned"]) == (45, 0)


def test_two_cycles_are_not_churn(tmp_path: Path) -> None:
    trail = Trail()
    _churn(trail, 2)
    assert _kinds(_run(tmp_path, trail)) == []


def test_ip_churn(tmp_path: Path) -> None:
    trail = Trail()
    primary = "eni-0prim0000000000c1"
    trail.run_instance(0, NODE, "m5.large", SUBNET, primary)
    trail.assign(30, NODE, primary, 3)
    for burst in range(4):
        got = trail.assign(100 + burst * 120, NODE, primary, 2)
        trail.unassign(160 + burst * 120, NODE, primary, got)
    analysis = _run(tmp_path, trail)
    assert _kinds(analysis) == [("ip-churn", "warning", NODE)]
    assert analysis.findings[0].message == (
        f"{NODE} assigned 11 and unassigned 8 addresses in 9 calls from 2025-03-04T10:00:30Z to "
        "2025-03-04T10:08:40Z, changing direction 7 times"
    )
    row = analysis.to_json()["instances"][0]
    assert (row["ips_held_end"], row["ips_assigned"], row["ips_unassigned"]) == (3, 11, 8)


def test_leaked_enis_never_attached_and_detached(tmp_path: Path) -> None:
    trail = Trail()
    primary = "eni-0prim0000000000c1"
    trail.run_instance(0, NODE, "m5.large", SUBNET, primary)
    trail.create_eni(100, NODE, SUBNET, "eni-0neverattached001", 9)  # attach never happened
    trail.create_eni(110, NODE, SUBNET, "eni-0detachedonly0001", 2)
    trail.attach(111, NODE, "eni-0detachedonly0001", 1)
    trail.detach(200, NODE, "eni-0detachedonly0001")
    trail.create_eni(800, NODE, SUBNET, "eni-0toorecent0000001", 9)  # within the grace period
    trail.record(1000, "DescribeInstances", {"instancesSet": {}}, caller=NODE, read_only=True)
    analysis = _run(tmp_path, trail)
    assert _kinds(analysis) == [
        ("leaked-eni", "warning", "eni-0detachedonly0001"),
        ("leaked-eni", "warning", "eni-0neverattached001"),
    ]
    detached, never = analysis.findings
    assert "was detached at 2025-03-04T10:03:20Z and never deleted: it keeps 3 addresses" in detached.message
    assert "was never attached and never deleted: it keeps 10 addresses" in never.message
    assert never.evidence == [trail.records[1]["eventID"]]


def test_agent_filter_and_time_window(tmp_path: Path) -> None:
    trail = exhaustion_trail()
    trail.record(650, "CreateTags", {"resourcesSet": {}}, {"_return": True}, caller="console-user", agent=CONSOLE_AGENT)
    everything = _run(tmp_path, trail).to_json()
    assert everything["agents"] == {"amazon-vpc-cni-k8s": 12, "autoscaling": 2, "console": 1}
    cni_only = _run(tmp_path, trail, Window(agent="amazon-vpc-cni-k8s")).to_json()
    assert cni_only["agents"] == {"amazon-vpc-cni-k8s": 12}
    assert cni_only["filtered_out"] == 3
    late = _run(tmp_path, trail, Window(since=parse_time(stamp(650)), until=parse_time(stamp(760)))).to_json()
    assert late["ec2_events"] == 3 and late["time_range"] == {"start": stamp(650), "end": stamp(760)}
    assert late["by_action"]["CreateNetworkInterface"] == {"ok": 0, "errors": {"InsufficientFreeAddressesInSubnet": 2}}


def test_normalisation_rules() -> None:
    assert strip_code("Client.InsufficientFreeAddressesInSubnet") == "InsufficientFreeAddressesInSubnet"
    assert strip_code("Server.InternalError") == "InternalError"
    assert strip_code("RequestLimitExceeded") == "RequestLimitExceeded"
    assert requested_from_message("insufficient free address to allocate 15 address(es)") == 15
    assert requested_from_message("Insufficient free addresses to allocate 1 address") == 1
    assert requested_from_message("Request limit exceeded.") is None
    assert agent_family(
        "aws-sdk-go/1.44.0 (go1.19; linux; amd64) exec-env/AWS_ECS amazon-vpc-cni-k8s/version/v1.12.0"
    ) == ("amazon-vpc-cni-k8s")
    assert agent_family("vpccni/0.1.0 ipamd") == "vpccni"
    assert agent_family("console.ec2.amazonaws.com") == "console"
    assert agent_family("AWS Internal") == "console"
    assert agent_family("autoscaling.amazonaws.com") == "autoscaling"
    assert agent_family("Boto3/1.34.0 md/Botocore#1.34.0") == "other"
    assert parse_time("2025-03-04T10:00:00Z") == parse_time("2025-03-04 10:00:00.000") == 1741082400.0
    assert parse_time("2025-03-04T12:00:00+02:00") == 1741082400.0
    assert parse_time(1741082400000) == 1741082400.0  # epoch milliseconds


def test_invalid_parameter_value_with_an_exhaustion_message_counts_as_exhaustion(tmp_path: Path) -> None:
    trail = Trail()
    trail.run_instance(0, NODE, "m5.large", SUBNET, "eni-0prim0000000000c1")
    trail.create_eni_fails(
        60, NODE, SUBNET, 9, "Client.InvalidParameterValue", "There aren't sufficient free Ipv4 addresses or prefixes"
    )
    data = _run(tmp_path, trail).to_json()
    assert data["subnets"][0]["exhaustion_errors"] == 1
    assert data["by_action"]["CreateNetworkInterface"]["errors"] == {"InvalidParameterValue": 1}
    assert [f["kind"] for f in data["findings"]] == ["subnet-exhaustion"]


@settings(deadline=None)  # a loaded machine must not fail a test of correctness
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(lambda d: d.replace(microsecond=0))
)
def test_time_round_trips_through_iso(moment: datetime) -> None:
    seconds = moment.replace(tzinfo=UTC).timestamp()
    assert parse_time(iso(seconds)) == seconds


@settings(deadline=None)
@given(
    st.sampled_from(["Client.", "Server.", ""]),
    st.from_regex(r"[A-Z][A-Za-z]{2,30}(\.[A-Z][a-z]+)?", fullmatch=True).filter(
        lambda c: not c.startswith(("Client.", "Server."))
    ),
)
def test_strip_code_removes_only_the_prefix(prefix: str, code: str) -> None:
    assert strip_code(prefix + code) == code
    assert strip_code(strip_code(prefix + code)) == code
