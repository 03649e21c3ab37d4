"""CloudTrail analysis: read real (or simulated) trails, reconstruct what ipamd did, diagnose, replay."""

from vpccni.trail.analysis import Analysis, Window, analyse, analyse_events, load_events
from vpccni.trail.findings import Finding
from vpccni.trail.readers import ReadStats, TrailReadError

__all__ = ["Analysis", "Finding", "ReadStats", "TrailReadError", "Window", "analyse", "analyse_events", "load_events"]
