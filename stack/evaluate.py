"""`make evaluate MODEL=... TRACK=... TRIALS=3`: race a trained model with the reference's rules.

Each trial starts at the start line and drives one lap with the greedy policy (argmax / the mean
action). Off track ends the trial unless resets are on, in which case the car is put back on the
track and held at rest for a penalty while the clock runs (DRfC defaults: 5 s off track, 5 s
collision; simulation/env.py). The real car and the Gazebo
simulator are not deterministic; trials here get a small action noise so that they differ
(EVAL_ACTION_NOISE_*; set both to 0 for identical trials). A trial's lap time and, in the metrics
JSON, its elapsed time are simulated time, the penalty pauses included (as the reference's).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import race_status as rs
from core.config import CAMERA_SENSORS, parse_model_metadata
from core.model_folder import ModelFolder, format_timestamp
from core.policy import FrozenPolicy
from core.traces import EvaluationMetrics, simtrace_csv
from simulation.car import STEP_HZ, effective_dynamics
from simulation.env import BatchedEnv, batched_env_class
from simulation.race import RaceConfig
from simulation.reward import IsolatedRewardFunction
from simulation.rollout import simtrace_rows
from simulation.track import Track

from .export import choose_checkpoint
from .model_setup import read_run_specs

EVAL_ACTION_NOISE_SPEED_FRACTION = 0.02
EVAL_ACTION_NOISE_STEERING_DEG = 1.0
#: A trial that has not finished after this long [simulated s] ends as time_up.
EVAL_TIME_LIMIT_S = 180.0
#: Width of the top view in evaluation videos [px].
VIDEO_TOP_WIDTH_PX = 640


@dataclass
class TrialResult:
    trial: int
    status: str
    progress: float          # 0-100
    lap_time_s: float | None  # simulated time + penalties, when the lap was completed
    sim_time_s: float
    penalty_s: float
    off_track: int
    crashed: int
    reversed: int
    immobilized: int
    resets: int
    start_time_ms: float     # wall clock at the start [ms since the epoch]


@dataclass
class EvaluationResult:
    checkpoint: int
    trials: list[TrialResult]
    metrics_key: str
    simtrace_key: str
    track: str = ""
    reversed: bool = False   # the trials drove the track in reverse direction
    video_keys: list[str] = dataclasses.field(default_factory=list)     # one MP4 per trial in the folder (video=True)
    video_files: list[Path] = dataclasses.field(default_factory=list)   # their copies in ``video_dir``
    video_seconds: float = 0.0   # wall time spent drawing and encoding the videos
    #: the fast simulator's car model the trials ran with and why ("the model's CAR_DYNAMICS" or
    #: "DEEPRACER_DYNAMICS"); for a Gazebo or DART evaluation, the car model of the fast simulator's side
    car_dynamics: str = ""
    car_dynamics_source: str = ""

    @property
    def car_line(self) -> str:
        """One line saying which car model the fast simulator used."""
        return f"fast simulator's car model: {self.car_dynamics} ({self.car_dynamics_source})"


class _Recorder:
    """The evaluation videos (stack.video): a TrialVideo per trial, fed before every step."""

    def __init__(self, route: Track, metadata, trials: int, tmp: Path) -> None:
        from simulation.raceline import load_or_compute
        from simulation.sensors import CameraRenderer
        from simulation.topdown import TopDownView

        from .video import TrialVideo

        try:
            rl, _ = load_or_compute(route)
            top = TopDownView(route, VIDEO_TOP_WIDTH_PX, rl.xy, rl.speed_mps)
        except Exception:   # noqa: BLE001 - a track the line cannot be computed for still gets its video
            top = TopDownView(route, VIDEO_TOP_WIDTH_PX)
        self.metadata = metadata
        self.camera = next((s for s in metadata.sensors if s in CAMERA_SENSORS), None)
        self.renderer = None if self.camera else CameraRenderer(route)
        label = "" if self.camera else f"camera view (not an input of this {'+'.join(metadata.sensors)} model)"
        self.videos = [TrialVideo(tmp / f"trial-{i + 1}.mp4", top, camera_label=label) for i in range(trials)]
        self.trails: list[list[tuple[float, float]]] = [[] for _ in range(trials)]
        self.seconds = 0.0

    def _action_text(self, a) -> str:
        md = self.metadata
        if md.is_discrete:
            act = md.discrete_actions[int(a)]
            return f"{int(a)}: {act.steering_angle_deg:+.1f} deg, {act.speed_mps:.2f} m/s"
        c = md.continuous
        steer = c.steering_low_deg + (float(a[0]) + 1) / 2 * (c.steering_high_deg - c.steering_low_deg)
        speed = c.speed_low_mps + (float(a[1]) + 1) / 2 * (c.speed_high_mps - c.speed_low_mps)
        return f"{steer:+.1f} deg, {speed:.2f} m/s (continuous)"

    def record(self, env: BatchedEnv, obs: dict, actions: np.ndarray, cars: np.ndarray, first_trial: int = 1) -> None:
        """Add a frame to the video of each of ``cars`` (env car i is trial ``first_trial + i``)."""
        from simulation.topdown import CarMark

        from .video import panel_lines

        t0 = time.perf_counter()
        s = env.state
        if self.camera is None:
            frames = self.renderer.render(s.x[cars], s.y[cars], s.yaw[cars])
        for j, i in enumerate(cars.tolist()):
            v = first_trial - 1 + i
            camera = obs[self.camera][i][..., 0] if self.camera else frames[j]
            self.trails[v].append((float(s.x[i]), float(s.y[i])))
            mark = CarMark(float(s.x[i]), float(s.y[i]), float(s.yaw[i]), np.array(self.trails[v]))
            lines = panel_lines(v + 1, len(self.trails[v]), float(s.speed_mps[i]), float(np.degrees(s.steering_rad[i])),
                                self._action_text(actions[i]))
            self.videos[v].add(camera, mark, lines)
        self.seconds += time.perf_counter() - t0

    def close(self) -> list[Path]:
        return [v.close() for v in self.videos]


#: Simulators evaluate can race in: the fast simulator (all trials at once), a Gazebo sim (simulation/gazebo:
#: the v5 kind; one car, trials one after another; GAZEBO_MASTER_URI names it) or DART (simulation/dart: the
#: v6 reference's car in the DART physics engine, in this process; all trials at once, a DART world each).
BACKENDS = ("fast", "gazebo", "dart")


def _race(env, obs: dict, policy: FrozenPolicy, rng: np.random.Generator, metadata, route: Track,
          recorder: "_Recorder | None", first_trial: int) -> tuple[list[TrialResult], list[dict]]:
    """Race every car of ``env`` from its first observations ``obs`` (just reset) until each finishes: car
    i is trial ``first_trial + i``. Returns the trials' results and sim-trace rows."""
    k = env.k
    start_ms = time.time() * 1000
    results: list[TrialResult | None] = [None] * k
    rows: list[dict] = []
    while any(r is None for r in results):
        actions, _, _ = policy.act(obs, rng, greedy=True)
        live = np.array([res is None for res in results])
        if recorder is not None:
            recorder.record(env, obs, actions, np.flatnonzero(live), first_trial)
        r = env.step(actions)
        rows += simtrace_rows(r, actions, metadata.is_discrete, env.tracks.forward.length_m, np.flatnonzero(live),
                              [route.name] * k)
        for i in np.flatnonzero(r.done & live).tolist():
            status = rs.STATUSES[int(r.status[i])]
            lap = status == "lap_complete"
            results[i] = TrialResult(
                trial=first_trial + i, status=status, progress=float(r.progress[i]),
                lap_time_s=float(r.steps[i] / STEP_HZ) if lap else None,
                sim_time_s=float(r.steps[i] / STEP_HZ), penalty_s=float(r.penalty_s[i]),
                off_track=int(r.off_track_count[i]), crashed=int(r.crash_count[i]),
                reversed=int(r.reversed_count[i]), immobilized=int(r.immobilized_count[i]),
                resets=int(r.reset_count[i]), start_time_ms=start_ms)
        obs = r.obs
    return results, rows


