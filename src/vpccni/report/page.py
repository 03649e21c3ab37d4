"""What every vpccni HTML page shares: figures as PNG data URIs, and the script that lets a headless browser
check that they all decoded (the simulate, advise and trail reports use it alike)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  - the backend must be chosen first

# Sets data-figures-loaded on <body> once every figure decoded: a headless browser can check it.
SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.figure'));
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-figures-loaded', ok + '/' + imgs.length);
});
"""


def png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed (a long report must not keep them all)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def img(data: bytes, alt: str) -> str:
    """An <img> holding the PNG itself, so the page needs no other file."""
    encoded = base64.b64encode(data).decode()
    return f'<img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'
