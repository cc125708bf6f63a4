"""Environments: a batched env stepping K cars on numpy arrays (what workers use) and a Gymnasium env.

One step is 1/15 s of simulated time. The order inside a step is the reference's (simapp v6 with
model version >= 4, where physics is paused while the action is chosen): judge the pose the cars
are in, the one their last observation showed (measure, episode status, ``params`` and the user's
reward function, also on the final step), then let the action move the world, then observe. Each
episode starts with the reference's prepare step (see ``BatchedEnv.step``).
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from core import race_status as rs
from core.config import CAMERA_SENSORS, ConfigError, ModelMetadata, as_model_metadata

from . import car, sensors, state_sensor
from .lidar import LidarSensor
from .params import Measure, TrackPair, build_params, measure_objects, progress_percent
from .race import RaceConfig, World
from .reward import RewardFunction
from .robust import RobustDraw
from .track import Track

REWARDS_DIR = Path(__file__).resolve().parent.parent / "rewards"
DEFAULT_REWARD_FILE = REWARDS_DIR / "default.py"

#: Spec section 4: these many consecutive steps of falling progress end the episode as "reversed".
REVERSED_STEPS = 15
#: ... of moving at most IMMOBILE_DISTANCE_M [m] per step end it as "immobilized".
IMMOBILIZED_STEPS = 15
IMMOBILE_DISTANCE_M = 0.0003


@dataclass
class StepBatch:
    """What one step of K cars produced. Per-episode facts refer to the episode the step belonged to
    (with auto-reset, ``obs`` already shows the next episode's first observation for finished cars)."""

    obs: dict[str, np.ndarray]
    reward: np.ndarray          # (K,) float
    terminated: np.ndarray      # (K,) bool: lap complete, off track, crashed, reversed, immobilized
    truncated: np.ndarray       # (K,) bool: time up (step limit)
    status: np.ndarray          # (K,) int index into core.race_status.STATUSES
    progress: np.ndarray        # (K,) 0-100
    episode: np.ndarray         # (K,) episode id
    steps: np.ndarray           # (K,) step number in the episode, from 1
    x: np.ndarray               # (K,) reward reference point [m]
    y: np.ndarray
    yaw_deg: np.ndarray
    steering_deg: np.ndarray    # commanded
    speed_mps: np.ndarray       # commanded
    all_wheels_on_track: np.ndarray
    closest_waypoint: np.ndarray  # (K,) index of the waypoint ahead
    sim_time_s: np.ndarray
    crash_count: np.ndarray     # (K,) crashes so far in the episode
    off_track_count: np.ndarray  # (K,) incidents so far in the episode, per kind
    reversed_count: np.ndarray
    immobilized_count: np.ndarray
    reset_count: np.ndarray     # (K,) evaluation resets so far
    penalty_s: np.ndarray       # (K,) evaluation penalty seconds so far
    pause_s: np.ndarray         # (K,) seconds the car is still held at rest (evaluation reset penalty)
    reset: np.ndarray           # (K,) bool: the car finished and already started its next episode

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


def episode_status(progress: np.ndarray, any_wheel_on_track: np.ndarray, crashed: np.ndarray,
                   falling_steps: np.ndarray, immobile_steps: np.ndarray, steps: np.ndarray,
                   max_steps: int) -> np.ndarray:
    """Status index (core.race_status) of K cars after a step; the first rule that holds wins:
    lap complete, crashed, off track (no wheel on the track), immobilized, reversed, time up."""
    return np.select(
        [progress >= 100.0, crashed, ~any_wheel_on_track, immobile_steps >= IMMOBILIZED_STEPS,
         falling_steps >= REVERSED_STEPS, steps >= max_steps],
        [rs.LAP_COMPLETE, rs.CRASHED, rs.OFF_TRACK, rs.IMMOBILIZED, rs.REVERSED, rs.TIME_UP],
        default=rs.IN_PROGRESS,
    )


def _resolve_reward(reward_function, copies: int):
    """A path (or None: the default reward) is loaded as a RewardFunction with one copy per car; anything
    else must be callable like one: ``fn(params, car, episode, step) -> float``."""
    if reward_function is None or isinstance(reward_function, (str, os.PathLike)):
        return RewardFunction(DEFAULT_REWARD_FILE if reward_function is None else reward_function, copies=copies)
    if not callable(reward_function):
        raise TypeError(f"reward_function must be a file path or a RewardFunction, got {type(reward_function).__name__}")
    return reward_function


class BatchedEnv:
    """K independent cars on one track, stepped together.

    ``actions`` are (K,) ints (discrete) or (K, 2) floats in [-1, 1] = (steering, speed) scaled to
    the continuous bounds (continuous). With ``autoreset`` a finished car starts its next episode
    inside the same step; ``episode_offset`` numbers the episodes and sets the round-robin start.
    """

    def __init__(self, track: str | Track = "reinvent_base", reward_function: Any = None,
                 model_metadata: ModelMetadata | dict | str | os.PathLike | None = None,
                 race: RaceConfig | dict | None = None, num_cars: int = 1, seed: int | None = None,
                 autoreset: bool = True, domain_randomization: bool = False, episode_offset: int = 0):
        self.metadata = as_model_metadata(model_metadata)
        self.race = race if isinstance(race, RaceConfig) else RaceConfig.from_dict(race)
        base = track if isinstance(track, Track) else Track.load(track)
        if base.reversed:
            base = base.reversed_copy()
        self.tracks = TrackPair(base)
        self.k = int(num_cars)
        if self.k < 1:
            raise ValueError(f"num_cars must be >= 1, got {num_cars}")
        self.reward_fn = _resolve_reward(reward_function, self.k)
        self.autoreset = autoreset
        self.rng = np.random.default_rng(seed)
        self.sensor_names = self.metadata.sensors
        self._camera = None
        if any(s in CAMERA_SENSORS for s in self.sensor_names):
            self._camera = sensors.CameraRenderer(base, rng_seed=int(self.rng.integers(2**31)),
                                                  domain_randomization=domain_randomization or self.race.robust)
        self._lidar = LidarSensor.for_sensors(base, self.sensor_names, self.metadata.lidar_config)  # None: no lidar
        self.observation_space = spaces.Dict({s: self._space_for(s) for s in self.sensor_names})
        #: the camera lenses' offsets to the left [m] that object_in_camera tests (two for stereo)
        self._lenses_left_m = ((car.STEREO_HALF_BASELINE_M, -car.STEREO_HALF_BASELINE_M)
                               if "STEREO_CAMERAS" in self.sensor_names else (0.0,))
        md = self.metadata
        if md.is_discrete:
            self.action_space: spaces.Space = spaces.Discrete(md.num_actions)
            self._steer_table = np.array([a.steering_angle_deg for a in md.discrete_actions])
            self._speed_table = np.array([a.speed_mps for a in md.discrete_actions])
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.world = World(self.race, base, self.k, self.rng)
        #: The car model that moves the cars (DEEPRACER_DYNAMICS, else the race's, e.g. a model's CAR_DYNAMICS).
        self.dynamics = car.effective_dynamics(self.race.dynamics)
        self._step_dynamics = car.dynamics_step(self.dynamics)
        #: robust training (simulation/robust.py): what each car drew for its episode; None when off
        self.robust: RobustDraw | None = None
        if self.race.robust:
            from .dynamics_four import FOUR_CONTACT_MODELS
            if self.dynamics not in FOUR_CONTACT_MODELS:
                raise ConfigError(f"robust training randomizes a four-contact car ({', '.join(FOUR_CONTACT_MODELS)}); "
                                  f"the car model is {self.dynamics} (DEEPRACER_DYNAMICS or the model's CAR_DYNAMICS)")
            self.robust = RobustDraw.nominal(self.k)
            self._last_steer_deg = np.zeros(self.k)
            self._last_speed_mps = np.zeros(self.k)
        self._episode_offset = self._next_episode = int(episode_offset)
        self.reward_time_s = 0.0
        self._init_state()

    # ------------------------------------------------------------------ spaces
    def _space_for(self, sensor: str) -> spaces.Space:
        return sensors.observation_space_for(sensor, self.metadata.lidar_config)

    def _init_state(self) -> None:
        k = self.k
        self.state = car.CarState.zeros(k)
        self.reversed = np.zeros(k, bool)
        self.episode = np.zeros(k, np.int64)
        self.steps = np.zeros(k, np.int64)
        self.lap_distance_m = np.zeros(k)
        self.lap_length_m = np.full(k, self.tracks.forward.length_m)
        self.prev_arc_m = np.zeros(k)
        self.falling = np.zeros(k, np.int64)
        self.immobile = np.zeros(k, np.int64)
        self.crashes = np.zeros(k, np.int64)
        self.off_tracks = np.zeros(k, np.int64)
        self.reversals = np.zeros(k, np.int64)
        self.immobilizations = np.zeros(k, np.int64)
        self.resets = np.zeros(k, np.int64)
        self.penalty_s = np.zeros(k)
        self.sim_time_s = np.zeros(k)
        self.done = np.zeros(k, bool)
        #: (K,) bool: the episode's next step is the reference's prepare step (car held at rest, reward 0)
        self.preparing = np.zeros(k, bool)
        #: (K,) seconds the car is still held at rest after an evaluation reset (the penalty)
        self.pause_left_s = np.zeros(k)
        self._measure: Measure | None = None

    # ------------------------------------------------------------------ reset
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start a new episode on every car; returns the first observations (K, ...).

        Without a seed the episodes continue the round robin of start positions."""
        if seed is not None:  # a seeded reset replays from the first episode: same starts, same noise
            self._next_episode = self._episode_offset
            self.rng = np.random.default_rng(seed)
            self.world.rng = self.rng
            if self._camera is not None:
                self._camera.rng = np.random.default_rng(int(self.rng.integers(2**31)))
        self._reset_cars(np.arange(self.k))
        return self._observe()

    def _reset_cars(self, cars: np.ndarray) -> None:
        if cars.size == 0:
            return
        cfg = self.race
        ids = self._next_episode + np.arange(cars.size)
        self._next_episode += cars.size
        rev = np.full(cars.size, cfg.reverse_direction)
        if cfg.alternate_direction:
            rev ^= (ids % 2 == 1)
        fwd = self.tracks.forward
        start_fwd = np.empty(cars.size)
        start_arc = np.empty(cars.size)     # the chassis centre's start, in each car's driving direction
        for i, (eid, r) in enumerate(zip(ids, rev)):
            tr = self.tracks.track(r)
            adv = cfg.round_robin_advance if cfg.training else 0.0
            arc = tr.start_arc(int(eid), cfg.start_offset_m, adv)
            pose = tr.pose_at(arc)
            self.state.x[cars[i]], self.state.y[cars[i]], self.state.yaw[cars[i]] = pose
            start_fwd[i] = fwd.length_m - arc if r else arc
            start_arc[i] = arc
        self.state.stop(cars)
        self.reversed[cars] = rev
        self.episode[cars] = ids
        self.steps[cars] = 0
        self.lap_distance_m[cars] = 0.0
        self.falling[cars] = 0
        self.immobile[cars] = 0
        for counter in (self.crashes, self.off_tracks, self.reversals, self.immobilizations, self.resets):
            counter[cars] = 0
        self.penalty_s[cars] = 0.0
        self.done[cars] = False
        self.world.reset(cars, start_fwd, np.where(rev, -1.0, 1.0))
        if cfg.training and self.world.has_objects:
            # an object within 1 m of the start: the car starts on the other lane (simapp
            # rollout_agent_ctrl._get_car_start_model_state)
            lane = self.world.start_lanes(cars, start_arc)
            side = np.flatnonzero(lane != 0)
            if side.size:
                pose = self.world.lane_poses(cars[side], start_arc[side], lane[side])
                self.state.x[cars[side]], self.state.y[cars[side]], self.state.yaw[cars[side]] = pose.T
        m = self.tracks.measure(self._subset_state(cars), rev)
        self.prev_arc_m[cars] = m.arc_m
        # Progress counts from the start position (the chassis centre), measured at the reference
        # point, as the simapp's (ndist(reference point) - start_ndist): the first call already
        # shows 0.14 m of it (about 0.8% on reinvent_base).
        ahead = m.arc_m - start_arc
        if fwd.is_loop:
            ahead = np.mod(ahead + fwd.length_m / 2, fwd.length_m) - fwd.length_m / 2
        self.lap_distance_m[cars] = ahead
        if not fwd.is_loop:  # open track: the lap is what is left from the start to the end
            self.lap_length_m[cars] = np.maximum(fwd.length_m - start_arc, 1e-6)
        self.preparing[cars] = True
        self.pause_left_s[cars] = 0.0
        if self.robust is not None:
            self.robust.draw(cars, self.rng)
        self._update_measure(cars, m)
        if self._camera is not None:   # domain randomization: new lights and colours per episode
            self._camera.randomize(cars)

    def _respawn(self, cars: np.ndarray, m, status: np.ndarray | None = None) -> None:
        """Evaluation resets of ``cars`` after the incident ``status`` (their status indices; None: crashed
        where a crash was found, else off track), as the simapp's rollout_agent_ctrl: a car that hit a
        bot is held where it is; any other goes back on a lane at its reference point's arc (1 m behind
        a box that is within 1 m of it, on the other lane; else the nearer lane: World.reset_poses).
        It is held at rest for the incident's penalty (RaceConfig.pause_s) while the clock runs;
        progress follows the new position, as the simapp's progress is positional."""
        cars = np.asarray(cars)
        if status is None:
            status = np.where(self.world.hit_object[cars] >= 0, rs.CRASHED, rs.OFF_TRACK)
        status = np.asarray(status)
        stay = (status == rs.CRASHED) & self.world.hit_bot(cars)
        move = cars[~stay]
        if move.size:
            xy = np.stack([self.state.x[move], self.state.y[move]], axis=1)
            pose = self.world.reset_poses(move, m.arc_m[move], xy)
            self.state.x[move], self.state.y[move], self.state.yaw[move] = pose[:, 0], pose[:, 1], pose[:, 2]
        self.state.stop(cars)
        self.falling[cars] = 0
        self.immobile[cars] = 0
        self.pause_left_s[cars] = self.race.pause_s(status)
        now = self.tracks.measure(self._subset_state(cars), self.reversed[cars])
        delta = now.arc_m - m.arc_m[cars]
        if self.tracks.forward.is_loop:
            length = self.tracks.forward.length_m
            delta = np.mod(delta + length / 2, length) - length / 2
        self.lap_distance_m[cars] += delta
        self.prev_arc_m[cars] = now.arc_m

    def _subset_state(self, cars: np.ndarray) -> car.CarState:
        return self.state.subset(cars)

    # ------------------------------------------------------------------ step
    def actions_to_commands(self, actions) -> tuple[np.ndarray, np.ndarray]:
        """Actions -> (commanded steering [deg], commanded speed [m/s]) of each car."""
        a = np.asarray(actions)
        md = self.metadata
        if md.is_discrete:
            a = a.reshape(self.k)
            if not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= md.num_actions:
                raise ValueError(f"discrete actions must be integers in [0, {md.num_actions - 1}], got {a!r}")
            return self._steer_table[a], self._speed_table[a]
        a = np.clip(a.reshape(self.k, 2).astype(np.float64), -1.0, 1.0)
        c = md.continuous
        steer = c.steering_low_deg + (a[:, 0] + 1.0) * 0.5 * (c.steering_high_deg - c.steering_low_deg)
        speed = c.speed_low_mps + (a[:, 1] + 1.0) * 0.5 * (c.speed_high_mps - c.speed_low_mps)
        return steer, speed

    def step(self, actions, max_resets: int | None = None) -> StepBatch:
        """One step of every active car, in the reference's order (simapp v6, model version >= 4):
        judge the pose the cars are in (the pose their observation and so the action came from:
        params, status, reward), then let the action move the world for 1/15 s and observe.

        So an episode's first step is the reference's *prepare* step (status "prepare", reward 0, the
        reward function is not called, the car stays at rest); the first reward call sees steps == 2
        with the car still at its start; going off track or completing the lap shows one step after
        the move that did it. With ``autoreset``, finished cars start a new episode (at most
        ``max_resets`` of them, lowest car index first; the others park until ``reset``).
        """
        steer_cmd, speed_cmd = self.actions_to_commands(actions)
        cfg = self.race
        active = ~self.done
        self.steps += active
        m = self._current_measure()
        progress = progress_percent(self.lap_distance_m, self.lap_length_m)

        crashed = np.zeros(self.k, bool)
        objects = None
        if self.world.has_objects:
            ob = self.world.obstacles
            # the simapp's crash rule (simulation/race.py World.collisions); a bot that runs into a
            # collidable car (not held after a reset) from behind stops the bots instead
            hit = self.world.collisions(self.state.body_corners(), m.arc_m)
            crashed = hit.crashed
            self.world.hold_bots(hit.rear_ended & active & ~(self.pause_left_s > 0.0))
            objects = measure_objects(self.tracks, ob, self.state, self.reversed, m.arc_m, self._lenses_left_m)
        any_on = m.wheels_on_track.any(axis=1)

        preparing = active & self.preparing
        paused = active & ~preparing & (self.pause_left_s > 0.0)
        running = active & ~preparing & ~paused
        status = episode_status(progress, any_on, crashed, self.falling, self.immobile, self.steps, cfg.max_steps)
        # a held car only finishes on the step limit (the reference keeps lap complete / time up)
        held_status = np.where(preparing, rs.PREPARE, rs.PAUSE)
        status = np.where(running | (status == rs.TIME_UP), status, held_status)
        status = np.where(active, status, rs.PARK)
        self.crashes += status == rs.CRASHED
        self.off_tracks += status == rs.OFF_TRACK
        self.reversals += status == rs.REVERSED
        self.immobilizations += status == rs.IMMOBILIZED
        respawn = np.zeros(self.k, bool)
        if cfg.resets:
            incident = np.isin(status, (rs.OFF_TRACK, rs.CRASHED, rs.REVERSED, rs.IMMOBILIZED))
            respawn = incident & (self.resets < cfg.max_resets)
            self.penalty_s += np.where(respawn, cfg.pause_s(status), 0.0)
            self.resets += respawn

        rewards = self._rewards(m, progress, speed_cmd, steer_cmd, crashed, objects, running)

        terminated = active & ~respawn & np.isin(status, (rs.LAP_COMPLETE, rs.CRASHED, rs.OFF_TRACK,
                                                          rs.IMMOBILIZED, rs.REVERSED))
        truncated = active & (status == rs.TIME_UP)
        finished = terminated | truncated
        result = StepBatch(
            obs={}, reward=rewards, terminated=terminated, truncated=truncated, status=status,
            progress=progress, episode=self.episode.copy(), steps=self.steps.copy(),
            x=m.ref_xy[:, 0].copy(), y=m.ref_xy[:, 1].copy(), yaw_deg=np.degrees(self.state.yaw),
            steering_deg=steer_cmd, speed_mps=speed_cmd, all_wheels_on_track=m.wheels_on_track.all(axis=1),
            closest_waypoint=m.segment + 1, sim_time_s=self.sim_time_s.copy(), crash_count=self.crashes.copy(),
            off_track_count=self.off_tracks.copy(), reversed_count=self.reversals.copy(),
            immobilized_count=self.immobilizations.copy(), reset_count=self.resets.copy(),
            penalty_s=self.penalty_s.copy(), pause_s=np.where(paused, self.pause_left_s, 0.0),
            reset=np.zeros(self.k, bool),
        )
        if respawn.any():
            self._respawn(np.flatnonzero(respawn), m, status[respawn])

        # The action moves the world. Cars held (prepare, pause, just put back) stay at rest.
        self.preparing &= ~active
        self.pause_left_s = np.where(paused, np.maximum(self.pause_left_s - car.STEP_S, 0.0), self.pause_left_s)
        move = running & ~finished & ~respawn
        self._move(move, steer_cmd, speed_cmd)

        if self.autoreset:
            restart = np.flatnonzero(finished)
            if max_resets is not None:
                restart = restart[:max(0, int(max_resets))]
            result.reset[restart] = True
            self._reset_cars(restart)
        self.done |= finished & ~result.reset
        result.obs = self._observe()
        return result

    def _move(self, move: np.ndarray, steer_cmd: np.ndarray, speed_cmd: np.ndarray) -> None:
        """Apply the commands (with the race's action noise) to the cars ``move`` (K,) bool for one step,
        move the obstacles, advance the clock, then measure the new poses: progress, reversing and
        immobility counters, and the cached measure the next step and the STATE sensor read."""
        cfg = self.race
        steer_eff, speed_eff = steer_cmd, speed_cmd
        if cfg.action_noise_speed_fraction > 0:
            speed_eff = speed_eff * (1.0 + self.rng.normal(0.0, cfg.action_noise_speed_fraction, self.k))
        if cfg.action_noise_steering_deg > 0:
            steer_eff = steer_eff + self.rng.normal(0.0, cfg.action_noise_steering_deg, self.k)
        speed_eff = car.clip_speed(speed_eff)
        steer_eff = car.clip_steering(steer_eff)
        if self.robust is not None:   # one step of latency for the cars that drew it, and each car's speed gain
            late = self.robust.latency
            steer_now, speed_now = steer_eff, speed_eff
            steer_eff = np.where(late, self._last_steer_deg, steer_now)
            speed_eff = np.where(late, self._last_speed_mps, speed_now) * self.robust.speed_gain
            self._last_steer_deg, self._last_speed_mps = steer_now, speed_now
        self.world.step(car.STEP_S)
        moved = self._advance_cars(move, steer_eff, speed_eff)
        self.sim_time_s += car.STEP_S
        m = self.tracks.measure(self.state, self.reversed)
        # progress along the centre line since the start (wrapping at the finish line)
        delta = m.arc_m - self.prev_arc_m
        if self.tracks.forward.is_loop:
            length = self.tracks.forward.length_m
            delta = np.mod(delta + length / 2, length) - length / 2
        delta = np.where(move, delta, 0.0)
        self.prev_arc_m = m.arc_m
        self.lap_distance_m += delta
        self.falling = np.where(move & (delta < -1e-9), self.falling + 1, np.where(move, 0, self.falling))
        self.immobile = np.where(move & (moved <= IMMOBILE_DISTANCE_M), self.immobile + 1,
                                 np.where(move, 0, self.immobile))
        self._measure = m

    def _advance_cars(self, move: np.ndarray, steer_deg: np.ndarray, speed_mps: np.ndarray) -> np.ndarray:
        """Move the cars ``move`` (K,) bool for one step with the clipped commands (K,) each, updating
        ``self.state`` in place; the others stay at rest. Returns each car's distance moved [m] (K,).
        The fast simulator's car dynamics; another backend (simulation/gazebo) replaces this."""
        if self.robust is not None:
            from .dynamics_four import step_dynamics_randomized
            moved = step_dynamics_randomized(self.dynamics, self.state, speed_mps, np.deg2rad(steer_deg), car.STEP_S,
                                             move, self.robust.steering_gain_per_tick, self.robust.grip_scale)
            self.robust.shake(self.state, move, self.rng)
            return moved
        return self._step_dynamics(self.state, speed_mps, np.deg2rad(steer_deg), car.STEP_S, move)

    def _current_measure(self) -> Measure:
        """The track-relative measure of every car's current pose (cached until a car moves or restarts)."""
        if self._measure is None:
            self._measure = self.tracks.measure(self.state, self.reversed)
        return self._measure

    def _update_measure(self, cars: np.ndarray, m: Measure) -> None:
        """Cars ``cars`` were put somewhere new and ``m`` measures them there: patch the cache."""
        if self._measure is not None:
            self._measure.assign(cars, m)

    def _rewards(self, m, progress, speed_cmd, steer_cmd, crashed, objects, active) -> np.ndarray:
        """Build every car's params and call the reward function of each active car.

        Python's cyclic garbage collector is paused meanwhile: the thousands of params dicts hold no
        cycles (reference counting frees them), and letting the collector scan them doubled the cost.
        """
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            params = build_params(self.tracks, m, self.reversed, progress, self.steps.astype(np.float64),
                                  self.state.yaw, speed_cmd, steer_cmd, crashed, self.sim_time_s, objects)
            rewards = np.zeros(self.k)
            t0 = time.perf_counter()
            fn = self.reward_fn
            episode, steps = self.episode.tolist(), self.steps.tolist()
            for i in np.flatnonzero(active).tolist():
                rewards[i] = fn(params[i], i, episode[i], steps[i])
            self.reward_time_s += time.perf_counter() - t0
        finally:
            if gc_was_enabled:
                gc.enable()
        return rewards

    # ------------------------------------------------------------------ observe
    def _observe(self) -> dict[str, np.ndarray]:
        s = self.state
        ob = self.world.obstacles if self.world.has_objects else None
        out: dict[str, np.ndarray] = {}
        ranges = None
        for name in self.sensor_names:
            if name in CAMERA_SENSORS:
                out[name] = self._camera_observation(name, ob)
                if self.robust is not None:
                    out[name] = self.robust.camera(out[name], self.rng)
            elif name == "STATE":
                m = self._current_measure()
                out[name] = state_sensor.state_vector(self.tracks, s, self.reversed, m.arc_m, m.ref_xy)
            else:
                if ranges is None:
                    ranges = self._lidar_ranges(ob)
                out[name] = sensors.lidar_input(name, ranges, self.metadata.lidar_config)
        return out

    def _lidar_ranges(self, obstacles) -> np.ndarray:
        """Every car's raw lidar ranges (K, 64) float32 [m], beams in the network's order. The fast
        simulator's ray caster (noise re-seeded by reset(seed)); another backend (simulation/gazebo)
        replaces this."""
        s = self.state
        return self._lidar.ranges(s.x, s.y, s.yaw, obstacles, rng=self.rng)

    def _camera_observation(self, name: str, obstacles) -> np.ndarray:
        """The camera sensor ``name``'s frames of every car: (K, 120, 160, 1) uint8, stereo (K, 120, 160, 2).
        The fast simulator's renderer; another backend (simulation/gazebo) replaces this."""
        s = self.state
        if name == "STEREO_CAMERAS":
            return sensors.render_stereo(self._camera, s.x, s.y, s.yaw, obstacles)
        return self._camera.render(s.x, s.y, s.yaw, obstacles)[..., None]


