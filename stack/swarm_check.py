"""``python -m stack.swarm_check``: can this swarm node's containers reach Redis and the S3 bucket?

scripts/swarm.sh runs it on every node that will run a sim or the trainer, as a one-shot global service on
the stack's overlay network, before it deploys them: a node that lacks the image never starts the check
(swarm.sh reports the task's error), and one whose network does not reach Redis or S3 says so here,
naming itself. Settings as the sims get them: DEEPRACER_REDIS_URL and REDIS_PASSWORD, DEEPRACER_S3_ENDPOINT,
DEEPRACER_S3_BUCKET and the app's S3 keys; NODE_HOSTNAME (swarm's {{.Node.Hostname}}) names the node.
Exit 0 when both answer, 1 otherwise; one line per problem, each starting with ``node <hostname>:``.
Imports neither TensorFlow nor the simulator, so it starts in about a second.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

#: How long each server may take to answer [s] (it was deployed moments before: give it time to start).
WAIT_S = 60.0


def check_redis(url: str, wait_s: float) -> str | None:
    """None when Redis at ``url`` answers PING with this password within ``wait_s``; else why not."""
    import redis

    from core.redis_transport import REDIS_PASSWORD_ENV, connect, redacted

    deadline, last = time.monotonic() + wait_s, ""
    while True:
        try:
            connect(url).ping()
            return None
        except (redis.AuthenticationError, redis.ResponseError) as exc:
            return f"Redis at {redacted(url)} refused the password ({exc}): check {REDIS_PASSWORD_ENV} in compose/stack.env"
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            return (f"cannot reach Redis at {redacted(url)} within {wait_s:.0f} s ({last}): the overlay network "
                    "between this node and the manager is blocked (open TCP 2377 and 7946, UDP 7946 and 4789; "
                    "images/README.md, 'Adding a second workstation')")
        time.sleep(1.0)


def check_s3(wait_s: float) -> str | None:
    """None when the bucket answers with the app's keys within ``wait_s``; else why not."""
    from core.s3_storage import S3Storage
    from core.storage import StorageError

    env = os.environ
    endpoint = env.get("DEEPRACER_S3_ENDPOINT") or "AWS S3"
    deadline, last = time.monotonic() + wait_s, ""
    while True:
        try:
            storage = S3Storage.from_env(retry_s=min(10.0, wait_s))
            storage.list("deepracer-local-swarm-check/")      # a LIST: the read and list rights sims use
            return None
        except (StorageError, ValueError, OSError) as exc:
            last = str(exc)
            lowered = last.lower()
            if any(word in lowered for word in ("denied", "refused", "credentials", "signature", "does not exist")):
                return last          # the keys or the bucket: waiting changes nothing (the message names both)
        if time.monotonic() > deadline:
            return f"cannot reach the bucket at {endpoint} within {wait_s:.0f} s: {last}"
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wait", type=float, default=WAIT_S, help="seconds each server may take to answer")
    args = p.parse_args(argv)
    node = os.environ.get("NODE_HOSTNAME") or socket.gethostname()
    problems = []
    url = os.environ.get("DEEPRACER_REDIS_URL", "")
    problems.append(check_redis(url, args.wait) if url else "DEEPRACER_REDIS_URL is not set")
    problems.append(check_s3(args.wait))
    problems = [p for p in problems if p]
    for problem in problems:
        print(f"node {node}: {problem}", flush=True)
    if not problems:
        print(f"node {node}: reaches Redis and the S3 bucket", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
