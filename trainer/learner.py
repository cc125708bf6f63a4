"""The learner: publish policy v, gather the iteration's episodes, update (PPO or SAC), publish v+1.

`python -m trainer.learner` is the container entry point (stack issue); embedded training drives
``Learner`` from stack/train.py with worker processes on this machine.

One iteration (ARCHITECTURE.md "One training iteration"):
1. publish: checkpoint files and the frozen policy in storage, the pointer last, then a notice;
2. gather ``num_episodes_between_training`` training episodes (plus the workers' greedy
   evaluation episodes) tagged with this version; duplicates are dropped; a dead worker does not
   stall the iteration, its missing episodes are counted as lost; a malformed episode (any field
   outside core.messages.EpisodeSpec of the model) is dropped and counted as rejected;
3. the algorithm's update (clipped PPO or SAC, trainer.algorithm; rolled back if it turns anything
   non-finite); metrics; next version. Non-finite weights are never published.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from core.quiet import import_tensorflow  # noqa: E402

tf = import_tensorflow()  # without its start-up notices

from core import race_status as rs  # noqa: E402
from core.config import ConfigError, Hyperparameters, ModelMetadata  # noqa: E402
from core.memory import IterationGarbage  # noqa: E402
from core.messages import (Episode, EpisodeSpec, MessageError, WorkerFault, policy_notice,  # noqa: E402
                           read_fault)
from core.model_folder import TF_CHECKPOINT_SUFFIXES, Checkpoint, ModelFolder, ModelLock  # noqa: E402
from core.traces import metrics_iterations  # noqa: E402
from core.transport import TrainerTransport  # noqa: E402
from simulation.car import STEP_HZ  # noqa: E402

from .algorithm import UpdateStats, all_finite, build_algorithm, net_weights  # noqa: E402

log = logging.getLogger(__name__)


class NonFiniteWeightsError(RuntimeError):
    """Weights holding NaN or inf were about to be published (never done: workers would drive them)."""


@dataclass
class IterationReport:
    """What one training iteration did (one line in the terminal)."""

    iteration: int
    episodes: int            # training episodes used
    total_episodes: int
    mean_reward: float
    mean_progress: float     # 0-100, training episodes
    lap_share: float         # share of training episodes that completed a lap
    eval_progress: float | None  # mean progress of the greedy evaluation episodes
    env_steps: int
    env_steps_per_s: float   # steps gathered / time spent gathering
    lost_episodes: int
    update: UpdateStats | None
    seconds: float
    elapsed_s: float
    rejected_episodes: int = 0   # malformed messages dropped (core.messages.EpisodeSpec)
    eval_best_lap_s: float | None = None  # the fastest completed lap of the evaluation episodes [simulated s]


@dataclass
class Limits:
    episodes: int | None = None
    minutes: float | None = None


class CheckpointIO:
    """Saves and restores an algorithm's weights as TF checkpoints in the model folder."""

    def __init__(self, net: tf.Module, folder: ModelFolder, export: Callable[[], bytes] | None = None):
        self.folder = folder
        self.export = export
        self.net = net
        self.ckpt = tf.train.Checkpoint(net=net)

    def publish(self, n: int, steps: int, metric: float | None) -> None:
        """Checkpoint ``n`` and its frozen policy into the model folder; NonFiniteWeightsError (and
        nothing written) if any weight is NaN or inf."""
        bad = [v.name for v in net_weights(self.net) if not all_finite([v])]
        if bad:
            raise NonFiniteWeightsError(f"checkpoint {n} not published: non-finite values in {len(bad)} weight(s) "
                                        f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); the model folder "
                                        f"keeps checkpoint {n - 1}")
        with tempfile.TemporaryDirectory(prefix="deepracer-ckpt-") as tmp:
            prefix = str(Path(tmp) / Checkpoint(n, steps).name)
            self.ckpt.write(prefix)
            files = {sfx: Path(f"{prefix}.{sfx}") for sfx in TF_CHECKPOINT_SUFFIXES}
            self.folder.publish_checkpoint(n, steps, files, self.export(), metric)

    def restore(self, n: int, steps: int, folder: ModelFolder | None = None) -> None:
        src = folder or self.folder
        with tempfile.TemporaryDirectory(prefix="deepracer-ckpt-") as tmp:
            local = Path(tmp) / Checkpoint(n, steps).name
            for sfx in TF_CHECKPOINT_SUFFIXES:
                src.storage.get_file(f"{src.checkpoint_prefix(n, steps)}.{sfx}", f"{local}.{sfx}")
            try:
                self.ckpt.read(str(local)).expect_partial()
            except ValueError as exc:     # TensorFlow: a tensor of another shape than the network's
                raise ConfigError(
                    f"checkpoint {Checkpoint(n, steps).name} in {src.describe()} does not fit the network its "
                    f"model_metadata.json describes ({str(exc).splitlines()[0]}); models trained with the standard "
                    "or DEEP network or stereo cameras before 2026-12-05 used other layer plans than rl_coach's "
                    "(docs/coach.md)") from None



