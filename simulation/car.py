"""The DeepRacer car: dimensions, control step, action handling and the batched car state.

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
- Camera (simapp urdf/deepracer/deepracer_single_cam.urdf and racecar.gazebo): the lens
  (camera_link) sits 0.14529 m ahead of the chassis centre and 0.13033 m above the model origin,
  through zed_camera_joint (0.091711, 0, 0.080023) m pitched 0.2618 rad (15 deg) down on the chassis
  (0.023249 m above base_link) and camera_joint (0.044755, 0, 0.04) m in the pitched frame; the
  simapp's markov/cameras/frustum.py uses the same (0.14529379, 0, 0.13032555). We put the model
  origin on the ground (the wheel meshes, radius 0.036 m, seat the car within 3 mm of it); the camera
  looks CHASSIS_TILT_UP_RAD (1.4 deg) less down than its mount angle, as the car rests nose up on its
  wheels (calibrated against the Gazebo backend: CAMERA_VIEW_PITCH_DOWN_RAD). Horizontal FOV 1.13 rad, 640x480 (the vertical FOV follows from the aspect ratio),
  near clip 0.02 m, resized to 160x120. Stereo: camera_link_leftcam / _rightcam at y = +-0.03 m.
- Motion: the car model ``effective_dynamics`` names (core.config CAR_DYNAMICS_MODELS): by default
  simulation/dynamics_four.py's four-contact car fitted to the v6 car in DART (docs/dart.md), on the body,
  grip, v6 steering controller and wheel-radius speed factor of simulation/dynamics.py (its constants and
  their sources are listed there), whose two-contact car is ``v6-two``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from core.config import CAR_DYNAMICS_MODELS, car_dynamics_model

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

#: Lens ahead of the chassis centre [m] and above the ground [m]; pitch [rad] (the URDF's 0.2618).
CAMERA_AHEAD_M = 0.14529
CAMERA_HEIGHT_M = 0.13033
CAMERA_PITCH_DOWN_RAD = 0.2618
CAMERA_HFOV_RAD = 1.13
CAMERA_HEIGHT_PX = 120
CAMERA_WIDTH_PX = 160
#: The car's resting tilt, nose up [rad]: the rear wheels' centres sit 0.038999 m above the model origin and
#: the front ones 0.035008 m (the URDF's wheel and hinge joint origins), so on four wheels of one radius
#: the chassis rises towards the front by their difference over the wheelbase (derived: 0.0243 rad = 1.39
#: deg). The Gazebo backend's car rests at exactly this pitch (0.0243 rad measured), and the fast camera
#: matches its frames best with it (docs/gazebo.md: mean difference after brightness matching 11.0 -> 6.1
#: gray levels over six poses on reinvent_base).
CHASSIS_TILT_UP_RAD = float(np.arctan2(0.038999 - 0.035008, 0.082311 + 0.081663))
#: The camera's pitch below the horizon as it looks [rad]: the URDF's mount angle less the resting tilt.
#: The renderer uses this; object_in_camera keeps the reference frustum's CAMERA_PITCH_DOWN_RAD.
CAMERA_VIEW_PITCH_DOWN_RAD = CAMERA_PITCH_DOWN_RAD - CHASSIS_TILT_UP_RAD
#: Vertical field of view [rad]: Gazebo derives it from the horizontal one and the 640x480 aspect.
CAMERA_VFOV_RAD = 2.0 * np.arctan(np.tan(CAMERA_HFOV_RAD / 2) * CAMERA_HEIGHT_PX / CAMERA_WIDTH_PX)
#: Near clip plane of the rendered camera [m] (racecar.gazebo <clip><near>; object_in_camera's
#: frustum uses 0.2 m, markov/cameras/frustum.py).
CAMERA_CLIP_NEAR_M = 0.02
#: Half distance between the two stereo lenses [m] (zed_camera_joint_leftcam / _rightcam, y = +-0.03).
STEREO_HALF_BASELINE_M = 0.03

#: The wheel points the reward params test against the road (4, 2) in the car frame: rear-left,
#: rear-right, front-left, front-right. The reference tests the wheel links' origins (simapp
#: urdf/deepracer: rear wheels at (-0.081663, +-0.08105) m, front wheels at the steering hinges
#: (0.082311, +-0.079601) m; agent_ctrl/utils.py, OffTrackResetRule), not contact points.
WHEEL_POINTS_M = np.array([
    [-0.081663, 0.08105], [-0.081663, -0.08105],
    [0.082311, 0.079601], [0.082311, -0.079601],
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
    """State of K cars: pose, and the *actual* motion (velocities, steering), not the commands.

    The first five fields can be given positionally; the other motion fields default to 0.
    """

    x: np.ndarray          # (K,) m, chassis centre
    y: np.ndarray          # (K,) m
    yaw: np.ndarray        # (K,) rad
    speed_mps: np.ndarray  # (K,) forward speed of the chassis [m/s] (body x)
    steering_rad: np.ndarray  # (K,) actual front wheel angle [rad], positive = left
    lateral_mps: np.ndarray | None = None    # (K,) sideways velocity of the chassis centre [m/s] (body y, + left)
    yaw_rate_rps: np.ndarray | None = None   # (K,) [rad/s], counter-clockwise

    def __post_init__(self):
        for f in fields(self):
            if getattr(self, f.name) is None:
                setattr(self, f.name, np.zeros(np.shape(self.x)))

    @classmethod
    def zeros(cls, k: int) -> "CarState":
        return cls(*(np.zeros(k) for _ in fields(cls)))

    def subset(self, cars: np.ndarray) -> "CarState":
        """A copy of the state of the cars with indices ``cars``."""
        return CarState(*(np.array(getattr(self, f.name)[cars]) for f in fields(self)))

    def stop(self, cars: np.ndarray) -> None:
        """Bring the cars with indices ``cars`` to rest (speed, steering and every other motion state 0),
        in place; their pose stays."""
        for f in fields(self):
            if f.name not in ("x", "y", "yaw"):
                getattr(self, f.name)[cars] = 0.0

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
                    dt_s: float = STEP_S, mask: np.ndarray | None = None, dynamics: str = "") -> np.ndarray:
    """Advance K cars by dt with the commanded speed [m/s] and steering [rad] (K,) each, in place.

    The motion model is the car model ``effective_dynamics(dynamics)`` names (core.config
    CAR_DYNAMICS_MODELS): by default ``v6-four``, simulation/dynamics_four.py's car fitted to the v6 car in DART
    (grip-limited tyres, four contacts; the name of this function is kept for the env and older callers).
    ``mask`` (K,) bool selects the cars that move (others stay put). Returns the distance each car's rear axle
    moved [m] (K,).
    """
    return dynamics_step(effective_dynamics(dynamics))(state, speed_cmd_mps, steering_cmd_rad, dt_s, mask)


#: The car models (DEEPRACER_DYNAMICS, CAR_DYNAMICS): core.config's list, here for the simulator's callers.
DYNAMICS_MODELS = CAR_DYNAMICS_MODELS


def effective_dynamics(recorded: str = "") -> str:
    """The car model a run uses: DEEPRACER_DYNAMICS when it is set (the user's choice wins), else
    ``recorded`` (a model's CAR_DYNAMICS), else the default. An unknown name is a ConfigError naming it and
    the allowed ones."""
    import os

    chosen = os.environ.get("DEEPRACER_DYNAMICS", "").strip()
    if chosen:
        return car_dynamics_model(chosen)
    return car_dynamics_model(recorded, source="CAR_DYNAMICS")


def dynamics_step(name: str):
    """The step function of car model ``name`` (same signature as step_kinematics, less ``dynamics``)."""
    name = car_dynamics_model(name)
    if name == "v5":
        from .dynamics_four import step_dynamics_v5
        return step_dynamics_v5
    if name == "v6-four":
        from .dynamics_four import step_dynamics_v6_four
        return step_dynamics_v6_four
    from .dynamics import step_dynamics  # dynamics imports this module
    return step_dynamics


def wrap_angle(a):
    """Wrap radians into (-pi, pi]."""
    return np.pi - np.mod(np.pi - a, 2.0 * np.pi)
