"""Faults in the real compose stack: a killed trainer, a stopped S3 server, a stopped Redis.

One stack run (STATE preset, 2 sims, the CI override: SeaweedFS in place of MinIO), trained until
``down``. After checkpoint 2 the servers' outages (b, c) come first, then the trainer's kill (a):

(a) ``docker kill`` the trainer (SIGKILL). Docker does not apply ``restart: on-failure`` to a container
    stopped by ``docker kill`` (the daemon counts it as stopped by the user, like ``docker stop``), so
    the test restarts it with ``docker start`` when Docker has not done so within a few seconds, and
    says which happened. The restarted trainer must say "resuming ... from checkpoint N" with N the
    checkpoint published last before the kill, then publish checkpoints numbered above N, and the
    total steps in the checkpoint names must never decrease (nothing completed is lost).
(b) ``docker stop`` the S3 server for about 5 s, then ``docker start`` it; (c) the same for Redis.
    After each, training goes on: new checkpoints appear.
At the end every container runs, and none but the killed trainer ever exited (restart counts 0).
(d) Then ``docker stop`` the trainer and a sim (what ``make down`` does): each leaves within a few seconds with
    exit code 143 on SIGTERM (core.stop_signal), not after docker's 10 s and a SIGKILL, and the trainer's
    stop does not stop the sims.

Markers ``docker`` and ``slow``; skipped with the reason when no engine answers or the CI images
(scripts/ci-docker.sh) are missing. Reuses tests/test_docker_stack.py's helpers.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time

import pytest

from tests.test_docker_stack import MODEL, Stack, _docker, _engine_skip_reason, _wait

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CI_IMAGES = ("local/python-ci:bookworm", "local/redis:bookworm", "local/seaweedfs:ci", "deepracer-local/app:ci")
OUTAGE_S = 5.0


def ci_images_skip_reason() -> str | None:
    """Why the Docker fault/swarm tests cannot run here, or None."""
    reason = _engine_skip_reason()
    if reason:
        return reason
    docker = _docker()
    missing = [i for i in CI_IMAGES
               if subprocess.run([docker, "image", "inspect", i], capture_output=True).returncode != 0]
    if missing:
        return f"CI images missing: {', '.join(missing)} (make them with: bash scripts/ci-docker.sh)"
    return None


class CheckpointWatch:
    """Polls the model folder's current checkpoint in a thread and keeps every (number, steps) seen,
    in order (the folder prunes old checkpoint files, so the bucket alone forgets them)."""

    def __init__(self, folder, poll_s: float = 0.3):
        self.folder, self.poll_s = folder, poll_s
        self.seen: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                c = self.folder.latest_checkpoint()
            except Exception:          # the S3 server is down on purpose for a while
                c = None
            if c is not None and (not self.seen or self.seen[-1] != (c.number, c.steps)):
                self.seen.append((c.number, c.steps))
            self._stop.wait(self.poll_s)

    def latest(self) -> int:
        return self.seen[-1][0] if self.seen else -1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_trainer_kill_and_server_outages(tmp_path):
    reason = ci_images_skip_reason()
    if reason:
        pytest.skip(reason)
    from stack.compose_launch import upload_model

    stack = Stack(tmp_path)
    stack.project = f"drlfault{stack.project.removeprefix('drltest')}"
    stack.base[stack.base.index("-p") + 1] = stack.project
    if "docker-compose.ci.yml" not in " ".join(stack.base):
        pytest.skip("the fault test stops the CI override's SeaweedFS and Redis containers; "
                    "DEEPRACER_DOCKER_CI=0 is set")
    # train until `down` (a finished run would end the test early); 10 minutes at most if left behind
    stack.env.update(DEEPRACER_EPISODES="", DEEPRACER_MINUTES="10")
    docker = stack.docker
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    watch = None
    try:
        stack.compose("build", "trainer", timeout=1800)
        stack.compose("up", "-d", "redis", "s3", timeout=300)
        storage = stack.storage()
        folder = upload_model(storage, MODEL, preset="state", episodes_between_training=6)
        stack.compose("up", "-d", "--scale", "sim=2", timeout=300)
        watch = CheckpointWatch(folder)
        _wait("checkpoint 2", lambda: watch.latest() >= 2, 300, stack, poll_s=0.5)
        timings["up to checkpoint 2"] = time.monotonic() - t0
        trainer = stack.containers("trainer")[0]
        sims = stack.containers("sim")
        assert len(sims) == 2, sims

        # (b), (c) the S3 server, then Redis, down for a few seconds
        for service in ("s3", "redis"):
            t = time.monotonic()
            cid = stack.containers(service)[0]
            subprocess.run([docker, "stop", "-t", "2", cid], check=True, capture_output=True)
            at_stop = watch.latest()
            time.sleep(OUTAGE_S)
            subprocess.run([docker, "start", cid], check=True, capture_output=True)
            _wait(f"2 checkpoints after {service}'s outage", lambda: watch.latest() >= at_stop + 2, 180, stack, 0.5)
            timings[f"({'b' if service == 's3' else 'c'}) {service} {OUTAGE_S:.0f} s down -> 2 new checkpoints"] = \
                time.monotonic() - t

        # (a) the trainer, killed mid-run
        t = time.monotonic()
        subprocess.run([docker, "kill", trainer], check=True, capture_output=True)
        after_kill = stack.state(trainer)
        published = folder.latest_checkpoint()      # the last checkpoint the killed trainer published
        time.sleep(4)
        st = stack.state(trainer)
        restarted_by_docker = st["Running"] or st["Restarting"] or st.get("RestartCount", 0) > 0
        if not restarted_by_docker:
            subprocess.run([docker, "start", trainer], check=True, capture_output=True)
        print(f"trainer after `docker kill`: exit code {after_kill['ExitCode']}; "
              f"{'restarted by docker (restart policy)' if restarted_by_docker else 'not restarted by the restart policy: docker start'}")

        def resumed():
            log = subprocess.run([docker, "logs", trainer], capture_output=True, text=True).stdout
            return re.search(r"resuming .* from checkpoint (\d+)", log)
        m = _wait("the restarted trainer to resume", resumed, 180, stack, poll_s=0.5)
        resumed_at = int(m.group(1))
        assert resumed_at == published.number, (resumed_at, published)
        _wait("2 checkpoints after the trainer's restart", lambda: watch.latest() >= resumed_at + 2, 75, stack, 0.5)
        timings["(a) trainer kill -> 2 new checkpoints"] = time.monotonic() - t
        watch.stop()

        # nothing completed lost: numbers rise, steps never fall; the resumed checkpoint kept its steps
        seen = watch.seen
        numbers = [n for n, _ in seen]
        steps = [s for _, s in seen]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), seen
        assert steps == sorted(steps), seen
        assert (published.number, published.steps) in seen, (published, seen)
        later = [(n, s) for n, s in seen if n > resumed_at]
        assert later and all(s > published.steps for _, s in later), (published, seen)
        names = folder.list_checkpoints()           # what the bucket holds now (the newest few)
        assert [c.steps for c in names] == sorted(c.steps for c in names), names

        # every container runs; only the killed trainer ever stopped on its own
        for service in ("trainer", "sim", "redis", "s3"):
            for cid in stack.containers(service):
                st = stack.state(cid)
                assert st["Running"], f"{st['Name']} is not running (exit {st['ExitCode']})\n{stack.dump_logs()}"
                if service == "sim":
                    assert st.get("RestartCount", 0) == 0, f"{st['Name']} restarted\n{stack.dump_logs()}"
        sim_logs = "".join((r := subprocess.run([docker, "logs", c], capture_output=True, text=True)).stdout + r.stderr
                           for c in stack.containers("sim"))
        assert "Traceback" not in sim_logs, sim_logs[-4000:]

        # (d) docker stop (make down): the trainer and a sim leave at once on SIGTERM (core.stop_signal), not after
        # docker's 10 s and a SIGKILL; the trainer does not stop the sims (a restarted trainer resumes for them)
        for cid, what in ((trainer, "trainer"), (sims[0], "sim")):
            t = time.monotonic()
            subprocess.run([docker, "stop", "-t", "10", cid], check=True, capture_output=True)
            took = time.monotonic() - t
            r = subprocess.run([docker, "logs", "--tail", "20", cid], capture_output=True, text=True)
            assert took < 5 and stack.state(cid)["ExitCode"] == 143, (what, took, stack.state(cid), r.stdout + r.stderr)
            assert f"{what}: SIGTERM (docker stop): leaving now" in r.stderr and "Traceback" not in r.stderr, r.stderr
            timings[f"(d) docker stop {what}"] = took
            if what == "trainer":
                time.sleep(2)
                assert all(stack.state(c)["Running"] for c in sims), stack.dump_logs()
        timings["total"] = time.monotonic() - t0
        print("docker fault timings [s]:", {k: round(v, 1) for k, v in timings.items()})
        print("checkpoints seen (number, steps):", seen)
    finally:
        if watch is not None:
            watch.stop()
        stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
