"""Storage, the model-folder layout and publishing protocol, sim-trace and metrics writers."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest

from core.model_folder import Checkpoint, ModelFolder, format_timestamp
from core.storage import LocalStorage, Storage, StorageError, StorageKeyError
from core.traces import (SIMTRACE_COLUMNS, EvaluationMetrics, TrainingMetrics, evaluation_metrics_json,
                         sim_trace_log_line, simtrace_csv)


@pytest.fixture
def store(tmp_path) -> LocalStorage:
    return LocalStorage(tmp_path / "models")


# ---- LocalStorage ---------------------------------------------------------------------------------

def test_local_storage_round_trip(store, tmp_path):
    assert isinstance(store, Storage)
    store.put_bytes("m/model/a.json", b"{}")
    store.put_bytes("m/b.txt", b"b")
    store.put_bytes("other/c", b"c")
    assert store.get_bytes("m/model/a.json") == b"{}"
    assert store.exists("m/b.txt") and not store.exists("m/nothing") and not store.exists("m/model")
    assert store.size("m/model/a.json") == 2
    with pytest.raises(StorageKeyError):
        store.size("m/nothing")
    assert store.list("m/") == ["m/b.txt", "m/model/a.json"]
    assert store.list("m/mo") == ["m/model/a.json"]
    assert store.list() == ["m/b.txt", "m/model/a.json", "other/c"]
    assert store.list("nothing/") == []
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\x01")
    store.put_file("m/f.bin", src)
    store.get_file("m/f.bin", tmp_path / "out" / "f.bin")
    assert (tmp_path / "out" / "f.bin").read_bytes() == b"\x00\x01"
    store.delete("m/b.txt")
    store.delete("m/b.txt")          # already gone: no error
    assert not store.exists("m/b.txt")
    assert (store.root / "m" / "model" / "a.json").is_file()
    assert store.describe() == f"local folder {store.root}"


def test_local_storage_write_is_atomic(store, monkeypatch):
    store.put_bytes("k", b"old")
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(src), os.path.basename(src), (store.root / "k").read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    store.put_bytes("k", b"new")
    (folder, tmp_name, at_replace), = seen
    assert folder == str(store.root) and tmp_name != "k"      # temp file beside the target
    assert at_replace == b"old"                               # target untouched until the rename
    assert store.get_bytes("k") == b"new"
    assert sorted(os.listdir(store.root)) == ["k"]            # no temp file left behind


def test_local_storage_failed_write_leaves_old_object(store, monkeypatch):
    store.put_bytes("k", b"old")
    monkeypatch.setattr(os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(StorageError, match="disk full"):  # one message, not a raw OSError
        store.put_bytes("k", b"new")
    assert store.get_bytes("k") == b"old" and sorted(os.listdir(store.root)) == ["k"]


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "a/"])
def test_local_storage_rejects_bad_keys(store, key):
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")


def test_missing_key_names_key_and_store(store, tmp_path):
    with pytest.raises(StorageKeyError) as exc:
        store.get_bytes("m/model/missing.json")
    assert isinstance(exc.value, KeyError)
    assert str(exc.value) == f"no object 'm/model/missing.json' in local folder {store.root}"
    with pytest.raises(StorageKeyError, match="missing.json"):
        store.get_file("m/model/missing.json", tmp_path / "x")


# ---- the layout -----------------------------------------------------------------------------------

def test_model_folder_paths_are_the_drfc_layout(store):
    mf = ModelFolder(store, "rl-deepracer-sagemaker/")
    p = "rl-deepracer-sagemaker/"
    assert mf.reward_function() == p + "reward_function.py"
    assert mf.training_params() == p + "training_params.yaml"
    assert mf.hyperparameters() == p + "ip/hyperparameters.json"
    assert mf.model_metadata() == p + "model/model_metadata.json"
    assert mf.checkpoint_prefix(7, 12345) == p + "model/7_Step-12345.ckpt"
    assert mf.checkpoint_files(7, 12345) == (p + "model/7_Step-12345.ckpt.index",
                                             p + "model/7_Step-12345.ckpt.data-00000-of-00001",
                                             p + "model/7_Step-12345.ckpt.meta")
    assert mf.coach_checkpoint() == p + "model/.coach_checkpoint"
    assert mf.deepracer_checkpoints() == p + "model/deepracer_checkpoints.json"
    assert mf.frozen_model(7) == p + "model/model_7.pb"
    assert mf.training_metrics() == p + "metrics/TrainingMetrics.json"
    assert mf.training_metrics(2) == p + "metrics/TrainingMetrics_2.json"
    assert mf.evaluation_metrics("20240102030405") == p + "metrics/evaluation/evaluation-20240102030405.json"
    assert mf.evaluation_simtrace("20240102030405") == p + "evaluation-20240102030405/evaluation-simtrace/0-iteration.csv"
    assert (mf.ready_marker(), mf.lock_marker(), mf.finished_marker()) == (p + "model/.ready", p + "model/.lock",
                                                                           p + "model/.finished")
    assert ModelFolder(store).reward_function() == "reward_function.py"


def test_training_simtrace_single_and_multi_worker(store):
    mf = ModelFolder(store, "m")
    assert mf.training_simtrace(3) == "m/training-simtrace/3-iteration.csv"
    assert mf.training_simtrace(3, worker=0, num_workers=1) == "m/training-simtrace/3-iteration.csv"
    assert mf.training_simtrace(3, worker=0, num_workers=2) == "m/0/training-simtrace/3-iteration.csv"
    assert mf.training_simtrace(3, worker=1, num_workers=2) == "m/1/training-simtrace/3-iteration.csv"
    with pytest.raises(ValueError):
        mf.training_simtrace(3, worker=2, num_workers=2)


def test_timestamps():
    from datetime import datetime
    assert format_timestamp(datetime(2024, 1, 2, 3, 4, 5)) == "20240102030405"
    assert len(format_timestamp()) == 14 and len(format_timestamp(0.0)) == 14
    with pytest.raises(ValueError):
        format_timestamp("2024-01-02")


def test_json_and_training_params_files(store):
    mf = ModelFolder(store, "m")
    mf.write_json(mf.hyperparameters(), {"lr": 0.0003})
    assert mf.read_json(mf.hyperparameters()) == {"lr": 0.0003}
    mf.write_text(mf.reward_function(), "not json")
    with pytest.raises(ValueError, match="reward_function.py"):
        mf.read_json(mf.reward_function())
    tp = mf.new_training_params(world_name="Albert")
    assert tp.sagemaker_shared_s3_prefix == "m" and tp.metrics_s3_object_key == mf.training_metrics()
    assert tp.model_metadata_file_s3_key == mf.model_metadata() and tp.world_name == "Albert"


# ---- publishing checkpoints -----------------------------------------------------------------------

class RecordingStorage:
    """Wraps a Storage and records the order of writes and deletes (a test double of the call order only)."""

    def __init__(self, inner: Storage):
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put_bytes(self, key, data):
        self.calls.append(("put", key))
        self.inner.put_bytes(key, data)

    def put_file(self, key, path):
        self.calls.append(("put", key))
        self.inner.put_file(key, path)

    def delete(self, key):
        self.calls.append(("delete", key))
        self.inner.delete(key)


def _files(n: int) -> dict[str, bytes]:
    return {"index": b"i%d" % n, "data-00000-of-00001": b"d%d" % n, "meta": b"m%d" % n}


def test_publish_writes_files_first_and_pointer_last(store, tmp_path):
    rec = RecordingStorage(store)
    mf = ModelFolder(rec, "m")
    meta = tmp_path / "meta"
    meta.write_bytes(b"meta-from-file")
    ckpt = mf.publish_checkpoint(1, 300, {"index": b"i", ".data-00000-of-00001": b"d", "meta": meta},
                                 frozen_pb=b"pb", metric=42.0, time_stamp=1700000000.5)
    assert ckpt == Checkpoint(1, 300) and ckpt.name == "1_Step-300.ckpt"
    puts = [k for op, k in rec.calls if op == "put"]
    assert set(puts[:4]) == set(mf.checkpoint_files(1, 300)) | {mf.frozen_model(1)}
    assert puts[4:] == [mf.deepracer_checkpoints(), mf.tf_checkpoint_state(), mf.coach_checkpoint()]
    assert store.get_bytes("m/model/1_Step-300.ckpt.meta") == b"meta-from-file"
    assert store.get_bytes(mf.coach_checkpoint()) == b"1_Step-300.ckpt"
    assert store.get_bytes(mf.tf_checkpoint_state()).decode() == (
        'model_checkpoint_path: "1_Step-300.ckpt"\nall_model_checkpoint_paths: "1_Step-300.ckpt"\n')
    assert mf.latest_checkpoint() == (1, 300)
    assert mf.read_json(mf.deepracer_checkpoints()) == {
        "best_checkpoint": {"name": "1_Step-300.ckpt", "avg_eval_metric": 42.0, "time_stamp": 1700000000.5},
        "last_checkpoint": {"name": "1_Step-300.ckpt", "avg_eval_metric": 42.0, "time_stamp": 1700000000.5}}


def test_best_checkpoint_is_the_highest_metric(store):
    mf = ModelFolder(store, "m")
    assert mf.latest_checkpoint() is None and mf.best_checkpoint() is None and mf.list_checkpoints() == []
    mf.publish_checkpoint(1, 100, _files(1), b"pb1", metric=None)
    assert mf.best_checkpoint() == (1, 100)                      # the only one, metric unknown
    mf.publish_checkpoint(2, 200, _files(2), b"pb2", metric=30.0)
    mf.publish_checkpoint(3, 300, _files(3), b"pb3", metric=20.0)
    record = mf.checkpoint_record()
    assert record["best_checkpoint"]["name"] == "2_Step-200.ckpt" and record["best_checkpoint"]["avg_eval_metric"] == 30.0
    assert record["last_checkpoint"]["name"] == "3_Step-300.ckpt" and isinstance(record["last_checkpoint"]["time_stamp"], float)
    mf.publish_checkpoint(4, 400, _files(4), b"pb4", metric=None)   # not evaluated yet: best stays
    assert mf.best_checkpoint() == (2, 200)
    mf.record_metric(4, 400, 30.0)                                # ties go to the newer, as in the simapp
    assert mf.best_checkpoint() == (4, 400)


def test_mark_best_records_a_picked_checkpoint_which_pruning_then_keeps(store):
    mf = ModelFolder(store, "m")
    for n, metric in {1: 90.0, 2: 30.0, 3: 20.0}.items():
        mf.publish_checkpoint(n, n * 100, _files(n), b"pb%d" % n, metric=metric)
    last = mf.checkpoint_record()["last_checkpoint"]
    assert mf.mark_best(2, 95.0) == (2, 200)                     # make pick MARK=1
    record = mf.checkpoint_record()
    assert record["best_checkpoint"]["name"] == "2_Step-200.ckpt"
    assert record["best_checkpoint"]["avg_eval_metric"] == 95.0
    assert record["last_checkpoint"] == last
    with pytest.raises(ValueError, match="checkpoint 9 is not in .*prefix m; it keeps: 1, 2, 3"):
        mf.mark_best(9, 100.0)
    assert mf.checkpoint_record() == record
    for n in range(4, 9):                                         # training on: lower metrics, the pick stays best
        mf.publish_checkpoint(n, n * 100, _files(n), b"pb%d" % n, metric=50.0)
    assert mf.best_checkpoint() == (2, 200) and (2, 200) in mf.list_checkpoints()
    assert store.exists("m/model/model_2.pb")


def test_prune_keeps_newest_four_and_the_best(store):
    rec = RecordingStorage(store)
    mf = ModelFolder(rec, "m")
    metrics = {1: 10.0, 2: 90.0, 3: 20.0, 4: 30.0, 5: 40.0, 6: 50.0, 7: 60.0}
    for n, metric in metrics.items():
        mf.publish_checkpoint(n, n * 100, _files(n), b"pb%d" % n, metric=metric)
    assert mf.list_checkpoints() == [(2, 200), (4, 400), (5, 500), (6, 600), (7, 700)]
    assert mf.best_checkpoint() == (2, 200) and mf.latest_checkpoint() == (7, 700)
    models = store.list("m/model/")
    assert [k for k in models if k.endswith(".pb")] == ["m/model/model_2.pb", "m/model/model_4.pb", "m/model/model_5.pb",
                                                        "m/model/model_6.pb", "m/model/model_7.pb"]
    for n in (1, 3):
        assert not any(k.startswith(f"m/model/{n}_Step-") for k in models)
    for n in (2, 7):
        assert all(store.exists(k) for k in mf.checkpoint_files(n, n * 100))
    deletes = [k for op, k in rec.calls if op == "delete"]
    assert deletes[0].startswith("m/model/1_Step-100.ckpt.")        # pruned only after a newer pointer existed
    assert rec.calls.index(("put", "m/model/.coach_checkpoint")) < rec.calls.index(("delete", deletes[0]))


def test_copy_from_clones_the_best_checkpoint(store):
    src = ModelFolder(store, "a")
    src.write_json(src.model_metadata(), {"x": 1})
    src.write_text(src.reward_function(), "def reward_function(params):\n    return 1.0\n")
    src.publish_checkpoint(1, 100, _files(1), b"pb1", metric=80.0)
    src.publish_checkpoint(2, 200, _files(2), b"pb2", metric=10.0)
    dst = ModelFolder(store, "b")
    assert dst.copy_from(src) == (1, 100)
    assert dst.latest_checkpoint() == (1, 100) and dst.best_checkpoint() == (1, 100)
    assert dst.read_json(dst.model_metadata()) == {"x": 1}
    assert store.get_bytes(dst.frozen_model(1)) == b"pb1"
    assert [store.get_bytes(k) for k in dst.checkpoint_files(1, 100)] == [b"i1", b"d1", b"m1"]
    assert dst.checkpoint_record()["best_checkpoint"]["avg_eval_metric"] == 80.0
    with pytest.raises(StorageKeyError, match="no checkpoint"):
        ModelFolder(store, "c").copy_from(ModelFolder(store, "empty"))


# ---- sim-trace and metrics ------------------------------------------------------------------------

def _row(i: int, **changes) -> dict:
    row = {"episode": 0, "steps": i + 1, "X": 1.23456, "Y": -0.5, "yaw": 90.0, "steer": -15.0, "throttle": 0.6,
           "action": 1, "reward": 1.0, "done": False, "all_wheels_on_track": True, "progress": 0.57,
           "closest_waypoint": 3, "track_len": 17.71, "tstamp": 12.5 + i / 15, "episode_status": "in_progress",
           "pause_duration": 0.0, "obstacle_crash_counter": 0, "wall_clock": 1700000000.25}
    row.update(changes)
    return row


def test_simtrace_header_is_the_reference_order():
    assert ",".join(SIMTRACE_COLUMNS) == ("episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,"
                                          "progress,closest_waypoint,track_len,tstamp,episode_status,pause_duration,"
                                          "obstacle_crash_counter,wall_clock")
    assert simtrace_csv([]).splitlines() == [",".join(SIMTRACE_COLUMNS)]


def test_simtrace_rows_round_trip_through_dictreader():
    rows = [_row(0), _row(1, done=True, all_wheels_on_track=False, episode_status="off_track"),
            _row(2, action=(np.float32(-12.5), np.float64(1.25)), done=np.bool_(True))]
    text = simtrace_csv(rows)
    back = list(csv.DictReader(io.StringIO(text)))
    assert list(back[0]) == list(SIMTRACE_COLUMNS) and len(back) == 3
    assert back[0]["done"] == "False" and back[0]["all_wheels_on_track"] == "True" and back[0]["action"] == "1"
    assert back[1]["done"] == "True" and back[1]["episode_status"] == "off_track"
    assert back[2]["action"] == "[-12.5 1.25]" and back[2]["done"] == "True"
    for r, b in zip(rows, back):
        assert float(b["X"]) == r["X"] and float(b["tstamp"]) == r["tstamp"] and int(b["steps"]) == r["steps"]
    assert '"' not in text                       # nothing needs quoting
    one = simtrace_csv([_row(0, X=np.float32(0.1), steps=np.int64(7), episode_status="time_up")], header=False)
    assert one.startswith("0,7,0.1,") and ",time_up," in one


def test_simtrace_from_columns_matches_rows():
    rows = [_row(0), _row(1)]
    columns = {c: [r[c] for r in rows] for c in SIMTRACE_COLUMNS}
    assert simtrace_csv(columns) == simtrace_csv(rows)
    assert simtrace_csv(rows, header=False).count("\n") == 2


def test_simtrace_rejects_missing_and_unknown_columns():
    row = _row(0)
    del row["wall_clock"]
    with pytest.raises(ValueError, match="wall_clock"):
        simtrace_csv([row])
    with pytest.raises(ValueError, match="speed"):
        simtrace_csv([_row(0, speed=1.0)])


def test_sim_trace_log_line_uses_reference_precisions():
    line = sim_trace_log_line(_row(0, tstamp=12.5, wall_clock=1700000000.25))
    assert line == ("SIM_TRACE_LOG:0,1,1.2346,-0.5000,90.0000,-15.00,0.60,1,1.0000,False,True,0.5700,3,17.71,12.5,"
                    "in_progress,0.00,0,1700000000.2500")
    assert sim_trace_log_line(_row(0, action=[10.0, 2.0])).split(",")[7] == "[10.0 2.0]"


def test_training_metrics_json():
    tm = TrainingMetrics()
    tm.add_episode(reward_score=123.6, episode=1, trial=1, phase="training", completion_percentage=57.9,
                   episode_status="off_track", start_time_ms=1000.4, end_time_ms=5500.0)
    tm.add_episode(reward_score=10, episode=1, trial=1, phase="evaluation", completion_percentage=100,
                   episode_status="lap_complete", start_time_ms=6000, end_time_ms=20000)
    doc = json.loads(tm.to_json())
    assert list(doc) == ["metrics", "version", "best_model_metric"]
    assert doc["version"] == 2.0 and doc["best_model_metric"] == "progress"
    first = doc["metrics"][0]
    assert list(first) == ["reward_score", "metric_time", "start_time", "elapsed_time_in_milliseconds", "episode",
                           "trial", "phase", "completion_percentage", "episode_status"]
    assert first == {"reward_score": 124, "metric_time": 5500, "start_time": 1000, "elapsed_time_in_milliseconds": 4500,
                     "episode": 1, "trial": 1, "phase": "training", "completion_percentage": 57,
                     "episode_status": "Off track"}
    assert doc["metrics"][1]["episode_status"] == "Lap complete"
    assert tm.add_episode(0, 2, 1, "training", 0, np.int64(3), 0, 1)["episode_status"] == "Crashed"  # status index
    with pytest.raises(ValueError, match="lap_done"):
        tm.add_episode(0, 1, 1, "training", 0, "lap_done", 0, 1)
    with pytest.raises(ValueError, match="phase"):
        tm.add_episode(0, 1, 1, "racing", 0, "crashed", 0, 1)


def test_evaluation_metrics_json():
    doc = evaluation_metrics_json([dict(trial=1, completion_percentage=100, episode_status="lap_complete",
                                        start_time_ms=0, end_time_ms=12345.6, off_track_count=2, crash_count=1)])
    assert list(doc) == ["metrics"]
    (entry,) = doc["metrics"]
    assert list(entry) == ["completion_percentage", "metric_time", "start_time", "elapsed_time_in_milliseconds",
                           "episode_status", "crash_count", "immobilized_count", "off_track_count", "reversed_count",
                           "reset_count", "trial"]
    assert entry["elapsed_time_in_milliseconds"] == 12346 and entry["reset_count"] == 3
    assert entry["episode_status"] == "Lap complete" and entry["trial"] == 1
    assert EvaluationMetrics().to_json() == '{"metrics": []}'
