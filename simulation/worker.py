"""The rollout worker: `python -m simulation.worker --config JSON`.

For each policy version the trainer announces, the worker loads that published policy (frozen
graph) from storage (the policy tower only: the trainer computes values itself), plays its share of the iteration's episodes with K cars at once, sends every
finished episode to the trainer, then plays its evaluation episodes (greedy) and writes its
sim-trace and training metrics into the model folder. It runs the published policy through `core`,
never trainer code.

A model with several tracks (one run spec per track) is driven in one of two ways (``multi_track``):
"own": sim i drives track i mod n, all its cars on it (the reference's multi-config training);
"spread": every sim spreads its K cars over all n tracks (car c on track c mod n, a
simulation.multi_env.MultiTrackEnv). "auto" (the default) spreads when the model has more tracks
than sims (the run spec's NUM_WORKERS), so that no track is left out, else gives each sim its own.
Episodes, sim-trace rows and metrics entries name the track they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.config import ConfigError, TrainingParams, parse_model_metadata
from core.memory import IterationGarbage
from core.messages import MessageError, fault_message, read_policy_notice
from core.model_folder import ModelFolder
from core.policy import FrozenPolicy
from core.stop_signal import leave_on_sigterm
from core.storage import Storage, StorageError, StorageKeyError, open_storage
from core.traces import TrainingMetrics, simtrace_csv
from core.transport import SimTransport, StdioSim, TransportError

from . import car
from .car import STEP_S
from .env import BatchedEnv
from .multi_env import MultiTrackEnv, TrackSetup
from .preview import PREVIEW_INTERVAL_S, Previewer
from .race import RaceConfig
from .reward import IsolatedRewardFunction, RewardFunctionError
from .rollout import play
from .track import Track, split_track_spec


#: Exit code of a worker stopped by a fault of the user's reward function (reported to the trainer).
REWARD_FAULT_EXIT = 3
#: A sim rewrites its whole TrainingMetrics file at most this often [s] (and when it stops); every
#: iteration it writes only that iteration's entries (ModelFolder.training_metrics_chunk). A file of
#: 100,000 episodes is about 25 MB: once a minute that is well under 1% of a sim's time.
METRICS_FILE_INTERVAL_S = 60.0
#: ... and no more often than makes the rewrites this share of the sim's time: a file that takes t s to
#: rewrite waits at least t / METRICS_FILE_MAX_SHARE s (an 8-hour run's file grows to hundreds of MB).
METRICS_FILE_MAX_SHARE = 0.01


def rss_mb() -> float:
    """This process's resident memory [MB] (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1e6 if sys.platform == "darwin" else 1e3)


def _chunk_iteration(key: str) -> int:
    """The iteration of a metrics chunk key (".../metrics/iterations/<worker>/<iteration>.json")."""
    return int(key.rpartition("/")[2].partition(".")[0])

#: The simulators a sim can run (SIM_BACKEND=): ours, or a Gazebo sim (simulation/gazebo).
SIM_BACKENDS = ("fast", "gazebo")
#: How a model's tracks are shared among its sims (module docstring); MULTI_TRACK= of `make train`.
MULTI_TRACK_MODES = ("auto", "own", "spread")


