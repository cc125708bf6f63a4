"""Benchmarks (figures go in the README; not timed tests).

`deepracer-local bench sim`: env steps per second of the batched simulator for each sensor, one
process, the default reward function called for every car on every step, and the share of the
time spent inside the reward function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from simulation.controller import pure_pursuit
from simulation.env import BatchedEnv

#: name -> (model_metadata sensors, race type). Lidar sees only objects, so it runs with boxes.
SENSOR_SETUPS = {
    "STATE": (["STATE"], "TIME_TRIAL"),
    "FRONT_FACING_CAMERA": (["FRONT_FACING_CAMERA"], "TIME_TRIAL"),
    "STEREO_CAMERAS": (["STEREO_CAMERAS"], "TIME_TRIAL"),
    "CAMERA+LIDAR+boxes": (["FRONT_FACING_CAMERA", "LIDAR"], "OBJECT_AVOIDANCE"),
}


@dataclass
class SimBenchResult:
    sensor: str
    cars: int
    env_steps: int
    seconds: float
    reward_seconds: float
    episodes: int

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.seconds

    @property
    def reward_share(self) -> float:
        return self.reward_seconds / self.seconds


def bench_sim(sensor: str, cars: int = 256, seconds: float = 5.0, track: str = "reinvent_base",
              seed: int = 0) -> SimBenchResult:
    """Step ``cars`` cars for about ``seconds`` of wall time (only env.step is timed)."""
    sensors, race_type = SENSOR_SETUPS[sensor]
    meta = {"action_space": [{"steering_angle": s, "speed": v} for s in (-30, -15, 0, 15, 30) for v in (0.8, 1.6)],
            "sensor": sensors, "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"}
    env = BatchedEnv(track, None, meta, {"race_type": race_type}, num_cars=cars, seed=seed)
    env.reset()
    rng = np.random.default_rng(seed)
    for _ in range(3):  # warm-up
        env.step(pure_pursuit(env, steering_noise_deg=8.0, rng=rng))
    env.reward_time_s = 0.0
    steps = episodes = 0
    spent = 0.0
    while spent < seconds:
        a = pure_pursuit(env, steering_noise_deg=8.0, rng=rng)
        t0 = time.perf_counter()
        r = env.step(a)
        spent += time.perf_counter() - t0
        steps += cars
        episodes += int(r.done.sum())
    return SimBenchResult(sensor, cars, steps, spent, env.reward_time_s, episodes)


@dataclass
class TrainBenchResult:
    preset: str
    laps_done_after_s: float | None   # wall time from start until 3 of 3 evaluation laps
    iterations: int
    episodes: int
    best_lap_s: float | None
    ppo_samples_per_s: float
    evaluations: list[tuple[float, int, list[str]]]  # (elapsed s, checkpoint, statuses)


def bench_train(preset: str = "state", minutes: float = 5.0, track: str = "reinvent_base", sims: int = 1,
                trials: int = 3, models_dir=None, seed: int = 0, console=None) -> TrainBenchResult:
    """Train from scratch with the default reward until the model finishes ``trials`` of ``trials``
    evaluation laps (checked whenever the per-iteration greedy lap completes) or ``minutes`` pass.
    The evaluation time counts in the wall time."""
    import tempfile
    from pathlib import Path

    from .evaluate import evaluate
    from .train import TrainRequest, run_training

    state = {"t0": time.monotonic(), "done_s": None, "best": None, "evals": []}

    def on_report(r, folder) -> None:
        if r.eval_progress is None or r.eval_progress < 100.0:
            return
        res = evaluate(folder, track, trials=trials, checkpoint="last", seed=seed)
        elapsed = time.monotonic() - state["t0"]
        statuses = [t.status for t in res.trials]
        state["evals"].append((elapsed, res.checkpoint, statuses))
        laps = [t.lap_time_s for t in res.trials if t.lap_time_s is not None]
        if laps:
            state["best"] = min(laps + ([state["best"]] if state["best"] else []))
        if console:
            console.print(f"  evaluation of checkpoint {res.checkpoint} at {elapsed / 60:.1f} min: {statuses}")
        if len(laps) == trials:
            state["done_s"] = elapsed

    with tempfile.TemporaryDirectory(prefix="deepracer-bench-") as tmp:
        req = TrainRequest(track=track, model=f"bench-{preset}", preset=preset, sims=sims, minutes=minutes,
                           models_dir=Path(models_dir or tmp), seed=seed)
        reports, _ = run_training(req, console, on_report=on_report, should_stop=lambda: state["done_s"] is not None)
    ups = [r.update for r in reports if r.update]
    rate = sum(u.samples for u in ups) / max(sum(u.seconds for u in ups), 1e-9)
    return TrainBenchResult(preset, state["done_s"], len(reports), reports[-1].total_episodes if reports else 0,
                            state["best"], rate, state["evals"])
