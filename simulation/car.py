"""The DeepRacer car: dimensions, control step, action handling and a batched kinematic model.

Frame: the car's origin is the chassis centre (the URDF's base_link, as the reference's car pose),
x forward, y left, yaw counter-clockwise from the world +x axis [rad]. The rear axle sits
REAR_AXLE_X_M behind it and the front steering hinges FRONT_AXLE_X_M ahead of it. All functions
work on K cars at once (leading array dimension K).

Where each constant comes from (spec = ../shared/spec/deepracer-compat.md, a copy of the facts of
the DeepRacer simapp and its car model):
- WHEELBASE_M 0.164, TRACK_WIDTH_M 0.16, WHEEL_RADIUS_M 0.035: spec section 4 (car model
  version >= 3).
- REAR_AXLE_X_M -0.0817, FRONT_AXLE_X_M +0.0823: the rear axle and the front steering hinges
  relative to the chassis centre (the simapp's car URDF; spec section 9). Their distance is the
  wheelbase.
- BODY_WIDTH_M 0.1961 x BODY_LENGTH_M 0.32352: the car footprint the simapp uses for collisions
  (spec section 1, `is_crashed`), centred on the chassis centre.
- REFERENCE_POINT_AHEAD_M 0.14: reward params x, y, progress... are measured this far ahead of the
  chassis centre along the heading (simapp markov/agent_ctrl/constants.py; spec section 9).
- STEP_HZ 15: the camera frame paces the DeepRacer step (spec section 4).
- Speed [0.1, 4.0] m/s and steering +-30 deg clipping: spec section 4.
- Camera pose: 0.0917 m ahead of the rear axle (0.01 m ahead of the chassis centre), 0.08 m above
  the ground, pitched 15 deg down, horizontal FOV 1.13 rad, 640x480 rendered and resized to 160x120
  (spec section 2; the reference's pose, 0.1453 m ahead of the chassis centre, is the fidelity
  issue's camera step).
- SPEED_TIME_CONSTANT_S 0.25 and STEERING_TIME_CONSTANT_S 0.10: first-order lags of the speed and
  steering servos. Not in the spec: our estimates of the Gazebo car's wheel-velocity and steering
  controllers (it reaches a commanded speed in well under a second and turns its wheels within a
  few frames). They make speed and steering continuous, as on the real car.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REAR_AXLE_X_M = -0.0817
FRONT_AXLE_X_M = 0.0823
WHEELBASE_M = 0.164
assert abs(FRONT_AXLE_X_M - REAR_AXLE_X_M - WHEELBASE_M) < 1e-9
TRACK_WIDTH_M = 0.16
WHEEL_RADIUS_M = 0.035
BODY_LENGTH_M = 0.32352
BODY_WIDTH_M = 0.1961
#: Body centre ahead of the origin [m]: the body is centred on the chassis centre.
BODY_CENTER_AHEAD_M = 0.0
REFERENCE_POINT_AHEAD_M = 0.14

STEP_HZ = 15.0
STEP_S = 1.0 / STEP_HZ

MIN_SPEED_MPS = 0.1
MAX_SPEED_MPS = 4.0
MAX_STEERING_DEG = 30.0

SPEED_TIME_CONSTANT_S = 0.25
STEERING_TIME_CONSTANT_S = 0.10

CAMERA_AHEAD_M = 0.0917 + REAR_AXLE_X_M
CAMERA_HEIGHT_M = 0.08
CAMERA_PITCH_DOWN_RAD = np.deg2rad(15.0)
CAMERA_HFOV_RAD = 1.13
CAMERA_HEIGHT_PX = 120
CAMERA_WIDTH_PX = 160
#: Half distance between the two stereo lenses [m]. Not in the spec; the DeepRacer Evo's two
#: cameras sit about 6 cm apart.
STEREO_HALF_BASELINE_M = 0.03

#: Wheel contact points (4, 2) in the car frame: rear-left, rear-right, front-left, front-right.
WHEEL_POINTS_M = np.array([
    [REAR_AXLE_X_M, TRACK_WIDTH_M / 2], [REAR_AXLE_X_M, -TRACK_WIDTH_M / 2],
    [FRONT_AXLE_X_M, TRACK_WIDTH_M / 2], [FRONT_AXLE_X_M, -TRACK_WIDTH_M / 2],
])
#: Body corners (4, 2) in the car frame, counter-clockwise from rear-right.
BODY_CORNERS_M = np.array([
    [BODY_CENTER_AHEAD_M - BODY_LENGTH_M / 2, -BODY_WIDTH_M / 2],
    [BODY_CENTER_AHEAD_M + BODY_LENGTH_M / 2, -BODY_WIDTH_M / 2],
    [BODY_CENTER_AHEAD_M + BODY_LENGTH_M / 2, BODY_WIDTH_M / 2],
    [BODY_CENTER_AHEAD_M - BODY_LENGTH_M / 2, BODY_WIDTH_M / 2],
])


def clip_speed(speed_mps):
    return np.clip(speed_mps, MIN_SPEED_MPS, MAX_SPEED_MPS)


def clip_steering(steering_deg):
    return np.clip(steering_deg, -MAX_STEERING_DEG, MAX_STEERING_DEG)


def to_world(x, y, yaw, local_points: np.ndarray) -> np.ndarray:
    """Car-frame points (P, 2) of K cars at poses (x, y, yaw each (K,)) -> world points (K, P, 2)."""
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    px, py = local_points[None, :, 0], local_points[None, :, 1]
    return np.stack([x[:, None] + c * px - s * py, y[:, None] + s * px + c * py], axis=-1)


@dataclass
class CarState:
    """State of K cars. Speeds and steering are the *actual* (lagged) values."""

    x: np.ndarray          # (K,) m, chassis centre
    y: np.ndarray          # (K,) m
    yaw: np.ndarray        # (K,) rad
    speed_mps: np.ndarray  # (K,)
    steering_rad: np.ndarray  # (K,) positive = left

    @classmethod
    def zeros(cls, k: int) -> "CarState":
        z = np.zeros(k)
        return cls(z.copy(), z.copy(), z.copy(), z.copy(), z.copy())

    def subset(self, cars: np.ndarray) -> "CarState":
        """A copy of the state of the cars with indices ``cars``."""
        return CarState(self.x[cars], self.y[cars], self.yaw[cars], self.speed_mps[cars], self.steering_rad[cars])

    def stop(self, cars: np.ndarray) -> None:
        """Bring the cars with indices ``cars`` to rest (speed, steering and every other motion state 0),
        in place; their pose stays."""
        self.speed_mps[cars] = 0.0
        self.steering_rad[cars] = 0.0

    def reference_point(self) -> np.ndarray:
        """(K, 2) the point REFERENCE_POINT_AHEAD_M ahead of the origin, where reward params are measured."""
        return np.stack([self.x + REFERENCE_POINT_AHEAD_M * np.cos(self.yaw),
                         self.y + REFERENCE_POINT_AHEAD_M * np.sin(self.yaw)], axis=1)

    def rear_axle(self) -> np.ndarray:
        """(K, 2) the centre of the rear axle (the point the bicycle model moves along its heading)."""
        return np.stack([self.x + REAR_AXLE_X_M * np.cos(self.yaw), self.y + REAR_AXLE_X_M * np.sin(self.yaw)], axis=1)

    def wheel_points(self) -> np.ndarray:
        return to_world(self.x, self.y, self.yaw, WHEEL_POINTS_M)

    def body_corners(self) -> np.ndarray:
        return to_world(self.x, self.y, self.yaw, BODY_CORNERS_M)


def step_kinematics(state: CarState, speed_cmd_mps: np.ndarray, steering_cmd_rad: np.ndarray,
                    dt_s: float = STEP_S, mask: np.ndarray | None = None) -> np.ndarray:
    """Advance K cars by dt with a kinematic bicycle model and first-order servo lags, in place.

    The rear axle moves along an exact circular arc; the chassis centre (the state's x, y) follows
    it. ``mask`` (K,) bool selects the cars that move (others stay put). Returns the distance each
    car's rear axle moved [m] (K,).
    """
    a_v = 1.0 - np.exp(-dt_s / SPEED_TIME_CONSTANT_S)
    a_d = 1.0 - np.exp(-dt_s / STEERING_TIME_CONSTANT_S)
    v0 = state.speed_mps
    d0 = state.steering_rad
    v1 = v0 + a_v * (speed_cmd_mps - v0)
    d1 = d0 + a_d * (steering_cmd_rad - d0)
    # Mean speed and steering over the step, then an exact circular arc.
    v = 0.5 * (v0 + v1)
    curvature = np.tan(0.5 * (d0 + d1)) / WHEELBASE_M
    dist = v * dt_s
    dyaw = dist * curvature
    small = np.abs(dyaw) < 1e-9
    safe = np.where(small, 1.0, dyaw)
    # chord length and direction of an arc of length dist turning by dyaw
    chord = np.where(small, dist, 2.0 * np.sin(0.5 * dyaw) * dist / safe)
    heading_mid = state.yaw + 0.5 * dyaw
    yaw1 = state.yaw + dyaw
    # rear axle displacement, and the chassis centre's offset from it turning with the car
    dx = chord * np.cos(heading_mid) - REAR_AXLE_X_M * (np.cos(yaw1) - np.cos(state.yaw))
    dy = chord * np.sin(heading_mid) - REAR_AXLE_X_M * (np.sin(yaw1) - np.sin(state.yaw))
    if mask is None:
        mask = np.ones(v0.shape, bool)
    state.x = np.where(mask, state.x + dx, state.x)
    state.y = np.where(mask, state.y + dy, state.y)
    state.yaw = np.where(mask, wrap_angle(yaw1), state.yaw)
    state.speed_mps = np.where(mask, v1, v0)
    state.steering_rad = np.where(mask, d1, d0)
    return np.where(mask, np.abs(chord), 0.0)


def wrap_angle(a):
    """Wrap radians into (-pi, pi]."""
    return np.pi - np.mod(np.pi - a, 2.0 * np.pi)
