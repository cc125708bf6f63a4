"""Embedded training: the learner in this process, SIMS rollout workers as child processes.

No Docker, no Redis, no S3: the workers talk to the learner over their stdio (core.transport) and
the model lives in a local folder, ``models/<name>/``, in the deepracer-for-cloud layout.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.config import (ConfigError, Hyperparameters, ModelMetadata, load_hyperparameters,
                         load_model_metadata, preset_files)
from core.model_folder import ModelFolder
from core.storage import LocalStorage
from core.transport import ProcessHub
from simulation.race import RaceConfig
from simulation.reward import RewardFunction
from simulation.track import Track, store_tracks
from simulation.worker import WorkerConfig

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = Path(os.environ.get("DEEPRACER_MODELS_DIR", "models"))
#: Greedy evaluation episodes each worker plays after each iteration (they pick the best checkpoint).
EVAL_EPISODES_PER_WORKER = 1


@dataclass
class TrainRequest:
    """Everything `make train` / `deepracer-local train` was asked for, validated by ``prepare``."""

    track: str = "reinvent_base"
    model: str | None = None
    reward: str | Path = ROOT / "rewards" / "default.py"
    preset: str = "default"
    metadata: str | Path | None = None
    hyperparameters: str | Path | None = None
    sims: int = 1
    episodes: int | None = None
    minutes: float | None = None
    resume: bool = False
    clone: str | None = None
    models_dir: Path = DEFAULT_MODELS_DIR
    seed: int = 0
    race: dict | None = None


@dataclass
class Prepared:
    request: TrainRequest
    track: Track
    metadata: ModelMetadata
    hp: Hyperparameters
    folder: ModelFolder
    clone_folder: ModelFolder | None
    race: RaceConfig


def prepare(req: TrainRequest) -> Prepared:
    """Validate every input before anything starts; each fault is one clear error."""
    track = Track.load(req.track)
    md_path, hp_path = preset_files(req.preset)
    metadata = load_model_metadata(req.metadata or md_path)
    hp = load_hyperparameters(req.hyperparameters or hp_path)
    RewardFunction(req.reward)  # loads it once: syntax errors and a missing reward_function show now
    if req.sims < 1:
        raise ConfigError(f"SIMS must be >= 1, got {req.sims}")
    if req.episodes is not None and req.episodes < 1:
        raise ConfigError(f"EPISODES must be >= 1, got {req.episodes}")
    if req.minutes is not None and req.minutes <= 0:
        raise ConfigError(f"MINUTES must be > 0, got {req.minutes}")
    name = req.model or f"{track.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    storage = LocalStorage(req.models_dir)
    folder = ModelFolder(storage, name)
    has_checkpoint = folder.latest_checkpoint() is not None
    if req.resume and not has_checkpoint:
        raise ConfigError(f"cannot resume model {name!r}: no checkpoint in {folder.describe()}")
    if not req.resume and has_checkpoint:
        raise ConfigError(f"model {name!r} already has checkpoints in {folder.describe()}; "
                          "use RESUME=1 to continue it, or pick a new MODEL name (CLONE=<it> to start from it)")
    clone_folder = None
    if req.clone:
        clone_folder = ModelFolder(storage, req.clone)
        if clone_folder.latest_checkpoint() is None:
            raise ConfigError(f"cannot clone model {req.clone!r}: no checkpoint in {clone_folder.describe()}")
        theirs = load_model_metadata_from(clone_folder)
        if (theirs.sensors, theirs.neural_network, theirs.num_actions, theirs.is_discrete) != \
                (metadata.sensors, metadata.neural_network, metadata.num_actions, metadata.is_discrete):
            raise ConfigError(f"cannot clone {req.clone!r}: its sensors/network/action space "
                              f"({theirs.sensors}, {theirs.neural_network}, {theirs.num_actions} actions) differ "
                              f"from the new model's ({metadata.sensors}, {metadata.neural_network}, "
                              f"{metadata.num_actions} actions)")
    race = RaceConfig.from_dict(req.race)
    return Prepared(req, track, metadata, hp, folder, clone_folder, race)


def load_model_metadata_from(folder: ModelFolder) -> ModelMetadata:
    from core.config import parse_model_metadata

    return parse_model_metadata(folder.read_json(folder.model_metadata()), source=folder.model_metadata())


def write_model_files(p: Prepared) -> None:
    """The model folder's configuration files (spec section 6)."""
    f = p.folder
    f.storage.put_bytes(f.reward_function(), Path(p.request.reward).read_bytes())
    f.write_json(f.model_metadata(), p.metadata.to_json_dict())
    f.write_json(f.hyperparameters(), p.hp.to_json_dict())
    store_tracks(f, [p.track])
    params = f.new_training_params(world_name=p.track.name, race_type=p.race.race_type,
                                   num_workers=p.request.sims, reverse_dir=p.race.reverse_direction,
                                   alternate_driving_direction=p.race.alternate_direction)
    f.write_text(f.training_params(), params.to_yaml())


