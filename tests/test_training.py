"""Embedded training end to end: real workers, real TensorFlow, a real model folder."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from core.config import ConfigError, parse_model_metadata  # noqa: E402
from core.model_folder import ModelFolder  # noqa: E402
from core.policy import FrozenPolicy, POLICY_OUTPUT, input_tensor_name, tensor  # noqa: E402
from core.storage import LocalStorage  # noqa: E402
from core.traces import SIMTRACE_COLUMNS  # noqa: E402
from stack.cli import main  # noqa: E402
from stack.evaluate import evaluate  # noqa: E402
from stack.export import export_car_package  # noqa: E402
from stack.report import write_report  # noqa: E402
from stack.train import TrainRequest, prepare, run_training  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short STATE training run shared by the tests of this module."""
    models = tmp_path_factory.mktemp("models")
    reports, folder = run_training(TrainRequest(track="reinvent", model="state-test", preset="state", episodes=200,
                                                models_dir=models, seed=1))
    return models, reports, folder


def test_mean_progress_rises(trained):
    _, reports, _ = trained
    assert len(reports) == 5
    assert reports[-1].mean_progress > reports[0].mean_progress + 20
    assert reports[-1].update.samples_per_s > 0


def test_model_folder_has_the_drfc_layout(trained):
    models, reports, folder = trained
    base = models / "state-test"
    for rel in ("reward_function.py", "training_params.yaml", "ip/hyperparameters.json", "model/model_metadata.json",
                "model/.coach_checkpoint", "model/deepracer_checkpoints.json", "metrics/TrainingMetrics.json",
                "training-simtrace/0-iteration.csv", "training-simtrace/4-iteration.csv", "model/model_5.pb"):
        assert (base / rel).is_file(), rel
    ckpts = sorted(p.name for p in (base / "model").glob("*.ckpt.index"))
    assert len(ckpts) <= 5 and "5_Step-" in (base / "model/.coach_checkpoint").read_text()
    record = json.loads((base / "model/deepracer_checkpoints.json").read_text())
    assert set(record) == {"best_checkpoint", "last_checkpoint"}
    assert set(record["last_checkpoint"]) == {"name", "avg_eval_metric", "time_stamp"}
    # each metric belongs to the checkpoint whose policy played the evaluation episodes: 0..4 were raced,
    # the newest (5) not yet, so the best is one of 0..4 and its metric is the best evaluation progress
    assert record["last_checkpoint"]["name"].startswith("5_Step-") and record["last_checkpoint"]["avg_eval_metric"] is None
    best_n = int(record["best_checkpoint"]["name"].split("_")[0])
    assert best_n <= 4 and record["best_checkpoint"]["avg_eval_metric"] == max(r.eval_progress for r in reports)
    assert reports[best_n].eval_progress == record["best_checkpoint"]["avg_eval_metric"]
    metrics = json.loads((base / "metrics/TrainingMetrics.json").read_text())
    assert metrics["version"] == 2.0 and metrics["best_model_metric"] == "progress"
    phases = {m["phase"] for m in metrics["metrics"]}
    assert phases == {"training", "evaluation"}
    assert sum(m["phase"] == "training" for m in metrics["metrics"]) == 200
    header = (base / "training-simtrace/0-iteration.csv").read_text().splitlines()[0]
    assert header.split(",") == list(SIMTRACE_COLUMNS) + ["track"]     # DRfC's columns, then the track


def test_checkpoint_restore_gives_identical_policy_outputs(trained):
    from trainer.learner import CheckpointIO
    from trainer.networks import build_policy_value

    _, _, folder = trained
    metadata = parse_model_metadata(folder.read_json(folder.model_metadata()))
    n, steps = folder.latest_checkpoint()
    net = build_policy_value(metadata, seed=123)          # different initial weights
    CheckpointIO(net, folder).restore(n, steps)
    obs = {"STATE": np.random.default_rng(0).normal(size=(16, 62)).astype(np.float32)}
    e = np.exp(net(obs)[0].numpy())
    probs = e / e.sum(axis=1, keepdims=True)
    frozen = FrozenPolicy.from_bytes(folder.storage.get_bytes(folder.frozen_model(n)), metadata)
    assert np.allclose(frozen.forward(obs)[0], probs, atol=1e-5)


