"""`vpccni node-sim` as a user meets it: bad paths and values exit 2 with one line, summaries say what limits
the node and show the settings in force, and pods beyond capacity keep the run quick."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vpccni.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["node-sim", *args])
    return result.exit_code, result.stdout, result.stderr


def test_unwritable_trail_is_bad_input_without_a_traceback(tmp_path: Path) -> None:
    for bad in ("/nonexistent/t.json", str(tmp_path), ""):
        code, out, err = run("-t", "m5.large", "--trail", bad)
        assert code == 2 and "Traceback" not in out + err
        assert len(err.strip().splitlines()) == 1 and "--trail" in err


def test_release_above_pods_is_an_error() -> None:
    code, _, err = run("-t", "m5.large", "--pods", "3", "--release", "5")
    assert code == 2 and "--release 5 is more than --pods 3" in err


def test_summary_shows_effective_settings_and_capacity() -> None:
    code, out, err = run(
        "-t", "m5.large", "--pods", "30", "--env", "WARM_IP_TARGET=abc", "--env", "WARM_ENI_TARGT=1", "--json"
    )
    assert code == 0
    r = json.loads(out)
    assert r["settings"] == {"WARM_IP_TARGET": "0"}  # the fallback in force; the misspelt name is ignored
    assert (r["max_pods"], r["pod_capacity"], r["host_network_pods"]) == (29, 27, 2)
    assert (r["pods_running"], r["pods_without_ip"]) == (27, 3)
    assert r["binding_limit"]["kind"] == "max-pods"
    assert any("WARM_IP_TARGET='abc'" in w for w in r["warnings"])
    assert any("WARM_ENI_TARGT" in w for w in r["warnings"])
    assert any("--pods 30 is more than this node can give addresses to (27" in w for w in r["warnings"])


def test_the_subnet_named_as_the_limit() -> None:
    code, out, _ = run("-t", "m5.large", "--pods", "20", "--subnet-cidr", "10.0.0.0/28", "--json")
    r = json.loads(out)
    assert code == 0 and r["pods_without_ip"] == 11
    assert r["binding_limit"]["kind"] == "subnet" and "--subnet-cidr" in r["binding_limit"]["message"]


def test_pods_far_beyond_capacity_finish() -> None:
    """Pods past the node's capacity wait without loop turns (its wall time is a benchmark figure, not asserted)."""
    code, out, _ = run("-t", "m5.large", "--pods", "100000", "--json")
    r = json.loads(out)
    assert code == 0 and (r["pods_running"], r["pods_without_ip"]) == (27, 100000 - 27)
    capped = json.loads(run("-t", "m5.large", "--pods", "27", "--json")[1])
    assert r["ec2_calls"] == capped["ec2_calls"]  # the waiting pods cost no EC2 call


def test_human_output_names_the_limit_and_what_steady_covers() -> None:
    code, out, _ = run("-t", "m5.large", "--pods", "30")
    assert code == 0
    flat = " ".join(out.split())
    assert "max-pods 29 = 27 pod addresses at most + 2 host-network pods" in flat
    assert "limit: max-pods (29, of which 2 host-network) limits this node" in flat
    assert "each step run until nothing changed for 130 s" in flat
