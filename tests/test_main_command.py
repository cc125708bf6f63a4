"""The README's main command, `make train TRACK=... `, as a user runs it: the same on a host with Docker
(compose mode) and one without (local mode): a default model name, the mode on the first line, no
TensorFlow start-up noise, full tables in a pipe, and evaluate finding the model where it is."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.servers import free_ports
from tests.test_docker_stack import _docker, _engine_skip_reason, _use_ci_override

ROOT = Path(__file__).resolve().parent.parent
NOISE = ("absl::InitializeLog", "oneDNN custom operations")


def _make(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _check_output(r: subprocess.CompletedProcess, mode: str) -> str:
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert out.splitlines()[0].startswith(f"make train: {mode} mode"), out[:500]
    for noise in NOISE:
        assert noise not in out, f"start-up noise {noise!r} in:\n{out[:3000]}"
    m = re.search(r"Model: (\S+)", out) if mode == "compose" else re.search(r"training (reinvent-\d{8}-\d{6})", out)
    assert m, out[:3000]
    return m.group(1)


@pytest.mark.slow
def test_main_command_in_local_mode(tmp_path):
    env = dict(os.environ, DEEPRACER_MODELS_DIR=str(tmp_path / "models"))
    env.pop("COLUMNS", None)
    r = _make("train", "TRACK=reinvent", "PRESET=state", "EPISODES=40", "MODE=local", env=env)
    model = _check_output(r, "local")
    assert (tmp_path / "models" / model / "model" / ".coach_checkpoint").is_file()
    r = _make("evaluate", f"MODEL={model}", "TRIALS=1", "MODE=local", env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "…" not in out and "..." not in out.split("wrote")[0], out           # the table is whole in a pipe
    assert re.search(r"(lap_complete|off_track|reversed|time_up|crashed)", out), out
    # the checkpoint picked by racing in DART, recorded as the best, which export then takes
    r = _make("pick", f"MODEL={model}", "TRIALS=2", "CHECKPOINTS=2", "MARK=1", "MODE=local", env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    picked = int(re.search(r"picked checkpoint (\d+) of", out).group(1))
    assert "2 selection laps per checkpoint in DART (v6 car), seed 1000" in out and out.count("/2 ") >= 2, out
    record = json.loads((tmp_path / "models" / model / "model" / "deepracer_checkpoints.json").read_text())
    assert record["best_checkpoint"]["name"].startswith(f"{picked}_Step-"), record
    r = _make("pick", f"MODEL={model}", "BACKEND=gazebo", env=env)
    assert r.returncode != 0 and "BACKEND=gazebo is not one of fast, dart (make pick)" in r.stderr, r.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_main_command_in_compose_mode(tmp_path):
    reason = _engine_skip_reason()
    if reason:
        pytest.skip(reason)
    if not _use_ci_override(_docker()):
        pytest.skip("the CI images are not built (bash scripts/ci-docker.sh)")
    redis_port, s3_port = free_ports(2)
    env = dict(os.environ, DEEPRACER_DOCKER_CI="1", STACK_ENV_FILE=str(tmp_path / "stack.env"),
               COMPOSE_PROJECT_NAME=f"drlmain{os.getpid()}", REDIS_PORT=str(redis_port), S3_PORT=str(s3_port),
               DEEPRACER_MODELS_DIR=str(tmp_path / "models"))
    for key in ("COLUMNS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_ENDPOINT", "DEEPRACER_S3_ENDPOINT"):
        env.pop(key, None)
    try:
        r = _make("train", "TRACK=reinvent", "PRESET=state", "EPISODES=40", "MODE=compose", env=env, timeout=1200)
        model = _check_output(r, "compose")
        assert "finished at checkpoint" in r.stdout, r.stdout[-3000:]
        r = _make("evaluate", f"MODEL={model}", "TRIALS=1", "MODE=compose", env=env)
        assert r.returncode == 0 and "wrote" in r.stdout, r.stdout + r.stderr
        # local mode finds the model in the stack's bucket too
        r = _make("export", f"MODEL={model}", "MODE=local", env=dict(env, DEEPRACER_S3_ENDPOINT=f"http://127.0.0.1:{s3_port}"))
        assert r.returncode == 0 and f"model {model!r} is not in" in r.stderr, r.stdout + r.stderr
        assert (ROOT / "out" / f"{model}-car.tar.gz").stat().st_size > 1000
    finally:
        (ROOT / "out" / f"{model}-car.tar.gz").unlink(missing_ok=True) if "model" in locals() else None
        _make("down", "MODE=compose", env=env, timeout=300)
        subprocess.run([_docker(), "volume", "rm", f"{env['COMPOSE_PROJECT_NAME']}_seaweedfs-data"], capture_output=True)
