"""Pairing sim workers with Gazebo sims (simulation/gazebo/claim.py) on a real Redis."""

from __future__ import annotations

import pytest

from simulation.gazebo.claim import CLAIM_PREFIX, candidates, claim
from tests.servers import redis_server  # noqa: F401  (fixture)


def test_candidates_resolve_names_and_lists():
    assert candidates("http://localhost:11311") == ["http://127.0.0.1:11311"]
    assert candidates("http://10.0.0.2:11311, 10.0.0.3") == ["http://10.0.0.2:11311", "http://10.0.0.3:11311"]
    with pytest.raises(ValueError, match="GAZEBO_MASTER_URI is empty"):
        candidates(" , ")


def test_each_worker_gets_its_own_gazebo_sim_and_a_third_waits(redis_server):  # noqa: F811
    spec = "http://10.0.0.2:11311,http://10.0.0.3:11311"
    a = claim(redis_server.url, spec, "run/0", wait_s=1)
    b = claim(redis_server.url, spec, "run/1", wait_s=1)
    try:
        assert {a.uri, b.uri} == {"http://10.0.0.2:11311", "http://10.0.0.3:11311"}
        with pytest.raises(RuntimeError, match="no free Gazebo sim for run/2 .*run/0.*scale sim-gazebo"):
            claim(redis_server.url, spec, "run/2", wait_s=0.5)
        again = claim(redis_server.url, spec, "run/0", wait_s=1)     # a restarted worker gets its sim back
        assert again.uri == a.uri
        again._stop.set()
        a.release()
        c = claim(redis_server.url, spec, "run/2", wait_s=1)         # released: free for another
        assert c.uri == a.uri
        c.release()
    finally:
        b.release()


def test_a_dead_workers_claim_runs_out(redis_server):  # noqa: F811
    import time

    dead = claim(redis_server.url, "http://10.0.0.9:11311", "run/0", wait_s=1, ttl_s=0.6)
    dead._stop.set()                       # the worker died: nobody renews
    t0 = time.monotonic()
    other = claim(redis_server.url, "http://10.0.0.9:11311", "run/1", wait_s=5)
    assert other.uri == "http://10.0.0.9:11311" and time.monotonic() - t0 < 3
    assert other.redis.get(CLAIM_PREFIX + other.uri) == b"run/1"
    other.release()