def _best_lap_s(episodes: list[Episode]) -> float | None:
    """The fastest completed lap among ``episodes`` [simulated s: steps / 15], or None."""
    laps = [len(e.rewards) / STEP_HZ for e in episodes if e.status == rs.STATUSES[rs.LAP_COMPLETE]]
    return min(laps) if laps else None


class Learner:
    def __init__(self, folder: ModelFolder, metadata: ModelMetadata, hp: Hyperparameters,
                 transport: TrainerTransport, run_id: str, seed: int = 0,
                 gather_timeout_s: float = 120.0):
        self.folder = folder
        self.metadata = metadata
        self.hp = hp
        self.transport = transport
        self.run_id = run_id
        self.gather_timeout_s = gather_timeout_s
        tf.keras.utils.set_random_seed(seed)
        self.algorithm = build_algorithm(metadata, hp, seed)
        self.spec = EpisodeSpec.from_metadata(metadata)   # what a well-formed episode of this model is
        self.net = self.algorithm.net
        self.io = CheckpointIO(self.algorithm.net, folder, self.algorithm.export)
        self.garbage = IterationGarbage()
        self.version = 0
        self.total_steps = 0
        self.total_episodes = 0
        self.episodes_at_start = 0   # total_episodes when train() began (a resumed run starts above 0)
        self._seen: set[tuple] = set()
        #: Tells this trainer's notices from those of an earlier (crashed) trainer of the same run, so
        #: sims take a restarted trainer's notice for the version they already played as new.
        self.trainer_id = uuid.uuid4().hex[:8]

    # ------------------------------------------------------------------ start points
    def resume(self) -> None:
        """Continue this model from its last published checkpoint."""
        latest = self.folder.latest_checkpoint()
        if latest is None:
            raise FileNotFoundError(f"nothing to resume: no checkpoint in {self.folder.describe()}")
        n, steps = latest
        self.folder.remove_unpublished()     # files of a checkpoint whose publishing was cut short
        self.io.restore(n, steps)
        self.version, self.total_steps = n, steps
        self.total_episodes = self._episodes_before(n)

    def _episodes_before(self, version: int) -> int:
        """Training episodes the metrics files record for policies before ``version`` (a resumed run
        counts on from there)."""
        total = 0
        for entries in self.folder.read_training_metrics().values():
            total += sum(1 for e, it in zip(entries, metrics_iterations(entries))
                         if e.get("phase") == "training" and it < version)
        return total

    def clone_from(self, other: ModelFolder) -> None:
        """Start this (new) model from another model's last checkpoint (the reference's increment training)."""
        latest = other.latest_checkpoint()
        if latest is None:
            raise FileNotFoundError(f"nothing to clone: no checkpoint in {other.describe()}")
        self.io.restore(*latest, folder=other)

    # ------------------------------------------------------------------ the loop
    def gather(self, version: int, shares: dict[int, int], eval_per_worker: int, deadline: float | None = None
               ) -> tuple[list[Episode], list[Episode], int, int]:
        """Episodes of ``version`` until every live worker delivered its share (a worker that dies
        drops out of the count), or no usable episode arrives for ``gather_timeout_s`` (garbage or
        stale messages do not keep it waiting). Returns the training and evaluation episodes, the
        number of training episodes lost and the number of messages rejected as malformed (each
        checked against ``self.spec``; the first reason of the iteration is logged). Stops at
        ``deadline`` (time.monotonic()); raises WorkerFault when a worker reports one."""
        train: list[Episode] = []
        evals: list[Episode] = []
        got = {w: [0, 0] for w in shares}   # worker -> [training, evaluation] episodes received
        rejected = 0
        last_arrival = time.monotonic()
        while True:
            alive = set(self.transport.alive_workers()) & set(shares)
            if all(got[w][0] >= shares[w] and got[w][1] >= eval_per_worker for w in alive):
                break
            if time.monotonic() - last_arrival > self.gather_timeout_s:
                break
            if deadline is not None and time.monotonic() > deadline:
                break                      # MINUTES= is up: do not wait for the rest of the iteration
            for worker, data in self.transport.receive(timeout_s=1.0):
                fault = read_fault(data)
                if fault is not None:
                    raise WorkerFault(fault[2])
                try:
                    ep = Episode.from_bytes(data, self.spec)
                    if worker >= 0 and ep.worker != worker:
                        raise MessageError(f"episode {ep.episode_id} says worker {ep.worker} but came from "
                                           f"worker {worker}")
                except MessageError as exc:
                    rejected += 1
                    if rejected == 1:
                        log.warning("iteration %d: dropped a malformed episode from worker %d: %s (the count of "
                                    "such is in the iteration line)", version, worker, exc)
                    continue
                if ep.run_id != self.run_id or ep.iteration != version or ep.key in self._seen:
                    continue  # stale, foreign or duplicate
                last_arrival = time.monotonic()
                self._seen.add(ep.key)
                is_eval = ep.phase == "evaluation"
                (evals if is_eval else train).append(ep)
                if ep.worker in got:
                    got[ep.worker][int(is_eval)] += 1
        lost = max(0, sum(shares.values()) - len(train))
        return train, evals, lost, rejected

    def train(self, limits: Limits, eval_per_worker: int,
              on_iteration: Callable[[IterationReport], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> list[IterationReport]:
        """Run iterations until a limit, a termination condition or ``should_stop``; returns the reports.

        The last published checkpoint is always a consistent one: Ctrl-C (KeyboardInterrupt) ends
        the loop with the policy the workers last played saved in the model folder.
        """
        t_start = time.monotonic()
        self.episodes_at_start = self.total_episodes     # EPISODES= counts this run's episodes (RESUME too)
        reports: list[IterationReport] = []
        best_metric = None
        deadline = t_start + 60 * limits.minutes if limits.minutes is not None else None
        self.io.publish(self.version, self.total_steps, None)
        try:
            while True:
                t0 = time.monotonic()
                shares = self.wait_for_workers()
                self.transport.broadcast_notice(policy_notice(self.version, shares=shares, trainer=self.trainer_id))
                try:
                    train, evals, lost, rejected = self.gather(self.version, shares, eval_per_worker, deadline)
                except WorkerFault:
                    # the workers would all meet the same fault: stop them; the last checkpoint stays
                    self.transport.broadcast_notice(policy_notice(self.version, stop=True, trainer=self.trainer_id))
                    raise
                gather_s = time.monotonic() - t0
                if deadline is not None and time.monotonic() > deadline and (reports or not train):
                    log.info("MINUTES=%g reached during iteration %d: its episodes are not used; the last "
                             "checkpoint is %d", limits.minutes, self.version + 1, self.version)
                    break
                if not train:
                    raise RuntimeError("no episodes arrived from the workers (all workers died or went silent"
                                       + (f"; {rejected} malformed ones were rejected" if rejected else "")
                                       + "); see their messages above")
                steps = sum(ep.steps for ep in train)
                stats = self.algorithm.train_on(train)
                if stats.skipped:  # the weights are those of the policy the workers played
                    log.warning("iteration %d: update skipped and rolled back: %s", self.version + 1, stats.reason)
                self.total_steps += steps
                self.total_episodes += len(train)
                eval_progress = float(np.mean([e.progress for e in evals])) if evals else None
                metric = eval_progress if eval_progress is not None else float(np.mean([e.progress for e in train]))
                # the episodes were played by checkpoint `version`: the metric is its own (as the
                # simapp's per-checkpoint evaluation); the new checkpoint is judged next iteration
                self.folder.record_metric(self.version, self.total_steps - steps, metric)
                self.version += 1
                self.io.publish(self.version, self.total_steps, None)
                self.garbage.after_iteration()     # the export's graphs (core.memory)
                best_metric = metric if best_metric is None else max(best_metric, metric)
                report = IterationReport(
                    iteration=self.version, episodes=len(train), total_episodes=self.total_episodes,
                    mean_reward=float(np.mean([ep.rewards.sum() for ep in train])),
                    mean_progress=float(np.mean([ep.progress for ep in train])),
                    lap_share=float(np.mean([ep.status == rs.STATUSES[rs.LAP_COMPLETE] for ep in train])),
                    eval_progress=eval_progress, env_steps=steps, env_steps_per_s=steps / max(gather_s, 1e-9),
                    lost_episodes=lost, update=stats, seconds=time.monotonic() - t0,
                    elapsed_s=time.monotonic() - t_start, rejected_episodes=rejected,
                    eval_best_lap_s=_best_lap_s(evals))
                reports.append(report)
                if on_iteration:
                    on_iteration(report)
                if self._done(limits, reports, t_start) or (should_stop and should_stop()):
                    break
        except KeyboardInterrupt:
            pass
        # Stop the sims only at a normal end or Ctrl-C: after a crash a restarted trainer resumes
        # and the sims, still waiting, play on for it.
        self.transport.broadcast_notice(policy_notice(self.version, stop=True, trainer=self.trainer_id))
        return reports

    def wait_for_workers(self, timeout_s: float | None = None) -> dict[int, int]:
        """The iteration's episodes split over the live workers (waits until at least one is live)."""
        deadline = time.monotonic() + (self.gather_timeout_s if timeout_s is None else timeout_s)
        while not (alive := sorted(self.transport.alive_workers())):
            if time.monotonic() > deadline:
                raise RuntimeError("no rollout worker is running (none started, or all died); see their messages above")
            time.sleep(0.5)
        base, extra = divmod(self.hp.num_episodes_between_training, len(alive))
        return {w: base + (1 if i < extra else 0) for i, w in enumerate(alive)}

    def _done(self, limits: Limits, reports: list[IterationReport], t_start: float) -> bool:
        if limits.episodes is not None and self.total_episodes - self.episodes_at_start >= limits.episodes:
            return True
        if limits.minutes is not None and (time.monotonic() - t_start) / 60 >= limits.minutes:
            return True
        if self.total_episodes >= self.hp.term_cond_max_episodes:
            return True
        recent = reports[-3:]
        return len(recent) == 3 and all(r.mean_reward >= self.hp.term_cond_avg_score for r in recent)


def main(argv: list[str] | None = None) -> int:
    """`python -m trainer.learner`: the trainer of the stack (Redis transport, S3 or folder storage).

    The model folder must hold model_metadata.json, ip/hyperparameters.json and reward_function.py
    (`make train` uploads them). A trainer that finds a checkpoint continues from it, so a restarted
    trainer container loses nothing that was completed.
    """
    import argparse

    from core.config import parse_hyperparameters, parse_model_metadata
    from core.redis_transport import RedisTrainer
    from core.stop_signal import leave_on_sigterm
    from core.storage import open_storage

    p = argparse.ArgumentParser(description="deepracer-local trainer (stack mode)")
    p.add_argument("--storage", default=os.environ.get("DEEPRACER_STORAGE", "models"),
                   help="local folder or s3://bucket[/root] (DEEPRACER_STORAGE)")
    p.add_argument("--model", default=os.environ.get("DEEPRACER_MODEL"), help="model prefix (DEEPRACER_MODEL)")
    p.add_argument("--redis", default=os.environ.get("DEEPRACER_REDIS_URL", "redis://localhost:6379/0"))
    p.add_argument("--run-id", default=os.environ.get("DEEPRACER_RUN_ID"), help="shared with the sims (DEEPRACER_RUN_ID)")
    p.add_argument("--episodes", type=int, default=_env_int("DEEPRACER_EPISODES"))
    p.add_argument("--minutes", type=float, default=_env_float("DEEPRACER_MINUTES"))
    p.add_argument("--eval-per-worker", type=int, default=1)
    p.add_argument("--gather-timeout", type=float, default=120.0, help="seconds without an episode before "
                   "an iteration goes on with what it has")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.model or not args.run_id:
        p.error("--model/DEEPRACER_MODEL and --run-id/DEEPRACER_RUN_ID are required")
    leave_on_sigterm("trainer")     # docker stop: leave at once, as a kill would (core.stop_signal)
    folder = ModelFolder(open_storage(args.storage), args.model)
    metadata = parse_model_metadata(folder.read_json(folder.model_metadata()), source=folder.model_metadata())
    hp = parse_hyperparameters(folder.read_json(folder.hyperparameters()), source=folder.hyperparameters())
    transport = RedisTrainer(args.redis, args.run_id)
    learner = Learner(folder, metadata, hp, transport, run_id=args.run_id, seed=args.seed,
                      gather_timeout_s=args.gather_timeout)
    print(f"{metadata.training_algorithm} learner for {folder.describe()}: {', '.join(metadata.sensors)} "
          f"{metadata.neural_network} in {learner.algorithm.precision}", flush=True)
    if folder.latest_checkpoint() is not None:
        learner.resume()
        print(f"resuming {folder.describe()} from checkpoint {learner.version}", flush=True)

    def line(r: IterationReport) -> None:
        print(f"iteration {r.iteration} episodes {r.total_episodes} reward {r.mean_reward:.2f} "
              f"progress {r.mean_progress:.1f}% laps {100 * r.lap_share:.0f}% steps/s {r.env_steps_per_s:.0f} "
              f"lost {r.lost_episodes} rejected {r.rejected_episodes}"
              f"{' update skipped (non-finite)' if r.update and r.update.skipped else ''} {r.seconds:.1f}s", flush=True)

    try:
        with ModelLock(folder, what=f"the trainer of run {args.run_id}"):   # one trainer per model folder
            learner.train(Limits(args.episodes, args.minutes), args.eval_per_worker, on_iteration=line,
                          should_stop=lambda: folder.storage.exists(folder.stop_marker()))   # an early stop
            folder.write_text(folder.finished_marker(), str(learner.version))
    except WorkerFault as fault:
        # a fault of the user's reward function: the sims are stopped; a restart would meet it again,
        # so this ends with exit code 0 (no `restart: on-failure`) and the message, once
        print(f"training stopped at checkpoint {learner.version} (intact): a sim reported\n{fault}", flush=True)
        return 0
    print(f"finished at checkpoint {learner.version}", flush=True)
    return 0


def _env_int(name: str) -> int | None:
    return int(os.environ[name]) if os.environ.get(name) else None


def _env_float(name: str) -> float | None:
    return float(os.environ[name]) if os.environ.get(name) else None


if __name__ == "__main__":
    raise SystemExit(main())
