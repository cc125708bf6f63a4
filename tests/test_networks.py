"""Networks (trainer.networks), frozen-graph export (trainer.export) and the worker's policy runtime
(core.policy): architectures, shapes, DeepRacer tensor names, sampling."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.config import SENSORS, LidarConfig, parse_model_metadata  # noqa: E402
from core.observations import observation_dtype, observation_shape  # noqa: E402
from core.policy import (LOG_STD_OUTPUT, POLICY_OUTPUT, VALUE_OUTPUT, FrozenPolicy, input_tensor_name,  # noqa: E402
                         tensor)
from trainer.export import export_frozen_graph, write_frozen_graph  # noqa: E402
from trainer.networks import build_policy_value, build_sac_nets, count_params  # noqa: E402

SHALLOW, DEEP_CONV, DEEP = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "DEEP_CONVOLUTIONAL_NETWORK", "DEEP_CONVOLUTIONAL_NETWORK_DEEP"
CONTINUOUS_SPACE = {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 2.0}}


def metadata(sensors, network=SHALLOW, continuous=False, num_actions=5, **extra):
    space = CONTINUOUS_SPACE if continuous else [{"steering_angle": -30 + 60 * i / max(num_actions - 1, 1), "speed": 1.0}
                                                 for i in range(num_actions)]
    return parse_model_metadata({"action_space": space, "sensor": list(sensors), "neural_network": network,
                                 "action_space_type": "continuous" if continuous else "discrete", **extra})


def random_obs(md, batch, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for s in md.sensors:
        shape = (batch, *observation_shape(s, md.lidar_config))
        if observation_dtype(s) == np.uint8:
            out[s] = rng.integers(0, 256, shape).astype(np.uint8)
        else:
            out[s] = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    return out


# ---------------------------------------------------------------------- observation shapes
def test_observation_shapes_agree_with_simulation_spaces():
    from simulation import sensors, state_sensor

    for lidar_config in (None, LidarConfig(4, 5, 1.0)):
        for s in SENSORS:
            space = state_sensor.observation_space() if s == "STATE" else sensors.observation_space_for(s, lidar_config)
            assert observation_shape(s, lidar_config) == space.shape, s
            assert observation_dtype(s) == space.dtype, s
    with pytest.raises(ValueError, match="unknown sensor"):
        observation_shape("RADAR")


# ---------------------------------------------------------------------- architectures and shapes
def test_shallow_camera_policy_tower_has_about_5_8_million_parameters():
    net = build_policy_value(metadata(["FRONT_FACING_CAMERA"]), seed=0)
    assert count_params(net.policy_net) == pytest.approx(5.8e6, rel=0.03)
    assert count_params(net) == count_params(net.policy_net) + count_params(net.value_net)


@pytest.mark.parametrize("sensors, network, continuous", [
    (["FRONT_FACING_CAMERA"], SHALLOW, False),
    (["STEREO_CAMERAS"], DEEP_CONV, True),
    (["FRONT_FACING_CAMERA", "LIDAR"], DEEP, False),
    (["observation", "SECTOR_LIDAR"], SHALLOW, True),
    (["LEFT_CAMERA", "DISCRETIZED_SECTOR_LIDAR"], DEEP_CONV, False),
    (["STATE"], SHALLOW, False),
    (["STATE"], DEEP, True),
])
def test_policy_value_output_shapes(sensors, network, continuous):
    md = metadata(sensors, network, continuous, num_actions=7,
                  lidar_config={"num_sectors": 4, "num_values_per_sector": 3, "clipping_dist": 1.0})
    net = build_policy_value(md, seed=1)
    policy, value = net(random_obs(md, 3))
    assert policy.shape == (3, 2 if continuous else 7) and value.shape == (3,)
    assert np.all(np.isfinite(policy)) and np.all(np.isfinite(value))
    if continuous:
        assert net.log_std.shape == (2,) and net.clipped_log_std().shape == (2,)
        assert any(v is net.log_std for v in net.trainable_variables)
    else:
        assert net.log_std is None and net.clipped_log_std() is None
    assert net.sensors == tuple(sensors)
    with pytest.raises(ValueError, match="do not match"):
        net({"WRONG": np.zeros((1, 3))})


def test_seed_makes_weights_reproducible_and_towers_independent():
    md = metadata(["STATE"])
    a, b, c = build_policy_value(md, seed=3), build_policy_value(md, seed=3), build_policy_value(md, seed=4)
    wa, wb, wc = (n.policy_net.get_weights() for n in (a, b, c))
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert not np.array_equal(wa[0], wc[0])
    assert not np.array_equal(a.value_net.get_weights()[0], wa[0])  # separate towers, separate weights


def test_sac_nets_shapes_targets_and_polyak_update():
    md = metadata(["FRONT_FACING_CAMERA", "LIDAR"], continuous=True, training_algorithm="sac")
    nets = build_sac_nets(md, seed=0)
    obs = random_obs(md, 4)
    mean, log_std = nets.policy(obs)
    assert mean.shape == (4, 2) and log_std.shape == (4, 2)
    assert np.all((log_std.numpy() >= -20) & (log_std.numpy() <= 2))
    action = np.zeros((4, 2), np.float32)
    q1, q2 = nets.q_values(obs, action)
    t1, t2 = nets.q_values(obs, action, target=True)
    assert q1.shape == q2.shape == (4,)
    np.testing.assert_allclose(t1, q1, atol=1e-6)
    np.testing.assert_allclose(t2, q2, atol=1e-6)
    assert not np.allclose(q1, q2)  # separate weights
    w = nets.q1.weights[-1]
    before = nets.q1_target.weights[-1].numpy()
    w.assign(w + 1.0)
    nets.polyak_update(0.25)
    np.testing.assert_allclose(nets.q1_target.weights[-1].numpy(), before + 0.25, atol=1e-6)
    assert count_params(nets) == sum(count_params(m) for m in (nets.actor, nets.q1, nets.q2))
    with pytest.raises(ValueError, match="continuous"):
        build_sac_nets(metadata(["STATE"]))


def test_checkpoint_round_trip(tmp_path):
    import keras

    md = metadata(["STATE"], continuous=True)
    net = build_policy_value(md, seed=0)
    opt = keras.optimizers.Adam(3e-4, epsilon=1e-5)
    with tf.GradientTape() as tape:
        policy, value = net(random_obs(md, 2))
        loss = tf.reduce_sum(policy) + tf.reduce_sum(value) + tf.reduce_sum(net.log_std)
    opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
    prefix = tf.train.Checkpoint(net=net, optimizer=opt).write(str(tmp_path / "1_Step-100.ckpt"))
    assert {p.name for p in tmp_path.iterdir()} == {"1_Step-100.ckpt.index", "1_Step-100.ckpt.data-00000-of-00001"}
    saved = [v.numpy().copy() for v in net.trainable_variables]
    for v in net.trainable_variables:
        v.assign(tf.zeros_like(v))
    tf.train.Checkpoint(net=net, optimizer=opt).read(prefix).assert_consumed()
    assert all(np.array_equal(v.numpy(), s) for v, s in zip(net.trainable_variables, saved))


# ---------------------------------------------------------------------- export
FORBIDDEN_OPS = {"VarHandleOp", "ReadVariableOp", "VariableV2", "PartitionedCall", "StatefulPartitionedCall"}


@pytest.mark.parametrize("sensors, continuous", [
    (["FRONT_FACING_CAMERA"], False),
    (["STATE"], True),
    (["FRONT_FACING_CAMERA", "LIDAR"], False),
    (["observation", "SECTOR_LIDAR"], True),  # legacy camera name: .../network_0/observation/observation
])
def test_export_round_trip_in_a_fresh_tf1_graph(sensors, continuous):
    md = metadata(sensors, continuous=continuous)
    net = build_policy_value(md, seed=7)
    data = export_frozen_graph(net)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(data)
    assert not graph_def.library.function
    assert not {n.op for n in graph_def.node} & FORBIDDEN_OPS

    obs = random_obs(md, 5, seed=2)
    policy, value = net(obs)
    expected = policy.numpy() if continuous else tf.nn.softmax(policy).numpy()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    feed = {tensor(input_tensor_name(s)): obs[s].astype(np.float32) for s in sensors}
    ops = {n.name: n.op for n in graph_def.node}
    assert all(ops[input_tensor_name(s)] == "Placeholder" for s in sensors)
    assert sorted(n for n, op in ops.items() if op == "Placeholder") == sorted(
        f"main_level/agent/main/online/network_0/{s}/{s}" for s in sensors)
    assert ops["main_level/agent/main/online/network_1/ppo_head_0/policy"] == "Identity"
    fetches = [tensor(POLICY_OUTPUT), tensor(VALUE_OUTPUT)] + ([tensor(LOG_STD_OUTPUT)] if continuous else [])
    with tf.compat.v1.Session(graph=graph) as sess:
        out = sess.run(fetches, feed)
    assert out[0].shape == expected.shape
    np.testing.assert_allclose(out[0], expected, atol=1e-5)
    np.testing.assert_allclose(out[1], value.numpy(), atol=1e-4)
    if continuous:
        np.testing.assert_allclose(out[2], net.clipped_log_std().numpy(), atol=1e-7)
    else:
        np.testing.assert_allclose(out[0].sum(axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------- FrozenPolicy
@pytest.fixture(scope="module")
def discrete_state_policy():
    """A STATE discrete net whose policy is far from uniform, its FrozenPolicy, and observations."""
    md = metadata(["STATE"], num_actions=4)
    net = build_policy_value(md, seed=11)
    head = net.policy_net.get_layer("logits")
    head.kernel.assign(head.kernel * 50.0)
    head.bias.assign([0.5, 0.0, -0.5, 0.2])
    return net, FrozenPolicy.from_bytes(export_frozen_graph(net), md), random_obs(md, 8, seed=5)


def test_frozen_policy_greedy_is_argmax_and_log_probs_match(discrete_state_policy):
    net, policy, obs = discrete_state_policy
    probs, values, log_std = policy.forward(obs)
    assert log_std is None and probs.shape == (8, 4) and values.shape == (8,)
    np.testing.assert_allclose(probs, tf.nn.softmax(net(obs)[0]).numpy(), atol=1e-5)
    actions, log_probs, act_values = policy.act(obs, np.random.default_rng(0), greedy=True)
    np.testing.assert_array_equal(actions, probs.argmax(axis=1))
    np.testing.assert_allclose(log_probs, np.log(probs[np.arange(8), actions]), rtol=1e-5)
    np.testing.assert_allclose(act_values, values)
    actions, log_probs, _ = policy.act(obs, np.random.default_rng(1), greedy=False)
    assert actions.dtype == np.int64 and log_probs.dtype == np.float32
    np.testing.assert_allclose(log_probs, np.log(probs[np.arange(8), actions]), rtol=1e-5)


def test_frozen_policy_samples_follow_the_probabilities(discrete_state_policy):
    _, policy, obs = discrete_state_policy
    n = 20000
    one = {"STATE": np.repeat(obs["STATE"][:1], n, axis=0)}
    probs = policy.forward({"STATE": obs["STATE"][:1]})[0][0]
    assert probs.max() < 0.97 and probs.max() - probs.min() > 0.05  # a policy worth testing
    actions, _, _ = policy.act(one, np.random.default_rng(2))
    freq = np.bincount(actions, minlength=4) / n
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_frozen_policy_continuous_gaussian(tmp_path):
    md = metadata(["STATE"], continuous=True)
    net = build_policy_value(md, seed=4, initial_log_std=-1.0)
    path = write_frozen_graph(net, tmp_path / "agent" / "model.pb")
    with FrozenPolicy.from_file(path, md, intra_op_threads=2) as policy:
        obs = random_obs(md, 1)
        mean, _, log_std = policy.forward(obs)
        np.testing.assert_allclose(log_std, [-1.0, -1.0])
        greedy, greedy_logp, _ = policy.act(obs, np.random.default_rng(0), greedy=True)
        np.testing.assert_allclose(greedy, mean, atol=1e-6)
        np.testing.assert_allclose(greedy_logp, 2 * (1.0 - 0.5 * np.log(2 * np.pi)), rtol=1e-5)
        many = {"STATE": np.repeat(obs["STATE"], 20000, axis=0)}
        actions, log_probs, _ = policy.act(many, np.random.default_rng(3))
        assert actions.shape == (20000, 2)
        np.testing.assert_allclose(actions.mean(axis=0), mean[0], atol=0.01)
        np.testing.assert_allclose(actions.std(axis=0), np.exp(-1.0), rtol=0.03)
        z = (actions - mean) / np.exp(-1.0)
        np.testing.assert_allclose(log_probs, (-0.5 * z**2 + 1.0 - 0.5 * np.log(2 * np.pi)).sum(axis=1), atol=1e-4)


def test_frozen_policy_rejects_wrong_observations_and_graphs(discrete_state_policy):
    net, policy, obs = discrete_state_policy
    with pytest.raises(ValueError, match=r"observation keys \['FRONT_FACING_CAMERA'\] do not match .*STATE"):
        policy.forward({"FRONT_FACING_CAMERA": obs["STATE"]})
    with pytest.raises(ValueError, match="do not match"):
        policy.act({**obs, "LIDAR": obs["STATE"]}, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(8, 61\)"):
        policy.forward({"STATE": obs["STATE"][:, :61]})
    with pytest.raises(ValueError, match="lacks the nodes"):
        FrozenPolicy.from_bytes(export_frozen_graph(net), metadata(["STATE"], continuous=True))
    car_only = tf.compat.v1.GraphDef.FromString(export_frozen_graph(net, include_value=False))
    assert VALUE_OUTPUT not in {n.name for n in car_only.node} and POLICY_OUTPUT in {n.name for n in car_only.node}
    with pytest.raises(ValueError, match="lacks the nodes"):
        FrozenPolicy(car_only, net.metadata)
    with pytest.raises(ValueError, match="GraphDef"):
        FrozenPolicy.from_bytes(b"\xff not a graph", metadata(["STATE"]))
