"""Benchmarks (figures go in the README; not timed tests).

`deepracer-local bench sim`: env steps per second of the batched simulator for each sensor, one
process, the default reward function called for every car on every step, and the share of the
time spent inside the reward function.

`deepracer-local bench train`: wall time of one model from scratch until 3 of 3 evaluation laps.

`deepracer-local bench scenario`: the same few models (scenario 2) trained one after another, then
all at once as a scenario: wall time to finish them all, and total env steps/s, for both.

`deepracer-local bench laps`: from scratch with the racing line's suggested action space and the
example reward (simulation.raceline), the best evaluation lap after each of a few marks (15 and 30
minutes by default), as a ratio to the track's reference lap.

`deepracer-local bench ppo`: samples/s of one PPO update (``PPO.update``, one epoch over a fixed
iteration of random observations) per network, in float32 and in mixed bfloat16.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from simulation.controller import pure_pursuit

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
              seed: int = 0, backend: str = "fast", robust: bool = False) -> SimBenchResult:
    """Step ``cars`` cars for about ``seconds`` of wall time (only env.step is timed); ``backend`` "dart":
    the cars move in DART (simulation/dart), everything else as in the fast simulator; ``robust``: robust
    training's randomized cars and cameras (simulation/robust.py)."""
    sensors, race_type = SENSOR_SETUPS[sensor]
    meta = {"action_space": [{"steering_angle": s, "speed": v} for s in (-30, -15, 0, 15, 30) for v in (0.8, 1.6)],
            "sensor": sensors, "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"}
    if backend not in ("fast", "dart"):
        raise ValueError(f"BACKEND {backend!r} is not one of fast, dart (bench sim)")
    from simulation.env import batched_env_class

    env = batched_env_class(backend)(track, None, meta, {"race_type": race_type, "robust": robust}, num_cars=cars, seed=seed)
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


