"""Training metrics at a cost per iteration that does not grow: a sim writes each iteration's entries on
their own (ModelFolder.training_metrics_chunk) and its whole TrainingMetrics file at most every
METRICS_FILE_INTERVAL_S and when it stops; readers merge both; kill -9 at any moment loses nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.model_folder import ModelFolder
from core.s3_storage import S3Storage
from core.storage import LocalStorage
from core.traces import ITERATION_KEY, TrainingMetrics, metrics_iterations

from .servers import s3_server  # noqa: F401  (fixture)
from .test_deepracer_utils import episode, rows_of

ROOT = Path(__file__).resolve().parent.parent


def _entry(iteration: int, episode: int, trial: int, phase: str = "training") -> dict:
    return {"reward_score": 1, "metric_time": 0, "start_time": 0, "elapsed_time_in_milliseconds": 0,
            "episode": episode, "trial": trial, "phase": phase, "completion_percentage": 10,
            "episode_status": "Off track", ITERATION_KEY: iteration}


def test_readers_merge_the_file_and_the_newer_chunks(tmp_path):
    folder = ModelFolder(LocalStorage(tmp_path), "m")
    file_entries = [_entry(0, 1, 1), _entry(0, 2, 2), _entry(1, 3, 1), _entry(1, 4, 2)]
    folder.write_json(folder.training_metrics(0), {"metrics": file_entries})
    # iteration 1 played again after a RESUME (replaces the file's), then iteration 2
    folder.write_json(folder.training_metrics_chunk(0, 1), {"metrics": [_entry(1, 3, 1), _entry(1, 4, 2),
                                                                        _entry(1, 4, 2, "evaluation")]})
    folder.write_json(folder.training_metrics_chunk(0, 2), {"metrics": [_entry(2, 5, 1), _entry(2, 6, 2)]})
    folder.write_json(folder.training_metrics_chunk(1, 0), {"metrics": [_entry(0, 1, 1)]})   # a sim with no file yet
    merged = folder.read_training_metrics()
    assert sorted(merged) == [0, 1]
    assert [e["episode"] for e in merged[0]] == [1, 2, 3, 4, 4, 5, 6]
    assert metrics_iterations(merged[0]) == [0, 0, 1, 1, 1, 2, 2]
    assert [e["episode"] for e in merged[1]] == [1]
    # the chunks are not TrainingMetrics files (deepracer-utils and DRfC's tools read only those)
    assert folder.training_metrics_keys() == [folder.training_metrics(0)]


@pytest.mark.parametrize("store", ["local", "s3"])
def test_a_sim_forgets_what_it_stored_and_appends_to_its_file(tmp_path, monkeypatch, capsys, request, store):
    """Each rewrite of the metrics file appends the entries since the last one to the stored bytes, and
    the sim keeps none of them in memory; a replayed iteration and a file changed under the sim are read
    back from the folder. Both storages."""
    from simulation import worker as worker_mod

    if store == "s3":
        server = request.getfixturevalue("s3_server")
        storage = S3Storage(f"soak{os.getpid()}", endpoint_url=server.endpoint, access_key=server.access_key,
                            secret_key=server.secret_key, create_bucket=True)
    else:
        storage = LocalStorage(tmp_path)
    monkeypatch.setattr(worker_mod, "METRICS_FILE_INTERVAL_S", 0.0)    # a rewrite every iteration
    monkeypatch.setattr(worker_mod, "METRICS_FILE_MAX_SHARE", float("inf"))
    w = worker_mod.Worker.__new__(worker_mod.Worker)       # the storage half of an iteration, no env
    w.cfg, w.storage, w.folder, w.io_s = SimpleNamespace(worker=0), storage, ModelFolder(storage, "m"), 0.0
    w._metrics_written_at, w._metrics_interval_s = -float("inf"), 0.0
    w._read_back_metrics()
    every = TrainingMetrics()

    def play(it: int, first_id: int) -> None:
        eps = [episode(first_id, 2), episode(first_id + 1, 3)]
        evals = [episode(99, 2, "evaluation")]
        w.store_iteration(it, eps, evals, rows_of(*eps), num_workers=1)
        every.add_iteration(it, eps, evals, rows_of(*eps), step_s=worker_mod.STEP_S)

    for it in range(4):
        play(it, 10 * it)
        assert w.metrics.metrics == [] and w.folder.training_metrics_chunks() == {}
        assert storage.get_bytes(w.folder.training_metrics(0)) == every.to_json().encode()
    play(2, 50)                  # a restarted trainer hands out iteration 2 again: 3 is dropped, 2 replaced
    assert [(m["episode"], m[ITERATION_KEY]) for m in w.folder.read_json(w.folder.training_metrics(0))["metrics"]
            if m["phase"] == "training"] == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2)]
    assert w.metrics.metrics == [] and w.metrics.forgotten == 9
    # someone rewrote the file (pretty-printed): the sim reads it back with its chunks instead of appending
    doc = w.folder.read_json(w.folder.training_metrics(0))
    w.folder.write_json(w.folder.training_metrics(0), doc, indent=2)
    play(3, 60)
    assert "changed under this sim" in capsys.readouterr().err
    assert storage.get_bytes(w.folder.training_metrics(0)) == every.to_json().encode()


def test_a_polling_reader_reads_the_file_only_when_it_grew(tmp_path):
    """The viewer and the scenario watch poll a running model: with a file cache a poll reads the chunks,
    and the whole file again only when its size changed; what it returns equals a fresh read."""
    reads: list[str] = []

    class Counting(LocalStorage):
        def get_bytes(self, key):
            reads.append(key.rpartition("metrics/")[2])
            return super().get_bytes(key)

    folder = ModelFolder(Counting(tmp_path), "m")
    folder.write_json(folder.training_metrics(0), {"metrics": [_entry(0, 1, 1), _entry(1, 2, 1)]}, indent=None)
    folder.write_json(folder.training_metrics_chunk(0, 2), {"metrics": [_entry(2, 3, 1)]})
    cache: dict = {}
    first = folder.read_training_metrics(cache)
    assert reads == ["TrainingMetrics.json", "iterations/0/2.json"]
    reads.clear()
    folder.write_json(folder.training_metrics_chunk(0, 3), {"metrics": [_entry(3, 4, 1)]})
    assert [e["episode"] for e in folder.read_training_metrics(cache)[0]] == [1, 2, 3, 4]
    assert reads == ["iterations/0/2.json", "iterations/0/3.json"]          # not the file
    assert first[0] == [_entry(0, 1, 1), _entry(1, 2, 1), _entry(2, 3, 1)]  # the cached entries were not changed
    reads.clear()
    folder.write_json(folder.training_metrics(0), {"metrics": [_entry(i, i + 1, 1) for i in range(4)]}, indent=None)
    for i in (2, 3):
        folder.storage.delete(folder.training_metrics_chunk(0, i))
    assert folder.read_training_metrics(cache) == folder.read_training_metrics() and reads[0] == "TrainingMetrics.json"


def test_each_iterations_cyclic_garbage_is_freed_at_its_end():
    """A tf.Graph per iteration is cyclic garbage: IterationGarbage frees it at the iteration's end, not
    whenever Python's rare full collection comes (core.memory)."""
    import gc
    import weakref

    from core.memory import IterationGarbage

    class Graphish:
        pass

    def one_iteration() -> weakref.ref:
        a, b = Graphish(), Graphish()
        a.other, b.other, a.payload = b, a, bytearray(1 << 20)
        return weakref.ref(a)

    garbage = IterationGarbage()
    try:
        garbage.after_iteration()                 # start-up's objects go to the permanent generation
        assert garbage.frozen and gc.get_freeze_count() > 0
        for _ in range(3):
            ref = one_iteration()
            assert ref() is not None              # a cycle outlives its last reference ...
            took = garbage.after_iteration()
            assert ref() is None                  # ... until the iteration ends
            assert took < 0.5
    finally:
        gc.unfreeze()


