"""The HTML report renders in headless Chromium with every figure decoded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.headless import CHROMIUM, SKIP_REASON, rendered_dom, screenshot
from vpccni.cli import app

SCENARIO = Path(__file__).parents[2] / "scenarios" / "scale-out.yaml"


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


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = _report(tmp_path)
    dom = rendered_dom(report, tmp_path)
    assert 'data-figures-loaded="8/8"' in dom
    shot = screenshot(report, tmp_path)
    assert shot.stat().st_size > 20_000  # a page with plots, not a blank one