def run_training(req: TrainRequest, console: Console | None = None, on_report=None, should_stop=None):
    """Train; returns (iteration reports, the model folder). ``on_report(report, folder)`` runs after
    each iteration's line; ``should_stop()`` is asked after each iteration."""
    console = console or Console()
    p = prepare(req)
    from trainer.learner import Learner, Limits  # TensorFlow loads here, after validation

    write_model_files(p)
    run_id = uuid.uuid4().hex[:12]
    # enough cars for a worker's largest share of an iteration (the learner splits the episodes)
    cars_per_worker = math.ceil(p.hp.num_episodes_between_training / req.sims)
    configs = [WorkerConfig(run_id=run_id, worker=i, storage=str(p.folder.storage.root),
                            model_prefix=p.folder.prefix, track=p.track.name,
                            eval_episodes_per_iteration=EVAL_EPISODES_PER_WORKER, num_cars=cars_per_worker,
                            policy_threads=max(1, (os.cpu_count() or 1) // req.sims),
                            seed=req.seed, race=json.loads(json.dumps(asdict(p.race))))
               for i in range(req.sims)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1")
    hub = ProcessHub([[sys.executable, "-m", "simulation.worker", "--config", c.to_json()] for c in configs],
                     env=env, cwd=str(ROOT))
    learner = Learner(p.folder, p.metadata, p.hp, hub, run_id, seed=req.seed)
    if req.resume:
        learner.resume()
    elif p.clone_folder is not None:
        learner.clone_from(p.clone_folder)
    console.print(f"training [bold]{p.folder.prefix}[/bold] on {p.track.name} with {req.sims} sim worker(s), "
                  f"{p.metadata.sensors[0]} {p.metadata.neural_network}, "
                  f"{p.hp.num_episodes_between_training} episodes per iteration -> {p.folder.describe()}")
    limit_total = req.episodes if req.episodes is not None else None
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        if limit_total is not None:
            task = progress.add_task("episodes", total=limit_total)
        else:
            task = progress.add_task("minutes", total=math.ceil(req.minutes) if req.minutes else None)

        def on_iteration(r) -> None:
            done = r.total_episodes if limit_total is not None else int(r.elapsed_s // 60)
            progress.update(task, completed=min(done, progress.tasks[0].total or done))
            ev = f"{r.eval_progress:3.0f}%" if r.eval_progress is not None else "  -"
            lost = f" lost {r.lost_episodes}" if r.lost_episodes else ""
            progress.console.print(
                f"it {r.iteration:3d} ep {r.total_episodes:5d} rew {r.mean_reward:7.1f} prog {r.mean_progress:3.0f}% "
                f"laps {100 * r.lap_share:3.0f}% eval {ev} {r.env_steps_per_s:6,.0f} steps/s {r.seconds:5.1f}s{lost}")
            if on_report is not None:
                on_report(r, p.folder)

        try:
            reports = learner.train(Limits(req.episodes, req.minutes), EVAL_EPISODES_PER_WORKER,
                                    on_iteration=on_iteration, should_stop=should_stop)
        finally:
            hub.close()
    latest = p.folder.latest_checkpoint()
    if reports and reports[-1].update is not None:
        ups = [r.update for r in reports if r.update]
        rate = sum(u.samples for u in ups) / max(sum(u.seconds for u in ups), 1e-9)
        console.print(f"PPO update throughput: {rate:,.0f} samples/s (each of num_epochs passes counted)")
    console.print(f"done: {len(reports)} iterations, {reports[-1].total_episodes if reports else 0} episodes; "
                  f"last checkpoint {latest.name if latest else None} in {p.folder.describe()}")
    return reports, p.folder
