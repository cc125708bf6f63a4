"""GazeboEnv: the BatchedEnv whose car moves in Gazebo and whose camera frames are Gazebo's.

Everything a DeepRacer user's files see is the fast simulator's code, run on the pose Gazebo reports:
episodes and their statuses, progress, the reward params (simulation/params.py) and the reward call,
the STATE sensor. What Gazebo replaces is the motion (``_advance_cars``: the action goes to the car's
joint controllers for 1/15 s of ODE physics, simulation/gazebo/client.py) and the camera
(``_camera_observation``: Gazebo's 640x480 frames, resized to 160x120 and converted to Y as the
reference does) and the lidar (``_lidar_ranges``: the scan of the car's Gazebo ray sensor, which sees
the world's collision shapes at its own 10 Hz, as the reference's; each step takes its latest scan).
Objects (boxes, bot cars) are the fast simulator's race world (simulation/race.py: placement, bot
driving, crash rules); each command places their Gazebo models where that world has them
(``object_poses``), so the camera sees them and the car's physics runs into them.

One car per Gazebo sim (one world per container): ``num_cars`` is 1.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import cv2
import numpy as np

from core.observations import LIDAR_NUM_BEAMS

from .. import car
from ..env import BatchedEnv
from ..lidar import LIDAR_MAX_RANGE_M
from ..obstacles import KIND_BOT
from ..race import RaceConfig
from ..scenery import BOT_GRAY, BOX_GRAY, rgb_to_gray
from ..track import Track
from .client import GazeboClient, GazeboError, GazeboStep
from .world import HIDDEN_X_M, ObjectSpec, world_bundle

#: Environment variable naming the Gazebo sim's ROS master (compose: http://sim-gazebo:11311).
MASTER_URI_ENV = "GAZEBO_MASTER_URI"
DEFAULT_MASTER_URI = "http://127.0.0.1:11311"
_world_ids = itertools.count(1)


def frame_to_y(rgb: np.ndarray) -> np.ndarray:
    """A 640x480 RGB frame -> the network's 160x120 Y image (uint8): the reference resizes with PIL's
    bilinear filter (which averages over the 4x4 source pixels of each output pixel when shrinking; area
    averaging here) and converts with Y = 0.2989 R + 0.5870 G + 0.1140 B."""
    small = cv2.resize(rgb, (car.CAMERA_WIDTH_PX, car.CAMERA_HEIGHT_PX), interpolation=cv2.INTER_AREA)
    y = rgb_to_gray(np.moveaxis(small.astype(np.float32), -1, 0))
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def body_motion(g: dict[str, float]) -> tuple[float, float, float]:
    """From the bridge's state (world-frame velocities, both hinge angles): the chassis' forward and
    leftward speed [m/s] and the front wheels' angle [rad] (the mean of the two hinges)."""
    c, s = np.cos(g["yaw"]), np.sin(g["yaw"])
    return (float(c * g["vx"] + s * g["vy"]), float(-s * g["vx"] + c * g["vy"]),
            0.5 * (g["steer_left"] + g["steer_right"]))


