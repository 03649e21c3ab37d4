"""The report's efficiency figures (idle addresses over time, pod IP-wait CDF) on a standard trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.headless import CHROMIUM, SKIP_REASON, rendered_dom
from vpccni.cli import app

TRACE = Path(__file__).parents[2] / "scenarios" / "traces" / "scale-out-burst.yaml"


def _report(tmp_path: Path) -> Path:
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["simulate", str(TRACE), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "idle addresses mean / max" in result.stdout and "IP wait p50 / p90 / p99 / max" in result.stdout
    return report


def test_report_has_the_efficiency_figures_and_rows(tmp_path: Path) -> None:
    text = _report(tmp_path).read_text()
    assert 'alt="idle addresses, cluster total over time"' in text
    assert 'alt="pod IP wait distribution"' in text
    for key in ("idle_ips_mean", "ip_wait_seconds", "ec2_mutating_calls", "subnet_used_max", "pods_never_got_ip"):
        assert f"<th>{key}</th>" in text


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_efficiency_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = _report(tmp_path)
    dom = rendered_dom(report, tmp_path)
    assert 'data-figures-loaded="8/8"' in dom
