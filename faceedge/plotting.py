"""Matplotlib, imported only where a plot is drawn, headless, with a clear error when it is missing."""

from __future__ import annotations

from faceedge.errors import require


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (plots are files, never windows)."""
    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
