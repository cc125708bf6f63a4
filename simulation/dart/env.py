"""DartEnv: the BatchedEnv whose cars move in DART as the v6 reference's car (simulation/dart/car.py).

Only the motion is DART's (``_advance_cars``: each car's commands go to its DartCar for 1/15 s; the pose
and motion it reports become the car's state). Everything else is the fast simulator's own code at that
pose: track, episodes and statuses, progress, the reward params and the reward call, the camera, the lidar,
objects and bots and their crash rules, domain randomization. Each car has a DART world of its own (cars
do not touch each other, as in the fast simulator). For evaluation and checking (300-380 env steps/s for one
car on a 2-core machine, docs/dart.md), not for training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import car
from ..env import BatchedEnv
from ..race import RaceConfig
from ..track import Track
from .car import DartCar


class DartEnv(BatchedEnv):
    """``num_cars`` cars on ``track``, each moved by its own DartCar. Same arguments and results as
    BatchedEnv."""

    def __init__(self, track: str | Track = "reinvent_base", reward_function: Any = None,
                 model_metadata: Any = None, race: RaceConfig | dict | None = None, num_cars: int = 1,
                 seed: int | None = None, autoreset: bool = True, domain_randomization: bool = False,
                 episode_offset: int = 0):
        super().__init__(track, reward_function, model_metadata, race, num_cars=num_cars, seed=seed,
                         autoreset=autoreset, domain_randomization=domain_randomization,
                         episode_offset=episode_offset)
        stereo = "STEREO_CAMERAS" in self.sensor_names
        self.cars = [DartCar(stereo=stereo) for _ in range(self.k)]

    # ------------------------------------------------------------------ reset: the DART cars go where the episode starts
    def _reset_cars(self, cars: np.ndarray) -> None:
        super()._reset_cars(cars)
        self._put(cars)

    def _respawn(self, cars: np.ndarray, m, status: np.ndarray | None = None) -> None:
        super()._respawn(cars, m, status)
        self._put(cars)

    def _put(self, cars) -> None:
        if not hasattr(self, "cars"):     # BatchedEnv's own set-up, before the DART cars exist
            return
        s = self.state
        for i in np.asarray(cars, dtype=int).tolist():
            self.cars[i].put(float(s.x[i]), float(s.y[i]), float(s.yaw[i]))

    # ------------------------------------------------------------------ step: DART moves the cars
    def _advance_cars(self, move: np.ndarray, steer_deg: np.ndarray, speed_mps: np.ndarray) -> np.ndarray:
        s = self.state
        moved = np.zeros(self.k)
        for i, dart_car in enumerate(self.cars):
            if move[i]:
                dart_car.step(float(np.deg2rad(steer_deg[i])), float(speed_mps[i]) / car.WHEEL_RADIUS_M)
                m = dart_car.motion()
                moved[i] = np.hypot(m.x - s.x[i], m.y - s.y[i])
                s.x[i], s.y[i], s.yaw[i] = m.x, m.y, m.yaw
                s.speed_mps[i], s.lateral_mps[i] = m.speed_mps, m.lateral_mps
                s.yaw_rate_rps[i], s.steering_rad[i] = m.yaw_rate_rps, m.steering_rad
            else:   # held (prepare step, evaluation pause): the reference commands speed 0 and steering 0
                dart_car.step(0.0, 0.0)
        return moved