@dataclass
class WorkerConfig:
    """What a worker needs; travels as JSON on the command line."""

    run_id: str
    worker: int               # this worker's id (-1 with Redis: take the next free id)
    storage: str              # a local folder, or s3://bucket[/root] (endpoint and keys from the environment)
    model_prefix: str
    #: Folders made before the run spec: a track, or several comma-separated (worker i drives track
    #: i mod n). A folder with training_params.yaml ignores it: the run spec names the tracks.
    track: str = ""
    redis_url: str | None = None  # None: the embedded transport (stdin/stdout frames)
    eval_episodes_per_iteration: int = 1
    num_cars: int = 8
    #: CPU threads the policy may use (the trainer idles while the workers play)
    policy_threads: int = 1
    seed: int = 0
    #: How messages name the reward function (the user's own file in embedded training); default:
    #: reward_function.py of the model folder.
    reward_source: str = ""
    #: RaceConfig options on top of the run spec's (e.g. max_steps); the run spec's race type, objects,
    #: bots and directions come from training_params.yaml.
    race: dict[str, Any] = field(default_factory=dict)
    #: MULTI_TRACK_MODES: "own" (sim i drives track i mod n), "spread" (each sim's cars over every
    #: track), "auto" (spread when the model has more tracks than sims)
    multi_track: str = "auto"
    #: Seconds between the live viewer's preview frames of this sim (simulation/preview.py); 0: none
    preview_interval_s: float = PREVIEW_INTERVAL_S
    #: SIM_BACKENDS: "fast" (this process simulates its cars) or "gazebo" (one car in a Gazebo sim)
    backend: str = "fast"
    #: The Gazebo sims (simulation/gazebo/claim.py); "": $GAZEBO_MASTER_URI
    gazebo_master_uri: str = ""

    def __post_init__(self) -> None:
        check_multi_track(self.multi_track)
        if self.backend not in SIM_BACKENDS:
            raise ConfigError(f"SIM_BACKEND {self.backend!r} is not one of {', '.join(SIM_BACKENDS)}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "WorkerConfig":
        return cls(**json.loads(text))


def check_multi_track(mode: str) -> str:
    """``mode`` when it is one of MULTI_TRACK_MODES, else ConfigError naming MULTI_TRACK and the choices."""
    if mode not in MULTI_TRACK_MODES:
        raise ConfigError(f"MULTI_TRACK {mode!r} is not one of {', '.join(MULTI_TRACK_MODES)}: own (each sim its own "
                          "track), spread (each sim's cars over every track), auto (spread when the model has more "
                          "tracks than sims)")
    return mode


def resolve_multi_track(mode: str, num_tracks: int, num_sims: int | None) -> str:
    """"own" or "spread": what ``mode`` (MULTI_TRACK_MODES) means for a model of ``num_tracks`` tracks
    trained by ``num_sims`` sims (None: not known, "auto" keeps each sim on its own track). One track
    is always "own"."""
    check_multi_track(mode)
    if num_tracks <= 1:
        return "own"
    if mode == "auto":
        return "spread" if num_sims is not None and num_tracks > num_sims else "own"
    return mode


def track_of_worker(tracks: str, worker: int) -> str:
    """The track worker ``worker`` drives: "reinvent,Vegas_track" gives worker 0 reinvent, worker 1
    Vegas_track, worker 2 reinvent... (the reference's multi-config training)."""
    names = split_track_spec(tracks)
    return names[worker % len(names)]


class Worker:
    #: The claim on a Gazebo sim this worker holds (SIM_BACKEND=gazebo with Redis); released when it stops
    gazebo_claim = None

    def __init__(self, cfg: WorkerConfig, storage: Storage, transport: SimTransport):
        self.cfg = cfg
        self.transport = transport
        self.folder = ModelFolder(storage, cfg.model_prefix)
        self.metadata = parse_model_metadata(self.folder.read_json(self.folder.model_metadata()),
                                             source=self.folder.model_metadata())
        # The run specs (training_params.yaml, one file per track) and the route files stored in the model
        # folder, so a sim on any machine drives the same tracks with the same race options.
        setups, num_sims = self._track_setups(storage)
        shown = cfg.reward_source or f"{self.folder.reward_function()} ({storage.describe()})"
        reward_bytes = storage.get_bytes(self.folder.reward_function())

        def reward(copies: int) -> IsolatedRewardFunction:
            return IsolatedRewardFunction(reward_bytes, copies=copies, display_path=shown)

        seed, offset = cfg.seed + 7919 * cfg.worker, cfg.worker
        self.multi_track = resolve_multi_track(cfg.multi_track, len(setups), num_sims)
        self.env: BatchedEnv | MultiTrackEnv
        if cfg.backend == "gazebo":
            own = setups[cfg.worker % len(setups)]
            self.multi_track, self.tracks = "own", [own.track]
            self.env = self._gazebo_env(own, reward, seed, offset)
        elif self.multi_track == "spread":
            self.tracks = [s.track for s in setups]          # the tracks this sim drives
            self.env = MultiTrackEnv(setups, self.metadata, max(cfg.num_cars, len(setups)), reward_factory=reward,
                                     seed=seed, episode_offset=offset)
            shares = ", ".join(f"{s.track.name} ({len(self.env.cars_on(t))})" for t, s in enumerate(setups))
            print(f"worker {cfg.worker}: {self.env.k} cars spread over {shares}", file=sys.stderr, flush=True)
        else:
            own = setups[cfg.worker % len(setups)]
            self.tracks = [own.track]
            self.env = BatchedEnv(own.track, reward(cfg.num_cars), self.metadata, own.race, num_cars=cfg.num_cars,
                                  seed=seed, episode_offset=offset, domain_randomization=own.domain_randomization)
        if cfg.backend != "gazebo":
            recorded = setups[0].race.dynamics
            used = car.effective_dynamics(recorded)
            why = "DEEPRACER_DYNAMICS" if used != car.car_dynamics_model(recorded) else "the model's CAR_DYNAMICS"
            print(f"worker {cfg.worker}: car model {used} ({why})", file=sys.stderr, flush=True)
        self.rng = np.random.default_rng(cfg.seed + 104729 * (cfg.worker + 1))
        # A resumed run appends to the metrics this worker id wrote before (add_iteration replaces the
        # entries of the interrupted iteration, which is played again).
        # The file and the per-iteration chunks of a run killed before it rewrote the file (see
        # ModelFolder.training_metrics_chunk) are merged, written back as the file at once, the chunks deleted.
        # After each rewrite the sim forgets the entries it wrote (memory stays flat over hours) and the
        # next rewrite appends to the stored file's bytes (TrainingMetrics.appended_json).
        self._metrics_written_at = -float("inf")
        self._metrics_interval_s = METRICS_FILE_INTERVAL_S
        self._read_back_metrics()
        if self.metrics.metrics or self._chunks:
            self.write_metrics_file()
        self.storage = storage
        self.previewer = Previewer(self.folder, cfg.worker, self.env, cfg.preview_interval_s)
        self.started = time.perf_counter()
        self.io_s = 0.0  # seconds spent in storage and transport calls
        self.garbage = IterationGarbage()

    def _gazebo_env(self, own: TrackSetup, reward, seed: int, offset: int):
        """One car in a Gazebo sim: claimed through Redis when there is one (never two workers on a car),
        else the worker's own entry of GAZEBO_MASTER_URI."""
        from .gazebo.claim import candidates, claim
        from .gazebo.env import MASTER_URI_ENV, GazeboEnv

        cfg = self.cfg
        spec = cfg.gazebo_master_uri or os.environ.get(MASTER_URI_ENV, "")
        if cfg.redis_url:
            self.gazebo_claim = claim(cfg.redis_url, spec, f"{cfg.run_id}/{cfg.worker}")
            uri = self.gazebo_claim.uri
        else:
            uris = candidates(spec)
            uri = uris[cfg.worker % len(uris)]
        print(f"worker {cfg.worker}: SIM_BACKEND=gazebo, one car in the Gazebo sim at {uri}", file=sys.stderr,
              flush=True)
        return GazeboEnv(own.track, reward(1), self.metadata, own.race, num_cars=1, seed=seed,
                         episode_offset=offset, master_uri=uri)

    @property
    def track(self) -> Track:
        """The first (with "own": the only) track this sim drives."""
        return self.tracks[0]

    def _track_setups(self, storage: Storage) -> tuple[list[TrackSetup], int | None]:
        """Every track of the model with its race options, and the number of sims the run spec names
        (None for a folder made before run specs: its tracks come from ``cfg.track``)."""
        cfg, folder = self.cfg, self.folder
        setups = []
        specs = folder.training_params_count()
        for i in range(specs):
            key = folder.training_params(i)
            spec = TrainingParams.from_yaml(folder.read_text(key), source=key)
            track = Track.from_model_folder(folder, spec.world_name)
            race = RaceConfig.from_dict({**spec.race_options(track.length_m), **cfg.race}, source=key)
            setups.append(TrackSetup(track, race, spec.enable_domain_randomization))
        if setups:
            return setups, spec.num_workers
        return [TrackSetup(Track.from_model_folder(folder, name), RaceConfig.from_dict(cfg.race))
                for name in split_track_spec(cfg.track)], None

    def _car_order(self, version: int) -> np.ndarray | None:
        """Spread over n tracks: the cars in an order that starts on track ``version`` mod n, so that a
        share (or an evaluation count) that is not a multiple of n favours no track over the iterations."""
        if not isinstance(self.env, MultiTrackEnv):
            return None
        return np.roll(np.arange(self.env.k), -(version % len(self.env.setups)))

    def play_iteration(self, version: int, share: int, num_workers: int) -> None:
        """Play ``share`` training episodes and the evaluation episodes of policy ``version``."""
        cfg, folder = self.cfg, self.folder
        t0 = time.perf_counter()
        graph = self.storage.get_bytes(folder.frozen_model(version))
        self.io_s += time.perf_counter() - t0
        policy = FrozenPolicy.from_bytes(graph, self.metadata, intra_op_threads=cfg.policy_threads)
        rows: list[dict] = []
        order = self._car_order(version)
        preview = self.previewer if self.previewer.enabled else None
        episodes = play(self.env, policy, share, greedy=False, rng=self.rng, run_id=cfg.run_id,
                        iteration=version, worker=cfg.worker, phase="training", on_rows=rows.extend,
                        with_values=False, car_order=order,
                        on_obs=(lambda obs: preview.offer(obs, version, "training")) if preview else None)
        evals = []
        if cfg.eval_episodes_per_iteration > 0:
            evals = play(self.env, policy, cfg.eval_episodes_per_iteration, greedy=True, rng=self.rng,
                         run_id=cfg.run_id, iteration=version, worker=cfg.worker, phase="evaluation", keep_obs=False,
                         with_values=False, car_order=order,
                         on_obs=(lambda obs: preview.offer(obs, version, "evaluation")) if preview else None)
        self.store_iteration(version, episodes, evals, rows, num_workers)
        self._send(episodes)
        self._send(evals)
        t0 = time.perf_counter()
        folder.write_json(folder.sim_stats(cfg.worker), {
            "iteration": version, "alive_s": round(time.perf_counter() - self.started, 3),
            "storage_s": round(self.io_s, 3), "rss_mb": round(rss_mb(), 1)}, indent=None)
        self.io_s += time.perf_counter() - t0
        self.garbage.after_iteration()          # this iteration's policy graph (core.memory)

    def store_iteration(self, version: int, episodes, evals, rows: list[dict], num_workers: int) -> None:
        """Record one iteration's episodes in the metrics and store its sim-trace and metrics chunk (and
        the whole metrics file when it is due). Stored before the episodes are sent: an iteration the
        trainer learned from is always in the metrics; one killed before sending is played again after
        RESUME and replaces its entries."""
        cfg, folder = self.cfg, self.folder
        if version <= self.metrics.last_iteration and self.metrics.forgotten:
            t0 = time.perf_counter()
            self._read_back_metrics()      # a replayed iteration (a restarted trainer): rare, reads the file
            self.io_s += time.perf_counter() - t0
        # the reference's episode and trial counters (deepracer-utils reads iterations from them)
        rows = self.metrics.add_iteration(version, episodes, evals, rows, step_s=STEP_S)
        csv_bytes = simtrace_csv(rows).encode()
        t0 = time.perf_counter()
        self.storage.put_bytes(folder.training_simtrace(version, cfg.worker, max(num_workers, cfg.worker + 1)), csv_bytes)
        chunk = folder.training_metrics_chunk(cfg.worker, version)
        folder.write_json(chunk, {"metrics": self.metrics.entries_of(version)}, indent=None)
        if chunk not in self._chunks:
            self._chunks.append(chunk)
        if time.monotonic() - self._metrics_written_at >= self._metrics_interval_s:
            self.write_metrics_file()
        self.io_s += time.perf_counter() - t0

    def _read_back_metrics(self) -> None:
        """Every entry this worker id stored (its file and chunks, merged) into memory, and its chunks' keys."""
        w = self.cfg.worker
        self.metrics = TrainingMetrics.from_json_dict({"metrics": self.folder.read_training_metrics().get(w, [])})
        self._chunks = sorted(self.folder.training_metrics_chunks().get(w, {}).values(), key=_chunk_iteration)

    def write_metrics_file(self) -> None:
        """Rewrite this worker's TrainingMetrics file with all it recorded, forget the entries, then delete
        the chunks it holds (in iteration order, so an interrupted deletion leaves the newest ones, which
        replay correctly). Entries forgotten before are in the stored file: the new ones are appended to
        its bytes; a stored file that is not as this sim left it is read back with the chunks instead."""
        folder, key = self.folder, self.folder.training_metrics(self.cfg.worker)
        t0 = time.perf_counter()
        data = None
        if self.metrics.forgotten:
            try:
                data = self.metrics.appended_json(folder.storage.get_bytes(key))
            except (StorageKeyError, ValueError) as exc:
                print(f"worker {self.cfg.worker}: {key} changed under this sim ({exc}); rewriting it from what "
                      "the folder holds", file=sys.stderr, flush=True)
                self._read_back_metrics()
        if data is None:
            data = self.metrics.to_json().encode()
        folder.storage.put_bytes(key, data)
        self.metrics.forget()
        self._metrics_written_at = time.monotonic()
        self._metrics_interval_s = max(METRICS_FILE_INTERVAL_S, (time.perf_counter() - t0) / METRICS_FILE_MAX_SHARE)
        for key in self._chunks:
            try:
                folder.storage.delete(key)
            except StorageKeyError:
                pass
        self._chunks = []

    def _send(self, episodes) -> None:
        for ep in episodes:
            data = ep.to_bytes()
            t0 = time.perf_counter()
            self.transport.send_episode(data)
            self.io_s += time.perf_counter() - t0

    def timing_line(self) -> str:
        """How long this worker waited on storage and transport, against its whole life."""
        total = time.perf_counter() - self.started
        line = (f"worker {self.cfg.worker}: waited on storage+transport {self.io_s:.2f} s of {total:.1f} s "
                f"({100 * self.io_s / max(total, 1e-9):.1f}%)")
        if self.previewer.enabled:
            line += (f"; viewer previews {self.previewer.spent_s:.2f} s ({100 * self.previewer.spent_s / max(total, 1e-9):.2f}%,"
                     f" {self.previewer.seq} published)")
        return line

    def run(self) -> int:
        try:
            while True:
                try:
                    notice = self.transport.next_notice(None)
                except TransportError:
                    return 0  # the trainer is gone: nothing left to do
                try:
                    notice = read_policy_notice(notice)
                except MessageError as exc:  # not the trainer's: skip it, wait for the next
                    print(f"worker {self.cfg.worker}: ignored a malformed policy notice: {exc}", file=sys.stderr,
                          flush=True)
                    continue
                if notice.stop:
                    return 0
                if self.cfg.worker in notice.shares:  # not listed: joined mid-iteration, plays from the next one
                    try:
                        self.play_iteration(notice.version, notice.shares[self.cfg.worker], len(notice.shares))
                    except RewardFunctionError as exc:
                        # the trainer shows the message once and stops every sim; this one ends here
                        self.transport.send_episode(fault_message(self.cfg.worker, "reward function", str(exc)))
                        print(f"worker {self.cfg.worker}: stopped by a fault of the reward function "
                              "(the trainer shows it)", file=sys.stderr, flush=True)
                        return REWARD_FAULT_EXIT
        finally:
            if self._chunks:
                try:
                    self.write_metrics_file()
                except (StorageError, OSError) as exc:   # the chunks stay; readers and a RESUME merge them
                    print(f"worker {self.cfg.worker}: could not rewrite the training metrics file at exit: {exc}",
                          file=sys.stderr, flush=True)
            print(self.timing_line(), file=sys.stderr, flush=True)
            if self.gazebo_claim is not None:
                self.gazebo_claim.release()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="deepracer-local rollout worker")
    p.add_argument("--config", required=True, help="WorkerConfig as JSON")
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer stops workers; Ctrl-C goes to it
    leave_on_sigterm("sim")                       # docker stop: leave at once (core.stop_signal)
    cfg = WorkerConfig.from_json(args.config)
    if cfg.redis_url is None:
        transport: SimTransport = StdioSim()
    else:
        from core.redis_transport import RedisSim, claim_worker_id

        if cfg.worker < 0:
            cfg.worker = claim_worker_id(cfg.redis_url, cfg.run_id)
        transport = RedisSim(cfg.redis_url, cfg.run_id, cfg.worker)
    return Worker(cfg, open_storage(cfg.storage), transport).run()


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as exc:      # SIGTERM (core.stop_signal) or an exit on purpose: its code, no traceback
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:          # print it, then leave the same way (see below)
        import traceback

        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    # Leave without interpreter finalization: the transport's reader thread may sit in a read of
    # stdin, which finalization cannot interrupt cleanly.
    os._exit(code)
