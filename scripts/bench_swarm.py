"""``make bench-swarm [NODES=3 MINUTES=2]``: training's env steps/s on 1, 2, ... NODES swarm nodes, and the time
a new node's sim needs to join a running training.

The nodes are those of scripts/swarm-nodes.sh: this machine's engine (the manager, which runs the trainer,
Redis and S3, and one sim) and Docker-in-Docker containers on this same machine, each with one sim
(SIMS_PER_NODE=1). On one machine every node shares its cores, so the figures say what the swarm's
overhead costs (the overlay network, S3 and Redis across nodes), not how training scales with machines.

Per node count: a STATE model trained from scratch, deployed with `scripts/swarm.sh up`, measured from its
third checkpoint for MINUTES by the agent steps its checkpoints record. The last count starts with one
node fewer and its last sim waiting for a node; then `swarm-nodes.sh add` starts that node, loads the
image and joins it, and the time to the new sim's first sim-trace in the bucket is the join time.

Needs a Docker engine that is in no swarm (this makes its own and leaves it), the app image and the node
image (DEEPRACER_DOCKER_CI=1: the CI images of scripts/ci-docker.sh).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUCKET = "deepracer-bench-swarm"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=3, help="the most nodes (this machine's engine counts as one)")
    p.add_argument("--minutes", type=float, default=2.0, help="measured training time per node count")
    p.add_argument("--track", default="reinvent_base")
    args = p.parse_args(argv)
    if args.nodes < 2:
        p.error("--nodes: at least 2 (the last count is measured joining)")
    from core.model_folder import ModelFolder
    from stack.compose_launch import stack_storage, write_env_file

    docker = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"

    def d(*a: str, check: bool = True) -> str:
        r = subprocess.run([docker, *a], capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise SystemExit(f"bench-swarm: docker {' '.join(a)}: {r.stderr.strip()}")
        return r.stdout.strip()

    if d("info", "--format", "{{.Swarm.LocalNodeState}}") != "inactive":
        raise SystemExit("bench-swarm: this engine is in a swarm; the benchmark makes its own (leave it first: "
                         "bash scripts/swarm.sh leave)")
    tmp = Path(tempfile.mkdtemp(prefix="deepracer-bench-swarm-"))
    env_file, admin_file = tmp / "stack.env", tmp / "s3-admin.env"
    write_env_file(env_file, admin_file)
    with socket.socket() as sock:        # a free port for the S3 server's published port
        sock.bind(("127.0.0.1", 0))
        s3_port = sock.getsockname()[1]
    stack = f"drlbench{os.getpid()}"
    env = dict(os.environ, STACK_NAME=stack, STACK_ENV_FILE=str(env_file), S3_ADMIN_ENV_FILE=str(admin_file),
               S3_PORT=str(s3_port), PRESET="state", TRACK=args.track, SIMS_PER_NODE="1", EPISODES="",
               MINUTES=str(args.minutes + 10), DEEPRACER_S3_BUCKET=BUCKET)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DEEPRACER_S3_ENDPOINT", "S3_ENDPOINT", "DEEPRACER_MODEL"):
        env.pop(key, None)

    def script(name: str, *a: str, **extra: str) -> str:
        r = subprocess.run(["bash", str(ROOT / "scripts" / name), *a], cwd=ROOT, env=dict(env, **extra),
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            raise SystemExit(f"bench-swarm: {name} {' '.join(a)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        return r.stdout

    def wait(what: str, cond, timeout_s: float):
        end = time.monotonic() + timeout_s
        while not (value := cond()):
            if time.monotonic() > end:
                raise SystemExit(f"bench-swarm: {what}: not within {timeout_s:.0f} s")
            time.sleep(0.5)
        return value

    def sims_on(k: int) -> None:
        """Sims may run on the first k nodes only (the manager is the first)."""
        for line in d("node", "ls", "--format", "{{.ID}} {{.Hostname}} {{.Self}}").splitlines():
            node_id, host, is_self = line.split()
            index = 1 if is_self == "true" else int(host.rsplit("-", 1)[1])
            d("node", "update", "--label-add", f"deepracer.sim={'true' if index <= k else 'false'}", node_id)

    def measure(folder: ModelFolder) -> float:
        """Agent steps per second of wall time, from the third checkpoint on for MINUTES."""
        wait("checkpoint 3", lambda: (c := folder.latest_checkpoint()) is not None and c.number >= 3, 600)
        t1, s1 = time.monotonic(), folder.latest_checkpoint().steps
        time.sleep(60 * args.minutes)
        t2, s2 = time.monotonic(), folder.latest_checkpoint().steps
        return (s2 - s1) / (t2 - t1)

    rows: list[tuple[int, float]] = []
    join: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        script("swarm-nodes.sh", "up", str(args.nodes - 1))
        d("node", "update", "--label-add", "deepracer.gpu=true", d("info", "--format", "{{.Swarm.NodeID}}"))
        print(f"bench-swarm: {args.nodes - 1} of {args.nodes} nodes up in {time.monotonic() - t0:.0f} s", flush=True)
        storage = None
        for k in range(1, args.nodes + 1):
            model = f"bench-swarm-{k}"
            sims_on(k)
            script("swarm.sh", "up", MODEL=model, SIMS=str(k))
            storage = storage or stack_storage(f"http://127.0.0.1:{s3_port}", BUCKET, env_file, wait_s=60)
            folder = ModelFolder(storage, model)
            if k == args.nodes:       # one sim waits for a node: add it, time its sim's start
                wait("checkpoint 3", lambda: (c := folder.latest_checkpoint()) is not None and c.number >= 3, 600)
                t = time.monotonic()
                name = script("swarm-nodes.sh", "add").strip().splitlines()[-1]
                join["node ready: engine started, image loaded, joined"] = time.monotonic() - t
                d("node", "update", "--label-add", "deepracer.sim=true", name)
                t1 = time.monotonic()
                wait("the new node's sim's first sim-trace", lambda: any(
                    key.startswith(f"{model}/{k - 1}/training-simtrace/") for key in storage.list(f"{model}/{k - 1}/")),
                    600)
                join["joined to its sim's first sim-trace"] = time.monotonic() - t1
            rate = measure(folder)
            rows.append((k, rate))
            print(f"bench-swarm: {k} node(s), {k} sim(s): {rate:,.0f} env steps/s", flush=True)
            script("swarm.sh", "down")
            d("volume", "rm", f"{stack}_seaweedfs-data", check=False)
            storage = None
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "swarm.sh"), "down"], cwd=ROOT, env=env, capture_output=True)
        d("volume", "rm", f"{stack}_seaweedfs-data", check=False)
        subprocess.run(["bash", str(ROOT / "scripts" / "swarm-nodes.sh"), "down"], cwd=ROOT, env=env, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)      # the env files' keys
    print(f"\nbench swarm: STATE on {args.track}, one sim per node (8 cars), {args.minutes:g} min measured per row")
    print("| nodes | sims | env steps/s | per sim |")
    print("|---|---|---|---|")
    for k, rate in rows:
        print(f"| {k} | {k} | {rate:,.0f} | {rate / k:,.0f} |")
    for what, seconds in join.items():
        print(f"new node: {what}: {seconds:.0f} s")
    print(f"total {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
