"""Stand-in modules for the golden scripts (conformance_golden.py, coach_golden.py), which import the
DeepRacer simapp's own code out of this tree: a module it imports but the path under test never uses is
replaced by an empty one before the import."""

from __future__ import annotations

import sys
import types


def stand_in(name: str, **attrs) -> types.ModuleType:
    """Register an empty module ``name`` (with ``attrs``) in sys.modules and return it."""
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m
