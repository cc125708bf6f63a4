"""The Gazebo sim container (images/gazebo) driven by the app image's worker code, through compose.

Starts the ``sim-gazebo`` service (profile gazebo) and runs ``python -m simulation.gazebo.check`` in a
one-off container of the app image on the same network: 50 steps of a camera car on reinvent_base with
a frame per 1/15 s of simulated time, the pose following the commands, a pose put and read back, the
reward params equal to the fast simulator's for the same pose, boxes and bot cars; then a lidar car's scan
against the fast ray caster (simulation/gazebo/check.py).

Needs a Docker engine, docker-compose and the Gazebo image (CI: scripts/ci-docker.sh builds
deepracer-local/gazebo:ci); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import re
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
    project = f"drlgazebo{os.getpid()}"
    base = _compose_cmd() + [a for f in files for a in ("-f", str(f))] + ["-p", project, "--profile", "gazebo"]
    env = dict(os.environ, STACK_ENV_FILE=str(COMPOSE_DIR / "stack.env.template"),
               S3_ADMIN_ENV_FILE=str(COMPOSE_DIR / "s3-admin.env.template"))

    def compose(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(base + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

    r = compose("up", "-d", "--no-deps", "sim-gazebo")
    assert r.returncode == 0, r.stderr[-3000:]
    compose.project, compose.ci = project, ci
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


def test_make_evaluate_backend_gazebo_races_a_model_in_both_simulators(gazebo_stack, tmp_path):
    """What a user runs: `make evaluate MODEL=m BACKEND=gazebo VIDEO=1` on a small (untrained) camera model."""
    from stack.train import TrainRequest, prepare
    from trainer.learner import Learner

    models = tmp_path / "models"
    p = prepare(TrainRequest(track="reinvent_base", model="gz-eval", preset="default", episodes=1,
                             models_dir=models, seed=0))
    p.setup.write()                                   # the model folder's files, as training writes them
    Learner(p.folder, p.metadata, p.hp, transport=None, run_id="gz-eval", seed=0).io.publish(0, 0, None)
    env = dict(os.environ, COMPOSE_PROJECT_NAME=gazebo_stack.project, DEEPRACER_MODELS_DIR=str(models),
               STACK_ENV_FILE=str(COMPOSE_DIR / "stack.env.template"),
               S3_ADMIN_ENV_FILE=str(COMPOSE_DIR / "s3-admin.env.template"),
               DEEPRACER_DOCKER_CI="1" if gazebo_stack.ci else "0")
    r = subprocess.run(["make", "evaluate", "MODEL=gz-eval", "BACKEND=gazebo", "TRIALS=2", "VIDEO=1", "MODE=local"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert "fast simulator vs Gazebo" in r.stdout and "gazebo" in r.stdout
    runs = sorted((models / "gz-eval").glob("evaluation-*"))
    assert len(runs) == 2, runs               # one evaluation per simulator, both in the model folder
    for run in runs:
        rows = (run / "evaluation-simtrace/0-iteration.csv").read_text().splitlines()
        assert len(rows) > 2 and {r.split(",")[0] for r in rows[1:]} == {"0", "1"}   # two trials each
    for run in runs:                          # a video per trial of each simulator, in the folder and in out/
        videos = sorted(p.name for p in (run / "video").glob("*.mp4"))
        assert videos == ["trial-1.mp4", "trial-2.mp4"], (run, videos)
        for v in videos:
            copy = ROOT / "out" / "gz-eval" / run.name / v
            assert copy.stat().st_size > 1000
            copy.unlink()
    pngs = list((ROOT / "out" / "gz-eval").glob("sim-to-sim-*.png"))
    assert pngs and pngs[-1].read_bytes()[:4] == b"\x89PNG"
    for png in pngs:
        png.unlink()


def test_a_lidar_car_scans_what_the_fast_ray_caster_sees(gazebo_stack):
    """A fresh Gazebo sim (it keeps its first car) with a camera and lidar car among boxes: the bridge's
    ray sensor scan against the fast simulator's ray caster at the same pose (check --lidar)."""
    r = gazebo_stack("rm", "-sf", "sim-gazebo")
    assert r.returncode == 0, r.stderr[-2000:]
    r = gazebo_stack("up", "-d", "--no-deps", "sim-gazebo")
    assert r.returncode == 0, r.stderr[-2000:]
    tracks = Path(os.environ.get("DEEPRACER_TRACKS", ROOT.parent / "shared" / "tracks")).resolve()
    r = gazebo_stack("run", "--rm", "--no-deps", "-v", f"{tracks}:/tracks:ro", "-e", "DEEPRACER_TRACKS=/tracks",
                     "-e", "GAZEBO_MASTER_URI=http://sim-gazebo:11311", "trainer",
                     "python", "-m", "simulation.gazebo.check", "--lidar", timeout=400)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    logs = gazebo_stack("logs", "--no-color", "--tail", "40", "sim-gazebo").stdout
    assert lines, f"no result (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}\n{logs}"
    result = json.loads(lines[-1])
    assert result["ok"] and result["lidars"] == 1 and result["near_beams"] >= 20, f"{result}\n{logs}"


