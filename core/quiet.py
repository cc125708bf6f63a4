"""Quiet start-up: TensorFlow's C++ libraries print absl and oneDNN notices straight to file
descriptor 2 while they load, before any log level applies. ``import_tensorflow`` loads TensorFlow
once with that descriptor pointed at /dev/null; later imports of ``tensorflow`` are then silent.
An import that fails still raises (with its message) after stderr is back.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow():
    """``import tensorflow`` without its start-up notices; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):     # no real stderr (captured): nothing to hide
        import tensorflow
        return tensorflow
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        import tensorflow
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
    return tensorflow


__all__ = ["import_tensorflow"]
