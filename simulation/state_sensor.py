"""STATE: a small observation vector for fast reward-function iteration (not a DeepRacer sensor).

Layout (float32, length STATE_SIZE), everything in the car frame (x forward, y left) relative to
the reward reference point, in metres:
- [0, 2N): centre-line points at LOOKAHEAD_M ahead along the track, (x, y) pairs
- [2N, 4N): left-border points (relative to travel) at the same arc lengths
- [4N, 6N): right-border points
- 6N: actual speed / MAX_SPEED_MPS, 6N+1: actual steering / max steering (both about [-1, 1])
Values are clipped to +-STATE_CLIP.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from core.observations import STATE_CLIP, STATE_SIZE

from . import car

LOOKAHEAD_M = np.arange(1, 11) * 0.3
if 6 * len(LOOKAHEAD_M) + 2 != STATE_SIZE:          # the size lives in core (the networks read it there)
    raise ImportError(f"STATE layout ({6 * len(LOOKAHEAD_M) + 2}) and core.observations.STATE_SIZE ({STATE_SIZE}) differ")


def observation_space() -> spaces.Box:
    from .sensors import observation_space_for

    return observation_space_for("STATE")


def state_vector(tracks, state: car.CarState, reversed_: np.ndarray, arc_m: np.ndarray,
                 ref_xy: np.ndarray) -> np.ndarray:
    """(K, STATE_SIZE) float32 for K cars; ``tracks`` is a params.TrackPair, ``arc_m`` each car's
    reference-point arc in its driving direction."""
    k = len(arc_m)
    n = len(LOOKAHEAD_M)
    world = np.zeros((k, 3 * n, 2))
    for flag in (False, True):
        sel = np.flatnonzero(reversed_ == flag)
        if sel.size == 0:
            continue
        tr = tracks.track(flag)
        arcs = arc_m[sel, None] + LOOKAHEAD_M[None]
        world[sel] = np.concatenate([tr.center_at(arcs), tr.left_at(arcs), tr.right_at(arcs)], axis=1)
    rel = world - ref_xy[:, None, :]
    c, s = np.cos(state.yaw)[:, None], np.sin(state.yaw)[:, None]
    local = np.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]], axis=-1)
    out = np.empty((k, STATE_SIZE), np.float32)
    out[:, : 6 * n] = local.reshape(k, -1)
    out[:, 6 * n] = state.speed_mps / car.MAX_SPEED_MPS
    out[:, 6 * n + 1] = state.steering_rad / np.deg2rad(car.MAX_STEERING_DEG)
    return np.clip(out, -STATE_CLIP, STATE_CLIP)