def _stack_with_gazebo_image(tmp_path):
    """tests/test_docker_stack.py's Stack, when an engine answers and the Gazebo image is there (else skip)."""
    from tests.test_docker_stack import Stack

    reason = _engine_skip_reason()
    if reason:
        pytest.skip(reason)
    stack = Stack(tmp_path)
    image = "deepracer-local/gazebo:ci" if _use_ci_override(stack.docker) else "deepracer-local/gazebo:0.1.0"
    if subprocess.run([stack.docker, "image", "inspect", image], capture_output=True).returncode != 0:
        pytest.skip(f"no Gazebo image {image} (CI: bash scripts/ci-docker.sh builds it)")
    return stack


def test_compose_training_with_gazebo_sims_pairs_each_sim_with_its_own_gazebo(tmp_path):
    """`make up ... SIM_BACKEND=gazebo SIMS=2` in short: two Gazebo sims, two sims that claim one each,
    a STATE model trained for 3 iterations; every sim drove its own Gazebo sim."""
    from stack.compose_launch import upload_model
    from tests.test_docker_stack import _wait

    stack = _stack_with_gazebo_image(tmp_path)
    episodes_per_iteration, iterations = 4, 3
    stack.env.update(DEEPRACER_SIM_BACKEND="gazebo", DEEPRACER_EPISODES=str(episodes_per_iteration * iterations))
    try:
        stack.compose("up", "-d", "redis", "s3", timeout=300)
        stack.compose("--profile", "gazebo", "up", "-d", "--scale", "sim-gazebo=2", "sim-gazebo", timeout=300)
        folder = upload_model(stack.storage(), "docker-ci", preset="state",
                              episodes_between_training=episodes_per_iteration)
        stack.compose("up", "-d", "--scale", "sim=2", "trainer", "sim", timeout=300)
        trainer = stack.containers("trainer")[0]
        _wait("the trainer to finish", lambda: not stack.state(trainer)["Running"], 600, stack)
        assert stack.state(trainer)["ExitCode"] == 0, stack.dump_logs()
        assert folder.latest_checkpoint().number >= iterations
        logs = stack.compose("logs", "--no-color", "sim", check=False).stdout
        uris = set(re.findall(r"one car in the Gazebo sim at (http://[0-9.]+:11311)", logs))
        assert len(uris) == 2, f"the two sims did not drive two different Gazebo sims: {uris}\n{logs[-3000:]}"
    finally:
        stack.compose("--profile", "gazebo", "down", "-v", "--remove-orphans", check=False, timeout=300)


def test_a_scenario_gazebo_model_trains_on_gazebo_sims_of_its_own(tmp_path):
    """`make up SCENARIO=file` with one fast and one `sim_backend: gazebo` model (STATE, 2 iterations each):
    the Gazebo model's sim drives its own sim-gazebo-<model>, the fast model's sim drives no Gazebo sim."""
    import textwrap

    from stack.compose_scenario import gazebo_service_name, service_names, up
    from stack.scenario import load_scenario
    from tests.test_docker_stack import BUCKET, _wait

    stack = _stack_with_gazebo_image(tmp_path)
    per_iteration, iterations = 4, 2
    scenario_file = tmp_path / "mixed.yaml"
    scenario_file.write_text(textwrap.dedent(f"""
        name: docker-mixed
        defaults:
          preset: state
          track: reinvent_base
          episodes: {per_iteration * iterations}
          hyperparameters: {{num_episodes_between_training: {per_iteration}}}
        models:
          - name: mixed-fast
          - name: mixed-gazebo
            sim_backend: gazebo
        """))
    stack.env["DEEPRACER_SIM_BACKEND"] = "gazebo"     # a stale single-model value must not reach mixed-fast
    generated = tmp_path / "scenario.generated.yml"
    try:
        folders = up(load_scenario(scenario_file), stack.base, "s3", endpoint=stack.s3_endpoint, bucket=BUCKET,
                     env_file=stack.env_file, build=False, generated=generated, run_env=stack.env)
        stack.base += ["-f", str(generated)]
        assert len(stack.containers(gazebo_service_name("mixed-gazebo"))) == 1
        trainers = {m: stack.containers(service_names(m)[0])[0] for m in ("mixed-fast", "mixed-gazebo")}
        _wait("both trainers to finish", lambda: not any(stack.state(c)["Running"] for c in trainers.values()), 600,
              stack)
        for m, cid in trainers.items():
            assert stack.state(cid)["ExitCode"] == 0, f"{m}\n{stack.dump_logs()}"
        for f in folders:
            assert f.latest_checkpoint().number >= iterations
        gz_logs = stack.compose("logs", "--no-color", service_names("mixed-gazebo")[1], check=False).stdout
        fast_logs = stack.compose("logs", "--no-color", service_names("mixed-fast")[1], check=False).stdout
        assert re.search(r"one car in the Gazebo sim at http://[0-9.]+:11311", gz_logs), gz_logs[-3000:]
        assert "Gazebo sim" not in fast_logs, fast_logs[-3000:]
    finally:
        stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
