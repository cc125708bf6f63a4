"""The model folder: every path of the deepracer-for-cloud layout (spec section 6), in one place.

A model folder is a key prefix in a Storage. deepracer-utils, users' notebooks and the DeepRacer
tools read it, so the names below are the reference's, not ours to change.

Publishing a checkpoint is ordered so a reader that follows the pointer never finds missing files:
checkpoint files and the frozen graph first, then ``deepracer_checkpoints.json`` and the TensorFlow
``checkpoint`` state file, and the ``.coach_checkpoint`` pointer last.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from datetime import datetime
from os import PathLike
from typing import Any, Mapping, NamedTuple

from .config import TrainingParams
from .storage import Storage, StorageError, StorageKeyError

#: Files of one TensorFlow checkpoint, "<n>_Step-<steps>.ckpt.<suffix>".
CHECKPOINT_SUFFIXES = ("index", "data-00000-of-00001", "meta")
#: The files tf.train.Checkpoint.write makes (TensorFlow 2 writes no ".meta" graph): what the trainer
#: publishes and restores.
TF_CHECKPOINT_SUFFIXES = CHECKPOINT_SUFFIXES[:2]
#: Checkpoints kept by publish_checkpoint: the newest this many, plus the best (simapp NUM_MODELS_TO_KEEP).
NUM_CHECKPOINTS_TO_KEEP = 4

log = logging.getLogger(__name__)
_CKPT_NAME = re.compile(r"(\d+)_Step-(\d+)\.ckpt")
_CKPT_FILE = re.compile(r"(\d+)_Step-(\d+)\.ckpt\.[^/]+")
_TIMESTAMP = re.compile(r"\d{14}")
_CHUNK = re.compile(r"metrics/iterations/(\d+)/(\d+)\.json$")
_METRICS_FILE = re.compile(r"TrainingMetrics(?:_(\d+))?\.json$")


class Checkpoint(NamedTuple):
    """A checkpoint: its number (the training iteration) and the agent steps trained on so far."""

    number: int
    steps: int

    @property
    def name(self) -> str:
        """The reference's checkpoint name, "<n>_Step-<steps>.ckpt" (the prefix of its files)."""
        return f"{self.number}_Step-{self.steps}.ckpt"

    @classmethod
    def parse(cls, text: str) -> "Checkpoint | None":
        """The first "<n>_Step-<steps>.ckpt" in ``text`` (a name, a path or a state file), or None."""
        m = _CKPT_NAME.search(text)
        return cls(int(m.group(1)), int(m.group(2))) if m else None


def format_timestamp(when: datetime | float | str | None = None) -> str:
    """YYYYmmddHHMMSS (local time) of a datetime, epoch seconds, or now; a 14-digit string passes through."""
    if isinstance(when, str):
        if not _TIMESTAMP.fullmatch(when):
            raise ValueError(f"timestamp {when!r} must be 14 digits, YYYYmmddHHMMSS")
        return when
    if when is None or isinstance(when, (int, float)):
        when = datetime.fromtimestamp(time.time() if when is None else float(when))
    return when.strftime("%Y%m%d%H%M%S")