def test_resume_continues_from_the_last_checkpoint(trained, tmp_path):
    models, _, folder = trained
    before = folder.latest_checkpoint()
    reports, _ = run_training(TrainRequest(track="reinvent", model="state-test", preset="state", episodes=40,
                                           resume=True, models_dir=models, seed=2))
    after = folder.latest_checkpoint()
    assert after.number == before.number + 1 and after.steps > before.steps
    assert reports[0].iteration == before.number + 1


def test_clone_starts_from_the_other_models_weights(trained):
    models, _, folder = trained
    req = TrainRequest(track="reinvent", model="state-clone", preset="state", episodes=1, clone="state-test",
                       models_dir=models, seed=3)
    from trainer.learner import Learner

    p = prepare(req)
    learner = Learner(p.folder, p.metadata, p.hp, transport=None, run_id="x", seed=3)
    learner.clone_from(p.setup.clone_folder)
    n, _ = folder.latest_checkpoint()
    frozen = FrozenPolicy.from_bytes(folder.storage.get_bytes(folder.frozen_model(n)), p.metadata)
    obs = {"STATE": np.random.default_rng(1).normal(size=(8, 62)).astype(np.float32)}
    logits, _ = learner.net(obs)
    e = np.exp(logits.numpy())
    assert np.allclose(frozen.forward(obs)[0], e / e.sum(axis=1, keepdims=True), atol=1e-5)


def test_evaluation_writes_metrics_and_simtrace(trained):
    _, _, folder = trained
    res = evaluate(folder, "reinvent", trials=3, checkpoint="last")
    assert len(res.trials) == 3 and all(t.trial == i + 1 for i, t in enumerate(res.trials))
    data = folder.read_json(res.metrics_key)
    keys = {"completion_percentage", "metric_time", "start_time", "elapsed_time_in_milliseconds", "episode_status",
            "crash_count", "immobilized_count", "off_track_count", "reversed_count", "reset_count", "trial"}
    assert [set(m) for m in data["metrics"]] == [keys] * 3
    rows = list(csv.DictReader(io.StringIO(folder.storage.get_bytes(res.simtrace_key).decode())))
    assert list(rows[0]) == list(SIMTRACE_COLUMNS) + ["track"]
    assert {r["episode"] for r in rows} == {"0", "1", "2"} and {r["track"] for r in rows} == {res.track}
    assert res.simtrace_key.endswith("/evaluation-simtrace/0-iteration.csv")
    for t in res.trials:
        if t.status == "lap_complete":
            assert t.lap_time_s == pytest.approx(t.sim_time_s + t.penalty_s) and t.progress == 100.0


def test_evaluate_backend_dart_races_beside_the_fast_simulator_with_the_recorded_car(trained, tmp_path, capsys,
                                                                                    monkeypatch):
    pytest.importorskip("dartpy")
    import shutil

    models, _, folder = trained
    monkeypatch.delenv("DEEPRACER_DYNAMICS", raising=False)
    assert main(["evaluate", "--model", "state-test", "--models-dir", str(models), "--backend", "dart", "--trials", "2",
                 "--track", "reinvent_base", "--video-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fast simulator vs DART (v6 car)" in out and "fast simulator's car model: v6-four (the model's CAR_DYNAMICS)" in out
    rows = [ln for ln in out.splitlines() if ln.strip().startswith(("│      fast", "│      dart"))]
    assert len(rows) == 2 and all("/2" in r for r in rows)
    assert list(tmp_path.glob("sim-to-sim-*.png"))
    # a copy of the model that records a car this version does not know: one clear error, nothing written
    shutil.copytree(models / "state-test", tmp_path / "models" / "state-test")
    spec = tmp_path / "models" / "state-test" / "training_params.yaml"
    spec.write_text(spec.read_text().replace("'v6-four'", "'v9'"))
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "models").rglob("*"))
    assert main(["evaluate", "--model", "state-test", "--models-dir", str(tmp_path / "models"), "--trials", "1"]) == 2
    assert "CAR_DYNAMICS='v9' is not a car model this version knows; allowed: v6-four, v6-two, v5, v6" in \
        capsys.readouterr().err.replace("\n", "")
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "models").rglob("*")) == before
    # evaluation says when DEEPRACER_DYNAMICS overrides the model's car
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "v6-two")
    res = evaluate(folder, "reinvent_base", trials=1)
    assert res.car_dynamics == "v6-two" and "DEEPRACER_DYNAMICS; the model trained with v6-four" in res.car_line


