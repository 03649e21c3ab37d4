"""Reports of cluster simulations: figures (matplotlib) and a self-contained HTML page."""

from vpccni.report.html import render_html

__all__ = ["render_html"]
