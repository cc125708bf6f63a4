"""The stack's processes without Docker: trainer and sims as separate processes talking through a
real redis-server and keeping the model in a real S3 server (SeaweedFS), as the containers do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from core.config import parse_hyperparameters, preset_files  # noqa: E402
from core.model_folder import ModelFolder  # noqa: E402
from core.s3_storage import S3Storage  # noqa: E402
from simulation.env import DEFAULT_REWARD_FILE  # noqa: E402
from simulation.worker import WorkerConfig  # noqa: E402
from tests.servers import redis_server, s3_server  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
EPISODES_PER_ITERATION = 6


def _env(s3) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), DEEPRACER_S3_ENDPOINT=s3.endpoint, AWS_ACCESS_KEY_ID=s3.access_key,
                AWS_SECRET_ACCESS_KEY=s3.secret_key, TF_CPP_MIN_LOG_LEVEL="2")


def _model(s3, bucket: str, name: str) -> ModelFolder:
    storage = S3Storage(bucket, endpoint_url=s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                        create_bucket=True)
    folder = ModelFolder(storage, name)
    md, hp = preset_files("state")
    folder.storage.put_bytes(folder.reward_function(), DEFAULT_REWARD_FILE.read_bytes())
    folder.storage.put_bytes(folder.model_metadata(), Path(md).read_bytes())
    hyper = parse_hyperparameters(json.loads(Path(hp).read_text())).to_json_dict()
    hyper["num_episodes_between_training"] = EPISODES_PER_ITERATION
    folder.write_json(folder.hyperparameters(), hyper)
    return folder


def _sim(redis_url: str, bucket: str, name: str, env, track: str = "reinvent") -> subprocess.Popen:
    cfg = WorkerConfig(run_id=name, worker=-1, storage=f"s3://{bucket}", model_prefix=name, track=track,
                       redis_url=redis_url, num_cars=EPISODES_PER_ITERATION)
    return subprocess.Popen([sys.executable, "-m", "simulation.worker", "--config", cfg.to_json()], cwd=ROOT, env=env)


def _trainer(redis_url: str, bucket: str, name: str, episodes: int, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trainer.learner", "--storage", f"s3://{bucket}", "--model", name,
                             "--redis", redis_url, "--run-id", name, "--episodes", str(episodes),
                             "--gather-timeout", "60"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)


def test_trainer_and_two_sims_through_redis_and_s3(redis_server, s3_server, monkeypatch, tmp_path):  # noqa: F811
    env = _env(s3_server)
    folder = _model(s3_server, "stack", "two-sims")
    sims = [_sim(redis_server.url, "stack", "two-sims", env, track="reinvent,Vegas_track") for _ in range(2)]
    trainer = _trainer(redis_server.url, "stack", "two-sims", 3 * EPISODES_PER_ITERATION, env)
    try:
        out, _ = trainer.communicate(timeout=600)
    finally:
        _stop(trainer, *sims)
    assert trainer.returncode == 0, out
    assert "finished at checkpoint 3" in out
    keys = folder.storage.list("two-sims/")
    assert folder.latest_checkpoint().number == 3
    for k in ("two-sims/model/model_3.pb", "two-sims/model/deepracer_checkpoints.json",
              "two-sims/metrics/TrainingMetrics.json", "two-sims/metrics/TrainingMetrics_1.json",
              "two-sims/0/training-simtrace/0-iteration.csv", "two-sims/1/training-simtrace/2-iteration.csv",
              "two-sims/model/.finished"):
        assert k in keys, k
    assert any(k.endswith(".ckpt.index") for k in keys)
    # multi-track: the sims claimed ids 0 and 1 and drove one track each
    lengths = set()
    for w in (0, 1):
        rows = folder.storage.get_bytes(f"two-sims/{w}/training-simtrace/0-iteration.csv").decode().splitlines()
        header = rows[0].split(",")
        lengths.add(round(float(rows[1].split(",")[header.index("track_len")]), 2))
    assert lengths == {17.71, 22.55}
    # evaluate and export read the model from the stack's bucket
    from stack.cli import main

    for k, v in {"DEEPRACER_S3_ENDPOINT": s3_server.endpoint, "DEEPRACER_S3_BUCKET": "stack",
                 "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}.items():
        monkeypatch.setenv(k, v)
    assert main(["evaluate", "--model", "two-sims", "--stack", "--trials", "1"]) == 0
    assert any("/metrics/evaluation/evaluation-" in k for k in folder.storage.list("two-sims/metrics/"))
    assert main(["export", "--model", "two-sims", "--stack", "--out", str(tmp_path / "car.tar.gz")]) == 0
    assert (tmp_path / "car.tar.gz").stat().st_size > 10_000


def test_a_killed_sim_does_not_stall_the_iteration_and_a_new_one_joins(redis_server, s3_server):  # noqa: F811
    env = _env(s3_server)
    folder = _model(s3_server, "stack", "faults")
    sims = [_sim(redis_server.url, "stack", "faults", env) for _ in range(2)]
    trainer = _trainer(redis_server.url, "stack", "faults", 4 * EPISODES_PER_ITERATION, env)
    late = None
    try:
        deadline = time.monotonic() + 300
        while (folder.latest_checkpoint() is None or folder.latest_checkpoint().number < 1) and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        sims[1].kill()                      # dies mid-run; its heartbeat expires
        late = _sim(redis_server.url, "stack", "faults", env)   # scale back up: joins at the next iteration
        out, _ = trainer.communicate(timeout=600)
    finally:
        _stop(trainer, *sims, *([late] if late else []))
    assert trainer.returncode == 0, out
    assert "finished at checkpoint" in out
    keys = folder.storage.list("faults/")
    assert any(k.startswith("faults/2/training-simtrace/") for k in keys), "the late sim (id 2) played"
