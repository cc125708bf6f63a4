"""Hostile or malformed messages: refused at the boundary and counted, never crashing or poisoning
the trainer, never losing the good episodes beside them; non-finite updates rolled back and never
published; forged heartbeats and malformed notices ignored."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import msgpack
import numpy as np
import pytest
import redis

from core.config import Hyperparameters, parse_model_metadata
from core.messages import (Episode, EpisodeSpec, MessageError, pack, policy_notice, read_policy_notice,
                           validate_episode)
from core.observations import STATE_SIZE
from core.redis_transport import RedisSim, RedisTrainer, run_keys
from tests.servers import redis_server  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
STATE_MD = parse_model_metadata(json.loads((ROOT / "presets/model_metadata_state.json").read_text()))
SPEC = EpisodeSpec.from_metadata(STATE_MD)
NUM_ACTIONS = STATE_MD.num_actions


def fields(t: int = 6, **over) -> dict:
    """The fields of a well-formed STATE training episode of ``t`` steps, with ``over`` replaced."""
    f = dict(run_id="run", iteration=1, worker=0, episode_id=0, phase="training",
             obs={"STATE": np.zeros((t, STATE_SIZE), np.float32)}, actions=np.arange(t, dtype=np.int64) % NUM_ACTIONS,
             log_probs=np.full(t, -1.6, np.float32), values=np.zeros(t, np.float32),
             rewards=np.ones(t, np.float32), status="off_track", progress=12.5, start_time_ms=0.0,
             end_time_ms=400.0, track="reinvent_base", extra={"truncated": False})
    f.update(over)
    return f


def message(**over) -> bytes:
    """Episode bytes as a (possibly hostile) sender would pack them, bypassing the dataclass."""
    return pack({"type": "episode", **fields(**over)})


GOOD = message()

# Each a message the issue names (or a sibling of it) that must be refused with a MessageError.
HOSTILE = {
    "obs as a list": message(obs=[[0.0] * STATE_SIZE] * 6),
    "obs array not a map": message(obs=np.zeros((6, STATE_SIZE), np.float32)),
    "scalar rewards": message(rewards=1.0),
    "rewards beyond the reference's limit": message(rewards=np.full(6, 3e38, np.float32)),
    "string rewards": message(rewards="1.0"),
    "list rewards": message(rewards=[1.0] * 6),
    "2-D rewards": message(rewards=np.ones((6, 1), np.float32)),
    "int rewards": message(rewards=np.ones(6, np.int64)),
    "NaN reward": message(rewards=np.array([1, 1, np.nan, 1, 1, 1], np.float32)),
    "inf reward": message(rewards=np.array([1, 1, np.inf, 1, 1, 1], np.float32)),
    "reward beyond float32": message(rewards=np.full(6, 1e300)),
    "NaN log_prob": message(log_probs=np.full(6, np.nan, np.float32)),
    "inf value": message(values=np.full(6, -np.inf, np.float32)),
    "wrong width": message(obs={"STATE": np.zeros((6, STATE_SIZE - 1), np.float32)}),
    "wrong obs dtype": message(obs={"STATE": np.zeros((6, STATE_SIZE), np.float64)}),
    "NaN observation": message(obs={"STATE": np.full((6, STATE_SIZE), np.nan, np.float32)}),
    "unknown sensor key": message(obs={"STATE": np.zeros((6, STATE_SIZE), np.float32),
                                       "LIDAR": np.zeros((6, 64), np.float32)}),
    "other sensor": message(obs={"FRONT_FACING_CAMERA": np.zeros((6, 120, 160, 1), np.uint8)}),
    "training episode without obs": message(obs={}),
    "action index too big": message(actions=np.array([0, 1, 2, NUM_ACTIONS, 0, 1])),
    "negative action index": message(actions=np.array([0, -1, 2, 3, 0, 1])),
    "float actions for a discrete model": message(actions=np.zeros(6, np.float32)),
    "continuous actions for a discrete model": message(actions=np.zeros((6, 2), np.float32)),
    "zero-length episode": message(t=0),
    "lengths differ": message(log_probs=np.zeros(5, np.float32)),
    "obs length differs": message(obs={"STATE": np.zeros((7, STATE_SIZE), np.float32)}),
    "string iteration": message(iteration="1"),
    "bool worker": message(worker=True),
    "negative episode id": message(episode_id=-3),
    "unknown phase": message(phase="bogus"),
    "unknown status": message(status="exploded"),
    "progress 150": message(progress=150.0),
    "NaN progress": message(progress=math.nan),
    "string progress": message(progress="10"),
    "non-string run id": message(run_id=7),
    "list track": message(track=["a"]),
    "truncated not a bool": message(extra={"truncated": "yes"}),
    "extra not a map": message(extra=[1]),
    "inf time": message(end_time_ms=math.inf),
    "unknown field": pack({"type": "episode", **fields(), "evil": 1}),
    "missing field": pack({"type": "episode", **{k: v for k, v in fields().items() if k != "rewards"}}),
    "binary field name": msgpack.packb({"type": "episode", b"rewards": 1}, use_bin_type=True),
    "array of objects": msgpack.packb(
        {"type": "episode", **{k: v for k, v in fields().items() if k != "rewards"},
         "rewards": {"nd": "object", "shape": [1], "data": b"x"}},
        default=lambda a: {"nd": a.dtype.name, "shape": list(a.shape), "data": a.tobytes()}, use_bin_type=True),
    "array without a shape": msgpack.packb({"nd": "float32", "data": b"\0" * 4}, use_bin_type=True),
    "array with a negative size": msgpack.packb({"nd": "float32", "shape": [-1], "data": b"\0" * 8}, use_bin_type=True),
    "array bytes not a multiple": msgpack.packb({"nd": "float32", "shape": [2], "data": b"\0" * 7}, use_bin_type=True),
    "not msgpack": b"\xc1\xc1\xc1",
    "empty": b"",
    "truncated": GOOD[:-10],
    "a notice": policy_notice(3),
}


def test_a_well_formed_episode_comes_back_typed():
    ep = Episode.from_bytes(GOOD, SPEC)
    assert ep.key == ("run", 1, 0, 0, "training") and ep.steps == 6
    assert ep.actions.dtype == np.int64 and ep.rewards.dtype == np.float32 and ep.obs["STATE"].shape == (6, STATE_SIZE)
    # an evaluation episode may come without observations (the workers do not keep them)
    assert Episode.from_bytes(message(phase="evaluation", obs={}), SPEC).obs == {}
    # float64 arrays that fit float32 are accepted and converted
    assert Episode.from_bytes(message(rewards=np.ones(6)), SPEC).rewards.dtype == np.float32


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_episode_is_one_clear_message_error(case):
    with pytest.raises(MessageError):
        Episode.from_bytes(HOSTILE[case], SPEC)


def test_an_episode_longer_than_the_spec_allows_is_refused():
    short = EpisodeSpec(SPEC.sensors, SPEC.num_actions, max_steps=5)
    with pytest.raises(MessageError, match="1 to 5"):
        Episode.from_bytes(GOOD, short)


@pytest.mark.parametrize("preset", sorted(p.name for p in (ROOT / "presets").glob("model_metadata*.json")))
def test_the_episodes_a_worker_plays_pass_the_spec(preset):
    """The contract the other way round: every preset's real episodes (training with observations,
    evaluation without) are well-formed for its spec."""
    from simulation.env import BatchedEnv
    from simulation.rollout import play
    from tests.conftest import square_track

    md = parse_model_metadata(json.loads((ROOT / "presets" / preset).read_text()))

    class RandomPolicy:
        def act(self, obs, rng, greedy=False, with_values=True):
            n = len(next(iter(obs.values())))
            a = (rng.integers(0, md.num_actions, n) if md.is_discrete
                 else rng.normal(0.0, 2.0, (n, 2)).astype(np.float32))
            return a, np.full(n, -1.0, np.float32), np.zeros(n, np.float32)

    env = BatchedEnv(square_track(), None, md, {"max_steps": 12}, num_cars=2, seed=0)
    rng = np.random.default_rng(0)
    eps = play(env, RandomPolicy(), 2, greedy=False, rng=rng, run_id="r", iteration=3, worker=1)
    eps += play(env, RandomPolicy(), 1, greedy=True, rng=rng, run_id="r", iteration=3, worker=1, phase="evaluation",
                keep_obs=False)
    spec = EpisodeSpec.from_metadata(md)
    for ep in eps:
        back = Episode.from_bytes(ep.to_bytes(), spec)
        assert back.key == ep.key and np.array_equal(back.rewards, ep.rewards)


def test_continuous_spec_checks_the_action_shape_and_values():
    md = parse_model_metadata(json.loads((ROOT / "presets/model_metadata_continuous.json").read_text()))
    md = parse_model_metadata({**md.to_json_dict(), "sensor": ["STATE"]})
    spec = EpisodeSpec.from_metadata(md)
    assert spec.num_actions is None
    # Gaussian samples are sent unclipped (the env clips): outside [-1, 1] is fine, non-finite is not
    ok = Episode.from_bytes(message(actions=np.full((6, 2), 1.7, np.float32)), spec)
    assert ok.actions.shape == (6, 2)
    for bad in (np.zeros(6, np.int64), np.zeros((6, 3), np.float32), np.full((6, 2), np.nan, np.float32)):
        with pytest.raises(MessageError):
            Episode.from_bytes(message(actions=bad), spec)


def test_without_a_spec_the_types_and_values_are_still_checked():
    assert Episode.from_bytes(message(obs={"state": np.zeros((6, 3), np.float32)})).steps == 6
    for case in ("obs as a list", "scalar rewards", "string rewards", "NaN reward", "zero-length episode",
                 "negative action index", "lengths differ"):
        with pytest.raises(MessageError):
            Episode.from_bytes(HOSTILE[case])
    with pytest.raises(MessageError, match="non-finite"):
        validate_episode(Episode(**fields(rewards=np.full(6, np.nan, np.float32))))


@pytest.mark.parametrize("data", [
    b"", b"\xc1", pack({"type": "policy"}), pack({"type": "policy", "version": "3", "stop": False}),
    pack({"type": "policy", "version": 3, "stop": "no"}), pack({"type": "policy", "version": -1, "stop": False}),
    pack({"type": "policy", "version": 3, "stop": False, "shares": {"0": 5}}),
    pack({"type": "policy", "version": 3, "stop": False, "shares": [[0, 5, 1]]}),
    pack({"type": "policy", "version": 3, "stop": False, "shares": [["a", 5]]}),
    pack({"type": "policy", "version": 3, "stop": False, "shares": 7}),
    pack([1, 2, 3]), GOOD])
def test_malformed_policy_notice_is_a_message_error(data):
    with pytest.raises(MessageError):
        read_policy_notice(data)


# ---------------------------------------------------------------------------------------- the sim
class NoticeFeed:
    """A SimTransport that hands out the given notices, then reports the trainer gone."""

    def __init__(self, notices: list[bytes]):
        self.notices = list(notices)

    def send_episode(self, data: bytes) -> None:
        raise AssertionError("not expected")

    def next_notice(self, timeout_s: float | None = None) -> bytes | None:
        from core.transport import TransportError

        if not self.notices:
            raise TransportError("trainer closed the connection")
        return self.notices.pop(0)


def test_a_malformed_notice_does_not_crash_the_sim(capsys):
    from simulation.worker import Worker

    w = Worker.__new__(Worker)          # only the notice loop is under test: no env, no storage
    w.cfg, w.started, w.io_s, w._chunks = SimpleNamespace(worker=0), time.perf_counter(), 0.0, []
    w.previewer = SimpleNamespace(enabled=False)
    played: list[tuple] = []
    w.play_iteration = lambda *args: played.append(args)
    w.transport = NoticeFeed([b"\xc1garbage", pack({"type": "policy", "version": "x", "stop": False}), b"",
                              policy_notice(4, shares={0: 3, 1: 2}), policy_notice(5, stop=True)])
    assert w.run() == 0
    assert played == [(4, 3, 2)]        # the sim went on and played the good notice
    warnings = [line for line in capsys.readouterr().err.splitlines() if "malformed policy notice" in line]
    assert len(warnings) == 3


def test_redis_sim_reads_a_notice_entry_without_data(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    r.xadd(run_keys("nd")["notices"], {b"x": b"1"})
    sim = RedisSim(redis_server.url, "nd", 0)       # the newest entry is malformed: no crash
    try:
        with pytest.raises(MessageError):
            read_policy_notice(sim.next_notice(0))
        r.xadd(run_keys("nd")["notices"], {b"d": policy_notice(2)})
        assert read_policy_notice(sim.next_notice(1.0)).version == 2
    finally:
        sim.close()


# ---------------------------------------------------------------------------------------- Redis side
def test_malformed_redis_entries_do_not_lose_the_good_episodes_beside_them(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    key = run_keys("bad")["episodes"]
    good = [message(episode_id=i) for i in range(5)]
    r.xadd(key, {b"w": b"0", b"d": good[0]})
    r.xadd(key, {b"w": b"zero", b"d": good[1]})       # the worker field is not a number
    r.xadd(key, {b"w": b"0"})                         # no data
    r.xadd(key, {b"d": good[2]})                      # no worker
    r.xadd(key, {b"w": b"0", b"d": HOSTILE["string rewards"]})
    r.xadd(key, {b"w": b"-1", b"d": good[3]})
    r.xadd(key, {b"w": b"0", b"d": good[4]})
    trainer = RedisTrainer(redis_server.url, "bad", read_count=32)
    got = trainer.receive(1.0)
    assert len(got) == 7 and r.xlen(key) == 0
    ids, rejected = [], 0
    for _worker, data in got:
        try:
            ids.append(Episode.from_bytes(data, SPEC).episode_id)
        except MessageError:
            rejected += 1
    assert ids == [0, 1, 2, 3, 4] and rejected == 2


def test_forged_heartbeat_keys_are_not_workers(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    prefix = run_keys("hb")["worker"]
    sim = RedisSim(redis_server.url, "hb", 0)
    try:
        r.set(f"{prefix}5", str(time.time()))                    # never expires: not a sim's
        r.set(f"{prefix}6", str(time.time()), px=60_000)          # well-formed, but no sim 6 joined the run
        r.set(f"{prefix}7", b"alive", px=60_000)                  # not a clock reading
        r.sadd(run_keys("hb")["workers"], "7", "8")
        r.set(f"{prefix}8", b"nan", px=60_000)
        r.set(f"{prefix}00", str(time.time()), px=60_000)         # not a canonical id
        r.set(f"{prefix}x1", str(time.time()), px=60_000)
        assert RedisTrainer(redis_server.url, "hb").alive_workers() == [0]
        assert RedisTrainer(redis_server.url, "hb", expected_workers=9).alive_workers() == [0]
    finally:
        sim.close()


# ---------------------------------------------------------------------------------------- the learner
tf = pytest.importorskip("tensorflow")


class EpisodeFeed:
    """A TrainerTransport: worker 0 is alive; each policy notice queues ``make(version)`` messages."""

    def __init__(self, make, alive=(0,)):
        self.make, self.alive, self.inbox, self.notices = make, list(alive), [], []

    def broadcast_notice(self, data: bytes) -> None:
        notice = read_policy_notice(data)
        self.notices.append(notice)
        if not notice.stop:
            self.inbox += [(0, m) for m in self.make(notice.version)]

    def receive(self, timeout_s: float) -> list[tuple[int, bytes]]:
        out, self.inbox = self.inbox, []
        if not out:
            time.sleep(min(timeout_s, 0.05))
        return out

    def alive_workers(self) -> list[int]:
        return self.alive


def learner_with(transport, tmp_path=None, metadata=STATE_MD, **hp):
    from core.model_folder import ModelFolder
    from core.storage import LocalStorage
    from trainer.learner import Learner

    folder = ModelFolder(LocalStorage(tmp_path), "m") if tmp_path is not None else None
    hp = Hyperparameters(**{"num_episodes_between_training": 3, "batch_size": 4, "num_epochs": 1, **hp})
    return Learner(folder, metadata, hp, transport, run_id="run", seed=0, gather_timeout_s=5.0)


def test_gather_drops_and_counts_hostile_episodes_and_keeps_the_good_ones():
    hostile = [HOSTILE[c] for c in ("obs as a list", "scalar rewards", "wrong width", "unknown sensor key",
                                    "string rewards", "NaN reward", "action index too big", "zero-length episode",
                                    "not msgpack")]
    good = [message(episode_id=i, iteration=0) for i in range(3)] + [message(episode_id=9, iteration=0,
                                                                              phase="evaluation", obs={})]
    feed = EpisodeFeed(lambda v: [])
    learner = learner_with(feed)
    feed.inbox = [(0, m) for m in hostile[:5] + good[:2] + hostile[5:] + good[2:]]
    t0 = time.monotonic()
    train, evals, lost, rejected = learner.gather(0, {0: 3}, eval_per_worker=1)
    assert time.monotonic() - t0 < 3.0
    assert sorted(e.episode_id for e in train) == [0, 1, 2] and [e.episode_id for e in evals] == [9]
    assert lost == 0 and rejected == len(hostile)
    stats = learner.algorithm.train_on(train)         # what passed the boundary trains without an error
    assert not stats.skipped and stats.samples > 0


def test_gather_does_not_wait_for_a_forged_heartbeat(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    sim = RedisSim(redis_server.url, "run", 0)
    r.set(f"{run_keys('run')['worker']}3", str(time.time()), px=600_000)     # a forged worker 3
    try:
        learner = learner_with(RedisTrainer(redis_server.url, "run"))
        learner.gather_timeout_s = 60.0
        shares = learner.wait_for_workers(timeout_s=1.0)
        assert shares == {0: 3}                        # the forged id gets no share
        for i in range(3):
            sim.send_episode(message(episode_id=i, iteration=0))
        sim.send_episode(message(episode_id=7, iteration=0, phase="evaluation", obs={}))
        t0 = time.monotonic()
        train, evals, lost, rejected = learner.gather(0, {**shares, 3: 3}, eval_per_worker=1)
        assert time.monotonic() - t0 < 10.0            # not the 60 s gather timeout
        assert len(train) == 3 and len(evals) == 1 and rejected == 0
    finally:
        sim.close()


def weights(net) -> list[np.ndarray]:
    from trainer.algorithm import net_weights

    return [np.array(v.numpy()) for v in net_weights(net)]


def test_a_non_finite_ppo_update_is_rolled_back_and_reported():
    learner = learner_with(EpisodeFeed(lambda v: []))
    before = weights(learner.net)
    poisoned = Episode(**fields(rewards=np.array([1, 1, np.nan, 1, 1, 1], np.float32)))   # past the boundary
    stats = learner.algorithm.train_on([poisoned, Episode(**fields(episode_id=1))])
    assert stats.skipped and "non-finite" in stats.reason
    after = weights(learner.net)
    assert all(np.isfinite(w).all() for w in after)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.isfinite(np.asarray(v.numpy())).all() for v in learner.algorithm.optimizer.variables
               if np.asarray(v.numpy()).dtype.kind == "f")
    ok = learner.algorithm.train_on([Episode(**fields(episode_id=2)), Episode(**fields(episode_id=3))])
    assert not ok.skipped and not all(np.array_equal(a, b) for a, b in zip(before, weights(learner.net)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # numpy's overflow notices: the point of the test
def test_a_poisoning_iteration_is_skipped_and_nothing_non_finite_is_published(tmp_path):
    from trainer.learner import Limits

    # old log-probs that pass the boundary (finite float32) but overflow the PPO ratio: the update goes
    # non-finite (rewards that large are refused at the boundary: the reference's limit is 1e5)
    huge = np.full(6, -3e38, np.float32)
    feed = EpisodeFeed(lambda v: [message(episode_id=i, iteration=v, log_probs=huge) for i in range(3)])
    learner = learner_with(feed, tmp_path)
    before = weights(learner.net)
    reports = learner.train(Limits(episodes=3), eval_per_worker=0)
    assert len(reports) == 1 and reports[0].update.skipped and reports[0].rejected_episodes == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(learner.net)))
    from trainer.learner import CheckpointIO
    from trainer.networks import build_policy_value

    folder = learner.folder
    n, steps = folder.latest_checkpoint()
    assert n == 1
    net = build_policy_value(STATE_MD, seed=5)
    CheckpointIO(net, folder).restore(n, steps)
    assert all(np.isfinite(w).all() for w in weights(net))


def test_non_finite_weights_are_never_published(tmp_path):
    from trainer.learner import NonFiniteWeightsError

    learner = learner_with(EpisodeFeed(lambda v: []), tmp_path)
    learner.io.publish(0, 0, None)
    var = learner.net.value_net.trainable_variables[0]
    var.assign(np.full(var.shape, np.nan, np.float32))
    with pytest.raises(NonFiniteWeightsError, match="not published"):
        learner.io.publish(1, 10, None)
    assert learner.folder.latest_checkpoint().number == 0


def test_a_non_finite_sac_update_is_rolled_back_and_its_transitions_dropped():
    md = parse_model_metadata({"action_space_type": "continuous", "training_algorithm": "sac", "sensor": ["STATE"],
                               "action_space": {"steering_angle": {"low": -30, "high": 30},
                                                "speed": {"low": 0.5, "high": 2}}})
    learner = learner_with(EpisodeFeed(lambda v: []), metadata=md)
    sac = learner.algorithm
    sac.max_gradient_steps = 4
    acts = np.zeros((6, 2), np.float32)
    assert not sac.train_on([Episode(**fields(actions=acts))]).skipped        # fills the buffer past one batch
    before, valid = weights(sac.net), sac.replay.valid.copy()
    poisoned = Episode(**fields(actions=acts, rewards=np.full(6, np.inf, np.float32)))
    stats = sac.train_on([poisoned])
    assert stats.skipped and "non-finite" in stats.reason
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(sac.net)))
    assert np.array_equal(sac.replay.valid, valid)                              # the poison is not sampled again
    assert not sac.train_on([Episode(**fields(actions=acts, episode_id=1))]).skipped


def test_an_episode_claiming_another_workers_id_is_refused():
    feed = EpisodeFeed(lambda v: [])
    learner = learner_with(feed)
    good = [message(episode_id=i, iteration=0) for i in range(2)]
    forged = message(episode_id=5, iteration=0, worker=1)        # sent by worker 0, claims to be worker 1
    feed.inbox = [(0, good[0]), (0, forged), (0, good[1])]
    learner.gather_timeout_s = 1.0
    train, _, _, rejected = learner.gather(0, {0: 2, 1: 1}, eval_per_worker=0)
    assert sorted(e.episode_id for e in train) == [0, 1] and rejected == 1
