"""The Redis transport against a real redis-server (started by tests/servers.py on a loopback port)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis

from core.messages import Episode, policy_notice, read_policy_notice
from core.redis_transport import RedisSim, RedisTrainer, redacted, run_keys
from core.transport import SimTransport, TrainerTransport, TransportError
from tests.servers import locked_redis_server, redis_server  # noqa: F401  (fixtures)


def episode(worker: int, episode_id: int, steps: int = 5, run_id: str = "run") -> bytes:
    return Episode(run_id=run_id, iteration=1, worker=worker, episode_id=episode_id, phase="training",
                   obs={"state": np.zeros((steps, 3), np.float32)}, actions=np.zeros(steps, np.int64),
                   log_probs=np.zeros(steps, np.float32), values=np.zeros(steps, np.float32),
                   rewards=np.ones(steps, np.float32), status="in_progress", progress=10.0,
                   start_time_ms=0.0, end_time_ms=1.0).to_bytes()


def receive_n(trainer: RedisTrainer, n: int, timeout_s: float = 10.0) -> list[tuple[int, bytes]]:
    got: list[tuple[int, bytes]] = []
    end = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < end:
        got += trainer.receive(0.5)
    return got


@pytest.fixture
def sims():
    made: list[RedisSim] = []

    def make(*args, **kwargs) -> RedisSim:
        made.append(RedisSim(*args, **kwargs))
        return made[-1]
    yield make
    for s in made:
        s.close()


def test_episodes_round_trip_in_order_with_worker_ids(redis_server, sims):
    trainer = RedisTrainer(redis_server.url, "rt", read_count=4)
    a, b = sims(redis_server.url, "rt", 0), sims(redis_server.url, "rt", 1)
    _sim: SimTransport = a                        # the interfaces (checked by type checkers)
    _trainer: TrainerTransport = trainer
    assert trainer.receive(0.0) == []
    for i in range(6):
        a.send_episode(episode(0, i))
        b.send_episode(episode(1, i))
    a.send_episode(episode(0, 5))                 # a duplicate: delivered; the learner drops it by Episode.key
    got = receive_n(trainer, 13)
    assert len(got) == 13 and trainer.receive(0.1) == []
    for w in (0, 1):
        eps = [Episode.from_bytes(d) for ww, d in got if ww == w]
        assert all(e.worker == w for e in eps)
        assert [e.episode_id for e in eps] == list(range(6)) + ([5] if w == 0 else [])
    assert len({Episode.from_bytes(d).key for _, d in got}) == 12
    # read episodes are deleted: the stream length is the backlog
    assert redis.Redis.from_url(redis_server.url).xlen(run_keys("rt")["episodes"]) == 0
    # runs do not see each other's episodes
    other = sims(redis_server.url, "other-run", 0)
    other.send_episode(episode(0, 0, run_id="other-run"))
    assert trainer.receive(0.2) == []


def test_episodes_sent_before_the_trainer_starts_are_kept(redis_server, sims):
    sim = sims(redis_server.url, "early", 3)
    sim.send_episode(episode(3, 0))
    got = RedisTrainer(redis_server.url, "early").receive(1.0)
    assert [(w, Episode.from_bytes(d).episode_id) for w, d in got] == [(3, 0)]


def test_stream_is_capped_and_backpressure_waits_for_the_trainer(redis_server, sims):
    r = redis.Redis.from_url(redis_server.url)
    key = run_keys("cap")["episodes"]
    # no trainer at all: the sim gives up waiting at once (backpressure_s=0) and MAXLEN caps the stream
    sim = sims(redis_server.url, "cap", 0, maxlen=20, max_backlog=10, backpressure_s=0.0)
    for i in range(50):
        sim.send_episode(episode(0, i))
    assert r.xlen(key) == 20
    newest = [int(Episode.from_bytes(f[b"d"]).episode_id) for _, f in r.xrange(key)]
    assert newest == list(range(30, 50))              # the oldest went first
    r.delete(key)

    # a backlog of max_backlog entries makes the next send wait until the trainer has read
    sim = sims(redis_server.url, "cap", 1, maxlen=20, max_backlog=3, backpressure_s=10.0)
    trainer = RedisTrainer(redis_server.url, "cap")
    for i in range(3):
        sim.send_episode(episode(1, i))
    threading.Timer(0.5, trainer.receive, args=(1.0,)).start()
    t0 = time.monotonic()
    sim.send_episode(episode(1, 3))
    assert 0.4 < time.monotonic() - t0 < 5.0
    assert [Episode.from_bytes(d).episode_id for _, d in receive_n(trainer, 1)] == [3]

    # the byte limit: backlog x message size
    msg = episode(2, 0, steps=50)
    big = sims(redis_server.url, "cap", 2, maxlen=20, max_backlog=10, max_backlog_bytes=int(1.5 * len(msg)),
               backpressure_s=0.3)
    t0 = time.monotonic()
    for _ in range(3):
        big.send_episode(msg)
    assert time.monotonic() - t0 > 0.25                # the third waited: 2 unread x size >= 1.5 x size
    with pytest.raises(ValueError):
        RedisSim(redis_server.url, "cap", 0, maxlen=5, max_backlog=10)


def test_late_joining_sim_gets_the_current_policy_version(redis_server, sims):
    trainer = RedisTrainer(redis_server.url, "pol")
    early = sims(redis_server.url, "pol", 0)
    assert early.next_notice(0) is None
    t0 = time.monotonic()
    assert early.next_notice(0.3) is None and 0.25 < time.monotonic() - t0 < 2.0
    for v in (1, 2):
        trainer.broadcast_notice(policy_notice(v))
    assert [read_policy_notice(early.next_notice(1.0))[0] for _ in range(2)] == [1, 2]
    late = sims(redis_server.url, "pol", 1)
    assert read_policy_notice(late.next_notice(0))[:2] == (2, False)     # the current one, at once
    assert late.next_notice(0.1) is None
    threading.Timer(0.3, trainer.broadcast_notice, args=(policy_notice(3, stop=True),)).start()
    assert read_policy_notice(late.next_notice(None))[:2] == (3, True)   # None: waits until one comes
    assert read_policy_notice(early.next_notice(1.0))[:2] == (3, True)
    for v in range(4, 30):                                           # the notices stream stays short
        trainer.broadcast_notice(policy_notice(v))
    assert redis.Redis.from_url(redis_server.url).xlen(run_keys("pol")["notices"]) == 10
    assert read_policy_notice(sims(redis_server.url, "pol", 2).next_notice(0))[0] == 29


def test_alive_workers_follow_heartbeats(redis_server, sims):
    trainer = RedisTrainer(redis_server.url, "hb")
    counted = RedisTrainer(redis_server.url, "hb", expected_workers=4)
    assert trainer.alive_workers() == [] == counted.alive_workers()
    s0, s2 = sims(redis_server.url, "hb", 0, heartbeat_ttl_s=0.6), sims(redis_server.url, "hb", 2, heartbeat_ttl_s=0.6)
    sims(redis_server.url, "hb", 11, heartbeat_ttl_s=0.6)
    assert trainer.alive_workers() == [0, 2, 11]
    assert counted.alive_workers() == [0, 2]                         # only ids 0..3 are looked at
    time.sleep(1.0)                                                  # longer than the TTL: the thread keeps them
    assert trainer.alive_workers() == [0, 2, 11]
    s2.close()                                                       # a clean exit: gone at once
    assert trainer.alive_workers() == [0, 11]
    s0._stop.set()                                                   # a hung worker: no more heartbeats
    s0._beat.join()
    time.sleep(0.8)
    assert 0 not in trainer.alive_workers()


def test_redis_restart_is_waited_out(redis_server, sims):
    trainer = RedisTrainer(redis_server.url, "fault", retry_s=20.0)
    trainer.broadcast_notice(policy_notice(7))
    sim = sims(redis_server.url, "fault", 0, retry_s=20.0, heartbeat_ttl_s=2.0)
    assert read_policy_notice(sim.next_notice(0))[0] == 7
    got: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def consume() -> None:
        try:
            while not stop.is_set():
                got.extend(trainer.receive(0.2))
        except BaseException as exc:          # noqa: BLE001 (reported below)
            errors.append(exc)
    reader = threading.Thread(target=consume)
    reader.start()
    restart = redis_server.restart_in_background(down_s=2.0, after_s=0.3)
    sent, t0, slowest = 0, time.monotonic(), 0.0
    while restart.is_alive() or sent < 5:
        t = time.monotonic()
        sim.send_episode(episode(0, sent))     # blocks while the server is down, then succeeds
        slowest = max(slowest, time.monotonic() - t)
        sent += 1
        time.sleep(0.05)
    restart.join()
    sim.send_episode(episode(0, 10_000))       # the last one must arrive
    end = time.monotonic() + 10
    while not any(Episode.from_bytes(d).episode_id == 10_000 for _, d in got) and time.monotonic() < end:
        time.sleep(0.05)
    stop.set()
    reader.join()
    assert not errors
    assert slowest > 1.0                        # a send really waited for the server
    ids = [Episode.from_bytes(d).episode_id for _, d in got]
    assert ids[-1] == 10_000 and ids == sorted(ids)   # (unread ones die with a non-persistent server)
    # the server came back empty: the trainer re-sent its notice, the sim its heartbeat
    assert read_policy_notice(sims(redis_server.url, "fault", 1).next_notice(0))[0] == 7
    assert sim.next_notice(0.2) is None        # the re-sent copy is not handed out twice
    assert 0 in trainer.alive_workers()
    assert time.monotonic() - t0 < 20


def test_an_idle_trainer_restores_the_notice_after_a_restart(redis_server, sims):
    trainer = RedisTrainer(redis_server.url, "idle")
    trainer.broadcast_notice(policy_notice(5))
    redis_server.restart(0.2)                  # the trainer makes no call meanwhile
    assert trainer.receive(0.1) == []
    assert read_policy_notice(sims(redis_server.url, "idle", 0).next_notice(0))[0] == 5


def test_a_server_that_comes_up_late_is_waited_for(redis_server):
    redis_server.stop()                        # e.g. the sims' containers start before Redis's
    threading.Timer(1.0, redis_server.start).start()
    t0 = time.monotonic()
    trainer = RedisTrainer(redis_server.url, "late", retry_s=10.0)
    assert time.monotonic() - t0 > 0.8 and trainer.alive_workers() == []


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "redis://:hunter2@127.0.0.1:1/0",
                                 "redis://no-such-host.invalid:6379/0", "http://127.0.0.1:1"])
def test_wrong_url_is_one_clear_error(url):
    t0 = time.monotonic()
    with pytest.raises(TransportError) as err:
        RedisTrainer(url, "x", retry_s=1.0)
    assert time.monotonic() - t0 < 5.0
    msg = str(err.value)
    assert redacted(url) in msg and "hunter2" not in msg and msg.startswith("cannot reach Redis at ")
    with pytest.raises(TransportError):
        RedisSim(url, "x", 0, retry_s=0.2)


def test_redacted_and_run_keys():
    assert redacted("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert redacted("redis://h:1/0") == "redis://h:1/0"
    assert run_keys("r1")["episodes"] == "deepracer:r1:episodes"
    for bad in ("", "a:b", "a*", "a b"):
        with pytest.raises(ValueError):
            run_keys(bad)


def test_a_password_from_redis_password_and_a_wrong_one_is_one_quick_error(locked_redis_server, monkeypatch):
    server = locked_redis_server
    monkeypatch.setenv("REDIS_PASSWORD", "s3cret-for-the-test")
    trainer = RedisTrainer(server.url, "pw")
    trainer.close()
    for password, why in (("wrong-password", "refused this client"), (None, "refused this client")):
        if password:
            monkeypatch.setenv("REDIS_PASSWORD", password)
        else:
            monkeypatch.delenv("REDIS_PASSWORD")
        t0 = time.monotonic()
        with pytest.raises(TransportError) as e:
            RedisSim(server.url, "pw", 0, retry_s=30)
        assert why in str(e.value) and "REDIS_PASSWORD" in str(e.value), str(e.value)
        assert "wrong-password" not in str(e.value)
        assert time.monotonic() - t0 < 5, "a wrong password is not retried"
