"""Headless Chromium for the report tests: the page's DOM after its scripts ran, and a screenshot.

Every vpccni report sets `data-figures-loaded="N/M"` on <body> once its figures decoded (report/page.py);
the tests read it from the DOM Chromium dumps.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_REASON = "Chromium is not installed (make chromium installs Debian's package)"


def _base(workdir: Path) -> list[str]:
    return [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={workdir / 'profile'}"]


def rendered_dom(page: Path, workdir: Path) -> str:
    """The page's DOM once loaded, as Chromium serialises it."""
    return subprocess.run(
        [*_base(workdir), "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def screenshot(page: Path, workdir: Path) -> Path:
    """A 1200×1600 PNG of the page."""
    shot = workdir / "shot.png"
    command = [*_base(workdir), "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()]
    subprocess.run(command, capture_output=True, timeout=120)
    return shot