def _train(models: Path, name: str, episodes: int, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "stack.cli", "train", "--model", name, "--preset", "state", "--track", "reinvent",
           "--episodes", str(episodes), "--models-dir", str(models), "--seed", "0"] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_loses_and_doubles_no_episode(tmp_path):
    """Training (learner and sim) killed with SIGKILL three times at random moments, each time RESUMEd:
    in the end every iteration the model trained on has exactly its episodes in the metrics, numbered
    without gaps or repeats, the file and the merged view agree and no chunk is left."""
    from core.config import preset_files

    models = tmp_path / "models"
    per_iteration = json.loads(preset_files("state")[1].read_text())["num_episodes_between_training"]
    rng = random.Random(7)
    name = "killed"
    folder = ModelFolder(LocalStorage(models), name)
    for attempt in range(3):
        proc = _train(models, name, 100 * per_iteration, resume=attempt > 0)
        before = folder.latest_checkpoint().number if folder.latest_checkpoint() else -1
        deadline = time.monotonic() + 240
        # wait until this run has published at least one checkpoint of its own, then a random moment more
        while time.monotonic() < deadline and proc.poll() is None:
            latest = folder.latest_checkpoint()
            if latest is not None and latest.number > before:
                break
            time.sleep(0.1)
        time.sleep(rng.uniform(0.0, 4.0))
        assert proc.poll() is None, "the run ended before it was killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    final = _train(models, name, 2 * per_iteration, resume=True)
    assert final.wait(timeout=300) == 0
    trained = folder.latest_checkpoint().number            # iterations 0 .. trained - 1 were learned from
    merged = folder.read_training_metrics()
    assert list(merged) == [0]
    entries = merged[0]
    train = [(e, it) for e, it in zip(entries, metrics_iterations(entries)) if e["phase"] == "training"]
    counts = {it: 0 for it in range(trained)}
    for _, it in train:
        counts[it] = counts.get(it, 0) + 1
    assert counts == {it: per_iteration for it in range(trained)}
    assert [e["episode"] for e, _ in train] == list(range(1, trained * per_iteration + 1))
    assert folder.read_json(folder.training_metrics(0))["metrics"] == entries
    assert folder.training_metrics_chunks() == {}
    stats = folder.read_json(folder.sim_stats(0))            # what make bench-soak reads
    assert stats["iteration"] == trained - 1 and stats["rss_mb"] > 50 and 0 < stats["storage_s"] < stats["alive_s"]
