"""Embedded training: the learner in this process, SIMS rollout workers as child processes.

No Docker, no Redis, no S3: the workers talk to the learner over their stdio (core.transport) and
the model lives in a local folder, ``models/<name>/``, in the deepracer-for-cloud layout.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.config import ConfigError, Hyperparameters, ModelMetadata
from core.model_folder import ModelFolder, ModelLock
from core.storage import LocalStorage
from core.transport import ProcessHub
from simulation.worker import WorkerConfig, check_multi_track

from .model_setup import DEFAULT_TRACK, ModelSetup, SetupRequest, prepare_model

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = Path(os.environ.get("DEEPRACER_MODELS_DIR", "models"))
#: Greedy evaluation episodes each worker plays after each iteration (they pick the best checkpoint).
EVAL_EPISODES_PER_WORKER = 1


@dataclass
class TrainRequest:
    """Everything `make train` / `deepracer-local train` was asked for, validated by ``prepare``.
    None: not given (a default for a new model; the model's own on RESUME or CLONE)."""

    track: str | None = None
    model: str | None = None
    reward: str | Path | None = None
    preset: str | None = None
    metadata: str | Path | None = None
    hyperparameters: str | Path | None = None
    sims: int = 1
    episodes: int | None = None
    minutes: float | None = None
    resume: bool = False
    clone: str | None = None
    models_dir: Path = DEFAULT_MODELS_DIR
    seed: int = 0
    race: dict | None = None          # run-spec race options (stack.model_setup.RACE_OPTION_KEYS)
    hyperparameter_overrides: dict | None = None   # single keys on top of the chosen hyperparameters
    metadata_overrides: dict | None = None         # single keys on top of the chosen model_metadata
    overrides_source: str = "overrides"            # where the overrides came from (for error messages)
    multi_track: str = "auto"     # several tracks: own (sim i drives track i mod n), spread (each sim's cars
                                  # over every track), auto (spread when there are more tracks than sims)


@dataclass
class Prepared:
    request: TrainRequest
    setup: ModelSetup

    @property
    def folder(self) -> ModelFolder:
        return self.setup.folder

    @property
    def metadata(self) -> ModelMetadata:
        return self.setup.metadata

    @property
    def hp(self) -> Hyperparameters:
        return self.setup.hp


def prepare(req: TrainRequest) -> Prepared:
    """Validate every input before anything starts (and before a byte is written); each fault is one clear error."""
    if req.sims < 1:
        raise ConfigError(f"SIMS must be >= 1, got {req.sims}")
    if req.episodes is not None and req.episodes < 1:
        raise ConfigError(f"EPISODES must be >= 1, got {req.episodes}")
    if req.minutes is not None and req.minutes <= 0:
        raise ConfigError(f"MINUTES must be > 0, got {req.minutes}")
    check_multi_track(req.multi_track)
    name = req.model or default_model_name(req.track)
    folder = ModelFolder(LocalStorage(req.models_dir), name)
    return Prepared(req, prepare_model(folder, setup_request(req, name)))


def setup_request(req: TrainRequest, name: str) -> SetupRequest:
    """The model setup (stack.model_setup) a training request asks for, for model ``name``."""
    return SetupRequest(
        model=name, tracks=req.track, reward=req.reward, preset=req.preset, metadata=req.metadata,
        hyperparameters=req.hyperparameters, race=dict(req.race or {}), resume=req.resume, clone=req.clone,
        num_workers=req.sims, hyperparameter_overrides=dict(req.hyperparameter_overrides or {}),
        metadata_overrides=dict(req.metadata_overrides or {}), overrides_source=req.overrides_source)


def _reward_source(p: Prepared) -> str:
    """How fault messages name the reward function: the user's file when they named one (the model's
    reward_function.py is a copy of it, so its line numbers hold), else the model's copy."""
    if p.request.reward:
        return f"{Path(p.request.reward).expanduser().absolute()} (copied to {p.folder.reward_function()})"
    return f"{p.folder.reward_function()} in {p.folder.storage.describe()}"


def local_model_names(models_dir: Path) -> list[str]:
    """The model folders in ``models_dir`` (for messages naming what is there), sorted; [] without the folder."""
    return sorted(p.name for p in models_dir.glob("*") if p.is_dir()) if models_dir.is_dir() else []


def default_model_name(track: str | None) -> str:
    """<track>-<date>-<time>, the name a model gets when MODEL is not given."""
    first = (track or DEFAULT_TRACK).split(",")[0].strip()
    stem = Path(first).stem if first.lower().endswith(".npy") else first
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_training(req: TrainRequest, console: Console | None = None, on_report=None, should_stop=None):
    """Train; returns (iteration reports, the model folder). ``on_report(report, folder)`` runs after
    each iteration's line; ``should_stop()`` is asked after each iteration."""
    console = console or Console()
    p = prepare(req)
    from trainer.learner import Learner, Limits  # TensorFlow loads here, after validation

    lock = ModelLock(p.folder, what="make train (embedded)").acquire()   # before a byte is written
    try:
        return _run_locked(p, req, console, on_report, should_stop, Learner, Limits)
    finally:
        lock.release()


def _run_locked(p: Prepared, req: TrainRequest, console: Console, on_report, should_stop, Learner, Limits):
    if isinstance(p.folder.storage, LocalStorage):
        p.folder.storage.remove_leftovers(p.folder.prefix)   # temporary files of a run that was killed
    p.setup.write()
    for note in p.setup.notes:
        console.print(f"[dim]{note}[/dim]")
    run_id = uuid.uuid4().hex[:12]
    # enough cars for a worker's largest share of an iteration (the learner splits the episodes)
    cars_per_worker = math.ceil(p.hp.num_episodes_between_training / req.sims)
    configs = [WorkerConfig(run_id=run_id, worker=i, storage=str(p.folder.storage.root),
                            model_prefix=p.folder.prefix,
                            eval_episodes_per_iteration=EVAL_EPISODES_PER_WORKER, num_cars=cars_per_worker,
                            policy_threads=max(1, (os.cpu_count() or 1) // req.sims), seed=req.seed,
                            reward_source=_reward_source(p), multi_track=req.multi_track)
               for i in range(req.sims)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1")
    hub = ProcessHub([[sys.executable, "-m", "simulation.worker", "--config", c.to_json()] for c in configs],
                     env=env, cwd=str(ROOT))
    learner = Learner(p.folder, p.metadata, p.hp, hub, run_id, seed=req.seed)
    if req.resume:
        learner.resume()
    elif p.setup.clone_folder is not None:
        learner.clone_from(p.setup.clone_folder)
    tracks = ", ".join(t.name for t in p.setup.tracks)
    console.print(f"training [bold]{p.folder.prefix}[/bold] on {tracks} ({p.setup.params[0].race_type}) with {req.sims} sim worker(s), "
                  f"{p.metadata.sensors[0]} {p.metadata.neural_network} in {learner.algorithm.precision}, "
                  f"{p.hp.num_episodes_between_training} episodes per iteration -> {p.folder.describe()}")
    limit_total = req.episodes if req.episodes is not None else None
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        if limit_total is not None:
            task = progress.add_task("episodes", total=limit_total)
        else:
            task = progress.add_task("minutes", total=math.ceil(req.minutes) if req.minutes else None)

        def on_iteration(r) -> None:
            done = r.total_episodes - learner.episodes_at_start if limit_total is not None else int(r.elapsed_s // 60)
            progress.update(task, completed=min(done, progress.tasks[0].total or done))
            ev = f"{r.eval_progress:3.0f}%" if r.eval_progress is not None else "  -"
            lost = (f" lost {r.lost_episodes}" if r.lost_episodes else "") + (f" rejected {r.rejected_episodes}" if r.rejected_episodes else "")
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
        console.print(f"{p.metadata.training_algorithm} update throughput: {rate:,.0f} samples/s "
                      "(each of num_epochs passes counted)")
    console.print(f"done: {len(reports)} iterations, {reports[-1].total_episodes if reports else 0} episodes; "
                  f"last checkpoint {latest.name if latest else None} in {p.folder.describe()}")
    return reports, p.folder
