"""The HTML report renders in headless Chromium with every figure decoded."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpccni.cli import app

SCENARIO = Path(__file__).parents[2] / "scenarios" / "scale-out.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _report(tmp_path: Path) -> Path:
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["simulate", str(SCENARIO), "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    return report


def test_report_is_self_contained_with_eight_figures(tmp_path: Path) -> None:
    text = _report(tmp_path).read_text()
    assert len(re.findall(r'<img class="figure" alt="[^"]+" src="data:image/png;base64,', text)) == 8
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    assert "scale-up" in text and "scale-down" in text and "nodes_final" in text


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make chromium installs Debian's package)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = _report(tmp_path)
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*base, "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert 'data-figures-loaded="8/8"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*base, "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120
    )
    assert shot.stat().st_size > 20_000  # a page with plots, not a blank one
