"""A 3-node swarm on one machine, with a node lost mid-run and back (issue: several machines for real).

scripts/swarm-nodes.sh makes this engine the manager and two privileged containers, each running its own
Docker engine, the workers; the app image goes into each with docker save | docker load (no registry).
The manager is labeled for the trainer and kept free of sims (deepracer.sim=false), so the two sims run
on the two workers (SIMS_PER_NODE=1: one per node) and reach Redis and S3 across the overlay network.

After checkpoint 2 one worker node is killed (its engine and sim die at once). Training must go on with
the other sim: two more checkpoints after swarm sees the node down. Its sim cannot go to the other worker (one per node), so it waits;
when the node is started again, it is scheduled there, claims a new worker id and plays. At the end every
episode the trainer learned from is in the metrics, each worker's episodes numbered 1, 2, ... with none
twice, and the trainer lost only the dead sim's share of the iteration in flight (counted as lost).

Before that, bad input is refused before the trainer and sims are deployed, each problem naming its node:
no node labeled for the trainer, a node without the image, a node whose overlay traffic is blocked.

Markers ``docker`` and ``slow``; skipped with the reason when no engine answers, the CI images or the node
image (scripts/ci-docker.sh) are missing, or this engine is already in a swarm (the test makes its own).
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from tests.test_docker_faults import ci_images_skip_reason
from tests.test_docker_stack import BUCKET, ROOT, _docker, docker_out
from tests.test_docker_swarm import swarm_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]
MODEL = "swarm-nodes-ci"
NODE_IMAGE = "local/swarm-node:ci"


def test_three_nodes_train_and_survive_a_lost_node(tmp_path):
    reason = ci_images_skip_reason()
    if reason:
        pytest.skip(reason)
    docker = _docker()
    d = docker_out

    if subprocess.run([docker, "image", "inspect", NODE_IMAGE], capture_output=True).returncode != 0:
        pytest.skip(f"no {NODE_IMAGE} (make it with: bash scripts/ci-docker.sh)")
    if d("info", "--format", "{{.Swarm.LocalNodeState}}") != "inactive":
        pytest.skip("this engine is already in a swarm; the multi-node test makes its own")

    stack_name = f"drlnodes{os.getpid()}"
    env, env_file, s3_port = swarm_env(tmp_path, stack_name, MODEL=MODEL, MINUTES="15", SIMS_PER_NODE="1")

    def script(name: str, *args: str, timeout: float = 300, rc: int = 0, **extra_env: str) -> subprocess.CompletedProcess:
        r = subprocess.run(["bash", str(ROOT / "scripts" / name), *args], cwd=ROOT, env=dict(env, **extra_env),
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == rc, (f"{name} {' '.join(args)}: exit {r.returncode}, expected {rc}:\n{r.stdout[-3000:]}\n"
                                    f"{r.stderr[-3000:]}")
        return r

    def deployed(service: str) -> int:
        """Replicas of the stack's service (0 when it is not there)."""
        out = d("service", "inspect", f"{stack_name}_{service}", "--format", "{{.Spec.Mode.Replicated.Replicas}}",
                check=False)
        return int(out) if out.isdigit() else 0

    def service_logs(service: str, tail: str = "60") -> str:
        r = subprocess.run([docker, "service", "logs", "--raw", "--tail", tail, f"{stack_name}_{service}"],
                           capture_output=True, text=True, timeout=60)
        return r.stdout + r.stderr

    def logs() -> str:
        return "\n".join([d("node", "ls", check=False), d("stack", "ps", "--no-trunc", stack_name, check=False),
                          service_logs("trainer")[-4000:], service_logs("sim")[-4000:]])

    def wait(what: str, cond, timeout_s: float):
        end = time.monotonic() + timeout_s
        while not (value := cond()):
            assert time.monotonic() < end, f"{what}: not within {timeout_s:.0f} s\n{logs()}"
            time.sleep(1)
        return value

    def sim_tasks() -> list[tuple[str, str]]:
        """(node hostname or '', current state) of each sim task meant to run."""
        out = d("service", "ps", f"{stack_name}_sim", "--filter", "desired-state=running",
                "--format", "{{.Node}}|{{.CurrentState}}", check=False)
        return [tuple(line.split("|", 1)) for line in out.splitlines() if line]

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        script("swarm-nodes.sh", "up", "3", timeout=600)
        timings["3 nodes up (images loaded)"] = time.monotonic() - t0
        manager = d("info", "--format", "{{.Swarm.NodeID}}")
        manager_host = d("node", "inspect", manager, "--format", "{{.Description.Hostname}}")
        ready = d("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}").splitlines()
        assert sorted(line.split()[0] for line in ready) == sorted([manager_host, "drl-node-2", "drl-node-3"]), ready
        assert all(" Ready" in line for line in ready), ready

        # bad input, said before anything is deployed: no node labeled for the trainer (several nodes: no guess)
        t = time.monotonic()
        r = script("swarm.sh", "up", rc=2)
        assert "no node has the label deepracer.gpu=true" in r.stderr and "drl-node-3" in r.stderr, r.stderr
        assert deployed("trainer") == deployed("sim") == 0 and not d("service", "ls", "-q", "--filter",
                                                                      f"name={stack_name}_")
        d("node", "update", "--label-add", "deepracer.gpu=true", "--label-add", "deepracer.sim=false", manager)

        # a node without the sims' image (drl-node-3) and one whose overlay traffic is blocked (drl-node-2): each
        # named with what it lacks; the servers are up, the trainer and sims are not deployed
        only_here = "deepracer-local/app:ci-swarm-check"
        d("tag", "deepracer-local/app:ci", only_here)
        subprocess.run([docker, "exec", "drl-node-2", "docker", "tag", "deepracer-local/app:ci", only_here], check=True)
        block = ["INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP"]      # VXLAN: the overlay network's packets
        subprocess.run([docker, "exec", "drl-node-2", "iptables", "-I", *block], check=True)
        try:
            r = script("swarm.sh", "up", rc=2, APP_IMAGE=only_here, CHECK_WAIT="10")
        finally:
            subprocess.run([docker, "exec", "drl-node-2", "iptables", "-D", *block], check=True)
            subprocess.run([docker, "exec", "drl-node-2", "docker", "rmi", only_here], capture_output=True)
            d("rmi", only_here, check=False)
        assert f"node drl-node-3 has no image {only_here}" in r.stderr, r.stderr
        assert "node drl-node-2: cannot reach Redis" in r.stderr, r.stderr
        assert "not deploying the trainer and sims" in r.stderr, r.stderr
        assert deployed("trainer") == deployed("sim") == 0
        timings["bad input checks"] = time.monotonic() - t

        t = time.monotonic()
        script("swarm.sh", "up")
        from core.model_folder import ModelFolder
        from stack.compose_launch import stack_storage

        folder = ModelFolder(stack_storage(f"http://127.0.0.1:{s3_port}", BUCKET, env_file, wait_s=60), MODEL)
        wait("checkpoint 2", lambda: (c := folder.latest_checkpoint()) is not None and c.number >= 2, 240)
        timings["deploy to checkpoint 2"] = time.monotonic() - t
        trainer_node = d("service", "ps", f"{stack_name}_trainer", "--filter", "desired-state=running",
                         "--format", "{{.Node}}")
        assert trainer_node == manager_host, trainer_node
        running = sorted(node for node, state in sim_tasks() if state.startswith("Running"))
        assert running == ["drl-node-2", "drl-node-3"], sim_tasks()
        keys = set(folder.storage.list(f"{MODEL}/"))
        for w in (0, 1):     # both sims, each on a worker node, stored through S3 and sent through Redis
            assert any(k.startswith(f"{MODEL}/{w}/training-simtrace/") for k in keys), sorted(keys)

        # node 3 lost: its engine and its sim die at once
        t = time.monotonic()
        script("swarm-nodes.sh", "kill", "3")
        wait("node 3 seen as down", lambda: d("node", "inspect", "drl-node-3", "--format", "{{.Status.State}}") == "down",
             90)
        timings["kill to node seen down"] = time.monotonic() - t
        t = time.monotonic()
        at_down = folder.latest_checkpoint().number
        wait("2 checkpoints with one sim", lambda: folder.latest_checkpoint().number >= at_down + 2, 180)
        timings["2 checkpoints with one sim"] = time.monotonic() - t
        # one per node: the lost sim waits for a node instead of doubling up on drl-node-2
        tasks = wait("the lost sim's task pending", lambda: (ts := sim_tasks()) and any(
            s.startswith("Pending") for _, s in ts) and ts, 90)
        assert sorted(n for n, s in tasks if s.startswith("Running")) == ["drl-node-2"], tasks

        # node 3 back: the sim is scheduled there and plays under a new worker id
        t = time.monotonic()
        script("swarm-nodes.sh", "start", "3")
        wait("a sim running on each worker again", lambda: sorted(
            n for n, s in sim_tasks() if s.startswith("Running")) == ["drl-node-2", "drl-node-3"], 180)
        wait("the new sim's first sim-trace", lambda: any(
            k.startswith(f"{MODEL}/2/training-simtrace/") for k in folder.storage.list(f"{MODEL}/2/")), 180)
        timings["node back to its sim's first sim-trace"] = time.monotonic() - t

        # nothing the trainer learned from is missing from the metrics, nothing is in twice
        trainer_log = service_logs("trainer", "all")
        totals = [int(m) for m in re.findall(r"^iteration \d+ episodes (\d+) ", trainer_log, re.M)]
        lost = [int(m) for m in re.findall(r" lost (\d+) rejected", trainer_log)]
        assert totals and lost, trainer_log[-3000:]
        metrics = folder.read_training_metrics()
        played = 0
        for w, entries in metrics.items():
            numbers = [e["episode"] for e in entries if e["phase"] == "training"]
            assert numbers == list(range(1, len(numbers) + 1)), (w, numbers)
            played += len(numbers)
        assert set(metrics) == {0, 1, 2}, sorted(metrics)
        assert played >= totals[-1], (played, totals[-1])
        # the lost sim's share of the iteration in flight (6 episodes over 2 sims), and nothing more
        assert 1 <= sum(lost) <= 3, f"lost per iteration: {lost}"
        print(f"trainer: {totals[-1]} episodes learned from, {sum(lost)} lost; metrics: {played} training episodes")
    finally:
        t = time.monotonic()
        subprocess.run(["bash", str(ROOT / "scripts" / "swarm.sh"), "down"], cwd=ROOT, env=env, capture_output=True,
                       timeout=300)
        d("volume", "rm", f"{stack_name}_seaweedfs-data", check=False)
        subprocess.run(["bash", str(ROOT / "scripts" / "swarm-nodes.sh"), "down"], cwd=ROOT, env=env,
                       capture_output=True, timeout=300)
        timings["down"] = time.monotonic() - t
        timings["total"] = time.monotonic() - t0
        print("docker swarm nodes timings [s]:", {k: round(v, 1) for k, v in timings.items()})
