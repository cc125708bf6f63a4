"""SAC (trainer.sac), its frozen-graph export (trainer.export) and the worker's SAC sampling
(core.policy): tensor names, squashed-Gaussian sampling, replay transitions, learning a known Q."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.config import Hyperparameters, parse_model_metadata  # noqa: E402
from core.messages import Episode  # noqa: E402
from core.observations import observation_dtype, observation_shape  # noqa: E402
from core.policy import (POLICY_OUTPUT, SAC_LOG_STD_OUTPUT, SAC_MEAN_OUTPUT, VALUE_OUTPUT, FrozenPolicy,  # noqa: E402
                         input_tensor_name, tensor)
from trainer.export import export_frozen_graph  # noqa: E402
from trainer.networks import build_policy_value  # noqa: E402
from trainer.sac import SAC, ReplayBuffer, replay_capacity, squashed_gaussian  # noqa: E402

SPACE = {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 1.5}}


def sac_metadata(sensors, **extra):
    return parse_model_metadata({"action_space": SPACE, "action_space_type": "continuous",
                                 "training_algorithm": "sac", "sensor": list(sensors), **extra})


def random_obs(md, batch, seed=0):
    rng = np.random.default_rng(seed)
    return {s: (rng.integers(0, 256, (batch, *observation_shape(s))).astype(np.uint8)
                if observation_dtype(s) == np.uint8 else rng.normal(size=(batch, *observation_shape(s))).astype(np.float32))
            for s in md.sensors}


def episode(obs, rewards, truncated=False, actions=None):
    t = len(rewards)
    actions = np.zeros((t, 2), np.float32) if actions is None else actions
    return Episode(run_id="r", iteration=0, worker=0, episode_id=0, phase="training", obs=obs, actions=actions,
                   log_probs=np.zeros(t, np.float32), values=np.zeros(t, np.float32),
                   rewards=np.asarray(rewards, np.float32), status="time_up" if truncated else "off_track",
                   progress=1.0, start_time_ms=0.0, end_time_ms=0.0, extra={"truncated": truncated})


@pytest.fixture(scope="module")
def state_sac():
    md = sac_metadata(["STATE"])
    sac = SAC(md, Hyperparameters(), seed=3)
    return sac, FrozenPolicy.from_bytes(sac.export(), md), random_obs(md, 16, seed=1)


# ---------------------------------------------------------------------- export and FrozenPolicy
@pytest.mark.parametrize("sensors", [["STATE"], ["FRONT_FACING_CAMERA"]])
def test_export_round_trip_by_tensor_names(sensors):
    md = sac_metadata(sensors)
    sac = SAC(md, Hyperparameters(), seed=0)
    graph_def = tf.compat.v1.GraphDef.FromString(sac.export())
    names = {n.name for n in graph_def.node}
    assert {POLICY_OUTPUT, SAC_MEAN_OUTPUT, SAC_LOG_STD_OUTPUT} <= names and VALUE_OUTPUT not in names
    assert not graph_def.library.function and not any(n.op.startswith("VarHandle") for n in graph_def.node)
    obs = random_obs(md, 4)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        feed = {tensor(input_tensor_name(s)): obs[s].astype(np.float32) for s in sensors}
        action, mean, log_std = sess.run([tensor(POLICY_OUTPUT), tensor(SAC_MEAN_OUTPUT), tensor(SAC_LOG_STD_OUTPUT)], feed)
    want_mean, want_log_std = sac.net.policy(obs)
    assert action.shape == mean.shape == log_std.shape == (4, 2)
    np.testing.assert_allclose(mean, want_mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(action, np.tanh(want_mean.numpy()), atol=1e-5)
    np.testing.assert_allclose(log_std, want_log_std.numpy(), atol=1e-5)


def test_frozen_policy_sac_greedy_and_samples(state_sac):
    sac, policy, obs = state_sac
    mean, log_std = (x.numpy().astype(np.float64) for x in sac.net.policy(obs))
    action, value, fwd_log_std = policy.forward(obs)
    assert value is None
    np.testing.assert_allclose(action, np.tanh(mean), atol=1e-6)
    np.testing.assert_allclose(fwd_log_std, log_std, atol=1e-6)

    greedy, _, values = policy.act(obs, np.random.default_rng(0), greedy=True, with_values=True)
    np.testing.assert_allclose(greedy, np.tanh(mean), atol=1e-6)
    np.testing.assert_array_equal(values, 0.0)

    actions, log_probs, _ = policy.act(obs, np.random.default_rng(1), greedy=False, with_values=False)
    assert actions.dtype == np.float32 and actions.shape == (16, 2) and np.all(np.abs(actions) < 1)
    eps = np.random.default_rng(1).standard_normal(mean.shape)   # the same noise act drew
    np.testing.assert_allclose(actions, np.tanh(mean + np.exp(log_std) * eps), atol=1e-6)
    _, want_logp = squashed_gaussian(tf.constant(mean), tf.constant(log_std), tf.constant(eps))
    np.testing.assert_allclose(log_probs, want_logp.numpy(), rtol=1e-4, atol=1e-4)

    many = {"STATE": np.repeat(obs["STATE"][:1], 20000, axis=0)}
    u = np.arctanh(policy.act(many, np.random.default_rng(2))[0].astype(np.float64))
    np.testing.assert_allclose(u.mean(axis=0), mean[0], atol=0.03)
    np.testing.assert_allclose(u.std(axis=0), np.exp(log_std[0]), rtol=0.03)
    # saturated means stay strictly inside (-1, 1) in float32
    head = sac.net.actor.get_layer("mean")
    saved = head.bias.numpy()
    head.bias.assign([40.0, -40.0])
    try:
        far = FrozenPolicy.from_bytes(sac.export(), sac.metadata)
        a = far.act(obs, np.random.default_rng(3))[0]
        assert np.all(np.abs(a) < 1) and np.all(np.isfinite(far.act(obs, np.random.default_rng(3))[1]))
    finally:
        head.bias.assign(saved)


def test_frozen_policy_sac_and_ppo_graphs_do_not_mix(state_sac):
    sac, _, _ = state_sac
    ppo_md = parse_model_metadata({"action_space": SPACE, "action_space_type": "continuous", "sensor": ["STATE"]})
    with pytest.raises(ValueError, match="lacks the nodes"):
        FrozenPolicy.from_bytes(sac.export(), ppo_md)      # PPO still needs VALUE_OUTPUT
    with pytest.raises(ValueError, match="lacks the nodes"):
        FrozenPolicy.from_bytes(export_frozen_graph(build_policy_value(ppo_md, seed=0)), sac.metadata)
    nodes = lambda data: {n.name for n in tf.compat.v1.GraphDef.FromString(data).node}  # noqa: E731
    assert SAC_MEAN_OUTPUT in nodes(export_frozen_graph(sac.net))   # SacNets go to the SAC export


# ---------------------------------------------------------------------- replay buffer
def test_replay_transitions_terminal_and_truncated_last_step():
    md = sac_metadata(["STATE"])
    buf = ReplayBuffer(md, capacity=16, seed=0)
    obs = lambda first, t: {"STATE": np.arange(first, first + t, dtype=np.float32)[:, None].repeat(62, axis=1)}  # noqa: E731
    acts = np.array([[0.5, -0.5], [2.0, -3.0], [0.1, 0.2]], np.float32)
    assert buf.add_episode(episode(obs(0, 3), [1.0, 2.0, 3.0], actions=acts)) == 3      # terminal: 3 transitions
    assert buf.add_episode(episode(obs(10, 3), [4.0, 5.0, 6.0], truncated=True)) == 2   # time up: last one dropped
    assert len(buf) == 5
    slots = np.flatnonzero(buf.valid)
    tr = buf.batch(slots)
    np.testing.assert_array_equal(tr["obs"]["STATE"][:, 0], [0, 1, 2, 10, 11])
    np.testing.assert_array_equal(tr["next_obs"]["STATE"][:, 0], [1, 2, 2, 11, 12])   # terminal: own obs, masked
    np.testing.assert_array_equal(tr["rewards"], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(tr["dones"], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(tr["actions"][:3], np.clip(acts, -1, 1))   # clipped like the env
    # wrap around: the ring overwrites the oldest steps; nothing samples a step whose s' is gone
    for k in range(5):
        buf.add_episode(episode(obs(100 * (k + 1), 5), np.ones(5), truncated=k % 2 == 0))
    idx = buf.sample_indices(8, 50).ravel()
    tr = buf.batch(idx)
    s, s2, done = tr["obs"]["STATE"][:, 0], tr["next_obs"]["STATE"][:, 0], tr["dones"]
    assert np.all(np.where(done > 0, s2 == s, s2 == s + 1))
    assert buf.size == 16 and len(buf) == 16 - 2       # kept: the last step of episode k=1, then k=2..4 (2 truncated)


def test_replay_capacity_caps_camera_memory():
    assert replay_capacity(sac_metadata(["STATE"])) == 100_000
    cam = replay_capacity(sac_metadata(["FRONT_FACING_CAMERA"]))
    assert 15_000 <= cam <= 25_000 and replay_capacity(sac_metadata(["STEREO_CAMERAS"])) == pytest.approx(cam / 2, abs=1)
    buf = ReplayBuffer(sac_metadata(["FRONT_FACING_CAMERA", "LIDAR"]), capacity=4)
    assert buf.obs["FRONT_FACING_CAMERA"].dtype == np.uint8 and buf.obs["LIDAR"].dtype == np.float32


# ---------------------------------------------------------------------- learning
def test_squashed_gaussian_log_prob_is_the_change_of_variables():
    mean, log_std, eps = tf.constant([[0.3, -1.0]]), tf.constant([[-0.5, 0.2]]), tf.constant([[0.7, -1.2]])
    a, logp = squashed_gaussian(mean, log_std, eps)
    u = mean.numpy() + np.exp(log_std.numpy()) * eps.numpy()
    normal = (-0.5 * eps.numpy() ** 2 - log_std.numpy() - 0.5 * np.log(2 * np.pi)).sum()
    np.testing.assert_allclose(a, np.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(logp[0], normal - np.log(1 - np.tanh(u) ** 2 + 1e-6).sum(), rtol=1e-5)


def test_q_learns_the_reward_of_one_step_episodes():
    """One-step episodes, constant reward r, done: the soft Bellman target is r, so Q(s, a) -> r."""
    md = sac_metadata(["STATE"])
    sac = SAC(md, Hyperparameters(lr=1e-3, batch_size=32), seed=0)
    rng = np.random.default_rng(0)
    r = 2.0
    obs = random_obs(md, 256, seed=4)
    actions = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    eps = [episode({"STATE": obs["STATE"][i:i + 1]}, [r], actions=actions[i:i + 1]) for i in range(256)]
    q_before = np.stack([q.numpy() for q in sac.net.q_values(obs, actions)])
    stats = [sac.train_on(eps[:128]), sac.train_on(eps[128:])]
    assert [s.samples for s in stats] == [128 * 32, 128 * 32]
    q_after = np.stack([q.numpy() for q in sac.net.q_values(obs, actions)])
    err_before, err_after = np.abs(q_before - r).mean(), np.abs(q_after - r).mean()
    assert err_after < 0.15 and err_after < 0.2 * err_before, (err_before, err_after)
    assert stats[1].value_loss < stats[0].value_loss
    assert all(np.isfinite([s.policy_loss, s.value_loss, s.entropy]).all() for s in stats)


def test_short_real_run_trains_on_played_episodes():
    from simulation.env import BatchedEnv
    from simulation.rollout import play

    raw = {"action_space": SPACE, "action_space_type": "continuous", "training_algorithm": "sac", "sensor": ["STATE"]}
    env = BatchedEnv("reinvent", None, raw, None, num_cars=8, seed=0)
    md = env.metadata
    sac = SAC(md, Hyperparameters(), seed=0)
    sac.max_gradient_steps = 200   # keep the test fast
    policy = FrozenPolicy.from_bytes(sac.export(), md)
    episodes = play(env, policy, 8, greedy=False, rng=np.random.default_rng(0), with_values=False)
    assert len(episodes) == 8
    acts = np.concatenate([ep.actions for ep in episodes])
    assert acts.shape[1] == 2 and np.all(np.abs(acts) < 1)
    new = sum(ep.steps - bool(ep.extra["truncated"]) for ep in episodes)
    stats = sac.train_on(episodes)
    assert len(sac.replay) == new >= 64
    assert stats.samples == min(new, 200) * 64 and stats.seconds > 0
    assert np.isfinite([stats.policy_loss, stats.value_loss, stats.entropy]).all()
    assert stats.diagnostics == {}                    # no PPO-only numbers filled with zeros
    FrozenPolicy.from_bytes(sac.export(), md).act(episodes[0].obs, np.random.default_rng(1))  # v+1 publishes


def test_checkpoint_holds_actor_critics_and_targets(tmp_path, state_sac):
    sac, _, obs = state_sac
    ckpt_prefix = tf.train.Checkpoint(net=sac.net).write(str(tmp_path / "1_Step-10.ckpt"))
    other = SAC(sac.metadata, Hyperparameters(), seed=99)
    tf.train.Checkpoint(net=other.net).read(ckpt_prefix).expect_partial()
    a = np.zeros((16, 2), np.float32)
    for target in (False, True):
        np.testing.assert_allclose(np.stack(other.net.q_values(obs, a, target)), np.stack(sac.net.q_values(obs, a, target)))
    np.testing.assert_allclose(other.net.policy(obs)[0], sac.net.policy(obs)[0])
