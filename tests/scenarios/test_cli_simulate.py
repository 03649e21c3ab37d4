"""`vpccni simulate` as a user meets it: overrides, the schema and its reference, expectations checked before
the run, warnings and effective settings, honest start-time figures, one trail per run, bad paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vpccni.cli import app
from vpccni.cluster import load_scenario
from vpccni.cluster.scenario import Scenario
from vpccni.cluster.schema_doc import example, fields_without_description, markdown

ROOT = Path(__file__).parents[2]
SHARED = str(ROOT / "scenarios" / "shared-subnet-exhaustion.yaml")
TWO = str(ROOT / "scenarios" / "two-nodes-100-pods.yaml")
runner = CliRunner()


def simulate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def as_json(*args: str) -> Any:
    code, out, err = simulate(*args, "--json")
    assert code in (0, 1), err
    return json.loads(out)


def test_set_overrides_fields_by_dotted_path_and_list_item_name() -> None:
    scenario = load_scenario(
        SHARED,
        [
            "node_groups.workers.ipamd.WARM_IP_TARGET=2",
            "node_groups.workers.max=4",
            "autoscaler.scan_interval=5",
            "runs.tuned-warm-ip.ipamd.MINIMUM_IP_TARGET=12",
            "deployments.0.replicas=7",
        ],
    )
    group = scenario.node_groups[0]
    assert group.ipamd["WARM_IP_TARGET"] == "2" and group.max == 4
    assert scenario.autoscaler.scan_interval == 5
    assert scenario.runs[1].ipamd["MINIMUM_IP_TARGET"] == "12" and scenario.deployments[0].replicas == 7


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("node_groups.nope.max=4", "no item 'nope' in node_groups (known: workers)"),
        ("node_groups.workers.max=-1", "node_groups.0.max"),
        ("node_groups.workers.colour=blue", "node_groups.0.colour"),
        ("novalue", "expected PATH=VALUE"),
        ("name.first=x", "is a value"),
    ],
)
def test_bad_overrides_name_the_field(override: str, message: str) -> None:
    code, out, err = simulate(SHARED, "--set", override)
    assert code == 2 and message in err and "Traceback" not in out + err


def test_overrides_apply_to_one_run_with_run() -> None:
    summary = as_json(SHARED, "--run", "default-warm-eni", "--set", "node_groups.workers.ipamd.WARM_ENI_TARGET=0")
    assert summary["name"] == "default-warm-eni" and summary["settings"] == {"workers": {"WARM_ENI_TARGET": "0"}}


def test_schema_and_reference_are_the_models() -> None:
    code, out, _ = simulate("--schema")
    schema = json.loads(out)
    assert code == 0 and set(schema["$defs"]) == set(Scenario.model_json_schema()["$defs"])
    assert schema["properties"]["subnets"]["description"]
    assert fields_without_description() == []
    Scenario.model_validate(example())
    assert (ROOT / "docs" / "scenarios.md").read_text() == markdown(), "run `make docs`"


def test_unknown_expect_key_is_an_error_before_the_run(tmp_path: Path) -> None:
    text = Path(TWO).read_text().replace("  pods_running: 102", "  pods_runing: 102")
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    code, out, err = simulate(str(path))
    assert code == 2 and "pods_runing" in err and "cluster simulation" not in out


def test_warnings_and_effective_settings_in_every_run() -> None:
    summaries = as_json(
        SHARED,
        "--set",
        "node_groups.workers.ipamd.WARM_IP_TARGT=2",
        "--set",
        "runs.tuned-warm-ip.ipamd.WARM_IP_TARGET=two",
    )
    default, tuned = summaries
    assert default["warnings"] == [
        "node_groups.workers.ipamd: WARM_IP_TARGT is not an ipamd setting vpccni knows; ignored"
    ]
    assert any("WARM_IP_TARGET='two' is not an integer; the default 0 is used" in w for w in tuned["warnings"])
    assert tuned["settings"]["workers"]["WARM_IP_TARGET"] == "0"  # what is in force, not the raw text
    # WARM_IP_TARGET falls back to 0 with MINIMUM_IP_TARGET=10: the pool stops at 10 per node
    assert tuned["pods_never_started"] == tuned["pods_waiting_for_ip"] == 70
    assert [limit["kind"] for limit in tuned["binding_limits"]] == ["settings"]
    assert default["binding_limits"][0]["kind"] == "subnet"


def test_table_shows_expected_row_only_with_expectations_and_never_cuts_words() -> None:
    code, out, _ = simulate(SHARED, "--set", "runs.tuned-warm-ip.expect={}")
    assert code == 0
    assert "expected outcome" in out and "│ -" in out  # the run without an expect block
    code, out, _ = simulate(TWO, "--set", "expect={}")
    assert code == 0 and "expected outcome" not in out
    words = {w for line in out.splitlines() for w in line.replace("│", " ").split()}
    assert "InsufficientFreeAddres…" not in words and not any(w.endswith("…") for w in words)


def test_a_trail_per_run_with_read_only_calls(tmp_path: Path) -> None:
    code, _, err = simulate(SHARED, "--trail", str(tmp_path / "t.jsonl"))
    assert code == 0, err
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t-default-warm-eni.jsonl", "t-tuned-warm-ip.jsonl"]
    events = [json.loads(line) for line in (tmp_path / "t-tuned-warm-ip.jsonl").read_text().splitlines()]
    assert any(e["readOnly"] for e in events) and any(not e["readOnly"] for e in events)


def test_details_and_bad_paths(tmp_path: Path) -> None:
    summary = as_json(TWO, "--detail", "nodes", "--detail", "series")
    assert len(summary["nodes"]) == 2 and {"enis", "assigned_ips", "pods"} <= set(summary["nodes"][0])
    first, last = summary["series"][0]["pods"], summary["series"][-1]["pods"]
    assert first["pending"] == 12 and first["unschedulable"] == 0  # at t=0 the scheduler has not seen them yet
    assert last["pending"] == 0 and last["running"] == 102
    for flag, bad in (("--report", "/nonexistent/dir/r.html"), ("--trail", str(tmp_path)), ("--detail", "all")):
        code, out, err = simulate(TWO, flag, bad)
        assert code == 2 and "Traceback" not in out + err and len(err.strip().splitlines()) == 1
