"""Steady corners of a fast car model, measured in the simulator: the limits the racing line is computed with.

A car model (core.config CAR_DYNAMICS_MODELS) holds each steering angle of STEER_GRID_DEG at each commanded speed
of SPEED_GRID_MPS for HOLD_S from rest (all of them at once, one batch); over the last TAIL_S the table keeps its
ground speed and the curvature of its path (yaw rate / speed). A car that is not in a steady corner there has
none: it spins (yaw rate above SPIN_RATIO of the kinematic one), or its slip angle (the angle between its heading
and its course) is above MAX_SLIP_RAD or still changing by more than SLIP_DRIFT_RAD over the tail. From the table:

- ``max_curvature(v)``: the tightest steady corner the car holds at ground speed ``v`` or faster (over every
  steering angle, so a car whose front slides or whose wheels fight turns less than its steering asks);
- ``max_speed(kappa)``: the fastest ground speed at which it holds curvature ``kappa``;
- ``steering_deg(kappa, v)``: the steering angle that holds ``kappa`` at ``v``.

The two-contact car (v6-two) follows the kinematic circle until its front slides; the four-contact cars (v6-four,
v5) turn wider already at walking pace (their wheels fight), so they need more steering for the same corner.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import car

STEER_GRID_DEG = tuple(np.arange(0.0, car.MAX_STEERING_DEG + 0.01, 2.5).tolist())
SPEED_GRID_MPS = tuple(np.arange(0.25, car.MAX_SPEED_MPS + 0.01, 0.25).tolist())
HOLD_S = 4.0
TAIL_S = 1.5
SPIN_RATIO = 1.05
MAX_SLIP_RAD = 0.35
SLIP_DRIFT_RAD = 0.05


@dataclass(frozen=True)
class CornerTable:
    """Steady corners of car model ``dynamics``: rows STEER_GRID_DEG, columns SPEED_GRID_MPS (commanded)."""

    dynamics: str
    steer_deg: np.ndarray       # (S,)
    ground_speed_mps: np.ndarray  # (S, V) mean ground speed over the tail
    curvature: np.ndarray       # (S, V) 1/m, nan where the car spins

    @property
    def digest(self) -> str:
        """A short hash of the table (part of the racing line's cache key)."""
        h = hashlib.sha256(self.dynamics.encode())
        for a in (self.steer_deg, self.ground_speed_mps, np.nan_to_num(self.curvature, nan=-1.0)):
            h.update(np.round(a, 6).tobytes())
        return h.hexdigest()[:10]

    def max_curvature(self, speed_mps) -> np.ndarray:
        """The tightest steady curvature [1/m] held at ground speed ``speed_mps`` or faster (non-increasing)."""
        v, k = self._envelope()
        return np.interp(np.asarray(speed_mps, float), v, k)

    def _envelope(self) -> tuple[np.ndarray, np.ndarray]:
        """The cells that set max_curvature, by rising speed: each holds a tighter corner than every faster
        cell. Between them the limit is linear in speed (a staircase would make the racing line's corner
        speeds jump with the sampling of a curvature peak)."""
        v = self.ground_speed_mps.ravel()
        k = np.nan_to_num(self.curvature.ravel(), nan=0.0)
        order = np.argsort(-v, kind="stable")
        v, k = v[order], k[order]
        best = np.maximum.accumulate(k)
        new = np.concatenate([[True], best[1:] > best[:-1]])     # a tighter corner than any faster cell
        return v[new][::-1], best[new][::-1]

    def max_speed(self, curvature) -> np.ndarray:
        """The fastest ground speed [m/s] at which the car holds ``|curvature|``; 0 beyond its tightest corner."""
        grid = np.linspace(0.0, float(np.nanmax(self.ground_speed_mps)), 400)
        kmax = self.max_curvature(grid)
        k = np.abs(np.asarray(curvature, float))
        # kmax is non-increasing in speed: the last grid speed that still holds k
        idx = np.searchsorted(-kmax, -k, side="right") - 1
        return np.where(idx >= 0, grid[np.clip(idx, 0, len(grid) - 1)], 0.0)

    def steering_deg(self, curvature, speed_mps) -> np.ndarray:
        """The steering angle [deg] (sign of ``curvature``) that holds ``curvature`` at ground speed ``speed_mps``;
        full lock where no angle does."""
        k = np.abs(np.asarray(curvature, float))
        v = np.broadcast_to(np.asarray(speed_mps, float), k.shape)
        # each steering row's steady curvature at the wanted speed (rows beyond a spin: nan)
        rows = np.empty((len(self.steer_deg),) + k.shape)
        for i in range(len(self.steer_deg)):
            ok = np.isfinite(self.curvature[i])
            rows[i] = np.interp(v, self.ground_speed_mps[i][ok], self.curvature[i][ok]) if ok.sum() >= 2 else np.nan
        rows = np.nan_to_num(rows, nan=0.0)
        rows = np.maximum.accumulate(rows, axis=0)        # more steering never asks for less curvature
        above = (rows < k).sum(axis=0)                    # rows below the wanted curvature
        hi = np.minimum(above, len(self.steer_deg) - 1)
        lo = np.maximum(hi - 1, 0)
        k_lo = np.take_along_axis(rows, lo[None], 0)[0]
        k_hi = np.take_along_axis(rows, hi[None], 0)[0]
        w = np.clip((k - k_lo) / np.maximum(k_hi - k_lo, 1e-12), 0.0, 1.0)
        out = np.where(above >= len(self.steer_deg), self.steer_deg[-1],
                       self.steer_deg[lo] + w * (self.steer_deg[hi] - self.steer_deg[lo]))
        out = np.where(above == 0, 0.0, out)
        return np.sign(np.asarray(curvature, float)) * out


@lru_cache(maxsize=8)
def corner_table(dynamics: str) -> CornerTable:
    """Measure the steady corners of car model ``dynamics`` (a name of core.config CAR_DYNAMICS_MODELS)."""
    step = car.dynamics_step(dynamics)
    steer = np.radians(np.array(STEER_GRID_DEG))
    speeds = np.array(SPEED_GRID_MPS)
    s_grid, v_grid = np.meshgrid(steer, speeds, indexing="ij")
    cmd_steer, cmd_speed = s_grid.ravel(), v_grid.ravel()
    state = car.CarState.zeros(cmd_steer.size)
    n = int(round(HOLD_S * car.STEP_HZ))
    tail = int(round(TAIL_S * car.STEP_HZ))
    rates, vels, angles, slips = [], [], [], []
    for i in range(n):
        step(state, cmd_speed, cmd_steer, car.STEP_S)
        if i >= n - tail:
            rates.append(state.yaw_rate_rps.copy())
            vels.append(np.hypot(state.speed_mps, state.lateral_mps))
            angles.append(state.steering_rad.copy())
            slips.append(np.arctan2(state.lateral_mps, np.maximum(state.speed_mps, 1e-6)))
    rate, vel, angle = np.mean(rates, 0), np.mean(vels, 0), np.mean(angles, 0)
    kappa = rate / np.maximum(vel, 1e-6)
    kinematic = np.tan(angle) / car.WHEELBASE_M
    spin = (kappa > SPIN_RATIO * kinematic + 1e-6) | (np.max(np.abs(slips), 0) > MAX_SLIP_RAD) | \
        (np.abs(slips[-1] - slips[0]) > SLIP_DRIFT_RAD)
    kappa = np.where(spin, np.nan, kappa)
    shape = s_grid.shape
    return CornerTable(dynamics, np.array(STEER_GRID_DEG), vel.reshape(shape), kappa.reshape(shape))
