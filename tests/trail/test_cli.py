"""`vpccni trail analyze` and `replay` as a user runs them: keys, reports, replays, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.headless import CHROMIUM, SKIP_REASON, rendered_dom, screenshot
from tests.trail.builders import Trail, exhaustion_trail
from vpccni.cli import app
from vpccni.cluster import load_scenario

runner = CliRunner()
JSON_KEYS = {
    "events",
    "ec2_events",
    "time_range",
    "agents",
    "by_action",
    "instances",
    "subnets",
    "throttling",
    "findings",
}
INSTANCE_KEYS = {
    "instance_id",
    "enis_end",
    "ips_held_end",
    "prefixes_held_end",
    "enis_created",
    "enis_deleted",
    "ips_assigned",
    "ips_unassigned",
    "first_seen",
    "last_seen",
}


def _error_line(result: object) -> str:
    output = getattr(result, "output", "")
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_analyze_json_has_the_issue_keys(tmp_path: Path) -> None:
    path = exhaustion_trail().write_records(tmp_path / "t.json.gz", gz=True)
    result = runner.invoke(app, ["trail", "analyze", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= JSON_KEYS
    assert set(data["time_range"]) == {"start", "end"}
    assert all(set(row) >= INSTANCE_KEYS for row in data["instances"])
    assert set(data["subnets"][0]) >= {"subnet_id", "enis_created", "exhaustion_errors", "first_exhaustion"}
    assert data["time_range"] == {"start": "2025-03-04T10:00:00Z", "end": "2025-03-04T10:14:40Z"}
    assert [r["instance_id"] for r in data["instances"]] == sorted(r["instance_id"] for r in data["instances"])


def test_analyze_reads_standard_input(tmp_path: Path) -> None:
    text = exhaustion_trail().write_lines(tmp_path / "t.jsonl").read_text()
    result = runner.invoke(app, ["trail", "analyze", "-", "--json"], input=text)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ec2_events"] == 14


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "yesterday"], "--since 'yesterday': not a time"),
        (["--until", "2025-13-01"], "--until '2025-13-01': not a time"),
        (
            ["--since", "2025-03-05T00:00:00Z", "--until", "2025-03-04T00:00:00Z"],
            "--since 2025-03-05T00:00:00Z is after",
        ),
    ],
)
def test_bad_flags_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    path = exhaustion_trail().write_lines(tmp_path / "t.jsonl")
    result = runner.invoke(app, ["trail", "analyze", str(path), *args])
    assert result.exit_code == 2
    assert expected in _error_line(result)


def test_not_cloudtrail_exits_2_naming_the_file(tmp_path: Path) -> None:
    csv = tmp_path / "export.csv"
    csv.write_text("eventTime,eventName\n2025-01-01T00:00:00Z,RunInstances\n")
    result = runner.invoke(app, ["trail", "analyze", str(csv)])
    assert result.exit_code == 2
    assert _error_line(result).startswith(f"error: {csv}: not CloudTrail: expected JSON")
    result = runner.invoke(app, ["trail", "replay", str(tmp_path / "missing.json"), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2 and "missing.json: no such file or directory" in _error_line(result)


def test_truncated_json_lines_warn_and_analyse_the_rest(tmp_path: Path) -> None:
    path = exhaustion_trail().write_lines(tmp_path / "t.jsonl")
    path.write_text(path.read_text()[:-30])
    result = runner.invoke(app, ["trail", "analyze", str(path), "--json"])
    assert result.exit_code == 0
    assert "t.jsonl:14: truncated last record skipped" in result.stderr
    assert json.loads(result.stdout)["ec2_events"] == 13


def test_report_is_self_contained_with_three_figures(tmp_path: Path) -> None:
    path = exhaustion_trail().write_lines(tmp_path / "t.jsonl")
    report = tmp_path / "report.html"
    result = runner.invoke(app, ["trail", "analyze", str(path), "--report", str(report)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"report: {report}" in result.stdout.replace("\n", "")
    text = report.read_text()
    assert len(re.findall(r'<img class="figure" alt="[^"]+" src="data:image/png;base64,', text)) == 3
    assert "http://" not in text and "https://" not in text
    assert text.count("<td class='critical'>critical</td>") == 1 and text.count("warm-pool-hoarding") == 2


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    path = exhaustion_trail().write_lines(tmp_path / "t.jsonl")
    report = tmp_path / "report.html"
    assert runner.invoke(app, ["trail", "analyze", str(path), "--report", str(report), "--json"]).exit_code == 0
    dom = rendered_dom(report, tmp_path)
    assert 'data-figures-loaded="3/3"' in dom
    assert "subnet-0a1b2c3d4e5f60718" in dom
    shot = screenshot(report, tmp_path)
    assert shot.stat().st_size > 20_000  # a page with plots, not a blank one


def _cni_only_trail(tmp_path: Path) -> Path:
    """A real-looking trail from the nodes' side: no RunInstances, no subnet CIDR anywhere."""
    trail = Trail()
    records = exhaustion_trail().records
    trail.records = [r for r in records if r["eventName"] != "RunInstances"]
    return trail.write_lines(tmp_path / "cni.jsonl")


def test_replay_names_the_missing_flags(tmp_path: Path) -> None:
    path = _cni_only_trail(tmp_path)
    out = tmp_path / "s.yaml"
    result = runner.invoke(app, ["trail", "replay", str(path), "-o", str(out)])
    assert result.exit_code == 2 and "give --instance-type" in _error_line(result)
    result = runner.invoke(app, ["trail", "replay", str(path), "-o", str(out), "--instance-type", "m5.large"])
    assert result.exit_code == 2 and "give --subnet-cidr" in _error_line(result)
    result = runner.invoke(app, ["trail", "replay", str(path), "-o", str(out), "--instance-type", "m5.lrge"])
    assert result.exit_code == 2 and "m5.large" in _error_line(result)  # did you mean
    result = runner.invoke(app, ["trail", "replay", str(path), "-o", str(out), "--subnet-cidr", "10.20.0.0/33"])
    assert result.exit_code == 2 and "--subnet-cidr '10.20.0.0/33': not an IPv4 CIDR" in _error_line(result)
    assert not out.exists()


def test_replay_with_flags_writes_a_valid_scenario(tmp_path: Path) -> None:
    path = _cni_only_trail(tmp_path)
    out = tmp_path / "s.yaml"
    args = [
        "trail",
        "replay",
        str(path),
        "-o",
        str(out),
        "--instance-type",
        "m5.large",
        "--subnet-cidr",
        "10.20.0.0/24",
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "output": str(out),
        "name": "replay-cni",
        "findings": ["subnet-exhaustion", "warm-pool-hoarding"],
    }
    scenario = load_scenario(out)
    text = out.read_text()
    assert "instance_type: m5.large  # flag: --instance-type" in text
    assert "cidr: 10.20.0.0/24  # flag: --subnet-cidr" in text
    assert scenario.node_groups[0].ipamd == {"WARM_ENI_TARGET": "1"}
    assert [g.min for g in scenario.node_groups] == [2]
    # 251 usable − 50 held (2 primary ENIs met through the CNI's calls, 3 created; 10 addresses each) − 9
    assert scenario.subnets[0].used_by_others == 251 - 50 - 9
    assert "# inferred" in text and "# observed" in text


def test_trail_help_lists_both_commands() -> None:
    result = runner.invoke(app, ["trail", "--help"], terminal_width=120)
    assert result.exit_code == 0
    assert "analyze" in result.stdout and "replay" in result.stdout