class GazeboEnv(BatchedEnv):
    """One car on ``track`` in the Gazebo sim at ``master_uri`` (default: $GAZEBO_MASTER_URI or
    http://127.0.0.1:11311). Same arguments and results as BatchedEnv, less domain randomization."""

    def __init__(self, track: str | Track = "reinvent_base", reward_function: Any = None,
                 model_metadata: Any = None, race: RaceConfig | dict | None = None, num_cars: int = 1,
                 seed: int | None = None, autoreset: bool = True, domain_randomization: bool = False,
                 episode_offset: int = 0, master_uri: str | None = None, client: GazeboClient | None = None):
        if int(num_cars) != 1:
            raise ValueError(f"the Gazebo backend drives one car per Gazebo sim, got num_cars={num_cars}; "
                             "scale the sim-gazebo service instead")
        if domain_randomization:
            raise ValueError("domain randomization is not available with the Gazebo backend yet")
        self.client = client or GazeboClient(master_uri or os.environ.get(MASTER_URI_ENV, DEFAULT_MASTER_URI))
        self._frames: list[np.ndarray] = []
        self._objects: list[ObjectSpec] = []
        self.last_gazebo: GazeboStep | None = None
        super().__init__(track, reward_function, model_metadata, race, num_cars=1, seed=seed,
                         autoreset=autoreset, domain_randomization=False, episode_offset=episode_offset)
        self._camera = None   # the fast renderer is not used: frames come from Gazebo
        ob = self.world.obstacles
        self._objects = [ObjectSpec(float(ob.half_length_m[0, m]), float(ob.half_width_m[0, m]),
                                    float(ob.height_m[0, m]), BOT_GRAY if ob.kind[0, m] == KIND_BOT else BOX_GRAY,
                                    int(ob.kind[0, m]))
                         for m in range(ob.xy.shape[1])]
        bundle = world_bundle(self.tracks.forward, list(self.sensor_names), self._objects)
        world_id = f"{self.tracks.forward.name}-{os.getpid()}-{next(_world_ids)}"
        self.world_reply = self.client.load_world(bundle.message(world_id), world_id)

    # ------------------------------------------------------------------ reset: put the car at its start
    # (the reference also lets the physics run until a new frame after putting a car somewhere: so does
    # the bridge's pose command, one frame of simulated time that the episode's clock does not count)
    def _reset_cars(self, cars: np.ndarray) -> None:
        super()._reset_cars(cars)
        if np.size(cars):
            self._put(0)

    def _respawn(self, cars: np.ndarray, m, status: np.ndarray | None = None) -> None:
        super()._respawn(cars, m, status)
        if np.size(cars):
            self._put(0)

    def _put(self, i: int) -> None:
        s = self.state
        self._take(self.client.set_pose(float(s.x[i]), float(s.y[i]), float(s.yaw[i]), self.object_poses()),
                   pose=False)

    def object_poses(self) -> np.ndarray | None:
        """(M, 3) x, y [m], yaw [rad] of each object slot as the race world has it; slots not in play wait
        out of sight (world.HIDDEN_X_M). None without objects."""
        if not self._objects:
            return None
        ob = self.world.obstacles
        poses = np.column_stack([ob.xy[0, :, 0], ob.xy[0, :, 1], ob.yaw[0]])
        for m in np.flatnonzero(~ob.active[0]):
            poses[m] = (HIDDEN_X_M + 2.0 * m, 0.0, 0.0)
        return poses

    # ------------------------------------------------------------------ step: Gazebo moves the car
    def _advance_cars(self, move: np.ndarray, steer_deg: np.ndarray, speed_mps: np.ndarray) -> np.ndarray:
        x0, y0 = self.state.x.copy(), self.state.y.copy()
        if move[0]:
            step = self.client.step(float(np.deg2rad(steer_deg[0])), float(speed_mps[0]) / car.WHEEL_RADIUS_M,
                                    self.object_poses())
        else:   # held (prepare step, evaluation pause): the reference commands speed 0 and steering 0
            step = self.client.step(0.0, 0.0, self.object_poses())
        self._take(step, pose=bool(move[0]))
        return np.hypot(self.state.x - x0, self.state.y - y0)

    def _take(self, step: GazeboStep, pose: bool) -> None:
        """Keep the frames; with ``pose`` copy Gazebo's pose and motion into the car state."""
        self.last_gazebo = step
        self._frames = step.frames
        if not pose:
            return
        g, s = step.state, self.state
        s.x[0], s.y[0], s.yaw[0] = g["x"], g["y"], g["yaw"]
        s.speed_mps[0], s.lateral_mps[0], s.steering_rad[0] = body_motion(g)
        s.yaw_rate_rps[0] = g["wz"]

    # ------------------------------------------------------------------ observe: Gazebo's camera
    def _lidar_ranges(self, obstacles) -> np.ndarray:
        scan = self.last_gazebo.lidar if self.last_gazebo is not None else None
        if scan is None:
            raise GazeboError("the Gazebo sim sent no lidar scan for a lidar model")
        if scan.shape != (LIDAR_NUM_BEAMS,):
            raise GazeboError(f"the Gazebo sim's lidar scan has {scan.shape} ranges, the model needs {LIDAR_NUM_BEAMS}")
        return np.where(np.isfinite(scan), scan, LIDAR_MAX_RANGE_M).astype(np.float32)[None]

    def _camera_observation(self, name: str, obstacles) -> np.ndarray:
        if not self._frames:
            raise GazeboError("the Gazebo sim sent no camera frame for a camera model")
        ys = [frame_to_y(f) for f in self._frames]
        if name == "STEREO_CAMERAS":
            return np.stack(ys[:2], axis=-1)[None]
        return ys[0][None, ..., None]