class ModelFolder:
    """The keys and the publishing protocol of one model folder (``prefix``) in a Storage."""

    def __init__(self, storage: Storage, prefix: str = ""):
        self.storage = storage
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"ModelFolder({self.storage.describe()}, prefix={self.prefix!r})"

    def describe(self) -> str:
        """Where the folder is, for messages (e.g. "local folder /x/models, prefix my-model")."""
        return f"{self.storage.describe()}, prefix {self.prefix or '(none)'}"

    def key(self, relative: str) -> str:
        """The storage key of a path relative to the folder."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    # ---- the layout (spec section 6) ----------------------------------------------------------
    def reward_function(self) -> str:
        return self.key("reward_function.py")

    def training_params(self, config: int = 0) -> str:
        """The run spec every sim reads (track, race type, objects, bots, directions). Several
        tracks: one file per track, ``training_params.yaml`` then ``training_params_<i>.yaml`` (i >= 1,
        the reference's multi-config layout); sim w drives config w mod (number of files)."""
        return self.key("training_params.yaml" if config == 0 else f"training_params_{config}.yaml")

    def training_params_count(self) -> int:
        """How many run-spec files (one per track) the folder holds: 0, 1, 2, ..."""
        keys = set(self.storage.list(self.key("training_params")))
        n = 0
        while self.training_params(n) in keys:
            n += 1
        return n

    def hyperparameters(self) -> str:
        return self.key("ip/hyperparameters.json")

    def model_metadata(self) -> str:
        return self.key("model/model_metadata.json")

    def track_file(self, name: str) -> str:
        """A copy of a track's route file (ours, not the reference's layout): sims on any machine
        read the track from the model folder, so custom tracks travel with the model."""
        return self.key(f"tracks/{name}.npy")

    def track_files(self) -> dict[str, str]:
        """The track copies in the folder: track name -> key."""
        prefix = self.key("tracks/")
        return {k[len(prefix):-4]: k for k in self.storage.list(prefix)
                if k.endswith(".npy") and "/" not in k[len(prefix):]}

    def checkpoint_prefix(self, number: int, steps: int) -> str:
        return self.key(f"model/{Checkpoint(number, steps).name}")

    def checkpoint_files(self, number: int, steps: int) -> tuple[str, ...]:
        """Keys of the .index, .data-00000-of-00001 and .meta files of a TensorFlow checkpoint."""
        return tuple(f"{self.checkpoint_prefix(number, steps)}.{s}" for s in CHECKPOINT_SUFFIXES)

    def coach_checkpoint(self) -> str:
        """The pointer to the current checkpoint; holds its bare name, as rl_coach writes it."""
        return self.key("model/.coach_checkpoint")

    def tf_checkpoint_state(self) -> str:
        """TensorFlow's checkpoint state file (the simapp's "old" pointer, read by TF tools)."""
        return self.key("model/checkpoint")

    def deepracer_checkpoints(self) -> str:
        return self.key("model/deepracer_checkpoints.json")

    def frozen_model(self, number: int) -> str:
        return self.key(f"model/model_{number}.pb")

    def training_metrics(self, worker: int = 0) -> str:
        return self.key("metrics/TrainingMetrics.json" if worker == 0 else f"metrics/TrainingMetrics_{worker}.json")

    def training_metrics_keys(self) -> list[str]:
        """The training metrics files of every worker that wrote one (training_metrics(w)), sorted."""
        return [k for k in self.storage.list(self.key("metrics/"))
                if "/" not in k[len(self.key("metrics/")):] and k.rpartition("/")[2].startswith("TrainingMetrics")
                and k.endswith(".json")]

    def training_metrics_chunk(self, worker: int, iteration: int) -> str:
        """One iteration's TrainingMetrics entries of one worker (ours, ``{"metrics": [...]}``): a sim writes
        one every iteration and rewrites its whole TrainingMetrics file from them at most every
        METRICS_FILE_INTERVAL_S (simulation/worker.py) and when it stops, then deletes them; so the work
        per iteration is the iteration's own, and nothing a sim reported is lost if it is killed."""
        return self.key(f"metrics/iterations/{int(worker)}/{int(iteration)}.json")

    def training_metrics_chunks(self) -> dict[int, dict[int, str]]:
        """worker -> iteration -> key of the chunks (training_metrics_chunk) in the folder."""
        out: dict[int, dict[int, str]] = {}
        for k in self.storage.list(self.key("metrics/iterations/")):
            m = _CHUNK.search(k)
            if m:
                out.setdefault(int(m.group(1)), {})[int(m.group(2))] = k
        return out

    def read_training_metrics(self, file_cache: dict[str, tuple[int, list[dict[str, Any]]]] | None = None
                              ) -> dict[int, list[dict[str, Any]]]:
        """worker -> every TrainingMetrics entry it reported: its TrainingMetrics file, then its chunks in
        iteration order, each replacing the entries of its iteration and later (a resumed run plays an
        interrupted iteration again). What every reader of training metrics here uses; the reference's
        readers (deepracer-utils) read the files, which lag by at most METRICS_FILE_INTERVAL_S while a sim runs.

        ``file_cache`` (a dict the caller keeps between calls; for readers that poll a running model, the
        viewer and the scenario watch): a file whose size is unchanged since the last call is not read again
        (a sim's file only grows while it runs, rewritten about once a minute), so a poll reads the chunks,
        a minute's entries at most. The entries returned are then shared with the cache: do not change them."""
        from .traces import metrics_iterations

        out: dict[int, list[dict[str, Any]]] = {}
        for key in self.training_metrics_keys():
            m = _METRICS_FILE.search(key)
            worker = int(m.group(1)) if m and m.group(1) else 0
            try:
                size = self.storage.size(key) if file_cache is not None else -1
                if file_cache is not None and key in file_cache and file_cache[key][0] == size:
                    out[worker] = file_cache[key][1]
                    continue
                data = self.read_json(key)
            except (StorageKeyError, ValueError):
                continue
            entries = data.get("metrics", []) if isinstance(data, dict) else []
            out[worker] = [e for e in entries if isinstance(e, dict)]
            if file_cache is not None:
                file_cache[key] = (size, out[worker])
        for worker, chunks in self.training_metrics_chunks().items():
            entries = list(out.get(worker, []))
            its = metrics_iterations(entries)       # once: the merge costs the chunks' size, not the file's
            top = max(its, default=-1)
            for iteration in sorted(chunks):
                try:
                    data = self.read_json(chunks[iteration])
                except (StorageKeyError, ValueError):
                    continue            # deleted meanwhile: its entries are in the file now
                if top >= iteration:    # a replayed iteration: drop its entries and later ones
                    kept = [i for i, it in enumerate(its) if it < iteration]
                    entries, its = [entries[i] for i in kept], [its[i] for i in kept]
                new = [e for e in (data.get("metrics", []) if isinstance(data, dict) else []) if isinstance(e, dict)]
                entries += new
                its += [iteration] * len(new)     # a chunk holds its iteration's entries (ITERATION_KEY)
                top = iteration
            out[worker] = entries
        return dict(sorted(out.items()))

    def evaluation_metrics(self, timestamp: datetime | float | str | None = None) -> str:
        return self.key(f"metrics/evaluation/evaluation-{format_timestamp(timestamp)}.json")

    def training_simtrace(self, iteration: int, worker: int = 0, num_workers: int = 1) -> str:
        """One worker: training-simtrace/<iter>-iteration.csv; several: <worker>/training-simtrace/..."""
        if not 0 <= worker < num_workers:
            raise ValueError(f"worker {worker} is not in 0..{num_workers - 1}")
        rel = f"training-simtrace/{iteration}-iteration.csv"
        return self.key(rel if num_workers == 1 else f"{worker}/{rel}")

    def sim_stats(self, worker: int) -> str:
        """A sim's running costs (ours, JSON, rewritten every iteration): iteration, alive_s, storage_s
        (seconds spent writing and reading the model folder and sending episodes), rss_mb; what
        ``make bench-soak`` reads."""
        return self.key(f"preview/sim-{int(worker)}/stats.json")

    def preview(self, worker: int, name: str) -> str:
        """A live-viewer preview file of sim ``worker`` (simulation/preview.py): topdown-<t>.jpg,
        camera.jpg or status.json."""
        return self.key(f"preview/sim-{int(worker)}/{name}")

    def evaluation_video(self, timestamp: datetime | float | str | None, trial: int) -> str:
        """The MP4 of one evaluation trial (``make evaluate VIDEO=1``), beside that evaluation's sim-trace."""
        return self.key(f"evaluation-{format_timestamp(timestamp)}/video/trial-{int(trial)}.mp4")

    def evaluation_simtrace(self, timestamp: datetime | float | str | None = None) -> str:
        return self.key(f"evaluation-{format_timestamp(timestamp)}/evaluation-simtrace/0-iteration.csv")

    def ready_marker(self) -> str:
        return self.key("model/.ready")

    def lock_marker(self) -> str:
        return self.key("model/.lock")

    def finished_marker(self) -> str:
        return self.key("model/.finished")

    def stop_marker(self) -> str:
        """Present while someone asks the model's trainer to stop after its current iteration (a
        scenario's early stop in the compose stack); a new upload removes it."""
        return self.key("model/.stop")

    # ---- reading and writing -----------------------------------------------------------------
    def write_text(self, key: str, text: str) -> None:
        self.storage.put_bytes(key, text.encode("utf-8"))

    def read_text(self, key: str) -> str:
        return self.storage.get_bytes(key).decode("utf-8")

    def write_json(self, key: str, obj: Any, indent: int | None = 2) -> None:
        self.write_text(key, json.dumps(obj, indent=indent) + ("\n" if indent is not None else ""))

    def read_json(self, key: str) -> Any:
        """The parsed object; ValueError naming the key and the store when it is not JSON."""
        text = self.read_text(key)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{key} in {self.storage.describe()}: not valid JSON ({exc.msg}, line {exc.lineno})") from None

    def new_training_params(self, bucket: str = "bucket", **fields: Any) -> TrainingParams:
        """TrainingParams whose S3 keys point into this folder; ``fields`` override any attribute."""
        values: dict[str, Any] = dict(
            metrics_s3_bucket=bucket, metrics_s3_object_key=self.training_metrics(),
            model_metadata_file_s3_key=self.model_metadata(), reward_file_s3_key=self.reward_function(),
            sagemaker_shared_s3_bucket=bucket, sagemaker_shared_s3_prefix=self.prefix,
            simtrace_s3_bucket=bucket, simtrace_s3_prefix=self.prefix)
        values.update(fields)
        return TrainingParams(**values)

    # ---- checkpoints -------------------------------------------------------------------------
    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint the pointer names, or None when there is no pointer yet."""
        try:
            text = self.read_text(self.coach_checkpoint())
        except StorageKeyError:
            return None
        return Checkpoint.parse(text)

    def list_checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint with at least one file in the folder, oldest first."""
        found = set()
        for key in self.storage.list(self.key("model/")):
            m = _CKPT_FILE.fullmatch(key.rpartition("/")[2])
            if m:
                found.add(Checkpoint(int(m.group(1)), int(m.group(2))))
        return sorted(found)

    def checkpoint_record(self) -> dict[str, Any] | None:
        """The parsed deepracer_checkpoints.json, or None when there is none."""
        try:
            return self.read_json(self.deepracer_checkpoints())
        except StorageKeyError:
            return None

    def best_checkpoint(self) -> Checkpoint | None:
        """The best checkpoint recorded in deepracer_checkpoints.json, or None."""
        best = (self.checkpoint_record() or {}).get("best_checkpoint") or {}
        return Checkpoint.parse(best.get("name") or "")

    def publish_checkpoint(self, number: int, steps: int, files: Mapping[str, bytes | str | PathLike],
                           frozen_pb: bytes | None = None, metric: float | None = None,
                           time_stamp: float | None = None, keep: int = NUM_CHECKPOINTS_TO_KEEP) -> Checkpoint:
        """Publish checkpoint ``number`` and make it current; return it.

        ``files`` maps a suffix ("index", "data-00000-of-00001", "meta", or any other file name part)
        to bytes or a local file path. ``metric`` is the checkpoint's evaluation metric (mean progress
        in percent by default in the reference; higher is better), None when not known yet (see
        record_metric). ``time_stamp`` is epoch seconds (default now). Order: checkpoint files and
        model_<n>.pb, then deepracer_checkpoints.json and model/checkpoint, then .coach_checkpoint.
        Then checkpoints other than the newest ``keep`` and the best are deleted with their .pb.
        """
        if not files:
            raise ValueError("publish_checkpoint needs at least one checkpoint file")
        ckpt = Checkpoint(int(number), int(steps))
        prefix = self.checkpoint_prefix(*ckpt)
        for suffix, content in files.items():
            suffix = suffix.lstrip(".")
            if not suffix or "/" in suffix:
                raise ValueError(f"checkpoint file suffix {suffix!r} must be a non-empty name without '/'")
            if isinstance(content, (bytes, bytearray, memoryview)):
                self.storage.put_bytes(f"{prefix}.{suffix}", bytes(content))
            else:
                self.storage.put_file(f"{prefix}.{suffix}", content)
        if frozen_pb is not None:
            self.storage.put_bytes(self.frozen_model(ckpt.number), frozen_pb)
        self._record(ckpt, metric, time_stamp)
        self.write_text(self.tf_checkpoint_state(),
                        f'model_checkpoint_path: "{ckpt.name}"\nall_model_checkpoint_paths: "{ckpt.name}"\n')
        self.write_text(self.coach_checkpoint(), ckpt.name)
        self.prune(keep)
        return ckpt

    def remove_unpublished(self) -> list[str]:
        """Delete checkpoint files and frozen graphs numbered above the pointer: what a run killed in the
        middle of publishing left behind (a resumed run publishes that number again, with other steps)."""
        latest = self.latest_checkpoint()
        top = latest.number if latest is not None else -1
        gone = []
        for key in self.storage.list(self.key("model/")):
            name = key.rpartition("/")[2]
            m = _CKPT_FILE.fullmatch(name) or re.fullmatch(r"model_(\d+)\.pb", name)
            if m and int(m.group(1)) > top:
                self.storage.delete(key)
                gone.append(key)
        return gone

    def record_metric(self, number: int, steps: int, metric: float, time_stamp: float | None = None) -> None:
        """Record checkpoint ``number``'s evaluation metric once it is known (updates best and last)."""
        self._record(Checkpoint(int(number), int(steps)), metric, time_stamp)

    def mark_best(self, number: int, metric: float | None) -> Checkpoint:
        """Record kept checkpoint ``number`` as the best in deepracer_checkpoints.json with evaluation metric
        ``metric`` (mean progress in percent, as the reference's), whatever the best was (``make pick MARK=1``);
        the last checkpoint's entry stays. Returns it; ValueError when the folder does not keep it."""
        ckpt = next((c for c in self.list_checkpoints() if c.number == number), None)
        if ckpt is None:
            kept = ", ".join(str(c.number) for c in self.list_checkpoints()) or "none"
            raise ValueError(f"checkpoint {number} is not in {self.describe()}; it keeps: {kept}")
        record = self.checkpoint_record() or {}
        entry = {"name": ckpt.name, "avg_eval_metric": None if metric is None else float(metric),
                 "time_stamp": float(time.time())}
        self.write_json(self.deepracer_checkpoints(),
                        {"best_checkpoint": entry, "last_checkpoint": record.get("last_checkpoint") or entry},
                        indent=None)
        return ckpt

    def _record(self, ckpt: Checkpoint, metric: float | None, time_stamp: float | None) -> None:
        """Update deepracer_checkpoints.json as the simapp does: best = highest metric (ties: newer)."""
        entry = {"name": ckpt.name, "avg_eval_metric": None if metric is None else float(metric),
                 "time_stamp": float(time.time() if time_stamp is None else time_stamp)}
        record = self.checkpoint_record() or {}
        best = record.get("best_checkpoint") or {}
        best_metric = best.get("avg_eval_metric")
        if (not best.get("name") or best.get("name") == ckpt.name or
                (metric is not None and (best_metric is None or metric >= best_metric))):
            best = entry
        self.write_json(self.deepracer_checkpoints(), {"best_checkpoint": best, "last_checkpoint": entry}, indent=None)

    def prune(self, keep: int = NUM_CHECKPOINTS_TO_KEEP) -> list[Checkpoint]:
        """Delete all but the newest ``keep`` checkpoints, the best and the current; return those deleted."""
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        ckpts = self.list_checkpoints()
        kept = set(ckpts[-keep:]) | {self.best_checkpoint(), self.latest_checkpoint()}
        gone = [c for c in ckpts if c not in kept]
        for c in gone:
            for key in self.storage.list(self.checkpoint_prefix(*c) + "."):
                self.storage.delete(key)
            if not any(k.number == c.number for k in kept):
                self.storage.delete(self.frozen_model(c.number))
        return gone

    def copy_from(self, other: "ModelFolder", checkpoint: Checkpoint | None = None) -> Checkpoint:
        """Start this folder from another's checkpoint ("clone", DRfC's increment training).

        Copies the configuration files that exist (reward function, training params, hyperparameters,
        model metadata), then publishes ``checkpoint`` (default: the other's best, else its latest)
        here under the same number with the other's recorded metric.
        """
        ckpt = checkpoint or other.best_checkpoint() or other.latest_checkpoint()
        if ckpt is None:
            raise StorageKeyError(f"{other.prefix!r} in {other.storage.describe()} has no checkpoint to copy")
        for name in ("reward_function", "training_params", "hyperparameters", "model_metadata"):
            src = getattr(other, name)()
            if other.storage.exists(src):
                self.storage.put_bytes(getattr(self, name)(), other.storage.get_bytes(src))
        prefix = other.checkpoint_prefix(*ckpt) + "."
        files = {k[len(prefix):]: other.storage.get_bytes(k) for k in other.storage.list(prefix)}
        if not files:
            raise StorageKeyError(f"checkpoint {ckpt.name} has no files under {prefix!r} in {other.storage.describe()}")
        pb_key = other.frozen_model(ckpt.number)
        pb = other.storage.get_bytes(pb_key) if other.storage.exists(pb_key) else None
        metric = None
        for entry in (other.checkpoint_record() or {}).values():
            if isinstance(entry, dict) and entry.get("name") == ckpt.name:
                metric = entry.get("avg_eval_metric")
        return self.publish_checkpoint(ckpt.number, ckpt.steps, files, pb, metric)


#: Owner ids of the locks this process holds (a lease with our pid but another owner is a dead predecessor's).
_HELD_HERE: set[str] = set()


class ModelLockError(StorageError):
    """The model folder is owned by another running training (or upload)."""


class ModelLock:
    """One owner per model folder: a lease object (``model/.lock``, JSON: owner, host, pid, what,
    since, expires) renewed every ``lease_s / 3`` seconds while the owner runs.

    The same protocol serves a local folder and an S3 bucket. A lease is stale, and is taken over,
    when it has expired (its owner stopped renewing it: killed, or its machine gone), or when it was
    written on this host by a process that no longer runs (kill -9; a restarted container whose
    process has the recorded pid, its own). Use as a context manager around a training run.
    """

    def __init__(self, folder: "ModelFolder", what: str = "training", lease_s: float = 60.0):
        self.folder, self.what, self.lease_s = folder, what, float(lease_s)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = uuid.uuid4().hex
        self._stop = None
        self._thread = None

    def _read(self) -> dict | None:
        try:
            lease = self.folder.read_json(self.folder.lock_marker())
        except (StorageKeyError, ValueError):
            return None
        return lease if isinstance(lease, dict) else None

    def _write(self) -> None:
        now = time.time()
        self.folder.write_json(self.folder.lock_marker(), {
            "owner": self.owner, "host": self.host, "pid": self.pid, "what": self.what,
            "since": getattr(self, "_since", now), "expires": now + self.lease_s}, indent=None)

    def _stale(self, lease: dict) -> bool:
        if float(lease.get("expires", 0)) < time.time():
            return True
        if lease.get("host") != self.host:
            return False
        pid = lease.get("pid")
        if pid == self.pid:        # this process holds it, or a previous incarnation (a restarted container) did
            return lease.get("owner") not in _HELD_HERE
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, TypeError, ValueError):
            return False
        return False

    def describe(self, lease: dict) -> str:
        since = datetime.fromtimestamp(float(lease.get("since", 0))).strftime("%Y-%m-%d %H:%M:%S")
        return (f"{lease.get('what', 'a run')} on host {lease.get('host')} (pid {lease.get('pid')}), since {since}, "
                f"lease until {datetime.fromtimestamp(float(lease.get('expires', 0))).strftime('%H:%M:%S')}")

    def check(self, held_here_ok: bool = False) -> None:
        """Raise ModelLockError when another live run holds the folder (nothing is written);
        ``held_here_ok``: a lock this process holds (the launcher's own) is not another run."""
        lease = self._read()
        if lease is not None and held_here_ok and lease.get("owner") in _HELD_HERE:
            return
        if lease is not None and lease.get("owner") != self.owner and not self._stale(lease):
            raise ModelLockError(f"model {self.folder.prefix!r} in {self.folder.storage.describe()} is in use by "
                                 f"{self.describe(lease)}; stop that run first (Ctrl-C, make down), or pick another "
                                 "MODEL name. A lock left by a run that was killed expires within "
                                 f"{self.lease_s:.0f} s")

    def acquire(self) -> "ModelLock":
        self.check()
        self._since = time.time()
        self._write()
        time.sleep(0.05)
        mine = self._read()
        if mine is None or mine.get("owner") != self.owner:    # another run wrote its lease at the same moment
            raise ModelLockError(f"model {self.folder.prefix!r} was taken by "
                                 f"{self.describe(mine) if mine else 'another run'} while this one started")
        _HELD_HERE.add(self.owner)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="model-lock", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                lease = self._read()
                if lease is not None and lease.get("owner") != self.owner:
                    log.warning("the lock of model %s was taken over by %s",
                                                        self.folder.prefix, self.describe(lease))
                    return
                self._write()
            except Exception as exc:   # storage down for a moment: the next round tries again
                log.warning("could not renew the lock of model %s: %s",
                                                    self.folder.prefix, exc)

    def release(self) -> None:
        _HELD_HERE.discard(self.owner)
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._stop = None
        try:
            lease = self._read()
            if lease is not None and lease.get("owner") == self.owner:
                self.folder.storage.delete(self.folder.lock_marker())
        except Exception:
            pass

    def __enter__(self) -> "ModelLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