#: bench ppo's networks: name -> (preset whose hyperparameters (batch size) it uses, sensors, neural_network)
PPO_NETWORKS = {
    "STATE": ("state", ["STATE"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"),
    "camera SHALLOW": ("default", ["FRONT_FACING_CAMERA"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"),
    "camera STANDARD": ("default", ["FRONT_FACING_CAMERA"], "DEEP_CONVOLUTIONAL_NETWORK"),
    "camera DEEP": ("default", ["FRONT_FACING_CAMERA"], "DEEP_CONVOLUTIONAL_NETWORK_DEEP"),
    "stereo SHALLOW": ("stereo", ["STEREO_CAMERAS"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"),
}


@dataclass
class PpoBenchResult:
    network: str
    precision: str
    batch_size: int
    samples: int       # samples processed in the timed updates
    seconds: float     # wall time of the timed updates

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds


def random_ppo_iteration(md, n: int, rng: np.random.Generator) -> tuple:
    """``PPO.update``'s arguments for ``n`` random samples of ``md``'s sensors and action space (a fixed
    piece of work to time): observations (uint8 cameras, normal floats otherwise), actions, their log
    probabilities under a uniform policy, advantages and returns."""
    from core.observations import observation_dtype, observation_shape

    obs = {}
    for s in md.sensors:
        shape, dtype = (n, *observation_shape(s, md.lidar_config)), observation_dtype(s)
        obs[s] = (rng.integers(0, 256, shape, dtype=np.uint8) if dtype == np.uint8
                  else rng.normal(size=shape).astype(np.float32))
    if md.is_discrete:
        actions = rng.integers(0, md.num_actions, n)
        old_logp = np.full(n, -np.log(md.num_actions), np.float32)
    else:
        actions = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        old_logp = np.full(n, -2.0 * (0.5 * np.log(2 * np.pi) + 0.5), np.float32)
    adv, ret = rng.normal(size=(2, n)).astype(np.float32)
    return obs, actions, old_logp, adv, ret


def bench_ppo(network: str, precision: str, seconds: float = 10.0, iteration_samples: int | None = None,
              seed: int = 0) -> PpoBenchResult:
    """Time ``PPO.update`` (one epoch per call, the preset's batch size) on an iteration of random
    observations of ``network`` for about ``seconds`` after one warm-up update. The iteration holds
    ``iteration_samples`` (default: 20 minibatches, as the default preset's iterations come to)."""
    import dataclasses

    from core.config import load_hyperparameters, load_model_metadata, preset_files
    from trainer.ppo import PPO

    if network not in PPO_NETWORKS:
        raise ValueError(f"unknown network {network!r}; available: {', '.join(PPO_NETWORKS)}")
    preset, sensors, neural_network = PPO_NETWORKS[network]
    metadata_file, hp_file = preset_files(preset)
    md = dataclasses.replace(load_model_metadata(metadata_file), sensors=tuple(sensors), neural_network=neural_network)
    hp = dataclasses.replace(load_hyperparameters(hp_file), num_epochs=1)
    ppo = PPO(md, hp, seed=seed, precision=precision)
    work = random_ppo_iteration(md, iteration_samples or 20 * hp.batch_size, np.random.default_rng(seed))
    ppo.update(*work)   # warm-up: traces and compiles
    samples, spent = 0, 0.0
    while spent < seconds:
        stats = ppo.update(*work)
        samples += stats.samples
        spent += stats.seconds
    return PpoBenchResult(network, ppo.precision, hp.batch_size, samples, spent)


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


LAPS_MARKS_MIN = (15.0, 30.0)
"""bench laps: the wall-clock marks [min] at which the best evaluation lap so far is reported."""
#: bench laps: hyperparameters that would end a long run early (the presets' stop conditions)
_NO_EARLY_STOP = {"term_cond_max_episodes": 10**9, "term_cond_avg_score": 1e12}


@dataclass
class LapsBenchResult:
    preset: str
    track: str
    reference_lap_s: float
    actions: list[tuple[float, float]]            # the suggested (steering deg, speed m/s) pairs trained with
    marks_min: tuple[float, ...]
    best_at_mark_s: list[float | None]            # best evaluation lap up to each mark [simulated s]
    first_lap_min: float | None                   # wall time of the first completed evaluation lap
    iterations: int
    episodes: int
    samples_per_s: float                          # PPO update throughput of the run
    laps: list[tuple[float, float]]               # (wall min, evaluation lap s) of every completed evaluation lap

    def ratio(self, lap_s: float | None) -> float | None:
        return None if lap_s is None else lap_s / self.reference_lap_s


def bench_laps(preset: str = "state", marks_min: tuple[float, ...] = LAPS_MARKS_MIN, track: str = "reinvent_base",
               actions: int | None = None, sims: int = 1, seed: int = 0, models_dir=None,
               console=None) -> LapsBenchResult:
    """Train ``preset`` (its sensors, network and hyperparameters) from scratch on ``track`` for
    max(marks_min) minutes with the racing line's suggested action space (``actions`` of them,
    default simulation.raceline.DEFAULT_ACTIONS) and the raceline reward for that track (the
    generated rewards/raceline_<track>.py form). The learner's greedy evaluation episodes of every
    iteration give the lap times; the presets' stop conditions are lifted so the run lasts."""
    import json
    import tempfile
    from pathlib import Path

    from core.config import preset_files
    from simulation.raceline import DEFAULT_ACTIONS, action_space_metadata, load_or_compute, reward_source
    from simulation.track import Track

    from .train import TrainRequest, run_training

    rl, _ = load_or_compute(Track.load(track))
    metadata_file, hp_file = preset_files(preset)
    meta = action_space_metadata(rl, actions or DEFAULT_ACTIONS, json.loads(metadata_file.read_text()))
    minutes = max(marks_min)
    laps: list[tuple[float, float]] = []
    state = {"t0": time.monotonic()}

    def on_report(r, _folder) -> None:
        if r.eval_best_lap_s is not None:
            laps.append(((time.monotonic() - state["t0"]) / 60.0, r.eval_best_lap_s))
            if console:
                best = min(lap for _, lap in laps)
                console.print(f"  {laps[-1][0]:5.1f} min: evaluation lap {r.eval_best_lap_s:.2f} s, best {best:.2f} s "
                              f"({best / rl.lap_time_s:.2f}x the reference)")

    with tempfile.TemporaryDirectory(prefix="deepracer-bench-laps-") as tmp:
        setup = Path(tmp)
        (setup / "model_metadata.json").write_text(json.dumps(meta, indent=4))
        (setup / "reward_function.py").write_text(reward_source(rl, track))
        req = TrainRequest(track=track, model=f"bench-laps-{preset}", metadata=setup / "model_metadata.json",
                           hyperparameters=hp_file, reward=setup / "reward_function.py", sims=sims,
                           minutes=minutes, models_dir=Path(models_dir or setup / "models"), seed=seed,
                           hyperparameter_overrides=dict(_NO_EARLY_STOP), overrides_source="bench laps")
        state["t0"] = time.monotonic()
        reports, _ = run_training(req, console, on_report=on_report)
    ups = [r.update for r in reports if r.update]
    best_at = [min((lap for t, lap in laps if t <= m), default=None) for m in marks_min]
    return LapsBenchResult(preset, track, rl.lap_time_s, [(a["steering_angle"], a["speed"]) for a in meta["action_space"]],
                           tuple(marks_min), best_at, laps[0][0] if laps else None, len(reports),
                           reports[-1].total_episodes if reports else 0,
                           sum(u.samples for u in ups) / max(sum(u.seconds for u in ups), 1e-9), laps)


@dataclass
class ModelBench:
    """One model of the scenario benchmark, as one mode trained it."""

    name: str
    iterations: int
    episodes: int                   # training episodes this run played
    env_steps: int                  # steps of those episodes (the greedy evaluation episodes not counted)
    eval_progress: float | None     # the last iteration's greedy evaluation progress, 0-100
    training_s: float               # the model's own training loop (from its first iteration's start)


@dataclass
class ModeBench:
    """Every model of the scenario benchmark trained one way: ``sequential`` (one after another, in this
    process) or ``parallel`` (all at once, stack.scenario_run)."""

    mode: str
    wall_s: float                   # from the first model's start until the last one finished [s]
    models: list[ModelBench]

    @property
    def env_steps(self) -> int:
        return sum(m.env_steps for m in self.models)

    @property
    def steps_per_s(self) -> float:
        """Env steps of every model over the wall time (start-up, PPO updates and evaluations included)."""
        return self.env_steps / max(self.wall_s, 1e-9)


@dataclass
class ScenarioBenchResult:
    preset: str
    track: str
    episodes: int                   # each model's budget
    sims: int                       # sim workers per model
    cpus: int                       # os.cpu_count() of this machine
    sequential: ModeBench
    parallel: ModeBench

    @property
    def wall_ratio(self) -> float:
        """Parallel wall time / sequential wall time (below 1: at once finishes sooner)."""
        return self.parallel.wall_s / max(self.sequential.wall_s, 1e-9)

    @property
    def steps_per_s_ratio(self) -> float:
        """Parallel total env steps/s / sequential total env steps/s."""
        return self.parallel.steps_per_s / max(self.sequential.steps_per_s, 1e-9)


def bench_scenario(models: int = 3, episodes: int = 1200, preset: str = "state", track: str = "reinvent_base",
                   sims: int = 1, seed: int = 0, work_dir=None, console=None) -> ScenarioBenchResult:
    """Train ``models`` models (``preset``, one ``track``, seeds ``seed``, ``seed`` + 1, ..., ``episodes``
    episodes each, ``sims`` sims each) twice, each time from scratch into a fresh models folder: one
    after another with stack.train.run_training, then all at once as a scenario (stack.scenario_run).
    ``work_dir``: keep the scenario file, both models folders and the scenario's status files there
    (default: a temporary folder, removed)."""
    import os
    import tempfile
    from dataclasses import asdict
    from pathlib import Path

    import yaml
    from rich.console import Console

    from core.config import ConfigError

    from .scenario import load_scenario
    from .scenario_run import _status_file, run_scenario
    from .train import run_training

    if models < 1:
        raise ConfigError(f"bench scenario: --models must be >= 1, got {models}")
    if episodes < 1:
        raise ConfigError(f"bench scenario: --episodes must be >= 1, got {episodes}")
    console = console or Console()
    with tempfile.TemporaryDirectory(prefix="deepracer-bench-scenario-") as tmp:
        root = Path(work_dir or tmp).absolute()
        root.mkdir(parents=True, exist_ok=True)
        spec = {"name": "bench-scenario",
                "defaults": {"track": track, "preset": preset, "sims": sims, "episodes": episodes},
                "models": [{"name": f"bench-{preset}-seed{seed + i}", "seed": seed + i} for i in range(models)]}
        path = root / "bench-scenario.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        scenario = load_scenario(path)

        console.rule(f"sequential: {models} model(s) one after another")
        seq_models = []
        t0 = time.monotonic()
        for m in scenario.models:
            reports, _ = run_training(m.train_request(scenario.source, root / "sequential"), console)
            seq_models.append(_model_bench(m.name, [asdict(r) for r in reports]))
        sequential = ModeBench("sequential", time.monotonic() - t0, seq_models)

        console.rule(f"parallel: {models} model(s) at once")
        t0 = time.monotonic()
        result = run_scenario(scenario, root / "parallel", console, out_dir=root / "out")
        wall = time.monotonic() - t0
        console.line()
        failed = [f"{r.spec.name}: {r.state}{' - ' + r.error if r.error else ''}" for r in result.runs if r.state != "done"]
        if failed:
            raise RuntimeError(f"bench scenario: in the parallel run {'; '.join(failed)} "
                               f"(logs in {result.out_dir / 'logs'})")
        par_models = []
        for r in result.runs:
            rows = [json.loads(ln) for ln in _status_file(result.out_dir, r).read_text().splitlines() if ln.strip()]
            par_models.append(_model_bench(r.spec.name, rows))
        parallel = ModeBench("parallel", wall, par_models)
    return ScenarioBenchResult(preset, track, episodes, sims, os.cpu_count() or 1, sequential, parallel)


def _model_bench(name: str, rows: list[dict]) -> ModelBench:
    """A model's figures from its iteration reports (trainer.learner.IterationReport as dicts, the form
    of the scenario's status lines); the model is new, so its totals are this run's."""
    evals = [r["eval_progress"] for r in rows if r.get("eval_progress") is not None]
    return ModelBench(name, len(rows), rows[-1]["total_episodes"] if rows else 0, sum(r["env_steps"] for r in rows),
                      evals[-1] if evals else None, rows[-1]["elapsed_s"] if rows else 0.0)


def scenario_bench_table(r: ScenarioBenchResult):
    """The two modes side by side, a row per mode, then a row per model and mode (rich Table)."""
    from rich.table import Table

    t = Table(title=f"scenario benchmark: {len(r.sequential.models)} x preset {r.preset}, {r.track}, {r.episodes} "
                    f"episodes each, {r.sims} sim(s) each, {r.cpus} CPU(s)", title_justify="left")
    for col in ("mode", "model", "wall / training s", "iterations", "episodes", "env steps", "env steps/s",
                "eval progress"):
        t.add_column(col, justify="left" if col in ("mode", "model") else "right", no_wrap=True)
    for mode in (r.sequential, r.parallel):
        t.add_row(mode.mode, "all", f"{mode.wall_s:.1f}", str(sum(m.iterations for m in mode.models)),
                  str(sum(m.episodes for m in mode.models)), f"{mode.env_steps:,}", f"{mode.steps_per_s:,.0f}", "",
                  style="bold")
        for m in mode.models:
            t.add_row("", m.name, f"{m.training_s:.1f}", str(m.iterations), str(m.episodes), f"{m.env_steps:,}",
                      f"{m.env_steps / max(m.training_s, 1e-9):,.0f}",
                      "-" if m.eval_progress is None else f"{m.eval_progress:.0f}%")
    t.caption = (f"parallel / sequential: wall time {r.wall_ratio:.2f}, total env steps/s {r.steps_per_s_ratio:.2f}. "
                 "env steps: training episodes only; a model's row: its own training loop (no start-up)")
    return t