class DeepRacerEnv(gym.Env):
    """One DeepRacer car as a Gymnasium env (id ``DeepRacer-v0``).

    Observations are a Dict keyed by sensor name (model_metadata ``sensor``); actions are a
    Discrete index into the action space, or a Box of (steering, speed) in [-1, 1] for continuous.
    ``info`` carries the episode status, progress and the step's reward params facts.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(car.STEP_HZ)}

    def __init__(self, track: str | Track = "reinvent_base", reward_function: Any = None,
                 model_metadata: Any = None, race: RaceConfig | dict | None = None, seed: int | None = None,
                 domain_randomization: bool = False, render_mode: str | None = None):
        self._env = BatchedEnv(track, reward_function, model_metadata, race, num_cars=1, seed=seed,
                               autoreset=False, domain_randomization=domain_randomization)
        self.observation_space = self._env.observation_space
        self.action_space = self._env.action_space
        self.render_mode = render_mode
        self._last_obs: dict[str, np.ndarray] | None = None

    @staticmethod
    def _first(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs = self._first(self._env.reset(seed=seed))
        self._last_obs = obs
        return obs, {"episode_status": rs.STATUSES[rs.IN_PROGRESS], "progress": 0.0}

    def step(self, action):
        if self.action_space.__class__ is spaces.Discrete:
            a = np.array([int(action)])
        else:
            a = np.asarray(action, dtype=np.float32).reshape(1, 2)
        r = self._env.step(a)
        obs = self._first(r.obs)
        self._last_obs = obs
        info = {"episode_status": rs.STATUSES[int(r.status[0])], "progress": float(r.progress[0]),
                "steps": int(r.steps[0]), "x": float(r.x[0]), "y": float(r.y[0]),
                "all_wheels_on_track": bool(r.all_wheels_on_track[0])}
        return obs, float(r.reward[0]), bool(r.terminated[0]), bool(r.truncated[0]), info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        cam = self._env._camera or sensors.CameraRenderer(self._env.tracks.forward)
        s = self._env.state
        gray = cam.render(s.x, s.y, s.yaw, self._env.world.obstacles if self._env.world.has_objects else None)[0]
        return np.repeat(gray[..., None], 3, axis=2)


def batched_env_class(backend: str) -> type[BatchedEnv]:
    """The env class that runs a batch of cars at once in ``backend``: "fast" (BatchedEnv) or "dart" (DartEnv,
    simulation/dart: the v6 reference's car in DART, for evaluation and checking)."""
    if backend == "dart":
        from .dart.env import DartEnv
        return DartEnv
    if backend != "fast":
        raise ValueError(f"backend {backend!r} is not one of fast, dart")
    return BatchedEnv
