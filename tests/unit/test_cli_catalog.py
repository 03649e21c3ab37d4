"""`vpccni max-pods` and `vpccni instance` through typer's runner, error exits included."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vpccni import catalog
from vpccni.cli import app

runner = CliRunner()


def test_max_pods_json_for_two_types() -> None:
    result = runner.invoke(app, ["max-pods", "m5.large", "c5.xlarge", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(d["instance_type"], d["max_pods"], d["max_pods_uncapped"]) for d in data] == [
        ("m5.large", 29, 29),
        ("c5.xlarge", 58, 58),
    ]
    assert data[0]["enis_used"] == 3 and data[0]["ips_per_eni"] == 10 and data[0]["mode"] == "secondary-ip"
    assert "note" not in data[0]


def test_max_pods_prefix_delegation() -> None:
    result = runner.invoke(app, ["max-pods", "m5.large", "--prefix-delegation", "--json"])
    assert result.exit_code == 0
    (row,) = json.loads(result.stdout)
    assert (row["max_pods"], row["max_pods_uncapped"], row["mode"]) == (110, 434, "prefix")


def test_prefix_delegation_on_xen_says_so() -> None:
    result = runner.invoke(app, ["max-pods", "m4.large", "--prefix-delegation", "--json"])
    (row,) = json.loads(result.stdout)
    assert row["mode"] == "secondary-ip" and "Nitro" in row["note"]
    table = runner.invoke(app, ["max-pods", "m4.large", "--prefix-delegation"])
    assert "Nitro" in table.stdout


def test_max_pods_all_lists_every_type_sorted() -> None:
    result = runner.invoke(app, ["max-pods", "--all"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(catalog.all_types())
    assert lines == sorted(lines, key=lambda line: line.split()[0])
    assert "m5.large 29" in lines and "c5.xlarge 58" in lines
    assert "m5.24xlarge 250" in lines  # the recommended value: capped at 250 above 30 vCPUs


def test_max_pods_all_prefix_delegation_is_capped_unless_uncapped() -> None:
    capped = runner.invoke(app, ["max-pods", "--all", "--prefix-delegation"]).stdout.splitlines()
    raw = runner.invoke(app, ["max-pods", "--all", "--prefix-delegation", "--uncapped"]).stdout.splitlines()
    assert "m5.large 110" in capped and "m5.large 434" in raw
    reference_file = runner.invoke(app, ["max-pods", "--all", "--uncapped"]).stdout.splitlines()
    assert "m5.24xlarge 737" in reference_file  # eni-max-pods.txt lists the raw formula
    assert runner.invoke(app, ["max-pods", "m5.large", "--uncapped"]).exit_code == 2


def test_table_output_for_people() -> None:
    result = runner.invoke(app, ["max-pods", "m5.4xlarge"])
    assert result.exit_code == 0
    assert "110" in result.stdout and "234" in result.stdout


def test_unknown_type_exits_2_with_suggestion() -> None:
    result = runner.invoke(app, ["max-pods", "m5.larg"])
    assert result.exit_code == 2
    assert "did you mean m5.large" in result.stderr
    assert "Traceback" not in result.output


def test_bad_max_eni_values_exit_2() -> None:
    for value in ("0", "-3"):
        result = runner.invoke(app, ["max-pods", "m5.large", "--max-eni", value])
        assert result.exit_code == 2, value
        assert "--max-eni" in result.stderr
    not_a_number = runner.invoke(app, ["max-pods", "m5.large", "--max-eni", "two"])
    assert not_a_number.exit_code == 2


def test_no_type_and_both_forms_are_errors() -> None:
    assert runner.invoke(app, ["max-pods"]).exit_code == 2
    assert runner.invoke(app, ["max-pods", "m5.large", "--all"]).exit_code == 2


def test_instance_command() -> None:
    result = runner.invoke(app, ["instance", "c5.xlarge", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["max_enis"], data["ipv4_per_eni"], data["hypervisor"], data["eni_max_pods"]) == (
        4,
        15,
        "nitro",
        58,
    )
    assert runner.invoke(app, ["instance", "c5.xlarge"]).exit_code == 0
    unknown = runner.invoke(app, ["instance", "c5.xlarg"])
    assert unknown.exit_code == 2 and "did you mean" in unknown.stderr
