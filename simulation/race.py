"""Race options and the world around the car: race types, start positions, obstacles, bot cars.

Spec section 4. Defaults follow deepracer-for-cloud's run.env (DR_OA_*, DR_H2B_*).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from core.config import RACE_TYPES, ConfigError

from . import obstacles as obs_mod
from .obstacles import Obstacles
from .track import ROUND_ROBIN_ADVANCE, Track

#: Lateral offset of a lane from the centre line, as a fraction of the local track width.
LANE_OFFSET_FRACTION = 0.25
#: Time a bot takes to move from one lane to the other [s] (ours).
LANE_CHANGE_DURATION_S = 1.0


@dataclass(frozen=True)
class RaceConfig:
    """How episodes are run. Distances in metres, times in seconds, speeds in m/s."""

    race_type: str = "TIME_TRIAL"
    #: Training starts each episode ROUND_ROBIN_ADVANCE of a lap further along; evaluation starts at the line.
    training: bool = True
    round_robin_advance: float = ROUND_ROBIN_ADVANCE
    start_offset_m: float = 0.0
    reverse_direction: bool = False
    alternate_direction: bool = False
    #: Episode step limit (15 steps per simulated second); ends the episode as "time_up". Training's
    #: is the simapp env's cap, 100,000 steps (deepracer_racetrack_env.py MAX_STEPS; agent_ctrl's
    #: MAX_STEPS = 10000 is not used there); evaluation sets its own time limit.
    max_steps: int = 100_000
    #: OBJECT_AVOIDANCE
    number_of_obstacles: int = 6
    min_distance_between_obstacles_m: float = 2.0
    randomize_obstacle_locations: bool = False
    #: Fixed positions as (fraction of the lap 0-1, lane: "left"/"right" or +1/-1); empty = evenly spread.
    obstacle_positions: tuple[tuple[float, Any], ...] = ()
    #: HEAD_TO_BOT
    number_of_bot_cars: int = 3
    bot_car_speed_mps: float = 0.2
    min_distance_between_bot_cars_m: float = 2.0
    bot_lane_change: bool = False
    lower_lane_change_time_s: float = 3.0
    upper_lane_change_time_s: float = 5.0
    #: Gaussian noise on the commanded speed [fraction of it] and steering [deg] (0 = none).
    action_noise_speed_fraction: float = 0.0
    action_noise_steering_deg: float = 0.0
    #: Evaluation rules: with ``resets`` an off-track, crashed, reversed or immobilized car is put
    #: back on the centre line and goes on (up to ``max_resets``) instead of ending the trial; the
    #: penalties [s] are added to the lap time (DRfC defaults: 5 s off track, 5 s collision).
    resets: bool = False
    max_resets: int = 100
    off_track_penalty_s: float = 5.0
    collision_penalty_s: float = 5.0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, source: str = "race options") -> "RaceConfig":
        data = dict(data or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}")
        if "obstacle_positions" in data:
            data["obstacle_positions"] = tuple(tuple(p) for p in data["obstacle_positions"])
        cfg = cls(**data)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "race options") -> None:
        if self.race_type not in RACE_TYPES:
            raise ConfigError(f"{source}: race_type {self.race_type!r} is not one of {', '.join(RACE_TYPES)}")
        if self.max_steps < 1:
            raise ConfigError(f"{source}: max_steps must be >= 1, got {self.max_steps}")
        if self.number_of_obstacles < 0 or self.number_of_bot_cars < 0:
            raise ConfigError(f"{source}: number_of_obstacles and number_of_bot_cars must be >= 0")
        if self.lower_lane_change_time_s <= 0 or self.upper_lane_change_time_s < self.lower_lane_change_time_s:
            raise ConfigError(f"{source}: need 0 < lower_lane_change_time_s <= upper_lane_change_time_s")
        for frac, lane in self.obstacle_positions:
            if not 0.0 <= float(frac) <= 1.0 or _lane_sign(lane) == 0:
                raise ConfigError(f"{source}: obstacle position ({frac}, {lane!r}) needs a lap fraction in [0, 1] "
                                  "and a lane 'left'/'right' (or +1/-1)")

    @property
    def num_obstacle_slots(self) -> int:
        if self.race_type == "OBJECT_AVOIDANCE":
            return len(self.obstacle_positions) or self.number_of_obstacles
        if self.race_type == "HEAD_TO_BOT":
            return self.number_of_bot_cars
        return 0


def _lane_sign(lane: Any) -> int:
    if isinstance(lane, str):
        return {"left": 1, "l": 1, "inside": 1, "right": -1, "r": -1, "outside": -1}.get(lane.lower(), 0)
    try:
        return int(np.sign(float(lane)))
    except (TypeError, ValueError):
        return 0


class World:
    """Obstacles and bot cars of K independent cars (each car has its own copy of the world).

    Positions are kept as forward-track arc length [m] plus a lateral lane sign (+1 = left of the
    forward direction), so they are independent of the direction a car drives.
    """

    def __init__(self, config: RaceConfig, forward: Track, k: int, rng: np.random.Generator):
        self.cfg = config
        self.track = forward
        self.rng = rng
        m = config.num_obstacle_slots
        self.obstacles = Obstacles.empty(k, m)
        self.arc_m = np.zeros((k, m))          # forward arc of each obstacle
        self.lane = np.zeros((k, m))           # current lateral position in lanes (+1 left, -1 right)
        self.lane_target = np.zeros((k, m))
        self.next_change_s = np.zeros((k, m))
        self.direction = np.ones(k)            # +1 cars drive forward, -1 reversed
        if config.race_type == "OBJECT_AVOIDANCE":
            hl, hw, h = obs_mod.box_sizes()
            kind = obs_mod.KIND_BOX
        else:
            hl, hw, h = obs_mod.bot_sizes()
            kind = obs_mod.KIND_BOT
        self.obstacles.half_length_m[:] = hl
        self.obstacles.half_width_m[:] = hw
        self.obstacles.height_m[:] = h
        self.obstacles.kind[:] = kind

    @property
    def has_objects(self) -> bool:
        return self.obstacles.count > 0

    def reset(self, cars: np.ndarray, start_arc_fwd_m: np.ndarray, direction: np.ndarray) -> None:
        """Place the obstacles of the given cars (indices) for a new episode."""
        self.direction[cars] = direction
        if not self.has_objects or cars.size == 0:
            return
        cfg, n, length = self.cfg, self.obstacles.count, self.track.length_m
        if cfg.race_type == "OBJECT_AVOIDANCE":
            if cfg.obstacle_positions:
                arcs = np.array([float(f) * length for f, _ in cfg.obstacle_positions])
                lanes = np.array([_lane_sign(l) for _, l in cfg.obstacle_positions], float)
                self.arc_m[cars] = arcs
                self.lane[cars] = lanes
            elif cfg.randomize_obstacle_locations:
                for c in cars:
                    self.arc_m[c] = self._spaced_arcs(n, cfg.min_distance_between_obstacles_m)
                    self.lane[c] = self.rng.choice([-1.0, 1.0], size=n)
            else:
                self.arc_m[cars] = (np.arange(n) + 1) / (n + 1) * length
                self.lane[cars] = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
            self.lane_target[cars] = self.lane[cars]
        else:  # HEAD_TO_BOT: bots spread ahead of the car, alternating lanes
            ahead = (np.arange(n) + 1) / (n + 1) * length
            self.arc_m[cars] = np.mod(start_arc_fwd_m[:, None] + direction[:, None] * ahead[None], length)
            self.lane[cars] = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[None]
            self.lane_target[cars] = self.lane[cars]
            self.next_change_s[cars] = self._change_interval((len(cars), n))
            self.obstacles.speed_mps[cars] = cfg.bot_car_speed_mps
        self.obstacles.active[cars] = True
        self._update_poses(cars)

    def _spaced_arcs(self, n: int, min_gap_m: float) -> np.ndarray:
        """n random arcs on the lap at least min_gap_m apart (relaxed if the lap is too short)."""
        length = self.track.length_m
        gap = min(min_gap_m, length / max(n, 1) * 0.9)
        # Random gaps: n slack shares of the free length, added to the minimum gaps.
        slack = self.rng.dirichlet(np.ones(n)) * (length - n * gap)
        return np.mod(self.rng.uniform(0, length) + np.cumsum(gap + slack), length)

    def _change_interval(self, shape) -> np.ndarray:
        return self.rng.uniform(self.cfg.lower_lane_change_time_s, self.cfg.upper_lane_change_time_s, size=shape)

    def step(self, dt_s: float) -> None:
        """Move bot cars along their lanes (HEAD_TO_BOT); static boxes do not move."""
        if self.cfg.race_type != "HEAD_TO_BOT" or not self.has_objects:
            return
        self.arc_m = np.mod(self.arc_m + self.direction[:, None] * self.cfg.bot_car_speed_mps * dt_s, self.track.length_m)
        if self.cfg.bot_lane_change:
            self.next_change_s -= dt_s
            due = self.next_change_s <= 0
            self.lane_target = np.where(due, -np.sign(self.lane_target), self.lane_target)
            self.next_change_s = np.where(due, self._change_interval(due.shape), self.next_change_s)
            step = 2.0 * dt_s / LANE_CHANGE_DURATION_S
            self.lane = self.lane + np.clip(self.lane_target - self.lane, -step, step)
        self._update_poses(np.arange(self.obstacles.xy.shape[0]))

    def _update_poses(self, cars: np.ndarray) -> None:
        arc = self.arc_m[cars]
        lateral = self.lane[cars] * LANE_OFFSET_FRACTION * self.track.border_width_at(arc)   # the reference's width
        pose = self.track.pose_at(arc, lateral)
        self.obstacles.xy[cars] = pose[..., 0:2]
        if self.cfg.race_type == "HEAD_TO_BOT":
            yaw = pose[..., 2] + np.where(self.direction[cars, None] < 0, np.pi, 0.0)
            self.obstacles.yaw[cars] = np.mod(yaw + np.pi, 2 * np.pi) - np.pi
        else:
            self.obstacles.yaw[cars] = pose[..., 2]


def boxes_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Separating-axis test of convex quads a (..., 4, 2) and b (..., 4, 2) -> (...) bool overlap."""
    def axes(q):
        e = np.roll(q, -1, axis=-2) - q
        return np.stack([-e[..., 1], e[..., 0]], axis=-1)  # (..., 4, 2) edge normals

    a, b = np.broadcast_arrays(a, b)
    all_axes = np.concatenate([axes(a), axes(b)], axis=-2)            # (..., 8, 2)
    pa = np.einsum("...pj,...aj->...ap", a, all_axes)                  # (..., 8, 4)
    pb = np.einsum("...pj,...aj->...ap", b, all_axes)
    separated = (pa.max(-1) < pb.min(-1)) | (pb.max(-1) < pa.min(-1))
    return ~np.any(separated, axis=-1)