def evaluate(folder: ModelFolder, track: str | None = None, trials: int = 3, checkpoint: str | int | None = "last",
             race: dict | None = None, seed: int = 0, spec_race: dict | None = None, video: bool = False,
             video_dir: str | Path | None = None, backend: str = "fast",
             gazebo_master_uri: str | None = None) -> EvaluationResult:
    """Run ``trials`` evaluation laps of ``folder``'s policy; write metrics and sim-trace into the folder.

    The race (type, objects, bots, direction) is the model's run spec (training_params.yaml) with
    ``spec_race`` (run-spec names, e.g. race_type) on top; ``track`` defaults to the spec's track;
    ``race`` holds evaluation options of simulation.race.RaceConfig (resets, penalties).
    ``video``: also an MP4 per trial (stack.video) into the folder's ``evaluation-<ts>/video/`` and,
    when given, ``video_dir``. Without it nothing is rendered or encoded.
    ``backend``: BACKENDS; with "gazebo" the trials run one after another on the Gazebo sim's car
    (``gazebo_master_uri``, default $GAZEBO_MASTER_URI); its videos show Gazebo's camera frames as the
    network gets them (a model without a camera: the fast renderer's view from Gazebo's pose); with "dart"
    the cars move in DART (simulation/dart) and everything else is the fast simulator's."""
    if trials < 1:
        raise ValueError(f"TRIALS must be >= 1, got {trials}")
    if backend not in BACKENDS:
        raise ValueError(f"BACKEND {backend!r} is not one of {', '.join(BACKENDS)}")
    specs = read_run_specs(folder)
    spec = dataclasses.replace(specs[0], **(spec_race or {})) if specs else \
        folder.new_training_params(**(spec_race or {}))
    route = Track.from_model_folder(folder, track or spec.world_name)  # a custom track stored with the model works anywhere
    n = choose_checkpoint(folder, checkpoint)
    metadata = parse_model_metadata(folder.read_json(folder.model_metadata()), source=folder.model_metadata())
    policy = FrozenPolicy.from_bytes(folder.storage.get_bytes(folder.frozen_model(n)), metadata)
    options = {**spec.race_options(route.length_m),
               "action_noise_speed_fraction": EVAL_ACTION_NOISE_SPEED_FRACTION,
               "action_noise_steering_deg": EVAL_ACTION_NOISE_STEERING_DEG,
               "max_steps": int(EVAL_TIME_LIMIT_S * 15)}
    options.update(race or {})
    options["training"] = False  # every trial starts at the start line
    options["robust"] = False    # and drives the nominal car (robust training randomizes training only)
    race_cfg = RaceConfig.from_dict(options)
    rng = np.random.default_rng(seed)
    reward = IsolatedRewardFunction(folder.storage.get_bytes(folder.reward_function()), copies=trials,
                                    display_path=f"{folder.reward_function()} ({folder.storage.describe()})")
    tmp = tempfile.TemporaryDirectory(prefix="deepracer-video-") if video else None
    recorder = _Recorder(route, metadata, trials, Path(tmp.name)) if tmp else None
    if backend == "gazebo":
        from simulation.gazebo.env import GazeboEnv

        env = GazeboEnv(route, reward, metadata, race_cfg, num_cars=1, seed=seed, autoreset=False,
                        master_uri=gazebo_master_uri)
        results, rows = [], []
        for t in range(trials):   # one car: the trials one after another
            obs = env.reset(seed=seed + t)
            res, trial_rows = _race(env, obs, policy, rng, metadata, route, recorder, first_trial=t + 1)
            results += res
            for row in trial_rows:
                row["episode"] = t
            rows += trial_rows
    else:
        env = batched_env_class(backend)(route, reward, metadata, race_cfg, num_cars=trials, seed=seed, autoreset=False)
        obs = env.reset()
        results, rows = _race(env, obs, policy, rng, metadata, route, recorder, first_trial=1)
    stamp = format_timestamp(time.time())
    metrics = EvaluationMetrics()
    for t in results:
        metrics.add_trial(trial=t.trial, completion_percentage=t.progress, episode_status=t.status,
                          start_time_ms=t.start_time_ms, end_time_ms=t.start_time_ms + 1000 * t.sim_time_s,
                          crash_count=t.crashed, immobilized_count=t.immobilized, off_track_count=t.off_track,
                          reversed_count=t.reversed)
    metrics_key = folder.evaluation_metrics(stamp)
    folder.write_json(metrics_key, metrics.to_json_dict())
    rows.sort(key=lambda row: (row["episode"], row["steps"]))
    simtrace_key = folder.evaluation_simtrace(stamp)
    folder.storage.put_bytes(simtrace_key, simtrace_csv(rows).encode())
    result = EvaluationResult(n, results, metrics_key, simtrace_key, route.name, bool(race_cfg.reverse_direction))
    result.car_dynamics = effective_dynamics(race_cfg.dynamics)
    recorded = specs[0].car_dynamics if specs else ""
    if result.car_dynamics != spec.trained_car_dynamics:
        result.car_dynamics_source = f"DEEPRACER_DYNAMICS; the model trained with {spec.trained_car_dynamics}"
    else:
        result.car_dynamics_source = ("the model's CAR_DYNAMICS" if recorded else
                                      "not recorded in training_params.yaml: the car of earlier versions")
    if recorder is not None:
        with tmp:
            for i, path in enumerate(recorder.close()):
                key = folder.evaluation_video(stamp, i + 1)
                folder.storage.put_bytes(key, path.read_bytes())
                result.video_keys.append(key)
                if video_dir is not None:
                    out = Path(video_dir) / Path(key).parent.parent.name / path.name
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, out)
                    result.video_files.append(out)
        result.video_seconds = recorder.seconds
    return result