def test_export_car_package_by_tensor_names(trained, tmp_path):
    import tensorflow as tf

    _, _, folder = trained
    out = export_car_package(folder, tmp_path / "car.tar.gz")
    with tarfile.open(out) as tar:
        assert sorted(tar.getnames()) == ["agent/model.pb", "model_metadata.json"]
        pb = tar.extractfile("agent/model.pb").read()
        meta = json.loads(tar.extractfile("model_metadata.json").read())
    assert meta["sensor"] == ["STATE"]
    graph = tf.Graph()
    with graph.as_default():
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(pb)
        tf.compat.v1.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        probs = sess.run(tensor(POLICY_OUTPUT), {tensor(input_tensor_name("STATE")): np.zeros((2, 62), np.float32)})
    assert probs.shape == (2, 5) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_report_writes_pictures_and_the_lap_against_the_reference(trained, tmp_path):
    _, _, folder = trained
    res = evaluate(folder, "reinvent_base", trials=3, seed=0)
    report = write_report(folder, tmp_path, "reinvent_base")
    names = [p.name for p in report.written]
    assert names[0] == "training.png" and "evaluation-laps.png" in names
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in report.written)
    assert report.reference_lap_s == pytest.approx(6.44, abs=0.05)     # the default car's racing line
    laps = [t.lap_time_s for t in res.trials if t.lap_time_s is not None]
    if laps:   # the trained model laps reinvent_base: its best lap, against the line, segment by segment
        assert "lap-analysis.png" in names
        assert report.best_lap.lap_s == pytest.approx(min(laps), abs=1e-6)
        assert report.best_lap.ratio > 1.0
        assert sum(s.model_s for s in report.best_lap.segments) == pytest.approx(min(laps), abs=1e-6)
    else:
        assert report.best_lap is None and "lap-analysis.png" not in names


def test_bad_requests_are_clear_errors(trained, tmp_path):
    models, _, _ = trained
    with pytest.raises(ConfigError, match="already has checkpoints.*RESUME=1"):
        prepare(TrainRequest(model="state-test", preset="state", episodes=1, models_dir=models))
    with pytest.raises(ConfigError, match="cannot resume model 'nothing-here'"):
        prepare(TrainRequest(model="nothing-here", preset="state", episodes=1, resume=True, models_dir=models))
    with pytest.raises(ConfigError, match=r"model .state-test. \(CLONE\): its checkpoint has sensors"):
        prepare(TrainRequest(model="other", preset="default", episodes=1, clone="state-test", models_dir=models))
    with pytest.raises(ConfigError, match="unknown preset"):
        prepare(TrainRequest(model="x", preset="fastest", episodes=1, models_dir=models))
    assert main(["train", "--model", "x", "--models-dir", str(tmp_path)]) == 2   # no limit given


def test_ctrl_c_stops_cleanly_with_the_last_checkpoint(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "stack.cli", "train", "--preset", "state", "--model", "ctrlc",
                             "--minutes", "10", "--models-dir", str(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    folder = ModelFolder(LocalStorage(tmp_path), "ctrlc")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ck = folder.latest_checkpoint()
        if ck is not None and ck.number >= 2:
            break
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)        # what the terminal sends to the whole process group
    out, _ = proc.communicate(timeout=120)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "done:" in text
    ck = folder.latest_checkpoint()
    assert ck is not None and folder.storage.exists(folder.frozen_model(ck.number))
    for key in folder.checkpoint_files(*ck)[:2]:
        assert folder.storage.exists(key)


def test_sac_trains_through_the_learner(tmp_path):
    meta = {"action_space": {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 1.5}},
            "action_space_type": "continuous", "training_algorithm": "sac", "sensor": ["STATE"]}
    hyper = {"num_episodes_between_training": 8, "batch_size": 64}
    (tmp_path / "md.json").write_text(json.dumps(meta))
    (tmp_path / "hp.json").write_text(json.dumps(hyper))
    reports, folder = run_training(TrainRequest(track="reinvent", model="sac", metadata=tmp_path / "md.json",
                                                hyperparameters=tmp_path / "hp.json", episodes=16,
                                                models_dir=tmp_path / "models", seed=0))
    assert len(reports) == 2 and all(r.update.samples > 0 for r in reports)
    n = folder.latest_checkpoint().number
    res = evaluate(folder, "reinvent", trials=1, checkpoint=n)
    assert res.trials[0].status in ("lap_complete", "off_track", "reversed", "crashed", "immobilized", "time_up")


