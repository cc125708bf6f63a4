"""Pairing sim workers with Gazebo sims: exactly one worker drives one Gazebo sim's car.

``GAZEBO_MASTER_URI`` names the Gazebo sims: one URI, a comma-separated list, or the URI of a compose
service scaled to several containers (``http://sim-gazebo:11311``: its name resolves to every replica's
address). ``candidates`` turns it into one URI per sim. With Redis (the compose stack) a worker claims
one through ``claim``: ``SET deepracer:gazebo-claim:<uri> <owner> NX`` with a time to live the worker
keeps renewing, so two workers never drive one car, a crashed worker's sim is free again after the TTL,
and the claims hold across runs (one Gazebo sim, one car, whichever model). Without Redis (embedded
runs) worker i takes the i-th URI.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

CLAIM_PREFIX = "deepracer:gazebo-claim:"
CLAIM_TTL_S = 30.0


def candidates(spec: str) -> list[str]:
    """The Gazebo sims' ROS master URIs in ``spec`` (see the module docstring), in a stable order."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        u = urlsplit(part if "//" in part else f"http://{part}")
        host, port = u.hostname or "", u.port or 11311
        try:
            addrs = sorted({info[4][0] for info in socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)})
        except socket.gaierror:
            addrs = [host]          # not resolvable now: the client's wait names it
        out += [f"http://{a}:{port}" for a in addrs]
    if not out:
        raise ValueError("GAZEBO_MASTER_URI is empty: name the Gazebo sims' ROS masters "
                         "(compose: http://sim-gazebo:11311)")
    return list(dict.fromkeys(out))


class GazeboClaim:
    """A held claim on one Gazebo sim, renewed in the background until ``release``."""

    def __init__(self, redis_client, key: str, owner: str, ttl_s: float):
        self.redis, self.key, self.owner, self.ttl_s = redis_client, key, owner, ttl_s
        self.uri = key[len(CLAIM_PREFIX):]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="gazebo-claim", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                self.redis.set(self.key, self.owner, xx=True, px=int(self.ttl_s * 1000))
            except Exception:       # Redis away for a moment: the next renewal tries again
                pass

    def release(self) -> None:
        self._stop.set()
        try:
            if self.redis.get(self.key) == self.owner.encode():
                self.redis.delete(self.key)
        except Exception:
            pass


def claim(redis_url: str, spec: str, owner: str, wait_s: float = 300.0, ttl_s: float = CLAIM_TTL_S) -> GazeboClaim:
    """Claim a free Gazebo sim among ``candidates(spec)`` for ``owner`` (e.g. "<run>/<worker>"); one this
    owner already holds (a restarted worker) is taken back. Waits up to ``wait_s`` for one to be free
    (sims starting, or held by workers that died and whose claims run out)."""
    from core.redis_transport import connect

    import redis

    r = connect(redis_url)
    deadline = time.monotonic() + wait_s
    while True:
        uris = candidates(spec)
        try:
            for uri in uris:
                key = CLAIM_PREFIX + uri
                if r.set(key, owner, nx=True, px=int(ttl_s * 1000)) or r.get(key) == owner.encode():
                    return GazeboClaim(r, key, owner, ttl_s)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot claim a Gazebo sim: Redis does not answer ({exc})") from None
        if time.monotonic() > deadline:
            held = {u: (r.get(CLAIM_PREFIX + u) or b"?").decode() for u in uris}
            raise RuntimeError(f"no free Gazebo sim for {owner} after {wait_s:.0f} s: {held} (each drives one "
                               "worker's car; scale sim-gazebo to the number of sims)")
        time.sleep(1.0)
