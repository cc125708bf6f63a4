"""The DART backend: the car of the v6 reference (simapp v6: gz-sim with DART physics) in DART itself.

- ``car``: ``DartCar``, one v6 car on a flat field in a DART world of its own, built from the facts of
  docs/dart-v6-facts.md (the car URDF as sdformat lumps it, the wheels' meshes, friction, joint limits, the
  gz_ros2_control controllers, the 1 ms physics step) and doing what gz-physics' dartsim plugin does on
  top of DART (the ODE collision detector, limits always enforced, velocity commands as servos).
- ``env``: ``DartEnv``, a BatchedEnv whose cars move in DART; the track, reward params, camera, lidar,
  objects, episodes and statuses are the fast simulator's own code at the pose DART gives.

``dartpy`` (pip) is imported on first use; without it a ``DartError`` says how to install it.
"""

from __future__ import annotations


class DartError(RuntimeError):
    """The DART backend cannot run: dartpy is missing or broken (the message says what to do)."""


#: The pip requirement of the DART backend (pyproject.toml's ``dart`` extra; ``make install`` installs it).
DARTPY_REQUIREMENT = "dartpy>=6.19,<7"


def import_dartpy():
    """The ``dartpy`` module, or a DartError naming the requirement and how to install it."""
    try:
        import dartpy
    except ImportError as exc:
        raise DartError(f"BACKEND=dart needs the DART physics engine's Python package ({DARTPY_REQUIREMENT}), "
                        f"which did not import ({exc}); install it with `make install` or "
                        f"`pip install '{DARTPY_REQUIREMENT}'`") from None
    needed = ("OdeCollisionDetector",)
    if not all(hasattr(getattr(dartpy, "collision", None), n) for n in needed):
        raise DartError(f"the installed dartpy ({getattr(dartpy, '__version__', 'unknown version')}) has no "
                        f"ODE collision detector, which gz-physics uses; install {DARTPY_REQUIREMENT}")
    return dartpy