def test_export_refuses_a_graph_that_does_not_match_its_metadata(trained, tmp_path):
    import shutil

    from core.model_folder import ModelFolder
    from core.storage import LocalStorage
    from stack.export import export_car_package

    models, _, folder = trained
    shutil.copytree(models / "state-test", tmp_path / "m" / "swapped")
    swapped = ModelFolder(LocalStorage(tmp_path / "m"), "swapped")
    # what RESUME with another PRESET used to do: camera metadata over a STATE graph
    swapped.storage.put_bytes(swapped.model_metadata(), (ROOT / "presets" / "model_metadata.json").read_bytes())
    with pytest.raises(ConfigError, match="does not match .*model_metadata.json"):
        export_car_package(swapped, tmp_path / "car.tar.gz")
    assert not (tmp_path / "car.tar.gz").exists()
    # and a graph with 5 actions against metadata that lists 3
    md = json.loads((models / "state-test" / "model" / "model_metadata.json").read_text())
    md["action_space"] = md["action_space"][:3]
    swapped.storage.put_bytes(swapped.model_metadata(), json.dumps(md).encode())
    with pytest.raises(ConfigError, match="outputs 5 action values; the metadata has 3"):
        export_car_package(swapped, tmp_path / "car.tar.gz")
    assert export_car_package(folder, tmp_path / "ok.tar.gz").stat().st_size > 1000


def test_a_camera_model_learns_to_lap(tmp_path, monkeypatch):
    """The default camera preset from scratch with seed 0, the learner in the precision ``auto`` picks here (what
    users get: mixed bfloat16 on hardware with native bfloat16, else float32; CI's CPUs have none, and emulated
    bfloat16 took 212 s of CI, float32 46 s): an iteration's greedy evaluation lap completes within a few
    iterations (2-3, README). A mixed-precision update itself is tested in tests/test_precision.py."""
    from trainer.precision import PRECISION_ENV

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    progress: list[float | None] = []
    reports, folder = run_training(
        TrainRequest(track="reinvent_base", model="camera", preset="default", minutes=6, models_dir=tmp_path,
                     seed=0),
        on_report=lambda r, _folder: progress.append(r.eval_progress),
        should_stop=lambda: bool(progress) and progress[-1] == 100.0)
    assert progress and progress[-1] == 100.0, f"no full greedy lap in {len(progress)} iterations: {progress}"
    assert len(reports) <= 6
    assert all(r.update is not None and not r.update.skipped for r in reports)


def _decoded_frames(path: Path) -> tuple[dict, int]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return meta, sum(1 for _ in reader)


def test_evaluation_video_has_a_frame_per_step_in_the_folder_and_out(trained, tmp_path):
    _, _, folder = trained
    plain = evaluate(folder, "reinvent_base", trials=1, seed=0)
    assert plain.video_keys == [] and not any("/video/" in k for k in folder.storage.list(folder.key("")))
    res = evaluate(folder, "reinvent_base", trials=2, seed=0, video=True, video_dir=tmp_path)
    assert [Path(k).name for k in res.video_keys] == ["trial-1.mp4", "trial-2.mp4"]
    assert all(k.endswith(f"/video/trial-{i + 1}.mp4") and Path(k).parent.parent.name.startswith("evaluation-")
               for i, k in enumerate(res.video_keys))
    rows = list(csv.DictReader(io.StringIO(folder.read_text(res.simtrace_key))))
    for i, (key, path) in enumerate(zip(res.video_keys, res.video_files)):
        assert folder.storage.get_bytes(key) == path.read_bytes()
        meta, frames = _decoded_frames(path)
        assert meta["fps"] == 15 and meta["size"] == (1120, 480)
        assert frames == sum(1 for r in rows if int(r["episode"]) == i)    # one frame per step of the trial
        assert path.stat().st_size < 5e6
