"""matplotlib for the pictures this project writes: one home for the choice of backend."""

from __future__ import annotations

import sys
from types import ModuleType


def pyplot() -> ModuleType:
    """``matplotlib.pyplot``, drawing off screen (Agg: no window, no display needed) except inside a
    Jupyter kernel, whose own backend shows the figures the Python API returns (deepracer_local)."""
    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
