"""The stack on Docker Swarm: compose/docker-stack.yml deployed by scripts/swarm.sh on a single-node swarm.

Inits a swarm when the engine is in none (and leaves it at the end), labels the node for the trainer
when no node has the label (and removes the label at the end if the swarm was there before), runs
``scripts/swarm.sh up`` with the CI images (DEEPRACER_DOCKER_CI=1: SeaweedFS for MinIO), waits for 2
checkpoints in the bucket through the S3 port the stack publishes (host mode), checks the trainer
runs on the labeled node and both sims run, then ``scripts/swarm.sh down``.

Markers ``docker`` and ``slow``; skipped with the reason when no engine answers, the CI images
(scripts/ci-docker.sh) are missing, or the engine cannot start a swarm.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.servers import free_ports
from tests.test_docker_faults import ci_images_skip_reason
from tests.test_docker_stack import BUCKET, ROOT, _docker, docker_out

pytestmark = [pytest.mark.docker, pytest.mark.slow]
MODEL = "swarm-ci"


def swarm_env(tmp_path, stack_name: str, **settings: str) -> tuple[dict[str, str], object, int]:
    """scripts/swarm.sh's environment for a CI stack (STATE on reinvent, 2 sims of 3 cars, 6 episodes per
    iteration) with fresh env files in ``tmp_path`` and a free S3 port, ``settings`` added; the caller's
    S3 keys and run settings removed. Returns it, the stack env file and the S3 port."""
    from stack.compose_launch import write_env_file

    env_file, admin_env_file = tmp_path / "stack.env", tmp_path / "s3-admin.env"
    write_env_file(env_file, admin_env_file)
    s3_port = free_ports(1)[0]
    env = dict(os.environ, DEEPRACER_DOCKER_CI="1", STACK_NAME=stack_name, STACK_ENV_FILE=str(env_file),
               S3_ADMIN_ENV_FILE=str(admin_env_file), S3_PORT=str(s3_port), PRESET="state", TRACK="reinvent",
               SIMS="2", EPISODES="", EPISODES_BETWEEN_TRAINING="6", DEEPRACER_S3_BUCKET=BUCKET,
               DEEPRACER_CARS_PER_SIM="3", DEEPRACER_GATHER_TIMEOUT="30", S3_WAIT="90")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DEEPRACER_S3_ENDPOINT", "S3_ENDPOINT", "DEEPRACER_MODEL",
                "DEEPRACER_EPISODES", "DEEPRACER_MINUTES", "SWARM_ADVERTISE_ADDR"):
        env.pop(key, None)
    env.update(settings)
    return env, env_file, s3_port


def test_swarm_stack_trains(tmp_path):
    reason = ci_images_skip_reason()
    if reason:
        pytest.skip(reason)
    docker = _docker()
    d = docker_out

    was_active = d("info", "--format", "{{.Swarm.LocalNodeState}}") == "active"
    labeled_before = was_active and "true" in d("node", "inspect", "self", "--format",
                                                 '{{index .Spec.Labels "deepracer.gpu"}}', check=False)
    stack_name = f"drlswarm{os.getpid()}"
    env, env_file, s3_port = swarm_env(tmp_path, stack_name, MODEL=MODEL, MINUTES="10")

    def swarm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(ROOT / "scripts" / "swarm.sh"), *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)

    def logs() -> str:
        out = [d("stack", "ps", "--no-trunc", stack_name, check=False)]
        for service in ("trainer", "sim"):
            r = subprocess.run([docker, "service", "logs", "--tail", "40", f"{stack_name}_{service}"],
                               capture_output=True, text=True, timeout=60)
            out.append(r.stdout[-4000:] + r.stderr[-4000:])
        return "\n".join(out)

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        if not was_active:
            r = swarm("init")
            if r.returncode != 0:
                pytest.skip(f"this engine cannot start a swarm: {(r.stderr or r.stdout).strip()[-300:]}")
        r = swarm("up")
        assert r.returncode == 0, f"swarm.sh up failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        timings["init + deploy + upload"] = time.monotonic() - t0

        from stack.compose_launch import stack_storage
        from core.model_folder import ModelFolder

        folder = ModelFolder(stack_storage(f"http://127.0.0.1:{s3_port}", BUCKET, env_file, wait_s=60), MODEL)
        end = time.monotonic() + 150
        while (c := folder.latest_checkpoint()) is None or c.number < 2:
            assert time.monotonic() < end, f"no checkpoint 2 within 150 s:\n{logs()}"
            time.sleep(1)
        timings["to checkpoint 2"] = time.monotonic() - t0

        node = d("info", "--format", "{{.Swarm.NodeID}}")
        tasks = d("stack", "ps", stack_name, "--filter", "desired-state=running",
                  "--format", "{{.Name}} {{.Node}} {{.CurrentState}}").splitlines()
        hostname = d("node", "inspect", node, "--format", "{{.Description.Hostname}}")
        trainer = [t for t in tasks if t.startswith(f"{stack_name}_trainer.")]
        sims = [t for t in tasks if t.startswith(f"{stack_name}_sim.")]
        assert len(trainer) == 1 and trainer[0].split()[1] == hostname, tasks
        assert len(sims) == 2 and all("Running" in t for t in sims), tasks
        assert "true" in d("node", "inspect", node, "--format", '{{index .Spec.Labels "deepracer.gpu"}}')
        keys = set(folder.storage.list(f"{MODEL}/"))
        assert f"{MODEL}/model/model_2.pb" in keys or any(k.startswith(f"{MODEL}/model/model_") for k in keys), keys
        assert any(k.startswith(f"{MODEL}/0/training-simtrace/") for k in keys), keys
        assert any(k.startswith(f"{MODEL}/1/training-simtrace/") for k in keys), keys
    finally:
        t = time.monotonic()
        r = swarm("down")
        d("volume", "rm", f"{stack_name}_seaweedfs-data", check=False)
        if not was_active:
            swarm("leave")
        elif not labeled_before:
            d("node", "update", "--label-rm", "deepracer.gpu", d("info", "--format", "{{.Swarm.NodeID}}"), check=False)
        timings["down"] = time.monotonic() - t
        timings["total"] = time.monotonic() - t0
        print("docker swarm timings [s]:", {k: round(v, 1) for k, v in timings.items()})
