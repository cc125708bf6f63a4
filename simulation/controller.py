"""A simple built-in driver: pure pursuit of the centre line.

Used by the reward checker (to exercise a reward function before training), by tests (every loop
track can be driven round) and by benchmarks. It reads the env's car state and track; it is not a
trained policy.
"""

from __future__ import annotations

import numpy as np

from . import car
from .env import BatchedEnv
from .steady_corners import corner_table


def pure_pursuit(env: BatchedEnv, lookahead_m: float = 0.45, target_speed_mps: float = 1.0,
                 steering_noise_deg: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Actions for every car of ``env`` that steer towards a centre-line point ``lookahead_m`` ahead.

    The arc to that point asks for a curvature; the steering is the angle at which the env's car model holds
    that curvature at the car's speed in a steady corner (simulation/steady_corners.py: a car whose wheels
    fight needs more than the kinematic atan(wheelbase x curvature)). Discrete action spaces get the action
    closest to the wanted (steering, speed); continuous ones get the wanted values scaled to [-1, 1].
    """
    s = env.state
    m = env.tracks.measure(s, env.reversed)
    target = np.zeros((env.k, 2))
    for flag in (False, True):
        sel = np.flatnonzero(env.reversed == flag)
        if sel.size:
            target[sel] = env.tracks.track(flag).center_at(m.arc_m[sel] + lookahead_m)
    rear = s.rear_axle()                  # pure pursuit steers the rear axle's arc
    dx, dy = target[:, 0] - rear[:, 0], target[:, 1] - rear[:, 1]
    alpha = np.arctan2(dy, dx) - s.yaw
    alpha = np.pi - np.mod(np.pi - alpha, 2 * np.pi)
    dist = np.maximum(np.hypot(dx, dy), 1e-6)
    curvature = 2.0 * np.sin(alpha) / dist
    table = corner_table(getattr(env, "dynamics", None) or car.effective_dynamics())
    steer_deg = table.steering_deg(curvature, np.maximum(np.abs(s.speed_mps), 0.25))
    if steering_noise_deg > 0:
        steer_deg = steer_deg + (rng or np.random.default_rng()).normal(0.0, steering_noise_deg, env.k)
    steer_deg = car.clip_steering(steer_deg)
    speed = np.full(env.k, float(target_speed_mps))
    md = env.metadata
    if md.is_discrete:
        table = np.array([[a.steering_angle_deg / car.MAX_STEERING_DEG, a.speed_mps / car.MAX_SPEED_MPS]
                          for a in md.discrete_actions])
        want = np.stack([steer_deg / car.MAX_STEERING_DEG, speed / car.MAX_SPEED_MPS], axis=1)
        # steering matters most: weigh it 4x against speed
        d = (4 * (table[None, :, 0] - want[:, None, 0])) ** 2 + (table[None, :, 1] - want[:, None, 1]) ** 2
        return np.argmin(d, axis=1)
    c = md.continuous
    steer_n = 2 * (np.clip(steer_deg, c.steering_low_deg, c.steering_high_deg) - c.steering_low_deg) / \
        max(c.steering_high_deg - c.steering_low_deg, 1e-9) - 1
    speed_n = 2 * (np.clip(speed, c.speed_low_mps, c.speed_high_mps) - c.speed_low_mps) / \
        max(c.speed_high_mps - c.speed_low_mps, 1e-9) - 1
    return np.stack([steer_n, speed_n], axis=1).astype(np.float32)
