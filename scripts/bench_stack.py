"""Stack benchmark: env steps/s with SIMS=1 and 2, time to the first iteration, and how long the sims
wait on storage and transport, in the embedded mode, in stack mode as plain processes (trainer and
sims over a real redis-server and a real S3 server, SeaweedFS) and in the Docker Compose stack.

    .venv/bin/python scripts/bench_stack.py [--iterations 6] [--modes embedded,processes,compose]

STATE preset, reinvent_base, default reward. Needs redis-server and weed (make test installs both).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import RedisServer, S3Server, find_binary  # noqa: E402

STEPS_RE = re.compile(r"(?:steps/s)\s+([\d,\.]+)|([\d,\.]+)\s+steps/s")
WAIT_RE = re.compile(r"waited on storage\+transport ([\d\.]+) s of ([\d\.]+) s")


def _parse(out: str) -> tuple[list[float], list[tuple[float, float]]]:
    rates = [float((m.group(1) or m.group(2)).replace(",", "")) for m in STEPS_RE.finditer(out)]
    waits = [(float(a), float(b)) for a, b in WAIT_RE.findall(out)]
    return rates, waits


def embedded(sims: int, episodes: int, tmp: Path) -> dict:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "stack.cli", "train", "--preset", "state", "--model", f"e{sims}",
                             "--sims", str(sims), "--episodes", str(episodes), "--models-dir", str(tmp)],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if first is None and line.startswith("it "):
            first = time.monotonic() - t0
    proc.wait()
    rates, waits = _parse("".join(lines))
    return {"first_s": first, "rates": rates, "waits": waits}


def processes(sims: int, episodes: int, tmp: Path) -> dict:
    from core.s3_storage import S3Storage
    from stack.compose_launch import upload_model
    from simulation.worker import WorkerConfig

    redis = RedisServer(find_binary("redis-server"), tmp / "redis")
    s3 = S3Server(find_binary("weed"), tmp / "s3")
    redis.start()
    s3.start()
    try:
        storage = S3Storage("bench", endpoint_url=s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                            create_bucket=True)
        name = f"p{sims}"
        upload_model(storage, name, preset="state")
        env = dict(os.environ, PYTHONPATH=str(ROOT), DEEPRACER_S3_ENDPOINT=s3.endpoint,
                   AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key, TF_CPP_MIN_LOG_LEVEL="2")
        t0 = time.monotonic()
        workers = [subprocess.Popen(
            [sys.executable, "-m", "simulation.worker", "--config",
             WorkerConfig(run_id=name, worker=-1, storage="s3://bench", model_prefix=name, track="reinvent_base",
                          redis_url=redis.url, num_cars=40 // sims + 1,
                          policy_threads=max(1, (os.cpu_count() or 1) // sims)).to_json()],
            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for _ in range(sims)]
        trainer = subprocess.Popen([sys.executable, "-m", "trainer.learner", "--storage", "s3://bench", "--model", name,
                                    "--redis", redis.url, "--run-id", name, "--episodes", str(episodes)],
                                   cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = None
        lines = []
        for line in trainer.stdout:
            lines.append(line)
            if first is None and line.startswith("iteration "):
                first = time.monotonic() - t0
        trainer.wait()
        worker_err = "".join(w.communicate(timeout=60)[1] for w in workers)
        rates, _ = _parse("".join(lines))
        _, waits = _parse(worker_err)
        return {"first_s": first, "rates": rates, "waits": waits}
    finally:
        redis.stop()
        s3.stop()


def compose(sims: int, episodes: int, tmp: Path) -> dict:
    """The Docker Compose stack (CI images when they exist); needs a running engine."""
    from stack.compose_launch import upload_model
    from tests.test_docker_stack import MODEL, Stack

    stack = Stack(tmp)
    stack.env.update(DEEPRACER_EPISODES=str(episodes), DEEPRACER_CARS_PER_SIM=str(40 // sims + 1))
    stack.compose("build", "trainer", timeout=1800)
    try:
        stack.compose("up", "-d", "redis", "s3", timeout=300)
        folder = upload_model(stack.storage(), MODEL, preset="state")
        t0 = time.monotonic()
        stack.compose("up", "-d", "--scale", f"sim={sims}", timeout=300)
        first = None
        while True:
            c = folder.latest_checkpoint()
            if first is None and c is not None and c.number >= 1:
                first = time.monotonic() - t0
            if any(not stack.state(cid)["Running"] for cid in stack.containers("trainer")):
                break
            time.sleep(0.5)
        rates, _ = _parse(stack.compose("logs", "--no-color", "trainer", timeout=60).stdout)
        stack.compose("stop", "-t", "30", timeout=300)   # sims print their wait line when they stop
        _, waits = _parse(stack.compose("logs", "--no-color", "sim", timeout=60).stdout)
        return {"first_s": first, "rates": rates, "waits": waits}
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300, check=False)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--modes", default="embedded,processes", help="comma-separated: embedded, processes, compose")
    args = p.parse_args()
    episodes = 40 * args.iterations   # the state preset plays 40 episodes per iteration
    print("| mode | sims | env steps/s (mean of iterations 2+) | first iteration done after | sims' wait on storage+transport |")
    print("|---|---|---|---|---|")
    modes = {"embedded": ("embedded (stdio frames, local folder)", embedded),
             "processes": ("stack processes (Redis, S3)", processes),
             "compose": ("Docker Compose (containers, Redis, S3)", compose)}
    for mode, fn in (modes[m.strip()] for m in args.modes.split(",")):
        for sims in (1, 2):
            with tempfile.TemporaryDirectory(prefix="deepracer-bench-stack-") as tmp:
                r = fn(sims, episodes, Path(tmp))
            rates = r["rates"][1:] or r["rates"]
            mean = sum(rates) / max(len(rates), 1)
            waited = sum(a for a, _ in r["waits"])
            lived = sum(b for _, b in r["waits"])
            print(f"| {mode} | {sims} | {mean:,.0f} | {r['first_s']:.1f} s | "
                  f"{waited:.2f} s of {lived:.0f} s ({100 * waited / max(lived, 1e-9):.1f}%) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
