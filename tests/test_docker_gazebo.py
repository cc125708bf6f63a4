"""The Gazebo sim container (images/gazebo) driven by the app image's worker code, through compose.

Starts the ``sim-gazebo`` service (profile gazebo) and runs ``python -m simulation.gazebo.check`` in a
one-off container of the app image on the same network: 50 steps of a camera car on reinvent_base with
a frame per 1/15 s of simulated time, the pose following the commands, a pose put and read back, and the
reward params equal to the fast simulator's for the same pose (simulation/gazebo/check.py).

Needs a Docker engine, docker-compose and the Gazebo image (CI: scripts/ci-docker.sh builds
deepracer-local/gazebo:ci); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.test_docker_stack import COMPOSE_DIR, ROOT, _compose_cmd, _docker, _engine_skip_reason, _use_ci_override

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def gazebo_stack(tmp_path_factory):
    why = _engine_skip_reason()
    if why:
        pytest.skip(why)
    docker = _docker()
    ci = _use_ci_override(docker)
    image = "deepracer-local/gazebo:ci" if ci else "deepracer-local/gazebo:0.1.0"
    if subprocess.run([docker, "image", "inspect", image], capture_output=True).returncode != 0:
        pytest.skip(f"no Gazebo image {image} (CI: bash scripts/ci-docker.sh builds it)")
    files = [COMPOSE_DIR / "docker-compose.yml", COMPOSE_DIR / "s3-seaweedfs.yml"]
    if ci:
        files.append(COMPOSE_DIR / "docker-compose.ci.yml")
    base = _compose_cmd() + [a for f in files for a in ("-f", str(f))] + ["-p", f"drlgazebo{os.getpid()}",
                                                                          "--profile", "gazebo"]
    env = dict(os.environ, STACK_ENV_FILE=str(COMPOSE_DIR / "stack.env.template"),
               S3_ADMIN_ENV_FILE=str(COMPOSE_DIR / "s3-admin.env.template"))

    def compose(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(base + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

    r = compose("up", "-d", "--no-deps", "sim-gazebo")
    assert r.returncode == 0, r.stderr[-3000:]
    try:
        yield compose
    finally:
        compose("down", "-v", "--remove-orphans", timeout=180)


def test_gazebo_sim_steps_in_lockstep_and_matches_the_fast_params(gazebo_stack):
    tracks = Path(os.environ.get("DEEPRACER_TRACKS", ROOT.parent / "shared" / "tracks")).resolve()
    r = gazebo_stack("run", "--rm", "--no-deps", "-v", f"{tracks}:/tracks:ro", "-e", "DEEPRACER_TRACKS=/tracks",
                     "-e", "GAZEBO_MASTER_URI=http://sim-gazebo:11311", "trainer",
                     "python", "-m", "simulation.gazebo.check", "--steps", "50", timeout=400)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    logs = gazebo_stack("logs", "--no-color", "--tail", "40", "sim-gazebo").stdout
    assert lines, f"no result (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}\n{logs}"
    result = json.loads(lines[-1])
    assert result["ok"], f"{result}\n{logs}"
    assert result["steps"] == 50
    assert set(result["clock_steps_s"]) <= {0.066, 0.067}          # 1/15 s on the 1 ms physics grid
    assert result["cameras"] == ["zed_camera_left_sensor"]
    assert r.returncode == 0
