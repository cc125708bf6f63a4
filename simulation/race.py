"""Race options and the world around the car: race types, start positions, obstacles, bot cars.

Spec sections 4 and 9. Defaults follow deepracer-for-cloud's run.env (DR_OA_*, DR_H2B_*); the
behaviour follows the reference, simapp v6 (files under ``bundle/markov/``):

- ``agent_ctrl/obstacles_agent_ctrl.py``: boxes at ``linspace(g, L - 1 m, n)`` along the centre
  line from the start line in the driving direction, where g = MIN_DISTANCE_BETWEEN_OBSTACLES read
  as a *percentage* of the lap L; lanes alternate, inner lane first; RANDOMIZE_OBSTACLE_LOCATIONS
  moves each box (in random order) uniformly between its neighbours +- g and picks random lanes;
  OBJECT_POSITIONS ("fraction,lane", lane -1 = outer, anything else = inner) replaces both.
- ``agent_ctrl/bot_cars_agent_ctrl.py``: bots at ``linspace(MIN_DISTANCE_BETWEEN_BOT_CARS [m],
  L - 1 m, n)``, same lane rules (RANDOMIZE_BOT_CAR_LOCATIONS); they run at BOT_CAR_SPEED along
  their lane; with IS_LANE_CHANGE a bot holds its lane U(LOWER, UPPER) s, then changes lane over
  LANE_CHANGE_DISTANCE (1 m) of track, i.e. LANE_CHANGE_DISTANCE / BOT_CAR_SPEED s (5 s at
  0.2 m/s). A bot that runs into the car from behind (car ahead) stops all bots for
  PENALTY_SECONDS (lane changes wait too).
- Lanes (``track_geom/track_data.py``): polylines through the midpoints of each centre point and
  its inner (file columns 2:4) / outer border point; "inner" is that side whatever the direction.
- Crash (``track_data.get_collided_object_name``, ``rollout_agent_ctrl._check_for_episode_termination``):
  a corner of the car's rectangle strictly inside an object's rectangle; a bot hit while the car's
  progress is ahead of the bot's (its front point's normalized distance) is no crash.
- Evaluation resets (``rollout_agent_ctrl._get_car_reset_model_state``): if a box lies within
  CLOSEST_OBJ_GAP (1 m, along the centre line) of where the car is put back, the car goes
  RESET_BEHIND_DIST (1 m) behind it on the *other* lane; otherwise on the lane nearer to the car.
  The car is held at rest for the penalty seconds while the clock runs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from core import race_status as rs
from core.config import RACE_TYPES, ConfigError, car_dynamics_model

from . import car
from . import obstacles as obs_mod
from .obstacles import Obstacles
from .track import ROUND_ROBIN_ADVANCE, Track

#: Objects are spread up to this far before the end of the lap [m] (``center_line.length - 1.0`` in
#: obstacles_agent_ctrl.py and bot_cars_agent_ctrl.py).
OBJECTS_END_GAP_M = 1.0
#: An evaluation reset (and a training start) looks for objects this close along the centre line [m]
#: (agent_ctrl/constants.py CLOSEST_OBJ_GAP).
CLOSEST_OBJECT_GAP_M = 1.0
#: ... and puts the car this far behind the box it found [m] (agent_ctrl/constants.py
#: DEFAULT_RESET_BEHIND_DIST; RESET_BEHIND_DIST in the world config).
RESET_BEHIND_DISTANCE_M = 1.0
#: Half the arc step of the finite difference that gives an object's heading along its path [m]
#: (ours: the simapp differentiates a cubic spline / takes the lane segment's direction).
_TANGENT_STEP_M = 0.02


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
    #: MIN_DISTANCE_BETWEEN_OBSTACLES. Despite the name, the simapp reads it as a percentage of the
    #: lap: the first box sits this % of the lap past the start line, random boxes keep this gap.
    min_distance_between_obstacles_m: float = 2.0
    randomize_obstacle_locations: bool = False
    #: Fixed positions as (fraction of the lap 0-1, lane); empty = evenly spread. Lanes as the
    #: simapp's OBJECT_POSITIONS: 1 (or "inner"/"inside") = inner lane, -1 ("outer"/"outside") =
    #: outer lane; also "left"/"right" of the forward (file) direction.
    obstacle_positions: tuple[tuple[float, Any], ...] = ()
    #: HEAD_TO_BOT
    number_of_bot_cars: int = 3
    bot_car_speed_mps: float = 0.2
    #: MIN_DISTANCE_BETWEEN_BOT_CARS [m]: the first bot's distance past the start line, and the gap
    #: random bots keep.
    min_distance_between_bot_cars_m: float = 2.0
    randomize_bot_car_locations: bool = False
    bot_lane_change: bool = False
    lower_lane_change_time_s: float = 3.0
    upper_lane_change_time_s: float = 5.0
    #: LANE_CHANGE_DISTANCE: a lane change covers this much track [m], so it takes
    #: lane_change_distance_m / bot_car_speed_mps seconds.
    lane_change_distance_m: float = 1.0
    #: PENALTY_SECONDS as the bot controller reads it (default 2.0 there): how long every bot stops
    #: when one of them runs into the car from behind.
    bot_pause_s: float = 2.0
    #: Gaussian noise on the commanded speed [fraction of it] and steering [deg] (0 = none).
    action_noise_speed_fraction: float = 0.0
    action_noise_steering_deg: float = 0.0
    #: Evaluation rules: with ``resets`` an off-track, crashed, reversed or immobilized car is put
    #: back on the track and goes on (up to ``max_resets``) instead of ending the trial; it is held
    #: at rest for the penalty [s] of its incident while the clock runs (DRfC defaults: 5 s off
    #: track, 5 s collision; the simapp's REVERSE_PENALTY falls back to the off-track penalty, its
    #: IMMOBILIZED_PENALTY to 0).
    resets: bool = False
    max_resets: int = 100
    off_track_penalty_s: float = 5.0
    collision_penalty_s: float = 5.0
    #: None: the off-track penalty.
    reversed_penalty_s: float | None = None
    immobilized_penalty_s: float = 0.0
    #: The fast simulator's car model (core.config CAR_DYNAMICS_MODELS; a model's CAR_DYNAMICS); empty: the
    #: default. DEEPRACER_DYNAMICS, when set, wins (simulation.car.effective_dynamics).
    dynamics: str = ""
    #: Robust training: each episode every car draws its own steering response, grip, speed gain, action
    #: latency and camera (simulation/robust.py); needs a four-contact car. Training only.
    robust: bool = False

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
        if self.dynamics:
            car_dynamics_model(self.dynamics, source=f"{source}: dynamics")
        if self.max_steps < 1:
            raise ConfigError(f"{source}: max_steps must be >= 1, got {self.max_steps}")
        if self.number_of_obstacles < 0 or self.number_of_bot_cars < 0:
            raise ConfigError(f"{source}: number_of_obstacles and number_of_bot_cars must be >= 0")
        if self.lower_lane_change_time_s <= 0 or self.upper_lane_change_time_s < self.lower_lane_change_time_s:
            raise ConfigError(f"{source}: need 0 < lower_lane_change_time_s <= upper_lane_change_time_s")
        if self.lane_change_distance_m <= 0:
            raise ConfigError(f"{source}: lane_change_distance_m must be > 0, got {self.lane_change_distance_m}")
        if self.bot_car_speed_mps < 0:
            raise ConfigError(f"{source}: bot_car_speed_mps must be >= 0, got {self.bot_car_speed_mps}")
        penalties = (self.bot_pause_s, self.off_track_penalty_s, self.collision_penalty_s,
                     self.immobilized_penalty_s, 0.0 if self.reversed_penalty_s is None else self.reversed_penalty_s)
        if min(penalties) < 0:
            raise ConfigError(f"{source}: bot_pause_s and the penalties must be >= 0 s")
        for frac, lane in self.obstacle_positions:
            if not 0.0 <= float(frac) <= 1.0 or _lane_code(lane) is None:
                raise ConfigError(f"{source}: obstacle position ({frac}, {lane!r}) needs a lap fraction in [0, 1] "
                                  "and a lane 'left'/'right' (or +1/-1)")

    @property
    def num_obstacle_slots(self) -> int:
        if self.race_type == "OBJECT_AVOIDANCE":
            return len(self.obstacle_positions) or self.number_of_obstacles
        if self.race_type == "HEAD_TO_BOT":
            return self.number_of_bot_cars
        return 0

    def pause_s(self, status: np.ndarray) -> np.ndarray:
        """Seconds an evaluation reset holds the car at rest, by status index (core.race_status):
        the penalty of the incident (rollout_agent_ctrl._judge_action_at_run_phase, _penalties)."""
        status = np.asarray(status)
        rev = self.off_track_penalty_s if self.reversed_penalty_s is None else self.reversed_penalty_s
        return np.select([status == rs.OFF_TRACK, status == rs.CRASHED, status == rs.REVERSED,
                          status == rs.IMMOBILIZED],
                         [self.off_track_penalty_s, self.collision_penalty_s, rev, self.immobilized_penalty_s], 0.0)


#: Lane codes: INNER/OUTER are sides of the track (file columns 2:4 / 4:6); LEFT/RIGHT are relative to
#: the forward (file) direction.
_INNER, _OUTER, _LEFT, _RIGHT = "inner", "outer", "left", "right"


def _lane_code(lane: Any) -> str | None:
    if isinstance(lane, str):
        return {"inner": _INNER, "inside": _INNER, "outer": _OUTER, "outside": _OUTER,
                "left": _LEFT, "l": _LEFT, "right": _RIGHT, "r": _RIGHT}.get(lane.strip().lower())
    try:
        sign = int(np.sign(float(lane)))
    except (TypeError, ValueError):
        return None
    return {1: _INNER, -1: _OUTER}.get(sign)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero slope at both ends: the lateral share of a lane change done after a fraction u
    of its distance (derived: the simapp fits a cubic spline from the old lane to the new one over
    that distance; to be calibrated against the Gazebo backend)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class Lanes:
    """The reference's two lanes of a track: the polylines through the midpoints of each centre point
    and its left / right border point, each vertex tagged with the centre-line arc it projects to
    (as the simapp's TrackSpline tags its lane points), so a lane point is looked up by arc."""

    def __init__(self, forward: Track):
        self.track = forward
        self.length_m = forward.length_m
        #: +1 when the inner border (file columns 2:4) is left of the forward direction, else -1.
        self.inner_side = -1.0 if forward.clockwise else 1.0
        self._left = self._table(forward.left_border)
        self._right = self._table(forward.right_border)

    def _table(self, border: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t, length = self.track, self.length_m
        pts = (border + t.waypoints) / 2.0
        u = t.project(pts).arc_m.copy()
        if t.is_loop:  # vertices near the line may project onto the far end of the lap (TrackSpline)
            for i in range(len(u)):
                if u[i] < 0.5 * length:
                    break
                u[i] -= length
            for i in range(len(u) - 1, 0, -1):
                if u[i] > 0.5 * length:
                    break
                u[i] += length
        u, first = np.unique(u, return_index=True)
        return u, pts[first]

    def _interp(self, table, arc_fwd_m: np.ndarray) -> np.ndarray:
        u, pts = table
        a = self.track.wrap_arc(arc_fwd_m)
        period = self.length_m if self.track.is_loop else None
        return np.stack([np.interp(a, u, pts[:, 0], period=period), np.interp(a, u, pts[:, 1], period=period)], -1)

    def points(self, arc_fwd_m: np.ndarray, lane: np.ndarray) -> np.ndarray:
        """Points (..., 2) at forward centre-line arcs [m], ``lane`` lanes left of the centre line of the
        forward direction (+1 the left lane, -1 the right lane, in between: a blend of the two)."""
        w = (np.asarray(lane, float) + 1.0) / 2.0
        left, right = self._interp(self._left, arc_fwd_m), self._interp(self._right, arc_fwd_m)
        return right + w[..., None] * (left - right)


@dataclass
class Collisions:
    """What the crash test found for K cars."""

    #: (K,) index of the first object one of the car's corners is inside, -1 for none.
    object: np.ndarray
    #: (K,) bool: the car crashed (into a box, or into a bot it was behind).
    crashed: np.ndarray
    #: (K,) bool: a bot ran into the car from behind (the car was ahead): no crash; the bots stop.
    rear_ended: np.ndarray


class World:
    """Obstacles and bot cars of K independent cars (each car has its own copy of the world).

    Each object sits at a forward-track arc ``arc_m`` [m] (the centre-line arc its lane point projects
    to) and lateral position ``lane`` in lanes (+1 the left lane, -1 the right lane of the forward
    direction; bots in a lane change are in between). ``drive_m`` is the same arc in the driving
    direction of the car owning the world (the simapp places objects along the centre line of the
    direction driven).
    """

    def __init__(self, config: RaceConfig, forward: Track, k: int, rng: np.random.Generator):
        self.cfg = config
        self.track = forward
        self.rng = rng
        m = config.num_obstacle_slots
        self.obstacles = Obstacles.empty(k, m)
        self.arc_m = np.zeros((k, m))          # forward arc of each object
        self.drive_m = np.zeros((k, m))        # arc along the owning car's driving direction
        self.lane = np.zeros((k, m))           # current lateral position in lanes (+1 left, -1 right)
        self.direction = np.ones(k)            # +1 cars drive forward, -1 reversed
        #: (K,) seconds the bots of each world have driven since the episode began (stops are not counted)
        self.bot_time_s = np.zeros(k)
        #: (K,) seconds the bots of each world still stand still (a bot ran into the car)
        self.bot_hold_s = np.zeros(k)
        self._start_drive_m = np.zeros((k, m))  # bots' driving-direction arc at bot time 0
        self._lane_from = np.zeros((k, m))      # lane a bot leaves (or holds), +1 left / -1 right
        self._change_start_s = np.full((k, m), np.inf)  # bot time a lane change begins / ends
        self._change_end_s = np.full((k, m), np.inf)
        #: (K,) object each car was last found touching (collisions()), -1 for none
        self.hit_object = np.full(k, -1)
        self._lanes: Lanes | None = None
        if config.race_type == "OBJECT_AVOIDANCE":
            (hl, hw, h), (rl, rw), kind = obs_mod.box_sizes(), obs_mod.box_rect(), obs_mod.KIND_BOX
        else:
            (hl, hw, h), (rl, rw), kind = obs_mod.bot_sizes(), obs_mod.bot_rect(), obs_mod.KIND_BOT
        ob = self.obstacles
        ob.half_length_m[:], ob.half_width_m[:], ob.height_m[:] = hl, hw, h
        ob.rect_half_length_m[:], ob.rect_half_width_m[:] = rl, rw
        ob.kind[:] = kind

    @property
    def has_objects(self) -> bool:
        return self.obstacles.count > 0

    @property
    def lanes(self) -> Lanes:
        if self._lanes is None:
            self._lanes = Lanes(self.track)
        return self._lanes

    @property
    def _bots(self) -> bool:
        return self.cfg.race_type == "HEAD_TO_BOT" and self.has_objects

    # ------------------------------------------------------------------ placement
    def reset(self, cars: np.ndarray, start_arc_fwd_m: np.ndarray | None, direction: np.ndarray) -> None:
        """Place the objects of the given cars (indices) for a new episode driven in ``direction``
        (+1 forward, -1 reversed). Objects are placed from the start line, not from the car's start
        (``start_arc_fwd_m`` is not used; the simapp's training start moves the car instead, see
        ``start_lanes``)."""
        cars = np.asarray(cars)
        self.direction[cars] = direction
        self.hit_object[cars] = -1
        if not self.has_objects or cars.size == 0:
            return
        cfg, n, length = self.cfg, self.obstacles.count, self.track.length_m
        inner = self.lanes.inner_side
        if cfg.race_type == "OBJECT_AVOIDANCE" and cfg.obstacle_positions:
            drive = np.array([float(f) * length for f, _ in cfg.obstacle_positions])
            lanes = np.array([self._position_lane(lane) for _, lane in cfg.obstacle_positions])
            drive, lanes = np.tile(drive, (cars.size, 1)), np.tile(lanes, (cars.size, 1))
        else:
            if cfg.race_type == "OBJECT_AVOIDANCE":
                gap, randomize = cfg.min_distance_between_obstacles_m / 100.0 * length, cfg.randomize_obstacle_locations
            else:
                gap, randomize = cfg.min_distance_between_bot_cars_m, cfg.randomize_bot_car_locations
            start, end = gap, length - OBJECTS_END_GAP_M
            drive = np.tile(np.linspace(start, end, n), (cars.size, 1))
            if randomize:
                drive = self._perturb(drive, start, end, gap)
                outer = self.rng.random((cars.size, n)) < 0.5
            else:
                outer = np.tile(np.arange(n) % 2 == 1, (cars.size, 1))     # inner lane first, alternating
            lanes = np.where(outer, -inner, inner)
        self.lane[cars] = lanes
        ob = self.obstacles
        ob.active[cars] = True
        if cfg.race_type == "HEAD_TO_BOT":
            self._start_drive_m[cars] = drive
            self._lane_from[cars] = lanes
            self.bot_time_s[cars] = 0.0
            self.bot_hold_s[cars] = 0.0
            ob.speed_mps[cars] = cfg.bot_car_speed_mps
            if cfg.bot_lane_change and cfg.bot_car_speed_mps > 0:
                self._change_end_s[cars] = self._hold_time((cars.size, n)) + self._lane_change_s
                self._change_start_s[cars] = self._change_end_s[cars] - self._lane_change_s
            else:
                self._change_start_s[cars] = self._change_end_s[cars] = np.inf
            self._place_bots(cars)
        else:
            self.drive_m[cars] = np.mod(drive, length)
            self.arc_m[cars] = self._to_forward(cars, self.drive_m[cars])
            pose = self._path_pose(cars, self.drive_m[cars], *(self.lane[cars],) * 3)
            ob.xy[cars], ob.yaw[cars] = pose[..., :2], pose[..., 2]

    def _position_lane(self, lane: Any) -> float:
        code = _lane_code(lane)
        inner = self.lanes.inner_side
        return {_INNER: inner, _OUTER: -inner, _LEFT: 1.0, _RIGHT: -1.0}[code]

    def _perturb(self, drive: np.ndarray, start: float, end: float, gap: float) -> np.ndarray:
        """The simapp's random placement: visit the objects in a random order and move each uniformly
        between its neighbours' positions +- gap (the first from ``start``, the last up to ``end``),
        unless that interval is empty. Vectorised over cars, a loop over the n objects."""
        k, n = drive.shape
        drive = drive.copy()
        rows = np.arange(k)
        order = np.argsort(self.rng.random((k, n)), axis=1)
        for j in range(n):
            i = order[:, j]
            lo = np.where(i == 0, start, drive[rows, np.maximum(i - 1, 0)] + gap)
            hi = np.where(i == n - 1, end, drive[rows, np.minimum(i + 1, n - 1)] - gap)
            u = self.rng.random(k)
            drive[rows, i] = np.where(lo < hi, lo + u * (hi - lo), drive[rows, i])
        return drive

    @property
    def _lane_change_s(self) -> float:
        """Duration of a lane change [s]: LANE_CHANGE_DISTANCE / BOT_CAR_SPEED (5 s by default)."""
        v = self.cfg.bot_car_speed_mps
        return self.cfg.lane_change_distance_m / v if v > 0 else np.inf

    def _hold_time(self, shape) -> np.ndarray:
        return self.rng.uniform(self.cfg.lower_lane_change_time_s, self.cfg.upper_lane_change_time_s, size=shape)

    def _to_forward(self, cars: np.ndarray, drive_m: np.ndarray) -> np.ndarray:
        length = self.track.length_m
        return np.where(self.direction[cars, None] < 0, np.mod(length - drive_m, length), drive_m)

    def _path_pose(self, cars: np.ndarray, drive_m: np.ndarray, lane: np.ndarray, lane_behind: np.ndarray,
                   lane_ahead: np.ndarray) -> np.ndarray:
        """Poses (n, m, 3) of objects at driving-direction arcs ``drive_m`` (n, m) and lanes ``lane``; the
        yaw is the direction of the path through the points _TANGENT_STEP_M behind (at ``lane_behind``)
        and ahead (``lane_ahead``), in the driving direction."""
        h = _TANGENT_STEP_M
        point = lambda d, ln: self.lanes.points(self._to_forward(cars, d), ln)
        p = point(drive_m, lane)
        step = point(drive_m + h, lane_ahead) - point(drive_m - h, lane_behind)
        return np.concatenate([p, np.arctan2(step[..., 1], step[..., 0])[..., None]], axis=-1)

    # ------------------------------------------------------------------ motion
    def step(self, dt_s: float) -> None:
        """Advance the world by dt_s [s]: bot cars drive along their lanes (HEAD_TO_BOT) unless they
        are stopped; static boxes do not move."""
        if not self._bots:
            return
        run = np.clip(dt_s - self.bot_hold_s, 0.0, dt_s)
        self.bot_hold_s = np.maximum(self.bot_hold_s - dt_s, 0.0)
        self.bot_time_s = self.bot_time_s + run
        if self.cfg.bot_lane_change:
            t = self.bot_time_s[:, None]
            done = t >= self._change_end_s        # the change is over: the new lane is the lane held
            if done.any():
                self._lane_from = np.where(done, -self._lane_from, self._lane_from)
                end = t + self._hold_time(done.shape) + self._lane_change_s
                self._change_end_s = np.where(done, end, self._change_end_s)
                self._change_start_s = np.where(done, end - self._lane_change_s, self._change_start_s)
        self._place_bots(np.arange(self.obstacles.xy.shape[0]))

    def _place_bots(self, cars: np.ndarray) -> None:
        cfg, length = self.cfg, self.track.length_m
        t = self.bot_time_s[cars, None]
        drive = np.mod(self._start_drive_m[cars] + cfg.bot_car_speed_mps * t, length)
        start_s, frm = self._change_start_s[cars], self._lane_from[cars]
        with np.errstate(invalid="ignore"):
            progress = np.where(np.isfinite(start_s), (t - start_s) / self._lane_change_s, 0.0)
        du = _TANGENT_STEP_M / cfg.lane_change_distance_m
        lane = lambda u: frm - 2.0 * frm * _smoothstep(u)       # from `frm` to `-frm`
        pose = self._path_pose(cars, drive, lane(progress), lane(progress - du), lane(progress + du))
        self.drive_m[cars] = drive
        self.arc_m[cars] = self._to_forward(cars, drive)
        self.lane[cars] = lane(progress)
        self.obstacles.xy[cars], self.obstacles.yaw[cars] = pose[..., :2], pose[..., 2]

    def hold_bots(self, cars: np.ndarray) -> None:
        """Stop the bots of the worlds of ``cars`` (K,) bool for ``bot_pause_s`` seconds, unless they are
        stopped already (bot_cars_agent_ctrl.judge_action: a bot ran into the car from behind)."""
        if not self._bots:
            return
        start = np.asarray(cars, bool) & (self.bot_hold_s <= 0.0)
        self.bot_hold_s = np.where(start, self.cfg.bot_pause_s, self.bot_hold_s)

    # ------------------------------------------------------------------ crashes and resets
    def collisions(self, car_corners: np.ndarray, ref_arc_m: np.ndarray) -> Collisions:
        """The crash test of K cars: ``car_corners`` (K, 4, 2) the corners of each car's rectangle
        (car.BODY_*, the simapp's BOT_CAR_DIMENSION around the chassis centre), ``ref_arc_m`` (K,) the
        arc of each car's reference point along its driving direction.

        The first object (in index order, as the simapp's object list) with a car corner strictly
        inside its rectangle is the one hit. Hitting a box is a crash. Hitting a bot is a crash only
        when the car is behind it: the car's normalized distance round the lap (its progress from
        the start line) is not greater than that of the bot's front point (0.14 m ahead of its centre,
        as the simapp measures bots), compared as fractions in [0, 1) without wrapping; otherwise the
        bot ran into the car (``rear_ended``). Also records ``hit_object``."""
        ob = self.obstacles
        k = ob.xy.shape[0]
        inside = ob.contains(np.asarray(car_corners, float)).any(axis=-1) & ob.active      # (K, M)
        touching = inside.any(axis=1)
        first = np.where(touching, inside.argmax(axis=1), -1)
        rows, j = np.arange(k), np.maximum(first, 0)
        bot = touching & (ob.kind[rows, j] == obs_mod.KIND_BOT)
        length = self.track.length_m
        car_frac = self.track.wrap_arc(ref_arc_m) / length
        bot_frac = np.mod(self.drive_m[rows, j] + car.REFERENCE_POINT_AHEAD_M, length) / length
        rear_ended = bot & (car_frac > bot_frac)
        self.hit_object = first
        return Collisions(first, touching & ~rear_ended, rear_ended)

    def hit_bot(self, cars: np.ndarray) -> np.ndarray:
        """(n,) bool: the object ``hit_object`` of each of ``cars`` is a bot car."""
        cars = np.asarray(cars)
        if not self.has_objects:
            return np.zeros(cars.size, bool)
        j = self.hit_object[cars]
        return (j >= 0) & (self.obstacles.kind[cars, np.maximum(j, 0)] == obs_mod.KIND_BOT)

    def reset_poses(self, cars: np.ndarray, spawn_arc_m: np.ndarray, car_xy: np.ndarray) -> np.ndarray:
        """Where evaluation resets put cars back: poses (n, 3) of the chassis centre.

        ``spawn_arc_m`` (n,) is the driving-direction arc the car is put back at (the simapp: its
        progress, i.e. its reference point's arc), ``car_xy`` (n, 2) where the car was. If a box lies
        within CLOSEST_OBJECT_GAP_M of that arc along the centre line (|difference| mod lap, as the
        simapp computes it: no wrap at the line), the car goes RESET_BEHIND_DISTANCE_M behind the
        nearest such box, on the other lane; otherwise on the lane nearer to ``car_xy`` (the outer
        lane on a tie). Facing the driving direction of the lane."""
        cars = np.asarray(cars)
        length = self.track.length_m
        inner = self.lanes.inner_side
        spawn = np.asarray(spawn_arc_m, float).copy()
        box_lane = np.zeros(cars.size)
        if self.has_objects and self.cfg.race_type == "OBJECT_AVOIDANCE":
            ob = self.obstacles
            gap = np.where(ob.active[cars], np.mod(np.abs(self.drive_m[cars] - spawn[:, None]), length), np.inf)
            j = np.argmin(gap, axis=1)
            rows = np.arange(cars.size)
            near = gap[rows, j] < CLOSEST_OBJECT_GAP_M
            spawn = np.where(near, self.drive_m[cars, j] - RESET_BEHIND_DISTANCE_M, spawn)
            box_lane = np.where(near, np.sign(self.lane[cars, j]), 0.0)
        spawn = np.mod(spawn, length) if self.track.is_loop else spawn
        fwd = self._to_forward(cars, spawn[:, None])[:, 0]
        d_inner = np.linalg.norm(self.lanes.points(fwd, np.full(cars.size, inner)) - car_xy, axis=1)
        d_outer = np.linalg.norm(self.lanes.points(fwd, np.full(cars.size, -inner)) - car_xy, axis=1)
        nearer = np.where(d_inner < d_outer, inner, -inner)
        lane = np.where(box_lane != 0, -box_lane, nearer)[:, None]
        return self._path_pose(cars, spawn[:, None], lane, lane, lane)[:, 0]

    def start_lanes(self, cars: np.ndarray, start_arc_m: np.ndarray) -> np.ndarray:
        """Training starts (rollout_agent_ctrl._get_car_start_model_state): (n,) the lane (+1 left / -1
        right of the forward direction) a car starting at driving-direction arc ``start_arc_m`` must
        take because an object (box or bot) lies within CLOSEST_OBJECT_GAP_M of its start - the lane
        other than that object's - or 0 to start on the centre line. Call after ``reset``."""
        cars = np.asarray(cars)
        if not self.has_objects or cars.size == 0:
            return np.zeros(cars.size)
        length = self.track.length_m
        start = np.asarray(start_arc_m, float)
        gap = np.where(self.obstacles.active[cars],
                       np.mod(np.abs(self.drive_m[cars] - start[:, None]), length), np.inf)
        j = np.argmin(gap, axis=1)
        rows = np.arange(cars.size)
        near = gap[rows, j] < CLOSEST_OBJECT_GAP_M
        return np.where(near, -np.sign(self.lane[cars, j]), 0.0)

    def lane_poses(self, cars: np.ndarray, arc_m: np.ndarray, lane: np.ndarray) -> np.ndarray:
        """Poses (n, 3) on lane ``lane`` (+1 left / -1 right of the forward direction) at driving-direction
        arcs ``arc_m`` (n,), facing the driving direction of the cars ``cars``."""
        lane = np.asarray(lane, float)[:, None]
        return self._path_pose(np.asarray(cars), np.asarray(arc_m, float)[:, None], lane, lane, lane)[:, 0]


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
